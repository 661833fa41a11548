#include "mee/key_ids.h"

#include <stdexcept>
#include <string>

namespace cocosim {

KeyIdSpace::KeyIdSpace(unsigned keyid_bits, unsigned num_mktme)
    : total_(1u << keyid_bits), num_mktme_(num_mktme), used_(total_, false) {
  // At least the global KeyID and one for a TD.
  if (keyid_bits == 0 || keyid_bits > 16 || num_mktme + 3 > total_)
    throw std::invalid_argument("KeyID space: " + std::to_string(num_mktme) +
                                " MKTME KeyIDs leave no private KeyIDs in " +
                                std::to_string(keyid_bits) + " bits");
  used_[global_keyid()] = true;  // the TDX module's
}

std::optional<unsigned> KeyIdSpace::alloc_hkid() {
  for (unsigned k = global_keyid() + 1; k < total_; ++k)
    if (!used_[k]) {
      used_[k] = true;
      return k;
    }
  return std::nullopt;
}

bool KeyIdSpace::free_hkid(unsigned k) {
  if (!is_private(k) || k == global_keyid() || !used_[k]) return false;
  used_[k] = false;
  return true;
}

unsigned KeyIdSpace::free_hkids() const {
  unsigned n = 0;
  for (unsigned k = global_keyid() + 1; k < total_; ++k) n += !used_[k];
  return n;
}

}  // namespace cocosim
