// Random sequences of legal and illegal calls into pKVM at EL2 (fixed seed;
// PKVM_ITERATIONS=N for long runs). After every call the ownership
// invariants hold, and a refused call returned its error and changed nothing:
// no page's metadata or owner record, no byte of any stage-2 table read
// through the MemoryPort, no VM, no write to memory.
#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <initializer_list>
#include <ios>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <string>
#include <vector>

#include "pkvm_rig.h"

using namespace cocosim;
using namespace cocosim::pkvm;
using cocosim_test::PkvmRig;
using S = PkvmPageState;

namespace {

// REQUIRE only on failure: millions of passing checks cost nothing to record.
#define ENSURE(...)                               \
  do {                                            \
    if (!(__VA_ARGS__)) REQUIRE(__VA_ARGS__);     \
  } while (0)
#define ENSURE_FALSE(...) ENSURE(!(__VA_ARGS__))

Addr pa(uint64_t pfn) { return pfn << kPageShift; }
bool owns(S s) { return s == S::Owned || s == S::SharedOwned; }

// The errors each call may return (docs/pkvm.md's table).
const std::map<std::string, std::set<int>>& allowed_errors() {
  static const std::set<int> range{EPERM, EINVAL};
  static const std::set<int> guest{EINVAL, ENOENT, EPERM, EHWPOISON, E2BIG, ERANGE};
  static const std::set<int> unshare{EINVAL, ENOENT, EPERM, E2BIG, ERANGE};
  static const std::map<std::string, std::set<int>> m = {
      {"host_share_hyp", range},
      {"host_unshare_hyp", {EPERM, EINVAL, EBUSY}},
      {"host_donate_hyp", range},
      {"hyp_donate_host", range},
      {"host_share_ffa", range},
      {"host_unshare_ffa", range},
      {"hyp_pin_shared_mem", range},
      {"host_share_guest", {EINVAL, EPERM, ERANGE, EBUSY}},
      {"host_share_guest(block)", {EINVAL, EPERM, ERANGE, EBUSY}},
      {"host_unshare_guest", unshare},
      {"host_unshare_guest(block)", unshare},
      {"host_unshare_guest(dying)", unshare},
      {"host_donate_guest", {EINVAL, EPERM, ERANGE}},
      {"guest_share_host", guest},
      {"guest_unshare_host", guest},
      {"hvc MEM_SHARE", {ENOENT, EINVAL}},  // the retry exit, INVALID_PARAMETER
      {"hvc MEM_UNSHARE", {EINVAL}},
      {"host access", {EPERM}},
      {"host_force_reclaim_page_guest", {EFAULT, EAGAIN, EPERM}},
      {"host_reclaim_page_guest", {EINVAL, ENOENT, EPERM, ERANGE}},
      {"start_teardown_vm", {ENOENT}},
      {"finalize_teardown_vm", {EBUSY, EINVAL, ENOENT}},
  };
  return m;
}

struct Snapshot {
  std::vector<FrameOwner> records;
  std::vector<uint8_t> tables;
  std::vector<std::pair<uint16_t, bool>> vms;  // handle, dying
  uint64_t writes = 0;
  bool operator==(const Snapshot& o) const {
    if (records.size() != o.records.size()) return false;
    for (size_t i = 0; i < records.size(); ++i) {
      const FrameOwner &a = records[i], &b = o.records[i];
      if (a.owner != b.owner || a.vm != b.vm || a.host_may_map != b.host_may_map || a.pkvm != b.pkvm)
        return false;
    }
    return tables == o.tables && vms == o.vms && writes == o.writes;
  }
};

struct Fuzz {
  PkvmRig r;
  PkvmHyp& h;
  std::mt19937_64 rng{0x9c1a55e7};
  std::vector<uint64_t> small;  // pages most calls pick from
  uint64_t huge = 0;            // a 2 MiB-aligned run of 512 host pages
  uint64_t huge2 = 0;           // another, which only block shares touch
  std::vector<uint64_t> all;    // every page under check
  std::set<uint64_t> ffa;       // what the FF-A proxy shared (its own record in pKVM)
  std::vector<uint16_t> protected_vms, np_vms;
  static constexpr uint64_t kGfns = 48;
  uint64_t legal = 0, refused = 0, iterations = 0;
  bool filled_then_refused = false;
  std::map<std::string, std::pair<uint64_t, uint64_t>> per_call;  // name -> (ok, refused)

