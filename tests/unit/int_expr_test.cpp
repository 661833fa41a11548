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

TEST_CASE("a size written with a space, or negative, says what to write") {
  auto sp = parse_int_expr("2 MiB");
  CHECK_FALSE(sp.value);
  CHECK(sp.error.find("write a size without a space: '2MiB'") != std::string::npos);
  CHECK(sp.column == 1);
  CHECK(parse_int_expr("4 KiB + 1").error.find("'4KiB'") != std::string::npos);
  CHECK(parse_int_expr("2 + 3").value == 5u);  // a space before an operator is fine
  auto neg = parse_int_expr("-4KiB");
  CHECK_FALSE(neg.value);
  CHECK(neg.error.find("non-negative") != std::string::npos);
  CHECK(neg.column == 0);
  CHECK(parse_int_expr("8KiB - 4KiB").value == 4096u);
}
