#include <doctest/doctest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "scenario/scenario.h"

using namespace cocosim;

namespace {

LoadResult load(const std::string& text, std::optional<Arch> arch = std::nullopt) {
  return load_scenario_text("t.yaml", text, arch);
}

// 1-based column of `token` on 1-based line `line` of `text`.
int col_of(const std::string& text, int line, const std::string& token) {
  std::istringstream in(text);
  std::string l;
  for (int i = 1; std::getline(in, l); ++i)
    if (i == line) {
      const size_t at = l.find(token);
      REQUIRE(at != std::string::npos);
      return int(at) + 1;
    }
  FAIL("no line " << line);
  return 0;
}

std::string all_errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.str() + "\n";
  return s;
}

// The load failed, and one of its errors is at LINE:COL and mentions `what`.
bool has_error(const LoadResult& r, int line, int col, const std::string& what) {
  if (r.scenario) return false;
  for (const auto& e : r.errors)
    if (e.loc.line == line && e.loc.col == col && e.message.find(what) != std::string::npos) return true;
  return false;
}

const std::string kHead = "platform: {arch: x86-tdx}\nsteps:\n";  // steps start on line 3

}  // namespace

// (Under -fsanitize=address this file also guards against steps keeping
// handles into a document that is gone: Args share the scenario's YamlTree.)
TEST_CASE("Scenario loader: a minimal valid file loads") {
  LoadResult r = load(
      "name: minimal\n"
      "platform: {arch: arm64-pkvm}\n"
      "steps:\n"
      "  - KVM_CREATE_VM: {name: vm0, type: pkvm}\n"
      "    note: first\n");
  INFO(all_errors(r));
  REQUIRE(r.errors.empty());
  REQUIRE(r.scenario);
  const Scenario& s = *r.scenario;
  CHECK(s.name == "minimal");
  CHECK(s.file == "t.yaml");
  CHECK(s.platform.arch == Arch::Arm64Pkvm);
  CHECK(s.platform.arch_from_file);
  REQUIRE(s.steps.size() == 1);
  CHECK(s.steps[0].number == 1);
  CHECK(s.steps[0].op == "KVM_CREATE_VM");
  CHECK(s.steps[0].args.str("name") == "vm0");
  CHECK(s.steps[0].args.str("type") == "pkvm");
  CHECK(s.steps[0].note == "first");
  CHECK(s.steps[0].loc.line == 4);
  CHECK(s.steps[0].loc.col == 5);
  CHECK_FALSE(s.steps[0].expect.present);
}

TEST_CASE("Scenario loader: integers, flags and platform fields are parsed") {
  LoadResult r = load(
      "platform: {arch: x86-tdx, cpus: 1, dram: 64GiB, gpaw: 52, quantum: 2us}\n"
      "steps:\n"
      "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
      "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: 4*4KiB + 2MiB, flags: [MMAP, INIT_SHARED]}\n"
      "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: h, size: 4KiB, flags: 0x4, expect: {errno: EINVAL}}\n");
  INFO(all_errors(r));
  REQUIRE(r.scenario);
  const Scenario& s = *r.scenario;
  CHECK(s.platform.cpus == 1);
  CHECK(s.platform.dram == (uint64_t{64} << 30));
  CHECK(s.platform.gpaw == 52);
  CHECK(s.platform.quantum_ns == 2000);
  REQUIRE(s.steps.size() == 3);
  CHECK(s.steps[1].args.u64("size") == 4 * 4096 + (2u << 20));
  CHECK(s.steps[1].args.flags("flags", {{"MMAP", 1}, {"INIT_SHARED", 2}}) == 3);
  CHECK(s.steps[2].args.flags("flags", {{"MMAP", 1}, {"INIT_SHARED", 2}}) == 4);
  CHECK(s.steps[2].expect.present);
  CHECK(s.steps[2].expect.names("errno"));
}

