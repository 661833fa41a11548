// Runs the full and the incremental invariant checks side by side (two
// checkers on one platform) and holds them to the same answer: every rule
// the full check newly reports must be reported by the incremental check in
// the same call, and the incremental check reports nothing the full one does
// not. Tests use it where they would use InvariantChecker::check(); `report`
// says where a disagreement is written (doctest CHECKs when not set).
#pragma once
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "invariant_checker.h"

namespace cocosim {

class DualChecker {
 public:
  // `disagree(what)`: called once per disagreement.
  DualChecker(Platform& p, std::function<void(const std::string&)> disagree)
      : full_(p), inc_(p), disagree_(std::move(disagree)) {
    ok_ = inc_.enable_incremental();
    if (!ok_) disagree_("another incremental checker is listening");
    prev_ = keys(inc_.check_incremental());  // the first call is whole (learns who maps what)
  }

  std::vector<Violation> check() {
    std::vector<Violation> full = full_.check();
    const std::vector<Violation> inc = inc_.check_incremental();
    std::set<std::string> full_rules, inc_rules;
    for (const auto& v : full) full_rules.insert(v.rule);
    for (const auto& v : inc) inc_rules.insert(v.rule);
    for (const auto& v : inc)
      if (!full_rules.count(v.rule)) disagree_("only the incremental check reports " + v.rule + ": " + v.detail);
    for (const auto& v : full)
      if (!prev_.count(v.rule + ": " + v.detail) && !inc_rules.count(v.rule))
        disagree_("the incremental check misses " + v.rule + ": " + v.detail);
    prev_ = keys(full);
    ++checks_;
    return full;
  }
  unsigned checks() const { return checks_; }

 private:
  static std::set<std::string> keys(const std::vector<Violation>& v) {
    std::set<std::string> k;
    for (const auto& x : v) k.insert(x.rule + ": " + x.detail);
    return k;
  }
  InvariantChecker full_, inc_;
  std::function<void(const std::string&)> disagree_;
  std::set<std::string> prev_;  // what the last full check reported
  bool ok_ = false;
  unsigned checks_ = 0;
};

}  // namespace cocosim
