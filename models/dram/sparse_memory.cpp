#include "dram/sparse_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>

namespace cocosim {

namespace {
// The first byte is zero and every byte equals the next: libc's vectorised
// memcmp instead of a byte loop (which was most of a zero-byte memset's time).
bool all_zero(const uint8_t* p, size_t n) {
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}
}  // namespace

SparseMemory::~SparseMemory() {
  for (uint8_t* s : slabs_) ::munmap(s, kSlabBytes);
}

uint8_t* SparseMemory::new_frame() {
  if (slab_used_ == kSlabBytes) {
    // Twice the size, trimmed to a 2 MiB-aligned slab, so the kernel can back
    // it with one huge page (MADV_HUGEPAGE): one page fault per 512 frames
    // instead of one per frame. Slabs fill in order, so at most the last one
    // is partly used.
    void* m = ::mmap(nullptr, 2 * kSlabBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    const uintptr_t lo = reinterpret_cast<uintptr_t>(m);
    const uintptr_t a = (lo + kSlabBytes - 1) & ~uintptr_t(kSlabBytes - 1);
    if (a > lo) ::munmap(m, a - lo);
    if (lo + 2 * kSlabBytes > a + kSlabBytes)
      ::munmap(reinterpret_cast<void*>(a + kSlabBytes), lo + 2 * kSlabBytes - (a + kSlabBytes));
    ::madvise(reinterpret_cast<void*>(a), kSlabBytes, MADV_HUGEPAGE);
    slabs_.push_back(reinterpret_cast<uint8_t*>(a));
    slab_used_ = 0;
  }
  uint8_t* f = slabs_.back() + slab_used_;
  slab_used_ += kPageSize;
  return f;
}

uint8_t* SparseMemory::frame(uint64_t pfn, bool allocate) {
  auto it = frames_.find(pfn);
  if (it != frames_.end()) return it->second;
  if (!allocate) return nullptr;
  return frames_.emplace(pfn, new_frame()).first->second;
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
      std::memcpy(out, it->second + off, chunk);
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
