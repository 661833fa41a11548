#include "scenario/diagnostics.h"

#include <cstdio>
#include <sstream>

#include "scenario/int_expr.h"

namespace cocosim {

std::string ScenarioError::str() const {
  std::ostringstream o;
  o << file << ':' << loc.line << ':' << loc.col << ": " << message;
  return o.str();
}

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "true" || s == "True" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "False" || s == "no" || s == "off") return false;
  return std::nullopt;
}

std::optional<uint64_t> Diagnostics::int_of(const YNode& n, const std::string& what) {
  if (!n.is_scalar()) {
    error(n, what + " must be an integer, not a " + n.describe());
    return std::nullopt;
  }
  const std::string s = n.str();
  auto r = parse_int_expr(s);
  if (!r.value) {
    // Point at the offending character when the scalar is written on one line.
    SourceLoc l = n.loc();
    if (s.find('\n') == std::string::npos) l.col += int(r.column) + (n.quoted() ? 1 : 0);
    const std::string text = s.size() > 48 ? s.substr(0, 45) + "..." : s;
    error(n.origin(), l, what + " = '" + text + "': " + r.error);
  }
  return r.value;
}

std::optional<double> Diagnostics::time_of(const YNode& n, const std::string& what, double min_ns) {
  auto ns = n.is_scalar() ? parse_time_ns(n.str()) : std::nullopt;
  if (!ns || *ns < min_ns) {
    error(n, what + (min_ns > 0 ? " must be a time from 1ns to 3600s, such as 1us"
                                : " must be a time up to 3600s: 50, 50ns, 1.5us"));
    return std::nullopt;
  }
  return ns;
}

std::optional<bool> Diagnostics::bool_of(const YNode& n, const std::string& what) {
  auto b = n.is_scalar() ? parse_bool(n.text()) : std::nullopt;
  if (!b) error(n, what + " must be true or false");
  return b;
}

std::string label_problem(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return "a control character (byte " + std::to_string(c) + ")";
    if (c < 0x80) {
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence: lead byte, continuation bytes, no overlong
    // form, no surrogate, at most U+10FFFF.
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (len == 0 || c > 0xf4 || c == 0xc0 || c == 0xc1 || i + len > s.size()) return "invalid UTF-8";
    uint32_t cp = c & (0x7f >> len);
    for (size_t k = 1; k < len; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return "invalid UTF-8";
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return "invalid UTF-8";
    if (cp >= 0x80 && cp < 0xa0) {
      char u[16];
      std::snprintf(u, sizeof u, "U+%04X", unsigned(cp));
      return std::string("a control character (") + u + ")";
    }
    i += len;
  }
  return "";
}

}  // namespace cocosim
