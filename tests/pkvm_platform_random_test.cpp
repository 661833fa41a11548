// A random sequence on the arm64-pkvm platform, the invariant checker after
// every operation: EL2's functions called the way the `hvc` step calls them
// (legal and illegal), host accesses (the VMM through its mappings, the host
// kernel by physical address), guest_memfd conversions and pins, and the
// guest's side (stage-2 faults that donate, HVCs: MEM_SHARE with its
// fault-in retry, MEM_UNSHARE, the others). Every EL2 call and every guest
// HVC that fails must return an error from the documented set and change
// nothing: every page's record, both stage-2s' entries and guest_memfd's
// states are compared before and after.
//
//   pkvm_platform_random [--seed S] [--iterations N]   (ctest: seed 1, 100 000)
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <systemc>

#include "dual_checker.h"
#include "invariant_checker.h"
#include "pkvm/pkvm_defs.h"
#include "platform.h"

using namespace cocosim;
using namespace cocosim::pkvm;

namespace {

constexpr uint64_t kPages = 16;
constexpr Addr kGpa = Addr{1} << 32;

struct Snapshot {
  std::vector<uint64_t> words;
  bool operator==(const Snapshot& o) const { return words == o.words; }
};

struct Rig {
  Platform& p;
  PkvmHyp& hyp;
  Vm* vm = nullptr;
  uint16_t handle = 0;
  KvmVcpu* kv = nullptr;
  std::shared_ptr<GuestMemfd> g;
  int pid = 0;
  Vma* anon = nullptr;
  Vma* gmap = nullptr;
  std::vector<uint64_t> anon_pfns;
  uint64_t ops = 0, calls = 0, refused = 0, guest_calls = 0, faults = 0, violations = 0;
  // Full and incremental checks after every operation, held to the same answer.
  DualChecker checker{p, [this](const std::string& why) { fail("full and incremental checks disagree: " + why); }};
  uint64_t vmm_accesses = 0, kernel_accesses = 0, conversions = 0, teardowns = 0;
  std::set<uint64_t> pins;
  std::set<uint64_t> ffa_;  // pages shared through FF-A

  explicit Rig(Platform& pl) : p(pl), hyp(*pl.pkvm) {}

  bool setup() {
    if (p.kvm.create_vm("pvm", VmType::Pkvm, &vm)) return false;
    handle = uint16_t(p.pkvm_handle(vm->id()));
    if (p.kvm.create_guest_memfd(*vm, "g", kPages * kPageSize,
                                 GuestMemfd::kFlagMmap | GuestMemfd::kFlagInitShared, &g))
      return false;
    pid = p.mm.create_process("vmm");
    if (p.mm.mmap_gmem(pid, "gm", g, 0, kPages * kPageSize, true, &gmap)) return false;
    if (p.mm.mmap_anon(pid, "am", kPages * kPageSize, true, &anon)) return false;
    for (uint64_t i = 0; i < kPages; ++i) {
      auto f = p.mm.anon_fault(*anon, i);
      if (!f) return false;
      anon_pfns.push_back(*f);
    }
    MemoryRegion r;
    r.slot = 1;
    r.flags = Memslot::kGuestMemfd;
    r.guest_phys_addr = kGpa;
    r.memory_size = kPages * kPageSize;
    r.userspace_pid = pid;
    r.userspace_addr = gmap->start;
    r.guest_memfd_given = true;
    r.guest_memfd = g.get();
    if (vm->set_user_memory_region(r, true)) return false;
    int err = 0;
    kv = p.create_vcpu(*vm, 0, nullptr, &err);
    return kv != nullptr;
  }

  // The VM's last references go (vCPU, VM fd, mappings, guest_memfd): EL2
  // reclaims every page (zeroed where the guest owned it) and the next VM
  // donates afresh. Pins go first: a pinned page keeps its file alive.
  bool teardown_and_rebuild() {
    for (uint64_t i : pins)
      if (auto pfn = g->pfn(i)) g->unpin(*pfn);
    pins.clear();
    ffa_.clear();
    // Pages the host lent to a non-protected guest (the selftest VM) come
    // back before the host frees them, as KVM's MMU notifier unshares them
    // (EL2's per-page metadata outlives a host free, which the model's frame
    // records do not: a known limit, see docs/pkvm.md).
    MemoryPort& dbg = p.kernel_port.debug_view();
    for (const auto& [h, v] : hyp.vms()) {
      if (v->is_protected) continue;
      std::vector<uint64_t> gfns;
      v->pgt->for_each_leaf([&](const Stage2Leaf& l) { gfns.push_back(l.gpa >> kPageShift); }, &dbg);
      for (uint64_t gfn : gfns) hyp.host_unshare_guest(gfn, 1, h);
    }
    if (p.close_vcpu(*vm, 0)) return false;
    p.kvm.close_vm(vm);
    if (p.mm.munmap(gmap) || p.mm.munmap(anon)) return false;
    g.reset();
    vm = nullptr, kv = nullptr, gmap = anon = nullptr;
    anon_pfns.clear();
    ++teardowns;
    return setup();
  }

