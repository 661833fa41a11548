#include "pkvm/pkvm_hyp.h"

#include <cerrno>

#include "common/trace.h"

namespace cocosim {

using namespace pkvm;

namespace {

// The guest HVC's name for the trace (SMCCC function of pKVM's vendor range).
const char* hvc_name(uint64_t fn) {
  switch (fn) {
    case kHvcFeatures: return "FUNC_FEATURES";
    case kHvcHypMeminfo: return "FUNC_HYP_MEMINFO";
    case kHvcMemShare: return "FUNC_MEM_SHARE";
    case kHvcMemUnshare: return "FUNC_MEM_UNSHARE";
    default: return "unknown";
  }
}
constexpr uint64_t kBlockPages = 512;  // a level-2 block of the 4 KiB granule

Perm perm_of(uint64_t prot) { return {bool(prot & kProtR), bool(prot & kProtW), bool(prot & kProtX)}; }
}  // namespace

PkvmHyp::PkvmHyp(Arm64Arch& arch, MemoryPort& mem, Ownership& own, FrameAllocator& pool,
                 const MemRange& hyp_memory, std::vector<MemblockRegion> memory, Stats& stats,
                 const std::string& prefix)
    : arch_(arch),
      mem_(mem),
      own_(own),
      pool_(pool),
      host_s2_(mem, pool, std::move(memory), Arm64Arch::kPaBits, stats, prefix),
      hvcs_(stats.counter(prefix + ".hvc_calls", "count", "vendor-hypervisor HVCs from protected guests")),
      zeroed_(stats.counter(prefix + ".pages_zeroed", "pages",
                            "guest pages EL2 zeroed before the host got them back")) {
  // EL2's own memory is never the host's (fix_host_ownership at init).
  for (Addr a = hyp_memory.start; a < hyp_memory.end; a += kPageSize) host_s2_.set_owner(a, kPageSize, kIdHyp, 0);
}

PkvmHyp::~PkvmHyp() = default;

// ---- metadata ---------------------------------------------------------------

PkvmPage PkvmHyp::page(uint64_t pfn) const {
  const PkvmPage* p = own_.pkvm(pfn);
  return p ? *p : PkvmPage{};
}

void PkvmHyp::store(uint64_t pfn, const PkvmPage& p, int guest) {
  FrameOwner o = own_.of(pfn);
  o.pkvm = p;
  const PkvmPageState host = p.host_state, hyp = p.hyp_state();
  o.vm = -1;
  if (hyp == PkvmPageState::Owned || hyp == PkvmPageState::SharedOwned) {
    o.owner = Owner::Hypervisor;
  } else if (host == PkvmPageState::Owned || host == PkvmPageState::SharedOwned) {
    o.owner = Owner::Host;
  } else {
    o.owner = Owner::Guest;  // donated to a guest, or lent by it to the host
    o.vm = guest;
    if (guest >= 0)
      if (const PkvmVm* v = vm(uint16_t(guest)); v && v->owner_id >= 0) o.vm = v->owner_id;
  }
  o.host_may_map = host != PkvmPageState::NoPage;
  own_.set_pkvm(pfn, o);
}

void PkvmHyp::set_host_state(Addr phys, uint64_t size, PkvmPageState s, int guest) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "host_state", unsigned(s), 4, pkvm_state_name(s)));
  for (Addr a = phys; a < phys + size; a += kPageSize) {
    PkvmPage p = page(pfn_of(a));
    p.host_state = s;
    store(pfn_of(a), p, guest);
  }
}

void PkvmHyp::set_hyp_state(Addr phys, uint64_t size, PkvmPageState s) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "hyp_state", unsigned(s), 4, pkvm_state_name(s)));
  for (Addr a = phys; a < phys + size; a += kPageSize) {
    PkvmPage p = page(pfn_of(a));
    p.set_hyp_state(s);
    store(pfn_of(a), p);
  }
}

// ---- checks -----------------------------------------------------------------

bool PkvmHyp::pfn_range_is_valid(uint64_t pfn, uint64_t nr_pages) const {
  const uint64_t limit = uint64_t{1} << (Arm64Arch::kPaBits - kPageShift);
  return pfn < limit && limit - pfn >= nr_pages;
}

