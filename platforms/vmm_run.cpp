// The VMM's KVM_RUN loop: enter the vCPU, wait for its exit, handle the exits
// that `auto:` names the way QEMU does (memory conversions), run `during:`.
#include <algorithm>
#include <cerrno>
#include <optional>

#include "common/sim_time.h"
#include "report.h"
#include "scenario/int_expr.h"
#include "scenario/schema.h"
#include "vmm.h"

namespace cocosim {

namespace {
const Vocab kMemoryExitFlags = {{"PRIVATE", KvmRunState::kMemoryExitFlagPrivate}};
}  // namespace

int Vmm::convert_memory(Vm& v, Addr gpa, uint64_t size, bool to_private) {
  if (int err = v.set_memory_attributes(gpa, size, to_private ? Vm::kAttrPrivate : 0, 0)) return err;
  // Discard the copy that is no longer in use, unless guest_memfd converts in place.
  // Slot by slot (not GFN by GFN: the range may be most of the address space).
  const uint64_t first = gpa >> kPageShift, last = (gpa + size) >> kPageShift;
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

Result Vmm::kvm_run(const Step& s) {
  const Args& a = s.args;
  // KVM_RUN is an ioctl on the vCPU's fd, which stays usable after the VM's fd is closed.
  auto vit = names_.vcpu_vms.find(a.str("vm"));
  Vm* v = vit == names_.vcpu_vms.end() ? nullptr : vit->second;
  if (!v) return errno_result(EBADF);
  const int id = int(a.u64("vcpu"));
  KvmVcpu* kv = p_.kvm_vcpu(v->id(), id);
  Vcpu* hw = p_.vcpu_module(v->id(), id);
  if (!kv || !hw) return errno_result(EBADF);
  if (v->type() == VmType::Tdx || v->type() == VmType::Pkvm) {
    Result r = errno_result(EINVAL);
    r["message"] = RValue::str(std::string(vm_type_name(v->type())) +
                               " guests need the TDX module / pKVM models, not built yet");
    return r;
  }
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
  for (int round = 0; round < 100000; ++round) {
    kv->prepare_entry(ret);
    ret.reset();
    hw->start();
    while (!during_done && hw->running()) {
      const sc_core::sc_time now = sc_core::sc_time_stamp();
      if (now >= due) {
        run_during();
        break;
      }
      sc_core::wait(due - now, hw->exit_event());
    }
    hw->wait_exit();
    const KvmRunState& st = kv->run_state();
    if (st.reason == ExitReason::MemoryFault && handles(st.reason)) {
      err = convert_memory(*v, st.gpa, st.size, st.flags & KvmRunState::kMemoryExitFlagPrivate);
      if (err) break;
      ++rec.handled_by_vmm[exit_name(st.reason)];
      continue;
    }
    if (st.reason == ExitReason::Hypercall && st.nr == KvmRunState::kHcMapGpaRange &&
        handles(st.reason)) {
      int e = convert_memory(*v, st.args[0], st.args[1] << kPageShift,
                             st.args[2] & KvmRunState::kMapGpaRangeEncrypted);
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
  if (st.has_syndrome) {
    r["syndrome"] = RValue::integer(st.syndrome);
    if (p_.architecture().has_hpfar()) r["hpfar"] = RValue::integer(st.hpfar);
  }
  switch (st.reason) {
    case ExitReason::MemoryFault:
      r["gpa"] = RValue::integer(st.gpa);
      r["size"] = RValue::integer(st.size);
      r["flags"] = RValue::flags(st.flags, &kMemoryExitFlags);
      break;
    case ExitReason::Hypercall:
      r["nr"] = RValue::integer(st.nr);
      r["args"] = RValue::ints({st.args.begin(), st.args.end()});
      break;
    case ExitReason::Mmio:
      r["gpa"] = RValue::integer(st.gpa);
      r["size"] = RValue::integer(st.size);
      r["is_write"] = RValue::boolean(st.is_write);
      break;
    case ExitReason::UcallSync: r["tag"] = RValue::str(st.tag); break;
    case ExitReason::UcallAbort: r["message"] = RValue::str(st.message); break;
    default:
      if (!st.message.empty()) r["message"] = RValue::str(st.message);
      break;
  }
  return r;
}

}  // namespace cocosim
