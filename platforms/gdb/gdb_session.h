// gdb attached to a scenario run: the GdbTarget of the platform's scripted
// guests, and where the run stops for gdb. Before the first step it waits for
// gdb; then it stops before a guest op with a breakpoint, after a single step
// (one op), at Ctrl-C, and before the next scenario step after `monitor step`.
// One gdb thread per vCPU. A scripted guest's PC is its op index
// (ScriptedExecutor::pc()); the registers a tdcall or hvc op returns read as
// that op left them, every other one as zero: a program of ops has no register
// file. A vCPU that runs an ELF program (IsaExecutor) has real registers
// (gdb's numbering: the general ones, rip/pc and the flags; x87 and SSE
// registers read as zero and cannot be written) and real PCs; it stops before
// an instruction at a breakpoint, after one instruction for `s`, and between
// Unicorn calls at Ctrl-C. Both kinds share one set of breakpoints. Memory is
// guest-physical, through the VM's stage 2.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "cpu/isa_executor.h"
#include "gdb/gdb_server.h"
#include "gdb/gdb_target.h"
#include "gdb/target_description.h"
#include "platform.h"
#include "runner.h"
#include "scripted_executor.h"

namespace cocosim::gdb {

class GdbSession : public GdbTarget, public OpObserver, public StepObserver, public IsaDebugObserver {
 public:
  // Serves gdb on `channel` (connected already) for the run of `runner` on `platform`.
  GdbSession(GdbChannel& channel, Platform& platform, Runner& runner);
  ~GdbSession() override;

  // The run is over with exit status `code` (or ended before gdb attached).
  void exited(int code);
  bool killed() const { return killed_; }

  // GdbTarget.
  const TargetDescription& description() const override { return desc_; }
  std::vector<ThreadInfo> threads() const override;
  std::optional<std::vector<uint8_t>> read_register(int thread, unsigned regnum) override;
  bool write_register(int thread, unsigned regnum, const std::vector<uint8_t>& value,
                      std::string* why) override;
  std::optional<MemoryError> read_memory(int thread, uint64_t addr, uint8_t* out, size_t len) override;
  std::optional<MemoryError> write_memory(int thread, uint64_t addr, const uint8_t* data,
                                          size_t len) override;
  bool insert_breakpoint(uint64_t pc) override;
  bool remove_breakpoint(uint64_t pc) override;
  MonitorReply monitor(int thread, const std::string& command) override;
  void resume(const Resume& how) override;

  // OpObserver and StepObserver.
  void vcpu_created(ScriptedExecutor& exec, int vm, int vcpu) override;
  void before_op(ScriptedExecutor& exec, uint64_t pc) override;
  void executor_gone(ScriptedExecutor& exec) override;
  void before_step(const Step& s) override;
  void while_running() override;
  void isa_vcpu_created(IsaExecutor& exec, int vm, int vcpu, const std::string& program) override;

  // IsaDebugObserver.
  bool before_call(IsaExecutor& exec) override;
  void paused(IsaExecutor& exec, IsaPause why) override;
  void executor_gone(IsaExecutor& exec) override;

 private:
  struct Thread {
    ScriptedExecutor* exec;  // a scripted guest, or
    IsaExecutor* isa;        // real guest code (exactly one of the two is set)
    int vm;
    int vcpu;
    std::string program;
    std::set<uint64_t> applied;  // the breakpoints `isa` has now
  };
  void stop(StopEvent::Reason reason, int thread);
  bool poll_interrupt();
  int thread_of(const ScriptedExecutor& exec) const;
  int thread_of(const IsaExecutor& exec) const;
  // Makes `exec`'s breakpoints the session's (Unicorn's hooks are changed
  // only between its calls, never while it is parked inside an instruction).
  void sync_breakpoints(IsaExecutor& exec);
  // The VM whose memory `thread` sees; null with the error when there is none.
  Vm* vm_of(int thread, MemoryError* err) const;
  // One page's part of an access: [gpa, gpa + len) within one 4 KiB page.
  std::optional<MemoryError> access_page(Vm& vm, uint64_t gpa, uint8_t* data, size_t len, bool write);
  std::string stats_text() const;

  GdbServer server_;
  Platform& p_;
  Runner& runner_;
  TargetDescription desc_;
  std::map<int, Thread> threads_;  // by gdb thread id
  int next_thread_ = 1;
  std::set<uint64_t> breakpoints_;
  Resume resume_;  // how gdb last resumed
  bool attached_ = false;   // the first stop (before step 1) happened
  bool interrupt_ = false;  // Ctrl-C seen while the guest ran: stop at the next op or step
  bool killed_ = false;
  uint64_t polls_ = 0;  // guest ops since the session began (the clock is read every 64th)
  std::chrono::steady_clock::time_point last_poll_{};
  std::string step_;   // the step running now: "step 3 (KVM_RUN)"
  StopEvent stop_;     // the last stop, its `where` for people
};

}  // namespace cocosim::gdb
