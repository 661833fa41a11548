#include "runner.h"

#include "common/hex.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "common/errno_names.h"
#include "scenario/int_expr.h"
#include "scenario/schema.h"
#include "scripted_executor.h"

namespace cocosim {

namespace {

const Vocab kMemoryExitFlags = {{"PRIVATE", KvmRunState::kMemoryExitFlagPrivate}};

Result errno_result(int err) { return {{"errno", RValue::err(err)}}; }


}  // namespace

Runner::Runner(sc_core::sc_module_name name, const Scenario& sc, Platform& p, std::ostream& out,
               bool verbose)
    : sc_module(name), sc_(sc), p_(p), out_(out), verbose_(verbose), checker_(p) {
  procs_["vmm"] = p_.mm.create_process("vmm");
  SC_HAS_PROCESS(Runner);
  SC_THREAD(thread);
  // SystemC's default thread stack (64 KiB) is too small for page-table walks
  // with page-sized buffers, and for sanitizer builds.
  set_stack_size(size_t{1} << 20);
}

Runner::~Runner() {
  // Pins and fds hold files; files hold VMs. The platform tears down the rest.
  pins_.clear();
  gmems_.clear();
}

Vm* Runner::vm(const std::string& name) {
  auto it = vms_.find(name);
  return it == vms_.end() ? nullptr : it->second;
}

std::shared_ptr<GuestMemfd> Runner::gmem(const std::string& name) {
  auto it = gmems_.find(name);
  return it == gmems_.end() ? nullptr : it->second;
}

int Runner::pid(const Args& a) {
  auto it = procs_.find(a.str("process", "vmm"));
  return it == procs_.end() ? -1 : it->second;
}

Vma* Runner::vma(int pid, const std::string& map) { return p_.mm.find_vma(pid, map); }

void Runner::thread() {
  for (const Step& s : sc_.steps) run_step(s);
  if (check_mode_ == CheckMode::End && !sc_.steps.empty()) {
    check_mode_ = CheckMode::Step;
    check_invariants(sc_.steps.back());
  }
  summary_.finished = true;
  sc_core::sc_stop();
}

void Runner::run_step(const Step& s) {
  const auto t0 = std::chrono::steady_clock::now();
  const sc_core::sc_time sim0 = sc_core::sc_time_stamp();
  Result r = execute(s);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  summary_.op_wall_s[s.op] += wall;
  summary_.step_wall_s.push_back(wall);
  ++summary_.steps;
  ++summary_.ops[s.op];
  sc_core::wait(p_.take_control_delay());
  summary_.op_sim_ns[s.op] += (sc_core::sc_time_stamp() - sim0).to_seconds() * 1e9;
  report(s, r);
  if (check_mode_ == CheckMode::Step) check_invariants(s);
}

void Runner::check_invariants(const Step& s) {
  for (const Violation& v : checker_.check()) {
    const std::string key = v.rule + v.detail;
    if (!reported_violations_.insert(key).second) continue;
    ++summary_.violations;
    out_ << sc_.file << ":" << s.loc.line << ":" << s.loc.col << ": invariant violated after step "
         << s.label() << " (" << s.op << "): " << v.rule << ": " << v.detail << "\n";
  }
}

void Runner::report(const Step& s, const Result& r) {
  std::vector<CheckOutcome> checks;
  if (s.expect.present) {
    if (!s.expect.any) checks = check_expect(s.expect, r);
  } else {
    // Without expect: the step must succeed.
    for (const char* f : {"errno", "signal", "fault", "exit"}) {
      auto it = r.find(f);
      if (it == r.end()) continue;
      const RValue& v = it->second;
      bool ok = true;
      std::string want;
      if (v.kind == RValue::Kind::Errno) ok = v.i == 0, want = "0";
      else if (v.kind == RValue::Kind::Signal) ok = v.i == 0, want = "none";
      else if (std::string(f) == "fault") ok = v.s == "none", want = "none";
      else if (std::string(f) == "exit")
        ok = v.s != "UCALL_ABORT" && v.s != "KVM_EXIT_INTERNAL_ERROR", want = "no abort";
      checks.push_back({ok, f, want, v.show(), false});
    }
    if (checks.empty()) checks.push_back({true, "(done)", "", "", false});
  }
  bool step_ok = true;
  for (const CheckOutcome& c : checks) {
    if (c.ok) {
      ++summary_.passed;
      continue;
    }
    ++summary_.failed;
    step_ok = false;
    out_ << sc_.file << ":" << s.loc.line << ":" << s.loc.col << ": step " << s.label() << " ("
         << s.op << ") failed: expected " << (c.negate ? "not " : "") << c.field << " = "
         << c.expected << ", got " << c.actual;
    if (r.size() > 1 || !r.count(c.field)) out_ << " [" << show_result(r) << "]";
    auto msg = r.find("message");
    if (msg != r.end() && c.field != "message") out_ << "\n    guest: " << msg->second.s;
    out_ << "\n";
  }
  if (verbose_) {
    out_ << "  [" << s.label() << "] " << sc_core::sc_time_stamp().to_string() << "  " << s.op
         << (step_ok ? "  ok" : "  FAILED");
    if (!r.empty()) out_ << "  " << show_result(r);
    if (s.expect.any) out_ << "  (expect: any)";
    if (!s.note.empty()) out_ << "  # " << s.note;
    out_ << "\n";
  }
}

Result Runner::execute(const Step& s) {
  try {
    return dispatch(s);
  } catch (const std::bad_alloc&) {
    // The platform's DRAM is used up: the call fails as the kernel's would.
    Result r;
    if (s.op == "load" || s.op == "store" || s.op == "memset") r["signal"] = RValue::sig(SIGBUS);
    else r["errno"] = RValue::err(s.op == "fallocate" ? ENOSPC : ENOMEM);
    r["message"] = RValue::str("out of simulated DRAM (platform.dram)");
    return r;
  }
}

Result Runner::dispatch(const Step& s) {
  const std::string& op = s.op;
  if (op == "KVM_CREATE_VM" || op == "KVM_CREATE_VCPU" || op == "KVM_CREATE_GUEST_MEMFD" ||
      op == "KVM_SET_USER_MEMORY_REGION" || op == "KVM_SET_USER_MEMORY_REGION2" ||
      op == "KVM_SET_MEMORY_ATTRIBUTES" || op == "KVM_SET_MEMORY_ATTRIBUTES2") {
    p_.charge_ns(p_.config().timing.ioctl_ns);
    return vm_ops(s);
  }
  if (op == "KVM_RUN") return kvm_run(s);
  if (op == "mmap" || op == "munmap" || op == "read" || op == "write" || op == "fallocate" ||
      op == "ftruncate" || op == "fstat" || op == "close" || op == "fork" || op == "pin" ||
      op == "unpin") {
    p_.charge_ns(p_.config().timing.ioctl_ns);
    return file_ops(s);
  }
  if (op == "load" || op == "store" || op == "memset") return memory_ops(s);
  if (op == "inspect") return inspect(s);
  if (op == "host_kernel" || op == "dram_read") return frame_ops(s);
  // The validator refuses everything else before the run starts.
  return {{"errno", RValue::err(ENOSYS)}};
}

Result Runner::vm_ops(const Step& s) {
  const Args& a = s.args;
  const std::string& op = s.op;
  if (op == "KVM_CREATE_VM") {
    Vm* v = nullptr;
    int err = p_.kvm.create_vm(a.str("name"), *vm_type_from_name(a.str("type", "default")), &v);
    if (!err) {
      vms_[a.str("name")] = v;
      vcpu_vms_.erase(a.str("name"));  // the name now means the new VM
    }
    return errno_result(err);
  }
  Vm* v = nullptr;
  if (op != "KVM_SET_MEMORY_ATTRIBUTES2") {
    v = vm(a.str("vm"));
    if (!v) return errno_result(EBADF);
  }
  if (op == "KVM_CREATE_VCPU") {
    const auto& prog = sc_.programs.at(a.str("program"));
    int err = 0;
    p_.create_vcpu(*v, int(a.u64("id")), std::make_unique<ScriptedExecutor>(prog, a.str("program")),
                   &err);
    if (!err) vcpu_vms_[a.str("vm")] = v;
    return errno_result(err);
  }
  if (op == "KVM_CREATE_GUEST_MEMFD") {
    std::shared_ptr<GuestMemfd> f;
    int err = p_.kvm.create_guest_memfd(*v, a.str("name"), a.u64("size"),
                                        a.flags("flags", vocab::kGmemFlags), &f);
    if (!err) gmems_[a.str("name")] = f;
    return errno_result(err);
  }
  if (op == "KVM_SET_USER_MEMORY_REGION" || op == "KVM_SET_USER_MEMORY_REGION2") {
    MemoryRegion r;
    r.slot = int(a.u64("slot"));
    r.flags = uint32_t(a.flags("flags", vocab::kMemslotFlags));
    r.guest_phys_addr = a.u64("guest_phys_addr");
    r.memory_size = a.u64("memory_size");
    if (a.has("userspace_addr")) {
      Vma* m = vma(procs_["vmm"], a.str("userspace_addr"));
      if (!m) return errno_result(EFAULT);  // the address is not mapped any more
      r.userspace_pid = m->pid;
      r.userspace_addr = m->start;
    }
    if (a.has("guest_memfd")) {
      const std::string n = a.str("guest_memfd");
      if (auto f = gmem(n)) {
        r.guest_memfd_given = true;
        r.guest_memfd = f.get();
      } else if (vm(n)) {
        r.guest_memfd_given = true;  // an fd, but not a guest_memfd
      } else {
        return errno_result(EBADF);
      }
    }
    r.guest_memfd_offset = a.u64("guest_memfd_offset");
    return errno_result(v->set_user_memory_region(r, op == "KVM_SET_USER_MEMORY_REGION2"));
  }
  if (op == "KVM_SET_MEMORY_ATTRIBUTES")
    return errno_result(v->set_memory_attributes(a.u64("address"), a.u64("size"),
                                                 a.flags("attributes", vocab::kAttributes),
                                                 a.u64("flags")));
  // KVM_SET_MEMORY_ATTRIBUTES2 is an ioctl on the guest_memfd.
  const std::string fd = a.str("fd");
  auto f = gmem(fd);
  if (!f) return errno_result(vm(fd) ? ENOTTY : EBADF);
  uint64_t error_offset = 0;
  int err = f->set_attributes(a.u64("offset"), a.u64("size"), a.flags("attributes", vocab::kAttributes),
                              a.flags("flags", vocab::kContentModes), &error_offset);
  Result r = errno_result(err);
  r["error_offset"] = RValue::integer(error_offset);
  return r;
}

Result Runner::file_ops(const Step& s) {
  const Args& a = s.args;
  const std::string& op = s.op;
  const int vmm = procs_["vmm"];
  if (op == "fork") {
    int child = 0;
    int err = p_.mm.fork(vmm, a.str("name"), &child);
    if (!err) procs_[a.str("name")] = child;
    return errno_result(err);
  }
  if (op == "munmap") {
    Vma* m = vma(vmm, a.str("map"));
    if (!m) return errno_result(EINVAL);
    return errno_result(p_.host_mmu.munmap(m));
  }
  if (op == "pin" || op == "unpin") {
    Vma* m = vma(vmm, a.str("map"));
    if (!m) return errno_result(EFAULT);
    const uint64_t off = page_floor(a.u64("offset"));
    const uint64_t len = std::max<uint64_t>(kPageSize, a.u64("length", kPageSize));
    for (uint64_t o = off; o < off + len; o += kPageSize) {
      const auto key = std::make_pair(a.str("map"), o);
      if (op == "unpin") {
        auto it = pins_.find(key);
        if (it == pins_.end()) return errno_result(EINVAL);
        if (it->second.file) it->second.file->unpin(it->second.pfn);
        pins_.erase(it);
        continue;
      }
      if (o >= m->length) return errno_result(EFAULT);
      if (m->kind == VmaKind::Gmem) {
        uint64_t pfn = 0;
        if (int err = m->gmem->pin(m->pgoff + (o >> kPageShift), &pfn)) return errno_result(err);
        pins_.insert({key, {m->gmem, pfn}});
      } else {
        auto pfn = p_.mm.anon_fault(*m, o >> kPageShift);
        if (!pfn) return errno_result(ENOMEM);
        pins_.insert({key, {nullptr, *pfn}});
      }
    }
    return errno_result(0);
  }
  if (op == "mmap") {
    const uint64_t fl = a.has("flags") ? a.flags("flags", vocab::kMmapFlags) : 0x01;
    const bool shared = fl & 0x01, priv = fl & 0x02;
    if (shared == priv) return errno_result(EINVAL);  // exactly one of MAP_SHARED, MAP_PRIVATE
    Vma* out = nullptr;
    int err;
    if (a.boolean("anonymous")) {
      err = p_.mm.mmap_anon(vmm, a.str("name"), a.u64("length"), shared, &out);
    } else if (auto f = gmem(a.str("fd"))) {
      err = p_.mm.mmap_gmem(vmm, a.str("name"), f, a.u64("offset"), a.u64("length"), shared, &out);
    } else {
      err = vm(a.str("fd")) ? ENODEV : EBADF;  // a VM fd has no mmap
    }
    return errno_result(err);
  }
  // File operations on an fd.
  const std::string name = a.str(op == "close" && a.has("vm") ? "vm" : "fd");
  auto f = gmem(name);
  Vm* v = f ? nullptr : vm(name);
  if (!f && !v) return errno_result(EBADF);
  if (op == "close") {
    if (f) gmems_.erase(name);
    else {
      vms_.erase(name);
      p_.kvm.close_vm(v);
    }
    return errno_result(0);
  }
  if (op == "read" || op == "write") return errno_result(EINVAL);  // no read/write file operations
  if (op == "ftruncate") return errno_result(EINVAL);
  if (op == "fallocate") {
    if (!f) return errno_result(EOPNOTSUPP);  // no fallocate on a VM fd
    return errno_result(f->fallocate(int(a.flags("mode", vocab::kFallocModes)),
                                     int64_t(a.u64("offset")), int64_t(a.u64("len"))));
  }
  // fstat
  Result r = errno_result(0);
  r["st_size"] = RValue::integer(f ? f->size() : 0);
  r["st_blksize"] = RValue::integer(kPageSize);
  return r;
}

Result Runner::memory_ops(const Step& s) {
  const Args& a = s.args;
  const int p = pid(a);
  Vma* m = p < 0 ? nullptr : vma(p, a.str("map"));
  Result r;
  size_t len;
  std::vector<uint8_t> buf;
  const bool write = s.op != "load";
  if (s.op == "load") {
    len = a.has("length") ? a.u64("length") : a.u64("size", 8);
    buf.assign(len, 0);
  } else if (s.op == "memset") {
    len = a.u64("length");  // written from one page-sized pattern below
    buf.assign(std::min<size_t>(len, kPageSize), uint8_t(a.u64("byte")));
  } else if (a.has("data")) {
    const std::string d = a.str("data");
    buf.assign(d.begin(), d.end());
    len = buf.size();
  } else {
    len = a.u64("size", 8);
    uint64_t v = a.u64("value");
    buf.assign(len, 0);
    std::memcpy(buf.data(), &v, std::min<size_t>(len, 8));
  }
  int sig = SIGSEGV;  // the mapping does not exist in this process
  if (m) {
    sc_core::sc_time delay;
    const Addr va = m->start + a.u64("offset");
    if (s.op == "memset") {
      // Page by page, stopping at the first page that faults, as the CPU would.
      sig = 0;
      for (uint64_t done = 0; done < len && !sig;) {
        const size_t n = std::min<uint64_t>(len - done, kPageSize - ((va + done) & kPageMask));
        sig = p_.host_cpu.user_access(p, va + done, buf.data(), n, true, delay);
        done += n;
      }
    } else {
      sig = p_.host_cpu.user_access(p, va, buf.data(), len, write, delay);
    }
    p_.charge_ns(delay.to_seconds() * 1e9);
  }
  r["signal"] = RValue::sig(sig);
  if (s.op == "load" && sig == 0) {
    uint64_t v = 0;
    std::memcpy(&v, buf.data(), std::min<size_t>(len, 8));
    if (!a.has("length")) r["value"] = RValue::integer(v);
    r["bytes"] = RValue::bytes(buf.data(), len);
    if (len && std::all_of(buf.begin(), buf.end(), [&](uint8_t b) { return b == buf[0]; }))
      r["all"] = RValue::integer(buf[0]);
  }
  return r;
}

int Runner::convert_memory(Vm& v, Addr gpa, uint64_t size, bool to_private) {
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

Result Runner::kvm_run(const Step& s) {
  const Args& a = s.args;
  // KVM_RUN is an ioctl on the vCPU's fd, which stays usable after the VM's fd is closed.
  auto vit = vcpu_vms_.find(a.str("vm"));
  Vm* v = vit == vcpu_vms_.end() ? nullptr : vit->second;
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
    for (const Step& d : s.during) run_step(d);
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
      continue;
    }
    if (st.reason == ExitReason::Hypercall && st.nr == KvmRunState::kHcMapGpaRange &&
        handles(st.reason)) {
      int e = convert_memory(*v, st.args[0], st.args[1] << kPageShift,
                             st.args[2] & KvmRunState::kMapGpaRangeEncrypted);
      ret = e ? uint64_t(-int64_t(EINVAL)) : 0;  // QEMU answers a failed conversion with -EINVAL
      continue;
    }
    break;
  }
  if (!during_done) {
    out_ << sc_.file << ":" << s.loc.line << ":" << s.loc.col << ": note: step " << s.label()
         << ": the vCPU left before its 'during' steps were due; they ran after it\n";
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

std::optional<uint64_t> Runner::frame(const Args& a, bool allocate) {
  if (a.has("hpa")) return pfn_of(a.u64("hpa"));
  if (a.has("pfn")) return a.u64("pfn");
  const uint64_t off = a.u64("offset");
  if (a.has("fd")) {
    auto f = gmem(a.str("fd"));
    if (!f || off >= f->size()) return std::nullopt;
    if (allocate) {
      auto r = f->get_pfn(off >> kPageShift);
      return r.err ? std::nullopt : std::optional<uint64_t>(r.pfn);
    }
    return f->pfn(off >> kPageShift);
  }
  Vma* m = vma(procs_["vmm"], a.str("map"));
  if (!m || off >= m->length) return std::nullopt;
  if (m->kind == VmaKind::Anon) {
    if (allocate) return p_.mm.anon_fault(*m, off >> kPageShift);  // nullopt: no memory
    auto it = m->anon->pages.find(off >> kPageShift);
    return it == m->anon->pages.end() ? std::nullopt : std::optional<uint64_t>(it->second);
  }
  const uint64_t index = m->pgoff + (off >> kPageShift);
  if (index >= m->gmem->pages()) return std::nullopt;
  if (allocate) {
    auto r = m->gmem->get_pfn(index);
    return r.err ? std::nullopt : std::optional<uint64_t>(r.pfn);
  }
  return m->gmem->pfn(index);
}

Result Runner::frame_ops(const Step& s) {
  const Args& a = s.args;
  auto pfn = frame(a, /*allocate=*/true);
  Result r;
  if (!pfn) {
    r["fault"] = RValue::str("no_frame");
    return r;
  }
  const Addr in_page = a.has("hpa") ? (a.u64("hpa") & kPageMask) : (a.u64("offset") & kPageMask);
  const Addr pa = (*pfn << kPageShift) | in_page;
  if (s.op == "dram_read") {
    std::vector<uint8_t> buf(a.u64("length", 8), 0);
    p_.kernel_port.debug_read(pa, buf.data(), buf.size());
    r["bytes"] = RValue::bytes(buf.data(), buf.size());
    if (!buf.empty() && std::all_of(buf.begin(), buf.end(), [&](uint8_t b) { return b == buf[0]; }))
      r["all"] = RValue::integer(buf[0]);
    return r;
  }
  const size_t size = a.u64("size", 8);
  uint64_t v = a.u64("value");
  if (a.str("op") == "store") p_.kernel_port.write(pa, &v, size);
  else {
    v = 0;
    p_.kernel_port.read(pa, &v, size);
    r["value"] = RValue::integer(v);
  }
  r["fault"] = RValue::str(p_.kernel_port.last_ok() ? "none" : "data_abort");
  return r;
}

Result Runner::inspect(const Step& s) {
  const Args& a = s.args;
  Result r;
  auto frame_fields = [&](std::optional<uint64_t> pfn) {
    if (!pfn) {
      r["hpa"] = RValue::str("none");
      r["owner"] = RValue::str("none");
      r["host_mapped"] = RValue::boolean(false);
      return;
    }
    r["hpa"] = RValue::integer(*pfn << kPageShift);
    r["host_mapped"] = RValue::boolean(p_.host_mapped(*pfn));
    const FrameUse* u = p_.frames.use(*pfn);
    std::string owner = "none";
    if (u) {
      if (u->kind == FrameKind::Gmem && u->gmem && u->gmem->is_private(u->index)) owner = u->gmem->vm().name;
      else if (u->kind == FrameKind::PageTable) owner = "hyp";
      else owner = "host";
      if (u->kind == FrameKind::Gmem && u->gmem) {
        r["refcount"] = RValue::integer(u->gmem->refcount(u->index));
        r["gmem"] = RValue::str(u->gmem->is_private(u->index) ? "private" : "shared");
      }
    }
    r["owner"] = RValue::str(owner);
  };
  if (a.has("vm")) {
    Vm* v = vm(a.str("vm"));
    if (!v) return errno_result(EBADF);
    if (!a.has("gpa")) {
      r["vm_state"] = RValue::str(v->fd_open() ? "running" : "closed");
      return r;
    }
    const uint64_t gfn = a.u64("gpa") >> kPageShift;
    r["attribute"] = RValue::str(v->is_private(gfn) ? "private" : "shared");
    Memslot* slot = v->slot_for_gfn(gfn);
    r["slot"] = slot ? RValue::integer(uint64_t(slot->id())) : RValue::str("none");
    std::optional<uint64_t> pfn;
    // What the stage-2 maps now, else the frame that would back the GPA.
    KvmMmu* m = p_.mmu(v->id());
    auto leaf = m ? m->stage2().lookup(a.u64("gpa")) : std::nullopt;
    r["stage2"] = RValue::str(leaf ? "mapped" : "none");
    if (leaf) r["stage2_size"] = RValue::integer(leaf->size);
    if (leaf) {
      pfn = (leaf->pa + (page_floor(a.u64("gpa")) - leaf->gpa)) >> kPageShift;
    } else if (slot && slot->gmem() && (v->is_private(gfn) || slot->gmem()->mmap_allowed())) {
      pfn = slot->gmem()->pfn(slot->gmem_index(gfn));
    } else if (Vma* m = slot && slot->has_userspace()
                            ? p_.mm.find_vma(slot->userspace_pid(), slot->hva_of(gfn))
                            : nullptr) {
      // What the slot's host address holds now (without faulting anything in).
      const uint64_t page = (slot->hva_of(gfn) - m->start) >> kPageShift;
      if (m->kind == VmaKind::Anon) {
        auto it = m->anon->pages.find(page);
        if (it != m->anon->pages.end()) pfn = it->second;
      } else {
        pfn = m->gmem->pfn(m->pgoff + page);
      }
    }
    frame_fields(pfn);
    if (slot && slot->gmem()) {
      GuestMemfd* f = slot->gmem();
      const uint64_t idx = slot->gmem_index(gfn);
      r["gmem"] = RValue::str(!f->allocated(idx) ? "unallocated" : f->is_private(idx) ? "private" : "shared");
      r["refcount"] = RValue::integer(f->refcount(idx));
    }
    return r;
  }
  if (a.has("fd")) {
    auto f = gmem(a.str("fd"));
    if (!f) return errno_result(EBADF);
    const uint64_t idx = a.u64("offset") >> kPageShift;
    frame_fields(f->pfn(idx));
    r["gmem"] = RValue::str(!f->allocated(idx) ? "unallocated" : f->is_private(idx) ? "private" : "shared");
    r["attribute"] = RValue::str(f->is_private(idx) ? "private" : "shared");
    r["refcount"] = RValue::integer(f->refcount(idx));
    return r;
  }
  auto pfn = frame(a, false);
  if (pfn && !p_.frames.use(*pfn)) {
    frame_fields(pfn);
    r["owner"] = RValue::str("none");
    return r;
  }
  frame_fields(pfn);
  return r;
}

}  // namespace cocosim
