// Sparse physical memory: a 4 KiB frame exists only once something non-zero is
// written to it, so a 64 GiB platform costs nothing until it is touched.
// Frames are carved from 2 MiB anonymous mappings (slabs) backed by huge
// pages where the kernel allows, not malloc'ed one by one: a per-frame malloc
// cost a search of the heap's bins, a header and a page fault per frame.
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/types.h"

namespace cocosim {

class SparseMemory {
 public:
  explicit SparseMemory(uint64_t size) : size_(size) {}
  ~SparseMemory();
  SparseMemory(const SparseMemory&) = delete;
  SparseMemory& operator=(const SparseMemory&) = delete;

  uint64_t size() const { return size_; }
  bool in_range(Addr a, uint64_t len) const { return len <= size_ && a <= size_ - len; }

  // Absent frames read as zeros. Accesses may span frames.
  void read(Addr a, void* dst, size_t len) const;
  void write(Addr a, const void* src, size_t len);
  void fill(Addr a, uint8_t byte, size_t len);

  // The frame's storage, or nullptr when it was never written and `allocate` is false.
  uint8_t* frame(uint64_t pfn, bool allocate);
  bool allocated(uint64_t pfn) const { return frames_.count(pfn) != 0; }
  size_t allocated_frames() const { return frames_.size(); }

 private:
  static constexpr size_t kSlabBytes = size_t(2) << 20;
  uint8_t* new_frame();  // zeroed; throws std::bad_alloc when no slab can be mapped
  uint64_t size_;
  std::unordered_map<uint64_t, uint8_t*> frames_;
  std::vector<uint8_t*> slabs_;    // each kSlabBytes, 2 MiB-aligned, anonymous (zero-filled)
  size_t slab_used_ = kSlabBytes;  // bytes of the last slab handed out
};

}  // namespace cocosim
