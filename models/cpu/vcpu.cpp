#include "cpu/vcpu.h"

#include <algorithm>
#include <cstring>

#include "common/hex.h"

namespace cocosim {

// A walk never hands time back half-way: the host must not change the tables
// between two levels of one walk.
void Vcpu::WalkerPort::read(Addr pa, void* dst, size_t len) {
  v_.phys_access(pa, static_cast<uint8_t*>(dst), len, false, Initiator::PageWalker, false);
}

void Vcpu::WalkerPort::write(Addr pa, const void* src, size_t len) {
  v_.phys_access(pa, static_cast<uint8_t*>(const_cast<void*>(src)), len, true,
                 Initiator::PageWalker, false);
}

Vcpu::Vcpu(sc_core::sc_module_name name, const Architecture& arch, VcpuTiming timing,
           TlbConfig tlb, Stats& stats)
    : sc_module(name),
      socket("socket"),
      timing_(timing),
      walker_(*this),
      tlb_(tlb.entries, tlb.huge_entries, stats, std::string(this->name()) + ".tlb"),
      mmu_(arch, walker_, tlb_, stats, std::string(this->name()) + ".mmu"),
      accesses_(stats.counter(std::string(this->name()) + ".accesses", "count",
                              "guest data accesses, one per page touched")),
      exits_(stats.counter(std::string(this->name()) + ".exits", "count",
                           "times the vCPU left the guest for the host (one per KVM_RUN round)")),
      dmi_accesses_(stats.counter(std::string(this->name()) + ".dmi_accesses", "count",
                                  "guest data accesses served by a DMI pointer (no bus transaction)")),
      transactions_(stats.counter(std::string(this->name()) + ".bus_transactions", "count",
                                  "b_transport calls (guest data and page-walk reads without DMI)")),
      translation_faults_(stats.counter(std::string(this->name()) + ".faults.translation", "count",
                                        "stage-2 translation faults taken to the hypervisor (no entry)")),
      permission_faults_(stats.counter(std::string(this->name()) + ".faults.permission", "count",
                                       "stage-2 permission faults taken to the hypervisor")),
      run_pages_(stats.counter(std::string(this->name()) + ".run_pages", "count",
                               "pages an ISA executor mapped beside a translated one (stage-2 neighbours "
                               "with the next frames and rights, found without faulting)")),
      stats_(stats) {
  socket.register_invalidate_direct_mem_ptr(this, &Vcpu::invalidate_dmi);
  const std::string me = this->name();
  stats.rate(me + ".dmi_access_rate", me + ".dmi_accesses", {me + ".accesses"},
             "share of guest data accesses served by a DMI pointer");
  budget_ = timing.quantum;
  SC_HAS_PROCESS(Vcpu);
  SC_THREAD(thread);
  // SystemC's default thread stack (64 KiB) is too small for page-table walks
  // with page-sized buffers, and for sanitizer builds.
  set_stack_size(size_t{1} << 20);
}

void Vcpu::publish_stats() {
  accesses_ += fast_;
  dmi_accesses_ += fast_;
  mmu_.count_hits(fast_);
  fast_ = 0;
}

void Vcpu::bind_guest(VcpuHypervisor* hv, std::unique_ptr<Executor> ex, Stage2Roots roots, int vm,
                      int id) {
  hv_ = hv;
  listener_ = nullptr;  // the old executor goes now; the new one registers when it runs
  shared_alias_ = 0;
  td_tag_mask_ = 0;
  mmu_.set_private_tag(0);
  ++generation_;
  if (parked_ && exec_) retired_ = std::move(exec_);  // its run() unwinds at the next entry
  exec_ = std::move(ex);
  mmu_.set_roots(roots);
  vm_ = vm;
  id_ = id;
  tlb_.flush_all();
  flush_micro();
}

void Vcpu::start() {
  running_ = true;
  run_ev_.notify(sc_core::SC_ZERO_TIME);
}

void Vcpu::wait_exit() {
  if (running_) sc_core::wait(exit_ev_);
}

void Vcpu::thread() {
  for (;;) {
    sc_core::wait(run_ev_);
    uint64_t gen;
    do {
      gen = generation_;
      advance(timing_.vm_exit);  // VM entry
      COCOSIM_PROBE(value(trace::Cat::Kvm, name(), "run_state", 1, 2, "in_guest"));
      if (exec_) exec_->run(*this);
      // An executor parked in exit_to_host() when the vCPU was closed and
      // bound again has unwound: the new binding's KVM_RUN runs now.
      retired_.reset();
    } while (gen != generation_);
    leave_guest();
  }
}

void Vcpu::leave_guest() {
  ++exits_;
  COCOSIM_PROBE(value(trace::Cat::Kvm, name(), "run_state", 0, 2, "out"));
  local_ += timing_.vm_exit;  // VM exit
  sync();
  running_ = false;
  exit_ev_.notify(sc_core::SC_ZERO_TIME);
}

// The executor stays inside its instruction; KVM_RUN returns, and the next
// KVM_RUN continues here (as KVM's vCPU thread does).
bool Vcpu::exit_to_host() {
  const uint64_t gen = generation_;
  leave_guest();
  ++parked_;
  sc_core::wait(run_ev_);
  --parked_;
  if (gen != generation_) return false;  // closed meanwhile: the caller abandons its guest
  advance(timing_.vm_exit);  // VM entry
  COCOSIM_PROBE(value(trace::Cat::Kvm, name(), "run_state", 1, 2, "in_guest"));
  return true;
}

uint8_t* Vcpu::request_dmi(Addr page_pa, Initiator who) {
  tlm::tlm_generic_payload trans;
  AccessExtension ext;
  ext.who = who;
  ext.vm = vm_;
  ext.vcpu = id_;
  ext.security = (page_pa & td_tag_mask_) ? SecurityState::Td : SecurityState::Normal;
  ScopedExtension scoped(trans, ext);
  uint8_t byte = 0;
  prepare(trans, false, page_pa, &byte, 1);
  tlm::tlm_dmi dmi;
  if (!socket->get_direct_mem_ptr(trans, dmi) || !dmi.is_read_write_allowed() ||
      dmi.get_start_address() > page_pa || dmi.get_end_address() < (page_pa | kPageMask))
    return nullptr;
  uint8_t* p = dmi.get_dmi_ptr() + (page_pa - dmi.get_start_address());
  dmi_.insert(page_pa >> kPageShift, p);
  dmi_latency_ = dmi.get_read_latency();
  hit_latency_ = timing_.tlb_hit + dmi_latency_;
  return p;
}

Outcome Vcpu::translate_page(Addr gpa, bool write, bool exec, GuestPage* page) {
  const bool shared = shared_alias_ && (gpa & shared_alias_);
  for (;;) {
    Translation t = mmu_.translate(gpa, write, exec, 1);
    if (t.ok) {
      local_ += t.levels_walked ? timing_.walk_level * double(t.levels_walked) : timing_.tlb_hit;
      const Addr frame = t.pa & ~kPageMask;
      page->pfn = frame >> kPageShift;
      page->host = dmi_.find(page->pfn);
      if (!page->host) page->host = request_dmi(frame, Initiator::Vcpu);
      page->writable = t.perm.w;
      page->executable = t.perm.x;
      return Outcome::Ok;
    }
    advance(timing_.vm_exit);
    VcpuHypervisor::Resolution r = hv_->stage2_fault(t.fault, shared);
    local_ += sc_core::sc_time(hv_->take_cost_ns(), sc_core::SC_NS);
    if (r == VcpuHypervisor::Resolution::Retry) continue;
    if (r == VcpuHypervisor::Resolution::Emulated) {
      // No memslot: every access goes through access(), which emulates it.
      *page = GuestPage{gpa >> kPageShift, nullptr, true, false};
      return Outcome::Ok;
    }
    if (r == VcpuHypervisor::Resolution::Injected) {
      fault_ = hv_->injected_fault();
      count_injected(fault_);
      return Outcome::Fault;
    }
    return Outcome::Exit;
  }
}

void Vcpu::translate_run(Addr gpa, const GuestPage& page, uint64_t lo_gfn, uint64_t end_gfn,
                         uint64_t* first_gfn, uint64_t* pages) {
  const uint64_t gfn = gpa >> kPageShift;
  *first_gfn = gfn;
  *pages = 1;
  if (!page.host) return;
  const PageRun r = mmu_.neighbours(gpa, lo_gfn, end_gfn);
  // Each page's DMI pointer must follow the page's own (one host range).
  const uintptr_t base = reinterpret_cast<uintptr_t>(page.host);
  auto host_follows = [&](uint64_t g) {
    const uint64_t pfn = page.pfn + g - gfn;  // wraps for pages below gfn, added back the same way
    uint8_t* p = dmi_.find(pfn);
    if (!p) p = request_dmi(pfn << kPageShift, Initiator::Vcpu);
    return p && reinterpret_cast<uintptr_t>(p) == base + ((g - gfn) << kPageShift);
  };
  uint64_t first = gfn, end = gfn + 1;
  while (end < r.first_gfn + r.pages && host_follows(end)) ++end;
  while (first > r.first_gfn && host_follows(first - 1)) --first;
  *first_gfn = first;
  *pages = end - first;
  run_pages_ += end - first - 1;
}

void Vcpu::sync() {
  sc_core::wait(local_);
  local_ = sc_core::SC_ZERO_TIME;
  // Up to the next quantum boundary, as tlm_quantumkeeper computes it.
  const sc_core::sc_time q = timing_.quantum;
  const sc_core::sc_time now = sc_core::sc_time_stamp();
  budget_ = q - sc_core::sc_time::from_value(now.value() % q.value());
}

void Vcpu::consume_ns(double ns) { advance(sc_core::sc_time(ns, sc_core::SC_NS)); }

bool Vcpu::phys_access(Addr pa, uint8_t* data, size_t len, bool write, Initiator who,
                       bool may_yield) {
  const uint64_t pfn = pa >> kPageShift;
  uint8_t* page = nullptr;
  if (pfn == last_pfn_) {
    page = last_ptr_;
  } else if ((page = dmi_.find(pfn))) {
    last_pfn_ = pfn;
    last_ptr_ = page;
  }
  if (page) {
    if (who == Initiator::Vcpu) ++dmi_accesses_;
    uint8_t* p = page + (pa & kPageMask);
    write ? std::memcpy(p, data, len) : std::memcpy(data, p, len);
    if (may_yield) advance(dmi_latency_);
    else local_ += dmi_latency_;
    return true;
  }
  tlm::tlm_generic_payload trans;
  AccessExtension ext;
  ext.who = who;
  ext.vm = vm_;
  ext.vcpu = id_;
  ext.security = (pa & td_tag_mask_) ? SecurityState::Td : SecurityState::Normal;
  ScopedExtension scoped(trans, ext);
  prepare(trans, write, pa, data, unsigned(len));
  sc_core::sc_time delay = local_;
  ++transactions_;
  socket->b_transport(trans, delay);
  local_ = delay;
  const bool ok = trans.is_response_ok();
  if (ext.machine_check) machine_check_ = true;
  // The quantum holds on this path too (private pages never get a DMI pointer).
  const bool quantum_used = may_yield && local_ >= budget_;
  if (ok && trans.is_dmi_allowed()) {
    tlm::tlm_dmi dmi;
    trans.set_address(pa & ~kPageMask);
    if (socket->get_direct_mem_ptr(trans, dmi) && dmi.is_read_write_allowed() &&
        dmi.get_start_address() <= (pa & ~kPageMask) &&
        dmi.get_end_address() >= (pa | kPageMask)) {
      dmi_.insert(pfn, dmi.get_dmi_ptr() + ((pa & ~kPageMask) - dmi.get_start_address()));
      dmi_latency_ = dmi.get_read_latency();
      hit_latency_ = timing_.tlb_hit + dmi_latency_;
    }
  }
  if (quantum_used) sync();
  return ok;
}

void Vcpu::invalidate_dmi(sc_dt::uint64 start, sc_dt::uint64 end) {
  last_pfn_ = kNoPage;
  last_ptr_ = nullptr;
  flush_micro();
  dmi_.invalidate(start >> kPageShift, end >> kPageShift);
  if (listener_) listener_->frames_revoked(start >> kPageShift, end >> kPageShift);
}

Outcome Vcpu::access_slow(Addr gpa, uint8_t* bytes, size_t len, bool write, bool shared) {
  while (len) {
    const size_t chunk = std::min<size_t>(len, kPageSize - (gpa & kPageMask));
    ++accesses_;
    for (;;) {
      Translation t = mmu_.translate(gpa, write, false, unsigned(chunk));
      if (t.ok) {
        // The access completes before time is handed back (a yield here could
        // let the host change the mapping between translation and use).
        local_ += t.levels_walked ? timing_.walk_level * double(t.levels_walked) : timing_.tlb_hit;
        machine_check_ = false;
        phys_access(t.pa, bytes, chunk, write, Initiator::Vcpu);
        if (machine_check_) {
          machine_check_ = false;
          if (hv_->machine_check() == VcpuHypervisor::Resolution::Injected) {
            fault_ = "MC";
            count_injected(fault_);
            COCOSIM_PROBE(pulse(trace::Cat::Mmu, name(), "fault_MC", "machine check at gpa " + hex(gpa)));
            return Outcome::Fault;
          }
          return Outcome::Exit;
        }
        break;
      }
      advance(timing_.vm_exit);
      ++(t.fault.kind == Stage2Fault::Kind::Translation ? translation_faults_ : permission_faults_);
      COCOSIM_PROBE(pulse(trace::Cat::Mmu, name(),
                          t.fault.kind == Stage2Fault::Kind::Translation ? "fault_translation" : "fault_permission",
                          std::string(write ? "write" : "read") + " gpa " + hex(gpa) + " level " +
                              std::to_string(t.fault.level)));
      // An access KVM emulates as MMIO takes its data to the exit (a write)
      // or gets the VMM's value at re-entry (a read).
      if (!write) std::memset(bytes, 0, chunk);
      t.fault.data = bytes;
      VcpuHypervisor::Resolution r = hv_->stage2_fault(t.fault, shared);
      local_ += sc_core::sc_time(hv_->take_cost_ns(), sc_core::SC_NS);
      if (r == VcpuHypervisor::Resolution::Retry) continue;
      if (r == VcpuHypervisor::Resolution::Emulated) break;
      if (r == VcpuHypervisor::Resolution::Injected) {
        fault_ = hv_->injected_fault();
        count_injected(fault_);
        COCOSIM_PROBE(pulse(trace::Cat::Mmu, name(), ("fault_" + fault_).c_str(), "injected at gpa " + hex(gpa)));
        return Outcome::Fault;
      }
      return Outcome::Exit;
    }
    gpa += chunk;
    bytes += chunk;
    len -= chunk;
  }
  return Outcome::Ok;
}

Outcome Vcpu::convert(Addr gpa, uint64_t size, bool to_private, uint64_t attrs, uint64_t* ret) {
  advance(timing_.vm_exit);
  const auto r = hv_->convert(gpa, size, to_private, attrs, ret);
  local_ += sc_core::sc_time(hv_->take_cost_ns(), sc_core::SC_NS);
  return r == VcpuHypervisor::Resolution::Exit
             ? Outcome::Exit
             : Outcome::Ok;
}

void Vcpu::trace_gpa(Addr gpa) {
  trace::g_sink->value(trace::Cat::Mmu, name(), "gpa", gpa, 64, nullptr);
}

void Vcpu::count_injected(const std::string& fault) {
  ++stats_.counter(std::string(name()) + ".faults.injected." + fault, "count",
                   "faults delivered to the guest: " + fault);
}

Outcome Vcpu::tdcall(const TdcallRegs& in, TdcallOut* out) {
  advance(timing_.vm_exit);  // a TDCALL is a transition into the TDX module
  const auto r = hv_->tdcall(in, out);
  local_ += sc_core::sc_time(hv_->take_cost_ns(), sc_core::SC_NS);
  if (r == VcpuHypervisor::Resolution::Injected) {
    fault_ = hv_->injected_fault();
    count_injected(fault_);
    return Outcome::Fault;
  }
  return r == VcpuHypervisor::Resolution::Exit ? Outcome::Exit : Outcome::Ok;
}

Outcome Vcpu::hvc(uint64_t fn, uint64_t x1, uint64_t* ret) {
  advance(timing_.vm_exit);
  const auto r = hv_->hvc(fn, x1, ret);
  local_ += sc_core::sc_time(hv_->take_cost_ns(), sc_core::SC_NS);
  return r == VcpuHypervisor::Resolution::Exit ? Outcome::Exit : Outcome::Ok;
}

Outcome Vcpu::mmio_nisv(Addr gpa, bool write, uint64_t iss) {
  // The stage-2 abort is taken to EL2 whatever KVM makes of it.
  advance(timing_.vm_exit);
  const auto r = hv_->mmio_nisv(gpa, write, iss);
  local_ += sc_core::sc_time(hv_->take_cost_ns(), sc_core::SC_NS);
  if (r == VcpuHypervisor::Resolution::Injected) {
    fault_ = hv_->injected_fault();
    count_injected(fault_);
    return Outcome::Fault;
  }
  return r == VcpuHypervisor::Resolution::Exit ? Outcome::Exit : Outcome::Ok;
}

void Vcpu::ucall_sync(const std::string& tag) { hv_->ucall(VcpuHypervisor::Ucall::Sync, tag); }
void Vcpu::ucall_done() { hv_->ucall(VcpuHypervisor::Ucall::Done, ""); }
void Vcpu::ucall_abort(const std::string& m) { hv_->ucall(VcpuHypervisor::Ucall::Abort, m); }

void Vcpu::invept_single_context() {
  COCOSIM_PROBE(pulse(trace::Cat::Mmu, name(), "tlb_flush", "INVEPT single-context"));
  tlb_.flush_all();
  flush_micro();
  invalidate_executor(0, ~uint64_t{0});
}
void Vcpu::tlbi_ipas2e1is(uint64_t first_gfn, uint64_t end_gfn) {
  COCOSIM_PROBE(pulse(trace::Cat::Mmu, name(), "tlb_flush",
                      "TLBI IPAS2E1IS gfn " + hex(first_gfn) + ".." + hex(end_gfn)));
  tlb_.flush_gfns(first_gfn, end_gfn);
  flush_micro();
  invalidate_executor(first_gfn, end_gfn);
}
void Vcpu::tlbi_vmalle1is() {
  COCOSIM_PROBE(pulse(trace::Cat::Mmu, name(), "tlb_flush", "TLBI VMALLE1IS"));
  // Stage-1 entries only: this TLB caches the combined stage-2 translation of
  // the guest's physical pages, which VMALLE1IS leaves, but the micro-TLB
  // stands for the vCPU's whole translation path and goes.
  flush_micro();
}
void Vcpu::tlbi_vmalls12e1is() {
  COCOSIM_PROBE(pulse(trace::Cat::Mmu, name(), "tlb_flush", "TLBI VMALLS12E1IS"));
  tlb_.flush_all();
  flush_micro();
  invalidate_executor(0, ~uint64_t{0});
}

}  // namespace cocosim
