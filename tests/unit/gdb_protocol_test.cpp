// The gdb remote protocol layer (platforms/gdb/): framing, checksums,
// escapes, run-length decoding, acks and resends, every packet kind the
// server answers, and malformed or oversized input.
#include <doctest/doctest.h>

#include <cerrno>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gdb/gdb_server.h"
#include "gdb/rsp_codec.h"
#include "gdb/target_description.h"

using namespace cocosim;
using namespace cocosim::gdb;

namespace {

// gdb's side of the connection: what it will send, chunk by chunk, and all
// that the server wrote. Reading past the last chunk is a closed connection.
class FakeChannel : public GdbChannel {
 public:
  std::deque<std::string> in;
  std::string out;
  bool read(std::string* bytes) override {
    if (in.empty()) return false;
    *bytes += in.front();
    in.pop_front();
    return true;
  }
  bool poll(std::string* bytes) override { return in.empty() ? true : read(bytes); }
  bool write(const std::string& bytes) override {
    out += bytes;
    return true;
  }
};

// Two threads (pc 7 and 9), memory 0x1000-0x1fff readable and writable,
// 0x5000-0x5fff refused (EPERM), everything else EFAULT.
class FakeTarget : public GdbTarget {
 public:
  explicit FakeTarget(Arch a = Arch::X86Tdx) : desc(TargetDescription::for_arch(a)) {}
  const TargetDescription& description() const override { return desc; }
  std::vector<ThreadInfo> threads() const override { return {{1, "vm0 vcpu0"}, {2, "vm0 vcpu1"}}; }
  std::optional<std::vector<uint8_t>> read_register(int thread, unsigned regnum) override {
    if (regnum >= desc.registers().size()) return std::nullopt;
    std::vector<uint8_t> v(desc.registers()[regnum].bits / 8, 0);
    if (regnum == desc.pc_regnum()) v[0] = uint8_t(thread == 2 ? 9 : 7);
    return v;
  }
  bool write_register(int, unsigned, const std::vector<uint8_t>&, std::string* why) override {
    *why = "read-only";
    return false;
  }
  std::optional<MemoryError> read_memory(int, uint64_t addr, uint8_t* out, size_t len) override {
    if (auto e = check(addr, len)) return e;
    for (size_t i = 0; i < len; ++i) out[i] = mem[addr + i];
    return std::nullopt;
  }
  std::optional<MemoryError> write_memory(int, uint64_t addr, const uint8_t* data, size_t len) override {
    if (auto e = check(addr, len)) return e;
    for (size_t i = 0; i < len; ++i) mem[addr + i] = data[i];
    return std::nullopt;
  }
  bool insert_breakpoint(uint64_t pc) override { return bps.insert(pc), true; }
  bool remove_breakpoint(uint64_t pc) override { return bps.erase(pc), true; }
  MonitorReply monitor(int thread, const std::string& command) override {
    commands.push_back(command);
    MonitorReply r;
    if (command == "step") r.resumes = true;
    else if (command == "big") r.output = std::string(2500, 'x');
    else r.output = "thread " + std::to_string(thread) + ": " + command + "\n";
    return r;
  }
  void resume(const Resume& how) override { resumes.push_back(how); }

  std::optional<MemoryError> check(uint64_t addr, size_t len) const {
    if (addr >= 0x5000 && addr < 0x6000) return MemoryError{EPERM, "private"};
    if (addr < 0x1000 || addr + len > 0x2000) return MemoryError{EFAULT, "none"};
    return std::nullopt;
  }

  TargetDescription desc;
  std::map<uint64_t, uint8_t> mem;
  std::set<uint64_t> bps;
  std::vector<std::string> commands;
  std::vector<Resume> resumes;
};

std::string pkt(const std::string& payload) { return frame_packet(payload); }

// Every packet in what the server wrote, acks left out.
std::vector<std::string> packets(const std::string& out) {
  std::vector<std::string> r;
  RspDecoder d(1 << 20);
  for (char c : out)
    if (auto e = d.feed(uint8_t(c)); e && e->kind == RspEvent::Kind::Packet) r.push_back(e->payload);
  return r;
}

std::vector<RspEvent> decode(const std::string& bytes, size_t max = 4096) {
  RspDecoder d(max);
  std::vector<RspEvent> r;
  for (char c : bytes)
    if (auto e = d.feed(uint8_t(c))) r.push_back(*e);
  return r;
}

}  // namespace

