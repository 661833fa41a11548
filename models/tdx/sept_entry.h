// One Secure EPT entry as the TDX module lays it out: the EPT bits the CPU
// walks (R/W/X, memory type, IPAT, PS, the HPA) plus the module's software
// bits. The entry's state is the 7-bit value {D, TDEX, TDBW, TDB, TDP, IPAT,
// PS} (bit 0 = D, bit 6 = PS), as the module's sept_state_lookup encodes it.
#pragma once
#include <cstdint>

#include "common/types.h"

namespace cocosim {

enum class SeptState : uint8_t {
  Free = 0x0E,
  Removed = 0x0C,
  NlMapped = 0x00,
  NlBlocked = 0x08,
  Mapped = 0x60,
  Blocked = 0x68,
  Pending = 0x70,
  PendingBlocked = 0x78,
  BlockedW = 0x64,
  PendingBlockedW = 0x74,
};

const char* sept_state_name(SeptState s);  // "MAPPED", ...
// The value TDH.MEM.SEPT.RD reports (FREE 0, BLOCKED 1, PENDING 2, ...).
uint8_t sept_public_state(SeptState s);

struct SeptEntry {
  static constexpr uint64_t kR = 1ull << 0, kW = 1ull << 1, kX = 1ull << 2;
  static constexpr uint64_t kMtWb = 6ull << 3;
  static constexpr uint64_t kIpat = 1ull << 6;
  static constexpr uint64_t kPs = 1ull << 7;  // leaf (at every level in SEPT)
  static constexpr uint64_t kD = 1ull << 9;
  static constexpr uint64_t kTdel = 1ull << 11;  // entry lock
  static constexpr uint64_t kHpaMask = 0x000ffffffffff000ull;  // bits 51:12
  static constexpr uint64_t kTdhp = 1ull << 52;
  static constexpr uint64_t kTdex = 1ull << 53;
  static constexpr uint64_t kTdbw = 1ull << 54;
  static constexpr uint64_t kTdb = 1ull << 55;
  static constexpr uint64_t kTdp = 1ull << 56;
  static constexpr uint64_t kSve = 1ull << 63;  // suppress #VE: the module decides on every fault

  uint64_t raw = 0;

  // An entry in state `s` pointing at `hpa` (a page or the next SEPT page).
  // Present states (MAPPED, NL_MAPPED) carry R/W/X, leaves WB memory type.
  static SeptEntry make(SeptState s, Addr hpa);
  static SeptEntry free_entry() { return make(SeptState::Free, 0); }

  // The entry bits are laid out so that the encoding is three shifts: D (9),
  // TDEX..TDP (53..56) and IPAT, PS (6, 7).
  SeptState state() const {
    return SeptState(((raw >> 9) & 1) | ((raw >> 53) & 0xf) << 1 | ((raw >> 6) & 3) << 5);
  }
  // False for an encoding that is none of the module's states (a corrupt entry).
  bool valid_state() const;
  Addr hpa() const { return raw & kHpaMask; }
  bool leaf() const { return (raw & kPs) != 0; }
  bool present() const { return (raw & (kR | kW | kX)) != 0; }
  bool is_free() const { return state() == SeptState::Free; }
};

// Leaf states that hold a TD page (the page is the TD's, PT_REG in PAMT).
inline bool sept_holds_page(SeptState s) {
  return s == SeptState::Mapped || s == SeptState::Blocked || s == SeptState::Pending ||
         s == SeptState::PendingBlocked || s == SeptState::BlockedW || s == SeptState::PendingBlockedW;
}
inline bool sept_non_leaf(SeptState s) { return s == SeptState::NlMapped || s == SeptState::NlBlocked; }
inline bool sept_blocked(SeptState s) {
  return s == SeptState::Blocked || s == SeptState::PendingBlocked || s == SeptState::NlBlocked;
}

}  // namespace cocosim
