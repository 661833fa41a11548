// The VMM's TDX operations: KVM's TDX ioctls (Linux tdx.c's KVM_MEMORY_ENCRYPT_OP
// commands, errno as Linux returns them) and the malicious host's `seamcall`.
#include <cerrno>

#include "common/hex.h"
#include "inspection.h"
#include "kvm/gfn_backing.h"
#include "scenario/schema.h"
#include "vmm.h"

namespace cocosim {

namespace {
Result why_result(int err, const std::string& why) {
  Result r = errno_result(err);
  if (err && !why.empty()) r["message"] = RValue::str(why);
  return r;
}
}  // namespace

KvmTdx* Vmm::td_for(const Step& s, Result* refused) {
  Vm* v = names_.vm(s.args.str("vm"));
  if (!v) {
    *refused = errno_result(EBADF);
    return nullptr;
  }
  KvmTdx* t = p_.td(v->id());
  if (!t) {  // vt_mem_enc_ioctl: not a TD
    *refused = why_result(ENOTTY, "'" + v->name() + "' is not a tdx VM");
    return nullptr;
  }
  if (t->dead()) {  // kvm_vm_dead: every ioctl of the VM fails
    *refused = why_result(EIO, "the VM is dead");
    return nullptr;
  }
  return t;
}

Result Vmm::tdx_init_vm(const Step& s) {
  Result r;
  KvmTdx* t = td_for(s, &r);
  if (!t) return r;
  std::string why;
  const int err = t->init_vm(s.args.flags("attributes", vocab::kTdxVmAttrs), &why);
  p_.charge_ns(t->take_cost_ns());
  return why_result(err, why);
}

Result Vmm::tdx_init_vcpu(const Step& s) {
  Result r;
  KvmTdx* t = td_for(s, &r);
  if (!t) return r;
  std::string why;
  const int err = t->init_vcpu(int(s.args.u64("vcpu")), s.args.u64("rcx"), &why);
  p_.charge_ns(t->take_cost_ns());
  return why_result(err, why);
}

Result Vmm::tdx_finalize_vm(const Step& s) {
  Result r;
  KvmTdx* t = td_for(s, &r);
  if (!t) return r;
  std::string why;
  const int err = t->finalize(&why);
  p_.charge_ns(t->take_cost_ns());
  return why_result(err, why);
}

// tdx_vcpu_init_mem_region, then kvm_gmem_populate page by page.
Result Vmm::tdx_init_mem_region(const Step& s) {
  Result r;
  KvmTdx* t = td_for(s, &r);
  if (!t) return r;
  Vm& v = *names_.vm(s.args.str("vm"));
  const Args& a = s.args;
  if (t->state() != KvmTdx::State::Initialized)
    return why_result(EINVAL, t->state() == KvmTdx::State::Runnable ? "the TD is finalized" : "KVM_TDX_INIT_VM has not run");
  if (!t->has_initialized_vcpu()) return why_result(EINVAL, "no initialized vCPU (a vCPU ioctl in Linux)");
  const uint64_t flags = a.flags("flags", vocab::kTdxMemFlags);
  const uint64_t kMeasure = vocab::kTdxMemFlags.at("MEASURE_MEMORY_REGION");
  if (flags & ~kMeasure) return why_result(EINVAL, "unknown flags");
  const Addr gpa = a.u64("gpa");
  const uint64_t n = a.u64("nr_pages");
  const Addr end = gpa + (n << kPageShift);
  if (!page_aligned(gpa) || n == 0 || (n >> (64 - kPageShift)) || end <= gpa || !t->is_private_gpa(gpa) ||
      !t->is_private_gpa(end - 1))
    return why_result(EINVAL, "gpa/nr_pages: not aligned, empty, wrapping or not private GPAs");
  // The source: the VMM's memory ({map, offset}) or a raw host address ({hpa}).
  const Args src = a.sub("source");
  Vma* m = src.has("map") ? vma(names_.vmm_pid(), src.str("map")) : nullptr;
  if (!src.has("hpa") && !m) return why_result(EFAULT, "the source is not mapped");
  const uint64_t soff = src.u64(src.has("hpa") ? "hpa" : "offset");
  if (!page_aligned(soff)) return why_result(EINVAL, "the source is not page aligned");
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t gfn = (gpa >> kPageShift) + i;
    Memslot* slot = v.slot_for_gfn(gfn);
    if (!slot || !slot->gmem()) return why_result(EINVAL, "GPA " + hex(gfn << kPageShift) + " has no guest_memfd slot");
    if (!v.is_private(gfn)) return why_result(EINVAL, "GPA " + hex(gfn << kPageShift) + " is not private");
    std::optional<uint64_t> source;
    if (src.has("hpa")) {
      source = (soff >> kPageShift) + i;
    } else {
      const uint64_t off = soff + (i << kPageShift);
      if (off >= m->length) return why_result(EFAULT, "the source ends before nr_pages");
      if (m->kind == VmaKind::Anon) {
        source = p_.mm.anon_fault(*m, off >> kPageShift);
      } else {
        auto g = m->gmem->get_pfn(m->pgoff + (off >> kPageShift));
        if (!g.err) source = g.pfn;
      }
      if (!source) return why_result(EFAULT, "the source page cannot be faulted in");
    }
    const GfnBacking b = gfn_backing(v, p_.mm, gfn, /*is_private=*/true, /*allocate=*/true);
    if (b.out_of_memory) return why_result(ENOMEM, "no frame for the guest_memfd page");
    if (!b.pfn) return why_result(EINVAL, "no guest_memfd page for GPA " + hex(gfn << kPageShift));
    std::string why;
    const int err = t->add_initial_page(gfn << kPageShift, *b.pfn << kPageShift, *source << kPageShift,
                                        flags & kMeasure, &why);
    p_.charge_ns(t->take_cost_ns());
    if (err) return why_result(err, why);
  }
  return errno_result(0);
}

