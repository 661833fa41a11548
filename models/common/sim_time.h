// Simulated time as cocosim shows it: whole picoseconds, printed the one way
// "14416000 ps" in text and as integer `_ps` fields in JSON, so two runs'
// figures compare exactly (sc_time::to_string() changes unit with magnitude).
#pragma once
#include <cstdint>
#include <string>

#include <systemc>

namespace cocosim {

// Fixes SystemC's time resolution at 1 ps. Must run before the first sc_time
// is made (SystemC refuses a change after that); returns false when it is
// too late and the resolution is not already 1 ps.
inline bool use_picosecond_resolution() {
  try {
    sc_core::sc_set_time_resolution(1, sc_core::SC_PS);
  } catch (const sc_core::sc_report&) {
    // Already fixed: fine if it is 1 ps (SystemC's default).
  }
  return sc_core::sc_get_time_resolution() == sc_core::sc_time(1, sc_core::SC_PS);
}

// Whole picoseconds in t (SystemC keeps time as an integer count of the
// resolution, which is 1 ps: see use_picosecond_resolution()).
inline uint64_t to_ps(const sc_core::sc_time& t) {
  static const uint64_t ps_per_tick =
      uint64_t(sc_core::sc_get_time_resolution().to_seconds() * 1e12 + 0.5);
  return t.value() * ps_per_tick;
}

inline std::string ps_text(uint64_t ps) { return std::to_string(ps) + " ps"; }
inline std::string ps_text(const sc_core::sc_time& t) { return ps_text(to_ps(t)); }

}  // namespace cocosim
