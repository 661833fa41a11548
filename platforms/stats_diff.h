// `cocosim diff A.json B.json`: what changed between two runs' stats files.
// Wall times are ignored (they differ on every run); everything else that
// differs is printed, grouped: what ran (version, arch, platform keys), the
// verdict, simulated time, counters (old, new, delta, ratio), counters in one
// file only, derived rates, then any other field (steps, vCPUs, exits).
#pragma once
#include <ostream>
#include <string>

namespace cocosim {

// Exit code: 0 identical, 1 different, 2 a file unreadable or not a stats file.
int diff_stats_files(const std::string& a, const std::string& b, std::ostream& out,
                     std::ostream& err);

}  // namespace cocosim
