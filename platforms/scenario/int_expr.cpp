#include "scenario/int_expr.h"

#include <cctype>
#include <cmath>
#include <string>

namespace cocosim {
namespace {

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  IntParse run() {
    IntParse r;
    skip();
    if (pos_ == s_.size()) return fail("expected an integer");
    auto v = sum();
    if (!v) return err_;
    skip();
    if (pos_ != s_.size()) return fail("unexpected '" + s_.substr(pos_, 1) + "' in integer");
    r.value = *v;
    return r;
  }

 private:
  IntParse fail(const std::string& msg) {
    err_.error = msg;
    err_.column = pos_;
    err_.value.reset();
    return err_;
  }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  std::optional<uint64_t> sum() {
    auto v = product();
    if (!v) return std::nullopt;
    for (;;) {
      skip();
      if (pos_ >= s_.size() || (s_[pos_] != '+' && s_[pos_] != '-')) return v;
      char op = s_[pos_++];
      auto w = product();
      if (!w) return std::nullopt;
      if (op == '+') {
        if (*v + *w < *v) return overflow();
        *v += *w;
      } else {
        if (*w > *v) return fail_opt("negative result");
        *v -= *w;
      }
    }
  }
  std::optional<uint64_t> product() {
    auto v = atom();
    if (!v) return std::nullopt;
    for (;;) {
      skip();
      if (pos_ >= s_.size() || s_[pos_] != '*') return v;
      ++pos_;
      auto w = atom();
      if (!w) return std::nullopt;
      if (*w && *v > ~uint64_t{0} / *w) return overflow();
      *v *= *w;
    }
  }
  std::optional<uint64_t> fail_opt(const std::string& m) {
    fail(m);
    return std::nullopt;
  }
  std::optional<uint64_t> overflow() { return fail_opt("integer overflows 64 bits"); }

  std::optional<uint64_t> atom() {
    skip();
    if (pos_ < s_.size() && s_[pos_] == '(') {
      if (++depth_ > kMaxDepth) return fail_opt("parentheses nested too deeply");
      ++pos_;
      auto v = sum();
      --depth_;
      if (!v) return std::nullopt;
      skip();
      if (pos_ >= s_.size() || s_[pos_] != ')') return fail_opt("expected ')'");
      ++pos_;
      return v;
    }
    const size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-' && pos_ + 1 < s_.size() &&
        std::isdigit(static_cast<unsigned char>(s_[pos_ + 1])))
      return fail_opt("integers and sizes are non-negative: write '" + s_.substr(pos_ + 1) + "' or " +
                      "subtract from a larger value");
    if (pos_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[pos_])))
      return fail_opt("expected an integer");
    uint64_t v = 0;
    int base = 10;
    if (s_.compare(pos_, 2, "0x") == 0 || s_.compare(pos_, 2, "0X") == 0) {
      base = 16;
      pos_ += 2;
      if (pos_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[pos_])))
        return fail_opt("expected hex digits after 0x");
    }
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      int d;
      if (std::isdigit(static_cast<unsigned char>(c)))
        d = c - '0';
      else if (base == 16 && std::isxdigit(static_cast<unsigned char>(c)))
        d = std::tolower(c) - 'a' + 10;
      else if (c == '_')
        { ++pos_; continue; }
      else
        break;
      if (v > (~uint64_t{0} - d) / base) return overflow();
      v = v * base + d;
      ++pos_;
    }
    // A unit after a space ("2 MiB") is a slip for "2MiB".
    size_t gap = pos_;
    while (gap < s_.size() && s_[gap] == ' ') ++gap;
    if (gap > pos_ && gap < s_.size() && std::isalpha(static_cast<unsigned char>(s_[gap]))) {
      size_t end = gap;
      while (end < s_.size() && std::isalpha(static_cast<unsigned char>(s_[end]))) ++end;
      return fail_opt("write a size without a space: '" + s_.substr(start, pos_ - start) +
                      s_.substr(gap, end - gap) + "'");
    }
    // Binary size suffix.
    size_t sstart = pos_;
    while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    std::string suf = s_.substr(sstart, pos_ - sstart);
    if (suf.empty()) return v;
    unsigned shift;
    if (suf == "KiB") shift = 10;
    else if (suf == "MiB") shift = 20;
    else if (suf == "GiB") shift = 30;
    else if (suf == "TiB") shift = 40;
    else {
      pos_ = sstart;
      return fail_opt("unknown size unit '" + suf + "' in '" + s_.substr(start, sstart - start) +
                      suf + "' (use KiB, MiB, GiB or TiB)");
    }
    if (v > (~uint64_t{0} >> shift)) return overflow();
    return v << shift;
  }

  static constexpr int kMaxDepth = 32;
  const std::string& s_;
  size_t pos_ = 0;
  int depth_ = 0;
  IntParse err_;
};

}  // namespace

IntParse parse_int_expr(const std::string& text) { return Parser(text).run(); }

std::optional<double> parse_time_ns(const std::string& s) {
  size_t i = 0;
  double v;
  try {
    v = std::stod(s, &i);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = s.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  if (unit == "ps") v /= 1000;
  else if (unit == "us") v *= 1000;
  else if (unit == "ms") v *= 1e6;
  else if (unit == "s") v *= 1e9;
  else if (!unit.empty() && unit != "ns") return std::nullopt;
  if (!std::isfinite(v) || v < 0 || v > 3.6e12) return std::nullopt;
  return v;
}

}  // namespace cocosim
