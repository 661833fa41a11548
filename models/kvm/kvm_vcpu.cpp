#include "kvm/kvm_vcpu.h"

#include "pkvm/pkvm_hyp.h"

namespace cocosim {

void KvmVcpu::prepare_entry(std::optional<uint64_t> hypercall_ret) {
  if (hypercall_pending_) {
    // userspace filled run->hypercall.ret (0 when it gave nothing).
    hypercall_pending_ = false;
    hypercall_done_ = true;
    hypercall_ret_ = hypercall_ret.value_or(0);
  }
  if (mmio_pending_) {
    mmio_pending_ = false;
    mmio_done_ = true;
  }
  run_ = KvmRunState{};
}

VcpuHypervisor::Resolution KvmVcpu::stage2_fault(const Stage2Fault& f, bool shared) {
  if (mmio_done_ && (f.gpa & ~kPageMask) == (mmio_gpa_ & ~kPageMask)) {
    mmio_done_ = false;
    return Resolution::Emulated;
  }
  const uint64_t gfn = f.gpa >> kPageShift;
  // KVM derives the access type from the GFN's attribute for these VM types
  // (PFERR_PRIVATE_ACCESS from kvm_mem_is_private()).
  const bool is_private = traits_of(vm_.type()).has_private_mem && vm_.is_private(gfn);
  (void)shared;
  if (mmu_.fault_in(f.gpa, f.write, f.exec, f.size, is_private, &run_)) {
    handled_in_kernel("stage2_fault");
    return Resolution::Retry;
  }
  run_.has_syndrome = true;
  run_.syndrome = f.syndrome;
  run_.hpfar = f.hpfar;
  if (run_.reason == ExitReason::Mmio) {
    mmio_pending_ = true;
    mmio_gpa_ = f.gpa;
  }
  returned_to_vmm();
  return Resolution::Exit;
}

VcpuHypervisor::Resolution KvmVcpu::pkvm_hvc(uint64_t fn, uint64_t x1, uint64_t* ret) {
  for (;;) {
    pending_ns_ += hvc_ns_;
    const HvcResult r = pkvm_->guest_hvc(pkvm_handle_, {fn, x1, 0, 0});
    if (!r.to_host) {
      *ret = r.x0;
      if (r.x0 == pkvm::kSmcccSuccess && (fn == pkvm::kHvcMemShare || fn == pkvm::kHvcMemUnshare) &&
          page_shared_)
        page_shared_(x1 >> kPageShift, fn == pkvm::kHvcMemShare);
      handled_in_kernel("hvc");
      return Resolution::Retry;
    }
    if (!r.retry) {  // a call EL2 leaves to the host: KVM has no handler for it
      *ret = pkvm::kSmcccNotSupported;
      handled_in_kernel("hvc");
      return Resolution::Retry;
    }
    // The faked data abort (DABT_LOW, WnR, level-3 translation fault, HPFAR
    // from the IPA): KVM's abort handler maps the page, then the guest
    // re-executes the HVC.
    if (!mmu_.fault_in(x1 & ~kPageMask, true, false, 8, true, &run_)) {
      run_.has_syndrome = true;
      run_.syndrome = r.esr;
      run_.hpfar = r.hpfar;
      returned_to_vmm();
      return Resolution::Exit;
    }
    handled_in_kernel("hvc_mem_share_fault_in");
  }
}

VcpuHypervisor::Resolution KvmVcpu::hvc(uint64_t fn, uint64_t x1, uint64_t* ret) {
  if (pkvm_) return pkvm_hvc(fn, x1, ret);
  // EL2 answers a protected VM's calls only; KVM has no vendor-hypervisor
  // memory services for the others.
  *ret = pkvm::kSmcccNotSupported;
  handled_in_kernel("hvc");
  return Resolution::Retry;
}

VcpuHypervisor::Resolution KvmVcpu::convert(Addr gpa, uint64_t size, bool to_private,
                                            uint64_t* ret) {
  if (pkvm_) {
    // The portable share/unshare: MEM_SHARE / MEM_UNSHARE page by page (the
    // ABI takes one granule per call); the first failure ends it.
    const uint64_t fn = to_private ? pkvm::kHvcMemUnshare : pkvm::kHvcMemShare;
    const uint64_t first = gpa & ~kPageMask;
    for (uint64_t off = progress_; first + off < gpa + size; off += kPageSize) {
      progress_ = off;
      const Resolution r = pkvm_hvc(fn, first + off, ret);
      if (r == Resolution::Exit) return r;  // resumes at this page after re-entry
      if (*ret != pkvm::kSmcccSuccess) break;
    }
    progress_ = 0;
    return Resolution::Retry;
  }
  if (hypercall_done_) {
    hypercall_done_ = false;
    *ret = hypercall_ret_;
    return Resolution::Retry;
  }
  if (!traits_of(vm_.type()).has_private_mem) {
    // KVM_CAP_EXIT_HYPERCALL is not enabled for KVM_HC_MAP_GPA_RANGE here.
    *ret = uint64_t(-int64_t(kKvmEnosys));
    handled_in_kernel("hypercall");
    return Resolution::Retry;
  }
  // kvm_emulate_hypercall(KVM_HC_MAP_GPA_RANGE) checks the range itself.
  const uint64_t npages = size >> kPageShift;
  if (!page_aligned(gpa) || npages == 0 || (gpa >> kPageShift) + npages <= (gpa >> kPageShift)) {
    *ret = uint64_t(-int64_t(kKvmEinval));
    handled_in_kernel("hypercall");
    return Resolution::Retry;
  }
  run_.reason = ExitReason::Hypercall;
  run_.nr = KvmRunState::kHcMapGpaRange;
  run_.args = {gpa, npages, to_private ? KvmRunState::kMapGpaRangeEncrypted : 0, 0, 0, 0};
  hypercall_pending_ = true;
  returned_to_vmm();
  return Resolution::Exit;
}

void KvmVcpu::ucall(Ucall kind, const std::string& text) {
  switch (kind) {
    case Ucall::Sync:
      run_.reason = ExitReason::UcallSync;
      run_.tag = text;
      break;
    case Ucall::Done:
      run_.reason = ExitReason::UcallDone;
      done_ = true;
      break;
    case Ucall::Abort:
      run_.reason = ExitReason::UcallAbort;
      run_.message = text;
      aborted_ = true;
      break;
  }
  returned_to_vmm();
}

void KvmVcpu::handled_in_kernel(const char* why) {
  ++exits_.in_kernel[why];
  ++stats_.counter(std::string("platform.kvm.exits.in_kernel.") + why, "count",
                   std::string("exits KVM handled without returning to the VMM: ") + why);
}

void KvmVcpu::returned_to_vmm() {
  const char* why = exit_name(run_.reason);
  ++exits_.to_vmm[why];
  ++stats_.counter(std::string("platform.kvm.exits.to_vmm.") + why, "count",
                   std::string("KVM_RUN returns to the VMM with ") + why);
}

const char* exit_name(ExitReason r) {
  switch (r) {
    case ExitReason::None: return "none";
    case ExitReason::MemoryFault: return "KVM_EXIT_MEMORY_FAULT";
    case ExitReason::Hypercall: return "KVM_EXIT_HYPERCALL";
    case ExitReason::Mmio: return "KVM_EXIT_MMIO";
    case ExitReason::InternalError: return "KVM_EXIT_INTERNAL_ERROR";
    case ExitReason::UcallSync: return "UCALL_SYNC";
    case ExitReason::UcallDone: return "UCALL_DONE";
    case ExitReason::UcallAbort: return "UCALL_ABORT";
  }
  return "?";
}

}  // namespace cocosim
