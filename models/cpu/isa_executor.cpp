#include "cpu/isa_executor.h"

#include "common/hex.h"
#include "common/trace.h"
#include "cpu/arm64_load_store.h"
#include "cpu/guest_trap.h"
#include "cpu/x86_exception.h"
#include "common/hex.h"

#include <unicorn/unicorn.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace cocosim {

namespace {

// The most bytes of one translated block read back for counting (QEMU's
// blocks hold at most 512 instructions, and stop at a page's end: 2 pages).
constexpr size_t kMaxBlockBytes = 2 * kPageSize;

struct RegName {
  const char* name;
  int id;
};

const RegName kX86Regs[] = {
    {"rax", UC_X86_REG_RAX}, {"rbx", UC_X86_REG_RBX}, {"rcx", UC_X86_REG_RCX},
    {"rdx", UC_X86_REG_RDX}, {"rsi", UC_X86_REG_RSI}, {"rdi", UC_X86_REG_RDI},
    {"rbp", UC_X86_REG_RBP}, {"rsp", UC_X86_REG_RSP}, {"r8", UC_X86_REG_R8},
    {"r9", UC_X86_REG_R9},   {"r10", UC_X86_REG_R10}, {"r11", UC_X86_REG_R11},
    {"r12", UC_X86_REG_R12}, {"r13", UC_X86_REG_R13}, {"r14", UC_X86_REG_R14},
    {"r15", UC_X86_REG_R15}, {"rip", UC_X86_REG_RIP}, {"rflags", UC_X86_REG_RFLAGS},
};

// Unicorn's id of general register Xk (k 0..30).
int arm64_x(int k) { return k <= 28 ? UC_ARM64_REG_X0 + k : k == 29 ? UC_ARM64_REG_X29 : UC_ARM64_REG_X30; }

int arm64_reg(const std::string& n) {
  if (n == "pc") return UC_ARM64_REG_PC;
  if (n == "sp") return UC_ARM64_REG_SP;
  if (n.size() < 2 || n.size() > 3 || n[0] != 'x') return -1;
  for (size_t i = 1; i < n.size(); ++i)
    if (n[i] < '0' || n[i] > '9') return -1;
  if (n.size() == 3 && n[1] == '0') return -1;  // x01
  const int k = std::stoi(n.substr(1));
  return k <= 30 ? arm64_x(k) : -1;
}

int reg_id(IsaArch arch, const std::string& name) {
  if (arch == IsaArch::Arm64) return arm64_reg(name);
  for (const RegName& r : kX86Regs)
    if (name == r.name) return r.id;
  return -1;
}

IsaExecutor* self_of(void* user) { return static_cast<IsaExecutor*>(user); }

// Names the instruction a hook runs for while it runs (exits report it).
class InsnScope {
 public:
  InsnScope(uint64_t& slot, uint64_t pc) : slot_(slot) { slot_ = pc; }
  ~InsnScope() { slot_ = ~uint64_t{0}; }
  InsnScope(const InsnScope&) = delete;
  InsnScope& operator=(const InsnScope&) = delete;

 private:
  uint64_t& slot_;
};

bool hook_unmapped(uc_engine*, uc_mem_type type, uint64_t addr, int size, int64_t value, void* user) {
  return self_of(user)->on_unmapped(type, addr, size, value);
}
bool hook_protected(uc_engine*, uc_mem_type type, uint64_t addr, int size, int64_t, void* user) {
  // A write to a page mapped read-only, or a fetch from a page without a
  // host pointer or without execute permission: translate again for it.
  return type == UC_MEM_WRITE_PROT ? self_of(user)->on_write_protected(addr)
                                   : self_of(user)->on_unmapped(UC_MEM_FETCH_UNMAPPED, addr, size, 0);
}
void hook_block(uc_engine*, uint64_t addr, uint32_t size, void* user) { self_of(user)->on_block(addr, size); }
uint32_t hook_in(uc_engine*, uint32_t port, int size, void* user) { return self_of(user)->on_port_in(port, size); }
void hook_out(uc_engine*, uint32_t port, int size, uint32_t value, void* user) {
  self_of(user)->on_port_out(port, size, value);
}
void hook_intr(uc_engine*, uint32_t intno, void* user) { self_of(user)->on_interrupt(intno); }
bool hook_invalid(uc_engine*, void* user) { return self_of(user)->on_invalid_insn(); }
void hook_nothing(uc_engine*, uc_mem_type, uint64_t, int, int64_t, void*) {}

// QEMU's ARM exception number for an undefined instruction (EXCP_UDEF): what
// Unicorn reports for HVC, since its CPU has no EL2.
constexpr uint32_t kArmExcpUdef = 1;

}  // namespace

const char* isa_stop_name(IsaStop s) {
  switch (s) {
    case IsaStop::None: return "running";
    case IsaStop::Halted: return "halted";
    case IsaStop::Shutdown: return "shutdown";
    case IsaStop::InternalError: return "internal error";
    case IsaStop::TripleFault: return "shutdown";
  }
  return "?";
}

IsaTrap decode_unicorn_error(int err, IsaArch arch) {
  switch (err) {
    case UC_ERR_OK: return {};
    case UC_ERR_INSN_INVALID:
      return {IsaStop::Shutdown, arch == IsaArch::X86_64 ? "invalid opcode (#UD) without a handler"
                                                         : "undefined instruction without a handler"};
    case UC_ERR_EXCEPTION:
      return {IsaStop::Shutdown, "an exception the guest has no handler for"};
    case UC_ERR_READ_UNMAPPED:
    case UC_ERR_WRITE_UNMAPPED:
    case UC_ERR_FETCH_UNMAPPED:
    case UC_ERR_READ_PROT:
    case UC_ERR_WRITE_PROT:
    case UC_ERR_FETCH_PROT:
      return {IsaStop::Shutdown, std::string("a guest access the vCPU could not complete (") +
                                     uc_strerror(uc_err(err)) + ")"};
    case UC_ERR_READ_UNALIGNED:
    case UC_ERR_WRITE_UNALIGNED:
    case UC_ERR_FETCH_UNALIGNED:
      return {IsaStop::Shutdown, std::string("an alignment fault without a handler (") +
                                     uc_strerror(uc_err(err)) + ")"};
    default:
      return {IsaStop::InternalError, std::string("Unicorn: ") + uc_strerror(uc_err(err))};
  }
}

