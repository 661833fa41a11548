// The memory encryption engine and the KeyID space: ciphertext in DRAM that
// OpenSSL reproduces on its own, the TD-owner bit, MACs, poison and #MC.
#include <doctest/doctest.h>

#include <cstring>

#include <openssl/evp.h>

#include "common/stats.h"
#include "fakes.h"
#include "mee/key_ids.h"
#include "mee/memory_encryption_engine.h"

using namespace cocosim;
using cocosim_test::FakeMemory;
using Line = MemoryEncryptionEngine::Line;

namespace {

Line pattern(uint8_t seed) {
  Line l;
  for (unsigned i = 0; i < l.size(); ++i) l[i] = uint8_t(seed + i * 7);
  return l;
}

struct Rig {
  FakeMemory dram{uint64_t{1} << 24};
  Stats stats;
  MemoryEncryptionEngine mee{dram, MemoryEncryptionEngine::Integrity::Ci, 42, 64, stats, "mee"};
  Rig() {
    mee.program_key(5);   // a shared MKTME KeyID
    mee.program_key(20);  // a TD's private KeyID
  }
  Line raw(uint64_t pa) {
    Line l;
    dram.read(pa, l.data(), l.size());
    return l;
  }
};

}  // namespace

TEST_CASE("KeyIdSpace: KeyID 0 and the MKTME KeyIDs are shared, the first private one is the module's") {
  KeyIdSpace k(6, 15);  // Linux's example: private KeyIDs [16, 64)
  CHECK(k.total() == 64u);
  CHECK(k.is_shared(0));
  CHECK(k.is_shared(15));
  CHECK(k.is_private(16));
  CHECK(k.global_keyid() == 16u);
  CHECK(k.free_hkids() == 47u);
  auto a = k.alloc_hkid();
  auto b = k.alloc_hkid();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == 17u);
  CHECK(*b == 18u);
  CHECK(k.free_hkid(*a));
  CHECK_FALSE(k.free_hkid(*a));                // twice
  CHECK_FALSE(k.free_hkid(k.global_keyid()));  // never the module's
  CHECK(*k.alloc_hkid() == 17u);               // reused
  CHECK_THROWS_AS(KeyIdSpace(2, 2), std::invalid_argument);
}

TEST_CASE("KeyIdSpace: HKIDs run out") {
  KeyIdSpace k(2, 0);  // KeyIDs 1 (global) .. 3
  CHECK(k.alloc_hkid());
  CHECK(k.alloc_hkid());
  CHECK_FALSE(k.alloc_hkid());
}

TEST_CASE("MEE: DRAM holds AES-XTS-128 ciphertext that OpenSSL computes on its own, byte for byte") {
  Rig r;
  const uint64_t pa = 0x12340;
  const Line plain = pattern(3);
  r.mee.write(pa, 20, true, 0, plain.data(), 64);
  const Line stored = r.raw(pa);
  CHECK(stored != plain);
  // Independently: the KeyID's key, tweak = the line's PA little endian, one 64-byte data unit.
  uint8_t iv[16] = {};
  for (int i = 0; i < 8; ++i) iv[i] = uint8_t(pa >> (8 * i));
  Line want;
  int n = 0, m = 0;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  REQUIRE(EVP_EncryptInit_ex(ctx, EVP_aes_128_xts(), nullptr, r.mee.key(20).data(), iv) == 1);
  REQUIRE(EVP_EncryptUpdate(ctx, want.data(), &n, plain.data(), 64) == 1);
  REQUIRE(EVP_EncryptFinal_ex(ctx, want.data() + n, &m) == 1);
  EVP_CIPHER_CTX_free(ctx);
  CHECK(stored == want);
  // The same plaintext elsewhere, or under another KeyID, is other ciphertext.
  r.mee.write(pa + 64, 20, true, 0, plain.data(), 64);
  r.mee.write(pa + 128, 5, false, 0, plain.data(), 64);
  CHECK(r.raw(pa + 64) != stored);
  CHECK(r.raw(pa + 128) != stored);
  CHECK(r.raw(pa + 128) != plain);
  Line back;
  CHECK_FALSE(r.mee.read_line(pa, 20, true, back).machine_check);
  CHECK(back == plain);
  CHECK(r.stats.get("mee.encryptions") == 3);
}

