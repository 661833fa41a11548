#include <doctest/doctest.h>

#include "bus/address_map.h"

using cocosim::AddressMap;
using cocosim::BusRegion;

namespace {
BusRegion region(cocosim::Addr base, uint64_t size, unsigned port, const char* name = "r") {
  BusRegion r;
  r.base = base;
  r.size = size;
  r.port = port;
  r.name = name;
  return r;
}
constexpr uint64_t kTop = ~uint64_t{0};
}  // namespace

TEST_CASE("AddressMap: regions are kept sorted by base") {
  AddressMap m;
  CHECK(m.add(region(0x3000, 0x1000, 2, "c")));
  CHECK(m.add(region(0x1000, 0x1000, 0, "a")));
  CHECK(m.add(region(0x2000, 0x1000, 1, "b")));
  REQUIRE(m.regions().size() == 3);
  CHECK(m.regions()[0].name == "a");
  CHECK(m.regions()[1].name == "b");
  CHECK(m.regions()[2].name == "c");
}

TEST_CASE("AddressMap: an overlapping region is refused and nothing is added") {
  AddressMap m;
  REQUIRE(m.add(region(0x1000, 0x1000, 0)));
  CHECK_FALSE(m.add(region(0x1800, 0x1000, 1)));   // overlaps the tail
  CHECK_FALSE(m.add(region(0x0, 0x1001, 1)));      // reaches the first byte
  CHECK_FALSE(m.add(region(0x1fff, 0x1, 1)));      // the last byte alone
  CHECK_FALSE(m.add(region(0x1400, 0x100, 1)));    // inside
  CHECK_FALSE(m.add(region(0x0, 0x10000, 1)));     // around
  CHECK(m.regions().size() == 1);
  CHECK(m.add(region(0x2000, 0x1000, 1)));         // adjacent is fine
  CHECK(m.add(region(0x0, 0x1000, 2)));            // adjacent below too
  CHECK(m.regions().size() == 3);
}

TEST_CASE("AddressMap: empty and wrapping regions are refused") {
  AddressMap m;
  CHECK_FALSE(m.add(region(0x1000, 0, 0)));
  CHECK_FALSE(m.add(region(kTop - 0xfff, 0x2000, 0)));
  CHECK(m.regions().empty());
}

TEST_CASE("AddressMap: find hits the first and last byte and misses just outside") {
  AddressMap m;
  REQUIRE(m.add(region(0x1000, 0x1000, 0, "a")));
  REQUIRE(m.add(region(0x2000, 0x1000, 1, "b")));
  REQUIRE(m.add(region(0x8000, 0x1000, 2, "c")));
  CHECK(m.find(0xfff) == nullptr);
  REQUIRE(m.find(0x1000) != nullptr);
  CHECK(m.find(0x1000)->name == "a");
  CHECK(m.find(0x1fff)->name == "a");
  CHECK(m.find(0x2000)->name == "b");
  CHECK(m.find(0x2fff)->name == "b");
  CHECK(m.find(0x3000) == nullptr);
  CHECK(m.find(0x7fff) == nullptr);
  CHECK(m.find(0x8fff)->name == "c");
  CHECK(m.find(0x9000) == nullptr);
  CHECK(m.find(0) == nullptr);
  CHECK(m.find(kTop) == nullptr);
}

TEST_CASE("AddressMap: a region may end at the top of the address space") {
  AddressMap m;
  REQUIRE(m.add(region(kTop - 0xfff, 0x1000, 3, "top")));
  REQUIRE(m.add(region(0, 0x1000, 4, "bottom")));
  REQUIRE(m.find(kTop) != nullptr);
  CHECK(m.find(kTop)->name == "top");
  CHECK(m.find(kTop - 0xfff)->name == "top");
  CHECK(m.find(kTop - 0x1000) == nullptr);
  CHECK(m.find(0)->name == "bottom");
  CHECK(m.find(kTop)->end() == kTop);
}

TEST_CASE("AddressMap: regions_of_port lists exactly that port's regions") {
  AddressMap m;
  REQUIRE(m.add(region(0x1000, 0x1000, 0, "a")));
  REQUIRE(m.add(region(0x2000, 0x1000, 1, "b")));
  REQUIRE(m.add(region(0x3000, 0x1000, 0, "c")));
  auto p0 = m.regions_of_port(0);
  REQUIRE(p0.size() == 2);
  CHECK(p0[0]->name == "a");
  CHECK(p0[1]->name == "c");
  CHECK(m.regions_of_port(1).size() == 1);
  CHECK(m.regions_of_port(7).empty());
}
