#include "run_limits.h"

#include <csignal>
#include <cstring>
#include <sstream>

namespace cocosim {

namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int sig) { g_signal = sig; }

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
  }
  return "a signal";
}

std::string number(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

// A time in the largest unit that keeps it whole: 200us, 1s, 1500ns.
std::string time_text(double ns) {
  for (auto [unit, scale] : {std::pair<const char*, double>{"s", 1e9}, {"ms", 1e6}, {"us", 1e3}})
    if (ns >= scale && ns / scale == double(uint64_t(ns / scale))) return number(ns / scale) + unit;
  return number(ns) + "ns";
}

}  // namespace

LimitWatch::LimitWatch(const RunLimits& l) : limits_(l), start_(std::chrono::steady_clock::now()) {}

void LimitWatch::catch_signals() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND;  // the second signal kills at once
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

std::optional<StopReason> LimitWatch::reached(uint64_t steps) const {
  if (const int sig = g_signal) return StopReason{signal_name(sig), 128 + sig};
  if (limits_.max_steps && steps > limits_.max_steps)
    return StopReason{"--max-steps " + std::to_string(limits_.max_steps), kExitLimit};
  if (limits_.max_sim_ns && sc_core::sc_time_stamp().to_seconds() * 1e9 >= limits_.max_sim_ns)
    return StopReason{"--max-sim-time " + time_text(limits_.max_sim_ns), kExitLimit};
  if (limits_.timeout_s &&
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() >= limits_.timeout_s)
    return StopReason{"--timeout " + time_text(limits_.timeout_s * 1e9), kExitLimit};
  return std::nullopt;
}

}  // namespace cocosim
