// A TD's Secure EPT in simulated memory: 4 KiB SEPT pages of 512 SeptEntry,
// read and written through a MemoryPort with the TD's HKID in the KeyID bits
// of the address (above the platform's PA width), so that with the memory
// encryption engine below, DRAM holds them encrypted with the TD's key.
// Levels are the module's: 0 = 4 KiB entries, 1 = 2 MiB, ... the root is at
// level 3 (GPAW 48, 4-level EPT) or 4 (GPAW 52, 5-level EPT).
#pragma once
#include <array>
#include <cstdint>
#include <functional>

#include "common/memory_port.h"
#include "common/types.h"
#include "tdx/sept_entry.h"

namespace cocosim {

class SecureEpt {
 public:
  using Page = std::array<uint64_t, 512>;

  SecureEpt(MemoryPort& mem, unsigned pa_bits, int levels, Addr root, unsigned hkid)
      : mem_(mem), pa_bits_(pa_bits), levels_(levels), root_(root), hkid_(hkid) {}

  int levels() const { return levels_; }
  int root_level() const { return levels_ - 1; }
  Addr root() const { return root_; }
  unsigned hkid() const { return hkid_; }
  // The address the module uses for a SEPT page: the HKID above the PA bits.
  Addr keyed(Addr pa) const { return pa | (Addr(hkid_) << pa_bits_); }

  static unsigned index(Addr gpa, int level) { return unsigned((gpa >> (kPageShift + 9 * level)) & 511); }
  static uint64_t level_size(int level) { return uint64_t{1} << (kPageShift + 9 * level); }

  SeptEntry read(Addr table, unsigned idx) { return {mem_.read64(keyed(table) + 8 * idx)}; }
  void write(Addr table, unsigned idx, SeptEntry e) { mem_.write64(keyed(table) + 8 * idx, e.raw); }
  void read_page(Addr table, Page& out) { mem_.read(keyed(table), out.data(), sizeof(Page)); }
  void write_page(Addr table, const Page& p) { mem_.write(keyed(table), p.data(), sizeof(Page)); }
  // A new SEPT page: every entry FREE (with SVE), written whole.
  void init_page(Addr table);

  // Where a walk toward `level` for `gpa` ended: the entry at `level` when
  // `reached`, else the first entry above it that is not NL_MAPPED (a leaf,
  // FREE, or blocked), at `at_level`.
  struct Walk {
    bool reached = false;
    int at_level = 0;
    Addr table = 0;
    unsigned idx = 0;
    SeptEntry entry;
  };
  Walk walk(Addr gpa, int level);

  // Every entry of every reachable SEPT page, the root first then depth-first;
  // `fn(level, gpa, table, idx, entry)` for each entry that is not FREE.
  using EntryFn = std::function<void(int level, Addr gpa, Addr table, unsigned idx, SeptEntry e)>;
  void for_each_entry(const EntryFn& fn);

 private:
  void visit(Addr table, int level, Addr gpa_base, const EntryFn& fn);

  MemoryPort& mem_;
  unsigned pa_bits_;
  int levels_;
  Addr root_;
  unsigned hkid_;
};

}  // namespace cocosim
