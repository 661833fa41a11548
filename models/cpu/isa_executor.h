// Real guest code on a vCPU: x86-64 or AArch64 instructions executed by the
// Unicorn engine. Unicorn's address space is the guest-physical one, and it
// holds only what GuestPageMap holds: a page becomes reachable when an
// access to it misses, after the vCPU's stage 2 translated it (GuestEnv::
// translate_page), as the bus's DMI pointer to its frame, or as a page whose
// every access is a call to GuestEnv::access when the frame has no DMI
// pointer (a TD's private page, a GPA without memslot). Every invalidation
// the vCPU sees (INVEPT, TLBI, a zap, a DMI revocation) unmaps the pages it
// covers before it returns, so the next instruction misses and translates
// again.
//
// Exits happen inside the instruction that causes them: the executor calls
// GuestEnv::exit_to_host() from Unicorn's hook and the instruction completes
// when the host re-enters the vCPU (as KVM's vCPU thread sleeps in KVM_RUN).
//
// Time: instructions are counted per translated block as it starts (cheap:
// one block hook per block), and made exact wherever a block is cut short: a
// debugger's breakpoint inside a block, or a raised exception, counts only
// the instructions before it (BlockInsns finds them). They are charged
// `insn_ns` each at the end of every quantum (`quantum / insn` of them, the
// quantum of temporal decoupling: the block hook charges them and the host
// may run there, without leaving Unicorn; under a debugger Unicorn returns
// there instead, at the same count), those before an exit already at the
// exit, and the rest when Unicorn returns; memory accesses through
// GuestEnv charge their own time. DMI pages charge none per access (as a TLB
// hit plus a DMI access in the scripted vCPU would not be counted either:
// see docs/guest-code.md).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/arm64_exception.h"
#include "cpu/block_insns.h"
#include "cpu/executor.h"
#include "cpu/guest_page_map.h"

struct uc_struct;

namespace cocosim {

struct IsaOptions {
  double insn_ns = 0.5;          // simulated time per instruction
  double quantum_ns = 1000;      // instructions per quantum: quantum_ns / insn_ns
  size_t mapped_pages = 64;      // Unicorn mappings (runs of pages) kept: Unicorn's cost per map grows with them
  uint64_t ucall_mmio_gpa = 0;   // arm64: the selftests' ucall MMIO address (0: none)
  // x86: the vCPU is a TD's: VMCALL is not a KVM hypercall there, and a
  // fault on an access (#VE) goes to the guest's IDT with its exact RIP.
  bool td = false;
  bool page_runs = true;         // map the stage-2 neighbours of a translated page with it (GuestEnv::translate_run)
};

// Why the executor stopped for good (run() returns at once afterwards).
enum class IsaStop {
  None,
  Halted,           // x86 HLT (arm64 WFI) with no interrupt to wake it
  Shutdown,         // an exception the guest has no handler for
  TripleFault,      // x86: an exception while delivering a double fault (KVM_EXIT_SHUTDOWN)
  InternalError,    // Unicorn refused the instruction stream
};
const char* isa_stop_name(IsaStop s);

// What Unicorn's return code means for the vCPU (pure; unit-tested).
struct IsaTrap {
  IsaStop stop = IsaStop::None;
  std::string what;  // for the report
};
IsaTrap decode_unicorn_error(int uc_err, IsaArch arch);

// The KVM selftests' struct ucall (include/ucall_common.h): cmd, 7 args, a
// 1024-byte message buffer, then the host's pointer to it.
struct SelftestUcall {
  static constexpr uint64_t kNone = 0, kSync = 1, kAbort = 2, kPrintf = 3, kDone = 4, kUnhandled = 5;
  static constexpr size_t kMaxArgs = 7, kBufferLen = 1024;
  static constexpr uint16_t kX86Port = 0x1000;  // UCALL_PIO_PORT: `in %dx, %al` with RDI = &uc
  uint64_t cmd = 0;
  std::array<uint64_t, kMaxArgs> args{};
  std::string buffer;  // up to its NUL
};

class IsaExecutor;

// Why a debugged executor paused (IsaDebugObserver::paused).
enum class IsaPause {
  Breakpoint,  // before the instruction at a PC breakpoint
  Step,        // after the one instruction before_call() asked for
  Quantum,     // between two Unicorn calls of run() (a chance to see a Ctrl-C)
};

// A debugger attached to an executor (the gdb server): with one set, run()
// asks before each Unicorn call whether to run one instruction only and
// reports where it stopped, without returning to its caller in between. The
// observer may block in paused(): the guest waits.
class IsaDebugObserver {
 public:
  virtual ~IsaDebugObserver() = default;
  // Before each Unicorn call (the observer may change the breakpoints here):
  // true runs exactly one instruction.
  virtual bool before_call(IsaExecutor& exec) = 0;
  // Stopped before the instruction at exec.pc().
  virtual void paused(IsaExecutor& exec, IsaPause why) = 0;
  // The executor is being destroyed (its vCPU closed).
  virtual void executor_gone(IsaExecutor& exec) = 0;
};

class IsaExecutor : public Executor, public TranslationListener, private PageMapper {
 public:
  // `entry`: the first PC. `stack`: the initial stack pointer (RSP / SP_EL1).
  IsaExecutor(IsaArch arch, uint64_t entry, uint64_t stack, IsaOptions opt = {});
  ~IsaExecutor() override;
  IsaExecutor(const IsaExecutor&) = delete;
  IsaExecutor& operator=(const IsaExecutor&) = delete;

