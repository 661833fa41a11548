#include "mee/memory_encryption_engine.h"

#include "common/hex.h"
#include "common/trace.h"

#include <cstring>
#include <stdexcept>

#include <openssl/evp.h>

namespace cocosim {

namespace {

void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}

template <size_t N>
void sha(const EVP_MD* md, const std::vector<uint8_t>& msg, std::array<uint8_t, N>& out) {
  uint8_t d[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!EVP_Digest(msg.data(), msg.size(), d, &len, md, nullptr) || len < N)
    throw std::runtime_error("memory encryption engine: OpenSSL digest failed");
  std::memcpy(out.data(), d, N);
}

}  // namespace

MemoryEncryptionEngine::MemoryEncryptionEngine(MemoryPort& dram, Integrity integrity, uint64_t seed,
                                               unsigned num_keyids, Stats& stats,
                                               const std::string& prefix)
    : dram_(dram),
      integrity_(integrity),
      seed_(seed),
      scope_(prefix),
      keys_(num_keyids),
      generation_(num_keyids, 0),
      ctx_(num_keyids),
      encryptions_(stats.counter(prefix + ".encryptions", "lines", "64-byte lines encrypted on their way to DRAM")),
      decryptions_(stats.counter(prefix + ".decryptions", "lines", "64-byte lines decrypted on their way from DRAM")),
      mac_checks_(stats.counter(prefix + ".mac_checks", "lines", "MACs verified on TD reads (integrity ci)")),
      mac_failures_(stats.counter(prefix + ".mac_failures", "lines", "TD reads whose line MAC did not match")),
      poisonings_(stats.counter(prefix + ".poisonings", "lines", "lines poisoned by a non-TD partial write to a TD-owned line")),
      zero_reads_(stats.counter(prefix + ".zero_reads", "lines", "non-TD reads of TD-owned lines, answered with zeros")),
      machine_checks_(stats.counter(prefix + ".machine_checks", "count", "machine checks raised in a TD (poison or MAC failure consumed)")) {
  // The MAC key: one per boot, from the same generator as the data keys.
  std::vector<uint8_t> msg(24, 0);
  std::memcpy(msg.data(), "mee-mac-key", 11);
  put64(msg.data() + 16, seed_);
  sha(EVP_sha256(), msg, mac_key_);
}

MemoryEncryptionEngine::Key MemoryEncryptionEngine::derive(unsigned keyid, uint64_t generation) const {
  std::vector<uint8_t> msg(40, 0);
  std::memcpy(msg.data(), "mee-keyid-key", 13);
  put64(msg.data() + 16, seed_);
  put64(msg.data() + 24, keyid);
  put64(msg.data() + 32, generation);
  Key k;
  sha(EVP_sha256(), msg, k);
  return k;
}

void MemoryEncryptionEngine::program_key(unsigned keyid) {
  if (keyid == 0 || keyid >= keys_.size())
    throw std::out_of_range("memory encryption engine: no KeyID " + std::to_string(keyid));
  keys_[keyid] = derive(keyid, ++generation_[keyid]);
  for (int enc = 0; enc < 2; ++enc) {
    Ctx c(EVP_CIPHER_CTX_new());
    if (!c || !EVP_CipherInit_ex(c.get(), EVP_aes_128_xts(), nullptr, keys_[keyid].data(), nullptr, enc))
      throw std::runtime_error("memory encryption engine: OpenSSL AES-XTS key setup failed");
    ctx_[keyid][enc] = std::move(c);
  }
}

void MemoryEncryptionEngine::CtxFree::operator()(evp_cipher_ctx_st* c) const { EVP_CIPHER_CTX_free(c); }

