#include "invariant_checker.h"

#include "common/hex.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>
#include <unordered_set>

#include "cpu/guest_page_map.h"
#include "kvm/direct_stage2.h"
#include "kvm/gfn_backing.h"
#include "platform.h"
#include "tdx/secure_ept.h"

namespace cocosim {

InvariantChecker::InvariantChecker(Platform& p) : p_(p) {}
InvariantChecker::~InvariantChecker() = default;

std::vector<Violation> InvariantChecker::check() {
  std::vector<Violation> out;
  host_mappings(out);
  pins(out);
  dmi_pointers(out);
  bindings(out);
  stage2(out);
  tlbs(out);
  ownership(out);
  tdx(out);
  pkvm(out);
  executor_mappings(out);
  // What was journaled is covered; the index of who maps what is rebuilt
  // on demand (the full check changes nothing, but need not keep it).
  if (journal_) {
    journal_->clear();
    rebuild_index();
  }
  return out;
}

// isa-stale: a page the ISA executor maps in Unicorn with a host pointer is
// what its VM's stage 2 maps at that GPA now (same frame, no right the leaf
// does not give), reached through the DMI pointer the vCPU holds for it.
void InvariantChecker::executor_mappings(std::vector<Violation>& out) {
  MemoryPort& dbg = p_.kernel_port.debug_view();
  for (const auto& v : p_.vcpus) {
    const GuestPageMap* pages = v->executor_pages();
    KvmMmu* m = pages ? p_.mmu(v->vm()) : nullptr;
    if (!m) continue;
    const KvmTdx* td = p_.td(v->vm());
    const Addr alias = td ? td->shared_bit() : 0;
    const Addr hkid_tag = td ? Addr(td->hkid()) << p_.architecture().pa_bits() : 0;
    pages->for_each([&](const MappedPage& e) {
      if (!e.host) return;  // reached through GuestEnv::access: translated at each access
      const Addr gpa = e.gfn << kPageShift;
      auto leaf = m->stage2().lookup(gpa, &dbg);
      const uint64_t pfn =
          leaf ? ((leaf->pa + (gpa - leaf->gpa)) | ((gpa & alias) ? 0 : hkid_tag)) >> kPageShift : 0;
      if (!leaf || pfn != e.pfn || v->dmi_page(pfn) != e.host || (e.writable && !leaf->perm.w) ||
          (e.executable && !leaf->perm.x))
        out.push_back({"isa-stale", std::string(v->basename()) + " executor maps GPA " + hex(gpa) +
                                        " -> " + hex(e.pfn << kPageShift) +
                                        " without that translation in the tables or its DMI pointer"});
    });
  }
}

// TDX: PAMT, each TD's Secure EPT, KVM and the ownership record agree.
//  pamt-owner:     a PT_REG frame is its TD's VM's private frame (Owner::Guest);
//                  a TDR/TDCX/TDVPR/EPT frame is the module's (Owner::TdxModule).
//  pamt-sept:      every page-holding SEPT leaf is PT_REG of its own TD, and
//                  every PT_REG frame is held by exactly one leaf (one TD, one GPA).
//  host-plaintext: no host PTE, DMI pointer or pin reaches a frame PAMT assigns.
// (KVM's side of each SEPT leaf, the GFN private and backed by that frame,
// is the stage-2 rule's: the TD's backend lists its SEPT leaves too.)
void InvariantChecker::tdx(std::vector<Violation>& out) {
  if (!p_.tdx || !p_.pamt) return;
  MemoryPort& dbg = p_.kernel_port.debug_view();
  std::map<uint64_t, int> held;  // PT_REG 4 KiB frame -> leaves holding it
  for (Addr tdr : p_.tdx->tds()) {
    const auto view = p_.tdx->td(tdr);
    // In teardown (after KEY.FREEID) the TD never runs again and RECLAIM takes
    // its pages one by one while the SEPT still names them.
    if (!view || !view->sept_root || view->lifecycle == TdLifecycle::Teardown) continue;
    SecureEpt s(dbg, p_.tdx->config().pa_bits, view->sept_levels, view->sept_root, view->hkid);
    s.for_each_entry([&](int level, Addr gpa, Addr, unsigned, SeptEntry e) {
      if (level > 1 || !sept_holds_page(e.state())) return;
      const uint64_t size = SecureEpt::level_size(level);
      const PamtEntry pe = p_.pamt->get(e.hpa());
      if (pe.pt != PageType::REG || pe.owner != pfn_of(tdr))
        out.push_back({"pamt-sept", "TD " + hex(tdr) + " GPA " + hex(gpa) + " holds frame " + hex(e.hpa()) +
                                        " but PAMT says " + page_type_name(pe.pt) + " of TDR " +
                                        hex(pe.owner << kPageShift)});
      for (uint64_t off = 0; off < size; off += kPageSize) ++held[pfn_of(e.hpa() + off)];
    });
  }
  p_.pamt->for_each([&](Addr pa, const PamtEntry& e) {
    const uint64_t size = page_size_bytes(e.size);
    for (uint64_t off = 0; off < size; off += kPageSize) {
      const uint64_t pfn = pfn_of(pa + off);
      if (e.pt == PageType::REG) {
        const int n = held.count(pfn) ? held[pfn] : 0;
        const auto owner_td = p_.tdx->td(e.owner << kPageShift);
        const bool teardown = owner_td && owner_td->lifecycle == TdLifecycle::Teardown;
        if (n != 1 && !teardown)
          out.push_back({"pamt-sept", "PT_REG frame " + hex(pfn << kPageShift) + " of TDR " +
                                          hex(e.owner << kPageShift) + " is held by " + std::to_string(n) +
                                          " Secure EPT leaves (one TD, one GPA)"});
      }
      tdx_frame(pfn, out);
    }
  });
}

// The PAMT rules of one frame that need no Secure EPT walk (pamt-owner,
// host-plaintext).
void InvariantChecker::tdx_frame(uint64_t pfn, std::vector<Violation>& out) {
  if (!p_.tdx || !p_.pamt) return;
  const PamtEntry e = p_.pamt->get(pfn << kPageShift);
  if (e.pt == PageType::NDA) return;
  const FrameOwner o = p_.ownership.of(pfn);
  if (e.pt == PageType::REG) {
    int owner_vm = -1;  // the VM whose TD has this TDR
    for (const auto& [vid, vm] : p_.kvm.vms())
      if (const KvmTdx* t = p_.td(vid); t && t->tdr() && pfn_of(t->tdr()) == e.owner) owner_vm = vm->id();
    if (o.owner != Owner::Guest || (owner_vm >= 0 && o.vm != owner_vm))
      out.push_back({"pamt-owner", "PT_REG frame " + hex(pfn << kPageShift) + " is recorded as " +
                                       owner_kind_name(o.owner) + ", not its TD's private frame"});
  } else if (e.pt != PageType::RSVD && o.owner != Owner::TdxModule) {
    out.push_back({"pamt-owner", std::string(page_type_name(e.pt)) + " frame " + hex(pfn << kPageShift) +
                                     " is recorded as " + owner_kind_name(o.owner) +
                                     ", not the TDX module's"});
  }
  if (p_.host_mapped(pfn))
    out.push_back({"host-plaintext", std::string(page_type_name(e.pt)) + " frame " + hex(pfn << kPageShift) +
                                         " is reachable by the host"});
}

// pKVM (arm64-pkvm): the page states EL2 keeps in three places agree. Guest
// states are read from the software bits of every guest stage-2 leaf, host
// and hyp states from the frames' records, the host's stage-2 through the
// debug view.
void InvariantChecker::pkvm(std::vector<Violation>& out) {
  if (!p_.pkvm) return;
  PkvmHyp& hyp = *p_.pkvm;
  MemoryPort& dbg = p_.kernel_port.debug_view();
  std::map<uint64_t, std::vector<GuestRef>> by_pfn;
  for (const auto& [handle, v] : hyp.vms()) {
    const uint16_t h = handle;
    Stage2PageTable& pgt = *v->pgt;
    pgt.for_each_leaf(
        [&](const Stage2Leaf& l) {
          const auto e = pgt.entry(l.gpa, &dbg);
          const PkvmPageState st = pkvm::getstate(e.desc);
          for (uint64_t off = 0; off < l.size; off += kPageSize)
            by_pfn[(l.pa + off) >> kPageShift].push_back({h, (l.gpa + off) >> kPageShift, uint8_t(st)});
        },
        &dbg);
  }
  // Every guest leaf against the host-side metadata.
  for (const auto& [pfn, refs] : by_pfn) pkvm_refs(pfn, refs, out);
  // Every frame the host gave away has its owner, and no host way in.
  p_.frames.for_each_used([&](uint64_t pfn, const FrameUse& u) {
    auto it = by_pfn.find(pfn);
    pkvm_used(pfn, u, it == by_pfn.end() ? nullptr : &it->second, out);
  });
}

namespace {
std::string pkvm_page(uint64_t pfn) { return "frame " + hex(pfn << kPageShift); }
}  // namespace

// One frame's guest entries (EL2's VMs' stage-2 leaves mapping it) against
// its host/hyp metadata and the host's stage-2.
void InvariantChecker::pkvm_refs(uint64_t pfn, const std::vector<GuestRef>& refs, std::vector<Violation>& out) {
  PkvmHyp& hyp = *p_.pkvm;
  MemoryPort& dbg = p_.kernel_port.debug_view();
  auto page = pkvm_page;
  auto guest = [](const GuestRef& g) {
    return "pKVM VM " + hex(g.handle) + " GPA " + hex(g.gfn << kPageShift);
  };
  const PkvmPage m = hyp.page(pfn);
  unsigned owners = 0, borrowers = 0;
  for (const GuestRef& g : refs) {
    const PkvmPageState state = PkvmPageState(g.state);
    if (state == PkvmPageState::Owned) {
      ++owners;
      if (m.host_state != PkvmPageState::NoPage || m.hyp_state() != PkvmPageState::NoPage)
        out.push_back({"pkvm-guest-state", guest(g) + " owns " + page(pfn) + " but the host's state is " +
                                               pkvm_state_name(m.host_state) + ", the hypervisor's " +
                                               pkvm_state_name(m.hyp_state())});
      // The host's stage-2 names the owner: donation annotation with the VM and GFN.
      const auto he = hyp.host_stage2().entry(pfn << kPageShift, &dbg);
      if (he.leaf || pkvm::invalid_type(he.desc) != pkvm::kPteHostDonation ||
          pkvm::donation_owner(he.desc) != pkvm::kIdGuest ||
          pkvm::donation_meta(he.desc) != pkvm::guest_meta(g.handle, g.gfn))
        out.push_back({"pkvm-host-s2", page(pfn) + " is owned by " + guest(g) +
                                           " but the host's stage-2 entry " + hex(he.desc) +
                                           " does not name that owner"});
    } else if (state == PkvmPageState::SharedOwned) {
      ++owners;
      if (m.host_state != PkvmPageState::SharedBorrowed)
        out.push_back({"pkvm-shared-peer", guest(g) + " shares " + page(pfn) +
                                               " with the host, whose state is " +
                                               pkvm_state_name(m.host_state) + ", not SHARED_BORROWED"});
    } else if (state == PkvmPageState::SharedBorrowed) {
      ++borrowers;
      if (m.host_state != PkvmPageState::SharedOwned)
        out.push_back({"pkvm-shared-peer", guest(g) + " borrows " + page(pfn) + " from the host, whose state is " +
                                               pkvm_state_name(m.host_state) + ", not SHARED_OWNED"});
    } else {
      out.push_back({"pkvm-guest-state", guest(g) + " maps " + page(pfn) + " in state " +
                                             pkvm_state_name(state)});
    }
  }
  if (owners > 1)
    out.push_back({"pkvm-one-owner", page(pfn) + " is owned by " + std::to_string(owners) + " guest entries"});
  if (borrowers != m.host_share_guest_count && m.host_state == PkvmPageState::SharedOwned)
    out.push_back({"pkvm-share-count", page(pfn) + " is lent to " + std::to_string(borrowers) +
                                           " guest entries but its share count is " +
                                           std::to_string(m.host_share_guest_count)});
}

// A frame the host has allocated: if the host gave it away, its owner, and no host way in.
void InvariantChecker::pkvm_used(uint64_t pfn, const FrameUse& u, const std::vector<GuestRef>* refs,
                                 std::vector<Violation>& out) {
  PkvmHyp& hyp = *p_.pkvm;
  MemoryPort& dbg = p_.kernel_port.debug_view();
  auto page = pkvm_page;
  const PkvmPage& m = u.own.pkvm;
  const PkvmPageState host = m.host_state, hypst = m.hyp_state();
  auto has = [&](PkvmPageState s) {
    if (!refs) return false;
    for (const GuestRef& g : *refs)
      if (PkvmPageState(g.state) == s) return true;
    return false;
  };
  const bool hyp_owns = hypst == PkvmPageState::Owned || hypst == PkvmPageState::SharedOwned;
  if (host == PkvmPageState::NoPage && !hyp_owns && !has(PkvmPageState::Owned))
    out.push_back({"pkvm-one-owner", page(pfn) + " is NOPAGE for the host but neither the hypervisor nor a guest owns it"});
  if (host == PkvmPageState::SharedBorrowed && !has(PkvmPageState::SharedOwned))
    out.push_back({"pkvm-shared-peer", page(pfn) + " is SHARED_BORROWED by the host but no guest shares it"});
  if (host == PkvmPageState::SharedOwned && m.host_share_guest_count && !has(PkvmPageState::SharedBorrowed))
    out.push_back({"pkvm-share-count", page(pfn) + " has share count " +
                                           std::to_string(m.host_share_guest_count) + " but no guest borrows it"});
  if (host != PkvmPageState::NoPage) return;
  const Addr pa = pfn << kPageShift;
  if (hyp.host_stage2().entry(pa, &dbg).leaf)
    out.push_back({"pkvm-host-s2", page(pfn) + " is not the host's but the host's stage-2 maps it"});
  if (p_.host_mapped_by_dmi(pfn))
    out.push_back({"pkvm-host-dmi", page(pfn) + " is not the host's but a host DMI pointer reaches it"});
}

// The ownership model's records are kept by hooks: each must say what the
// frame's use implies now (a missed hook leaves a frame with a stale owner).
void InvariantChecker::ownership(std::vector<Violation>& out) {
  p_.frames.for_each_used([&](uint64_t pfn, const FrameUse& u) { owner_frame(pfn, u, out); });
}

void InvariantChecker::owner_frame(uint64_t pfn, const FrameUse& u, std::vector<Violation>& out) {
  const FrameOwner want = Ownership::expected(u);
  if (u.own.owner == want.owner && u.own.vm == want.vm && u.own.host_may_map == want.host_may_map) return;
  out.push_back({"owner-record", "frame " + hex(pfn << kPageShift) + " (" + frame_kind_name(u.kind) +
                                     ") is recorded as owned by " + owner_kind_name(u.own.owner) +
                                     (u.own.vm >= 0 ? " VM " + std::to_string(u.own.vm) : "") +
                                     " but its use makes it " + owner_kind_name(want.owner) +
                                     (want.vm >= 0 ? " VM " + std::to_string(want.vm) : "")});
}

// Rule 3: only shared memory has a host mapping.
void InvariantChecker::host_mappings(std::vector<Violation>& out) {
  for (const auto& entry : p_.kvm.gmems()) {
    const auto& f = entry.second;  // not a structured binding: the lambda captures it (C++17)
    p_.gmem_target.for_each_mapped(*f, [&](uint64_t index) {
      if (f->is_private(index))
        out.push_back({"host-map-private", "guest_memfd '" + f->name() + "' page " + hex(index) +
                                               " is private but a host PTE maps it"});
    });
  }
}

void InvariantChecker::gmem_page_mapped(int file, uint64_t index, std::vector<Violation>& out) {
  auto it = p_.kvm.gmems().find(file);
  if (it == p_.kvm.gmems().end()) return;
  const GuestMemfd* f = it->second;
  if (index < (f->size() >> kPageShift) && p_.gmem_target.page_mapped(*f, index) && f->is_private(index))
    out.push_back({"host-map-private", "guest_memfd '" + f->name() + "' page " + hex(index) +
                                           " is private but a host PTE maps it"});
}

// Rule 3 (and EPFN rule 2): a long-term pin is a host way in, like a PTE. A
// pinned frame stays allocated until unpinned, so it must never become private.
void InvariantChecker::pins(std::vector<Violation>& out) {
  p_.frames.for_each_pinned([&](uint64_t pfn, uint32_t n) { pin_frame(pfn, n, out); });
}

void InvariantChecker::pin_frame(uint64_t pfn, uint32_t n, std::vector<Violation>& out) {
  // Memory that is not guest_memfd (a pKVM guest's anonymous memslot) may be
  // pinned by the host while a guest owns it: only EL2's stage-2 guards it.
  const FrameUse* u = p_.frames.use(pfn);
  if (p_.private_frame(pfn) && u && u->gmem)
    out.push_back({"pin-private", "frame " + hex(pfn << kPageShift) + " is private to VM '" + u->gmem->vm().name +
                                      "' but the host holds " + std::to_string(n) + " long-term pin" +
                                      (n == 1 ? "" : "s") + " on it"});
}

// Rule 3: no DMI pointer reaches a private frame, and none outlives its grant.
void InvariantChecker::dmi_pointers(std::vector<Violation>& out) {
  p_.phys_bus.dmi_registry().for_each([&](unsigned init, Addr lo, Addr hi) { dmi_range(init, lo, hi, out); });
  for (const auto& [hv_page, g] : p_.host_mmu.dmi_grants())
    if (g.to_gmem) host_grant(hv_page, g.below, out);
  for (size_t k = 0; k < p_.vcpus.size(); ++k)
    p_.vcpus[k]->for_each_dmi_page([&](uint64_t pfn) { vcpu_dmi_page(k, pfn, out); });
}

void InvariantChecker::dmi_range(unsigned init, Addr lo, Addr hi, std::vector<Violation>& out) {
  if (const unsigned keyid = p_.keyid_policy.keyid(lo)) {
    // A KeyID's pointer reaches the engine's plaintext copy of a frame:
    // only while the engine holds that frame for that KeyID (its owner).
    const uint64_t first = pfn_of(p_.keyid_policy.strip(lo)), last = pfn_of(p_.keyid_policy.strip(hi));
    for (uint64_t pfn = first; pfn <= last; ++pfn)
      if (!p_.mee() || !p_.mee()->memory().holds(pfn, keyid))
        out.push_back({"dmi-keyid", "initiator port " + std::to_string(init) + " holds a KeyID " +
                                        std::to_string(keyid) + " DMI pointer to frame " +
                                        hex(pfn << kPageShift) + " the engine does not hold for it"});
    return;
  }
  for (uint64_t pfn = pfn_of(lo); pfn <= pfn_of(hi); ++pfn)
    if (p_.private_frame(pfn) && !p_.guest_dmi_allowed(init, pfn))
      out.push_back({"dmi-private", "initiator port " + std::to_string(init) +
                                        " holds a DMI pointer to private frame " + hex(pfn << kPageShift)});
}

void InvariantChecker::host_grant(Addr hv_page, Addr below, std::vector<Violation>& out) {
  const int id = GmemMmapTarget::file_id(below);
  auto it = p_.kvm.gmems().find(id);
  const uint64_t index = GmemMmapTarget::file_offset(below) >> kPageShift;
  if (it != p_.kvm.gmems().end() && it->second->is_private(index))
    out.push_back({"dmi-private", "process " + std::to_string(pid_of(hv_page)) + " holds a DMI pointer at " +
                                      hex(hva_of(hv_page)) + " to private guest_memfd page " + hex(index)});
}

void InvariantChecker::vcpu_dmi_page(size_t k, uint64_t pfn, std::vector<Violation>& out) {
  const auto& v = p_.vcpus[k];
  const Addr pa = pfn << kPageShift;
  if (!p_.phys_bus.dmi_registry().holds(p_.vcpu_bus_port[k], pa, pa + kPageSize - 1))
    out.push_back({"dmi-stale", std::string(v->basename()) + " uses a revoked DMI pointer to " + hex(pa)});
}

// Rules 1 and 5: a guest_memfd is bound to its own VM only, each page at most once.
void InvariantChecker::bindings(std::vector<Violation>& out) {
  struct Range {
    uint64_t first, end;
    std::string where;
  };
  std::map<int, std::vector<Range>> by_file;  // gmem id -> the page ranges bound
  std::map<int, std::string> names;
  for (const auto& [vid, vm] : p_.kvm.vms()) {
    for (const auto& [sid, s] : vm->slots()) {
      GuestMemfd* f = s->gmem();
      if (!f) continue;
      const std::string where = "VM '" + vm->name() + "' slot " + std::to_string(sid);
      if (f->vm().id != vm->id())
        out.push_back({"gmem-one-vm", "guest_memfd '" + f->name() + "' of VM '" + f->vm().name +
                                          "' is bound to " + where});
      by_file[f->id()].push_back({s->gmem_first(), s->gmem_first() + s->npages(), where});
      names[f->id()] = f->name();
    }
  }
  for (auto& [id, ranges] : by_file) {
    std::sort(ranges.begin(), ranges.end(),
              [](const Range& a, const Range& b) { return a.first < b.first; });
    uint64_t reach = 0;  // the furthest end so far, and whose it is
    const Range* owner = nullptr;
    for (const Range& r : ranges) {
      if (owner && r.first < reach)
        out.push_back({"gmem-one-gfn", "guest_memfd '" + names[id] + "' page " + hex(r.first) +
                                           " is bound twice: " + owner->where + " and " + r.where});
      if (!owner || r.end > reach) reach = r.end, owner = &r;
    }
  }
}

// Rules 1 and 2 in the stage-2 tables. Tables are read through the debug
// view: checking adds no simulated time and no bus traffic.
void InvariantChecker::stage2(std::vector<Violation>& out, bool tds_only) {
  MemoryPort& dbg = p_.kernel_port.debug_view();
  std::map<uint64_t, std::pair<const Vm*, uint64_t>> private_owner;  // private pfn -> (vm, gfn)
  for (const auto& entry : p_.kvm.vms()) {
    const auto vid = entry.first;
    const auto& vm = entry.second;  // not a structured binding: the lambda captures it (C++17)
    KvmMmu* m = p_.mmu(vid);
    if (!m) continue;
    const KvmTdx* td = p_.td(vid);
    if (tds_only && !td) continue;
    const Addr alias = td ? td->shared_bit() : 0;
    // A protected VM's leaves are EL2's, checked against its page states (pkvm()).
    const bool protected_vm = p_.pkvm_handle(vid) >= 0;
    m->stage2().for_each_leaf(
        [&](const Stage2Leaf& l) {
          for (uint64_t off = 0; off < l.size; off += kPageSize) {
            // A TD's shared alias maps the GFN without the shared bit.
            const uint64_t gfn = ((l.gpa + off) & ~alias) >> kPageShift;
            s2_page(*vm, protected_vm, gfn, (l.pa + off) >> kPageShift, private_owner, out);
          }
        },
        &dbg);
  }
}

void InvariantChecker::s2_page(const Vm& vm, bool protected_vm, uint64_t gfn, uint64_t pfn,
                               std::map<uint64_t, std::pair<const Vm*, uint64_t>>& private_owner,
                               std::vector<Violation>& out) {
  auto where = [](const Vm& v, uint64_t g) { return "VM '" + v.name() + "' GPA " + hex(g << kPageShift); };
  const FrameUse* u = p_.frames.use(pfn);
  if (!u) {
    out.push_back({"s2-freed", where(vm, gfn) + " maps freed frame " + hex(pfn << kPageShift)});
    return;
  }
  const bool frame_private = p_.private_frame(pfn);
  if (protected_vm) {
    // pkvm(): EL2's states decide.
  } else if (vm.is_private(gfn)) {
    // KVM's own answer for the GFN (allocating nothing) must be this frame, and private.
    const GfnBacking b = gfn_backing(vm, p_.mm, gfn, true, /*allocate=*/false);
    if (!b.pfn || *b.pfn != pfn)
      out.push_back({"s2-private", where(vm, gfn) + " is private but maps frame " + hex(pfn << kPageShift) +
                                       " (" + frame_kind_name(u->kind) + "), not its guest_memfd page (" +
                                       (b.pfn ? hex(*b.pfn << kPageShift) : std::string("none")) + ")"});
    else if (!frame_private)
      out.push_back({"s2-private", where(vm, gfn) + " is private and maps its guest_memfd page " +
                                       hex(pfn << kPageShift) + ", but guest_memfd '" +
                                       (b.gmem ? b.gmem->name() : std::string("?")) +
                                       "' holds that page as shared (owner record: " +
                                       owner_kind_name(p_.ownership.of(pfn).owner) + ")"});
  } else if (frame_private) {
    out.push_back({"s2-shared", where(vm, gfn) + " is shared but maps private frame " + hex(pfn << kPageShift)});
  }
  if (frame_private) {
    auto [it, fresh] = private_owner.emplace(pfn, std::make_pair(&vm, gfn));
    if (!fresh)
      out.push_back({"private-one-gfn", "private frame " + hex(pfn << kPageShift) + " is mapped at " +
                                            where(*it->second.first, it->second.second) + " and " +
                                            where(vm, gfn)});
  }
}

// TLB coherence: every vCPU's cached translations against its VM's tables
// now. Its cost is the TLBs' size, whatever the guests map.
void InvariantChecker::tlbs(std::vector<Violation>& out, int only_vm) {
  MemoryPort& dbg = p_.kernel_port.debug_view();
  for (const auto& entry : p_.kvm.vms()) {
    const auto vid = entry.first;
    if (only_vm != -2 && vid != only_vm) continue;
    KvmMmu* m = p_.mmu(vid);
    if (!m) continue;
    const KvmTdx* td = p_.td(vid);
    const Addr alias = td ? td->shared_bit() : 0;
    // A TD's private pages are reached with its HKID above the PA bits (the
    // vCPU's TLB and DMI cache keep the tagged address).
    const Addr hkid_tag = td ? Addr(td->hkid()) << p_.architecture().pa_bits() : 0;
    auto tag_of = [&](Addr gpa) { return (gpa & alias) ? 0 : hkid_tag; };
    for (const auto& v : p_.vcpus) {
      if (v->vm() != vid) continue;
      uint64_t mgfn = 0;
      const uint8_t* mpage = nullptr;
      if (v->micro_entry(&mgfn, &mpage)) {
        // The micro-TLB's page must be what the tables map now, through the DMI pointer held for it.
        auto leaf = m->stage2().lookup(mgfn << kPageShift, &dbg);
        const uint64_t pfn =
            leaf ? ((leaf->pa + ((mgfn << kPageShift) - leaf->gpa)) | tag_of(mgfn << kPageShift)) >> kPageShift : 0;
        if (!leaf || v->dmi_page(pfn) != mpage || (v->micro_writable() && !leaf->perm.w))
          out.push_back({"tlb-stale", std::string(v->basename()) + " micro-TLB keeps GPA " +
                                          hex(mgfn << kPageShift) + " that the tables no longer map there"});
      }
      v->tlb().for_each([&](const Tlb::Entry& e) {
        // Every page the entry translates must be what the tables map there,
        // with no right the leaf does not give (a 2 MiB entry: all 512 pages,
        // one lookup when the tables still hold the block).
        for (uint64_t i = 0; i < e.pages();) {
          const uint64_t gfn = e.gfn + i;
          auto leaf = m->stage2().lookup(gfn << kPageShift, &dbg);
          const bool same = leaf &&
                            (((leaf->pa + ((gfn << kPageShift) - leaf->gpa)) | tag_of(gfn << kPageShift)) >> kPageShift) ==
                                e.pfn + i &&
                            (!e.perm.r || leaf->perm.r) && (!e.perm.w || leaf->perm.w) &&
                            (!e.perm.x || leaf->perm.x);
          if (!same) {
            out.push_back({"tlb-stale", std::string(v->basename()) + " caches GPA " +
                                            hex(gfn << kPageShift) + " -> " +
                                            hex((e.pfn + i) << kPageShift) + " that the tables no longer hold"});
            break;
          }
          i += leaf->size >= kHugePageSize && leaf->gpa == (e.gfn << kPageShift) ? e.pages() : 1;
        }
      });
    }
  }
}

// ---- The incremental check ------------------------------------------------

bool InvariantChecker::enable_incremental() {
  if (journal_) return true;
  auto j = std::make_unique<ChangeJournal>();
  if (!j->attach()) return false;
  journal_ = std::move(j);
  indexed_ = false;
  return true;
}

std::map<const void*, InvariantChecker::TableOwner> InvariantChecker::table_owners() {
  std::map<const void*, TableOwner> owners;
  for (const auto& [vid, vm] : p_.kvm.vms()) {
    KvmMmu* m = p_.mmu(vid);
    if (!m || p_.td(vid)) continue;  // a TD's Secure EPT is the TDX module's: its rules re-run whole
    Stage2PageTable* t = nullptr;
    if (auto* d = dynamic_cast<DirectStage2*>(&m->stage2())) t = &d->tables();
    else if (const int h = p_.pkvm_handle(vid); h >= 0 && p_.pkvm && p_.pkvm->vms().count(uint16_t(h)))
      t = p_.pkvm->vms().at(uint16_t(h))->pgt.get();  // EL2's table for the protected VM
    if (!t) continue;
    TableOwner& o = owners[t];
    o.table = t, o.vm = vm.get(), o.protected_vm = p_.pkvm_handle(vid) >= 0;
  }
  if (p_.pkvm) {
    for (const auto& [handle, v] : p_.pkvm->vms()) {
      TableOwner& o = owners[v->pgt.get()];
      o.table = v->pgt.get(), o.pkvm_handle = handle;
    }
    Stage2PageTable* host = &p_.pkvm->host_stage2().table();
    owners[host].table = host, owners[host].host_s2 = true;
  }
  return owners;
}

void InvariantChecker::index_leaf(const void* table, uint64_t gfn, uint64_t pfn) {
  auto& refs = mapped_by_[pfn];
  const Ref r{table, gfn};
  if (std::find(refs.begin(), refs.end(), r) == refs.end()) refs.push_back(r);
}

void InvariantChecker::unindex_leaf(const void* table, uint64_t gfn, uint64_t pfn) {
  auto it = mapped_by_.find(pfn);
  if (it == mapped_by_.end()) return;
  auto& refs = it->second;
  refs.erase(std::remove(refs.begin(), refs.end(), Ref{table, gfn}), refs.end());
  if (refs.empty()) mapped_by_.erase(it);
}

void InvariantChecker::rebuild_index() {
  MemoryPort& dbg = p_.kernel_port.debug_view();
  mapped_by_.clear();
  for (const auto& [key, o] : table_owners()) {
    if (o.host_s2) continue;
    const void* t = key;
    o.table->for_each_leaf(
        [&](const Stage2Leaf& l) {
          for (uint64_t off = 0; off < l.size; off += kPageSize)
            index_leaf(t, (l.gpa + off) >> kPageShift, (l.pa + off) >> kPageShift);
        },
        &dbg);
  }
  indexed_ = true;
}

std::vector<Violation> InvariantChecker::check_incremental() {
  if (!journal_ && !enable_incremental()) return check();
  // The first time, and after a table went whole (a VM destroyed), the full
  // check learns who maps what again (and clears the journal).
  if (!indexed_ || journal_->table_gone_) return check();
  std::vector<Violation> out;
  ChangeJournal& j = *journal_;
  MemoryPort& dbg = p_.kernel_port.debug_view();
  const auto owners = table_owners();
  bool any_td = false;
  for (const auto& [vid, vm] : p_.kvm.vms()) any_td |= p_.td(vid) != nullptr;
  bool rerun_tds = j.tdx_;

  std::vector<uint64_t> dirty;  // frames whose rules run again (sorted and made unique below)
  auto mark_frames = [&](uint64_t first, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) dirty.push_back(first + i);
  };
  for (const auto& [first, n] : j.frames_) mark_frames(first, n);

