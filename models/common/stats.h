// Named counters that models bump and the runner writes out as JSON.
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace cocosim {

class Stats {
 public:
  uint64_t& counter(const std::string& name) { return counters_[name]; }
  void add(const std::string& name, uint64_t n = 1) { counters_[name] += n; }
  uint64_t get(const std::string& name) const {
    auto it = counters_.find(name);
    return it == counters_.end() ? 0 : it->second;
  }
  const std::map<std::string, uint64_t>& all() const { return counters_; }

 private:
  std::map<std::string, uint64_t> counters_;
};

}  // namespace cocosim