// A range must lie in one memory region (not straddle memory and MMIO) that
// pages may leave. This model keeps a page's metadata in the host allocator's
// record of it, so a frame the host has not allocated cannot change hands.
int PkvmHyp::check_memory(Addr start, Addr end) const {
  MemRange r;
  const MemblockRegion* reg = host_s2_.find_mem_range(start, r);
  if (!r.contains(end - 1)) return -EINVAL;
  if (!reg || reg->nomap) return -EPERM;
  for (Addr a = start; a < end; a += kPageSize)
    if (!own_.pkvm(pfn_of(a))) return -EPERM;
  return 0;
}

int PkvmHyp::host_check(Addr phys, uint64_t size, PkvmPageState want) const {
  if (int ret = check_memory(phys, phys + size)) return ret;
  for (Addr a = phys; a < phys + size; a += kPageSize)
    if (page(pfn_of(a)).host_state != want) return -EPERM;
  return 0;
}

int PkvmHyp::hyp_check(Addr phys, uint64_t size, PkvmPageState want) const {
  for (Addr a = phys; a < phys + size; a += kPageSize)
    if (page(pfn_of(a)).hyp_state() != want) return -EPERM;
  return 0;
}

int PkvmHyp::guest_check(PkvmVm& vm, Addr ipa, uint64_t size, PkvmPageState want) {
  const Stage2Format& f = vm.pgt->format();
  if (ipa > f.max_input() || size > f.max_input() - ipa + 1) return -ERANGE;
  for (Addr a = ipa; a < ipa + size; a += kPageSize) {
    const auto e = vm.pgt->entry(a);
    PkvmPageState s = PkvmPageState::NoPage;
    if (e.leaf) {
      const Addr phys = f.decode(e.desc, e.depth).pa + (a & (f.level_size(e.depth) - 1));
      MemRange r;
      const MemblockRegion* reg = host_s2_.find_mem_range(phys, r);
      if (!reg || reg->nomap) return -EINVAL;
      s = getstate(e.desc);
    } else if (invalid_type(e.desc) == kPteGuestPoisoned) {
      s = PkvmPageState::Poison;
    }
    if (s != want) return -EPERM;
  }
  return 0;
}

int PkvmHyp::get_valid_guest_pte(PkvmVm& vm, Addr ipa, Stage2PageTable::RawEntry& e, Addr& phys) {
  const Stage2Format& f = vm.pgt->format();
  if (ipa > f.max_input()) return -ERANGE;
  e = vm.pgt->entry(ipa);
  if (!e.leaf && invalid_type(e.desc) == kPteGuestPoisoned) return -EHWPOISON;
  if (!e.leaf) return -ENOENT;
  if (e.depth != f.levels() - 1) return -E2BIG;  // no splitting of blocks
  phys = f.decode(e.desc, e.depth).pa;
  if (check_memory(phys, phys + kPageSize)) throw HypPanic("pKVM: a guest maps a page that is not memory");
  return 0;
}

// One page, or one 2 MiB block with the physical and guest addresses aligned.
int PkvmHyp::transition_size(Addr phys, Addr ipa, uint64_t nr_pages, uint64_t& size) const {
  if (nr_pages == 1) {
    size = kPageSize;
    return 0;
  }
  const uint64_t block = kBlockPages * kPageSize;
  if (nr_pages != kBlockPages || ((phys | ipa) & (block - 1))) return -EINVAL;
  size = block;
  return 0;
}

// A GFN past the VM's IPA space (whose address would wrap around 64 bits).
bool PkvmHyp::gfn_in_range(const PkvmVm& vm, uint64_t gfn) const {
  return gfn <= (vm.pgt->format().max_input() >> kPageShift);
}

PkvmVm* PkvmHyp::vm(uint16_t handle) {
  auto it = vms_.find(handle);
  return it == vms_.end() ? nullptr : it->second.get();
}

// The hypercalls that act for a guest run on its loaded vCPU: a dying VM has
// none, and each is for one kind of VM (hyp-main.c's handlers refuse -EINVAL).
PkvmVm* PkvmHyp::vcpu_vm(uint16_t handle, bool want_protected) {
  PkvmVm* v = vm(handle);
  if (!v || v->is_dying || v->is_protected != want_protected) return nullptr;
  return v;
}

