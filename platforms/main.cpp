// The cocosim command line: `cocosim run FILE`, `cocosim check FILE`,
// `cocosim config FILE` and `cocosim diff A.json B.json`.
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <systemc>

#include "common/sim_time.h"
#include "output_file.h"
#include "platform.h"
#include "runner.h"
#include "scenario/int_expr.h"
#include "scenario/scenario.h"
#include "stats_diff.h"
#include "stats_json.h"
#include "sweep/sweep_command.h"

namespace {

const char* kUsage =
    "usage: cocosim run FILE [--arch x86-tdx|arm64-pkvm] [--set KEY=VALUE]... [--stats PATH]\n"
    "                        [--check step|end|off] [--max-steps N] [--max-sim-time T]\n"
    "                        [--timeout T] [-v]\n"
    "       cocosim check FILE [--arch A] [--set KEY=VALUE]...\n"
    "       cocosim config FILE [--arch A] [--set KEY=VALUE]...\n"
    "       cocosim diff A.json B.json\n"
    "       cocosim sweep FILE --param KEY=V1,V2,... [options]  (cocosim sweep --help)\n"
    "\n"
    "  run     validate FILE, then run it: exit 0 when every expectation held,\n"
    "          1 when one failed or an invariant was violated, 2 for a bad file,\n"
    "          3 when a limit stopped the run, 128+N when signal N did\n"
    "          (SIGINT 130, SIGTERM 143, SIGHUP 129); stopped runs still print\n"
    "          the summary and write the stats\n"
    "  check   validate FILE only (exit 0 or 2)\n"
    "  config  validate FILE, then print its platform as YAML with every default\n"
    "          filled in (exit 0 or 2)\n"
    "  diff    compare two --stats files: what ran (version, arch, platform),\n"
    "          verdict, simulated time, counters (old, new, delta, ratio), steps\n"
    "          and exits; exit 0 when equal apart from wall times, 1 when they\n"
    "          differ, 2 when a file cannot be read\n"
    "  --arch  override platform.arch (after every --set)\n"
    "  --set   override a platform key, e.g. --set platform.timing.dram=100ns\n"
    "          (repeatable; validated as in the file, errors at --set:N:COL)\n"
    "  --stats write run statistics as JSON to PATH (also trace.stats in the file):\n"
    "          version, platform, verdict, times per step and vCPU in integer ps,\n"
    "          exits by reason, every counter with unit and description, rates;\n"
    "          written whole or not at all, never over the scenario file\n"
    "  --check when the invariant checker runs: after every step (default), once\n"
    "          at the end (long stress runs), or off\n"
    "  --max-steps N     stop after N steps (default 10000000; 0: no limit)\n"
    "  --max-sim-time T  stop at simulated time T, e.g. 500us, 2ms (default 1s; 0: none)\n"
    "  --timeout T       stop after T of wall time, e.g. 30s, 500ms (default 50s; 0: none)\n"
    "  -v      print every step with its results and simulated time (in ps)\n"
    "  sweep   run the scenario once per point of a parameter grid, each point its\n"
    "          own `cocosim run` process, on this machine or on Slurm; writes\n"
    "          results.csv and plots (docs/sweep.md)\n";

struct Options {
  std::string command, file, stats;
  std::optional<cocosim::Arch> arch;
  std::vector<std::string> sets;
  bool verbose = false;
  cocosim::CheckMode check = cocosim::CheckMode::Step;
  cocosim::RunLimits limits;
};

// --timeout takes seconds without a unit (30 = 30 s), or a time with one.
std::optional<double> parse_wall_seconds(const std::string& v) {
  if (!v.empty() && std::isdigit(static_cast<unsigned char>(v.back()))) {
    auto ns = cocosim::parse_time_ns(v + "s");
    return ns ? std::optional<double>(*ns / 1e9) : std::nullopt;
  }
  auto ns = cocosim::parse_time_ns(v);
  return ns ? std::optional<double>(*ns / 1e9) : std::nullopt;
}

int parse_args(int argc, char** argv, Options& o) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  o.command = argv[1];
  if (o.command == "-h" || o.command == "--help" || o.command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (o.command == "diff") {
    if (argc != 4) {
      std::cerr << "cocosim: diff needs two stats files: cocosim diff A.json B.json\n";
      return 2;
    }
    return cocosim::diff_stats_files(argv[2], argv[3], std::cout, std::cerr);
  }
  if (o.command != "run" && o.command != "check" && o.command != "config") {
    std::cerr << "cocosim: unknown command '" << o.command << "'\n" << kUsage;
    return 2;
  }
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* what) -> std::optional<std::string> {
      if (i + 1 >= argc) {
        std::cerr << "cocosim: " << arg << " needs " << what << "\n";
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    if (arg == "--arch") {
      auto v = value("an architecture");
      if (!v) return 2;
      o.arch = cocosim::arch_from_name(*v);
      if (!o.arch) {
        std::cerr << "cocosim: --arch must be x86-tdx or arm64-pkvm, not '" << *v << "'\n";
        return 2;
      }
    } else if (arg == "--set") {
      auto v = value("KEY=VALUE");
      if (!v) return 2;
      o.sets.push_back(*v);
    } else if (arg == "--stats") {
      auto v = value("a path");
      if (!v) return 2;
      o.stats = *v;
    } else if (arg == "--vcd") {
      std::cerr << "cocosim: --vcd is not available yet: waveform tracing is still to be built\n";
      return 2;
    } else if (arg == "--check") {
      auto v = value("step, end or off");
      if (!v) return 2;
      if (*v == "step") o.check = cocosim::CheckMode::Step;
      else if (*v == "end") o.check = cocosim::CheckMode::End;
      else if (*v == "off") o.check = cocosim::CheckMode::Off;
      else {
        std::cerr << "cocosim: --check must be step, end or off, not '" << *v << "'\n";
        return 2;
      }
    } else if (arg == "--max-steps") {
      auto v = value("a number of steps");
      if (!v) return 2;
      auto n = cocosim::parse_int_expr(*v);
      if (!n.value) {
        std::cerr << "cocosim: --max-steps must be a number of steps, not '" << *v << "'\n";
        return 2;
      }
      o.limits.max_steps = *n.value;
    } else if (arg == "--max-sim-time") {
      auto v = value("a simulated time");
      if (!v) return 2;
      auto ns = cocosim::parse_time_ns(*v);
      if (!ns) {
        std::cerr << "cocosim: --max-sim-time must be a time such as 500us or 2ms (at most 3600s), not '"
                  << *v << "'\n";
        return 2;
      }
      o.limits.max_sim_ns = *ns;
    } else if (arg == "--timeout") {
      auto v = value("a wall-clock time");
      if (!v) return 2;
      auto sec = parse_wall_seconds(*v);
      if (!sec) {
        std::cerr << "cocosim: --timeout must be a time such as 30s or 500ms (at most 3600s), not '"
                  << *v << "'\n";
        return 2;
      }
      o.limits.timeout_s = *sec;
    } else if (arg == "-v" || arg == "--verbose") {
      o.verbose = true;
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "cocosim: unknown option '" << arg << "'\n" << kUsage;
      return 2;
    } else if (o.file.empty()) {
      o.file = arg;
    } else {
      std::cerr << "cocosim: one scenario file at a time ('" << o.file << "', then '" << arg
                << "')\n";
      return 2;
    }
  }
  if (o.file.empty()) {
    std::cerr << "cocosim: " << o.command << " needs a scenario FILE\n" << kUsage;
    return 2;
  }
  return -1;
}

// One vCPU module per KVM_CREATE_VCPU, also those inside a KVM_RUN's during:
// SystemC elaborates once, before the run.
unsigned count_vcpus(const std::vector<cocosim::Step>& steps) {
  unsigned n = 0;
  for (const auto& s : steps) n += (s.op == "KVM_CREATE_VCPU") + count_vcpus(s.during);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  // Our own entry point, so the SystemC banner can be switched off before the
  // kernel starts; SystemC then calls sc_main below.
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  // A sweep only starts processes: no SystemC kernel in this one.
  if (argc >= 2 && std::string(argv[1]) == "sweep")
    return cocosim::sweep_main(std::vector<std::string>(argv + 2, argv + argc));
  return sc_core::sc_elab_and_sim(argc, argv);
}

int sc_main(int argc, char** argv) {
  // Before any sc_time exists: every time cocosim shows is whole picoseconds.
  if (!cocosim::use_picosecond_resolution()) {
    std::cerr << "cocosim: internal error: SystemC's time resolution is not 1 ps\n";
    return 2;
  }
  Options o;
  if (int rc = parse_args(argc, argv, o); rc >= 0) return rc;

  cocosim::LoadOptions lo;
  lo.arch = o.arch;
  lo.sets = o.sets;
  cocosim::LoadResult lr = cocosim::load_scenario(o.file, lo);
  if (!lr.scenario) {
    for (const auto& e : lr.errors) std::cerr << e.str() << "\n";
    std::cerr << "cocosim: " << o.file << ": not a valid scenario (" << lr.errors.size()
              << (lr.errors.size() == 1 ? " error" : " errors") << ")\n";
    return 2;
  }
  cocosim::Scenario& sc = *lr.scenario;
  if (!sc.vcd_path.empty()) {
    std::cerr << o.file << ": trace.vcd is not available yet: waveform tracing is still to be built\n";
    return 2;
  }
  if (o.command == "config") {
    std::cout << cocosim::platform_yaml(sc.platform);
    return 0;
  }
  if (o.command == "check") {
    std::cout << o.file << ": ok (" << sc.steps.size() << " steps, " << sc.programs.size() + sc.elf_programs.size()
              << " programs)\n";
    return 0;
  }
  const std::string stats_path = o.stats.empty() ? sc.stats_path : o.stats;
  if (!stats_path.empty()) {
    // Found out now, not after the run: the statistics must not be lost. The
    // file itself is only written at the end, whole (no empty or stale file).
    const std::string problem = cocosim::output_path_problem(stats_path, {o.file});
    if (!problem.empty()) {
      std::cerr << "cocosim: cannot write stats to " << stats_path << ": " << problem << "\n";
      return 2;
    }
  }

  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", sc_core::SC_DO_NOTHING);

  std::cout << "cocosim: " << o.file << (sc.name.empty() ? "" : " (" + sc.name + ")") << " on "
            << cocosim::arch_name(sc.platform.arch) << std::endl;  // shown before a long run
  const auto wall0 = std::chrono::steady_clock::now();
  cocosim::Stats stats;
  cocosim::RunSummary summary;
  std::string internal_error;
  {
    cocosim::Platform platform(sc.platform, count_vcpus(sc.steps), stats);
    cocosim::Runner runner("vmm", sc, platform, std::cout, o.verbose);
    runner.set_check_mode(o.check);
    runner.set_limits(o.limits);
    cocosim::LimitWatch::catch_signals();
    try {
      sc_core::sc_start();
    } catch (const std::exception& e) {
      internal_error = e.what();
    }
    summary = runner.summary();
    platform.record_gauges();
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const uint64_t sim_ps = cocosim::to_ps(sc_core::sc_time_stamp());

  cocosim::print_summary(std::cout, o.file, summary, internal_error, sim_ps);

  const bool ok = internal_error.empty() && summary.finished && summary.failed == 0 &&
                  summary.violations == 0;
  if (!stats_path.empty()) {
    std::string err;
    cocosim::RunReport report{o.file, sc, summary, stats};
    report.verdict = !internal_error.empty() ? "internal error"
                     : summary.stopped       ? "stopped by " + summary.stopped->what
                     : !summary.finished     ? "stopped early"
                     : ok                    ? "passed"
                                             : "failed";
    report.simulated_ps = sim_ps;
    report.wall_s = wall;
    auto write = [&](const std::string& tmp, std::string* e) {
      return cocosim::write_stats(tmp, cocosim::StatsFormat::Json, report, e);
    };
    if (!cocosim::write_whole(stats_path, write, &err)) {
      std::cerr << "cocosim: cannot write stats to " << stats_path << ": " << err << "\n";
      return summary.stopped ? summary.stopped->exit_code : 1;
    }
  }
  if (summary.stopped) return summary.stopped->exit_code;
  return ok ? 0 : 1;
}
