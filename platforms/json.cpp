#include "json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace cocosim {

double Json::as_double() const {
  switch (kind_) {
    case Kind::UInt: return double(u_);
    case Kind::Int: return double(i_);
    case Kind::Double: return d_;
    default: return 0;
  }
}

Json& Json::set(const std::string& key, Json v) {
  for (auto& [k, old] : members_)
    if (k == key) return old = std::move(v);
  members_.emplace_back(key, std::move(v));
  return members_.back().second;
}

const Json* Json::find(const std::string& key) const {
  for (const auto& [k, v] : members_)
    if (k == key) return &v;
  return nullptr;
}

Json& Json::push(Json v) {
  elems_.push_back(std::move(v));
  return elems_.back();
}

bool Json::operator==(const Json& o) const {
  if (is_number() && o.is_number()) {
    // Int holds only negative values, so an Int never equals a UInt.
    if (is_integer() && o.is_integer()) return kind_ == o.kind_ && u_ == o.u_ && i_ == o.i_;
    return as_double() == o.as_double();
  }
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::Null: return true;
    case Kind::Bool: return b_ == o.b_;
    case Kind::String: return s_ == o.s_;
    case Kind::Array: return elems_ == o.elems_;
    case Kind::Object: return members_ == o.members_;
    default: return false;
  }
}

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong
// forms, no surrogates, at most U+10FFFF); 0 when it is not one.
size_t utf8_length(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
  else return 0;
  if (i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
  return n;
}

// A JSON string is UTF-8: a byte that does not start a well-formed sequence
// (a scenario name in Latin-1, say) is written as U+FFFD, so the file stays
// readable whatever the names hold.
void quote(std::string& out, const std::string& s) {
  out += '"';
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const size_t n = utf8_length(s, i);
      if (n) out.append(s, i, n), i += n - 1;
      else out += "\\ufffd";
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", unsigned(c));
          out += b;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// The shortest form that reads back as the same double.
std::string number_text(double d) {
  if (!std::isfinite(d)) return "null";  // JSON has no NaN or infinity
  char b[32];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(b, sizeof b, "%.*g", prec, d);
    if (std::strtod(b, nullptr) == d) break;
  }
  return b;
}

bool scalar(const Json& j) { return j.kind() != Json::Kind::Array && j.kind() != Json::Kind::Object; }

}  // namespace

void Json::dump(std::string& out, int indent) const {
  switch (kind_) {
    case Kind::Null: out += "null"; return;
    case Kind::Bool: out += b_ ? "true" : "false"; return;
    case Kind::UInt: out += std::to_string(u_); return;
    case Kind::Int: out += std::to_string(i_); return;
    case Kind::Double: out += number_text(d_); return;
    case Kind::String: quote(out, s_); return;
    case Kind::Array:
    case Kind::Object: break;
  }
  const bool obj = kind_ == Kind::Object;
  const size_t n = obj ? members_.size() : elems_.size();
  if (n == 0) {
    out += obj ? "{}" : "[]";
    return;
  }
  bool flat = true;
  for (size_t k = 0; k < n && flat; ++k) flat = scalar(obj ? members_[k].second : elems_[k]);
  const std::string pad(size_t(indent + 2), ' ');
  out += obj ? '{' : '[';
  for (size_t k = 0; k < n; ++k) {
    if (k) out += ',';
    out += flat ? (k ? " " : "") : "\n" + pad;
    if (obj) {
      quote(out, members_[k].first);
      out += ": ";
    }
    (obj ? members_[k].second : elems_[k]).dump(out, indent + 2);
  }
  if (!flat) out += "\n" + std::string(size_t(indent), ' ');
  out += obj ? '}' : ']';
}

std::string Json::dump() const {
  std::string out;
  dump(out, 0);
  return out + "\n";
}

namespace {

class Parser {
 public:
  explicit Parser(const std::string& t) : t_(t) {}

  std::optional<Json> document(std::string* err) {
    std::optional<Json> v = value(0);
    if (v) {
      space();
      if (p_ != t_.size()) v = fail("text after the JSON value");
    }
    if (!v) *err = where() + ": " + err_;
    return v;
  }

 private:
  static constexpr int kMaxDepth = 256;