// ---- stage-2 writes -----------------------------------------------------------

void PkvmHyp::host_set_owner(Addr phys, uint64_t size, uint8_t owner, uint64_t meta, int guest) {
  host_s2_.set_owner(phys, size, owner, meta);
  set_host_state(phys, size, owner == kIdHost ? PkvmPageState::Owned : PkvmPageState::NoPage, guest);
}

void PkvmHyp::invalidate(PkvmVm& vm, uint64_t gfn, uint64_t pages) {
  tlb_ns_ += arch_.invalidate_stage2(vm.vcpus, gfn, gfn + pages);
}

void PkvmHyp::guest_map(PkvmVm& vm, Addr ipa, Addr phys, uint64_t size, Perm p, PkvmPageState s) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "guest_state", unsigned(s), 4, pkvm_state_name(s)));
  const int last = vm.pgt->format().levels() - 1;
  const bool replacing = vm.pgt->entry(ipa).leaf;
  if (!vm.pgt->map(ipa, phys, size == kPageSize ? last : last - 1, p, mkstate(s)))
    throw HypPanic("pKVM: guest stage-2 map failed");
  if (replacing) invalidate(vm, pfn_of(ipa), size / kPageSize);
}

void PkvmHyp::guest_unmap(PkvmVm& vm, Addr ipa, uint64_t size) {
  vm.pgt->unmap(pfn_of(ipa), pfn_of(ipa + size));
  invalidate(vm, pfn_of(ipa), size / kPageSize);
}

void PkvmHyp::poison_page(Addr phys) {
  mem_.fill(phys, 0, kPageSize);  // hyp_poison_page: zeroed, cleaned to the PoC
  ++zeroed_;
}

// ---- VMs ----------------------------------------------------------------------

std::optional<uint16_t> PkvmHyp::create_vm(bool is_protected, std::vector<Stage2TlbControl*> vcpus,
                                           int owner_id) {
  unsigned idx = 0;
  while (vms_.count(uint16_t(kFirstHandle + idx))) ++idx;
  auto v = std::make_unique<PkvmVm>();
  v->handle = uint16_t(kFirstHandle + idx);
  v->vmid = idx + 1;
  v->is_protected = is_protected;
  v->owner_id = owner_id;
  v->vcpus = std::move(vcpus);
  try {
    v->pgt = std::make_unique<Stage2PageTable>(arch_.stage2_format(), mem_, pool_, int(v->vmid));
  } catch (const std::bad_alloc&) {
    return std::nullopt;
  }
  const uint16_t h = v->handle;
  vms_[h] = std::move(v);
  return h;
}

int PkvmHyp::start_teardown_vm(uint16_t handle) {
  PkvmVm* v = vm(handle);
  if (!v) return -ENOENT;
  v->is_dying = true;
  return 0;
}

int PkvmHyp::finalize_teardown_vm(uint16_t handle) {
  PkvmVm* v = vm(handle);
  if (!v) return -ENOENT;
  if (!v->is_dying) return -EINVAL;
  if (v->pgt->leaves()) return -EBUSY;
  // The whole VMID goes: every stage-1 and stage-2 entry of it (VMALLS12E1IS).
  invalidate(*v, 0, arch_.max_gfn());
  vms_.erase(handle);
  return 0;
}

// ---- host <-> hyp -------------------------------------------------------------

int PkvmHyp::host_share_hyp(uint64_t pfn) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 1, 8, "__pkvm_host_share_hyp"));
  if (!pfn_range_is_valid(pfn, 1)) return -EINVAL;
  const Addr phys = pfn << kPageShift;
  if (int ret = host_check(phys, kPageSize, PkvmPageState::Owned)) return ret;
  if (int ret = hyp_check(phys, kPageSize, PkvmPageState::NoPage)) return ret;
  set_hyp_state(phys, kPageSize, PkvmPageState::SharedBorrowed);
  set_host_state(phys, kPageSize, PkvmPageState::SharedOwned);
  return 0;
}

