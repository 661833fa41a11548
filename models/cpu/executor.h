// What runs on a vCPU. An executor (scripted guest ops today, real x86-64 or
// AArch64 code later) sees the guest's world only through GuestEnv: memory
// accesses by GPA, the conversion hypercall, and the ucalls of a selftest. It
// returns from run() whenever the vCPU must leave to the host; the next run()
// resumes where it stopped.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/types.h"

namespace cocosim {

enum class Outcome {
  Ok,     // done
  Exit,   // the vCPU leaves to the host; retry the same thing after re-entry
  Fault,  // a fault was delivered to the guest (name in GuestEnv::fault_name)
};

// A TDCALL from a TD's vCPU (x86-tdx): the leaf (RAX) and operands in, the
// status (RAX) and out-registers back; TDG.MR.REPORT's MRTD in `mrtd`.
struct TdcallRegs {
  uint64_t leaf = 0, rcx = 0, rdx = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0;
};
struct TdcallOut {
  uint64_t status = 0, rcx = 0, rdx = 0, r8 = 0, r9 = 0, r10 = 0, r11 = 0;
  std::array<uint8_t, 48> mrtd{};
};

// A page stage 2 translated, for an executor that keeps its own mappings of
// guest pages (the instruction-set executor).
struct GuestPage {
  uint64_t pfn = 0;          // the frame (with a TD's KeyID bits for a private page)
  uint8_t* host = nullptr;   // the bus's DMI pointer to it; nullptr: use access() for every access
  bool writable = false;     // stage 2 and the DMI grant both allow writes
  bool executable = false;   // stage 2 allows instruction fetches
};

class GuestPageMap;

// Told of every invalidation of the vCPU's translations, before the
// invalidating call returns (an executor drops its mappings there).
class TranslationListener {
 public:
  virtual ~TranslationListener() = default;
  // Stage-2 translations of GPA pages [first_gfn, end_gfn) (~0 end: all).
  virtual void stage2_invalidated(uint64_t first_gfn, uint64_t end_gfn) = 0;
  // DMI pointers to physical pages [first_pfn, end_pfn] were revoked.
  virtual void frames_revoked(uint64_t first_pfn, uint64_t last_pfn) = 0;
  // The listener's mappings, for the invariant checker (nullptr: none).
  virtual const GuestPageMap* mapped_pages() const { return nullptr; }
};

class GuestEnv {
 public:
  virtual ~GuestEnv() = default;
  virtual Outcome access(Addr gpa, void* data, size_t len, bool write, bool shared) = 0;
  // The portable conversion request (MapGPA on TDX, MEM_SHARE/UNSHARE on pKVM,
  // KVM_HC_MAP_GPA_RANGE elsewhere). Ok with the hypercall's return value.
  // `attrs` is KVM_HC_MAP_GPA_RANGE's attribute word as the guest passed it
  // (KVM hands it to the VMM unread); `to_private` is its ENCRYPTED bit, or
  // the direction of a scripted share/unshare.
  virtual Outcome convert(Addr gpa, uint64_t size, bool to_private, uint64_t attrs, uint64_t* ret) = 0;
  // A TDCALL (Ok with `out` filled); a guest that is not a TD takes #UD (Fault).
  virtual Outcome tdcall(const TdcallRegs& in, TdcallOut* out) = 0;
  // An SMCCC HVC64 (arm64): function ID in x0, argument in x1; Ok with x0 on
  // return. Without a hypervisor that answers it: NOT_SUPPORTED (-1).
  virtual Outcome hvc(uint64_t fn, uint64_t x1, uint64_t* ret) {
    *ret = ~uint64_t{0};
    return Outcome::Ok;
  }
  // arm64: the access to `gpa` of an instruction whose data abort has no
  // valid syndrome (ESR_EL2.ISV 0; `iss`: the ISS the CPU reports), before it
  // is made. Ok: the GPA is ordinary memory, make the access; Exit: the host
  // must act (KVM_EXIT_ARM_NISV, or KVM_RUN failed with ENOSYS) and the
  // instruction runs again after re-entry, without the access; Fault: a data
  // abort is injected (fault_name() "DABT"), the access is not made.
  virtual Outcome mmio_nisv(Addr gpa, bool write, uint64_t iss) { return Outcome::Ok; }
  virtual std::string fault_name() const = 0;
  // Leave to the host with a ucall (selftest ucall semantics).
  virtual void ucall_sync(const std::string& tag) = 0;
  virtual void ucall_done() = 0;
  virtual void ucall_abort(const std::string& message) = 0;
  // Simulated work done by the guest itself (not memory): lets executors charge time.
  virtual void consume_ns(double ns) = 0;

  // For executors that map guest pages themselves (the ISA executor):
  // Translate the page of `gpa` for an access as access() would, resolving
  // stage-2 faults with the hypervisor (Exit: the host must act first; Fault:
  // injected). Ok: *page filled. Without a stage 2 of its own, an environment
  // answers with no direct pointer (every access through access()).
  virtual Outcome translate_page(Addr gpa, bool write, bool exec, GuestPage* page) {
    *page = GuestPage{gpa >> kPageShift, nullptr, true, false};
    return Outcome::Ok;
  }
  // After translate_page(gpa) gave `page` with a host pointer: the GPA pages
  // around it, inside [lo_gfn, end_gfn), that stage 2 maps now to the
  // frames next to page.pfn with the same rights and whose DMI pointers
  // follow page.host, found without faulting (the executor maps them as one
  // run). The answer always holds gpa's page; an environment that cannot
  // tell answers with that page alone.
  virtual void translate_run(Addr gpa, const GuestPage& page, uint64_t lo_gfn, uint64_t end_gfn,
                             uint64_t* first_gfn, uint64_t* pages) {
    *first_gfn = gpa >> kPageShift;
    *pages = 1;
  }
  // The guest cannot go on (an exception without handler, an instruction the
  // emulator refuses): KVM_RUN returns KVM_EXIT_INTERNAL_ERROR with `why`.
  virtual void internal_error(const std::string& why) {}
  // The guest triple-faulted (x86): KVM_RUN returns KVM_EXIT_SHUTDOWN.
  virtual void shutdown(const std::string& why) { internal_error(why); }
  // The one listener told of invalidations (nullptr: none).
  virtual void set_translation_listener(TranslationListener* l) {}
  // Leave to the host in the middle of an instruction and return when the
  // host re-enters the vCPU (KVM_RUN): the executor's state stays as it is.
  // What the exit is was said by the call that returned Exit. False: the
  // vCPU was closed meanwhile and this executor must abandon the guest at
  // once, touching neither the environment nor guest memory again.
  virtual bool exit_to_host() { return true; }
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual void run(GuestEnv& env) = 0;
};

}  // namespace cocosim