  void run(GuestEnv& env) override;

  // TranslationListener
  void stage2_invalidated(uint64_t first_gfn, uint64_t end_gfn) override;
  void frames_revoked(uint64_t first_pfn, uint64_t last_pfn) override;
  const GuestPageMap* mapped_pages() const override { return &pages_; }

  IsaArch arch() const { return arch_; }
  IsaStop stopped() const { return stop_; }
  const std::string& stop_detail() const { return stop_detail_; }
  // Instructions executed so far. While the guest is out at an exit from
  // inside an instruction: the instructions before that one (see exit_pc()).
  uint64_t instructions() const { return out_ ? out_insns_ : insns_ + call_insns_; }
  // The struct ucall of the guest's last ucall, as the host read it (get_ucall()).
  const SelftestUcall& last_ucall() const { return last_ucall_; }
  // The PC where the guest continues; at an exit, exit_pc().
  uint64_t pc() const;
  // While the guest is out at an exit: the PC of the instruction it left
  // from, exact for traps (TDCALL, VMCALL, HVC) and x86 port I/O (the ucall);
  // for an exit from a memory access (a stage-2 fault the VMM resolves, MMIO,
  // the arm64 ucall's store) the first instruction of the translated block,
  // as Unicorn 2.0.1 does not say which of the block's instructions made the
  // access (see docs/guest-code.md), and instructions() counts up to it;
  // exact for a TD's accesses and AArch64 MMIO (the constructor's hooks).
  uint64_t exit_pc() const { return out_pc_; }
  // For people (-v): the PC of the instruction running now, by the same
  // rules as exit_pc() (inside a hook for a memory access: its block's first
  // instruction); between runs, pc().
  uint64_t guest_pc_now() const;
  bool out() const { return out_; }
  // The names read_register() knows, for `arch`, PC first.
  static std::vector<std::string> register_names(IsaArch arch);
  // General registers by name: rax..r15, rip, rflags (x86-64); x0..x30, sp, pc (arm64).
  bool read_register(const std::string& name, uint64_t* value) const;
  bool write_register(const std::string& name, uint64_t value);
  // ---- Debugging (for a gdb server) ----
  // Registers by gdb's numbering (the target descriptions gdb uses for
  // i386:x86-64 and aarch64): x86-64 0..15 rax rbx rcx rdx rsi rdi rbp rsp
  // r8..r15, 16 rip, 17 eflags, 18..23 cs ss ds es fs gs; aarch64 0..30
  // x0..x30, 31 sp, 32 pc, 33 cpsr. False for a number without a register.
  bool read_gdb_register(unsigned regno, uint64_t* value) const;
  bool write_gdb_register(unsigned regno, uint64_t value);
  // Runs exactly one instruction (its accesses and exits as in run()).
  void single_step(GuestEnv& env);
  // PC breakpoints: run() returns before executing an instruction at one of
  // them (stopped_at_breakpoint() then says so); the next run() or
  // single_step() executes it.
  void insert_breakpoint(uint64_t pc);
  void remove_breakpoint(uint64_t pc);
  bool stopped_at_breakpoint() const { return at_breakpoint_; }
  void on_breakpoint(uint64_t addr);
  bool has_breakpoint(uint64_t pc) const { return breakpoints_.count(pc) > 0; }
  // Breakpoints and single steps are then the observer's (nullptr: none).
  void set_debug_observer(IsaDebugObserver* o) { debug_ = o; }

