// The TDX module (SEAM) as plain C++: the SEAMCALLs a host VMM makes, the
// TDCALLs a TD's vCPU makes, and what a TD's access to a private GPA finds.
// It keeps each TD's control state (lifecycle, OP state, TLB epochs, MRTD),
// PAMT (models/ownership/pamt.h), and each TD's Secure EPT in simulated
// memory (SecureEpt, written through a MemoryPort with the TD's HKID).
//
// Every call checks its operands in the module's order and returns the
// module's status (TdxStatus) with the operand ID; a refused call changes
// nothing. Leaves take their register operands (RCX, RDX, R8, R9) and return
// the status and out-registers; seamcall()/tdcall() dispatch by leaf number.
//
// The model is sequential: a SEAMCALL runs to completion, so locks are never
// found held except where a vCPU is inside the TD (between TDH.VP.ENTER and
// its exit), which is explicit here: vp_enter() enters, and the exit happens
// when a TDCALL, a fault or td_exit() leaves the TD.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/memory_port.h"
#include "common/types.h"
#include "ownership/pamt.h"
#include "tdx/secure_ept.h"
#include "tdx/td_measurement.h"
#include "tdx/tdx_status.h"

namespace cocosim {

class Architecture;
class KeyIdSpace;

// SEAMCALL leaf numbers (RAX), TDX module tdx_api_defs.h = Linux virt/vmx/tdx/tdx.h.
enum class SeamcallLeaf : uint64_t {
  VP_ENTER = 0,
  MNG_ADDCX = 1,
  MEM_PAGE_ADD = 2,
  MEM_SEPT_ADD = 3,
  VP_ADDCX = 4,
  MEM_PAGE_AUG = 6,
  MEM_RANGE_BLOCK = 7,
  MNG_KEY_CONFIG = 8,
  MNG_CREATE = 9,
  VP_CREATE = 10,
  MEM_PAGE_DEMOTE = 15,
  MR_EXTEND = 16,
  MR_FINALIZE = 17,
  VP_FLUSH = 18,
  MNG_VPFLUSHDONE = 19,
  MNG_KEY_FREEID = 20,
  MNG_INIT = 21,
  VP_INIT = 22,
  MEM_PAGE_PROMOTE = 23,
  MEM_SEPT_RD = 25,
  PHYMEM_PAGE_RECLAIM = 28,
  MEM_PAGE_REMOVE = 29,
  MEM_SEPT_REMOVE = 30,
  MEM_TRACK = 38,
  MEM_RANGE_UNBLOCK = 39,
  PHYMEM_PAGE_WBINVD = 41,
};
const char* seamcall_leaf_name(uint64_t leaf);  // "TDH.MEM.PAGE.ADD", nullptr if not modelled
std::optional<uint64_t> seamcall_leaf_number(const std::string& name);
std::vector<uint64_t> seamcall_leaves();

// TDCALL leaf numbers (RAX in the TD).
enum class TdcallLeaf : uint64_t { VP_VMCALL = 0, VP_VEINFO_GET = 3, MR_REPORT = 4, MEM_PAGE_ACCEPT = 6 };
const char* tdcall_leaf_name(uint64_t leaf);

enum class TdLifecycle : uint8_t { HkidAssigned = 0, KeysConfigured = 1, Blocked = 2, Teardown = 3 };
enum class TdOpState : uint8_t { Uninitialized, Initialized, Runnable };
const char* lifecycle_name(TdLifecycle l);  // "TD_HKID_ASSIGNED", ...
const char* op_state_name(TdOpState s);     // "OP_UNINITIALIZED", ...

struct SeamcallArgs {
  uint64_t rcx = 0, rdx = 0, r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0;
};

struct SeamcallResult {
  TdxStatus status;
  uint64_t rcx = 0, rdx = 0, r8 = 0;  // out-registers (SEPT entry and level on SEPT errors)
  bool flush_tlb = false;             // VP.ENTER: the entry executed INVEPT for this TD
};

// Why a TD's vCPU left the TD for the host VMM.
struct TdExit {
  enum class Kind { EptViolation, PendingEptViolation, TdVmcall, MachineCheck, Async };
  Kind kind = Kind::Async;
  TdxStatus status;  // what TDH.VP.ENTER returns for it
  Addr gpa = 0;      // EPT violations: the GPA (R8)
  uint64_t eeq = 0;  // extended exit qualification type (RDX): 1 ACCEPT, 6 PENDING_EPT_VIOLATION
  int level = 0;     // ACCEPT: the level it asked for
  SeamcallArgs vmcall;  // TDVMCALL: R10..R13 as the TD set them
};
const char* td_exit_kind_name(TdExit::Kind k);

struct TdcallResult {
  TdxStatus status;
  uint64_t rcx = 0, rdx = 0, r8 = 0, r9 = 0, r10 = 0;
  std::optional<TdExit> exit;         // the TDCALL left the TD (the vCPU is out)
  std::array<uint8_t, 48> mrtd{};     // TDG.MR.REPORT
};

// What a TD access to a private GPA finds in the Secure EPT.
struct PrivateAccess {
  enum class Kind { Mapped, VirtualizationException, Exit };
  Kind kind = Kind::Exit;
  Addr hpa = 0;        // Mapped: the 4 KiB frame holding the GPA
  uint64_t size = 0;   // Mapped: the leaf's size (4 KiB or 2 MiB)
  unsigned hkid = 0;   // Mapped: the KeyID the access uses
  std::optional<TdExit> exit;
};

struct TdxModuleConfig {
  unsigned pa_bits = 46;     // physical address bits below the KeyID bits
  unsigned keyid_bits = 6;
  unsigned global_keyid = 16;  // the module's own; TD HKIDs are above it
  unsigned num_keyids = 64;
  unsigned tdcs_pages = 4;   // TDH.MNG.ADDCX pages per TD; the last holds the SEPT root
  unsigned tdvpx_pages = 5;  // TDH.VP.ADDCX pages per vCPU
  // From the platform: X86Arch's PA and KeyID bits, KeyIdSpace's partition.
  static TdxModuleConfig for_platform(const Architecture& arch, const KeyIdSpace& keys);
};

// TD_PARAMS fields the module reads at TDH.MNG.INIT (offsets as Linux's struct td_params;
// CONFIG_FLAGS bit 0 is TDX_CONFIG_FLAGS_MAX_GPAW).
struct TdParams {
  static constexpr size_t kSize = 1024;
  static constexpr size_t kAttributesOff = 0, kEptpControlsOff = 24, kConfigFlagsOff = 32;
  static constexpr uint64_t kAttrSeptVeDisable = 1ull << 28;
  static constexpr uint64_t kConfigFlagGpaw = 1ull << 0;  // GPAW 52
  uint64_t attributes = 0;
  // EPT memory type in bits 2:0 (WB = 6, as KVM's setup_tdparams_eptp_controls
  // writes it), page-walk length - 1 in bits 5:3 (3: 4-level, 4: 5-level).
  static constexpr uint64_t kEptpMtWb = 6;
  uint64_t eptp_controls = kEptpMtWb | 3ull << 3;
  uint64_t config_flags = 0;
  static TdParams for_gpaw(unsigned gpaw, uint64_t attributes = 0);
  void write(MemoryPort& mem, Addr pa) const;
};

class TdxModule {
 public:
  using Digest = TdMeasurement::Digest;

