// Named counters that models bump and the runner writes out (JSON, text).
// Every counter is declared with its unit and a one-line description, as
// gem5's statistics are, so a stats file explains itself.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cocosim {

struct CounterInfo {
  std::string unit;         // "count", "bytes", "pages", "frames", ...
  std::string description;  // one line: what is counted
};

// A rate derived from counters: numerator / (sum of the denominator's terms),
// written beside the counts (a hit rate is hits / (hits + misses)).
struct RateInfo {
  std::string numerator;
  std::vector<std::string> denominator;
  std::string description;
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
  // Declares a derived rate; the counters it names are declared by their owner.
  void rate(const std::string& name, const std::string& numerator,
            std::vector<std::string> denominator, const std::string& description) {
    rates_[name] = {numerator, std::move(denominator), description};
  }
  const std::map<std::string, RateInfo>& rates() const { return rates_; }
  // Unit and description of a counter (empty when it was never declared).
  const CounterInfo& info(const std::string& name) const {
    static const CounterInfo kNone;
    auto it = info_.find(name);
    return it == info_.end() ? kNone : it->second;
  }

 private:
  std::map<std::string, uint64_t> counters_;
  std::map<std::string, CounterInfo> info_;
  std::map<std::string, RateInfo> rates_;
};

}  // namespace cocosim
