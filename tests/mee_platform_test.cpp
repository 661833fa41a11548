// The memory encryption engine wired into the platform's `mee` slot, driven by
// a TD-state initiator of the test's own (the TDX module's vCPU is not needed):
// ciphertext in DRAM that OpenSSL recomputes, the owner's plaintext behind a
// DMI pointer and its write-back when someone else looks, the TD-owner bit,
// poison and #MC, HKIDs and keys. One platform for the process (SystemC
// elaborates once); each test uses its own frames.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <openssl/evp.h>
#include <systemc>
#include <tlm_utils/simple_initiator_socket.h>

#include "dual_checker.h"
#include "invariant_checker.h"
#include "platform.h"

using namespace cocosim;
using Line = std::array<uint8_t, 64>;

namespace {

Platform* g_platform = nullptr;

// A TD's accesses (SecurityState::Td) with DMI, as the TDX helper's vCPU makes them.
class TdInitiator : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<TdInitiator> socket;
  std::vector<std::pair<Addr, Addr>> invalidations;
  explicit TdInitiator(sc_core::sc_module_name n) : sc_module(n), socket("socket") {
    socket.register_invalidate_direct_mem_ptr(this, &TdInitiator::invalidate);
  }
  struct Outcome {
    tlm::tlm_response_status status;
    bool machine_check;
    bool dmi_hint;
    sc_core::sc_time delay;
  };
  Outcome access(bool write, Addr a, void* data, unsigned len) {
    tlm::tlm_generic_payload t;
    AccessExtension ext;
    ext.who = Initiator::Vcpu;
    ext.security = SecurityState::Td;
    ScopedExtension s(t, ext);
    prepare(t, write, a, static_cast<unsigned char*>(data), len);
    sc_core::sc_time d;
    socket->b_transport(t, d);
    return {t.get_response_status(), ext.machine_check, t.is_dmi_allowed(), d};
  }
  uint8_t* dmi(Addr a) {
    tlm::tlm_generic_payload t;
    AccessExtension ext;
    ext.security = SecurityState::Td;
    ScopedExtension s(t, ext);
    prepare(t, false, a, nullptr, 0);
    tlm::tlm_dmi d;
    if (!socket->get_direct_mem_ptr(t, d)) return nullptr;
    CHECK(d.get_start_address() == (a & ~kPageMask));
    CHECK(d.get_end_address() == (a | kPageMask));
    return d.get_dmi_ptr() + (a - d.get_start_address());
  }

 private:
  void invalidate(sc_dt::uint64 lo, sc_dt::uint64 hi) { invalidations.push_back({lo, hi}); }
};
TdInitiator* g_td = nullptr;

Line pattern(uint8_t seed) {
  Line l;
  for (unsigned i = 0; i < l.size(); ++i) l[i] = uint8_t(seed * 3 + i);
  return l;
}

// AES-XTS-128 of one line, computed here with OpenSSL: the tweak is the
// line's physical address (no KeyID bits), little endian.
Line openssl_xts(const MemoryEncryptionEngine::Key& key, Addr pa, const Line& plain) {
  uint8_t iv[16] = {};
  for (int i = 0; i < 8; ++i) iv[i] = uint8_t(pa >> (8 * i));
  Line out;
  int n = 0, m = 0;
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  REQUIRE(EVP_EncryptInit_ex(c, EVP_aes_128_xts(), nullptr, key.data(), iv) == 1);
  REQUIRE(EVP_EncryptUpdate(c, out.data(), &n, plain.data(), 64) == 1);
  REQUIRE(EVP_EncryptFinal_ex(c, out.data() + n, &m) == 1);
  EVP_CIPHER_CTX_free(c);
  return out;
}

Line raw_dram(Addr pa) {
  Line l;
  g_platform->dram.memory().read(pa, l.data(), 64);
  return l;
}

uint64_t counter(const char* name) { return g_platform->stats().get(std::string("platform.mee.") + name); }

// A TD with its own HKID and key; frees the HKID at the end.
struct Td {
  Platform& p = *g_platform;
  unsigned hkid = 0;
  Td() {
    auto k = p.alloc_hkid();
    REQUIRE(k);
    hkid = *k;
    p.program_key(hkid);  // TDH.MNG.KEY.CONFIG
  }
  ~Td() { p.free_hkid(hkid); }
  Addr at(Addr pa) const { return p.keyid_address(pa, hkid); }
};

}  // namespace