IsaExecutor::IsaExecutor(IsaArch arch, uint64_t entry, uint64_t stack, IsaOptions opt)
    : arch_(arch), opt_(opt), pages_(*this, opt.mapped_pages), pc_(entry), insn_bounds_(arch) {
  if (!(opt.insn_ns > 0) || !(opt.quantum_ns > 0))
    throw std::invalid_argument("IsaExecutor: insn and quantum times must be positive");
  const double per_quantum = opt.quantum_ns / opt.insn_ns;
  budget_ = per_quantum < 1 ? 1 : uint64_t(per_quantum);
  block_counts_.resize(kBlockCounts);
  const uc_err e = arch == IsaArch::X86_64 ? uc_open(UC_ARCH_X86, UC_MODE_64, &uc_)
                                           : uc_open(UC_ARCH_ARM64, UC_MODE_ARM, &uc_);
  if (e != UC_ERR_OK) throw std::runtime_error(std::string("Unicorn: ") + uc_strerror(e));
  uc_hook h;
  uc_hook_add(uc_, &h, UC_HOOK_MEM_UNMAPPED, reinterpret_cast<void*>(hook_unmapped), this, 1, 0);
  uc_hook_add(uc_, &h, UC_HOOK_MEM_WRITE_PROT | UC_HOOK_MEM_FETCH_PROT,
              reinterpret_cast<void*>(hook_protected), this, 1, 0);
  uc_hook_add(uc_, &h, UC_HOOK_BLOCK, reinterpret_cast<void*>(hook_block), this, 1, 0);
  uc_hook_add(uc_, &h, UC_HOOK_INTR, reinterpret_cast<void*>(hook_intr), this, 1, 0);
  uc_hook_add(uc_, &h, UC_HOOK_INSN_INVALID, reinterpret_cast<void*>(hook_invalid), this, 1, 0);
  if (arch == IsaArch::X86_64) {
    uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(hook_in), this, 1, 0, UC_X86_INS_IN);
    uc_hook_add(uc_, &h, UC_HOOK_INSN, reinterpret_cast<void*>(hook_out), this, 1, 0, UC_X86_INS_OUT);
  }
  if (arch == IsaArch::Arm64) {
    // SCR_EL3.RW as the firmware below a hypervisor sets it: EL1 is AArch64.
    // Unicorn 2.0.1 leaves SCR_EL3 0, which makes every ERET at EL1 an
    // illegal exception return (PSTATE.IL set).
    uc_arm64_cp_reg scr{};
    scr.crn = 1, scr.crm = 1, scr.op0 = 3, scr.op1 = 6, scr.op2 = 0;
    uc_reg_read(uc_, UC_ARM64_REG_CP_REG, &scr);
    scr.val |= 1u << 10;
    uc_reg_write(uc_, UC_ARM64_REG_CP_REG, &scr);
  }
  if ((arch == IsaArch::X86_64 && opt.td) || arch == IsaArch::Arm64) {
    // Unicorn 2.0.1 writes RIP back before a memory access only when a read
    // (write) hook exists; then a fault's RIP is the faulting instruction's,
    // which an exception frame must hold (else: its block's first). On x86,
    // hooks on the top page of the address space, which guest code never
    // maps; they cost about a quarter of a memory-bound x86 loop's speed, so
    // of the x86 vCPUs only a TD's has them: only the TDX module injects a
    // fault on an access (#VE). Every AArch64 vCPU has them: KVM decides an
    // MMIO access by the instruction that made it (a data abort without a
    // valid syndrome, see arm64_no_syndrome()) on any VM; they cost about a
    // quarter of a memory-bound AArch64 loop in bare Unicorn too
    // (docs/guest-code.md). On AArch64 Unicorn checks the hook's range
    // against the instruction's PC, not the data address: there they cover
    // every address.
    const uint64_t top = ~uint64_t{0} & ~kPageMask;
    const uint64_t begin = arch == IsaArch::Arm64 ? 1 : top, end = arch == IsaArch::Arm64 ? 0 : ~uint64_t{0};
    uc_hook_add(uc_, &h, UC_HOOK_MEM_READ, reinterpret_cast<void*>(hook_nothing), this, begin, end);
    uc_hook_add(uc_, &h, UC_HOOK_MEM_WRITE, reinterpret_cast<void*>(hook_nothing), this, begin, end);
  }
  write_register(arch == IsaArch::X86_64 ? "rsp" : "sp", stack);
  write_register(arch == IsaArch::X86_64 ? "rip" : "pc", entry);
  if (arch == IsaArch::Arm64 && opt.ucall_mmio_gpa) {
    // The selftests' ucall address has no memslot: a page of its own whose
    // write is the ucall (the store of the struct's address).
    ucall_page_.reset(new CallbackPage{this, opt.ucall_mmio_gpa & ~kPageMask});
    uc_mmio_map(
        uc_, ucall_page_->gpa, kPageSize,
        [](uc_engine*, uint64_t, unsigned, void*) -> uint64_t { return 0; }, nullptr,
        [](uc_engine*, uint64_t off, unsigned size, uint64_t value, void* user) {
          auto* cp = static_cast<CallbackPage*>(user);
          if (cp->gpa + off == cp->self->opt_.ucall_mmio_gpa) cp->self->do_ucall(value);
        },
        ucall_page_.get());
  }
}

IsaExecutor::~IsaExecutor() {
  if (debug_) debug_->executor_gone(*this);
  pages_.clear();
  if (uc_) uc_close(uc_);
}

std::vector<std::string> IsaExecutor::register_names(IsaArch arch) {
  std::vector<std::string> v;
  if (arch == IsaArch::X86_64) {
    v.push_back("rip");
    for (const RegName& r : kX86Regs)
      if (std::string(r.name) != "rip") v.push_back(r.name);
  } else {
    v = {"pc", "sp"};
    for (int i = 0; i <= 30; ++i) v.push_back("x" + std::to_string(i));
  }
  return v;
}

uint64_t IsaExecutor::pc() const {
  if (out_) return out_pc_;
  // Read after every Unicorn call: by id, not by name.
  uint64_t v = 0;
  uc_reg_read(uc_, arch_ == IsaArch::X86_64 ? int(UC_X86_REG_RIP) : int(UC_ARM64_REG_PC), &v);
  return v;
}

bool IsaExecutor::read_register(const std::string& name, uint64_t* value) const {
  const int id = reg_id(arch_, name);
  if (id < 0) return false;
  if (out_ && (name == "rip" || name == "pc")) {  // Unicorn's own may lag inside a block
    *value = out_pc_;
    return true;
  }
  *value = 0;
  return uc_reg_read(uc_, id, value) == UC_ERR_OK;
}

bool IsaExecutor::write_register(const std::string& name, uint64_t value) {
  const int id = reg_id(arch_, name);
  if (id < 0) return false;
  if (uc_reg_write(uc_, id, &value) != UC_ERR_OK) return false;
  if (name == "rip" || name == "pc") pc_ = value;
  return true;
}

void IsaExecutor::run(GuestEnv& env) {
  if (abandoned_) return;
  env_ = &env;
  env.set_translation_listener(this);
  if (stop_ != IsaStop::None) {  // entered again after it stopped for good
    report_stop(env);
    return;
  }
  if (debug_) return run_debugged(env);
  while (!emulate(env, 0)) {
  }
}

void IsaExecutor::single_step(GuestEnv& env) {
  if (abandoned_) return;
  env_ = &env;
  env.set_translation_listener(this);
  if (stop_ == IsaStop::None) emulate(env, 1);
}

