// The malicious host at the platform level: two TDs built by KVM on x86-tdx
// with the memory encryption engine, then a fixed-seed random mix of
//  - SEAMCALLs from the host, any leaf, operands drawn from the TDs' real
//    frames and GPAs and from garbage (misaligned, keyed, beyond DRAM);
//  - host kernel reads and writes of the TDs' private frames (KeyID 0);
//  - TD activity through the module (VP.ENTER, private accesses, ACCEPT, exits);
//  - KVM work (AUG of guest_memfd pages on EPT violations, zaps of GFN ranges).
// After every operation the invariants that must survive any host hold:
//  pamt-sept (a frame in one TD at one GPA, PAMT and SEPT agree), dmi-private,
//  dmi-keyid, host-map-private (no host way into private memory), and every
//  host read of a TD-owned line returns zeros; a refused SEAMCALL leaves PAMT
//  and the module's state unchanged, and (one SEAMCALL in 16, as the snapshot
//  reads every SEPT page) every Secure EPT entry of both TDs and the DRAM
//  content of every page its operands name; nothing throws.
// A second case drives the 2 MiB path with KVM alone in charge (every rule of
// the checker must hold): fresh TDs with a HUGETLB guest_memfd, 2 MiB and
// 4 KiB ACCEPTs through KVM's fault path, conversions, zaps and punch holes
// that split 2 MiB leaves, teardown; it reports how many of each it did.
// --iterations N (default 100000) and --seed S (default 1); the environment
// variables TDX_PLATFORM_ITERATIONS and TDX_PLATFORM_SEED work too.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <typeinfo>

#include <systemc>

#include "dual_checker.h"
#include "invariant_checker.h"
#include "kvm/gfn_backing.h"
#include "kvm/kvm_mmu.h"
#include "kvm/kvm_run.h"
#include "tdx/secure_ept.h"
#include "platform.h"

using namespace cocosim;

namespace {

Platform* g_platform = nullptr;
uint64_t g_iterations = 0, g_seed = 0;  // 0: from the environment, else the defaults

uint64_t env_or(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : dflt;
}

const std::set<std::string> kRules = {"pamt-sept", "dmi-private", "dmi-keyid", "host-map-private"};

struct Td {
  Vm* vm = nullptr;
  KvmTdx* kvm = nullptr;
  std::shared_ptr<GuestMemfd> f;
};

// Every Secure EPT entry of every TD, read through the debug view (no time, no counters).
std::string sept_text(Platform& p) {
  std::ostringstream o;
  for (Addr tdr : p.tdx->tds()) {
    const auto view = p.tdx->td(tdr);
    if (!view || !view->sept_root) continue;
    SecureEpt s(p.kernel_port.debug_view(), p.tdx->config().pa_bits, view->sept_levels, view->sept_root, view->hkid);
    o << tdr << '{';
    s.for_each_entry([&](int level, Addr gpa, Addr, unsigned, SeptEntry e) { o << level << ':' << gpa << '=' << e.raw << ';'; });
    o << '}';
  }
  return o.str();
}

// What DRAM holds (or will hold once the engine writes back) in the pages the
// operands name, for those inside DRAM.
std::string dram_text(Platform& p, const std::vector<uint64_t>& operands) {
  std::string out;
  const Addr pa_mask = (Addr{1} << p.architecture().pa_bits()) - 1;
  for (uint64_t op : operands) {
    const Addr pa = op & pa_mask & ~kPageMask;
    if (!p.dram.memory().in_range(pa, kPageSize)) continue;
    std::string page(kPageSize, '\0');
    p.kernel_port.debug_view().read(pa, page.data(), kPageSize);
    out += page;
  }
  return out;
}

std::string pamt_text(const Pamt& p) {
  std::ostringstream o;
  p.for_each([&](Addr a, const PamtEntry& e) { o << a << ':' << int(e.pt) << ':' << e.owner << ':' << e.bepoch << ';'; });
  return o.str();
}

}  // namespace

