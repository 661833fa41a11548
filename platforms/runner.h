// Runs a scenario's steps in order in one SystemC thread (the VMM's): each
// step goes through the dispatch table (op_table.h) to the VMM or the
// inspection, is reported (report.h), then the invariant checker runs.
#pragma once
#include <chrono>
#include <functional>
#include <ostream>
#include <set>
#include <string>

#include <systemc>

#include "inspection.h"
#include "invariant_checker.h"
#include "platform.h"
#include "report.h"
#include "scripted_executor.h"
#include "result.h"
#include "run_limits.h"
#include "scenario/scenario.h"
#include "vmm.h"

namespace cocosim {

// When the invariant checker runs: after every step (the default; each step
// checks what it changed, and the whole platform is checked after the last
// step and every `full_every` steps), once at the end of the run (for long
// stress runs), or never.
enum class CheckMode { Step, End, Off };

// Told before each step runs, `during:` steps too (the gdb server stops there).
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  virtual void before_step(const Step& s) = 0;
  // While a vCPU runs, at the VMM's polls (every 10 us of simulated time).
  virtual void while_running() {}
};

class Runner : public sc_core::sc_module {
 public:
  void set_check_mode(CheckMode m) { check_mode_ = m; }
  // With CheckMode::Step: the full check every N steps (0: only after the last).
  void set_full_check_every(uint64_t n) { full_every_ = n; }
  void set_limits(const RunLimits& l) { watch_ = LimitWatch(l); }
  Runner(sc_core::sc_module_name name, const Scenario& sc, Platform& p, std::ostream& out,
         bool verbose);
  const RunSummary& summary() const { return summary_; }
  // Called between steps and at every poll while a vCPU runs (progress line,
  // --stats-interval snapshots), and after every step (per-step levels in the
  // waveform). Observers only: they change nothing simulated.
  void set_tick(std::function<void()> f) { tick_ = std::move(f); }
  void set_after_step(std::function<void()> f) { after_step_ = std::move(f); }
  // A debugger: the observer of every step and guest op (null: none).
  void set_observers(StepObserver* steps, OpObserver* ops) {
    step_observer_ = steps;
    vmm_.set_op_observer(ops);
  }
  Inspection& inspection() { return inspection_; }
  const VmmNames& names() const { return vmm_.names(); }
  // Wall time the run spent stopped in a debugger: --timeout does not count it.
  void exclude_wall_time(std::chrono::steady_clock::duration d) { watch_.exclude(d); }
  // Ends the run from any SystemC thread, as a limit does (gdb's kill); never returns.
  [[noreturn]] void stop_run(const StopReason& why);

 private:
  void thread();
  // Execute, charge, report and check one step (also one of a KVM_RUN's `during`).
  void run_step(const Step& s);
  Result execute(const Step& s);
  // The incremental check (--check step), then the full one when `full`.
  void check_invariants(const Step& s, bool full, bool incremental);
  // Ends the run here if a limit is reached or a signal came (never returns then).
  void check_limits(const Step& s);

  const Scenario& sc_;
  Platform& p_;
  RunSummary summary_;
  Report report_;
  Vmm vmm_;
  Inspection inspection_;
  InvariantChecker checker_;
  std::set<std::string> reported_violations_;
  CheckMode check_mode_ = CheckMode::Step;
  uint64_t full_every_ = 0;
  uint64_t checks_ = 0;  // step checks so far
  StepObserver* step_observer_ = nullptr;
  const Step* current_step_ = nullptr;  // the step running now (for stop_run)
  LimitWatch watch_{RunLimits{0, 0, 0}};  // none unless set (the CLI sets its defaults)
  std::function<void()> tick_, after_step_;
  unsigned step_serial_ = 0;  // steps started, `during` ones included (the trace's vmm.step)
};

}  // namespace cocosim
