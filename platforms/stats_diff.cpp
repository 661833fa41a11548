#include "stats_diff.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include "json.h"

namespace cocosim {

namespace {

std::optional<Json> load(const std::string& path, std::ostream& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err << "cocosim diff: cannot read " << path << ": " << std::strerror(errno) << "\n";
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string why;
  std::optional<Json> j = Json::parse(text.str(), &why);
  if (!j) {
    err << "cocosim diff: " << path << ":" << why << "\n";
    return std::nullopt;
  }
  if (j->kind() != Json::Kind::Object || !j->find("counters") ||
      j->find("counters")->kind() != Json::Kind::Object) {
    err << "cocosim diff: " << path << ": not a cocosim stats file (no \"counters\" object)\n";
    return std::nullopt;
  }
  return j;
}

// Every leaf by its path ("platform.timing.dram_ps", "step_times[3].op"),
// in document order; wall times left out.
using Leaves = std::vector<std::pair<std::string, const Json*>>;

// Steps by their number and op, vCPUs by VM and id, anything else by index:
// a step inserted in one run then shows as that, not as every later index.
std::string element_name(const Json& e, size_t index) {
  const Json* step = e.find("step");
  const Json* op = e.find("op");
  if (step && op) return step->str() + " " + op->str();
  const Json* vm = e.find("vm");
  const Json* vcpu = e.find("vcpu");
  if (vm && vcpu) return vm->str() + " vcpu " + std::to_string(vcpu->as_uint());
  return std::to_string(index);
}

void flatten(const Json& j, const std::string& path, Leaves& out) {
  if (j.kind() == Json::Kind::Object) {
    for (const auto& [k, v] : j.members()) {
      if (k == "wall_time_s") continue;
      flatten(v, path.empty() ? k : path + "." + k, out);
    }
  } else if (j.kind() == Json::Kind::Array) {
    for (size_t i = 0; i < j.elements().size(); ++i)
      flatten(j.elements()[i], path + "[" + element_name(j.elements()[i], i) + "]", out);
  } else {
    out.emplace_back(path, &j);
  }
}

std::string text(const Json* j) {
  if (!j) return "(absent)";
  std::string s = j->dump();
  s.pop_back();  // dump() ends with a newline
  return s;
}

std::string delta_text(const Json& a, const Json& b) {
  if (a.kind() == Json::Kind::UInt && b.kind() == Json::Kind::UInt) {
    const uint64_t x = a.as_uint(), y = b.as_uint();
    return y >= x ? "+" + std::to_string(y - x) : "-" + std::to_string(x - y);
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%+.6g", b.as_double() - a.as_double());
  return buf;
}

std::string ratio_text(const Json& a, const Json& b) {
  if (a.as_double() == 0) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.4f", b.as_double() / a.as_double());
  return buf;
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// Which group a top-level key belongs to.
enum class Group { Metadata, Verdict, Time, Counters, Derived, Other };

Group group_of(const std::string& path) {
  const std::string top = path.substr(0, path.find_first_of(".["));
  if (top == "cocosim_version" || top == "scenario" || top == "name" || top == "arch" ||
      top == "platform")
    return Group::Metadata;
  if (top == "verdict" || top == "passed" || top == "expectations" ||
      top == "invariant_violations" || top == "steps" || top == "steps_planned")
    return Group::Verdict;
  if (top == "simulated_time_ps") return Group::Time;
  if (top == "counters") return Group::Counters;
  if (top == "derived") return Group::Derived;
  return Group::Other;
}

struct Table {
  std::vector<std::vector<std::string>> rows;
  void print(std::ostream& out) const {
    std::vector<size_t> w;
    for (const auto& r : rows)
      for (size_t c = 0; c < r.size(); ++c) {
        if (w.size() <= c) w.push_back(0);
        w[c] = std::max(w[c], r[c].size());
      }
    for (const auto& r : rows) {
      for (size_t c = 0; c < r.size(); ++c) {
        // The name left-aligned, figures right-aligned.
        const std::string pad(w[c] - r[c].size(), ' ');
        out << "  " << (c ? pad + r[c] : r[c] + pad);
      }
      out << "\n";
    }
  }
};

}  // namespace

int diff_stats_files(const std::string& a_path, const std::string& b_path, std::ostream& out,
                     std::ostream& err) {
  const std::optional<Json> a = load(a_path, err);
  const std::optional<Json> b = load(b_path, err);
  if (!a || !b) return 2;

  Leaves la, lb;
  flatten(*a, "", la);
  flatten(*b, "", lb);
  std::map<std::string, const Json*> mb(lb.begin(), lb.end());
  std::map<std::string, const Json*> ma(la.begin(), la.end());

  std::map<Group, std::vector<std::string>> lines;
  Table counters({{{"counter", "old", "new", "delta", "ratio"}}});
  std::vector<std::string> only_a, only_b;
  int differences = 0;

  // Counters are compared by name (their value leaf); a counter's unit or
  // description changing is metadata.
  auto counter_name = [](const std::string& path) -> std::optional<std::string> {
    const std::string suffix = ".value";
    if (!starts_with(path, "counters.") || path.size() < suffix.size() ||
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0)
      return std::nullopt;
    return path.substr(9, path.size() - 9 - suffix.size());
  };

  auto visit = [&](const std::string& path, const Json* x, const Json* y) {
    if (x && y && *x == *y) return;
    const auto counter = counter_name(path);
    if (counter && (!x || !y)) {
      (x ? only_a : only_b).push_back(*counter + " = " + text(x ? x : y));
      ++differences;
      return;
    }
    if (!counter && starts_with(path, "counters.") && (!x || !y)) return;  // its value says it
    ++differences;
    if (counter && x->is_number() && y->is_number()) {
      counters.rows.push_back({*counter, text(x), text(y), delta_text(*x, *y), ratio_text(*x, *y)});
      return;
    }
    const Group g = group_of(path);
    if (g == Group::Time && x && y && x->is_number() && y->is_number()) {
      lines[g].push_back("simulated time: " + text(x) + " ps -> " + text(y) + " ps (delta " +
                         delta_text(*x, *y) + " ps, ratio " + ratio_text(*x, *y) + ")");
      return;
    }
    lines[g].push_back(path + ": " + text(x) + " -> " + text(y));
  };
  for (const auto& [path, x] : la) {
    auto it = mb.find(path);
    visit(path, x, it == mb.end() ? nullptr : it->second);
  }
  for (const auto& [path, y] : lb)
    if (!ma.count(path)) visit(path, nullptr, y);

  if (!differences) {
    out << "no differences between " << a_path << " and " << b_path << " (wall times ignored)\n";
    return 0;
  }
  out << "--- " << a_path << "\n+++ " << b_path << "\n";
  auto section = [&](Group g, const char* title) {
    auto it = lines.find(g);
    if (it == lines.end()) return;
    out << title << ":\n";
    for (const std::string& l : it->second) out << "  " << l << "\n";
  };
  section(Group::Metadata, "what ran");
  section(Group::Verdict, "verdict");
  if (lines.count(Group::Time))
    for (const std::string& l : lines[Group::Time]) out << l << "\n";
  if (counters.rows.size() > 1) {
    out << "counters that differ (" << counters.rows.size() - 1 << "):\n";
    counters.print(out);
  }
  if (!only_a.empty()) {
    out << "counters only in " << a_path << ":\n";
    for (const std::string& l : only_a) out << "  " << l << "\n";
  }
  if (!only_b.empty()) {
    out << "counters only in " << b_path << ":\n";
    for (const std::string& l : only_b) out << "  " << l << "\n";
  }
  section(Group::Counters, "counter descriptions");
  section(Group::Derived, "derived rates");
  section(Group::Other, "steps, vCPUs and exits");
  return 1;
}

}  // namespace cocosim
