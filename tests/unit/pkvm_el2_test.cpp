// pKVM at EL2 piece by piece: the host's stage-2 (lazy identity map, owner
// annotations, injected aborts), guest page states in stage-2 software bits,
// the transitions' errors, the protected guest's hypercalls, TLB maintenance,
// and reclaim of a dying VM's pages.
#include <doctest/doctest.h>

#include <cerrno>
#include <vector>

#include "pkvm_rig.h"

using namespace cocosim;
using namespace cocosim::pkvm;
using cocosim_test::PkvmRig;
using S = PkvmPageState;

namespace {
Addr pa(uint64_t pfn) { return pfn << kPageShift; }
uint64_t field(uint64_t v, int hi, int lo) { return (v >> lo) & ((uint64_t{1} << (hi - lo + 1)) - 1); }
}  // namespace

TEST_CASE("pKVM host stage-2: the first host access maps the largest block inside the memory range") {
  PkvmRig r;
  HostStage2& s2 = r.hyp->host_stage2();
  const uint64_t pfn = r.host_page();
  CHECK_FALSE(s2.entry(pa(pfn)).leaf);
  HostAccess a = r.hyp->host_access(pa(pfn) + 8, true, false, 8, false, 0xffff800000001008);
  CHECK(a.ok);
  CHECK(a.el2_aborts == 1);
  const auto e = s2.entry(pa(pfn));
  REQUIRE(e.leaf);
  CHECK(e.depth == s2.format().levels() - 2);  // a 2 MiB block: the whole block is DRAM
  CHECK((field(e.desc, 47, 12) << 12) == (pa(pfn) & ~(kHugePageSize - 1)));  // identity
  CHECK((e.desc & (uint64_t{3} << 53)) == 0);  // memory is executable
  // The rest of the block needs no fault.
  CHECK(r.hyp->host_access(pa(pfn) + 5 * kPageSize, false, true, 4, true, 0).el2_aborts == 0);

  // The last page of DRAM: the 2 MiB block around it fits too; past it is MMIO (RW, not X).
  const Addr mmio = pa(PkvmRig::kDramPfn + PkvmRig::kDramPages) + 0x10000000;
  a = r.hyp->host_access(mmio, true, false, 4, false, 0);
  CHECK(a.ok);
  a = r.hyp->host_access(mmio, false, true, 4, false, 0x1234);
  CHECK(a.injected);  // a permission fault: EL2 gives it back
  CHECK(field(a.esr, 31, 26) == kEcIabtCur);
  CHECK(field(a.esr, 5, 0) == 0x0c + 2);  // permission fault at the block's level
}

TEST_CASE("pKVM host stage-2: a page donated away is annotated with its owner and the host's access is injected back") {
  PkvmRig r;
  HostStage2& s2 = r.hyp->host_stage2();
  const uint64_t pfn = r.host_page(), next = r.host_page();
  REQUIRE(r.hyp->host_access(pa(pfn), false, false, 8, false, 0).ok);
  REQUIRE(r.hyp->host_donate_hyp(pfn, 1) == 0);
  auto e = s2.entry(pa(pfn));
  CHECK_FALSE(e.leaf);
  CHECK(invalid_type(e.desc) == kPteHostDonation);
  CHECK(donation_owner(e.desc) == kIdHyp);
  CHECK(e.depth == s2.format().levels() - 1);  // the block was split around it
  CHECK(s2.entry(pa(next)).leaf);               // its neighbours keep their mapping
  CHECK(r.stats.get("t.pkvm.host_tlbi_ipas2e1is") == 1);

  // The kernel (EL1) writes it: a current-EL data abort with S1PTW set.
  HostAccess a = r.hyp->host_access(pa(pfn) + 0x10, true, false, 8, false, 0xffff000012345010);
  CHECK(a.injected);
  CHECK_FALSE(a.ok);
  CHECK(field(a.esr, 31, 26) == kEcDabtCur);
  CHECK((a.esr & kEsrS1ptw) != 0);
  CHECK((a.esr & kEsrWnR) != 0);
  CHECK(field(a.esr, 5, 0) == 0x04 + 3);  // translation fault, level 3
  CHECK(a.far == 0xffff000012345010);
  CHECK(a.hpfar == (kHpfarNs | ((pa(pfn) >> 8) & ~uint64_t{0xf})));
  // A host process (EL0) reads it: a lower-EL abort; the host kernel makes it SIGSEGV.
  a = r.hyp->host_access(pa(pfn), false, false, 4, true, 0x7f0000001000);
  CHECK(field(a.esr, 31, 26) == kEcDabtLow);
  CHECK((a.esr & kEsrS1ptw) != 0);
  CHECK(r.stats.get("t.pkvm.host_aborts_injected") == 2);

  // Back to the host: the entry is emptied and the next access maps it again.
  REQUIRE(r.hyp->hyp_donate_host(pfn, 1) == 0);
  e = s2.entry(pa(pfn));
  CHECK_FALSE(e.leaf);
  CHECK(e.desc == 0);
  a = r.hyp->host_access(pa(pfn), true, false, 8, false, 0);
  CHECK(a.ok);
  CHECK(a.el2_aborts == 1);

  // Beyond the physical address space: nothing to map, the abort goes back.
  CHECK(r.hyp->host_access(Addr{1} << 48, false, false, 8, false, 0).injected);
  // EL2's own memory is the hypervisor's from the start.
  CHECK(r.hyp->host_access(pa(PkvmRig::kPoolPfn + 3), false, false, 8, false, 0).injected);
}

