#include "gdb/tcp_channel.h"

#include <stdexcept>

#include <boost/asio.hpp>

namespace cocosim::gdb {

namespace asio = boost::asio;
using asio::ip::tcp;

struct TcpChannel::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  tcp::socket socket{io};
  bool open = false;
};

TcpChannel::TcpChannel(uint16_t port) : impl_(std::make_unique<Impl>()) {
  boost::system::error_code ec;
  const tcp::endpoint ep(asio::ip::address_v4::loopback(), port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(1, ec);
  if (ec)
    throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + ec.message());
}

TcpChannel::~TcpChannel() {
  boost::system::error_code ec;
  impl_->socket.close(ec);
  impl_->acceptor.close(ec);
}

uint16_t TcpChannel::port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

std::string TcpChannel::bound_address() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).address().to_string();
}

bool TcpChannel::accept(std::string* why) {
  boost::system::error_code ec;
  impl_->acceptor.accept(impl_->socket, ec);
  if (ec) {
    *why = ec.message();
    return false;
  }
  impl_->socket.set_option(tcp::no_delay(true), ec);  // small packets, one at a time
  impl_->acceptor.close(ec);  // one gdb per run
  impl_->open = true;
  return true;
}

bool TcpChannel::read(std::string* bytes) {
  if (!impl_->open) return false;
  char buf[4096];
  boost::system::error_code ec;
  const size_t n = impl_->socket.read_some(asio::buffer(buf), ec);
  if (ec) {
    impl_->open = false;
    return false;
  }
  bytes->append(buf, n);
  return true;
}

bool TcpChannel::poll(std::string* bytes) {
  if (!impl_->open) return false;
  boost::system::error_code ec;
  const size_t avail = impl_->socket.available(ec);
  if (ec) {
    impl_->open = false;
    return false;
  }
  if (avail == 0) {
    // available() is 0 both when nothing came and when the peer closed: a
    // non-blocking read tells them apart.
    char b;
    impl_->socket.non_blocking(true, ec);
    const size_t n = impl_->socket.read_some(asio::buffer(&b, 1), ec);
    boost::system::error_code ec2;
    impl_->socket.non_blocking(false, ec2);
    if (ec == asio::error::would_block) return true;
    if (ec) {
      impl_->open = false;
      return false;
    }
    bytes->append(&b, n);
    return true;
  }
  return read(bytes);
}

bool TcpChannel::write(const std::string& bytes) {
  if (!impl_->open) return false;
  boost::system::error_code ec;
  asio::write(impl_->socket, asio::buffer(bytes), ec);
  if (ec) {
    impl_->open = false;
    return false;
  }
  return true;
}

}  // namespace cocosim::gdb