  TdxModule(MemoryPort& mem, Pamt& pamt, const TdxModuleConfig& cfg);
  ~TdxModule();

  // PCONFIG for TDH.MNG.KEY.CONFIG (the memory encryption engine's program_key).
  void set_key_programmer(std::function<void(unsigned hkid)> f) { program_key_ = std::move(f); }

  // ---- SEAMCALLs ----
  SeamcallResult seamcall(uint64_t leaf, const SeamcallArgs& a);
  SeamcallResult mng_create(uint64_t tdr, uint64_t hkid);
  SeamcallResult mng_key_config(uint64_t tdr);
  SeamcallResult mng_addcx(uint64_t page, uint64_t tdr);
  SeamcallResult mng_init(uint64_t tdr, uint64_t td_params);
  SeamcallResult vp_create(uint64_t tdvpr, uint64_t tdr);
  SeamcallResult vp_addcx(uint64_t page, uint64_t tdvpr);
  SeamcallResult vp_init(uint64_t tdvpr, uint64_t initial_rcx);
  SeamcallResult vp_enter(uint64_t tdvpr);
  SeamcallResult vp_flush(uint64_t tdvpr);
  SeamcallResult mng_vpflushdone(uint64_t tdr);
  SeamcallResult mem_sept_add(uint64_t gpa_level, uint64_t tdr, uint64_t page);
  SeamcallResult mem_page_add(uint64_t gpa_level, uint64_t tdr, uint64_t page, uint64_t source);
  SeamcallResult mr_extend(uint64_t gpa, uint64_t tdr);
  SeamcallResult mr_finalize(uint64_t tdr);
  SeamcallResult mem_page_aug(uint64_t gpa_level, uint64_t tdr, uint64_t page);
  SeamcallResult mem_range_block(uint64_t gpa_level, uint64_t tdr);
  SeamcallResult mem_range_unblock(uint64_t gpa_level, uint64_t tdr);
  SeamcallResult mem_track(uint64_t tdr);
  SeamcallResult mem_page_remove(uint64_t gpa_level, uint64_t tdr);
  SeamcallResult mem_sept_remove(uint64_t gpa_level, uint64_t tdr);
  SeamcallResult mem_page_demote(uint64_t gpa_level, uint64_t tdr, uint64_t page);
  SeamcallResult mem_page_promote(uint64_t gpa_level, uint64_t tdr);
  SeamcallResult mem_sept_rd(uint64_t gpa_level, uint64_t tdr);
  SeamcallResult phymem_page_reclaim(uint64_t page);
  SeamcallResult phymem_page_wbinvd(uint64_t keyed_page);
  SeamcallResult mng_key_freeid(uint64_t tdr);