TEST_CASE("pKVM: a donated page is the guest's in its stage-2 (bits 55-56), annotated for the host, shared back in place") {
  PkvmRig r;
  const uint16_t vm = r.vm(true);
  const uint64_t pfn = r.host_page(), gfn = 0x80;
  REQUIRE(r.hyp->host_donate_guest(pfn, gfn, vm) == 0);
  CHECK(r.hyp->host_state(pfn) == S::NoPage);
  CHECK(r.hyp->guest_state(vm, gfn) == S::Owned);
  CHECK(r.own.of(pfn).owner == Owner::Guest);
  CHECK(r.own.of(pfn).vm == vm);
  CHECK_FALSE(r.own.of(pfn).host_may_map);
  const auto he = r.hyp->host_stage2().entry(pa(pfn));
  CHECK(donation_owner(he.desc) == kIdGuest);
  CHECK(meta_handle(donation_meta(he.desc)) == vm);
  CHECK(meta_gfn(donation_meta(he.desc)) == gfn);
  Stage2PageTable& gpt = *r.hyp->vm(vm)->pgt;
  auto ge = gpt.entry(pa(gfn));
  REQUIRE(ge.leaf);
  CHECK(field(ge.desc, 56, 55) == 0);  // OWNED
  CHECK(field(ge.desc, 47, 12) == pfn);
  CHECK(r.hyp->host_access(pa(pfn), false, false, 8, true, 0).injected);

  REQUIRE(r.hyp->guest_share_host(vm, gfn) == 0);
  ge = gpt.entry(pa(gfn));
  CHECK(field(ge.desc, 56, 55) == 1);  // SHARED_OWNED
  CHECK(r.hyp->host_state(pfn) == S::SharedBorrowed);
  CHECK(r.own.of(pfn).owner == Owner::Guest);
  CHECK(r.own.of(pfn).host_may_map);
  CHECK(r.hyp->host_access(pa(pfn), true, false, 8, true, 0).ok);
  CHECK(r.hyp->guest_share_host(vm, gfn) == -EPERM);  // not OWNED any more
  CHECK(r.hyp->host_donate_guest(pfn, gfn + 1, vm) == -EPERM);

  // Unshare as the in-place sharing design has it: the host lets go first.
  std::vector<uint64_t> unmapped;
  r.hyp->set_host_unmap_hook([&](uint64_t p) {
    CHECK(r.hyp->host_state(p) == S::SharedBorrowed);  // still the host's to drop
    unmapped.push_back(p);
    return 0;
  });
  REQUIRE(r.hyp->guest_unshare_host(vm, gfn) == 0);
  CHECK(unmapped == std::vector<uint64_t>{pfn});
  CHECK(r.hyp->guest_state(vm, gfn) == S::Owned);
  CHECK(r.hyp->host_state(pfn) == S::NoPage);
  CHECK(r.hyp->host_access(pa(pfn), false, false, 8, true, 0).injected);
  CHECK(r.hyp->guest_unshare_host(vm, gfn) == -EPERM);
  CHECK(r.hyp->guest_unshare_host(vm, gfn + 7) == -ENOENT);

  // The host cannot drop the page yet (say it is pinned): nothing changes.
  REQUIRE(r.hyp->guest_share_host(vm, gfn) == 0);
  r.hyp->set_host_unmap_hook([](uint64_t) { return -EAGAIN; });
  CHECK(r.hyp->guest_unshare_host(vm, gfn) == -EAGAIN);
  CHECK(r.hyp->guest_state(vm, gfn) == S::SharedOwned);
  CHECK(r.hyp->host_state(pfn) == S::SharedBorrowed);
}

