// The adversarial oracle: runs a generated scenario with the invariant checker
// after every step and again at the end only, and judges the pair. A failure
// is a crash or hang in either run, a violation, an expectation failing
// although all are `any`, a file the validator refuses, or the two runs
// disagreeing on the verdict.
#pragma once
#include <cstdint>
#include <string>

#include "child_run.h"
#include "scenario_generator.h"

namespace cocosim::oracle {

struct Judgement {
  bool failed = false;
  // What failed, stable across minimization: "violation s2-private",
  // "crash: signal 11", "mismatch step=violation end=clean", ...
  std::string signature;
  RunOutcome step, end;
};

class Oracle {
 public:
  Oracle(std::string cocosim, std::string work_dir, double timeout_s)
      : cocosim_(std::move(cocosim)), dir_(std::move(work_dir)), timeout_s_(timeout_s) {}

  Judgement judge(const GeneratedScenario& s);
  // Delta debugging: drops steps, then guest ops, while the failure keeps its
  // signature. Returns the smallest scenario found.
  GeneratedScenario minimize(GeneratedScenario s, const std::string& signature);
  int runs() const { return runs_; }

 private:
  std::string cocosim_, dir_;
  double timeout_s_;
  int runs_ = 0;
};

}  // namespace cocosim::oracle