TEST_CASE("Scenario loader: an unknown operation is reported at its key") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                        "  - KVM_CREATE_VMX: {name: vm1}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, 5, "KVM_CREATE_VMX"));
}

TEST_CASE("Scenario loader: an unknown guest op is reported at its key inside the program") {
  const std::string t =
      "platform: {arch: x86-tdx}\n"
      "programs:\n"
      "  boot:\n"
      "    - store: {gpa: 0x1000, value: 1}\n"
      "    - jump: {gpa: 0x1000}\n"
      "steps: []\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 5, 7, "jump"));
}

TEST_CASE("Scenario loader: an unknown field is reported at the field's key") {
  const std::string t = kHead + "  - KVM_CREATE_VM: {name: vm0, typo: default}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 3, col_of(t, 3, "typo"), "typo"));
}

TEST_CASE("Scenario loader: a value of the wrong type is reported at the value") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                        "  - KVM_SET_MEMORY_ATTRIBUTES: {vm: vm0, address: [1], size: 4KiB}\n"
                        "  - KVM_CREATE_VM: {name: vm1, type: riscv}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, col_of(t, 4, "[1]"), "address"));
  CHECK(has_error(r, 5, col_of(t, 5, "riscv"), "type"));
}

TEST_CASE("Scenario loader: a bad size literal is reported at the character that fails") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                        "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: 4KB}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, col_of(t, 4, "4KB") + 1, "4KB"));
}

TEST_CASE("Scenario loader: a name used before it was made is reported at the name") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                        "  - mmap: {fd: later, name: m, offset: 0, length: 4KiB}\n"
                        "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: later, size: 4KiB}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, col_of(t, 4, "later"), "later"));
}

TEST_CASE("Scenario loader: a name made by a step is known from the next step on") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                        "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: 4KiB, flags: [MMAP]}\n"
                        "  - mmap: {fd: g, name: m, length: 4KiB}\n"
                        "  - load: {map: m, offset: 0}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(r.errors.empty());
}

TEST_CASE("Scenario loader: a missing required field is reported at the mapping that lacks it") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                        "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g}\n"
                        "  - KVM_CREATE_GUEST_MEMFD:\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, col_of(t, 4, "{"), "size"));
  CHECK(has_error(r, 5, 5, "vm"));  // no fields at all: at the operation
}

TEST_CASE("Scenario loader: an unknown errno in expect is reported at the value") {
  const std::string t = kHead + "  - KVM_CREATE_VM: {name: vm0, type: sw_protected, expect: {errno: EWHATEVER}}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 3, col_of(t, 3, "EWHATEVER"), "EWHATEVER"));
}

TEST_CASE("Scenario loader: an expected field that the op does not return is reported at its key") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                        "    expect: {signal: SIGBUS}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, col_of(t, 4, "signal"), "signal"));
}

TEST_CASE("Scenario loader: expect inside the op's mapping means the same as beside it") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected, expect: {errno: EINVAL}}\n"
                        "  - KVM_CREATE_VM: {name: vm1, type: sw_protected}\n"
                        "    expect: {errno: EINVAL}\n"
                        "  - KVM_CREATE_VM: {name: vm2, type: sw_protected, expect: any}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  REQUIRE(r.scenario);
  for (int i = 0; i < 2; ++i) {
    const Expect& e = r.scenario->steps[i].expect;
    CHECK(e.present);
    REQUIRE(e.items.size() == 1);
    CHECK(e.items[0].field == "errno");
    CHECK(e.items[0].value.text() == "EINVAL");
  }
  CHECK(r.scenario->steps[2].expect.any);
}

TEST_CASE("Scenario loader: expect given twice is an error") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected, expect: {errno: EINVAL}}\n"
                        "    expect: {errno: EINVAL}\n";
  LoadResult r = load(t);
  CHECK_FALSE(r.scenario);
  CHECK_FALSE(r.errors.empty());
}

