#include "inspection.h"

#include <algorithm>
#include <cerrno>
#include <vector>

#include "cpu/isa_executor.h"
#include "kvm/gfn_backing.h"
#include "scripted_executor.h"
#include "tdx/secure_ept.h"

namespace cocosim {

std::optional<uint64_t> named_frame(Platform& p, const VmmNames& names, const Args& a, bool allocate) {
  if (a.has("hpa")) return pfn_of(a.u64("hpa"));
  if (a.has("pfn")) return a.u64("pfn");
  const uint64_t off = a.u64("offset");
  if (a.has("fd")) {
    auto f = names.gmem(a.str("fd"));
    if (!f || off >= f->size()) return std::nullopt;
    if (allocate) {
      auto r = f->get_pfn(off >> kPageShift);
      return r.err ? std::nullopt : std::optional<uint64_t>(r.pfn);
    }
    return f->pfn(off >> kPageShift);
  }
  Vma* m = p.mm.find_vma(names.vmm_pid(), a.str("map"));
  if (!m || off >= m->length) return std::nullopt;
  if (m->kind == VmaKind::Anon) {
    if (allocate) return p.mm.anon_fault(*m, off >> kPageShift);  // nullopt: no memory
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

std::optional<Addr> named_address(Platform& p, const VmmNames& names, const Args& a, bool allocate) {
  auto pfn = named_frame(p, names, a, allocate);
  if (!pfn) return std::nullopt;
  return (*pfn << kPageShift) | (a.u64(a.has("hpa") ? "hpa" : "offset") & kPageMask);
}

Result no_frame_result() { return {{"fault", RValue::str("no_frame")}}; }

Result Inspection::dram_read(const Step& s) {
  // A bus probe: it reads the frame that is there, and allocates nothing.
  const Args& a = s.args;
  auto pa = named_address(p_, names_, a, /*allocate=*/false);
  if (!pa) return no_frame_result();
  Result r;
  std::vector<uint8_t> buf(a.u64("length", 8), 0);
  // Below the engine: raw DRAM, whatever KeyID the address names.
  if (!buf.empty()) p_.kernel_port.debug_read(p_.keyid_policy.strip(*pa), buf.data(), buf.size());
  r["bytes"] = RValue::bytes(buf.data(), buf.size());
  if (!buf.empty() && std::all_of(buf.begin(), buf.end(), [&](uint8_t b) { return b == buf[0]; }))
    r["all"] = RValue::integer(buf[0]);
  return r;
}

// pKVM's view of a frame (arm64-pkvm): the host's and the hypervisor's
// states from its record, the guest's from the stage-2 entry that maps it.
void Inspection::pkvm_fields(Result& r, uint64_t pfn) {
  if (!p_.pkvm) return;
  PkvmHyp& hyp = *p_.pkvm;
  MemoryPort& dbg = p_.kernel_port.debug_view();
  const Addr pa = pfn << kPageShift;
  const bool el2_pool = p_.hyp_pool && pfn >= (p_.config().dram >> kPageShift) &&
                        pa < p_.config().dram + Platform::kHypPoolBytes;
  if (el2_pool) {  // EL2's own memory: never the host's
    r["host_state"] = RValue::str("NOPAGE");
    r["hyp_state"] = RValue::str("OWNED");
    r["guest_state"] = RValue::str("NOPAGE");
    r["owner"] = RValue::str("hyp");
    return;
  }
  r["host_state"] = RValue::str(pkvm_state_name(hyp.host_state(pfn)));
  r["hyp_state"] = RValue::str(pkvm_state_name(hyp.hyp_state(pfn)));
  PkvmPageState g = PkvmPageState::NoPage;
  bool found = false;
  for (const auto& entry : hyp.vms()) {  // not a structured binding: the lambda captures it (C++17)
    const uint16_t handle = entry.first;
    entry.second->pgt->for_each_leaf(
        [&](const Stage2Leaf& l) {
          if (found || pa < l.pa || pa >= l.pa + l.size) return;
          g = hyp.guest_state(handle, (l.gpa + (pa - l.pa)) >> kPageShift, &dbg);
          found = true;
        },
        &dbg);
  }
  // A page the host force-reclaimed: the guest's entry is POISONED.
  r["guest_state"] = RValue::str(pkvm_state_name(g));
}

void Inspection::frame_fields(Result& r, std::optional<uint64_t> pfn) {
  if (!pfn) {
    r["hpa"] = RValue::str("none");
    r["owner"] = RValue::str("none");
    r["host_mapped"] = RValue::boolean(false);
    return;
  }
  r["hpa"] = RValue::integer(*pfn << kPageShift);
  r["host_mapped"] = RValue::boolean(p_.host_mapped(*pfn));
  if (p_.architecture().keyid_bits()) {
    // The engine's metadata of the frame's first line (none without an engine).
    const Addr line = p_.keyid_policy.strip(*pfn << kPageShift);
    const MeeSlot* mee = p_.mee();
    r["td_bit"] = RValue::boolean(mee && mee->memory().td_bit(line));
    r["poisoned"] = RValue::boolean(mee && mee->memory().poisoned(line));
  }
  const FrameUse* u = p_.frames.use(*pfn);
  // Who owns it, from the ownership model's record.
  const FrameOwner o = p_.ownership.of(*pfn);
  std::string owner = owner_kind_name(o.owner);
  if (o.owner == Owner::Guest) {
    const Vm* vm = p_.kvm.vm_by_id(o.vm);
    owner = vm ? vm->name() : u && u->gmem ? u->gmem->vm().name : "vm" + std::to_string(o.vm);
  }
  if (u && u->kind == FrameKind::Gmem && u->gmem) {
    r["refcount"] = RValue::integer(u->gmem->refcount(u->index));
    r["gmem"] = RValue::str(u->gmem->is_private(u->index) ? "private" : "shared");
  }
  r["owner"] = RValue::str(owner);
  // x86-tdx: the frame's PAMT entry (page type), as the TDX module keeps it.
  if (p_.pamt && p_.pamt->covers(*pfn << kPageShift)) {
    const PamtEntry e = p_.pamt->get(*pfn << kPageShift);
    r["pamt"] = RValue::str(page_type_name(e.pt));
    // The PAMT level whose entry describes the frame (a 2 MiB page: one 2M entry).
    if (e.pt != PageType::NDA) r["pamt_size"] = RValue::str(e.size == PageSize::k2M ? "2M" : "4K");
  }
  pkvm_fields(r, *pfn);
}

Result Inspection::inspect(const Step& s) {
  const Args& a = s.args;
  Result r;
  if (a.has("vm")) {
    Vm* v = names_.vm(a.str("vm"));
    if (!v) return errno_result(EBADF);
    if (a.has("vcpu")) return inspect_vcpu(*v, int(a.u64("vcpu")));
    KvmTdx* td = p_.td(v->id());
    if (!a.has("gpa")) {
      r["vm_state"] = RValue::str(v->fd_open() ? (td && td->dead() ? "dead" : "running") : "closed");
      // A TD's measurement (all zeros until KVM_TDX_INIT_VM, final after FINALIZE).
      if (p_.tdx) {
        static const char* kHex = "0123456789abcdef";
        std::string h;
        auto view = td && td->tdr() ? p_.tdx->td(td->tdr()) : std::nullopt;
        TdxModule::Digest d{};
        if (view) d = view->mrtd;
        if (view) r["hkid"] = RValue::integer(view->hkid);
        for (uint8_t b : d) h += kHex[b >> 4], h += kHex[b & 15];
        r["mrtd"] = RValue::str(h);
      }
      return r;
    }
    return inspect_gpa(*v, a.u64("gpa"));
  }
  if (a.has("fd")) {
    auto f = names_.gmem(a.str("fd"));
    if (!f) return errno_result(EBADF);
    const uint64_t idx = a.u64("offset") >> kPageShift;
    frame_fields(r, f->pfn(idx));
    r["gmem"] = RValue::str(!f->allocated(idx) ? "unallocated" : f->is_private(idx) ? "private" : "shared");
    r["attribute"] = RValue::str(f->is_private(idx) ? "private" : "shared");
    r["refcount"] = RValue::integer(f->refcount(idx));
    return r;
  }
  auto pfn = named_frame(p_, names_, a, false);
  frame_fields(r, pfn);  // a frame nobody uses: owner none (EL2's pool: hyp)
  return r;
}

Result Inspection::inspect_vcpu(Vm& vm, int id) {
  Vcpu* m = p_.kvm_vcpu(vm.id(), id) ? p_.vcpu_module(vm.id(), id) : nullptr;
  if (!m) return errno_result(EBADF);  // no such vCPU fd
  Result r;
  r["vcpu_state"] = RValue::str(m->running() ? "in_guest" : "out");
  if (const auto* isa = dynamic_cast<const IsaExecutor*>(m->executor())) {
    r["instructions"] = RValue::integer(isa->instructions());
    for (const std::string& name : IsaExecutor::register_names(isa->arch())) {
      uint64_t value = 0;
      if (isa->read_register(name, &value)) r[name] = RValue::integer(value);
    }
    if (isa->stopped() != IsaStop::None) r["isa_stop"] = RValue::str(isa_stop_name(isa->stopped()));
  } else if (const auto* g = dynamic_cast<const ScriptedExecutor*>(m->executor())) {
    r["guest_op"] = RValue::integer(g->pc());
  }
  return r;
}

Result Inspection::inspect_gpa(Vm& vm, Addr gpa) {
  Vm* v = &vm;
  KvmTdx* td = p_.td(v->id());
  Result r;
  const uint64_t gfn = gpa >> kPageShift;
  r["attribute"] = RValue::str(v->is_private(gfn) ? "private" : "shared");
  Memslot* slot = v->slot_for_gfn(gfn);
  r["slot"] = slot ? RValue::integer(uint64_t(slot->id())) : RValue::str("none");
  std::optional<uint64_t> pfn;
  // What the stage-2 maps now, else the frame that would back the GPA.
  // The tables are read through the debug view: no simulated time, no bus traffic.
  KvmMmu* m = p_.mmu(v->id());
  // A TD's shared GFN is mapped at its shared alias, in KVM's shared EPT.
  Addr look = gpa;
  if (td && !v->is_private(gfn)) look |= td->shared_bit();
  auto leaf = m ? m->stage2().lookup(look, &p_.kernel_port.debug_view()) : std::nullopt;
  r["stage2"] = RValue::str(leaf ? "mapped" : "none");
  if (leaf) r["stage2_size"] = RValue::integer(leaf->size);
  if (leaf) {
    pfn = (leaf->pa + (page_floor(look) - leaf->gpa)) >> kPageShift;
  } else {
    // The frame that would back the GPA: KVM's own answer, allocating nothing.
    pfn = gfn_backing(*v, p_.mm, gfn, v->is_private(gfn), /*allocate=*/false).pfn;
  }
  frame_fields(r, pfn);
  // A TD's private GPA: the Secure EPT entry's state, read through the debug view.
  if (p_.tdx) {
    std::string sept = "none";
    auto view = td && td->tdr() ? p_.tdx->td(td->tdr()) : std::nullopt;
    if (view && view->sept_root && td->is_private_gpa(gpa)) {
      SecureEpt walker(p_.kernel_port.debug_view(), p_.tdx->config().pa_bits, view->sept_levels,
                       view->sept_root, view->hkid);
      const SecureEpt::Walk w = walker.walk(gpa, 0);
      if (w.reached || w.entry.leaf()) sept = sept_state_name(w.entry.state());
      else sept = w.entry.is_free() ? "FREE" : sept_state_name(w.entry.state());
    }
    r["sept"] = RValue::str(sept);
  }
  if (const int h = p_.pkvm_handle(v->id()); h >= 0)
    r["guest_state"] = RValue::str(
        pkvm_state_name(p_.pkvm->guest_state(uint16_t(h), gfn, &p_.kernel_port.debug_view())));
  if (slot && slot->gmem()) {
    GuestMemfd* f = slot->gmem();
    const uint64_t idx = slot->gmem_index(gfn);
    r["gmem"] = RValue::str(!f->allocated(idx) ? "unallocated" : f->is_private(idx) ? "private" : "shared");
    r["refcount"] = RValue::integer(f->refcount(idx));
  }
  return r;
}

}  // namespace cocosim
