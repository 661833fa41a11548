// pkvm_ownership_selftest (mem_protect.c, CONFIG_NVHE_EL2_DEBUG) call by
// call: one page that starts as the hypervisor's and two guest pages of a
// non-protected VM; every call's return and the page's state after each.
#include <doctest/doctest.h>

#include <cerrno>

#include "pkvm_rig.h"

using namespace cocosim;
using cocosim_test::PkvmRig;

namespace {

using S = PkvmPageState;

struct Expected {
  S host, hyp, guest0, guest1;
};

struct Selftest {
  PkvmRig r;
  uint64_t pfn = 0;
  uint64_t gfn = 0;
  uint16_t vm = 0;
  Addr virt = 0, end = 0;  // the page, as hyp_pin_shared_mem takes it
  Expected st{};

  Selftest() {
    pfn = r.host_page();
    vm = r.vm(false);
    // selftest_ipa(): BIT(ia_bits - 1)
    gfn = (Addr{1} << (r.arch.gpa_bits() - 1)) >> kPageShift;
    virt = pfn << kPageShift;
    end = virt + kPageSize;
    // The selftest's page comes from EL2's pool: host NOPAGE, hyp OWNED.
    REQUIRE(r.hyp->host_donate_hyp(pfn, 1) == 0);
    st = {S::NoPage, S::Owned, S::NoPage, S::NoPage};
  }
  void assert_page_state(const char* after) {
    INFO("after " << after);
    CHECK(pkvm_state_name(r.hyp->host_state(pfn)) == std::string(pkvm_state_name(st.host)));
    CHECK(pkvm_state_name(r.hyp->hyp_state(pfn)) == std::string(pkvm_state_name(st.hyp)));
    CHECK(pkvm_state_name(r.hyp->guest_state(vm, gfn)) == std::string(pkvm_state_name(st.guest0)));
    CHECK(pkvm_state_name(r.hyp->guest_state(vm, gfn + 1)) == std::string(pkvm_state_name(st.guest1)));
  }
};

// assert_transition_res: the call returns `res`, then the state is checked.
#define TRANSITION(res, call)              \
  do {                                     \
    CHECK_MESSAGE((call) == (res), #call); \
    t.assert_page_state(#call);            \
  } while (0)

}  // namespace

TEST_CASE("pKVM ownership selftest: the six steps with every return and state") {
  Selftest t;
  PkvmHyp& h = *t.r.hyp;
  const uint64_t pfn = t.pfn, gfn = t.gfn;
  const uint16_t vm = t.vm;
  const uint64_t prot = pkvm::kProtRWX;
  t.assert_page_state("setup");

  // 1. The hypervisor owns the page: the host can do nothing with it.
  TRANSITION(-EPERM, h.host_donate_hyp(pfn, 1));
  TRANSITION(-EPERM, h.host_share_hyp(pfn));
  TRANSITION(-EPERM, h.host_unshare_hyp(pfn));
  TRANSITION(-EPERM, h.host_share_ffa(pfn, 1));
  TRANSITION(-EPERM, h.host_unshare_ffa(pfn, 1));
  TRANSITION(-EPERM, h.hyp_pin_shared_mem(t.virt, t.end));
  TRANSITION(-EPERM, h.host_share_guest(pfn, gfn, 1, vm, prot));
  TRANSITION(-ENOENT, h.host_unshare_guest(gfn, 1, vm));

  // 2. Given to the host.
  t.st.host = S::Owned;
  t.st.hyp = S::NoPage;
  TRANSITION(0, h.hyp_donate_host(pfn, 1));
  TRANSITION(-EPERM, h.hyp_donate_host(pfn, 1));
  TRANSITION(-EPERM, h.host_unshare_hyp(pfn));
  TRANSITION(-EPERM, h.host_unshare_ffa(pfn, 1));
  TRANSITION(-ENOENT, h.host_unshare_guest(gfn, 1, vm));
  TRANSITION(-EPERM, h.hyp_pin_shared_mem(t.virt, t.end));

  // 3. Shared with the hypervisor; pinned twice, unpinned once: busy.
  t.st.host = S::SharedOwned;
  t.st.hyp = S::SharedBorrowed;
  TRANSITION(0, h.host_share_hyp(pfn));
  TRANSITION(-EPERM, h.host_share_hyp(pfn));
  TRANSITION(-EPERM, h.host_donate_hyp(pfn, 1));
  TRANSITION(-EPERM, h.host_share_ffa(pfn, 1));
  TRANSITION(-EPERM, h.hyp_donate_host(pfn, 1));
  TRANSITION(-EPERM, h.host_share_guest(pfn, gfn, 1, vm, prot));
  TRANSITION(-ENOENT, h.host_unshare_guest(gfn, 1, vm));

  TRANSITION(0, h.hyp_pin_shared_mem(t.virt, t.end));
  TRANSITION(0, h.hyp_pin_shared_mem(t.virt, t.end));
  h.hyp_unpin_shared_mem(t.virt, t.end);
  CHECK(h.page(pfn).refcount == 1);
  TRANSITION(-EBUSY, h.host_unshare_hyp(pfn));
  TRANSITION(-EPERM, h.host_share_hyp(pfn));
  TRANSITION(-EPERM, h.host_donate_hyp(pfn, 1));
  TRANSITION(-EPERM, h.host_share_ffa(pfn, 1));
  TRANSITION(-EPERM, h.hyp_donate_host(pfn, 1));
  TRANSITION(-EPERM, h.host_share_guest(pfn, gfn, 1, vm, prot));
  TRANSITION(-ENOENT, h.host_unshare_guest(gfn, 1, vm));

  h.hyp_unpin_shared_mem(t.virt, t.end);
  t.assert_page_state("hyp_unpin_shared_mem");
  CHECK(h.page(pfn).refcount == 0);

  t.st.host = S::Owned;
  t.st.hyp = S::NoPage;
  TRANSITION(0, h.host_unshare_hyp(pfn));

  // 4. Shared through FF-A: a host-only state.
  t.st.host = S::SharedOwned;
  t.st.hyp = S::NoPage;
  TRANSITION(0, h.host_share_ffa(pfn, 1));
  TRANSITION(-EPERM, h.host_share_ffa(pfn, 1));
  TRANSITION(-EPERM, h.host_donate_hyp(pfn, 1));
  TRANSITION(-EPERM, h.host_share_hyp(pfn));
  TRANSITION(-EPERM, h.host_unshare_hyp(pfn));
  TRANSITION(-EPERM, h.hyp_donate_host(pfn, 1));
  TRANSITION(-EPERM, h.host_share_guest(pfn, gfn, 1, vm, prot));
  TRANSITION(-ENOENT, h.host_unshare_guest(gfn, 1, vm));
  TRANSITION(-EPERM, h.hyp_pin_shared_mem(t.virt, t.end));

  t.st.host = S::Owned;
  t.st.hyp = S::NoPage;
  TRANSITION(0, h.host_unshare_ffa(pfn, 1));
  TRANSITION(-EPERM, h.host_unshare_ffa(pfn, 1));

  // 5. Shared with a non-protected guest at two GFNs.
  t.st.host = S::SharedOwned;
  t.st.guest0 = S::SharedBorrowed;
  TRANSITION(0, h.host_share_guest(pfn, gfn, 1, vm, prot));
  TRANSITION(-EPERM, h.host_share_guest(pfn, gfn, 1, vm, prot));
  TRANSITION(-EPERM, h.host_share_ffa(pfn, 1));
  TRANSITION(-EPERM, h.host_donate_hyp(pfn, 1));
  TRANSITION(-EPERM, h.host_share_hyp(pfn));
  TRANSITION(-EPERM, h.host_unshare_hyp(pfn));
  TRANSITION(-EPERM, h.hyp_donate_host(pfn, 1));
  TRANSITION(-EPERM, h.hyp_pin_shared_mem(t.virt, t.end));

  t.st.guest1 = S::SharedBorrowed;
  TRANSITION(0, h.host_share_guest(pfn, gfn + 1, 1, vm, prot));
  CHECK(h.page(pfn).host_share_guest_count == 2);

  t.st.guest0 = S::NoPage;
  TRANSITION(0, h.host_unshare_guest(gfn, 1, vm));

  t.st.guest1 = S::NoPage;
  t.st.host = S::Owned;
  TRANSITION(0, h.host_unshare_guest(gfn + 1, 1, vm));

  // 6. Back to the hypervisor.
  t.st.host = S::NoPage;
  t.st.hyp = S::Owned;
  TRANSITION(0, h.host_donate_hyp(pfn, 1));
}