bool IsaExecutor::emulate(GuestEnv& env, size_t count) {
  call_insns_ = 0;
  call_accounted_ = 0;
  // A call a debugger cut short (a breakpoint, a single step) does not
  // restart the quantum: the calls end where they would without it.
  call_budget_ = quantum_insns_ < budget_ ? budget_ - quantum_insns_ : 0;
  cur_ = nullptr;
  ++calls_;
  budget_stop_ = false;
  trap_resume_ = false;
  at_breakpoint_ = false;
  // The instruction a debugger paused at runs now, even if a hook of a
  // breakpoint removed meanwhile still fires there (Unicorn frees hooks lazily).
  resume_over_ = paused_at_ == pc_ ? pc_ : ~uint64_t{0};
  // Unicorn adds its instruction-counting hook for a counted call without
  // dropping the blocks translated before, which lack the hook's calls and
  // would run on past the count: drop them (it drops them itself when
  // counting ends).
  if (count && !counted_) uc_ctl(uc_, UC_CTL_WRITE(UC_CTL_TB_FLUSH, 0));
  counted_ = count != 0;
  in_call_ = true;
  pending_.reset();
  const uc_err e = uc_emu_start(uc_, pc_, ~uint64_t{0}, 0, count);
  in_call_ = false;
  insn_abandoned_ = false;
  const bool abandoned_insn = abandoned_insn_.has_value();  // it did not execute (a single step counts none)
  if (abandoned_insn_) {  // see arm64_no_syndrome(): undo what Unicorn wrote after the access
    const AbandonedInsn a = *abandoned_insn_;
    abandoned_insn_.reset();
    for (int i = 0; i <= 30; ++i) uc_reg_write(uc_, arm64_x(i), &a.regs[size_t(i)]);
    uc_reg_write(uc_, UC_ARM64_REG_SP, &a.regs[31]);
    if (!a.inject)
      write_register("pc", a.pc);
    else if (!deliver_arm64(Arm64Exception::DataAbort, a.pc, a.gpa, true))
      write_register("pc", a.pc);  // stopped: the report names the instruction
    trap_resume_ = true;
  }
  pc_ = pc();
  paused_at_ = at_breakpoint_ || count ? pc_ : ~uint64_t{0};
  if (abandoned_) return true;  // the environment is another guest's now
  // A hook delivered an exception and failed the access that raised it:
  // Unicorn's error is that access's, and the guest goes on at the vector.
  const bool delivered = exception_resume_;
  exception_resume_ = false;
  // A single step counts its one instruction (no whole block), none when a
  // breakpoint stopped it before the instruction.
  const uint64_t ran = count ? (at_breakpoint_ || abandoned_insn ? 0 : count) : call_insns_;
  cur_ = nullptr;
  account(ran);  // time is charged between Unicorn calls, where the host may run
  if (trace::on()) trace_pc(pc_, false);
  insns_ += ran;
  call_insns_ = 0;
  block_n_ = 0;
  quantum_insns_ = (at_breakpoint_ || count) && !budget_stop_ ? quantum_insns_ + ran : 0;
  if (pending_ && stop_ == IsaStop::None) {
    // Unicorn stopped at the faulting instruction (the error it returns is
    // the failed access's): the guest's handler runs next.
    deliver_exception();
    if (abandoned_) return true;
    if (stop_ == IsaStop::None) return count != 0;
  }
  if (stop_ == IsaStop::None) {
    const IsaTrap t = delivered ? IsaTrap{} : decode_unicorn_error(e, arch_);
    if (t.stop != IsaStop::None)
      stop(t.stop, t.what);
    else if (at_breakpoint_ || count)
      return true;
    else if (!budget_stop_ && !trap_resume_ && !delivered)  // Unicorn returns by itself only at HLT (x86) or WFI (arm64)
      stop(IsaStop::Halted, std::string(arch_ == IsaArch::X86_64 ? "HLT" : "WFI") +
                                " with no interrupt to wake the vCPU (interrupts are not modelled)");
  }
  if (stop_ == IsaStop::None) return false;
  report_stop(env);
  return true;
}

void IsaExecutor::report_stop(GuestEnv& env) {
  const std::string why = std::string(isa_stop_name(stop_)) + ": " + stop_detail_;
  if (stop_ == IsaStop::TripleFault)
    env.shutdown(why);
  else
    env.internal_error(why);
}

namespace {
// gdb's register numbers (features i386/64bit-core.xml, aarch64-core.xml).
const int kGdbX86[] = {UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RSI,
                       UC_X86_REG_RDI, UC_X86_REG_RBP, UC_X86_REG_RSP, UC_X86_REG_R8,  UC_X86_REG_R9,
                       UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14,
                       UC_X86_REG_R15, UC_X86_REG_RIP, UC_X86_REG_EFLAGS, UC_X86_REG_CS, UC_X86_REG_SS,
                       UC_X86_REG_DS,  UC_X86_REG_ES,  UC_X86_REG_FS,  UC_X86_REG_GS};
int gdb_reg(IsaArch arch, unsigned n) {
  if (arch == IsaArch::X86_64) return n < sizeof kGdbX86 / sizeof kGdbX86[0] ? kGdbX86[n] : -1;
  if (n <= 28) return UC_ARM64_REG_X0 + int(n);
  switch (n) {
    case 29: return UC_ARM64_REG_X29;
    case 30: return UC_ARM64_REG_X30;
    case 31: return UC_ARM64_REG_SP;
    case 32: return UC_ARM64_REG_PC;
    case 33: return UC_ARM64_REG_NZCV;  // cpsr: gdb shows the flags of PSTATE
    default: return -1;
  }
}
void hook_breakpoint(uc_engine*, uint64_t addr, uint32_t, void* user) { self_of(user)->on_breakpoint(addr); }
}  // namespace

bool IsaExecutor::read_gdb_register(unsigned regno, uint64_t* value) const {
  const int id = gdb_reg(arch_, regno);
  if (id < 0) return false;
  if (out_ && ((arch_ == IsaArch::X86_64 && regno == 16) || (arch_ == IsaArch::Arm64 && regno == 32))) {
    *value = out_pc_;  // Unicorn's own may lag inside a block
    return true;
  }
  *value = 0;
  return uc_reg_read(uc_, id, value) == UC_ERR_OK;
}

bool IsaExecutor::write_gdb_register(unsigned regno, uint64_t value) {
  const int id = gdb_reg(arch_, regno);
  if (id < 0 || uc_reg_write(uc_, id, &value) != UC_ERR_OK) return false;
  if ((arch_ == IsaArch::X86_64 && regno == 16) || (arch_ == IsaArch::Arm64 && regno == 32)) pc_ = value;
  return true;
}

void IsaExecutor::run_debugged(GuestEnv& env) {
  for (;;) {
    const bool step = debug_->before_call(*this);
    // Without a breakpoint, a call returns only at the quantum's end or when
    // the guest stopped for good (exits happen inside the instruction).
    emulate(env, step ? 1 : 0);
    if (abandoned_ || stop_ != IsaStop::None) return;
    debug_->paused(*this, at_breakpoint_ ? IsaPause::Breakpoint : step ? IsaPause::Step : IsaPause::Quantum);
  }
}

void IsaExecutor::insert_breakpoint(uint64_t bp) {
  if (breakpoints_.count(bp)) return;
  uc_hook h = 0;
  uc_hook_add(uc_, &h, UC_HOOK_CODE, reinterpret_cast<void*>(hook_breakpoint), this, bp, bp);
  breakpoints_[bp] = h;
  uc_ctl_remove_cache(uc_, bp, bp + 1);  // code translated before must call the hook
}

void IsaExecutor::remove_breakpoint(uint64_t bp) {
  auto it = breakpoints_.find(bp);
  if (it == breakpoints_.end()) return;
  uc_hook_del(uc_, it->second);
  breakpoints_.erase(it);
  uc_ctl_remove_cache(uc_, bp, bp + 1);
}