int PkvmHyp::host_unshare_hyp(uint64_t pfn) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 2, 8, "__pkvm_host_unshare_hyp"));
  if (!pfn_range_is_valid(pfn, 1)) return -EINVAL;
  const Addr phys = pfn << kPageShift;
  if (int ret = host_check(phys, kPageSize, PkvmPageState::SharedOwned)) return ret;
  if (int ret = hyp_check(phys, kPageSize, PkvmPageState::SharedBorrowed)) return ret;
  if (page(pfn).refcount) return -EBUSY;  // pinned by EL2
  set_hyp_state(phys, kPageSize, PkvmPageState::NoPage);
  set_host_state(phys, kPageSize, PkvmPageState::Owned);
  return 0;
}

int PkvmHyp::host_donate_hyp(uint64_t pfn, uint64_t nr_pages) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 3, 8, "__pkvm_host_donate_hyp"));
  if (!pfn_range_is_valid(pfn, nr_pages)) return -EINVAL;
  const Addr phys = pfn << kPageShift;
  const uint64_t size = nr_pages * kPageSize;
  if (int ret = host_check(phys, size, PkvmPageState::Owned)) return ret;
  if (int ret = hyp_check(phys, size, PkvmPageState::NoPage)) return ret;
  set_hyp_state(phys, size, PkvmPageState::Owned);  // and mapped PAGE_HYP at EL2
  host_set_owner(phys, size, kIdHyp, 0);
  return 0;
}

int PkvmHyp::hyp_donate_host(uint64_t pfn, uint64_t nr_pages) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 4, 8, "__pkvm_hyp_donate_host"));
  if (!pfn_range_is_valid(pfn, nr_pages)) return -EINVAL;
  const Addr phys = pfn << kPageShift;
  const uint64_t size = nr_pages * kPageSize;
  if (int ret = hyp_check(phys, size, PkvmPageState::Owned)) return ret;
  if (int ret = host_check(phys, size, PkvmPageState::NoPage)) return ret;
  set_hyp_state(phys, size, PkvmPageState::NoPage);  // and unmapped at EL2
  host_set_owner(phys, size, kIdHost, 0);
  return 0;
}

int PkvmHyp::host_share_ffa(uint64_t pfn, uint64_t nr_pages) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 5, 8, "__pkvm_host_share_ffa"));
  if (!pfn_range_is_valid(pfn, nr_pages)) return -EINVAL;
  const Addr phys = pfn << kPageShift;
  const uint64_t size = nr_pages * kPageSize;
  if (int ret = host_check(phys, size, PkvmPageState::Owned)) return ret;
  set_host_state(phys, size, PkvmPageState::SharedOwned);
  return 0;
}

int PkvmHyp::host_unshare_ffa(uint64_t pfn, uint64_t nr_pages) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 6, 8, "__pkvm_host_unshare_ffa"));
  if (!pfn_range_is_valid(pfn, nr_pages)) return -EINVAL;
  const Addr phys = pfn << kPageShift;
  const uint64_t size = nr_pages * kPageSize;
  if (int ret = host_check(phys, size, PkvmPageState::SharedOwned)) return ret;
  set_host_state(phys, size, PkvmPageState::Owned);
  return 0;
}

int PkvmHyp::hyp_pin_shared_mem(Addr from, Addr to) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 7, 8, "__pkvm_hyp_pin_shared_mem"));
  const Addr start = page_floor(from), end = page_ceil(to);
  if (int ret = host_check(start, end - start, PkvmPageState::SharedOwned)) return ret;
  if (int ret = hyp_check(start, end - start, PkvmPageState::SharedBorrowed)) return ret;
  for (Addr a = start; a < end; a += kPageSize)
    if (page(pfn_of(a)).refcount == UINT16_MAX) throw HypPanic("pKVM: hyp page refcount overflow");
  for (Addr a = start; a < end; a += kPageSize) {
    PkvmPage p = page(pfn_of(a));
    ++p.refcount;
    store(pfn_of(a), p);
  }
  return 0;
}

void PkvmHyp::hyp_unpin_shared_mem(Addr from, Addr to) {
  const Addr start = page_floor(from), end = page_ceil(to);
  for (Addr a = start; a < end; a += kPageSize)
    if (!page(pfn_of(a)).refcount) throw HypPanic("pKVM: unpinning a page that is not pinned");
  for (Addr a = start; a < end; a += kPageSize) {
    PkvmPage p = page(pfn_of(a));
    --p.refcount;
    store(pfn_of(a), p);
  }
}