  // Every word that says who has which page.
  Snapshot snapshot() {
    Snapshot s;
    MemoryPort& dbg = p.kernel_port.debug_view();
    auto frame = [&](uint64_t pfn) {
      const FrameOwner o = p.ownership.of(pfn);
      s.words.push_back(uint64_t(o.owner) | uint64_t(uint32_t(o.vm)) << 8 | uint64_t(o.host_may_map) << 40);
      s.words.push_back(uint64_t(o.pkvm.host_state) | uint64_t(o.pkvm.hyp_state_comp) << 8 |
                        uint64_t(o.pkvm.refcount) << 16 | uint64_t(o.pkvm.host_share_guest_count) << 32);
      s.words.push_back(hyp.host_stage2().entry(pfn << kPageShift, &dbg).desc);
    };
    for (uint64_t pfn : anon_pfns) frame(pfn);
    for (uint64_t i = 0; i < kPages; ++i) {
      if (auto pfn = g->pfn(i)) frame(*pfn);
      s.words.push_back(g->is_private(i));
    }
    for (const auto& [h, v] : hyp.vms())
      for (uint64_t i = 0; i < kPages + 2; ++i) s.words.push_back(v->pgt->entry(kGpa + i * kPageSize, &dbg).desc);
    return s;
  }

  void check(const char* what) {
    for (const Violation& v : checker.check()) {
      if (++violations <= 5) std::fprintf(stderr, "op %llu (%s): %s: %s\n", (unsigned long long)ops, what,
                                          v.rule.c_str(), v.detail.c_str());
    }
  }

  void fail(const std::string& why) {
    if (++violations <= 5) std::fprintf(stderr, "op %llu: %s\n", (unsigned long long)ops, why.c_str());
  }

  uint64_t pick_pfn(std::mt19937_64& rng) {
    switch (rng() % 6) {
      case 0: case 1: return anon_pfns[rng() % kPages];
      case 2: case 3: {
        auto f = g->get_pfn(rng() % kPages);  // allocates the page: the file's frame
        return f.err ? anon_pfns[0] : f.pfn;
      }
      case 4: return (p.config().dram >> kPageShift) + rng() % 16;  // EL2's pool
      default: return rng() % 2 ? (uint64_t{1} << 36) + rng() % 64 : 0x10;  // MMIO / firmware
    }
  }

