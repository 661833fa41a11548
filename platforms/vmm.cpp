#include "cpu/isa_executor.h"
#include "vmm.h"
#include "report.h"

#include "common/hex.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include "inspection.h"
#include "scenario/schema.h"
#include "scripted_executor.h"

namespace cocosim {

Result errno_result(int err) { return {{"errno", RValue::err(err)}}; }

Vm* VmmNames::vm(const std::string& name) const {
  auto it = vms.find(name);
  return it == vms.end() ? nullptr : it->second;
}

std::shared_ptr<GuestMemfd> VmmNames::gmem(const std::string& name) const {
  auto it = gmems.find(name);
  return it == gmems.end() ? nullptr : it->second;
}

int VmmNames::pid(const Args& a) const {
  auto it = procs.find(a.str("process", "vmm"));
  return it == procs.end() ? -1 : it->second;
}

int VmmNames::vmm_pid() const { return procs.at("vmm"); }

Vmm::Vmm(const Scenario& sc, Platform& p, Report& report, std::function<void(const Step&)> run_step,
         std::function<void(const Step&)> poll)
    : sc_(sc), p_(p), report_(report), run_step_(std::move(run_step)), poll_(std::move(poll)) {
  names_.procs["vmm"] = p_.mm.create_process("vmm");
}

Vmm::~Vmm() {
  // Pins and fds hold files; files hold VMs. The platform tears down the rest.
  for (const auto& [key, pin] : names_.pins) p_.frames.unpin(pin.pfn);
  names_.pins.clear();
  names_.gmems.clear();
}

Result Vmm::create_vm(const Step& s) {
  const Args& a = s.args;
  Vm* v = nullptr;
  const VmType type = *vm_type_from_name(a.str("type", "default"));
  int err = p_.kvm.create_vm(a.str("name"), type, &v);
  if (!err) {
    names_.vms[a.str("name")] = v;
    names_.vcpu_vms.erase(a.str("name"));  // the name now means the new VM
  }
  Result r = errno_result(err);
  if (err == EINVAL && type == VmType::Tdx && !p_.tdx_capable())
    r["reason"] = RValue::str("TDX is not enabled: with platform.encryption off there is no "
                              "memory encryption engine and no TDX KeyID");
  return r;
}

Result Vmm::create_vcpu(const Step& s) {
  const Args& a = s.args;
  Vm* v = names_.vm(a.str("vm"));
  if (!v) return errno_result(EBADF);
  int err = 0;
  std::string why;
  // On a TD, KVM_TDX_INIT_VCPU follows at once unless the scenario does it itself.
  const bool init_td_vcpu = !scenario_inits_vcpu(a.str("vm"), a.u64("id"));
  std::unique_ptr<Executor> exec;
  ScriptedExecutor* guest = nullptr;  // a scripted guest (the vCPU owns it from here on)
  IsaExecutor* isa = nullptr;         // or real guest code
  auto elf = sc_.elf_programs.find(a.str("program"));
  if (elf != sc_.elf_programs.end()) {
    const PlatformConfig& cfg = p_.config();
    IsaOptions o;
    o.insn_ns = cfg.timing.insn_ns;
    o.quantum_ns = double(cfg.quantum_ns);
    o.ucall_mmio_gpa = elf->second.ucall_mmio;
    o.td = v->type() == VmType::Tdx;
    auto real = std::make_unique<IsaExecutor>(cfg.arch == Arch::X86Tdx ? IsaArch::X86_64 : IsaArch::Arm64,
                                              elf->second.entry_addr, 0, o);
    isa = real.get();
    exec = std::move(real);
  } else {
    auto scripted = std::make_unique<ScriptedExecutor>(sc_.programs.at(a.str("program")), a.str("program"));
    if (auto bit = p_.architecture().shared_bit()) scripted->set_shared_bit(uint64_t{1} << *bit);
    guest = scripted.get();
    exec = std::move(scripted);
  }
  KvmVcpu* kv = p_.create_vcpu(*v, int(a.u64("id")), std::move(exec), &err, init_td_vcpu, &why);
  if (!err && kv && report_.verbose()) watch_exits(*kv, a.str("vm"), v->id(), int(a.u64("id")));
  if (!err) {
    names_.vcpu_vms[a.str("vm")] = v;
    Vcpu* m = p_.vcpu_module(v->id(), int(a.u64("id")));
    if (m && isa)
      isa->observe(m->name(), &p_.stats().counter(std::string(m->name()) + ".instructions", "count",
                                                  "guest instructions executed (real guest code)"));
    if (m && guest) {
      const std::string scope = m->name();
      guest->observe(scope, &p_.stats().counter(scope + ".guest_ops", "count",
                                                "guest program ops completed"));
    }
  }
  if (!err && guest && op_observer_) {
    guest->set_observer(op_observer_);
    op_observer_->vcpu_created(*guest, v->id(), int(a.u64("id")));
  }
  if (!err && isa && op_observer_) op_observer_->isa_vcpu_created(*isa, v->id(), int(a.u64("id")), a.str("program"));
  Result r = errno_result(err);
  if (err && !why.empty()) r["message"] = RValue::str(why);
  return r;
}

void Vmm::watch_exits(KvmVcpu& kv, const std::string& vm_name, int vm, int id) {
  kv.set_exit_observer([this, vm_name, vm, id](const char* why, bool to_vmm) {
    std::string at;
    if (Vcpu* m = p_.vcpu_module(vm, id)) {
      if (const auto* isa = dynamic_cast<const IsaExecutor*>(m->executor()))
        at = std::string(isa->arch() == IsaArch::X86_64 ? " at rip " : " at pc ") + hex(isa->guest_pc_now());
      else if (const auto* g = dynamic_cast<const ScriptedExecutor*>(m->executor()))
        at = " at op " + std::to_string(g->pc());
    }
    report_.event(vm_name + " vcpu" + std::to_string(id) + ": exit " + why +
                  (to_vmm ? " to the VMM" : " handled in KVM") + at);
  });
}

bool Vmm::scenario_inits_vcpu(const std::string& vm, uint64_t id) const {
  for (const Step& s : sc_.steps) {
    if (s.op == "KVM_TDX_INIT_VCPU" && s.args.str("vm") == vm && s.args.u64("vcpu") == id) return true;
    for (const Step& d : s.during)
      if (d.op == "KVM_TDX_INIT_VCPU" && d.args.str("vm") == vm && d.args.u64("vcpu") == id) return true;
  }
  return false;
}

Result Vmm::create_guest_memfd(const Step& s) {
  const Args& a = s.args;
  Vm* v = names_.vm(a.str("vm"));
  if (!v) return errno_result(EBADF);
  std::shared_ptr<GuestMemfd> f;
  int err = p_.kvm.create_guest_memfd(*v, a.str("name"), a.u64("size"),
                                      a.flags("flags", vocab::kGmemFlags), &f);
  if (!err) names_.gmems[a.str("name")] = f;
  return errno_result(err);
}

Result Vmm::set_user_memory_region(const Step& s, bool v2) {
  const Args& a = s.args;
  Vm* v = names_.vm(a.str("vm"));
  if (!v) return errno_result(EBADF);
  MemoryRegion r;
  r.slot = int(a.u64("slot"));
  r.flags = uint32_t(a.flags("flags", vocab::kMemslotFlags));
  r.guest_phys_addr = a.u64("guest_phys_addr");
  r.memory_size = a.u64("memory_size");
  if (a.has("userspace_addr")) {
    Vma* m = vma(names_.vmm_pid(), a.str("userspace_addr"));
    if (!m) return errno_result(EFAULT);  // the address is not mapped any more
    r.userspace_pid = m->pid;
    r.userspace_addr = m->start;
  }
  if (a.has("guest_memfd")) {
    const std::string n = a.str("guest_memfd");
    if (auto f = names_.gmem(n)) {
      r.guest_memfd_given = true;
      r.guest_memfd = f.get();
    } else if (names_.vm(n)) {
      r.guest_memfd_given = true;  // an fd, but not a guest_memfd
    } else {
      return errno_result(EBADF);
    }
  }
  r.guest_memfd_offset = a.u64("guest_memfd_offset");
  return errno_result(v->set_user_memory_region(r, v2));
}

Result Vmm::enable_cap(const Step& s) {
  const Args& a = s.args;
  Vm* v = names_.vm(a.str("vm"));
  if (!v) return errno_result(EBADF);
  // kvm_vm_ioctl_enable_cap: flags must be 0; KVM_CAP_ARM_NISV_TO_USER is
  // arm64's (x86's KVM does not know it: EINVAL).
  if (a.u64("flags") || v->arch().id() != Arch::Arm64Pkvm) return errno_result(EINVAL);
  if (a.str("cap") == "KVM_CAP_ARM_NISV_TO_USER") v->enable_nisv_to_user();
  return errno_result(0);
}

Result Vmm::set_memory_attributes(const Step& s) {
  const Args& a = s.args;
  Vm* v = names_.vm(a.str("vm"));
  if (!v) return errno_result(EBADF);
  return errno_result(v->set_memory_attributes(a.u64("address"), a.u64("size"),
                                               a.flags("attributes", vocab::kAttributes),
                                               a.u64("flags")));
}

Result Vmm::set_memory_attributes2(const Step& s) {
  // KVM_SET_MEMORY_ATTRIBUTES2 is an ioctl on the guest_memfd.
  const Args& a = s.args;
  const std::string fd = a.str("fd");
  auto f = names_.gmem(fd);
  if (!f) return errno_result(names_.vm(fd) ? ENOTTY : EBADF);
  uint64_t error_offset = 0;
  int err = f->set_attributes(a.u64("offset"), a.u64("size"), a.flags("attributes", vocab::kAttributes),
                              a.flags("flags", vocab::kContentModes), &error_offset);
  Result r = errno_result(err);
  r["error_offset"] = RValue::integer(error_offset);
  return r;
}

Result Vmm::fork(const Step& s) {
  int child = 0;
  int err = p_.mm.fork(names_.vmm_pid(), s.args.str("name"), &child);
  if (!err) names_.procs[s.args.str("name")] = child;
  return errno_result(err);
}

Result Vmm::munmap(const Step& s) {
  Vma* m = vma(names_.vmm_pid(), s.args.str("map"));
  if (!m) return errno_result(EINVAL);
  return errno_result(p_.host_mmu.munmap(m));
}

Result Vmm::pin(const Step& s, bool pin) {
  const Args& a = s.args;
  Vma* m = vma(names_.vmm_pid(), a.str("map"));
  if (!m) return errno_result(EFAULT);
  const uint64_t off = page_floor(a.u64("offset"));
  const uint64_t len = std::max<uint64_t>(kPageSize, a.u64("length", kPageSize));
  // A range that wraps around the address space is a bad address (GUP's EFAULT).
  if (off + len < off) return errno_result(EFAULT);
  for (uint64_t o = off; o < off + len; o += kPageSize) {
    const auto key = std::make_pair(a.str("map"), o);
    if (!pin) {
      auto it = names_.pins.find(key);
      if (it == names_.pins.end()) return errno_result(EINVAL);
      if (it->second.file) it->second.file->unpin(it->second.pfn);
      p_.frames.unpin(it->second.pfn);  // the last pin of a frame its user dropped frees it
      names_.pins.erase(it);
      continue;
    }
    if (o >= m->length) return errno_result(EFAULT);
    if (m->kind == VmaKind::Gmem) {
      uint64_t pfn = 0;
      if (int err = m->gmem->pin(m->pgoff + (o >> kPageShift), &pfn)) return errno_result(err);
      p_.frames.pin(pfn);
      names_.pins.insert({key, {m->gmem, pfn}});
    } else {
      auto pfn = p_.mm.anon_fault(*m, o >> kPageShift);
      if (!pfn) return errno_result(ENOMEM);
      p_.frames.pin(*pfn);
      names_.pins.insert({key, {nullptr, *pfn}});
    }
  }
  return errno_result(0);
}

Result Vmm::mmap(const Step& s) {
  const Args& a = s.args;
  const uint64_t fl = a.has("flags") ? a.flags("flags", vocab::kMmapFlags) : 0x01;
  const bool shared = fl & 0x01, priv = fl & 0x02;
  if (shared == priv) return errno_result(EINVAL);  // exactly one of MAP_SHARED, MAP_PRIVATE
  Vma* out = nullptr;
  int err;
  const int vmm = names_.vmm_pid();
  if (a.boolean("anonymous")) {
    err = p_.mm.mmap_anon(vmm, a.str("name"), a.u64("length"), shared, &out);
  } else if (auto f = names_.gmem(a.str("fd"))) {
    err = p_.mm.mmap_gmem(vmm, a.str("name"), f, a.u64("offset"), a.u64("length"), shared, &out);
  } else {
    err = names_.vm(a.str("fd")) ? ENODEV : EBADF;  // a VM fd has no mmap
  }
  return errno_result(err);
}

Result Vmm::close(const Step& s) {
  const Args& a = s.args;
  if (a.has("vcpu")) {
    // A vCPU's fd (it stays usable after the VM's fd is closed).
    auto vit = names_.vcpu_vms.find(a.str("vm"));
    if (vit == names_.vcpu_vms.end()) return errno_result(EBADF);
    Vm* v = vit->second;
    const int vm_id = v->id();
    if (int err = p_.close_vcpu(*v, int(a.u64("vcpu")))) return errno_result(err);
    if (p_.vcpu_count(vm_id) == 0) names_.vcpu_vms.erase(vit);  // the VM may be gone
    return errno_result(0);
  }
  const std::string name = a.str(a.has("vm") ? "vm" : "fd");
  if (names_.gmem(name)) {
    names_.gmems.erase(name);
    return errno_result(0);
  }
  Vm* v = names_.vm(name);
  if (!v) return errno_result(EBADF);
  names_.vms.erase(name);
  p_.kvm.close_vm(v);
  return errno_result(0);
}

Result Vmm::no_file_op(const Step& s) {
  const std::string name = s.args.str("fd");
  if (!names_.gmem(name) && !names_.vm(name)) return errno_result(EBADF);
  return errno_result(EINVAL);  // no read, write or truncate on these files
}

Result Vmm::fallocate(const Step& s) {
  const Args& a = s.args;
  auto f = names_.gmem(a.str("fd"));
  if (!f) return errno_result(names_.vm(a.str("fd")) ? EOPNOTSUPP : EBADF);  // no fallocate on a VM fd
  return errno_result(f->fallocate(int(a.flags("mode", vocab::kFallocModes)),
                                   int64_t(a.u64("offset")), int64_t(a.u64("len"))));
}

Result Vmm::fstat(const Step& s) {
  auto f = names_.gmem(s.args.str("fd"));
  if (!f && !names_.vm(s.args.str("fd"))) return errno_result(EBADF);
  Result r = errno_result(0);
  r["st_size"] = RValue::integer(f ? f->size() : 0);
  r["st_blksize"] = RValue::integer(kPageSize);
  return r;
}

Result Vmm::user_access(const Step& s, Access kind) {
  const Args& a = s.args;
  const int p = names_.pid(a);
  Vma* m = p < 0 ? nullptr : vma(p, a.str("map"));
  Result r;
  size_t len;
  std::vector<uint8_t> buf;
  const bool write = kind != Access::Load;
  if (kind == Access::Load) {
    len = a.has("length") ? a.u64("length") : a.u64("size", 8);
    buf.assign(len, 0);
  } else if (kind == Access::Memset) {
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
    if (len) std::memcpy(buf.data(), &v, std::min<size_t>(len, 8));
  }
  int sig = SIGSEGV;  // the mapping does not exist in this process
  if (m && len == 0) {
    sig = 0;  // touches no byte, so nothing can fault
  } else if (m) {
    sc_core::sc_time delay;
    const Addr va = m->start + a.u64("offset");
    if (kind == Access::Memset) {
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
  if (kind == Access::Load && sig == 0) {
    uint64_t v = 0;
    if (len) std::memcpy(&v, buf.data(), std::min<size_t>(len, 8));
    if (!a.has("length")) r["value"] = RValue::integer(v);
    r["bytes"] = RValue::bytes(buf.data(), len);
    if (len && std::all_of(buf.begin(), buf.end(), [&](uint8_t b) { return b == buf[0]; }))
      r["all"] = RValue::integer(buf[0]);
  }
  return r;
}

Result Vmm::load_elf(const Step& s) {
  const Args& a = s.args;
  const int p = names_.pid(a);
  Vma* m = p < 0 ? nullptr : vma(p, a.str("map"));
  Result r;
  int sig = m ? 0 : SIGSEGV;  // the mapping does not exist in this process
  const ElfImage& image = *sc_.elf_programs.at(a.str("program")).image;
  const uint64_t base = a.u64("gpa");
  sc_core::sc_time delay;
  for (const ElfSegment& seg : image.segments()) {
    // A segment below the mapping's GPA or past its end is outside it: SIGSEGV,
    // as a VMM's memcpy past its mapping would be.
    if (sig) break;
    if (seg.paddr < base || seg.paddr - base + seg.bytes.size() > m->length) {
      sig = SIGSEGV;
      break;
    }
    const Addr va = m->start + (seg.paddr - base);
    std::vector<uint8_t> chunk;
    for (uint64_t done = 0; done < seg.bytes.size() && !sig;) {
      const size_t n = std::min<uint64_t>(seg.bytes.size() - done, kPageSize - ((va + done) & kPageMask));
      chunk.assign(seg.bytes.begin() + done, seg.bytes.begin() + done + n);
      sig = p_.host_cpu.user_access(p, va + done, chunk.data(), n, true, delay);
      done += n;
    }
  }
  p_.charge_ns(delay.to_seconds() * 1e9);
  r["signal"] = RValue::sig(sig);
  return r;
}

Result Vmm::host_kernel(const Step& s) {
  const Args& a = s.args;
  auto pa = named_address(p_, names_, a, /*allocate=*/true);
  if (!pa) return no_frame_result();
  Result r;
  const size_t size = a.u64("size", 8);
  uint64_t v = a.u64("value");
  const uint64_t oopses = p_.host_s2_policy.oops_seq();
  if (a.str("op") == "store") p_.kernel_port.write(*pa, &v, size);
  else {
    v = 0;
    p_.kernel_port.read(*pa, &v, size);
    r["value"] = RValue::integer(v);
  }
  // Consuming poison (a line a partial write poisoned) is a machine check
  // in the host; a private KeyID or a KeyID with no key is an abort.
  r["fault"] = RValue::str(p_.kernel_port.last_machine_check() ? "machine_check"
                           : p_.kernel_port.last_ok()          ? "none"
                                                               : "data_abort");
  if (p_.host_s2_policy.oops_seq() != oopses) {
    // pKVM injected the stage-2 abort back: the host kernel cannot handle it (is_pkvm_stage2_abort).
    const HostStage2Policy::Oops& o = p_.host_s2_policy.last_oops();
    report_.note(s, "host kernel oops: unhandled stage-2 abort at PA " + hex(o.pa) + " injected by pKVM (ESR " +
                        hex(o.esr) + ", FAR " + hex(o.far) + ")");
  }
  return r;
}

}  // namespace cocosim
