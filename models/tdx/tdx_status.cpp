#include "tdx/tdx_status.h"

#include <cstdio>

namespace cocosim {

namespace {

struct Named {
  const char* name;
  uint64_t value;
};

#define COCOSIM_TDX_STATUS(n) {#n, tdx::n}
constexpr Named kStatuses[] = {
    COCOSIM_TDX_STATUS(TDX_SUCCESS),
    COCOSIM_TDX_STATUS(TDX_NON_RECOVERABLE_VCPU),
    COCOSIM_TDX_STATUS(TDX_NON_RECOVERABLE_TD),
    COCOSIM_TDX_STATUS(TDX_INTERRUPTED_RESUMABLE),
    COCOSIM_TDX_STATUS(TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE),
    COCOSIM_TDX_STATUS(TDX_OPERAND_INVALID),
    COCOSIM_TDX_STATUS(TDX_OPERAND_ADDR_RANGE_ERROR),
    COCOSIM_TDX_STATUS(TDX_OPERAND_BUSY),
    COCOSIM_TDX_STATUS(TDX_PREVIOUS_TLB_EPOCH_BUSY),
    COCOSIM_TDX_STATUS(TDX_PAGE_METADATA_INCORRECT),
    COCOSIM_TDX_STATUS(TDX_TD_ASSOCIATED_PAGES_EXIST),
    COCOSIM_TDX_STATUS(TDX_TD_FATAL),
    COCOSIM_TDX_STATUS(TDX_TDCS_NOT_ALLOCATED),
    COCOSIM_TDX_STATUS(TDX_LIFECYCLE_STATE_INCORRECT),
    COCOSIM_TDX_STATUS(TDX_OP_STATE_INCORRECT),
    COCOSIM_TDX_STATUS(TDX_NO_VCPUS),
    COCOSIM_TDX_STATUS(TDX_TDCX_NUM_INCORRECT),
    COCOSIM_TDX_STATUS(TDX_VCPU_STATE_INCORRECT),
    COCOSIM_TDX_STATUS(TDX_VCPU_ASSOCIATED),
    COCOSIM_TDX_STATUS(TDX_VCPU_NOT_ASSOCIATED),
    COCOSIM_TDX_STATUS(TDX_NO_VALID_VE_INFO),
    COCOSIM_TDX_STATUS(TDX_TD_KEYS_NOT_CONFIGURED),
    COCOSIM_TDX_STATUS(TDX_KEY_CONFIGURED),
    COCOSIM_TDX_STATUS(TDX_HKID_NOT_FREE),
    COCOSIM_TDX_STATUS(TDX_FLUSHVP_NOT_DONE),
    COCOSIM_TDX_STATUS(TDX_EPT_WALK_FAILED),
    COCOSIM_TDX_STATUS(TDX_EPT_ENTRY_NOT_PRESENT),
    COCOSIM_TDX_STATUS(TDX_GPA_RANGE_NOT_BLOCKED),
    COCOSIM_TDX_STATUS(TDX_GPA_RANGE_ALREADY_BLOCKED),
    COCOSIM_TDX_STATUS(TDX_TLB_TRACKING_NOT_DONE),
    COCOSIM_TDX_STATUS(TDX_EPT_INVALID_PROMOTE_CONDITIONS),
    COCOSIM_TDX_STATUS(TDX_PAGE_ALREADY_ACCEPTED),
    COCOSIM_TDX_STATUS(TDX_PAGE_SIZE_MISMATCH),
    COCOSIM_TDX_STATUS(TDX_EPT_ENTRY_STATE_INCORRECT),
    COCOSIM_TDX_STATUS(TDX_EPT_PAGE_NOT_FREE),
};
#undef COCOSIM_TDX_STATUS

constexpr Named kOperands[] = {
    {"RCX", tdx::OPERAND_ID_RCX},       {"RDX", tdx::OPERAND_ID_RDX},
    {"R8", tdx::OPERAND_ID_R8},         {"R9", tdx::OPERAND_ID_R9},
    {"SEPT_TREE", tdx::OPERAND_ID_SEPT_TREE}, {"TD_EPOCH", tdx::OPERAND_ID_TD_EPOCH},
};

}  // namespace

const char* tdx_status_name(uint64_t code) {
  for (const Named& s : kStatuses)
    if (s.value == code) return s.name;
  return nullptr;
}

std::optional<uint64_t> tdx_status_value(const std::string& name) {
  const size_t bar = name.find('|');
  const std::string code = name.substr(0, bar);
  uint64_t operand = 0;
  if (bar != std::string::npos) {
    auto o = tdx_operand_value(name.substr(bar + 1));
    if (!o) return std::nullopt;
    operand = *o;
  }
  for (const Named& s : kStatuses)
    if (code == s.name) return s.value | operand;
  return std::nullopt;
}

const char* tdx_operand_name(uint64_t operand) {
  for (const Named& o : kOperands)
    if (o.value == operand) return o.name;
  return nullptr;
}

std::optional<uint64_t> tdx_operand_value(const std::string& name) {
  for (const Named& o : kOperands)
    if (name == o.name) return o.value;
  return std::nullopt;
}

std::vector<std::string> tdx_status_names() {
  std::vector<std::string> v;
  for (const Named& s : kStatuses) v.emplace_back(s.name);
  return v;
}

std::string TdxStatus::name() const {
  const char* n = tdx_status_name(code());
  if (!n) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%016llx", (unsigned long long)value);
    return buf;
  }
  std::string s = n;
  if (operand()) {
    const char* o = tdx_operand_name(operand());
    if (o) {
      s += '|';
      s += o;
    } else {
      char buf[24];
      std::snprintf(buf, sizeof buf, "|0x%llx", (unsigned long long)operand());
      s += buf;
    }
  }
  return s;
}

}  // namespace cocosim
