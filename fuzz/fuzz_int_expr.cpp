// libFuzzer target: the integer/size expression parser and the time parser.
// Besides not crashing, a parse must be self-consistent: a value or an error
// with a column inside the text, never both or neither.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "scenario/int_expr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const cocosim::IntParse r = cocosim::parse_int_expr(text);
  if (r.value && !r.error.empty()) {
    std::fprintf(stderr, "fuzz_int_expr: a value and an error (%s)\n", r.error.c_str());
    std::abort();
  }
  if (!r.value && (r.error.empty() || r.column > text.size())) {
    std::fprintf(stderr, "fuzz_int_expr: refused without a message or with column %zu of %zu\n",
                 r.column, text.size());
    std::abort();
  }
  // The printed value parses back to itself.
  if (r.value) {
    const cocosim::IntParse again = cocosim::parse_int_expr(std::to_string(*r.value));
    if (again.value != r.value) {
      std::fprintf(stderr, "fuzz_int_expr: %llu does not parse back\n",
                   static_cast<unsigned long long>(*r.value));
      std::abort();
    }
  }
  // Times: finite, not negative, at most an hour.
  if (const auto ns = cocosim::parse_time_ns(text)) {
    if (!std::isfinite(*ns) || *ns < 0 || *ns > 3600e9) {
      std::fprintf(stderr, "fuzz_int_expr: time %g ns out of its documented range\n", *ns);
      std::abort();
    }
  }
  return 0;
}