  // Stage-2 entries: the frame each mapped before and maps now.
  std::vector<std::pair<const void*, uint64_t>> touched;
  for (const ChangeJournal::Leaf& l : j.leaves_) {
    for (uint64_t i = 0; i < l.pages; ++i) {
      if (l.had_old) {
        unindex_leaf(l.table, l.gfn + i, l.old_pfn + i);
        dirty.push_back(l.old_pfn + i);
      }
      touched.push_back({l.table, l.gfn + i});
    }
  }
  // The page a KVM VM maps at `gfn` now (no alias: TDs are re-run whole).
  auto lookup_pfn = [&](Stage2PageTable& t, uint64_t gfn) -> std::optional<uint64_t> {
    auto leaf = t.lookup(gfn << kPageShift, &dbg);
    if (!leaf) return std::nullopt;
    return (leaf->pa + ((gfn << kPageShift) - leaf->gpa)) >> kPageShift;
  };
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (const auto& [table, gfn] : touched) {
    auto o = owners.find(table);
    if (o == owners.end()) {  // a TD's shared EPT, or a table already gone
      rerun_tds |= any_td;
      continue;
    }
    if (o->second.host_s2) {  // pKVM's host stage-2 maps frame = GFN
      dirty.push_back(gfn);
      continue;
    }
    if (auto pfn = lookup_pfn(*o->second.table, gfn)) {
      index_leaf(table, gfn, *pfn);
      dirty.push_back(*pfn);
    }
  }

