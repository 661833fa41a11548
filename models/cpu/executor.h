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

class GuestEnv {
 public:
  virtual ~GuestEnv() = default;
  virtual Outcome access(Addr gpa, void* data, size_t len, bool write, bool shared) = 0;
  // The portable conversion request (MapGPA on TDX, MEM_SHARE/UNSHARE on pKVM,
  // KVM_HC_MAP_GPA_RANGE elsewhere). Ok with the hypercall's return value.
  virtual Outcome convert(Addr gpa, uint64_t size, bool to_private, uint64_t* ret) = 0;
  // A TDCALL (Ok with `out` filled); a guest that is not a TD takes #UD (Fault).
  virtual Outcome tdcall(const TdcallRegs& in, TdcallOut* out) = 0;
  // An SMCCC HVC64 (arm64): function ID in x0, argument in x1; Ok with x0 on
  // return. Without a hypervisor that answers it: NOT_SUPPORTED (-1).
  virtual Outcome hvc(uint64_t fn, uint64_t x1, uint64_t* ret) {
    *ret = ~uint64_t{0};
    return Outcome::Ok;
  }
  virtual std::string fault_name() const = 0;
  // Leave to the host with a ucall (selftest ucall semantics).
  virtual void ucall_sync(const std::string& tag) = 0;
  virtual void ucall_done() = 0;
  virtual void ucall_abort(const std::string& message) = 0;
  // Simulated work done by the guest itself (not memory): lets executors charge time.
  virtual void consume_ns(double ns) = 0;
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual void run(GuestEnv& env) = 0;
};

}  // namespace cocosim
