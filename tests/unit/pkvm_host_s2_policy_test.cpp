// The host_s2 slot's policy on its own: pKVM's host stage-2 in front of the
// host's initiators, with its one-page translation cache.
#include <doctest/doctest.h>

#include <csignal>

#include "pkvm/host_stage2_policy.h"
#include "pkvm_rig.h"

using namespace cocosim;
using cocosim_test::PkvmRig;

TEST_CASE("host_s2 policy: passes everything until pKVM is attached") {
  PkvmRig r;
  HostStage2Policy pol(r.stats, "t.host_s2");
  AccessExtension ext;
  CHECK(pol.admit(0x1234, true, 8, &ext));
  CHECK(pol.dmi_allowed(0x1234));
  CHECK_FALSE(pol.active());
}

TEST_CASE("host_s2 policy: the host's own pages pass, a donated one is an oops or SIGSEGV, even after a cached hit") {
  PkvmRig r;
  HostStage2Policy pol(r.stats, "t.host_s2");
  pol.attach(r.hyp.get());
  const uint64_t pfn = r.host_page();
  const Addr pa = pfn << kPageShift;
  AccessExtension kernel;
  kernel.who = Initiator::HostKernel;
  AccessExtension user;
  user.who = Initiator::HostUser;
  CHECK(pol.admit(pa, true, 8, &kernel));
  CHECK(r.stats.get("t.pkvm.host_aborts") == 1);  // the lazy fill
  CHECK(pol.admit(pa + 8, false, 8, &user));
  CHECK(pol.dmi_allowed(pa));

  const uint16_t vm = r.vm(true);
  REQUIRE(r.hyp->host_donate_guest(pfn, 0x10, vm) == 0);
  // The cached translation of the page must not let the access through.
  CHECK_FALSE(pol.admit(pa, false, 8, &kernel));
  CHECK(pol.oops_seq() == 1);
  CHECK(pol.last_oops().pa == pa);
  CHECK((pol.last_oops().esr >> 26) == pkvm::kEcDabtCur);
  CHECK(r.stats.get("t.host_s2.host_oops") == 1);
  CHECK_FALSE(pol.admit(pa, true, 8, &user));
  CHECK(user.signal == SIGSEGV);
  CHECK(r.stats.get("t.host_s2.host_sigsegv") == 1);
  CHECK_FALSE(pol.dmi_allowed(pa));
  // Its neighbour is still the host's.
  CHECK(pol.admit(pa + kPageSize, true, 8, &kernel));
}
