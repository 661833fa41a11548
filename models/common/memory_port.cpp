#include "common/memory_port.h"

#include <array>
#include <algorithm>

namespace cocosim {

void MemoryPort::fill(Addr pa, uint8_t byte, size_t len) {
  std::array<uint8_t, kPageSize> buf;
  buf.fill(byte);
  while (len) {
    size_t chunk = std::min<size_t>(len, kPageSize - (pa & kPageMask));
    write(pa, buf.data(), chunk);
    pa += chunk;
    len -= chunk;
  }
}

}  // namespace cocosim
