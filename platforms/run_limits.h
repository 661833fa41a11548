// What ends a run early: --max-steps, --max-sim-time, --timeout (wall) and
// SIGINT, SIGTERM, SIGHUP. The runner asks between steps and, while a vCPU
// runs, at every poll of the KVM_RUN loop, so a guest loop is interrupted too.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <systemc>

namespace cocosim {

struct RunLimits {
  // Defaults: far beyond every scenario in configs/ (at most 1222 steps and
  // 25 ms of simulated time), while --timeout stops any runaway in under a
  // minute. 0 turns a limit off.
  static constexpr uint64_t kDefaultMaxSteps = 10'000'000;
  static constexpr double kDefaultMaxSimNs = 1e9;  // 1 s of simulated time
  static constexpr double kDefaultTimeoutS = 50;

  uint64_t max_steps = kDefaultMaxSteps;
  double max_sim_ns = kDefaultMaxSimNs;
  double timeout_s = kDefaultTimeoutS;
};

// Exit status of a run a limit stopped (128 + N for a signal N).
constexpr int kExitLimit = 3;

// Why a run stopped before its last step.
struct StopReason {
  std::string what;  // "--max-steps 100", "SIGTERM", ...
  int exit_code = 0;
};

class LimitWatch {
 public:
  explicit LimitWatch(const RunLimits& l);
  // Catch SIGINT, SIGTERM and SIGHUP from now on: the run stops at the next
  // check (a second signal kills as usual).
  static void catch_signals();
  // The limit reached (or the signal received) with `steps` steps started, if any.
  std::optional<StopReason> reached(uint64_t steps) const;
  // Wall time that does not count towards --timeout (the run stopped in gdb).
  void exclude(std::chrono::steady_clock::duration d) { start_ += d; }

 private:
  RunLimits limits_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace cocosim