  // A statistics counter the executor adds its instructions to (the vCPU's
  // `instructions`; nullptr: none), and the vCPU's trace scope, where the
  // waveform's `pc` shows the guest's PC after each Unicorn call and at
  // each exit (tracing only looks: nothing simulated depends on it).
  void observe(std::string trace_scope, uint64_t* counter) {
    trace_scope_ = std::move(trace_scope);
    insn_counter_ = counter;
  }

  uint64_t map_count() const { return maps_; }
  // Exceptions delivered into the guest through its handlers (x86-64: its
  // IDT; AArch64: VBAR_EL1).
  uint64_t exceptions_delivered() const { return exceptions_; }
  uint64_t unmap_count() const { return unmaps_; }

  // Unicorn's hooks (public for the C callbacks in the source file only).
  bool on_unmapped(int type, uint64_t addr, int size, int64_t value);
  bool on_write_protected(uint64_t addr);
  void on_block(uint64_t addr, uint32_t size);
  uint32_t on_port_in(uint32_t port, int size);
  void on_port_out(uint32_t port, int size, uint32_t value);
  uint64_t on_callback_read(uint64_t gpa, unsigned size);
  void on_callback_write(uint64_t gpa, unsigned size, uint64_t value);
  void on_interrupt(uint32_t intno);
  bool on_invalid_insn();
  // arm64, before an access to a page of callbacks by the instruction at
  // `at`: when the instruction gives a data abort no valid syndrome (ISV 0:
  // a pair, writeback, SIMD&FP, ...), KVM decides (GuestEnv::mmio_nisv) and
  // the access is not made when it injects a data abort or KVM_RUN returns:
  // true, the instruction is abandoned (registers restored after Unicorn's
  // call) and the guest goes on at the vector, or at the instruction again.
  bool arm64_no_syndrome(uint64_t at, uint64_t gpa, bool write);

 private:
  // PageMapper
  void map_page(const MappedPage& p) override;
  void unmap_page(const MappedPage& p) override;