  // GFNs whose KVM view (private or shared, and backing) may have changed:
  // whatever their entries map is checked again.
  auto table_of_vm = [&](int vid) -> const TableOwner* {
    for (const auto& [t, o] : owners)
      if (o.vm && o.vm->id() == vid) return &o;
    return nullptr;
  };
  auto mark_gfns = [&](int vid, uint64_t first, uint64_t end) {
    if (p_.td(vid)) {
      rerun_tds = true;
      return;
    }
    const TableOwner* o = table_of_vm(vid);
    if (!o || first >= end) return;
    if (end - first > o->table->leaves() * 512 || end - first > (uint64_t{1} << 20)) {
      // A wide range: walking what is mapped is cheaper than every GFN.
      o->table->for_each_leaf(
          [&](const Stage2Leaf& l) {
            for (uint64_t off = 0; off < l.size; off += kPageSize) {
              const uint64_t g = (l.gpa + off) >> kPageShift;
              if (g >= first && g < end) dirty.push_back((l.pa + off) >> kPageShift);
            }
          },
          &dbg);
      return;
    }
    for (uint64_t g = first; g < end; ++g)
      if (auto pfn = lookup_pfn(*o->table, g)) dirty.push_back(*pfn);
  };
  for (const auto& a : j.attrs_) mark_gfns(a.vm, a.first, a.end);
  for (int vid : j.vms_) mark_gfns(vid, 0, ~uint64_t{0});
  std::set<std::pair<int, uint64_t>> gmem_dirty;
  for (const auto& g : j.gmem_) {
    auto it = p_.kvm.gmems().find(g.file);
    if (it == p_.kvm.gmems().end()) continue;
    const GuestMemfd* f = it->second;
    const uint64_t end = std::min(g.end, f->size() >> kPageShift);
    for (uint64_t i = g.first; i < end; ++i) {
      if (p_.gmem_target.page_mapped(*f, i)) gmem_page_mapped(g.file, i, out);
      gmem_dirty.insert({g.file, i});
    }
    // Every slot bound to these pages, in any VM (a bug may bind another VM's file).
    for (const auto& [vid, vm] : p_.kvm.vms())
      for (const auto& [sid, s] : vm->slots()) {
        if (s->gmem() != f) continue;
        const uint64_t lo = std::max(g.first, s->gmem_first()), hi = std::min(end, s->gmem_first() + s->npages());
        if (lo < hi) mark_gfns(vid, s->base_gfn() + (lo - s->gmem_first()), s->base_gfn() + (hi - s->gmem_first()));
      }
  }

