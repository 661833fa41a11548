#include "trace/gtkw_writer.h"

#include <algorithm>

namespace cocosim {

namespace {

// GTKWave's trace flags (analyzer.h): TR_HEX 0x2, TR_DEC 0x4, TR_BIN 0x8,
// TR_RJUSTIFY 0x20, TR_FTRANSLATED 0x2000 (a translate filter file), and
// the group markers TR_GRP_BEGIN 0x800000 / TR_GRP_END 0x1000000 with TR_BLANK 0x200.
constexpr unsigned kHex = 0x2, kDec = 0x4, kBin = 0x8, kRjustify = 0x20, kFiltered = 0x2000;
constexpr unsigned kGroupBegin = 0x800200, kGroupEnd = 0x1000200;

// The group a scope shows in: what follows "platform." (vcpu0, kvm.vm0.vcpu0, bus, ...).
std::string group_of(const std::string& scope) {
  const std::string top = "platform.";
  return scope.rfind(top, 0) == 0 ? scope.substr(top.size()) : scope;
}

// Order of the groups: vCPUs first, then KVM, memory, the bus, TDX, pKVM.
int group_rank(const std::string& g) {
  static const char* const kOrder[] = {"vcpu", "kvm", "gmem", "host", "bus", "mee", "dram", "tdx", "pkvm"};
  for (int i = 0; i < int(std::size(kOrder)); ++i)
    if (g.rfind(kOrder[i], 0) == 0) return i;
  return int(std::size(kOrder));
}

// How GTKWave names a signal of the VCD: scope.name, with [msb:0] for vectors.
std::string trace_name(const VcdWriter::Signal& s) {
  std::string n = s.scope + "." + s.name;
  for (char& c : n)
    if (c == ' ' || c == '\t' || c == '$') c = '_';
  if (s.width > 1) n += "[" + std::to_string(s.width - 1) + ":0]";
  return n;
}

bool is_address(const std::string& name) {
  return name == "gpa" || name == "addr" || name.find("gpa") != std::string::npos ||
         name.find("pfn") != std::string::npos || name.find("gfn") != std::string::npos;
}

}  // namespace

void write_gtkw_filter(std::ostream& out, const std::map<uint64_t, std::string>& names) {
  out << "# cocosim: values of this signal by name (GTKWave translate filter)\n";
  for (const auto& [v, name] : names) {
    std::string n = name;
    for (char& c : n)
      if (c == ' ' || c == '\t' || c == '\n') c = '_';
    out << v << ' ' << n << '\n';
  }
}

void write_gtkw(std::ostream& out, const std::string& dumpfile,
                const std::vector<VcdWriter::Signal>& signals,
                const std::map<std::string, std::string>& filters, uint64_t end_ps) {
  out << "[*] cocosim: GTKWave save file for " << dumpfile << "\n";
  out << "[dumpfile] \"" << dumpfile << "\"\n";
  out << "[timestart] 0\n";
  out << "[size] 1400 800\n";
  out << "[signals_width] 320\n";
  out << "[sst_expanded] 1\n";
  out << "[sst_vpaned_height] 200\n";
  out << "[*] the run ends at " << end_ps << " ps: Time > Zoom > Zoom Best Fit shows it all\n";

  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < signals.size(); ++i) groups[group_of(signals[i].scope)].push_back(i);
  std::vector<std::string> order;
  for (const auto& [g, ids] : groups) order.push_back(g);
  std::stable_sort(order.begin(), order.end(),
                   [](const std::string& a, const std::string& b) { return group_rank(a) < group_rank(b); });

  // Filter files are numbered in the order they are first used.
  std::map<std::string, int> filter_index;
  for (const std::string& g : order) {
    out << "@" << std::hex << kGroupBegin << std::dec << "\n-" << g << "\n";
    for (size_t i : groups[g]) {
      const VcdWriter::Signal& s = signals[i];
      unsigned flags = kRjustify;
      auto f = filters.find(s.name);
      if (f != filters.end()) {
        // The filter in force is the last "^N file" line: named before each signal.
        auto it = filter_index.try_emplace(f->second, int(filter_index.size()) + 1).first;
        out << "^" << it->second << " " << f->second << "\n";
        flags |= kDec | kFiltered;
      } else if (s.width == 1 || s.event) {
        flags |= kBin;
      } else if (is_address(s.name)) {
        flags |= kHex;
      } else {
        flags |= kDec;
      }
      out << "@" << std::hex << flags << std::dec << "\n" << trace_name(s) << "\n";
    }
    out << "@" << std::hex << kGroupEnd << std::dec << "\n-" << g << "\n";
  }
  out << "[pattern_trace] 1\n[pattern_trace] 0\n";
}

}  // namespace cocosim
