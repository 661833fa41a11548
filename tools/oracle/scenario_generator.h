// Random valid scenarios for the adversarial oracle: every step and guest op
// carries `expect: any`, so only the invariant checker and crashes decide.
//
// A scenario is kept as lines (one flow mapping per step or guest op) so that
// the minimizer can drop any of them and re-render the file.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace cocosim::oracle {

struct GeneratedScenario {
  uint64_t seed = 0;
  std::string arch;  // x86-tdx | arm64-pkvm
  bool thp = false;
  // Program name and its ops, each one flow mapping (`{store: {...}}`).
  std::vector<std::pair<std::string, std::vector<std::string>>> programs;
  std::vector<std::string> steps;  // each one flow mapping (`{KVM_RUN: {...}}`)
  std::string yaml() const;
};

class GenState;

// One kind of step the generator can emit. `make` returns an empty string when
// the kind cannot be made now (e.g. KVM_RUN before any vCPU). A new kind
// (TDX, pKVM steps as they land) is one more row in step_kinds().
struct StepKind {
  const char* name;
  unsigned weight;
  std::vector<std::string> arches;  // empty: every arch
  std::function<std::string(GenState&)> make;
};

const std::vector<StepKind>& step_kinds();

// The scenario of one seed on one arch: the same seed and arch always give
// the same file.
GeneratedScenario generate_scenario(uint64_t seed, const std::string& arch);

}  // namespace cocosim::oracle
