// libFuzzer target: a valid scenario run by the real runner, with a step and a
// time budget.
//
// SystemC elaborates once per process, so each input that validates runs in a
// forked child: the child builds the platform, runs the steps and exits; the
// parent (libFuzzer) never starts SystemC. The child's coverage counters are
// copied back to the parent through shared memory before it exits, so that
// libFuzzer is guided by what the runner and the models did, not only by the
// loader. A child that dies (sanitizer report, signal) or whose run ends in an
// internal error is a crash: the parent aborts, and libFuzzer saves the input.
// Inputs over the step budget are skipped; a run over the time budget is
// killed and skipped (a runaway run is for the runner's own limits to stop,
// not a memory-safety finding).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>

#include <systemc>

#include "platform.h"
#include "runner.h"
#include "scenario/scenario.h"

// The inline 8-bit counters of -fsanitize=fuzzer: the linker defines the
// bounds of their section.
extern "C" {
extern uint8_t __start___sancov_cntrs[] __attribute__((weak, visibility("hidden")));
extern uint8_t __stop___sancov_cntrs[] __attribute__((weak, visibility("hidden")));
}

namespace {

constexpr int kMaxSteps = 200;          // steps (a KVM_RUN's during: included)
constexpr unsigned kBudgetSeconds = 1;  // wall time of one run
constexpr int kInternalError = 3;       // the child's exit status for an internal error

const cocosim::Scenario* g_scenario = nullptr;
uint8_t* g_counters_copy = nullptr;
// Printed at exit: how many inputs were runs, not only loader work.
unsigned long g_inputs = 0, g_runs = 0, g_over_budget = 0;

void print_counts() {
  std::fprintf(stderr, "fuzz_runner: %lu inputs, %lu ran (%lu stopped at the time budget)\n", g_inputs,
               g_runs, g_over_budget);
}

size_t counters_size() {
  return __start___sancov_cntrs ? size_t(__stop___sancov_cntrs - __start___sancov_cntrs) : 0;
}

int count_steps(const std::vector<cocosim::Step>& steps) {
  int n = 0;
  for (const auto& s : steps) n += 1 + count_steps(s.during);
  return n;
}

unsigned count_vcpus(const std::vector<cocosim::Step>& steps) {
  unsigned n = 0;
  for (const auto& s : steps) n += (s.op == "KVM_CREATE_VCPU") + count_vcpus(s.during);
  return n;
}

[[noreturn]] void run_child(const cocosim::Scenario& sc) {
  signal(SIGALRM, SIG_DFL);
  alarm(kBudgetSeconds);
  if (int null = open("/dev/null", O_WRONLY); null >= 0) dup2(null, STDOUT_FILENO);
  g_scenario = &sc;
  const int rc = sc_core::sc_elab_and_sim(0, nullptr);
  if (size_t n = counters_size()) std::memcpy(g_counters_copy, __start___sancov_cntrs, n);
  // _exit: the parent's libFuzzer state must not run its exit handlers here.
  _exit(rc);
}

}  // namespace

int sc_main(int, char**) {
  const cocosim::Scenario& sc = *g_scenario;
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  sc_core::sc_report_handler::set_actions("/IEEE_Std_1666/deprecated", sc_core::SC_DO_NOTHING);
  std::ostream discard(nullptr);  // the report is not what is checked here
  cocosim::Stats stats;
  cocosim::Platform platform(sc.platform, count_vcpus(sc.steps), stats);
  cocosim::Runner runner("vmm", sc, platform, discard, false);
  try {
    sc_core::sc_start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_runner: internal error after %d steps: %s\n",
                 runner.summary().steps, e.what());
    return kInternalError;
  }
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::atexit(print_counts);
  if (size_t n = counters_size()) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("fuzz_runner: mmap");
      std::abort();
    }
    g_counters_copy = static_cast<uint8_t*>(p);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ++g_inputs;
  const std::string text(reinterpret_cast<const char*>(data), size);
  cocosim::LoadResult r = cocosim::load_scenario_text("fuzz.yaml", text, std::nullopt);
  if (!r.scenario || !r.scenario->vcd_path.empty()) return 0;  // the fuzzer writes no waveform files
  if (count_steps(r.scenario->steps) > kMaxSteps) return 0;
  ++g_runs;

  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fuzz_runner: fork");
    std::abort();
  }
  if (pid == 0) run_child(*r.scenario);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {  // over the time budget
    ++g_over_budget;
    return 0;
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    if (size_t n = counters_size()) std::memcpy(__start___sancov_cntrs, g_counters_copy, n);
    return 0;
  }
  if (WIFSIGNALED(status))
    std::fprintf(stderr, "fuzz_runner: the run died of signal %d\n", WTERMSIG(status));
  else
    std::fprintf(stderr, "fuzz_runner: the run exited with status %d\n", WEXITSTATUS(status));
  std::abort();
}
