#include "tdx/tdx_module.h"

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "common/trace.h"
#include "arch/architecture.h"
#include "mee/key_ids.h"

namespace cocosim {

using namespace tdx;

namespace {

struct LeafName {
  uint64_t leaf;
  const char* name;
};
constexpr LeafName kSeamcalls[] = {
    {0, "TDH.VP.ENTER"},          {1, "TDH.MNG.ADDCX"},         {2, "TDH.MEM.PAGE.ADD"},
    {3, "TDH.MEM.SEPT.ADD"},      {4, "TDH.VP.ADDCX"},          {6, "TDH.MEM.PAGE.AUG"},
    {7, "TDH.MEM.RANGE.BLOCK"},   {8, "TDH.MNG.KEY.CONFIG"},    {9, "TDH.MNG.CREATE"},
    {10, "TDH.VP.CREATE"},        {15, "TDH.MEM.PAGE.DEMOTE"},  {16, "TDH.MR.EXTEND"},
    {17, "TDH.MR.FINALIZE"},      {18, "TDH.VP.FLUSH"},         {19, "TDH.MNG.VPFLUSHDONE"},
    {20, "TDH.MNG.KEY.FREEID"},   {21, "TDH.MNG.INIT"},         {22, "TDH.VP.INIT"},
    {23, "TDH.MEM.PAGE.PROMOTE"}, {25, "TDH.MEM.SEPT.RD"},      {28, "TDH.PHYMEM.PAGE.RECLAIM"},
    {29, "TDH.MEM.PAGE.REMOVE"},  {30, "TDH.MEM.SEPT.REMOVE"},  {38, "TDH.MEM.TRACK"},
    {39, "TDH.MEM.RANGE.UNBLOCK"}, {41, "TDH.PHYMEM.PAGE.WBINVD"},
};

constexpr uint64_t kEeqAccept = 1;               // EPT violation caused by TDG.MEM.PAGE.ACCEPT
constexpr uint64_t kEeqPendingEptViolation = 6;  // access to a PENDING page with SEPT_VE_DISABLE
constexpr uint64_t kExitReasonEptViolation = 48;
constexpr uint64_t kGpaLevelReserved = 0xff8;  // bits 11:3 of a GPA-and-level operand

uint64_t level_info(int level, SeptState s) { return uint64_t(level) | uint64_t(sept_public_state(s)) << 8; }

SeptState unblocked(SeptState s) {
  switch (s) {
    case SeptState::Blocked: return SeptState::Mapped;
    case SeptState::PendingBlocked: return SeptState::Pending;
    case SeptState::NlBlocked: return SeptState::NlMapped;
    default: return s;
  }
}

}  // namespace

const char* seamcall_leaf_name(uint64_t leaf) {
  for (const LeafName& l : kSeamcalls)
    if (l.leaf == leaf) return l.name;
  return nullptr;
}

std::optional<uint64_t> seamcall_leaf_number(const std::string& name) {
  for (const LeafName& l : kSeamcalls)
    if (name == l.name) return l.leaf;
  return std::nullopt;
}

std::vector<uint64_t> seamcall_leaves() {
  std::vector<uint64_t> v;
  for (const LeafName& l : kSeamcalls) v.push_back(l.leaf);
  return v;
}

const char* tdcall_leaf_name(uint64_t leaf) {
  switch (leaf) {
    case 0: return "TDG.VP.VMCALL";
    case 3: return "TDG.VP.VEINFO.GET";
    case 4: return "TDG.MR.REPORT";
    case 6: return "TDG.MEM.PAGE.ACCEPT";
  }
  return nullptr;
}

const char* lifecycle_name(TdLifecycle l) {
  switch (l) {
    case TdLifecycle::HkidAssigned: return "TD_HKID_ASSIGNED";
    case TdLifecycle::KeysConfigured: return "TD_KEYS_CONFIGURED";
    case TdLifecycle::Blocked: return "TD_BLOCKED";
    case TdLifecycle::Teardown: return "TD_TEARDOWN";
  }
  return "?";
}

const char* op_state_name(TdOpState s) {
  switch (s) {
    case TdOpState::Uninitialized: return "OP_UNINITIALIZED";
    case TdOpState::Initialized: return "OP_INITIALIZED";
    case TdOpState::Runnable: return "OP_RUNNABLE";
  }
  return "?";
}

const char* td_exit_kind_name(TdExit::Kind k) {
  switch (k) {
    case TdExit::Kind::EptViolation: return "EPT violation";
    case TdExit::Kind::PendingEptViolation: return "EPT violation on a PENDING page";
    case TdExit::Kind::TdVmcall: return "TDG.VP.VMCALL";
    case TdExit::Kind::MachineCheck: return "machine check";
    case TdExit::Kind::Async: return "asynchronous exit";
  }
  return "?";
}

TdxModuleConfig TdxModuleConfig::for_platform(const Architecture& arch, const KeyIdSpace& keys) {
  TdxModuleConfig c;
  c.pa_bits = arch.pa_bits();
  c.keyid_bits = arch.keyid_bits();
  c.global_keyid = keys.global_keyid();
  c.num_keyids = keys.total();
  return c;
}

TdParams TdParams::for_gpaw(unsigned gpaw, uint64_t attributes) {
  TdParams p;
  p.attributes = attributes;
  p.eptp_controls = kEptpMtWb | uint64_t(gpaw == 52 ? 4 : 3) << 3;
  p.config_flags = gpaw == 52 ? kConfigFlagGpaw : 0;
  return p;
}

void TdParams::write(MemoryPort& mem, Addr pa) const {
  mem.fill(pa, 0, kSize);
  mem.write64(pa + kAttributesOff, attributes);
  mem.write64(pa + kEptpControlsOff, eptp_controls);
  mem.write64(pa + kConfigFlagsOff, config_flags);
}

// ---- state ----

struct TdxModule::Td {
  Addr tdr = 0;
  unsigned hkid = 0;
  TdLifecycle lifecycle = TdLifecycle::HkidAssigned;
  TdOpState op = TdOpState::Uninitialized;
  std::vector<Addr> tdcx;
  uint64_t child_pages = 0;
  uint64_t attributes = 0;
  unsigned gpaw = 48;
  uint64_t td_epoch = 1;
  std::array<uint64_t, 2> refcount{};
  unsigned vcpus = 0;
  bool fatal = false;
  std::unique_ptr<SecureEpt> sept;
  TdMeasurement mr;