  // Translate and map the page of `addr` (false: the guest cannot go on).
  bool fault_in(uint64_t addr, bool write, bool exec);
  // The bytes of the running instruction at `pc` (its page fetched again if it
  // left the map), up to `len`; fewer where they cannot be fetched.
  size_t fetch_code(uint64_t pc, uint8_t* out, size_t len);
  bool guest_access(uint64_t gpa, void* data, size_t len, bool write);
  // The vCPU was closed while the guest was out (exit_to_host() said so):
  // stop without touching the environment or guest memory again. False.
  bool abandon();
  // Every exit to the host goes through here: it records where the guest is
  // (exit_pc(), instructions()) while it is out. `fetch`: an instruction
  // fetch during translation (the previous block is complete).
  bool leave_to_host(bool fetch = false);
  // Charges simulated time (and the instructions counter) for the current
  // call's instructions up to `done`, once each: at an exit for those before
  // it (the host sees the time the guest took to get there), the rest when
  // the call returns.
  void account(uint64_t done);
  // The bytes of guest code from `gpa`, from pages with a direct pointer only
  // (reading a page of callbacks would be an access the guest never made).
  size_t read_code(uint64_t gpa, uint8_t* out, size_t len) const;
  // The current block's first `len` bytes (read_code, or its copy).
  size_t read_block(uint8_t* out, size_t len) const;
  // Copies the current block's bytes before `going`, a page of them, is unmapped.
  void copy_block(const MappedPage& going);
  // Instructions of the current block before `pc` (the whole block when it
  // cannot tell).
  uint64_t block_insns_before(uint64_t pc) const;
  // The current block stopped before `pc`: count only its instructions before it.
  void cut_block_before(uint64_t pc);
  // The x86 port-I/O instruction running now: the block's k-th one, where k
  // counts the port hooks since the block began (a block is straight-line).
  uint64_t port_io_pc();
  void do_ucall(uint64_t uc_gpa);
  // The hypervisor calls (see models/cpu/guest_trap.h); each leaves the
  // registers as the call's ABI says and moves the PC past the instruction.
  // False: the TDCALL raised an exception (raise_fault) instead.
  bool do_tdcall(uint64_t next_pc);
  void do_vmcall(uint64_t next_pc);
  void do_hvc(uint16_t imm, uint64_t next_pc);
  // ---- Exceptions into the guest ----
  // An exception the instruction at the current PC raises (a fault the
  // hypervisor injects, an invalid instruction): Unicorn's call ends without
  // the instruction (a hook fails its access) and deliver_exception() takes
  // it through the guest's handlers before the next call. True when the
  // architecture delivers `fault` (a GuestEnv fault name) this way; the
  // caller then fails the access.
  bool raise_fault(const std::string& fault);
  void raise(unsigned vector, uint32_t error);
  void deliver_exception();
  void deliver_x86_exception();
  class X86Memory;
  uint64_t reg(const char* name) const;
  // AArch64: take synchronous exception `e` to EL1 as the CPU does (the frame
  // from models/cpu/arm64_exception.*): ESR_EL1, FAR_EL1 (aborts), ELR_EL1 =
  // `fault_pc`, SPSR_EL1, PSTATE, PC = the vector. False when the guest
  // cannot take it (the executor stopped with the reason).
  bool deliver_arm64(Arm64Exception e, uint64_t fault_pc, uint64_t far, bool far_valid);
  void stop(IsaStop why, const std::string& detail);
  // KVM_RUN's end for a stopped executor (KVM_EXIT_SHUTDOWN for a triple fault).
  void report_stop(GuestEnv& env);
  // One Unicorn call from pc_ (count 0: up to the quantum's budget); true
  // when the executor must return to its caller.
  bool emulate(GuestEnv& env, size_t count);
  struct BlockCount;
  const BlockCount& block_icount(uint64_t addr);
  [[gnu::noinline]] void on_block_slow(uint64_t addr);
  // The quantum's end inside a Unicorn call: charge it, start the next.
  void quantum_end();
  static size_t block_slot(uint64_t addr) { return (addr ^ (addr >> 12)) & (kBlockCounts - 1); }
  static constexpr size_t kBlockCounts = 4096;  // direct-mapped; a power of two
  // run() with a debug observer: pauses at breakpoints and after single steps.
  void run_debugged(GuestEnv& env);