void IsaExecutor::on_breakpoint(uint64_t addr) {
  if (addr == resume_over_) {  // the instruction the caller resumes at
    resume_over_ = ~uint64_t{0};
    return;
  }
  at_breakpoint_ = true;
  cut_block_before(addr);
  uc_emu_stop(uc_);
}

void IsaExecutor::cut_block_before(uint64_t pc) {
  // Stopped before `pc`: neither it nor the rest of its block ran.
  sync_block();
  const uint64_t ran_now = block_insns_before(pc);
  call_insns_ -= block_n_ - ran_now;
  block_n_ = uint32_t(ran_now);
  seen_insns_ = call_insns_;  // still this block's execution
}

void IsaExecutor::stop(IsaStop why, const std::string& detail) {
  if (stop_ == IsaStop::None) {
    stop_ = why;
    stop_detail_ = detail;
  }
  uc_emu_stop(uc_);
}

void IsaExecutor::sync_block() const {
  if (seen_call_ == calls_ && seen_insns_ == call_insns_) return;  // the same block's execution
  seen_call_ = calls_;
  seen_insns_ = call_insns_;
  block_pc_ = cur_ ? cur_->addr : pc_;
  block_n_ = cur_ ? cur_->icount : 0;
  block_marks_ = 0;
}

const IsaExecutor::BlockCount& IsaExecutor::block_icount(uint64_t addr) {
  BlockCount& b = block_counts_[block_slot(addr)];
  if (b.addr == addr) return b;
  uc_tb tb{};
  unsigned n = 1;
  if (uc_ctl_request_cache(uc_, addr, &tb) == UC_ERR_OK && tb.icount) n = tb.icount;
  b.addr = addr;
  b.icount = n;
  code_pages_.insert(addr >> kPageShift);
  return b;
}

// Called at the start of every translated block, so it is the executor's
// hot path: a block counted before, within the quantum's budget, costs one
// table look-up (the rest is on_block_slow, kept out of line).
void IsaExecutor::on_block(uint64_t addr, uint32_t) {
  trap_resume_ = false;  // Unicorn went on by itself after a trap
  BlockCount& b = block_counts_[block_slot(addr)];
  if (__builtin_expect(b.addr == addr && call_insns_ < call_budget_ && vector_taken_ == ~uint64_t{0} && !abandoned_,
                       1)) {
    cur_ = &b;
    call_insns_ += b.icount;
    return;
  }
  on_block_slow(addr);
}

void IsaExecutor::on_block_slow(uint64_t addr) {
  if (addr != vector_taken_) vector_taken_ = ~uint64_t{0};  // the handler got past its first block
  if (abandoned_) {
    uc_emu_stop(uc_);
    return;
  }
  if (call_insns_ >= call_budget_) {
    if (debug_ || counted_) {
      // A debugger looks between two calls: stopping here keeps this block for the next.
      budget_stop_ = true;
      uc_emu_stop(uc_);
      return;
    }
    // The quantum's end without leaving Unicorn (a call costs more than the
    // hook): its time is charged here, where the host may run as at an exit,
    // by the same count a debugged run charges when its call ends here.
    quantum_end();
    if (abandoned_ || stop_ != IsaStop::None) {
      uc_emu_stop(uc_);
      return;
    }
  }
  cur_ = &block_icount(addr);
  call_insns_ += cur_->icount;
}

void IsaExecutor::quantum_end() {
  account(call_insns_);
  insns_ += call_insns_;
  call_insns_ = 0;
  call_accounted_ = 0;
  quantum_insns_ = 0;
  call_budget_ = budget_;
  ++calls_;  // what counting knows of the current block starts anew (sync_block)
  cur_ = nullptr;
  block_n_ = 0;
}

size_t IsaExecutor::read_code(uint64_t gpa, uint8_t* out, size_t len) const {
  size_t n = 0;
  while (n < len) {
    const uint64_t at = gpa + n;
    const MappedPage* p = pages_.find(at >> kPageShift);
    if (!p || !p->host) break;
    const size_t chunk = std::min<size_t>(len - n, kPageSize - (at & kPageMask));
    if (uc_mem_read(uc_, at, out + n, chunk) != UC_ERR_OK) break;
    n += chunk;
  }
  return n;
}

size_t IsaExecutor::fetch_code(uint64_t pc, uint8_t* out, size_t len) {
  // The instruction at `pc` is running, from a block Unicorn translated; its
  // page may have left the map meanwhile (a run replaced by a translation of
  // a neighbour for writing): fetch it again as the CPU would, for execution.
  size_t n = 0;
  while (n < len) {
    const uint64_t at = pc + n;
    const MappedPage* p = pages_.find(at >> kPageShift);
    // Only the PC's own page is fetched again: the bytes read past the
    // instruction's end on the next page must not fault it in.
    if (!p && (n || !fault_in(at, false, true) || !(p = pages_.find(at >> kPageShift)))) break;
    if (!p->host) break;  // a page of callbacks: reading it would be an access the guest never made
    const size_t chunk = std::min<size_t>(len - n, kPageSize - (at & kPageMask));
    if (uc_mem_read(uc_, at, out + n, chunk) != UC_ERR_OK) break;
    n += chunk;
  }
  return n;
}

void IsaExecutor::trace_pc(uint64_t pc, bool exit) const {
  if (trace_scope_.empty()) return;
  trace::g_sink->record(trace_scope_, "pc", pc, 64, nullptr);
  if (exit)
    trace::g_sink->note(trace::Cat::Guest, trace_scope_,
                        std::string(arch_ == IsaArch::X86_64 ? "exit at rip " : "exit at pc ") + hex(pc) +
                            " after " + std::to_string(out_insns_) + " instructions");
}

void IsaExecutor::account(uint64_t done) {
  if (done <= call_accounted_) return;
  const uint64_t n = done - call_accounted_;
  call_accounted_ = done;
  if (insn_counter_) *insn_counter_ += n;
  env_->consume_ns(double(n) * opt_.insn_ns);
}

size_t IsaExecutor::read_block(uint8_t* out, size_t len) const {
  if (!(block_marks_ & kBlockCopied)) return read_code(block_pc_, out, len);
  const size_t n = std::min(len, block_copy_.size());
  std::memcpy(out, block_copy_.data(), n);
  return n;
}

void IsaExecutor::copy_block(const MappedPage& going) {
  sync_block();  // before unmap_page() drops the block's cache entry
  if ((block_marks_ & kBlockCopied) || !block_n_) return;
  // A block ends within the page after its first one (QEMU stops it there).
  const uint64_t first = block_pc_ >> kPageShift;
  if (going.gfn != first && going.gfn != first + 1) return;
  block_copy_.assign(kMaxBlockBytes - (block_pc_ & kPageMask), 0);
  size_t n = 0;
  while (n < block_copy_.size()) {
    const uint64_t at = block_pc_ + n;
    const size_t chunk = std::min<size_t>(block_copy_.size() - n, kPageSize - (at & kPageMask));
    if ((at >> kPageShift) == going.gfn && going.host)
      std::memcpy(block_copy_.data() + n, going.host + (at & kPageMask), chunk);
    else if (read_code(at, block_copy_.data() + n, chunk) != chunk)
      break;
    n += chunk;
  }
  block_copy_.resize(n);
  block_marks_ |= kBlockCopied;
}

