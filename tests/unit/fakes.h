// Test doubles shared by the unit tests (a header, so the tests/unit/*.cpp glob
// does not compile it on its own).
#pragma once
#include <cstdint>
#include <stdexcept>

#include "common/memory_port.h"
#include "dram/sparse_memory.h"

namespace cocosim_test {

// A MemoryPort backed by SparseMemory that counts the accesses made through it.
class FakeMemory : public cocosim::MemoryPort {
 public:
  explicit FakeMemory(uint64_t size = uint64_t{1} << 32) : mem(size) {}

  void read(cocosim::Addr pa, void* dst, size_t len) override {
    if (!mem.in_range(pa, len)) throw std::out_of_range("FakeMemory read outside memory");
    ++reads;
    mem.read(pa, dst, len);
  }
  void write(cocosim::Addr pa, const void* src, size_t len) override {
    if (!mem.in_range(pa, len)) throw std::out_of_range("FakeMemory write outside memory");
    ++writes;
    mem.write(pa, src, len);
  }

  uint8_t byte(cocosim::Addr pa) const {
    uint8_t b = 0;
    mem.read(pa, &b, 1);
    return b;
  }
  // True when every byte of [pa, pa+len) equals b.
  bool all(cocosim::Addr pa, uint64_t len, uint8_t b) const {
    for (uint64_t i = 0; i < len; ++i)
      if (byte(pa + i) != b) return false;
    return true;
  }

  cocosim::SparseMemory mem;
  uint64_t reads = 0;
  uint64_t writes = 0;
};

}  // namespace cocosim_test