  // Frame rules on the dirty frames.
  std::vector<unsigned> keyids;  // the TDs' private KeyIDs: their aliases of a frame
  for (const auto& [vid, vm] : p_.kvm.vms())
    if (const KvmTdx* t = p_.td(vid); t && t->hkid()) keyids.push_back(t->hkid());
  const DmiRegistry& reg = p_.phys_bus.dmi_registry();
  std::sort(dirty.begin(), dirty.end());
  dirty.erase(std::unique(dirty.begin(), dirty.end()), dirty.end());
  for (uint64_t pfn : dirty) {
    const FrameUse* u = p_.frames.use(pfn);
    if (u) owner_frame(pfn, *u, out);
    if (const uint32_t n = p_.frames.pins(pfn)) pin_frame(pfn, n, out);
    const Addr pa = pfn << kPageShift;
    reg.for_each_in(pa, pa + kPageSize - 1, [&](unsigned init, Addr lo, Addr hi) { dmi_range(init, lo, hi, out); });
    for (unsigned k : keyids) {
      const Addr ka = p_.keyid_address(pa, k);
      reg.for_each_in(ka, ka + kPageSize - 1, [&](unsigned init, Addr lo, Addr hi) { dmi_range(init, lo, hi, out); });
    }
    if (u && p_.tdx && p_.pamt) {
      const PamtEntry e = p_.pamt->get(pa);
      const bool td_frame = e.pt != PageType::NDA || u->kind == FrameKind::TdxControl ||
                            (u->gmem && p_.td(u->gmem->vm().id)) || (u->vm >= 0 && p_.td(u->vm));
      if (td_frame) rerun_tds = true;
      else tdx_frame(pfn, out);
    }
    // The stage-2 entries that map it, against KVM's view of their GFNs.
    auto refs = mapped_by_.find(pfn);
    std::map<uint64_t, std::pair<const Vm*, uint64_t>> private_owner;
    std::vector<GuestRef> guest_refs;
    if (refs != mapped_by_.end()) {
      // In the full check's order (VM or EL2 handle, then GPA), so messages
      // that name two entries name them alike.
      struct Ordered {
        int vm, handle;
        uint64_t gfn;
        const TableOwner* o;
      };
      std::vector<Ordered> ordered;
      for (const Ref& r : refs->second) {
        auto o = owners.find(r.table);
        if (o == owners.end()) continue;
        ordered.push_back({o->second.vm ? o->second.vm->id() : -1, o->second.pkvm_handle, r.gfn, &o->second});
      }
      std::sort(ordered.begin(), ordered.end(), [](const Ordered& a, const Ordered& b) {
        return std::tie(a.vm, a.gfn) < std::tie(b.vm, b.gfn);
      });
      for (const Ordered& r : ordered)
        if (r.o->vm) s2_page(*r.o->vm, r.o->protected_vm, r.gfn, pfn, private_owner, out);
      std::sort(ordered.begin(), ordered.end(), [](const Ordered& a, const Ordered& b) {
        return std::tie(a.handle, a.gfn) < std::tie(b.handle, b.gfn);
      });
      for (const Ordered& r : ordered)
        if (r.handle >= 0) {
          const auto e = r.o->table->entry(r.gfn << kPageShift, &dbg);
          guest_refs.push_back({uint16_t(r.handle), r.gfn, uint8_t(pkvm::getstate(e.desc))});
        }
    }
    if (p_.pkvm) {
      if (!guest_refs.empty()) pkvm_refs(pfn, guest_refs, out);
      if (u) pkvm_used(pfn, *u, guest_refs.empty() ? nullptr : &guest_refs, out);
    }
  }
  if (rerun_tds && p_.tdx) {
    tdx(out);
    stage2(out, /*tds_only=*/true);
  }