  Fuzz() : h(*r.hyp) {
    for (int i = 0; i < 40; ++i) small.push_back(r.host_page());
    auto run = r.frames.alloc_huge({FrameKind::Kernel, nullptr, 0, -1});
    REQUIRE(run);
    huge = *run;
    for (int i = 0; i < 4; ++i) small.push_back(huge + i);
    all = small;
    for (uint64_t i = 4; i < 512; ++i) all.push_back(huge + i);
    auto run2 = r.frames.alloc_huge({FrameKind::Kernel, nullptr, 0, -1});
    REQUIRE(run2);
    huge2 = *run2;
    for (uint64_t i = 0; i < 512; ++i) all.push_back(huge2 + i);
    for (int i = 0; i < 2; ++i) protected_vms.push_back(r.vm(true));
    np_vms.push_back(r.vm(false));
  }

  uint64_t pick(uint64_t n) { return rng() % n; }
  bool chance(unsigned pct) { return pick(100) < pct; }
  // Mostly a page under test; sometimes EL2's pool, a free frame, MMIO or beyond the PA space.
  uint64_t any_pfn() {
    switch (pick(40)) {
      case 0: return PkvmRig::kPoolPfn + pick(PkvmRig::kPoolPages);
      case 1: return PkvmRig::kDramPfn + PkvmRig::kDramPages - 1 - pick(8);  // never allocated
      case 2: return 0x100 + pick(16);                                     // MMIO
      case 3: return (uint64_t{1} << 36) + pick(4);
      default: return small[pick(small.size())];
    }
  }
  uint16_t any_vm() {
    const uint64_t k = pick(protected_vms.size() + np_vms.size() + 1);
    if (k < protected_vms.size()) return protected_vms[k];
    if (k - protected_vms.size() < np_vms.size()) return np_vms[k - protected_vms.size()];
    return 0x7fff;  // no such VM
  }
  uint64_t any_gfn() { return chance(2) ? (uint64_t{1} << 40) : pick(kGfns); }
  // Mostly a GFN the VM has something at, so that guest-side calls can succeed.
  uint64_t some_gfn(uint16_t vm) {
    if (chance(30) || !h.vm(vm)) return any_gfn();
    std::vector<uint64_t> at;
    for (uint64_t g = 0; g < kGfns; ++g)
      if (h.guest_state(vm, g) != S::NoPage) at.push_back(g);
    return at.empty() ? any_gfn() : at[pick(at.size())];
  }

  // Fills `s` in place (its buffers are reused from call to call).
  void snapshot(Snapshot& s) {
    s.records.clear();
    s.tables.clear();
    s.vms.clear();
    for (uint64_t p : all) s.records.push_back(r.own.of(p));
    auto tables = [&](Stage2PageTable& t) {
      std::set<uint64_t> pfns(t.table_pfns().begin(), t.table_pfns().end());
      for (uint64_t p : pfns) {
        const size_t at = s.tables.size();
        s.tables.resize(at + kPageSize);
        r.mem.read(pa(p), &s.tables[at], kPageSize);
      }
    };
    tables(h.host_stage2().table());
    for (auto& [handle, vm] : h.vms()) {
      s.vms.push_back({handle, vm->is_dying});
      tables(*vm->pgt);
    }
    s.writes = r.mem.writes;
  }
  Snapshot before_, after_;

  // ---- the invariants -------------------------------------------------------
  struct GuestRef {
    uint16_t vm;
    uint64_t gfn;
    S state;
  };

