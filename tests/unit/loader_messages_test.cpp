// The loader's messages a user can act on, the platform keys it refuses, and
// --set / --arch / `cocosim config` (issue 6 items 6 and 9).
#include <doctest/doctest.h>

#include <string>

#include "scenario/platform_config.h"
#include "scenario/scenario.h"
#include "scenario/suggest.h"

using namespace cocosim;

namespace {

LoadResult load(const std::string& text, LoadOptions o = {}) { return load_scenario_text("t.yaml", text, o); }

std::string all_errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.str() + "\n";
  return s;
}

// One of the errors reads exactly `text` from its start (FILE:LINE:COL: ...).
bool says(const LoadResult& r, const std::string& text) {
  for (const auto& e : r.errors)
    if (e.str().rfind(text, 0) == 0) return true;
  return false;
}

// Some error names `text`, wherever it stands.
bool mentions(const LoadResult& r, const std::string& text) {
  for (const auto& e : r.errors)
    if (e.str().find(text) != std::string::npos) return true;
  return false;
}

const std::string kHead = "platform: {arch: x86-tdx}\nsteps:\n";

}  // namespace

TEST_CASE("did_you_mean: close slips only, case and transpositions included") {
  CHECK(closest("expcet", {"expect", "note"}) == "expect");
  CHECK(closest("kvm_run", {"KVM_RUN", "KVM_CREATE_VM"}) == "KVM_RUN");
  CHECK(closest("KVM_CRATE_VM", {"KVM_RUN", "KVM_CREATE_VM"}) == "KVM_CREATE_VM");
  CHECK(closest("EINVL", {"EINVAL", "ENOMEM"}) == "EINVAL");
  CHECK(closest("xyz", {"expect", "note"}).empty());
  CHECK(closest("fd", {"vm", "gpa"}).empty());  // two edits in two letters is not a slip
  CHECK(did_you_mean("flagz", {"flags"}) == " (did you mean 'flags'?)");
  CHECK(did_you_mean("zzzz", {"flags"}).empty());
  CHECK(edit_distance("ab", "ba") == 1);
}

TEST_CASE("Messages: misspelt ops, fields, flags, errnos, exits and names get a suggestion") {
  LoadResult r = load(kHead +
                      "  - KVM_CREATE_VM: {name: vm0, type: sw_protectd}\n"
                      "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: 4KiB, flagz: [MMAP]}\n"
                      "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: h, size: 4KiB, flags: [INIT_SHARD]}\n"
                      "  - fstat: {fd: g, expect: {errno: EINVL}}\n"
                      "  - fstat: {fd: gg}\n"
                      "  - load: {map: m, offset: 0, expcet: {value: 1}}\n");
  INFO(all_errors(r));
  CHECK(says(r, "t.yaml:3:38: 'KVM_CREATE_VM.type' must be one of: default, sw_protected, tdx, pkvm (did you mean 'sw_protected'?)"));
  CHECK(says(r, "t.yaml:4:60: unknown field 'flagz' for 'KVM_CREATE_GUEST_MEMFD' (did you mean 'flags'?)"));
  CHECK(says(r, "t.yaml:5:68: 'KVM_CREATE_GUEST_MEMFD.flags': unknown flag 'INIT_SHARD' (did you mean 'INIT_SHARED'?)"));
  CHECK(says(r, "t.yaml:6:36: unknown errno 'EINVL' (did you mean 'EINVAL'?)"));
  CHECK(says(r, "t.yaml:7:17: 'gg' is used before it was made: no file descriptor of that name exists at this point (did you mean 'g'?)"));
  CHECK(says(r, "t.yaml:8:31: unknown field 'expcet' for 'load' (did you mean 'expect'?)"));
}

TEST_CASE("Messages: a key beside an operation, or two operations, say which") {
  LoadResult r = load(kHead +
                      "  - fork: {name: c}\n"
                      "    nots: x\n"
                      "  - fork: {name: d}\n"
                      "    close: {fd: c}\n");
  INFO(all_errors(r));
  CHECK(says(r, "t.yaml:4:5: unknown key 'nots' beside 'fork' (did you mean 'note'?)"));
  CHECK(says(r, "t.yaml:6:5: a step has one operation: 'fork' already, then 'close'"));
  // The operation need not come first.
  LoadResult first = load(kHead + "  - expcet: {errno: 0}\n    fork: {name: c}\n");
  CHECK(says(first, "t.yaml:3:5: unknown key 'expcet' beside 'fork' (did you mean 'expect'?)"));
}

