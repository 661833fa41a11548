#include "kvm/kvm_vcpu.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/hex.h"
#include "common/trace.h"
#include "cpu/arm64_load_store.h"
#include "pkvm/pkvm_hyp.h"

namespace cocosim {

void KvmVcpu::prepare_entry(std::optional<uint64_t> hypercall_ret, std::optional<uint64_t> mmio_data) {
  if (hypercall_pending_) {
    // userspace filled run->hypercall.ret (0 when it gave nothing).
    hypercall_pending_ = false;
    hypercall_done_ = true;
    hypercall_ret_ = hypercall_ret.value_or(0);
  }
  if (mmio_pending_) {
    mmio_pending_ = false;
    mmio_done_ = true;
    mmio_read_value_ = mmio_data.value_or(0);
  }
  run_ = KvmRunState{};
}

VcpuHypervisor::Resolution KvmVcpu::stage2_fault(const Stage2Fault& f, bool shared) {
  if (mmio_done_ && (f.gpa & ~kPageMask) == (mmio_gpa_ & ~kPageMask)) {
    mmio_done_ = false;
    // kvm_arch_vcpu_ioctl_run completes the read from run->mmio.data.
    if (f.data && !f.write) {
      uint8_t bytes[8];
      for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = uint8_t(mmio_read_value_ >> (8 * i));
      std::memcpy(f.data, bytes, std::min<size_t>(f.size, sizeof bytes));
    }
    return Resolution::Emulated;
  }
  // kvm_handle_guest_abort: an instruction fetch from an IPA without memslot
  // is -ENOEXEC, which KVM turns into a prefetch abort for the guest
  // (kvm_inject_pabt with FAR = the faulting address).
  if (f.exec && vm_.arch().id() == Arch::Arm64Pkvm && !vm_.slot_for_gfn(f.gpa >> kPageShift)) {
    handled_in_kernel("iabt_injected");
    return inject("IABT");
  }
  // Mapping an MMIO page: none to make; each access exits with its data.
  if (!f.data && is_mmio(f.gpa, f.write)) return Resolution::Emulated;
  if (td_) return td_stage2_fault(f);
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
    if (f.write && f.data) std::memcpy(run_.data.data(), f.data, std::min<size_t>(f.size, run_.data.size()));
  }
  returned_to_vmm();
  return Resolution::Exit;
}

bool KvmVcpu::is_mmio(Addr gpa, bool write) {
  if (td_) {  // a TD's private GPAs are never MMIO; its shared alias is the GFN without the bit
    const auto bit = vm_.arch().shared_bit();
    if (!bit || !(gpa & (Addr{1} << *bit))) return false;
    gpa &= ~(Addr{1} << *bit);
  }
  const uint64_t gfn = gpa >> kPageShift;
  if (traits_of(vm_.type()).has_private_mem && vm_.is_private(gfn)) return false;
  const Memslot* slot = vm_.slot_for_gfn(gfn);
  return !slot || (write && (slot->flags() & Memslot::kReadonly));
}

VcpuHypervisor::Resolution KvmVcpu::pkvm_hvc(uint64_t fn, uint64_t x1, uint64_t* ret) {
  for (;;) {
    pending_ns_ += hvc_ns_;
    const HvcResult r = pkvm_->guest_hvc(pkvm_handle_, {fn, x1, 0, 0});
    COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "guest_hvc_ret", r.x0, 64, nullptr));
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