TEST_CASE("a TD's private-KeyID write lands in DRAM as the ciphertext OpenSSL computes, byte for byte") {
  Td td;
  Platform& p = td.p;
  const Addr pa = 0x4000040;  // the second line of a frame
  const Line plain = pattern(1);
  Line copy = plain;
  auto w = g_td->access(true, td.at(pa), copy.data(), 64);
  REQUIRE(w.status == tlm::TLM_OK_RESPONSE);
  CHECK(w.dmi_hint);  // the owner may take a pointer to its plaintext
  const Line want = openssl_xts(p.mee()->memory().engine().key(td.hkid), pa, plain);
  // A probe below the engine sees the ciphertext at once, changing nothing.
  const uint64_t enc = counter("encryptions");
  Line probe{};
  p.kernel_port.debug_read(pa, probe.data(), 64);
  CHECK(probe == want);
  CHECK(counter("encryptions") == enc);
  CHECK(p.mee()->memory().frames_held() >= 1);
  // The host reads the line with KeyID 0: the plaintext goes back first, the
  // TD-owner bit does not match, so the host reads zeros; DRAM holds `want`.
  uint64_t v = 1;
  p.kernel_port.read(pa, &v, 8);
  CHECK(p.kernel_port.last_ok());
  CHECK(v == 0);
  CHECK(raw_dram(pa) == want);
  CHECK(counter("encryptions") > enc);
  CHECK(p.mee()->memory().td_bit(pa));
  // A debugger's read through the TD's KeyID sees the plaintext, changing nothing.
  const uint64_t dec = counter("decryptions"), held = p.mee()->memory().frames_held();
  Line peeked{};
  CHECK(p.kernel_port.debug_read(td.at(pa + 8), peeked.data(), 40) == 40);
  CHECK(std::memcmp(peeked.data(), plain.data() + 8, 40) == 0);
  CHECK(counter("decryptions") == dec);
  CHECK(p.mee()->memory().frames_held() == held);
  // The TD reads its line back (decrypted and MAC-checked again).
  Line back{};
  REQUIRE(g_td->access(false, td.at(pa), back.data(), 64).status == tlm::TLM_OK_RESPONSE);
  CHECK(back == plain);
  // The same plaintext at the next line is other ciphertext (the address is the tweak).
  copy = plain;
  g_td->access(true, td.at(pa + 64), copy.data(), 64);
  Line next{};
  p.kernel_port.debug_read(pa + 64, next.data(), 64);
  CHECK(next == openssl_xts(p.mee()->memory().engine().key(td.hkid), pa + 64, plain));
  CHECK(next != want);
}

TEST_CASE("the owner's DMI pointer reaches its plaintext and is revoked before a write-back") {
  Td td;
  Platform& p = td.p;
  const Addr pa = 0x4010000;
  uint64_t x = 0x1111;
  REQUIRE(g_td->access(true, td.at(pa), &x, 8).status == tlm::TLM_OK_RESPONSE);
  uint8_t* ptr = g_td->dmi(td.at(pa));
  REQUIRE(ptr);
  // Writes through the pointer pay no cipher: nothing is encrypted yet.
  const uint64_t enc = counter("encryptions");
  const Line plain = pattern(7);
  std::memcpy(ptr + 128, plain.data(), 64);
  CHECK(counter("encryptions") == enc);
  // Nobody else gets a pointer to the frame: not the host (private KeyID
  // outside TD mode), not KeyID 0 (its lines carry the TD bit once written back).
  g_td->invalidations.clear();
  uint64_t v = 0;
  p.kernel_port.read(pa + 128, &v, 8);  // the host looks
  CHECK(v == 0);
  REQUIRE(g_td->invalidations.size() == 1);
  CHECK(g_td->invalidations[0].first == td.at(pa));
  CHECK(g_td->invalidations[0].second == td.at(pa) + kPageSize - 1);
  CHECK(raw_dram(pa + 128) == openssl_xts(p.mee()->memory().engine().key(td.hkid), pa + 128, plain));
  CHECK(counter("lines_written_back") >= 64);  // a pointer may have written any line
  CHECK_FALSE(p.mee()->memory().holds(pa >> kPageShift, td.hkid));
  // A debug read through the KeyID while the owner holds it: its plaintext.
  uint8_t* again = g_td->dmi(td.at(pa));
  REQUIRE(again);
  again[300] = 0x77;
  uint8_t seen = 0;
  p.kernel_port.debug_read(td.at(pa + 300), &seen, 1);
  CHECK(seen == 0x77);
  // The TD's next access loads the frame again.
  Line back{};
  REQUIRE(g_td->access(false, td.at(pa + 128), back.data(), 64).status == tlm::TLM_OK_RESPONSE);
  CHECK(back == plain);
}

