// A KVM memslot: a GPA range backed by host userspace memory, by a guest_memfd
// range, or both (shared pages from the first, private pages from the second).
#pragma once
#include <cstdint>

#include "common/types.h"
#include "gmem/guest_memfd.h"

namespace cocosim {

class Vm;
struct Vma;

class Memslot : public GmemBinding {
 public:
  static constexpr uint32_t kLogDirtyPages = 1u << 0;
  static constexpr uint32_t kReadonly = 1u << 1;
  static constexpr uint32_t kGuestMemfd = 1u << 2;

  Memslot(Vm& vm, int id, uint32_t flags, Addr gpa, uint64_t size)
      : vm_(vm), id_(id), flags_(flags), gpa_(gpa), size_(size) {}
  ~Memslot() override;

  int id() const { return id_; }
  uint32_t flags() const { return flags_; }
  void set_flags(uint32_t f) { flags_ = f; }
  Addr gpa() const { return gpa_; }
  uint64_t size() const { return size_; }
  uint64_t base_gfn() const { return gpa_ >> kPageShift; }
  uint64_t npages() const { return size_ >> kPageShift; }
  bool contains_gfn(uint64_t gfn) const { return gfn >= base_gfn() && gfn < base_gfn() + npages(); }

  // Host userspace memory behind the slot (userspace_addr in the VMM process),
  // if any. Only the address is kept: what is mapped there is looked up at
  // each fault, as hva_to_pfn() does, so a munmap cannot leave a dangling VMA.
  bool has_userspace() const { return userspace_pid_ >= 0; }
  int userspace_pid() const { return userspace_pid_; }
  Addr userspace_addr() const { return userspace_addr_; }
  void set_userspace(int pid, Addr addr) { userspace_pid_ = pid, userspace_addr_ = addr; }
  // The HVA of a GFN of this slot.
  Addr hva_of(uint64_t gfn) const { return userspace_addr_ + ((gfn - base_gfn()) << kPageShift); }

  GuestMemfd* gmem() const { return gmem_; }
  uint64_t gmem_first() const { return gmem_first_; }  // file page of base_gfn
  void bind_gmem(GuestMemfd* f, uint64_t first_page);
  bool had_gmem() const { return flags_ & kGuestMemfd; }
  uint64_t gmem_index(uint64_t gfn) const { return gmem_first_ + (gfn - base_gfn()); }
  uint64_t gfn_of_index(uint64_t index) const { return base_gfn() + (index - gmem_first_); }

  void move_to(Addr gpa) { gpa_ = gpa; }

  // GmemBinding
  void gmem_invalidate(uint64_t first, uint64_t end) override;
  void gmem_converted(uint64_t first, uint64_t end, bool to_private) override;
  void gmem_released() override { gmem_ = nullptr; }

 private:
  Vm& vm_;
  int id_;
  uint32_t flags_;
  Addr gpa_;
  uint64_t size_;
  int userspace_pid_ = -1;
  Addr userspace_addr_ = 0;
  GuestMemfd* gmem_ = nullptr;
  uint64_t gmem_first_ = 0;
};

}  // namespace cocosim