// Operand registers by leaf: which of RCX/RDX/R8/R9 take the GPA|level, the
// TD's TDR, a vCPU's TDVPR, the step's page and the source (Linux's wrappers
// in arch/x86/virt/vmx/tdx/tdx.c).
Result Vmm::seamcall(const Step& s) {
  const Args& a = s.args;
  Result r;
  if (!p_.tdx) return why_result(ENODEV, "no TDX module on this platform");
  std::optional<uint64_t> leaf = seamcall_leaf_number(a.str("leaf"));
  if (!leaf) {
    r["status"] = RValue::str(TdxStatus(tdx::TDX_OPERAND_INVALID).name());
    r["message"] = RValue::str("'" + a.str("leaf") + "' is not a SEAMCALL leaf this model knows");
    return r;
  }
  KvmTdx* t = nullptr;
  if (a.has("vm")) {
    Vm* v = names_.vm(a.str("vm"));
    if (!v) return errno_result(EBADF);
    t = p_.td(v->id());
  }
  const uint64_t tdr = t ? t->tdr() : 0;
  uint64_t tdvpr = 0;
  if (t && t->vcpu(int(a.u64("vcpu"))))
    tdvpr = t->vcpu(int(a.u64("vcpu")))->tdvpr;
  const int level = a.str("level", "4K") == "2M" ? 1 : 0;
  const uint64_t gpa_level = a.u64("gpa") | uint64_t(level);
  uint64_t page = 0;
  const bool has_frame = a.has("hpa") || a.has("pfn") || a.has("fd") || a.has("map");
  if (has_frame) {
    auto pfn = named_frame(p_, names_, a, /*allocate=*/true);
    if (!pfn) return no_frame_result();
    page = (*pfn << kPageShift) | (a.has("hpa") ? a.u64("hpa") & kPageMask : 0);
  }
  uint64_t source = 0;
  if (a.has("source")) {
    const Args src = a.sub("source");
    auto pa = named_address(p_, names_, src, /*allocate=*/true);
    if (!pa) return no_frame_result();
    source = *pa;
  }
  SeamcallArgs in;
  using L = SeamcallLeaf;
  switch (L(*leaf)) {
    case L::VP_ENTER:
    case L::VP_FLUSH:
    case L::VP_INIT: in.rcx = tdvpr; break;
    case L::MNG_ADDCX: in.rcx = page, in.rdx = tdr; break;
    case L::VP_ADDCX: in.rcx = page, in.rdx = tdvpr; break;
    case L::MNG_CREATE: in.rcx = page, in.rdx = a.u64("hkid"); break;
    case L::VP_CREATE: in.rcx = page, in.rdx = tdr; break;
    case L::MNG_KEY_CONFIG:
    case L::MNG_INIT:
    case L::MR_FINALIZE:
    case L::MNG_VPFLUSHDONE:
    case L::MNG_KEY_FREEID:
    case L::MEM_TRACK: in.rcx = tdr, in.rdx = source; break;
    case L::MR_EXTEND: in.rcx = a.u64("gpa"), in.rdx = tdr; break;
    case L::PHYMEM_PAGE_RECLAIM:
    case L::PHYMEM_PAGE_WBINVD: in.rcx = page; break;
    default: in.rcx = gpa_level, in.rdx = tdr, in.r8 = page, in.r9 = source; break;
  }
  // Raw registers override anything above: the host may pass any value.
  if (a.has("rcx")) in.rcx = a.u64("rcx");
  if (a.has("rdx")) in.rdx = a.u64("rdx");
  if (a.has("r8")) in.r8 = a.u64("r8");
  if (a.has("r9")) in.r9 = a.u64("r9");
  const SeamcallResult res = p_.tdx->seamcall(*leaf, in);
  p_.charge_ns(p_.config().timing.seamcall_ns);
  ++p_.stats().counter("platform.tdx_module.host_seamcalls", "count", "SEAMCALLs made by `seamcall` steps");
  r["status"] = RValue::str(res.status.name());
  r["rcx"] = RValue::integer(res.rcx);
  r["rdx"] = RValue::integer(res.rdx);
  r["r8"] = RValue::integer(res.r8);
  return r;
}

}  // namespace cocosim
