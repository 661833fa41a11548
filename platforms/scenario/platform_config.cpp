#include "scenario/platform_config.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "scenario/int_expr.h"
#include "scenario/suggest.h"

namespace cocosim {

namespace {

// Keys that are read but have no effect yet. The issue that makes one work
// deletes its line here (and `accepted`, when set, is the value that is what
// the model already does).
struct NotModelledYet {
  const char* key;
  bool (*accepted)(const PlatformConfig&);
  const char* reason;
};
const NotModelledYet kNotModelledYet[] = {
    {"cpus", [](const PlatformConfig& p) { return p.cpus == 1; },
     "must be 1 for now: one physical CPU is modelled, and vCPUs take turns on it"},
    // The engine's keys come from the seed and its lines cost timing.mee: both
    // do something only where there is an engine.
    {"seed", [](const PlatformConfig& p) { return p.arch == Arch::X86Tdx && p.encryption != "off"; },
     "has no effect here: it seeds the memory encryption engine's keys, which only x86-tdx with "
     "encryption ci or li has"},
    {"timing.mee", [](const PlatformConfig& p) { return p.encryption != "off"; },
     "has no effect with encryption: off (no memory encryption engine to charge)"},
};

// Keys that mean something on one architecture only.
struct ArchOnly {
  const char* key;
  Arch arch;
};
// The TLB invalidation costs follow the architecture's sequence: x86 sends an
// IPI (tlb_shootdown) and runs INVEPT on each vCPU; arm64 broadcasts TLBIs.
const ArchOnly kArchOnly[] = {{"encryption", Arch::X86Tdx},          {"gpaw", Arch::X86Tdx},
                              {"timing.mee", Arch::X86Tdx},
                              {"ipa_bits", Arch::Arm64Pkvm},         {"timing.tlb_shootdown", Arch::X86Tdx},
                              {"timing.invept", Arch::X86Tdx},       {"timing.tlbi", Arch::Arm64Pkvm},
                              {"timing.seamcall", Arch::X86Tdx},     {"timing.hvc", Arch::Arm64Pkvm}};

const std::vector<std::string> kTopKeys = {"arch", "cpus",    "dram", "encryption", "gpaw", "ipa_bits",
                                           "seed", "quantum", "thp",  "timing",     "tlb"};
const std::vector<std::string> kTlbKeys = {"entries", "huge_entries"};

struct Latency {
  const char* name;
  double Timing::*field;
};
const Latency kLatencies[] = {
    {"dram", &Timing::dram_ns},         {"mee", &Timing::mee_ns},
    {"walk_level", &Timing::walk_level_ns}, {"tlb_hit", &Timing::tlb_hit_ns},
    {"vm_exit", &Timing::vm_exit_ns},   {"seamcall", &Timing::seamcall_ns},
    {"hvc", &Timing::hvc_ns},           {"tlb_shootdown", &Timing::tlb_shootdown_ns},
    {"ioctl", &Timing::ioctl_ns},       {"invept", &Timing::invept_ns},
    {"tlbi", &Timing::tlbi_ns},         {"insn", &Timing::insn_ns}};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

const NotModelledYet* not_modelled(const std::string& key) {
  for (const auto& n : kNotModelledYet)
    if (key == n.key) return &n;
  return nullptr;
}

const ArchOnly* arch_only(const std::string& key) {
  for (const auto& a : kArchOnly)
    if (key == a.key) return &a;
  return nullptr;
}

// A key takes effect on this platform: printed by `cocosim config`.
bool takes_effect(const std::string& key, const PlatformConfig& p) {
  if (const ArchOnly* a = arch_only(key); a && a->arch != p.arch) return false;
  const NotModelledYet* n = not_modelled(key);
  return !n || (n->accepted && n->accepted(p));
}

}  // namespace

void PlatformReader::given(const std::string& path, const std::string& origin, SourceLoc at) {
  for (auto& g : given_)
    if (g.path == path) {
      g.origin = origin, g.loc = at;
      return;
    }
  given_.push_back({path, origin, at});
}

bool PlatformReader::was_given(const std::string& path) const {
  for (const auto& g : given_)
    if (g.path == path) return true;
  return false;
}

void PlatformReader::read_file(const YNode& platform) {
  if (!platform.is_map()) return d_.error(platform, "'platform' must be a mapping, not a " + platform.describe());
  for (size_t i = 0; i < platform.size(); ++i)
    key(platform.key(i).str(), platform.origin(), platform.key(i).loc(), platform.value(i));
}

void PlatformReader::read_set(const std::string& arg, int n) {
  const std::string origin = "--set";
  const size_t eq = arg.find('=');
  if (eq == std::string::npos)
    return d_.error(origin, {n, 1}, "expected KEY=VALUE, such as platform.timing.dram=100ns, not '" + arg + "'");
  const std::string path = arg.substr(0, eq);
  const std::string prefix = "platform.";
  if (path.compare(0, prefix.size(), prefix) != 0 || path.size() == prefix.size())
    return d_.error(origin, {n, 1}, "--set overrides a platform key: platform.KEY=VALUE, not '" + path + "'");
  std::vector<YamlError> errs;
  auto tree = YamlTree::parse(arg.substr(eq + 1), origin, &errs, n - 1, int(eq + 1));
  for (const auto& e : errs) d_.error(origin, e.loc, e.message);
  if (!errs.empty()) return;
  YNode v = tree->root();
  if (!v) v = YNode();  // an empty value: reported as a missing value below
  // Nested keys (platform.timing.dram) are given one level at a time, each
  // located at its own column of the argument.
  std::string rest = path.substr(prefix.size());
  const int col = int(prefix.size()) + 1;
  const size_t dot = rest.find('.');
  if (dot != std::string::npos && (rest.compare(0, dot, "timing") == 0 || rest.compare(0, dot, "tlb") == 0)) {
    if (!v) return d_.error(origin, {n, int(eq) + 2}, "--set " + path + "= needs a value");
    return key(rest, origin, {n, col + int(dot) + 1}, v);
  }
  if (!v) return d_.error(origin, {n, int(eq) + 2}, "--set " + path + "= needs a value");
  key(rest, origin, {n, col}, v);
}

void PlatformReader::key(const std::string& path, const std::string& origin, SourceLoc at, const YNode& v) {
  const std::string what = "platform." + path;
  const size_t dot = path.find('.');
  const std::string group = dot == std::string::npos ? "" : path.substr(0, dot);
  const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
  if (path == "timing" || path == "tlb") {
    if (!v.is_map()) return d_.error(v, "'" + what + "' must be a mapping, not a " + v.describe());
    for (size_t i = 0; i < v.size(); ++i)
      key(path + "." + v.key(i).str(), v.origin(), v.key(i).loc(), v.value(i));
    return;
  }
  if (group == "timing") {
    for (const auto& l : kLatencies)
      if (leaf == l.name) {
        given(path, origin, at);
        if (auto ns = d_.time_of(v, "timing." + leaf)) p_.timing.*l.field = *ns;
        return;
      }
    std::vector<std::string> names;
    for (const auto& l : kLatencies) names.push_back(l.name);
    return d_.error(origin, at, "unknown latency 'timing." + leaf + "'" + did_you_mean(leaf, names) +
                                    " (expected " + join(names) + ")");
  }
  if (group == "tlb") {
    if (leaf != "entries" && leaf != "huge_entries")
      return d_.error(origin, at, "unknown key '" + what + "'" + did_you_mean(leaf, kTlbKeys) +
                                      " (expected entries, huge_entries)");
    given(path, origin, at);
    if (auto x = d_.int_of(v, what)) {
      if (*x == 0 || *x > 65536 || (*x & (*x - 1)))
        return d_.error(v, what + " must be a power of two from 1 to 65536");
      (leaf == "entries" ? p_.tlb_entries : p_.tlb_huge_entries) = unsigned(*x);
    }
    return;
  }
  if (!group.empty() || std::find(kTopKeys.begin(), kTopKeys.end(), path) == kTopKeys.end())
    return d_.error(origin, at, "unknown key '" + what + "'" + did_you_mean(path, kTopKeys) + " (expected " +
                                    join(kTopKeys) + ")");
  given(path, origin, at);
  if (path == "arch") {
    auto a = v.is_scalar() ? arch_from_name(v.str()) : std::nullopt;
    if (!a) {
      const std::string got = v.is_scalar() ? v.str() : v.describe();
      return d_.error(v, "platform.arch must be x86-tdx or arm64-pkvm, not '" + got + "'" +
                             did_you_mean(got, {"x86-tdx", "arm64-pkvm"}));
    }
    p_.arch = *a;
    p_.arch_from_file = origin != "--set";
  } else if (path == "cpus") {
    if (auto x = d_.int_of(v, what)) {
      if (*x < 1 || *x > 64) d_.error(v, "platform.cpus must be 1..64");
      else p_.cpus = unsigned(*x);
    }
  } else if (path == "dram") {
    if (auto x = d_.int_of(v, what)) {
      if (*x == 0 || *x % 4096 || *x > (uint64_t{1} << 46))
        d_.error(v, "platform.dram must be a non-zero multiple of 4KiB up to 64TiB");
      else p_.dram = *x;
    }
  } else if (path == "encryption") {
    if (!v.is_scalar() || (v.text() != "ci" && v.text() != "li" && v.text() != "off"))
      d_.error(v, "platform.encryption must be ci, li or off");
    else p_.encryption = v.str();
  } else if (path == "gpaw") {
    if (auto x = d_.int_of(v, what)) {
      if (*x != 48 && *x != 52) d_.error(v, "platform.gpaw must be 48 or 52");
      else p_.gpaw = unsigned(*x);
    }
  } else if (path == "ipa_bits") {
    if (auto x = d_.int_of(v, what)) {
      if (*x < 32 || *x > 48) d_.error(v, "platform.ipa_bits must be 32..48 (a 4 KiB granule without LPA2)");
      else p_.ipa_bits = unsigned(*x);
    }
  } else if (path == "seed") {
    if (auto x = d_.int_of(v, what)) p_.seed = *x;
  } else if (path == "quantum") {
    if (auto ns = d_.time_of(v, what, 1)) p_.quantum_ns = uint64_t(*ns);
  } else if (path == "thp") {
    if (auto b = d_.bool_of(v, what)) p_.thp = *b;
  }
}

void PlatformReader::finish(const std::optional<Arch>& arch_override, const std::string& file,
                            SourceLoc where, bool have_platform) {
  if (arch_override) {
    p_.arch = *arch_override;
  } else if (!was_given("arch")) {
    d_.error(file, where, have_platform ? "missing 'platform.arch' (x86-tdx or arm64-pkvm)"
                                        : "missing 'platform' (with at least 'arch')");
    return;
  }
  // The engine is TDX's: elsewhere there is none (and the key is refused).
  if (p_.arch != Arch::X86Tdx) p_.encryption = "off";
  for (const auto& g : given_) {
    const std::string& path = g.path;
    if (const ArchOnly* a = arch_only(path); a && a->arch != p_.arch) {
      d_.error(g.origin, g.loc, "platform." + path + " is " + arch_name(a->arch) + " only (this platform is " +
                                    arch_name(p_.arch) + ")");
      continue;
    }
    if (const NotModelledYet* n = not_modelled(path); n && !(n->accepted && n->accepted(p_)))
      d_.error(g.origin, g.loc, "platform." + path + " " + n->reason);
  }
}

namespace {

std::string size_text(uint64_t v) {
  const char* units[] = {"TiB", "GiB", "MiB", "KiB"};
  const unsigned shifts[] = {40, 30, 20, 10};
  for (int i = 0; i < 4; ++i)
    if (v && v % (uint64_t{1} << shifts[i]) == 0) return std::to_string(v >> shifts[i]) + units[i];
  return std::to_string(v);
}

std::string time_text(double ns) {
  std::ostringstream o;
  o.precision(15);
  o << ns << "ns";
  return o.str();
}

}  // namespace

std::string platform_yaml(const PlatformConfig& p) {
  std::ostringstream o;
  o << "platform:\n";
  o << "  arch: " << arch_name(p.arch) << "\n";
  if (takes_effect("cpus", p)) o << "  cpus: " << p.cpus << "\n";
  o << "  dram: " << size_text(p.dram) << "\n";
  if (takes_effect("encryption", p)) o << "  encryption: " << p.encryption << "\n";
  if (takes_effect("gpaw", p)) o << "  gpaw: " << p.gpaw << "\n";
  if (takes_effect("ipa_bits", p)) o << "  ipa_bits: " << p.ipa_bits << "\n";
  if (takes_effect("seed", p)) o << "  seed: " << p.seed << "\n";
  o << "  quantum: " << time_text(double(p.quantum_ns)) << "\n";
  o << "  thp: " << (p.thp ? "true" : "false") << "\n";
  o << "  tlb:\n    entries: " << p.tlb_entries << "\n    huge_entries: " << p.tlb_huge_entries << "\n";
  o << "  timing:\n";
  for (const auto& l : kLatencies)
    if (takes_effect(std::string("timing.") + l.name, p)) o << "    " << l.name << ": " << time_text(p.timing.*l.field) << "\n";
  return o.str();
}

}  // namespace cocosim