  // One EL2 function, as the hvc step calls it.
  void el2_call(std::mt19937_64& rng) {
    static const char* kNames[] = {"host_share_hyp", "host_unshare_hyp", "host_donate_hyp", "hyp_donate_host",
                                   "host_share_ffa", "host_unshare_ffa", "hyp_pin_shared_mem",
                                   "hyp_unpin_shared_mem", "host_share_guest", "host_unshare_guest",
                                   "host_donate_guest", "host_reclaim_page_guest",
                                   "host_force_reclaim_page_guest"};
    const unsigned k = unsigned(rng() % 13);
    const uint64_t pfn = pick_pfn(rng);
    const uint64_t gfn = (kGpa >> kPageShift) + rng() % (kPages + 2) - (rng() % 8 == 0 ? 0x100000 : 0);
    const uint64_t n = rng() % 8 == 0 ? 512 : rng() % 8 == 0 ? 2 : 1;
    const uint16_t h = rng() % 3 == 0 ? p.pkvm_selftest_vm() : rng() % 7 == 0 ? uint16_t(0x1fff) : handle;
    const uint64_t prot = rng() % 6 == 0 ? 0x8 : kProtRWX;
    // EL2 keeps no record of an FF-A share (as upstream): its proxy unshares
    // only what it shared, so this caller does the same.
    if (k == 5)
      for (uint64_t i = 0; i < n; ++i)
        if (hyp.host_state(pfn + i) == PkvmPageState::SharedOwned && !ffa_.count(pfn + i)) return;
    const Snapshot before = snapshot();
    const PkvmPage pre = hyp.page(pfn);
    int ret = 0;
    try {
      switch (k) {
        case 0: ret = hyp.host_share_hyp(pfn); break;
        case 1: ret = hyp.host_unshare_hyp(pfn); break;
        case 2: ret = hyp.host_donate_hyp(pfn, n); break;
        case 3: ret = hyp.hyp_donate_host(pfn, n); break;
        case 4: ret = hyp.host_share_ffa(pfn, n); break;
        case 5: ret = hyp.host_unshare_ffa(pfn, n); break;
        case 6: ret = hyp.hyp_pin_shared_mem(pfn << kPageShift, (pfn + 1) << kPageShift); break;
        case 7:
          if (!hyp.page(pfn).refcount) return;  // a hyp panic in Linux: never called on purpose
          hyp.hyp_unpin_shared_mem(pfn << kPageShift, (pfn + 1) << kPageShift);
          break;
        case 8: ret = hyp.host_share_guest(pfn, gfn, n, h, prot); break;
        case 9: ret = hyp.host_unshare_guest(gfn, n, h); break;
        case 10: ret = hyp.host_donate_guest(pfn, gfn, h); break;
        case 11: ret = hyp.host_reclaim_page_guest(gfn, h); break;
        case 12: ret = hyp.host_force_reclaim_page_guest(pfn << kPageShift); break;
      }
    } catch (const HypPanic& e) {
      fail(std::string("hyp panic in ") + kNames[k] + ": " + e.what());
      return;
    }
    ++calls;
    if (std::getenv("PKVM_TRACE"))
      std::fprintf(stderr, "op %llu %s pfn %llx gfn %llx n %llu h %x (host %d count %u) -> %d\n",
                   (unsigned long long)ops, kNames[k], (unsigned long long)pfn, (unsigned long long)gfn,
                   (unsigned long long)n, h, int(pre.host_state), pre.host_share_guest_count, ret);
    if (ret == 0) {
      for (uint64_t i = 0; i < n && (k == 4 || k == 5); ++i) k == 4 ? (void)ffa_.insert(pfn + i) : (void)ffa_.erase(pfn + i);
      return;
    }
    ++refused;
    static const std::set<int> kErrors = {-EPERM, -EINVAL, -ENOENT, -EBUSY, -ERANGE, -E2BIG, -EHWPOISON,
                                          -EAGAIN, -EFAULT};
    if (!kErrors.count(ret)) fail(std::string(kNames[k]) + " returned " + std::to_string(ret));
    if (!(snapshot() == before)) fail(std::string(kNames[k]) + " failed (" + std::to_string(ret) + ") but changed state");
  }

  void guest_hvc(std::mt19937_64& rng) {
    static const uint64_t kFns[] = {kHvcMemShare, kHvcMemShare, kHvcMemUnshare, kHvcMemUnshare, kHvcFeatures,
                                    kHvcHypMeminfo, 0xC6000009};
    const uint64_t fn = kFns[rng() % 7];
    const Addr ipa = kGpa + (rng() % (kPages + 1)) * kPageSize + (rng() % 10 == 0 ? 8 : 0);
    const Snapshot before = snapshot();
    uint64_t ret = 0;
    kv->prepare_entry(std::nullopt);
    const auto r = kv->hvc(fn, ipa, &ret);
    ++guest_calls;
    if (r != VcpuHypervisor::Resolution::Retry) return;  // an exit to the VMM (fault-in failed)
    if ((fn == kHvcMemShare || fn == kHvcMemUnshare) && ret != kSmcccSuccess) {
      if (ret != kSmcccInvalidParameter) fail("MEM_(UN)SHARE returned " + std::to_string(int64_t(ret)));
      // A MEM_SHARE may have faulted the page in (donated) before EL2 refused: only unshare is pure.
      if (fn == kHvcMemUnshare && !(snapshot() == before)) fail("MEM_UNSHARE refused but changed state");
    }
  }

