// Basic address and page arithmetic shared by every model.
#pragma once
#include <cstdint>

namespace cocosim {

using Addr = uint64_t;

constexpr uint64_t kPageShift = 12;
constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;
constexpr uint64_t kPageMask = kPageSize - 1;
constexpr uint64_t kHugePageSize = uint64_t{2} << 20;  // 2 MiB

constexpr bool page_aligned(uint64_t v) { return (v & kPageMask) == 0; }
constexpr uint64_t page_floor(uint64_t v) { return v & ~kPageMask; }
constexpr uint64_t page_ceil(uint64_t v) { return (v + kPageMask) & ~kPageMask; }
constexpr uint64_t pfn_of(uint64_t a) { return a >> kPageShift; }

// [lo, hi] inclusive ranges, as TLM DMI uses them.
struct AddrRange {
  Addr lo = 0;
  Addr hi = 0;
  bool overlaps(Addr l, Addr h) const { return lo <= h && l <= hi; }
  bool contains(Addr a) const { return lo <= a && a <= hi; }
};

}  // namespace cocosim