uint64_t IsaExecutor::block_insns_before(uint64_t pc) const {
  if (pc < block_pc_ || !block_n_) return block_n_;
  if (arch_ == IsaArch::Arm64) {  // fixed-length: no bytes needed
    const std::optional<uint64_t> n = insn_bounds_.count_before(nullptr, pc - block_pc_, block_pc_, pc);
    return n && *n <= block_n_ ? *n : block_n_;
  }
  uint8_t code[kMaxBlockBytes];
  const size_t want = std::min<uint64_t>(pc - block_pc_, sizeof code);
  const size_t got = read_block(code, want);
  const std::optional<uint64_t> n = insn_bounds_.count_before(code, got, block_pc_, pc);
  return n && *n <= block_n_ ? *n : block_n_;
}

uint64_t IsaExecutor::port_io_pc() {
  sync_block();
  const unsigned k = block_marks_ & ~kBlockCopied;
  ++block_marks_;
  if (!block_n_) return ~uint64_t{0};
  uint8_t code[kMaxBlockBytes];
  const size_t got = read_block(code, sizeof code);
  const std::optional<uint64_t> at = insn_bounds_.nth_port_io(code, got, block_pc_, k, block_n_);
  return at ? *at : ~uint64_t{0};
}

uint64_t IsaExecutor::guest_pc_now() const {
  if (out_) return out_pc_;
  if (insn_pc_ != ~uint64_t{0}) return insn_pc_;
  sync_block();
  if (in_call_ && !fetching_ && block_n_) return block_pc_;
  return pc();
}

bool IsaExecutor::leave_to_host(bool fetch) {
  sync_block();
  if (insn_pc_ != ~uint64_t{0}) {
    out_pc_ = insn_pc_;
    out_insns_ = insns_ + call_insns_ - block_n_ + block_insns_before(insn_pc_);
  } else if (fetch) {  // translating the next block: the ones counted are complete
    uint64_t v = 0;
    read_register(arch_ == IsaArch::X86_64 ? "rip" : "pc", &v);
    out_pc_ = v;
    out_insns_ = insns_ + call_insns_;
  } else {
    out_pc_ = block_pc_;
    out_insns_ = insns_ + call_insns_ - block_n_;
  }
  account(out_insns_ - insns_);
  if (trace::on()) trace_pc(out_pc_, true);
  out_ = true;
  const bool back = env_->exit_to_host();
  out_ = false;
  return back;
}

bool IsaExecutor::fault_in(uint64_t addr, bool write, bool exec) {
  GuestPage gp;
  for (;;) {
    fetching_ = exec;
    const Outcome o = env_->translate_page(addr, write, exec, &gp);
    fetching_ = false;
    if (o == Outcome::Ok) break;
    if (o == Outcome::Exit) {
      if (!leave_to_host(exec)) return abandon();  // the instruction resumes here after re-entry
      continue;
    }
    if (arch_ == IsaArch::Arm64 && exec && env_->fault_name() == "IABT") {
      // KVM injected a prefetch abort (a fetch from an IPA without memslot):
      // the fetch is the PC's, FAR_EL1 the same address.
      if (deliver_arm64(Arm64Exception::InstructionAbort, addr, addr, true)) exception_resume_ = true;
      return false;
    }
    // Without the hooks that keep RIP exact (a vCPU that is not a TD's), the
    // frame would name the wrong instruction: the run ends instead.
    if (opt_.td && raise_fault(env_->fault_name())) return false;
    stop(IsaStop::Shutdown, "fault " + env_->fault_name() + " at GPA " + std::to_string(addr) +
                                " with no guest handler");
    return false;
  }
  MappedPage m;
  m.gfn = addr >> kPageShift;
  m.pfn = gp.pfn;
  m.host = gp.host;
  m.writable = gp.writable;
  m.executable = gp.executable;
  if (exec && !m.host) {
    stop(IsaStop::InternalError, "instruction fetch from GPA page " + std::to_string(m.gfn << kPageShift) +
                                     ", which has no direct pointer (Unicorn executes only from RAM)");
    return false;
  }
  if (m.host && opt_.page_runs) {
    // The neighbours stage 2 maps the same way go in the same Unicorn mapping
    // (each map and unmap costs Unicorn a rebuild of its memory map), within
    // the window no other mapping holds.
    uint64_t lo = 0, end = 0, first = m.gfn, n = 1;
    pages_.free_window(m.gfn, &lo, &end);
    env_->translate_run(addr, gp, lo, end, &first, &n);
    if (n > 1 && first <= m.gfn && m.gfn - first < n && first >= lo && first + n <= end) {
      const uint64_t below = m.gfn - first;
      m.gfn = first;
      m.pfn -= below;
      m.host -= below << kPageShift;
      m.pages = n;
    }
  }
  pages_.insert(m);
  return true;
}

bool IsaExecutor::abandon() {
  abandoned_ = true;
  if (stop_ == IsaStop::None) {
    stop_ = IsaStop::InternalError;
    stop_detail_ = "the vCPU was closed while the guest was out";
  }
  // Nothing of this guest may reach memory again: the rest of the current
  // block misses and stops (pages without host pointer check abandoned_).
  pages_.invalidate_all();
  uc_emu_stop(uc_);
  return false;
}

bool IsaExecutor::on_unmapped(int type, uint64_t addr, int size, int64_t value) {
  if (abandoned_) return false;
  const bool write = type == UC_MEM_WRITE_UNMAPPED;
  const bool exec = type == UC_MEM_FETCH_UNMAPPED;
  // An access that straddles two pages reports its first byte: map the page of
  // each end (the second one is faulted in by Unicorn's retry).
  return fault_in(addr, write, exec);
}

bool IsaExecutor::on_write_protected(uint64_t addr) { return !abandoned_ && fault_in(addr, true, false); }

void IsaExecutor::map_page(const MappedPage& p) {
  const uint64_t gpa = p.gfn << kPageShift;
  uc_err e;
  if (p.host) {
    uint32_t prot = UC_PROT_READ | (p.writable ? UC_PROT_WRITE : 0) | (p.executable ? UC_PROT_EXEC : 0);
    e = uc_mem_map_ptr(uc_, gpa, p.pages << kPageShift, prot, p.host);
  } else {
    auto cp = std::make_unique<CallbackPage>(CallbackPage{this, gpa});
    e = uc_mmio_map(
        uc_, gpa, kPageSize,
        [](uc_engine*, uint64_t off, unsigned size, void* user) -> uint64_t {
          auto* c = static_cast<CallbackPage*>(user);
          return c->self->on_callback_read(c->gpa + off, size);
        },
        cp.get(),
        [](uc_engine*, uint64_t off, unsigned size, uint64_t value, void* user) {
          auto* c = static_cast<CallbackPage*>(user);
          c->self->on_callback_write(c->gpa + off, size, value);
        },
        cp.get());
    if (e == UC_ERR_OK) callback_pages_[p.gfn] = std::move(cp);
  }
  if (e != UC_ERR_OK) {
    stop(IsaStop::InternalError, std::string("Unicorn refused to map a page: ") + uc_strerror(e));
    return;
  }
  ++maps_;
}

