#include "runner.h"

#include <cerrno>
#include <chrono>

#include "common/sim_time.h"
#include "op_table.h"

namespace cocosim {

Runner::Runner(sc_core::sc_module_name name, const Scenario& sc, Platform& p, std::ostream& out,
               bool verbose)
    : sc_module(name),
      sc_(sc),
      p_(p),
      report_(sc.file, out, verbose, summary_),
      vmm_(sc, p, report_, [this](const Step& d) { run_step(d); },
           [this](const Step& s) {
             check_limits(s);
             if (step_observer_) step_observer_->while_running();
           }),
      inspection_(p, vmm_.names()),
      checker_(p) {
  SC_HAS_PROCESS(Runner);
  SC_THREAD(thread);
  // SystemC's default thread stack (64 KiB) is too small for page-table walks
  // with page-sized buffers, and for sanitizer builds.
  set_stack_size(size_t{1} << 20);
}

void Runner::thread() {
  for (const Step& s : sc_.steps) run_step(s);
  if (check_mode_ == CheckMode::End && !sc_.steps.empty()) {
    check_mode_ = CheckMode::Step;
    check_invariants(sc_.steps.back());
  }
  summary_.finished = true;
  sc_core::sc_stop();
}

void Runner::check_limits(const Step& s) {
  auto why = watch_.reached(uint64_t(summary_.steps) + 1);
  if (!why) return;
  summary_.stopped = why;
  summary_.stopped_at = "step " + s.label() + " (" + s.op + ")";
  summary_.stopped_ps = sc_core::sc_time_stamp().value();  // the default resolution: 1 ps
  sc_core::sc_stop();
  sc_core::wait();  // nothing wakes this thread again: the run ends here
}

void Runner::stop_run(const StopReason& why) {
  summary_.stopped = why;
  if (current_step_)
    summary_.stopped_at = "step " + current_step_->label() + " (" + current_step_->op + ")";
  summary_.stopped_ps = sc_core::sc_time_stamp().value();
  sc_core::sc_stop();
  for (;;) sc_core::wait();  // nothing wakes this thread again: the run ends here
}

void Runner::run_step(const Step& s) {
  check_limits(s);
  const Step* outer = current_step_;
  current_step_ = &s;
  if (step_observer_) step_observer_->before_step(s);
  const auto t0 = std::chrono::steady_clock::now();
  const sc_core::sc_time sim0 = sc_core::sc_time_stamp();
  // Recorded where the step starts: a KVM_RUN's `during` steps finish first.
  const size_t index = summary_.step_times.size();
  summary_.step_times.push_back({s.label(), s.op, 0, 0});
  Result r = execute(s);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  summary_.op_wall_s[s.op] += wall;
  ++summary_.steps;
  ++summary_.ops[s.op];
  sc_core::wait(p_.take_control_delay());
  const uint64_t sim_ps = to_ps(sc_core::sc_time_stamp() - sim0);
  summary_.op_sim_ps[s.op] += sim_ps;
  summary_.step_times[index].simulated_ps = sim_ps;
  summary_.step_times[index].wall_s = wall;
  report_.step(s, r);
  if (check_mode_ == CheckMode::Step) check_invariants(s);
  current_step_ = outer;
}

void Runner::check_invariants(const Step& s) {
  for (const Violation& v : checker_.check()) {
    const std::string key = v.rule + v.detail;
    if (reported_violations_.insert(key).second) report_.violation(s, v);
  }
}

Result Runner::execute(const Step& s) {
  const OpHandler* h = op_handler(s.op);
  // The validator refuses everything else before the run starts.
  if (!h) return errno_result(ENOSYS);
  OpContext ctx{vmm_, inspection_};
  try {
    if (h->syscall) p_.charge_ns(p_.config().timing.ioctl_ns);
    return h->run(ctx, s);
  } catch (const std::bad_alloc&) {
    // The platform's DRAM is used up: the call fails as the kernel's would.
    Result r;
    if (h->oom_signal) r["signal"] = RValue::sig(h->oom_signal);
    else r["errno"] = RValue::err(h->oom_errno);
    r["message"] = RValue::str("out of simulated DRAM (platform.dram)");
    return r;
  }
}

}  // namespace cocosim
