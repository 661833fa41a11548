#include "platform.h"

#include "common/sim_time.h"
#include "common/trace.h"

#include "kvm/direct_stage2.h"
#include "kvm/pkvm_stage2.h"
#include "arch/arm64_arch.h"
#include "gmem/guest_memfd.h"

#include <algorithm>
#include <cerrno>
#include <stdexcept>

namespace cocosim {

namespace {
sc_core::sc_time ns(double v) { return sc_core::sc_time(v, sc_core::SC_NS); }
}  // namespace

std::unique_ptr<Architecture> make_platform_arch(const PlatformConfig& cfg, Stats& stats) {
  ArchParams p;
  p.gpaw = cfg.gpaw;
  p.ipa_bits = cfg.ipa_bits;
  p.ipi_ns = cfg.timing.tlb_shootdown_ns;
  p.invept_ns = cfg.timing.invept_ns;
  p.tlbi_ns = cfg.timing.tlbi_ns;
  return make_architecture(cfg.arch, p, stats, "platform.kvm");
}

Platform::Platform(const PlatformConfig& cfg, unsigned vcpu_slots, Stats& stats,
                   sc_core::sc_module_name name)
    : sc_module(name),
      stats_(stats),
      cfg_(cfg),
      arch(make_platform_arch(cfg, stats)),
      frames(kFirstFreePfn, cfg.dram >> kPageShift),
      ownership(frames),
      keyid_policy(arch->pa_bits(), arch->keyid_bits()),
      host_s2_policy(stats, "platform.host_s2"),
      phys_bus("bus", stats),
      host_slot("host_s2", &host_s2_policy, stats),
      dram("dram", cfg.dram + (cfg.arch == Arch::Arm64Pkvm ? kHypPoolBytes : 0), ns(cfg.timing.dram_ns), stats),
      kernel_port("host_kernel", Initiator::HostKernel),
      hyp_port("hypervisor", Initiator::Hypervisor),
      seam_port("tdx_module", Initiator::TdxModule, SecurityState::Seam),
      gmem_target("gmem_mmap", frames, stats),
      mm(frames, kernel_port),
      host_mmu("host_mmu", mm, gmem_target, stats),
      host_cpu("host_cpu", stats),
      kvm(*arch, frames, kernel_port, stats) {
  mm.set_thp(cfg.thp);
  // DRAM sits behind the memory slot; the bus decodes the physical address
  // width only, so KeyID bits above it reach the slot.
  if (cfg.arch == Arch::X86Tdx && cfg.encryption != "off") {
    // Linux's 6-bit example: KeyIDs 1..15 MKTME (shared), [16, 64) TDX.
    keyids_ = std::make_unique<KeyIdSpace>(arch->keyid_bits(), 15);
    mee_ = std::make_unique<MeeSlot>(
        "mee", keyid_policy, *keyids_,
        cfg.encryption == "li" ? MemoryEncryptionEngine::Integrity::Li : MemoryEncryptionEngine::Integrity::Ci,
        cfg.seed, ns(cfg.timing.mee_ns), ns(cfg.timing.dram_ns), stats);
    phys_bus.init.bind(mee_->in);
    mee_->out.bind(dram.socket);
  } else {
    mem_slot_ = std::make_unique<Interposer>("mee", &keyid_policy, stats);
    phys_bus.init.bind(mem_slot_->in);
    mem_slot_->out.bind(dram.socket);
  }
  kvm.set_tdx_enabled(tdx_capable());
  phys_bus.map(0, 0, cfg.dram + (cfg.arch == Arch::Arm64Pkvm ? kHypPoolBytes : 0), 0, "dram");
  phys_bus.set_decode_bits(arch->pa_bits());
  // Initiator ports are numbered in binding order (the DMI registry's keys);
  // the host's initiators pass through the host slot, one lane each.
  kernel_port.socket.bind(host_slot.in);   // lane 0
  gmem_target.phys.bind(host_slot.in);     // lane 1
  host_mmu.phys.bind(host_slot.in);        // lane 2
  host_slot.out.bind(phys_bus.targ);       // bus port 0: host kernel
  hyp_port.socket.bind(phys_bus.targ);     // 1
  host_slot.out.bind(phys_bus.targ);       // 2: guest_memfd's mmap target
  host_slot.out.bind(phys_bus.targ);       // 3: host MMU
  seam_port.socket.bind(phys_bus.targ);    // 4: the TDX module
  unsigned port = 5;
  if (tdx_capable()) {
    // The TDX module: PAMT over all of DRAM (one TDMR); its accesses go
    // through its own SEAM initiator, TD memory at PA | HKID << pa_bits.
    pamt = std::make_unique<Pamt>(0, (cfg.dram + kHugePageSize - 1) & ~(kHugePageSize - 1));
    tdx = std::make_unique<TdxModule>(seam_port, *pamt, TdxModuleConfig::for_platform(*arch, *keyids_));
    tdx->set_key_programmer([this](unsigned hkid) { program_key(hkid); });
  }
  host_mmu.gmem.bind(gmem_target.socket);
  host_cpu.user.bind(host_mmu.socket);

  VcpuTiming vt;
  vt.tlb_hit = ns(cfg.timing.tlb_hit_ns);
  vt.walk_level = ns(cfg.timing.walk_level_ns);
  vt.vm_exit = ns(cfg.timing.vm_exit_ns);
  vt.quantum = ns(double(cfg.quantum_ns));
  for (unsigned k = 0; k < vcpu_slots; ++k) {
    auto v = std::make_unique<Vcpu>(("vcpu" + std::to_string(k)).c_str(), *arch, vt,
                                    TlbConfig{cfg.tlb_entries, cfg.tlb_huge_entries}, stats);
    v->socket.bind(phys_bus.targ);
    vcpus.push_back(std::move(v));
    vcpu_bus_port.push_back(port++);
  }

  // Every frame's owner record follows its use from allocation on.
  frames.set_use_hook([this](uint64_t pfn, FrameUse& u) { ownership.assigned(pfn, u); });
  // No DMI pointer may reach a frame only its owner may touch, whoever asks.
  // (A protected guest's vCPU may hold one to a page pKVM gave its VM.)
  phys_bus.set_dmi_policy([this](unsigned initiator, Addr lo, Addr hi) {
    // A tagged range is a KeyID's view of a frame: the engine gives one to
    // the frame's owner only (its plaintext), nobody else.
    if (keyid_policy.strip(lo) != lo) return true;
    for (uint64_t pfn = pfn_of(lo); pfn <= pfn_of(hi); ++pfn)
      if (ownership.exclusive(pfn) && !guest_dmi_allowed(initiator, pfn)) return false;
    return true;
  });
  // A frame that is freed, or changes hands, loses every DMI pointer first;
  // plaintext the engine holds for an owner goes back to DRAM (and the
  // owner's pointer to it) as well.
  auto revoke = [this](uint64_t pfn) {
    phys_bus.invalidate(pfn << kPageShift, (pfn << kPageShift) + kPageSize - 1);
    if (mee_) mee_->memory().release(pfn);
  };
  frames.set_free_hook(revoke);
  ownership.set_revoke_hook(revoke);

  // KVM's MMU notifier: host mappings that change take the guest's view of
  // them along (slots that reach memory through userspace_addr).
  mm.set_notifier([this](int pid, Addr lo, Addr hi) {
    for (const auto& [id, vm] : kvm.vms()) vm->host_range_invalidated(pid, lo, hi);
  });
  gmem_target.set_unmap_hook([this](const GuestMemfd& f, uint64_t first, uint64_t end) {
    mm.file_range_unmapped(f, first, end);
  });

  Kvm::Hooks hooks;
  hooks.vm_created = [this](Vm& vm) { vm_created(vm); };
  hooks.vm_destroyed = [this](Vm& vm) { vm_destroyed(vm); };
  hooks.gmem_created = [this](GuestMemfd& f) {
    gmem_target.attach(f);
    f.set_ownership_hook([this](uint64_t pfn, bool to_private) { ownership.converted(pfn, to_private); });
    if (pkvm) {
      // The host cannot make shared what it gave a protected guest: only the
      // guest shares its pages (MEM_SHARE).
      f.set_convert_guard([this](const GuestMemfd& g, uint64_t lo, uint64_t hi, bool to_private) {
        if (to_private) return 0;
        for (const auto& [index, pfn] : g.folios_in(lo, hi))
          if (const PkvmPage* p = ownership.pkvm(pfn); p && p->host_state == PkvmPageState::NoPage)
            return EPERM;
        return 0;
      });
    }
  };
  hooks.gmem_destroyed = [this](GuestMemfd& f) { gmem_target.detach(f); };
  kvm.set_hooks(hooks);
}

// EL2 writes its tables over the bus, which carries traffic once elaboration is done.
void Platform::start_of_simulation() {
  if (cfg_.arch == Arch::Arm64Pkvm && !pkvm) start_pkvm();
}

// pKVM at EL2: its pool above the host's memory, the host's stage-2 in the
// host_s2 slot, and the hooks through which the host gives pages up.
void Platform::start_pkvm() {
  const uint64_t first = cfg_.dram >> kPageShift, end = (cfg_.dram + kHypPoolBytes) >> kPageShift;
  hyp_pool = std::make_unique<FrameAllocator>(first, end);
  pkvm = std::make_unique<PkvmHyp>(static_cast<Arm64Arch&>(*arch), hyp_port, ownership, *hyp_pool,
                                   MemRange{first << kPageShift, end << kPageShift},
                                   std::vector<MemblockRegion>{{0, end << kPageShift, false}}, stats_,
                                   "platform.pkvm");
  (void)hyp_port.take_delay();  // EL2's boot (annotating its pool) is before the scenario's time starts
  host_s2_policy.attach(pkvm.get());
  pkvm->set_host_unmap_hook([this](uint64_t pfn) { return host_unmap_for_guest(pfn); });
  // A frame the host frees while a guest owns it is taken back by force first:
  // zeroed, and the guest's entry POISONED.
  frames.set_free_hook([this](uint64_t pfn) {
    phys_bus.invalidate(pfn << kPageShift, (pfn << kPageShift) + kPageSize - 1);
    const PkvmPage* p = ownership.pkvm(pfn);
    if (p && p->host_state == PkvmPageState::NoPage && p->hyp_state() == PkvmPageState::NoPage)
      pkvm->host_force_reclaim_page_guest(pfn << kPageShift);
  });
}

// The host lets go of a page its guest takes back (MEM_UNSHARE): a guest_memfd
// page becomes private in place (host mappings and DMI pointers first; a
// pinned page refuses); other memory loses its DMI pointers, and only EL2's
// stage-2 stops the host's own mappings of it.
int Platform::host_unmap_for_guest(uint64_t pfn) {
  const FrameUse* u = frames.use(pfn);
  if (u && u->kind == FrameKind::Gmem && u->gmem) {
    if (!u->gmem->is_private(u->index)) {
      uint64_t bad = 0;
      if (int err = u->gmem->make_private(u->index, u->index + 1, &bad)) return -err;
    }
    return 0;
  }
  phys_bus.invalidate(pfn << kPageShift, (pfn << kPageShift) + kPageSize - 1);
  return 0;
}

uint16_t Platform::pkvm_selftest_vm() {
  if (selftest_vm_ < 0) {
    const auto h = pkvm->create_vm(false, {});
    if (!h) throw std::bad_alloc();
    selftest_vm_ = *h;
  }
  return uint16_t(selftest_vm_);
}

int Platform::pkvm_handle(int vm) const {
  auto it = pkvm_handles_.find(vm);
  return it == pkvm_handles_.end() ? -1 : it->second;
}

Platform::~Platform() {
  // Mappings hold guest_memfd files and files hold VMs: drop them in that order.
  mm.clear();
  kvm.shutdown();
  vcpu_bindings_.clear();
  // EL2 goes before the frame allocator: frames freed after this point (files
  // still held elsewhere) only lose their DMI pointers.
  if (pkvm) {
    frames.set_free_hook([this](uint64_t pfn) {
      phys_bus.invalidate(pfn << kPageShift, (pfn << kPageShift) + kPageSize - 1);
    });
    host_s2_policy.attach(nullptr);
  }
}

bool Platform::host_mapped(uint64_t pfn) const {
  // The host's own ways in: a PTE of some process, or a DMI pointer the host
  // MMU gave out. (A vCPU's DMI pointer is the guest's path, not the host's.)
  const Addr pa = pfn << kPageShift;
  if (host_mmu.grants_to(false, pa)) return true;
  // Whoever holds a long-term pin (a device doing DMA, the kernel) reaches it.
  if (frames.pins(pfn)) return true;
  const FrameUse* u = frames.use(pfn);
  if (!u) return false;
  if (u->kind == FrameKind::Gmem && u->gmem) {
    if (u->gmem->pfn(u->index) != pfn) return false;
    return gmem_target.page_mapped(*u->gmem, u->index) ||
           host_mmu.grants_to(true, GmemMmapTarget::file_address(u->gmem->id(), u->index << kPageShift));
  }
  return u->kind == FrameKind::Anon;
}

bool Platform::guest_dmi_allowed(unsigned initiator, uint64_t pfn) const {
  if (!pkvm) return false;
  const FrameOwner o = ownership.of(pfn);
  if (o.owner != Owner::Guest || o.pkvm.host_state != PkvmPageState::NoPage) return false;
  for (size_t k = 0; k < vcpus.size(); ++k)
    if (vcpu_bus_port[k] == initiator) return vcpus[k]->bound() && vcpus[k]->vm() == o.vm;
  return false;
}

bool Platform::host_mapped_by_dmi(uint64_t pfn) const {
  const Addr pa = pfn << kPageShift;
  if (host_mmu.grants_to(false, pa)) return true;
  for (unsigned port : {0u, 2u, 3u})  // host kernel, gmem mmap target, host MMU (bus ports)
    if (phys_bus.dmi_registry().holds(port, pa, pa + kPageSize - 1)) return true;
  const FrameUse* u = frames.use(pfn);
  if (u && u->kind == FrameKind::Gmem && u->gmem && u->gmem->pfn(u->index) == pfn)
    return host_mmu.grants_to(true, GmemMmapTarget::file_address(u->gmem->id(), u->index << kPageShift));
  return false;
}

void Platform::vm_created(Vm& vm) {
  // KVM writes the tables of default and sw_protected VMs itself; a TD's
  // private memory is the TDX module's (KvmTdx), a protected VM's belongs to
  // pKVM at EL2.
  std::unique_ptr<Stage2Backend> backend;
  if (vm.type() == VmType::Tdx && tdx) {
    KvmTdx::Services svc;
    svc.alloc_hkid = [this] { return alloc_hkid(); };
    svc.free_hkid = [this](unsigned k) { free_hkid(k); };
    svc.clear = [this](Addr pa, size_t len) { movdir64b_clear(pa, len); };
    auto t = std::make_unique<KvmTdx>(*arch, *tdx, std::move(svc), hyp_port, frames, stats_, vm.id());
    t->set_seamcall_ns(cfg_.timing.seamcall_ns);
    backend = std::move(t);
  } else if (vm.type() == VmType::Pkvm && pkvm) {
    const auto handle = pkvm->create_vm(true, {}, vm.id());
    if (!handle) throw std::bad_alloc();  // EL2's pool is empty
    pkvm_handles_[vm.id()] = *handle;
    backend = std::make_unique<PkvmStage2>(*pkvm, *handle);
  } else {
    backend = std::make_unique<DirectStage2>(*arch, hyp_port, frames, vm.id());
  }
  auto m = std::make_unique<KvmMmu>(vm, std::move(backend), mm, stats_, "platform.kvm");
  m->set_charge([this](double v) { charge_ns(v); });
  KvmMmu* raw = m.get();
  vm.set_zap_handler([raw](uint64_t first, uint64_t end) { raw->zap(first, end); });
  mmus_[vm.id()] = std::move(m);
}

void Platform::vm_destroyed(Vm& vm) {
  // kvm_destroy_vm: vCPUs first, then the stage-2 tables (no TLB keeps them).
  for (auto it = vcpu_bindings_.begin(); it != vcpu_bindings_.end();) {
    if (it->first.first != vm.id()) {
      ++it;
      continue;
    }
    arch->invalidate_vm(*it->second.module);
    drop_vcpu_dmi(*it->second.module);
    it->second.module->bind_guest(nullptr, nullptr, {}, -1, -1);
    it = vcpu_bindings_.erase(it);
  }
  vm.set_zap_handler(nullptr);
  // A protected VM: EL2 hands every page back (zeroed if the guest owned it)
  // and drops its VMID.
  if (const int h = pkvm_handle(vm.id()); h >= 0) {
    if (PkvmVm* pv = pkvm->vm(uint16_t(h))) pv->vcpus.clear();
    if (KvmMmu* m = mmu(vm.id())) static_cast<PkvmStage2&>(m->stage2()).teardown();
    pkvm_handles_.erase(vm.id());
  }
  mmus_.erase(vm.id());
}

KvmVcpu* Platform::create_vcpu(Vm& vm, int id, std::unique_ptr<Executor> exec, int* err,
                               bool init_td_vcpu, std::string* why) {
  if (vcpu_bindings_.count({vm.id(), id})) {
    *err = EEXIST;
    return nullptr;
  }
  Vcpu* free_module = nullptr;
  for (auto& v : vcpus)
    if (!v->bound()) {
      free_module = v.get();
      break;
    }
  if (!free_module) {
    *err = ENOMEM;
    return nullptr;
  }
  KvmMmu* m = mmu(vm.id());
  KvmTdx* t = td(vm.id());
  if (t) {
    std::string w;
    *err = t->dead() ? EIO : t->create_vcpu(id, free_module, &w);
    if (!*err && init_td_vcpu) *err = t->init_vcpu(id, 0, &w);
    charge_ns(t->take_cost_ns());
    if (*err) {
      if (why) *why = t->dead() ? "the VM is dead" : w;
      return nullptr;
    }
  }
  auto kv = std::make_unique<KvmVcpu>(vm, *m, id, stats_);
  if (t) kv->set_td(t);
  // The vCPU's fd holds a reference on its VM (kvm_vm_ioctl_create_vcpu ->
  // kvm_get_kvm): a VM with vCPUs outlives its own fd until the platform goes.
  vm.get();
  kv->set_cost_probe([this] { return take_port_delay_ns(); });
  free_module->bind_guest(kv.get(), std::move(exec), m->stage2().roots(), vm.id(), id);
  if (t) {
    free_module->set_shared_alias(t->shared_bit());
    free_module->set_td_keyid(t->hkid(), arch->pa_bits());
  }
  m->add_vcpu(free_module);
  if (const int h = pkvm_handle(vm.id()); h >= 0) {
    pkvm->vm(uint16_t(h))->vcpus.push_back(free_module);
    kv->set_pkvm(pkvm.get(), uint16_t(h), cfg_.timing.hvc_ns, [&vm](uint64_t gfn, bool shared) {
      // In place: the page the guest shared is shared in guest_memfd too, so
      // the VMM maps the very frame (a page taken back was made private when
      // the host let go of it).
      Memslot* slot = vm.slot_for_gfn(gfn);
      if (!shared || !slot || !slot->gmem()) return;
      const uint64_t index = slot->gmem_index(gfn);
      if (slot->gmem()->is_private(index)) slot->gmem()->convert(index, index + 1, false, 0, true);
    });
  }
  KvmVcpu* raw = kv.get();
  vcpu_bindings_[{vm.id(), id}] = {std::move(kv), free_module};
  *err = 0;
  return raw;
}

// A vCPU that goes keeps no pointer into its guest's memory.
void Platform::drop_vcpu_dmi(Vcpu& v) {
  std::vector<uint64_t> pages;
  v.for_each_dmi_page([&](uint64_t pfn) { pages.push_back(pfn); });
  for (uint64_t pfn : pages) phys_bus.invalidate(pfn << kPageShift, (pfn << kPageShift) + kPageSize - 1);
}

int Platform::close_vcpu(Vm& vm, int id) {
  auto it = vcpu_bindings_.find({vm.id(), id});
  if (it == vcpu_bindings_.end()) return EBADF;
  Vcpu* module = it->second.module;
  if (module->running()) return EBUSY;
  arch->invalidate_vm(*module);
  if (KvmMmu* m = mmu(vm.id())) m->remove_vcpu(module);
  if (const int h = pkvm_handle(vm.id()); h >= 0)
    if (PkvmVm* pv = pkvm->vm(uint16_t(h)))
      pv->vcpus.erase(std::remove(pv->vcpus.begin(), pv->vcpus.end(), module), pv->vcpus.end());
  drop_vcpu_dmi(*module);
  module->bind_guest(nullptr, nullptr, {}, -1, -1);
  vcpu_bindings_.erase(it);
  kvm.vcpu_closed(&vm);
  return 0;
}

unsigned Platform::vcpu_count(int vm) const {
  unsigned n = 0;
  for (const auto& [key, b] : vcpu_bindings_) n += key.first == vm;
  return n;
}

KvmVcpu* Platform::kvm_vcpu(int vm, int id) {
  auto it = vcpu_bindings_.find({vm, id});
  return it == vcpu_bindings_.end() ? nullptr : it->second.kvm.get();
}

Vcpu* Platform::vcpu_module(int vm, int id) {
  auto it = vcpu_bindings_.find({vm, id});
  return it == vcpu_bindings_.end() ? nullptr : it->second.module;
}

KvmTdx* Platform::td(int vm) {
  KvmMmu* m = mmu(vm);
  return m ? dynamic_cast<KvmTdx*>(&m->stage2()) : nullptr;
}

KvmMmu* Platform::mmu(int vm) {
  auto it = mmus_.find(vm);
  return it == mmus_.end() ? nullptr : it->second.get();
}

void Platform::record_gauges() {
  stats_.counter("platform.frames_peak_in_use", "frames", "most frames allocated at once") =
      frames.peak_in_use();
  stats_.counter("platform.dram.frames_allocated", "frames",
                 "DRAM frames holding data at the end (sparse memory)") =
      dram.memory().allocated_frames();
  std::map<Owner, uint64_t> by_owner;
  frames.for_each_used([&](uint64_t, const FrameUse& u) {
    ++by_owner[u.own.owner];
    if (u.own.owner == Owner::Guest && u.own.host_may_map) ++by_owner[Owner::None];
  });
  for (Owner o : {Owner::Host, Owner::Guest, Owner::Hypervisor, Owner::TdxModule})
    stats_.counter(std::string("platform.frames.") + owner_kind_name(o), "frames",
                   std::string("frames in use at the end owned by ") + owner_kind_name(o)) = by_owner[o];
  stats_.counter("platform.frames.guest_shared", "frames",
                 "of the guest's frames at the end, those the host may map too (shared)") =
      by_owner[Owner::None];
}

void Platform::publish_counters() {
  for (auto& v : vcpus) v->publish_stats();
}

uint64_t Platform::now_ps() const {
  uint64_t t = to_ps(sc_core::sc_time_stamp());
  // Outside any process (start_of_simulation callbacks) there is no caller.
  const sc_core::sc_process_handle h = sc_core::sc_get_current_process_handle();
  if (!h.valid()) return t;
  const sc_core::sc_object* caller = h.get_parent_object();
  for (const auto& v : vcpus)
    if (caller == v.get()) t += to_ps(v->local_time());
  return t;
}

void Platform::trace_page_counts() const {
  // Per VM: frames it owns that only it may touch, and those the host may map too.
  std::map<int, std::pair<uint64_t, uint64_t>> by_vm;
  frames.for_each_used([&](uint64_t, const FrameUse& u) {
    if (u.own.owner != Owner::Guest) return;
    auto& [priv, shared] = by_vm[u.own.vm];
    ++(u.own.host_may_map ? shared : priv);
  });
  for (const auto& [vm, counts] : by_vm) {
    const std::string scope = "platform.kvm.vm" + std::to_string(vm);
    trace::g_sink->record(scope, "private_pages", counts.first, 32, nullptr);
    trace::g_sink->record(scope, "shared_pages", counts.second, 32, nullptr);
  }
}

double Platform::take_port_delay_ns() {
  return (kernel_port.take_delay() + hyp_port.take_delay() + seam_port.take_delay()).to_seconds() * 1e9;
}

sc_core::sc_time Platform::take_control_delay() {
  sc_core::sc_time d =
      ns(control_ns_) + kernel_port.take_delay() + hyp_port.take_delay() + seam_port.take_delay();
  control_ns_ = 0;
  return d;
}

}  // namespace cocosim

namespace cocosim {

std::optional<unsigned> Platform::alloc_hkid() {
  return keyids_ ? keyids_->alloc_hkid() : std::nullopt;
}

bool Platform::free_hkid(unsigned hkid) {
  if (!keyids_ || !keyids_->assigned(hkid) || hkid == keyids_->global_keyid()) return false;
  mee_->memory().release_keyid(hkid);
  return keyids_->free_hkid(hkid);
}

void Platform::program_key(unsigned keyid) {
  if (!mee_) throw std::logic_error("program_key: the platform has no memory encryption engine");
  mee_->memory().program_key(keyid);
}

Addr Platform::keyid_address(Addr pa, unsigned keyid) const {
  return keyid_policy.strip(pa) | (Addr(keyid) << arch->pa_bits());
}

void Platform::movdir64b_clear(Addr pa, size_t len) {
  if ((pa | len) & (MemoryEncryptionEngine::kLine - 1))
    throw std::invalid_argument("movdir64b_clear: not 64-byte aligned");
  hyp_port.fill(pa, 0, len);
}

}  // namespace cocosim