TEST_CASE("Messages: a name of the wrong kind says what it is and what was wanted") {
  LoadResult r = load(kHead +
                      "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                      "  - mmap: {anonymous: true, name: m, length: 4KiB}\n"
                      "  - fstat: {fd: m}\n"
                      "  - load: {map: vm0}\n");
  INFO(all_errors(r));
  CHECK(says(r, "t.yaml:5:17: 'm' is a mapping, but 'fstat.fd' needs a guest_memfd or VM fd"));
  CHECK(says(r, "t.yaml:6:17: 'vm0' is a VM, but 'load.map' needs a mapping"));
}

TEST_CASE("Expectations: flag and exit lists are accepted, what cannot happen is refused") {
  const std::string run = "programs: {p: []}\nsteps:\n"
                          "  - KVM_CREATE_VM: {name: d, type: default}\n"
                          "  - KVM_CREATE_VM: {name: s, type: sw_protected}\n"
                          "  - KVM_CREATE_VCPU: {vm: d, id: 0, program: p}\n"
                          "  - KVM_CREATE_VCPU: {vm: s, id: 0, program: p}\n";
  LoadResult ok = load("platform: {arch: x86-tdx}\n" + run +
                       "  - KVM_RUN: {vm: s, vcpu: 0, expect: {exit: [UCALL_DONE], flags: [PRIVATE]}}\n"
                       "  - KVM_RUN: {vm: s, vcpu: 0, expect: {flags: PRIVATE}}\n"
                       "  - KVM_RUN: {vm: d, vcpu: 0, expect: {flags: 0, not: {flags: [PRIVATE]}}}\n"
                       "  - KVM_RUN: {vm: d, vcpu: 0, expect: {not: {exit: KVM_EXIT_HYPERCALL}}}\n"
                       "  - KVM_RUN: {vm: s, vcpu: 0, expect: {exit: KVM_EXIT_HYPERCALL}}\n");
  INFO(all_errors(ok));
  REQUIRE(ok.scenario);
  const ExpectItem& e = ok.scenario->steps[4].expect.items[0];
  CHECK(e.value.list);
  CHECK(e.value.text() == "[UCALL_DONE]");

  LoadResult bad = load("platform: {arch: x86-tdx}\n" + run +
                        "  - KVM_RUN: {vm: d, vcpu: 0, expect: {flags: [PRIVATE]}}\n"
                        "  - KVM_RUN: {vm: d, vcpu: 0, expect: {flags: 0x8}}\n"
                        "  - KVM_RUN: {vm: s, vcpu: 0, expect: {exit: [UCALL_DONE, UCALL_SYNC]}}\n"
                        "  - KVM_RUN: {vm: s, vcpu: 0, expect: {flags: [SHARED]}}\n"
                        "  - KVM_RUN: {vm: s, vcpu: 0, expect: {hpfar: 0}}\n"
                        "  - inspect: {vm: s, gpa: 0, expect: {host_state: OWNED}}\n"
                        "  - inspect: {vm: s, gpa: 0, expect: {errno: [EINVAL]}}\n"
                        "  - KVM_RUN: {vm: d, vcpu: 0, expect: {exit: KVM_EXIT_HYPERCALL}}\n");
  INFO(all_errors(bad));
  CHECK(says(bad, "t.yaml:8:40: 'flags: PRIVATE' cannot happen on VM 'd'"));
  CHECK(says(bad, "t.yaml:9:40: 'flags: PRIVATE' cannot happen on VM 'd'"));
  CHECK(says(bad, "t.yaml:10:46: a run ends with one exit"));
  CHECK(says(bad, "t.yaml:11:48: unknown flag 'SHARED'"));
  CHECK(says(bad, "t.yaml:12:40: 'hpfar' is an arm64-pkvm result: this platform is x86-tdx"));
  CHECK(says(bad, "t.yaml:13:39: 'host_state' is an arm64-pkvm result: this platform is x86-tdx"));
  CHECK(says(bad, "t.yaml:14:46: expected value of 'errno' must be a scalar"));
  CHECK(says(bad, "t.yaml:15:40: 'exit: KVM_EXIT_HYPERCALL' cannot happen on VM 'd'"));
  CHECK(bad.errors.size() == 8);

  LoadResult arm = load("platform: {arch: arm64-pkvm}\n" + run +
                        "  - inspect: {vm: s, gpa: 0, expect: {host_state: OWNED}}\n"
                        "  - inspect: {vm: s, gpa: 0, expect: {sept: MAPPED}}\n"
                        "  - KVM_RUN: {vm: s, vcpu: 0, expect: {hpfar: 0}}\n");
  CHECK(says(arm, "t.yaml:9:39: 'sept' is an x86-tdx result: this platform is arm64-pkvm"));
  CHECK(arm.errors.size() == 1);  // host_state is an arm64-pkvm result
}

