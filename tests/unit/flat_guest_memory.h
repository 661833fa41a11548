// Flat guest memory for the executor's unit tests (fake vCPUs without
// SystemC): 4 KiB pages made zeroed on first use, each page's bytes usable as
// its DMI pointer.
#pragma once
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>

struct FlatGuestMemory {
  struct Page {
    alignas(4096) uint8_t bytes[4096];
  };
  Page* page(uint64_t gfn) {
    auto& p = pages[gfn];
    if (!p) {
      p = std::make_unique<Page>();
      std::memset(p->bytes, 0, sizeof p->bytes);
    }
    return p.get();
  }
  void put(uint64_t gpa, const void* src, size_t len) { std::memcpy(page(gpa >> 12)->bytes + (gpa & 4095), src, len); }
  uint64_t get64(uint64_t gpa) {
    uint64_t v;
    std::memcpy(&v, page(gpa >> 12)->bytes + (gpa & 4095), 8);
    return v;
  }

  std::map<uint64_t, std::unique_ptr<Page>> pages;
};
