// The probe API models call to be looked at: waveforms (VCD) and the text
// trace (platforms/trace/ implements the sink). A probe is one line:
//
//   COCOSIM_PROBE(value(trace::Cat::Kvm, scope_, "exit_reason", code, 8, name));
//
// With tracing off no sink is installed and a probe is one predictable,
// not-taken branch on a global pointer: its arguments (strings included) are
// not even evaluated. Probes only report; they never change what is simulated.
#pragma once
#include <cstdint>
#include <string>

namespace cocosim::trace {

// The --trace categories (text trace); the VCD records every category.
enum class Cat : unsigned { Bus, Gmem, Kvm, Tdx, Pkvm, Mmu, Guest, Count };

inline const char* cat_name(Cat c) {
  static const char* const kNames[] = {"bus", "gmem", "kvm", "tdx", "pkvm", "mmu", "guest"};
  return kNames[static_cast<unsigned>(c)];
}

// Receives what probes report, at the simulated time of the caller (a vCPU's
// local time ahead of the kernel's included: the sink asks its clock).
class Sink {
 public:
  virtual ~Sink() = default;
  // `signal` of `scope` (a dotted hierarchy path) takes value `v`, `width`
  // bits wide; `label` names the value for people (null: the number says it).
  virtual void value(Cat c, const std::string& scope, const char* signal, uint64_t v,
                     unsigned width, const char* label) = 0;
  // The same for the waveform only (a detail that a note() line describes).
  virtual void record(const std::string& scope, const char* signal, uint64_t v, unsigned width,
                      const char* label) = 0;
  // A one-off event (a fault, a TLB flush, a SIGBUS): a VCD event variable
  // that fires; `detail` is the text trace's description of it.
  virtual void pulse(Cat c, const std::string& scope, const char* signal,
                     const std::string& detail) = 0;
  // A text-trace line only (no waveform): an operation with its arguments.
  virtual void note(Cat c, const std::string& scope, const std::string& text) = 0;
};

// The installed sink, or null (tracing off). Set by the platform's tracer for
// the length of a run; one per process, as SystemC elaborates once.
inline Sink* g_sink = nullptr;

inline bool on() { return __builtin_expect(g_sink != nullptr, 0); }

}  // namespace cocosim::trace

// One probe: `call` is a Sink member call, evaluated only when tracing is on.
// The call and the building of its arguments sit in a cold, out-of-line
// lambda, so the caller's hot path keeps only the test of g_sink (built
// inline, the strings' set-up cost ~11 instructions per guest access even
// with tracing off: callgrind, cocosim_bench sweep).
#define COCOSIM_PROBE(call)                                                          \
  do {                                                                               \
    if (::cocosim::trace::on())                                                      \
      [&]() __attribute__((cold, noinline)) { ::cocosim::trace::g_sink->call; }();    \
  } while (0)
