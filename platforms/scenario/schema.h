// What each operation of the scenario format accepts and returns: the single
// table that the validator, the runner and `cocosim ops` read.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kvm/vm_type.h"

namespace cocosim {

enum class Ty {
  Int,       // integer expression
  Str,       // any scalar
  Bool,
  Name,      // refers to a name made earlier (kind says which)
  Def,       // makes a name
  Enum,      // one of `choices`
  Flags,     // list of names from `vocab`, or a raw integer
  ExitList,  // list of KVM exit names
  Source,    // {map: NAME, offset: N} or {hpa: N}
  Ops,       // list of guest ops
  Steps,     // list of steps (KVM_RUN's during:)
  Time,      // a time: 50, 50ns, 1.5us
};

enum class NameKind { Vm, Gmem, FdAny, Map, Process, Program };
const char* name_kind_str(NameKind k);

using Vocab = std::map<std::string, uint64_t>;

struct FieldSpec {
  std::string name;
  Ty ty;
  bool required = false;
  NameKind kind = NameKind::Vm;
  std::vector<std::string> choices;
  const Vocab* vocab = nullptr;
  uint64_t max = ~uint64_t{0};  // largest value an Int field accepts
};

struct OpSpec {
  std::string name;
  std::vector<FieldSpec> fields;
  std::vector<std::string> results;
  // Empty when implemented; otherwise why it is refused at validation.
  std::string unavailable;
  const FieldSpec* field(const std::string& n) const;
  bool has_result(const std::string& r) const;
};

namespace vocab {
extern const Vocab kGmemFlags;      // MMAP, INIT_SHARED, HUGETLB, HUGE_2MB
extern const Vocab kMemslotFlags;   // LOG_DIRTY_PAGES, READONLY, GUEST_MEMFD
extern const Vocab kAttributes;     // PRIVATE
extern const Vocab kContentModes;   // ZERO, PRESERVE
extern const Vocab kMmapFlags;      // SHARED, PRIVATE
extern const Vocab kFallocModes;    // KEEP_SIZE, PUNCH_HOLE
extern const Vocab kTdxVmAttrs;     // SEPT_VE_DISABLE
extern const Vocab kTdxMemFlags;    // MEASURE_MEMORY_REGION
extern const Vocab kMemoryFaultFlags;  // PRIVATE (KVM_MEMORY_EXIT_FLAG_PRIVATE), in KVM_RUN's `flags`
}  // namespace vocab

extern const std::vector<std::string> kExitNames;  // KVM_EXIT_* / UCALL_* values of `exit`

// A result field that only one architecture produces, or that needs a model
// not built yet (then `not_built` says so); `instead` points elsewhere.
struct ResultLimit {
  const char* field;
  Arch arch;
  const char* not_built;  // "" once built
  const char* instead;    // "" or a hint for the other arch
};
const ResultLimit* result_limit(const std::string& field);

// An operation (a step or a guest op) that only one architecture has: refused
// at validation on the other, naming what it is.
struct OpArch {
  const char* op;
  Arch arch;
  const char* what;
};
const OpArch* op_arch(const std::string& op);

const OpSpec* step_spec(const std::string& op);
const OpSpec* guest_spec(const std::string& op);
const std::vector<OpSpec>& step_specs();
const std::vector<OpSpec>& guest_specs();

}  // namespace cocosim