TEST_CASE("pKVM: the transitions' own errors") {
  PkvmRig r;
  const uint16_t np = r.vm(false), pv = r.vm(true);
  const uint64_t pfn = r.host_page();
  SUBCASE("ranges and the kinds of VM") {
    CHECK(r.hyp->host_donate_hyp(uint64_t{1} << 36, 1) == -EINVAL);  // beyond the PA space
    CHECK(r.hyp->host_donate_hyp(pfn, ~uint64_t{0}) == -EINVAL);
    // A PFN or GFN whose address would wrap around 64 bits onto a real page.
    CHECK(r.hyp->host_share_hyp((uint64_t{1} << 52) + pfn) == -EINVAL);
    CHECK(r.hyp->host_state(pfn) == S::Owned);
    CHECK(r.hyp->host_donate_guest(pfn, (uint64_t{1} << 52) + 1, pv) == -ERANGE);
    CHECK(r.hyp->guest_share_host(pv, (uint64_t{1} << 52) + 1) == -ERANGE);
    // Straddling the end of DRAM: one check must see one kind of range.
    const uint64_t last = PkvmRig::kDramPfn + PkvmRig::kDramPages - 1;
    CHECK(r.hyp->host_share_ffa(last, 2) == -EINVAL);
    CHECK(r.hyp->host_share_hyp(PkvmRig::kPoolPfn) == -EPERM);  // not the host's memory
    CHECK(r.hyp->host_share_hyp(pfn + 100) == -EPERM);          // a frame the host never allocated
    CHECK(r.hyp->host_share_guest(pfn, 1, 1, pv, kProtRWX) == -EINVAL);  // protected: donate, not share
    CHECK(r.hyp->host_donate_guest(pfn, 1, np) == -EINVAL);
    CHECK(r.hyp->host_share_guest(pfn, 1, 1, 0x7777, kProtRWX) == -EINVAL);
  }
  SUBCASE("share with a non-protected guest: protections, sizes, blocks") {
    CHECK(r.hyp->host_share_guest(pfn, 1, 1, np, kProtRWX | 8) == -EINVAL);
    CHECK(r.hyp->host_share_guest(pfn, 1, 2, np, kProtR) == -EINVAL);
    CHECK(r.hyp->host_share_guest(pfn, 1, 512, np, kProtR) == -EINVAL);  // not 2 MiB aligned
    CHECK(r.hyp->host_share_guest(pfn, uint64_t{1} << 40, 1, np, kProtR) == -ERANGE);
    REQUIRE(r.hyp->host_share_guest(pfn, 1, 1, np, kProtR) == 0);
    CHECK(r.hyp->vm(np)->pgt->lookup(pa(1))->perm.w == false);
    CHECK(r.hyp->host_share_guest(pfn, 1, 1, np, kProtR) == -EPERM);
    CHECK(r.hyp->host_share_hyp(pfn) == -EPERM);
    CHECK(r.hyp->host_unshare_guest(2, 1, np) == -ENOENT);
    CHECK(r.hyp->host_unshare_guest(1, 1, pv) == -EINVAL);

    auto huge = r.frames.alloc_huge({FrameKind::Kernel, nullptr, 0, -1});
    REQUIRE(huge);
    const uint64_t gfn = 0x200;
    REQUIRE(r.hyp->host_share_guest(*huge, gfn, 512, np, kProtRWX) == 0);
    const auto e = r.hyp->vm(np)->pgt->entry(pa(gfn + 7));
    CHECK(e.leaf);
    CHECK(e.depth == r.hyp->vm(np)->pgt->format().levels() - 2);
    CHECK(r.hyp->page(*huge + 300).host_share_guest_count == 1);
    CHECK(r.hyp->host_unshare_guest(gfn, 1, np) == -E2BIG);
    const uint64_t before = r.counter("tlbi_vmalls12e1is");
    REQUIRE(r.hyp->host_unshare_guest(gfn, 512, np) == 0);
    CHECK(r.hyp->host_state(*huge + 511) == S::Owned);
    CHECK(r.counter("tlbi_vmalls12e1is") == before);  // 512 pages: still page by page
    CHECK(r.counter("tlbi_ipas2e1is") == 512);
  }
  SUBCASE("pins: unshare is busy while pinned; unpinning an unpinned page is a hyp panic") {
    REQUIRE(r.hyp->host_share_hyp(pfn) == 0);
    REQUIRE(r.hyp->hyp_pin_shared_mem(pa(pfn) + 8, pa(pfn) + 16) == 0);
    CHECK(r.hyp->host_unshare_hyp(pfn) == -EBUSY);
    r.hyp->hyp_unpin_shared_mem(pa(pfn), pa(pfn) + kPageSize);
    CHECK_THROWS_AS(r.hyp->hyp_unpin_shared_mem(pa(pfn), pa(pfn) + kPageSize), HypPanic);
    CHECK(r.hyp->host_unshare_hyp(pfn) == 0);
  }
}