  bool sept_ve_disable() const { return (attributes & TdParams::kAttrSeptVeDisable) != 0; }
  Addr shared_bit() const { return Addr{1} << (gpaw - 1); }
};

struct TdxModule::Vcpu {
  Addr tdvpr = 0;
  Addr tdr = 0;
  std::vector<Addr> tdvpx;
  bool initialized = false;
  bool associated = false;
  bool in_td = false;
  uint64_t vcpu_epoch = 0;
  uint64_t initial_rcx = 0;
  // #VE information (TDG.VP.VEINFO.GET): valid until read.
  bool ve_valid = false;
  uint64_t ve_exit_reason = 0, ve_qualification = 0, ve_gpa = 0;
};

TdxModule::TdxModule(MemoryPort& mem, Pamt& pamt, const TdxModuleConfig& cfg)
    : mem_(mem), pamt_(pamt), cfg_(cfg), hkid_in_use_(cfg.num_keyids, false) {
  if (cfg.tdcs_pages == 0) throw std::invalid_argument("TDX module: a TD needs at least one TDCS page");
}

TdxModule::~TdxModule() = default;

// ---- operand checks ----

TdxStatus TdxModule::check_hpa(uint64_t reg, uint64_t operand, Addr& pa) const {
  // A 4 KiB aligned HPA with no KeyID bits, inside TDX memory.
  if (!page_aligned(reg) || reg >> cfg_.pa_bits) return TdxStatus::with_operand(TDX_OPERAND_INVALID, operand);
  if (!pamt_.covers(reg)) return TdxStatus::with_operand(TDX_OPERAND_ADDR_RANGE_ERROR, operand);
  pa = reg;
  return TDX_SUCCESS;
}

TdxStatus TdxModule::find_td(uint64_t reg, uint64_t operand, Td*& td) const {
  Addr pa = 0;
  TdxStatus st = check_hpa(reg, operand, pa);
  if (!st.ok()) return st;
  auto it = tds_.find(pa);
  if (pamt_.get(pa).pt != PageType::TDR || it == tds_.end())
    return TdxStatus::with_operand(TDX_PAGE_METADATA_INCORRECT, operand);
  td = it->second.get();
  return TDX_SUCCESS;
}

TdxStatus TdxModule::find_vcpu(uint64_t reg, uint64_t operand, Vcpu*& v, Td*& td) const {
  Addr pa = 0;
  TdxStatus st = check_hpa(reg, operand, pa);
  if (!st.ok()) return st;
  auto it = vcpus_.find(pa);
  if (pamt_.get(pa).pt != PageType::TDVPR || it == vcpus_.end())
    return TdxStatus::with_operand(TDX_PAGE_METADATA_INCORRECT, operand);
  v = it->second.get();
  td = td_of(*v);
  return TDX_SUCCESS;
}

TdxModule::Td* TdxModule::td_of(const Vcpu& v) const { return tds_.at(v.tdr).get(); }

TdxStatus TdxModule::keys_configured(const Td& td) {
  if (td.lifecycle == TdLifecycle::HkidAssigned) return TDX_TD_KEYS_NOT_CONFIGURED;
  if (td.lifecycle != TdLifecycle::KeysConfigured) return TDX_LIFECYCLE_STATE_INCORRECT;
  return TDX_SUCCESS;
}

// The memory leaves' common prologue, in the module's order: the TDR operand
// (RDX), the life-cycle state, then an OP state past UNINITIALIZED.
TdxStatus TdxModule::memory_leaf_td(uint64_t tdr, Td*& td) const {
  TdxStatus st = find_td(tdr, OPERAND_ID_RDX, td);
  if (!st.ok()) return st;
  if (!(st = keys_configured(*td)).ok()) return st;
  if (td->op == TdOpState::Uninitialized) return TDX_OP_STATE_INCORRECT;
  return TDX_SUCCESS;
}

TdxStatus TdxModule::check_gpa(const Td& td, uint64_t reg, int min_level, int max_level, Gpa& g) const {
  const int level = int(reg & 7);
  const Addr gpa = reg & ~kPageMask;
  if ((reg & kGpaLevelReserved) || level < min_level || level > max_level ||
      (gpa & (SecureEpt::level_size(level) - 1)) || gpa >> td.gpaw || (gpa & td.shared_bit()))
    return TdxStatus::with_operand(TDX_OPERAND_INVALID, OPERAND_ID_RCX);
  g = {gpa, level};
  return TDX_SUCCESS;
}

TdxStatus TdxModule::free_page(uint64_t reg, uint64_t operand, PageSize s, Addr& pa) const {
  TdxStatus st = check_hpa(reg, operand, pa);
  if (!st.ok()) return st;
  if (s == PageSize::k2M && (pa & (kHugePageSize - 1)))
    return TdxStatus::with_operand(TDX_OPERAND_INVALID, operand);
  if (!pamt_.covers(pa, page_size_bytes(s)))
    return TdxStatus::with_operand(TDX_OPERAND_ADDR_RANGE_ERROR, operand);
  if (!pamt_.free(pa, s)) return TdxStatus::with_operand(TDX_PAGE_METADATA_INCORRECT, operand);
  return TDX_SUCCESS;
}

SeamcallResult TdxModule::sept_error(TdxStatus st, const SecureEpt::Walk& w) const {
  SeamcallResult r;
  r.status = st;
  r.rcx = w.entry.raw;
  r.rdx = level_info(w.at_level, w.entry.state());
  return r;
}

bool TdxModule::running(const Td& td) { return td.op == TdOpState::Runnable; }

bool TdxModule::tracked(const Td& td, Addr pamt_pa) const {
  if (!running(td)) return true;  // enforced only while the TD can run
  return is_tlb_tracked(td.tdr, pamt_.get(pamt_pa).bepoch);
}

bool TdxModule::is_tlb_tracked(Addr tdr, uint64_t bepoch) const {
  auto it = tds_.find(tdr);
  if (it == tds_.end()) return false;
  const Td& td = *it->second;
  if (bepoch + 1 < td.td_epoch) return true;
  return bepoch + 1 == td.td_epoch && td.refcount[bepoch & 1] == 0;
}

// ---- TD management ----

SeamcallResult TdxModule::seamcall(uint64_t leaf, const SeamcallArgs& a) {
  switch (SeamcallLeaf(leaf)) {
    case SeamcallLeaf::VP_ENTER: return vp_enter(a.rcx);
    case SeamcallLeaf::MNG_ADDCX: return mng_addcx(a.rcx, a.rdx);
    case SeamcallLeaf::MEM_PAGE_ADD: return mem_page_add(a.rcx, a.rdx, a.r8, a.r9);
    case SeamcallLeaf::MEM_SEPT_ADD: return mem_sept_add(a.rcx, a.rdx, a.r8);
    case SeamcallLeaf::VP_ADDCX: return vp_addcx(a.rcx, a.rdx);
    case SeamcallLeaf::MEM_PAGE_AUG: return mem_page_aug(a.rcx, a.rdx, a.r8);
    case SeamcallLeaf::MEM_RANGE_BLOCK: return mem_range_block(a.rcx, a.rdx);
    case SeamcallLeaf::MNG_KEY_CONFIG: return mng_key_config(a.rcx);
    case SeamcallLeaf::MNG_CREATE: return mng_create(a.rcx, a.rdx);
    case SeamcallLeaf::VP_CREATE: return vp_create(a.rcx, a.rdx);
    case SeamcallLeaf::MEM_PAGE_DEMOTE: return mem_page_demote(a.rcx, a.rdx, a.r8);
    case SeamcallLeaf::MR_EXTEND: return mr_extend(a.rcx, a.rdx);
    case SeamcallLeaf::MR_FINALIZE: return mr_finalize(a.rcx);
    case SeamcallLeaf::VP_FLUSH: return vp_flush(a.rcx);
    case SeamcallLeaf::MNG_VPFLUSHDONE: return mng_vpflushdone(a.rcx);
    case SeamcallLeaf::MNG_KEY_FREEID: return mng_key_freeid(a.rcx);
    case SeamcallLeaf::MNG_INIT: return mng_init(a.rcx, a.rdx);
    case SeamcallLeaf::VP_INIT: return vp_init(a.rcx, a.rdx);
    case SeamcallLeaf::MEM_PAGE_PROMOTE: return mem_page_promote(a.rcx, a.rdx);
    case SeamcallLeaf::MEM_SEPT_RD: return mem_sept_rd(a.rcx, a.rdx);
    case SeamcallLeaf::PHYMEM_PAGE_RECLAIM: return phymem_page_reclaim(a.rcx);
    case SeamcallLeaf::MEM_PAGE_REMOVE: return mem_page_remove(a.rcx, a.rdx);
    case SeamcallLeaf::MEM_SEPT_REMOVE: return mem_sept_remove(a.rcx, a.rdx);
    case SeamcallLeaf::MEM_TRACK: return mem_track(a.rcx);
    case SeamcallLeaf::MEM_RANGE_UNBLOCK: return mem_range_unblock(a.rcx, a.rdx);
    case SeamcallLeaf::PHYMEM_PAGE_WBINVD: return phymem_page_wbinvd(a.rcx);
  }
  // A leaf the module does not implement (or this model does not model).
  return {TDX_OPERAND_INVALID};
}

SeamcallResult TdxModule::mng_create(uint64_t tdr, uint64_t hkid) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MNG_CREATE), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MNG_CREATE))));
  Addr pa = 0;
  TdxStatus st = free_page(tdr, OPERAND_ID_RCX, PageSize::k4K, pa);
  if (!st.ok()) return {st};
  if (hkid <= cfg_.global_keyid || hkid >= cfg_.num_keyids)
    return {TdxStatus::with_operand(TDX_OPERAND_INVALID, OPERAND_ID_RDX)};
  if (hkid_in_use_[hkid]) return {TdxStatus::with_operand(TDX_HKID_NOT_FREE, OPERAND_ID_RDX)};
  auto td = std::make_unique<Td>();
  td->tdr = pa;
  td->hkid = unsigned(hkid);
  pamt_.assign(pa, PageSize::k4K, PageType::TDR, pfn_of(pa));
  hkid_in_use_[hkid] = true;
  tds_[pa] = std::move(td);
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mng_key_config(uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MNG_KEY_CONFIG), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MNG_KEY_CONFIG))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RCX, td);
  if (!st.ok()) return {st};
  if (td->lifecycle == TdLifecycle::KeysConfigured) return {TDX_KEY_CONFIGURED};
  if (td->lifecycle != TdLifecycle::HkidAssigned) return {TDX_LIFECYCLE_STATE_INCORRECT};
  if (program_key_) program_key_(td->hkid);
  td->lifecycle = TdLifecycle::KeysConfigured;
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mng_addcx(uint64_t page, uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MNG_ADDCX), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MNG_ADDCX))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RDX, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (td->tdcx.size() >= cfg_.tdcs_pages) return {TdxStatus::with_operand(TDX_TDCX_NUM_INCORRECT, OPERAND_ID_RCX)};
  Addr pa = 0;
  if (!(st = free_page(page, OPERAND_ID_RCX, PageSize::k4K, pa)).ok()) return {st};
  pamt_.assign(pa, PageSize::k4K, PageType::TDCX, pfn_of(td->tdr));
  td->tdcx.push_back(pa);
  ++td->child_pages;
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mng_init(uint64_t tdr, uint64_t td_params) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MNG_INIT), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MNG_INIT))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RCX, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (td->tdcx.size() != cfg_.tdcs_pages) return {TDX_TDCS_NOT_ALLOCATED};
  if (td->op != TdOpState::Uninitialized) return {TDX_OP_STATE_INCORRECT};
  // TD_PARAMS: 1 KiB aligned, in memory the host may pass (a shared KeyID).
  if ((td_params & (TdParams::kSize - 1)) || (td_params >> cfg_.pa_bits) >= cfg_.global_keyid)
    return {TdxStatus::with_operand(TDX_OPERAND_INVALID, OPERAND_ID_RDX)};
  TdParams p;
  p.attributes = mem_.read64(td_params + TdParams::kAttributesOff);
  p.eptp_controls = mem_.read64(td_params + TdParams::kEptpControlsOff);
  p.config_flags = mem_.read64(td_params + TdParams::kConfigFlagsOff);
  // Only SEPT_VE_DISABLE among the attributes is modelled; others are refused,
  // as are EPT memory types other than WB.
  const unsigned gpaw = (p.config_flags & TdParams::kConfigFlagGpaw) ? 52 : 48;
  const uint64_t pwl = (p.eptp_controls >> 3) & 7;
  if ((p.attributes & ~TdParams::kAttrSeptVeDisable) || (p.config_flags & ~TdParams::kConfigFlagGpaw) ||
      (p.eptp_controls & ~(uint64_t{7} << 3)) != TdParams::kEptpMtWb || pwl != (gpaw == 52 ? 4u : 3u))
    return {TdxStatus::with_operand(TDX_OPERAND_INVALID, OPERAND_ID_RDX)};
  td->attributes = p.attributes;
  td->gpaw = gpaw;
  // The Secure EPT root lives in the TD's last TDCS page.
  td->sept = std::make_unique<SecureEpt>(mem_, cfg_.pa_bits, int(pwl) + 1, td->tdcx.back(), td->hkid);
  td->sept->init_page(td->sept->root());
  td->op = TdOpState::Initialized;
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::vp_create(uint64_t tdvpr, uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::VP_CREATE), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::VP_CREATE))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RDX, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (td->op != TdOpState::Initialized) return {TDX_OP_STATE_INCORRECT};
  Addr pa = 0;
  if (!(st = free_page(tdvpr, OPERAND_ID_RCX, PageSize::k4K, pa)).ok()) return {st};
  auto v = std::make_unique<Vcpu>();
  v->tdvpr = pa;
  v->tdr = td->tdr;
  pamt_.assign(pa, PageSize::k4K, PageType::TDVPR, pfn_of(td->tdr));
  vcpus_[pa] = std::move(v);
  ++td->child_pages;
  ++td->vcpus;
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::vp_addcx(uint64_t page, uint64_t tdvpr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::VP_ADDCX), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::VP_ADDCX))));
  Vcpu* v = nullptr;
  Td* td = nullptr;
  TdxStatus st = find_vcpu(tdvpr, OPERAND_ID_RDX, v, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (v->initialized) return {TDX_VCPU_STATE_INCORRECT};
  if (v->tdvpx.size() >= cfg_.tdvpx_pages) return {TdxStatus::with_operand(TDX_TDCX_NUM_INCORRECT, OPERAND_ID_RCX)};
  Addr pa = 0;
  if (!(st = free_page(page, OPERAND_ID_RCX, PageSize::k4K, pa)).ok()) return {st};
  pamt_.assign(pa, PageSize::k4K, PageType::TDCX, pfn_of(td->tdr));
  v->tdvpx.push_back(pa);
  ++td->child_pages;
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::vp_init(uint64_t tdvpr, uint64_t initial_rcx) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::VP_INIT), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::VP_INIT))));
  Vcpu* v = nullptr;
  Td* td = nullptr;
  TdxStatus st = find_vcpu(tdvpr, OPERAND_ID_RCX, v, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (td->op != TdOpState::Initialized) return {TDX_OP_STATE_INCORRECT};
  if (v->initialized || v->tdvpx.size() != cfg_.tdvpx_pages) return {TDX_VCPU_STATE_INCORRECT};
  v->initialized = true;
  v->associated = true;  // VP.INIT runs on an LP and associates the vCPU with it
  v->initial_rcx = initial_rcx;
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::vp_enter(uint64_t tdvpr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::VP_ENTER), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::VP_ENTER))));
  Vcpu* v = nullptr;
  Td* td = nullptr;
  TdxStatus st = find_vcpu(tdvpr, OPERAND_ID_RCX, v, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (td->op != TdOpState::Runnable) return {TDX_OP_STATE_INCORRECT};
  if (td->fatal) return {TDX_TD_FATAL};
  if (!v->initialized) return {TDX_VCPU_STATE_INCORRECT};
  if (v->in_td) return {TdxStatus::with_operand(TDX_OPERAND_BUSY, OPERAND_ID_RCX)};
  // TLB tracking: the vCPU counts in the current epoch until it exits; if the
  // TD's epoch moved since its last entry, its cached translations go.
  SeamcallResult r{TDX_SUCCESS};
  ++td->refcount[td->td_epoch & 1];
  r.flush_tlb = v->vcpu_epoch != td->td_epoch;
  v->vcpu_epoch = td->td_epoch;
  v->in_td = true;
  v->associated = true;
  return r;
}

