// guest_memfd: a file of guest memory bound to one VM. Pages are allocated on
// first use; each page is shared or private; private pages are never handed to
// a host mapping. Modelled on Linux virt/kvm/guest_memfd.c with the in-place
// conversion series (KVM_SET_MEMORY_ATTRIBUTES2 on the fd).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "common/memory_port.h"
#include "common/range_map.h"
#include "common/stats.h"
#include "host/frame_allocator.h"
#include "kvm/vm_type.h"

namespace cocosim {

class GuestMemfd;

// Host userspace mappings of a guest_memfd (the mmap fault path and its DMI).
class GmemHostMapper {
 public:
  virtual ~GmemHostMapper() = default;
  // Remove every host PTE and revoke every DMI pointer for pages [first, end).
  virtual void unmap_range(GuestMemfd& f, uint64_t first, uint64_t end) = 0;
  virtual bool page_mapped(const GuestMemfd& f, uint64_t index) const = 0;
};

// A memslot bound to a range of the file (kvm_gmem_bind).
class GmemBinding {
 public:
  virtual ~GmemBinding() = default;
  // Zap the guest's stage-2 mappings of pages [first, end) (kvm_gmem_invalidate_begin).
  virtual void gmem_invalidate(uint64_t first, uint64_t end) = 0;
  // Pages [first, end) changed state through the fd: mirror it in the VM's attributes.
  virtual void gmem_converted(uint64_t first, uint64_t end, bool to_private) = 0;
  // The file is gone (kvm_gmem_release): the slot no longer has memory behind it.
  virtual void gmem_released() = 0;
};

struct GmemVm {
  int id = -1;
  std::string name;
  VmType type = VmType::Default;
};

enum class GmemPageState : uint8_t { Shared, Private };

class GuestMemfd {
 public:
  // uapi values
  static constexpr uint64_t kFlagMmap = 1ull << 0;
  static constexpr uint64_t kFlagInitShared = 1ull << 1;
  // Huge folios (the guest_memfd hugetlb series' GUEST_MEMFD_FLAG_HUGETLB),
  // the page size in hugetlb's encoding (log2 in bits 26..31, as memfd_create's
  // MFD_HUGE_2MB); no size means the default huge page, 2 MiB. Only 2 MiB, and
  // only for TDs here: the file is then made of 2 MiB-aligned folios of 512
  // contiguous frames, which KVM may map with one 2 MiB leaf.
  static constexpr uint64_t kFlagHugetlb = 1ull << 2;
  static constexpr unsigned kHugeShift = 26;
  static constexpr uint64_t kHugeMask = 0x3full << kHugeShift;
  static constexpr uint64_t kFlagHuge2M = 21ull << kHugeShift;
  static constexpr uint64_t kHugePages = kHugePageSize >> kPageShift;  // 512
  static constexpr uint64_t kAttrPrivate = 1ull << 3;  // KVM_MEMORY_ATTRIBUTE_PRIVATE
  static constexpr uint64_t kModeZero = 1ull << 0;
  static constexpr uint64_t kModePreserve = 1ull << 1;
  static constexpr int kFallocKeepSize = 0x01;   // FALLOC_FL_KEEP_SIZE
  static constexpr int kFallocPunchHole = 0x02;  // FALLOC_FL_PUNCH_HOLE
  // The model's largest file (256 TiB; Linux allows up to MAX_LFS_FILESIZE).
  static constexpr uint64_t kMaxSize = uint64_t{1} << 48;

  // errno that KVM_CREATE_GUEST_MEMFD returns for these arguments, 0 if valid.
  static int validate_create(uint64_t size, uint64_t flags, VmType type);

  GuestMemfd(int id, std::string name, uint64_t size, uint64_t flags, GmemVm vm,
             FrameAllocator& frames, MemoryPort& mem, Stats& stats);
  ~GuestMemfd();
  GuestMemfd(const GuestMemfd&) = delete;
  GuestMemfd& operator=(const GuestMemfd&) = delete;

  int id() const { return id_; }
  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }
  uint64_t pages() const { return size_ >> kPageShift; }
  uint64_t flags() const { return flags_; }
  bool mmap_allowed() const { return flags_ & kFlagMmap; }
  bool hugetlb() const { return flags_ & kFlagHugetlb; }
  const GmemVm& vm() const { return vm_; }

  // File operations: each returns 0 or a positive errno.
  int fallocate(int mode, int64_t offset, int64_t len);
  // KVM_SET_MEMORY_ATTRIBUTES2 on the fd; error_offset is set on EAGAIN.
  int set_attributes(uint64_t offset, uint64_t size, uint64_t attributes, uint64_t flags,
                     uint64_t* error_offset);

  // For the VM-level ioctl: EAGAIN (and the first pinned page) if [first, end) cannot
  // become private now; then convert() without calling back into the bindings.
  int check_to_private(uint64_t first, uint64_t end, uint64_t* bad_index) const;
  void convert(uint64_t first, uint64_t end, bool to_private, uint64_t mode,
               bool notify_bindings, bool host_unmapped = false);

