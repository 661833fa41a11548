// `cocosim sweep`: the command line and the plan it makes. Plain C++ (no
// SystemC, no processes): parsing the options, expanding the parameter grid
// into points (Cartesian product, or pairwise with --zip, times each arch and
// each repeat), and the hash of a point's inputs that lets a re-run skip it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cocosim {

// One `--param KEY=V1,V2,...`.
struct SweepParam {
  std::string key;
  std::vector<std::string> values;
};

struct SweepOptions {
  std::string file;                // the scenario
  std::vector<SweepParam> params;  // in command-line order; the first is the plots' x axis
  std::vector<std::string> archs;  // --arch A,B (empty: the scenario's own)
  unsigned repeat = 1;
  unsigned jobs = 0;               // -j (0: the number of cores)
  std::string out = "sweep-out";   // --out DIR
  bool zip = false;
  std::vector<std::string> plots;  // --plot METRIC,...
  // Passed to every `cocosim run`.
  std::string timeout;             // --timeout T ("" : cocosim run's default)
  std::string check;               // --check step|end|off ("" : default)
  // Slurm.
  bool slurm = false;
  std::string partition, time_limit;  // --partition, --time
  bool no_wait = false;
  unsigned chunk = 0;              // --chunk N points per array task (0: automatic)
  // `cocosim sweep --collect DIR`: assemble results only.
  std::string collect;
  // `cocosim sweep --run-point DIR POINT` (what each Slurm array task runs).
  std::string run_point_dir;
  std::vector<std::string> run_point_ids;
};

// Parses the arguments after `cocosim sweep`; on a usage error returns nullopt
// with *err naming the argument ("--repeat must be a positive number, not 'x'").
std::optional<SweepOptions> parse_sweep_args(const std::vector<std::string>& args, std::string* err);

// One run of the scenario.
struct SweepPoint {
  size_t index = 0;                                         // place in the plan
  std::vector<std::pair<std::string, std::string>> values;  // KEY, VALUE per --param
  std::string arch;                                         // "" : the scenario's own
  unsigned repeat = 0;                                      // 0 .. --repeat - 1
  std::vector<std::string> sets() const;                    // "KEY=VALUE" for --set
  std::string label() const;                                // "tlb.entries=64 arch=x86-tdx #0"
};

// The grid: the Cartesian product of every --param's values in order (the last
// parameter varies fastest), or with `zip` the i-th value of each (all lists
// must then be as long), times each arch, times each repeat. nullopt with *err
// when --zip is given lists of different lengths.
std::optional<std::vector<SweepPoint>> plan_sweep(const SweepOptions& o, std::string* err);

// What decides a point's result; a re-run skips a point whose hash is unchanged.
struct PointInputs {
  std::string scenario_sha256;  // of the scenario file's bytes
  std::string version;          // cocosim_version()
  std::string build_id;         // SHA-256 of the cocosim binary
  std::string check, timeout;   // run options passed to every point
};

// SHA-256 (hex) of the point's inputs, each field length-prefixed so no two
// different inputs give the same byte string.
std::string point_hash(const SweepPoint& p, const PointInputs& in);

std::string sha256_hex(const std::string& bytes);
// SHA-256 of a file's bytes; "" when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace cocosim