  void check_invariants(bool full) {
    std::unordered_map<uint64_t, std::vector<GuestRef>> refs;  // pfn -> guest entries mapping it
    for (auto& entry : h.vms()) {
      const uint16_t hd = entry.first;
      auto& pgt = *entry.second->pgt;
      pgt.for_each_leaf([&](const Stage2Leaf& l) {
        const auto e = pgt.entry(l.gpa);
        for (uint64_t i = 0; i < l.size / kPageSize; ++i)
          refs[pfn_of(l.pa) + i].push_back({hd, pfn_of(l.gpa) + i, getstate(e.desc)});
      });
    }
    const size_t n = full ? all.size() : small.size();
    for (size_t i = 0; i < n; ++i) {
      const uint64_t pfn = all[i];
      const PkvmPage p = h.page(pfn);
      const S host = p.host_state, hyp = p.hyp_state();
      const auto& g = refs[pfn];
      INFO("pfn 0x" << std::hex << pfn << std::dec << " host " << pkvm_state_name(host) << " hyp "
                    << pkvm_state_name(hyp) << " guest entries " << g.size() << " after "
                    << iterations << " calls");
      // Exactly one owner.
      unsigned owners = owns(host) + owns(hyp), guest_sb = 0, guest_so = 0;
      for (const GuestRef& ref : g) {
        owners += owns(ref.state);
        guest_sb += ref.state == S::SharedBorrowed;
        guest_so += ref.state == S::SharedOwned;
      }
      ENSURE(owners == 1);
      // Each share has its borrower, and the counts match.
      ENSURE(guest_sb == p.host_share_guest_count);
      if (host == S::SharedOwned) {
        const unsigned peers = (hyp == S::SharedBorrowed) + (p.host_share_guest_count > 0) + ffa.count(pfn);
        ENSURE(peers == 1);
      }
      if (hyp == S::SharedBorrowed) ENSURE(host == S::SharedOwned);
      if (guest_sb) ENSURE(host == S::SharedOwned);
      ENSURE((host == S::SharedBorrowed) == (guest_so == 1));
      ENSURE(guest_so <= 1);
      if (p.refcount) ENSURE(hyp == S::SharedBorrowed);
      // Nothing a guest or the hypervisor owns is mapped in the host's stage-2;
      // a donated page carries its owner there, and the guest's entry agrees.
      const auto he = h.host_stage2().entry(pa(pfn));
      if (host == S::NoPage) {
        ENSURE_FALSE(he.leaf);
        ENSURE(invalid_type(he.desc) == kPteHostDonation);
        if (hyp == S::Owned) {
          ENSURE(donation_owner(he.desc) == kIdHyp);
        } else {
          ENSURE(donation_owner(he.desc) == kIdGuest);
          ENSURE(g.size() == 1);
          ENSURE(g[0].state == S::Owned);
          ENSURE(meta_handle(donation_meta(he.desc)) == g[0].vm);
          ENSURE(meta_gfn(donation_meta(he.desc)) == g[0].gfn);
        }
      } else {
        ENSURE((he.leaf || he.desc == 0));
      }
      // The ownership record says the same.
      const FrameOwner o = r.own.of(pfn);
      const Owner want = owns(hyp) ? Owner::Hypervisor : owns(host) ? Owner::Host : Owner::Guest;
      ENSURE(o.owner == want);
      ENSURE(o.host_may_map == (host != S::NoPage));
      if (want == Owner::Guest) {
        ENSURE(g.size() == 1);
        ENSURE(o.vm == g[0].vm);
      }
    }
  }