VcpuHypervisor::Resolution KvmVcpu::convert(Addr gpa, uint64_t size, bool to_private, uint64_t attrs,
                                            uint64_t* ret) {
  if (td_) return td_convert(gpa, size, to_private, ret);
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
  run_.args = {gpa, npages, attrs, 0, 0, 0};  // the attributes as the guest passed them
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

void KvmVcpu::internal_error(const std::string& why) {
  run_.reason = ExitReason::InternalError;
  run_.err = 0;
  run_.message = why;
  returned_to_vmm();
}

void KvmVcpu::shutdown(const std::string& why) {
  // A triple fault: VMX exit reason 2, and for a TD the TDX module's TD exit
  // with EXIT_REASON_TRIPLE_FAULT; KVM (vmx.c handle_triple_fault, tdx.c
  // tdx_handle_exit) returns KVM_EXIT_SHUTDOWN to userspace either way.
  run_.reason = ExitReason::Shutdown;
  run_.message = why;
  returned_to_vmm();
}

void KvmVcpu::handled_in_kernel(const char* why) {
  COCOSIM_PROBE(note(trace::Cat::Kvm, trace_scope(), std::string("exit handled in KVM: ") + why));
  ++exits_.in_kernel[why];
  if (exit_observer_) exit_observer_(why, false);
  ++stats_.counter(std::string("platform.kvm.exits.in_kernel.") + why, "count",
                   std::string("exits KVM handled without returning to the VMM: ") + why);
}

std::string KvmVcpu::trace_scope() const {
  return "platform.kvm.vm" + std::to_string(vm_.id()) + ".vcpu" + std::to_string(id_);
}

void KvmVcpu::returned_to_vmm() {
  if (td_) td_->leave(id_);  // whatever brought the vCPU out, it is out of its TD now
  const char* why = exit_name(run_.reason);
  COCOSIM_PROBE(value(trace::Cat::Kvm, trace_scope(), "exit_reason", unsigned(run_.reason), 4, why));
  ++exits_.to_vmm[why];
  if (exit_observer_) exit_observer_(why, true);
  ++stats_.counter(std::string("platform.kvm.exits.to_vmm.") + why, "count",
                   std::string("KVM_RUN returns to the VMM with ") + why);
}

// ---- TDX ----

bool KvmVcpu::td_enter() {
  const TdxStatus st = td_->enter(id_);
  if (st.ok()) return true;
  // tdx_handle_exit: an error or non-recoverable status from TDH.VP.ENTER is
  // an unhandled exit (KVM_EXIT_INTERNAL_ERROR, KVM_RUN returns 0).
  td_internal_error("TDH.VP.ENTER returned " + st.name());
  return false;
}

VcpuHypervisor::Resolution KvmVcpu::td_internal_error(const std::string& why) {
  run_.reason = ExitReason::InternalError;
  run_.err = 0;
  run_.message = why;
  returned_to_vmm();
  return Resolution::Exit;
}

bool KvmVcpu::td_ept_violation(Addr gpa, int level, bool write) {
  // A private GPA the Secure EPT already maps: the fault is spurious for KVM,
  // which re-enters; the only way here is a second #VE before the guest read
  // the first one's VEINFO, which hangs a real guest. End the run instead.
  if (auto leaf = mmu_.stage2().lookup(gpa & ~kPageMask)) {
    td_internal_error("EPT violation on GPA " + hex(gpa) +
                      " which the Secure EPT maps: the guest took a #VE while the previous VEINFO was unread");
    return false;
  }
  // The level KVM may map at: the ACCEPT's level for an EEQ-ACCEPT exit, 4 KiB
  // for any other access (Linux's TDX huge-page series: the guest's ACCEPT
  // decides, so a 4 KiB ACCEPT never meets a 2 MiB PENDING leaf).
  if (mmu_.fault_in(gpa, write, false, 8, /*is_private=*/true, &run_, level)) {
    handled_in_kernel("ept_violation");
    return true;
  }
  returned_to_vmm();
  return false;
}

VcpuHypervisor::Resolution KvmVcpu::td_stage2_fault(const Stage2Fault& f) {
  if (!(f.gpa & td_->shared_bit())) {
    if (!td_enter()) return Resolution::Exit;
    const PrivateAccess a = td_->module().td_access(td_->vcpu(id_)->tdvpr, f.gpa, f.write);
    switch (a.kind) {
      case PrivateAccess::Kind::Mapped: return Resolution::Retry;  // mapped since the walk
      case PrivateAccess::Kind::VirtualizationException: return inject("VE");
      case PrivateAccess::Kind::Exit: break;
    }
    if (a.exit->kind == TdExit::Kind::PendingEptViolation) {
      // tdx_handle_ept_violation: an access before accept with SEPT_VE_DISABLE kills the VM.
      td_->set_dead();
      run_.reason = ExitReason::None;
      run_.err = EIO;
      run_.message = "Guest access before accepting " + hex(f.gpa) + " on vCPU " + std::to_string(id_) +
                     ": KVM marks the VM dead";
      returned_to_vmm();
      return Resolution::Exit;
    }
    if (td_ept_violation(f.gpa, 0, f.write)) return Resolution::Retry;
  } else {
    // The shared alias: KVM's own shared EPT, the GFN without the shared bit.
    if (mmu_.fault_in(f.gpa, f.write, f.exec, f.size, /*is_private=*/false, &run_)) {
      handled_in_kernel("ept_violation");
      return Resolution::Retry;
    }
    returned_to_vmm();
  }
  run_.has_syndrome = true;
  run_.syndrome = f.syndrome;
  if (run_.reason == ExitReason::Mmio) {
    mmio_pending_ = true;
    mmio_gpa_ = f.gpa;
    if (f.write && f.data) std::memcpy(run_.data.data(), f.data, std::min<size_t>(f.size, run_.data.size()));
  }
  return Resolution::Exit;
}

VcpuHypervisor::Resolution KvmVcpu::machine_check() {
  if (!td_) return inject("MC");
  // The TDX module takes the #MC: the TD is fatal and TDH.VP.ENTER returns
  // TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE; tdx_handle_exit makes that an
  // unhandled exit (KVM_EXIT_INTERNAL_ERROR). The host goes on.
  const Addr tdvpr = td_->vcpu(id_)->tdvpr;
  if (!td_->module().in_td(tdvpr) && !td_enter()) return Resolution::Exit;
  const TdExit e = td_->module().machine_check(tdvpr);
  return td_internal_error("TDH.VP.ENTER returned " + e.status.name() + " (#MC in the TD: the TD is fatal)");
}

VcpuHypervisor::Resolution KvmVcpu::td_map_gpa(Addr gpa, uint64_t size, TdcallOut* out) {
  MapGpa::Step st;
  if (map_gpa_ && hypercall_done_) {
    hypercall_done_ = false;
    st = map_gpa_->complete(hypercall_ret_, /*interrupt_pending=*/false);
  } else {
    if (!td_enter()) return Resolution::Exit;
    SeamcallArgs a;
    a.r10 = 0;
    a.r11 = MapGpa::kSubFunction;
    a.r12 = gpa;
    a.r13 = size;
    td_->module().tdg_vp_vmcall(td_->vcpu(id_)->tdvpr, a);  // the TD exits to KVM
    // QEMU enables KVM_CAP_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE on TDs.
    map_gpa_.emplace(td_->module().td(td_->tdr())->gpaw, true);
    st = map_gpa_->start(gpa, size);
  }
  if (st.exit) {
    run_.reason = ExitReason::Hypercall;
    run_.nr = KvmRunState::kHcMapGpaRange;
    run_.args = {st.exit->gpa, st.exit->npages, st.exit->attrs, 0, 0, 0};
    hypercall_pending_ = true;
    returned_to_vmm();
    return Resolution::Exit;
  }
  map_gpa_.reset();
  handled_in_kernel("tdvmcall");
  out->status = 0;
  out->r10 = st.done->status;
  out->r11 = st.done->r11;
  return Resolution::Retry;
}

VcpuHypervisor::Resolution KvmVcpu::td_accept(uint64_t gpa_level, TdcallOut* out) {
  // An ACCEPT of a GPA not in the Secure EPT exits (EPT violation, EEQ ACCEPT):
  // KVM AUGs from guest_memfd and the guest's ACCEPT runs again.
  for (int round = 0; round < 4; ++round) {
    if (!td_enter()) return Resolution::Exit;
    const TdcallResult r = td_->module().tdg_mem_page_accept(td_->vcpu(id_)->tdvpr, gpa_level);
    if (!r.exit) {
      out->status = r.status.value;
      out->rcx = r.rcx;
      out->rdx = r.rdx;
      return Resolution::Retry;
    }
    if (!td_ept_violation(r.exit->gpa, r.exit->level, false)) return Resolution::Exit;
  }
  return td_internal_error("TDG.MEM.PAGE.ACCEPT of " + hex(gpa_level) + " exits again after KVM mapped it");
}

VcpuHypervisor::Resolution KvmVcpu::tdcall(const TdcallRegs& in, TdcallOut* out) {
  if (!td_) return inject("UD");  // TDCALL outside a TD
  switch (TdcallLeaf(in.leaf)) {
    case TdcallLeaf::VP_VMCALL:
      if (in.r11 == MapGpa::kSubFunction) return td_map_gpa(in.r12, in.r13, out);
      break;
    case TdcallLeaf::MEM_PAGE_ACCEPT: return td_accept(in.rcx, out);
    default: break;
  }
  if (!td_enter()) return Resolution::Exit;
  SeamcallArgs a;
  a.rcx = in.rcx;
  a.rdx = in.rdx;
  a.r10 = in.r10;
  a.r11 = in.r11;
  a.r12 = in.r12;
  a.r13 = in.r13;
  const TdcallResult r = td_->module().tdcall(td_->vcpu(id_)->tdvpr, in.leaf, a);
  if (r.exit) {
    // A TDVMCALL KVM does not serve: TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED in R10.
    handled_in_kernel("tdvmcall");
    out->status = 0;
    out->r10 = tdx::TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED;
    return Resolution::Retry;
  }
  out->status = r.status.value;
  out->rcx = r.rcx;
  out->rdx = r.rdx;
  out->r8 = r.r8;
  out->r9 = r.r9;
  out->r10 = r.r10;
  out->mrtd = r.mrtd;
  return Resolution::Retry;
}

VcpuHypervisor::Resolution KvmVcpu::td_convert(Addr gpa, uint64_t size, bool to_private, uint64_t* ret) {
  // The guest kernel's set_memory_{en,de}crypted: MapGPA for the range (again
  // from R11 on RETRY), then on the way to private an ACCEPT of every page.
  if (!conv_.active) conv_ = {true, false, gpa};
  const Addr end = gpa + size;
  while (!conv_.accepting) {
    TdcallOut o;
    const Addr from = conv_.next & ~td_->shared_bit();
    const Resolution r = td_map_gpa(to_private ? from : from | td_->shared_bit(), end - from, &o);
    if (r != Resolution::Retry) return r;
    if (o.r10 == tdx::TDVMCALL_STATUS_RETRY) {
      conv_.next = o.r11 & ~td_->shared_bit();
      continue;
    }
    if (o.r10 != tdx::TDVMCALL_STATUS_SUCCESS || !to_private) {
      conv_ = {};
      *ret = o.r10;
      return Resolution::Retry;
    }
    conv_.accepting = true;
    conv_.next = gpa;
  }
  while (conv_.next < end) {
    TdcallOut o;
    // Linux's tdx_accept_memory: 2 MiB at a time where the range allows it,
    // 4 KiB when the 2 MiB ACCEPT fails (e.g. TDX_PAGE_SIZE_MISMATCH).
    if (!(conv_.next & (kHugePageSize - 1)) && end - conv_.next >= kHugePageSize) {
      const Resolution r = td_accept(conv_.next | 1, &o);
      if (r != Resolution::Retry) return r;
      if (o.status == tdx::TDX_SUCCESS) {
        conv_.next += kHugePageSize;
        continue;
      }
      o = TdcallOut{};
    }
    const Resolution r = td_accept(conv_.next, &o);
    if (r != Resolution::Retry) return r;
    if (o.status != tdx::TDX_SUCCESS && TdxStatus(o.status).code() != tdx::TDX_PAGE_ALREADY_ACCEPTED) {
      conv_ = {};
      *ret = o.status;
      return Resolution::Retry;
    }
    conv_.next += kPageSize;
  }
  conv_ = {};
  *ret = 0;
  return Resolution::Retry;
}

VcpuHypervisor::Resolution KvmVcpu::mmio_nisv(Addr gpa, bool write, uint64_t iss) {
  if (!is_mmio(gpa, write)) return Resolution::Retry;  // not io_mem_abort's: an ordinary access
  // io_mem_abort() without a valid syndrome: KVM cannot tell the register or
  // the size. Userspace cannot emulate it for a protected VM either (it does
  // not see the guest's registers): kvm_inject_dabt(vcpu, FAR) (EC 0x25 from
  // EL1, IL, FSC 0x10).
  if (vm_.type() == VmType::Pkvm) {
    handled_in_kernel("dabt_injected");
    return inject("DABT");
  }
  if (vm_.nisv_to_user()) {
    run_.reason = ExitReason::ArmNisv;
    run_.esr_iss = arm64_nisv_sanitized_iss(iss);
    run_.fault_ipa = gpa;
    returned_to_vmm();
    return Resolution::Exit;
  }
  // "load/store instruction decoding not implemented": KVM_RUN fails.
  run_.reason = ExitReason::None;
  run_.err = ENOSYS;
  run_.message = "data abort without a valid instruction syndrome at IPA " + hex(gpa) +
                 " (KVM_CAP_ARM_NISV_TO_USER not enabled): KVM_RUN fails with ENOSYS";
  returned_to_vmm();
  return Resolution::Exit;
}

const char* exit_name(ExitReason r) {
  switch (r) {
    case ExitReason::None: return "none";
    case ExitReason::MemoryFault: return "KVM_EXIT_MEMORY_FAULT";
    case ExitReason::Hypercall: return "KVM_EXIT_HYPERCALL";
    case ExitReason::Mmio: return "KVM_EXIT_MMIO";
    case ExitReason::InternalError: return "KVM_EXIT_INTERNAL_ERROR";
    case ExitReason::Shutdown: return "KVM_EXIT_SHUTDOWN";
    case ExitReason::ArmNisv: return "KVM_EXIT_ARM_NISV";
    case ExitReason::UcallSync: return "UCALL_SYNC";
    case ExitReason::UcallDone: return "UCALL_DONE";
    case ExitReason::UcallAbort: return "UCALL_ABORT";
  }
  return "?";
}

}  // namespace cocosim