// ---- host <-> non-protected guest -----------------------------------------------

int PkvmHyp::host_share_guest(uint64_t pfn, uint64_t gfn, uint64_t nr_pages, uint16_t handle,
                              uint64_t prot) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 8, 8, "__pkvm_host_share_guest"));
  PkvmVm* v = vcpu_vm(handle, false);
  if (!v) return -EINVAL;
  if (prot & ~kProtRWX) return -EINVAL;
  if (!pfn_range_is_valid(pfn, nr_pages)) return -EINVAL;
  if (!gfn_in_range(*v, gfn)) return -ERANGE;
  const Addr phys = pfn << kPageShift, ipa = gfn << kPageShift;
  uint64_t size;
  if (int ret = transition_size(phys, ipa, nr_pages, size)) return ret;
  if (int ret = check_memory(phys, phys + size)) return ret;
  if (int ret = guest_check(*v, ipa, size, PkvmPageState::NoPage)) return ret;
  for (Addr a = phys; a < phys + size; a += kPageSize) {
    const PkvmPage p = page(pfn_of(a));
    if (p.host_state == PkvmPageState::Owned) continue;
    if (p.host_state == PkvmPageState::SharedOwned) {
      if (p.host_share_guest_count == UINT32_MAX) return -EBUSY;
      if (p.host_share_guest_count) continue;  // only host-to-np-guest multi-sharing
    }
    return -EPERM;
  }
  guest_map(*v, ipa, phys, size, perm_of(prot), PkvmPageState::SharedBorrowed);
  for (Addr a = phys; a < phys + size; a += kPageSize) {
    PkvmPage p = page(pfn_of(a));
    p.host_state = PkvmPageState::SharedOwned;
    ++p.host_share_guest_count;
    store(pfn_of(a), p);
  }
  return 0;
}

int PkvmHyp::host_unshare_guest(uint64_t gfn, uint64_t nr_pages, uint16_t handle) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 9, 8, "__pkvm_host_unshare_guest"));
  PkvmVm* v = vm(handle);
  if (!v || v->is_protected) return -EINVAL;
  if (!gfn_in_range(*v, gfn)) return -ERANGE;
  const Addr ipa = gfn << kPageShift;
  uint64_t size;
  if (int ret = transition_size(0, ipa, nr_pages, size)) return ret;
  // __check_host_shared_guest
  const Stage2Format& f = v->pgt->format();
  if (ipa > f.max_input()) return -ERANGE;
  const auto e = v->pgt->entry(ipa);
  if (!e.leaf) return -ENOENT;
  if (f.level_size(e.depth) != size) return -E2BIG;
  if (getstate(e.desc) != PkvmPageState::SharedBorrowed) return -EPERM;
  const Addr phys = f.decode(e.desc, e.depth).pa;
  if (check_memory(phys, phys + size)) throw HypPanic("pKVM: a guest shares a page that is not memory");
  for (Addr a = phys; a < phys + size; a += kPageSize) {
    const PkvmPage p = page(pfn_of(a));
    if (p.host_state != PkvmPageState::SharedOwned) return -EPERM;
    if (!p.host_share_guest_count) throw HypPanic("pKVM: shared page with no share count");
  }
  guest_unmap(*v, ipa, size);
  for (Addr a = phys; a < phys + size; a += kPageSize) {
    PkvmPage p = page(pfn_of(a));
    if (!--p.host_share_guest_count) p.host_state = PkvmPageState::Owned;
    store(pfn_of(a), p);
  }
  return 0;
}

// ---- host <-> protected guest ---------------------------------------------------