void TdxModule::exit_td(Vcpu& v) {
  Td* td = td_of(v);
  --td->refcount[v.vcpu_epoch & 1];
  v.in_td = false;
}

TdExit TdxModule::make_exit(Vcpu& v, TdExit e) {
  exit_td(v);
  return e;
}

TdExit TdxModule::td_exit(Addr tdvpr) {
  auto it = vcpus_.find(tdvpr);
  if (it == vcpus_.end() || !it->second->in_td) throw std::logic_error("TDX module: exit of a vCPU not in its TD");
  TdExit e;
  e.kind = TdExit::Kind::Async;
  return make_exit(*it->second, e);
}

TdExit TdxModule::machine_check(Addr tdvpr) {
  auto it = vcpus_.find(tdvpr);
  if (it == vcpus_.end() || !it->second->in_td) throw std::logic_error("TDX module: #MC in a vCPU not in its TD");
  td_of(*it->second)->fatal = true;
  TdExit e;
  e.kind = TdExit::Kind::MachineCheck;
  e.status = TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE;
  return make_exit(*it->second, e);
}

SeamcallResult TdxModule::vp_flush(uint64_t tdvpr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::VP_FLUSH), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::VP_FLUSH))));
  Vcpu* v = nullptr;
  Td* td = nullptr;
  TdxStatus st = find_vcpu(tdvpr, OPERAND_ID_RCX, v, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (v->in_td) return {TdxStatus::with_operand(TDX_OPERAND_BUSY, OPERAND_ID_RCX)};
  if (!v->associated) return {TDX_VCPU_NOT_ASSOCIATED};
  v->associated = false;
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mng_vpflushdone(uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MNG_VPFLUSHDONE), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MNG_VPFLUSHDONE))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RCX, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  for (const auto& kv : vcpus_)
    if (kv.second->tdr == td->tdr && kv.second->associated) return {TDX_FLUSHVP_NOT_DONE};
  td->lifecycle = TdLifecycle::Blocked;
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mng_key_freeid(uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MNG_KEY_FREEID), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MNG_KEY_FREEID))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RCX, td);
  if (!st.ok()) return {st};
  if (td->lifecycle != TdLifecycle::Blocked) return {TDX_LIFECYCLE_STATE_INCORRECT};
  hkid_in_use_[td->hkid] = false;
  td->lifecycle = TdLifecycle::Teardown;
  return {TDX_SUCCESS};
}