  // KVM's own conversion to private of pages [first, end) (pKVM's fault path on
  // a page populated while shared): host mappings and DMI go first, then a
  // pinned page refuses it (EAGAIN, *bad_index); the content stays.
  int make_private(uint64_t first, uint64_t end, uint64_t* bad_index);
  // A veto on conversions, asked before anything changes: pKVM refuses to
  // make shared a page the hypervisor has given to the guest (EPERM).
  void set_convert_guard(std::function<int(const GuestMemfd&, uint64_t first, uint64_t end, bool to_private)> g) {
    guard_ = std::move(g);
  }
  int convert_guard(uint64_t first, uint64_t end, bool to_private) const {
    return guard_ ? guard_(*this, first, end, to_private) : 0;
  }

  // mmap fault path: the frame to map, or SIGBUS (beyond EOF or private).
  struct HostFault {
    int signal = 0;
    uint64_t pfn = 0;
  };
  HostFault host_fault(uint64_t index);

  // kvm_gmem_get_pfn: the frame for a guest fault; err is an errno.
  struct GuestPfn {
    int err = 0;
    uint64_t pfn = 0;
  };
  GuestPfn get_pfn(uint64_t index);

  // Long-term pin (get_user_pages with FOLL_LONGTERM) of a shared page.
  int pin(uint64_t index, uint64_t* pfn);
  int unpin(uint64_t pfn);

  // Binding to memslots: EINVAL when [first, end) overlaps an existing binding.
  int bind(uint64_t first, uint64_t end, GmemBinding* b);
  void unbind(GmemBinding* b);
  bool bound() const { return !bindings_.empty(); }

  // The last reference is gone: zap and unbind every slot; memory is freed by the destructor.
  void release();

  void set_host_mapper(GmemHostMapper* m) { host_ = m; }
  // Called for each allocated frame whose owner changes (to private): the platform
  // revokes every DMI pointer to it.
  // Called for each allocated page of a conversion before its state flips:
  // the frame changes hands (the ownership model revokes host access first).
  void set_ownership_hook(std::function<void(uint64_t pfn, bool to_private)> h) {
    ownership_hook_ = std::move(h);
  }

  // Inspection.
  GmemPageState state(uint64_t index) const { return state_.get(index); }
  bool is_private(uint64_t index) const { return state(index) == GmemPageState::Private; }
  // fn(lo, hi, private) for each run of one state within [first, end).
  void for_each_state_run(uint64_t first, uint64_t end,
                          const std::function<void(uint64_t, uint64_t, bool)>& fn) const {
    state_.for_each(first, end, [&](uint64_t lo, uint64_t hi, const GmemPageState& st) {
      fn(lo, hi, st == GmemPageState::Private);
    });
  }
  bool range_is(uint64_t first, uint64_t end, bool priv) const {
    return state_.all_equal(first, end, priv ? GmemPageState::Private : GmemPageState::Shared);
  }
  bool allocated(uint64_t index) const { return folios_.count(index) != 0; }
  std::optional<uint64_t> pfn(uint64_t index) const;
  // 1 for the file's own reference plus one per long-term pin; 0 when unallocated.
  uint32_t refcount(uint64_t index) const;
  size_t allocated_pages() const { return folios_.size(); }
  // The first frame of the intact 2 MiB folio holding `index` (all 512 pages
  // still in the file, none punched out), or nullopt: KVM's guest_memfd
  // max_order for a fault at `index` (kvm_gmem_get_pfn).
  std::optional<uint64_t> huge_folio_pfn(uint64_t index) const;
  // Allocated folios in [first, end): index -> pfn.
  std::vector<std::pair<uint64_t, uint64_t>> folios_in(uint64_t first, uint64_t end) const;

 private:
  struct Folio {
    uint64_t pfn;
    uint32_t pins;
  };
  struct Binding {
    uint64_t first, end;
    GmemBinding* slot;
  };

  Folio* folio(uint64_t index);
  Folio* get_folio(uint64_t index);  // allocates and zeroes on first use; null: no memory
  void invalidate_bindings(uint64_t first, uint64_t end);
  void free_range(uint64_t first, uint64_t end);

  int id_;
  std::string name_;
  uint64_t size_;
  uint64_t flags_;
  GmemVm vm_;
  FrameAllocator& frames_;
  MemoryPort& mem_;
  GmemHostMapper* host_ = nullptr;
  std::function<void(uint64_t, bool)> ownership_hook_;
  std::function<int(const GuestMemfd&, uint64_t, uint64_t, bool)> guard_;
  RangeMap<GmemPageState> state_;
  std::map<uint64_t, Folio> folios_;
  std::set<uint64_t> huge_heads_;  // first index of each intact 2 MiB folio
  std::map<uint64_t, uint32_t> detached_pins_;  // punched while pinned: pfn -> pins
  std::vector<Binding> bindings_;
  uint64_t& stat_alloc_;
  uint64_t& stat_conversions_;
  uint64_t& stat_zeroed_;
};

}  // namespace cocosim
