// The `platform:` section: what it holds, how it is read (from the file, then
// each --set, then --arch), which keys are refused and why, and how the
// resolved platform is printed (`cocosim config`).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kvm/vm_type.h"
#include "scenario/diagnostics.h"

namespace cocosim {

struct Timing {
  double insn_ns = 0.5, dram_ns = 50, mee_ns = 4, walk_level_ns = 2, tlb_hit_ns = 0.5, vm_exit_ns = 1000,
         seamcall_ns = 2000, hvc_ns = 800, tlb_shootdown_ns = 2000, ioctl_ns = 500,
         invept_ns = 200, tlbi_ns = 50;
};

struct PlatformConfig {
  Arch arch = Arch::X86Tdx;
  bool arch_from_file = false;
  unsigned cpus = 1;
  uint64_t dram = uint64_t{1} << 30;
  // x86-tdx: ci (TD bit + MAC per line, TDX parts' default), li (TD bit
  // only) or off (no engine, no TDs); always off on arm64.
  std::string encryption = "ci";
  unsigned gpaw = 48;              // x86-tdx
  unsigned ipa_bits = 48;          // arm64-pkvm
  uint64_t seed = 1;
  Timing timing;
  uint64_t quantum_ns = 1000;  // vCPU temporal-decoupling quantum
  bool thp = false;            // transparent huge pages for anonymous memory
  unsigned tlb_entries = 1024;     // 4 KiB entries per vCPU TLB
  unsigned tlb_huge_entries = 32;  // 2 MiB entries per vCPU TLB
};

// Reads platform keys from any number of sources into one PlatformConfig,
// remembering where each key was given, so that the checks that depend on
// the final architecture are made once, at the place the key was written.
class PlatformReader {
 public:
  PlatformReader(PlatformConfig& p, Diagnostics& d) : p_(p), d_(d) {}

  // The file's `platform:` mapping.
  void read_file(const YNode& platform);
  // One `--set KEY=VALUE` argument, the n-th (1-based); reported as --set:n:COL.
  void read_set(const std::string& arg, int n);
  // After every source: --arch wins, then platform.arch must be known, and
  // keys are checked against the final arch and the not-modelled-yet table.
  // `where` locates a missing arch: the file's platform mapping, or its root
  // when the file has none (`have_platform`).
  void finish(const std::optional<Arch>& arch_override, const std::string& file, SourceLoc where,
              bool have_platform);

 private:
  struct Given {
    std::string path;  // leaf key: "timing.dram"
    std::string origin;
    SourceLoc loc;
  };
  void given(const std::string& path, const std::string& origin, SourceLoc at);
  bool was_given(const std::string& path) const;
  void key(const std::string& path, const std::string& origin, SourceLoc key_loc, const YNode& v);

  PlatformConfig& p_;
  Diagnostics& d_;
  std::vector<Given> given_;  // in the order first given; where each was last set
};

// The resolved platform as YAML, every default filled in; only keys that
// take effect on its arch (so the text is itself a valid `platform:`).
std::string platform_yaml(const PlatformConfig& p);

}  // namespace cocosim
