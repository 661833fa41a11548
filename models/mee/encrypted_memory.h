// DRAM as the memory encryption engine presents it, with the cost paid where
// hardware pays it: on a line's way between the cache and DRAM, not per access.
//
// While a TD (or the TDX module in SEAM) uses a frame under its private KeyID,
// the frame's plaintext is held here ("in the cache"): the owner's accesses,
// and its DMI pointer, reach that copy and pay nothing per access. Loading the
// frame decrypts and MAC-checks its 64 lines once. Whenever anyone else
// touches the frame (the host or a device with KeyID 0, a shared MKTME KeyID,
// another private KeyID, a KeyID-0 DMI request) or the owner's key is
// programmed again or freed, the plaintext goes back first: the owner's DMI
// pointer is revoked over exactly that frame, every line that may have changed
// is encrypted and MAC'd into DRAM, and the copy is dropped. A debug read (a
// bus probe, `dram_read`) changes nothing: it sees DRAM with the ciphertext
// those lines would be written back as. So whoever is not the owner sees
// exactly the ciphertext of the current content. Work is O(lines touched).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/stats.h"
#include "common/types.h"
#include "mee/memory_encryption_engine.h"

namespace cocosim {

class EncryptedMemory {
 public:
  struct Result {
    bool machine_check = false;  // consumed poison or failed a MAC
    unsigned engine_lines = 0;   // lines that went through the cipher (timing.mee each)
    bool owner_held = false;     // served from the owner's plaintext (DMI may follow)
  };

  EncryptedMemory(MemoryPort& dram, MemoryEncryptionEngine::Integrity integrity, uint64_t seed,
                  unsigned num_keyids, Stats& stats, const std::string& prefix);

  MemoryEncryptionEngine& engine() { return engine_; }
  const MemoryEncryptionEngine& engine() const { return engine_; }

  // PCONFIG / TDH.MNG.KEY.CONFIG: frames held under the old key go back first.
  void program_key(unsigned keyid);
  // The KeyID is no longer used (TDH.MNG.KEY.FREEID after the caches were
  // written back): every frame held under it goes back to DRAM.
  void release_keyid(unsigned keyid);
  // Called before a frame's plaintext is written back, to revoke the owner's
  // DMI pointer to it.
  void set_revoke(std::function<void(uint64_t pfn, unsigned keyid)> f) { revoke_ = std::move(f); }

  // An access of `len` bytes at `pa` (no KeyID bits, within one 4 KiB frame).
  // `td`: a TD or SEAM access with a private KeyID.
  Result access(Addr pa, unsigned keyid, bool td, bool write, uint8_t* data, unsigned len);
  // Whether a KeyID-0 access to [pa, pa+len) may go straight to DRAM: no line
  // carries engine metadata (after any held plaintext there went back).
  bool plain_path(Addr pa, unsigned len);
  // The owner's plaintext copy of the frame, loaded if need be (null when a
  // line is poisoned or fails its MAC): what a DMI pointer of the owner reaches.
  uint8_t* owner_frame(uint64_t pfn, unsigned keyid, unsigned* lines_loaded);
  // Writes the frame's plaintext back (if held) and drops it.
  void release(uint64_t pfn);
  // Replaces [pa, pa+len) of `buf` (raw DRAM bytes) with what DRAM will hold
  // once held plaintext is written back. No side effects.
  void overlay(Addr pa, uint8_t* buf, size_t len) const;

  // Line metadata as the owner's held lines will leave it.
  bool td_bit(Addr pa) const;
  bool poisoned(Addr pa) const;
  size_t frames_held() const { return held_.size(); }
  bool holds(uint64_t pfn, unsigned keyid) const;

 private:
  static constexpr unsigned kLines = kPageSize / MemoryEncryptionEngine::kLine;
  struct Held {
    unsigned keyid = 0;
    bool dmi = false;     // a DMI pointer may have written anything
    uint64_t dirty = 0;   // lines written through b_transport
    std::unique_ptr<std::array<uint8_t, kPageSize>> page;
    bool line_dirty(unsigned i) const { return dmi || ((dirty >> i) & 1); }
  };
  Held* hold(uint64_t pfn, unsigned keyid, unsigned* lines_loaded);
  Result line_by_line(Addr pa, unsigned keyid, bool td, bool write, uint8_t* data, unsigned len);

  MemoryEncryptionEngine engine_;
  std::unordered_map<uint64_t, Held> held_;
  std::unordered_map<unsigned, std::unordered_set<uint64_t>> by_keyid_;
  std::function<void(uint64_t, unsigned)> revoke_;
  uint64_t& written_back_;
  uint64_t& frames_loaded_;
  uint64_t& frames_held_now_;
  uint64_t& frames_held_peak_;
};

}  // namespace cocosim
