// Run statistics as a file: what ran (cocosim version, arch, the resolved
// platform with every default, timing, quantum, seed), the verdict, times
// (whole, per operation, per step, per vCPU; simulated in integer
// picoseconds), exits by reason, every counter with its unit and
// description, and rates derived from counters.
//
// The report is built once as a Json tree; each output format is a function
// from that tree to text (JSON today; a gem5-style text format can be added
// to kStatsFormats without touching what is collected).
#pragma once
#include <string>

#include "common/stats.h"
#include "json.h"
#include "run_summary.h"
#include "scenario/scenario.h"

namespace cocosim {

// Everything a stats file is made from.
struct RunReport {
  const std::string& file;  // the scenario as the user named it
  const Scenario& scenario;
  const RunSummary& summary;
  const Stats& stats;
  std::string verdict;  // "passed", "failed", "stopped by ...", "stopped early", "internal error"
  uint64_t simulated_ps = 0;
  double wall_s = 0;
};

// The version this binary was built from (`git describe --always --dirty`,
// or the project version outside a git checkout).
const char* cocosim_version();

// Every field of the platform, defaults included; times in integer ps.
Json platform_to_json(const PlatformConfig& p);

Json stats_to_json(const RunReport& r);

enum class StatsFormat { Json };

// Writes the report to PATH in FORMAT; false with *err (errno text) when the
// file cannot be written.
bool write_stats(const std::string& path, StatsFormat format, const RunReport& r,
                 std::string* err);

}  // namespace cocosim