TEST_CASE("Platform: keys with no effect yet are refused at the key, with the reason") {
  LoadResult r = load(
      "platform:\n"
      "  arch: x86-tdx\n"
      "  cpus: 4\n"
      "  encryption: ci\n"
      "  seed: 7\n"
      "  timing: {mee: 1, seamcall: 1, hvc: 1, dram: 60}\n"
      "steps: []\n");
  INFO(all_errors(r));
  CHECK(says(r, "t.yaml:3:3: platform.cpus must be 1 for now"));
  CHECK(says(r, "t.yaml:6:33: platform.timing.hvc is arm64-pkvm only"));
  CHECK(r.errors.size() == 2);  // encryption, seed, timing.mee and timing.seamcall do something on x86-tdx
  // Without the engine, its seed and its cost do nothing: refused.
  LoadResult off = load("platform: {arch: x86-tdx, encryption: off, seed: 3, timing: {mee: 2ns}}\nsteps: []\n");
  INFO(all_errors(off));
  CHECK(says(off, "t.yaml:1:44: platform.seed has no effect here"));
  CHECK(says(off, "t.yaml:1:62: platform.timing.mee has no effect with encryption: off"));
  CHECK(off.errors.size() == 2);
  CHECK(says(load("platform: {arch: arm64-pkvm, seed: 3}\nsteps: []\n"), "t.yaml:1:30: platform.seed has no effect here"));
  CHECK(mentions(load("platform: {arch: arm64-pkvm, timing: {mee: 2ns}}\nsteps: []\n"), "platform.timing.mee is x86-tdx only"));
  LoadResult ci = load("platform: {arch: x86-tdx, seed: 9, timing: {mee: 2ns}}\nsteps: []\n");
  REQUIRE(ci.scenario);
  CHECK(ci.scenario->platform.encryption == "ci");  // TDX parts run with integrity
  CHECK(ci.scenario->platform.seed == 9);
  CHECK(ci.scenario->platform.timing.mee_ns == 2);
  LoadResult arm = load("platform: {arch: arm64-pkvm}\nsteps: []\n");
  REQUIRE(arm.scenario);
  CHECK(arm.scenario->platform.encryption == "off");
  LoadResult ok = load("platform: {arch: x86-tdx, cpus: 1, encryption: off, gpaw: 52, tlb: {entries: 64, huge_entries: 1}}\nsteps: []\n");
  INFO(all_errors(ok));
  REQUIRE(ok.scenario);
  CHECK(ok.scenario->platform.gpaw == 52);
  CHECK(ok.scenario->platform.tlb_entries == 64);
  CHECK(ok.scenario->platform.tlb_huge_entries == 1);
  CHECK(says(load("platform: {arch: x86-tdx, tlb: {entries: 0}}\nsteps: []\n"), "t.yaml:1:42: platform.tlb.entries must be a power of two"));
  CHECK(says(load("platform: {arch: x86-tdx, tlb: {huge_entries: 131072}}\nsteps: []\n"), "t.yaml:1:47: platform.tlb.huge_entries must be a power of two"));
  CHECK(says(load("platform: {arch: x86-tdx, ipa_bits: 40}\nsteps: []\n"), "t.yaml:1:27: platform.ipa_bits is arm64-pkvm only"));
  CHECK(says(load("platform: {arch: arm64-pkvm, ipa_bits: 31}\nsteps: []\n"), "t.yaml:1:40: platform.ipa_bits must be 32..48"));
  CHECK(mentions(load("platform: {arch: arm64-pkvm, ipa_bits: 52}\nsteps: []\n"), "platform.ipa_bits must be 32..48"));
  // Each architecture's invalidation has its own costs; the other's are refused.
  CHECK(mentions(load("platform: {arch: x86-tdx, timing: {tlbi: 10ns}}\nsteps: []\n"), "platform.timing.tlbi is arm64-pkvm only"));
  CHECK(mentions(load("platform: {arch: arm64-pkvm, timing: {invept: 10ns}}\nsteps: []\n"), "platform.timing.invept is x86-tdx only"));
  CHECK(mentions(load("platform: {arch: arm64-pkvm, timing: {tlb_shootdown: 10ns}}\nsteps: []\n"), "platform.timing.tlb_shootdown is x86-tdx only"));
  LoadResult costs = load("platform: {arch: x86-tdx, timing: {invept: 300ns, tlb_shootdown: 1us}}\nsteps: []\n");
  REQUIRE(costs.scenario);
  CHECK(costs.scenario->platform.timing.invept_ns == 300);
  CHECK(costs.scenario->platform.timing.tlb_shootdown_ns == 1000);
  LoadResult ipa = load("platform: {arch: arm64-pkvm, ipa_bits: 40}\nsteps: []\n");
  REQUIRE(ipa.scenario);
  CHECK(ipa.scenario->platform.ipa_bits == 40);
}

