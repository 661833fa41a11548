#include "scenario/scenario.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/errno_names.h"
#include "scenario/int_expr.h"
#include "scenario/schema.h"
#include "scenario/suggest.h"

namespace cocosim {

std::string ExpectValue::text() const {
  if (!list) return items.empty() ? "" : items[0];
  std::string s = "[";
  for (size_t k = 0; k < items.size(); ++k) s += (k ? ", " : "") + items[k];
  return s + "]";
}

bool Expect::names(const std::string& field) const {
  for (const auto& i : items)
    if (i.field == field) return true;
  return false;
}

// ---- Args -------------------------------------------------------------------

bool Args::has(const std::string& k) const {
  const YNode v = m_.get(k);
  return v && !v.is_null();
}

YNode Args::node(const std::string& k) const { return m_.get(k); }

uint64_t Args::u64(const std::string& k, uint64_t dflt) const {
  if (!has(k)) return dflt;
  return parse_int_expr(m_.get(k).str()).value.value_or(dflt);
}

std::string Args::str(const std::string& k, const std::string& dflt) const {
  return has(k) ? m_.get(k).str() : dflt;
}

bool Args::boolean(const std::string& k, bool dflt) const {
  if (!has(k)) return dflt;
  return parse_bool(m_.get(k).text()).value_or(dflt);
}

std::vector<std::string> Args::list(const std::string& k) const {
  std::vector<std::string> out;
  const YNode n = m_.get(k);
  if (n.is_scalar()) out.push_back(n.str());
  for (size_t i = 0; i < n.size() && n.is_seq(); ++i) out.push_back(n.at(i).str());
  return out;
}

uint64_t Args::flags(const std::string& k, const Vocab& vocab) const {
  if (!has(k)) return 0;
  const YNode n = m_.get(k);
  if (n.is_scalar()) {
    if (auto it = vocab.find(n.str()); it != vocab.end()) return it->second;
    return parse_int_expr(n.str()).value.value_or(0);
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    auto it = vocab.find(n.at(i).str());
    if (it != vocab.end()) v |= it->second;
  }
  return v;
}

Args Args::sub(const std::string& k) const { return Args(doc_, node(k)); }

SourceLoc Args::loc(const std::string& k) const {
  if (!has(k)) return {};
  return m_.get(k).loc();
}

// ---- Loader -----------------------------------------------------------------

namespace {

bool is_identifier(std::string_view s) {
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

std::vector<std::string> vocab_names(const Vocab& v) {
  std::vector<std::string> names;
  for (const auto& [name, bit] : v) names.push_back(name);
  return names;
}

// Every errno name cocosim knows, for "did you mean".
const std::vector<std::string>& errno_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (int e = 1; e < 256; ++e) {
      const std::string n = errno_name(e);
      if (errno_from_name(n) && n != "E" + std::to_string(e)) v.push_back(n);
    }
    return v;
  }();
  return names;
}

// How a name's kind is written in messages: "a mapping", "a guest_memfd or VM fd".
std::string kind_phrase(NameKind k) {
  switch (k) {
    case NameKind::Vm: return "a VM";
    case NameKind::Gmem: return "a guest_memfd";
    case NameKind::FdAny: return "a guest_memfd or VM fd";
    case NameKind::Map: return "a mapping";
    case NameKind::Process: return "a process";
    case NameKind::Program: return "a program";
  }
  return "a name";
}

class Loader {
 public:
  Loader(std::string file, const LoadOptions& o) : file_(std::move(file)), opt_(o), d_(errs_) {}

  LoadResult run(const std::string& text) {
    LoadResult r;
    std::vector<YamlError> yerrs;
    auto doc = YamlTree::parse(text, file_, &yerrs);
    for (const auto& e : yerrs) d_.error(file_, e.loc, e.message);
    if (!yerrs.empty()) {
      r.errors = errs_;
      return r;
    }
    doc_ = doc;
    Scenario sc;
    sc.file = file_;
    sc.doc = doc;
    const YNode root = doc->root();
    if (!root || root.is_null()) {
      d_.error(file_, {1, 1}, "empty scenario: expected a mapping with 'platform' and 'steps'");
    } else if (!root.is_map()) {
      d_.error(root, "a scenario is a mapping with 'platform' and 'steps', not a " + root.describe());
    } else {
      top(root, sc);
    }
    r.errors = errs_;
    if (errs_.empty()) r.scenario = std::move(sc);
    return r;
  }

