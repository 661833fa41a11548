#include <doctest/doctest.h>

#include <string>

#include "common/sim_time.h"
#include "stats_json.h"

using cocosim::Json;

namespace {
std::string keys(const Json& o) {
  std::string k;
  for (const auto& [name, v] : o.members()) k += (k.empty() ? "" : " ") + name;
  return k;
}
}  // namespace

TEST_CASE("platform_to_json: every key with its default, times as integer ps") {
  cocosim::PlatformConfig p;
  const Json j = cocosim::platform_to_json(p);
  CHECK(keys(j) == "arch cpus dram encryption gpaw ipa_bits seed quantum_ps thp tlb timing");
  CHECK(keys(*j.find("tlb")) == "entries huge_entries");
  CHECK(keys(*j.find("timing")) ==
        "dram_ps mee_ps walk_level_ps tlb_hit_ps vm_exit_ps seamcall_ps hvc_ps tlb_shootdown_ps ioctl_ps invept_ps tlbi_ps insn_ps");
  CHECK(j.find("quantum_ps")->as_uint() == 1000000);
  // 0.5 ns is 500 ps, not 0 and not 0.5.
  CHECK(j.find("timing")->find("tlb_hit_ps")->kind() == Json::Kind::UInt);
  CHECK(j.find("timing")->find("tlb_hit_ps")->as_uint() == 500);
  p.timing.dram_ns = 100;
  p.seed = 7;
  const Json changed = cocosim::platform_to_json(p);
  CHECK(changed.find("timing")->find("dram_ps")->as_uint() == 100000);
  CHECK(changed.find("seed")->as_uint() == 7);
}

TEST_CASE("stats_to_json: counters carry unit and description, rates name their terms") {
  cocosim::Stats stats;
  stats.add("c.hits", 3, "count", "hits");
  stats.add("c.misses", 1, "count", "misses");
  stats.rate("c.hit_rate", "c.hits", {"c.hits", "c.misses"}, "share of hits");
  stats.rate("c.idle_rate", "c.never", {"c.never"}, "nothing to rate");
  cocosim::Scenario sc;
  cocosim::RunSummary s;
  s.step_times.push_back({"1", "load", 50000, 0.25});
  cocosim::RunReport r{"f.yaml", sc, s, stats};
  r.verdict = "passed";
  r.simulated_ps = 14565042000;
  const Json j = cocosim::stats_to_json(r);
  CHECK(j.find("simulated_time_ps")->as_uint() == 14565042000u);
  const Json& hits = *j.find("counters")->find("c.hits");
  CHECK(hits.find("value")->as_uint() == 3);
  CHECK(hits.find("unit")->str() == "count");
  CHECK(hits.find("description")->str() == "hits");
  const Json& rate = *j.find("derived")->find("c.hit_rate");
  CHECK(rate.find("value")->as_double() == 0.75);
  CHECK(rate.find("of")->str() == "c.hits / (c.hits + c.misses)");
  // No denominator: no value rather than a division by zero.
  CHECK(j.find("derived")->find("c.idle_rate")->find("value")->kind() == Json::Kind::Null);
  const Json& step = j.find("step_times")->elements().at(0);
  CHECK(step.find("step")->str() == "1");
  CHECK(step.find("simulated_time_ps")->as_uint() == 50000);
  // What is written reads back as the same tree.
  std::string err;
  auto back = Json::parse(j.dump(), &err);
  REQUIRE(back);
  CHECK(*back == j);
}

TEST_CASE("sim_time: whole picoseconds, one unit") {
  CHECK(cocosim::to_ps(sc_core::sc_time(14416, sc_core::SC_NS)) == 14416000);
  CHECK(cocosim::to_ps(sc_core::sc_time(0.5, sc_core::SC_NS)) == 500);
  CHECK(cocosim::ps_text(sc_core::sc_time(13216.5, sc_core::SC_NS)) == "13216500 ps");
}