// ---- building the TD's memory ----

SeamcallResult TdxModule::mem_sept_add(uint64_t gpa_level, uint64_t tdr, uint64_t page) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_SEPT_ADD), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_SEPT_ADD))));
  Td* td = nullptr;
  TdxStatus st = memory_leaf_td(tdr, td);
  if (!st.ok()) return {st};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 1, td->sept->root_level(), g)).ok()) return {st};
  Addr pa = 0;
  if (!(st = free_page(page, OPERAND_ID_R8, PageSize::k4K, pa)).ok()) return {st};
  SecureEpt::Walk w = td->sept->walk(g.gpa, g.level);
  if (!w.reached) return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  if (!w.entry.is_free()) return sept_error(TdxStatus::with_operand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX), w);
  pamt_.assign(pa, PageSize::k4K, PageType::EPT, pfn_of(td->tdr));
  ++td->child_pages;
  td->sept->init_page(pa);
  td->sept->write(w.table, w.idx, SeptEntry::make(SeptState::NlMapped, pa));
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mem_page_add(uint64_t gpa_level, uint64_t tdr, uint64_t page, uint64_t source) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_PAGE_ADD), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_PAGE_ADD))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RDX, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (td->op != TdOpState::Initialized) return {TDX_OP_STATE_INCORRECT};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 0, 0, g)).ok()) return {st};
  Addr pa = 0;
  if (!(st = free_page(page, OPERAND_ID_R8, PageSize::k4K, pa)).ok()) return {st};
  // The source: any page the host can read, with a shared KeyID.
  if (!page_aligned(source) || (source >> cfg_.pa_bits) >= cfg_.global_keyid)
    return {TdxStatus::with_operand(TDX_OPERAND_INVALID, OPERAND_ID_R9)};
  SecureEpt::Walk w = td->sept->walk(g.gpa, 0);
  if (!w.reached) return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  if (!w.entry.is_free()) return sept_error(TdxStatus::with_operand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX), w);
  // Copied under the TD's key (MOVDIR64B in the module), measured by GPA only.
  std::vector<uint8_t> buf(kPageSize);
  mem_.read(source, buf.data(), kPageSize);
  mem_.write(keyed(pa, td->hkid), buf.data(), kPageSize);
  pamt_.assign(pa, PageSize::k4K, PageType::REG, pfn_of(td->tdr));
  ++td->child_pages;
  td->sept->write(w.table, w.idx, SeptEntry::make(SeptState::Mapped, pa));
  td->mr.page_add(g.gpa);
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mr_extend(uint64_t gpa, uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MR_EXTEND), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MR_EXTEND))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RDX, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (td->op != TdOpState::Initialized) return {TDX_OP_STATE_INCORRECT};
  if ((gpa & (TdMeasurement::kExtendChunk - 1)) || gpa >> td->gpaw || (gpa & td->shared_bit()))
    return {TdxStatus::with_operand(TDX_OPERAND_INVALID, OPERAND_ID_RCX)};
  SecureEpt::Walk w = td->sept->walk(gpa, 0);
  if (!w.reached && !(w.entry.leaf() && sept_holds_page(w.entry.state())))
    return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  if (w.entry.state() != SeptState::Mapped)
    return sept_error(TdxStatus::with_operand(TDX_EPT_ENTRY_NOT_PRESENT, OPERAND_ID_RCX), w);
  const Addr hpa = w.entry.hpa() + (gpa & (SecureEpt::level_size(w.at_level) - 1));
  uint8_t chunk[TdMeasurement::kExtendChunk];
  mem_.read(keyed(hpa, td->hkid), chunk, sizeof chunk);
  td->mr.extend(gpa, chunk);
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mr_finalize(uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MR_FINALIZE), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MR_FINALIZE))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RCX, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (td->op != TdOpState::Initialized) return {TDX_OP_STATE_INCORRECT};
  if (td->vcpus == 0) return {TDX_NO_VCPUS};
  td->mr.finalize();
  td->op = TdOpState::Runnable;
  return {TDX_SUCCESS};
}