 private:
  void error(const YNode& n, const std::string& msg) { d_.error(n, msg); }

  // Text used as a label (names, notes, tags) must read back from the stats JSON.
  bool label_ok(const YNode& n, const std::string& what) {
    const std::string why = label_problem(n.text());
    if (why.empty()) return true;
    error(n, what + " contains " + why + ": use printable text");
    return false;
  }

  void top(const YNode& root, Scenario& sc) {
    YNode steps, programs, platform;
    for (size_t i = 0; i < root.size(); ++i) {
      const YNode key = root.key(i), v = root.value(i);
      const std::string k = key.str();
      if (k == "name") {
        if (!v.is_scalar()) error(v, "'name' must be a string");
        else if (label_ok(v, "'name'")) sc.name = v.str();
      } else if (k == "platform") {
        platform = v;
      } else if (k == "trace") {
        trace(v, sc);
      } else if (k == "programs") {
        programs = v;
      } else if (k == "steps") {
        steps = v;
      } else {
        const std::vector<std::string> keys = {"name", "platform", "trace", "programs", "steps"};
        error(key, "unknown top-level key '" + k + "'" + did_you_mean(k, keys) + " (expected " + join(keys) + ")");
      }
    }
    PlatformReader pr(sc.platform, d_);
    if (platform) pr.read_file(platform);
    for (size_t n = 0; n < opt_.sets.size(); ++n) pr.read_set(opt_.sets[n], int(n + 1));
    pr.finish(opt_.arch, file_, platform ? platform.loc() : root.loc(), bool(platform));
    arch_ = sc.platform.arch;
    if (programs) this->programs(programs, sc);
    if (!steps) {
      d_.error(file_, root.loc(), "missing 'steps'");
    } else if (!steps.is_seq()) {
      error(steps, "'steps' must be a list of steps, not a " + steps.describe());
    } else {
      sc.steps.reserve(steps.size());
      int number = 0;
      for (size_t i = 0; i < steps.size(); ++i) {
        Step s;
        s.number = ++number;
        if (parse_item(steps.at(i), /*guest=*/false, s.op, s.args, s.expect, s.note, s.loc, nullptr, &s))
          sc.steps.push_back(std::move(s));
      }
    }
  }

  void trace(const YNode& n, Scenario& sc) {
    if (!n.is_map()) return error(n, "'trace' must be a mapping (vcd, stats)");
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string k = n.key(i).str();
      const YNode v = n.value(i);
      if (k != "vcd" && k != "stats") {
        error(n.key(i), "unknown key 'trace." + k + "'" + did_you_mean(k, {"vcd", "stats"}) +
                            " (expected vcd, stats)");
        continue;
      }
      if (!v.is_scalar()) {
        error(v, "'trace." + k + "' must be a path");
        continue;
      }
      if (!label_ok(v, "'trace." + k + "'")) continue;
      if (k == "vcd") {
        sc.vcd_path = v.str();
      } else {
        sc.stats_path = v.str();
        if (same_file(sc.stats_path, file_))
          error(v, "'trace.stats' names the scenario file itself: the statistics would overwrite it");
      }
    }
  }

  // Both name one existing file (paths in a scenario are taken from the
  // current directory, as the command line's are).
  static bool same_file(const std::string& a, const std::string& b) {
    char ra[4096], rb[4096];
    if (!realpath(a.c_str(), ra) || !realpath(b.c_str(), rb)) return false;
    return std::strcmp(ra, rb) == 0;
  }

