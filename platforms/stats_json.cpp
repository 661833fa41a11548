#include "stats_json.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace cocosim {

namespace {
std::string quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else o += c;
  }
  return o + "\"";
}
}  // namespace

bool write_stats_json(const std::string& path, const std::string& file, const Scenario& sc,
                      const RunSummary& s, const Stats& stats, double sim_ns, double wall_s,
                      bool passed, std::string* err) {
  std::ostringstream j;
  j << "{\n";
  j << "  \"scenario\": " << quote(file) << ",\n";
  j << "  \"name\": " << quote(sc.name) << ",\n";
  j << "  \"arch\": " << quote(arch_name(sc.platform.arch)) << ",\n";
  j << "  \"passed\": " << (passed ? "true" : "false") << ",\n";
  j << "  \"simulated_time_ns\": " << sim_ns << ",\n";
  j << "  \"wall_time_s\": " << wall_s << ",\n";
  j << "  \"steps\": " << s.steps << ",\n";
  j << "  \"steps_planned\": " << sc.steps.size() << ",\n";
  j << "  \"expectations\": {\"passed\": " << s.passed << ", \"failed\": " << s.failed << "},\n";
  j << "  \"invariant_violations\": " << s.violations << ",\n";
  j << "  \"operations\": {";
  bool first = true;
  for (const auto& [op, n] : s.ops) {
    j << (first ? "" : ", ") << quote(op) << ": " << n;
    first = false;
  }
  j << "},\n  \"operation_wall_time_s\": {";
  first = true;
  for (const auto& [op, t] : s.op_wall_s) {
    j << (first ? "" : ", ") << quote(op) << ": " << t;
    first = false;
  }
  j << "},\n  \"operation_simulated_time_ns\": {";
  first = true;
  for (const auto& [op, t] : s.op_sim_ns) {
    j << (first ? "" : ", ") << quote(op) << ": " << t;
    first = false;
  }
  j << "},\n  \"counters\": {";
  first = true;
  for (const auto& [name, n] : stats.all()) {
    j << (first ? "\n    " : ",\n    ") << quote(name) << ": " << n;
    first = false;
  }
  j << "\n  }\n}\n";
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    *err = std::strerror(errno);
    return false;
  }
  out << j.str();
  out.close();
  if (!out) {
    *err = "write failed";
    return false;
  }
  return true;
}

}  // namespace cocosim
