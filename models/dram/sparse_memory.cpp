#include "dram/sparse_memory.h"

#include <algorithm>
#include <cstring>

namespace cocosim {

namespace {
bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}
}  // namespace

uint8_t* SparseMemory::frame(uint64_t pfn, bool allocate) {
  auto it = frames_.find(pfn);
  if (it != frames_.end()) return it->second.get();
  if (!allocate) return nullptr;
  return frames_.emplace(pfn, Frame(new uint8_t[kPageSize]())).first->second.get();
}

void SparseMemory::read(Addr a, void* dst, size_t len) const {
  auto* out = static_cast<uint8_t*>(dst);
  while (len) {
    size_t off = a & kPageMask;
    size_t chunk = std::min<size_t>(len, kPageSize - off);
    auto it = frames_.find(pfn_of(a));
    if (it == frames_.end())
      std::memset(out, 0, chunk);
    else
      std::memcpy(out, it->second.get() + off, chunk);
    a += chunk;
    out += chunk;
    len -= chunk;
  }
}

void SparseMemory::write(Addr a, const void* src, size_t len) {
  auto* in = static_cast<const uint8_t*>(src);
  while (len) {
    size_t off = a & kPageMask;
    size_t chunk = std::min<size_t>(len, kPageSize - off);
    // Zeros written to a frame that does not exist change nothing: keep it absent.
    uint8_t* f = frame(pfn_of(a), !all_zero(in, chunk));
    if (f) std::memcpy(f + off, in, chunk);
    a += chunk;
    in += chunk;
    len -= chunk;
  }
}

void SparseMemory::fill(Addr a, uint8_t byte, size_t len) {
  while (len) {
    size_t off = a & kPageMask;
    size_t chunk = std::min<size_t>(len, kPageSize - off);
    uint8_t* f = frame(pfn_of(a), byte != 0);
    if (f) std::memset(f + off, byte, chunk);
    a += chunk;
    len -= chunk;
  }
}

}  // namespace cocosim