// ---- run-time memory ----

SeamcallResult TdxModule::mem_page_aug(uint64_t gpa_level, uint64_t tdr, uint64_t page) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_PAGE_AUG), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_PAGE_AUG))));
  Td* td = nullptr;
  TdxStatus st = memory_leaf_td(tdr, td);
  if (!st.ok()) return {st};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 0, 1, g)).ok()) return {st};
  const PageSize size = g.level ? PageSize::k2M : PageSize::k4K;
  Addr pa = 0;
  if (!(st = free_page(page, OPERAND_ID_R8, size, pa)).ok()) return {st};
  SecureEpt::Walk w = td->sept->walk(g.gpa, g.level);
  if (!w.reached) return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  const SeptState s = w.entry.state();
  if (s != SeptState::Free && s != SeptState::Removed)
    return sept_error(TdxStatus::with_operand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX), w);
  pamt_.assign(pa, size, PageType::REG, pfn_of(td->tdr));
  td->child_pages += page_size_bytes(size) / kPageSize;
  td->sept->write(w.table, w.idx, SeptEntry::make(SeptState::Pending, pa));
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mem_range_block(uint64_t gpa_level, uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_RANGE_BLOCK), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_RANGE_BLOCK))));
  Td* td = nullptr;
  TdxStatus st = memory_leaf_td(tdr, td);
  if (!st.ok()) return {st};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 0, td->sept->root_level() - 1, g)).ok()) return {st};
  SecureEpt::Walk w = td->sept->walk(g.gpa, g.level);
  if (!w.reached) return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  SeptState next;
  switch (w.entry.state()) {
    case SeptState::Mapped:
    case SeptState::BlockedW: next = SeptState::Blocked; break;
    case SeptState::Pending:
    case SeptState::PendingBlockedW: next = SeptState::PendingBlocked; break;
    case SeptState::NlMapped: next = SeptState::NlBlocked; break;
    case SeptState::Blocked:
    case SeptState::PendingBlocked:
    case SeptState::NlBlocked:
      return sept_error(TdxStatus::with_operand(TDX_GPA_RANGE_ALREADY_BLOCKED, OPERAND_ID_RCX), w);
    default: return sept_error(TdxStatus::with_operand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX), w);
  }
  // BEPOCH goes on the page the entry points to (a TD page or a SEPT page).
  pamt_.set_bepoch(w.entry.hpa(), td->td_epoch);
  td->sept->write(w.table, w.idx, SeptEntry::make(next, w.entry.hpa()));
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mem_range_unblock(uint64_t gpa_level, uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_RANGE_UNBLOCK), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_RANGE_UNBLOCK))));
  Td* td = nullptr;
  TdxStatus st = memory_leaf_td(tdr, td);
  if (!st.ok()) return {st};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 0, td->sept->root_level() - 1, g)).ok()) return {st};
  SecureEpt::Walk w = td->sept->walk(g.gpa, g.level);
  if (!w.reached) return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  if (!sept_blocked(w.entry.state()))
    return sept_error(TdxStatus::with_operand(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_ID_RCX), w);
  if (!tracked(*td, w.entry.hpa()))
    return sept_error(TdxStatus::with_operand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_ID_RCX), w);
  td->sept->write(w.table, w.idx, SeptEntry::make(unblocked(w.entry.state()), w.entry.hpa()));
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mem_track(uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_TRACK), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_TRACK))));
  Td* td = nullptr;
  TdxStatus st = find_td(tdr, OPERAND_ID_RCX, td);
  if (!st.ok()) return {st};
  if (!(st = keys_configured(*td)).ok()) return {st};
  if (td->op == TdOpState::Uninitialized) return {TDX_OP_STATE_INCORRECT};
  // vCPUs that entered in the previous epoch must all have exited.
  if (td->refcount[(td->td_epoch - 1) & 1] != 0) return {TDX_PREVIOUS_TLB_EPOCH_BUSY};
  ++td->td_epoch;
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mem_page_remove(uint64_t gpa_level, uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_PAGE_REMOVE), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_PAGE_REMOVE))));
  Td* td = nullptr;
  TdxStatus st = memory_leaf_td(tdr, td);
  if (!st.ok()) return {st};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 0, 1, g)).ok()) return {st};
  SecureEpt::Walk w = td->sept->walk(g.gpa, g.level);
  if (!w.reached) return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  const SeptState s = w.entry.state();
  if (!sept_holds_page(s))
    return sept_error(TdxStatus::with_operand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX), w);
  if (running(*td) && !sept_blocked(s))
    return sept_error(TdxStatus::with_operand(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_ID_RCX), w);
  if (!tracked(*td, w.entry.hpa()))
    return sept_error(TdxStatus::with_operand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_ID_RCX), w);
  const PageSize size = g.level ? PageSize::k2M : PageSize::k4K;
  pamt_.release(w.entry.hpa(), size);
  td->child_pages -= page_size_bytes(size) / kPageSize;
  td->sept->write(w.table, w.idx, SeptEntry::free_entry());
  SeamcallResult r{TDX_SUCCESS};
  r.rcx = w.entry.hpa();
  return r;
}

