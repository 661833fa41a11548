// EncryptedMemory: the owner's plaintext per frame and its write-back, in
// plain C++ over a fake DRAM. Where the cipher is paid (lines moved between
// the "cache" and DRAM), and that nobody but the owner ever sees anything but
// the current content's ciphertext.
#include <doctest/doctest.h>

#include <array>
#include <cstring>

#include "common/stats.h"
#include "fakes.h"
#include "mee/encrypted_memory.h"

using namespace cocosim;
using cocosim_test::FakeMemory;
using Line = MemoryEncryptionEngine::Line;

namespace {

struct Rig {
  FakeMemory dram{uint64_t{1} << 24};
  Stats stats;
  EncryptedMemory mem{dram, MemoryEncryptionEngine::Integrity::Ci, 7, 64, stats, "mee"};
  std::vector<std::pair<uint64_t, unsigned>> revoked;
  Rig() {
    mem.engine().program_key(20);
    mem.engine().program_key(21);
    mem.set_revoke([this](uint64_t pfn, unsigned k) {
      // Revoked before DRAM changes: the frame's lines still hold the old bytes.
      revoked.push_back({pfn, k});
      dram_at_revoke = raw(pfn << kPageShift);
    });
  }
  Line raw(uint64_t pa) {
    Line l;
    dram.read(pa, l.data(), 64);
    return l;
  }
  uint64_t get(const char* c) { return stats.get(std::string("mee.") + c); }
  Line dram_at_revoke{};
};

Line fill(uint8_t b) {
  Line l;
  l.fill(b);
  return l;
}

}  // namespace

TEST_CASE("EncryptedMemory: the owner pays the cipher once per line moved, not per access") {
  Rig r;
  Line l = fill(0xab);
  auto first = r.mem.access(0x10000, 20, true, true, l.data(), 64);
  CHECK(first.owner_held);
  CHECK(first.engine_lines == 64);  // the frame came in: 64 lines decrypted
  CHECK(r.get("decryptions") == 64);
  for (int i = 0; i < 100; ++i) {
    uint64_t v = uint64_t(i);
    auto a = r.mem.access(0x10000 + 8 * (i % 64), 20, true, i & 1, reinterpret_cast<uint8_t*>(&v), 8);
    CHECK(a.engine_lines == 0);
  }
  CHECK(r.get("decryptions") == 64);
  CHECK(r.get("encryptions") == 0);  // nothing has left the cache yet
  CHECK(r.dram.all(0x10000, 64, 0));
  // Someone else looks: the dirty lines (those written) go back, once.
  uint8_t b = 0;
  r.mem.access(0x10000, 0, false, false, &b, 1);
  CHECK(r.get("encryptions") == r.get("lines_written_back"));
  CHECK(r.get("lines_written_back") == 8);  // the stores touched lines 0..7 of 64
  CHECK(r.revoked.size() == 1);
  CHECK(r.revoked[0] == std::make_pair(uint64_t{0x10}, 20u));
  CHECK(r.dram_at_revoke == Line{});  // revoked before the write-back
  CHECK(r.get("plaintext_frames") == 0);
  CHECK(r.get("plaintext_frames_peak") == 1);
}

TEST_CASE("EncryptedMemory: only written lines go back, and an overlay shows them without side effects") {
  Rig r;
  Line l = fill(0x11);
  r.mem.access(0x20040, 20, true, true, l.data(), 64);  // line 1 of the frame only
  Line seen{};
  const uint64_t enc = r.get("encryptions");
  Line raw = r.raw(0x20040);
  r.mem.overlay(0x20040, raw.data(), 64);
  seen = raw;
  CHECK(r.get("encryptions") == enc);
  CHECK(r.raw(0x20040) == Line{});  // DRAM itself untouched
  CHECK(r.mem.td_bit(0x20040));
  CHECK_FALSE(r.mem.td_bit(0x20000));
  r.mem.release(0x20);
  CHECK(r.get("lines_written_back") == 1);
  CHECK(r.raw(0x20040) == seen);  // what the overlay showed is what DRAM got
  CHECK(r.mem.engine().td_bit(0x20040));
  // Another KeyID's TD access takes the frame: 20's lines went back first.
  Line m = fill(0x22);
  r.mem.access(0x20080, 21, true, true, m.data(), 64);
  CHECK(r.mem.holds(0x20, 21));
  CHECK_FALSE(r.mem.holds(0x20, 20));
}

TEST_CASE("EncryptedMemory: programming a key again writes the old key's lines back first") {
  Rig r;
  Line l = fill(0x33);
  r.mem.access(0x30000, 20, true, true, l.data(), 64);
  const auto old_key = r.mem.engine().key(20);
  r.mem.program_key(20);
  CHECK(r.mem.engine().key(20) != old_key);
  CHECK(r.mem.frames_held() == 0);
  Line c;
  r.mem.engine().encrypt(21, 0x30000, l, c);  // (another key: must differ)
  CHECK(r.raw(0x30000) != c);
  CHECK(r.raw(0x30000) != l);
}

TEST_CASE("EncryptedMemory: a frame with a poisoned line is not held, the access meets #MC on that line only") {
  Rig r;
  Line l = fill(0x44);
  r.mem.access(0x40000, 20, true, true, l.data(), 64);
  r.mem.access(0x40040, 20, true, true, l.data(), 64);
  uint8_t b = 0xff;
  auto w = r.mem.access(0x40003, 0, false, true, &b, 1);  // host partial write
  CHECK_FALSE(w.machine_check);
  CHECK(r.mem.poisoned(0x40000));
  unsigned loaded = 0;
  CHECK(r.mem.owner_frame(0x40, 20, &loaded) == nullptr);
  CHECK(r.get("machine_checks") == 0);  // refusing to load consumes nothing
  Line out{};
  CHECK(r.mem.access(0x40000, 20, true, false, out.data(), 64).machine_check);
  auto ok = r.mem.access(0x40040, 20, true, false, out.data(), 64);
  CHECK_FALSE(ok.machine_check);
  CHECK_FALSE(ok.owner_held);
  CHECK(ok.engine_lines == 1);
  CHECK(out == l);
}
