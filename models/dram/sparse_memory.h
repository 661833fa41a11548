// Sparse physical memory: a 4 KiB frame exists only once something non-zero is
// written to it, so a 64 GiB platform costs nothing until it is touched.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "common/types.h"

namespace cocosim {

class SparseMemory {
 public:
  explicit SparseMemory(uint64_t size) : size_(size) {}

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
  using Frame = std::unique_ptr<uint8_t[]>;
  uint64_t size_;
  std::unordered_map<uint64_t, Frame> frames_;
};

}  // namespace cocosim