// One AES-XTS-128 pass over a line: the data unit is the 64-byte line, the
// tweak its physical address (little endian), as the engine sees the line.
void MemoryEncryptionEngine::xts(unsigned keyid, uint64_t pa, const uint8_t* in, uint8_t* out,
                                 bool enc) const {
  EVP_CIPHER_CTX* c = keyid < ctx_.size() ? ctx_[keyid][enc].get() : nullptr;
  if (!c) throw std::logic_error("memory encryption engine: KeyID " + std::to_string(keyid) + " has no key");
  uint8_t iv[16] = {};
  put64(iv, pa);
  int n = 0;
  if (!EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, iv, enc) ||
      !EVP_CipherUpdate(c, out, &n, in, int(kLine)) || n != int(kLine))
    throw std::runtime_error("memory encryption engine: OpenSSL AES-XTS failed");
}

bool MemoryEncryptionEngine::key_programmed(unsigned keyid) const {
  return keyid < generation_.size() && generation_[keyid] != 0;
}

void MemoryEncryptionEngine::encrypt(unsigned keyid, uint64_t pa, const Line& plain, Line& cipher) const {
  if (keyid == 0) {
    cipher = plain;
    return;
  }
  xts(keyid, pa, plain.data(), cipher.data(), true);
}

void MemoryEncryptionEngine::decrypt(unsigned keyid, uint64_t pa, const Line& cipher, Line& plain) const {
  if (keyid == 0) {
    plain = cipher;
    return;
  }
  xts(keyid, pa, cipher.data(), plain.data(), false);
}

uint32_t MemoryEncryptionEngine::compute_mac(uint64_t pa, bool td_bit, const Line& cipher) const {
  std::vector<uint8_t> msg(mac_key_.begin(), mac_key_.end());
  uint8_t a[8];
  put64(a, pa);
  msg.insert(msg.end(), a, a + 8);
  msg.push_back(td_bit ? 1 : 0);
  msg.insert(msg.end(), cipher.begin(), cipher.end());
  std::array<uint8_t, 4> d;
  sha(EVP_sha3_256(), msg, d);
  return (uint32_t(d[0]) | uint32_t(d[1]) << 8 | uint32_t(d[2]) << 16 | uint32_t(d[3]) << 24) &
         0x0fffffffu;
}

void MemoryEncryptionEngine::store(uint64_t pa, unsigned keyid, bool td, const Line& plain) {
  Line cipher;
  encrypt(keyid, pa, plain, cipher);
  if (keyid) ++encryptions_;
  dram_.write(pa, cipher.data(), kLine);
  if (!td) {
    lines_.erase(pa);  // a host line: no TD bit, no MAC, no poison
    return;
  }
  Meta& m = lines_[pa];
  m.td = true;
  m.poison = false;
  m.mac = integrity_ == Integrity::Ci ? compute_mac(pa, true, cipher) : 0;
}

MemoryEncryptionEngine::Outcome MemoryEncryptionEngine::read_line(uint64_t pa, unsigned keyid, bool td,
                                                                  Line& out) {
  Outcome o;
  auto it = lines_.find(pa);
  const Meta* m = it == lines_.end() ? nullptr : &it->second;
  if (m && m->poison) {
    // Consuming poison is a machine check for whoever reads: the TD, or the
    // host kernel (Linux's tdx_dump_mce_info covers the host's case).
    ++machine_checks_;
    COCOSIM_PROBE(pulse(trace::Cat::Bus, scope_, "poison_consumed", "line " + hex(pa) + " keyid " + std::to_string(keyid)));
    o.machine_check = true;
    out.fill(0);
    return o;
  }
  if (m && m->td && !td) {
    // The TD-owner bit does not match: a non-TD read returns zeros and
    // consumes nothing.
    ++zero_reads_;
    o.zeros = true;
    out.fill(0);
    return o;
  }
  Line cipher;
  dram_.read(pa, cipher.data(), kLine);
  if (m && m->td && integrity_ == Integrity::Ci) {
    ++mac_checks_;
    if (compute_mac(pa, true, cipher) != m->mac) {
      ++mac_failures_;
      ++machine_checks_;
      COCOSIM_PROBE(pulse(trace::Cat::Bus, scope_, "mac_failure", "line " + hex(pa) + " keyid " + std::to_string(keyid)));
      o.machine_check = true;
      out.fill(0);
      return o;
    }
  }
  decrypt(keyid, pa, cipher, out);
  if (keyid) ++decryptions_;
  return o;
}

