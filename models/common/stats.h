// Named counters that models bump and the runner writes out (JSON, text).
// Every counter is declared with its unit and a one-line description, as
// gem5's statistics are, so a stats file explains itself.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace cocosim {

struct CounterInfo {
  std::string unit;         // "count", "bytes", "pages", "frames", ...
  std::string description;  // one line: what is counted
};

class Stats {
 public:
  // Declares (or finds) a counter; the reference stays valid for the Stats' life.
  uint64_t& counter(const std::string& name, const std::string& unit,
                    const std::string& description) {
    auto& info = info_[name];
    if (info.description.empty()) info = {unit, description};
    return counters_[name];
  }
  void add(const std::string& name, uint64_t n, const std::string& unit,
           const std::string& description) {
    counter(name, unit, description) += n;
  }
  uint64_t get(const std::string& name) const {
    auto it = counters_.find(name);
    return it == counters_.end() ? 0 : it->second;
  }
  const std::map<std::string, uint64_t>& all() const { return counters_; }
  // Unit and description of a counter (empty when it was never declared).
  const CounterInfo& info(const std::string& name) const {
    static const CounterInfo kNone;
    auto it = info_.find(name);
    return it == info_.end() ? kNone : it->second;
  }

 private:
  std::map<std::string, uint64_t> counters_;
  std::map<std::string, CounterInfo> info_;
};

}  // namespace cocosim
