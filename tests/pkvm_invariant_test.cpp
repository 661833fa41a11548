// The pKVM rules of the invariant checker must catch what they claim to:
// each test makes a legal pKVM state on an arm64-pkvm platform, breaks one
// rule behind EL2's back, expects the checker to name it, then repairs the
// state and leaves the platform clean for the next test (one platform per
// process: SystemC elaborates once).
// Every check runs the full and the incremental checker (dual_checker.h).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

#include <systemc>

#include "dual_checker.h"
#include "invariant_checker.h"
#include "pkvm/pkvm_defs.h"
#include "platform.h"

using namespace cocosim;
using namespace cocosim::pkvm;

namespace {

Platform* g_platform = nullptr;

bool has_rule(const std::vector<Violation>& v, const std::string& rule) {
  for (const auto& x : v)
    if (x.rule == rule) return true;
  return false;
}

struct Fixture {
  Platform& p = *g_platform;
  PkvmHyp& hyp = *g_platform->pkvm;
  DualChecker checker{p, [](const std::string& why) { FAIL_CHECK(why); }};
  uint16_t vm = 0;
  uint64_t pfn = 0;
  static constexpr uint64_t kGfn = 0x10000;

  Fixture() {
    REQUIRE(checker.check().empty());
    auto h = hyp.create_vm(true, {});
    REQUIRE(h);
    vm = *h;
    auto f = p.frames.alloc({FrameKind::Kernel, nullptr, 0, -1});
    REQUIRE(f);
    pfn = *f;
  }
  ~Fixture() {
    // Tear the VM down (every page back to the host), free the frame.
    hyp.start_teardown_vm(vm);
    for (uint64_t g = kGfn; g < kGfn + 2; ++g) hyp.host_reclaim_page_guest(g, vm);
    hyp.finalize_teardown_vm(vm);
    p.frames.free(pfn);
  }
  Addr pa() const { return pfn << kPageShift; }
  void set_host_state(PkvmPageState s) {
    FrameOwner o = p.ownership.of(pfn);
    o.pkvm.host_state = s;
    p.ownership.set_pkvm(pfn, o);
  }
};

}  // namespace

TEST_CASE("pKVM checker: a clean donation and share leave nothing to report") {
  Fixture t;
  REQUIRE(t.hyp.host_donate_guest(t.pfn, Fixture::kGfn, t.vm) == 0);
  CHECK(t.checker.check().empty());
  REQUIRE(t.hyp.guest_share_host(t.vm, Fixture::kGfn) == 0);
  CHECK(t.checker.check().empty());
}

TEST_CASE("pKVM checker: a guest-owned page the host still calls its own is caught") {
  Fixture t;
  REQUIRE(t.hyp.host_donate_guest(t.pfn, Fixture::kGfn, t.vm) == 0);
  t.set_host_state(PkvmPageState::Owned);  // the host's record forgets the donation
  auto v = t.checker.check();
  CHECK(has_rule(v, "pkvm-guest-state"));
  t.set_host_state(PkvmPageState::NoPage);
  CHECK(t.checker.check().empty());
}

TEST_CASE("pKVM checker: a donated page the host's stage-2 still maps is caught") {
  Fixture t;
  REQUIRE(t.hyp.host_donate_guest(t.pfn, Fixture::kGfn, t.vm) == 0);
  t.hyp.host_stage2().map_pages(t.pa(), kPageSize);  // the identity map comes back behind EL2's back
  auto v = t.checker.check();
  CHECK(has_rule(v, "pkvm-host-s2"));
  t.hyp.host_stage2().set_owner(t.pa(), kPageSize, kIdGuest, guest_meta(t.vm, Fixture::kGfn));
  CHECK(t.checker.check().empty());
}

TEST_CASE("pKVM checker: a host NOPAGE page without an owner is caught") {
  Fixture t;
  t.set_host_state(PkvmPageState::NoPage);  // given away, to nobody
  auto v = t.checker.check();
  CHECK(has_rule(v, "pkvm-one-owner"));
  t.set_host_state(PkvmPageState::Owned);
  CHECK(t.checker.check().empty());
}