MemoryEncryptionEngine::Outcome MemoryEncryptionEngine::write(uint64_t pa, unsigned keyid, bool td,
                                                              unsigned offset, const uint8_t* data,
                                                              unsigned len) {
  Outcome o;
  if (offset + len > kLine) throw std::out_of_range("memory encryption engine: write crosses a line");
  auto it = lines_.find(pa);
  if (len == kLine) {  // MOVDIR64B: the whole line, whatever it held, poison cleared
    Line plain;
    std::memcpy(plain.data(), data, kLine);
    store(pa, keyid, td, plain);
    return o;
  }
  if (it != lines_.end() && !td && (it->second.td || it->second.poison)) {
    // A partial non-TD write to a TD-owned line: the TD bit goes and the line
    // is poisoned. To a line that is poisoned already: the bytes land, the
    // poison stays (a write consumes nothing).
    Line cipher;
    dram_.read(pa, cipher.data(), kLine);
    std::memcpy(cipher.data() + offset, data, len);  // the bytes land as they are
    dram_.write(pa, cipher.data(), kLine);
    if (it->second.td) {
      it->second.td = false;
      it->second.poison = true;
      ++poisonings_;
      COCOSIM_PROBE(pulse(trace::Cat::Bus, scope_, "poisoned", "line " + hex(pa) + " by a non-TD partial write"));
      o.poisoned = true;
    }
    return o;
  }
  Line plain;
  Outcome r = read_line(pa, keyid, td, plain);
  if (r.machine_check) return r;  // consuming poison to merge the write
  std::memcpy(plain.data() + offset, data, len);
  store(pa, keyid, td, plain);
  return o;
}

bool MemoryEncryptionEngine::read_frame(uint64_t pa, unsigned keyid, uint8_t* out) {
  constexpr unsigned kLines = kPageSize / kLine;
  std::array<Line, kLines> cipher;
  dram_.read(pa, cipher.data(), kPageSize);
  for (unsigned i = 0; i < kLines; ++i) {
    const uint64_t la = pa + i * kLine;
    auto it = lines_.find(la);
    if (it == lines_.end()) continue;
    if (it->second.poison) return false;
    if (it->second.td && integrity_ == Integrity::Ci) {
      ++mac_checks_;
      if (compute_mac(la, true, cipher[i]) != it->second.mac) return false;
    }
  }
  for (unsigned i = 0; i < kLines; ++i) {
    Line plain;
    decrypt(keyid, pa + i * kLine, cipher[i], plain);
    std::memcpy(out + i * kLine, plain.data(), kLine);
  }
  if (keyid) decryptions_ += kLines;
  return true;
}

bool MemoryEncryptionEngine::has_meta(uint64_t pa, uint64_t len) const {
  if (lines_.empty() || len == 0) return false;
  for (uint64_t la = pa & ~uint64_t(kLine - 1); la < pa + len; la += kLine)
    if (lines_.count(la)) return true;
  return false;
}

bool MemoryEncryptionEngine::td_bit(uint64_t pa) const {
  auto it = lines_.find(pa);
  return it != lines_.end() && it->second.td;
}

bool MemoryEncryptionEngine::poisoned(uint64_t pa) const {
  auto it = lines_.find(pa);
  return it != lines_.end() && it->second.poison;
}

uint32_t MemoryEncryptionEngine::mac(uint64_t pa) const {
  auto it = lines_.find(pa);
  return it == lines_.end() ? 0 : it->second.mac;
}

}  // namespace cocosim