int PkvmHyp::host_donate_guest(uint64_t pfn, uint64_t gfn, uint16_t handle) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 10, 8, "__pkvm_host_donate_guest"));
  PkvmVm* v = vcpu_vm(handle, true);
  if (!v) return -EINVAL;
  if (!pfn_range_is_valid(pfn, 1)) return -EINVAL;
  if (!gfn_in_range(*v, gfn)) return -ERANGE;
  const Addr phys = pfn << kPageShift, ipa = gfn << kPageShift;
  if (int ret = host_check(phys, kPageSize, PkvmPageState::Owned)) return ret;
  if (int ret = guest_check(*v, ipa, kPageSize, PkvmPageState::NoPage)) return ret;
  host_set_owner(phys, kPageSize, kIdGuest, guest_meta(handle, gfn), handle);
  guest_map(*v, ipa, phys, kPageSize, Perm::rwx(), PkvmPageState::Owned);
  return 0;
}

int PkvmHyp::guest_share_host(uint16_t handle, uint64_t gfn) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 11, 8, "__pkvm_guest_share_host"));
  PkvmVm* v = vcpu_vm(handle, true);
  if (!v) return -EINVAL;
  if (!gfn_in_range(*v, gfn)) return -ERANGE;
  const Addr ipa = gfn << kPageShift;
  Stage2PageTable::RawEntry e;
  Addr phys = 0;
  if (int ret = get_valid_guest_pte(*v, ipa, e, phys)) return ret;
  if (getstate(e.desc) != PkvmPageState::Owned) return -EPERM;
  if (host_check(phys, kPageSize, PkvmPageState::NoPage)) return -EPERM;
  guest_map(*v, ipa, phys, kPageSize, Perm::rwx(), PkvmPageState::SharedOwned);
  // __host_set_page_state_range from NOPAGE: the identity map comes back first.
  host_s2_.map_pages(phys, kPageSize);
  set_host_state(phys, kPageSize, PkvmPageState::SharedBorrowed, handle);
  return 0;
}

int PkvmHyp::guest_unshare_host(uint16_t handle, uint64_t gfn) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 12, 8, "__pkvm_guest_unshare_host"));
  PkvmVm* v = vcpu_vm(handle, true);
  if (!v) return -EINVAL;
  if (!gfn_in_range(*v, gfn)) return -ERANGE;
  const Addr ipa = gfn << kPageShift;
  Stage2PageTable::RawEntry e;
  Addr phys = 0;
  if (int ret = get_valid_guest_pte(*v, ipa, e, phys)) return ret;
  if (getstate(e.desc) != PkvmPageState::SharedOwned) return -EPERM;
  if (host_check(phys, kPageSize, PkvmPageState::SharedBorrowed)) return -EPERM;
  // The host lets go of the page first (its mappings, DMI pointers, pins).
  if (host_unmap_)
    if (int ret = host_unmap_(pfn_of(phys))) return ret;
  host_set_owner(phys, kPageSize, kIdGuest, guest_meta(handle, gfn), handle);
  guest_map(*v, ipa, phys, kPageSize, Perm::rwx(), PkvmPageState::Owned);
  return 0;
}

int PkvmHyp::host_reclaim_page_guest(uint64_t gfn, uint16_t handle) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 13, 8, "__pkvm_host_reclaim_page_guest"));
  PkvmVm* v = vm(handle);
  if (!v || !v->is_dying) return -EINVAL;
  if (!gfn_in_range(*v, gfn)) return -ERANGE;
  const Addr ipa = gfn << kPageShift;
  Stage2PageTable::RawEntry e;
  Addr phys = 0;
  if (int ret = get_valid_guest_pte(*v, ipa, e, phys))
    return ret == -EHWPOISON ? 0 : ret;  // force-reclaimed already: the host has it
  switch (getstate(e.desc)) {
    case PkvmPageState::Owned:
      if (host_check(phys, kPageSize, PkvmPageState::NoPage)) throw HypPanic("pKVM: guest page not NOPAGE for the host");
      poison_page(phys);
      break;
    case PkvmPageState::SharedOwned:
      if (host_check(phys, kPageSize, PkvmPageState::SharedBorrowed))
        throw HypPanic("pKVM: guest-shared page not borrowed by the host");
      break;
    default:
      return -EPERM;
  }
  guest_unmap(*v, ipa, kPageSize);
  host_set_owner(phys, kPageSize, kIdHost, 0);
  return 0;
}

