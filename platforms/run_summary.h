// What a run did, as the runner counts it for the report and the stats
// file: steps and expectations, simulated and wall time per operation and per
// step, and each vCPU's KVM_RUN time and exits.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kvm/kvm_vcpu.h"
#include "run_limits.h"

namespace cocosim {

// One step's cost: simulated time in whole picoseconds, wall time in seconds.
struct StepTime {
  std::string step;  // its number as the report shows it ("3", "5.1")
  std::string op;
  uint64_t simulated_ps = 0;
  double wall_s = 0;
  double cpu_s = 0;  // the process's CPU time (for benchmarks on a shared machine; not in the stats file)
};

// One KVM vCPU over the run: time inside KVM_RUN and why it came out.
struct VcpuRecord {
  std::string vm;  // the VM's name in the scenario
  int vcpu = 0;
  std::string module;     // the vCPU module that ran it (its counters' prefix)
  uint64_t runs = 0;      // KVM_RUN steps
  uint64_t guest_ps = 0;  // simulated time inside KVM_RUN (guest and in-kernel exits)
  VcpuExitCounts exits;   // as KVM counted them
  std::map<std::string, uint64_t> handled_by_vmm;  // exits the VMM's `auto:` handled and re-entered
};

struct RunSummary {
  int steps = 0;
  int passed = 0;
  int failed = 0;
  int violations = 0;
  std::map<std::string, uint64_t> ops;         // steps run per operation
  std::map<std::string, double> op_wall_s;     // wall time spent per operation
  std::map<std::string, uint64_t> op_sim_ps;   // simulated time spent per operation
  std::vector<StepTime> step_times;            // every step, in the order they started
  std::vector<VcpuRecord> vcpus;               // in the order of their first KVM_RUN
  bool finished = false;
  // Set when a limit or a signal ended the run early: what, and where.
  std::optional<StopReason> stopped;
  std::string stopped_at;   // "step 7 (KVM_RUN)"
  uint64_t stopped_ps = 0;  // simulated time then
};

}  // namespace cocosim
