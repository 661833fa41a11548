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
// Time: instructions are counted per translated block as it starts, and
// charged `insn_ns` each at the end of every quantum (`quantum / insn` of
// them, the quantum of temporal decoupling: the block hook charges them and
// the host may run there, without leaving Unicorn) and when Unicorn
// returns; memory accesses through
// GuestEnv charge their own time. DMI pages charge none per access (as a TLB
// hit plus a DMI access in the scripted vCPU would not be counted either:
// see docs/guest-code.md).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/executor.h"
#include "cpu/guest_page_map.h"

struct uc_struct;

namespace cocosim {

enum class IsaArch { X86_64, Arm64 };

struct IsaOptions {
  double insn_ns = 0.5;          // simulated time per instruction
  double quantum_ns = 1000;      // instructions per quantum: quantum_ns / insn_ns
  size_t mapped_pages = 64;      // Unicorn mappings (runs of pages) kept: Unicorn's cost per map grows with them
  uint64_t ucall_mmio_gpa = 0;   // arm64: the selftests' ucall MMIO address (0: none)
  bool td = false;               // x86: the vCPU is a TD's (VMCALL is not a KVM hypercall there)
  bool page_runs = true;         // map the stage-2 neighbours of a translated page with it (GuestEnv::translate_run)
};

// Why the executor stopped for good (run() returns at once afterwards).
enum class IsaStop {
  None,
  Halted,           // x86 HLT (arm64 WFI) with no interrupt to wake it
  Shutdown,         // an exception the guest has no handler for
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
  // Instructions executed so far (a block is counted whole when it starts).
  uint64_t instructions() const { return insns_ + call_insns_; }
  // The PC where the guest continues (at an exit from inside a block: the
  // block's first instruction, which is what Unicorn knows there).
  uint64_t pc() const;
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

  uint64_t map_count() const { return maps_; }
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

 private:
  // PageMapper
  void map_page(const MappedPage& p) override;
  void unmap_page(const MappedPage& p) override;

  // Translate and map the page of `addr` (false: the guest cannot go on).
  bool fault_in(uint64_t addr, bool write, bool exec);
  bool guest_access(uint64_t gpa, void* data, size_t len, bool write);
  // The vCPU was closed while the guest was out (exit_to_host() said so):
  // stop without touching the environment or guest memory again. False.
  bool abandon();
  void do_ucall(uint64_t uc_gpa);
  // The hypervisor calls (see models/cpu/guest_trap.h); each leaves the
  // registers as the call's ABI says and moves the PC past the instruction.
  void do_tdcall(uint64_t next_pc);
  void do_vmcall(uint64_t next_pc);
  void do_hvc(uint16_t imm, uint64_t next_pc);
  uint64_t reg(const char* name) const;
  void stop(IsaStop why, const std::string& detail);
  // One Unicorn call from pc_ (count 0: up to the quantum's budget); true
  // when the executor must return to its caller.
  bool emulate(GuestEnv& env, size_t count);
  unsigned block_icount(uint64_t addr);
  [[gnu::noinline]] void on_block_slow(uint64_t addr);
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
  bool budget_stop_ = false;     // the current call ended on the quantum's budget (under a debugger)
  bool trap_resume_ = false;     // a trap moved the PC, which may end Unicorn's call: go on from it
  bool abandoned_ = false;       // see abandon()
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