TEST_CASE("pKVM checker: a guest SHARED_OWNED entry without the host's SHARED_BORROWED is caught") {
  Fixture t;
  REQUIRE(t.hyp.host_donate_guest(t.pfn, Fixture::kGfn, t.vm) == 0);
  REQUIRE(t.hyp.guest_share_host(t.vm, Fixture::kGfn) == 0);
  t.set_host_state(PkvmPageState::NoPage);  // the host's half of the share is lost
  auto v = t.checker.check();
  CHECK(has_rule(v, "pkvm-shared-peer"));
  t.set_host_state(PkvmPageState::SharedBorrowed);
  CHECK(t.checker.check().empty());
}

TEST_CASE("pKVM checker: a share count that disagrees with the borrowers is caught") {
  Fixture t;
  const uint16_t np = g_platform->pkvm_selftest_vm();
  REQUIRE(t.hyp.host_share_guest(t.pfn, Fixture::kGfn, 1, np, kProtRWX) == 0);
  CHECK(t.checker.check().empty());
  FrameOwner o = t.p.ownership.of(t.pfn);
  o.pkvm.host_share_guest_count = 2;
  t.p.ownership.set_pkvm(t.pfn, o);
  auto v = t.checker.check();
  CHECK(has_rule(v, "pkvm-share-count"));
  o.pkvm.host_share_guest_count = 1;
  t.p.ownership.set_pkvm(t.pfn, o);
  REQUIRE(t.hyp.host_unshare_guest(Fixture::kGfn, 1, np) == 0);
  CHECK(t.checker.check().empty());
}

TEST_CASE("pKVM checker: a host DMI pointer left on a donated page is caught") {
  Fixture t;
  // The host kernel reads the page and keeps a DMI pointer to it.
  const int pid = t.p.mm.create_process("dmi");
  Vma* m = nullptr;
  REQUIRE(t.p.mm.mmap_anon(pid, "a", kPageSize, true, &m) == 0);
  uint8_t b[8] = {1};
  sc_core::sc_time d;
  REQUIRE(t.p.host_cpu.user_access(pid, m->start, b, 8, true, d) == 0);
  REQUIRE(t.p.host_cpu.user_access(pid, m->start, b, 8, false, d) == 0);
  const uint64_t apfn = m->anon->pages.at(0);
  REQUIRE(t.p.host_mapped_by_dmi(apfn));
  // Donate it with the revocation switched off: the pointer survives.
  t.p.ownership.set_revoke_hook(nullptr);
  REQUIRE(t.hyp.host_donate_guest(apfn, Fixture::kGfn + 1, t.vm) == 0);
  t.p.ownership.set_revoke_hook([&](uint64_t f) {
    t.p.phys_bus.invalidate(f << kPageShift, (f << kPageShift) + kPageSize - 1);
  });
  auto v = t.checker.check();
  CHECK(has_rule(v, "pkvm-host-dmi"));
  t.p.phys_bus.invalidate(apfn << kPageShift, (apfn << kPageShift) + kPageSize - 1);
  CHECK(t.checker.check().empty());
  t.hyp.start_teardown_vm(t.vm);
  REQUIRE(t.hyp.host_reclaim_page_guest(Fixture::kGfn + 1, t.vm) == 0);
  t.p.host_mmu.munmap(m);
}

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  return sc_core::sc_elab_and_sim(argc, argv);
}

int sc_main(int argc, char** argv) {
  Stats stats;
  PlatformConfig cfg;
  cfg.arch = Arch::Arm64Pkvm;
  Platform platform(cfg, 1, stats);
  g_platform = &platform;
  sc_core::sc_start(sc_core::SC_ZERO_TIME);  // elaboration, then pKVM at EL2 starts
  doctest::Context ctx(argc, argv);
  int rc = platform.pkvm ? ctx.run() : 1;
  g_platform = nullptr;
  return rc;
}