  IsaArch arch_;
  IsaOptions opt_;
  uc_struct* uc_ = nullptr;
  GuestEnv* env_ = nullptr;
  GuestPageMap pages_;
  uint64_t pc_;
  uint64_t budget_;              // instructions per Unicorn call
  uint64_t insns_ = 0;           // instructions executed (counted per block)
  uint64_t call_insns_ = 0;      // ... in the current Unicorn call
  uint64_t quantum_insns_ = 0;   // ... in the quantum, before this call (calls a debugger cut short)
  // The block running now, counted whole in call_insns_ when it began:
  // on_block() only points at its cache entry (the compute loop's speed is
  // one block hook per block); sync_block() copies what counting needs the
  // first time a hook needs it in this block's execution, which
  // (calls_, call_insns_) names.
  const BlockCount* cur_ = nullptr;
  uint64_t calls_ = 0;
  void sync_block() const;
  mutable uint64_t seen_call_ = ~uint64_t{0}, seen_insns_ = 0;
  mutable uint64_t block_pc_ = 0;
  mutable uint32_t block_n_ = 0;
  // Port-I/O hooks since it began (the low bits), and kBlockCopied: its
  // bytes are in block_copy_.
  mutable uint32_t block_marks_ = 0;
  static constexpr uint32_t kBlockCopied = 1u << 31;
  // Its bytes, copied when its page is unmapped while it runs (an exit may
  // zap the guest's code page; the translated block goes on regardless).
  std::vector<uint8_t> block_copy_;
  BlockInsns insn_bounds_;
  // The instruction a hook runs for, when known (traps, port I/O).
  uint64_t insn_pc_ = ~uint64_t{0};
  // While the guest is out (leave_to_host()).
  bool out_ = false;
  bool in_call_ = false;   // inside uc_emu_start
  bool fetching_ = false;  // translating: an instruction fetch faulted
  uint64_t* insn_counter_ = nullptr;
  std::string trace_scope_;
  void trace_pc(uint64_t pc, bool exit) const;
  uint64_t out_pc_ = 0, out_insns_ = 0;
  uint64_t call_accounted_ = 0;  // instructions of the current call charged already (account())
  uint64_t call_budget_ = 0;     // instructions the current call may start blocks for
  bool budget_stop_ = false;     // the current call ended on the quantum's budget (under a debugger)
  bool trap_resume_ = false;     // a trap moved the PC, which may end Unicorn's call: go on from it
  bool abandoned_ = false;       // see abandon()
  bool exception_resume_ = false;
  bool insn_abandoned_ = false;  // arm64_no_syndrome() abandoned the running instruction
  struct AbandonedInsn {
    uint64_t pc = 0, gpa = 0;
    bool inject = false;               // a data abort KVM injected; else the instruction runs again
    std::array<uint64_t, 32> regs{};   // x0..x30, sp as before it
  };
  std::optional<AbandonedInsn> abandoned_insn_;  // finished when Unicorn's call returns  // a hook delivered an exception and failed the access: go on from the vector
  uint64_t exceptions_ = 0;
  // The vector the last exception went to, until a block elsewhere runs: an
  // exception at that PC is a recursive one (the handler cannot even start).
  uint64_t vector_taken_ = ~uint64_t{0};
  std::string vector_for_;       // the exception that went there
  struct PendingException {
    unsigned vector = 0;
    uint32_t error = 0;
  };
  std::optional<PendingException> pending_;  // raised, delivered when Unicorn returns
  IsaStop stop_ = IsaStop::None;
  std::string stop_detail_;
  uint64_t maps_ = 0, unmaps_ = 0;
  // Instructions per translated block, by the block's address (direct-mapped).
  struct BlockCount {
    uint64_t addr = ~uint64_t{0};
    uint32_t icount = 0;
  };
  std::vector<BlockCount> block_counts_;
  std::set<uint64_t> code_pages_;  // pages blocks were counted in (ordered: unmapped by run)
  struct CallbackPage {
    IsaExecutor* self;
    uint64_t gpa;
  };
  std::unordered_map<uint64_t, std::unique_ptr<CallbackPage>> callback_pages_;
  std::unique_ptr<CallbackPage> ucall_page_;
  SelftestUcall last_ucall_;
  std::unordered_map<uint64_t, size_t> breakpoints_;  // PC -> Unicorn hook handle
  bool at_breakpoint_ = false;
  uint64_t resume_over_ = ~uint64_t{0};  // the breakpoint PC the next call executes
  // Where the last call paused for a debugger (a breakpoint or a single
  // step): a breakpoint there was reported already, the next call runs it.
  uint64_t paused_at_ = ~uint64_t{0};
  IsaDebugObserver* debug_ = nullptr;
  bool counted_ = false;  // the last Unicorn call counted instructions (a single step)
};

}  // namespace cocosim
