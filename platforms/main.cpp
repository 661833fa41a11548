// The cocosim command line: `cocosim run FILE`, `cocosim check FILE`,
// `cocosim config FILE` and `cocosim diff A.json B.json`.
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <systemc>

#include "common/sim_time.h"
#include "gdb/gdb_session.h"
#include "gdb/tcp_channel.h"
#include "output_file.h"
#include "platform.h"
#include "runner.h"
#include "scenario/int_expr.h"
#include "scenario/scenario.h"
#include "stats_diff.h"
#include "stats_json.h"
#include "stats_text.h"
#include "trace/tracer.h"
#include "sweep/sweep_command.h"

namespace {

const char* kUsage =
    "usage: cocosim run FILE [--arch x86-tdx|arm64-pkvm] [--set KEY=VALUE]... [--stats PATH]\n"
    "                        [--check step|end|off] [--check-full-every N] [--max-steps N]\n"
    "                        [--max-sim-time T] [--timeout T] [--gdb PORT] [-v | --quiet]\n"
    "                        [--vcd [PATH]] [--trace CATS] [--trace-file PATH] [--stats-interval T]\n"
    "                        [--no-dmi]\n"
    "       cocosim check FILE [--arch A] [--set KEY=VALUE]...\n"
    "       cocosim config FILE [--arch A] [--set KEY=VALUE]...\n"
    "       cocosim diff A.json B.json\n"
    "       cocosim sweep FILE --param KEY=V1,V2,... [options]  (cocosim sweep --help)\n"
    "\n"
    "  run     validate FILE, then run it: exit 0 when every expectation held,\n"
    "          1 when one failed or an invariant was violated, 2 for a bad file,\n"
    "          3 when a limit stopped the run, 128+N when signal N did\n"
    "          (SIGINT 130, SIGTERM 143, SIGHUP 129), 137 when gdb killed it;\n"
    "          stopped runs still print the summary and write the stats\n"
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
    "          written whole or not at all, never over the scenario file; beside it\n"
    "          PATH without .json plus .txt: the same in gem5's text layout\n"
    "  --check when the invariant checker runs: after every step (default: each\n"
    "          step checks what it changed, the last step everything), once at\n"
    "          the end (long stress runs), or off\n"
    "  --check-full-every N  with --check step, check everything every N steps\n"
    "          (default 0: only after the last)\n"
    "  --max-steps N     stop after N steps (default 10000000; 0: no limit)\n"
    "  --max-sim-time T  stop at simulated time T, e.g. 500us, 2ms (default 1s; 0: none)\n"
    "  --timeout T       stop after T of wall time, e.g. 30s, 500ms (default 50s; 0: none)\n"
    "  --gdb PORT        serve gdb on 127.0.0.1:PORT (0: a free port, printed) and wait\n"
    "                    for it before the first step (docs/debugging.md)\n"
    "  -v      print every step with its results and simulated time (in ps)\n"
    "  --quiet print only the verdict (the summary line)\n"
    "  --vcd   write waveforms (VCD) to PATH (also trace.vcd in the file); without\n"
    "          PATH to waves/SCENARIO.vcd; a GTKWave save file (.gtkw) and translate\n"
    "          filters (.filter) are written beside it (docs/debugging.md)\n"
    "  --trace one line per event of the categories, a comma-separated list of\n"
    "          bus, gmem, kvm, tdx, pkvm, mmu, guest (or all), to stdout\n"
    "  --trace-file PATH  the --trace lines go to PATH instead\n"
    "  --stats-interval T with --stats: a text block of the counters every T of\n"
    "          simulated time in the gem5-style text file beside the JSON\n"
    "  --no-dmi  no DMI pointers: every access is a b_transport (exact bus traces,\n"
    "          slower, same simulated times; refused for ELF guests, which Unicorn\n"
    "          runs from direct pointers)\n"
    "  sweep   run the scenario once per point of a parameter grid, each point its\n"
    "          own `cocosim run` process, on this machine or on Slurm; writes\n"
    "          results.csv and plots (docs/sweep.md)\n";

struct Options {
  std::string command, file, stats;
  std::optional<cocosim::Arch> arch;
  std::vector<std::string> sets;
  bool verbose = false;
  bool quiet = false;
  bool no_dmi = false;
  bool vcd = false;  // --vcd given (with or without a path)
  std::string vcd_path, trace_file;
  unsigned trace_mask = 0;
  double stats_interval_ns = 0;
  std::optional<uint16_t> gdb_port;
  cocosim::CheckMode check = cocosim::CheckMode::Step;
  uint64_t full_check_every = 0;
  cocosim::RunLimits limits;
};

// `--vcd x.yaml` means the default path for scenario x.yaml, not a VCD named x.yaml.
bool looks_like_scenario(const std::string& a) {
  auto ends = [&](const std::string& e) {
    return a.size() >= e.size() && a.compare(a.size() - e.size(), e.size(), e) == 0;
  };
  return ends(".yaml") || ends(".yml");
}

// waves/NAME.vcd for scenario path/NAME.yaml.
std::string default_vcd_path(const std::string& scenario) {
  std::string base = scenario.substr(scenario.find_last_of('/') + 1);
  const size_t dot = base.find_last_of('.');
  if (dot != std::string::npos && dot > 0) base = base.substr(0, dot);
  return "waves/" + base + ".vcd";
}

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
      o.vcd = true;
      // The path is optional: the next word is it unless it is an option or the scenario.
      if (i + 1 < argc && argv[i + 1][0] != '-' && !looks_like_scenario(argv[i + 1]))
        o.vcd_path = argv[++i];
    } else if (arg == "--trace") {
      auto v = value("categories, e.g. bus,gmem,kvm");
      if (!v) return 2;
      std::string bad;
      auto mask = cocosim::Tracer::parse_categories(*v, &bad);
      if (!mask) {
        std::cerr << "cocosim: --trace: unknown category '" << bad << "'; valid: "
                  << cocosim::Tracer::category_list() << "\n";
        return 2;
      }
      o.trace_mask = *mask;
    } else if (arg == "--trace-file") {
      auto v = value("a path");
      if (!v) return 2;
      o.trace_file = *v;
    } else if (arg == "--stats-interval") {
      auto v = value("a simulated time");
      if (!v) return 2;
      auto ns = cocosim::parse_time_ns(*v);
      if (!ns || *ns <= 0) {
        std::cerr << "cocosim: --stats-interval must be a time above 0 such as 10us or 1ms, not '"
                  << *v << "'\n";
        return 2;
      }
      o.stats_interval_ns = *ns;
    } else if (arg == "--no-dmi") {
      o.no_dmi = true;
    } else if (arg == "-q" || arg == "--quiet") {
      o.quiet = true;
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
    } else if (arg == "--check-full-every") {
      auto v = value("a number of steps");
      if (!v) return 2;
      auto n = cocosim::parse_int_expr(*v);
      if (!n.value) {
        std::cerr << "cocosim: --check-full-every must be a number of steps, not '" << *v << "'\n";
        return 2;
      }
      o.full_check_every = uint64_t(*n.value);
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
    } else if (arg == "--gdb") {
      auto v = value("a TCP port (0: any free one)");
      if (!v) return 2;
      auto n = cocosim::parse_int_expr(*v);
      if (!n.value || *n.value > 65535) {
        std::cerr << "cocosim: --gdb must be a TCP port from 0 to 65535, not '" << *v << "'\n";
        return 2;
      }
      o.gdb_port = uint16_t(*n.value);
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
  if (o.quiet && o.verbose) {
    std::cerr << "cocosim: -v and --quiet contradict each other: choose one\n";
    return 2;
  }
  if (!o.trace_file.empty() && !o.trace_mask) {
    std::cerr << "cocosim: --trace-file needs --trace CATEGORIES (which events to write)\n";
    return 2;
  }
  if (o.gdb_port && o.command != "run") {
    std::cerr << "cocosim: --gdb serves a run: it applies to `cocosim run` only\n";
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
  const std::string stats_text_path = stats_path.empty() ? "" : cocosim::gem5_text_path(stats_path);
  std::string vcd_path = !o.vcd_path.empty() ? o.vcd_path
                         : o.vcd            ? default_vcd_path(o.file)
                                            : sc.vcd_path;
  if (o.vcd && o.vcd_path.empty()) {
    std::error_code ec;  // the default directory is made when missing
    std::filesystem::create_directories("waves", ec);
  }
  if (o.no_dmi && !sc.elf_programs.empty()) {
    // Unicorn fetches instructions from host memory it maps, so guest code
    // cannot run without a direct pointer to its pages.
    std::cerr << "cocosim: --no-dmi: program '" << sc.elf_programs.begin()->first
              << "' is guest code (elf:), which Unicorn runs only from DMI pointers to its pages; "
                 "run this scenario without --no-dmi\n";
    return 2;
  }
  if (o.stats_interval_ns > 0 && stats_path.empty()) {
    std::cerr << "cocosim: --stats-interval needs --stats PATH (or trace.stats): the blocks go "
                 "into the text file beside it\n";
    return 2;
  }
  // Found out now, not after the run: nothing the run makes may be lost. The
  // files themselves are only written at the end, whole (no empty or stale file).
  std::vector<std::pair<std::string, std::string>> outputs;  // what, path
  if (!stats_path.empty()) {
    outputs.push_back({"stats", stats_path});
    outputs.push_back({"stats", stats_text_path});
  }
  if (!vcd_path.empty()) outputs.push_back({"the VCD", vcd_path});
  if (!o.trace_file.empty()) outputs.push_back({"the trace", o.trace_file});
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& [what, path] = outputs[i];
    for (size_t j = 0; j < i; ++j)
      if (std::filesystem::absolute(outputs[j].second).lexically_normal() ==
          std::filesystem::absolute(path).lexically_normal()) {
        std::cerr << "cocosim: " << what << " and " << outputs[j].first << " would both go to " << path
                  << "\n";
        return 2;
      }
    const std::string problem = cocosim::output_path_problem(path, {o.file});
    if (!problem.empty()) {
      std::cerr << "cocosim: cannot write " << what << " to " << path << ": " << problem << "\n";
      return 2;
    }
  }
  std::ofstream trace_out;
  if (!o.trace_file.empty()) {
    trace_out.open(o.trace_file, std::ios::trunc);
    if (!trace_out) {
      std::cerr << "cocosim: cannot write the trace to " << o.trace_file << "\n";
      return 2;
    }
  }

  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", sc_core::SC_DO_NOTHING);

  // --quiet: the run's report goes nowhere; only the verdict is printed.
  std::ostream null_out(nullptr);
  std::ostream& report_out = o.quiet ? null_out : std::cout;
  report_out << "cocosim: " << o.file << (sc.name.empty() ? "" : " (" + sc.name + ")") << " on "
             << cocosim::arch_name(sc.platform.arch) << std::endl;  // shown before a long run
  // A progress line on a terminal only (never in a log or a pipe).
  const bool progress = !o.quiet && isatty(STDERR_FILENO) && isatty(STDOUT_FILENO);
  // gdb: listen on loopback, and wait for it before anything is built or timed.
  std::unique_ptr<cocosim::gdb::TcpChannel> gdb_channel;
  if (o.gdb_port) {
    try {
      gdb_channel = std::make_unique<cocosim::gdb::TcpChannel>(*o.gdb_port);
    } catch (const std::exception& e) {
      std::cerr << "cocosim: --gdb: " << e.what() << "\n";
      return 2;
    }
    std::cout << "cocosim: gdb: listening on " << gdb_channel->bound_address() << ":"
              << gdb_channel->port() << ", waiting for gdb (target remote :" << gdb_channel->port()
              << ")" << std::endl;
    std::string why;
    if (!gdb_channel->accept(&why)) {
      std::cerr << "cocosim: --gdb: " << why << "\n";
      return 2;
    }
  }
  const auto wall0 = std::chrono::steady_clock::now();
  auto wall_now = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  };
  cocosim::Stats stats;
  cocosim::RunSummary summary;
  std::vector<cocosim::StatsSnapshot> intervals;
  std::string internal_error;
  uint64_t sim_ps = 0;
  std::string trace_error;
  // Outlives the platform: the guests' executors tell it when they go.
  std::unique_ptr<cocosim::gdb::GdbSession> gdb;
  {
    cocosim::Platform platform(sc.platform, count_vcpus(sc.steps), stats);
    if (o.no_dmi) platform.disable_dmi();
    cocosim::Tracer tracer([&platform] { return platform.now_ps(); });
    if (!vcd_path.empty()) tracer.enable_vcd();
    if (o.trace_mask) tracer.enable_text(o.trace_file.empty() ? &std::cout : &trace_out, o.trace_mask);
    cocosim::Runner runner("vmm", sc, platform, report_out, o.verbose);
    runner.set_check_mode(o.check);
    runner.set_full_check_every(o.full_check_every);
    runner.set_limits(o.limits);
    // Per-step levels in the waveform: each VM's private and shared frames.
    if (tracer.vcd_enabled()) runner.set_after_step([&platform] { platform.trace_page_counts(); });
    const uint64_t interval_ps = uint64_t(o.stats_interval_ns * 1000 + 0.5);
    uint64_t next_dump_ps = interval_ps;
    double last_progress = 0;
    runner.set_tick([&] {
      if (interval_ps) {
        const uint64_t now = cocosim::to_ps(sc_core::sc_time_stamp());
        if (now >= next_dump_ps) {
          platform.publish_counters();
          intervals.push_back({now, wall_now(), stats.all()});
          while (next_dump_ps <= now) next_dump_ps += interval_ps;
        }
      }
      if (progress) {
        const double w = wall_now();
        if (w - last_progress >= 0.5) {
          last_progress = w;
          const auto& rs = runner.summary();
          std::fprintf(stderr, "\r\033[Kcocosim: step %d of %zu, simulated %.3f ms, %.0f steps/s",
                       rs.steps, sc.steps.size(),
                       double(cocosim::to_ps(sc_core::sc_time_stamp())) / 1e9,
                       w > 0 ? rs.steps / w : 0.0);
          std::fflush(stderr);
        }
      }
    });
    tracer.install();
    if (gdb_channel) gdb = std::make_unique<cocosim::gdb::GdbSession>(*gdb_channel, platform, runner);
    cocosim::LimitWatch::catch_signals();
    try {
      sc_core::sc_start();
    } catch (const std::exception& e) {
      internal_error = e.what();
    }
    tracer.uninstall();
    if (progress && last_progress > 0) std::fprintf(stderr, "\r\033[K");
    summary = runner.summary();
    platform.record_gauges();
    sim_ps = cocosim::to_ps(sc_core::sc_time_stamp());
    // The waveform is written however the run ended (a failed expectation, a
    // violation, a limit, SIGINT, an internal error).
    if (!vcd_path.empty()) {
      const std::string how = !internal_error.empty() ? "internal error: " + internal_error
                              : summary.stopped       ? "stopped by " + summary.stopped->what
                                                      : "run of " + o.file;
      if (!tracer.write_vcd(vcd_path, sim_ps, how, &trace_error))
        trace_error = "cannot write the VCD to " + vcd_path + ": " + trace_error;
      else if (tracer.vcd()->dropped())
        std::cerr << "cocosim: " << vcd_path << " holds the first " << tracer.vcd()->max_changes()
                  << " value changes only (memory limit); the file says so\n";
    }
  }
  if (!o.trace_file.empty()) trace_out.close();
  const bool ok = internal_error.empty() && summary.finished && summary.failed == 0 &&
                  summary.violations == 0;
  const int rc = summary.stopped ? summary.stopped->exit_code : ok ? 0 : 1;
  if (gdb) gdb->exited(rc);
  const double wall = wall_now();

  cocosim::print_summary(std::cout, o.file, summary, internal_error, sim_ps);
  if (!trace_error.empty()) std::cerr << "cocosim: " << trace_error << "\n";

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
    auto write_text = [&](const std::string& tmp, std::string* e) {
      std::ofstream out(tmp, std::ios::trunc);
      out << cocosim::format_gem5_text(report, intervals);
      out.close();
      if (!out && e) *e = "write failed";
      return bool(out);
    };
    for (const auto& [path, fn] :
         {std::pair<std::string, std::function<bool(const std::string&, std::string*)>>{stats_path, write},
          {stats_text_path, write_text}}) {
      if (!cocosim::write_whole(path, fn, &err)) {
        std::cerr << "cocosim: cannot write stats to " << path << ": " << err << "\n";
        return summary.stopped ? summary.stopped->exit_code : 1;
      }
    }
  }
  if (!trace_error.empty()) return summary.stopped ? summary.stopped->exit_code : 1;
  return rc;
}