TEST_CASE("Scenario loader: not: inside expect negates its fields") {
  const std::string t = kHead + "  - KVM_CREATE_VM: {name: vm0, type: sw_protected, expect: {not: {errno: EINVAL}}}\n";
  LoadResult r = load(t);
  REQUIRE(r.scenario);
  const Expect& e = r.scenario->steps[0].expect;
  REQUIRE(e.items.size() == 1);
  CHECK(e.items[0].negate);
  CHECK(e.items[0].field == "errno");
}

TEST_CASE("Scenario loader: two operations in one step are reported at the second") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                        "    KVM_CREATE_VCPU: {vm: vm0}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, 5, "KVM_CREATE_VCPU"));
}

TEST_CASE("Scenario loader: an operation that is not built yet is refused") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: pkvm}\n"
                        "  - hvc: {call: __pkvm_host_share_hyp, pfn: 1}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, 5, "hvc"));
}

TEST_CASE("Scenario loader: access sizes other than 1, 2, 4 or 8 are refused") {
  const std::string t =
      "platform: {arch: x86-tdx}\n"
      "programs:\n"
      "  p:\n"
      "    - load: {gpa: 0x1000, size: 3}\n"
      "steps: []\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, col_of(t, 4, "3}"), "size"));
}

TEST_CASE("Scenario loader: errors carry FILE:LINE:COL in their text") {
  LoadResult r = load(kHead + "  - NOPE: {}\n");
  REQUIRE_FALSE(r.errors.empty());
  CHECK(r.errors[0].str().rfind("t.yaml:3:5: ", 0) == 0);
}

TEST_CASE("Scenario loader: an empty text is an error at 1:1") {
  for (const char* text : {"", "\n\n", "# only a comment\n", "~\n"}) {
    CAPTURE(std::string(text));
    LoadResult r;
    CHECK_NOTHROW(r = load(text));
    CHECK_FALSE(r.scenario);
    REQUIRE_FALSE(r.errors.empty());
    CHECK(r.errors[0].loc.line == 1);
    CHECK(r.errors[0].loc.col == 1);
  }
}

TEST_CASE("Scenario loader: a list or a scalar at the top level is an error") {
  LoadResult l = load("- platform: {arch: x86-tdx}\n- steps: []\n");
  CHECK_FALSE(l.scenario);
  REQUIRE_FALSE(l.errors.empty());
  CHECK(l.errors[0].message.find("list") != std::string::npos);
  CHECK(l.errors[0].loc.line == 1);
  LoadResult s = load("hello\n");
  CHECK_FALSE(s.scenario);
  CHECK_FALSE(s.errors.empty());
}

TEST_CASE("Scenario loader: missing platform or steps is an error") {
  CHECK_FALSE(load("steps: []\n").scenario);
  CHECK_FALSE(load("platform: {arch: x86-tdx}\n").scenario);
  CHECK_FALSE(load("platform: {cpus: 2}\nsteps: []\n").scenario);
  CHECK_FALSE(load("platform: {arch: riscv-cove}\nsteps: []\n").scenario);
  CHECK_FALSE(load("platform: {arch: x86-tdx}\nsteps: {a: 1}\n").scenario);
  CHECK_FALSE(load("platform: {arch: x86-tdx}\nsteps: []\nextra: 1\n").scenario);
}

TEST_CASE("Scenario loader: the --arch override wins over platform.arch") {
  const std::string t = "platform: {arch: arm64-pkvm}\nsteps: []\n";
  LoadResult plain = load(t);
  REQUIRE(plain.scenario);
  CHECK(plain.scenario->platform.arch == Arch::Arm64Pkvm);
  LoadResult over = load(t, Arch::X86Tdx);
  REQUIRE(over.scenario);
  CHECK(over.scenario->platform.arch == Arch::X86Tdx);
  LoadResult back = load("platform: {arch: x86-tdx}\nsteps: []\n", Arch::Arm64Pkvm);
  REQUIRE(back.scenario);
  CHECK(back.scenario->platform.arch == Arch::Arm64Pkvm);
}

