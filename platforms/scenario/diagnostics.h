// Errors found while reading a scenario, each at FILE:LINE:COL (or at
// --set:N:COL for a command-line override), and the value readers that
// report them.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scenario/yaml_tree.h"

namespace cocosim {

struct ScenarioError {
  std::string file;
  SourceLoc loc;
  std::string message;
  std::string str() const;  // FILE:LINE:COL: message
};

class Diagnostics {
 public:
  explicit Diagnostics(std::vector<ScenarioError>& out) : out_(out) {}
  void error(const std::string& file, SourceLoc at, const std::string& msg) { out_.push_back({file, at, msg}); }
  void error(const YNode& n, const std::string& msg) { error(n.origin(), n.loc(), msg); }
  size_t count() const { return out_.size(); }

  // An integer expression; on failure the error points at the character that failed.
  std::optional<uint64_t> int_of(const YNode& n, const std::string& what);
  // A time (50, 50ns, 1.5us); `min_ns` is the least accepted.
  std::optional<double> time_of(const YNode& n, const std::string& what, double min_ns = 0);
  std::optional<bool> bool_of(const YNode& n, const std::string& what);

 private:
  std::vector<ScenarioError>& out_;
};

std::optional<bool> parse_bool(std::string_view s);

// Text that ends up in reports and in the stats JSON as a label: printable
// UTF-8 only. Returns why not, or "".
std::string label_problem(std::string_view s);

}  // namespace cocosim