int PkvmHyp::host_force_reclaim_page_guest(Addr phys) {
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "call", 14, 8, "__pkvm_host_force_reclaim_page_guest"));
  phys = page_floor(phys);
  if (!host_s2_.addr_is_memory(phys)) return -EFAULT;
  if (page(pfn_of(phys)).host_state != PkvmPageState::NoPage) return -EAGAIN;
  const auto he = host_s2_.entry(phys);
  if (he.leaf || invalid_type(he.desc) != kPteHostDonation || donation_owner(he.desc) != kIdGuest)
    return -EPERM;
  const uint64_t meta = donation_meta(he.desc);
  PkvmVm* v = vm(meta_handle(meta));
  if (!v) return -EAGAIN;
  const Addr ipa = meta_gfn(meta) << kPageShift;
  if (guest_check(*v, ipa, kPageSize, PkvmPageState::Owned)) return -EPERM;
  v->pgt->annotate(ipa, poisoned_pte());
  invalidate(*v, pfn_of(ipa), 1);
  poison_page(phys);
  host_set_owner(phys, kPageSize, kIdHost, 0);
  return 0;
}

int PkvmHyp::vcpu_in_poison_fault(uint16_t handle, const Stage2Fault& f) {
  const uint64_t ec = f.syndrome >> kEsrEcShift & 0x3f, fsc = f.syndrome & 0x3f;
  if ((ec != kEcDabtLow && ec != kEcIabtLow) || (fsc & ~uint64_t{3}) != 0x04) return -EINVAL;
  PkvmVm* v = vm(handle);
  if (!v) return -EINVAL;
  const auto e = v->pgt->entry(page_floor(f.gpa));
  return !e.leaf && invalid_type(e.desc) == kPteGuestPoisoned ? 1 : 0;
}

// ---- hypercalls -----------------------------------------------------------------

HvcResult PkvmHyp::guest_hvc(uint16_t handle, const HvcCall& c) {
  HvcResult r;
  PkvmVm* v = vm(handle);
  if (!v || !v->is_protected) {
    r.to_host = true;  // EL2 handles a protected guest's calls only
    return r;
  }
  ++hvcs_;
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "guest_hvc", c.x0 & 0xffff, 16, hvc_name(c.x0)));
  switch (c.x0) {
    case kHvcFeatures:
      // MEM_UNSHARE too: this model handles it (the in-place sharing design).
      r.x0 = (1u << kFuncFeatures) | (1u << kFuncHypMeminfo) | (1u << kFuncMemShare) |
             (1u << kFuncMemUnshare);
      return r;
    case kHvcHypMeminfo:
      r.x0 = (c.x1 || c.x2 || c.x3) ? kSmcccInvalidParameter : kPageSize;
      return r;
    case kHvcMemShare:
    case kHvcMemUnshare: {
      r.x0 = kSmcccInvalidParameter;
      if (c.x2 || c.x3 || !page_aligned(c.x1)) return r;
      const bool share = c.x0 == kHvcMemShare;
      const int err = share ? guest_share_host(handle, pfn_of(c.x1)) : guest_unshare_host(handle, pfn_of(c.x1));
      if (err == 0) {
        r.x0 = kSmcccSuccess;
      } else if (share && err == -ENOENT) {
        // Not faulted in yet: a level-3 translation fault on a write, so the
        // host maps the page; the HVC runs again when the guest resumes.
        r.to_host = r.retry = true;
        r.esr = (kEcDabtLow << kEsrEcShift) | kEsrWnR | (0x04 + 3);
        r.hpfar = (kHpfarNs | (c.x1 >> 8)) & ~uint64_t{0xf};
        r.far = 0;
        r.x0 = c.x0;  // the registers are untouched
        r.x1 = c.x1;
      }
      return r;
    }
    default:
      r.x0 = kSmcccNotSupported;
      return r;
  }
}

PkvmPageState PkvmHyp::guest_state(uint16_t handle, uint64_t gfn, MemoryPort* via) {
  PkvmVm* v = vm(handle);
  if (!v) return PkvmPageState::NoPage;
  const auto e = v->pgt->entry(gfn << kPageShift, via);
  if (e.leaf) return getstate(e.desc);
  return invalid_type(e.desc) == kPteGuestPoisoned ? PkvmPageState::Poison : PkvmPageState::NoPage;
}

}  // namespace cocosim
