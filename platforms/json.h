// A small JSON value for the stats files: built and written by the stats
// writer, read back by `cocosim diff`. Objects keep their keys in insertion
// order, so a file is written the same way every time. Integers stay exact
// (counters and picoseconds are 64-bit); other numbers are doubles.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace cocosim {

class Json {
 public:
  enum class Kind { Null, Bool, UInt, Int, Double, String, Array, Object };
  using Member = std::pair<std::string, Json>;

  Json() = default;
  Json(bool b) : kind_(Kind::Bool), b_(b) {}
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Json(T v) {
    if constexpr (std::is_signed_v<T>) {
      if (v < 0) {
        kind_ = Kind::Int;
        i_ = int64_t(v);
        return;
      }
    }
    kind_ = Kind::UInt;
    u_ = uint64_t(v);
  }
  Json(double d) : kind_(Kind::Double), d_(d) {}
  Json(std::string s) : kind_(Kind::String), s_(std::move(s)) {}
  Json(const char* s) : kind_(Kind::String), s_(s) {}
  static Json object() { Json j; j.kind_ = Kind::Object; return j; }
  static Json array() { Json j; j.kind_ = Kind::Array; return j; }

  Kind kind() const { return kind_; }
  bool is_number() const { return kind_ == Kind::UInt || kind_ == Kind::Int || kind_ == Kind::Double; }
  bool is_integer() const { return kind_ == Kind::UInt || kind_ == Kind::Int; }
  bool as_bool() const { return b_; }
  uint64_t as_uint() const { return kind_ == Kind::UInt ? u_ : 0; }
  int64_t as_int() const { return kind_ == Kind::Int ? i_ : int64_t(u_); }
  double as_double() const;
  const std::string& str() const { return s_; }
  const std::vector<Json>& elements() const { return elems_; }
  const std::vector<Member>& members() const { return members_; }

  // Objects: sets KEY (replacing its value, keeping its place); returns the value.
  Json& set(const std::string& key, Json v);
  const Json* find(const std::string& key) const;
  // Arrays: appends.
  Json& push(Json v);

  // Two-space indented; a container holding only scalars stays on one line.
  std::string dump() const;
  // Whole-document parse; nullopt with *err "LINE:COL: what" on bad input.
  static std::optional<Json> parse(const std::string& text, std::string* err);

  bool operator==(const Json& o) const;
  bool operator!=(const Json& o) const { return !(*this == o); }

 private:
  void dump(std::string& out, int indent) const;

  Kind kind_ = Kind::Null;
  bool b_ = false;
  uint64_t u_ = 0;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::vector<Json> elems_;
  std::vector<Member> members_;
};

}  // namespace cocosim
