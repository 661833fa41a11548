// libFuzzer target: any bytes, as what gdb sends to the gdb server
// (platforms/gdb/), against an in-memory target. Besides not crashing, every
// byte the server writes must be an ack (`+`, `-`) or a well-formed packet
// (`$payload#cs` with the right checksum) no longer than PacketSize, and the
// server must keep its word on the connection: nothing is written after it
// has gone away (k, D, or the end of the input).
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gdb/gdb_server.h"
#include "gdb/rsp_codec.h"
#include "gdb/target_description.h"

using namespace cocosim;
using namespace cocosim::gdb;

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_gdb_protocol: %s: %.200s\n", what, detail.c_str());
  std::abort();
}

// The input, in chunks: each chunk's length is the byte before it (so reads
// split packets at random places), 0 ends the connection early.
class InputChannel : public GdbChannel {
 public:
  InputChannel(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool read(std::string* bytes) override {
    if (closed_ || pos_ >= n_) return false;
    const size_t len = d_[pos_++];
    if (len == 0) return closed_ = true, false;
    const size_t take = std::min(len, n_ - pos_);
    bytes->append(reinterpret_cast<const char*>(d_ + pos_), take);
    pos_ += take;
    return true;
  }
  bool poll(std::string* bytes) override { return read(bytes); }
  bool write(const std::string& bytes) override {
    if (closed_) fail("written after the connection closed", bytes);
    out += bytes;
    return true;
  }
  std::string out;

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
  bool closed_ = false;
};

class MemoryTarget : public GdbTarget {
 public:
  explicit MemoryTarget(Arch a) : desc_(TargetDescription::for_arch(a)), mem_(0x4000, 0) {}
  const TargetDescription& description() const override { return desc_; }
  std::vector<ThreadInfo> threads() const override { return {{1, "vcpu0"}, {2, "vcpu1"}}; }
  std::optional<std::vector<uint8_t>> read_register(int thread, unsigned regnum) override {
    if (regnum >= desc_.registers().size()) return std::nullopt;
    std::vector<uint8_t> v(desc_.registers()[regnum].bits / 8, uint8_t(thread));
    return v;
  }
  bool write_register(int, unsigned regnum, const std::vector<uint8_t>& v, std::string* why) override {
    if (regnum >= desc_.registers().size() || v.size() != desc_.registers()[regnum].bits / 8)
      fail("write_register with a wrong number or size", std::to_string(regnum));
    *why = "read-only";
    return false;
  }
  std::optional<MemoryError> read_memory(int, uint64_t addr, uint8_t* out, size_t len) override {
    if (len > GdbServer::kPacketSize) fail("a memory read longer than a packet", std::to_string(len));
    if (addr >= mem_.size() || len > mem_.size() - addr) return MemoryError{EFAULT, "none"};
    std::copy(mem_.begin() + long(addr), mem_.begin() + long(addr + len), out);
    return std::nullopt;
  }
  std::optional<MemoryError> write_memory(int, uint64_t addr, const uint8_t* data, size_t len) override {
    if (addr >= mem_.size() || len > mem_.size() - addr) return MemoryError{EFAULT, "none"};
    std::copy(data, data + len, mem_.begin() + long(addr));
    return std::nullopt;
  }
  bool insert_breakpoint(uint64_t) override { return true; }
  bool remove_breakpoint(uint64_t) override { return true; }
  MonitorReply monitor(int, const std::string& command) override {
    MonitorReply r;
    r.output = command;  // echoed: any bytes must come back hex-encoded
    r.resumes = command == "step";
    return r;
  }
  void resume(const Resume&) override {}

 private:
  TargetDescription desc_;
  std::vector<uint8_t> mem_;
};

void check_output(const std::string& out) {
  for (size_t i = 0; i < out.size();) {
    if (out[i] == '+' || out[i] == '-') {
      ++i;
      continue;
    }
    if (out[i] != '$') fail("a byte outside any packet", out.substr(i));
    const size_t hash = out.find('#', i);
    if (hash == std::string::npos || hash + 3 > out.size()) fail("an unterminated packet", out.substr(i));
    const std::string payload = out.substr(i + 1, hash - i - 1);
    if (payload.size() > GdbServer::kPacketSize) fail("a packet over PacketSize", payload.substr(0, 40));
    if (payload.find('$') != std::string::npos) fail("a `$` inside a packet", payload);
    if (frame_packet(payload) != out.substr(i, hash + 3 - i)) fail("a wrong checksum", payload);
    i = hash + 3;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the architecture.
  MemoryTarget target(data[0] & 1 ? Arch::Arm64Pkvm : Arch::X86Tdx);
  InputChannel channel(data + 1, size - 1);
  GdbServer server(target, channel);
  StopEvent stop{StopEvent::Reason::Attach, 0, "before step 1"};
  // Every serve() reads at least one chunk or ends: the loop is bounded by the input.
  for (int rounds = 0; server.connected(); ++rounds) {
    const Resume r = server.serve(stop);
    if (r.kind == ResumeKind::Kill || r.kind == ResumeKind::Detach) break;
    if (rounds > int(size) + 2) fail("serve() returned more often than the input allows", "");
    server.interrupted();
    stop = {r.kind == ResumeKind::Step ? StopEvent::Reason::Step : StopEvent::Reason::Breakpoint, 1, "op 1"};
  }
  if (server.connected()) server.exited(0);
  check_output(channel.out);
  // The codec's own round trips.
  const std::string body(reinterpret_cast<const char*>(data), size);
  auto back = unescape_binary(escape_binary(data, size));
  if (!back || *back != std::vector<uint8_t>(data, data + size)) fail("escape does not round-trip", body);
  if (auto bytes = from_hex(to_hex(data, size)); !bytes || *bytes != std::vector<uint8_t>(data, data + size))
    fail("hex does not round-trip", body);
  if (auto e = expand_rle(body); e && e->size() > body.size() * 98) fail("RLE expanded beyond 98x", body);
  return 0;
}