  void programs(const YNode& n, Scenario& sc) {
    if (!n.is_map()) return error(n, "'programs' must be a mapping from name to a list of guest ops");
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string name = n.key(i).str();
      if (!is_identifier(name)) error(n.key(i), "program name '" + name + "' is not a name (letters, digits, _)");
      names_[NameKind::Program].insert(name);
      if (n.value(i).is_map())
        elf_program(name, n.value(i), sc);
      else
        sc.programs[name] = guest_ops(n.value(i), "program '" + name + "'");
    }
  }

  // `name: {elf: PATH, entry: SYMBOL}`: real guest code for the platform's architecture.
  void elf_program(const std::string& name, const YNode& n, Scenario& sc) {
    YNode elf, entry, ucall_mmio;
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string k = n.key(i).str();
      if (k == "elf") elf = n.value(i);
      else if (k == "entry") entry = n.value(i);
      else if (k == "ucall_mmio") ucall_mmio = n.value(i);
      else error(n.key(i), "unknown key '" + k + "' in program '" + name + "'" +
                               did_you_mean(k, {"elf", "entry", "ucall_mmio"}) + " (expected elf, entry, ucall_mmio)");
    }
    ElfProgram p;
    if (ucall_mmio) {
      if (arch_ != Arch::Arm64Pkvm)
        return error(ucall_mmio, "ucall_mmio is arm64-pkvm only: x86 ucalls are port I/O (port 0x1000)");
      const IntParse v = ucall_mmio.is_scalar() ? parse_int_expr(ucall_mmio.str()) : IntParse{};
      if (!v.value || *v.value == 0)
        return error(ucall_mmio, "ucall_mmio must be a nonzero guest-physical address");
      p.ucall_mmio = *v.value;
    }
    if (!elf || !elf.is_scalar()) return error(elf ? elf : n, "program '" + name + "' needs 'elf: PATH'");
    if (!entry || !entry.is_scalar())
      return error(entry ? entry : n, "program '" + name + "' needs 'entry: SYMBOL'");
    p.path = elf.str();
    // Relative to the scenario file, so a scenario and its firmware move together.
    const size_t slash = file_.rfind('/');
    if (!p.path.empty() && p.path[0] != '/' && slash != std::string::npos)
      p.path = file_.substr(0, slash + 1) + p.path;
    auto image = std::make_shared<ElfImage>();
    std::string why;
    if (!image->load(p.path, &why)) return error(elf, "program '" + name + "': " + why);
    const uint16_t want = arch_ == Arch::X86Tdx ? ElfImage::kMachineX86_64 : ElfImage::kMachineAarch64;
    if (image->machine() != want)
      return error(elf, "program '" + name + "': '" + p.path + "' is " +
                            ElfImage::machine_name(image->machine()) + " code, but platform.arch " +
                            (arch_ == Arch::X86Tdx ? "x86-tdx runs x86-64" : "arm64-pkvm runs AArch64"));
    p.entry = entry.str();
    auto addr = image->symbol(p.entry);
    if (!addr) return error(entry, "program '" + name + "': no symbol '" + p.entry + "' in '" + p.path + "'");
    p.entry_addr = *addr;
    p.image = std::move(image);
    sc.elf_programs[name] = std::move(p);
  }

  std::vector<GuestOp> guest_ops(const YNode& n, const std::string& what) {
    std::vector<GuestOp> ops;
    if (!n.is_seq()) {
      error(n, what + " must be a list of guest ops, not a " + n.describe());
      return ops;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      GuestOp g;
      if (parse_item(n.at(i), /*guest=*/true, g.op, g.args, g.expect, g.note, g.loc, &g.body))
        ops.push_back(std::move(g));
    }
    return ops;
  }

  bool read_note(const YNode& v, std::string& note) {
    if (!v.is_scalar()) {
      error(v, "'note' is free text, not a " + v.describe());
      return false;
    }
    if (!label_ok(v, "'note'")) return false;
    note = v.str();
    return true;
  }

  // One list item: `{OP: {fields}, expect: ..., note: ...}`.
  bool parse_item(const YNode& item, bool guest, std::string& op, Args& args, Expect& expect,
                  std::string& note, SourceLoc& loc, std::vector<GuestOp>* body,
                  Step* step = nullptr) {
    const char* what = guest ? "guest op" : "step";
    const auto& specs = guest ? guest_specs() : step_specs();
    loc = item.loc();
    if (!item.is_map()) {
      error(item, std::string("a ") + what + " is a mapping with one operation, not a " + item.describe());
      return false;
    }
    YNode fields, expect_node, op_key;
    std::vector<size_t> others;  // keys other than expect and note
    for (size_t i = 0; i < item.size(); ++i) {
      const std::string_view k = item.key(i).text();
      if (k == "expect") expect_node = item.value(i);
      else if (k == "note") read_note(item.value(i), note);
      else others.push_back(i);
    }
    if (others.empty()) {
      error(item, std::string("this ") + what + " names no operation");
      return false;
    }
    // The operation is the key that names one; any other key is a slip.
    size_t op_at = others[0];
    for (size_t i : others)
      if ((guest ? guest_spec(item.key(i).str()) : step_spec(item.key(i).str()))) {
        op_at = i;
        break;
      }
    op_key = item.key(op_at);
    op = op_key.str();
    fields = item.value(op_at);
    loc = op_key.loc();
    const OpSpec* spec = guest ? guest_spec(op) : step_spec(op);
    auto op_names = [&] {
      std::vector<std::string> names;
      for (const auto& s : specs) names.push_back(s.name);
      return names;
    };
    if (!spec) {
      const std::string hint = did_you_mean(op, op_names());
      error(op_key, std::string("unknown ") + what + " '" + op + "'" +
                        (hint.empty() ? " (expected one of: " + join(op_names()) + ")" : hint));
      return false;
    }
    bool extra = false;
    for (size_t i : others) {
      if (i == op_at) continue;
      const std::string k = item.key(i).str();
      extra = true;
      const bool is_op = guest ? guest_spec(k) != nullptr : step_spec(k) != nullptr;
      if (is_op) {
        error(item.key(i), std::string("a ") + what + " has one operation: '" + op + "' already, then '" + k + "'");
      } else {
        std::string hint = did_you_mean(k, {"expect", "note"});
        if (hint.empty()) hint = did_you_mean(k, op_names());
        error(item.key(i), "unknown key '" + k + "' beside '" + op + "'" + hint + " (a " + what +
                               " is one operation, with optional expect and note)");
      }
    }
    if (extra) return false;
    if (!spec->unavailable.empty()) {
      error(op_key, "'" + op + "' " + spec->unavailable);
      return false;
    }
    if (const OpArch* only = op_arch(op); only && only->arch != arch_) {
      error(op_key, "'" + op + "' is an " + arch_name(only->arch) + " operation (" + only->what +
                        "): this platform is " + arch_name(arch_));
      return false;
    }
    std::set<std::string> present;  // given, even if invalid: no cascade of errors
    const size_t errors_before = d_.count();
    if (!fields.is_null()) {
      if (!fields.is_map()) {
        error(fields, "'" + op + "' takes a mapping of fields, not a " + fields.describe());
        return false;
      }
      for (size_t i = 0; i < fields.size(); ++i) {
        const YNode key = fields.key(i);
        const std::string k = key.str();
        if (k == "expect") {
          if (expect_node) error(key, "'expect' given twice");
          expect_node = fields.value(i);
          continue;
        }
        if (k == "note") {
          read_note(fields.value(i), note);
          continue;
        }
        const FieldSpec* f = spec->field(k);
        if (!f) {
          std::vector<std::string> names;
          for (const auto& x : spec->fields) names.push_back(x.name);
          names.push_back("expect");
          names.push_back("note");
          error(key, "unknown field '" + k + "' for '" + op + "'" + did_you_mean(k, names) + " (expected " +
                         join(names) + ")");
          continue;
        }
        if (guest && k == "shared" && arch_ != Arch::X86Tdx) {
          // The shared alias is the GPA's shared bit, which only a TD has.
          error(key, "'" + op + ".shared' is an x86-tdx field (a TD's shared alias): this platform is " +
                         arch_name(arch_));
          continue;
        }
        present.insert(k);
        check_field(op, *f, fields.value(i), body, step);
      }
    }
    for (const auto& f : spec->fields)
      if (f.required && !present.count(f.name))
        error(fields.is_null() ? op_key : fields, "'" + op + "' needs field '" + f.name + "'");
    args = Args(doc_, fields.is_map() ? fields : YNode());
    if (d_.count() == errors_before) op_constraints(op, guest, args, op_key);
    if (expect_node) parse_expect(*spec, expect_node, expect, args);
    // Names made by this step are known from the next step on.
    for (const auto& f : spec->fields)
      if (f.ty == Ty::Def && present.count(f.name) && args.node(f.name).is_scalar()) {
        const std::string name = args.node(f.name).str();
        names_[f.kind].insert(name);
        if (op == "KVM_CREATE_VM") vm_types_[name] = args.str("type", "default");
      }
    return true;
  }

  bool check_field(const std::string& op, const FieldSpec& f, const YNode& v, std::vector<GuestOp>* body,
                   Step* step) {
    auto what = [&] { return "'" + op + "." + f.name + "'"; };
    switch (f.ty) {
      case Ty::Int: {
        auto x = d_.int_of(v, what());
        if (x && *x > f.max) {
          error(v, what() + " = " + v.str() + " is out of range (at most " + std::to_string(f.max) + ")");
          return false;
        }
        return x.has_value();
      }
      case Ty::Str:
        if (!v.is_scalar()) return error(v, what() + " must be a string"), false;
        if (f.name == "tag" && !label_ok(v, what())) return false;
        return true;
      case Ty::Bool:
        return d_.bool_of(v, what()).has_value();
      case Ty::Def:
        if (!v.is_scalar() || !is_identifier(v.text()))
          return error(v, what() + " must be a name (letters, digits, _)"), false;
        return true;
      case Ty::Name: return check_name(f, v, what());
      case Ty::Enum:
        if (!v.is_scalar() || std::find(f.choices.begin(), f.choices.end(), v.str()) == f.choices.end())
          return error(v, what() + " must be one of: " + join(f.choices) +
                              (v.is_scalar() ? did_you_mean(v.str(), f.choices) : "")),
                 false;
        return true;
      case Ty::Flags:
        if (v.is_scalar()) {
          // One name alone is the one-element list.
          if (f.vocab->count(v.str())) return true;
          if (std::isalpha(static_cast<unsigned char>(v.text().empty() ? '0' : v.text()[0])))
            return unknown_flag(v, what(), *f.vocab), false;
          return d_.int_of(v, what()).has_value();
        }
        if (!v.is_seq()) return error(v, what() + " must be a list of flags or a number"), false;
        for (size_t i = 0; i < v.size(); ++i)
          if (!v.at(i).is_scalar() || !f.vocab->count(v.at(i).str())) return unknown_flag(v.at(i), what(), *f.vocab), false;
        return true;
      case Ty::ExitList: {
        const std::vector<std::string> handled = {"KVM_EXIT_MEMORY_FAULT", "KVM_EXIT_HYPERCALL"};
        if (!v.is_seq()) return error(v, what() + " must be a list of exits"), false;
        for (size_t i = 0; i < v.size(); ++i)
          if (!v.at(i).is_scalar() ||
              std::find(handled.begin(), handled.end(), v.at(i).str()) == handled.end())
            return error(v.at(i), what() + ": the VMM handles KVM_EXIT_MEMORY_FAULT and KVM_EXIT_HYPERCALL" +
                                      did_you_mean(v.at(i).str(), handled)),
                   false;
        return true;
      }
      case Ty::Source:
        if (!v.is_map()) return error(v, what() + " must be {map: NAME, offset: N} or {hpa: N}"), false;
        return true;
      case Ty::Ops:
        if (body) *body = guest_ops(v, what());
        return true;
      case Ty::Time:
        return d_.time_of(v, what()).has_value();
      case Ty::Steps: {
        if (!v.is_seq()) return error(v, what() + " must be a list of steps"), false;
        if (!step) return error(v, what() + ": steps cannot nest here"), false;
        int sub = 0;
        for (size_t i = 0; i < v.size(); ++i) {
          const YNode item = v.at(i);
          Step s;
          s.number = step->number;
          s.sub = ++sub;
          if (!parse_item(item, /*guest=*/false, s.op, s.args, s.expect, s.note, s.loc, nullptr)) continue;
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

  void unknown_flag(const YNode& x, const std::string& what, const Vocab& vocab) {
    const std::string got = x.is_scalar() ? x.str() : x.describe();
    error(x, what + ": unknown flag '" + got + "'" + did_you_mean(got, vocab_names(vocab)) + " (expected " +
                 join(vocab_names(vocab)) + ")");
  }

  bool known(NameKind k, const std::string& n) const {
    if (k == NameKind::FdAny) return known(NameKind::Vm, n) || known(NameKind::Gmem, n);
    if (k == NameKind::Process && n == "vmm") return true;
    auto it = names_.find(k);
    return it != names_.end() && it->second.count(n);
  }

  bool check_name(const FieldSpec& f, const YNode& v, const std::string& what) {
    if (!v.is_scalar()) return error(v, what + " must be a name"), false;
    const std::string n = v.str();
    if (known(f.kind, n)) return true;
    // Made earlier, but as something else?
    for (NameKind k : {NameKind::Vm, NameKind::Gmem, NameKind::Map, NameKind::Process, NameKind::Program})
      if (known(k, n)) {
        error(v, "'" + n + "' is " + kind_phrase(k) + ", but " + what + " needs " + kind_phrase(f.kind));
        return false;
      }
    std::vector<std::string> candidates;
    for (NameKind k : {NameKind::Vm, NameKind::Gmem, NameKind::Map, NameKind::Process, NameKind::Program})
      if ((f.kind == NameKind::FdAny && (k == NameKind::Vm || k == NameKind::Gmem)) || k == f.kind)
        if (auto it = names_.find(k); it != names_.end()) candidates.insert(candidates.end(), it->second.begin(), it->second.end());
    error(v, "'" + n + "' is used before it was made: no " + name_kind_str(f.kind) +
                 " of that name exists at this point" + did_you_mean(n, candidates));
    return false;
  }

  void need_one(const Args& a, const YNode& at, const std::string& op,
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

  void op_constraints(const std::string& op, bool guest, const Args& a, const YNode& at) {
    auto size_ok = [&](const char* field) {
      if (a.has(field)) {
        uint64_t s = a.u64(field);
        if (s != 1 && s != 2 && s != 4 && s != 8)
          error(a.node(field), "'" + op + "." + field + "' must be 1, 2, 4 or 8");
      }
    };
    if (!guest) {
      if (op == "mmap") {
        if (a.has("fd") == a.boolean("anonymous")) error(at, "'mmap' takes either fd: NAME or anonymous: true");
      } else if (op == "close") {
        need_one(a, at, op, {{"fd"}, {"vm"}});
      } else if (op == "load") {
        if (a.has("size") && a.has("length")) error(at, "'load' takes size or length, not both");
        size_ok("size");
      } else if (op == "store") {
        if (a.has("data") && (a.has("value") || a.has("size"))) error(at, "'store' takes value (and size) or data");
        size_ok("size");
      } else if (op == "host_kernel") {
        need_one(a, at, op, {{"hpa"}, {"pfn"}, {"fd", "offset"}, {"map", "offset"}});
        size_ok("size");
      } else if (op == "dram_read") {
        need_one(a, at, op, {{"hpa"}, {"pfn"}, {"fd", "offset"}, {"map", "offset"}});
      } else if (op == "inspect") {
        int forms = (a.has("vm") ? 1 : 0) + (a.has("fd") ? 1 : 0) + (a.has("hpa") ? 1 : 0) + (a.has("pfn") ? 1 : 0);
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

  void parse_expect(const OpSpec& spec, const YNode& n, Expect& e, const Args& args) {
    e.present = true;
    if (n.is_scalar() && n.text() == "any") {
      e.any = true;
      return;
    }
    if (!n.is_map()) return error(n, "'expect' must be a mapping of result fields, or 'any'");
    for (size_t i = 0; i < n.size(); ++i) {
      const YNode key = n.key(i), v = n.value(i);
      if (key.text() == "not") {
        if (!v.is_map()) {
          error(v, "'not' must be a mapping of result fields");
          continue;
        }
        for (size_t j = 0; j < v.size(); ++j) expect_item(spec, v.key(j), v.value(j), true, e, args);
        continue;
      }
      expect_item(spec, key, v, false, e, args);
    }
  }

  // Fields a result has only on one architecture, or only with a model not built yet.
  bool result_available(const YNode& key, const std::string& k) {
    const ResultLimit* lim = result_limit(k);
    if (!lim) return true;
    if (lim->arch != arch_) {
      error(key, "'" + k + "' is an " + arch_name(lim->arch) + " result: this platform is " + arch_name(arch_) +
                     (lim->instead[0] ? std::string(" (") + lim->instead + ")" : ""));
      return false;
    }
    if (lim->not_built[0]) {
      error(key, "'" + k + "' " + lim->not_built);
      return false;
    }
    return true;
  }

  void expect_item(const OpSpec& spec, const YNode& key, const YNode& v, bool negate, Expect& e,
                   const Args& args) {
    const std::string k = key.str();
    if (!spec.has_result(k)) {
      error(key, "'" + k + "' is not a result of '" + spec.name + "'" + did_you_mean(k, spec.results) +
                     " (its results: " + (spec.results.empty() ? std::string("none") : join(spec.results)) + ")");
      return;
    }
    if (!result_available(key, k)) return;
    ExpectValue ev;
    // Lists: `args` (leading elements), and wherever the input takes a list
    // (flags) or a set of names (exit).
    const bool list_ok = k == "args" || k == "flags" || k == "exit";
    if (v.is_seq() && list_ok) {
      ev.list = true;
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v.at(i).is_scalar()) return error(v.at(i), "'" + k + "' lists scalars, not a " + v.at(i).describe());
        ev.items.push_back(v.at(i).str());
      }
    } else if (k == "args") {
      return error(v, "'args' expects a list of integers");
    } else if (!v.is_scalar()) {
      return error(v, "expected value of '" + k + "' must be a scalar" + (list_ok ? " or a list" : "") +
                          ", not a " + v.describe());
    } else {
      ev.items.push_back(v.str());
    }
    // Each item is checked as the field's scalar form would be.
    for (size_t i = 0; i < ev.items.size(); ++i) {
      const YNode at = ev.list ? v.at(i) : v;
      if (!expect_scalar(k, ev.items[i], at)) return;
    }
    if (k == "exit" && ev.list) {
      std::set<std::string> distinct(ev.items.begin(), ev.items.end());
      if (distinct.size() > 1 && !negate)
        return error(v, "a run ends with one exit: a set of " + std::to_string(distinct.size()) +
                            " different exits can never match");
    }
    if (!negate && !possible_for_vm(spec, k, ev, args, key)) return;
    e.items.push_back({k, std::move(ev), negate, v.loc()});
  }

  bool expect_scalar(const std::string& k, const std::string& s, const YNode& v) {
    if (k == "errno") {
      if (!errno_from_name(s))
        return error(v, "unknown errno '" + s + "'" + did_you_mean(s, errno_names()) + " (use names: EINVAL, ...)"), false;
    } else if (k == "signal") {
      if (!signal_from_name(s))
        return error(v, "unknown signal '" + s + "'" + did_you_mean(s, {"SIGBUS", "SIGSEGV", "none"}) +
                            " (SIGBUS, SIGSEGV, none)"),
               false;
    } else if (k == "exit") {
      if (std::find(kExitNames.begin(), kExitNames.end(), s) == kExitNames.end())
        return error(v, "unknown exit '" + s + "'" + did_you_mean(s, kExitNames) + " (expected " + join(kExitNames) + ")"),
               false;
    } else if (k == "flags") {
      // Names (PRIVATE, or A|B), none, or a number.
      if (parse_int_expr(s).value || s == "none") return true;
      size_t start = 0;
      while (start <= s.size()) {
        const size_t bar = s.find('|', start);
        const std::string name = s.substr(start, bar == std::string::npos ? std::string::npos : bar - start);
        if (!vocab::kMemoryFaultFlags.count(name))
          return error(v, "unknown flag '" + name + "'" + did_you_mean(name, vocab_names(vocab::kMemoryFaultFlags)) +
                              " (expected " + join(vocab_names(vocab::kMemoryFaultFlags)) + ", or a number)"),
                 false;
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
    } else if (k == "bytes") {
      bool hex = s.size() % 2 == 0;
      for (char c : s) hex = hex && std::isxdigit(static_cast<unsigned char>(c));
      if (!hex) return error(v, "'bytes' is a hex string, two digits per byte"), false;
    } else if (k == "value" || k == "all" || k == "gpa" || k == "size" || k == "nr" || k == "error_offset" ||
               k == "st_size" || k == "st_blksize" || k == "refcount" || k == "ret" || k == "syndrome" ||
               k == "hpfar" || k == "stage2_size" || k == "args") {
      if (!d_.int_of(v, "'" + k + "'")) return false;
    } else if (k == "hpa") {
      if (s != "none" && !d_.int_of(v, "'hpa' (an integer or none)")) return false;
    } else if (k == "host_mapped" || k == "is_write") {
      if (!parse_bool(s)) return error(v, "'" + k + "' expects true or false"), false;
    }
    return true;
  }

  // Where the VM's type is known (its KVM_CREATE_VM is in the file), refuse
  // what that type can never produce. Only a `default` VM has such results:
  bool possible_for_vm(const OpSpec& spec, const std::string& k, const ExpectValue& ev, const Args& args,
                       const YNode& key) {
    if (spec.name != "KVM_RUN" || (k != "flags" && k != "exit")) return true;
    auto it = vm_types_.find(args.str("vm"));
    if (it == vm_types_.end() || it->second != "default") return true;
    if (k == "flags") {
      // It has no private memory: KVM_SET_MEMORY_ATTRIBUTES refuses PRIVATE,
      // and KVM takes a fault's private flag from the GFN's attribute
      // (kvm_mem_is_private()), so its memory-fault exits are never private.
      bool wants_private = false;
      for (const auto& s : ev.items) {
        if (s.find("PRIVATE") != std::string::npos) wants_private = true;
        if (auto n = parse_int_expr(s).value) wants_private |= (*n & vocab::kMemoryFaultFlags.at("PRIVATE")) != 0;
      }
      if (!wants_private) return true;
      error(key, "'flags: PRIVATE' cannot happen on VM '" + it->first +
                     "': a 'default' VM has no private memory, so its memory faults are never private");
      return false;
    }
    // KVM_HC_MAP_GPA_RANGE exits to the VMM only where KVM_CAP_EXIT_HYPERCALL
    // is enabled for it, which is for VMs with private memory; a `default`
    // VM's guest gets -KVM_ENOSYS back, and no other hypercall exits.
    if (std::find(ev.items.begin(), ev.items.end(), "KVM_EXIT_HYPERCALL") == ev.items.end()) return true;
    error(key, "'exit: KVM_EXIT_HYPERCALL' cannot happen on VM '" + it->first +
                   "': a 'default' VM's guest gets -KVM_ENOSYS for KVM_HC_MAP_GPA_RANGE, without an exit");
    return false;
  }

  std::string file_;
  LoadOptions opt_;
  std::vector<ScenarioError> errs_;
  Diagnostics d_;
  std::shared_ptr<const YamlTree> doc_;
  Arch arch_ = Arch::X86Tdx;
  std::map<NameKind, std::set<std::string>> names_;
  std::map<std::string, std::string> vm_types_;  // VM name -> its KVM_CREATE_VM type
};

}  // namespace

LoadResult load_scenario_text(const std::string& file, const std::string& text, const LoadOptions& options) {
  return Loader(file, options).run(text);
}

LoadResult load_scenario_text(const std::string& file, const std::string& text,
                              const std::optional<Arch>& arch_override) {
  LoadOptions o;
  o.arch = arch_override;
  return load_scenario_text(file, text, o);
}

LoadResult load_scenario(const std::string& file, const LoadOptions& options) {
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
  return load_scenario_text(file, text, options);
}

LoadResult load_scenario(const std::string& file, const std::optional<Arch>& arch_override) {
  LoadOptions o;
  o.arch = arch_override;
  return load_scenario(file, o);
}

}  // namespace cocosim
