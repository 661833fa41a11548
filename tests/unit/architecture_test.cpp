// The architecture objects: address widths, VM types, syndromes and the TLB
// invalidation sequence each architecture uses, with its cost.
#include <doctest/doctest.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <vector>

#include "arch/arm64_arch.h"
#include "arch/x86_arch.h"
#include "bus/interposer.h"

using namespace cocosim;

namespace {

// Records the invalidation instructions a vCPU receives.
struct FakeCpu : Stage2TlbControl {
  std::vector<std::string> log;
  void invept_single_context() override { log.push_back("invept"); }
  void tlbi_ipas2e1is(uint64_t a, uint64_t b) override {
    log.push_back("ipas2e1is " + std::to_string(a) + ".." + std::to_string(b));
  }
  void tlbi_vmalle1is() override { log.push_back("vmalle1is"); }
  void tlbi_vmalls12e1is() override { log.push_back("vmalls12e1is"); }
};

}  // namespace

TEST_CASE("X86Arch: GPAW picks the EPT depth, the shared bit and the GPA space") {
  Stats s;
  ArchParams p;
  X86Arch a48(p, s, "k");
  CHECK(a48.stage2_format().levels() == 4);
  CHECK(a48.shared_bit() == 47u);
  CHECK(a48.max_gfn() == (uint64_t{1} << 36));
  p.gpaw = 52;
  X86Arch a52(p, s, "k");
  CHECK(a52.stage2_format().levels() == 5);
  CHECK(a52.shared_bit() == 51u);
  CHECK(a52.max_gfn() == (uint64_t{1} << 40));
  p.gpaw = 50;
  CHECK_THROWS_AS(X86Arch(p, s, "k"), std::invalid_argument);
  CHECK(a48.gpa_beyond_errno() == EINVAL);
  CHECK(a48.pa_bits() + a48.keyid_bits() == 52u);
  CHECK_FALSE(a48.has_hpfar());
}

TEST_CASE("Arm64Arch: the IPA size sets the stage-2 levels, no shared bit, no KeyIDs") {
  Stats s;
  ArchParams p;
  p.ipa_bits = 40;
  Arm64Arch a(p, s, "k");
  CHECK(a.stage2_format().levels() == 3);
  CHECK(a.stage2_format().root_pages() == 2);
  CHECK(a.max_gfn() == (uint64_t{1} << 28));
  CHECK_FALSE(a.shared_bit().has_value());
  CHECK(a.keyid_bits() == 0u);
  CHECK(a.gpa_beyond_errno() == EFAULT);
  CHECK(a.has_hpfar());
  p.ipa_bits = 52;
  CHECK_THROWS_AS(Arm64Arch(p, s, "k"), std::invalid_argument);
}

TEST_CASE("Architectures offer their own confidential VM type only") {
  Stats s;
  auto x = make_architecture(Arch::X86Tdx, {}, s, "k");
  auto a = make_architecture(Arch::Arm64Pkvm, {}, s, "k");
  CHECK(x->vm_types() == std::vector<VmType>{VmType::Default, VmType::SwProtected, VmType::Tdx});
  CHECK(a->vm_types() == std::vector<VmType>{VmType::Default, VmType::SwProtected, VmType::Pkvm});
  CHECK(std::string(x->name()) == "x86-tdx");
  CHECK(std::string(a->name()) == "arm64-pkvm");
}