  // ---- one call ---------------------------------------------------------------
  // Returns the call's name; `ret` its result; `expect` the result the facts'
  // pre-state table predicts when the call is regular enough to predict.
  const char* call(int& ret, std::optional<int>& expect) {
    auto state = [&](uint64_t pfn) { return h.page(pfn); };
    auto tracked = [&](uint64_t pfn) { return std::find(all.begin(), all.end(), pfn) != all.end(); };
    const uint64_t pfn = any_pfn();
    switch (pick(17)) {
      case 0: {
        if (tracked(pfn)) expect = state(pfn).host_state == S::Owned && state(pfn).hyp_state() == S::NoPage ? 0 : -EPERM;
        ret = h.host_share_hyp(pfn);
        return "host_share_hyp";
      }
      case 1: {
        if (tracked(pfn)) {
          const PkvmPage p = state(pfn);
          expect = p.host_state == S::SharedOwned && p.hyp_state() == S::SharedBorrowed ? (p.refcount ? -EBUSY : 0) : -EPERM;
        }
        ret = h.host_unshare_hyp(pfn);
        return "host_unshare_hyp";
      }
      case 2: {
        const uint64_t n = 1 + pick(2);
        if (tracked(pfn) && tracked(pfn + n - 1)) {
          bool ok = true;
          for (uint64_t i = 0; i < n; ++i) ok &= state(pfn + i).host_state == S::Owned && state(pfn + i).hyp_state() == S::NoPage;
          expect = ok ? 0 : -EPERM;
        }
        ret = h.host_donate_hyp(pfn, n);
        return "host_donate_hyp";
      }
      case 3: {
        const uint64_t n = 1 + pick(2);
        if (tracked(pfn) && tracked(pfn + n - 1)) {
          bool ok = true;
          for (uint64_t i = 0; i < n; ++i) ok &= state(pfn + i).hyp_state() == S::Owned && state(pfn + i).host_state == S::NoPage;
          expect = ok ? 0 : -EPERM;
        }
        ret = h.hyp_donate_host(pfn, n);
        return "hyp_donate_host";
      }
      case 4: {
        const uint64_t n = 1 + pick(2);
        if (tracked(pfn) && tracked(pfn + n - 1)) {
          bool ok = true;
          for (uint64_t i = 0; i < n; ++i) ok &= state(pfn + i).host_state == S::Owned;
          expect = ok ? 0 : -EPERM;
        }
        ret = h.host_share_ffa(pfn, n);
        if (!ret)
          for (uint64_t i = 0; i < n; ++i) ffa.insert(pfn + i);
        return "host_share_ffa";
      }
      case 5: {
        // The FF-A proxy unshares only what it shared (upstream EL2 checks
        // only the host's SHARED_OWNED): a page shared with anyone else is
        // not asked for.
        const uint64_t n = 1 + pick(2);
        for (uint64_t i = 0; i < n; ++i)
          if (state(pfn + i).host_state == S::SharedOwned && !ffa.count(pfn + i)) return nullptr;
        if (tracked(pfn) && tracked(pfn + n - 1)) {
          bool ok = true;
          for (uint64_t i = 0; i < n; ++i) ok &= state(pfn + i).host_state == S::SharedOwned;
          expect = ok ? 0 : -EPERM;
        }
        ret = h.host_unshare_ffa(pfn, n);
        if (!ret)
          for (uint64_t i = 0; i < n; ++i) ffa.erase(pfn + i);
        return "host_unshare_ffa";
      }
      case 6: {
        const uint64_t n = 1 + pick(2);
        if (tracked(pfn) && tracked(pfn + n - 1)) {
          bool ok = true;
          for (uint64_t i = 0; i < n; ++i) ok &= state(pfn + i).host_state == S::SharedOwned && state(pfn + i).hyp_state() == S::SharedBorrowed;
          expect = ok ? 0 : -EPERM;
        }
        ret = h.hyp_pin_shared_mem(pa(pfn) + pick(64), pa(pfn + n - 1) + 1 + pick(kPageSize - 1));
        return "hyp_pin_shared_mem";
      }
      case 7: {
        // EL2 unpins only what it pinned (an unbalanced unpin is a hyp panic).
        if (!tracked(pfn) || !state(pfn).refcount) return nullptr;
        h.hyp_unpin_shared_mem(pa(pfn), pa(pfn) + kPageSize);
        ret = 0;
        return "hyp_unpin_shared_mem";
      }
      case 8: {
        const uint16_t vm = any_vm();
        const uint64_t gfn = any_gfn();
        const uint64_t prot = chance(5) ? kProtRWX | 8 : (1 + pick(7));
        if (chance(3)) {  // the whole 2 MiB run as one block
          ret = h.host_share_guest(chance(50) ? huge : huge2, 0x200, 512, vm, prot);
          return "host_share_guest(block)";
        }
        PkvmVm* v = h.vm(vm);
        if (tracked(pfn) && v && !v->is_protected && !v->is_dying && !(prot & 8) && gfn < kGfns) {
          const PkvmPage p = state(pfn);
          const bool host_ok = p.host_state == S::Owned || (p.host_state == S::SharedOwned && p.host_share_guest_count);
          expect = h.guest_state(vm, gfn) == S::NoPage && host_ok ? 0 : -EPERM;
        }
        ret = h.host_share_guest(pfn, gfn, 1, vm, prot);
        return "host_share_guest";
      }
      case 9: {
        const uint16_t vm = any_vm();
        if (chance(5)) {
          ret = h.host_unshare_guest(0x200, chance(50) ? 512 : 1, vm);
          return "host_unshare_guest(block)";
        }
        const uint64_t gfn = some_gfn(vm);
        PkvmVm* v = h.vm(vm);
        if (v && !v->is_protected && gfn < kGfns) {
          const S g = h.guest_state(vm, gfn);
          expect = g == S::NoPage ? -ENOENT : g == S::SharedBorrowed ? 0 : -EPERM;
        }
        ret = h.host_unshare_guest(gfn, 1, vm);
        return "host_unshare_guest";
      }
      case 10: {
        const uint16_t vm = any_vm();
        const uint64_t gfn = any_gfn();
        PkvmVm* v = h.vm(vm);
        if (tracked(pfn) && v && v->is_protected && !v->is_dying && gfn < kGfns)
          expect = state(pfn).host_state == S::Owned && h.guest_state(vm, gfn) == S::NoPage ? 0 : -EPERM;
        ret = h.host_donate_guest(pfn, gfn, vm);
        return "host_donate_guest";
      }
      case 11:
      case 12: {
        const bool share = pick(17) % 2;  // either direction, from either entry point
        const uint16_t vm = any_vm();
        const uint64_t gfn = some_gfn(vm);
        PkvmVm* v = h.vm(vm);
        if (v && v->is_protected && !v->is_dying && gfn < kGfns) {
          const S g = h.guest_state(vm, gfn);
          const S want = share ? S::Owned : S::SharedOwned;
          expect = g == S::Poison ? -EHWPOISON : g == S::NoPage ? -ENOENT : g == want ? 0 : -EPERM;
        }
        if (chance(50)) {
          const HvcResult res = h.guest_hvc(vm, {share ? kHvcMemShare : kHvcMemUnshare, pa(gfn)});
          ret = res.x0 == kSmcccSuccess && !res.to_host ? 0 : res.retry ? -ENOENT : -EINVAL;
          if (expect && *expect != 0 && !(share && *expect == -ENOENT)) expect = -EINVAL;  // the SMCCC error
          if (!v || !v->is_protected) expect.reset();
          return share ? "hvc MEM_SHARE" : "hvc MEM_UNSHARE";
        }
        ret = share ? h.guest_share_host(vm, gfn) : h.guest_unshare_host(vm, gfn);
        return share ? "guest_share_host" : "guest_unshare_host";
      }
      case 13: {
        // The host touches a page: its own works, anything else is injected back.
        const bool write = chance(50), exec = !write && chance(20), el0 = chance(50);
        const HostAccess a = h.host_access(pa(pfn) + 8 * pick(512), write, exec, 8, el0, 0);
        if (tracked(pfn)) {
          ENSURE(a.ok == (state(pfn).host_state != S::NoPage));
          if (a.injected) ENSURE((a.esr & kEsrS1ptw) != 0);
        }
        ret = a.ok ? 0 : -EPERM;
        // MMIO executed: EL2 maps the range (legal), then the retry is a permission fault.
        filled_then_refused = a.injected && a.el2_aborts > 1;
        if (tracked(pfn)) expect = state(pfn).host_state != S::NoPage ? 0 : -EPERM;
        return "host access";
      }
      case 14: {
        ret = h.host_force_reclaim_page_guest(pa(pfn));
        return "host_force_reclaim_page_guest";
      }
      case 15:
      case 16: {
        // Tear a VM down now and then: start, reclaim what it maps, finalize, replace it.
        std::vector<uint16_t>& kind = chance(50) ? protected_vms : np_vms;
        const size_t k = pick(kind.size());
        PkvmVm* v = h.vm(kind[k]);
        if (!v->is_dying) {
          if (!chance(1)) {
            expect = -EINVAL;  // not dying
            ret = h.host_reclaim_page_guest(pick(kGfns), kind[k]);
            return "host_reclaim_page_guest";
          }
          ret = h.start_teardown_vm(kind[k]);
          return "start_teardown_vm";
        }
        // Reclaim (or, for a non-protected VM, unshare as the host's KVM does)
        // what it maps; a call that changed something is reported on its own.
        if (v->is_protected) {
          const uint64_t gfn = pick(kGfns);
          const S g = h.guest_state(kind[k], gfn);
          expect = g == S::NoPage ? -ENOENT : (g == S::Owned || g == S::SharedOwned || g == S::Poison) ? 0 : -EPERM;
          ret = h.host_reclaim_page_guest(gfn, kind[k]);
          if (ret == 0 || chance(80)) return "host_reclaim_page_guest";
        } else if (h.guest_state(kind[k], 0x200) == S::SharedBorrowed) {
          ret = h.host_unshare_guest(0x200, 512, kind[k]);
          return "host_unshare_guest(dying)";
        } else {
          ret = h.host_unshare_guest(pick(kGfns), 1, kind[k]);
          if (ret == 0 || chance(80)) return "host_unshare_guest(dying)";
        }
        expect.reset();
        // What the teardown must answer, read before it may free the VM.
        const int busy = v->pgt->leaves() ? -EBUSY : 0;
        ret = h.finalize_teardown_vm(kind[k]);
        expect = busy;
        if (!ret) {
          auto fresh = h.create_vm(&kind == &protected_vms, {&r.tlb});
          REQUIRE(fresh);
          kind[k] = *fresh;
          expect = 0;
        }
        return "finalize_teardown_vm";
      }
    }
    return nullptr;
  }