  // ---- TDCALLs, from the vCPU `tdvpr` while it is inside its TD ----
  TdcallResult tdcall(Addr tdvpr, uint64_t leaf, const SeamcallArgs& a);
  TdcallResult tdg_mem_page_accept(Addr tdvpr, uint64_t gpa_level);
  // Exits to the VMM with R10..R13 (MapGPA: R11 = 0x10001, R12 = GPA, R13 = size).
  TdcallResult tdg_vp_vmcall(Addr tdvpr, const SeamcallArgs& a);
  TdcallResult tdg_vp_veinfo_get(Addr tdvpr);
  TdcallResult tdg_mr_report(Addr tdvpr);

  // ---- the TD running ----
  // What the vCPU's access to a private GPA finds: the frame (MAPPED), a #VE
  // (PENDING, unless SEPT_VE_DISABLE), or an exit to the VMM.
  PrivateAccess td_access(Addr tdvpr, Addr gpa, bool write);
  // An asynchronous exit (interrupt, HLT, ...): the exit bookkeeping.
  TdExit td_exit(Addr tdvpr);
  // A machine check consumed in the TD (poison, MAC failure): the TD is fatal.
  TdExit machine_check(Addr tdvpr);

  // ---- observers (change nothing) ----
  struct TdView {
    Addr tdr = 0;
    unsigned hkid = 0;
    TdLifecycle lifecycle = TdLifecycle::HkidAssigned;
    TdOpState op = TdOpState::Uninitialized;
    uint64_t td_epoch = 0;
    std::array<uint64_t, 2> refcount{};
    uint64_t child_pages = 0;  // CHLDCNT: 4 KiB frames the TD owns besides its TDR
    unsigned vcpus = 0;
    bool fatal = false;
    bool sept_ve_disable = false;
    unsigned gpaw = 0;
    Addr sept_root = 0;  // 0 before TDH.MNG.INIT
    int sept_levels = 0;
    bool finalized = false;
    Digest mrtd{};
  };
  std::vector<Addr> tds() const;
  std::optional<TdView> td(Addr tdr) const;
  std::optional<Addr> td_of_vcpu(Addr tdvpr) const;
  bool in_td(Addr tdvpr) const;
  // The TD's Secure EPT, for a vCPU MMU's walk of private GPAs (nullptr before MNG.INIT).
  SecureEpt* sept(Addr tdr);
  // The module's decision "tracked" for a BEPOCH of this TD.
  bool is_tlb_tracked(Addr tdr, uint64_t bepoch) const;
  // Every TD and vCPU field, one line each (a refused call must leave it unchanged).
  std::string describe_state() const;
  const TdxModuleConfig& config() const { return cfg_; }
  Addr keyed(Addr pa, unsigned keyid) const { return pa | (Addr(keyid) << cfg_.pa_bits); }

 private:
  struct Td;
  struct Vcpu;
  struct Gpa {
    Addr gpa = 0;
    int level = 0;
  };

  TdxStatus check_hpa(uint64_t reg, uint64_t operand, Addr& pa) const;
  TdxStatus find_td(uint64_t reg, uint64_t operand, Td*& td) const;
  TdxStatus find_vcpu(uint64_t reg, uint64_t operand, Vcpu*& v, Td*& td) const;
  TdxStatus check_gpa(const Td& td, uint64_t reg, int min_level, int max_level, Gpa& g) const;
  TdxStatus free_page(uint64_t reg, uint64_t operand, PageSize s, Addr& pa) const;
  static TdxStatus keys_configured(const Td& td);
  TdxStatus memory_leaf_td(uint64_t tdr, Td*& td) const;
  SeamcallResult sept_error(TdxStatus st, const SecureEpt::Walk& w) const;
  static bool running(const Td& td);
  bool tracked(const Td& td, Addr pamt_pa) const;
  void exit_td(Vcpu& v);
  TdExit make_exit(Vcpu& v, TdExit e);
  Td* td_of(const Vcpu& v) const;

  MemoryPort& mem_;
  Pamt& pamt_;
  TdxModuleConfig cfg_;
  std::function<void(unsigned)> program_key_;
  std::vector<bool> hkid_in_use_;  // the module's key ownership table
  std::map<Addr, std::unique_ptr<Td>> tds_;
  std::map<Addr, std::unique_ptr<Vcpu>> vcpus_;
};

}  // namespace cocosim