TEST_CASE("pKVM: every guest unmap invalidates (IPAS2E1IS + VMALLE1IS), teardown drops the VMID (VMALLS12E1IS)") {
  PkvmRig r;
  const uint16_t np = r.vm(false);
  const uint64_t pfn = r.host_page();
  REQUIRE(r.hyp->host_share_guest(pfn, 5, 1, np, kProtRWX) == 0);
  CHECK(r.counter("tlbi_ipas2e1is") == 0);  // mapping an empty entry needs none
  REQUIRE(r.hyp->host_unshare_guest(5, 1, np) == 0);
  CHECK(r.counter("tlbi_ipas2e1is") == 1);
  CHECK(r.counter("tlbi_vmalle1is") == 1);
  CHECK(r.tlb.ipa_pages == 1);
  CHECK(r.tlb.vmalle1 == 1);
  CHECK(r.hyp->tlb_ns() > 0);
  CHECK(r.hyp->finalize_teardown_vm(np) == -EINVAL);  // not dying
  REQUIRE(r.hyp->start_teardown_vm(np) == 0);
  REQUIRE(r.hyp->finalize_teardown_vm(np) == 0);
  CHECK(r.counter("tlbi_vmalls12e1is") == 1);
  CHECK(r.tlb.vmalls12 == 1);
  CHECK(r.hyp->vm(np) == nullptr);
}

TEST_CASE("pKVM hypercalls: FEATURES, HYP_MEMINFO, MEM_SHARE (with the not-faulted-in retry), MEM_UNSHARE, unknown IDs") {
  PkvmRig r;
  const uint16_t vm = r.vm(true), np = r.vm(false);
  PkvmHyp& h = *r.hyp;
  HvcResult res = h.guest_hvc(vm, {kHvcFeatures});
  CHECK(res.x0 == 0x1d);  // FEATURES, HYP_MEMINFO, MEM_SHARE, MEM_UNSHARE
  CHECK_FALSE(res.to_host);
  CHECK(h.guest_hvc(vm, {kHvcHypMeminfo}).x0 == kPageSize);
  CHECK(h.guest_hvc(vm, {kHvcHypMeminfo, 0, 0, 1}).x0 == kSmcccInvalidParameter);
  CHECK(h.guest_hvc(vm, {kHvcHypMeminfo, 1}).x0 == kSmcccInvalidParameter);
  CHECK(h.guest_hvc(vm, {0xC6000063}).x0 == kSmcccNotSupported);
  CHECK(h.guest_hvc(vm, {0x84000000}).x0 == kSmcccNotSupported);
  CHECK(h.guest_hvc(np, {kHvcMemShare, 0x1000}).to_host);  // the host's KVM answers those

  const Addr ipa = 0x40000;
  CHECK(h.guest_hvc(vm, {kHvcMemShare, ipa + 8}).x0 == kSmcccInvalidParameter);
  CHECK(h.guest_hvc(vm, {kHvcMemShare, ipa, 1}).x0 == kSmcccInvalidParameter);
  // Not faulted in: a faked write translation fault at level 3, the HVC to be retried.
  res = h.guest_hvc(vm, {kHvcMemShare, ipa});
  CHECK(res.to_host);
  CHECK(res.retry);
  CHECK(res.esr == ((uint64_t{0x24} << 26) | (1u << 6) | 0x07));
  CHECK(res.hpfar == (kHpfarNs | (ipa >> 8)));
  CHECK(res.far == 0);
  // The host faults it in (donates it), the guest retries.
  const uint64_t pfn = r.host_page();
  REQUIRE(h.host_donate_guest(pfn, pfn_of(ipa), vm) == 0);
  res = h.guest_hvc(vm, {kHvcMemShare, ipa});
  CHECK(res.x0 == kSmcccSuccess);
  CHECK_FALSE(res.to_host);
  CHECK(h.guest_state(vm, pfn_of(ipa)) == S::SharedOwned);
  CHECK(h.guest_hvc(vm, {kHvcMemShare, ipa}).x0 == kSmcccInvalidParameter);  // already shared
  CHECK(h.guest_hvc(vm, {kHvcMemUnshare, ipa}).x0 == kSmcccSuccess);
  CHECK(h.guest_state(vm, pfn_of(ipa)) == S::Owned);
  CHECK(h.guest_hvc(vm, {kHvcMemUnshare, ipa}).x0 == kSmcccInvalidParameter);
  CHECK(r.stats.get("t.pkvm.hvc_calls") == 13);
}

