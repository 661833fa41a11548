// KVM's stage-2 page table for one VM, built in hypervisor-owned frames of
// simulated DRAM and written through the data plane, in the format the CPU's
// MMU walks (EPT or arm64 stage-2). Only valid subtrees are visited, so an
// unmap costs what is mapped in the range, not the size of the range.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_set>
#include <vector>

#include "common/memory_port.h"
#include "arch/stage2_format.h"
#include "host/frame_allocator.h"
#include "kvm/stage2_backend.h"

namespace cocosim {

class Stage2PageTable {
 public:
  Stage2PageTable(const Stage2Format& fmt, MemoryPort& mem, FrameAllocator& frames, int vm_id);
  ~Stage2PageTable();
  Stage2PageTable(const Stage2PageTable&) = delete;
  Stage2PageTable& operator=(const Stage2PageTable&) = delete;

  Addr root() const { return root_; }
  const Stage2Format& format() const { return fmt_; }

  // Install a leaf at `depth` (last level: 4 KiB; one above: 2 MiB). Replaces
  // whatever was there. False when no frame is left for a table. `sw_bits`
  // are ORed into the leaf: bits the format leaves to software (pKVM keeps a
  // page's state in bits 55-56 of an arm64 entry).
  bool map(Addr gpa, Addr pa, int depth, Perm p, uint64_t sw_bits = 0);
  // Write an invalid last-level entry for the page at `gpa` carrying
  // `annotation` (bit 0 clear; 0 empties the entry), building tables and
  // splitting a block on the way (the block's other pages keep their
  // translation, not their software bits). A leaf there is removed.
  // False when the GPA is beyond the tables or `annotation` is a valid entry.
  bool annotate(Addr gpa, uint64_t annotation);
  // The raw entry where a walk for `gpa` stops: a leaf, or an invalid entry
  // (empty or annotated) and its depth. Reads go through `via` when given.
  struct RawEntry {
    uint64_t desc = 0;
    int depth = 0;
    bool leaf = false;  // a valid leaf; otherwise desc is the invalid entry
  };
  RawEntry entry(Addr gpa, MemoryPort* via = nullptr);
  // Pfns of the frames holding the tables (for observers).
  const std::unordered_set<uint64_t>& table_pfns() const { return tables_; }
  // Remove every leaf translation of GFNs [first, end), and every block that
  // overlaps them, whole. Calls cleared(gfn_first, gfn_end) for each removed leaf.
  uint64_t unmap(uint64_t first_gfn, uint64_t end_gfn,
                 const std::function<void(uint64_t, uint64_t)>& cleared = {});
  // Reads go through `via` when given (a debug view, for observers).
  std::optional<Stage2Leaf> lookup(Addr gpa, MemoryPort* via = nullptr);
  // Whether the entry for `gpa` at `depth` is empty (or its tables are not there yet).
  bool entry_empty(Addr gpa, int depth);
  void for_each_leaf(const std::function<void(const Stage2Leaf&)>& fn, MemoryPort* via = nullptr);
  size_t table_frames() const { return tables_.size(); }
  uint64_t leaves() const { return leaves_; }

 private:
  Addr new_table();
  // The table that holds the entry for `gpa` at `depth`, made (or split out
  // of a block) on the way down as needed.
  Addr table_for(Addr gpa, int depth);
  Addr entry_addr(Addr table, Addr gpa, int depth) const {
    return table + 8 * fmt_.index(gpa, depth);
  }
  uint64_t unmap_in(Addr table, int depth, Addr base, Addr lo, Addr hi,
                    const std::function<void(uint64_t, uint64_t)>& cleared);
  // A table of next-level leaves that translate exactly as `block` did.
  Addr split_block(const Descriptor& block, int depth);
  // Free a table and everything below it (a block replaces it).
  void free_subtree(Addr table, int depth, Addr base);
  void leaves_in(MemoryPort& m, Addr table, int depth, Addr base,
                 const std::function<void(const Stage2Leaf&)>& fn);

  const Stage2Format& fmt_;
  MemoryPort& mem_;
  FrameAllocator& frames_;
  int vm_id_;
  Addr root_ = 0;
  std::unordered_set<uint64_t> tables_;  // pfns of table frames
  uint64_t leaves_ = 0;
};

}  // namespace cocosim
