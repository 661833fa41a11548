#include "kvm/kvm_tdx.h"

#include <algorithm>
#include <cerrno>
#include <new>
#include <stdexcept>

#include "common/trace.h"

namespace cocosim {

namespace {
uint64_t gl(Addr gpa, int level) { return gpa | uint64_t(level); }
// A leaf whose translation a vCPU may hold: MAPPED, and BLOCKED until the
// block is tracked (the module refuses REMOVE before that, and every vCPU
// that entered in the blocking epoch flushes its TLB at its next entry).
bool translates(SeptState s) { return s == SeptState::Mapped || s == SeptState::Blocked; }
}  // namespace

KvmTdx::KvmTdx(Architecture& arch, TdxModule& module, Services services, MemoryPort& hyp,
               FrameAllocator& frames, Stats& stats, int vm_id)
    : arch_(arch),
      module_(module),
      svc_(std::move(services)),
      hyp_(hyp),
      frames_(frames),
      vm_id_(vm_id),
      shared_(arch.stage2_format(), hyp, frames, vm_id),
      seamcall_count_(stats.counter("platform.kvm.tdx.seamcalls", "count",
                                    "SEAMCALLs KVM made for its TDs")),
      removed_(stats.counter("platform.kvm.tdx.pages_removed", "count",
                             "private pages zapped (BLOCK, TRACK, kick, REMOVE, WBINVD, clear)")),
      demoted_(stats.counter("platform.kvm.tdx.pages_demoted", "count",
                             "2 MiB private leaves split for a partial zap (BLOCK, TRACK, kick, DEMOTE)")) {}

KvmTdx::~KvmTdx() { teardown(); }

SeamcallResult KvmTdx::call(const SeamcallResult& r) {
  COCOSIM_PROBE(value(trace::Cat::Tdx, "platform.tdx", "status", r.status.value, 64, r.status.name().c_str()));
  ++seamcalls_;
  ++seamcall_count_;
  cost_ns_ += seamcall_ns_;
  return r;
}

Addr KvmTdx::alloc_control_page() {
  FrameUse u;
  u.kind = FrameKind::TdxControl;
  u.vm = vm_id_;
  auto pfn = frames_.alloc(u);
  if (!pfn) throw std::bad_alloc();
  const Addr pa = *pfn << kPageShift;
  control_.push_back(pa);
  return pa;
}

const KvmTdx::TdVcpu* KvmTdx::vcpu(int id) const {
  auto it = vcpus_.find(id);
  return it == vcpus_.end() ? nullptr : &it->second;
}

bool KvmTdx::has_initialized_vcpu() const {
  for (const auto& [id, v] : vcpus_)
    if (v.initialized) return true;
  return false;
}

// __tdx_td_init: HKID, TDR, TDCS pages; MNG.CREATE, KEY.CONFIG, ADDCX, MNG.INIT.
int KvmTdx::init_vm(uint64_t attributes, std::string* why) {
  if (state_ != State::Uninitialized || tdr_) {
    *why = "the TD is initialized already";
    return EINVAL;
  }
  if (attributes & ~TdParams::kAttrSeptVeDisable) {
    *why = "attributes beyond the supported ones (SEPT_VE_DISABLE)";
    return EINVAL;
  }
  auto hkid = svc_.alloc_hkid();
  if (!hkid) {
    *why = "no free TDX private KeyID (tdx_guest_keyid_alloc)";
    return EBUSY;
  }
  hkid_ = *hkid;
  try {
    tdr_ = alloc_control_page();
    for (unsigned i = 0; i < module_.config().tdcs_pages; ++i) tdcs_.push_back(alloc_control_page());
  } catch (const std::bad_alloc&) {
    *why = "out of memory for the TD's control pages";
    teardown();
    return ENOMEM;
  }
  auto fail = [&](const char* what, const SeamcallResult& r) {
    *why = std::string(what) + " failed: " + r.status.name();
    teardown();
    return EIO;
  };
  SeamcallResult r = call(module_.mng_create(tdr_, hkid_));
  if (!r.status.ok()) return fail("TDH.MNG.CREATE", r);
  if (!(r = call(module_.mng_key_config(tdr_))).status.ok()) return fail("TDH.MNG.KEY.CONFIG", r);
  for (Addr p : tdcs_)
    if (!(r = call(module_.mng_addcx(p, tdr_))).status.ok()) return fail("TDH.MNG.ADDCX", r);
  // TD_PARAMS in a page of KVM's, read by the module with the shared KeyID.
  FrameUse u;
  auto params = frames_.alloc(u);
  if (!params) {
    *why = "out of memory for TD_PARAMS";
    teardown();
    return ENOMEM;
  }
  TdParams::for_gpaw(arch_.gpa_bits(), attributes).write(hyp_, *params << kPageShift);
  r = call(module_.mng_init(tdr_, *params << kPageShift));
  frames_.free(*params);
  if (!r.status.ok()) return fail("TDH.MNG.INIT", r);
  state_ = State::Initialized;
  return 0;
}

int KvmTdx::create_vcpu(int id, Stage2TlbControl* tlb, std::string* why) {
  if (state_ != State::Initialized) {  // tdx_vcpu_create
    *why = state_ == State::Uninitialized ? "KVM_TDX_INIT_VM has not run" : "the TD is finalized";
    return EIO;
  }
  vcpus_[id].tlb = tlb;
  return 0;
}

// tdx_vcpu_init -> tdx_td_vcpu_init: TDVPR, TDVPX pages, VP.CREATE, ADDCX, VP.INIT.
int KvmTdx::init_vcpu(int id, uint64_t initial_rcx, std::string* why) {
  auto it = vcpus_.find(id);
  if (it == vcpus_.end() || state_ == State::Uninitialized) {
    *why = "no such vCPU of the TD";
    return EINVAL;
  }
  TdVcpu& v = it->second;
  if (v.initialized) {
    *why = "the vCPU is initialized already";
    return EINVAL;
  }
  if (state_ != State::Initialized) {
    *why = "the TD is finalized";
    return EINVAL;
  }
  try {
    v.tdvpr = alloc_control_page();
    for (unsigned i = 0; i < module_.config().tdvpx_pages; ++i) v.tdvpx.push_back(alloc_control_page());
  } catch (const std::bad_alloc&) {
    *why = "out of memory for the vCPU's control pages";
    return ENOMEM;
  }
  SeamcallResult r = call(module_.vp_create(v.tdvpr, tdr_));
  for (size_t i = 0; r.status.ok() && i < v.tdvpx.size(); ++i) r = call(module_.vp_addcx(v.tdvpx[i], v.tdvpr));
  if (r.status.ok()) r = call(module_.vp_init(v.tdvpr, initial_rcx));
  if (!r.status.ok()) {
    *why = "vCPU creation failed: " + r.status.name();
    return EIO;
  }
  v.initialized = true;
  return 0;
}

bool KvmTdx::sept_path(Addr gpa, int level, std::string* why) {
  const auto view = module_.td(tdr_);
  if (!view) return false;
  const int root = view->sept_levels - 1;
  for (int l = root; l > level; --l) {
    SecureEpt::Walk w = module_.sept(tdr_)->walk(gpa, l - 1);
    if (w.reached || w.at_level < l) continue;  // the table below level l is there
    const Addr g = gpa & ~(SecureEpt::level_size(l) - 1);
    Addr page;
    try {
      page = alloc_control_page();
    } catch (const std::bad_alloc&) {
      if (why) *why = "out of memory for a Secure EPT page";
      throw;
    }
    SeamcallResult r = call(module_.mem_sept_add(gl(g, l), tdr_, page));
    if (!r.status.ok()) {
      control_.pop_back();
      frames_.free(pfn_of(page));
      if (why) *why = "TDH.MEM.SEPT.ADD failed: " + r.status.name();
      return false;
    }
    sept_pages_.push_back(page);
  }
  return true;
}

// tdx_gmem_post_populate: SEPT.ADD, PAGE.ADD, 16 x MR.EXTEND of 256 bytes.
int KvmTdx::add_initial_page(Addr gpa, Addr pa, Addr source, bool measure, std::string* why) {
  if (!sept_path(gpa, 0, why)) return EIO;
  SeamcallResult r = call(module_.mem_page_add(gl(gpa, 0), tdr_, pa, source));
  if (!r.status.ok()) {
    *why = "TDH.MEM.PAGE.ADD failed: " + r.status.name();
    return EIO;
  }
  ++private_leaves_;
  if (measure)
    for (Addr off = 0; off < kPageSize; off += 256) {
      r = call(module_.mr_extend(gpa + off, tdr_));
      if (!r.status.ok()) {
        *why = "TDH.MR.EXTEND failed: " + r.status.name();
        return EIO;
      }
    }
  return 0;
}

int KvmTdx::finalize(std::string* why) {
  if (state_ != State::Initialized) {  // tdx_td_finalize
    *why = state_ == State::Runnable ? "the TD is finalized already" : "KVM_TDX_INIT_VM has not run";
    return EINVAL;
  }
  SeamcallResult r = call(module_.mr_finalize(tdr_));
  if (r.status.code() == tdx::TDX_OPERAND_BUSY) return EBUSY;
  if (!r.status.ok()) {
    *why = "TDH.MR.FINALIZE failed: " + r.status.name();
    return EIO;
  }
  state_ = State::Runnable;
  return 0;
}

TdxStatus KvmTdx::enter(int vcpu_id) {
  auto it = vcpus_.find(vcpu_id);
  if (it == vcpus_.end()) return TdxStatus(tdx::TDX_VCPU_STATE_INCORRECT);
  TdVcpu& v = it->second;
  if (module_.in_td(v.tdvpr)) return TdxStatus(tdx::TDX_SUCCESS);
  SeamcallResult r = call(module_.vp_enter(v.tdvpr));
  if (r.status.ok() && r.flush_tlb && v.tlb) v.tlb->invept_single_context();
  return r.status;
}

void KvmTdx::leave(int vcpu_id) {
  auto it = vcpus_.find(vcpu_id);
  if (it != vcpus_.end() && it->second.tdvpr && module_.in_td(it->second.tdvpr))
    module_.td_exit(it->second.tdvpr);
}

void KvmTdx::bug(const char* leaf, TdxStatus st) {
  dead_ = true;
  if (bug_.empty()) bug_ = std::string(leaf) + " failed: " + st.name();
}

Stage2Roots KvmTdx::roots() const {
  const auto view = module_.td(tdr_);
  return {view ? view->sept_root : 0, shared_.root()};
}

bool KvmTdx::map(Addr gpa, Addr pa, int depth, Perm p) {
  if (!is_private_gpa(gpa)) return shared_.map(gpa, pa, depth, p);
  // The TDP MMU's mirror of a private leaf goes to the module: PAGE.AUG.
  if (state_ != State::Runnable) return false;
  const int level = format().levels() - 1 - depth;
  if (level < 0 || level > 1) return false;
  if (!sept_path(gpa, level, nullptr)) return false;
  SeamcallResult r = call(module_.mem_page_aug(gl(gpa & ~(SecureEpt::level_size(level) - 1), level), tdr_, pa));
  if (!r.status.ok()) return false;
  ++private_leaves_;
  return true;
}

bool KvmTdx::entry_empty(Addr gpa, int depth) {
  if (!is_private_gpa(gpa)) return shared_.entry_empty(gpa, depth);
  SecureEpt* s = module_.sept(tdr_);
  if (!s) return true;
  const int level = format().levels() - 1 - depth;
  SecureEpt::Walk w = s->walk(gpa, level);
  return !w.reached ? !(w.entry.leaf() && sept_holds_page(w.entry.state())) : w.entry.is_free();
}

// tdx_sept_remove_private_spte for each private leaf, then the shared alias.
Stage2Backend::ZapResult KvmTdx::zap(uint64_t first_gfn, uint64_t end_gfn,
                                     const std::vector<Stage2TlbControl*>& vcpus) {
  ZapResult res;
  SecureEpt* s = tdr_ ? module_.sept(tdr_) : nullptr;
  struct Leaf {
    Addr gpa, hpa;
    int level;
  };
  std::vector<Leaf> victims;
  const Addr lo = first_gfn << kPageShift, hi = end_gfn << kPageShift;
  if (s && private_leaves_) {
    // A 2 MiB leaf the range covers only in part is split first, so that only
    // the range's 4 KiB pages go and the rest stays mapped and accepted.
    std::vector<Addr> partial;
    s->for_each_entry([&](int level, Addr g, Addr, unsigned, SeptEntry e) {
      if (level != 1 || !sept_holds_page(e.state())) return;
      const Addr end = g + SecureEpt::level_size(1);
      if (end > lo && g < hi && (g < lo || end > hi)) partial.push_back(g);
    });
    for (Addr g : partial) res.cost_ns += split_huge(g, vcpus);
    s->for_each_entry([&](int level, Addr g, Addr, unsigned, SeptEntry e) {
      if (level > 1 || !sept_holds_page(e.state())) return;
      const Addr end = g + SecureEpt::level_size(level);
      if (end > lo && g < hi) victims.push_back({g, e.hpa(), level});
    });
  }
  if (!victims.empty()) {
    // Linux's KVM_BUG_ON: a SEAMCALL of the zap that fails (the host changed
    // the Secure EPT behind KVM's back) marks the VM bugged, i.e. dead.
    std::vector<bool> blocked(victims.size(), false);
    for (size_t i = 0; i < victims.size(); ++i) {
      SeamcallResult r = call(module_.mem_range_block(gl(victims[i].gpa, victims[i].level), tdr_));
      if (r.status.ok()) blocked[i] = true;
      else bug("TDH.MEM.RANGE.BLOCK", r.status);
    }
    track();
    uint64_t glo = ~uint64_t{0}, ghi = 0;
    for (const Leaf& l : victims) {
      glo = std::min(glo, l.gpa >> kPageShift);
      ghi = std::max(ghi, (l.gpa + SecureEpt::level_size(l.level)) >> kPageShift);
    }
    res.cost_ns += arch_.invalidate_stage2(vcpus, glo, ghi);
    for (size_t i = 0; i < victims.size(); ++i) {
      const Leaf& l = victims[i];
      if (!blocked[i]) continue;
      SeamcallResult r = call(module_.mem_page_remove(gl(l.gpa, l.level), tdr_));
      if (!r.status.ok()) {
        bug("TDH.MEM.PAGE.REMOVE", r.status);
        continue;
      }
      const uint64_t size = SecureEpt::level_size(l.level);
      for (Addr off = 0; off < size; off += kPageSize)
        call(module_.phymem_page_wbinvd(module_.keyed(l.hpa + off, hkid_)));
      // tdx_clear_page: MOVDIR64B of zeros with the host's KeyID, every line.
      svc_.clear(l.hpa, size);
      if (private_leaves_) --private_leaves_;
      ++removed_;
      ++res.leaves;
    }
  }
  // The shared alias of the range, in KVM's own shared EPT.
  const uint64_t sgfn = shared_bit() >> kPageShift;
  uint64_t slo = ~uint64_t{0}, shi = 0;
  if (shared_.leaves()) {
    res.leaves += shared_.unmap(first_gfn | sgfn, end_gfn | sgfn, [&](uint64_t a, uint64_t b) {
      slo = std::min(slo, a);
      shi = std::max(shi, b);
    });
    if (slo < shi) res.cost_ns += arch_.invalidate_stage2(vcpus, slo, shi);
  }
  return res;
}

// tdx_track: TRACK, then kick every vCPU out of the TD so the epoch completes.
bool KvmTdx::track() {
  SeamcallResult t = call(module_.mem_track(tdr_));
  for (auto& [id, v] : vcpus_) leave(id);
  if (!t.status.ok()) t = call(module_.mem_track(tdr_));  // the kick drained the old epoch
  if (!t.status.ok()) bug("TDH.MEM.TRACK", t.status);
  return t.status.ok();
}

// The TDX huge-page series' tdx_sept_split_private_spte: the module demotes
// only a blocked 2 MiB leaf whose block is tracked, so BLOCK at 2M, TRACK and
// kick, then DEMOTE with a new Secure EPT page: 512 4 KiB leaves over the same
// frames, in the 2 MiB leaf's (unblocked) state; PAMT's 2M entry becomes 512.
double KvmTdx::split_huge(Addr gpa, const std::vector<Stage2TlbControl*>& vcpus) {
  SeamcallResult r = call(module_.mem_range_block(gl(gpa, 1), tdr_));
  if (!r.status.ok()) {
    bug("TDH.MEM.RANGE.BLOCK", r.status);
    return 0;
  }
  if (!track()) return 0;
  const double cost = arch_.invalidate_stage2(vcpus, gpa >> kPageShift, (gpa + kHugePageSize) >> kPageShift);
  Addr page;
  try {
    page = alloc_control_page();
  } catch (const std::bad_alloc&) {
    dead_ = true;  // KVM_BUG_ON: the split cannot go on, so neither can the zap
    if (bug_.empty()) bug_ = "out of memory for the Secure EPT page of TDH.MEM.PAGE.DEMOTE";
    return cost;
  }
  r = call(module_.mem_page_demote(gl(gpa, 1), tdr_, page));
  if (!r.status.ok()) {
    control_.pop_back();
    frames_.free(pfn_of(page));
    bug("TDH.MEM.PAGE.DEMOTE", r.status);
    return cost;
  }
  sept_pages_.push_back(page);
  private_leaves_ += 511;  // one 2 MiB leaf became 512
  ++demoted_;
  return cost;
}

std::optional<Stage2Leaf> KvmTdx::lookup(Addr gpa, MemoryPort* via) {
  if (!is_private_gpa(gpa)) return shared_.lookup(gpa, via);
  const auto view = module_.td(tdr_);
  if (!view || !view->sept_root) return std::nullopt;
  // KVM's own question (no `via`) is answered by its mirror of the Secure EPT,
  // i.e. the module's walk with the TD's key: the host's KeyID-0 reads of the
  // encrypted SEPT pages would return zeros. Observers pass their debug view.
  SecureEpt::Walk w;
  if (via) {
    SecureEpt s(*via, module_.config().pa_bits, view->sept_levels, view->sept_root, view->hkid);
    w = s.walk(gpa, 0);
  } else if (SecureEpt* mirror = module_.sept(tdr_)) {
    w = mirror->walk(gpa, 0);
  } else {
    return std::nullopt;
  }
  const SeptState st = w.entry.state();
  if (!(w.reached || w.entry.leaf()) || !sept_holds_page(st)) return std::nullopt;
  Stage2Leaf l;
  l.size = SecureEpt::level_size(w.at_level);
  l.gpa = gpa & ~(l.size - 1);
  l.pa = w.entry.hpa();
  l.depth = format().levels() - 1 - w.at_level;
  l.perm = translates(st) ? Perm::rwx() : Perm{};
  return l;
}

void KvmTdx::for_each_leaf(const std::function<void(const Stage2Leaf&)>& fn, MemoryPort* via) {
  const auto view = tdr_ ? module_.td(tdr_) : std::nullopt;
  if (view && view->sept_root) {
    SecureEpt s(via ? *via : hyp_, module_.config().pa_bits, view->sept_levels, view->sept_root, view->hkid);
    s.for_each_entry([&](int level, Addr g, Addr, unsigned, SeptEntry e) {
      if (level > 1 || !sept_holds_page(e.state())) return;
      Stage2Leaf l;
      l.gpa = g;
      l.pa = e.hpa();
      l.size = SecureEpt::level_size(level);
      l.depth = format().levels() - 1 - level;
      l.perm = translates(e.state()) ? Perm::rwx() : Perm{};
      fn(l);
    });
  }
  shared_.for_each_leaf(fn, via);
}

// tdx_mmu_release_hkid and tdx_vm_free: flush every vCPU, free the HKID, then
// reclaim every page (each cleared), the TD's pages first, the TDR last.
void KvmTdx::teardown() {
  if (!tdr_) {
    if (hkid_) svc_.free_hkid(hkid_);
    hkid_ = 0;
    for (Addr p : control_) frames_.free(pfn_of(p));
    control_.clear();
    return;
  }
  const bool created = module_.td(tdr_).has_value();
  std::vector<std::pair<Addr, uint64_t>> pages;  // private pages still mapped
  if (created) {
    if (SecureEpt* s = module_.sept(tdr_))
      s->for_each_entry([&](int level, Addr, Addr, unsigned, SeptEntry e) {
        if (level <= 1 && sept_holds_page(e.state())) pages.push_back({e.hpa(), SecureEpt::level_size(level)});
      });
    for (auto& [id, v] : vcpus_) {
      if (!v.tdvpr) continue;
      leave(id);
      call(module_.vp_flush(v.tdvpr));
    }
    call(module_.mng_vpflushdone(tdr_));
    call(module_.mng_key_freeid(tdr_));
  }
  if (hkid_) svc_.free_hkid(hkid_);
  if (created) {
    auto reclaim = [&](Addr pa, uint64_t size) {
      call(module_.phymem_page_reclaim(pa));
      svc_.clear(pa, size);
    };
    for (const auto& [pa, size] : pages) reclaim(pa, size);
    for (Addr p : sept_pages_) reclaim(p, kPageSize);
    for (auto& [id, v] : vcpus_) {
      for (Addr p : v.tdvpx) reclaim(p, kPageSize);
      if (v.tdvpr) reclaim(v.tdvpr, kPageSize);
    }
    for (Addr p : tdcs_) reclaim(p, kPageSize);
    reclaim(tdr_, kPageSize);
  }
  for (Addr p : control_) frames_.free(pfn_of(p));
  control_.clear();
  sept_pages_.clear();
  tdcs_.clear();
  vcpus_.clear();
  private_leaves_ = 0;
  tdr_ = 0;
  hkid_ = 0;
}

}  // namespace cocosim