SeamcallResult TdxModule::mem_sept_remove(uint64_t gpa_level, uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_SEPT_REMOVE), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_SEPT_REMOVE))));
  Td* td = nullptr;
  TdxStatus st = memory_leaf_td(tdr, td);
  if (!st.ok()) return {st};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 1, td->sept->root_level(), g)).ok()) return {st};
  SecureEpt::Walk w = td->sept->walk(g.gpa, g.level);
  if (!w.reached) return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  const SeptState s = w.entry.state();
  if (!sept_non_leaf(s)) return sept_error(TdxStatus::with_operand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX), w);
  if (running(*td) && s != SeptState::NlBlocked)
    return sept_error(TdxStatus::with_operand(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_ID_RCX), w);
  if (!tracked(*td, w.entry.hpa()))
    return sept_error(TdxStatus::with_operand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_ID_RCX), w);
  SecureEpt::Page child;
  td->sept->read_page(w.entry.hpa(), child);
  for (uint64_t e : child)
    if (!SeptEntry{e}.is_free()) return sept_error(TdxStatus::with_operand(TDX_EPT_PAGE_NOT_FREE, OPERAND_ID_RCX), w);
  pamt_.release(w.entry.hpa(), PageSize::k4K);
  --td->child_pages;
  td->sept->write(w.table, w.idx, SeptEntry::free_entry());
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mem_page_demote(uint64_t gpa_level, uint64_t tdr, uint64_t page) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_PAGE_DEMOTE), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_PAGE_DEMOTE))));
  Td* td = nullptr;
  TdxStatus st = memory_leaf_td(tdr, td);
  if (!st.ok()) return {st};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 1, 1, g)).ok()) return {st};
  Addr pa = 0;
  if (!(st = free_page(page, OPERAND_ID_R8, PageSize::k4K, pa)).ok()) return {st};
  SecureEpt::Walk w = td->sept->walk(g.gpa, g.level);
  if (!w.reached) return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  const SeptState s = w.entry.state();
  if (s != SeptState::Mapped && s != SeptState::Pending && s != SeptState::Blocked && s != SeptState::PendingBlocked)
    return sept_error(TdxStatus::with_operand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX), w);
  if (running(*td) && !sept_blocked(s))
    return sept_error(TdxStatus::with_operand(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_ID_RCX), w);
  if (!tracked(*td, w.entry.hpa()))
    return sept_error(TdxStatus::with_operand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_ID_RCX), w);
  // 512 4 KiB leaves in the unblocked state, over the same frames.
  const SeptState child_state = unblocked(s);
  SecureEpt::Page child;
  for (unsigned i = 0; i < 512; ++i) child[i] = SeptEntry::make(child_state, w.entry.hpa() + i * kPageSize).raw;
  pamt_.demote(w.entry.hpa());
  pamt_.assign(pa, PageSize::k4K, PageType::EPT, pfn_of(td->tdr));
  ++td->child_pages;
  td->sept->write_page(pa, child);
  td->sept->write(w.table, w.idx, SeptEntry::make(SeptState::NlMapped, pa));
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mem_page_promote(uint64_t gpa_level, uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_PAGE_PROMOTE), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_PAGE_PROMOTE))));
  Td* td = nullptr;
  TdxStatus st = memory_leaf_td(tdr, td);
  if (!st.ok()) return {st};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 1, 1, g)).ok()) return {st};
  SecureEpt::Walk w = td->sept->walk(g.gpa, g.level);
  if (!w.reached) return sept_error(TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
  const SeptState s = w.entry.state();
  if (!sept_non_leaf(s)) return sept_error(TdxStatus::with_operand(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX), w);
  if (running(*td) && s != SeptState::NlBlocked)
    return sept_error(TdxStatus::with_operand(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_ID_RCX), w);
  if (!tracked(*td, w.entry.hpa()))
    return sept_error(TdxStatus::with_operand(TDX_TLB_TRACKING_NOT_DONE, OPERAND_ID_RCX), w);
  // Every child a leaf in the same state, over 512 contiguous frames of a 2 MiB aligned block.
  SecureEpt::Page child;
  td->sept->read_page(w.entry.hpa(), child);
  const SeptEntry first{child[0]};
  const SeptState cs = first.state();
  bool ok = (cs == SeptState::Mapped || cs == SeptState::Pending) && !(first.hpa() & (kHugePageSize - 1));
  for (unsigned i = 0; ok && i < 512; ++i) {
    const SeptEntry e{child[i]};
    ok = e.state() == cs && e.hpa() == first.hpa() + i * kPageSize;
  }
  if (!ok) return sept_error(TdxStatus::with_operand(TDX_EPT_INVALID_PROMOTE_CONDITIONS, OPERAND_ID_RCX), w);
  pamt_.release(w.entry.hpa(), PageSize::k4K);
  --td->child_pages;
  pamt_.promote(first.hpa());
  td->sept->write(w.table, w.idx, SeptEntry::make(cs, first.hpa()));
  return {TDX_SUCCESS};
}