  void step(std::mt19937_64& rng) {
    ++ops;
    const unsigned w = unsigned(rng() % 100);
    const char* what = "";
    if (w < 40) {
      what = "el2";
      el2_call(rng);
    } else if (w < 55) {
      what = "guest hvc";
      guest_hvc(rng);
    } else if (w < 65) {
      what = "guest fault";
      KvmRunState st;
      if (p.mmu(vm->id())->fault_in(kGpa + (rng() % kPages) * kPageSize, rng() % 2, false, 8, true, &st)) ++faults;
      p.take_control_delay();
    } else if (w < 80) {
      what = "vmm access";
      ++vmm_accesses;
      Vma* m = rng() % 2 ? anon : gmap;
      uint64_t v = rng();
      sc_core::sc_time d;
      p.host_cpu.user_access(pid, m->start + (rng() % kPages) * kPageSize + (rng() % 512) * 8,
                             reinterpret_cast<uint8_t*>(&v), 8, rng() % 2, d);
    } else if (w < 87) {
      what = "kernel access";
      ++kernel_accesses;
      uint64_t v = rng();
      const Addr pa = (pick_pfn(rng) << kPageShift) + (rng() % 512) * 8;
      if (pa < (uint64_t{1} << 36)) rng() % 2 ? p.kernel_port.write(pa, &v, 8) : p.kernel_port.read(pa, &v, 8);
    } else if (w < 95) {
      what = "conversion";
      ++conversions;
      uint64_t eo = 0;
      const uint64_t i = rng() % kPages;
      g->set_attributes(i * kPageSize, kPageSize, rng() % 2 ? GuestMemfd::kAttrPrivate : 0,
                        rng() % 3 == 0 ? GuestMemfd::kModePreserve : 0, &eo);
    } else {
      what = "pin";
      const uint64_t i = rng() % kPages;
      if (pins.count(i)) {
        if (auto pfn = g->pfn(i)) g->unpin(*pfn);
        pins.erase(i);
      } else if (g->pin(i, nullptr) == 0) {
        pins.insert(i);
      }
    }
    (void)p.take_control_delay();
    if (const char* t = std::getenv("PKVM_WATCH")) {
      static int last = -1;
      const uint64_t wp = std::strtoull(t, nullptr, 16);
      const int now = int(hyp.page(wp).host_state) | int(p.frames.use(wp) ? 0 : 16);
      if (now != last) std::fprintf(stderr, "op %llu (%s): frame %llx host state %d\n", (unsigned long long)ops, what,
                                    (unsigned long long)wp, now);
      last = now;
    }
    check(what);
  }
};

uint64_t g_seed = 1, g_iterations = 100000;
int g_rc = 0;

struct Driver : sc_core::sc_module {
  Platform& p;
  SC_HAS_PROCESS(Driver);
  Driver(sc_core::sc_module_name n, Platform& pl) : sc_module(n), p(pl) { SC_THREAD(run); }
  void run() {
    Rig rig(p);
    if (!rig.setup()) {
      std::fprintf(stderr, "pkvm_platform_random: setup failed\n");
      g_rc = 1;
      return;
    }
    std::mt19937_64 rng(g_seed);
    for (uint64_t i = 0; i < g_iterations && rig.violations == 0; ++i) {
      rig.step(rng);
      // Every 2000 operations a new VM, so that donation keeps happening.
      if (i % 2000 == 1999 && rig.violations == 0) {
        if (!rig.teardown_and_rebuild()) {
          std::fprintf(stderr, "pkvm_platform_random: teardown and rebuild failed at op %llu\n",
                       (unsigned long long)rig.ops);
          g_rc = 1;
          return;
        }
        rig.check("teardown");
      }
    }
    std::printf("pkvm_platform_random: seed %llu, %llu operations: %llu EL2 calls (%llu refused, each with "
                "its error and no change), %llu guest HVCs, %llu guest faults donated, %llu VMM accesses, "
                "%llu host kernel accesses, %llu conversions, %llu VM teardowns; %llu violations\n",
                (unsigned long long)g_seed, (unsigned long long)rig.ops, (unsigned long long)rig.calls,
                (unsigned long long)rig.refused, (unsigned long long)rig.guest_calls,
                (unsigned long long)rig.faults, (unsigned long long)rig.vmm_accesses,
                (unsigned long long)rig.kernel_accesses, (unsigned long long)rig.conversions,
                (unsigned long long)rig.teardowns, (unsigned long long)rig.violations);
    g_rc = rig.violations ? 1 : 0;
  }
};

}  // namespace

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  return sc_core::sc_elab_and_sim(argc, argv);
}

int sc_main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) g_seed = std::strtoull(argv[++i], nullptr, 0);
    else if (!std::strcmp(argv[i], "--iterations") && i + 1 < argc) g_iterations = std::strtoull(argv[++i], nullptr, 0);
    else {
      std::fprintf(stderr, "usage: pkvm_platform_random [--seed S] [--iterations N]\n");
      return 2;
    }
  }
  Stats stats;
  PlatformConfig cfg;
  cfg.arch = Arch::Arm64Pkvm;
  Platform platform(cfg, 1, stats);
  Driver driver("driver", platform);
  sc_core::sc_start();
  return g_rc;
}
