// `cocosim sweep`'s plain-C++ parts: options, the grid, point hashes, the
// results table and the plot script.
#include <doctest/doctest.h>

#include "sweep/sweep_plan.h"
#include "sweep/sweep_results.h"

using namespace cocosim;

namespace {

SweepOptions parse_ok(const std::vector<std::string>& a) {
  std::string err;
  auto o = parse_sweep_args(a, &err);
  INFO(err);
  REQUIRE(o);
  return *o;
}

std::string parse_err(const std::vector<std::string>& a) {
  std::string err;
  auto o = parse_sweep_args(a, &err);
  CHECK_FALSE(o);
  return err;
}

}  // namespace

TEST_CASE("sweep options: params, archs, repeat, jobs, plots") {
  SweepOptions o = parse_ok({"s.yaml", "--param", "platform.tlb.entries=16,64", "--param",
                             "platform.timing.dram=10ns,20ns,40ns", "--arch", "x86-tdx,arm64-pkvm",
                             "--repeat", "3", "-j", "4", "--out", "d", "--plot", "a,b"});
  CHECK(o.file == "s.yaml");
  REQUIRE(o.params.size() == 2);
  CHECK(o.params[0].key == "platform.tlb.entries");
  CHECK(o.params[1].values == std::vector<std::string>{"10ns", "20ns", "40ns"});
  CHECK(o.archs == std::vector<std::string>{"x86-tdx", "arm64-pkvm"});
  CHECK(o.repeat == 3);
  CHECK(o.jobs == 4);
  CHECK(o.out == "d");
  CHECK(o.plots == std::vector<std::string>{"a", "b"});
}

TEST_CASE("sweep options: each bad argument is named") {
  CHECK(parse_err({"s.yaml", "--param", "platform.tlb.entries"}).find("--param platform.tlb.entries: expected KEY=V1") == 0);
  CHECK(parse_err({"s.yaml", "--param", "k=1,,2"}).find("an empty value") != std::string::npos);
  CHECK(parse_err({"s.yaml", "--param", "k=1", "--param", "k=2"}) == "--param k is given twice");
  CHECK(parse_err({"s.yaml", "--param", "k=1", "--arch", "x86"}) ==
        "--arch must be x86-tdx or arm64-pkvm, not 'x86'");
  CHECK(parse_err({"s.yaml", "--param", "k=1", "--repeat", "0"}) == "--repeat must be a positive number, not '0'");
  CHECK(parse_err({"s.yaml", "--param", "k=1", "-j"}) == "-j needs a number");
  CHECK(parse_err({"s.yaml", "--param", "k=1", "--frob"}) == "unknown option '--frob'");
  CHECK(parse_err({"s.yaml"}).find("nothing to sweep") == 0);
  CHECK(parse_err({"--param", "k=1"}) == "sweep needs a scenario FILE");
  CHECK(parse_err({"s.yaml", "--param", "k=1", "--zip"}) == "--zip pairs two or more --param lists");
  CHECK(parse_err({"s.yaml", "--param", "k=1", "--no-wait"}).find("need --slurm") != std::string::npos);
  CHECK(parse_err({"s.yaml", "--param", "k=1", "--check", "always"}) == "--check must be step, end or off");
  CHECK(parse_err({"--collect", "d", "s.yaml"}) == "--collect DIR takes no scenario file");
}

TEST_CASE("sweep options: --collect, --run-point and the Slurm options") {
  SweepOptions c = parse_ok({"--collect", "d", "--plot", "m"});
  CHECK(c.collect == "d");
  CHECK(c.plots == std::vector<std::string>{"m"});
  SweepOptions r = parse_ok({"--run-point", "d", "aa", "bb"});
  CHECK(r.run_point_dir == "d");
  CHECK(r.run_point_ids == std::vector<std::string>{"aa", "bb"});
  CHECK(parse_err({"--run-point", "d"}) == "--run-point needs the sweep's directory and a point");
  SweepOptions s = parse_ok({"s.yaml", "--param", "k=1", "--slurm", "--partition", "p", "--time", "10:00",
                             "--chunk", "4", "--no-wait"});
  CHECK(s.slurm);
  CHECK(s.partition == "p");
  CHECK(s.time_limit == "10:00");
  CHECK(s.chunk == 4);
  CHECK(s.no_wait);
  CHECK(parse_err({"--collect", "d", "--param", "k=1"}).find("only assembles results") != std::string::npos);
}

TEST_CASE("sweep plan: Cartesian product, last parameter fastest, then arch, then repeat") {
  SweepOptions o = parse_ok({"s.yaml", "--param", "a=1,2", "--param", "b=x,y,z", "--arch",
                             "x86-tdx,arm64-pkvm", "--repeat", "2"});
  std::string err;
  auto p = plan_sweep(o, &err);
  REQUIRE(p);
  REQUIRE(p->size() == 2 * 3 * 2 * 2);
  CHECK((*p)[0].sets() == std::vector<std::string>{"a=1", "b=x"});
  CHECK((*p)[0].arch == "x86-tdx");
  CHECK((*p)[1].repeat == 1);
  CHECK((*p)[2].arch == "arm64-pkvm");
  CHECK((*p)[4].sets() == std::vector<std::string>{"a=1", "b=y"});
  CHECK((*p)[12].sets() == std::vector<std::string>{"a=2", "b=x"});
  CHECK((*p)[23].label() == "a=2 b=z arch=arm64-pkvm #1");
  for (size_t i = 0; i < p->size(); ++i) CHECK((*p)[i].index == i);
}