TEST_CASE("gdb framing: checksums are the payload's byte sum modulo 256, two hex digits") {
  CHECK(frame_packet("OK") == "$OK#9a");
  CHECK(frame_packet("") == "$#00");
  CHECK(frame_packet("g") == "$g#67");
  CHECK(frame_packet("qSupported") == "$qSupported#37");
}

TEST_CASE("gdb decoder: packets, acks, interrupts and noise") {
  auto ev = decode("+$g#67-\x03junk" + pkt("m1000,4"));
  REQUIRE(ev.size() == 5);
  CHECK(ev[0].kind == RspEvent::Kind::Ack);
  CHECK(ev[1].kind == RspEvent::Kind::Packet);
  CHECK(ev[1].payload == "g");
  CHECK(ev[2].kind == RspEvent::Kind::Nack);
  CHECK(ev[3].kind == RspEvent::Kind::Interrupt);
  CHECK(ev[4].kind == RspEvent::Kind::Packet);
  CHECK(ev[4].payload == "m1000,4");
  // Upper-case checksum digits are hex too.
  CHECK(decode("$OK#9A")[0].kind == RspEvent::Kind::Packet);
}

TEST_CASE("gdb decoder: a wrong or non-hex checksum is reported, and decoding goes on") {
  auto ev = decode("$g#68$g#zz$g#67");
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].kind == RspEvent::Kind::BadChecksum);
  CHECK(ev[1].kind == RspEvent::Kind::BadChecksum);
  CHECK(ev[2].kind == RspEvent::Kind::Packet);
}

TEST_CASE("gdb decoder: a `$` inside a packet starts a new one") {
  auto ev = decode("$garbage$g#67");
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].payload == "g");
}

TEST_CASE("gdb decoder: a packet over the limit is Oversized, not truncated") {
  const std::string big(100, 'a');
  auto ev = decode(pkt(big), 64);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == RspEvent::Kind::Oversized);
  CHECK(ev[0].payload.empty());
  // RLE that expands beyond the limit is oversized as well.
  auto ev2 = decode(pkt("0*~0*~"), 64);
  REQUIRE(ev2.size() == 1);
  CHECK(ev2[0].kind == RspEvent::Kind::Oversized);
}

TEST_CASE("gdb run-length decoding: `X*n` is X and n - 29 more") {
  CHECK(expand_rle("0* ") == "0000");  // ' ' is 32: three more
  CHECK(expand_rle("ab*!c") == "abbbbbc");  // '!' is 33: four more
  CHECK(expand_rle("plain") == "plain");
  CHECK_FALSE(expand_rle("*a"));      // nothing to repeat
  CHECK_FALSE(expand_rle("a*"));      // no count
  CHECK_FALSE(expand_rle("a*\x10"));  // count not printable
  auto ev = decode(pkt("0* "));
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].payload == "0000");
  auto bad = decode(pkt("*x"));
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].kind == RspEvent::Kind::Malformed);
}

TEST_CASE("gdb binary escapes: # $ } * become } and the byte ^ 0x20, and back") {
  const uint8_t raw[] = {'#', '$', '}', '*', 'a', 0, 0xff};
  const std::string esc = escape_binary(raw, sizeof raw);
  CHECK(esc == std::string("}\x03}\x04}]}\x0a" "a\0\xff", 11));
  auto back = unescape_binary(esc);
  REQUIRE(back);
  CHECK(*back == std::vector<uint8_t>(raw, raw + sizeof raw));
  CHECK_FALSE(unescape_binary("ab}"));  // ends inside an escape
}

TEST_CASE("gdb hex helpers") {
  const uint8_t b[] = {0x00, 0xab, 0x7f};
  CHECK(to_hex(b, 3) == "00ab7f");
  CHECK(to_hex(std::string("OK")) == "4f4b");
  CHECK(from_hex("00AB7f") == std::vector<uint8_t>{0, 0xab, 0x7f});
  CHECK_FALSE(from_hex("abc"));
  CHECK_FALSE(from_hex("zz"));
  CHECK(parse_hex_u64("ffffffffffffffff") == ~uint64_t{0});
  CHECK_FALSE(parse_hex_u64("10000000000000000"));  // 17 digits
  CHECK_FALSE(parse_hex_u64(""));
  CHECK_FALSE(parse_hex_u64("-1"));
}

