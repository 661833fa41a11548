#include <doctest/doctest.h>

#include <cstdint>
#include <tuple>
#include <vector>

#include "common/range_map.h"

using cocosim::RangeMap;

namespace {

using Run = std::tuple<uint64_t, uint64_t, int>;

std::vector<Run> runs_in(const RangeMap<int>& m, uint64_t first, uint64_t end) {
  std::vector<Run> out;
  m.for_each(first, end, [&](uint64_t lo, uint64_t hi, const int& v) { out.emplace_back(lo, hi, v); });
  return out;
}

constexpr uint64_t kTop = ~uint64_t{0};

}  // namespace

TEST_CASE("RangeMap: a new map holds the initial value at every index") {
  RangeMap<int> m(7);
  CHECK(m.get(0) == 7);
  CHECK(m.get(123456789) == 7);
  CHECK(m.get(kTop) == 7);
  CHECK(m.runs() == 1);
}

TEST_CASE("RangeMap: set changes exactly the half-open range") {
  RangeMap<int> m(0);
  m.set(10, 20, 5);
  CHECK(m.get(9) == 0);
  CHECK(m.get(10) == 5);
  CHECK(m.get(19) == 5);
  CHECK(m.get(20) == 0);
  CHECK(m.runs() == 3);
}

TEST_CASE("RangeMap: an empty or reversed range changes nothing") {
  RangeMap<int> m(0);
  m.set(5, 5, 1);
  m.set(9, 3, 1);
  CHECK(m.runs() == 1);
  CHECK(m.get(5) == 0);
  CHECK(m.get(4) == 0);
}

TEST_CASE("RangeMap: adjacent runs with the same value merge into one") {
  RangeMap<int> m(0);
  m.set(10, 20, 1);
  m.set(20, 30, 1);
  CHECK(m.runs() == 3);  // [0,10) 0, [10,30) 1, [30,...) 0
  CHECK(runs_in(m, 0, 40) == std::vector<Run>{{0, 10, 0}, {10, 30, 1}, {30, 40, 0}});
  m.set(0, 10, 1);
  CHECK(m.runs() == 2);
  CHECK(runs_in(m, 0, 40) == std::vector<Run>{{0, 30, 1}, {30, 40, 0}});
}

TEST_CASE("RangeMap: a hole punched in a run splits it and filling it re-merges") {
  RangeMap<int> m(0);
  m.set(0, 100, 1);
  m.set(40, 60, 2);
  CHECK(m.runs() == 4);
  CHECK(runs_in(m, 0, 200) ==
        std::vector<Run>{{0, 40, 1}, {40, 60, 2}, {60, 100, 1}, {100, 200, 0}});
  m.set(40, 60, 1);
  CHECK(m.runs() == 2);
  CHECK(runs_in(m, 0, 200) == std::vector<Run>{{0, 100, 1}, {100, 200, 0}});
}

TEST_CASE("RangeMap: setting a range back to the surrounding value leaves a single run") {
  RangeMap<int> m(0);
  m.set(10, 20, 1);
  m.set(30, 40, 2);
  m.set(5, 50, 0);
  CHECK(m.runs() == 1);
  CHECK(m.all_equal(0, 1000, 0));
}

TEST_CASE("RangeMap: a range spanning several runs is overwritten as one") {
  RangeMap<int> m(0);
  m.set(10, 20, 1);
  m.set(30, 40, 2);
  m.set(15, 35, 3);
  CHECK(runs_in(m, 0, 50) ==
        std::vector<Run>{{0, 10, 0}, {10, 15, 1}, {15, 35, 3}, {35, 40, 2}, {40, 50, 0}});
}

TEST_CASE("RangeMap: all_equal sees every index of the range") {
  RangeMap<int> m(0);
  m.set(10, 20, 1);
  CHECK(m.all_equal(10, 20, 1));
  CHECK(m.all_equal(12, 13, 1));
  CHECK_FALSE(m.all_equal(9, 20, 1));
  CHECK_FALSE(m.all_equal(10, 21, 1));
  CHECK(m.all_equal(0, 10, 0));
  CHECK(m.all_equal(20, 1000, 0));
  CHECK_FALSE(m.all_equal(0, 1000, 0));
}

TEST_CASE("RangeMap: for_each clips the runs to the query range") {
  RangeMap<int> m(0);
  m.set(10, 20, 1);
  m.set(30, 40, 2);
  CHECK(runs_in(m, 15, 35) == std::vector<Run>{{15, 20, 1}, {20, 30, 0}, {30, 35, 2}});
  CHECK(runs_in(m, 12, 13) == std::vector<Run>{{12, 13, 1}});
  CHECK(runs_in(m, 13, 13).empty());
}

TEST_CASE("RangeMap: index 0 is an ordinary boundary") {
  RangeMap<int> m(0);
  m.set(0, 1, 5);
  CHECK(m.get(0) == 5);
  CHECK(m.get(1) == 0);
  CHECK(m.runs() == 2);
  CHECK(runs_in(m, 0, 2) == std::vector<Run>{{0, 1, 5}, {1, 2, 0}});
  m.set(0, 1, 0);
  CHECK(m.runs() == 1);
}

TEST_CASE("RangeMap: ranges that end just below 2^64 work") {
  RangeMap<int> m(0);
  m.set(kTop - 10, kTop, 3);
  CHECK(m.get(kTop - 11) == 0);
  CHECK(m.get(kTop - 10) == 3);
  CHECK(m.get(kTop - 1) == 3);
  CHECK(m.get(kTop) == 0);  // [first, end) excludes end
  CHECK(m.all_equal(kTop - 10, kTop, 3));
  CHECK(runs_in(m, kTop - 12, kTop) == std::vector<Run>{{kTop - 12, kTop - 10, 0}, {kTop - 10, kTop, 3}});
  m.set(kTop - 20, kTop - 10, 3);  // adjacent, same value: merges
  CHECK(m.runs() == 3);
  CHECK(runs_in(m, kTop - 21, kTop) == std::vector<Run>{{kTop - 21, kTop - 20, 0}, {kTop - 20, kTop, 3}});
}

TEST_CASE("RangeMap: the whole representable range can be set at once") {
  RangeMap<int> m(0);
  m.set(0, kTop, 9);
  CHECK(m.get(0) == 9);
  CHECK(m.get(kTop / 2) == 9);
  CHECK(m.get(kTop - 1) == 9);
  CHECK(m.all_equal(0, kTop, 9));
  CHECK(m.runs() == 2);  // [0, 2^64-1) and the last index
}
