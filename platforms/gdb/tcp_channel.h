// gdb's TCP connection (Boost.Asio, synchronous): listens on the loopback
// address only, 127.0.0.1, so nothing beyond this machine can reach a
// simulated guest's memory, and accepts one gdb.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "gdb/gdb_server.h"

namespace cocosim::gdb {

class TcpChannel : public GdbChannel {
 public:
  // Binds 127.0.0.1:port (0: a free port the system picks); throws
  // std::runtime_error naming the address when it cannot.
  explicit TcpChannel(uint16_t port);
  ~TcpChannel() override;
  uint16_t port() const;
  // The address the listening socket is bound to ("127.0.0.1").
  std::string bound_address() const;
  // Waits for gdb to connect; false with `why` when accepting failed.
  bool accept(std::string* why);

  bool read(std::string* bytes) override;
  bool poll(std::string* bytes) override;
  bool write(const std::string& bytes) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cocosim::gdb
