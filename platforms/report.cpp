#include "report.h"

#include <systemc>

#include "common/sim_time.h"

namespace cocosim {

std::string Report::where(const Step& s) const {
  return file_ + ":" + std::to_string(s.loc.line) + ":" + std::to_string(s.loc.col);
}

void Report::violation(const Step& s, const Violation& v) {
  ++summary_.violations;
  out_ << where(s) << ": invariant violated after step " << s.label() << " (" << s.op
       << "): " << v.rule << ": " << v.detail << "\n";
}

void Report::note(const Step& s, const std::string& text) {
  out_ << where(s) << ": note: step " << s.label() << ": " << text << "\n";
}

VcpuRecord& Report::vcpu(const std::string& vm, int id) {
  for (VcpuRecord& r : summary_.vcpus)
    if (r.vm == vm && r.vcpu == id) return r;
  summary_.vcpus.push_back({});
  summary_.vcpus.back().vm = vm;
  summary_.vcpus.back().vcpu = id;
  return summary_.vcpus.back();
}

void Report::step(const Step& s, const Result& r) {
  std::vector<CheckOutcome> checks;
  if (s.expect.present) {
    if (!s.expect.any) checks = check_expect(s.expect, r);
  } else {
    // Without expect: the step must succeed.
    for (const char* f : {"errno", "signal", "fault", "exit"}) {
      auto it = r.find(f);
      if (it == r.end()) continue;
      const RValue& v = it->second;
      bool ok = true;
      std::string want;
      if (v.kind == RValue::Kind::Errno) ok = v.i == 0, want = "0";
      else if (v.kind == RValue::Kind::Signal) ok = v.i == 0, want = "none";
      else if (std::string(f) == "fault") ok = v.s == "none", want = "none";
      else if (std::string(f) == "exit")
        ok = v.s != "UCALL_ABORT" && v.s != "KVM_EXIT_INTERNAL_ERROR" && v.s != "KVM_EXIT_SHUTDOWN",
        want = "no abort";
      checks.push_back({ok, f, want, v.show(), false});
    }
    if (checks.empty()) checks.push_back({true, "(done)", "", "", false});
  }
  bool step_ok = true;
  for (const CheckOutcome& c : checks) {
    if (c.ok) {
      ++summary_.passed;
      continue;
    }
    ++summary_.failed;
    step_ok = false;
    out_ << where(s) << ": step " << s.label() << " (" << s.op << ") failed: expected "
         << (c.negate ? "not " : "") << c.field << " = " << c.expected << ", got " << c.actual;
    if (r.size() > 1 || !r.count(c.field)) out_ << " [" << show_result(r) << "]";
    auto msg = r.find("message");
    if (msg != r.end() && c.field != "message") {
      auto exit = r.find("exit");
      const bool guest = exit != r.end() && exit->second.s == "UCALL_ABORT";
      out_ << "\n    " << (guest ? "guest: " : "message: ") << msg->second.s;
    }
    out_ << "\n";
  }
  if (verbose_) {
    out_ << "  [" << s.label() << "] " << ps_text(sc_core::sc_time_stamp()) << "  " << s.op
         << (step_ok ? "  ok" : "  FAILED");
    if (!r.empty()) out_ << "  " << show_result(r);
    if (s.expect.any) out_ << "  (expect: any)";
    if (!s.note.empty()) out_ << "  # " << s.note;
    out_ << "\n";
  }
}

void Report::event(const std::string& text) {
  if (verbose_) out_ << "      " << ps_text(sc_core::sc_time_stamp()) << "  " << text << "\n";
}

void print_summary(std::ostream& out_, const std::string& file_, const RunSummary& s,
                   const std::string& internal_error, uint64_t simulated_ps) {
  if (!internal_error.empty())
    out_ << file_ << ": internal error after " << s.steps << " steps: " << internal_error << "\n";
  else if (s.stopped)
    out_ << file_ << ": stopped by " << s.stopped->what << " at " << s.stopped_at
         << ", simulated time " << s.stopped_ps << " ps\n";
  else if (!s.finished)
    out_ << file_ << ": the run stopped early after " << s.steps << " steps\n";
  // One line, `N passed, N failed` kept readable by CI parsers; violations beside.
  out_ << s.steps << " steps, " << s.passed << " expectations passed, " << s.failed << " failed";
  if (s.violations)
    out_ << ", " << s.violations << " invariant violation" << (s.violations == 1 ? "" : "s");
  out_ << ", simulated time " << ps_text(simulated_ps) << "\n";
}

}  // namespace cocosim
