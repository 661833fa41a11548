// A scenario file, loaded and fully validated before anything runs
// (docs/scenario-format.md is the contract).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cpu/elf_image.h"
#include "kvm/vm_type.h"
#include "scenario/diagnostics.h"
#include "scenario/platform_config.h"
#include "scenario/yaml_tree.h"

namespace cocosim {

// An expected value as written: one scalar, or a list of scalars (a flag set,
// `args`, or a set of exits).
struct ExpectValue {
  bool list = false;
  std::vector<std::string> items;
  std::string text() const;  // "EINVAL", "[PRIVATE, 0x4]"
};

// One expected result field: `field: value`, or inside `not:`.
struct ExpectItem {
  std::string field;
  ExpectValue value;
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
// checked at load time, so accessors do not fail on a valid scenario. Fields
// stay in the document they were read from (shared, never copied per step).
class Args {
 public:
  Args() = default;
  Args(std::shared_ptr<const YamlTree> doc, YNode m) : doc_(std::move(doc)), m_(m) {}
  bool has(const std::string& k) const;
  uint64_t u64(const std::string& k, uint64_t dflt = 0) const;
  std::string str(const std::string& k, const std::string& dflt = "") const;
  bool boolean(const std::string& k, bool dflt = false) const;
  std::vector<std::string> list(const std::string& k) const;
  // A flag field: a list of names from `vocab`, one name, or a raw number.
  uint64_t flags(const std::string& k, const std::map<std::string, uint64_t>& vocab) const;
  Args sub(const std::string& k) const;
  YNode node(const std::string& k) const;
  SourceLoc loc(const std::string& k) const;

 private:
  std::shared_ptr<const YamlTree> doc_;
  YNode m_;
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

// A program that is real guest code: an ELF image and the symbol it starts at.
struct ElfProgram {
  std::string path;   // as resolved (relative to the scenario file)
  std::string entry;  // the symbol
  uint64_t entry_addr = 0;
  uint64_t ucall_mmio = 0;  // arm64: the GPA whose store is a ucall (0: none)
  std::shared_ptr<const ElfImage> image;
};

struct Scenario {
  std::string file;
  std::string name;
  PlatformConfig platform;
  std::string vcd_path;
  std::string stats_path;
  std::map<std::string, std::vector<GuestOp>> programs;
  std::map<std::string, ElfProgram> elf_programs;  // programs of real guest code
  std::vector<Step> steps;
  std::shared_ptr<const YamlTree> doc;  // what the steps' Args read from
};

struct LoadResult {
  std::optional<Scenario> scenario;
  std::vector<ScenarioError> errors;
};

// What the command line adds to a file: --arch and each --set KEY=VALUE.
struct LoadOptions {
  std::optional<Arch> arch;
  std::vector<std::string> sets;
};

// Reads and validates FILE; `arch_override` is --arch.
LoadResult load_scenario(const std::string& file, const LoadOptions& options);
LoadResult load_scenario(const std::string& file, const std::optional<Arch>& arch_override);
LoadResult load_scenario_text(const std::string& file, const std::string& text, const LoadOptions& options);
LoadResult load_scenario_text(const std::string& file, const std::string& text,
                              const std::optional<Arch>& arch_override);

}  // namespace cocosim