SeamcallResult TdxModule::mem_sept_rd(uint64_t gpa_level, uint64_t tdr) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::MEM_SEPT_RD), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::MEM_SEPT_RD))));
  Td* td = nullptr;
  TdxStatus st = memory_leaf_td(tdr, td);
  if (!st.ok()) return {st};
  Gpa g;
  if (!(st = check_gpa(*td, gpa_level, 0, td->sept->root_level(), g)).ok()) return {st};
  SecureEpt::Walk w = td->sept->walk(g.gpa, g.level);
  return sept_error(w.reached ? TdxStatus{TDX_SUCCESS} : TdxStatus::with_operand(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), w);
}

// ---- physical pages ----

SeamcallResult TdxModule::phymem_page_reclaim(uint64_t page) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::PHYMEM_PAGE_RECLAIM), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::PHYMEM_PAGE_RECLAIM))));
  Addr pa = 0;
  TdxStatus st = check_hpa(page, OPERAND_ID_RCX, pa);
  if (!st.ok()) return {st};
  const PamtEntry e = pamt_.get(pa);
  if (e.pt == PageType::NDA || e.pt == PageType::RSVD)
    return {TdxStatus::with_operand(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RCX)};
  if (pa & (page_size_bytes(e.size) - 1)) return {TdxStatus::with_operand(TDX_OPERAND_INVALID, OPERAND_ID_RCX)};
  Td* td = tds_.at(e.owner << kPageShift).get();
  if (td->lifecycle != TdLifecycle::Teardown) return {TDX_LIFECYCLE_STATE_INCORRECT};
  if (e.pt == PageType::TDR && td->child_pages != 0) return {TDX_TD_ASSOCIATED_PAGES_EXIST};
  SeamcallResult r{TDX_SUCCESS};
  r.rcx = uint64_t(e.pt);
  r.rdx = e.owner << kPageShift;
  r.r8 = uint64_t(e.size);
  pamt_.release(pa, e.size);
  if (e.pt == PageType::TDR) {
    for (auto it = vcpus_.begin(); it != vcpus_.end();)
      it = it->second->tdr == pa ? vcpus_.erase(it) : std::next(it);
    tds_.erase(pa);
  } else {
    td->child_pages -= page_size_bytes(e.size) / kPageSize;
    if (e.pt == PageType::TDVPR) vcpus_.erase(pa);
  }
  return r;
}

SeamcallResult TdxModule::phymem_page_wbinvd(uint64_t keyed_page) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "leaf", uint64_t(SeamcallLeaf::PHYMEM_PAGE_WBINVD), 8, seamcall_leaf_name(uint64_t(SeamcallLeaf::PHYMEM_PAGE_WBINVD))));
  const unsigned keyid = unsigned(keyed_page >> cfg_.pa_bits);
  const Addr pa = keyed_page & ((Addr{1} << cfg_.pa_bits) - 1);
  Addr checked = 0;
  TdxStatus st = check_hpa(pa, OPERAND_ID_RCX, checked);
  if (!st.ok()) return {st};
  if (keyid < cfg_.global_keyid || keyid >= cfg_.num_keyids || keyed_page >> (cfg_.pa_bits + cfg_.keyid_bits))
    return {TdxStatus::with_operand(TDX_OPERAND_INVALID, OPERAND_ID_RCX)};
  if (pamt_.get(pa).pt != PageType::NDA) return {TdxStatus::with_operand(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RCX)};
  // No caches are modelled: the lines of the page are already in DRAM.
  return {TDX_SUCCESS};
}

// ---- TDCALLs ----

TdcallResult TdxModule::tdcall(Addr tdvpr, uint64_t leaf, const SeamcallArgs& a) {
  switch (TdcallLeaf(leaf)) {
    case TdcallLeaf::VP_VMCALL: return tdg_vp_vmcall(tdvpr, a);
    case TdcallLeaf::VP_VEINFO_GET: return tdg_vp_veinfo_get(tdvpr);
    case TdcallLeaf::MR_REPORT: return tdg_mr_report(tdvpr);
    case TdcallLeaf::MEM_PAGE_ACCEPT: return tdg_mem_page_accept(tdvpr, a.rcx);
  }
  TdcallResult r;
  r.status = TDX_OPERAND_INVALID;
  return r;
}

TdcallResult TdxModule::tdg_mem_page_accept(Addr tdvpr, uint64_t gpa_level) {
  TdcallResult r;
  auto it = vcpus_.find(tdvpr);
  if (it == vcpus_.end() || !it->second->in_td) {
    r.status = TDX_VCPU_STATE_INCORRECT;
    return r;
  }
  Vcpu& v = *it->second;
  Td& td = *td_of(v);
  Gpa g;
  if (!(r.status = check_gpa(td, gpa_level, 0, 1, g)).ok()) return r;
  SecureEpt::Walk w = td.sept->walk(g.gpa, g.level);
  const SeptState s = w.entry.state();
  auto violation = [&] {
    TdExit e;
    e.kind = TdExit::Kind::EptViolation;
    e.gpa = g.gpa;
    e.eeq = kEeqAccept;
    e.level = g.level;
    r.status = TDX_SUCCESS;
    r.exit = make_exit(v, e);
    return r;
  };
  if (!w.reached) {
    // A bigger leaf covers the GPA: the guest must accept at its size.
    if (w.entry.leaf() && sept_holds_page(s)) {
      r.status = TdxStatus::with_operand(TDX_PAGE_SIZE_MISMATCH, OPERAND_ID_RCX);
      return r;
    }
    return violation();
  }
  if (s == SeptState::Mapped) {
    r.status = TdxStatus::with_operand(TDX_PAGE_ALREADY_ACCEPTED, OPERAND_ID_RCX);
    return r;
  }
  if (sept_non_leaf(s)) {  // accepting 2 MiB over 4 KiB mappings
    r.status = TdxStatus::with_operand(TDX_PAGE_SIZE_MISMATCH, OPERAND_ID_RCX);
    return r;
  }
  if (s != SeptState::Pending) return violation();  // FREE, blocked: the VMM must act first
  const uint64_t size = SecureEpt::level_size(g.level);
  mem_.fill(keyed(w.entry.hpa(), td.hkid), 0, size);
  td.sept->write(w.table, w.idx, SeptEntry::make(SeptState::Mapped, w.entry.hpa()));
  r.status = TDX_SUCCESS;
  return r;
}

