#include "oracle.h"

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace cocosim::oracle {

namespace {

// A generated scenario's guest work is bounded (a few thousand accesses, at
// most a few MiB written): it needs well under a millisecond of simulated
// time. A run that spends this much loops without progress (e.g. an `auto:`
// loop re-entering a guest that faults again) even when it ends by itself.
constexpr double kSimulatedBudgetNs = 100e6;

// The run's simulated time from its stats file (-1 when absent).
double simulated_ns(const std::string& stats) {
  std::ifstream in(stats);
  std::stringstream text;
  text << in.rdbuf();
  static const std::regex kTime(R"re("simulated_time_(ns|ps)"\s*:\s*([0-9.eE+-]+))re");
  std::smatch m;
  const std::string t = text.str();
  if (!std::regex_search(t, m, kTime)) return -1;
  return std::stod(m[2]) / (m[1] == "ps" ? 1000.0 : 1.0);
}

}  // namespace

Judgement Oracle::judge(const GeneratedScenario& s) {
  const std::string file = dir_ + "/scenario.yaml";
  {
    std::ofstream out(file);
    out << s.yaml();
    if (!out) throw std::runtime_error("cannot write " + file);
  }
  const std::string stats[2] = {dir_ + "/step.json", dir_ + "/end.json"};
  for (const auto& f : stats) std::remove(f.c_str());
  auto outcomes = run_children({{cocosim_, "run", file, "--check", "step", "--check-full-every", "5", "--stats", stats[0]},
                                {cocosim_, "run", file, "--check", "end", "--stats", stats[1]}},
                               timeout_s_);
  runs_ += 2;
  using K = RunOutcome::Kind;
  for (int i = 0; i < 2; ++i) {
    RunOutcome& o = outcomes[i];
    o.simulated_ns = simulated_ns(stats[i]);
    if ((o.kind == K::Clean || o.kind == K::Violation) && o.simulated_ns > kSimulatedBudgetNs)
      o.kind = K::Runaway;
  }
  Judgement j;
  j.step = std::move(outcomes[0]);
  j.end = std::move(outcomes[1]);
  // The worse of the two first: a crash or a hang hides any verdict.
  for (K k : {K::Crash, K::Hang, K::Invalid, K::Failed}) {
    for (const RunOutcome* o : {&j.step, &j.end}) {
      if (o->kind == k && !j.failed) {
        j.failed = true;
        j.signature = o->describe() + (o == &j.step ? " (--check step)" : " (--check end)");
      }
    }
  }
  if (j.failed) return j;
  // A runaway run is still judged on its verdict first; then on running away.
  auto verdict = [](const RunOutcome& o) {
    return o.kind == K::Runaway && o.exit_code == 1 ? K::Violation : o.kind == K::Runaway ? K::Clean : o.kind;
  };
  // The incremental check after each step must name whatever the full
  // check (every 5 steps and at the end) finds.
  static const std::string kMiss = "the incremental checks missed ";
  if (const size_t at = j.step.output.find(kMiss); at != std::string::npos) {
    j.failed = true;
    j.signature = "incremental check missed " + j.step.output.substr(at + kMiss.size(), j.step.output.find(' ', at + kMiss.size()) - at - kMiss.size());
    return j;
  }
  if (verdict(j.step) != verdict(j.end)) {
    j.failed = true;
    j.signature = std::string("mismatch step=") + kind_name(verdict(j.step)) + " end=" + kind_name(verdict(j.end));
  } else if (verdict(j.step) == K::Violation) {
    j.failed = true;
    j.signature = "violation " + j.step.rule;
  } else if (j.step.kind == K::Runaway || j.end.kind == K::Runaway) {
    j.failed = true;
    j.signature = "runaway";
  }
  return j;
}

GeneratedScenario Oracle::minimize(GeneratedScenario s, const std::string& signature) {
  auto still_fails = [&](const GeneratedScenario& t) {
    const Judgement j = judge(t);
    return j.failed && j.signature == signature;
  };
  // ddmin over one list of lines: remove chunks, halving their size.
  auto reduce = [&](std::vector<std::string>& lines) {
    bool changed = false;
    for (size_t chunk = std::max<size_t>(lines.size() / 2, 1); chunk >= 1; chunk /= 2) {
      for (size_t at = 0; at < lines.size();) {
        std::vector<std::string> saved = lines;
        lines.erase(lines.begin() + at, lines.begin() + std::min(lines.size(), at + chunk));
        if (still_fails(s)) {
          changed = true;  // keep the removal; the same `at` now holds what followed
        } else {
          lines = std::move(saved);
          at += chunk;
        }
      }
      if (chunk == 1) break;
    }
    return changed;
  };
  for (bool changed = true; changed;) {
    changed = reduce(s.steps);
    for (auto& [name, ops] : s.programs) changed |= reduce(ops);
    // Programs no vCPU runs any more.
    for (size_t i = 0; i < s.programs.size();) {
      GeneratedScenario t = s;
      t.programs.erase(t.programs.begin() + i);
      if (still_fails(t)) {
        s = std::move(t);
        changed = true;
      } else {
        ++i;
      }
    }
  }
  return s;
}

}  // namespace cocosim::oracle