TEST_CASE("a host partial write poisons a TD line: the TD's read is #MC, so is the host's, MOVDIR64B clears it") {
  Td td;
  Platform& p = td.p;
  const Addr pa = 0x4020000;
  Line l = pattern(3);
  REQUIRE(g_td->access(true, td.at(pa), l.data(), 64).status == tlm::TLM_OK_RESPONSE);
  const uint64_t poisonings = counter("poisonings"), mcs = counter("machine_checks");
  const uint32_t junk = 0xdead;
  p.kernel_port.write(pa + 4, &junk, 4);  // the erratum's partial write
  CHECK(p.kernel_port.last_ok());
  CHECK(counter("poisonings") == poisonings + 1);
  CHECK(p.mee()->memory().poisoned(pa));
  CHECK_FALSE(p.mee()->memory().td_bit(pa));
  // The TD consumes the poison: #MC on the payload.
  Line back{};
  auto r = g_td->access(false, td.at(pa), back.data(), 64);
  CHECK(r.status == tlm::TLM_GENERIC_ERROR_RESPONSE);
  CHECK(r.machine_check);
  // Other lines of the frame still read fine (the frame is not loaded whole).
  Line other = pattern(4);
  REQUIRE(g_td->access(true, td.at(pa + 64), other.data(), 64).status == tlm::TLM_OK_RESPONSE);
  Line got{};
  REQUIRE(g_td->access(false, td.at(pa + 64), got.data(), 64).status == tlm::TLM_OK_RESPONSE);
  CHECK(got == pattern(4));
  CHECK(g_td->dmi(td.at(pa)) == nullptr);  // no pointer past a poisoned line
  // The host kernel consumes it too.
  uint64_t v = 0;
  p.kernel_port.read(pa, &v, 8);
  CHECK(p.kernel_port.last_machine_check());
  CHECK_FALSE(p.kernel_port.last_ok());
  CHECK(counter("machine_checks") == mcs + 2);
  // KVM's reclaim: MOVDIR64B zeros with KeyID 0 clear the TD bit and the poison.
  p.movdir64b_clear(pa, kPageSize);
  CHECK_FALSE(p.mee()->memory().poisoned(pa));
  CHECK_FALSE(p.mee()->memory().td_bit(pa + 64));
  p.kernel_port.read(pa, &v, 8);
  CHECK(p.kernel_port.last_ok());
  CHECK(v == 0);
}

TEST_CASE("a full-line TD write clears poison, a TD partial write to poison is #MC") {
  Td td;
  Platform& p = td.p;
  const Addr pa = 0x4030000;
  Line l = pattern(5);
  g_td->access(true, td.at(pa), l.data(), 64);
  const uint8_t b = 1;
  p.kernel_port.write(pa, &b, 1);
  REQUIRE(p.mee()->memory().poisoned(pa));
  uint32_t w = 7;
  auto r = g_td->access(true, td.at(pa + 8), &w, 4);
  CHECK(r.machine_check);
  Line fresh = pattern(6);
  REQUIRE(g_td->access(true, td.at(pa), fresh.data(), 64).status == tlm::TLM_OK_RESPONSE);
  CHECK_FALSE(p.mee()->memory().poisoned(pa));
  Line got{};
  REQUIRE(g_td->access(false, td.at(pa), got.data(), 64).status == tlm::TLM_OK_RESPONSE);
  CHECK(got == pattern(6));
}

