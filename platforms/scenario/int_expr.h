// Integer values of the scenario format: decimal, 0x hex, binary sizes (4KiB,
// 2MiB, 1GiB, 1TiB) and + - * between them, with the usual precedence.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace cocosim {

struct IntParse {
  std::optional<uint64_t> value;
  std::string error;  // set when value is empty
  size_t column = 0;  // 0-based offset of the problem within the text
};

IntParse parse_int_expr(const std::string& text);

// A time in nanoseconds: `50`, `50ns`, `1.5us`, `2ms`, `1s`, `500ps`; finite,
// not negative, at most an hour (3600s). nullopt for anything else.
std::optional<double> parse_time_ns(const std::string& text);

}  // namespace cocosim