void IsaExecutor::unmap_page(const MappedPage& p) {
  copy_block(p);  // the block running now may be in it: keep what counting needs
  const uint64_t gpa = p.gfn << kPageShift;
  uc_mem_unmap(uc_, gpa, p.pages << kPageShift);
  ++unmaps_;
  callback_pages_.erase(p.gfn);
  // Code translated from the pages must not outlive them (another frame may
  // be mapped at this GPA next, and Unicorn may reuse the same internal offset).
  for (auto it = code_pages_.lower_bound(p.gfn); it != code_pages_.end() && *it < p.end_gfn();) {
    const uint64_t g = *it;
    it = code_pages_.erase(it);
    uc_ctl_remove_cache(uc_, g << kPageShift, (g + 1) << kPageShift);
    for (BlockCount& b : block_counts_)
      if ((b.addr >> kPageShift) == g) b = BlockCount{};
  }
}

void IsaExecutor::stage2_invalidated(uint64_t first_gfn, uint64_t end_gfn) {
  if (first_gfn == 0 && end_gfn == ~uint64_t{0})
    pages_.invalidate_all();
  else
    pages_.invalidate_gfns(first_gfn, end_gfn);
}

void IsaExecutor::frames_revoked(uint64_t first_pfn, uint64_t last_pfn) {
  pages_.invalidate_pfns(first_pfn, last_pfn + 1);
}

bool IsaExecutor::guest_access(uint64_t gpa, void* data, size_t len, bool write) {
  if (abandoned_) return false;
  for (;;) {
    const Outcome o = env_->access(gpa, data, len, write, false);
    if (o == Outcome::Ok) return true;
    if (o == Outcome::Exit) {
      if (!leave_to_host()) return abandon();
      continue;
    }
    stop(IsaStop::Shutdown, "fault " + env_->fault_name() + " at GPA " + std::to_string(gpa) +
                                " with no guest handler");
    return false;
  }
}

uint64_t IsaExecutor::on_callback_read(uint64_t gpa, unsigned size) {
  uint64_t v = 0;
  if (size > sizeof v) size = sizeof v;
  if (arch_ == IsaArch::Arm64) {
    // The PC is the instruction's (the constructor's hooks): exits name it.
    const uint64_t at = reg("pc");
    if (arm64_no_syndrome(at, gpa, false)) return 0;
    const InsnScope in_insn(insn_pc_, at);
    guest_access(gpa, &v, size, false);
    return v;
  }
  guest_access(gpa, &v, size, false);
  return v;
}

void IsaExecutor::on_callback_write(uint64_t gpa, unsigned size, uint64_t value) {
  if (size > sizeof value) size = sizeof value;
  if (arch_ == IsaArch::Arm64) {
    const uint64_t at = reg("pc");
    if (arm64_no_syndrome(at, gpa, true)) return;
    const InsnScope in_insn(insn_pc_, at);
    guest_access(gpa, &value, size, true);
    return;
  }
  guest_access(gpa, &value, size, true);
}

bool IsaExecutor::arm64_no_syndrome(uint64_t at, uint64_t gpa, bool write) {
  if (abandoned_) return true;
  if (insn_abandoned_) return true;  // the same instruction's next access (an LDP's second half)
  uint32_t insn = 0;
  if (fetch_code(at, reinterpret_cast<uint8_t*>(&insn), sizeof insn) != sizeof insn) return abandoned_;
  const Arm64LoadStore ls = arm64_decode_load_store(insn);
  if (!ls.load_store || ls.isv) return false;  // KVM emulates it from the syndrome (KVM_EXIT_MMIO)
  // The stage-2 abort KVM sees: no instruction syndrome, WnR and a level-3
  // translation fault (the IPA has no mapping).
  const uint64_t iss = arm64_data_abort_iss(ls, write, arm64::kFscTranslationL3);
  const InsnScope in_insn(insn_pc_, at);
  const Outcome o = env_->mmio_nisv(gpa, write, iss);
  if (o == Outcome::Ok) return false;  // ordinary memory after all
  // The registers as before the instruction: Unicorn writes a load's
  // destination (and a writeback's base) after this callback returns.
  std::array<uint64_t, 32> regs{};
  for (int i = 0; i <= 30; ++i) uc_reg_read(uc_, arm64_x(i), &regs[size_t(i)]);
  uc_reg_read(uc_, UC_ARM64_REG_SP, &regs[31]);
  if (o == Outcome::Exit && !leave_to_host()) {  // the host acts; the instruction is abandoned either way
    abandon();
    return true;
  }
  insn_abandoned_ = true;
  cut_block_before(at);  // neither it nor the rest of its block ran
  if (o == Outcome::Fault && env_->fault_name() != "DABT") {
    stop(IsaStop::Shutdown, "fault " + env_->fault_name() + " at GPA " + hex(gpa) + " with no guest handler");
    return true;
  }
  // Unicorn 2.0.1 leaves the block right after this access (a hook must not
  // write the PC here: Unicorn would go on at it in the same call, before
  // the registers are restored); emulate() finishes the instruction's
  // abandonment when the call returns: it restores the registers, then
  // delivers the data abort KVM injected (FAR_EL1 the address, ELR_EL1 the
  // instruction) or, after KVM_EXIT_ARM_NISV or KVM_RUN's ENOSYS, puts the
  // PC back at the instruction, which runs again.
  AbandonedInsn a;
  a.pc = at;
  a.gpa = gpa;
  a.inject = o == Outcome::Fault;
  a.regs = regs;
  abandoned_insn_ = a;
  uc_emu_stop(uc_);
  return true;
}

uint32_t IsaExecutor::on_port_in(uint32_t port, int size) {
  if (abandoned_) return 0;
  const uint64_t at = port_io_pc();  // this IN is the block's next port-I/O instruction
  if (port == SelftestUcall::kX86Port) {
    const InsnScope in_insn(insn_pc_, at);
    uint64_t rdi = 0;
    read_register("rdi", &rdi);
    do_ucall(rdi);
    return 0;
  }
  stop(IsaStop::InternalError, "port I/O (in from port " + std::to_string(port) + ") is not modelled");
  return ~uint32_t{0};
}

void IsaExecutor::on_port_out(uint32_t port, int size, uint32_t value) {
  if (abandoned_) return;
  port_io_pc();  // the block's next port-I/O instruction is this one
  stop(IsaStop::InternalError, "port I/O (out to port " + std::to_string(port) + ") is not modelled");
}

void IsaExecutor::do_ucall(uint64_t uc_gpa) {
  // struct ucall as the selftests lay it out: cmd, args[7], buffer[1024].
  uint64_t words[1 + SelftestUcall::kMaxArgs];
  if (!guest_access(uc_gpa, words, sizeof words, false)) return;
  SelftestUcall u;
  u.cmd = words[0];
  for (size_t i = 0; i < SelftestUcall::kMaxArgs; ++i) u.args[i] = words[1 + i];
  last_ucall_ = u;
  switch (u.cmd) {
    case SelftestUcall::kSync:
      // GUEST_SYNC(stage) is ucall(UCALL_SYNC, 2, "hello", stage): the stage names the sync.
      env_->ucall_sync(std::to_string(u.args[1]));
      break;
    case SelftestUcall::kDone:
      env_->ucall_done();
      break;
    case SelftestUcall::kAbort: {
      char buf[SelftestUcall::kBufferLen];
      if (!guest_access(uc_gpa + sizeof words, buf, sizeof buf, false)) return;
      env_->ucall_abort(std::string(buf, strnlen(buf, sizeof buf)));
      break;
    }
    default:
      stop(IsaStop::InternalError, "ucall command " + std::to_string(u.cmd) + " is not modelled");
      return;
  }
  if (!leave_to_host()) abandon();
}

