// The host's stage-2 under pKVM (host_mmu in mem_protect.c): an identity map
// at VMID 0, in tables of EL2's own memory, that the hypervisor fills lazily
// when the host faults (host_stage2_idmap: the largest block inside the
// memory range the page is in) and in which pages donated away carry their
// owner as an invalid annotated entry (host_stage2_set_owner_locked). A host
// access to such a page, or one its mapping does not allow, is an abort EL2
// injects back into the host with the syndrome the CPU built.
//
// The host CPUs' stage-2 TLB sits here too: a walk that finds a page mapped
// caches its permissions until EL2 unmaps the page (TLBI IPAS2E1IS by IPA), so
// a host access pays the walk once per page, whether it then travels by
// b_transport or through a DMI pointer (which the policy grants only over a
// cached translation).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "arch/stage2_format.h"
#include "common/memory_port.h"
#include "common/stats.h"
#include "host/frame_allocator.h"
#include "kvm/stage2_page_table.h"

namespace cocosim {

// A memblock region: DRAM the host may use (everything else is MMIO).
struct MemblockRegion {
  Addr base = 0;
  uint64_t size = 0;
  bool nomap = false;  // MEMBLOCK_NOMAP: memory, but no page of it may change hands
};

// [start, end): a memory region, or the MMIO gap around an address.
struct MemRange {
  Addr start = 0;
  Addr end = 0;
  bool contains(Addr a) const { return start <= a && a < end; }
};

// What a host access through its stage-2 came to.
struct HostAccess {
  bool ok = false;         // the access reached memory
  bool injected = false;   // EL2 injected an abort into the host
  unsigned el2_aborts = 0; // stage-2 faults EL2 handled on the way (lazy fill included)
  uint64_t esr = 0;        // the injected syndrome
  uint64_t far = 0;
  uint64_t hpfar = 0;      // HPFAR_EL2 as EL2 saw it
};

class HostStage2 {
 public:
  // Tables come from `pool` (EL2's memory); `memory` is sorted by base.
  HostStage2(MemoryPort& mem, FrameAllocator& pool, std::vector<MemblockRegion> memory,
             unsigned pa_bits, Stats& stats, const std::string& prefix);

  const Arm64Stage2Format& format() const { return fmt_; }
  Stage2PageTable& table() { return pgt_; }
  Addr root() const { return pgt_.root(); }

  // find_mem_range: the region holding `addr` (nullptr: MMIO) and the range
  // around it.
  const MemblockRegion* find_mem_range(Addr addr, MemRange& range) const;
  bool addr_is_memory(Addr addr) const;

  // The host touches `pa` (`far` is the address it used). `from_el0`: a host
  // process rather than the kernel. A TLB hit that allows the access walks
  // nothing; otherwise the walk reads the tables (charged as EL2's memory
  // traffic) and, when the page is mapped, fills the TLB.
  HostAccess access(Addr pa, bool write, bool exec, unsigned size, bool from_el0, uint64_t far);

  // host_stage2_idmap: map the largest block around `addr` that the memory
  // range and the empty entry allow. 0, -EAGAIN (already mapped) or -EPERM
  // (the page is annotated: someone else owns it).
  int idmap(Addr addr);
  // Map [addr, addr+size) page by page (host_stage2_idmap_locked for a page
  // coming back from NOPAGE).
  void map_pages(Addr addr, uint64_t size);
  // kvm_pgtable_stage2_set_owner: annotate each page with `owner_id` and
  // `meta`; the host's own id empties the entries (the next access maps them).
  void set_owner(Addr addr, uint64_t size, uint8_t owner_id, uint64_t meta);

  // Whether the TLB holds a translation of `pa`'s page allowing the access
  // (no walk, nothing charged).
  bool tlb_allows(Addr pa, bool write, bool exec) const {
    auto it = tlb_.find(pa >> kPageShift);
    return it != tlb_.end() && it->second.allows(write, exec);
  }

  // How many host pages lost their mapping so far (each a TLBI IPAS2E1IS):
  // a cached translation older than the last one may be stale.
  uint64_t unmaps() const { return tlbi_; }

  // For observers: the raw entry where a walk for `pa` stops.
  Stage2PageTable::RawEntry entry(Addr pa, MemoryPort* via = nullptr) { return pgt_.entry(pa, via); }

 private:
  Arm64Stage2Format fmt_;
  Stage2PageTable pgt_;
  std::vector<MemblockRegion> memory_;
  // The host's stage-2 TLB: page number -> the leaf's permissions. Unbounded,
  // as the DMI pointers it stands behind are: an entry goes only with its
  // TLBI (set_owner), never by capacity.
  std::unordered_map<uint64_t, Perm> tlb_;
  uint64_t& walks_;
  uint64_t& aborts_;
  uint64_t& injected_;
  uint64_t& tlbi_;
};

}  // namespace cocosim
