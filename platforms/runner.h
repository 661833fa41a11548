// Runs a scenario's steps in order in one SystemC thread (the VMM's), checks
// each step's expectations, runs the invariant checker after every step and
// prints the report.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <systemc>

#include "invariant_checker.h"
#include "platform.h"
#include "result.h"
#include "scenario/scenario.h"

namespace cocosim {

struct RunSummary {
  int steps = 0;
  int passed = 0;
  int failed = 0;
  int violations = 0;
  std::map<std::string, uint64_t> ops;   // steps run per operation
  std::map<std::string, double> op_wall_s;  // wall time spent per operation
  std::vector<double> step_wall_s;          // wall time of each step, in order
  std::map<std::string, double> op_sim_ns;  // simulated time spent per operation
  bool finished = false;
};

// When the invariant checker runs: after every step (the default), once at
// the end of the run (for long stress runs), or never.
enum class CheckMode { Step, End, Off };

class Runner : public sc_core::sc_module {
 public:
  void set_check_mode(CheckMode m) { check_mode_ = m; }
  Runner(sc_core::sc_module_name name, const Scenario& sc, Platform& p, std::ostream& out,
         bool verbose);
  ~Runner() override;
  const RunSummary& summary() const { return summary_; }

 private:
  void thread();
  // Execute, charge, report and check one step (also one of a KVM_RUN's `during`).
  void run_step(const Step& s);
  Result execute(const Step& s);
  Result dispatch(const Step& s);
  void report(const Step& s, const Result& r);
  void check_invariants(const Step& s);

  // One function per family of operations.
  Result vm_ops(const Step& s);
  Result file_ops(const Step& s);
  Result memory_ops(const Step& s);
  Result kvm_run(const Step& s);
  Result inspect(const Step& s);
  Result frame_ops(const Step& s);

  // Name lookups (an fd closed or never made gives EBADF).
  Vm* vm(const std::string& name);
  std::shared_ptr<GuestMemfd> gmem(const std::string& name);
  int pid(const Args& a);
  Vma* vma(int pid, const std::string& map);
  // The frame a §3.2 frame form names now (allocated on first use); nullopt: none.
  std::optional<uint64_t> frame(const Args& a, bool allocate);
  // QEMU's kvm_convert_memory(): attributes first, then discard the other copy.
  int convert_memory(Vm& vm, Addr gpa, uint64_t size, bool to_private);

  const Scenario& sc_;
  Platform& p_;
  std::ostream& out_;
  bool verbose_;
  InvariantChecker checker_;
  RunSummary summary_;
  std::map<std::string, Vm*> vms_;
  std::map<std::string, Vm*> vcpu_vms_;  // VMs by name for their vCPU fds (outlive the VM fd)
  std::map<std::string, std::shared_ptr<GuestMemfd>> gmems_;
  std::map<std::string, int> procs_;
  struct Pin {
    std::shared_ptr<GuestMemfd> file;  // a pinned page holds its file
    uint64_t pfn;
  };
  std::multimap<std::pair<std::string, uint64_t>, Pin> pins_;
  std::set<std::string> reported_violations_;
  CheckMode check_mode_ = CheckMode::Step;
};

}  // namespace cocosim