void IsaExecutor::on_interrupt(uint32_t intno) {
  if (abandoned_) return;
  if (arch_ == IsaArch::Arm64 && intno == kArmExcpUdef) {
    // HVC at EL1 without EL2 is undefined to Unicorn; the PC is the HVC.
    const uint64_t pc_now = reg("pc");
    uint32_t insn = 0;
    const size_t got = fetch_code(pc_now, reinterpret_cast<uint8_t*>(&insn), sizeof insn);
    if (abandoned_ || stop_ != IsaStop::None) return;
    if (got == sizeof insn) {
      const DecodedTrap t = decode_arm64_trap(insn);
      if (t.kind == TrapInsn::Hvc) {
        const InsnScope in_insn(insn_pc_, pc_now);
        do_hvc(t.imm, pc_now + t.length);
        return;
      }
      if (arm64_is_smc(insn)) {  // KVM traps SMC (HCR_EL2.TSC) to its SMCCC handler: not modelled
        stop(IsaStop::InternalError, "SMC at PC " + hex(pc_now) + " is not modelled");
        return;
      }
    }
    // An undefined instruction at EL1 is taken at EL1, KVM not involved.
    if (deliver_arm64(Arm64Exception::Undefined, pc_now, 0, false)) trap_resume_ = true;
    return;
  }
  if (arch_ == IsaArch::X86_64) {
    // Unicorn reports the CPU's exceptions and INT n here instead of taking
    // them through the IDT. RIP is then what the CPU pushes: the faulting
    // instruction for a fault, the next one for INT n, INT3 and INTO. Unicorn
    // does not report the error code: the frame holds 0.
    raise(intno, 0);
    return;
  }
  // arm64: exception classes.
  stop(IsaStop::Shutdown, "exception " + std::to_string(intno) + " without a handler");
}

bool IsaExecutor::on_invalid_insn() {
  if (abandoned_) return false;
  if (arch_ != IsaArch::X86_64) return false;
  // RIP is the invalid instruction: TDCALL and VMCALL are invalid to
  // Unicorn, which has neither TDX nor VMX.
  const uint64_t rip = reg("rip");
  uint8_t bytes[4] = {};
  const size_t n = fetch_code(rip, bytes, sizeof bytes);
  if (abandoned_ || stop_ != IsaStop::None) return false;
  const DecodedTrap t = decode_x86_trap(bytes, n);
  const InsnScope in_insn(insn_pc_, rip);
  if (t.kind == TrapInsn::Tdcall) return do_tdcall(rip + t.length);
  if (t.kind == TrapInsn::Vmcall) {
    do_vmcall(rip + t.length);
    return true;
  }
  // #UD: Unicorn stops at the instruction (UC_ERR_INSN_INVALID), and the
  // guest's handler takes it.
  raise(x86vec::kUD, 0);
  return false;
}

bool IsaExecutor::raise_fault(const std::string& fault) {
  // AArch64's synchronous exceptions are not delivered by this executor.
  if (arch_ != IsaArch::X86_64) return false;
  const std::optional<unsigned> v = x86_vector_of_fault(fault);
  if (!v) return false;
  raise(*v, 0);
  return true;
}

void IsaExecutor::raise(unsigned vector, uint32_t error) {
  if (!pending_) {
    pending_ = PendingException{vector, error};
    // A fault: the instruction at RIP (exact where an exception is raised,
    // see the constructor's hooks) and the rest of its block did not run.
    if (in_call_) cut_block_before(reg("rip"));
  }
  uc_emu_stop(uc_);
}

void IsaExecutor::deliver_exception() {
  switch (arch_) {
    case IsaArch::X86_64: deliver_x86_exception(); break;
    case IsaArch::Arm64: break;  // never raised (raise_fault)
  }
  pending_.reset();
}

// Guest memory as the CPU reaches it while delivering: translated like any
// access of the instruction (an exit to the host on the way resumes it); a
// fault the hypervisor injects is an exception raised during delivery.
class IsaExecutor::X86Memory : public X86GuestMemory {
 public:
  explicit X86Memory(IsaExecutor& x) : x_(x) {}
  Result read(uint64_t addr, void* dst, size_t len, unsigned* vector) override {
    return access(addr, dst, len, false, vector);
  }
  Result write(uint64_t addr, const void* src, size_t len, unsigned* vector) override {
    return access(addr, const_cast<void*>(src), len, true, vector);
  }

 private:
  Result access(uint64_t gpa, void* data, size_t len, bool write, unsigned* vector) {
    for (;;) {
      if (x_.abandoned_) return Result::Gone;
      const Outcome o = x_.env_->access(gpa, data, len, write, false);
      if (o == Outcome::Ok) return Result::Ok;
      if (o == Outcome::Exit) {
        if (!x_.env_->exit_to_host()) {
          x_.abandon();
          return Result::Gone;
        }
        continue;
      }
      if (const auto v = x86_vector_of_fault(x_.env_->fault_name())) {
        *vector = *v;
        return Result::Exception;
      }
      x_.stop(IsaStop::Shutdown, "fault " + x_.env_->fault_name() + " at GPA " + hex(gpa) +
                                     " while delivering an exception");
      return Result::Gone;
    }
  }
  IsaExecutor& x_;
};

void IsaExecutor::deliver_x86_exception() {
  const PendingException p = *pending_;
  X86Frame at;
  at.rip = pc_;
  at.rsp = reg("rsp");
  at.rflags = reg("rflags");
  uint64_t cs = 0, ss = 0;
  uc_reg_read(uc_, UC_X86_REG_CS, &cs);
  uc_reg_read(uc_, UC_X86_REG_SS, &ss);
  at.cs = uint16_t(cs);
  at.ss = uint16_t(ss);
  uc_x86_mmr idtr{}, tr{};
  uc_reg_read(uc_, UC_X86_REG_IDTR, &idtr);
  uc_reg_read(uc_, UC_X86_REG_TR, &tr);
  X86Memory mem(*this);
  const X86Delivery d = cocosim::deliver_x86_exception(p.vector, p.error, at, X86Idt{idtr.base, idtr.limit, tr.base}, mem);
  if (d.kind == X86Delivery::Kind::Gone) return;
  if (d.kind == X86Delivery::Kind::TripleFault) {
    stop(IsaStop::TripleFault, "triple fault (" + d.chain + ") at RIP " + hex(at.rip));
    return;
  }
  if (d.to.cs != at.cs) {  // Unicorn loads the gate's selector from the guest's GDT
    uint64_t sel = d.to.cs;
    if (uc_reg_write(uc_, UC_X86_REG_CS, &sel) != UC_ERR_OK) {
      stop(IsaStop::Shutdown, d.chain + ": the gate's code selector " + hex(d.to.cs) + " cannot be loaded");
      return;
    }
  }
  write_register("rsp", d.to.rsp);
  write_register("rflags", d.to.rflags);
  write_register("rip", d.to.rip);
  ++exceptions_;
}

