#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "stats_diff.h"

namespace {

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/cocosim-diff-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    path = name;
    std::ofstream(path) << text;
    close(fd);
  }
  ~TempFile() { std::remove(path.c_str()); }
};

const char* kRunA = R"({
  "cocosim_version": "v1", "arch": "x86-tdx",
  "platform": {"timing": {"dram_ps": 50000}},
  "verdict": "passed", "simulated_time_ps": 1000, "wall_time_s": 0.5,
  "step_times": [{"step": "1", "op": "load", "simulated_time_ps": 1000, "wall_time_s": 0.1}],
  "counters": {"a": {"value": 10, "unit": "count", "description": "A"},
               "gone": {"value": 1, "unit": "count", "description": "G"}}
})";

struct Diff {
  int rc;
  std::string out, err;
};

Diff diff(const std::string& a, const std::string& b) {
  TempFile fa(a), fb(b);
  std::ostringstream out, err;
  const int rc = cocosim::diff_stats_files(fa.path, fb.path, out, err);
  return {rc, out.str(), err.str()};
}

// The table row of COUNTER with its columns one space apart.
std::string row(const std::string& out, const std::string& counter) {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string w, joined;
    while (words >> w) joined += (joined.empty() ? "" : " ") + w;
    if (joined.rfind(counter + " ", 0) == 0) return joined;
  }
  return "";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("diff: identical runs apart from wall times diff clean (exit 0)") {
  const std::string b = replace(replace(kRunA, "\"wall_time_s\": 0.5", "\"wall_time_s\": 9"),
                                "\"wall_time_s\": 0.1", "\"wall_time_s\": 3");
  const Diff d = diff(kRunA, b);
  CHECK(d.rc == 0);
  CHECK(d.out.find("no differences") != std::string::npos);
}

TEST_CASE("diff: platform, verdict, time and counters that changed are printed (exit 1)") {
  std::string b = replace(kRunA, "\"dram_ps\": 50000", "\"dram_ps\": 100000");
  b = replace(b, "\"verdict\": \"passed\"", "\"verdict\": \"failed\"");
  b = replace(b, "\"simulated_time_ps\": 1000,", "\"simulated_time_ps\": 1500,");
  b = replace(b, "\"value\": 10", "\"value\": 15");
  b = replace(b, "\"gone\"", "\"new\"");
  const Diff d = diff(kRunA, b);
  INFO(d.out);
  CHECK(d.rc == 1);
  CHECK(d.out.find("platform.timing.dram_ps: 50000 -> 100000") != std::string::npos);
  CHECK(d.out.find("verdict: \"passed\" -> \"failed\"") != std::string::npos);
  CHECK(d.out.find("simulated time: 1000 ps -> 1500 ps (delta +500 ps, ratio 1.5000)") != std::string::npos);
  CHECK(row(d.out, "a") == "a 10 15 +5 1.5000");
  CHECK(d.out.find("only in") != std::string::npos);
  CHECK(d.out.find("gone = 1") != std::string::npos);
  CHECK(d.out.find("new = 1") != std::string::npos);
}

TEST_CASE("diff: a counter that went down shows a negative delta") {
  const Diff d = diff(kRunA, replace(kRunA, "\"value\": 10", "\"value\": 4"));
  CHECK(d.rc == 1);
  CHECK(row(d.out, "a") == "a 10 4 -6 0.4000");
}

TEST_CASE("diff: unreadable or foreign input exits 2 and says why") {
  Diff d = diff(kRunA, "{\"counters\": {}");
  CHECK(d.rc == 2);
  CHECK(d.err.find(":1:16: expected ',' or '}'") != std::string::npos);
  d = diff(kRunA, "[1, 2]");
  CHECK(d.rc == 2);
  CHECK(d.err.find("not a cocosim stats file") != std::string::npos);
  std::ostringstream out, err;
  CHECK(cocosim::diff_stats_files("/nonexistent/a.json", "/nonexistent/b.json", out, err) == 2);
  CHECK(err.str().find("No such file or directory") != std::string::npos);
}
