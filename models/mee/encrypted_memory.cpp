#include "mee/encrypted_memory.h"

#include "common/change_journal.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace cocosim {

namespace {
constexpr unsigned kLine = MemoryEncryptionEngine::kLine;
}

EncryptedMemory::EncryptedMemory(MemoryPort& dram, MemoryEncryptionEngine::Integrity integrity,
                                 uint64_t seed, unsigned num_keyids, Stats& stats,
                                 const std::string& prefix)
    : engine_(dram, integrity, seed, num_keyids, stats, prefix),
      written_back_(stats.counter(prefix + ".lines_written_back", "lines",
                                  "lines of held plaintext encrypted back into DRAM when someone else looked")),
      frames_loaded_(stats.counter(prefix + ".frames_loaded", "frames",
                                   "frames decrypted into an owner's plaintext copy (64 lines each)")),
      frames_held_now_(stats.counter(prefix + ".plaintext_frames", "frames",
                                     "frames whose plaintext the engine holds for their owner now")),
      frames_held_peak_(stats.counter(prefix + ".plaintext_frames_peak", "frames",
                                      "most frames whose plaintext the engine held at once")) {}

void EncryptedMemory::program_key(unsigned keyid) {
  release_keyid(keyid);
  engine_.program_key(keyid);
}

void EncryptedMemory::release_keyid(unsigned keyid) {
  auto it = by_keyid_.find(keyid);
  if (it == by_keyid_.end()) return;
  const std::vector<uint64_t> pfns(it->second.begin(), it->second.end());
  for (uint64_t pfn : pfns) release(pfn);
}

bool EncryptedMemory::holds(uint64_t pfn, unsigned keyid) const {
  auto it = held_.find(pfn);
  return it != held_.end() && it->second.keyid == keyid;
}

EncryptedMemory::Held* EncryptedMemory::hold(uint64_t pfn, unsigned keyid, unsigned* lines_loaded) {
  auto it = held_.find(pfn);
  if (it != held_.end()) {
    if (it->second.keyid == keyid) return &it->second;
    release(pfn);  // another KeyID's plaintext goes back first
  }
  if (!engine_.key_programmed(keyid)) return nullptr;
  auto page = std::make_unique<std::array<uint8_t, kPageSize>>();
  if (!engine_.read_frame(pfn << kPageShift, keyid, page->data())) return nullptr;
  ++frames_loaded_;
  if (lines_loaded) *lines_loaded += kLines;
  Held& h = held_[pfn];
  h.keyid = keyid;
  h.page = std::move(page);
  by_keyid_[keyid].insert(pfn);
  frames_held_now_ = held_.size();
  frames_held_peak_ = std::max<uint64_t>(frames_held_peak_, held_.size());
  return &h;
}

void EncryptedMemory::release(uint64_t pfn) {
  auto it = held_.find(pfn);
  if (it == held_.end()) return;
  Held& h = it->second;
  CC_JOURNAL(keyid_frame(pfn, h.keyid));
  // The owner stops writing before its lines leave: revoke its pointer first.
  if (revoke_) revoke_(pfn, h.keyid);
  const Addr base = pfn << kPageShift;
  for (unsigned i = 0; i < kLines; ++i) {
    if (!h.line_dirty(i)) continue;  // DRAM already holds this line's ciphertext
    engine_.write(base + i * kLine, h.keyid, true, 0, h.page->data() + i * kLine, kLine);
    ++written_back_;
  }
  auto k = by_keyid_.find(h.keyid);
  if (k != by_keyid_.end()) {
    k->second.erase(pfn);
    if (k->second.empty()) by_keyid_.erase(k);
  }
  held_.erase(it);
  frames_held_now_ = held_.size();
}

uint8_t* EncryptedMemory::owner_frame(uint64_t pfn, unsigned keyid, unsigned* lines_loaded) {
  Held* h = hold(pfn, keyid, lines_loaded);
  if (!h) return nullptr;
  h->dmi = true;  // writes through the pointer are not seen: every line may change
  return h->page->data();
}

bool EncryptedMemory::plain_path(Addr pa, unsigned len) {
  for (uint64_t pfn = pa >> kPageShift; pfn <= (pa + std::max(len, 1u) - 1) >> kPageShift; ++pfn)
    release(pfn);
  return !engine_.has_meta(pa, len);
}

