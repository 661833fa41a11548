// How KVM changes a VM's stage-2 translation. KVM's fault path asks a backend
// to map, its zap path to unmap and invalidate; who writes the tables is the
// backend's business: KVM itself for default and sw_protected VMs
// (DirectStage2), the TDX module through SEAMCALLs on a Secure EPT it owns,
// pKVM at EL2 through hypercalls on tables the hypervisor owns. KvmMmu's
// fault logic does not change with the backend.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "arch/stage2_format.h"
#include "arch/tlb_control.h"
#include "common/memory_port.h"

namespace cocosim {

struct Stage2Leaf {
  Addr gpa = 0;  // start of the leaf's range
  Addr pa = 0;   // output address of the leaf's start
  uint64_t size = 0;
  int depth = 0;
  Perm perm;
};

class Stage2Backend {
 public:
  struct ZapResult {
    uint64_t leaves = 0;  // leaf entries removed
    double cost_ns = 0;   // simulated time of the invalidation
  };

  virtual ~Stage2Backend() = default;
  virtual const char* name() const = 0;
  virtual const Stage2Format& format() const = 0;
  // Where the vCPUs' MMUs start their walks.
  virtual Stage2Roots roots() const = 0;

  // Install a leaf for `gpa` at `depth` (the last level: 4 KiB; one above: 2 MiB),
  // replacing what was there. False: the GPA is beyond the tables.
  // Throws std::bad_alloc when no frame is left for a table.
  virtual bool map(Addr gpa, Addr pa, int depth, Perm p) = 0;
  // A protected VM's page (pKVM): the hypervisor takes the frame from the host
  // and maps it for the guest. 0 or a negative errno; backends whose tables
  // KVM writes have no such call.
  virtual int donate(Addr gpa, Addr pa) { return -95; /* -EOPNOTSUPP */ }
  // Whether the entry for `gpa` at `depth` is empty (a block may be installed there).
  virtual bool entry_empty(Addr gpa, int depth) = 0;
  // Remove every leaf of GFNs [first, end) (a block that overlaps them, whole),
  // then invalidate the TLBs of `vcpus` as the architecture requires.
  virtual ZapResult zap(uint64_t first_gfn, uint64_t end_gfn,
                        const std::vector<Stage2TlbControl*>& vcpus) = 0;

  // For observers (inspect, the invariant checker): reads go through `via`
  // when given, a debug view that charges no time and counts nothing.
  virtual std::optional<Stage2Leaf> lookup(Addr gpa, MemoryPort* via = nullptr) = 0;
  virtual void for_each_leaf(const std::function<void(const Stage2Leaf&)>& fn,
                             MemoryPort* via = nullptr) = 0;
  virtual uint64_t leaves() const = 0;
};

}  // namespace cocosim
