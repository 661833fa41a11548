// The VCD writer, the GTKWave save file, the tracer's categories and text
// lines, and the gem5-style statistics text.
#include <doctest/doctest.h>

#include <sstream>

#include "common/trace.h"
#include "scenario/scenario.h"
#include "stats_text.h"
#include "trace/gtkw_writer.h"
#include "trace/tracer.h"
#include "trace/vcd_writer.h"

using namespace cocosim;

TEST_CASE("VCD: scopes nest by dots, changes come out sorted by time, last report wins") {
  VcdWriter w;
  const unsigned a = w.signal("platform.vcpu0", "gpa", 64);
  const unsigned b = w.signal("platform.bus", "cmd", 1);
  const unsigned e = w.event("platform.gmem.g", "to_private");
  CHECK(w.signal("platform.vcpu0", "gpa", 64) == a);  // declared once
  // A vCPU ahead in local time reports first; the kernel's event comes later.
  w.change(5000, a, 0x1000);
  w.change(3000, b, 1);
  w.change(5000, a, 0x2000);  // same time: the later report wins
  w.trigger(4000, e);
  w.change(6000, b, 1);  // unchanged: no line
  std::ostringstream out;
  w.write(out, 9000, "unit test");
  const std::string v = out.str();
  CHECK(v.find("$timescale 1ps $end") != std::string::npos);
  CHECK(v.find("$scope module platform $end\n$scope module bus $end") != std::string::npos);
  CHECK(v.find("$var wire 64 ! gpa $end") != std::string::npos);
  CHECK(v.find("$var event 1 # to_private $end") != std::string::npos);
  // Unknown until reported; events have no value to dump.
  CHECK(v.find("$dumpvars\nbx !\nx\"\n$end\n") != std::string::npos);
  const size_t t3 = v.find("#3000\n1\"\n"), t4 = v.find("#4000\n1#\n"),
               t5 = v.find("#5000\nb10000000000000 !\n");
  REQUIRE(t3 != std::string::npos);
  REQUIRE(t4 != std::string::npos);
  REQUIRE(t5 != std::string::npos);
  CHECK(t3 < t4);
  CHECK(t4 < t5);
  CHECK(v.find("#6000") == std::string::npos);
  CHECK(v.find("b1000000000000 !") == std::string::npos);  // 0x1000 was overwritten at 5000
  CHECK(v.substr(v.size() - 6) == "#9000\n");               // the end of the run closes it
}

TEST_CASE("VCD: a memory limit drops later changes and says so in the file") {
  VcdWriter w(2);
  const unsigned a = w.signal("s", "x", 8);
  w.change(1, a, 1);
  w.change(2, a, 2);
  w.change(3, a, 3);
  CHECK(w.dropped());
  std::ostringstream out;
  w.write(out, 3, "");
  CHECK(out.str().find("1 changes after the first 2 were dropped") != std::string::npos);
  CHECK(out.str().find("b11 ") == std::string::npos);
}

TEST_CASE("gtkw: one group per model instance, filters named before their signals") {
  std::vector<VcdWriter::Signal> sig = {{"platform.bus", "addr", 64},
                                        {"platform.vcpu0", "run_state", 2},
                                        {"platform.kvm.vm1.vcpu0", "exit_reason", 4},
                                        {"platform.gmem.g", "to_private", 1, true}};
  std::ostringstream out;
  write_gtkw(out, "/w/run.vcd", sig, {{"run_state", "/w/run.run_state.filter"}}, 1000000);
  const std::string g = out.str();
  CHECK(g.find("[dumpfile] \"/w/run.vcd\"") != std::string::npos);
  // vCPUs first, the bus after KVM and guest_memfd.
  CHECK(g.find("-vcpu0") < g.find("-kvm.vm1.vcpu0"));
  CHECK(g.find("-gmem.g") < g.find("-bus"));
  CHECK(g.find("^1 /w/run.run_state.filter\n@2024\nplatform.vcpu0.run_state[1:0]") != std::string::npos);
  CHECK(g.find("@22\nplatform.bus.addr[63:0]") != std::string::npos);  // addresses in hex
  CHECK(g.find("@28\nplatform.gmem.g.to_private\n") != std::string::npos);
  std::ostringstream f;
  write_gtkw_filter(f, {{0, "out"}, {1, "in guest"}});
  CHECK(f.str().find("\n0 out\n1 in_guest\n") != std::string::npos);
}