TEST_CASE("Platform: --arch is applied last, and arch-only keys are checked against it") {
  const std::string t = "platform: {arch: x86-tdx, gpaw: 52, encryption: off}\nsteps: []\n";
  CHECK(load(t).scenario);
  LoadOptions arm;
  arm.arch = Arch::Arm64Pkvm;
  LoadResult r = load(t, arm);
  INFO(all_errors(r));
  CHECK(says(r, "t.yaml:1:27: platform.gpaw is x86-tdx only (this platform is arm64-pkvm)"));
  CHECK(says(r, "t.yaml:1:37: platform.encryption is x86-tdx only"));
  // --set platform.arch, then --arch over it.
  LoadOptions both;
  both.sets = {"platform.arch=arm64-pkvm"};
  both.arch = Arch::X86Tdx;
  LoadResult b = load(t, both);
  REQUIRE(b.scenario);
  CHECK(b.scenario->platform.arch == Arch::X86Tdx);
}

TEST_CASE("Platform: --set overrides any key, with the file's checks, located at --set:N:COL") {
  LoadOptions o;
  o.sets = {"platform.timing.dram=100ns", "platform.tlb.entries=64", "platform.thp=true",
            "platform.timing={walk_level: 3ns}", "platform.dram=2GiB"};
  LoadResult r = load("platform: {arch: x86-tdx, timing: {dram: 70}}\nsteps: []\n", o);
  INFO(all_errors(r));
  REQUIRE(r.scenario);
  const PlatformConfig& p = r.scenario->platform;
  CHECK(p.timing.dram_ns == 100);
  CHECK(p.timing.walk_level_ns == 3);
  CHECK(p.tlb_entries == 64);
  CHECK(p.thp);
  CHECK(p.dram == (uint64_t{2} << 30));

  LoadOptions bad;
  bad.sets = {"platform.dram=2 MiB", "arch=x86-tdx", "platform.nope=1", "platform.quantum=0",
              "platform.timing.dram=[1"};
  LoadResult e = load(kHead, bad);
  INFO(all_errors(e));
  CHECK(says(e, "--set:1:16: platform.dram = '2 MiB': write a size without a space: '2MiB'"));
  CHECK(says(e, "--set:2:1: --set overrides a platform key"));
  CHECK(says(e, "--set:3:10: unknown key 'platform.nope'"));
  CHECK(says(e, "--set:4:18: platform.quantum must be a time"));
  CHECK(says(e, "--set:5:"));
  // A file without platform is fine when --set gives the arch.
  LoadOptions arch;
  arch.sets = {"platform.arch=arm64-pkvm"};
  LoadResult a = load("steps: []\n", arch);
  REQUIRE(a.scenario);
  CHECK(a.scenario->platform.arch == Arch::Arm64Pkvm);
}

TEST_CASE("Platform: `cocosim config` prints every default, and reads back as the same platform") {
  for (const char* arch : {"x86-tdx", "arm64-pkvm"}) {
    LoadResult r = load(std::string("platform: {arch: ") + arch + ", quantum: 300ns, tlb: {entries: 8}}\nsteps: []\n");
    REQUIRE(r.scenario);
    const std::string yaml = platform_yaml(r.scenario->platform);
    CAPTURE(yaml);
    CHECK(yaml.find("  quantum: 300ns\n") != std::string::npos);
    CHECK(yaml.find("    entries: 8\n") != std::string::npos);
    CHECK(yaml.find("    tlb_hit: 0.5ns\n") != std::string::npos);
    // Keys refused on this platform are not offered; the engine's are on x86-tdx.
    const bool x86 = std::string(arch) == "x86-tdx";
    CHECK((yaml.find("  seed: 1\n") != std::string::npos) == x86);
    CHECK((yaml.find("  encryption: ci\n") != std::string::npos) == x86);
    CHECK((yaml.find("    mee: 4ns\n") != std::string::npos) == x86);
    CHECK((yaml.find("    seamcall: 2000ns\n") != std::string::npos) == x86);  // the TDX module's, x86-tdx only
    CHECK((yaml.find("gpaw: 48") != std::string::npos) == (std::string(arch) == "x86-tdx"));
    CHECK((yaml.find("ipa_bits: 48") != std::string::npos) == (std::string(arch) == "arm64-pkvm"));
    LoadResult back = load(yaml + "steps: []\n");
    INFO(all_errors(back));
    REQUIRE(back.scenario);
    CHECK(platform_yaml(back.scenario->platform) == yaml);
  }
}
