#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "report.h"

using namespace cocosim;

namespace {
std::string last_line(const std::string& text) {
  const size_t end = text.find_last_not_of('\n');
  const size_t start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}
}  // namespace

TEST_CASE("summary: the last line counts invariant violations beside failed expectations") {
  RunSummary s;
  s.steps = 12, s.passed = 18, s.failed = 0, s.violations = 1, s.finished = true;
  std::ostringstream out;
  print_summary(out, "f.yaml", s, "", 2300000);
  CHECK(last_line(out.str()) ==
        "12 steps, 18 expectations passed, 0 failed, 1 invariant violation, simulated time 2300000 ps");
  s.violations = 0;
  std::ostringstream clean;
  print_summary(clean, "f.yaml", s, "", 2300000);
  CHECK(clean.str() == "12 steps, 18 expectations passed, 0 failed, simulated time 2300000 ps\n");
}

TEST_CASE("summary: a stopped run names the limit, the step and the simulated time") {
  RunSummary s;
  s.steps = 4, s.passed = 4;
  s.stopped = StopReason{"--max-steps 4", kExitLimit};
  s.stopped_at = "step 5 (KVM_RUN)";
  s.stopped_ps = 1500;
  std::ostringstream out;
  print_summary(out, "f.yaml", s, "", 1500);
  CHECK(out.str() ==
        "f.yaml: stopped by --max-steps 4 at step 5 (KVM_RUN), simulated time 1500 ps\n"
        "4 steps, 4 expectations passed, 0 failed, simulated time 1500 ps\n");
}
