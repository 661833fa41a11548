#include <doctest/doctest.h>

#include <cerrno>
#include <csignal>
#include <string>
#include <vector>

#include "common/errno_names.h"
#include "result.h"
#include "scenario/schema.h"

using namespace cocosim;

namespace {

// An expected value as the loader keeps it: "[A, B]" is a list, anything else one scalar.
ExpectValue value_of(const std::string& text) {
  ExpectValue v;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    v.list = true;
    std::string item;
    for (char c : text.substr(1, text.size() - 2) + ",") {
      if (c == ',') {
        if (!item.empty()) v.items.push_back(item);
        item.clear();
      } else if (c != ' ') {
        item += c;
      }
    }
  } else {
    v.items.push_back(text);
  }
  return v;
}

// An Expect with one item `field: value`.
Expect expect1(const std::string& field, const std::string& yaml_value, bool negate = false) {
  Expect e;
  e.present = true;
  e.items.push_back({field, value_of(yaml_value), negate, {}});
  return e;
}

bool holds(const Expect& e, const Result& r) {
  auto out = check_expect(e, r);
  REQUIRE(out.size() == e.items.size());
  for (const auto& c : out)
    if (!c.ok) return false;
  return true;
}

}  // namespace

TEST_CASE("check_expect: errno is matched by name") {
  Result r{{"errno", RValue::err(EINVAL)}};
  CHECK(holds(expect1("errno", "EINVAL"), r));
  CHECK_FALSE(holds(expect1("errno", "EAGAIN"), r));
  CHECK_FALSE(holds(expect1("errno", "EWHATEVER"), r));
  Result ok{{"errno", RValue::err(0)}};
  CHECK(holds(expect1("errno", "0"), ok));
  CHECK_FALSE(holds(expect1("errno", "EINVAL"), ok));
  Result eagain{{"errno", RValue::err(EAGAIN)}};
  CHECK(holds(expect1("errno", "EAGAIN"), eagain));
  Result eop{{"errno", RValue::err(EOPNOTSUPP)}};
  CHECK(holds(expect1("errno", "EOPNOTSUPP"), eop));
}

TEST_CASE("check_expect: a failure says what was expected and what happened") {
  Result r{{"errno", RValue::err(EINVAL)}};
  auto out = check_expect(expect1("errno", "EAGAIN"), r);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].ok);
  CHECK(out[0].field == "errno");
  CHECK(out[0].expected == "EAGAIN");
  CHECK(out[0].actual == "EINVAL");
}

TEST_CASE("check_expect: signals are matched by name, none for no signal") {
  Result bus{{"signal", RValue::sig(SIGBUS)}};
  CHECK(holds(expect1("signal", "SIGBUS"), bus));
  CHECK_FALSE(holds(expect1("signal", "SIGSEGV"), bus));
  CHECK_FALSE(holds(expect1("signal", "none"), bus));
  Result none{{"signal", RValue::sig(0)}};
  CHECK(holds(expect1("signal", "none"), none));
  CHECK_FALSE(holds(expect1("signal", "SIGBUS"), none));
}

TEST_CASE("check_expect: flags match by name, by list of names or by number") {
  Result r{{"flags", RValue::flags(uint64_t{1} << 3, &vocab::kAttributes)}};
  CHECK(holds(expect1("flags", "PRIVATE"), r));
  CHECK(holds(expect1("flags", "[PRIVATE]"), r));
  CHECK(holds(expect1("flags", "8"), r));
  CHECK(holds(expect1("flags", "0x8"), r));
  CHECK_FALSE(holds(expect1("flags", "0"), r));
  CHECK_FALSE(holds(expect1("flags", "[]"), r));
  CHECK_FALSE(holds(expect1("flags", "SHARED"), r));
  Result two{{"flags", RValue::flags(3, &vocab::kGmemFlags)}};
  CHECK(holds(expect1("flags", "MMAP|INIT_SHARED"), two));
  CHECK(holds(expect1("flags", "[INIT_SHARED, MMAP]"), two));
  CHECK_FALSE(holds(expect1("flags", "MMAP"), two));
  Result zero{{"flags", RValue::flags(0, &vocab::kAttributes)}};
  CHECK(holds(expect1("flags", "[]"), zero));
  CHECK(holds(expect1("flags", "0"), zero));
  CHECK(holds(expect1("flags", "none"), zero));
  CHECK_FALSE(holds(expect1("flags", "PRIVATE"), zero));
}

