#include "result.h"

#include "common/hex.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "common/errno_names.h"
#include "scenario/int_expr.h"

namespace cocosim {

RValue RValue::integer(uint64_t v) { RValue r; r.kind = Kind::Int; r.i = v; return r; }
RValue RValue::str(std::string v) { RValue r; r.kind = Kind::Str; r.s = std::move(v); return r; }
RValue RValue::boolean(bool v) { RValue r; r.kind = Kind::Bool; r.i = v; return r; }
RValue RValue::err(int e) { RValue r; r.kind = Kind::Errno; r.i = uint64_t(e); return r; }
RValue RValue::sig(int s) { RValue r; r.kind = Kind::Signal; r.i = uint64_t(s); return r; }
RValue RValue::flags(uint64_t v, const Vocab* vocab) {
  RValue r; r.kind = Kind::Flags; r.i = v; r.vocab = vocab; return r;
}
RValue RValue::ints(std::vector<uint64_t> v) { RValue r; r.kind = Kind::List; r.list = std::move(v); return r; }

RValue RValue::bytes(const uint8_t* p, size_t n) {
  static const char* hex = "0123456789abcdef";
  RValue r;
  r.kind = Kind::Bytes;
  r.s.reserve(2 * n);
  for (size_t k = 0; k < n; ++k) {
    r.s.push_back(hex[p[k] >> 4]);
    r.s.push_back(hex[p[k] & 15]);
  }
  return r;
}


std::string RValue::show() const {
  switch (kind) {
    case Kind::Int: return i < 10 ? std::to_string(i) : hex(i);
    case Kind::Str: return s;
    case Kind::Bool: return i ? "true" : "false";
    case Kind::Errno: return errno_name(int(i));
    case Kind::Signal: return signal_name(int(i));
    case Kind::Flags: {
      if (!i) return "0";
      std::string out;
      uint64_t left = i;
      if (vocab)
        for (const auto& [name, bit] : *vocab)
          if ((left & bit) == bit) {
            out += (out.empty() ? "" : "|") + name;
            left &= ~bit;
          }
      if (left) out += (out.empty() ? "" : "|") + hex(left);
      return out;
    }
    case Kind::Bytes: return s.size() > 64 ? s.substr(0, 64) + "...(" + std::to_string(s.size() / 2) + " bytes)" : s;
    case Kind::List: {
      std::string out = "[";
      for (size_t k = 0; k < list.size(); ++k) out += (k ? ", " : "") + hex(list[k]);
      return out + "]";
    }
  }
  return "?";
}

std::string show_result(const Result& r) {
  std::string out;
  for (const auto& [k, v] : r) {
    if (!out.empty()) out += ", ";
    out += k + "=" + v.show();
  }
  return out;
}

namespace {

std::optional<bool> as_bool(const std::string& s) {
  if (s == "true" || s == "yes" || s == "1") return true;
  if (s == "false" || s == "no" || s == "0") return false;
  return std::nullopt;
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The names in one flag expectation item: "PRIVATE", "A|B", "none".
void flag_names(const std::string& e, std::vector<std::string>* names) {
  size_t start = 0;
  while (start <= e.size()) {
    size_t bar = e.find('|', start);
    names->push_back(e.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
}

bool matches_one(const std::string& e, const RValue& act) {
  switch (act.kind) {
    case RValue::Kind::Errno: {
      auto n = errno_from_name(e);
      return n && uint64_t(*n) == act.i;
    }
    case RValue::Kind::Signal: {
      auto n = signal_from_name(e);
      return n && uint64_t(*n) == act.i;
    }
    case RValue::Kind::Int: {
      auto v = parse_int_expr(e).value;
      return v && *v == act.i;
    }
    case RValue::Kind::Str: return e == act.s;
    case RValue::Kind::Bool: {
      auto b = as_bool(e);
      return b && *b == bool(act.i);
    }
    case RValue::Kind::Bytes: return lower(e) == act.s;
    default: return false;
  }
}

bool matches(const ExpectValue& exp, const RValue& act) {
  switch (act.kind) {
    case RValue::Kind::Flags: {
      // A list is the set of flags (each a name, A|B, or a number); one scalar
      // is the one-element set. The result must have exactly those bits.
      uint64_t want = 0;
      for (const auto& item : exp.items) {
        if (auto v = parse_int_expr(item).value) {
          want |= *v;
          continue;
        }
        std::vector<std::string> names;
        flag_names(item, &names);
        for (const auto& n : names) {
          if (n == "none" || n.empty()) continue;
          if (!act.vocab || !act.vocab->count(n)) return false;
          want |= act.vocab->at(n);
        }
      }
      return want == act.i;
    }
    case RValue::Kind::List: {
      if (!exp.list) return false;
      std::vector<uint64_t> want;
      for (const auto& x : exp.items) {
        auto v = parse_int_expr(x).value;
        if (!v) return false;
        want.push_back(*v);
      }
      // Only the listed leading elements are compared.
      if (want.size() > act.list.size()) return false;
      return std::equal(want.begin(), want.end(), act.list.begin());
    }
    default:
      // A list of names is a set: the result (one value) must be every member.
      if (exp.items.empty()) return false;
      for (const auto& item : exp.items)
        if (!matches_one(item, act)) return false;
      return true;
  }
}

}  // namespace

std::vector<CheckOutcome> check_expect(const Expect& e, const Result& r) {
  std::vector<CheckOutcome> out;
  for (const ExpectItem& item : e.items) {
    CheckOutcome c;
    c.field = item.field;
    c.negate = item.negate;
    auto it = r.find(item.field);
    c.expected = item.value.text();
    if (it == r.end()) {
      c.ok = false;
      c.actual = "(no " + item.field + ")";
    } else {
      const bool m = matches(item.value, it->second);
      c.ok = item.negate ? !m : m;
      c.actual = it->second.show();
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace cocosim
