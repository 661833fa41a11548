#include "gdb/gdb_server.h"

#include <cerrno>
#include <algorithm>
#include <cstdio>

namespace cocosim::gdb {

namespace {

// gdb's signal numbers in stop replies (gdb/signals.def).
constexpr int kSigInt = 2;
constexpr int kSigTrap = 5;

std::string hex2(unsigned v) {
  char b[4];
  std::snprintf(b, sizeof b, "%02x", v & 0xff);
  return b;
}

std::string thread_hex(int id) {
  char b[20];
  std::snprintf(b, sizeof b, "%x", unsigned(id));
  return b;
}

// Splits "a,b" (or "a,b:rest") into its hex numbers.
bool parse_addr_len(const std::string& s, uint64_t* addr, uint64_t* len) {
  const size_t comma = s.find(',');
  if (comma == std::string::npos) return false;
  auto a = parse_hex_u64(s.substr(0, comma));
  auto l = parse_hex_u64(s.substr(comma + 1));
  if (!a || !l) return false;
  *addr = *a;
  *len = *l;
  return true;
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.compare(0, std::char_traits<char>::length(prefix), prefix) == 0;
}

}  // namespace

GdbServer::GdbServer(GdbTarget& target, GdbChannel& channel) : target_(target), channel_(channel) {}

std::string GdbServer::error(int code) { return "E" + hex2(unsigned(code)); }

void GdbServer::send_raw(const std::string& bytes) {
  if (connected_ && !channel_.write(bytes)) lost();
}

void GdbServer::send(const std::string& payload) {
  last_sent_ = frame_packet(payload);
  send_raw(last_sent_);
}

void GdbServer::lost() {
  connected_ = false;
  running_ = false;
  rcmd_waiting_ = false;
}

bool GdbServer::next_event(RspEvent* ev, bool wait) {
  for (;;) {
    if (!backlog_.empty()) {
      *ev = std::move(backlog_.front());
      backlog_.pop_front();
      return true;
    }
    while (inpos_ < inbuf_.size()) {
      auto e = decoder_.feed(uint8_t(inbuf_[inpos_++]));
      if (e) {
        *ev = std::move(*e);
        return true;
      }
    }
    inbuf_.clear();
    inpos_ = 0;
    if (!connected_) return false;
    const bool open = wait ? channel_.read(&inbuf_) : channel_.poll(&inbuf_);
    if (!open) {
      lost();
      return false;
    }
    if (!wait && inbuf_.empty()) return false;
  }
}

bool GdbServer::interrupted() {
  if (!connected_) return false;
  RspEvent ev;
  bool stop = false;
  // Keep what is not an interrupt for serve(): gdb may send ahead.
  std::deque<RspEvent> keep;
  while (next_event(&ev, /*wait=*/false)) {
    if (ev.kind == RspEvent::Kind::Interrupt) stop = true;
    else keep.push_back(std::move(ev));
  }
  // gdb sends nothing but Ctrl-C while the target runs: a few packets are
  // kept for when it stops, a flood is not.
  for (auto& e : keep)
    if (backlog_.size() < kMaxBacklog) backlog_.push_back(std::move(e));
  return stop;
}

Resume GdbServer::serve(const StopEvent& stop) {
  last_stop_ = stop;
  if (stop.thread > 0) g_thread_ = stop.thread;
  if (!connected_) return Resume{ResumeKind::Detach, 0};
  if (rcmd_waiting_) {
    // `monitor step` returns here: its output, then its OK (gdb is still stopped).
    const std::string text = "stopped " + stop.where + "\n";
    send("O" + to_hex(text));
    send("OK");
    rcmd_waiting_ = false;
  } else if (running_) {
    send(stop_reply(stop));
  }
  running_ = false;
  RspEvent ev;
  while (next_event(&ev, /*wait=*/true)) {
    switch (ev.kind) {
      case RspEvent::Kind::Ack:
      case RspEvent::Kind::Interrupt:  // the target is stopped already
        break;
      case RspEvent::Kind::Nack:
        if (!last_sent_.empty()) send_raw(last_sent_);
        break;
      case RspEvent::Kind::BadChecksum:
        if (ack_mode_) send_raw("-");
        break;
      case RspEvent::Kind::Oversized:
      case RspEvent::Kind::Malformed:
        if (ack_mode_) send_raw("+");
        send(error(EINVAL));
        break;
      case RspEvent::Kind::Packet: {
        if (ack_mode_) send_raw("+");
        auto reply = handle(ev.payload);
        if (reply) {
          send(*reply);
          if (noack_after_reply_) ack_mode_ = false, noack_after_reply_ = false, last_sent_.clear();
          break;
        }
        // The packet resumes the target.
        if (resume_.kind == ResumeKind::Kill || resume_.kind == ResumeKind::Detach) {
          if (resume_.kind == ResumeKind::Detach) send("OK");
          target_.resume(resume_);
          lost();
          return resume_;
        }
        if (resume_.kind == ResumeKind::ScenarioStep) rcmd_waiting_ = true;
        else running_ = true;
        target_.resume(resume_);
        return resume_;
      }
    }
  }
  // The connection is gone: the run goes on without gdb.
  resume_ = Resume{ResumeKind::Detach, 0};
  target_.resume(resume_);
  return resume_;
}

void GdbServer::exited(int code) {
  if (!connected_) return;
  if (rcmd_waiting_) {
    send("O" + to_hex(std::string("the run ended\n")));
    send("OK");
  }
  send("W" + hex2(unsigned(code)));
  lost();
}

std::string GdbServer::stop_reply(const StopEvent& stop) const {
  const int sig = stop.reason == StopEvent::Reason::Interrupt ? kSigInt : kSigTrap;
  if (stop.thread <= 0) return "S" + hex2(unsigned(sig));
  std::string r = "T" + hex2(unsigned(sig)) + "thread:" + thread_hex(stop.thread) + ";";
  if (swbreak_ && stop.reason == StopEvent::Reason::Breakpoint) r += "swbreak:;";
  return r;
}

std::optional<std::string> GdbServer::handle(const std::string& p) {
  if (p.empty()) return std::string();
  const std::string args = p.substr(1);
  switch (p[0]) {
    case '?':
      return stop_reply(last_stop_);
    case 'q':
    case 'Q':
      return query(p);
    case 'g':
      return p.size() == 1 ? read_registers() : error(EINVAL);
    case 'G':
      return write_registers(args);
    case 'p':
      return read_register(args);
    case 'P':
      return write_register(args);
    case 'm':
      return read_memory(args);
    case 'M':
      return write_memory(args, false);
    case 'X':
      return write_memory(args, true);
    case 'Z':
    case 'z':
      return breakpoint(p, p[0] == 'Z');
    case 'H':
      return set_thread(args);
    case 'T': {
      auto id = parse_hex_u64(args);
      return id && *id <= 0x7fffffff && thread_exists(int(*id)) ? "OK" : error(ESRCH);
    }
    case 'c':
    case 'C':
    case 's':
    case 'S': {
      // `C sig` / `S sig` pass a signal: a scripted guest has none to take, so
      // they resume as `c` / `s`. A resume address (`c addr`) is refused.
      if (p[0] == 'c' || p[0] == 's') {
        if (!args.empty()) return error(EINVAL);
      } else {
        const std::string sig = args.substr(0, args.find(';'));
        if (!parse_hex_u64(sig) || args.find(';') != std::string::npos) return error(EINVAL);
      }
      const bool step = p[0] == 's' || p[0] == 'S';
      resume_ = Resume{step ? ResumeKind::Step : ResumeKind::Continue,
                       step ? (c_thread_ > 0 ? c_thread_ : last_stop_.thread) : 0};
      return std::nullopt;
    }
    case 'k':
      if (p.size() != 1) return error(EINVAL);
      resume_ = Resume{ResumeKind::Kill, 0};
      return std::nullopt;
    case 'D':
      if (p.size() != 1 && p[1] != ';') return error(EINVAL);
      resume_ = Resume{ResumeKind::Detach, 0};
      return std::nullopt;
    default:
      // Everything else (v packets, vCont, bc/bs, ...) is not supported: the
      // empty reply tells gdb so, and it falls back to what is.
      return std::string();
  }
}

std::optional<std::string> GdbServer::query(const std::string& p) {
  if (starts_with(p, "qSupported")) {
    // gdb lists its features after the colon: `swbreak+` lets stop replies
    // say a breakpoint was hit, so gdb does not adjust the PC itself.
    const std::string feats = p.size() > 11 ? p.substr(11) : "";
    swbreak_ = (";" + feats + ";").find(";swbreak+;") != std::string::npos;
    char b[64];
    std::snprintf(b, sizeof b, "PacketSize=%zx", kPacketSize);
    return std::string(b) + ";qXfer:features:read+;QStartNoAckMode+" + (swbreak_ ? ";swbreak+" : "");
  }
  if (p == "QStartNoAckMode") {
    // This OK is still acknowledged; from the next packet on, nothing is.
    noack_after_reply_ = true;
    return std::string("OK");
  }
  if (starts_with(p, "qXfer:features:read:")) return xfer_features(p.substr(20));
  if (starts_with(p, "qXfer:")) return std::string();
  if (p == "qAttached") return "1";  // the run exists before gdb: quit detaches, it does not kill
  if (p == "qC") {
    const int t = thread_for_registers();
    return t > 0 ? "QC" + thread_hex(t) : std::string();
  }
  if (p == "qfThreadInfo") {
    std::string r;
    for (const ThreadInfo& t : target_.threads()) r += (r.empty() ? "m" : ",") + thread_hex(t.id);
    return r.empty() ? "l" : r;
  }
  if (p == "qsThreadInfo") return "l";
  if (starts_with(p, "qThreadExtraInfo,")) {
    auto id = parse_hex_u64(p.substr(17));
    if (!id) return error(EINVAL);
    for (const ThreadInfo& t : target_.threads())
      if (uint64_t(t.id) == *id) return to_hex(t.name);
    return error(ESRCH);
  }
  if (starts_with(p, "qRcmd,")) return monitor(p.substr(6));
  return std::string();
}

std::string GdbServer::xfer_features(const std::string& args) {
  // target.xml:OFFSET,LENGTH
  const size_t colon = args.find(':');
  if (colon == std::string::npos) return error(EINVAL);
  if (args.substr(0, colon) != "target.xml") return error(ENOENT);
  uint64_t off = 0, len = 0;
  if (!parse_addr_len(args.substr(colon + 1), &off, &len)) return error(EINVAL);
  const std::string& xml = target_.description().xml();
  if (off > xml.size()) return error(EINVAL);
  // Escaping can double the data: keep the reply within PacketSize.
  const uint64_t room = (kPacketSize - 1) / 2;
  const uint64_t n = std::min<uint64_t>({len, room, xml.size() - off});
  const bool last = off + n >= xml.size();
  return (last ? "l" : "m") + escape_binary(reinterpret_cast<const uint8_t*>(xml.data()) + off, size_t(n));
}

int GdbServer::thread_for_registers() const {
  if (g_thread_ > 0 && thread_exists(g_thread_)) return g_thread_;
  if (last_stop_.thread > 0 && thread_exists(last_stop_.thread)) return last_stop_.thread;
  auto ts = target_.threads();
  return ts.empty() ? 0 : ts.front().id;
}

bool GdbServer::thread_exists(int id) const {
  for (const ThreadInfo& t : target_.threads())
    if (t.id == id) return true;
  return false;
}

std::string GdbServer::set_thread(const std::string& args) {
  if (args.size() < 2 || (args[0] != 'g' && args[0] != 'c')) return error(EINVAL);
  const std::string id = args.substr(1);
  int t = 0;
  if (id == "-1" || id == "0") {
    t = 0;
  } else {
    auto v = parse_hex_u64(id);
    if (!v || *v > 0x7fffffff || !thread_exists(int(*v))) return error(ESRCH);
    t = int(*v);
  }
  (args[0] == 'g' ? g_thread_ : c_thread_) = t;
  return "OK";
}

std::string GdbServer::read_registers() {
  const int t = thread_for_registers();
  std::string r;
  const auto& regs = target_.description().registers();
  for (unsigned i = 0; i < regs.size(); ++i) {
    auto v = target_.read_register(t, i);
    if (v && v->size() == regs[i].bits / 8) r += to_hex(v->data(), v->size());
    else r.append(regs[i].bits / 4, 'x');  // unavailable
  }
  return r;
}

std::string GdbServer::write_registers(const std::string& hex) {
  auto bytes = from_hex(hex);
  const auto& regs = target_.description().registers();
  if (!bytes || bytes->size() != target_.description().g_packet_bytes()) return error(EINVAL);
  const int t = thread_for_registers();
  size_t off = 0;
  for (unsigned i = 0; i < regs.size(); ++i) {
    const size_t n = regs[i].bits / 8;
    std::vector<uint8_t> v(bytes->begin() + long(off), bytes->begin() + long(off + n));
    off += n;
    // Unchanged registers need no write (gdb sends them all back).
    auto cur = target_.read_register(t, i);
    if (cur && *cur == v) continue;
    std::string why;
    if (!target_.write_register(t, i, v, &why)) return error(EPERM);
  }
  return "OK";
}

std::string GdbServer::read_register(const std::string& args) {
  auto n = parse_hex_u64(args);
  const auto& regs = target_.description().registers();
  if (!n || *n >= regs.size()) return error(EINVAL);
  auto v = target_.read_register(thread_for_registers(), unsigned(*n));
  if (!v || v->size() != regs[*n].bits / 8) return std::string(regs[*n].bits / 4, 'x');
  return to_hex(v->data(), v->size());
}

std::string GdbServer::write_register(const std::string& args) {
  const size_t eq = args.find('=');
  if (eq == std::string::npos) return error(EINVAL);
  auto n = parse_hex_u64(args.substr(0, eq));
  auto v = from_hex(args.substr(eq + 1));
  const auto& regs = target_.description().registers();
  if (!n || *n >= regs.size() || !v || v->size() != regs[*n].bits / 8) return error(EINVAL);
  std::string why;
  return target_.write_register(thread_for_registers(), unsigned(*n), *v, &why) ? "OK" : error(EPERM);
}

std::string GdbServer::read_memory(const std::string& args) {
  uint64_t addr = 0, len = 0;
  if (!parse_addr_len(args, &addr, &len)) return error(EINVAL);
  // A shorter read is allowed: gdb asks again for the rest.
  len = std::min<uint64_t>(len, (kPacketSize - 4) / 2);
  if (len == 0) return std::string();
  if (addr + len < addr) return error(EFAULT);
  std::vector<uint8_t> buf(len);
  if (auto e = target_.read_memory(thread_for_registers(), addr, buf.data(), buf.size()))
    return error(e->code);
  return to_hex(buf.data(), buf.size());
}

std::string GdbServer::write_memory(const std::string& args, bool binary) {
  const size_t colon = args.find(':');
  uint64_t addr = 0, len = 0;
  if (colon == std::string::npos || !parse_addr_len(args.substr(0, colon), &addr, &len))
    return error(EINVAL);
  const std::string data = args.substr(colon + 1);
  auto bytes = binary ? unescape_binary(data) : from_hex(data);
  if (!bytes || bytes->size() != len) return error(EINVAL);
  if (len == 0) return "OK";  // gdb's probe for X
  if (addr + len < addr) return error(EFAULT);
  if (auto e = target_.write_memory(thread_for_registers(), addr, bytes->data(), bytes->size()))
    return error(e->code);
  return "OK";
}

std::string GdbServer::breakpoint(const std::string& p, bool insert) {
  // Z0,ADDR,KIND: software breakpoints only; other types are not supported.
  if (p.size() < 2 || p[1] != '0') return std::string();
  if (p.size() < 3 || p[2] != ',') return error(EINVAL);
  std::string rest = p.substr(3);
  rest = rest.substr(0, rest.find(';'));  // conditions are not offered, so none should come
  uint64_t addr = 0, kind = 0;
  if (!parse_addr_len(rest, &addr, &kind)) return error(EINVAL);
  const bool ok = insert ? target_.insert_breakpoint(addr) : target_.remove_breakpoint(addr);
  return ok ? "OK" : error(EINVAL);
}

std::optional<std::string> GdbServer::monitor(const std::string& hex_command) {
  auto bytes = from_hex(hex_command);
  if (!bytes) return error(EINVAL);
  const std::string command(bytes->begin(), bytes->end());
  MonitorReply r = target_.monitor(thread_for_registers(), command);
  // O packets of at most 1000 characters each (2000 hex digits).
  for (size_t off = 0; off < r.output.size(); off += 1000)
    send("O" + to_hex(r.output.substr(off, 1000)));
  if (r.resumes) {
    resume_ = Resume{ResumeKind::ScenarioStep, 0};
    return std::nullopt;
  }
  return "OK";
}

}  // namespace cocosim::gdb