TEST_CASE("TDX platform random: legal and illegal SEAMCALLs, host accesses and TD activity keep the invariants") {
  Platform& p = *g_platform;
  REQUIRE(p.tdx);
  // Full and incremental checks after every operation, held to the same answer.
  DualChecker checker{p, [](const std::string& why) { FAIL_CHECK("full and incremental checks disagree: " << why); }};
  constexpr uint64_t kPages = 64;
  std::vector<Td> tds(2);
  FrameUse kernel_use;
  const uint64_t src = *p.frames.alloc(kernel_use);
  for (size_t i = 0; i < tds.size(); ++i) {
    Td& t = tds[i];
    REQUIRE(p.kvm.create_vm("td" + std::to_string(i), VmType::Tdx, &t.vm) == 0);
    t.kvm = p.td(t.vm->id());
    REQUIRE(p.kvm.create_guest_memfd(*t.vm, "g" + std::to_string(i), kPages * kPageSize, 0, &t.f) == 0);
    MemoryRegion r;
    r.slot = 1;
    r.flags = Memslot::kGuestMemfd;
    r.memory_size = kPages * kPageSize;
    r.guest_memfd_given = true;
    r.guest_memfd = t.f.get();
    REQUIRE(t.vm->set_user_memory_region(r, true) == 0);
    REQUIRE(t.vm->set_memory_attributes(0, kPages * kPageSize, Vm::kAttrPrivate, 0) == 0);
    std::string why;
    REQUIRE(t.kvm->init_vm(0, &why) == 0);
    REQUIRE(t.kvm->create_vcpu(0, nullptr, &why) == 0);
    REQUIRE(t.kvm->init_vcpu(0, 0, &why) == 0);
    for (uint64_t g = 0; g < 4; ++g) {
      const GfnBacking b = gfn_backing(*t.vm, p.mm, g, true, true);
      REQUIRE(t.kvm->add_initial_page(g << kPageShift, *b.pfn << kPageShift, src << kPageShift, true, &why) == 0);
    }
    REQUIRE(t.kvm->finalize(&why) == 0);
  }
  REQUIRE(checker.check().empty());

  const uint64_t iterations = g_iterations ? g_iterations : env_or("TDX_PLATFORM_ITERATIONS", 100000);
  std::mt19937_64 rng(g_seed ? g_seed : env_or("TDX_PLATFORM_SEED", 1));
  auto pick = [&](uint64_t n) { return n ? rng() % n : 0; };
  const std::vector<uint64_t> leaves = seamcall_leaves();
  const unsigned pa_bits = p.architecture().pa_bits();
  std::map<std::string, uint64_t> statuses;
  uint64_t seamcalls = 0, refused = 0, host_reads = 0, host_writes = 0, td_ops = 0, kvm_ops = 0, checks = 0,
           snapshots = 0;

  auto td_frame = [&](Td& t) -> uint64_t {  // a guest_memfd page of the TD, allocated on demand
    auto g = t.f->get_pfn(pick(kPages));
    return g.err ? 0 : g.pfn << kPageShift;
  };
  auto any_page = [&]() -> uint64_t {
    Td& t = tds[pick(tds.size())];
    switch (pick(6)) {
      case 0: return td_frame(t);
      case 1: {
        const auto& c = t.kvm->control_pages();
        return c.empty() ? 0 : c[pick(c.size())];
      }
      case 2: return td_frame(t) | (uint64_t(17 + pick(4)) << pa_bits);  // keyed
      case 3: return td_frame(t) + 8 * (1 + pick(511));                   // misaligned
      case 4: return (uint64_t(1) << 40) + (pick(1 << 20) << kPageShift);  // beyond DRAM
      default: return pick(uint64_t(1) << 30) & ~uint64_t(kPageMask);      // anything in DRAM
    }
  };
  auto any_gpa = [&]() -> uint64_t {
    const int level = pick(8) == 0 ? 1 : 0;
    switch (pick(5)) {
      case 0: return (pick(kPages) << kPageShift) | (uint64_t(1) << 47);  // shared alias
      case 1: return (pick(kPages) << kPageShift) + 8;                     // misaligned
      default: return level ? 0x1 : (pick(kPages) << kPageShift);
    }
  };

  for (uint64_t it = 0; it < iterations; ++it) {
    Td& t = tds[pick(tds.size())];
    const Addr tdr = t.kvm->tdr();
    const Addr tdvpr = t.kvm->vcpu(0)->tdvpr;
    const unsigned kind = unsigned(pick(10));
    try {
      do {  // an operation that gives up early (`continue`) still reaches the checker
      if (kind < 6) {
        // A SEAMCALL from the host.
        const uint64_t leaf = pick(5) ? leaves[pick(leaves.size())] : 5 + 64 * pick(4);
        SeamcallArgs a;
        auto operand = [&]() -> uint64_t {
          switch (pick(5)) {
            case 0: return tdr;
            case 1: return tdvpr;
            case 2: return any_gpa();
            case 3: return any_page();
            default: return pick(3) ? src << kPageShift : rng();
          }
        };
        a.rcx = operand(), a.rdx = operand(), a.r8 = operand(), a.r9 = operand();
        if (leaf == uint64_t(SeamcallLeaf::PHYMEM_PAGE_RECLAIM) || leaf == uint64_t(SeamcallLeaf::MNG_KEY_FREEID) ||
            leaf == uint64_t(SeamcallLeaf::MNG_VPFLUSHDONE) || leaf == uint64_t(SeamcallLeaf::VP_FLUSH))
          if (pick(4)) continue;  // rarer: they end TDs
        const std::string before_pamt = pamt_text(*p.pamt), before_state = p.tdx->describe_state();
        const bool snapshot = seamcalls % 16 == 0;
        const std::vector<uint64_t> operands = {a.rcx, a.rdx, a.r8, a.r9};
        const std::string before_sept = snapshot ? sept_text(p) : "", before_dram = snapshot ? dram_text(p, operands) : "";
        const SeamcallResult r = p.tdx->seamcall(leaf, a);
        ++seamcalls;
        ++statuses[r.status.name()];
        if (!r.status.ok()) {
          ++refused;
          REQUIRE_MESSAGE(pamt_text(*p.pamt) == before_pamt, "refused " << r.status.name() << " changed PAMT");
          REQUIRE_MESSAGE(p.tdx->describe_state() == before_state, "refused " << r.status.name() << " changed the module");
          if (snapshot) {
            ++snapshots;
            REQUIRE_MESSAGE(sept_text(p) == before_sept, "refused " << r.status.name() << " changed a Secure EPT entry");
            REQUIRE_MESSAGE(dram_text(p, operands) == before_dram, "refused " << r.status.name() << " changed DRAM");
          }
        }
      } else if (kind < 8) {
        // The host kernel touches a TD's private frame with KeyID 0.
        const Addr pa = td_frame(t) + 8 * pick(512);
        if (!pa) continue;
        if (pick(4)) {
          uint64_t v = 0xdead;
          const bool td_line = p.mee()->memory().td_bit(pa & ~Addr(63));
          p.kernel_port.read(pa, &v, 8);
          ++host_reads;
          if (td_line && !p.kernel_port.last_machine_check()) REQUIRE_MESSAGE(v == 0, "the host read a TD line");
        } else {
          const uint64_t v = rng();
          p.kernel_port.write(pa, &v, 8);
          ++host_writes;
        }
      } else if (kind == 8) {
        // The TD: enter, touch a private GPA, maybe ACCEPT, leave.
        ++td_ops;
        if (!p.tdx->td(tdr) || p.tdx->td(tdr)->op != TdOpState::Runnable) continue;
        if (!p.tdx->in_td(tdvpr) && !t.kvm->enter(0).ok()) continue;
        const Addr gpa = pick(kPages) << kPageShift;
        if (pick(2)) {
          PrivateAccess acc = p.tdx->td_access(tdvpr, gpa, pick(2));
          if (acc.kind == PrivateAccess::Kind::Mapped) {
            const PamtEntry e = p.pamt->get(acc.hpa);
            REQUIRE_MESSAGE((e.pt == PageType::REG && e.owner == pfn_of(tdr)), "a TD reached a frame that is not its own");
          }
        } else {
          p.tdx->tdg_mem_page_accept(tdvpr, gpa);
        }
        if (p.tdx->in_td(tdvpr) && pick(2)) p.tdx->td_exit(tdvpr);
      } else {
        // KVM: AUG on an EPT violation, or a zap of a GFN range.
        ++kvm_ops;
        const uint64_t gfn = pick(kPages);
        if (pick(2)) {
          if (!t.kvm->entry_empty(gfn << kPageShift, t.kvm->format().levels() - 1)) continue;
          const GfnBacking b = gfn_backing(*t.vm, p.mm, gfn, true, true);
          if (b.pfn) t.kvm->map(gfn << kPageShift, *b.pfn << kPageShift, t.kvm->format().levels() - 1, Perm::rwx());
        } else {
          t.vm->zap_gfn_range(gfn, gfn + 1 + pick(4));
        }
      }
      } while (false);
    } catch (const std::exception& e) {
      FAIL("iteration " << it << " threw " << typeid(e).name() << ": " << std::string(e.what()));
    }
    std::vector<Violation> v = checker.check();
    ++checks;
    for (const Violation& x : v)
      if (kRules.count(x.rule)) FAIL("iteration " << it << ": " << x.rule << ": " << x.detail);
  }
  MESSAGE("TDX platform random: " << iterations << " operations (" << seamcalls << " SEAMCALLs, " << refused
          << " refused, " << snapshots << " of them with SEPT and DRAM snapshots; " << host_reads << " host reads, " << host_writes << " host writes; " << td_ops
          << " TD operations; " << kvm_ops << " KVM operations), " << checks
          << " checks of pamt-sept, dmi-private, dmi-keyid, host-map-private; " << statuses.size()
          << " distinct statuses");
  CHECK(seamcalls > iterations / 2);
  CHECK(refused > 0);
  CHECK(snapshots > 0);
  CHECK(statuses.count("TDX_SUCCESS") == 1);
  for (Td& t : tds) {
    t.f.reset();
    p.kvm.close_vm(t.vm);
  }
  p.frames.free(src);
}

