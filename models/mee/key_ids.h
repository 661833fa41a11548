// The KeyID space of MKTME with TDX: KeyID 0 is TME's (the host's default),
// 1..num_mktme are shared MKTME KeyIDs the host may use, and the rest are TDX
// private KeyIDs (IA32_MKTME_KEYID_PARTITIONING). The first private KeyID is
// the TDX module's global KeyID (PAMT, TDRs); the others are handed to TDs as
// their HKID, one each, and return to the pool at teardown (TDH.MNG.KEY.FREEID).
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

namespace cocosim {

class KeyIdSpace {
 public:
  // `keyid_bits` KeyID bits above the physical address width; `num_mktme`
  // shared KeyIDs after KeyID 0. Linux documents [16, 64) as the private range
  // of a 6-bit part: num_mktme = 15.
  KeyIdSpace(unsigned keyid_bits, unsigned num_mktme);

  unsigned total() const { return total_; }
  unsigned first_private() const { return num_mktme_ + 1; }
  bool is_private(unsigned k) const { return k >= first_private() && k < total_; }
  bool is_shared(unsigned k) const { return k < first_private(); }
  unsigned global_keyid() const { return first_private(); }

  // The lowest free private KeyID for a TD (not the global one), or nullopt.
  std::optional<unsigned> alloc_hkid();
  // Back to the pool; false when it was not handed out.
  bool free_hkid(unsigned k);
  bool assigned(unsigned k) const { return is_private(k) && used_[k]; }
  unsigned free_hkids() const;

 private:
  unsigned total_, num_mktme_;
  std::vector<bool> used_;
};

}  // namespace cocosim