uint64_t IsaExecutor::reg(const char* name) const {
  uint64_t v = 0;
  read_register(name, &v);
  return v;
}

bool IsaExecutor::do_tdcall(uint64_t next_pc) {
  TdcallRegs in;
  in.leaf = reg("rax");
  in.rcx = reg("rcx");
  in.rdx = reg("rdx");
  in.r10 = reg("r10");
  in.r11 = reg("r11");
  in.r12 = reg("r12");
  in.r13 = reg("r13");
  TdcallOut out;
  for (;;) {
    const Outcome o = env_->tdcall(in, &out);
    if (o == Outcome::Ok) break;
    if (o == Outcome::Exit) {  // e.g. MapGPA's KVM_EXIT_HYPERCALL: the TDCALL resumes after re-entry
      if (!leave_to_host()) {
        abandon();
        return true;
      }
      continue;
    }
    if (raise_fault(env_->fault_name())) return false;  // #UD outside a TD
    stop(IsaStop::Shutdown, "TDCALL: fault " + env_->fault_name() + " without a handler");
    return true;
  }
  if (in.leaf == 4 && out.status == 0) {
    // TDG.MR.REPORT: the MRTD field of the TDREPORT_STRUCT at RCX.
    if (!guest_access(in.rcx + kTdreportMrtdOffset, out.mrtd.data(), out.mrtd.size(), true)) return true;
  }
  write_register("rax", out.status);
  const TdcallOutputs w = tdcall_outputs(in.leaf);
  if (w.rcx) write_register("rcx", out.rcx);
  if (w.rdx) write_register("rdx", out.rdx);
  if (w.r8) write_register("r8", out.r8);
  if (w.r9) write_register("r9", out.r9);
  if (w.r10) write_register("r10", out.r10);
  if (w.r11) write_register("r11", out.r11);
  write_register("rip", next_pc);
  trap_resume_ = true;  // Unicorn 2.0.1 ends the call when a hook writes the PC
  return true;
}

void IsaExecutor::do_vmcall(uint64_t next_pc) {
  if (opt_.td) {
    stop(IsaStop::InternalError,
         "VMCALL in a TD is not modelled (a TD calls the host with TDG.VP.VMCALL, leaf 0 of TDCALL)");
    return;
  }
  KvmHypercall hc;
  hc.nr = reg("rax");
  hc.a0 = reg("rbx");
  hc.a1 = reg("rcx");
  hc.a2 = reg("rdx");
  hc.a3 = reg("rsi");
  const HypercallAction a = decode_kvm_hypercall(hc);
  uint64_t ret = a.ret;
  if (a.kind == HypercallAction::Refused) {
    stop(IsaStop::InternalError, "KVM hypercall " + std::to_string(hc.nr) + " is not modelled: " + a.why);
    return;
  }
  if (a.kind == HypercallAction::Convert) {
    for (;;) {
      const Outcome o = env_->convert(a.gpa, a.size, a.to_private, a.attrs, &ret);
      if (o == Outcome::Ok) break;
      if (o == Outcome::Exit) {  // KVM_EXIT_HYPERCALL: userspace's answer is the return value
        if (!leave_to_host()) {
          abandon();
          return;
        }
        continue;
      }
      stop(IsaStop::Shutdown, "VMCALL: fault " + env_->fault_name() + " without a handler");
      return;
    }
  }
  write_register("rax", ret);
  write_register("rip", next_pc);
  trap_resume_ = true;  // Unicorn 2.0.1 ends the call when a hook writes the PC
}

void IsaExecutor::do_hvc(uint16_t imm, uint64_t next_pc) {
  uint64_t ret = kSmcccNotSupported;
  if (imm == 0) {  // KVM's handle_hvc answers only HVC #0
    for (;;) {
      const Outcome o = env_->hvc(reg("x0"), reg("x1"), &ret);
      if (o == Outcome::Ok) break;
      if (o == Outcome::Exit) {  // the host maps the page first; the HVC runs again
        if (!leave_to_host()) {
          abandon();
          return;
        }
        continue;
      }
      stop(IsaStop::Shutdown, "HVC: fault " + env_->fault_name() + " without a handler");
      return;
    }
  }
  write_register("x0", ret);
  write_register("x1", 0);
  write_register("x2", 0);
  write_register("x3", 0);
  write_register("pc", next_pc);
  trap_resume_ = true;  // Unicorn 2.0.1 ends the call when a hook writes the PC
}

// ---- AArch64 synchronous exceptions ----

namespace {
// SPSR_EL1 and SCTLR_EL1 have no register id of their own in Unicorn 2.0.1.
uc_arm64_cp_reg arm64_sysreg(uint32_t crn, uint32_t crm, uint32_t op0, uint32_t op1, uint32_t op2) {
  uc_arm64_cp_reg r{};
  r.crn = crn;
  r.crm = crm;
  r.op0 = op0;
  r.op1 = op1;
  r.op2 = op2;
  return r;
}
}  // namespace

bool IsaExecutor::deliver_arm64(Arm64Exception e, uint64_t fault_pc, uint64_t far, bool far_valid) {
  Arm64ExceptionEntry in;
  in.pc = fault_pc;
  uc_reg_read(uc_, UC_ARM64_REG_PSTATE, &in.pstate);
  uc_reg_read(uc_, UC_ARM64_REG_VBAR_EL1, &in.vbar);
  uc_arm64_cp_reg sctlr = arm64_sysreg(1, 0, 3, 0, 0);
  uc_reg_read(uc_, UC_ARM64_REG_CP_REG, &sctlr);
  in.sctlr = sctlr.val;
  in.esr = arm64_injected_esr(e, in.pstate);
  in.far = far;
  in.far_valid = far_valid;
  const std::string what = arm64_describe(e, in);
  if (fault_pc == vector_taken_) {
    // The handler's first instruction faults: the CPU would take the same
    // exception at the same vector forever.
    stop(IsaStop::Shutdown, "recursive exception: " + what + " taking the vector for " + vector_for_ +
                                " (VBAR_EL1 " + hex(in.vbar) + ")");
    return false;
  }
  if ((in.pstate & (arm64::kPsrModeMask | arm64::kPsrMode32)) != arm64::kModeEl1h) {
    stop(IsaStop::InternalError, what + " in PSTATE " + hex(in.pstate) +
                                     ": exceptions from modes other than EL1h are not modelled");
    return false;
  }
  const Arm64ExceptionFrame f = arm64_take_exception(in);
  uc_reg_write(uc_, UC_ARM64_REG_ESR_EL1, &f.esr);
  if (f.write_far) uc_reg_write(uc_, UC_ARM64_REG_FAR_EL1, &f.far);
  uc_reg_write(uc_, UC_ARM64_REG_ELR_EL1, &f.elr);
  uc_arm64_cp_reg spsr = arm64_sysreg(4, 0, 3, 0, 0);
  spsr.val = f.spsr;
  uc_reg_write(uc_, UC_ARM64_REG_CP_REG, &spsr);
  uc_reg_write(uc_, UC_ARM64_REG_PSTATE, &f.pstate);
  write_register("pc", f.pc);
  vector_taken_ = f.pc;
  vector_for_ = what;
  ++exceptions_;
  return true;
}

}  // namespace cocosim