EncryptedMemory::Result EncryptedMemory::access(Addr pa, unsigned keyid, bool td, bool write,
                                                uint8_t* data, unsigned len) {
  const uint64_t pfn = pa >> kPageShift;
  if ((pa & kPageMask) + len > kPageSize)
    throw std::out_of_range("encrypted memory: an access crosses a frame");
  Result r;
  if (td && keyid != 0) {
    if (Held* h = hold(pfn, keyid, &r.engine_lines)) {
      const unsigned off = unsigned(pa & kPageMask);
      if (write) {
        std::memcpy(h->page->data() + off, data, len);
        for (unsigned i = off / kLine; len && i <= (off + len - 1) / kLine; ++i) h->dirty |= uint64_t{1} << i;
      } else {
        std::memcpy(data, h->page->data() + off, len);
      }
      r.owner_held = true;
      return r;
    }
    // A line of the frame is poisoned or fails its MAC: line by line, so the
    // access meets the #MC exactly on the bad line.
  } else {
    release(pfn);  // someone else looks: the owner's lines go back first
  }
  return line_by_line(pa, keyid, td, write, data, len);
}

EncryptedMemory::Result EncryptedMemory::line_by_line(Addr pa, unsigned keyid, bool td, bool write,
                                                      uint8_t* data, unsigned len) {
  Result r;
  while (len) {
    const Addr line = pa & ~Addr(kLine - 1);
    const unsigned off = unsigned(pa - line);
    const unsigned n = std::min(len, kLine - off);
    ++r.engine_lines;
    MemoryEncryptionEngine::Outcome o;
    if (write) {
      o = engine_.write(line, keyid, td, off, data, n);
    } else {
      MemoryEncryptionEngine::Line l;
      o = engine_.read_line(line, keyid, td, l);
      std::memcpy(data, l.data() + off, n);
    }
    if (o.machine_check) {
      r.machine_check = true;
      return r;
    }
    pa += n;
    data += n;
    len -= n;
  }
  return r;
}

void EncryptedMemory::overlay(Addr pa, uint8_t* buf, size_t len) const {
  const Addr end = pa + len;
  for (Addr line = pa & ~Addr(kLine - 1); line < end; line += kLine) {
    auto it = held_.find(line >> kPageShift);
    if (it == held_.end()) {
      line = (line | kPageMask) + 1 - kLine;  // skip to the frame's last line
      continue;
    }
    const Held& h = it->second;
    const unsigned i = unsigned((line & kPageMask) / kLine);
    if (!h.line_dirty(i)) continue;
    MemoryEncryptionEngine::Line plain, cipher;
    std::memcpy(plain.data(), h.page->data() + i * kLine, kLine);
    engine_.encrypt(h.keyid, line, plain, cipher);
    const Addr lo = std::max(line, pa), hi = std::min(line + kLine, end);
    std::memcpy(buf + (lo - pa), cipher.data() + (lo - line), hi - lo);
  }
}

bool EncryptedMemory::peek(Addr pa, unsigned keyid, uint8_t* buf, size_t len) const {
  if (keyid && !engine_.key_programmed(keyid)) return false;
  overlay(pa, buf, len);
  if (keyid == 0) return true;
  for (size_t off = 0; off < len; off += kLine) {
    const Addr line = pa + off;
    auto it = held_.find(line >> kPageShift);
    if (it != held_.end() && it->second.keyid == keyid) {
      std::memcpy(buf + off, it->second.page->data() + (line & kPageMask), kLine);
      continue;
    }
    MemoryEncryptionEngine::Line c, p;
    std::memcpy(c.data(), buf + off, kLine);
    engine_.decrypt(keyid, line, c, p);
    std::memcpy(buf + off, p.data(), kLine);
  }
  return true;
}

bool EncryptedMemory::td_bit(Addr pa) const {
  auto it = held_.find(pa >> kPageShift);
  if (it != held_.end() && it->second.line_dirty(unsigned((pa & kPageMask) / kLine))) return true;
  return engine_.td_bit(pa & ~Addr(kLine - 1));
}

bool EncryptedMemory::poisoned(Addr pa) const {
  auto it = held_.find(pa >> kPageShift);
  if (it != held_.end() && it->second.line_dirty(unsigned((pa & kPageMask) / kLine))) return false;
  return engine_.poisoned(pa & ~Addr(kLine - 1));
}

}  // namespace cocosim
