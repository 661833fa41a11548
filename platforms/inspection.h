// Looking at the platform without changing it: `inspect` (a GPA, a
// guest_memfd page or a frame), `dram_read`, and the frame lookup behind the
// frame forms of scenario-format §3.2.
#pragma once
#include <optional>

#include "platform.h"
#include "result.h"
#include "scenario/scenario.h"
#include "vmm.h"

namespace cocosim {

// The frame a §3.2 frame form names now (allocated on first use when
// `allocate`); nullopt: none.
std::optional<uint64_t> named_frame(Platform& p, const VmmNames& names, const Args& a, bool allocate);
// The physical address of the byte a frame form names (its frame, and the
// offset within the page of `hpa` or `offset`); nullopt: no frame.
std::optional<Addr> named_address(Platform& p, const VmmNames& names, const Args& a, bool allocate);
// The result of a frame operation whose frame does not exist.
Result no_frame_result();

class Inspection {
 public:
  Inspection(Platform& p, const VmmNames& names) : p_(p), names_(names) {}
  Result inspect(const Step& s);
  // `inspect: {vm: V, gpa: G}`'s record (also gdb's `monitor page`).
  Result inspect_gpa(Vm& vm, Addr gpa);
  // {vm, vcpu}: where its guest is. Real guest code: its registers and
  // instruction count (as KVM_RUN's results name them); a scripted guest:
  // the index of its next op.
  Result inspect_vcpu(Vm& vm, int id);
  Result dram_read(const Step& s);

 private:
  void frame_fields(Result& r, std::optional<uint64_t> pfn);
  void pkvm_fields(Result& r, uint64_t pfn);
  Platform& p_;
  const VmmNames& names_;
};

}  // namespace cocosim
