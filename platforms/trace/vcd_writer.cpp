#include "trace/vcd_writer.h"

#include <algorithm>
#include <functional>

namespace cocosim {

unsigned VcdWriter::signal(const std::string& scope, const std::string& name, unsigned width) {
  auto [it, fresh] = by_name_.try_emplace({scope, name}, unsigned(signals_.size()));
  if (fresh) signals_.push_back({scope, name, std::clamp(width, 1u, 64u)});
  return it->second;
}

void VcdWriter::change(uint64_t time_ps, unsigned id, uint64_t v) {
  if (changes_.size() >= max_changes_) {
    ++dropped_;
    return;
  }
  changes_.push_back({time_ps, v, id});
}

unsigned VcdWriter::event(const std::string& scope, const std::string& name) {
  auto [it, fresh] = by_name_.try_emplace({scope, name}, unsigned(signals_.size()));
  if (fresh) signals_.push_back({scope, name, 1, true});
  return it->second;
}

// Printable ASCII 33..126, base 94, as VCD identifier codes are made.
std::string VcdWriter::id_code(unsigned id) {
  std::string s;
  do {
    s.push_back(char(33 + id % 94));
    id /= 94;
  } while (id);
  return s;
}

namespace {

std::string bits(uint64_t v, unsigned width) {
  if (width == 1) return v ? "1" : "0";
  std::string s = "b";
  bool started = false;
  for (int b = int(width) - 1; b >= 0; --b) {
    const bool one = (v >> b) & 1;
    if (one) started = true;
    if (started) s.push_back(one ? '1' : '0');
  }
  if (!started) s.push_back('0');
  s.push_back(' ');
  return s;
}

// A VCD identifier cannot hold spaces; scopes are split at dots.
std::string clean(const std::string& s) {
  std::string o = s;
  for (char& c : o)
    if (c == ' ' || c == '\t' || c == '$') c = '_';
  return o;
}

std::vector<std::string> split_scope(const std::string& scope) {
  std::vector<std::string> parts;
  size_t at = 0;
  while (at <= scope.size()) {
    size_t dot = scope.find('.', at);
    if (dot == std::string::npos) dot = scope.size();
    if (dot > at) parts.push_back(clean(scope.substr(at, dot - at)));
    at = dot + 1;
  }
  return parts;
}

// The scope tree, for nested $scope declarations.
struct ScopeNode {
  std::map<std::string, ScopeNode> children;
  std::vector<unsigned> signals;
};

}  // namespace

void VcdWriter::write(std::ostream& out, uint64_t end_ps, const std::string& comment) const {
  out << "$date\n  cocosim run\n$end\n$version\n  cocosim VCD writer\n$end\n";
  if (!comment.empty()) out << "$comment\n  " << comment << "\n$end\n";
  if (dropped_)
    out << "$comment\n  " << dropped_ << " changes after the first " << max_changes_
        << " were dropped (memory limit)\n$end\n";
  out << "$timescale 1ps $end\n";
  ScopeNode root;
  for (unsigned id = 0; id < signals_.size(); ++id) {
    ScopeNode* n = &root;
    for (const std::string& p : split_scope(signals_[id].scope)) n = &n->children[p];
    n->signals.push_back(id);
  }
  std::function<void(const ScopeNode&)> declare = [&](const ScopeNode& n) {
    for (unsigned id : n.signals) {
      const Signal& s = signals_[id];
      out << "$var " << (s.event ? "event " : "wire ") << s.width << ' ' << id_code(id) << ' '
          << clean(s.name) << " $end\n";
    }
    for (const auto& [name, child] : n.children) {
      out << "$scope module " << name << " $end\n";
      declare(child);
      out << "$upscope $end\n";
    }
  };
  declare(root);
  // Nothing reported yet: unknown (x) until a model reports a value.
  out << "$enddefinitions $end\n#0\n$dumpvars\n";
  for (unsigned id = 0; id < signals_.size(); ++id)
    if (!signals_[id].event) out << (signals_[id].width == 1 ? "x" : "bx ") << id_code(id) << '\n';
  out << "$end\n";

  std::vector<Change> sorted = changes_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Change& a, const Change& b) { return a.time_ps < b.time_ps; });
  // Per timestamp only the last value of each signal is written.
  std::vector<uint64_t> last(signals_.size(), 0);
  std::vector<bool> known(signals_.size(), false);
  size_t i = 0;
  uint64_t t_last = 0;
  while (i < sorted.size()) {
    const uint64_t t = sorted[i].time_ps;
    size_t j = i;
    while (j < sorted.size() && sorted[j].time_ps == t) ++j;
    std::map<unsigned, uint64_t> final_values;
    for (size_t k = i; k < j; ++k) final_values[sorted[k].id] = sorted[k].value;
    bool stamped = false;
    for (const auto& [id, v] : final_values) {
      if (known[id] && v == last[id] && !signals_[id].event) continue;
      if (!stamped) {
        if (t != 0) out << '#' << t << '\n';
        stamped = true;
      }
      out << bits(v, signals_[id].width) << id_code(id) << '\n';
      last[id] = v;
      known[id] = true;
    }
    if (stamped) t_last = t;
    i = j;
  }
  if (end_ps > t_last) out << '#' << end_ps << '\n';
}

}  // namespace cocosim