TEST_CASE("a private KeyID outside TD or SEAM state is refused, and so is a KeyID with no key") {
  Td td;
  Platform& p = td.p;
  const uint64_t v = 5;
  p.kernel_port.write(td.at(0x4040000), &v, 8);
  CHECK_FALSE(p.kernel_port.last_ok());
  CHECK_FALSE(p.kernel_port.last_machine_check());
  auto spare = p.alloc_hkid();  // handed out, never programmed
  REQUIRE(spare);
  uint64_t x = 0;
  CHECK(g_td->access(false, p.keyid_address(0x4040000, *spare), &x, 8).status == tlm::TLM_ADDRESS_ERROR_RESPONSE);
  CHECK(p.free_hkid(*spare));
  // The TDX module (SEAM) with the TD's KeyID is a TD-owner access.
  p.seam_port.write(td.at(0x4040000), &v, 8);
  CHECK(p.seam_port.last_ok());
  CHECK(p.mee()->memory().td_bit(0x4040000));
}

TEST_CASE("HKIDs: one per TD, freed and reused with a fresh key; held plaintext goes back under the old key") {
  Platform& p = *g_platform;
  KeyIdSpace& k = *p.keyids();
  CHECK(k.global_keyid() == 16u);  // KeyIDs 1..15 MKTME, [16, 64) TDX
  const unsigned before = k.free_hkids();
  unsigned first = 0;
  MemoryEncryptionEngine::Key old_key{};
  const Addr pa = 0x4050000;
  const Line plain = pattern(9);
  {
    Td a;
    first = a.hkid;
    CHECK(k.free_hkids() == before - 1);
    Line c = plain;
    g_td->access(true, a.at(pa), c.data(), 64);
    old_key = p.mee()->memory().engine().key(first);
  }
  // Freed: the plaintext went back under the key it was written with.
  CHECK(k.free_hkids() == before);
  CHECK_FALSE(p.mee()->memory().holds(pa >> kPageShift, first));
  CHECK(raw_dram(pa) == openssl_xts(old_key, pa, plain));
  Td b;
  CHECK(b.hkid == first);  // the lowest free HKID again
  CHECK(p.mee()->memory().engine().key(first) != old_key);
  CHECK_FALSE(p.free_hkid(k.global_keyid()));
  CHECK_FALSE(p.free_hkid(3));  // a shared KeyID is nobody's HKID
}

// Last: it replaces the engine's revoke hook with an equivalent one.
TEST_CASE("the invariant checker holds KeyID DMI pointers to the frames the engine holds for them") {
  Td td;
  Platform& p = td.p;
  DualChecker checker{p, [](const std::string& why) { FAIL_CHECK(why); }};
  const Addr pa = 0x4060000;
  uint64_t x = 1;
  g_td->access(true, td.at(pa), &x, 8);
  REQUIRE(g_td->dmi(td.at(pa)));
  CHECK(checker.check().empty());
  // A write-back that forgets to revoke the owner's pointer is caught.
  EncryptedMemory& m = p.mee()->memory();
  m.set_revoke(nullptr);
  m.release(pa >> kPageShift);
  bool caught = false;
  for (const auto& v : checker.check()) caught = caught || v.rule == "dmi-keyid";
  CHECK(caught);
  p.phys_bus.invalidate(td.at(pa), td.at(pa) + kPageSize - 1);
  CHECK(checker.check().empty());
  m.set_revoke([&p](uint64_t pfn, unsigned k) {
    const Addr lo = p.keyid_address(pfn << kPageShift, k);
    p.phys_bus.invalidate(lo, lo + kPageSize - 1);
  });
}

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  return sc_core::sc_elab_and_sim(argc, argv);
}

int sc_main(int argc, char** argv) {
  Stats stats;
  PlatformConfig cfg;  // x86-tdx, encryption: ci
  Platform platform(cfg, 1, stats);
  TdInitiator td("td");
  td.socket.bind(platform.phys_bus.targ);
  g_platform = &platform;
  g_td = &td;
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
  doctest::Context ctx(argc, argv);
  int rc = ctx.run();
  g_platform = nullptr;
  return rc;
}