  void run(uint64_t n) {
    check_invariants(true);
    while (iterations < n) {
      snapshot(before_);
      int ret = 0;
      std::optional<int> expect;
      filled_then_refused = false;
      const char* called = call(ret, expect);
      if (!called) continue;
      const std::string name = called;
      ++iterations;
      INFO("call " << iterations << ": " << name << " returned " << ret);
      if (expect) ENSURE(ret == *expect);
      auto& tally = per_call[name];
      if (ret == 0) {
        ++legal, ++tally.first;
      } else {
        ++refused, ++tally.second;
        ENSURE(ret < 0);
        ENSURE(allowed_errors().at(name).count(-ret) == 1);
        if (!filled_then_refused) {
          snapshot(after_);
          ENSURE(after_ == before_);  // a refused call changes nothing
        }
      }
      check_invariants(iterations % 64 == 0);
    }
    check_invariants(true);
  }
};

}  // namespace

TEST_CASE("pKVM random calls: every illegal call returns its error and changes nothing, the ownership invariants hold") {
  uint64_t n = 100000;
  if (const char* env = std::getenv("PKVM_ITERATIONS")) n = std::strtoull(env, nullptr, 10);
  Fuzz f;
  f.run(n);
  CHECK(f.legal + f.refused == n);
  std::string tally;
  for (const auto& [name, c] : f.per_call)
    tally += "  " + name + ": " + std::to_string(c.first) + " ok, " + std::to_string(c.second) + " refused\n";
  MESSAGE(n << " calls: " << f.legal << " legal, " << f.refused << " refused\n" << tally);
  // Both kinds of outcome happen for the main transitions.
  CHECK(f.per_call["host_donate_guest"].first > 0);
  CHECK(f.per_call["guest_share_host"].first > 0);
  CHECK(f.per_call["host_share_guest"].first > 0);
  CHECK(f.per_call["host_reclaim_page_guest"].first > 0);
  CHECK(f.per_call["finalize_teardown_vm"].first > 0);
  CHECK(f.per_call["host_unshare_hyp"].second > 0);
  CHECK(f.per_call["host_share_guest(block)"].first > 0);
}
