// The VMM's KVM_RUN loop: enter the vCPU, wait for its exit, handle the exits
// that `auto:` names the way QEMU does (memory conversions), run `during:`.
#include <algorithm>
#include <cerrno>
#include <optional>

#include "cpu/isa_executor.h"
#include "common/hex.h"
#include "common/sim_time.h"
#include "common/trace.h"
#include "report.h"
#include "scenario/int_expr.h"
#include "scenario/schema.h"
#include "vmm.h"


namespace cocosim {

namespace {
const Vocab kMemoryExitFlags = {{"PRIVATE", KvmRunState::kMemoryExitFlagPrivate}};
}  // namespace

int Vmm::convert_memory(Vm& v, Addr gpa, uint64_t size, bool to_private, std::string* why) {
  const uint64_t first = gpa >> kPageShift, last = (gpa + size) >> kPageShift;
  // QEMU converts guest_memfd-backed RAM only: any other memory in the range is
  // an error, before anything changes. Nothing at all there (no slot): going
  // shared is ignored (a guest may share its MMIO), going private an error.
  bool covered = false;
  for (const auto& [id, slot] : v.slots()) {
    const uint64_t g = std::max(first, slot->base_gfn());
    const uint64_t end = std::min(last, slot->base_gfn() + slot->npages());
    if (g >= end) continue;
    covered = true;
    if (!slot->gmem()) {
      *why = "Convert non guest_memfd backed memory region (" + hex(gpa) + " ,+ " + hex(size) +
             ") to " + (to_private ? "private" : "shared");
      return EFAULT;
    }
  }
  if (!covered) {
    if (!to_private) return 0;
    *why = "Convert unassigned memory (" + hex(gpa) + " ,+ " + hex(size) + ") to private";
    return EFAULT;
  }
  if (int err = v.set_memory_attributes(gpa, size, to_private ? Vm::kAttrPrivate : 0, 0)) {
    *why = "KVM_SET_MEMORY_ATTRIBUTES (" + hex(gpa) + " ,+ " + hex(size) + ") failed";
    return err;
  }
  // Discard the copy that is no longer in use, unless guest_memfd converts in place.
  // Slot by slot (not GFN by GFN: the range may be most of the address space).
  for (const auto& [id, slot] : v.slots()) {
    const uint64_t g = std::max(first, slot->base_gfn());
    const uint64_t end = std::min(last, slot->base_gfn() + slot->npages());
    if (g >= end) continue;
    if (slot->gmem() && slot->gmem()->mmap_allowed()) continue;  // in place: one copy only
    Vma* backing = slot->has_userspace() ? p_.mm.find_vma(slot->userspace_pid(), slot->hva_of(g)) : nullptr;
    if (to_private && backing && backing->kind == VmaKind::Anon) {
      p_.mm.discard_anon(*backing, slot->hva_of(g), (end - g) << kPageShift);
    } else if (!to_private && slot->gmem()) {
      slot->gmem()->fallocate(GuestMemfd::kFallocKeepSize | GuestMemfd::kFallocPunchHole,
                              int64_t(slot->gmem_index(g) << kPageShift), int64_t((end - g) << kPageShift));
    }
  }
  return 0;
}

bool Vmm::attributes_are(const Vm& v, Addr gpa, uint64_t size, bool to_private) const {
  // Page by page would be unbounded for a huge range: the exit's size is a page
  // or a few; beyond 512 pages, call it changed (the loop cap still holds).
  const uint64_t first = gpa >> kPageShift, end = (gpa + size + kPageMask) >> kPageShift;
  if (end - first > 512) return false;
  for (uint64_t g = first; g < end; ++g)
    if (v.is_private(g) != to_private) return false;
  return true;
}

Result Vmm::kvm_run(const Step& s) {
  const Args& a = s.args;
  // KVM_RUN is an ioctl on the vCPU's fd, which stays usable after the VM's fd is closed.
  auto vit = names_.vcpu_vms.find(a.str("vm"));
  Vm* v = vit == names_.vcpu_vms.end() ? nullptr : vit->second;
  const int id = int(a.u64("vcpu"));
  auto no_vcpu = [&] {
    Result r = errno_result(EBADF);
    r["message"] = RValue::str("no vCPU " + std::to_string(id) + " of VM '" + a.str("vm") +
                               "': KVM_CREATE_VCPU did not make one");
    return r;
  };
  if (!v) return no_vcpu();
  KvmVcpu* kv = p_.kvm_vcpu(v->id(), id);
  Vcpu* hw = p_.vcpu_module(v->id(), id);
  if (!kv || !hw) return no_vcpu();
  if (KvmTdx* t = p_.td(v->id())) {
    // tdx_vcpu_pre_run: the TD finalized and the vCPU initialized, else EINVAL;
    // a dead VM fails every vCPU ioctl with EIO.
    const KvmTdx::TdVcpu* tv = t->vcpu(id);
    std::string why = t->dead() ? "the VM is dead"
                      : t->state() != KvmTdx::State::Runnable ? "the TD is not finalized (KVM_TDX_FINALIZE_VM)"
                      : !tv || !tv->initialized ? "the vCPU is not initialized (KVM_TDX_INIT_VCPU)"
                                                : "";
    if (!why.empty()) {
      Result r = errno_result(t->dead() ? EIO : EINVAL);
      r["message"] = RValue::str(why);
      return r;
    }
  }
  v->note_run();
  // `during:` holds no KVM_RUN, so no other record is made while this one is held.
  VcpuRecord& rec = report_.vcpu(a.str("vm"), id);
  rec.module = hw->basename();
  ++rec.runs;
  const sc_core::sc_time entered = sc_core::sc_time_stamp();
  const std::vector<std::string> autos = a.list("auto");
  auto handles = [&](ExitReason why) {
    return std::find(autos.begin(), autos.end(), exit_name(why)) != autos.end();
  };
  std::optional<uint64_t> ret;
  if (a.has("hypercall_ret")) ret = a.u64("hypercall_ret");
  std::optional<uint64_t> mmio_data;
  if (a.has("mmio_data")) mmio_data = a.u64("mmio_data");
  int err = 0;
  // Bounded so that a guest that faults forever still ends the step.
  // `during:` runs `after` into the KVM_RUN (across exits the VMM handles
  // itself), on the VMM's other thread while the vCPU runs.
  bool during_done = s.during.empty();
  const sc_core::sc_time due =
      sc_core::sc_time_stamp() +
      sc_core::sc_time(a.has("after") ? parse_time_ns(a.str("after")).value_or(0) : 0, sc_core::SC_NS);
  auto run_during = [&] {
    for (const Step& d : s.during) run_step_(d);
    during_done = true;
  };
  // Exits the VMM handles itself: the loop ends at any other exit, at an
  // error, when the same memory fault comes back with nothing left to
  // convert (no progress), or after kMaxAutoRounds.
  std::string stopped;  // why the VMM gave up, for the step's result
  struct FaultKey {
    uint64_t gpa = 0, size = 0, flags = 0;
    bool operator==(const FaultKey& o) const { return gpa == o.gpa && size == o.size && flags == o.flags; }
  };
  FaultKey last_fault;  // the memory fault the VMM converted last, if have_last_fault
  bool have_last_fault = false;
  uint64_t round = 0;
  for (;; ++round) {
    if (round == kMaxAutoRounds) {
      stopped = "auto: gave up after " + std::to_string(kMaxAutoRounds) +
                " exits handled by the VMM in one KVM_RUN";
      report_.note(s, stopped);
      break;
    }
    kv->prepare_entry(ret, mmio_data);
    ret.reset();
    mmio_data.reset();
    if (!kv->enter_guest()) break;
    hw->start();
    // Wake at the exit, when `during:` is due, and every kPollNs to look at
    // the limits (a guest loop must be interruptible).
    const sc_core::sc_time poll(kPollNs, sc_core::SC_NS);
    while (hw->running()) {
      const sc_core::sc_time now = sc_core::sc_time_stamp();
      if (!during_done && now >= due) {
        run_during();
        continue;
      }
      sc_core::wait(!during_done && due - now < poll ? due - now : poll, hw->exit_event());
      poll_(s);
    }
    hw->wait_exit();
    const KvmRunState& st = kv->run_state();
    if (st.reason == ExitReason::MemoryFault && handles(st.reason)) {
      const bool to_private = st.flags & KvmRunState::kMemoryExitFlagPrivate;
      const FaultKey key{st.gpa, st.size, st.flags};
      if (have_last_fault && last_fault == key && attributes_are(*v, st.gpa, st.size, to_private)) {
        stopped = "auto: KVM_EXIT_MEMORY_FAULT at GPA " + hex(st.gpa) + " (" +
                  (to_private ? "private" : "shared") +
                  ") came back with the memory already converted: no progress, the VMM stops";
        report_.note(s, stopped);
        break;
      }
      last_fault = key;
      have_last_fault = true;
      std::string why;
      err = convert_memory(*v, st.gpa, st.size, to_private, &why);
      COCOSIM_PROBE(note(trace::Cat::Kvm, kv->trace_scope(),
                         std::string("auto: ") + exit_name(st.reason) + " gpa " + hex(st.gpa) + " size " +
                             hex(st.size) + (to_private ? " -> private" : " -> shared") +
                             (err ? " failed: " + why : std::string())));
      if (err) {
        // QEMU's kvm_cpu_exec() fails the vCPU when the conversion fails.
        stopped = "QEMU: " + why;
        break;
      }
      ++rec.handled_by_vmm[exit_name(st.reason)];
      continue;
    }
    have_last_fault = false;
    if (st.reason == ExitReason::Hypercall && st.nr == KvmRunState::kHcMapGpaRange &&
        handles(st.reason)) {
      std::string why;
      int e = convert_memory(*v, st.args[0], st.args[1] << kPageShift,
                             st.args[2] & KvmRunState::kMapGpaRangeEncrypted, &why);
      COCOSIM_PROBE(note(trace::Cat::Kvm, kv->trace_scope(),
                         std::string("auto: KVM_HC_MAP_GPA_RANGE gpa ") + hex(st.args[0]) + " pages " +
                             std::to_string(st.args[1]) + " ret " + std::to_string(e ? -EINVAL : 0)));
      ret = e ? uint64_t(-int64_t(EINVAL)) : 0;  // QEMU answers a failed conversion with -EINVAL
      ++rec.handled_by_vmm[exit_name(st.reason)];
      continue;
    }
    break;
  }
  rec.guest_ps += to_ps(sc_core::sc_time_stamp() - entered);
  rec.exits = kv->exit_counts();
  if (!during_done) {
    report_.note(s, "the vCPU left before its 'during' steps were due; they ran after it");
    run_during();
  }
  const KvmRunState& st = kv->run_state();
  Result r = errno_result(err ? err : st.err);
  r["exit"] = RValue::str(exit_name(st.reason));
  if (!stopped.empty()) r["message"] = RValue::str(stopped);
  if (st.has_syndrome) {
    r["syndrome"] = RValue::integer(st.syndrome);
    if (p_.architecture().has_hpfar()) r["hpfar"] = RValue::integer(st.hpfar);
  }
  // Real guest code: its registers and instruction count where it left.
  if (const auto* isa = dynamic_cast<const IsaExecutor*>(hw->executor())) {
    r["instructions"] = RValue::integer(isa->instructions());
    for (const std::string& name : IsaExecutor::register_names(isa->arch())) {
      uint64_t value = 0;
      if (isa->read_register(name, &value)) r[name] = RValue::integer(value);
    }
  }
  switch (st.reason) {
    case ExitReason::MemoryFault:
      r["gpa"] = RValue::integer(st.gpa);
      r["size"] = RValue::integer(st.size);
      r["flags"] = RValue::flags(st.flags, &kMemoryExitFlags);
      if (!st.message.empty() && stopped.empty()) r["message"] = RValue::str(st.message);
      break;
    case ExitReason::Hypercall:
      r["nr"] = RValue::integer(st.nr);
      r["args"] = RValue::ints({st.args.begin(), st.args.end()});
      break;
    case ExitReason::Mmio:
      r["gpa"] = RValue::integer(st.gpa);
      r["size"] = RValue::integer(st.size);
      r["is_write"] = RValue::boolean(st.is_write);
      if (st.is_write) {  // the bytes written, as a little-endian integer of `size` bytes
        uint64_t v = 0;
        for (size_t i = 0; i < std::min<size_t>(st.size, st.data.size()); ++i) v |= uint64_t(st.data[i]) << (8 * i);
        r["data"] = RValue::integer(v);
      }
      break;
    case ExitReason::UcallSync:
      r["tag"] = RValue::str(st.tag);
      // Real code: the ucall's args, as the selftests' host reads them
      // (GUEST_SYNC5(SYNC_SHARED, gpa, size, ...) puts its values there).
      if (const auto* isa = dynamic_cast<const IsaExecutor*>(hw->executor())) {
        const auto& a = isa->last_ucall().args;
        r["args"] = RValue::ints({a.begin(), a.end()});
      }
      break;
    case ExitReason::UcallAbort: r["message"] = RValue::str(st.message); break;
    case ExitReason::ArmNisv:
      r["esr_iss"] = RValue::integer(st.esr_iss);
      r["fault_ipa"] = RValue::integer(st.fault_ipa);
      break;
    default:
      if (!st.message.empty() && stopped.empty()) r["message"] = RValue::str(st.message);
      break;
  }
  return r;
}

}  // namespace cocosim
