#include <doctest/doctest.h>

#include "scenario/int_expr.h"

using cocosim::parse_int_expr;

TEST_CASE("integers, sizes and arithmetic") {
  CHECK(parse_int_expr("42").value == 42u);
  CHECK(parse_int_expr("0x1F").value == 31u);
  CHECK(parse_int_expr("4KiB").value == 4096u);
  CHECK(parse_int_expr("2MiB").value == 2u << 20);
  CHECK(parse_int_expr("1GiB").value == 1u << 30);
  CHECK(parse_int_expr("4GiB + 2*4KiB").value == (4ull << 30) + 8192);
  CHECK(parse_int_expr("2MiB - 4KiB").value == (2u << 20) - 4096);
  CHECK(parse_int_expr("(1 + 2) * 3").value == 9u);
  CHECK(parse_int_expr(" 7 ").value == 7u);
}

TEST_CASE("bad integers say where and why") {
  auto r = parse_int_expr("4KB");
  CHECK_FALSE(r.value);
  CHECK(r.error.find("KB") != std::string::npos);
  CHECK(r.column == 1);
  CHECK_FALSE(parse_int_expr("4KiB +").value);
  CHECK_FALSE(parse_int_expr("").value);
  CHECK_FALSE(parse_int_expr("0x").value);
  CHECK_FALSE(parse_int_expr("1 - 2").value);
  CHECK_FALSE(parse_int_expr("0xffffffffffffffff + 1").value);
  CHECK_FALSE(parse_int_expr("16EiB").value);
}
