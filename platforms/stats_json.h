// Run statistics as JSON: simulated and wall time, step and expectation
// counts, steps per operation, and every model counter.
#pragma once
#include <string>

#include "common/stats.h"
#include "runner.h"
#include "scenario/scenario.h"

namespace cocosim {

bool write_stats_json(const std::string& path, const std::string& file, const Scenario& sc,
                      const RunSummary& s, const Stats& stats, double sim_ns, double wall_s,
                      bool passed, std::string* err);

}  // namespace cocosim
