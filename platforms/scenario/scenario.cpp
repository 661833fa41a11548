#include "scenario/scenario.h"

#include <cctype>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/errno_names.h"
#include "scenario/int_expr.h"
#include "scenario/schema.h"

namespace cocosim {

std::string ScenarioError::str() const {
  std::ostringstream o;
  o << file << ':' << loc.line << ':' << loc.col << ": " << message;
  return o.str();
}

bool Expect::names(const std::string& field) const {
  for (const auto& i : items)
    if (i.field == field) return true;
  return false;
}

// ---- Args -------------------------------------------------------------------

bool Args::has(const std::string& k) const {
  if (!m_.IsMap()) return false;
  const YAML::Node v = m_[k];
  return v && !v.IsNull();
}

YAML::Node Args::node(const std::string& k) const {
  return m_.IsMap() ? m_[k] : YAML::Node(YAML::NodeType::Undefined);
}

uint64_t Args::u64(const std::string& k, uint64_t dflt) const {
  if (!has(k)) return dflt;
  auto r = parse_int_expr(m_[k].Scalar());
  return r.value.value_or(dflt);
}

std::string Args::str(const std::string& k, const std::string& dflt) const {
  return has(k) ? m_[k].Scalar() : dflt;
}

namespace {
std::optional<bool> parse_bool(const std::string& s) {
  if (s == "true" || s == "True" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "False" || s == "no" || s == "off") return false;
  return std::nullopt;
}
}  // namespace

bool Args::boolean(const std::string& k, bool dflt) const {
  if (!has(k)) return dflt;
  return parse_bool(m_[k].Scalar()).value_or(dflt);
}

std::vector<std::string> Args::list(const std::string& k) const {
  std::vector<std::string> out;
  if (!has(k)) return out;
  for (const auto& n : m_[k]) out.push_back(n.Scalar());
  return out;
}

uint64_t Args::flags(const std::string& k, const Vocab& vocab) const {
  if (!has(k)) return 0;
  YAML::Node n = m_[k];
  if (n.IsScalar()) return parse_int_expr(n.Scalar()).value.value_or(0);
  uint64_t v = 0;
  for (const auto& x : n) {
    auto it = vocab.find(x.Scalar());
    if (it != vocab.end()) v |= it->second;
  }
  return v;
}

Args Args::sub(const std::string& k) const { return Args(node(k)); }

SourceLoc Args::loc(const std::string& k) const {
  if (!has(k)) return {};
  auto m = m_[k].Mark();
  return {m.line + 1, m.column + 1};
}

// ---- Loader -----------------------------------------------------------------

namespace {

SourceLoc loc_of(const YAML::Node& n) {
  auto m = n.Mark();
  if (m.is_null()) return {1, 1};
  return {m.line + 1, m.column + 1};
}

bool is_identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
      return false;
  return true;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}


class Loader {
 public:
  Loader(std::string file, std::optional<Arch> arch) : file_(std::move(file)), arch_(arch) {}

  LoadResult run(const std::string& text) {
    LoadResult r;
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      error({e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
      r.errors = errs_;
      return r;
    }
    Scenario sc;
    sc.file = file_;
    if (!root || root.IsNull()) {
      error({1, 1}, "empty scenario: expected a mapping with 'platform' and 'steps'");
    } else if (!root.IsMap()) {
      error(loc_of(root), "a scenario is a mapping with 'platform' and 'steps', not a " +
                              kind_of(root));
    } else {
      top(root, sc);
    }
    r.errors = errs_;
    if (errs_.empty()) r.scenario = std::move(sc);
    return r;
  }

 private:
  static std::string kind_of(const YAML::Node& n) {
    if (n.IsSequence()) return "list";
    if (n.IsMap()) return "mapping";
    if (n.IsScalar()) return "scalar '" + n.Scalar() + "'";
    return "null";
  }

  void error(SourceLoc l, const std::string& msg) { errs_.push_back({file_, l, msg}); }
  void error(const YAML::Node& n, const std::string& msg) { error(loc_of(n), msg); }

  void top(const YAML::Node& root, Scenario& sc) {
    // A default-constructed YAML::Node is a defined null node: track presence apart.
    YAML::Node steps, programs, platform;
    bool have_steps = false, have_programs = false, have_platform = false;
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string k = it->first.Scalar();
      if (k == "name") {
        if (!it->second.IsScalar()) error(it->second, "'name' must be a string");
        else sc.name = it->second.Scalar();
      } else if (k == "platform") {
        platform = it->second;
        have_platform = true;
      } else if (k == "trace") {
        trace(it->second, sc);
      } else if (k == "programs") {
        programs = it->second;
        have_programs = true;
      } else if (k == "steps") {
        steps = it->second;
        have_steps = true;
      } else {
        error(it->first, "unknown top-level key '" + k +
                             "' (expected name, platform, trace, programs, steps)");
      }
    }
    if (!have_platform && !arch_) error(loc_of(root), "missing 'platform' (with at least 'arch')");
    this->platform(have_platform ? &platform : nullptr, sc.platform);
    if (have_programs) this->programs(programs, sc);
    if (!have_steps) {
      error(loc_of(root), "missing 'steps'");
    } else if (!steps.IsSequence()) {
      error(steps, "'steps' must be a list of steps, not a " + kind_of(steps));
    } else {
      int number = 0;
      for (const auto& item : steps) {
        Step s;
        s.number = ++number;
        if (parse_item(item, /*guest=*/false, s.op, s.args, s.expect, s.note, s.loc, nullptr, &s))
          sc.steps.push_back(std::move(s));
      }
    }
  }

