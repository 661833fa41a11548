#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "scenario/diagnostics.h"
#include "scenario/scenario.h"
#include "scenario/yaml_tree.h"

using namespace cocosim;

namespace {

std::vector<YamlError> errors_of(const std::string& text) {
  std::vector<YamlError> e;
  YamlTree::parse(text, "t.yaml", &e);
  return e;
}

bool has(const std::vector<YamlError>& e, int line, int col, const std::string& what) {
  for (const auto& x : e)
    if (x.loc.line == line && x.loc.col == col && x.message.find(what) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("YamlTree: scalars, lists, mappings, nulls and quoting") {
  std::vector<YamlError> e;
  auto t = YamlTree::parse("a: 1\nb: [x, 'y']\nc: {d: ~}\ne:\nf: \"null\"\n", "t.yaml", &e);
  REQUIRE(e.empty());
  YNode r = t->root();
  REQUIRE(r.is_map());
  CHECK(r.size() == 5);
  CHECK(r.get("a").text() == "1");
  CHECK(r.get("b").is_seq());
  CHECK(r.get("b").at(1).text() == "y");
  CHECK(r.get("b").at(1).quoted());
  CHECK(r.get("c").get("d").is_null());
  CHECK(r.get("e").is_null());
  CHECK(r.get("f").is_scalar());  // a quoted "null" is a string
  CHECK_FALSE(r.get("nope"));
  CHECK(r.get("b").loc().line == 2);
  CHECK(r.get("b").loc().col == 4);
}

TEST_CASE("YamlTree: a duplicate key is an error naming both places, at any depth") {
  CHECK(has(errors_of("arch: x\narch: y\n"), 2, 1, "duplicate key 'arch' (first at 1:1)"));
  CHECK(has(errors_of("p: {a: 1, b: 2, a: 3}\n"), 1, 17, "duplicate key 'a' (first at 1:5)"));
  CHECK(has(errors_of("s:\n  - op: {x: 1}\n    expect: {v: 1, v: 2}\n"), 3, 20, "duplicate key 'v'"));
  // A large mapping (indexed rather than scanned) finds them too.
  std::string big;
  for (int i = 0; i < 100; ++i) big += "k" + std::to_string(i) + ": 1\n";
  big += "k42: 2\n";
  CHECK(has(errors_of(big), 101, 1, "duplicate key 'k42' (first at 43:1)"));
  CHECK(errors_of("a: {x: 1}\nb: {x: 1}\n").empty());  // the same key in two mappings is fine
}

TEST_CASE("YamlTree: one document only, the second is an error where it starts") {
  CHECK(errors_of("---\na: 1\n").empty());
  CHECK(has(errors_of("a: 1\n---\nb: 2\n"), 2, 1, "second YAML document"));
  // After `...` libyaml wants an explicit `---`: refused at the same place.
  CHECK(has(errors_of("a: 1\n...\nb: 2\n"), 3, 1, "document start"));
  CHECK(has(errors_of("a: 1\n...\n---\nb: 2\n"), 3, 1, "second YAML document"));
}

TEST_CASE("YamlTree: aliases are shared, bounded, defined first and never recursive") {
  std::vector<YamlError> e;
  auto t = YamlTree::parse("a: &x [1, 2]\nb: *x\n", "t.yaml", &e);
  REQUIRE(e.empty());
  CHECK(t->root().get("b").at(1).text() == "2");
  CHECK(t->node_count() == 6);  // not copied

  std::string bomb = "l0: &l0 [1, 1]\n";
  for (int i = 1; i <= 30; ++i)
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [*l" + std::to_string(i - 1) + ", *l" +
            std::to_string(i - 1) + "]\n";
  auto b = errors_of(bomb);
  REQUIRE(b.size() == 1);
  CHECK(b[0].message.find("more than 1000000 nodes") != std::string::npos);
  CHECK(b[0].loc.line < 31);  // stopped at the alias that crossed the budget

  CHECK(has(errors_of("a: *nope\n"), 1, 4, "names no anchor"));
  CHECK(has(errors_of("a: &r [1, *r]\n"), 1, 11, "inside the node its anchor names"));
}

TEST_CASE("YamlTree: keys are scalars, nesting is bounded, syntax errors are located") {
  CHECK(has(errors_of("? [a, b]\n: 1\n"), 1, 3, "key must be a scalar"));
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  CHECK(has(errors_of(deep), 1, YamlTree::kMaxDepth + 1, "nested more than"));
  auto s = errors_of("a: [1, 2\nb: 3\n");
  REQUIRE(s.size() == 1);
  CHECK(s[0].message.find("YAML syntax error") != std::string::npos);
  // Invalid UTF-8 in the text: refused where the byte is.
  auto u = errors_of("name: ok\nother: ab\xff\n");
  REQUIRE(u.size() == 1);
  CHECK(u[0].loc.line == 2);
  CHECK(u[0].loc.col == 10);
  CHECK(u[0].message.find("UTF-8") != std::string::npos);
}

TEST_CASE("YamlTree: --set values are located by their ordinal and column") {
  std::vector<YamlError> e;
  YamlTree::parse("[1,", "--set", &e, 2, 20);
  REQUIRE(e.size() == 1);
  CHECK(e[0].loc.line == 3);
  CHECK(e[0].loc.col > 20);
}

TEST_CASE("label_problem: printable UTF-8 only") {
  CHECK(label_problem("vm0 – état").empty());
  CHECK(label_problem("a\x01").find("control") != std::string::npos);
  CHECK(label_problem("a\tb").find("control") != std::string::npos);
  CHECK(label_problem("\xc2\x85").find("control") != std::string::npos);  // U+0085 (NEL)
  CHECK(label_problem("\xff").find("UTF-8") != std::string::npos);
  CHECK(label_problem("\xc3").find("UTF-8") != std::string::npos);          // truncated
  CHECK(label_problem("\xc0\xaf").find("UTF-8") != std::string::npos);      // overlong
  CHECK(label_problem("\xed\xa0\x80").find("UTF-8") != std::string::npos);  // a surrogate
}

TEST_CASE("Scenario loader: names, notes and tags must be printable text") {
  const std::string head = "platform: {arch: x86-tdx}\n";
  CHECK_FALSE(load_scenario_text("t.yaml", "name: \"a\\x07\"\n" + head + "steps: []\n", std::nullopt).scenario);
  CHECK_FALSE(load_scenario_text("t.yaml", head + "steps:\n  - fork: {name: c}\n    note: \"\\x1b[31m\"\n",
                                 std::nullopt).scenario);
  CHECK_FALSE(load_scenario_text("t.yaml", head + "programs:\n  p:\n    - sync: {tag: \"a\\nb\"}\nsteps: []\n",
                                 std::nullopt).scenario);
  CHECK(load_scenario_text("t.yaml", "name: \"été\"\n" + head + "steps: []\n", std::nullopt).scenario);
}

TEST_CASE("Scenario loader: trace.stats may not name the scenario file itself") {
  char path[] = "/tmp/cocosim-self-XXXXXX.yaml";
  const int fd = mkstemps(path, 5);
  REQUIRE(fd >= 0);
  close(fd);
  const std::string p = path;
  // The same file by another spelling of its path.
  const std::string other = "/tmp/../tmp/" + p.substr(5);
  std::ofstream(p) << "platform: {arch: x86-tdx}\ntrace: {stats: " << other << "}\nsteps: []\n";
  LoadResult r = load_scenario(p, std::nullopt);
  REQUIRE_FALSE(r.errors.empty());
  CHECK(r.errors[0].message.find("names the scenario file itself") != std::string::npos);
  CHECK(r.errors[0].loc.line == 2);
  std::ofstream(p) << "platform: {arch: x86-tdx}\ntrace: {stats: " << p << ".json}\nsteps: []\n";
  CHECK(load_scenario(p, std::nullopt).scenario);
  std::remove(p.c_str());
}

// The loader's cost per step: a 100,000-step text loads whole (the RSS and
// time bound is the ctest loader.large_input, run under /usr/bin/time).
TEST_CASE("Scenario loader: a 100,000-step text validates, keeping the document once") {
  std::string t = "platform: {arch: x86-tdx}\nsteps:\n  - mmap: {anonymous: true, name: m, length: 4KiB}\n";
  t.reserve(6 << 20);
  for (int i = 0; i < 50000; ++i) {
    const std::string off = std::to_string(i % 512 * 8), v = std::to_string(i);
    t += "  - store: {map: m, offset: " + off + ", value: " + v + "}\n";
    t += "  - load: {map: m, offset: " + off + ", expect: {value: " + v + "}}\n";
  }
  LoadResult r = load_scenario_text("big.yaml", t, std::nullopt);
  REQUIRE(r.scenario);
  CHECK(r.scenario->steps.size() == 100001);
  CHECK(r.scenario->steps[100000].expect.items[0].value.text() == "49999");
  // About 10 nodes a step, one document for all of them.
  CHECK(r.scenario->doc->node_count() < 12 * 100001);
  CHECK(r.scenario->steps[99999].args.u64("value") == 49999);
}
