#include "kvm/kvm_mmu.h"

#include <algorithm>
#include <cerrno>
#include <new>

#include "gmem/guest_memfd.h"
#include "kvm/gfn_backing.h"

namespace cocosim {

KvmMmu::KvmMmu(Vm& vm, std::unique_ptr<Stage2Backend> backend, HostMm& mm, Stats& stats,
               const std::string& prefix)
    : vm_(vm),
      mm_(mm),
      backend_(std::move(backend)),
      faults_in_(stats.counter(prefix + ".faults_in", "count",
                               "stage-2 faults KVM resolved by installing a leaf")),
      zaps_(stats.counter(prefix + ".zaps", "count",
                          "GFN-range zaps (conversions, punch holes, slot and host mapping changes)")),
      leaves_zapped_(stats.counter(prefix + ".leaves_zapped", "count",
                                   "stage-2 leaf entries removed by zaps")),
      memfault_exits_(stats.counter(prefix + ".exit_memory_fault", "count",
                                    "KVM_EXIT_MEMORY_FAULT exits prepared")),
      mmio_exits_(stats.counter(prefix + ".exit_mmio", "count", "KVM_EXIT_MMIO exits prepared")),
      huge_(stats.counter(prefix + ".huge_leaves", "count", "2 MiB stage-2 block leaves installed")),
      private_huge_(stats.counter(prefix + ".private_huge_leaves", "count",
                                  "2 MiB private leaves from guest_memfd huge folios (TDX: PAGE.AUG at 2M)")),
      donations_(stats.counter(prefix + ".pkvm_donations", "count",
                               "pages pKVM donated to a protected guest on its faults")) {}

void KvmMmu::remove_vcpu(Stage2TlbControl* v) {
  vcpus_.erase(std::remove(vcpus_.begin(), vcpus_.end(), v), vcpus_.end());
}

void KvmMmu::memory_fault_exit(Addr gpa, bool is_private, KvmRunState* exit) {
  // kvm_prepare_memory_fault_exit(): the page, and whether the access was private.
  ++memfault_exits_;
  exit->reason = ExitReason::MemoryFault;
  exit->err = EFAULT;
  exit->gpa = gpa & ~kPageMask;
  exit->size = kPageSize;
  exit->flags = is_private ? KvmRunState::kMemoryExitFlagPrivate : 0;
}

bool KvmMmu::fault_in(Addr gpa, bool write, bool exec, unsigned size, bool is_private,
                      KvmRunState* exit, int max_level) {
  try {
    return resolve(gpa, write, exec, size, is_private, exit, max_level);
  } catch (const std::bad_alloc&) {
    // No frame left for the page or a table: KVM_RUN fails with ENOMEM.
    exit->reason = ExitReason::None;
    exit->err = ENOMEM;
    exit->message = "out of host memory resolving GPA fault";
    return false;
  }
}

bool KvmMmu::mmio_exit(Addr gpa, bool write, unsigned size, KvmRunState* exit) {
  ++mmio_exits_;
  exit->reason = ExitReason::Mmio;
  exit->gpa = gpa;
  exit->size = size;
  exit->is_write = write;
  return false;
}

// A protected VM (pKVM): all its memory is private to it unless it shares a
// page itself, so every fault asks EL2 to donate the frame. A guest_memfd
// page the host populated while shared becomes private in place first (the
// host's mappings and DMI pointers go; a pinned page cannot); memory that is
// not guest_memfd is donated from under the VMM's mapping, and only EL2 stops
// the host from touching it afterwards.
bool KvmMmu::resolve_protected(Addr gpa, bool write, unsigned size, KvmRunState* exit) {
  const uint64_t gfn = gpa >> kPageShift;
  Memslot* slot = vm_.slot_for_gfn(gfn);
  if (!slot) return mmio_exit(gpa, write, size, exit);
  if (write && (slot->flags() & Memslot::kReadonly)) return mmio_exit(gpa, true, size, exit);
  if (GuestMemfd* f = slot->gmem()) {
    const uint64_t index = slot->gmem_index(gfn);
    if (!f->is_private(index)) {
      uint64_t bad = 0;
      if (int err = f->make_private(index, index + 1, &bad)) {
        memory_fault_exit(gpa, true, exit);
        exit->err = err;  // EAGAIN: the page has an extra reference
        exit->message = "pKVM cannot take the page at GPA " + std::to_string(gpa & ~kPageMask) +
                        " for the guest: guest_memfd '" + f->name() + "' offset " +
                        std::to_string(bad << kPageShift) +
                        " is pinned by the host, so it cannot become private (EAGAIN)";
        return false;
      }
    }
  }
  const GfnBacking b = gfn_backing(vm_, mm_, gfn, /*is_private=*/slot->gmem() != nullptr, /*allocate=*/true);
  if (b.out_of_memory) throw std::bad_alloc();
  if (!b.pfn) {
    memory_fault_exit(gpa, true, exit);
    return false;
  }
  const int ret = backend_->donate(gpa & ~kPageMask, *b.pfn << kPageShift);
  if (ret == -EHWPOISON) {
    memory_fault_exit(gpa, true, exit);
    exit->err = EHWPOISON;
    exit->message = "the host reclaimed this page by force: the guest's entry is poisoned";
    return false;
  }
  if (ret) {
    exit->reason = ExitReason::None;
    exit->err = -ret;
    exit->message = "pKVM refused __pkvm_host_donate_guest for GPA " + std::to_string(gpa & ~kPageMask) +
                    " (errno " + std::to_string(-ret) + ")";
    return false;
  }
  ++faults_in_;
  ++donations_;
  return true;
}

bool KvmMmu::resolve(Addr gpa, bool write, bool exec, unsigned size, bool is_private,
                     KvmRunState* exit, int max_level) {
  if (vm_.type() == VmType::Pkvm) return resolve_protected(gpa, write, size, exit);
  // A TD's shared alias: the GFN is the GPA without the shared bit (KVM's
  // gfn_direct_bits); the leaf goes to the alias, in the shared EPT.
  Addr alias = 0;
  if (vm_.type() == VmType::Tdx)
    if (auto bit = vm_.arch().shared_bit()) {
      alias = gpa & (Addr{1} << *bit);
      gpa &= ~alias;
    }
  const uint64_t gfn = gpa >> kPageShift;
  Memslot* slot = vm_.slot_for_gfn(gfn);
  // The access and KVM's view of the GFN disagree: userspace must convert.
  if (is_private != vm_.is_private(gfn)) {
    memory_fault_exit(gpa, is_private, exit);
    return false;
  }
  if (!slot) {
    if (is_private) {  // no memslot to hold private memory (e.g. deleted under the guest)
      memory_fault_exit(gpa, true, exit);
      return false;
    }
    ++mmio_exits_;
    exit->reason = ExitReason::Mmio;
    exit->gpa = gpa | alias;
    exit->size = size;
    exit->is_write = write;
    return false;
  }
  if (write && (slot->flags() & Memslot::kReadonly)) {
    ++mmio_exits_;  // writes to a read-only slot are emulated as MMIO, as in KVM
    exit->reason = ExitReason::Mmio;
    exit->gpa = gpa;
    exit->size = size;
    exit->is_write = true;
    return false;
  }
  const GfnBacking b = gfn_backing(vm_, mm_, gfn, is_private, /*allocate=*/true);
  if (b.out_of_memory) throw std::bad_alloc();  // reported as ENOMEM by fault_in()
  if (!b.pfn) {
    memory_fault_exit(gpa, is_private, exit);
    return false;
  }
  const uint64_t pfn = *b.pfn;
  // Anonymous backing may hold a huge folio.
  Vma* huge_backing = b.vma && b.vma->kind == VmaKind::Anon ? b.vma : nullptr;
  Perm p = Perm::rwx();
  if (slot->flags() & Memslot::kReadonly) p.w = false;
  if (huge_backing && try_map_huge(*slot, *huge_backing, gfn, p, alias)) {
    ++faults_in_;
    ++huge_;
    return true;
  }
  if (max_level >= 1 && is_private && try_map_private_huge(*slot, b, gfn)) {
    ++faults_in_;
    ++huge_;
    ++private_huge_;
    return true;
  }
  if (!backend_->map((gpa & ~kPageMask) | alias, pfn << kPageShift, backend_->format().levels() - 1, p)) {
    // Memslots are checked against the stage-2's input size, so this is a model bug.
    exit->reason = ExitReason::InternalError;
    exit->message = "stage-2 cannot map GPA " + std::to_string(gpa);
    return false;
  }
  ++faults_in_;
  (void)exec;
  return true;
}

// The host maps the 2 MiB around `gfn` with one huge folio, the slot covers it
// at the same alignment, and KVM's view of every GFN in it is shared: one
// block leaf instead of 512 (host_pfn_mapping_level / kvm_mmu_max_mapping_level).
bool KvmMmu::try_map_huge(const Memslot& slot, const Vma& backing, uint64_t gfn, Perm p, Addr alias) {
  constexpr uint64_t kPages = kHugePageSize >> kPageShift;
  if (slot.flags() & Memslot::kLogDirtyPages) return false;  // dirty logging tracks 4 KiB pages
  const uint64_t first = gfn & ~(kPages - 1);
  if (first < slot.base_gfn() || first + kPages > slot.base_gfn() + slot.npages()) return false;
  const Addr hva = slot.hva_of(first);
  if ((hva & (kHugePageSize - 1)) || hva < backing.start || hva + kHugePageSize > backing.end())
    return false;
  const uint64_t index = (hva - backing.start) >> kPageShift;
  if (!mm_.huge_mapped(backing, index)) return false;
  for (uint64_t g = first; g < first + kPages; ++g)
    if (vm_.is_private(g)) return false;
  const int depth = backend_->format().levels() - 2;
  if (!backend_->entry_empty((first << kPageShift) | alias, depth)) return false;  // 4 KiB leaves are there
  return backend_->map((first << kPageShift) | alias, backing.anon->pages.at(index) << kPageShift, depth, p);
}

// A private fault whose cap allows 2 MiB (a TD's 2 MiB ACCEPT): one 2 MiB leaf
// when the slot covers the 2 MiB range at the file's 2 MiB alignment, every
// GFN in it is private (kvm_max_level's attribute check), and guest_memfd
// holds the range as one intact huge folio (its max_order); otherwise 4 KiB.
bool KvmMmu::try_map_private_huge(const Memslot& slot, const GfnBacking& b, uint64_t gfn) {
  constexpr uint64_t kPages = kHugePageSize >> kPageShift;
  if (!b.gmem || b.source != GfnBacking::Source::GuestMemfd) return false;
  if (slot.flags() & Memslot::kLogDirtyPages) return false;
  const uint64_t first = gfn & ~(kPages - 1);
  if (first < slot.base_gfn() || first + kPages > slot.base_gfn() + slot.npages()) return false;
  const uint64_t index = slot.gmem_index(first);
  if (index & (kPages - 1)) return false;  // GFN and file offset disagree on 2 MiB alignment
  const auto pfn = b.gmem->huge_folio_pfn(index);
  if (!pfn) return false;
  for (uint64_t g = first; g < first + kPages; ++g)
    if (!vm_.is_private(g)) return false;
  const int depth = backend_->format().levels() - 2;
  if (!backend_->entry_empty(first << kPageShift, depth)) return false;  // a table of 4 KiB leaves is there
  return backend_->map(first << kPageShift, *pfn << kPageShift, depth, Perm::rwx());
}

void KvmMmu::zap(uint64_t first, uint64_t end) {
  ++zaps_;
  const Stage2Backend::ZapResult r = backend_->zap(first, end, vcpus_);
  leaves_zapped_ += r.leaves;
  if (charge_ && r.cost_ns > 0) charge_(r.cost_ns);
}

}  // namespace cocosim
