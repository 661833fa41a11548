#include "gdb/gdb_session.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

#include <tlm>

#include "kvm/gfn_backing.h"
#include "scenario/int_expr.h"

namespace cocosim::gdb {

namespace {

// Looking for Ctrl-C costs system calls: at most every 10 ms of wall time,
// and the clock is read once per 64 guest ops.
constexpr uint64_t kOpsPerClock = 64;
constexpr std::chrono::milliseconds kPollInterval{10};

std::string hex_addr(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

GdbSession::GdbSession(GdbChannel& channel, Platform& platform, Runner& runner)
    : server_(*this, channel), p_(platform), runner_(runner),
      desc_(TargetDescription::for_arch(platform.config().arch)) {
  runner_.set_observers(this, this);
}

GdbSession::~GdbSession() {
  for (auto& [id, t] : threads_) {
    if (t.exec) t.exec->set_observer(nullptr);
    if (t.isa) t.isa->set_debug_observer(nullptr);
  }
}

void GdbSession::exited(int code) {
  if (!attached_ && server_.connected()) {
    // No step ran (an empty scenario): gdb still gets its stop first.
    attached_ = true;
    // Served here, not by stop(): the simulation is over, so a kill has
    // nothing left to end.
    stop_ = {StopEvent::Reason::Attach, 0, "at the end of the run"};
    server_.serve(stop_);
  }
  server_.exited(code);
}

// ---- where the run stops ----------------------------------------------------

void GdbSession::stop(StopEvent::Reason reason, int thread) {
  // No string or other owner of memory may live in this frame or its callers'
  // when kill ends the run here: the thread never returns, so it would leak.
  // The stop's description is a member for that reason (set by the caller).
  interrupt_ = false;
  stop_.reason = reason;
  stop_.thread = thread;
  const auto t0 = std::chrono::steady_clock::now();
  resume_ = server_.serve(stop_);
  runner_.exclude_wall_time(std::chrono::steady_clock::now() - t0);
  if (resume_.kind == ResumeKind::Kill) {
    killed_ = true;
    runner_.stop_run(StopReason{"gdb (kill)", 128 + 9});
  }
}

bool GdbSession::poll_interrupt() {
  if (interrupt_) return true;
  if (resume_.kind == ResumeKind::Detach && attached_) return false;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_poll_ < kPollInterval) return false;
  last_poll_ = now;
  interrupt_ = server_.interrupted();
  return interrupt_;
}

void GdbSession::before_step(const Step& s) {
  step_ = "step " + s.label() + " (" + s.op + ")";
  stop_.where = "before " + step_;
  if (!attached_) {
    attached_ = true;
    return stop(StopEvent::Reason::Attach, 0);
  }
  if (resume_.kind == ResumeKind::Detach) return;
  if (resume_.kind == ResumeKind::ScenarioStep) return stop(StopEvent::Reason::ScenarioStep, 0);
  // A single step whose op left the guest (an exit, a sync, the program's
  // end) is over: the vCPU is out, its PC past the op.
  if (resume_.kind == ResumeKind::Step)
    return stop(StopEvent::Reason::Step, threads_.count(resume_.thread) ? resume_.thread : 0);
  if (poll_interrupt()) stop(StopEvent::Reason::Interrupt, 0);
}

void GdbSession::while_running() {
  if (resume_.kind != ResumeKind::Detach) poll_interrupt();
}

void GdbSession::before_op(ScriptedExecutor& exec, uint64_t pc) {
  if (resume_.kind == ResumeKind::Detach) return;
  const int t = thread_of(exec);
  const bool step = resume_.kind == ResumeKind::Step;
  const bool hit = breakpoints_.count(pc) > 0;
  const bool interrupted = !step && !hit && (++polls_ % kOpsPerClock == 0 || interrupt_) && poll_interrupt();
  if (!step && !hit && !interrupted) return;
  stop_.where = "before op " + std::to_string(pc) + " of program '" + exec.program_name() + "' (" + step_ + ")";
  // The stepped vCPU's next op, or another vCPU's if that one runs first
  // (during: steps): gdb hears of whichever thread got there.
  stop(step ? StopEvent::Reason::Step : hit ? StopEvent::Reason::Breakpoint : StopEvent::Reason::Interrupt, t);
}

void GdbSession::resume(const Resume& how) { resume_ = how; }

// ---- real guest code ------------------------------------------------------------

void GdbSession::sync_breakpoints(IsaExecutor& exec) {
  auto it = threads_.find(thread_of(exec));
  if (it == threads_.end()) return;
  std::set<uint64_t>& applied = it->second.applied;
  if (applied == breakpoints_) return;
  for (uint64_t pc : applied)
    if (!breakpoints_.count(pc)) exec.remove_breakpoint(pc);
  for (uint64_t pc : breakpoints_)
    if (!applied.count(pc)) exec.insert_breakpoint(pc);
  applied = breakpoints_;
}

bool GdbSession::before_call(IsaExecutor& exec) {
  if (resume_.kind == ResumeKind::Detach) {
    breakpoints_.clear();  // gdb is gone: nothing stops the guest any more
    sync_breakpoints(exec);
    return false;
  }
  sync_breakpoints(exec);
  return resume_.kind == ResumeKind::Step;
}

void GdbSession::paused(IsaExecutor& exec, IsaPause why) {
  if (resume_.kind == ResumeKind::Detach) return;
  const uint64_t pc = exec.pc();
  StopEvent::Reason reason;
  if (why == IsaPause::Breakpoint) {
    // A hook gdb removed while the guest was parked inside an instruction.
    if (!breakpoints_.count(pc)) return;
    reason = StopEvent::Reason::Breakpoint;
  } else if (why == IsaPause::Step) {
    // The step's instruction left to the host, where gdb stopped and resumed otherwise.
    if (resume_.kind != ResumeKind::Step) return;
    reason = StopEvent::Reason::Step;
  } else {
    if (!poll_interrupt()) return;
    reason = StopEvent::Reason::Interrupt;
  }
  const int t = thread_of(exec);
  auto it = threads_.find(t);
  if (it == threads_.end()) return;  // not a thread of this session
  stop_.where = "at " + hex_addr(pc) + " of ELF program '" + it->second.program + "' (" + step_ + ")";
  stop(reason, t);
}

void GdbSession::isa_vcpu_created(IsaExecutor& exec, int vm, int vcpu, const std::string& program) {
  threads_[next_thread_++] = Thread{nullptr, &exec, vm, vcpu, program, {}};
  exec.set_debug_observer(this);
}

void GdbSession::executor_gone(IsaExecutor& exec) {
  for (auto it = threads_.begin(); it != threads_.end(); ++it)
    if (it->second.isa == &exec) {
      threads_.erase(it);
      return;
    }
}

int GdbSession::thread_of(const IsaExecutor& exec) const {
  for (const auto& [id, t] : threads_)
    if (t.isa == &exec) return id;
  return 0;
}

// ---- threads ------------------------------------------------------------------

void GdbSession::vcpu_created(ScriptedExecutor& exec, int vm, int vcpu) {
  threads_[next_thread_++] = Thread{&exec, nullptr, vm, vcpu, exec.program_name(), {}};
}

void GdbSession::executor_gone(ScriptedExecutor& exec) {
  for (auto it = threads_.begin(); it != threads_.end(); ++it)
    if (it->second.exec == &exec) {
      threads_.erase(it);
      return;
    }
}

int GdbSession::thread_of(const ScriptedExecutor& exec) const {
  for (const auto& [id, t] : threads_)
    if (t.exec == &exec) return id;
  return 0;
}

std::vector<ThreadInfo> GdbSession::threads() const {
  std::vector<ThreadInfo> out;
  for (const auto& [id, t] : threads_) {
    const Vm* v = p_.kvm.vm_by_id(t.vm);
    out.push_back({id, (v ? v->name() : "vm" + std::to_string(t.vm)) + " vcpu" + std::to_string(t.vcpu) +
                           (t.isa ? " (ELF program " : " (program ") + t.program + ")"});
  }
  return out;
}

// ---- registers ----------------------------------------------------------------

std::optional<std::vector<uint8_t>> GdbSession::read_register(int thread, unsigned regnum) {
  const auto& regs = desc_.registers();
  if (regnum >= regs.size()) return std::nullopt;
  std::vector<uint8_t> v(regs[regnum].bits / 8, 0);
  auto it = threads_.find(thread);
  if (it == threads_.end()) return v;  // no vCPU: all zero
  uint64_t value = 0;
  if (const IsaExecutor* isa = it->second.isa) {
    // x87 and SSE registers are not the executor's: zero.
    if (!isa->read_gdb_register(regnum, &value)) value = 0;
    for (size_t i = 0; i < v.size() && i < 8; ++i) v[i] = uint8_t(value >> (8 * i));
    return v;
  }
  const ScriptedExecutor& x = *it->second.exec;
  if (regnum == desc_.pc_regnum()) {
    value = x.pc();
  } else {
    auto r = x.registers().find(regs[regnum].name);
    if (r != x.registers().end()) value = r->second;
  }
  for (size_t i = 0; i < v.size() && i < 8; ++i) v[i] = uint8_t(value >> (8 * i));
  return v;
}

bool GdbSession::write_register(int thread, unsigned regnum, const std::vector<uint8_t>& value,
                                std::string* why) {
  auto it = threads_.find(thread);
  if (it == threads_.end()) {
    *why = "no vCPU runs a guest here: registers are a vCPU's";
    return false;
  }
  IsaExecutor* isa = it->second.isa;
  if (!isa) {
    *why = "a scripted guest has no registers to write (its PC is the op index)";
    return false;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < value.size() && i < 8; ++i) v |= uint64_t(value[i]) << (8 * i);
  if (value.size() > 8 || !isa->write_gdb_register(regnum, v)) {
    *why = "register " + std::to_string(regnum) + " is not one the executor keeps (general, pc and flags only)";
    return false;
  }
  return true;
}

// ---- memory -------------------------------------------------------------------

Vm* GdbSession::vm_of(int thread, MemoryError* err) const {
  auto it = threads_.find(thread);
  if (it == threads_.end()) {
    *err = {EFAULT, "no vCPU: guest memory is seen through a vCPU's VM"};
    return nullptr;
  }
  Vm* v = p_.kvm.vm_by_id(it->second.vm);
  if (!v) *err = {EFAULT, "the vCPU's VM is gone"};
  return v;
}

std::optional<MemoryError> GdbSession::access_page(Vm& v, uint64_t gpa, uint8_t* data, size_t len,
                                                   bool write) {
  KvmTdx* td = p_.td(v.id());
  // A TD's GPA through its shared alias names the same GFN, shared.
  const bool via_alias = td && (gpa & td->shared_bit());
  if (via_alias) gpa &= ~td->shared_bit();
  const uint64_t gfn = gpa >> kPageShift;
  const bool priv = v.is_private(gfn);
  if (via_alias && priv) return MemoryError{EFAULT, "the shared alias of a private GFN maps nothing"};
  // A TD's private memory is readable by a debugger only in a debug TD
  // (ATTRIBUTES.DEBUG); KVM refuses that attribute (its supported TD
  // attributes are SEPT_VE_DISABLE alone), so no TD here is one.
  if (td && priv) return MemoryError{EPERM, "a private page of a TD that is not a debug TD"};
  // A protected VM's own pages belong to it at EL2: the host cannot read them.
  if (const int h = p_.pkvm_handle(v.id()); h >= 0 && p_.pkvm) {
    const PkvmPageState g = p_.pkvm->guest_state(uint16_t(h), gfn, &p_.kernel_port.debug_view());
    if (g == PkvmPageState::Owned || g == PkvmPageState::Poison)
      return MemoryError{EPERM, "a page the protected VM owns at EL2"};
  }
  // What the stage 2 maps, else the frame that would back the GPA (allocating nothing).
  Addr look = gpa;
  if (td) look |= td->shared_bit();
  std::optional<Addr> pa;
  if (KvmMmu* m = p_.mmu(v.id()))
    if (auto leaf = m->stage2().lookup(look, &p_.kernel_port.debug_view()))
      pa = leaf->pa + (page_floor(look) - leaf->gpa) + (gpa & kPageMask);
  if (!pa) {
    const GfnBacking b = gfn_backing(v, p_.mm, gfn, priv, /*allocate=*/false);
    if (b.pfn) pa = (*b.pfn << kPageShift) | (gpa & kPageMask);
    else if (b.source == GfnBacking::Source::NoSlot) return MemoryError{EFAULT, "no memslot at this GPA"};
    else if (write) return MemoryError{EFAULT, "no page behind this GPA yet"};
  }
  if (!pa) {
    std::memset(data, 0, len);  // not there yet: the guest's first touch finds zeros
    return std::nullopt;
  }
  // Debug transactions: no simulated time, no bus traffic counted.
  tlm::tlm_generic_payload t;
  t.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  t.set_address(p_.keyid_policy.strip(*pa));
  t.set_data_ptr(data);
  t.set_data_length(unsigned(len));
  if (p_.kernel_port.socket->transport_dbg(t) != len) return MemoryError{EFAULT, "beyond DRAM"};
  return std::nullopt;
}

std::optional<MemoryError> GdbSession::read_memory(int thread, uint64_t addr, uint8_t* out, size_t len) {
  MemoryError err{0, ""};
  Vm* v = vm_of(thread, &err);
  if (!v) return err;
  for (size_t done = 0; done < len;) {
    const uint64_t a = addr + done;
    const size_t n = std::min<size_t>(len - done, kPageSize - (a & kPageMask));
    if (auto e = access_page(*v, a, out + done, n, false)) return e;
    done += n;
  }
  return std::nullopt;
}

std::optional<MemoryError> GdbSession::write_memory(int thread, uint64_t addr, const uint8_t* data,
                                                    size_t len) {
  MemoryError err{0, ""};
  Vm* v = vm_of(thread, &err);
  if (!v) return err;
  // Every page is checked before any is written: a refused write changes nothing.
  std::vector<uint8_t> scratch(kPageSize);
  for (size_t done = 0; done < len;) {
    const uint64_t a = addr + done;
    const size_t n = std::min<size_t>(len - done, kPageSize - (a & kPageMask));
    if (auto e = access_page(*v, a, scratch.data(), n, false)) return e;
    done += n;
  }
  std::vector<uint8_t> copy(data, data + len);
  for (size_t done = 0; done < len;) {
    const uint64_t a = addr + done;
    const size_t n = std::min<size_t>(len - done, kPageSize - (a & kPageMask));
    if (auto e = access_page(*v, a, copy.data() + done, n, true)) return e;
    done += n;
  }
  return std::nullopt;
}

// ---- breakpoints and monitor commands ----------------------------------------

bool GdbSession::insert_breakpoint(uint64_t pc) {
  breakpoints_.insert(pc);  // an ELF guest's executor gets it before its next Unicorn call
  return true;
}

bool GdbSession::remove_breakpoint(uint64_t pc) {
  breakpoints_.erase(pc);
  return true;  // removing one that is not there is not an error (gdb may ask twice)
}

std::string GdbSession::stats_text() const {
  std::ostringstream o;
  for (const auto& [name, value] : p_.stats().all()) {
    const CounterInfo& info = p_.stats().info(name);
    o << name << " " << value;
    if (!info.description.empty()) o << "  # " << info.description << " (" << info.unit << ")";
    o << "\n";
  }
  return o.str();
}

MonitorReply GdbSession::monitor(int thread, const std::string& command) {
  std::istringstream in(command);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  MonitorReply r;
  if (words.empty() || words[0] == "help") {
    r.output =
        "monitor page [VM] GPA  the inspect record of GPA in VM (default: the current thread's VM)\n"
        "monitor stats          every counter now\n"
        "monitor step           run the next scenario step, then stop\n";
    return r;
  }
  if (words[0] == "stats" && words.size() == 1) {
    r.output = stats_text();
    return r;
  }
  if (words[0] == "step" && words.size() == 1) {
    r.output = "running " + (step_.empty() ? std::string("the next step") : step_) + "\n";
    r.resumes = true;
    return r;
  }
  if (words[0] == "page" && (words.size() == 2 || words.size() == 3)) {
    Vm* v = nullptr;
    if (words.size() == 3) {
      v = runner_.names().vm(words[1]);
      if (!v) {
        r.output = "no VM named '" + words[1] + "'\n";
        return r;
      }
    } else {
      MemoryError err{0, ""};
      v = vm_of(thread, &err);
      if (!v) {
        r.output = "monitor page GPA needs a vCPU's VM (" + err.why + "): monitor page VM GPA\n";
        return r;
      }
    }
    const IntParse gpa = parse_int_expr(words.back());
    if (!gpa.value) {
      r.output = "'" + words.back() + "' is not a GPA\n";
      return r;
    }
    std::ostringstream o;
    o << v->name() << " gpa " << hex_addr(*gpa.value) << ":\n";
    for (const auto& [key, value] : runner_.inspection().inspect_gpa(*v, *gpa.value))
      o << "  " << key << ": " << value.show() << "\n";
    r.output = o.str();
    return r;
  }
  r.known = false;
  r.output = "unknown monitor command '" + command + "' (monitor help lists them)\n";
  return r;
}

}  // namespace cocosim::gdb