TEST_CASE("pKVM reclaim: a dying VM's pages come back zeroed if the guest owned them, a force-reclaimed page is POISON") {
  PkvmRig r;
  const uint16_t vm = r.vm(true);
  const uint64_t owned = r.host_page(), shared = r.host_page(), forced = r.host_page();
  REQUIRE(r.hyp->host_donate_guest(owned, 1, vm) == 0);
  REQUIRE(r.hyp->host_donate_guest(shared, 2, vm) == 0);
  REQUIRE(r.hyp->host_donate_guest(forced, 3, vm) == 0);
  REQUIRE(r.hyp->guest_share_host(vm, 2) == 0);
  r.mem.fill(pa(owned), 0xaa, kPageSize);  // what the guest wrote
  r.mem.fill(pa(shared), 0xbb, kPageSize);
  r.mem.fill(pa(forced), 0xcc, kPageSize);

  // Force reclaim (the host needs the page while the VM lives).
  CHECK(r.hyp->host_force_reclaim_page_guest(pa(shared)) == -EAGAIN);  // the host has it
  CHECK(r.hyp->host_force_reclaim_page_guest(0x1000) == -EFAULT);       // not memory
  CHECK(r.hyp->host_force_reclaim_page_guest(pa(PkvmRig::kDramPfn + 1000)) == -EAGAIN);
  REQUIRE(r.hyp->host_force_reclaim_page_guest(pa(forced)) == 0);
  CHECK(r.mem.all(pa(forced), kPageSize, 0));
  CHECK(r.hyp->guest_state(vm, 3) == S::Poison);
  CHECK(r.hyp->host_state(forced) == S::Owned);
  CHECK(r.hyp->host_force_reclaim_page_guest(pa(forced)) == -EAGAIN);
  Stage2Fault f;
  f.gpa = pa(3) + 0x10;
  f.syndrome = Arm64Arch::esr(false, false, false, 3, 8);
  CHECK(r.hyp->vcpu_in_poison_fault(vm, f) == 1);
  f.gpa = pa(1);
  CHECK(r.hyp->vcpu_in_poison_fault(vm, f) == 0);
  f.syndrome = Arm64Arch::esr(false, false, true, 3, 8);  // a permission fault
  CHECK(r.hyp->vcpu_in_poison_fault(vm, f) == -EINVAL);
  CHECK(r.hyp->guest_share_host(vm, 3) == -EHWPOISON);

  CHECK(r.hyp->host_reclaim_page_guest(1, vm) == -EINVAL);  // not dying
  REQUIRE(r.hyp->start_teardown_vm(vm) == 0);
  CHECK(r.hyp->host_donate_guest(r.host_page(), 9, vm) == -EINVAL);  // no vCPU runs any more
  CHECK(r.hyp->finalize_teardown_vm(vm) == -EBUSY);
  CHECK(r.hyp->host_reclaim_page_guest(7, vm) == -ENOENT);
  REQUIRE(r.hyp->host_reclaim_page_guest(1, vm) == 0);
  CHECK(r.mem.all(pa(owned), kPageSize, 0));
  CHECK(r.hyp->host_state(owned) == S::Owned);
  CHECK(r.own.of(owned).owner == Owner::Host);
  REQUIRE(r.hyp->host_reclaim_page_guest(2, vm) == 0);
  CHECK(r.mem.all(pa(shared), kPageSize, 0xbb));  // the host could read it already
  CHECK(r.hyp->host_state(shared) == S::Owned);
  CHECK(r.hyp->host_reclaim_page_guest(3, vm) == 0);  // POISON: already the host's
  CHECK(r.stats.get("t.pkvm.pages_zeroed") == 2);
  REQUIRE(r.hyp->finalize_teardown_vm(vm) == 0);
  CHECK(r.hyp->host_access(pa(owned), true, false, 8, true, 0).ok);
}
