// The waveform of a run in which the invariant checker finds a rule broken
// (issue 11: "the VCD is complete and valid ... when an invariant is
// violated"). No scenario can break an invariant through the models, so, as
// tests/invariant_checker_test.cpp does, this test breaks one behind their
// backs: after step BREAK_AT it gives a host frame a guest's owner record.
// The run then goes on to its end with the platform, tracer and runner that
// `cocosim run --vcd` uses, and the VCD is written as cocosim writes it;
// tests/waves/waves_test.py (case vcd_after_violation) runs this and reads
// the file with GTKWave's vcd2fst.
//
//   vcd_violation_test SCENARIO BREAK_AT VCD
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include <systemc>

#include "platform.h"
#include "runner.h"
#include "common/sim_time.h"
#include "scenario/scenario.h"
#include "trace/tracer.h"

using namespace cocosim;

namespace {
unsigned count_vcpus(const std::vector<Step>& steps) {
  unsigned n = 0;
  for (const auto& s : steps) n += (s.op == "KVM_CREATE_VCPU") + count_vcpus(s.during);
  return n;
}
}  // namespace

int sc_main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: vcd_violation_test SCENARIO BREAK_AT VCD\n";
    return 2;
  }
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", sc_core::SC_DO_NOTHING);
  LoadResult lr = load_scenario(argv[1], LoadOptions{});
  if (!lr.scenario) {
    for (const auto& e : lr.errors) std::cerr << e.str() << "\n";
    return 2;
  }
  const Scenario& sc = *lr.scenario;
  const int break_at = std::atoi(argv[2]);
  Stats stats;
  Platform platform(sc.platform, count_vcpus(sc.steps), stats);
  Tracer tracer([&platform] { return platform.now_ps(); });
  tracer.enable_vcd();
  std::ostringstream report;
  Runner runner("vmm", sc, platform, report, false);
  bool broken = false;
  runner.set_after_step([&] {
    platform.trace_page_counts();
    if (broken || runner.summary().steps != break_at) return;
    // A host frame recorded as a guest's: the owner-record rule must catch it.
    platform.frames.for_each_used([&](uint64_t pfn, const FrameUse& use) {
      if (!broken && use.own.owner == Owner::Host) {
        platform.frames.set_owner(pfn, {Owner::Guest, 0, false, {}});
        broken = true;
      }
    });
  });
  tracer.install();
  sc_core::sc_start();
  tracer.uninstall();
  const RunSummary& s = runner.summary();
  const uint64_t end_ps = to_ps(sc_core::sc_time_stamp());
  std::string err;
  if (!tracer.write_vcd(argv[3], end_ps, std::string("run of ") + argv[1], &err)) {
    std::cerr << "cannot write the VCD: " << err << "\n";
    return 1;
  }
  std::cout << report.str() << "broken after step " << break_at << ": " << (broken ? "yes" : "no") << ", "
            << s.steps << " steps, " << s.violations << " invariant violations, finished "
            << (s.finished ? "yes" : "no") << "\n";
  return broken && s.violations > 0 && s.finished ? 0 : 1;
}
