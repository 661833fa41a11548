// What the models changed since the incremental invariant checker last
// looked: frames, stage-2 entries, guest_memfd pages, attribute ranges, DMI
// grants and revocations, and whole VMs or the TDX module where a change is
// structural. The models report through CC_JOURNAL(...), which costs one
// branch on a null pointer when no checker listens. One journal at most is
// active per process: one platform per process (SystemC elaborates once),
// and the tables, files and caches that report are made in many places that
// have no path back to it.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "common/types.h"

namespace cocosim {

class ChangeJournal {
 public:
  struct Leaf {
    const void* table;  // the Stage2PageTable written
    uint64_t gfn;       // first input page the entry covers
    uint64_t pages;     // how many pages it covers
    uint64_t old_pfn;   // what it mapped before the write (first page)
    bool had_old;       // whether it was a leaf (mapped something) before
  };
  struct GmemRange {
    int file;
    uint64_t first, end;  // file page indices [first, end)
  };
  struct GfnRange {
    int vm;
    uint64_t first, end;  // [first, end)
  };
  struct Range {
    Addr lo, hi;  // bus addresses, inclusive (KeyID bits kept)
  };

  static ChangeJournal* active() { return active_; }
  // Start listening (nothing recorded before counts); at most one at a time.
  bool attach() {
    if (active_ && active_ != this) return false;
    active_ = this;
    return true;
  }
  void detach() {
    if (active_ == this) active_ = nullptr;
  }
  ~ChangeJournal() { detach(); }

  // A frame's record changed: allocated, freed, retagged, owner, pins, PAMT.
  void frames(uint64_t first_pfn, uint64_t count = 1) { frames_.push_back({first_pfn, count}); }
  // A stage-2 entry of `table` was written.
  void leaf(const void* table, uint64_t gfn, uint64_t pages, uint64_t old_pfn, bool had_old) {
    leaves_.push_back({table, gfn, pages, old_pfn, had_old});
  }
  // guest_memfd pages converted or (un)mapped by the host.
  void gmem_pages(int file, uint64_t first, uint64_t end) { gmem_.push_back({file, first, end}); }
  // KVM_SET_MEMORY_ATTRIBUTES over [first, end).
  void attributes(int vm, uint64_t first_gfn, uint64_t end_gfn) { attrs_.push_back({vm, first_gfn, end_gfn}); }
  // The VM's memslots or their guest_memfd bindings changed: every leaf's
  // expected backing may have moved, so the whole VM is checked.
  void vm(int id) { vms_.push_back(id); }
  // A DMI pointer was granted ([lo, hi] on the bus) or pointers revoked.
  void dmi_granted(Addr lo, Addr hi) { granted_.push_back({lo, hi}); }
  void dmi_revoked(Addr lo, Addr hi) { revoked_.push_back({lo, hi}); }
  // A vCPU cached a DMI page (its bus page number, KeyID bits kept).
  void vcpu_dmi(uint64_t page) { vcpu_dmi_.push_back(page); }
  // The engine stopped holding a frame's plaintext for a KeyID.
  void keyid_frame(uint64_t pfn, unsigned keyid) { keyid_frames_.push_back({pfn, keyid}); }
  // A stage-2 table was destroyed whole (its VM is gone): whatever indexes
  // its entries must be rebuilt.
  void table_gone() { table_gone_ = true; }
  // The TDX module wrote its own state (Secure EPT, TD control pages, PAMT).
  void tdx() { tdx_ = true; }

  std::vector<std::pair<uint64_t, uint64_t>> frames_;  // (first pfn, count)
  std::vector<Leaf> leaves_;
  std::vector<GmemRange> gmem_;
  std::vector<GfnRange> attrs_;
  std::vector<int> vms_;
  std::vector<Range> granted_, revoked_;
  std::vector<uint64_t> vcpu_dmi_;
  std::vector<std::pair<uint64_t, unsigned>> keyid_frames_;
  bool tdx_ = false;
  bool table_gone_ = false;

  bool empty() const {
    return frames_.empty() && leaves_.empty() && gmem_.empty() && attrs_.empty() && vms_.empty() &&
           granted_.empty() && revoked_.empty() && vcpu_dmi_.empty() && keyid_frames_.empty() && !tdx_ && !table_gone_;
  }
  void clear() {
    frames_.clear(), leaves_.clear(), gmem_.clear(), attrs_.clear(), vms_.clear();
    granted_.clear(), revoked_.clear(), vcpu_dmi_.clear(), keyid_frames_.clear();
    tdx_ = false;
    table_gone_ = false;
  }

 private:
  static inline ChangeJournal* active_ = nullptr;
};

}  // namespace cocosim

// Report a change to the active journal, if any: CC_JOURNAL(frames(pfn)).
#define CC_JOURNAL(call)                                                  \
  do {                                                                    \
    if (::cocosim::ChangeJournal* cc_j_ = ::cocosim::ChangeJournal::active()) \
      cc_j_->call;                                                        \
  } while (0)