TEST_CASE("gdb target descriptions: gdb's register sets, sizes and PC numbers") {
  auto x86 = TargetDescription::for_arch(Arch::X86Tdx);
  CHECK(x86.registers().size() == 57);  // 24 core + 8 x87 + 8 x87 control + 16 xmm + mxcsr
  CHECK(x86.registers()[x86.pc_regnum()].name == "rip");
  CHECK(x86.pc_regnum() == 16);
  CHECK(x86.g_packet_bytes() == 16 * 8 + 8 + 4 + 6 * 4 + 8 * 10 + 8 * 4 + 16 * 16 + 4);
  CHECK(x86.xml().find("<architecture>i386:x86-64</architecture>") != std::string::npos);
  CHECK(x86.xml().find("org.gnu.gdb.i386.core") != std::string::npos);
  CHECK(x86.xml().find("org.gnu.gdb.i386.sse") != std::string::npos);
  auto a64 = TargetDescription::for_arch(Arch::Arm64Pkvm);
  CHECK(a64.registers().size() == 34);
  CHECK(a64.pc_regnum() == 32);
  CHECK(a64.registers()[31].name == "sp");
  CHECK(a64.g_packet_bytes() == 33 * 8 + 4);
  CHECK(a64.xml().find("<architecture>aarch64</architecture>") != std::string::npos);
  CHECK(a64.xml().find("org.gnu.gdb.aarch64.core") != std::string::npos);
}

TEST_CASE("gdb server: qSupported, thread list, stop reply") {
  FakeTarget t;
  FakeChannel c;
  GdbServer s(t, c);
  auto sup = s.handle("qSupported:multiprocess+;swbreak+;hwbreak+");
  REQUIRE(sup);
  CHECK(*sup == "PacketSize=1000;qXfer:features:read+;QStartNoAckMode+;swbreak+");
  CHECK(s.handle("qSupported:multiprocess+") ==
        std::optional<std::string>("PacketSize=1000;qXfer:features:read+;QStartNoAckMode+"));
  CHECK(s.handle("qfThreadInfo") == std::optional<std::string>("m1,2"));
  CHECK(s.handle("qsThreadInfo") == std::optional<std::string>("l"));
  CHECK(s.handle("qThreadExtraInfo,2") == std::optional<std::string>(to_hex(std::string("vm0 vcpu1"))));
  CHECK(s.handle("qThreadExtraInfo,9") == std::optional<std::string>("E03"));
  CHECK(s.handle("qAttached") == std::optional<std::string>("1"));
  CHECK(s.handle("qC") == std::optional<std::string>("QC1"));
  CHECK(s.stop_reply({StopEvent::Reason::Attach, 0, ""}) == "S05");
  CHECK(s.stop_reply({StopEvent::Reason::Interrupt, 2, ""}) == "T02thread:2;");
  s.handle("qSupported:swbreak+");
  CHECK(s.stop_reply({StopEvent::Reason::Breakpoint, 2, ""}) == "T05thread:2;swbreak:;");
  CHECK(s.stop_reply({StopEvent::Reason::Step, 1, ""}) == "T05thread:1;");
  CHECK(s.handle("?") == std::optional<std::string>("S05"));  // nothing stopped yet: the attach stop
}

TEST_CASE("gdb server: qXfer:features:read returns the whole description in pieces") {
  FakeTarget t;
  FakeChannel c;
  GdbServer s(t, c);
  std::string xml;
  for (uint64_t off = 0;;) {
    char req[64];
    std::snprintf(req, sizeof req, "qXfer:features:read:target.xml:%llx,200", (unsigned long long)off);
    auto r = s.handle(req);
    REQUIRE(r);
    REQUIRE(!r->empty());
    REQUIRE((r->at(0) == 'm' || r->at(0) == 'l'));
    auto data = unescape_binary(r->substr(1));
    REQUIRE(data);
    xml.append(data->begin(), data->end());
    off += data->size();
    if (r->at(0) == 'l') break;
    REQUIRE(off < 100000);
  }
  CHECK(xml == t.desc.xml());
  CHECK(s.handle("qXfer:features:read:other.xml:0,100") == std::optional<std::string>("E02"));
  CHECK(s.handle("qXfer:features:read:target.xml:zz,100") == std::optional<std::string>("E16"));
  CHECK(s.handle("qXfer:features:read:target.xml") == std::optional<std::string>("E16"));
  CHECK(s.handle("qXfer:features:read:target.xml:ffffff,10") == std::optional<std::string>("E16"));
  CHECK(s.handle("qXfer:libraries:read::0,100") == std::optional<std::string>(""));
}