TEST_CASE("tracer: categories, text lines at the clock's time, probes off without a sink") {
  std::string bad;
  CHECK(Tracer::parse_categories("bus,gmem", &bad) == 0b11u);
  CHECK(Tracer::parse_categories("all", &bad) == 0x7fu);
  CHECK_FALSE(Tracer::parse_categories("bus,gmme", &bad));
  CHECK(bad == "gmme");
  CHECK_FALSE(Tracer::parse_categories("bus,", &bad));
  CHECK(Tracer::category_list().find("pkvm") != std::string::npos);

  uint64_t now = 0;
  std::ostringstream text;
  {
    Tracer t([&] { return now; });
    t.enable_text(&text, 1u << unsigned(trace::Cat::Kvm));
    CHECK_FALSE(trace::on());
    t.install();
    REQUIRE(trace::on());
    now = 1500;
    COCOSIM_PROBE(value(trace::Cat::Kvm, "platform.kvm.vm0.vcpu0", "exit_reason", 2, 4, "KVM_EXIT_HYPERCALL"));
    COCOSIM_PROBE(note(trace::Cat::Bus, "platform.bus", "read 0x1000"));  // category off
    now = 2000;
    COCOSIM_PROBE(pulse(trace::Cat::Kvm, "platform.vcpu0", "tlb_flush", "INVEPT"));
  }
  CHECK_FALSE(trace::on());  // the tracer's end uninstalls it
  CHECK(text.str() ==
        "[1500 ps] platform.kvm.vm0.vcpu0: exit_reason=KVM_EXIT_HYPERCALL\n"
        "[2000 ps] platform.vcpu0: tlb_flush INVEPT\n");
  int evaluated = 0;
  COCOSIM_PROBE(note(trace::Cat::Kvm, "x", std::to_string(++evaluated)));
  CHECK(evaluated == 0);  // off: the arguments are not even evaluated
}

TEST_CASE("gem5 text: begin/end markers, 40/12/10/10 columns, one block per interval") {
  Stats st;
  st.counter("platform.vcpu0.accesses", "count", "guest data accesses") = 10;
  st.counter("platform.vcpu0.mmu.tlb_hits", "count", "hits") = 6;
  st.counter("platform.vcpu0.mmu.tlb_misses", "count", "misses") = 2;
  st.rate("platform.vcpu0.mmu.tlb_hit_rate", "platform.vcpu0.mmu.tlb_hits",
          {"platform.vcpu0.mmu.tlb_hits", "platform.vcpu0.mmu.tlb_misses"}, "hit rate");
  Scenario sc;
  RunSummary sum;
  const std::string file = "x.yaml";
  RunReport r{file, sc, sum, st};
  r.simulated_ps = 3000000;
  r.wall_s = 2;
  const std::string one = format_gem5_text(r, {});
  CHECK(one.find("\n---------- Begin Simulation Statistics ----------\n") == 0);
  CHECK(one.find("\n---------- End Simulation Statistics   ----------\n") != std::string::npos);
  char expect[256];
  std::snprintf(expect, sizeof expect, "%-40s %12s %10s %10s # %s (%s)\n",
                "platform.vcpu0.accesses", "10", "", "", "guest data accesses", "Count");
  CHECK(one.find(expect) != std::string::npos);
  auto has = [&](const char* name, const char* value) {
    char head[128];
    std::snprintf(head, sizeof head, "%-40s %12s ", name, value);
    return one.find(head) != std::string::npos;
  };
  CHECK(has("platform.vcpu0.mmu.tlb_hit_rate", "0.750000"));
  CHECK(has("simTicks", "3000000"));
  CHECK(has("hostAccessRate", "5"));  // 10 accesses in 2 s

  // Two intervals, then the rest: each block counts its own window.
  std::vector<StatsSnapshot> iv = {{1000000, 0.5, {{"platform.vcpu0.accesses", 4}}},
                                   {2000000, 1.0, {{"platform.vcpu0.accesses", 7}}}};
  const std::string three = format_gem5_text(r, iv);
  size_t blocks = 0;
  for (size_t at = 0; (at = three.find("Begin Simulation Statistics", at)) != std::string::npos; ++at)
    ++blocks;
  CHECK(blocks == 3);
  std::snprintf(expect, sizeof expect, "%-40s %12s", "platform.vcpu0.accesses", "3");
  CHECK(three.find(expect) != std::string::npos);  // 7 - 4, then 10 - 7
  CHECK(gem5_text_path("out/run.json") == "out/run.txt");
  CHECK(gem5_text_path("out/run") == "out/run.txt");
}
