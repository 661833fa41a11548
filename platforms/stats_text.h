// Run statistics in gem5's text layout (src/base/stats/text.cc): blocks
// between "---------- Begin Simulation Statistics ----------" and
// "---------- End Simulation Statistics   ----------", one line per
// statistic: the dotted name (the platform hierarchy) left-justified in 40
// columns, the value right-justified in 12, two empty pdf/cdf columns of 10,
// then "# description (Unit)". Written beside the --stats JSON.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "stats_json.h"

namespace cocosim {

// The counters at one moment of the run (--stats-interval).
struct StatsSnapshot {
  uint64_t simulated_ps = 0;
  double wall_s = 0;
  std::map<std::string, uint64_t> counters;
};

// The text file's path for a --stats PATH: "out/run.json" -> "out/run.txt".
std::string gem5_text_path(const std::string& json_path);

// One block per snapshot in `intervals` (each counting only what happened
// since the one before, as gem5's dump-and-reset does), then, when there are
// none, one block for the whole run. With intervals the last block covers
// the time from the last snapshot to the end.
std::string format_gem5_text(const RunReport& r, const std::vector<StatsSnapshot>& intervals);

}  // namespace cocosim
