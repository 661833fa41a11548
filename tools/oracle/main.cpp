// cocosim_oracle: random valid scenarios against the invariant checker.
//   cocosim_oracle [--iterations N] [--seed S] [--arch x86-tdx|arm64-pkvm|both]
//                  [--keep DIR] [--keep-going] [--expect-failing S1,S2,...]
//                  [--timeout SECONDS] [--cocosim PATH] [--print SEED]
// Scenario i uses seed S+i; with --arch both (the default) even seeds run on
// x86-tdx and odd ones on arm64-pkvm. See docs/hardening.md.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "oracle.h"
#include "scenario_generator.h"

namespace fs = std::filesystem;
using namespace cocosim::oracle;

namespace {

const char* kUsage =
    "usage: cocosim_oracle [--iterations N] [--seed S] [--arch x86-tdx|arm64-pkvm|both]\n"
    "                      [--keep DIR] [--keep-going] [--expect-failing S1,S2,...]\n"
    "                      [--timeout SECONDS] [--cocosim PATH]\n"
    "       cocosim_oracle --print SEED [--arch A]   (write that seed's scenario to stdout)\n"
    "\n"
    "  Runs N random valid scenarios (seeds S..S+N-1), each with `cocosim run\n"
    "  --check step --check-full-every 5` and `--check end`, and stops at the\n"
    "  first failure: a crash, a hang, an invariant violation, the two runs\n"
    "  disagreeing, or a full check finding what the incremental ones missed. It prints the\n"
    "  failing seed and a minimized scenario, and exits 1.\n"
    "  --keep-going      run every seed and list all failures (only the first is minimized)\n"
    "  --expect-failing  pass only when exactly these seeds fail (known defects)\n"
    "  --keep DIR        write each failing scenario and its minimized form to DIR\n"
    "  --timeout         wall seconds before a run counts as a hang (default 20)\n"
    "  --cocosim         the simulator to run (default: cocosim beside this program)\n";

std::string arch_of(uint64_t seed, const std::string& arch) {
  if (arch != "both") return arch;
  return seed % 2 ? "arm64-pkvm" : "x86-tdx";
}

bool parse_u64(const std::string& s, uint64_t& v) {
  try {
    size_t used = 0;
    v = std::stoull(s, &used, 0);
    return used == s.size();
  } catch (...) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t iterations = 100, seed = 1;
  std::string arch = "both", keep, cocosim;
  bool keep_going = false, print_only = false;
  double timeout_s = 20;
  std::set<uint64_t> expect_failing;
  bool have_expectation = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "cocosim_oracle: " << a << " needs a value\n" << kUsage;
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&]() {
      const std::string v = value();
      uint64_t n = 0;
      if (!parse_u64(v, n)) {
        std::cerr << "cocosim_oracle: " << a << " needs a number, not '" << v << "'\n";
        std::exit(2);
      }
      return n;
    };
    if (a == "--iterations") iterations = number();
    else if (a == "--seed") seed = number();
    else if (a == "--print") {
      seed = number();
      print_only = true;
    } else if (a == "--arch") {
      arch = value();
      if (arch != "x86-tdx" && arch != "arm64-pkvm" && arch != "both") {
        std::cerr << "cocosim_oracle: --arch must be x86-tdx, arm64-pkvm or both\n";
        return 2;
      }
    } else if (a == "--keep") keep = value();
    else if (a == "--keep-going") keep_going = true;
    else if (a == "--timeout") timeout_s = double(number());
    else if (a == "--cocosim") cocosim = value();
    else if (a == "--expect-failing") {
      have_expectation = true;
      keep_going = true;
      std::stringstream list(value());
      for (std::string item; std::getline(list, item, ',');) {
        uint64_t n = 0;
        if (!parse_u64(item, n)) {
          std::cerr << "cocosim_oracle: --expect-failing takes seeds, not '" << item << "'\n";
          return 2;
        }
        expect_failing.insert(n);
      }
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "cocosim_oracle: unknown argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (print_only) {
    std::cout << generate_scenario(seed, arch_of(seed, arch)).yaml();
    return 0;
  }
  if (cocosim.empty()) cocosim = (fs::read_symlink("/proc/self/exe").parent_path() / "cocosim").string();
  if (access(cocosim.c_str(), X_OK) != 0) {
    std::cerr << "cocosim_oracle: cannot run " << cocosim << " (--cocosim PATH)\n";
    return 2;
  }
  std::string tmpl = (fs::temp_directory_path() / "cocosim-oracle-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::cerr << "cocosim_oracle: cannot make a work directory in " << fs::temp_directory_path() << "\n";
    return 2;
  }
  const std::string work = tmpl;
  if (!keep.empty()) fs::create_directories(keep);

  Oracle oracle(cocosim, work, timeout_s);
  const auto t0 = std::chrono::steady_clock::now();
  std::set<uint64_t> failing;
  std::map<std::string, int> outcomes;
  bool minimized_one = false;
  uint64_t ran = 0, slowest_seed = seed;
  double slowest_s = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    const uint64_t s = seed + i;
    ++ran;
    const GeneratedScenario sc = generate_scenario(s, arch_of(s, arch));
    const Judgement j = oracle.judge(sc);
    const double longest = std::max(j.step.seconds, j.end.seconds);
    if (longest > slowest_s) {
      slowest_s = longest;
      slowest_seed = s;
    }
    ++outcomes[j.failed ? j.signature : "clean"];
    if (!j.failed) continue;
    failing.insert(s);
    std::cout << "seed " << s << " (" << sc.arch << "): " << j.signature << std::endl;
    if (!keep.empty()) std::ofstream(keep + "/seed-" + std::to_string(s) + ".yaml") << sc.yaml();
    if (!minimized_one && !have_expectation) {
      minimized_one = true;
      const GeneratedScenario m = oracle.minimize(sc, j.signature);
      std::cout << "minimized (" << m.steps.size() << " steps; replay with `cocosim run FILE`):\n"
                << m.yaml();
      if (!keep.empty())
        std::ofstream(keep + "/seed-" + std::to_string(s) + ".min.yaml") << m.yaml();
      const Judgement mj = oracle.judge(m);
      const RunOutcome& shown = mj.step.kind == RunOutcome::Kind::Clean ? mj.end : mj.step;
      std::cout << "its output:\n" << shown.output;
    }
    if (!keep_going) break;
  }
  fs::remove_all(work);

  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "cocosim_oracle: " << ran << " scenarios from seed " << seed
            << ", " << oracle.runs() << " runs in " << secs << " s; " << failing.size() << " failing\n";
  for (const auto& [what, n] : outcomes) std::cout << "  " << n << "  " << what << "\n";
  std::cout << "  slowest run: seed " << slowest_seed << ", " << slowest_s << " s\n";
  if (have_expectation) {
    bool ok = true;
    for (uint64_t s : failing)
      if (!expect_failing.count(s)) {
        std::cout << "seed " << s << " fails and is not a known failure: a new defect (replay: "
                  << "cocosim_oracle --seed " << s << " --iterations 1 --arch " << arch_of(s, arch) << ")\n";
        ok = false;
      }
    for (uint64_t s : expect_failing)
      if (!failing.count(s) && s >= seed && s < seed + iterations) {
        std::cout << "seed " << s << " was a known failure and now passes: remove it from "
                  << "--expect-failing\n";
        ok = false;
      }
    return ok ? 0 : 1;
  }
  return failing.empty() ? 0 : 1;
}
