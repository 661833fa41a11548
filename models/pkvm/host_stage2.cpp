#include "pkvm/host_stage2.h"

#include <algorithm>
#include <cerrno>

#include "arch/arm64_arch.h"
#include "pkvm/pkvm_defs.h"

namespace cocosim {

using namespace pkvm;

HostStage2::HostStage2(MemoryPort& mem, FrameAllocator& pool, std::vector<MemblockRegion> memory,
                       unsigned pa_bits, Stats& stats, const std::string& prefix)
    : fmt_(pa_bits),
      pgt_(fmt_, mem, pool, 0),
      memory_(std::move(memory)),
      walks_(stats.counter(prefix + ".host_walks", "count",
                           "host stage-2 walks: host accesses the host's stage-2 TLB missed")),
      aborts_(stats.counter(prefix + ".host_aborts", "count",
                            "host stage-2 faults handled at EL2 (lazy identity map included)")),
      injected_(stats.counter(prefix + ".host_aborts_injected", "count",
                              "aborts EL2 injected back into the host (page not the host's)")),
      tlbi_(stats.counter(prefix + ".host_tlbi_ipas2e1is", "count",
                          "TLBI IPAS2E1IS at VMID 0: host stage-2 pages unmapped")) {
  std::sort(memory_.begin(), memory_.end(),
            [](const MemblockRegion& a, const MemblockRegion& b) { return a.base < b.base; });
}

const MemblockRegion* HostStage2::find_mem_range(Addr addr, MemRange& range) const {
  range.start = 0;
  range.end = Addr{1} << fmt_.input_bits();
  for (const MemblockRegion& r : memory_) {
    const Addr end = r.base + r.size;
    if (addr < r.base) {
      range.end = r.base;
      return nullptr;
    }
    if (addr < end) {
      range = {r.base, end};
      return &r;
    }
    range.start = end;
  }
  return nullptr;
}

bool HostStage2::addr_is_memory(Addr addr) const {
  MemRange r;
  return find_mem_range(addr, r) != nullptr;
}

int HostStage2::idmap(Addr addr) {
  MemRange range;
  const bool is_memory = find_mem_range(addr, range) != nullptr;
  const auto e = pgt_.entry(addr);
  if (e.leaf) return -EAGAIN;
  if (e.desc) return -EPERM;  // an annotation: the page is not the host's
  // Memory RWX, MMIO RW: the host's default protections, so blocks are allowed.
  const Perm prot = is_memory ? Perm::rwx() : Perm{true, true, false};
  for (int d = e.depth; d < fmt_.levels(); ++d) {
    if (!fmt_.leaf_allowed(d)) continue;
    const uint64_t g = fmt_.level_size(d);
    const Addr start = addr & ~(g - 1);
    if (start >= range.start && start + g <= range.end)
      return pgt_.map(start, start, d, prot) ? 0 : -EPERM;  // beyond the PA space: refused
  }
  return -EINVAL;
}

void HostStage2::map_pages(Addr addr, uint64_t size) {
  const Perm prot = addr_is_memory(addr) ? Perm::rwx() : Perm{true, true, false};
  for (Addr a = addr; a < addr + size; a += kPageSize) pgt_.map(a, a, fmt_.levels() - 1, prot);
}

void HostStage2::set_owner(Addr addr, uint64_t size, uint8_t owner_id, uint64_t meta) {
  for (uint64_t i = 0; i < size / kPageSize; ++i) {
    const Addr a = addr + i * kPageSize;
    const bool was_mapped = pgt_.entry(a).leaf;
    const uint64_t annotation =
        owner_id == kIdHost ? 0 : donation_pte(owner_id, owner_id == kIdGuest ? meta + (i << 16) : meta);
    pgt_.annotate(a, annotation);
    if (was_mapped) {  // the host's CPUs may cache the old translation
      ++tlbi_;
      tlb_.erase(a >> kPageShift);
    }
  }
}

HostAccess HostStage2::access(Addr pa, bool write, bool exec, unsigned size, bool from_el0,
                              uint64_t far) {
  HostAccess r;
  r.far = far;
  if (tlb_allows(pa, write, exec)) {
    r.ok = true;
    return r;
  }
  // One retry: a fault EL2 resolves by mapping returns to the same access.
  for (int attempt = 0; attempt < 2; ++attempt) {
    ++walks_;
    const auto e = pgt_.entry(pa);
    bool permission = false;
    if (e.leaf) {
      const Perm perm = fmt_.decode(e.desc, e.depth).perm;
      tlb_[pa >> kPageShift] = perm;
      if (perm.allows(write, exec)) {
        r.ok = true;
        return r;
      }
      permission = true;
    }
    ++r.el2_aborts;
    ++aborts_;
    // handle_host_mem_abort: the IPA from HPFAR_EL2 (NS set for the host).
    r.hpfar = Arm64Arch::hpfar(pa) | kHpfarNs;
    const int ret = permission ? -EPERM : idmap(pa);
    if (ret == 0 || ret == -EAGAIN) continue;
    // host_inject_mem_abort: the syndrome the CPU built, as a current-EL abort
    // when the kernel took it, with S1PTW set to tell the host it was stage-2.
    uint64_t esr = Arm64Arch::esr(write, exec, permission, fmt_.arch_level(e.depth), size);
    if (!from_el0) {
      const uint64_t ec = esr >> kEsrEcShift & 0x3f;
      const uint64_t cur = ec == kEcDabtLow ? kEcDabtCur : ec == kEcIabtLow ? kEcIabtCur : ec;
      esr = (esr & ~(uint64_t{0x3f} << kEsrEcShift)) | (cur << kEsrEcShift);
    }
    r.esr = esr | kEsrS1ptw;
    r.injected = true;
    ++injected_;
    return r;
  }
  return r;
}

}  // namespace cocosim
