// gdb's Remote Serial Protocol, server side, over any byte channel: the
// packets gdb-multiarch sends to a bare-metal stub (qSupported, target
// descriptions, registers, memory, breakpoints, threads, resume, monitor
// commands). Synchronous: when the target stops, serve() answers packets
// until gdb resumes it; while it runs, interrupted() looks for Ctrl-C.
// Every malformed, unknown or oversized packet gets an error or empty reply.
#pragma once
#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "gdb/gdb_target.h"
#include "gdb/rsp_codec.h"

namespace cocosim::gdb {

// A connection to gdb (TCP in cocosim, a string in the tests).
class GdbChannel {
 public:
  virtual ~GdbChannel() = default;
  // Waits for bytes and appends them; false when the connection is closed.
  virtual bool read(std::string* bytes) = 0;
  // Appends the bytes that are there now, without waiting; false when closed.
  virtual bool poll(std::string* bytes) = 0;
  // False when the connection is closed.
  virtual bool write(const std::string& bytes) = 0;
};

class GdbServer {
 public:
  // The largest packet either side sends (qSupported's PacketSize).
  static constexpr size_t kPacketSize = 4096;
  // Packets kept that came while the target ran (beyond them, dropped).
  static constexpr size_t kMaxBacklog = 64;

  GdbServer(GdbTarget& target, GdbChannel& channel);

  // The target stopped: answer gdb until it resumes the target, and say how.
  // Without gdb (detached, connection gone): Detach at once.
  Resume serve(const StopEvent& stop);
  // While the target runs: whether gdb asked to stop it (Ctrl-C). Never waits.
  bool interrupted();
  // The run is over with exit status `code`: the `W` reply to a waiting gdb, then the end.
  void exited(int code);
  bool connected() const { return connected_; }

  // One packet's reply (the payload, before framing); nullopt when the packet
  // resumes the target (its reply is the next stop). The protocol tests use it.
  std::optional<std::string> handle(const std::string& payload);
  // The stop reply for `stop` (`T05thread:1;swbreak:;`, `S05`, ...).
  std::string stop_reply(const StopEvent& stop) const;
  bool ack_mode() const { return ack_mode_; }
  // The resume the last handle() returned nullopt for.
  const Resume& pending_resume() const { return resume_; }

 private:
  void send(const std::string& payload);
  void send_raw(const std::string& bytes);
  // Reads from the channel until an event is there; false: closed.
  bool next_event(RspEvent* ev, bool wait);
  void lost();
  std::optional<std::string> query(const std::string& p);
  std::string read_registers();
  std::string write_registers(const std::string& hex);
  std::string read_register(const std::string& args);
  std::string write_register(const std::string& args);
  std::string read_memory(const std::string& args);
  std::string write_memory(const std::string& args, bool binary);
  std::string breakpoint(const std::string& p, bool insert);
  std::string set_thread(const std::string& p);
  std::optional<std::string> monitor(const std::string& hex_command);
  std::string xfer_features(const std::string& args);
  int thread_for_registers() const;
  bool thread_exists(int id) const;
  static std::string error(int code);

  GdbTarget& target_;
  GdbChannel& channel_;
  RspDecoder decoder_{kPacketSize};
  std::deque<RspEvent> backlog_;  // decoded but not yet handled
  std::string inbuf_;
  size_t inpos_ = 0;
  std::string last_sent_;  // resent on `-`
  bool connected_ = true;
  bool ack_mode_ = true;
  bool noack_after_reply_ = false;  // QStartNoAckMode: its OK is the last acknowledged packet
  bool swbreak_ = false;  // gdb announced swbreak+: stop replies say `swbreak:;`
  bool running_ = false;  // gdb waits for a stop reply
  bool rcmd_waiting_ = false;  // `monitor step` waits for the next stop
  int g_thread_ = 0;  // Hg
  int c_thread_ = 0;  // Hc
  StopEvent last_stop_;
  Resume resume_;
};

}  // namespace cocosim::gdb
