#include "stats_text.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace cocosim {

namespace {

// gem5's units, by cocosim's counter units.
std::string gem5_unit(const std::string& unit) {
  if (unit == "count") return "Count";
  if (unit == "bytes") return "Byte";
  if (unit == "pages") return "Page";
  if (unit == "frames") return "Frame";
  if (unit == "lines") return "Line";
  if (unit.empty()) return "Count";
  std::string u = unit;
  u[0] = char(std::toupper(static_cast<unsigned char>(u[0])));
  return u;
}

// ValueToString: integers without decimals, others with 6.
std::string value_text(double v, bool integer) {
  if (std::isnan(v)) return "nan";
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(integer || v == std::rint(v) ? 0 : 6);
  o << v;
  return o.str();
}

void line(std::ostream& out, const std::string& name, double v, bool integer,
          const std::string& desc, const std::string& unit) {
  char head[512];
  std::snprintf(head, sizeof head, "%-40s %12s %10s %10s", name.c_str(),
                value_text(v, integer).c_str(), "", "");
  out << head << " # " << desc << " (" << unit << ")\n";
}

struct Window {
  uint64_t sim_ps;  // simulated time in the window
  double wall_s;
  uint64_t end_ps;  // simulated time at its end
};

void block(std::ostream& out, const RunReport& r, const std::map<std::string, uint64_t>& now,
           const std::map<std::string, uint64_t>& before, const Window& w) {
  auto get = [&](const std::string& name) -> uint64_t {
    auto a = now.find(name);
    auto b = before.find(name);
    return (a == now.end() ? 0 : a->second) - (b == before.end() ? 0 : b->second);
  };
  out << "\n---------- Begin Simulation Statistics ----------\n";
  const double sim_s = double(w.sim_ps) / 1e12;
  uint64_t accesses = 0, guest_ops = 0, insts = 0;
  for (const auto& [name, v] : now) {
    const auto dot = name.rfind('.');
    const std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
    if (leaf == "accesses" && name.find(".vcpu") != std::string::npos) accesses += get(name);
    if (leaf == "guest_ops") guest_ops += get(name);
    if (leaf == "instructions" && name.find(".vcpu") != std::string::npos) insts += get(name);
  }
  line(out, "simSeconds", sim_s, false, "Number of seconds simulated", "Second");
  line(out, "simTicks", double(w.sim_ps), true, "Number of ticks simulated (1 tick = 1 ps)", "Tick");
  line(out, "finalTick", double(w.end_ps), true, "Number of ticks from beginning of simulation", "Tick");
  line(out, "simFreq", 1e12, true, "The number of ticks per simulated second", "Tick/Second");
  line(out, "hostSeconds", w.wall_s, false, "Real time elapsed on the host", "Second");
  line(out, "hostTickRate", w.wall_s > 0 ? double(w.sim_ps) / w.wall_s : NAN, false,
       "The number of ticks simulated per host second", "Tick/Second");
  line(out, "hostAccessRate", w.wall_s > 0 ? double(accesses) / w.wall_s : NAN, false,
       "Guest data accesses simulated per host second", "Count/Second");
  line(out, "hostOpRate", w.wall_s > 0 ? double(guest_ops) / w.wall_s : NAN, false,
       "Guest program ops simulated per host second", "Op/Second");
  line(out, "hostInstRate", w.wall_s > 0 ? double(insts) / w.wall_s : NAN, false,
       "Guest instructions (real guest code) simulated per host second", "Count/Second");
  line(out, "simAccesses", double(accesses), true, "Guest data accesses simulated", "Count");
  line(out, "simOps", double(guest_ops), true, "Guest program ops simulated", "Count");
  line(out, "simInsts", double(insts), true, "Guest instructions (real guest code) simulated", "Count");
  for (const auto& [name, v] : now) {
    const CounterInfo& info = r.stats.info(name);
    line(out, name, double(get(name)), true, info.description, gem5_unit(info.unit));
  }
  for (const auto& [name, rate] : r.stats.rates()) {
    const uint64_t num = get(rate.numerator);
    uint64_t den = 0;
    for (const std::string& term : rate.denominator) den += get(term);
    line(out, name, den ? double(num) / double(den) : NAN, false, rate.description, "Ratio");
  }
  out << "\n---------- End Simulation Statistics   ----------\n";
}

}  // namespace

std::string gem5_text_path(const std::string& json_path) {
  const std::string ext = ".json";
  if (json_path.size() > ext.size() &&
      json_path.compare(json_path.size() - ext.size(), ext.size(), ext) == 0)
    return json_path.substr(0, json_path.size() - ext.size()) + ".txt";
  return json_path + ".txt";
}

std::string format_gem5_text(const RunReport& r, const std::vector<StatsSnapshot>& intervals) {
  std::ostringstream out;
  std::map<std::string, uint64_t> before;
  uint64_t t0 = 0;
  double wall0 = 0;
  for (const StatsSnapshot& s : intervals) {
    block(out, r, s.counters, before, {s.simulated_ps - t0, s.wall_s - wall0, s.simulated_ps});
    before = s.counters;
    t0 = s.simulated_ps;
    wall0 = s.wall_s;
  }
  if (intervals.empty() || r.simulated_ps > t0)
    block(out, r, r.stats.all(), before,
          {r.simulated_ps - t0, std::max(0.0, r.wall_s - wall0), r.simulated_ps});
  return out.str();
}

}  // namespace cocosim
