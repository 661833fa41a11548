#include "tdx/sept_entry.h"

namespace cocosim {

namespace {

// State bit i of the encoding and the entry bit that holds it.
constexpr uint64_t kStateBits[7] = {SeptEntry::kD,   SeptEntry::kTdex, SeptEntry::kTdbw,
                                    SeptEntry::kTdb, SeptEntry::kTdp,  SeptEntry::kIpat,
                                    SeptEntry::kPs};

constexpr SeptState kAll[] = {SeptState::Free,      SeptState::Removed,        SeptState::NlMapped,
                              SeptState::NlBlocked, SeptState::Mapped,         SeptState::Blocked,
                              SeptState::Pending,   SeptState::PendingBlocked, SeptState::BlockedW,
                              SeptState::PendingBlockedW};

}  // namespace

const char* sept_state_name(SeptState s) {
  switch (s) {
    case SeptState::Free: return "FREE";
    case SeptState::Removed: return "REMOVED";
    case SeptState::NlMapped: return "NL_MAPPED";
    case SeptState::NlBlocked: return "NL_BLOCKED";
    case SeptState::Mapped: return "MAPPED";
    case SeptState::Blocked: return "BLOCKED";
    case SeptState::Pending: return "PENDING";
    case SeptState::PendingBlocked: return "PENDING_BLOCKED";
    case SeptState::BlockedW: return "BLOCKEDW";
    case SeptState::PendingBlockedW: return "PENDING_BLOCKEDW";
  }
  return "?";
}

uint8_t sept_public_state(SeptState s) {
  switch (s) {
    case SeptState::Free: return 0;
    case SeptState::Blocked: return 1;
    case SeptState::Pending: return 2;
    case SeptState::PendingBlocked: return 3;
    case SeptState::Mapped: return 4;
    case SeptState::Removed: return 5;
    case SeptState::BlockedW: return 8;
    case SeptState::PendingBlockedW: return 16;
    case SeptState::NlBlocked: return 0x81;
    case SeptState::NlMapped: return 0x84;
  }
  return 0xff;
}

SeptEntry SeptEntry::make(SeptState s, Addr hpa) {
  SeptEntry e;
  const unsigned enc = unsigned(s);
  for (unsigned i = 0; i < 7; ++i)
    if (enc & (1u << i)) e.raw |= kStateBits[i];
  e.raw |= kSve;
  if (s != SeptState::Free && s != SeptState::Removed) e.raw |= hpa & kHpaMask;
  if (s == SeptState::Mapped) e.raw |= kR | kW | kX | kMtWb;
  if (s == SeptState::BlockedW) e.raw |= kR | kX | kMtWb;  // write-blocked: still readable
  if (s == SeptState::NlMapped) e.raw |= kR | kW | kX;
  return e;
}

bool SeptEntry::valid_state() const {
  const SeptState s = state();
  for (SeptState k : kAll)
    if (k == s) return true;
  return false;
}

}  // namespace cocosim
