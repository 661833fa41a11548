#include "arch/stage2_format.h"

#include <stdexcept>

namespace cocosim {

uint64_t EptFormat::make_table(Addr next) const {
  return (next & kAddrMask) | kRead | kWrite | kExec;
}

uint64_t EptFormat::make_leaf(Addr pa, int depth, Perm p) const {
  uint64_t d = (pa & kAddrMask) | kMemTypeWb | kIgnorePat;
  if (p.r) d |= kRead;
  if (p.w) d |= kWrite;
  if (p.x) d |= kExec;
  if (depth != levels() - 1) d |= kLargePage;
  return d;
}

Descriptor EptFormat::decode(uint64_t d, int depth) const {
  Descriptor r;
  // An EPT entry is present when any of R/W/X is set.
  r.valid = (d & (kRead | kWrite | kExec)) != 0;
  if (!r.valid) return r;
  r.table = depth < levels() - 1 && !(d & kLargePage);
  r.pa = d & kAddrMask;
  r.perm = {bool(d & kRead), bool(d & kWrite), bool(d & kExec)};
  return r;
}

Stage2Format::Stage2Format(int levels, unsigned input_bits)
    : levels_(levels), input_bits_(input_bits) {
  const unsigned below = kPageShift + 9 * unsigned(levels - 1);
  if (levels < 2 || input_bits <= below || input_bits > below + 13)
    throw std::invalid_argument("stage-2 format: " + std::to_string(input_bits) +
                                " input bits cannot be translated by " + std::to_string(levels) +
                                " levels");
  root_mask_ = (1u << (input_bits - below)) - 1;
}

// 4 KiB granule: 9 bits per level above the 12-bit page offset.
Arm64Stage2Format::Arm64Stage2Format(unsigned ipa_bits)
    : Stage2Format(ipa_bits >= 32 && ipa_bits <= 48 ? levels_for(ipa_bits) : 4,
                   ipa_bits >= 32 && ipa_bits <= 48 ? ipa_bits : 0) {}

uint64_t Arm64Stage2Format::make_table(Addr next) const {
  return (next & kAddrMask) | kTableOrPage | kValid;
}

uint64_t Arm64Stage2Format::make_leaf(Addr pa, int depth, Perm p) const {
  uint64_t d = (pa & kAddrMask) | kValid | kMemAttrNormalWb | kShInner | kAccessFlag;
  if (depth == levels() - 1) d |= kTableOrPage;  // a page descriptor; blocks have bit 1 clear
  if (p.r) d |= kS2apRead;
  if (p.w) d |= kS2apWrite;
  if (!p.x) d |= kXn;
  return d;
}

Descriptor Arm64Stage2Format::decode(uint64_t d, int depth) const {
  Descriptor r;
  r.valid = d & kValid;
  if (!r.valid) return r;
  const bool last = depth == levels() - 1;
  if (last && !(d & kTableOrPage)) {
    r.valid = false;  // bits[1:0] = 0b01 at the last level is reserved: invalid
    return r;
  }
  r.table = !last && (d & kTableOrPage);
  r.pa = d & kAddrMask;
  r.perm = {bool(d & kS2apRead), bool(d & kS2apWrite), (d & (3ull << 53)) == 0};
  return r;
}

}  // namespace cocosim
