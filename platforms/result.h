// Results of steps and guest ops, and how expectations are held against them.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "scenario/scenario.h"
#include "scenario/schema.h"

namespace cocosim {

struct RValue {
  enum class Kind { Int, Str, Bool, Errno, Signal, Flags, Bytes, List };
  Kind kind = Kind::Int;
  uint64_t i = 0;
  std::string s;
  std::vector<uint64_t> list;
  const Vocab* vocab = nullptr;

  static RValue integer(uint64_t v);
  static RValue str(std::string v);
  static RValue boolean(bool v);
  static RValue err(int e);
  static RValue sig(int s);
  static RValue flags(uint64_t v, const Vocab* vocab);
  static RValue bytes(const uint8_t* p, size_t n);
  static RValue ints(std::vector<uint64_t> v);
  std::string show() const;
};

using Result = std::map<std::string, RValue>;

struct CheckOutcome {
  bool ok = true;
  std::string field;
  std::string expected;
  std::string actual;
  bool negate = false;
};

// One outcome per expected field.
std::vector<CheckOutcome> check_expect(const Expect& e, const Result& r);
std::string show_result(const Result& r);

}  // namespace cocosim