  std::optional<Json> fail(const std::string& what) {
    if (err_.empty()) err_ = what;
    return std::nullopt;
  }
  std::string where() const {
    size_t line = 1, col = 1;
    for (size_t k = 0; k < p_ && k < t_.size(); ++k) {
      if (t_[k] == '\n') ++line, col = 1;
      else ++col;
    }
    return std::to_string(line) + ":" + std::to_string(col);
  }
  void space() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\t' || t_[p_] == '\r')) ++p_;
  }
  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (t_.compare(p_, n, word) != 0) return false;
    p_ += n;
    return true;
  }

  std::optional<Json> value(int depth) {
    if (depth > kMaxDepth) return fail("nested too deeply");
    space();
    if (p_ >= t_.size()) return fail("unexpected end of input");
    const char c = t_[p_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      auto s = string();
      if (!s) return std::nullopt;
      return Json(*s);
    }
    if (literal("true")) return Json(true);
    if (literal("false")) return Json(false);
    if (literal("null")) return Json();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    return fail(std::string("unexpected '") + c + "'");
  }

  std::optional<Json> object(int depth) {
    ++p_;
    Json o = Json::object();
    space();
    if (p_ < t_.size() && t_[p_] == '}') return ++p_, o;
    for (;;) {
      space();
      if (p_ >= t_.size() || t_[p_] != '"') return fail("expected a key in quotes");
      auto key = string();
      if (!key) return std::nullopt;
      space();
      if (p_ >= t_.size() || t_[p_] != ':') return fail("expected ':' after a key");
      ++p_;
      auto v = value(depth + 1);
      if (!v) return std::nullopt;
      if (o.find(*key)) return fail("key \"" + *key + "\" appears twice");
      o.set(*key, std::move(*v));
      space();
      if (p_ < t_.size() && t_[p_] == ',') { ++p_; continue; }
      if (p_ < t_.size() && t_[p_] == '}') return ++p_, o;
      return fail("expected ',' or '}'");
    }
  }

  std::optional<Json> array(int depth) {
    ++p_;
    Json a = Json::array();
    space();
    if (p_ < t_.size() && t_[p_] == ']') return ++p_, a;
    for (;;) {
      auto v = value(depth + 1);
      if (!v) return std::nullopt;
      a.push(std::move(*v));
      space();
      if (p_ < t_.size() && t_[p_] == ',') { ++p_; continue; }
      if (p_ < t_.size() && t_[p_] == ']') return ++p_, a;
      return fail("expected ',' or ']'");
    }
  }

  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) out += char(0xc0 | (cp >> 6)), out += char(0x80 | (cp & 0x3f));
    else if (cp < 0x10000)
      out += char(0xe0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3f)), out += char(0x80 | (cp & 0x3f));
    else
      out += char(0xf0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3f)),
          out += char(0x80 | ((cp >> 6) & 0x3f)), out += char(0x80 | (cp & 0x3f));
  }

  std::optional<unsigned> hex4() {
    if (p_ + 4 > t_.size()) return std::nullopt;
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = t_[p_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') v |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= unsigned(h - 'A' + 10);
      else return std::nullopt;
    }
    return v;
  }

  std::optional<std::string> string() {
    ++p_;  // the opening quote
    std::string s;
    while (p_ < t_.size()) {
      const char c = t_[p_++];
      if (c == '"') return s;
      if (static_cast<unsigned char>(c) < 0x20) {
        --p_;
        fail("a control character inside a string");
        return std::nullopt;
      }
      if (c != '\\') {
        s += c;
        continue;
      }
      if (p_ >= t_.size()) break;
      const char e = t_[p_++];
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': {
          auto cp = hex4();
          if (!cp) {
            fail("\\u needs four hex digits");
            return std::nullopt;
          }
          if (*cp >= 0xd800 && *cp < 0xdc00 && t_.compare(p_, 2, "\\u") == 0) {
            p_ += 2;
            auto lo = hex4();
            if (!lo || *lo < 0xdc00 || *lo >= 0xe000) {
              fail("an unpaired surrogate in \\u escapes");
              return std::nullopt;
            }
            cp = 0x10000 + ((*cp - 0xd800) << 10) + (*lo - 0xdc00);
          }
          utf8(s, *cp);
          break;
        }
        default:
          --p_;
          fail(std::string("unknown escape '\\") + e + "'");
          return std::nullopt;
      }
    }
    fail("a string without its closing quote");
    return std::nullopt;
  }

  std::optional<Json> number() {
    const size_t start = p_;
    if (t_[p_] == '-') ++p_;
    auto digits = [&] {
      const size_t d0 = p_;
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
      return p_ > d0;
    };
    if (!digits()) return fail("a number needs digits");
    bool integral = true;
    if (p_ < t_.size() && t_[p_] == '.') {
      ++p_;
      integral = false;
      if (!digits()) return fail("a number needs digits after '.'");
    }
    if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      ++p_;
      integral = false;
      if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-')) ++p_;
      if (!digits()) return fail("a number needs digits in its exponent");
    }
    const std::string text = t_.substr(start, p_ - start);
    if (integral) {
      errno = 0;
      if (text[0] == '-') {
        const long long v = std::strtoll(text.c_str(), nullptr, 10);
        if (errno != ERANGE) return Json(int64_t(v));
      } else {
        const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
        if (errno != ERANGE) return Json(uint64_t(v));
      }
    }
    return Json(std::strtod(text.c_str(), nullptr));
  }

  const std::string& t_;
  size_t p_ = 0;
  std::string err_;
};

}  // namespace

std::optional<Json> Json::parse(const std::string& text, std::string* err) {
  return Parser(text).document(err);
}

}  // namespace cocosim
