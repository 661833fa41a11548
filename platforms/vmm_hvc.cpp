// The `hvc` host step on arm64-pkvm: one of pKVM's EL2 functions called by
// name with its arguments, as pkvm_ownership_selftest calls them (the host's
// hypercalls go through the same functions), its return as an errno.
#include <cerrno>
#include <cstdlib>

#include "common/errno_names.h"
#include "common/trace.h"
#include "inspection.h"
#include "report.h"
#include "vmm.h"

namespace cocosim {

namespace {

// kvm_pgtable_prot from "RWX" letters, or a number (bits beyond RWX included).
uint64_t parse_prot(const std::string& s) {
  if (s.empty()) return pkvm::kProtRWX;
  char* end = nullptr;
  const uint64_t v = std::strtoull(s.c_str(), &end, 0);
  if (end && *end == 0 && end != s.c_str()) return v;
  uint64_t p = 0;
  for (char c : s) {
    if (c == 'R' || c == 'r') p |= pkvm::kProtR;
    else if (c == 'W' || c == 'w') p |= pkvm::kProtW;
    else if (c == 'X' || c == 'x') p |= pkvm::kProtX;
    else return ~uint64_t{0};  // not a protection: every bit, which EL2 refuses
  }
  return p;
}

}  // namespace

Result Vmm::hvc(const Step& s) {
  const Args& a = s.args;
  if (!p_.pkvm) return errno_result(ENOSYS);  // the validator keeps `hvc` to arm64-pkvm
  PkvmHyp& hyp = *p_.pkvm;
  p_.charge_ns(p_.config().timing.hvc_ns);
  std::string call = a.str("call");
  if (call.rfind("__pkvm_", 0) == 0) call = call.substr(7);
  else if (call.rfind("pkvm_", 0) == 0) call = call.substr(5);
  // The VM: a protected VM by its name, else EL2's own non-protected selftest VM.
  uint16_t handle = 0;
  if (a.has("vm")) {
    Vm* v = names_.vm(a.str("vm"));
    if (!v) return errno_result(EBADF);
    const int h = p_.pkvm_handle(v->id());
    if (h >= 0) handle = uint16_t(h);  // else 0: no such VM at EL2
  } else if (call == "host_share_guest" || call == "host_unshare_guest" || call == "host_reclaim_page_guest") {
    handle = p_.pkvm_selftest_vm();
  }
  const uint64_t gfn = a.u64("gfn");
  const uint64_t n = a.u64("nr_pages", 1);
  auto frame = [&]() -> std::optional<uint64_t> { return named_frame(p_, names_, a, /*allocate=*/true); };
  int ret = 0;
  bool needs_frame = call != "host_unshare_guest" && call != "host_reclaim_page_guest";
  std::optional<uint64_t> pfn;
  if (needs_frame) {
    pfn = frame();
    if (!pfn) {
      Result r = errno_result(EFAULT);
      r["message"] = RValue::str("no frame: name one with hpa, pfn, fd+offset or map+offset");
      return r;
    }
  }
  try {
    if (call == "host_share_hyp") ret = hyp.host_share_hyp(*pfn);
    else if (call == "host_unshare_hyp") ret = hyp.host_unshare_hyp(*pfn);
    else if (call == "host_donate_hyp") ret = hyp.host_donate_hyp(*pfn, n);
    else if (call == "hyp_donate_host") ret = hyp.hyp_donate_host(*pfn, n);
    else if (call == "host_share_ffa") ret = hyp.host_share_ffa(*pfn, n);
    else if (call == "host_unshare_ffa") ret = hyp.host_unshare_ffa(*pfn, n);
    else if (call == "hyp_pin_shared_mem") ret = hyp.hyp_pin_shared_mem(*pfn << kPageShift, (*pfn + n) << kPageShift);
    else if (call == "hyp_unpin_shared_mem") hyp.hyp_unpin_shared_mem(*pfn << kPageShift, (*pfn + n) << kPageShift);
    else if (call == "host_share_guest") ret = hyp.host_share_guest(*pfn, gfn, n, handle, parse_prot(a.str("prot")));
    else if (call == "host_unshare_guest") ret = hyp.host_unshare_guest(gfn, n, handle);
    else if (call == "host_donate_guest") ret = hyp.host_donate_guest(*pfn, gfn, handle);
    else if (call == "host_reclaim_page_guest") ret = hyp.host_reclaim_page_guest(gfn, handle);
    else if (call == "host_force_reclaim_page_guest") ret = hyp.host_force_reclaim_page_guest(*pfn << kPageShift);
    else {
      Result r = errno_result(EINVAL);
      r["message"] = RValue::str("unknown EL2 function '" + a.str("call") + "'");
      return r;
    }
  } catch (const HypPanic& e) {
    // Linux would stop the machine; the run reports it and goes on.
    report_.note(s, std::string("hyp_panic: ") + e.what());
    Result r;
    r["message"] = RValue::str(std::string("hyp_panic: ") + e.what());
    return r;
  }
  COCOSIM_PROBE(value(trace::Cat::Pkvm, "platform.pkvm", "ret", uint32_t(ret), 32,
                      ret ? ("-" + errno_name(-ret)).c_str() : "0"));
  return errno_result(-ret);
}

}  // namespace cocosim