TEST_CASE("Syndromes: EPT qualification on x86, ESR_EL2 and HPFAR_EL2 on arm64") {
  Stats s;
  auto x = make_architecture(Arch::X86Tdx, {}, s, "k");
  auto a = make_architecture(Arch::Arm64Pkvm, {}, s, "k");
  Stage2Fault f;
  f.kind = Stage2Fault::Kind::Permission;
  f.level = 3;
  f.gpa = 0x123456789000;
  f.write = true;
  f.size = 4;
  x->fill_syndrome(f, Perm{true, false, true});
  CHECK(f.syndrome == (0x2 | 0x8 | 0x20));
  CHECK(f.hpfar == 0);
  CHECK(x->describe(f).find("EPT violation (permission)") == 0);
  a->fill_syndrome(f, {});
  CHECK(f.syndrome == Arm64Arch::esr(true, false, true, 3, 4));
  CHECK(((f.syndrome >> 26) & 0x3f) == Arm64Arch::kEsrEcDabtLow);
  CHECK((f.syndrome & 0x3f) == 0x0f);  // permission fault, level 3
  CHECK(f.hpfar == (0x123456789ull << 4));
  CHECK(a->describe(f).find("HPFAR_EL2 0x1234567890") != std::string::npos);
}

TEST_CASE("x86 invalidation: an IPI, then INVEPT on every vCPU of the VM, nothing without vCPUs") {
  Stats s;
  ArchParams p;
  p.ipi_ns = 1000;
  p.invept_ns = 100;
  X86Arch x(p, s, "k");
  FakeCpu c0, c1;
  CHECK(x.invalidate_stage2({}, 0, 1) == 0);
  CHECK(s.get("k.invept") == 0);
  CHECK(x.invalidate_stage2({&c0, &c1}, 5, 6) == 1200);
  CHECK(c0.log == std::vector<std::string>{"invept"});
  CHECK(c1.log == std::vector<std::string>{"invept"});
  CHECK(s.get("k.invept") == 2);
  CHECK(s.get("k.remote_tlb_flushes") == 1);
}

TEST_CASE("arm64 invalidation: broadcast TLBIs, page by page then VMALLE1IS, the whole VMID past 512 pages") {
  Stats s;
  ArchParams p;
  p.tlbi_ns = 10;
  Arm64Arch a(p, s, "k");
  FakeCpu c0, c1;
  // Executed once, seen by both vCPUs: the cost does not grow with them.
  CHECK(a.invalidate_stage2({&c0, &c1}, 16, 20) == 50);  // 4 pages + VMALLE1IS
  CHECK(c0.log == std::vector<std::string>{"ipas2e1is 16..20", "vmalle1is"});
  CHECK(c1.log == c0.log);
  CHECK(s.get("k.tlbi_ipas2e1is") == 4);
  CHECK(s.get("k.tlbi_vmalle1is") == 1);
  c0.log.clear();
  CHECK(a.invalidate_stage2({&c0}, 0, 513) == 10);
  CHECK(c0.log == std::vector<std::string>{"vmalls12e1is"});
  CHECK(s.get("k.tlbi_vmalls12e1is") == 1);
}

TEST_CASE("KeyIdPolicy: KeyID bits above the PA width are read, stripped, and block DMI") {
  KeyIdPolicy k(46, 6);
  const Addr pa = 0x12345678000;
  const Addr tagged = pa | (Addr{5} << 46);
  CHECK(k.keyid(tagged) == 5u);
  CHECK(k.strip(tagged) == pa);
  AccessExtension ext;
  CHECK(k.downstream(tagged, &ext) == pa);
  CHECK(ext.keyid == 5);
  CHECK(k.dmi_allowed(pa));
  CHECK_FALSE(k.dmi_allowed(tagged));
  KeyIdPolicy none(48, 0);
  CHECK(none.keyid(tagged) == 0u);
  CHECK(none.strip(tagged) == tagged);
}

TEST_CASE("Teardown invalidation: INVEPT on x86, VMALLS12E1IS on arm64, each counted") {
  Stats s;
  X86Arch x({}, s, "x");
  Arm64Arch a({}, s, "a");
  FakeCpu cx, ca;
  x.invalidate_vm(cx);
  a.invalidate_vm(ca);
  CHECK(cx.log == std::vector<std::string>{"invept"});
  CHECK(ca.log == std::vector<std::string>{"vmalls12e1is"});
  CHECK(s.get("x.invept") == 1);
  CHECK(s.get("a.tlbi_vmalls12e1is") == 1);
}
