// A pKVM EL2 on its own for unit tests (a header, so the tests/unit/*.cpp
// glob does not compile it alone): simulated memory, the host's frame
// allocator with the ownership model's hooks, EL2's pool and a counting TLB.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "arch/arm64_arch.h"
#include "common/stats.h"
#include "fakes.h"
#include "host/frame_allocator.h"
#include "ownership/ownership.h"
#include "pkvm/pkvm_hyp.h"

namespace cocosim_test {

// A vCPU's TLB as EL2 sees it: counts the invalidations it receives.
struct CountingTlb : cocosim::Stage2TlbControl {
  uint64_t invept = 0, ipa_pages = 0, vmalle1 = 0, vmalls12 = 0;
  void invept_single_context() override { ++invept; }
  void tlbi_ipas2e1is(uint64_t first, uint64_t end) override { ipa_pages += end - first; }
  void tlbi_vmalle1is() override { ++vmalle1; }
  void tlbi_vmalls12e1is() override { ++vmalls12; }
};

struct PkvmRig {
  // Host DRAM at 1 GiB (64 MiB), EL2's carve-out below it, MMIO elsewhere.
  static constexpr uint64_t kDramPfn = 0x40000, kDramPages = 0x4000;
  static constexpr uint64_t kPoolPfn = 0x38000, kPoolPages = 0x800;

  FakeMemory mem{uint64_t{2} << 30};
  cocosim::Stats stats;
  cocosim::Arm64Arch arch{cocosim::ArchParams{}, stats, "t.arch"};
  cocosim::FrameAllocator frames{kDramPfn, kDramPfn + kDramPages};
  cocosim::Ownership own{frames};
  cocosim::FrameAllocator pool{kPoolPfn, kPoolPfn + kPoolPages};
  std::unique_ptr<cocosim::PkvmHyp> hyp;
  CountingTlb tlb;

  PkvmRig() {
    using namespace cocosim;
    frames.set_use_hook([this](uint64_t pfn, FrameUse& u) { own.assigned(pfn, u); });
    hyp = std::make_unique<PkvmHyp>(
        arch, mem, own, pool, MemRange{kPoolPfn << kPageShift, (kPoolPfn + kPoolPages) << kPageShift},
        std::vector<MemblockRegion>{{kDramPfn << kPageShift, kDramPages << kPageShift, false}}, stats,
        "t.pkvm");
  }
  // A frame the host kernel allocated (host OWNED).
  uint64_t host_page() {
    auto p = frames.alloc({cocosim::FrameKind::Kernel, nullptr, 0, -1});
    REQUIRE(p);
    return *p;
  }
  uint16_t vm(bool is_protected) {
    auto h = hyp->create_vm(is_protected, {&tlb});
    REQUIRE(h);
    return *h;
  }
  uint64_t counter(const char* name) const { return stats.get(std::string("t.arch.") + name); }
};

}  // namespace cocosim_test