TEST_CASE("MEE: keys repeat with the seed and change when a KeyID is programmed again") {
  Rig a, b;
  CHECK(a.mee.key(20) == b.mee.key(20));
  CHECK(a.mee.key(20) != a.mee.key(5));
  const auto old = a.mee.key(20);
  a.mee.program_key(20);  // a new TD on a reused HKID
  CHECK(a.mee.key(20) != old);
  FakeMemory d;
  Stats s;
  MemoryEncryptionEngine other(d, MemoryEncryptionEngine::Integrity::Ci, 43, 64, s, "m");
  other.program_key(20);
  CHECK(other.key(20) != b.mee.key(20));
  CHECK_THROWS_AS(other.program_key(0), std::out_of_range);
}

TEST_CASE("MEE: a non-TD read of a TD-owned line returns zeros, KeyID 0 is plaintext") {
  Rig r;
  const Line plain = pattern(9);
  r.mee.write(0x1000, 20, true, 0, plain.data(), 64);
  CHECK(r.mee.td_bit(0x1000));
  Line out;
  auto o = r.mee.read_line(0x1000, 0, false, out);
  CHECK(o.zeros);
  CHECK(out == Line{});
  CHECK(r.stats.get("mee.zero_reads") == 1);
  r.mee.write(0x2000, 0, false, 0, plain.data(), 64);
  CHECK(r.raw(0x2000) == plain);
  CHECK_FALSE(r.mee.td_bit(0x2000));
}

TEST_CASE("MEE: a partial host write poisons a TD line, the TD's next read is a machine check, MOVDIR64B clears it") {
  Rig r;
  const Line plain = pattern(1);
  r.mee.write(0x3000, 20, true, 0, plain.data(), 64);
  const uint8_t b = 0xff;
  auto w = r.mee.write(0x3000, 0, false, 8, &b, 1);
  CHECK(w.poisoned);
  CHECK(r.mee.poisoned(0x3000));
  CHECK_FALSE(r.mee.td_bit(0x3000));
  Line out;
  CHECK(r.mee.read_line(0x3000, 20, true, out).machine_check);
  CHECK(r.stats.get("mee.machine_checks") == 1);
  // The host consuming the poison is a machine check too; a further partial
  // host write lands and leaves the poison (it consumes nothing).
  CHECK(r.mee.read_line(0x3000, 0, false, out).machine_check);
  CHECK(r.stats.get("mee.machine_checks") == 2);
  CHECK_FALSE(r.mee.write(0x3000, 0, false, 0, &b, 1).poisoned);
  CHECK(r.mee.poisoned(0x3000));
  CHECK(r.stats.get("mee.poisonings") == 1);
  // KVM clears a reclaimed page with MOVDIR64B: the whole line, poison gone.
  const Line zero{};
  r.mee.write(0x3000, 0, false, 0, zero.data(), 64);
  CHECK_FALSE(r.mee.poisoned(0x3000));
  CHECK_FALSE(r.mee.read_line(0x3000, 0, false, out).machine_check);
  CHECK(out == zero);
}

TEST_CASE("MEE: with integrity, a TD read of a line changed behind the engine fails its MAC") {
  Rig r;
  const Line plain = pattern(4);
  r.mee.write(0x4000, 20, true, 0, plain.data(), 64);
  CHECK(r.mee.mac(0x4000) != 0u);
  CHECK(r.mee.mac(0x4000) <= 0x0fffffffu);
  // A physical attacker flips a bit in DRAM.
  Line c = r.raw(0x4000);
  c[10] ^= 1;
  r.dram.write(0x4000, c.data(), 64);
  Line out;
  CHECK(r.mee.read_line(0x4000, 20, true, out).machine_check);
  CHECK(r.stats.get("mee.mac_failures") == 1);
  // Without integrity (li) the same flip decrypts to garbage, silently.
  FakeMemory d;
  Stats s;
  MemoryEncryptionEngine li(d, MemoryEncryptionEngine::Integrity::Li, 42, 64, s, "li");
  li.program_key(20);
  li.write(0x4000, 20, true, 0, plain.data(), 64);
  Line lc;
  d.read(0x4000, lc.data(), 64);
  lc[10] ^= 1;
  d.write(0x4000, lc.data(), 64);
  CHECK_FALSE(li.read_line(0x4000, 20, true, out).machine_check);
  CHECK(out != plain);
}

TEST_CASE("MEE: a TD's partial write merges into the line under its key") {
  Rig r;
  const Line plain = pattern(2);
  r.mee.write(0x5000, 20, true, 0, plain.data(), 64);
  const uint32_t v = 0xdeadbeef;
  CHECK_FALSE(r.mee.write(0x5000, 20, true, 4, reinterpret_cast<const uint8_t*>(&v), 4).poisoned);
  Line out;
  REQUIRE_FALSE(r.mee.read_line(0x5000, 20, true, out).machine_check);
  Line want = plain;
  std::memcpy(want.data() + 4, &v, 4);
  CHECK(out == want);
}
