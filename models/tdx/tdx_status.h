// The TDX module's completion status (RAX after SEAMCALL/TDCALL): the class
// and code in bits 63:32 (bit 63 error, bit 62 non-recoverable, bit 61 fatal
// TD), and for operand errors the ID of the offending operand in the low bits
// (Linux tdx_errno.h, TDX module tdx_error_codes_defs.h). Names are the
// module's, so a scenario can write `status: TDX_OPERAND_BUSY`.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cocosim {

namespace tdx {

// Status codes (bits 63:32 set, low bits 0).
constexpr uint64_t TDX_SUCCESS = 0;
constexpr uint64_t TDX_NON_RECOVERABLE_VCPU = 0x4000000100000000ull;
constexpr uint64_t TDX_NON_RECOVERABLE_TD = 0x6000000200000000ull;
constexpr uint64_t TDX_INTERRUPTED_RESUMABLE = 0x8000000300000000ull;
constexpr uint64_t TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE = 0x6000000500000000ull;
constexpr uint64_t TDX_OPERAND_INVALID = 0xC000010000000000ull;
constexpr uint64_t TDX_OPERAND_ADDR_RANGE_ERROR = 0xC000010100000000ull;
constexpr uint64_t TDX_OPERAND_BUSY = 0x8000020000000000ull;
constexpr uint64_t TDX_PREVIOUS_TLB_EPOCH_BUSY = 0x8000020100000000ull;
constexpr uint64_t TDX_PAGE_METADATA_INCORRECT = 0xC000030000000000ull;
constexpr uint64_t TDX_TD_ASSOCIATED_PAGES_EXIST = 0xC000040000000000ull;
constexpr uint64_t TDX_TD_FATAL = 0xE000060400000000ull;
constexpr uint64_t TDX_TDCS_NOT_ALLOCATED = 0xC000060600000000ull;
constexpr uint64_t TDX_LIFECYCLE_STATE_INCORRECT = 0xC000060700000000ull;
constexpr uint64_t TDX_OP_STATE_INCORRECT = 0xC000060800000000ull;
constexpr uint64_t TDX_NO_VCPUS = 0xC000060900000000ull;
constexpr uint64_t TDX_TDCX_NUM_INCORRECT = 0xC000061000000000ull;
constexpr uint64_t TDX_VCPU_STATE_INCORRECT = 0xC000070000000000ull;
constexpr uint64_t TDX_VCPU_ASSOCIATED = 0x8000070100000000ull;
constexpr uint64_t TDX_VCPU_NOT_ASSOCIATED = 0x8000070200000000ull;
constexpr uint64_t TDX_NO_VALID_VE_INFO = 0xC000070400000000ull;
constexpr uint64_t TDX_TD_KEYS_NOT_CONFIGURED = 0x8000081000000000ull;
constexpr uint64_t TDX_KEY_CONFIGURED = 0x0000081500000000ull;
constexpr uint64_t TDX_HKID_NOT_FREE = 0xC000082000000000ull;
constexpr uint64_t TDX_FLUSHVP_NOT_DONE = 0x8000082400000000ull;
constexpr uint64_t TDX_EPT_WALK_FAILED = 0xC0000B0000000000ull;
constexpr uint64_t TDX_EPT_ENTRY_NOT_PRESENT = 0xC0000B0300000000ull;
constexpr uint64_t TDX_GPA_RANGE_NOT_BLOCKED = 0xC0000B0600000000ull;
constexpr uint64_t TDX_GPA_RANGE_ALREADY_BLOCKED = 0x00000B0700000000ull;
constexpr uint64_t TDX_TLB_TRACKING_NOT_DONE = 0xC0000B0800000000ull;
constexpr uint64_t TDX_EPT_INVALID_PROMOTE_CONDITIONS = 0xC0000B0900000000ull;
constexpr uint64_t TDX_PAGE_ALREADY_ACCEPTED = 0x00000B0A00000000ull;
constexpr uint64_t TDX_PAGE_SIZE_MISMATCH = 0xC0000B0B00000000ull;
constexpr uint64_t TDX_EPT_ENTRY_STATE_INCORRECT = 0xC0000B0D00000000ull;
constexpr uint64_t TDX_EPT_PAGE_NOT_FREE = 0xC0000B0E00000000ull;

// Operand IDs, added to a status in its low bits.
constexpr uint64_t OPERAND_ID_RCX = 1;
constexpr uint64_t OPERAND_ID_RDX = 2;
constexpr uint64_t OPERAND_ID_R8 = 8;
constexpr uint64_t OPERAND_ID_R9 = 9;
constexpr uint64_t OPERAND_ID_SEPT_TREE = 0x92;
constexpr uint64_t OPERAND_ID_TD_EPOCH = 0xA9;

// TDG.VP.VMCALL status codes in R10 (the VMM's answer, GHCI).
constexpr uint64_t TDVMCALL_STATUS_SUCCESS = 0;
constexpr uint64_t TDVMCALL_STATUS_RETRY = 1;
constexpr uint64_t TDVMCALL_STATUS_INVALID_OPERAND = 0x8000000000000000ull;
constexpr uint64_t TDVMCALL_STATUS_ALIGN_ERROR = 0x8000000000000002ull;
constexpr uint64_t TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED = 0x8000000000000003ull;

constexpr uint64_t kStatusMask = 0xFFFFFFFF00000000ull;

}  // namespace tdx

// A status value with the helpers to read it.
struct TdxStatus {
  uint64_t value = tdx::TDX_SUCCESS;

  TdxStatus() = default;
  constexpr TdxStatus(uint64_t v) : value(v) {}  // NOLINT: statuses are numbers
  static TdxStatus with_operand(uint64_t code, uint64_t operand) { return {code | operand}; }

  uint64_t code() const { return value & tdx::kStatusMask; }
  uint64_t operand() const { return value & ~tdx::kStatusMask; }
  bool ok() const { return value == tdx::TDX_SUCCESS; }
  bool error() const { return (value >> 63) != 0; }
  bool operator==(TdxStatus o) const { return value == o.value; }
  bool operator!=(TdxStatus o) const { return value != o.value; }

  // "TDX_OPERAND_INVALID|RCX", "TDX_SUCCESS", or hex for a value without a name.
  std::string name() const;
};

// Name <-> code, both ways, for every status above (codes without operand).
const char* tdx_status_name(uint64_t code);  // nullptr when unknown
// tdx_status_value also reads "NAME|OPERAND" (e.g. "TDX_OPERAND_BUSY|RCX").
std::optional<uint64_t> tdx_status_value(const std::string& name);
// The operand names: "RCX", "RDX", "R8", "R9", "SEPT_TREE", "TD_EPOCH".
const char* tdx_operand_name(uint64_t operand);
std::optional<uint64_t> tdx_operand_value(const std::string& name);
// Every known status name, in table order (for messages and tests).
std::vector<std::string> tdx_status_names();

}  // namespace cocosim