  // KeyID pointers to frames the engine let go of.
  for (const auto& [pfn, k] : j.keyid_frames_) {
    const Addr ka = p_.keyid_address(pfn << kPageShift, k);
    reg.for_each_in(ka, ka + kPageSize - 1, [&](unsigned init, Addr lo, Addr hi) { dmi_range(init, lo, hi, out); });
  }
  // DMI grants made: the range each covers.
  for (const auto& g : j.granted_)
    reg.for_each_in(g.lo, g.hi, [&](unsigned init, Addr lo, Addr hi) { dmi_range(init, lo, hi, out); });
  // The host's DMI pointers into guest_memfd pages that changed.
  if (!gmem_dirty.empty())
    for (const auto& [hv_page, g] : p_.host_mmu.dmi_grants()) {
      if (!g.to_gmem) continue;
      const std::pair<int, uint64_t> key{GmemMmapTarget::file_id(g.below),
                                         GmemMmapTarget::file_offset(g.below) >> kPageShift};
      if (gmem_dirty.count(key)) host_grant(hv_page, g.below, out);
    }
  // vCPU DMI pages cached since, or whose grant was revoked since.
  std::vector<uint64_t> vcpu_pages(j.vcpu_dmi_.begin(), j.vcpu_dmi_.end());
  std::sort(vcpu_pages.begin(), vcpu_pages.end());
  vcpu_pages.erase(std::unique(vcpu_pages.begin(), vcpu_pages.end()), vcpu_pages.end());
  for (size_t k = 0; k < p_.vcpus.size(); ++k) {
    const auto& v = p_.vcpus[k];
    std::unordered_set<uint64_t> seen;
    auto check_page = [&](uint64_t page) {
      if (v->dmi_page(page) && seen.insert(page).second) vcpu_dmi_page(k, page, out);
    };
    for (uint64_t page : vcpu_pages) check_page(page);
    for (const auto& r : j.revoked_) {
      const uint64_t first = r.lo >> kPageShift, last = r.hi >> kPageShift;
      if (last - first < v->dmi_pages())
        for (uint64_t page = first;; ++page) {
          check_page(page);
          if (page == last) break;
        }
      else
        v->for_each_dmi_page([&](uint64_t page) {
          if (page >= first && page <= last) check_page(page);
        });
    }
  }
  // What does not grow with memory: memslot bindings, TLBs, the pages an
  // instruction-set executor holds (a bounded cache per vCPU).
  bindings(out);
  tlbs(out);
  executor_mappings(out);
  j.clear();
  return out;
}
}  // namespace cocosim