TEST_CASE("gdb server: registers by thread, g and p, writes refused") {
  FakeTarget t;
  FakeChannel c;
  GdbServer s(t, c);
  auto g = s.handle("g");
  REQUIRE(g);
  CHECK(g->size() == 2 * t.desc.g_packet_bytes());
  CHECK(g->substr(16 * 16, 16) == "0700000000000000");  // rip of thread 1, little-endian
  CHECK(s.handle("p10") == std::optional<std::string>("0700000000000000"));
  CHECK(s.handle("Hg2") == std::optional<std::string>("OK"));
  CHECK(s.handle("p10") == std::optional<std::string>("0900000000000000"));
  CHECK(s.handle("Hg9") == std::optional<std::string>("E03"));
  CHECK(s.handle("Hc-1") == std::optional<std::string>("OK"));
  CHECK(s.handle("Hx1") == std::optional<std::string>("E16"));
  CHECK(s.handle("T1") == std::optional<std::string>("OK"));
  CHECK(s.handle("T5") == std::optional<std::string>("E03"));
  CHECK(s.handle("Tzz") == std::optional<std::string>("E03"));
  CHECK(s.handle("p999") == std::optional<std::string>("E16"));
  CHECK(s.handle("pq") == std::optional<std::string>("E16"));
  CHECK(s.handle("g1") == std::optional<std::string>("E16"));
  CHECK(s.handle("P10=0100000000000000") == std::optional<std::string>("E01"));
  CHECK(s.handle("P10=01") == std::optional<std::string>("E16"));  // wrong size
  CHECK(s.handle("P10") == std::optional<std::string>("E16"));
  // G with what g returned changes nothing and is accepted; a change is refused.
  CHECK(s.handle("G" + *s.handle("g")) == std::optional<std::string>("OK"));
  std::string changed = *s.handle("g");
  changed[0] = '1';
  CHECK(s.handle("G" + changed) == std::optional<std::string>("E01"));
  CHECK(s.handle("G00") == std::optional<std::string>("E16"));
}

TEST_CASE("gdb server: memory reads and writes, hex and binary, and their refusals") {
  FakeTarget t;
  FakeChannel c;
  GdbServer s(t, c);
  CHECK(s.handle("M1000,4:deadbeef") == std::optional<std::string>("OK"));
  CHECK(s.handle("m1000,4") == std::optional<std::string>("deadbeef"));
  CHECK(s.handle("m1001,2") == std::optional<std::string>("adbe"));
  CHECK(s.handle("X1000,0:") == std::optional<std::string>("OK"));  // gdb's probe
  const uint8_t bin[] = {'#', '}', 0x01};
  CHECK(s.handle("X1004,3:" + escape_binary(bin, 3)) == std::optional<std::string>("OK"));
  CHECK(s.handle("m1004,3") == std::optional<std::string>("237d01"));
  CHECK(s.handle("m5000,8") == std::optional<std::string>("E01"));  // EPERM
  CHECK(s.handle("M5000,1:00") == std::optional<std::string>("E01"));
  CHECK(s.handle("m9000,8") == std::optional<std::string>("E0e"));  // EFAULT
  CHECK(s.handle("m1000") == std::optional<std::string>("E16"));
  CHECK(s.handle("mzz,4") == std::optional<std::string>("E16"));
  CHECK(s.handle("M1000,4:dead") == std::optional<std::string>("E16"));  // length mismatch
  CHECK(s.handle("M1000,1:zz") == std::optional<std::string>("E16"));
  CHECK(s.handle("X1000,2:}") == std::optional<std::string>("E16"));
  CHECK(s.handle("M1000,4") == std::optional<std::string>("E16"));
  CHECK(s.handle("mffffffffffffffff,10") == std::optional<std::string>("E0e"));  // wraps
  CHECK(s.handle("m1000,0") == std::optional<std::string>(""));
  // A read longer than a packet holds is cut to what fits.
  auto big = s.handle("m1000,1000");
  REQUIRE(big);
  CHECK(big->size() == 2 * ((GdbServer::kPacketSize - 4) / 2));
}