  void trace(const YAML::Node& n, Scenario& sc) {
    if (!n.IsMap()) return error(n, "'trace' must be a mapping (vcd, stats)");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      if (!it->second.IsScalar()) {
        error(it->second, "'trace." + k + "' must be a path");
        continue;
      }
      if (k == "vcd")
        sc.vcd_path = it->second.Scalar();
      else if (k == "stats")
        sc.stats_path = it->second.Scalar();
      else
        error(it->first, "unknown key 'trace." + k + "' (expected vcd, stats)");
    }
  }

  std::optional<uint64_t> int_of(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) {
      error(n, what + " must be an integer, not a " + kind_of(n));
      return std::nullopt;
    }
    auto r = parse_int_expr(n.Scalar());
    if (!r.value) {
      // Point at the offending character when the scalar is written plainly on one line.
      SourceLoc l = loc_of(n);
      // A quoted scalar's mark is its opening quote (yaml-cpp tags it "!").
      if (n.Scalar().find('\n') == std::string::npos) l.col += int(r.column) + (n.Tag() == "!" ? 1 : 0);
      const std::string text = n.Scalar().size() > 48 ? n.Scalar().substr(0, 45) + "..." : n.Scalar();
      error(l, what + " = '" + text + "': " + r.error);
    }
    return r.value;
  }

  void platform(const YAML::Node* np, PlatformConfig& p) {
    bool have_arch = false;
    if (np) {
      const YAML::Node& n = *np;
      if (!n.IsMap()) return error(n, "'platform' must be a mapping, not a " + kind_of(n));
      for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string k = it->first.Scalar();
        const YAML::Node v = it->second;  // a copy: the iterator's pair is a temporary
        if (k == "arch") {
          auto a = v.IsScalar() ? arch_from_name(v.Scalar()) : std::nullopt;
          have_arch = true;
          if (!a) error(v, "platform.arch must be x86-tdx or arm64-pkvm, not '" +
                               (v.IsScalar() ? v.Scalar() : kind_of(v)) + "'");
          else p.arch = *a, p.arch_from_file = true;
        } else if (k == "cpus") {
          if (auto x = int_of(v, "platform.cpus")) {
            if (*x < 1 || *x > 64) error(v, "platform.cpus must be 1..64");
            else p.cpus = unsigned(*x);
          }
        } else if (k == "dram") {
          if (auto x = int_of(v, "platform.dram")) {
            if (*x == 0 || *x % 4096 || *x > (uint64_t{1} << 46))
              error(v, "platform.dram must be a non-zero multiple of 4KiB up to 64TiB");
            else p.dram = *x;
          }
        } else if (k == "encryption") {
          if (!v.IsScalar() || (v.Scalar() != "ci" && v.Scalar() != "li" && v.Scalar() != "off"))
            error(v, "platform.encryption must be ci, li or off");
          else p.encryption = v.Scalar();
        } else if (k == "gpaw") {
          if (auto x = int_of(v, "platform.gpaw")) {
            if (*x != 48 && *x != 52) error(v, "platform.gpaw must be 48 or 52");
            else p.gpaw = unsigned(*x);
          }
        } else if (k == "seed") {
          if (auto x = int_of(v, "platform.seed")) p.seed = *x;
        } else if (k == "quantum") {
          auto ns = v.IsScalar() ? parse_time_ns(v.Scalar()) : std::nullopt;
          if (!ns || *ns < 1) error(v, "platform.quantum must be a time from 1ns to 3600s, such as 1us");
          else p.quantum_ns = uint64_t(*ns);
        } else if (k == "thp") {
          auto b = v.IsScalar() ? parse_bool(v.Scalar()) : std::nullopt;
          if (!b) error(v, "platform.thp must be true or false");
          else p.thp = *b;
        } else if (k == "timing") {
          timing(v, p.timing);
        } else {
          error(it->first, "unknown key 'platform." + k +
                               "' (expected arch, cpus, dram, encryption, gpaw, seed, timing, quantum, thp)");
        }
      }
    }
    if (arch_) p.arch = *arch_;
    else if (!have_arch && np) error(*np, "missing 'platform.arch' (x86-tdx or arm64-pkvm)");
  }

  void timing(const YAML::Node& n, Timing& t) {
    if (!n.IsMap()) return error(n, "'platform.timing' must be a mapping");
    std::map<std::string, double*> keys = {
        {"dram", &t.dram_ns},         {"mee", &t.mee_ns},       {"walk_level", &t.walk_level_ns},
        {"tlb_hit", &t.tlb_hit_ns},   {"vm_exit", &t.vm_exit_ns}, {"seamcall", &t.seamcall_ns},
        {"hvc", &t.hvc_ns},           {"tlb_shootdown", &t.tlb_shootdown_ns},
        {"ioctl", &t.ioctl_ns}};
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      auto f = keys.find(k);
      if (f == keys.end()) {
        std::vector<std::string> names;
        for (auto& [name, p] : keys) names.push_back(name);
        error(it->first, "unknown latency 'timing." + k + "' (expected " + join(names) + ")");
        continue;
      }
      auto ns = it->second.IsScalar() ? parse_time_ns(it->second.Scalar()) : std::nullopt;
      if (!ns) error(it->second, "timing." + k + " must be a time up to 3600s: 50, 50ns, 1.5us");
      else *f->second = *ns;
    }
  }

  void programs(const YAML::Node& n, Scenario& sc) {
    if (!n.IsMap()) return error(n, "'programs' must be a mapping from name to a list of guest ops");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string name = it->first.Scalar();
      if (!is_identifier(name)) error(it->first, "program name '" + name + "' is not a name");
      names_[NameKind::Program].insert(name);
      sc.programs[name] = guest_ops(it->second, "program '" + name + "'");
    }
  }

  std::vector<GuestOp> guest_ops(const YAML::Node& n, const std::string& what) {
    std::vector<GuestOp> ops;
    if (!n.IsSequence()) {
      error(n, what + " must be a list of guest ops, not a " + kind_of(n));
      return ops;
    }
    for (const auto& item : n) {
      GuestOp g;
      if (parse_item(item, /*guest=*/true, g.op, g.args, g.expect, g.note, g.loc, &g.body))
        ops.push_back(std::move(g));
    }
    return ops;
  }

  // One list item: `{OP: {fields}, expect: ..., note: ...}`.
  bool parse_item(const YAML::Node& item, bool guest, std::string& op, Args& args, Expect& expect,
                  std::string& note, SourceLoc& loc, std::vector<GuestOp>* body,
                  Step* step = nullptr) {
    const char* what = guest ? "guest op" : "step";
    loc = loc_of(item);
    if (!item.IsMap()) {
      error(item, std::string("a ") + what + " is a mapping with one operation, not a " +
                      kind_of(item));
      return false;
    }
    YAML::Node fields, expect_node, op_key;
    bool have_expect = false;
    for (auto it = item.begin(); it != item.end(); ++it) {
      const std::string k = it->first.Scalar();
      if (k == "expect") {
        expect_node = it->second;
        have_expect = true;
      } else if (k == "note") {
        note = it->second.IsScalar() ? it->second.Scalar() : "";
      } else if (!op.empty()) {
        error(it->first, std::string("a ") + what + " has one operation: '" + op +
                             "' already, then '" + k + "'");
        return false;
      } else {
        op = k;
        op_key = it->first;
        fields = it->second;
      }
    }
    if (op.empty()) {
      error(item, std::string("this ") + what + " names no operation");
      return false;
    }
    loc = loc_of(op_key);
    const OpSpec* spec = guest ? guest_spec(op) : step_spec(op);
    if (!spec) {
      std::vector<std::string> names;
      for (const auto& s : guest ? guest_specs() : step_specs()) names.push_back(s.name);
      error(op_key, std::string("unknown ") + what + " '" + op + "' (expected one of: " +
                        join(names) + ")");
      return false;
    }
    if (!spec->unavailable.empty()) {
      error(op_key, "'" + op + "' " + spec->unavailable);
      return false;
    }
    // Fields are kept as the document's own node: building a fresh YAML map here
    // would merge yaml-cpp node memories on every step (quadratic in file size).
    std::set<std::string> present;  // given, even if invalid: no cascade of errors
    const size_t errors_before = errs_.size();
    if (!fields.IsNull()) {
      if (!fields.IsMap()) {
        error(fields, "'" + op + "' takes a mapping of fields, not a " + kind_of(fields));
        return false;
      }
      for (auto it = fields.begin(); it != fields.end(); ++it) {
        const std::string k = it->first.Scalar();
        if (k == "expect") {
          if (have_expect) error(it->first, "'expect' given twice");
          expect_node = it->second;
          have_expect = true;
          continue;
        }
        if (k == "note") {
          note = it->second.IsScalar() ? it->second.Scalar() : "";
          continue;
        }
        const FieldSpec* f = spec->field(k);
        if (!f) {
          std::vector<std::string> names;
          for (const auto& x : spec->fields) names.push_back(x.name);
          error(it->first, "unknown field '" + k + "' for '" + op + "' (expected " +
                               join(names) + ")");
          continue;
        }
        present.insert(k);
        check_field(op, *f, it->second, body, step);
      }
    }
    for (const auto& f : spec->fields)
      if (f.required && !present.count(f.name))
        error(fields.IsNull() ? op_key : fields, "'" + op + "' needs field '" + f.name + "'");
    args = Args(fields.IsMap() ? fields : YAML::Node(YAML::NodeType::Map));
    if (errs_.size() == errors_before) op_constraints(op, guest, args, op_key);
    if (have_expect) parse_expect(*spec, expect_node, expect);
    // Names made by this step are known from the next step on.
    for (const auto& f : spec->fields)
      if (f.ty == Ty::Def && present.count(f.name) && args.node(f.name).IsScalar())
        names_[f.kind].insert(args.node(f.name).Scalar());
    return true;
  }

  bool check_field(const std::string& op, const FieldSpec& f, const YAML::Node& v,
                   std::vector<GuestOp>* body, Step* step) {
    const std::string what = "'" + op + "." + f.name + "'";
    switch (f.ty) {
      case Ty::Int: {
        auto x = int_of(v, what);
        if (x && *x > f.max) {
          error(v, what + " = " + v.Scalar() + " is out of range (at most " + std::to_string(f.max) + ")");
          return false;
        }
        return x.has_value();
      }
      case Ty::Str:
        if (!v.IsScalar()) return error(v, what + " must be a string"), false;
        return true;
      case Ty::Bool:
        if (!v.IsScalar() || !parse_bool(v.Scalar()))
          return error(v, what + " must be true or false"), false;
        return true;
      case Ty::Def:
        if (!v.IsScalar() || !is_identifier(v.Scalar()))
          return error(v, what + " must be a name (letters, digits, _)"), false;
        return true;
      case Ty::Name: {
        if (!v.IsScalar()) return error(v, what + " must be a name"), false;
        const std::string n = v.Scalar();
        bool known = names_[f.kind].count(n) != 0;
        if (f.kind == NameKind::FdAny)
          known = names_[NameKind::Vm].count(n) || names_[NameKind::Gmem].count(n);
        if (f.kind == NameKind::Process && n == "vmm") known = true;
        if (!known) {
          error(v, "'" + n + "' is used before it was made: no " + name_kind_str(f.kind) +
                       " of that name exists at this point");
          return false;
        }
        return true;
      }
      case Ty::Enum:
        if (!v.IsScalar() ||
            std::find(f.choices.begin(), f.choices.end(), v.Scalar()) == f.choices.end())
          return error(v, what + " must be one of: " + join(f.choices)), false;
        return true;
      case Ty::Flags:
        if (v.IsScalar()) return int_of(v, what).has_value();
        if (!v.IsSequence()) return error(v, what + " must be a list of flags or a number"), false;
        for (const auto& x : v) {
          if (!x.IsScalar() || !f.vocab->count(x.Scalar())) {
            std::vector<std::string> names;
            for (const auto& [name, bit] : *f.vocab) names.push_back(name);
            error(x, what + ": unknown flag '" + (x.IsScalar() ? x.Scalar() : kind_of(x)) +
                         "' (expected " + join(names) + ")");
            return false;
          }
        }
        return true;
      case Ty::ExitList:
        if (!v.IsSequence()) return error(v, what + " must be a list of exits"), false;
        for (const auto& x : v)
          if (!x.IsScalar() ||
              (x.Scalar() != "KVM_EXIT_MEMORY_FAULT" && x.Scalar() != "KVM_EXIT_HYPERCALL"))
            return error(x, what + ": the VMM handles KVM_EXIT_MEMORY_FAULT and KVM_EXIT_HYPERCALL"),
                   false;
        return true;
      case Ty::Source:
        if (!v.IsMap()) return error(v, what + " must be {map: NAME, offset: N} or {hpa: N}"), false;
        return true;
      case Ty::Ops:
        if (body) *body = guest_ops(v, what);
        return true;
      case Ty::Time:
        if (!v.IsScalar() || !parse_time_ns(v.Scalar()))
          return error(v, what + " must be a time up to 3600s: 50, 50ns, 1.5us"), false;
        return true;
      case Ty::Steps: {
        if (!v.IsSequence()) return error(v, what + " must be a list of steps"), false;
        if (!step) return error(v, what + ": steps cannot nest here"), false;
        int sub = 0;
        for (const auto& item : v) {
          Step s;
          s.number = step->number;
          s.sub = ++sub;
          if (!parse_item(item, /*guest=*/false, s.op, s.args, s.expect, s.note, s.loc, nullptr))
            continue;
          if (s.op == "KVM_RUN") {
            error(item, "'KVM_RUN' cannot run inside another KVM_RUN's 'during' (one VMM thread)");
            continue;
          }
          step->during.push_back(std::move(s));
        }
        return true;
      }
    }
    return false;
  }

  void need_one(const Args& a, const YAML::Node& at, const std::string& op,
                const std::vector<std::vector<std::string>>& forms) {
    int matches = 0;
    for (const auto& form : forms) {
      bool all = true;
      for (const auto& f : form) all = all && a.has(f);
      if (all) ++matches;
    }
    if (matches == 1) return;
    std::vector<std::string> fs;
    for (const auto& form : forms) {
      std::string s;
      for (const auto& f : form) s += (s.empty() ? "" : "+") + f;
      fs.push_back("{" + s + "}");
    }
    error(at, "'" + op + "' takes exactly one of " + join(fs));
  }

  void op_constraints(const std::string& op, bool guest, const Args& a, const YAML::Node& at) {
    auto size_ok = [&](const char* field) {
      if (a.has(field)) {
        uint64_t s = a.u64(field);
        if (s != 1 && s != 2 && s != 4 && s != 8)
          error(a.node(field), "'" + op + "." + field + "' must be 1, 2, 4 or 8");
      }
    };
    if (!guest) {
      if (op == "mmap") {
        if (a.has("fd") == a.boolean("anonymous"))
          error(at, "'mmap' takes either fd: NAME or anonymous: true");
      } else if (op == "close") {
        need_one(a, at, op, {{"fd"}, {"vm"}});
      } else if (op == "load") {
        if (a.has("size") && a.has("length")) error(at, "'load' takes size or length, not both");
        size_ok("size");
      } else if (op == "store") {
        if (a.has("data") && (a.has("value") || a.has("size")))
          error(at, "'store' takes value (and size) or data");
        size_ok("size");
      } else if (op == "host_kernel") {
        need_one(a, at, op, {{"hpa"}, {"pfn"}, {"fd", "offset"}, {"map", "offset"}});
        size_ok("size");
      } else if (op == "dram_read") {
        need_one(a, at, op, {{"hpa"}, {"pfn"}, {"fd", "offset"}, {"map", "offset"}});
      } else if (op == "inspect") {
        int forms = (a.has("vm") ? 1 : 0) + (a.has("fd") ? 1 : 0) + (a.has("hpa") ? 1 : 0) +
                    (a.has("pfn") ? 1 : 0);
        if (forms != 1 || (a.has("gpa") && !a.has("vm")) || (a.has("offset") && !a.has("fd")) ||
            (a.has("fd") && !a.has("offset")))
          error(at, "'inspect' takes one of {vm, gpa}, {vm}, {fd, offset}, {hpa}, {pfn}");
      }
    } else {
      if (op == "load") {
        if (a.has("size") && a.has("length")) error(at, "'load' takes size or length, not both");
        size_ok("size");
      } else if (op == "store" || op == "sweep") {
        size_ok("size");
      }
    }
  }

  void parse_expect(const OpSpec& spec, const YAML::Node& n, Expect& e) {
    e.present = true;
    if (n.IsScalar() && n.Scalar() == "any") {
      e.any = true;
      return;
    }
    if (!n.IsMap()) return error(n, "'expect' must be a mapping of result fields, or 'any'");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      if (k == "not") {
        if (!it->second.IsMap()) {
          error(it->second, "'not' must be a mapping of result fields");
          continue;
        }
        for (auto jt = it->second.begin(); jt != it->second.end(); ++jt)
          expect_item(spec, jt->first, jt->second, true, e);
        continue;
      }
      expect_item(spec, it->first, it->second, false, e);
    }
  }

  void expect_item(const OpSpec& spec, const YAML::Node& key, const YAML::Node& v, bool negate,
                   Expect& e) {
    const std::string k = key.Scalar();
    if (!spec.has_result(k)) {
      error(key, "'" + k + "' is not a result of '" + spec.name + "' (its results: " +
                     (spec.results.empty() ? std::string("none") : join(spec.results)) + ")");
      return;
    }
    if (k == "args") {
      if (!v.IsSequence()) return error(v, "'args' expects a list of integers");
    } else if (!v.IsScalar()) {
      return error(v, "expected value of '" + k + "' must be a scalar");
    }
    const std::string s = v.IsScalar() ? v.Scalar() : "";
    if (k == "errno") {
      if (!errno_from_name(s)) return error(v, "unknown errno '" + s + "' (use names: EINVAL, ...)");
    } else if (k == "signal") {
      if (!signal_from_name(s)) return error(v, "unknown signal '" + s + "' (SIGBUS, SIGSEGV, none)");
    } else if (k == "exit") {
      if (std::find(kExitNames.begin(), kExitNames.end(), s) == kExitNames.end())
        return error(v, "unknown exit '" + s + "' (expected " + join(kExitNames) + ")");
    } else if (k == "bytes") {
      bool hex = s.size() % 2 == 0;
      for (char c : s) hex = hex && std::isxdigit(static_cast<unsigned char>(c));
      if (!hex) return error(v, "'bytes' is a hex string, two digits per byte");
    } else if (k == "value" || k == "all" || k == "gpa" || k == "size" || k == "nr" ||
               k == "error_offset" || k == "st_size" || k == "st_blksize" || k == "refcount" ||
               k == "ret" || k == "syndrome" || k == "hpfar" || k == "stage2_size") {
      if (!parse_int_expr(s).value) return error(v, "'" + k + "' expects an integer");
    } else if (k == "hpa") {
      if (s != "none" && !parse_int_expr(s).value) return error(v, "'hpa' expects an integer or none");
    } else if (k == "host_mapped" || k == "is_write") {
      if (!parse_bool(s)) return error(v, "'" + k + "' expects true or false");
    }
    e.items.push_back({k, v, negate, loc_of(v)});
  }

  std::string file_;
  std::optional<Arch> arch_;
  std::vector<ScenarioError> errs_;
  std::map<NameKind, std::set<std::string>> names_;
};

}  // namespace

LoadResult load_scenario_text(const std::string& file, const std::string& text,
                              const std::optional<Arch>& arch_override) {
  return Loader(file, arch_override).run(text);
}

LoadResult load_scenario(const std::string& file, const std::optional<Arch>& arch_override) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    LoadResult r;
    r.errors.push_back({file, {1, 1}, std::string("cannot open file: ") + std::strerror(errno)});
    return r;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.find('\0') != std::string::npos) {
    LoadResult r;
    r.errors.push_back({file, {1, 1}, "not a text file (contains NUL bytes)"});
    return r;
  }
  return load_scenario_text(file, text, arch_override);
}

}  // namespace cocosim
