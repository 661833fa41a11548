#include <doctest/doctest.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "bus/dmi_registry.h"

using cocosim::Addr;
using cocosim::DmiRegistry;

namespace {
using Grant = std::tuple<unsigned, Addr, Addr>;
std::vector<Grant> all_grants(const DmiRegistry& r) {
  std::vector<Grant> out;
  r.for_each([&](unsigned i, Addr lo, Addr hi) { out.emplace_back(i, lo, hi); });
  std::sort(out.begin(), out.end());
  return out;
}
std::vector<unsigned> sorted(std::vector<unsigned> v) {
  std::sort(v.begin(), v.end());
  return v;
}
constexpr Addr kTop = ~Addr{0};
}  // namespace

TEST_CASE("DmiRegistry: adjacent grants of one initiator merge") {
  DmiRegistry r;
  r.record(1, 0x1000, 0x1fff);
  r.record(1, 0x2000, 0x2fff);
  CHECK(r.grants() == 1);
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x1000, 0x2fff}});
  r.record(1, 0x0, 0xfff);  // adjacent below
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x0, 0x2fff}});
}

TEST_CASE("DmiRegistry: overlapping grants merge, a one-byte gap does not") {
  DmiRegistry r;
  r.record(1, 0x1000, 0x2fff);
  r.record(1, 0x2000, 0x3fff);
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x1000, 0x3fff}});
  r.record(1, 0x4001, 0x4fff);
  CHECK(r.grants() == 2);
  r.record(1, 0x4000, 0x4000);  // fills the gap: everything is one grant
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x1000, 0x4fff}});
}

TEST_CASE("DmiRegistry: grants of different initiators never merge") {
  DmiRegistry r;
  r.record(1, 0x1000, 0x1fff);
  r.record(2, 0x2000, 0x2fff);
  CHECK(r.grants() == 2);
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x1000, 0x1fff}, {2, 0x2000, 0x2fff}});
}

TEST_CASE("DmiRegistry: revoking the middle of a grant keeps both ends") {
  DmiRegistry r;
  r.record(1, 0x1000, 0x4fff);
  CHECK(r.revoke(0x2000, 0x2fff) == std::vector<unsigned>{1});
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x1000, 0x1fff}, {1, 0x3000, 0x4fff}});
  CHECK_FALSE(r.any_overlaps(0x2000, 0x2fff));
  CHECK(r.any_overlaps(0x1fff, 0x1fff));
  CHECK(r.any_overlaps(0x3000, 0x3000));
}

TEST_CASE("DmiRegistry: revoke returns only the initiators whose grants overlapped") {
  DmiRegistry r;
  r.record(1, 0x1000, 0x1fff);
  r.record(2, 0x3000, 0x3fff);
  r.record(3, 0x1f00, 0x30ff);
  CHECK(r.revoke(0x2000, 0x2fff) == std::vector<unsigned>{3});
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x1000, 0x1fff},
                                            {2, 0x3000, 0x3fff},
                                            {3, 0x1f00, 0x1fff},
                                            {3, 0x3000, 0x30ff}});
  CHECK(sorted(r.revoke(0x1fff, 0x3000)) == std::vector<unsigned>{1, 2, 3});
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x1000, 0x1ffe}, {2, 0x3001, 0x3fff}, {3, 0x1f00, 0x1ffe},
                                            {3, 0x3001, 0x30ff}});
}

TEST_CASE("DmiRegistry: revoke over several grants of one initiator names it once") {
  DmiRegistry r;
  r.record(4, 0x1000, 0x1fff);
  r.record(4, 0x3000, 0x3fff);
  r.record(4, 0x5000, 0x5fff);
  CHECK(r.revoke(0x0, 0x4fff) == std::vector<unsigned>{4});
  CHECK(all_grants(r) == std::vector<Grant>{{4, 0x5000, 0x5fff}});
}

TEST_CASE("DmiRegistry: a range that only touches a grant's neighbour revokes nothing") {
  DmiRegistry r;
  r.record(1, 0x1000, 0x1fff);
  CHECK(r.revoke(0x2000, 0x2fff).empty());
  CHECK(r.revoke(0x0, 0xfff).empty());
  CHECK(r.grants() == 1);
}

TEST_CASE("DmiRegistry: any_overlaps checks inclusive edges") {
  DmiRegistry r;
  CHECK_FALSE(r.any_overlaps(0, kTop));
  r.record(1, 0x1000, 0x1fff);
  r.record(2, 0x8000, 0x8fff);
  CHECK(r.any_overlaps(0x0, 0x1000));
  CHECK(r.any_overlaps(0x1fff, 0x2000));
  CHECK_FALSE(r.any_overlaps(0x2000, 0x7fff));
  CHECK(r.any_overlaps(0x2000, 0x8000));
  CHECK(r.any_overlaps(0x0, kTop));
  CHECK_FALSE(r.any_overlaps(0x9000, kTop));
}

TEST_CASE("DmiRegistry: grants at address 0 and at the top of the address space") {
  DmiRegistry r;
  r.record(1, 0x0, 0xfff);
  r.record(1, kTop - 0xfff, kTop);
  CHECK(r.grants() == 2);
  r.record(1, kTop - 0x1fff, kTop - 0x1000);  // adjacent below the top grant: merges
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x0, 0xfff}, {1, kTop - 0x1fff, kTop}});
  CHECK(r.revoke(0, 0) == std::vector<unsigned>{1});
  CHECK(r.revoke(kTop, kTop) == std::vector<unsigned>{1});
  CHECK(all_grants(r) == std::vector<Grant>{{1, 0x1, 0xfff}, {1, kTop - 0x1fff, kTop - 1}});
  CHECK(r.revoke(0, kTop) == std::vector<unsigned>{1});
  CHECK(r.grants() == 0);
}
