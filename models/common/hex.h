// "0x1a2b": how addresses and values are shown in reports.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace cocosim {

inline std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace cocosim
