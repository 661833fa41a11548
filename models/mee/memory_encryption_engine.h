// The memory encryption engine (TME-MK with TDX) as plain C++: it sits on a
// line's way between the cache and DRAM. Every KeyID but 0 has its own
// AES-XTS-128 key, and a line is encrypted with it, tweaked by the line's
// physical address, so DRAM holds ciphertext. Lines written with a TDX private
// KeyID carry the TD-owner bit and, with integrity (`ci`), a 28-bit MAC
// (truncated SHA3-256 over the ciphertext, the address and the TD bit, keyed
// per boot). What the hardware does with them:
//  - a non-TD read of a TD-owned line returns zeros (the TD-owner bit does
//    not match) and consumes nothing;
//  - a non-TD partial write to a TD-owned line clears the TD bit and poisons
//    the line (the partial-write erratum Linux documents as X86_BUG_TDX_PW_MCE);
//  - a TD read of a line whose MAC fails is a machine check (#MC) in the TD;
//  - a read of a poisoned line is a machine check for whoever reads it: the
//    TD, or the host kernel consuming the poison (Linux documents the
//    erratum's "later read => #MC" without regard to who reads); a further
//    non-TD partial write to it lands and leaves the poison;
//  - a full-line write (MOVDIR64B) replaces the line and clears its poison.
// KeyID 0 (TME, the host's default) is modelled as plaintext in DRAM.
// Keys come from a deterministic generator seeded by platform.seed, so runs
// repeat; programming a KeyID again (a new TD on a reused HKID) draws a new key.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/memory_port.h"
#include "common/stats.h"

struct evp_cipher_ctx_st;

namespace cocosim {

class MemoryEncryptionEngine {
 public:
  static constexpr unsigned kLine = 64;
  using Line = std::array<uint8_t, kLine>;
  using Key = std::array<uint8_t, 32>;  // AES-XTS-128: data key then tweak key

  enum class Integrity { Li, Ci };  // TD bit only, or TD bit + MAC

  // What a read or write of a line came to.
  struct Outcome {
    bool machine_check = false;  // poison or MAC failure consumed by a TD
    bool zeros = false;          // a non-TD read of a TD-owned line
    bool poisoned = false;       // this write poisoned the line
  };

  MemoryEncryptionEngine(MemoryPort& dram, Integrity integrity, uint64_t seed,
                         unsigned num_keyids, Stats& stats, const std::string& prefix);

  // PCONFIG / TDH.MNG.KEY.CONFIG: a fresh key for the KeyID.
  void program_key(unsigned keyid);
  bool key_programmed(unsigned keyid) const;
  const Key& key(unsigned keyid) const { return keys_.at(keyid); }

  // `pa` is line aligned; `td` says the access comes from a TD (SEAM or TD
  // mode with a private KeyID), which is what the TD-owner bit is checked against.
  Outcome read_line(uint64_t pa, unsigned keyid, bool td, Line& out);
  // A write of `len` bytes at `offset` within the line; a whole-line write is
  // MOVDIR64B-like (clears poison), anything shorter is a read-modify-write.
  Outcome write(uint64_t pa, unsigned keyid, bool td, unsigned offset, const uint8_t* data,
                unsigned len);

  // A whole 4 KiB frame at `pa` read by a TD under `keyid` into `out`
  // (kPageSize bytes): false, consuming nothing and raising nothing, when a
  // line is poisoned or fails its MAC (the TD then reads line by line and
  // meets the #MC on that line). Counts 64 decryptions on success.
  bool read_frame(uint64_t pa, unsigned keyid, uint8_t* out);
  // Whether any line of [pa, pa+len) carries a TD bit or poison.
  bool has_meta(uint64_t pa, uint64_t len) const;

  // Line metadata, for inspect and tests.
  bool td_bit(uint64_t pa) const;
  bool poisoned(uint64_t pa) const;
  uint32_t mac(uint64_t pa) const;

  // The cipher itself (exposed so a test can hold it against OpenSSL).
  void encrypt(unsigned keyid, uint64_t pa, const Line& plain, Line& cipher) const;
  void decrypt(unsigned keyid, uint64_t pa, const Line& cipher, Line& plain) const;
  uint32_t compute_mac(uint64_t pa, bool td_bit, const Line& cipher) const;

 private:
  struct Meta {
    bool td = false;
    bool poison = false;
    uint32_t mac = 0;
  };
  Key derive(unsigned keyid, uint64_t generation) const;
  // One OpenSSL context per KeyID and direction, keyed once when the KeyID is
  // programmed: a line then costs only its tweak and the cipher itself.
  struct CtxFree {
    void operator()(evp_cipher_ctx_st* c) const;
  };
  using Ctx = std::unique_ptr<evp_cipher_ctx_st, CtxFree>;
  void xts(unsigned keyid, uint64_t pa, const uint8_t* in, uint8_t* out, bool enc) const;
  void store(uint64_t pa, unsigned keyid, bool td, const Line& plain);

  MemoryPort& dram_;
  Integrity integrity_;
  uint64_t seed_;
  std::string scope_;  // the trace scope (the counters' prefix)
  std::vector<Key> keys_;
  std::vector<uint64_t> generation_;  // 0: never programmed
  mutable std::vector<std::array<Ctx, 2>> ctx_;  // [keyid][decrypt, encrypt]
  std::array<uint8_t, 32> mac_key_;
  std::unordered_map<uint64_t, Meta> lines_;  // lines that carry a TD bit or poison
  uint64_t& encryptions_;
  uint64_t& decryptions_;
  uint64_t& mac_checks_;
  uint64_t& mac_failures_;
  uint64_t& poisonings_;
  uint64_t& zero_reads_;
  uint64_t& machine_checks_;
};

}  // namespace cocosim