TEST_CASE("check_expect: bytes compare case-insensitively as hex") {
  const uint8_t b[] = {0xab, 0xcd, 0x01};
  Result r{{"bytes", RValue::bytes(b, 3)}};
  CHECK(holds(expect1("bytes", "abcd01"), r));
  CHECK(holds(expect1("bytes", "ABCD01"), r));
  CHECK(holds(expect1("bytes", "AbCd01"), r));
  CHECK_FALSE(holds(expect1("bytes", "abcd02"), r));
  CHECK_FALSE(holds(expect1("bytes", "abcd"), r));
  CHECK(r.at("bytes").show() == "abcd01");
}

TEST_CASE("check_expect: integers accept the scenario's integer expressions") {
  Result r{{"value", RValue::integer(4096)}};
  CHECK(holds(expect1("value", "4096"), r));
  CHECK(holds(expect1("value", "0x1000"), r));
  CHECK(holds(expect1("value", "4KiB"), r));
  CHECK(holds(expect1("value", "2*2KiB"), r));
  CHECK_FALSE(holds(expect1("value", "4095"), r));
  CHECK_FALSE(holds(expect1("value", "four"), r));
}

TEST_CASE("check_expect: strings are exact, booleans accept true/false/yes/no") {
  Result r{{"gmem", RValue::str("private")}, {"host_mapped", RValue::boolean(false)}};
  CHECK(holds(expect1("gmem", "private"), r));
  CHECK_FALSE(holds(expect1("gmem", "Private"), r));
  CHECK(holds(expect1("host_mapped", "false"), r));
  CHECK(holds(expect1("host_mapped", "no"), r));
  CHECK_FALSE(holds(expect1("host_mapped", "true"), r));
}

TEST_CASE("check_expect: not: holds exactly when the field differs") {
  Result r{{"errno", RValue::err(EINVAL)}};
  CHECK(holds(expect1("errno", "EAGAIN", true), r));
  CHECK_FALSE(holds(expect1("errno", "EINVAL", true), r));
  auto out = check_expect(expect1("errno", "EINVAL", true), r);
  REQUIRE(out.size() == 1);
  CHECK(out[0].negate);
}

TEST_CASE("check_expect: a field missing from the result fails, negated or not") {
  Result r{{"errno", RValue::err(0)}};
  auto out = check_expect(expect1("value", "1"), r);
  REQUIRE(out.size() == 1);
  CHECK_FALSE(out[0].ok);
  CHECK(out[0].actual.find("no value") != std::string::npos);
  CHECK_FALSE(holds(expect1("value", "1", true), r));
}

TEST_CASE("check_expect: one outcome per expected field, in order") {
  Expect e;
  e.present = true;
  e.items.push_back({"errno", value_of("0"), false, {}});
  e.items.push_back({"error_offset", value_of("8KiB"), false, {}});
  Result r{{"errno", RValue::err(0)}, {"error_offset", RValue::integer(4096)}};
  auto out = check_expect(e, r);
  REQUIRE(out.size() == 2);
  CHECK(out[0].ok);
  CHECK_FALSE(out[1].ok);
  CHECK(out[1].field == "error_offset");
}