TEST_CASE("gdb server: Z0/z0 breakpoints, other kinds are not supported") {
  FakeTarget t;
  FakeChannel c;
  GdbServer s(t, c);
  CHECK(s.handle("Z0,3,1") == std::optional<std::string>("OK"));
  CHECK(t.bps.count(3));
  CHECK(s.handle("z0,3,1") == std::optional<std::string>("OK"));
  CHECK(t.bps.empty());
  CHECK(s.handle("Z1,3,1") == std::optional<std::string>(""));
  CHECK(s.handle("Z2,1000,8") == std::optional<std::string>(""));
  CHECK(s.handle("Z0,zz,1") == std::optional<std::string>("E16"));
  CHECK(s.handle("Z0") == std::optional<std::string>("E16"));
  CHECK(s.handle("Z") == std::optional<std::string>(""));
}

TEST_CASE("gdb server: c, s, k and D resume, their malformed forms do not") {
  FakeTarget t;
  FakeChannel c;
  GdbServer s(t, c);
  CHECK_FALSE(s.handle("c"));
  CHECK(s.pending_resume().kind == ResumeKind::Continue);
  CHECK(s.handle("Hc2") == std::optional<std::string>("OK"));
  CHECK_FALSE(s.handle("s"));
  CHECK(s.pending_resume().kind == ResumeKind::Step);
  CHECK(s.pending_resume().thread == 2);
  CHECK_FALSE(s.handle("C05"));
  CHECK(s.pending_resume().kind == ResumeKind::Continue);
  CHECK_FALSE(s.handle("S05"));
  CHECK(s.pending_resume().kind == ResumeKind::Step);
  CHECK_FALSE(s.handle("k"));
  CHECK(s.pending_resume().kind == ResumeKind::Kill);
  CHECK_FALSE(s.handle("D"));
  CHECK(s.pending_resume().kind == ResumeKind::Detach);
  CHECK_FALSE(s.handle("D;1"));
  CHECK(s.handle("c1000") == std::optional<std::string>("E16"));  // resume address: refused
  CHECK(s.handle("s1000") == std::optional<std::string>("E16"));
  CHECK(s.handle("Czz") == std::optional<std::string>("E16"));
  CHECK(s.handle("kx") == std::optional<std::string>("E16"));
  CHECK(s.handle("Dx") == std::optional<std::string>("E16"));
}

TEST_CASE("gdb server: unknown and empty packets get the empty reply") {
  FakeTarget t;
  FakeChannel c;
  GdbServer s(t, c);
  for (const char* p : {"", "vCont?", "vMustReplyEmpty", "qTStatus", "bc", "!", "Qfoo", "qOffsets", "\x7f"})
    CHECK(s.handle(p) == std::optional<std::string>(""));
}

TEST_CASE("gdb server: monitor commands print through O packets, then OK") {
  FakeTarget t;
  FakeChannel c;
  c.in = {pkt("qRcmd," + to_hex(std::string("stats"))), pkt("qRcmd," + to_hex(std::string("big"))),
          pkt("qRcmd,zz")};
  GdbServer s(t, c);
  const Resume r = s.serve({StopEvent::Reason::Attach, 1, "before step 1"});
  CHECK(r.kind == ResumeKind::Detach);  // the fake connection closed after the last packet
  REQUIRE(t.commands.size() == 2);
  CHECK(t.commands[0] == "stats");
  auto ps = packets(c.out);
  REQUIRE(ps.size() == 7);
  CHECK(ps[0] == "O" + to_hex(std::string("thread 1: stats\n")));
  CHECK(ps[1] == "OK");
  CHECK(ps[2] == "O" + to_hex(std::string(1000, 'x')));  // long output: several O packets
  CHECK(ps[3] == "O" + to_hex(std::string(1000, 'x')));
  CHECK(ps[4] == "O" + to_hex(std::string(500, 'x')));
  CHECK(ps[5] == "OK");
  CHECK(ps[6] == "E16");  // the command's hex is not hex
}

TEST_CASE("gdb server: serve acks, answers, resends on `-`, nacks a bad checksum, resumes") {
  FakeTarget t;
  FakeChannel c;
  c.in = {pkt("qC"), "-", "$g#00", pkt("Z0,3,1") + pkt("c")};
  GdbServer s(t, c);
  const Resume r = s.serve({StopEvent::Reason::Attach, 0, ""});
  CHECK(r.kind == ResumeKind::Continue);
  CHECK(t.resumes.size() == 1);
  CHECK(c.out == "+" + pkt("QC1") + pkt("QC1") + "-" + "+" + pkt("OK") + "+");
  // The stop that follows is reported to the waiting gdb.
  c.out.clear();
  c.in = {pkt("D")};
  const Resume r2 = s.serve({StopEvent::Reason::Breakpoint, 2, ""});
  CHECK(r2.kind == ResumeKind::Detach);
  CHECK(c.out == pkt("T05thread:2;") + "+" + pkt("OK"));
  CHECK_FALSE(s.connected());
  // Without gdb, the run goes on.
  CHECK(s.serve({StopEvent::Reason::Breakpoint, 2, ""}).kind == ResumeKind::Detach);
}

