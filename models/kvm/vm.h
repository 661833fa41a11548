// One KVM VM: its memslots and memory attributes. Stage-2 mappings are kept by
// an arch backend that the VM asks to zap a GFN range before anything changes.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "arch/architecture.h"
#include "common/change_journal.h"
#include "common/range_map.h"
#include "kvm/memslot.h"
#include "kvm/vm_type.h"

namespace cocosim {

struct Vma;

// Arguments of KVM_SET_USER_MEMORY_REGION2 as the VMM passes them.
struct MemoryRegion {
  int slot = 0;
  uint32_t flags = 0;
  Addr guest_phys_addr = 0;
  uint64_t memory_size = 0;
  int userspace_pid = -1;  // the process whose address userspace_addr is (-1: none given)
  Addr userspace_addr = 0;
  bool guest_memfd_given = false;
  GuestMemfd* guest_memfd = nullptr;  // null when the fd is not a guest_memfd
  uint64_t guest_memfd_offset = 0;
};

class Vm {
 public:
  static constexpr uint64_t kAttrPrivate = GuestMemfd::kAttrPrivate;
  static constexpr int kUserMemSlots = 32764;  // KVM_USER_MEM_SLOTS on x86
  static constexpr uint64_t kMemMaxNrPages = (1ull << 31) - 1;  // KVM_MEM_MAX_NR_PAGES
  Vm(int id, std::string name, VmType type, const Architecture& arch) :
      id_(id), name_(std::move(name)), type_(type), arch_(arch) {}
  ~Vm();

  int id() const { return id_; }
  const std::string& name() const { return name_; }
  VmType type() const { return type_; }
  const Architecture& arch() const { return arch_; }

  int set_user_memory_region(const MemoryRegion& r, bool v2);
  // The first KVM_RUN of any vCPU. For a protected VM that is when pKVM takes
  // the VM over (kvm_arch_vcpu_run_pid_change -> pkvm_create_hyp_vm); from then
  // on its memslots can no longer be deleted or moved.
  void note_run() { has_run_ = true; }
  bool has_run() const { return has_run_; }
  // KVM_ENABLE_CAP(KVM_CAP_ARM_NISV_TO_USER): a data abort without a valid
  // instruction syndrome on emulated MMIO is KVM_EXIT_ARM_NISV, not -ENOSYS.
  void enable_nisv_to_user() { nisv_to_user_ = true; }
  bool nisv_to_user() const { return nisv_to_user_; }
  int set_memory_attributes(Addr address, uint64_t size, uint64_t attributes, uint64_t flags);
  // The MMU notifier: host mappings of process `pid` in [lo, hi) changed; zap
  // every GFN whose slot reaches them through userspace_addr.
  void host_range_invalidated(int pid, Addr lo, Addr hi);

  // KVM's view of a GFN: backed by a guest_memfd with MMAP (in-place
  // conversion), it is what the file says; any other GFN follows the VM's
  // attribute array (KVM_SET_MEMORY_ATTRIBUTES).
  bool is_private(uint64_t gfn) const;
  // Called by bound guest_memfds: attributes follow the file's conversions.
  void set_private(uint64_t first_gfn, uint64_t end_gfn, bool priv) {
    attrs_.set(first_gfn, end_gfn, priv);
    CC_JOURNAL(attributes(id_, first_gfn, end_gfn));
  }
  Memslot* slot_for_gfn(uint64_t gfn) const;
  const std::map<int, std::unique_ptr<Memslot>>& slots() const { return slots_; }

  // Every mapping of [first, end) GFNs must go (stage-2 leaves, TLBs). The arch
  // backend installs the handler.
  void zap_gfn_range(uint64_t first, uint64_t end) {
    if (zap_) zap_(first, end);
  }
  void set_zap_handler(std::function<void(uint64_t, uint64_t)> z) { zap_ = std::move(z); }

  // Lifetime: the VMM's fd plus one reference per guest_memfd created for it.
  void get() { ++refs_; }
  bool put() { return --refs_ == 0; }
  bool fd_open() const { return fd_open_; }
  void close_fd() { fd_open_ = false; }

 private:
  int delete_slot(Memslot* s);
  // pKVM's kvm_arch_prepare_memory_region(): EPERM for a change EL2 cannot follow.
  bool pkvm_refuses_move_or_delete() const { return type_ == VmType::Pkvm && has_run_; }
  bool pkvm_refuses_flags(uint32_t flags) const {
    return type_ == VmType::Pkvm && (flags & (Memslot::kLogDirtyPages | Memslot::kReadonly));
  }

  int id_;
  std::string name_;
  VmType type_;
  const Architecture& arch_;
  RangeMap<bool> attrs_{false};                  // per GFN: PRIVATE or not
  std::map<int, std::unique_ptr<Memslot>> slots_;  // by slot id
  std::map<uint64_t, Memslot*> by_gfn_;            // by base GFN
  std::function<void(uint64_t, uint64_t)> zap_;
  int refs_ = 1;
  bool fd_open_ = true;
  bool has_run_ = false;
  bool nisv_to_user_ = false;
};

}  // namespace cocosim
