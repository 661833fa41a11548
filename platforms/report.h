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
#include "scenario/scenario.h"

namespace cocosim {

struct RunSummary {
  int steps = 0;
  int passed = 0;
  int failed = 0;
  int violations = 0;
  std::map<std::string, uint64_t> ops;   // steps run per operation
  std::map<std::string, double> op_wall_s;  // wall time spent per operation
  std::vector<double> step_wall_s;          // wall time of each step, in order
  std::map<std::string, double> op_sim_ns;  // simulated time spent per operation
  bool finished = false;
  // Set when a limit or a signal ended the run early: what, and where.
  std::optional<StopReason> stopped;
  std::string stopped_at;  // "step 7 (KVM_RUN)"
  uint64_t stopped_ps = 0;  // simulated time then
};

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
 private:
  std::string where(const Step& s) const;

  std::string file_;
  std::ostream& out_;
  bool verbose_;
  RunSummary& summary_;
};

// The closing lines of a run: how it ended and what it counted.
void print_summary(std::ostream& out, const std::string& file, const RunSummary& s,
                   const std::string& internal_error);

}  // namespace cocosim
