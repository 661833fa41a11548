// A sweep's results as a table (results.csv) and its plots (a gnuplot script
// and the data it reads). Plain C++: what each point produced comes in as
// values, nothing here reads files or starts processes.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "json.h"
#include "sweep/sweep_plan.h"

namespace cocosim {

// What one point left behind.
struct PointResult {
  std::string id;            // its directory under points/
  std::string verdict;       // the stats file's, or why there is none
  int exit_code = -1;        // of `cocosim run`; -1 when it never ran
  double wall_s = 0;         // of the whole process
  std::optional<Json> stats;  // the stats file, when one was written
};

struct ResultsTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  // Index of a column, or -1.
  int column(const std::string& name) const;
  std::string csv() const;  // RFC 4180: a cell with , " or a newline is quoted
};

// Columns: point, each --param key, arch, repeat, verdict, exit_code,
// simulated_time_ps, wall_time_s, then every counter any point reported
// (sorted by name; empty where a point has no such counter, e.g. it failed
// before the platform was built). `arch` is the point's own, or the one its
// stats file names.
ResultsTable build_results(const std::vector<std::string>& param_keys,
                           const std::vector<SweepPoint>& points,
                           const std::vector<PointResult>& results);

// One plot of `metric` against the first parameter, one line per value of
// the second (and per arch when the sweep ran more than one), each y the mean
// over repeats of the points that passed. `data` is what the script reads
// from `data_path`; the script writes `png_path` and `svg_path`. nullopt with
// *err when the metric is not a numeric column of the table.
struct PlotFiles {
  std::string data, script;
};
std::optional<PlotFiles> make_plot(const ResultsTable& t, const std::vector<std::string>& param_keys,
                                   const std::string& metric, const std::string& data_path,
                                   const std::string& png_path, const std::string& svg_path,
                                   std::string* err);

// A file name for a metric: letters, digits, '-', '_' and '.'; others become '_'.
std::string metric_file_name(const std::string& metric);

}  // namespace cocosim
