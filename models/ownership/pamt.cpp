#include "ownership/pamt.h"

#include "common/change_journal.h"

#include <stdexcept>

namespace cocosim {

namespace {
constexpr unsigned kHugeShift = 21;
uint64_t block_of(Addr pa) { return pa >> kHugeShift; }
}  // namespace

const char* page_type_name(PageType t) {
  switch (t) {
    case PageType::NDA: return "PT_NDA";
    case PageType::RSVD: return "PT_RSVD";
    case PageType::REG: return "PT_REG";
    case PageType::TDR: return "PT_TDR";
    case PageType::TDCX: return "PT_TDCX";
    case PageType::TDVPR: return "PT_TDVPR";
    case PageType::EPT: return "PT_EPT";
  }
  return "PT_?";
}

Pamt::Pamt(Addr base, uint64_t size) : base_(base), size_(size) {
  if ((base | size) & (kHugePageSize - 1))
    throw std::invalid_argument("PAMT: TDX memory must be 2 MiB aligned");
}

const PamtEntry* Pamt::find(Addr pa) const {
  auto b = e2m_.find(block_of(pa));
  if (b != e2m_.end()) return &b->second;
  auto f = e4k_.find(pfn_of(pa));
  return f == e4k_.end() ? nullptr : &f->second;
}

PamtEntry Pamt::get(Addr pa) const {
  const PamtEntry* e = find(pa);
  return e ? *e : PamtEntry{};
}

bool Pamt::free(Addr pa, PageSize s) const {
  if (e2m_.count(block_of(pa))) return false;
  if (s == PageSize::k4K) return e4k_.count(pfn_of(pa)) == 0;
  const uint64_t first = pfn_of(pa & ~(kHugePageSize - 1));
  auto it = e4k_.lower_bound(first);
  return it == e4k_.end() || it->first >= first + 512;
}

void Pamt::assign(Addr pa, PageSize s, PageType pt, uint64_t owner_pfn, uint64_t bepoch) {
  if (!covers(pa, page_size_bytes(s)) || !free(pa, s) || pt == PageType::NDA)
    throw std::logic_error("PAMT: assigning a block that is not free");
  const PamtEntry e{pt, owner_pfn, bepoch, s};
  CC_JOURNAL(frames(pfn_of(pa), page_size_bytes(s) >> kPageShift));
  CC_JOURNAL(tdx());
  if (s == PageSize::k2M)
    e2m_[block_of(pa)] = e;
  else
    e4k_[pfn_of(pa)] = e;
}

void Pamt::release(Addr pa, PageSize s) {
  CC_JOURNAL(frames(pfn_of(pa), page_size_bytes(s) >> kPageShift));
  CC_JOURNAL(tdx());
  const size_t n = s == PageSize::k2M ? e2m_.erase(block_of(pa)) : e4k_.erase(pfn_of(pa));
  if (n != 1) throw std::logic_error("PAMT: releasing a block without an entry of that size");
}

void Pamt::set_bepoch(Addr pa, uint64_t bepoch) {
  auto b = e2m_.find(block_of(pa));
  if (b != e2m_.end()) {
    b->second.bepoch = bepoch;
    return;
  }
  auto f = e4k_.find(pfn_of(pa));
  if (f == e4k_.end()) throw std::logic_error("PAMT: BEPOCH of a PT_NDA frame");
  f->second.bepoch = bepoch;
}

void Pamt::demote(Addr pa2m) {
  CC_JOURNAL(frames(pfn_of(pa2m), 512));
  CC_JOURNAL(tdx());
  auto b = e2m_.find(block_of(pa2m));
  if (b == e2m_.end()) throw std::logic_error("PAMT: demoting a block without a 2 MiB entry");
  PamtEntry e = b->second;
  e.size = PageSize::k4K;
  e2m_.erase(b);
  const uint64_t first = pfn_of(pa2m);
  for (uint64_t i = 0; i < 512; ++i) e4k_[first + i] = e;
}

void Pamt::promote(Addr pa2m) {
  CC_JOURNAL(frames(pfn_of(pa2m), 512));
  CC_JOURNAL(tdx());
  const uint64_t first = pfn_of(pa2m);
  auto it = e4k_.find(first);
  if (it == e4k_.end()) throw std::logic_error("PAMT: promoting a block without 4 KiB entries");
  PamtEntry e = it->second;
  for (uint64_t i = 0; i < 512; ++i) {
    auto f = e4k_.find(first + i);
    if (f == e4k_.end() || f->second.pt != e.pt || f->second.owner != e.owner)
      throw std::logic_error("PAMT: promoting a block whose frames differ");
  }
  e4k_.erase(e4k_.lower_bound(first), e4k_.lower_bound(first + 512));
  e.size = PageSize::k2M;
  e2m_[block_of(pa2m)] = e;
}

void Pamt::reserve(Addr pa) { assign(page_floor(pa), PageSize::k4K, PageType::RSVD, 0); }

void Pamt::for_each(const std::function<void(Addr, const PamtEntry&)>& fn) const {
  // Merge the two maps in address order.
  auto b = e2m_.begin();
  auto f = e4k_.begin();
  while (b != e2m_.end() || f != e4k_.end()) {
    const Addr ba = b == e2m_.end() ? ~Addr{0} : b->first << kHugeShift;
    const Addr fa = f == e4k_.end() ? ~Addr{0} : f->first << kPageShift;
    if (ba <= fa) {
      fn(ba, b->second);
      ++b;
    } else {
      fn(fa, f->second);
      ++f;
    }
  }
}

}  // namespace cocosim
