#include "cpu/isa_executor.h"
#include "scenario/schema.h"

#include <algorithm>

namespace cocosim {

const char* name_kind_str(NameKind k) {
  switch (k) {
    case NameKind::Vm: return "VM";
    case NameKind::Gmem: return "guest_memfd";
    case NameKind::FdAny: return "file descriptor";
    case NameKind::Map: return "mapping";
    case NameKind::Process: return "process";
    case NameKind::Program: return "program";
  }
  return "?";
}

namespace vocab {
const Vocab kGmemFlags = {{"MMAP", 1ull << 0}, {"INIT_SHARED", 1ull << 1}, {"HUGETLB", 1ull << 2}, {"HUGE_2MB", 21ull << 26}};
const Vocab kMemslotFlags = {
    {"LOG_DIRTY_PAGES", 1ull << 0}, {"READONLY", 1ull << 1}, {"GUEST_MEMFD", 1ull << 2}};
const Vocab kAttributes = {{"PRIVATE", 1ull << 3}};
const Vocab kContentModes = {{"ZERO", 1ull << 0}, {"PRESERVE", 1ull << 1}};
const Vocab kMmapFlags = {{"SHARED", 0x01}, {"PRIVATE", 0x02}};
const Vocab kFallocModes = {{"KEEP_SIZE", 0x01}, {"PUNCH_HOLE", 0x02}};
// DEBUG (bit 0) can be asked for; KVM refuses it (EINVAL), as Linux does.
const Vocab kTdxVmAttrs = {{"DEBUG", 1ull << 0}, {"SEPT_VE_DISABLE", 1ull << 28}};
const Vocab kTdxMemFlags = {{"MEASURE_MEMORY_REGION", 1ull << 0}};
const Vocab kMemoryFaultFlags = {{"PRIVATE", 1ull << 3}};
}  // namespace vocab

const std::vector<std::string> kExitNames = {
    "KVM_EXIT_MEMORY_FAULT", "KVM_EXIT_HYPERCALL", "KVM_EXIT_MMIO",  "KVM_EXIT_INTERNAL_ERROR",
    "KVM_EXIT_SHUTDOWN",     "KVM_EXIT_FAIL_ENTRY", "UCALL_SYNC",    "UCALL_DONE",
    "UCALL_ABORT",           "KVM_EXIT_ARM_NISV"};

const FieldSpec* OpSpec::field(const std::string& n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

bool OpSpec::has_result(const std::string& r) const {
  for (const auto& x : results)
    if (x == r) return true;
  return false;
}

namespace {

FieldSpec I(const char* n, bool req = false) { return {n, Ty::Int, req}; }
FieldSpec S(const char* n, bool req = false) { return {n, Ty::Str, req}; }
FieldSpec B(const char* n) { return {n, Ty::Bool, false}; }
FieldSpec N(const char* n, NameKind k, bool req = false) { return {n, Ty::Name, req, k}; }
FieldSpec D(const char* n, NameKind k) { return {n, Ty::Def, true, k}; }
FieldSpec E(const char* n, std::vector<std::string> c, bool req = false) {
  return {n, Ty::Enum, req, NameKind::Vm, std::move(c)};
}
FieldSpec F(const char* n, const Vocab& v) { return {n, Ty::Flags, false, NameKind::Vm, {}, &v}; }
FieldSpec Byte(const char* n) { return {n, Ty::Int, false, NameKind::Vm, {}, nullptr, 255}; }
// Pins are kept page by page: 1 GiB at most per step.
FieldSpec PinLength() { return {"length", Ty::Int, false, NameKind::Vm, {}, nullptr, 1ull << 30}; }
// Loads keep what they read (as hex in the results): 64 MiB at most.
FieldSpec LoadLength() { return {"length", Ty::Int, false, NameKind::Vm, {}, nullptr, 64ull << 20}; }

// Frame forms of scenario-format §3.2.
std::vector<FieldSpec> frame_fields() {
  return {I("hpa"), I("pfn"), N("fd", NameKind::Gmem), N("map", NameKind::Map), I("offset")};
}
std::vector<FieldSpec> cat(std::vector<FieldSpec> a, const std::vector<FieldSpec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}


// KVM_RUN's results: the exit's fields, and for real guest code its
// instruction count and registers (x86-64 and AArch64 names).
// inspect's results; with {vm, vcpu} also a real guest's registers.
std::vector<std::string> inspect_results() {
  std::vector<std::string> r = {"errno", "attribute", "gmem", "hpa", "owner", "pamt", "pamt_size", "sept",
                                "host_state", "hyp_state", "guest_state", "host_mapped", "refcount", "td_bit",
                                "poisoned", "mrtd", "hkid", "slot", "stage2", "stage2_size", "vm_state",
                                "vcpu_state", "instructions", "isa_stop", "guest_op"};
  for (IsaArch a : {IsaArch::X86_64, IsaArch::Arm64})
    for (const std::string& n : IsaExecutor::register_names(a))
      if (std::find(r.begin(), r.end(), n) == r.end()) r.push_back(n);
  return r;
}

std::vector<std::string> kvm_run_results() {
  std::vector<std::string> r = {"errno", "exit",    "gpa", "size",     "flags",    "nr",   "args",
                                "tag",   "message", "is_write", "data",     "syndrome", "hpfar", "instructions",
                                "esr_iss", "fault_ipa"};
  for (IsaArch a : {IsaArch::X86_64, IsaArch::Arm64})
    for (const std::string& n : IsaExecutor::register_names(a)) r.push_back(n);
  return r;
}

std::vector<OpSpec> make_steps() {
  const std::vector<std::string> kErr = {"errno"};
  const std::vector<std::string> kErrMsg = {"errno", "message"};
  return {
      {"KVM_CREATE_VM", {D("name", NameKind::Vm), E("type", {"default", "sw_protected", "tdx", "pkvm"})}, kErr},
      {"KVM_CREATE_VCPU", {N("vm", NameKind::Vm, true), I("id"), N("program", NameKind::Program, true)}, kErrMsg},
      {"KVM_CREATE_GUEST_MEMFD",
       {N("vm", NameKind::Vm, true), D("name", NameKind::Gmem), I("size", true), F("flags", vocab::kGmemFlags)},
       kErr},
      {"KVM_SET_USER_MEMORY_REGION",
       {N("vm", NameKind::Vm, true), I("slot", true), F("flags", vocab::kMemslotFlags),
        I("guest_phys_addr", true), I("memory_size", true), N("userspace_addr", NameKind::Map)},
       kErr},
      {"KVM_SET_USER_MEMORY_REGION2",
       {N("vm", NameKind::Vm, true), I("slot", true), F("flags", vocab::kMemslotFlags),
        I("guest_phys_addr", true), I("memory_size", true), N("userspace_addr", NameKind::Map),
        N("guest_memfd", NameKind::FdAny), I("guest_memfd_offset")},
       kErr},
      {"KVM_SET_MEMORY_ATTRIBUTES",
       {N("vm", NameKind::Vm, true), I("address", true), I("size", true),
        F("attributes", vocab::kAttributes), I("flags")},
       kErr},
      {"KVM_SET_MEMORY_ATTRIBUTES2",
       {N("fd", NameKind::FdAny, true), I("offset", true), I("size", true),
        F("attributes", vocab::kAttributes), F("flags", vocab::kContentModes)},
       {"errno", "error_offset"}},
      // KVM_ENABLE_CAP on the VM fd (the caps KVM's vm ioctl knows here).
      {"KVM_ENABLE_CAP", {N("vm", NameKind::Vm, true), E("cap", {"KVM_CAP_ARM_NISV_TO_USER"}, true), I("flags")},
       kErr},
      {"KVM_RUN",
       {N("vm", NameKind::Vm, true), I("vcpu"), {"auto", Ty::ExitList}, I("hypercall_ret"),
        I("mmio_data"), {"during", Ty::Steps}, {"after", Ty::Time}},
       kvm_run_results()},
      {"KVM_TDX_INIT_VM", {N("vm", NameKind::Vm, true), F("attributes", vocab::kTdxVmAttrs)}, kErrMsg},
      {"KVM_TDX_INIT_VCPU", {N("vm", NameKind::Vm, true), I("vcpu"), I("rcx")}, kErrMsg},
      {"KVM_TDX_INIT_MEM_REGION",
       {N("vm", NameKind::Vm, true), I("gpa", true), I("nr_pages", true), {"source", Ty::Source},
        F("flags", vocab::kTdxMemFlags)},
       kErrMsg},
      {"KVM_TDX_FINALIZE_VM", {N("vm", NameKind::Vm, true)}, kErrMsg},
      {"mmap",
       {N("fd", NameKind::FdAny), B("anonymous"), D("name", NameKind::Map), I("offset"),
        I("length", true), F("flags", vocab::kMmapFlags)},
       kErr},
      {"munmap", {N("map", NameKind::Map, true)}, kErr},
      {"read", {N("fd", NameKind::FdAny, true), I("offset"), I("size")}, {"errno", "bytes"}},
      {"write", {N("fd", NameKind::FdAny, true), I("offset"), I("size"), S("data")}, kErr},
      {"fallocate",
       {N("fd", NameKind::FdAny, true), F("mode", vocab::kFallocModes), I("offset"), I("len", true)},
       kErr},
      {"ftruncate", {N("fd", NameKind::FdAny, true), I("size", true)}, kErr},
      {"fstat", {N("fd", NameKind::FdAny, true)}, {"errno", "st_size", "st_blksize"}},
      {"close", {N("fd", NameKind::FdAny), N("vm", NameKind::Vm), I("vcpu")}, kErr},
      {"fork", {D("name", NameKind::Process)}, kErr},
      {"load",
       {N("map", NameKind::Map, true), I("offset"), I("size"), LoadLength(), N("process", NameKind::Process)},
       {"signal", "value", "all", "bytes"}},
      {"store",
       {N("map", NameKind::Map, true), I("offset"), I("value"), I("size"), S("data"),
        N("process", NameKind::Process)},
       {"signal"}},
      {"memset",
       {N("map", NameKind::Map, true), I("offset"), I("length", true), Byte("byte"),
        N("process", NameKind::Process)},
       {"signal"}},
      {"load_elf",
       {N("program", NameKind::Program, true), N("map", NameKind::Map, true), I("gpa", true),
        N("process", NameKind::Process)},
       {"signal"}},
      {"pin", {N("map", NameKind::Map, true), I("offset"), PinLength()}, kErr},
      {"unpin", {N("map", NameKind::Map, true), I("offset"), PinLength()}, kErr},
      {"host_kernel", cat({E("op", {"load", "store"}, true), I("value"), I("size")}, frame_fields()),
       {"value", "fault"}},
      {"seamcall",
       cat({S("leaf", true), N("vm", NameKind::Vm), I("vcpu"), I("gpa"), E("level", {"4K", "2M"}),
            {"source", Ty::Source}, I("hkid"), I("rcx"), I("rdx"), I("r8"), I("r9")},
           frame_fields()),
       {"status", "rcx", "rdx", "r8", "message", "errno", "fault"}},
      {"hvc",
       cat({S("call", true), N("vm", NameKind::Vm), I("gfn"), I("nr_pages"), S("prot")}, frame_fields()),
       {"errno", "message"}},
      {"dram_read", cat({LoadLength()}, frame_fields()), {"bytes", "all", "fault"}},
      {"inspect",
       {N("vm", NameKind::Vm), I("gpa"), I("vcpu"), N("fd", NameKind::Gmem), I("offset"), I("hpa"), I("pfn")},
       inspect_results()},
  };
}

std::vector<OpSpec> make_guest_ops() {
  const std::vector<std::string> kFault = {"fault"};
  return {
      {"load", {I("gpa", true), I("size"), LoadLength(), B("shared")}, {"value", "all", "bytes", "fault"}},
      {"store", {I("gpa", true), I("value"), I("size"), B("shared")}, kFault},
      {"memset", {I("gpa", true), I("length", true), Byte("byte"), B("shared")}, kFault},
      {"sweep",
       {I("gpa", true), I("length", true), E("op", {"load", "store"}), I("size"), I("stride"),
        I("count"), B("shared")},
       kFault},
      {"share", {I("gpa", true), I("size")}, {"ret", "fault"}},
      {"unshare", {I("gpa", true), I("size")}, {"ret", "fault"}},
      {"tdcall", {S("leaf", true), I("gpa"), E("level", {"4K", "2M"})},
       {"status", "mrtd", "fault", "gpa", "exit_reason", "qualification"}},
      {"tdvmcall", {S("leaf", true), I("gpa"), I("size"), B("shared")}, {"status", "fault", "next"}},
      {"hvc", {S("call", true), I("ipa")}, {"ret", "fault"}},
      {"sync", {S("tag")}, {}},
      {"repeat", {I("count", true), {"body", Ty::Ops, true}}, {}},
  };
}

}  // namespace

const ResultLimit* result_limit(const std::string& field) {
  static const ResultLimit kLimits[] = {
      {"pamt", Arch::X86Tdx, "", ""},
      {"pamt_size", Arch::X86Tdx, "", ""},
      {"sept", Arch::X86Tdx, "", ""},
      {"td_bit", Arch::X86Tdx, "", ""},
      {"poisoned", Arch::X86Tdx, "", ""},
      {"mrtd", Arch::X86Tdx, "", ""},
      {"hkid", Arch::X86Tdx, "", ""},
      {"host_state", Arch::Arm64Pkvm, "", ""},
      {"hyp_state", Arch::Arm64Pkvm, "", ""},
      {"guest_state", Arch::Arm64Pkvm, "", ""},
      {"hpfar", Arch::Arm64Pkvm, "", "an x86-tdx exit gives the faulting address in 'gpa'"},
      {"esr_iss", Arch::Arm64Pkvm, "", "KVM_EXIT_ARM_NISV is an arm64 exit"},
      {"fault_ipa", Arch::Arm64Pkvm, "", "KVM_EXIT_ARM_NISV is an arm64 exit"},
  };
  for (const auto& l : kLimits)
    if (field == l.field) return &l;
  return nullptr;
}

const OpArch* op_arch(const std::string& op) {
  static const OpArch kOps[] = {
      {"hvc", Arch::Arm64Pkvm, "an HVC to pKVM at EL2"},
      {"seamcall", Arch::X86Tdx, "a SEAMCALL to the TDX module"},
      {"KVM_TDX_INIT_VM", Arch::X86Tdx, "a KVM_MEMORY_ENCRYPT_OP for a TD"},
      {"KVM_TDX_INIT_VCPU", Arch::X86Tdx, "a KVM_MEMORY_ENCRYPT_OP for a TD"},
      {"KVM_TDX_INIT_MEM_REGION", Arch::X86Tdx, "a KVM_MEMORY_ENCRYPT_OP for a TD"},
      {"KVM_TDX_FINALIZE_VM", Arch::X86Tdx, "a KVM_MEMORY_ENCRYPT_OP for a TD"},
      {"tdcall", Arch::X86Tdx, "a TD's TDCALL to the TDX module"},
      {"tdvmcall", Arch::X86Tdx, "a TD's TDG.VP.VMCALL to the host"},
  };
  for (const auto& o : kOps)
    if (op == o.op) return &o;
  return nullptr;
}

const std::vector<OpSpec>& step_specs() {
  static const std::vector<OpSpec> specs = make_steps();
  return specs;
}

const std::vector<OpSpec>& guest_specs() {
  static const std::vector<OpSpec> specs = make_guest_ops();
  return specs;
}

const OpSpec* step_spec(const std::string& op) {
  for (const auto& s : step_specs())
    if (s.name == op) return &s;
  return nullptr;
}

const OpSpec* guest_spec(const std::string& op) {
  for (const auto& s : guest_specs())
    if (s.name == op) return &s;
  return nullptr;
}

}  // namespace cocosim
