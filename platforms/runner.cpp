#include "runner.h"

#include <cerrno>
#include <chrono>
#include <ctime>

#include "common/sim_time.h"
#include "common/trace.h"
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
  // The whole platform once more at the end: after the last step's
  // incremental check (--check step) or instead of every step's (--check end).
  if (check_mode_ != CheckMode::Off && !sc_.steps.empty()) check_invariants(sc_.steps.back(), true, false);
  summary_.finished = true;
  sc_core::sc_stop();
}

void Runner::check_limits(const Step& s) {
  if (tick_) tick_();
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
  const std::clock_t cpu0 = std::clock();
  const sc_core::sc_time sim0 = sc_core::sc_time_stamp();
  // Recorded where the step starts: a KVM_RUN's `during` steps finish first.
  const size_t index = summary_.step_times.size();
  summary_.step_times.push_back({s.label(), s.op, 0, 0});
  ++step_serial_;
  if (trace::on()) {
    trace::g_sink->record(name(), "step", step_serial_, 32, nullptr);
    trace::g_sink->note(trace::Cat::Kvm, name(), "step " + s.label() + " " + s.op);
  }
  Result r = execute(s);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = double(std::clock() - cpu0) / CLOCKS_PER_SEC;
  summary_.op_wall_s[s.op] += wall;
  ++summary_.steps;
  ++summary_.ops[s.op];
  sc_core::wait(p_.take_control_delay());
  const uint64_t sim_ps = to_ps(sc_core::sc_time_stamp() - sim0);
  summary_.op_sim_ps[s.op] += sim_ps;
  summary_.step_times[index].simulated_ps = sim_ps;
  summary_.step_times[index].wall_s = wall;
  summary_.step_times[index].cpu_s = cpu;
  const int failed_before = summary_.failed;
  report_.step(s, r);
  if (summary_.failed > failed_before)
    COCOSIM_PROBE(pulse(trace::Cat::Kvm, name(), "expectation_failed", "step " + s.label() + " " + s.op));
  if (check_mode_ == CheckMode::Step) {
    ++checks_;
    check_invariants(s, full_every_ && checks_ % full_every_ == 0, true);
  }
  if (after_step_) after_step_();
  current_step_ = outer;
}

void Runner::check_invariants(const Step& s, bool full, bool incremental) {
  for (const Violation& v : incremental ? checker_.check_incremental() : std::vector<Violation>{}) {
    const std::string key = v.rule + v.detail;
    if (reported_violations_.insert(key).second) {
      COCOSIM_PROBE(pulse(trace::Cat::Kvm, name(), "invariant_violation", v.rule + ": " + v.detail));
      report_.violation(s, v);
    }
  }
  if (!full) return;
  // After incremental checks, the full check must find nothing new: what it
  // does find is said to be a miss (the oracle fails on it).
  const bool after_incremental = check_mode_ == CheckMode::Step;
  for (const Violation& v : checker_.check()) {
    const std::string key = v.rule + v.detail;
    if (!reported_violations_.insert(key).second) continue;
    COCOSIM_PROBE(pulse(trace::Cat::Kvm, name(), "invariant_violation", v.rule + ": " + v.detail));
    report_.violation(s, v);
    if (after_incremental) report_.note(s, "the incremental checks missed " + v.rule + " (found by the full check)");
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