TEST_CASE("Scenario loader: with --arch a file may leave out the platform") {
  CHECK_FALSE(load("steps: []\n").scenario);
  LoadResult r = load("steps: []\n", Arch::Arm64Pkvm);
  INFO(all_errors(r));
  REQUIRE(r.scenario);
  CHECK(r.scenario->platform.arch == Arch::Arm64Pkvm);
}

TEST_CASE("Scenario loader: binary junk never throws and is always an error") {
  std::string junk;
  for (int i = 0; i < 256; ++i) junk.push_back(char(i));
  junk += junk;
  LoadResult r;
  CHECK_NOTHROW(r = load(junk));
  CHECK_FALSE(r.scenario);
  CHECK_FALSE(r.errors.empty());
  CHECK_NOTHROW(r = load(std::string("\xff\xfe\x00\x01steps: []", 12)));
  CHECK_FALSE(r.errors.empty());
}

TEST_CASE("Scenario loader: 200 random byte strings never throw and always give an error") {
  std::mt19937_64 rng(20261121);
  for (int n = 0; n < 200; ++n) {
    CAPTURE(n);
    const size_t len = size_t(rng() % 300);
    std::string s(len, '\0');
    for (auto& c : s) c = char(rng() & 0xff);
    LoadResult r;
    CHECK_NOTHROW(r = load(s));
    CHECK_FALSE(r.scenario);
    CHECK_FALSE(r.errors.empty());
  }
}

TEST_CASE("Scenario loader: random YAML-shaped text never throws and errors go with no scenario") {
  const char* pieces[] = {"platform:", " {arch: x86-tdx}", "steps:", "\n", "  - ", "KVM_CREATE_VM:", " {",
                          "}",         "[",               "]",      ":", ", ", "name: vm0", "type: tdx",
                          "expect:",   " {errno: EINVAL}", "not:",  "&a ", "*a", "!!str ", "'", "\"",
                          "programs:", "  p:", "    - load: {gpa: 1}", "repeat: {count: 2, body: ", "? ",
                          "- ", "#", "---\n", "...\n", "|\n", ">\n", "\t", "0x", "4KiB", "*"};
  std::mt19937_64 rng(7);
  for (int n = 0; n < 300; ++n) {
    CAPTURE(n);
    std::string s;
    const int k = int(rng() % 40);
    for (int i = 0; i < k; ++i) s += pieces[rng() % (sizeof pieces / sizeof *pieces)];
    CAPTURE(s);
    LoadResult r;
    CHECK_NOTHROW(r = load(s));
    CHECK(r.scenario.has_value() == r.errors.empty());
  }
}

TEST_CASE("Scenario loader: a deeply nested document does not crash") {
  std::string deep = "platform: {arch: x86-tdx}\nsteps: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  LoadResult r;
  CHECK_NOTHROW(r = load(deep));
  CHECK_FALSE(r.scenario);
  CHECK_FALSE(r.errors.empty());
}

// In a quoted scalar the error points at the failing character, not the quote.
TEST_CASE("Scenario loader: a bad literal in a quoted scalar points at the failing character") {
  const std::string t = kHead +
                        "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
                        "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: \"4KB\"}\n";
  LoadResult r = load(t);
  INFO(all_errors(r));
  CHECK(has_error(r, 4, col_of(t, 4, "4KB") + 1, "4KB"));
}

// `byte:` is 0..255 (scenario-format section 2): 256 is refused at load time.
TEST_CASE("Scenario loader: memset byte must be 0..255") {
  const std::string t =
      "platform: {arch: x86-tdx}\n"
      "programs:\n"
      "  p:\n"
      "    - memset: {gpa: 0x1000, length: 16, byte: 256}\n"
      "steps: []\n";
  LoadResult r = load(t);
  CHECK(has_error(r, 4, col_of(t, 4, "256"), "byte"));
}