// The 2 MiB path with KVM in charge and no host meddling, so that every rule of
// the checker must hold (pamt-owner, pamt-sept, the stage-2 rules, TLB and DMI
// rules): rounds of a fresh TD whose private memory is a HUGETLB guest_memfd,
// random 2 MiB and 4 KiB ACCEPTs through KVM's fault path (the vCPU's loop:
// ACCEPT, EPT-violation exit at the ACCEPT's level, AUG, ACCEPT again),
// accesses, partial and whole conversions either way, zaps and punch holes;
// then teardown (2 MiB pages reclaimed through PAMT's 2M entry) and the check
// that every frame came back.
TEST_CASE("TDX platform random: the 2 MiB path through KVM keeps every invariant") {
  Platform& p = *g_platform;
  REQUIRE(p.tdx);
  InvariantChecker checker(p);
  const uint64_t iterations = g_iterations ? g_iterations : env_or("TDX_PLATFORM_ITERATIONS", 100000);
  std::mt19937_64 rng((g_seed ? g_seed : env_or("TDX_PLATFORM_SEED", 1)) ^ 0x200000);
  auto pick = [&](uint64_t n) { return n ? rng() % n : 0; };
  constexpr uint64_t kRegions = 2, kHuge = kHugePageSize >> kPageShift;
  const uint64_t rounds = std::max<uint64_t>(1, iterations / 1000), ops_per_round = 40;
  uint64_t huge_augs = 0, small_augs = 0, huge_accepts = 0, small_accepts = 0, size_mismatches = 0, splits = 0,
           conversions = 0, punches = 0, checks = 0;
  const size_t frames_before = p.frames.in_use(), pamt_before = p.pamt->entries();
  auto check = [&](const std::string& what) {
    ++checks;
    for (const Violation& x : checker.check()) FAIL(what << ": " << x.rule << ": " << x.detail);
  };
  for (uint64_t round = 0; round < rounds; ++round) {
    Vm* vm = nullptr;
    REQUIRE(p.kvm.create_vm("huge" + std::to_string(round), VmType::Tdx, &vm) == 0);
    KvmTdx* kvm = p.td(vm->id());
    std::shared_ptr<GuestMemfd> f;
    REQUIRE(p.kvm.create_guest_memfd(*vm, "h", kRegions * kHugePageSize, GuestMemfd::kFlagHugetlb, &f) == 0);
    MemoryRegion r;
    r.slot = 1;
    r.flags = Memslot::kGuestMemfd;
    r.memory_size = kRegions * kHugePageSize;
    r.guest_memfd_given = true;
    r.guest_memfd = f.get();
    REQUIRE(vm->set_user_memory_region(r, true) == 0);
    REQUIRE(vm->set_memory_attributes(0, kRegions * kHugePageSize, Vm::kAttrPrivate, 0) == 0);
    std::string why;
    REQUIRE(kvm->init_vm(0, &why) == 0);
    REQUIRE(kvm->create_vcpu(0, nullptr, &why) == 0);
    REQUIRE(kvm->init_vcpu(0, 0, &why) == 0);
    REQUIRE(kvm->finalize(&why) == 0);
    const Addr tdvpr = kvm->vcpu(0)->tdvpr;
    KvmMmu& mmu = *p.mmu(vm->id());
    auto leaf_size = [&](Addr gpa) {
      auto l = kvm->lookup(gpa, &p.kernel_port.debug_view());
      return l ? l->size : 0;
    };
    for (uint64_t op = 0; op < ops_per_round && !kvm->dead(); ++op) {
      const Addr base = pick(kRegions) * kHugePageSize, gpa = base + (pick(kHuge) << kPageShift);
      const uint64_t before = leaf_size(base);
      try {
        switch (pick(6)) {
          case 0:
          case 1: {  // the guest's ACCEPT, 2 MiB or 4 KiB, as the vCPU runs it
            const int level = pick(2) ? 1 : 0;
            const Addr at = level ? base : gpa;
            REQUIRE(kvm->enter(0).ok());
            for (int round_trip = 0; round_trip < 3; ++round_trip) {
              const TdcallResult a = p.tdx->tdg_mem_page_accept(tdvpr, at | uint64_t(level));
              if (!a.exit) {
                if (a.status.ok()) ++(level ? huge_accepts : small_accepts);
                if (a.status.code() == tdx::TDX_PAGE_SIZE_MISMATCH) ++size_mismatches;
                break;
              }
              // The exit: KVM's EPT-violation handler at the ACCEPT's level.
              KvmRunState st;
              if (!vm->is_private(a.exit->gpa >> kPageShift)) break;  // would be KVM_EXIT_MEMORY_FAULT
              if (!mmu.fault_in(a.exit->gpa, false, false, 8, true, &st, a.exit->level)) break;
              ++(leaf_size(a.exit->gpa) == kHugePageSize ? huge_augs : small_augs);
              REQUIRE(kvm->enter(0).ok());
            }
            if (p.tdx->in_td(tdvpr)) p.tdx->td_exit(tdvpr);
            break;
          }
          case 2: {  // a conversion of a few pages or of the whole 2 MiB, either way
            const bool whole = pick(4) == 0;
            const uint64_t n = whole ? kHuge : 1 + pick(3);
            const Addr at = whole ? base : std::min(gpa, base + kHugePageSize - n * kPageSize);
            REQUIRE(vm->set_memory_attributes(at, n * kPageSize, pick(3) ? 0 : Vm::kAttrPrivate, 0) == 0);
            ++conversions;
            break;
          }
          case 3:  // back to private, all of the region (so that 2 MiB can be mapped again)
            REQUIRE(vm->set_memory_attributes(base, kHugePageSize, Vm::kAttrPrivate, 0) == 0);
            ++conversions;
            break;
          case 4:  // a zap of part of the region
            vm->zap_gfn_range(gpa >> kPageShift, (gpa >> kPageShift) + 1 + pick(4));
            break;
          default:  // a punch hole
            REQUIRE(f->fallocate(GuestMemfd::kFallocKeepSize | GuestMemfd::kFallocPunchHole,
                                 int64_t(pick(2) ? base : gpa), int64_t(pick(2) ? kHugePageSize : kPageSize)) == 0);
            ++punches;
        }
      } catch (const std::exception& e) {
        FAIL("round " << round << " op " << op << " threw " << typeid(e).name() << ": " << std::string(e.what()));
      }
      if (before == kHugePageSize && leaf_size(base) == kPageSize) ++splits;
      REQUIRE_MESSAGE(!kvm->dead(), "KVM bugged the TD: " << kvm->bug_reason());
      check("round " + std::to_string(round) + " op " + std::to_string(op));
    }
    f.reset();
    p.kvm.close_vm(vm);
    check("round " + std::to_string(round) + " teardown");
    REQUIRE_MESSAGE(p.pamt->entries() == pamt_before, "PAMT entries left after teardown");
  }
  REQUIRE(p.frames.in_use() == frames_before);
  MESSAGE("TDX 2 MiB path: " << rounds << " TDs, " << rounds * ops_per_round << " operations: " << huge_augs
          << " 2 MiB AUGs, " << small_augs << " 4 KiB AUGs, " << huge_accepts << " 2 MiB ACCEPTs, " << small_accepts
          << " 4 KiB ACCEPTs, " << size_mismatches << " TDX_PAGE_SIZE_MISMATCH, " << splits
          << " 2 MiB leaves split by DEMOTE, " << conversions << " conversions, " << punches << " punch holes; "
          << checks << " checks of every rule");
  if (rounds >= 50) {
    CHECK(huge_augs > 0);
    CHECK(huge_accepts > 0);
    CHECK(splits > 0);
  }
}

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  return sc_core::sc_elab_and_sim(argc, argv);
}

int sc_main(int argc, char** argv) {
  Stats stats;
  PlatformConfig cfg;  // x86-tdx, encryption ci
  Platform platform(cfg, 1, stats);
  g_platform = &platform;
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
  // Our own options first; the rest is doctest's.
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--iterations" && i + 1 < argc) g_iterations = std::strtoull(argv[++i], nullptr, 0);
    else if (a == "--seed" && i + 1 < argc) g_seed = std::strtoull(argv[++i], nullptr, 0);
    else rest.push_back(argv[i]);
  }
  doctest::Context ctx(int(rest.size()), rest.data());
  int rc = ctx.run();
  g_platform = nullptr;
  return rc;
}
