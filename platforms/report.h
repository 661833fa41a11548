// What a run tells its user: failed expectations and invariant violations
// located as FILE:LINE:COL with the step, the -v line of every step, notes,
// and the summary at the end.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "invariant_checker.h"
#include "run_limits.h"
#include "result.h"
#include "run_summary.h"
#include "scenario/scenario.h"

namespace cocosim {

class Report {
 public:
  Report(const std::string& file, std::ostream& out, bool verbose, RunSummary& summary)
      : file_(file), out_(out), verbose_(verbose), summary_(summary) {}

  // Holds the step's result against its expectations (or, without `expect:`,
  // against success), counts and prints the outcome.
  void step(const Step& s, const Result& r);
  // Prints and counts a violation found after step `s`.
  void violation(const Step& s, const Violation& v);
  // A located remark about step `s` that is neither a failure nor a violation.
  void note(const Step& s, const std::string& text);
  bool verbose() const { return verbose_; }
  // -v: one line for an event inside a step (a vCPU's exit), at the time now.
  void event(const std::string& text);
  // The run record of vCPU ID of the VM named VM (made on its first KVM_RUN).
  VcpuRecord& vcpu(const std::string& vm, int id);
 private:
  std::string where(const Step& s) const;

  std::string file_;
  std::ostream& out_;
  bool verbose_;
  RunSummary& summary_;
};

// The closing lines of a run: how it ended, what it counted and the
// simulated time it took.
void print_summary(std::ostream& out, const std::string& file, const RunSummary& s,
                   const std::string& internal_error, uint64_t simulated_ps);

}  // namespace cocosim