TdcallResult TdxModule::tdg_vp_vmcall(Addr tdvpr, const SeamcallArgs& a) {
  TdcallResult r;
  auto it = vcpus_.find(tdvpr);
  if (it == vcpus_.end() || !it->second->in_td) {
    r.status = TDX_VCPU_STATE_INCORRECT;
    return r;
  }
  TdExit e;
  e.kind = TdExit::Kind::TdVmcall;
  e.vmcall = a;
  r.exit = make_exit(*it->second, e);
  return r;
}

TdcallResult TdxModule::tdg_vp_veinfo_get(Addr tdvpr) {
  TdcallResult r;
  auto it = vcpus_.find(tdvpr);
  if (it == vcpus_.end() || !it->second->in_td) {
    r.status = TDX_VCPU_STATE_INCORRECT;
    return r;
  }
  Vcpu& v = *it->second;
  if (!v.ve_valid) {
    r.status = TDX_NO_VALID_VE_INFO;
    return r;
  }
  r.rcx = v.ve_exit_reason;
  r.rdx = v.ve_qualification;
  r.r8 = 0;  // GLA: not modelled (guest-physical accesses)
  r.r9 = v.ve_gpa;
  v.ve_valid = false;
  return r;
}

TdcallResult TdxModule::tdg_mr_report(Addr tdvpr) {
  TdcallResult r;
  auto it = vcpus_.find(tdvpr);
  if (it == vcpus_.end() || !it->second->in_td) {
    r.status = TDX_VCPU_STATE_INCORRECT;
    return r;
  }
  r.mrtd = td_of(*it->second)->mr.mrtd();
  return r;
}

PrivateAccess TdxModule::td_access(Addr tdvpr, Addr gpa, bool write) {
  auto it = vcpus_.find(tdvpr);
  if (it == vcpus_.end() || !it->second->in_td) throw std::logic_error("TDX module: access from a vCPU not in its TD");
  Vcpu& v = *it->second;
  Td& td = *td_of(v);
  if (gpa & td.shared_bit()) throw std::logic_error("TDX module: a shared GPA is the shared EPT's");
  PrivateAccess a;
  SecureEpt::Walk w = td.sept->walk(gpa, 0);
  const SeptState s = w.entry.state();
  const bool leaf = w.reached || (w.entry.leaf() && sept_holds_page(s));
  if (leaf && s == SeptState::Mapped) {
    a.kind = PrivateAccess::Kind::Mapped;
    a.size = SecureEpt::level_size(w.at_level);
    a.hpa = page_floor(w.entry.hpa() + (gpa & (a.size - 1)));
    a.hkid = td.hkid;
    return a;
  }
  TdExit e;
  e.gpa = gpa;
  e.kind = TdExit::Kind::EptViolation;
  e.eeq = 0;
  if (leaf && s == SeptState::Pending) {
    if (td.sept_ve_disable()) {
      e.kind = TdExit::Kind::PendingEptViolation;
      e.eeq = kEeqPendingEptViolation;
    } else if (!v.ve_valid) {
      // #VE in the TD: the guest reads VEINFO and ACCEPTs.
      v.ve_valid = true;
      v.ve_exit_reason = kExitReasonEptViolation;
      v.ve_qualification = write ? 2 : 1;
      v.ve_gpa = gpa;
      a.kind = PrivateAccess::Kind::VirtualizationException;
      return a;
    }
  }
  a.kind = PrivateAccess::Kind::Exit;
  a.exit = make_exit(v, e);
  return a;
}

// ---- observers ----

std::vector<Addr> TdxModule::tds() const {
  std::vector<Addr> v;
  for (const auto& kv : tds_) v.push_back(kv.first);
  return v;
}

std::optional<TdxModule::TdView> TdxModule::td(Addr tdr) const {
  auto it = tds_.find(tdr);
  if (it == tds_.end()) return std::nullopt;
  const Td& t = *it->second;
  TdView v;
  v.tdr = t.tdr;
  v.hkid = t.hkid;
  v.lifecycle = t.lifecycle;
  v.op = t.op;
  v.td_epoch = t.td_epoch;
  v.refcount = t.refcount;
  v.child_pages = t.child_pages;
  v.vcpus = t.vcpus;
  v.fatal = t.fatal;
  v.sept_ve_disable = t.sept_ve_disable();
  v.gpaw = t.gpaw;
  v.sept_root = t.sept ? t.sept->root() : 0;
  v.sept_levels = t.sept ? t.sept->levels() : 0;
  v.finalized = t.mr.finalized();
  v.mrtd = t.mr.mrtd();
  return v;
}

std::optional<Addr> TdxModule::td_of_vcpu(Addr tdvpr) const {
  auto it = vcpus_.find(tdvpr);
  if (it == vcpus_.end()) return std::nullopt;
  return it->second->tdr;
}

bool TdxModule::in_td(Addr tdvpr) const {
  auto it = vcpus_.find(tdvpr);
  return it != vcpus_.end() && it->second->in_td;
}

SecureEpt* TdxModule::sept(Addr tdr) {
  auto it = tds_.find(tdr);
  return it == tds_.end() ? nullptr : it->second->sept.get();
}

std::string TdxModule::describe_state() const {
  std::ostringstream o;
  o << std::hex;
  for (const auto& kv : tds_) {
    const Td& t = *kv.second;
    o << "td " << t.tdr << " hkid " << t.hkid << ' ' << lifecycle_name(t.lifecycle) << ' '
      << op_state_name(t.op) << " tdcx";
    for (Addr p : t.tdcx) o << ' ' << p;
    o << " child " << t.child_pages << " attr " << t.attributes << " gpaw " << t.gpaw << " epoch "
      << t.td_epoch << " ref " << t.refcount[0] << ',' << t.refcount[1] << " vcpus " << t.vcpus
      << " fatal " << t.fatal << " mr_blocks " << t.mr.blocks() << " final " << t.mr.finalized() << '\n';
  }
  for (const auto& kv : vcpus_) {
    const Vcpu& v = *kv.second;
    o << "vcpu " << v.tdvpr << " td " << v.tdr << " tdvpx";
    for (Addr p : v.tdvpx) o << ' ' << p;
    o << " init " << v.initialized << " assoc " << v.associated << " in_td " << v.in_td << " epoch "
      << v.vcpu_epoch << " ve " << v.ve_valid << ' ' << v.ve_gpa << '\n';
  }
  for (size_t k = 0; k < hkid_in_use_.size(); ++k)
    if (hkid_in_use_[k]) o << "hkid " << k << '\n';
  return o.str();
}

}  // namespace cocosim
