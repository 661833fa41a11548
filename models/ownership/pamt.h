// The TDX module's Physical Address Metadata Table: for every 4 KiB frame of
// TDX-usable memory (the TDMRs), the page type, the owning TD (its TDR's
// frame) and the BEPOCH at which the page's mapping was blocked. It is the
// ownership model's record for TD memory: every assigning SEAMCALL demands
// PT_NDA, so a frame belongs to at most one TD at a time.
//
// Like the module's PAMT_2M/PAMT_4K hierarchy, a 2 MiB leaf has one 2 MiB
// entry (its 512 frames have no 4 KiB entries), and a lookup walks 2 MiB
// first, then 4 KiB. Only non-NDA entries are stored (a frame without an
// entry is PT_NDA), so a large platform costs nothing until TDs use it.
#pragma once
#include <cstdint>
#include <functional>
#include <map>

#include "common/types.h"

namespace cocosim {

enum class PageType : uint8_t {
  NDA = 0,    // not assigned: the host's
  RSVD = 1,   // reserved (PAMT itself)
  REG = 3,    // a TD's private page
  TDR = 4,    // a TD's root control structure
  TDCX = 5,   // a TD's or vCPU's control-structure extension page (TDCS, TDVPX)
  TDVPR = 6,  // a vCPU's root control structure
  EPT = 8,    // a Secure EPT page
};
const char* page_type_name(PageType t);  // "PT_REG", ...

enum class PageSize : uint8_t { k4K = 0, k2M = 1 };  // the module's level numbers
constexpr uint64_t page_size_bytes(PageSize s) { return s == PageSize::k2M ? kHugePageSize : kPageSize; }

struct PamtEntry {
  PageType pt = PageType::NDA;
  uint64_t owner = 0;   // the owning TD's TDR frame number (PA >> 12)
  uint64_t bepoch = 0;  // TD epoch when the mapping was blocked
  PageSize size = PageSize::k4K;

  bool operator==(const PamtEntry& o) const {
    return pt == o.pt && owner == o.owner && bepoch == o.bepoch && size == o.size;
  }
  bool operator!=(const PamtEntry& o) const { return !(*this == o); }
};

class Pamt {
 public:
  // TDX-usable memory: [base, base + size), both 2 MiB aligned (a TDMR).
  Pamt(Addr base, uint64_t size);

  bool covers(Addr pa, uint64_t len = kPageSize) const {
    return pa >= base_ && len <= size_ && pa - base_ <= size_ - len;
  }
  // The entry that governs the frame holding `pa` (PT_NDA when none).
  PamtEntry get(Addr pa) const;
  // Whether every frame of the block at `pa` (aligned to `s`) is PT_NDA.
  bool free(Addr pa, PageSize s) const;

  // Assign a free block (the caller checked free()). Throws std::logic_error otherwise.
  void assign(Addr pa, PageSize s, PageType pt, uint64_t owner_pfn, uint64_t bepoch = 0);
  // Back to PT_NDA: the block's own entry must exist with size `s`.
  void release(Addr pa, PageSize s);
  void set_bepoch(Addr pa, uint64_t bepoch);
  // A 2 MiB entry becomes 512 4 KiB entries with the same type, owner and BEPOCH, and back.
  void demote(Addr pa2m);
  void promote(Addr pa2m);
  // Mark a frame PT_RSVD (PAMT's own pages, memory the module keeps).
  void reserve(Addr pa);

  // Every stored entry, in address order: (block address, entry).
  void for_each(const std::function<void(Addr, const PamtEntry&)>& fn) const;
  size_t entries() const { return e4k_.size() + e2m_.size(); }
  bool operator==(const Pamt& o) const { return e4k_ == o.e4k_ && e2m_ == o.e2m_; }
  bool operator!=(const Pamt& o) const { return !(*this == o); }

 private:
  const PamtEntry* find(Addr pa) const;

  Addr base_;
  uint64_t size_;
  std::map<uint64_t, PamtEntry> e2m_;  // by 2 MiB block number
  std::map<uint64_t, PamtEntry> e4k_;  // by frame number
};

}  // namespace cocosim
