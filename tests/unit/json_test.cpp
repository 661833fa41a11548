#include <doctest/doctest.h>

#include <cstdint>

#include "json.h"

using cocosim::Json;

namespace {
Json parse_ok(const std::string& text) {
  std::string err;
  auto j = Json::parse(text, &err);
  INFO(err);
  REQUIRE(j);
  return *j;
}
std::string parse_error(const std::string& text) {
  std::string err;
  CHECK_FALSE(Json::parse(text, &err));
  return err;
}
}  // namespace

TEST_CASE("Json: objects keep insertion order and set replaces in place") {
  Json o = Json::object();
  o.set("b", 1);
  o.set("a", 2);
  o.set("b", 3);
  REQUIRE(o.members().size() == 2);
  CHECK(o.members()[0].first == "b");
  CHECK(o.members()[0].second.as_uint() == 3);
  CHECK(o.dump() == "{\"b\": 3, \"a\": 2}\n");
}

TEST_CASE("Json: 64-bit counters and picoseconds survive a round trip exactly") {
  Json o = Json::object();
  o.set("max", UINT64_MAX);
  o.set("ps", uint64_t{14565042000});
  o.set("neg", int64_t{-5});
  o.set("rate", 0.25);
  const Json back = parse_ok(o.dump());
  CHECK(back.find("max")->as_uint() == UINT64_MAX);
  CHECK(back.find("ps")->kind() == Json::Kind::UInt);
  CHECK(back.find("ps")->as_uint() == 14565042000u);
  CHECK(back.find("neg")->as_int() == -5);
  CHECK(back.find("rate")->as_double() == 0.25);
  CHECK(back == o);
  // Never an exponent for an integer (the old writer printed 1.45652e+07).
  CHECK(o.dump().find("e+") == std::string::npos);
}

TEST_CASE("Json: nested containers indent, scalar-only ones stay on one line") {
  Json o = Json::object();
  Json inner = Json::object();
  inner.set("x", true);
  o.set("inner", inner);
  Json a = Json::array();
  a.push(inner);
  o.set("list", a);
  o.set("empty", Json::array());
  CHECK(o.dump() ==
        "{\n  \"inner\": {\"x\": true},\n  \"list\": [\n    {\"x\": true}\n  ],\n  \"empty\": []\n}\n");
}

TEST_CASE("Json: strings escape and unescape, \\u and surrogate pairs included") {
  Json s(std::string("a\"b\\c\n\x01"));
  CHECK(s.dump() == "\"a\\\"b\\\\c\\n\\u0001\"\n");
  CHECK(parse_ok(s.dump()).str() == s.str());
  CHECK(parse_ok("\"\\u00e9\\ud83d\\ude00\"").str() == "\xc3\xa9\xf0\x9f\x98\x80");
}

TEST_CASE("Json: bad input is refused with its line and column") {
  CHECK(parse_error("{\"a\": 1,}") == "1:9: expected a key in quotes");
  CHECK(parse_error("{\"a\": 1}\n x") == "2:2: text after the JSON value");
  CHECK(parse_error("[1 2]") == "1:4: expected ',' or ']'");
  CHECK(parse_error("{\"a\": 1, \"a\": 2}").find("appears twice") != std::string::npos);
  CHECK(parse_error("\"abc").find("closing quote") != std::string::npos);
  CHECK(parse_error("").find("end of input") != std::string::npos);
  CHECK(parse_error("-").find("digits") != std::string::npos);
  CHECK(parse_error(std::string(300, '[')).find("nested too deeply") != std::string::npos);
}

TEST_CASE("Json: numbers compare by value, integers exactly") {
  CHECK(parse_ok("2") == parse_ok("2"));
  CHECK(parse_ok("2") != parse_ok("3"));
  CHECK(parse_ok("2") == parse_ok("2.0"));
  CHECK(parse_ok("18446744073709551615") != parse_ok("18446744073709551614"));
  CHECK(parse_ok("-1") != parse_ok("1"));
}

TEST_CASE("Json: bytes that are not UTF-8 are written as U+FFFD, so the file stays valid") {
  CHECK(Json(std::string("caf\xe9")).dump() == "\"caf\\ufffd\"\n");        // Latin-1
  CHECK(Json(std::string("\xc3\xa9")).dump() == "\"\xc3\xa9\"\n");           // é stays
  CHECK(Json(std::string("\xed\xa0\x80")).dump() == "\"\\ufffd\\ufffd\\ufffd\"\n");  // a surrogate
  CHECK(Json(std::string("\xc0\xaf")).dump() == "\"\\ufffd\\ufffd\"\n");    // overlong '/'
  CHECK(Json(std::string("\xf0\x9f\x98")).dump() == "\"\\ufffd\\ufffd\\ufffd\"\n");  // cut short
}