TEST_CASE("check_expect: a list matches its listed leading elements") {
  Result r{{"args", RValue::ints({0x1000, 2, 3})}};
  CHECK(holds(expect1("args", "[0x1000, 2]"), r));
  CHECK(holds(expect1("args", "[4KiB, 2, 3]"), r));
  CHECK_FALSE(holds(expect1("args", "[0x1000, 3]"), r));
  CHECK_FALSE(holds(expect1("args", "[1, 2, 3, 4]"), r));
  CHECK_FALSE(holds(expect1("args", "0x1000"), r));
}

TEST_CASE("RValue: show gives names for errnos, signals and flags") {
  CHECK(RValue::err(EINVAL).show() == "EINVAL");
  CHECK(RValue::err(0).show() == "0");
  CHECK(RValue::sig(SIGBUS).show() == "SIGBUS");
  CHECK(RValue::sig(0).show() == "none");
  const std::string both = RValue::flags(3, &vocab::kGmemFlags).show();
  CHECK((both == "MMAP|INIT_SHARED" || both == "INIT_SHARED|MMAP"));
  CHECK(RValue::flags(0x11, &vocab::kGmemFlags).show() == "MMAP|0x10");
  CHECK(RValue::flags(0, &vocab::kGmemFlags).show() == "0");
  CHECK(RValue::integer(7).show() == "7");
  CHECK(RValue::integer(0x1000).show() == "0x1000");
  CHECK(RValue::boolean(true).show() == "true");
}

TEST_CASE("errno and signal names round-trip") {
  for (int e : {EPERM, ENOENT, EBADF, EAGAIN, ENOMEM, EFAULT, EBUSY, EEXIST, ENODEV, EINVAL, ENOTTY,
                EOPNOTSUPP, EHWPOISON, E2BIG}) {
    CAPTURE(e);
    auto n = errno_name(e);
    CHECK(n.rfind("E", 0) == 0);
    CHECK(errno_from_name(n) == e);
  }
  CHECK(errno_name(0) == "0");
  CHECK(errno_from_name("0") == 0);
  CHECK(errno_name(9999) == "E9999");
  CHECK_FALSE(errno_from_name("EWHATEVER").has_value());
  CHECK(signal_name(SIGBUS) == "SIGBUS");
  CHECK(signal_from_name("SIGSEGV") == SIGSEGV);
  CHECK(signal_from_name("none") == 0);
  CHECK_FALSE(signal_from_name("SIGFOO").has_value());
}

TEST_CASE("check_expect: a list of names compares as a set, one name is the one-element set") {
  Result r{{"exit", RValue::str("UCALL_DONE")}};
  CHECK(holds(expect1("exit", "UCALL_DONE"), r));
  CHECK(holds(expect1("exit", "[UCALL_DONE]"), r));
  CHECK(holds(expect1("exit", "[UCALL_DONE, UCALL_DONE]"), r));
  CHECK_FALSE(holds(expect1("exit", "[UCALL_DONE, UCALL_SYNC]"), r));
  CHECK_FALSE(holds(expect1("exit", "[]"), r));
  CHECK_FALSE(holds(expect1("exit", "[UCALL_SYNC]"), r));
  CHECK(holds(expect1("exit", "[UCALL_SYNC]", /*negate=*/true), r));
  auto out = check_expect(expect1("exit", "[UCALL_SYNC]"), r);
  CHECK(out[0].expected == "[UCALL_SYNC]");
}

TEST_CASE("check_expect: flags as one name, A|B, a list of names and numbers, or a number") {
  const Vocab v = {{"A", 1}, {"B", 2}, {"C", 8}};
  Result r{{"flags", RValue::flags(9, &v)}};
  CHECK(holds(expect1("flags", "A|C"), r));
  CHECK(holds(expect1("flags", "[C, A]"), r));
  CHECK(holds(expect1("flags", "[C, 1]"), r));
  CHECK(holds(expect1("flags", "9"), r));
  CHECK_FALSE(holds(expect1("flags", "C"), r));
  CHECK_FALSE(holds(expect1("flags", "[A, B, C]"), r));
}