TEST_CASE("sweep plan: --zip pairs the lists and refuses unequal lengths") {
  std::string err;
  auto p = plan_sweep(parse_ok({"s.yaml", "--param", "a=1,2,3", "--param", "b=x,y,z", "--zip"}), &err);
  REQUIRE(p);
  REQUIRE(p->size() == 3);
  CHECK((*p)[2].sets() == std::vector<std::string>{"a=3", "b=z"});
  CHECK_FALSE(plan_sweep(parse_ok({"s.yaml", "--param", "a=1,2,3", "--param", "b=x,y", "--zip"}), &err));
  CHECK(err == "--zip needs lists of one length: --param a has 3 values, --param b has 2");
}

TEST_CASE("sweep point hash: changes with every input, not otherwise") {
  SweepPoint p;
  p.values = {{"a", "1"}};
  PointInputs in{"s", "v", "b", "", ""};
  const std::string h = point_hash(p, in);
  CHECK(h.size() == 64);
  CHECK(point_hash(p, in) == h);
  SweepPoint q = p;
  q.values[0].second = "2";
  CHECK(point_hash(q, in) != h);
  q = p;
  q.repeat = 1;
  CHECK(point_hash(q, in) != h);
  q = p;
  q.arch = "x86-tdx";
  CHECK(point_hash(q, in) != h);
  for (std::string PointInputs::*f : {&PointInputs::scenario_sha256, &PointInputs::version,
                                      &PointInputs::build_id, &PointInputs::check, &PointInputs::timeout}) {
    PointInputs j = in;
    j.*f += "x";
    CHECK(point_hash(p, j) != h);
  }
  // Field boundaries count: "a=1" + "b" is not "a=1b".
  SweepPoint r;
  r.values = {{"a", "1b"}};
  PointInputs k{"s", "v", "", "", ""};
  PointInputs l{"s", "v", "", "", ""};
  CHECK(point_hash(r, k) == point_hash(r, l));
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sweep results: one row per point, counters as columns, failures kept") {
  std::string err;
  auto pts = plan_sweep(parse_ok({"s.yaml", "--param", "k=1,2,3"}), &err);
  REQUIRE(pts);
  auto stats = [](uint64_t sim, uint64_t a) {
    std::string e;
    return *Json::parse("{\"arch\": \"x86-tdx\", \"verdict\": \"passed\", \"simulated_time_ps\": " +
                            std::to_string(sim) + ", \"counters\": {\"c.a\": {\"value\": " +
                            std::to_string(a) + "}, \"c,b\": {\"value\": 7}}}",
                        &e);
  };
  std::vector<PointResult> r(3);
  r[0] = {"p0", "passed", 0, 0.5, stats(100, 1)};
  r[1] = {"p1", "stopped by --timeout 1s", 3, 1.25, std::nullopt};
  r[2] = {"p2", "not run", -1, 0, std::nullopt};
  ResultsTable t = build_results({"k"}, *pts, r);
  CHECK(t.columns == std::vector<std::string>{"point", "k", "arch", "repeat", "verdict", "exit_code",
                                              "simulated_time_ps", "wall_time_s", "c,b", "c.a"});
  CHECK(t.csv() ==
        "point,k,arch,repeat,verdict,exit_code,simulated_time_ps,wall_time_s,\"c,b\",c.a\n"
        "p0,1,x86-tdx,0,passed,0,100,0.500000,7,1\n"
        "p1,2,,0,stopped by --timeout 1s,3,,1.250000,,\n"
        "p2,3,,0,not run,,,,,\n");
}

TEST_CASE("sweep plot: mean over repeats, one line per second-parameter value, failures left out") {
  std::string err;
  auto pts = plan_sweep(parse_ok({"s.yaml", "--param", "x=1,2", "--param", "s=a,b", "--repeat", "2"}), &err);
  REQUIRE(pts);
  REQUIRE(pts->size() == 8);
  std::vector<PointResult> r;
  for (size_t i = 0; i < 8; ++i) {
    std::string e;
    auto j = Json::parse("{\"verdict\": \"passed\", \"simulated_time_ps\": " + std::to_string(10 * (i + 1)) +
                             ", \"counters\": {}}",
                         &e);
    r.push_back({"p" + std::to_string(i), i == 7 ? "failed" : "passed", i == 7 ? 1 : 0, 1.0, j});
  }
  ResultsTable t = build_results({"x", "s"}, *pts, r);
  auto f = make_plot(t, {"x", "s"}, "simulated_time_ps", "d.dat", "p.png", "p.svg", &err);
  REQUIRE(f);
  // s=a: x=1 -> (10+20)/2, x=2 -> (50+60)/2; s=b: x=1 -> (30+40)/2, x=2 -> 70 (80 failed).
  CHECK(f->data == "0\t1\t15\n1\t2\t55\n\n\n0\t1\t35\n1\t2\t70\n");
  CHECK(f->script.find("title \"s=a\"") != std::string::npos);
  CHECK(f->script.find("\"d.dat\" index 1 using 1:3:xtic(2)") != std::string::npos);
  CHECK(f->script.find("set output \"p.svg\"") != std::string::npos);
  CHECK_FALSE(make_plot(t, {"x", "s"}, "no.such", "d", "p", "s", &err));
  CHECK(err.find("--plot no.such: results.csv has no such column") == 0);
  CHECK(metric_file_name("platform.vcpu0/x y") == "platform.vcpu0_x_y");
}