TEST_CASE("gdb server: QStartNoAckMode's OK is the last acknowledged packet") {
  FakeTarget t;
  FakeChannel c;
  c.in = {pkt("QStartNoAckMode"), "+", pkt("qC"), "$qC#00", pkt("k")};
  GdbServer s(t, c);
  CHECK(s.serve({StopEvent::Reason::Attach, 0, ""}).kind == ResumeKind::Kill);
  CHECK_FALSE(s.ack_mode());
  // No ack for qC, no nack for the bad checksum (it is dropped), no reply to k.
  CHECK(c.out == "+" + pkt("OK") + pkt("QC1"));
  CHECK(t.resumes.back().kind == ResumeKind::Kill);
}

TEST_CASE("gdb server: oversized and malformed packets get an error, and the server goes on") {
  FakeTarget t;
  FakeChannel c;
  c.in = {pkt("m" + std::string(GdbServer::kPacketSize + 10, '1')), pkt("*x"), pkt("qC")};
  GdbServer s(t, c);
  s.serve({StopEvent::Reason::Attach, 0, ""});
  CHECK(c.out == "+" + pkt("E16") + "+" + pkt("E16") + "+" + pkt("QC1"));
}

TEST_CASE("gdb server: Ctrl-C while running, the W reply at the end") {
  FakeTarget t;
  FakeChannel c;
  c.in = {pkt("c")};
  GdbServer s(t, c);
  s.serve({StopEvent::Reason::Attach, 0, ""});
  CHECK_FALSE(s.interrupted());  // nothing came
  c.in = {"\x03"};
  CHECK(s.interrupted());
  c.out.clear();
  c.in = {pkt("c")};
  s.serve({StopEvent::Reason::Interrupt, 1, ""});
  CHECK(c.out == pkt("T02thread:1;") + "+");
  c.out.clear();
  s.exited(1);
  CHECK(c.out == pkt("W01"));
  CHECK_FALSE(s.connected());
  c.out.clear();
  s.exited(0);
  CHECK(c.out.empty());  // the connection is gone: nothing more is written
}

TEST_CASE("gdb server: packets sent while the target runs wait for the stop, up to a limit") {
  FakeTarget t;
  FakeChannel c;
  c.in = {pkt("c")};
  GdbServer s(t, c);
  s.serve({StopEvent::Reason::Attach, 0, ""});
  c.in = {pkt("qC") + pkt("T1"), std::string()};
  for (size_t i = 0; i < 2 * GdbServer::kMaxBacklog; ++i) c.in.back() += pkt("T1");
  CHECK_FALSE(s.interrupted());
  c.out.clear();
  s.serve({StopEvent::Reason::Interrupt, 1, ""});  // answers what was kept; then the channel is closed
  CHECK(c.out.substr(0, pkt("T02thread:1;").size() + 1 + pkt("QC1").size() + 1) ==
        pkt("T02thread:1;") + "+" + pkt("QC1") + "+");
  CHECK(packets(c.out).size() == 1 + GdbServer::kMaxBacklog);
}

TEST_CASE("gdb server: `monitor step` resumes, its OK comes with the next stop") {
  FakeTarget t;
  FakeChannel c;
  c.in = {pkt("qRcmd," + to_hex(std::string("step")))};
  GdbServer s(t, c);
  const Resume r = s.serve({StopEvent::Reason::Attach, 0, "before step 1 (mmap)"});
  CHECK(r.kind == ResumeKind::ScenarioStep);
  CHECK(c.out == "+");  // nothing yet: gdb waits
  c.in = {pkt("k")};
  s.serve({StopEvent::Reason::ScenarioStep, 0, "before step 2 (KVM_RUN)"});
  auto ps = packets(c.out);
  REQUIRE(ps.size() == 2);
  CHECK(ps[0] == "O" + to_hex(std::string("stopped before step 2 (KVM_RUN)\n")));
  CHECK(ps[1] == "OK");
}
