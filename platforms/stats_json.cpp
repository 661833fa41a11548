#include "stats_json.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "cocosim_version.h"

namespace cocosim {

const char* cocosim_version() { return kCocosimVersion; }

namespace {

// Configured times are nanoseconds with fractions (tlb_hit 0.5 ns): whole ps.
uint64_t ns_to_ps(double ns) { return uint64_t(std::llround(ns * 1000.0)); }

Json counts(const std::map<std::string, uint64_t>& m) {
  Json o = Json::object();
  for (const auto& [k, n] : m) o.set(k, n);
  return o;
}

void add_into(std::map<std::string, uint64_t>& to, const std::map<std::string, uint64_t>& from) {
  for (const auto& [k, n] : from) to[k] += n;
}

Json exits_json(const VcpuExitCounts& e, const std::map<std::string, uint64_t>& handled) {
  Json o = Json::object();
  o.set("in_kernel", counts(e.in_kernel));
  o.set("to_vmm", counts(e.to_vmm));
  o.set("handled_by_vmm", counts(handled));
  return o;
}

}  // namespace

// Every platform key must reach the stats file: a field added to
// PlatformConfig or Timing stops the build here until platform_to_json writes
// it (then update the size).
static_assert(sizeof(Timing) == 12 * sizeof(double), "write the new Timing field in platform_to_json");
static_assert(sizeof(PlatformConfig) == 192 || sizeof(void*) != 8,
              "write the new PlatformConfig field in platform_to_json");

Json platform_to_json(const PlatformConfig& p) {
  Json o = Json::object();
  o.set("arch", arch_name(p.arch));
  o.set("cpus", p.cpus);
  o.set("dram", p.dram);
  o.set("encryption", p.encryption);
  o.set("gpaw", p.gpaw);
  o.set("ipa_bits", p.ipa_bits);
  o.set("seed", p.seed);
  o.set("quantum_ps", ns_to_ps(double(p.quantum_ns)));
  o.set("thp", p.thp);
  Json tlb = Json::object();
  tlb.set("entries", p.tlb_entries);
  tlb.set("huge_entries", p.tlb_huge_entries);
  o.set("tlb", std::move(tlb));
  Json t = Json::object();
  const Timing& tm = p.timing;
  t.set("dram_ps", ns_to_ps(tm.dram_ns));
  t.set("mee_ps", ns_to_ps(tm.mee_ns));
  t.set("walk_level_ps", ns_to_ps(tm.walk_level_ns));
  t.set("tlb_hit_ps", ns_to_ps(tm.tlb_hit_ns));
  t.set("vm_exit_ps", ns_to_ps(tm.vm_exit_ns));
  t.set("seamcall_ps", ns_to_ps(tm.seamcall_ns));
  t.set("hvc_ps", ns_to_ps(tm.hvc_ns));
  t.set("tlb_shootdown_ps", ns_to_ps(tm.tlb_shootdown_ns));
  t.set("ioctl_ps", ns_to_ps(tm.ioctl_ns));
  t.set("invept_ps", ns_to_ps(tm.invept_ns));
  t.set("tlbi_ps", ns_to_ps(tm.tlbi_ns));
  t.set("insn_ps", ns_to_ps(tm.insn_ns));
  o.set("timing", std::move(t));
  return o;
}

Json stats_to_json(const RunReport& r) {
  const RunSummary& s = r.summary;
  const Scenario& sc = r.scenario;
  Json j = Json::object();
  j.set("cocosim_version", cocosim_version());
  j.set("scenario", r.file);
  j.set("name", sc.name);
  j.set("arch", arch_name(sc.platform.arch));
  j.set("platform", platform_to_json(sc.platform));
  j.set("verdict", r.verdict);
  if (s.stopped) {
    // What ended the run early (a limit or a signal), and where it was.
    Json st = Json::object();
    st.set("by", s.stopped->what);
    st.set("exit_code", s.stopped->exit_code);
    st.set("at", s.stopped_at);
    st.set("simulated_time_ps", s.stopped_ps);
    j.set("stopped", std::move(st));
  }
  j.set("passed", r.verdict == "passed");
  j.set("simulated_time_ps", r.simulated_ps);
  j.set("wall_time_s", r.wall_s);
  j.set("steps", s.steps);
  j.set("steps_planned", sc.steps.size());
  Json e = Json::object();
  e.set("passed", s.passed);
  e.set("failed", s.failed);
  j.set("expectations", std::move(e));
  j.set("invariant_violations", s.violations);

  Json ops = Json::object();
  for (const auto& [op, n] : s.ops) {
    Json o = Json::object();
    o.set("count", n);
    auto sim = s.op_sim_ps.find(op);
    o.set("simulated_time_ps", sim == s.op_sim_ps.end() ? 0 : sim->second);
    auto wall = s.op_wall_s.find(op);
    o.set("wall_time_s", wall == s.op_wall_s.end() ? 0.0 : wall->second);
    ops.set(op, std::move(o));
  }
  j.set("operations", std::move(ops));

  Json steps = Json::array();
  for (const StepTime& t : s.step_times) {
    Json o = Json::object();
    o.set("step", t.step);
    o.set("op", t.op);
    o.set("simulated_time_ps", t.simulated_ps);
    o.set("wall_time_s", t.wall_s);
    steps.push(std::move(o));
  }
  j.set("step_times", std::move(steps));

  VcpuExitCounts all;
  std::map<std::string, uint64_t> all_handled;
  Json vcpus = Json::array();
  for (const VcpuRecord& v : s.vcpus) {
    Json o = Json::object();
    o.set("vm", v.vm);
    o.set("vcpu", v.vcpu);
    o.set("module", v.module);
    o.set("runs", v.runs);
    o.set("guest_time_ps", v.guest_ps);
    o.set("exits", exits_json(v.exits, v.handled_by_vmm));
    vcpus.push(std::move(o));
    add_into(all.in_kernel, v.exits.in_kernel);
    add_into(all.to_vmm, v.exits.to_vmm);
    add_into(all_handled, v.handled_by_vmm);
  }
  j.set("vcpus", std::move(vcpus));
  j.set("exits", exits_json(all, all_handled));

  Json counters = Json::object();
  for (const auto& [name, n] : r.stats.all()) {
    const CounterInfo& info = r.stats.info(name);
    Json o = Json::object();
    o.set("value", n);
    o.set("unit", info.unit);
    o.set("description", info.description);
    counters.set(name, std::move(o));
  }
  j.set("counters", std::move(counters));

  // value is null when the denominator is 0 (nothing to rate).
  Json derived = Json::object();
  for (const auto& [name, rate] : r.stats.rates()) {
    const uint64_t num = r.stats.get(rate.numerator);
    uint64_t den = 0;
    for (const std::string& term : rate.denominator) den += r.stats.get(term);
    Json o = Json::object();
    o.set("value", den ? Json(double(num) / double(den)) : Json());
    o.set("numerator", num);
    o.set("denominator", den);
    std::string of;
    for (const std::string& term : rate.denominator) of += (of.empty() ? "" : " + ") + term;
    o.set("of", rate.numerator + " / (" + of + ")");
    o.set("description", rate.description);
    derived.set(name, std::move(o));
  }
  j.set("derived", std::move(derived));
  return j;
}

namespace {

using Formatter = std::string (*)(const RunReport&);

std::string format_json(const RunReport& r) { return stats_to_json(r).dump(); }

const std::map<StatsFormat, Formatter> kStatsFormats = {
    {StatsFormat::Json, format_json},
};

}  // namespace

bool write_stats(const std::string& path, StatsFormat format, const RunReport& r,
                 std::string* err) {
  const std::string text = kStatsFormats.at(format)(r);
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    *err = std::strerror(errno);
    return false;
  }
  out << text;
  out.close();
  if (!out) {
    *err = errno ? std::strerror(errno) : "write failed";
    return false;
  }
  return true;
}

}  // namespace cocosim
