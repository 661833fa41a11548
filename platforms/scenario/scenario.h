// A scenario file, loaded and fully validated before anything runs
// (docs/scenario-format.md is the contract; ../shared/spec is its source).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "kvm/vm_type.h"

namespace cocosim {

struct SourceLoc {
  int line = 0;  // 1-based
  int col = 0;   // 1-based
};

struct ScenarioError {
  std::string file;
  SourceLoc loc;
  std::string message;
  std::string str() const;  // FILE:LINE:COL: message
};

// One expected result field: `field: value`, or inside `not:`.
struct ExpectItem {
  std::string field;
  YAML::Node value;
  bool negate = false;
  SourceLoc loc;
};

struct Expect {
  bool present = false;  // an explicit `expect:` was written
  bool any = false;      // `expect: any`
  std::vector<ExpectItem> items;
  bool names(const std::string& field) const;
};

// The validated fields of a step or guest op, with typed accessors. Types were
// checked at load time, so accessors do not fail on a valid scenario.
class Args {
 public:
  Args() = default;
  explicit Args(YAML::Node m) : m_(std::move(m)) {}
  bool has(const std::string& k) const;
  uint64_t u64(const std::string& k, uint64_t dflt = 0) const;
  std::string str(const std::string& k, const std::string& dflt = "") const;
  bool boolean(const std::string& k, bool dflt = false) const;
  std::vector<std::string> list(const std::string& k) const;
  // A flag field: a list of names from `vocab`, or a raw number.
  uint64_t flags(const std::string& k, const std::map<std::string, uint64_t>& vocab) const;
  Args sub(const std::string& k) const;
  YAML::Node node(const std::string& k) const;
  SourceLoc loc(const std::string& k) const;

 private:
  YAML::Node m_;
};

struct GuestOp {
  std::string op;
  Args args;
  Expect expect;
  SourceLoc loc;
  std::string note;
  std::vector<GuestOp> body;  // for repeat
};

struct Step {
  int number = 0;  // 1-based
  int sub = 0;     // for a step inside KVM_RUN's `during:`, its 1-based place there
  std::string op;
  Args args;
  Expect expect;
  SourceLoc loc;
  std::string note;
  std::vector<Step> during;  // KVM_RUN: steps the VMM's other thread runs while the vCPU runs
  std::string label() const {
    return std::to_string(number) + (sub ? "." + std::to_string(sub) : "");
  }
};

struct Timing {
  double dram_ns = 50, mee_ns = 4, walk_level_ns = 2, tlb_hit_ns = 0.5, vm_exit_ns = 1000,
         seamcall_ns = 2000, hvc_ns = 800, tlb_shootdown_ns = 2000, ioctl_ns = 500,
         invept_ns = 200, tlbi_ns = 50;
};

struct PlatformConfig {
  Arch arch = Arch::X86Tdx;
  bool arch_from_file = false;
  unsigned cpus = 1;
  uint64_t dram = uint64_t{1} << 30;
  std::string encryption = "ci";
  unsigned gpaw = 48;
  uint64_t seed = 1;
  Timing timing;
  uint64_t quantum_ns = 1000;  // vCPU temporal-decoupling quantum
  bool thp = false;            // transparent huge pages for anonymous memory
  unsigned tlb_entries = 1024;      // platform.tlb.entries: 4 KiB TLB entries per vCPU
  unsigned tlb_huge_entries = 32;   // platform.tlb.huge_entries: 2 MiB TLB entries per vCPU
  unsigned ipa_bits = 48;           // platform.ipa_bits (arm64-pkvm): the stage-2 input size
};

struct Scenario {
  std::string file;
  std::string name;
  PlatformConfig platform;
  std::string vcd_path;
  std::string stats_path;
  std::map<std::string, std::vector<GuestOp>> programs;
  std::vector<Step> steps;
};

struct LoadResult {
  std::optional<Scenario> scenario;
  std::vector<ScenarioError> errors;
};

// Reads and validates FILE; `arch_override` is --arch.
LoadResult load_scenario(const std::string& file, const std::optional<Arch>& arch_override);
LoadResult load_scenario_text(const std::string& file, const std::string& text,
                              const std::optional<Arch>& arch_override);

}  // namespace cocosim
