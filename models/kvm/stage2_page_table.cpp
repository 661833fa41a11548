#include "kvm/stage2_page_table.h"

#include "common/change_journal.h"

#include <algorithm>
#include <array>
#include <new>

namespace cocosim {

Stage2PageTable::Stage2PageTable(const Stage2Format& fmt, MemoryPort& mem, FrameAllocator& frames,
                                 int vm_id)
    : fmt_(fmt), mem_(mem), frames_(frames), vm_id_(vm_id) {
  // A concatenated root is contiguous and aligned to its size.
  const uint64_t pages = fmt_.root_pages();
  auto pfn = frames_.alloc_contiguous(pages, {FrameKind::PageTable, nullptr, 0, vm_id_});
  if (!pfn) throw std::bad_alloc();
  for (uint64_t i = 0; i < pages; ++i) tables_.insert(*pfn + i);
  root_ = *pfn << kPageShift;
  mem_.fill(root_, 0, pages * kPageSize);
}

Stage2PageTable::~Stage2PageTable() {
  CC_JOURNAL(table_gone());  // its leaves go without being unmapped one by one
  for (uint64_t pfn : tables_) frames_.free(pfn);
}

Addr Stage2PageTable::new_table() {
  auto pfn = frames_.alloc({FrameKind::PageTable, nullptr, 0, vm_id_});
  if (!pfn) throw std::bad_alloc();
  tables_.insert(*pfn);
  const Addr pa = *pfn << kPageShift;
  mem_.fill(pa, 0, kPageSize);  // all entries invalid
  return pa;
}

Addr Stage2PageTable::table_for(Addr gpa, int depth) {
  Addr table = root_;
  for (int d = 0; d < depth; ++d) {
    const Addr ea = entry_addr(table, gpa, d);
    Descriptor desc = fmt_.decode(mem_.read64(ea), d);
    if (desc.valid && desc.table) {
      table = desc.pa;
      continue;
    }
    // Empty: a new table. A block in the way: split into next-level leaves
    // with the same translation, so only the entry being changed differs.
    Addr next = desc.valid ? split_block(desc, d) : new_table();
    mem_.write64(ea, fmt_.make_table(next));
    table = next;
  }
  return table;
}

bool Stage2PageTable::map(Addr gpa, Addr pa, int depth, Perm p, uint64_t sw_bits) {
  if (!fmt_.leaf_allowed(depth) || gpa > fmt_.max_input()) return false;
  const Addr ea = entry_addr(table_for(gpa, depth), gpa, depth);
  const Descriptor old = fmt_.decode(mem_.read64(ea), depth);
  const uint64_t size = fmt_.level_size(depth);
  if (old.valid && old.table) free_subtree(old.pa, depth + 1, gpa & ~(size - 1));  // a block replaces a table
  if (!old.valid || old.table) ++leaves_;
  CC_JOURNAL(leaf(this, (gpa & ~(size - 1)) >> kPageShift, size >> kPageShift, old.pa >> kPageShift,
                  old.valid && !old.table));
  mem_.write64(ea, fmt_.make_leaf(pa & ~(size - 1), depth, p) | sw_bits);
  return true;
}

bool Stage2PageTable::annotate(Addr gpa, uint64_t annotation) {
  const int last = fmt_.levels() - 1;
  if (gpa > fmt_.max_input() || fmt_.decode(annotation, last).valid) return false;
  const Addr ea = entry_addr(table_for(gpa, last), gpa, last);
  const Descriptor old = fmt_.decode(mem_.read64(ea), last);
  if (old.valid) --leaves_;
  CC_JOURNAL(leaf(this, gpa >> kPageShift, 1, old.pa >> kPageShift, old.valid));
  mem_.write64(ea, annotation);
  return true;
}

Stage2PageTable::RawEntry Stage2PageTable::entry(Addr gpa, MemoryPort* via) {
  if (gpa > fmt_.max_input()) return {};
  MemoryPort& m = via ? *via : mem_;
  Addr table = root_;
  for (int d = 0; d < fmt_.levels(); ++d) {
    const uint64_t raw = m.read64(entry_addr(table, gpa, d));
    Descriptor desc = fmt_.decode(raw, d);
    if (!desc.valid) return {raw, d, false};
    if (!desc.table) return {raw, d, true};
    table = desc.pa;
  }
  return {};
}

uint64_t Stage2PageTable::unmap_in(Addr table, int depth, Addr base, Addr lo, Addr hi,
                                   const std::function<void(uint64_t, uint64_t)>& cleared) {
  const uint64_t size = fmt_.level_size(depth);
  uint64_t removed = 0;
  const unsigned first = lo > base ? unsigned((lo - base) / size) : 0;
  if (first >= 512) return 0;
  std::array<uint64_t, 512> e;
  mem_.read(table, e.data(), kPageSize);
  for (unsigned i = first; i < 512; ++i) {
    const Addr ebase = base + i * size;
    if (ebase > hi) break;
    const Addr ea = table + 8 * i;
    Descriptor desc = fmt_.decode(e[i], depth);
    if (!desc.valid) continue;
    const Addr eend = ebase + size - 1;
    if (desc.table) {
      removed += unmap_in(desc.pa, depth + 1, ebase, lo, hi, cleared);
      continue;
    }
    // A leaf inside the range goes; so does a block that only overlaps it, whole,
    // as KVM zaps huge leaves (tdp_mmu_zap_leafs, stage2_unmap_walker): the
    // rest of it faults back in. No table is needed to zap anything.
    mem_.write64(ea, 0);
    --leaves_;
    CC_JOURNAL(leaf(this, ebase >> kPageShift, size >> kPageShift, desc.pa >> kPageShift, true));
    ++removed;
    if (cleared) cleared(ebase >> kPageShift, (eend >> kPageShift) + 1);
  }
  return removed;
}

uint64_t Stage2PageTable::unmap(uint64_t first_gfn, uint64_t end_gfn,
                                const std::function<void(uint64_t, uint64_t)>& cleared) {
  if (first_gfn >= end_gfn) return 0;
  const Addr lo = first_gfn << kPageShift;
  if (lo > fmt_.max_input()) return 0;
  Addr hi = (end_gfn << kPageShift) - 1;
  if (hi > fmt_.max_input() || hi < lo) hi = fmt_.max_input();
  uint64_t removed = 0;
  const uint64_t span = 512 * fmt_.level_size(0);  // what one page of the root covers
  for (uint64_t p = 0; p < fmt_.root_pages(); ++p) {
    const Addr base = p * span;
    if (base > hi) break;
    if (base + span - 1 < lo) continue;
    removed += unmap_in(root_ + p * kPageSize, 0, base, lo, hi, cleared);
  }
  return removed;
}

std::optional<Stage2Leaf> Stage2PageTable::lookup(Addr gpa, MemoryPort* via) {
  if (gpa > fmt_.max_input()) return std::nullopt;
  MemoryPort& m = via ? *via : mem_;
  Addr table = root_;
  for (int d = 0; d < fmt_.levels(); ++d) {
    Descriptor desc = fmt_.decode(m.read64(entry_addr(table, gpa, d)), d);
    if (!desc.valid) return std::nullopt;
    if (desc.table) {
      table = desc.pa;
      continue;
    }
    const uint64_t size = fmt_.level_size(d);
    return Stage2Leaf{gpa & ~(size - 1), desc.pa, size, d, desc.perm};
  }
  return std::nullopt;
}

Addr Stage2PageTable::split_block(const Descriptor& block, int depth) {
  Addr next = new_table();
  const uint64_t child = fmt_.level_size(depth + 1);
  std::array<uint64_t, 512> e;
  for (unsigned j = 0; j < 512; ++j) e[j] = fmt_.make_leaf(block.pa + j * child, depth + 1, block.perm);
  mem_.write(next, e.data(), kPageSize);
  leaves_ += 511;
  return next;
}

void Stage2PageTable::free_subtree(Addr table, int depth, Addr base) {
  const uint64_t size = fmt_.level_size(depth);
  std::array<uint64_t, 512> e;
  mem_.read(table, e.data(), kPageSize);
  for (unsigned i = 0; i < 512; ++i) {
    Descriptor d = fmt_.decode(e[i], depth);
    if (!d.valid) continue;
    if (d.table) {
      free_subtree(d.pa, depth + 1, base + i * size);
    } else {
      --leaves_;
      CC_JOURNAL(leaf(this, (base + i * size) >> kPageShift, size >> kPageShift, d.pa >> kPageShift, true));
    }
  }
  tables_.erase(table >> kPageShift);
  frames_.free(table >> kPageShift);
}

bool Stage2PageTable::entry_empty(Addr gpa, int depth) {
  Addr table = root_;
  for (int d = 0; d <= depth; ++d) {
    Descriptor desc = fmt_.decode(mem_.read64(entry_addr(table, gpa, d)), d);
    if (!desc.valid) return true;
    if (d == depth || !desc.table) return false;
    table = desc.pa;
  }
  return false;
}

void Stage2PageTable::leaves_in(MemoryPort& m, Addr table, int depth, Addr base,
                                const std::function<void(const Stage2Leaf&)>& fn) {
  const uint64_t size = fmt_.level_size(depth);
  std::array<uint64_t, 512> e;  // one read of the whole table
  m.read(table, e.data(), kPageSize);
  for (unsigned i = 0; i < 512; ++i) {
    Descriptor desc = fmt_.decode(e[i], depth);
    if (!desc.valid) continue;
    const Addr ebase = base + i * size;
    if (desc.table)
      leaves_in(m, desc.pa, depth + 1, ebase, fn);
    else
      fn(Stage2Leaf{ebase, desc.pa, size, depth, desc.perm});
  }
}

void Stage2PageTable::for_each_leaf(const std::function<void(const Stage2Leaf&)>& fn,
                                    MemoryPort* via) {
  if (leaves_ == 0) return;
  const uint64_t span = 512 * fmt_.level_size(0);
  for (uint64_t p = 0; p < fmt_.root_pages(); ++p)
    leaves_in(via ? *via : mem_, root_ + p * kPageSize, 0, p * span, fn);
}

}  // namespace cocosim
