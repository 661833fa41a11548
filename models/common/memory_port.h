// How plain-C++ model logic reaches memory contents: always through the data
// plane (a TLM socket in the simulator, a fake in unit tests), never around it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/types.h"

namespace cocosim {

class MemoryPort {
 public:
  virtual ~MemoryPort() = default;
  virtual void read(Addr pa, void* dst, size_t len) = 0;
  virtual void write(Addr pa, const void* src, size_t len) = 0;
  virtual void fill(Addr pa, uint8_t byte, size_t len);

  uint64_t read64(Addr pa) {
    uint64_t v = 0;
    read(pa, &v, sizeof v);
    return v;
  }
  void write64(Addr pa, uint64_t v) { write(pa, &v, sizeof v); }
};

}  // namespace cocosim
