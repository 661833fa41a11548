// x86 exception delivery through the guest's IDT (models/cpu/x86_exception.*):
// gate decoding, the frame the CPU pushes, and the double/triple fault rules,
// over a flat memory without Unicorn or SystemC.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <vector>

#include "cpu/x86_exception.h"

using namespace cocosim;

namespace {

// 64 KiB of flat memory; pages listed in `faulting` raise `fault_vector`.
class FlatMemory : public X86GuestMemory {
 public:
  std::vector<uint8_t> bytes = std::vector<uint8_t>(0x10000, 0);
  std::map<uint64_t, unsigned> faulting;  // page -> vector its access raises
  Result access(uint64_t addr, size_t len, unsigned* vector) {
    for (uint64_t p = addr >> 12; p <= (addr + len - 1) >> 12; ++p) {
      auto it = faulting.find(p);
      if (it != faulting.end()) {
        *vector = it->second;
        return Result::Exception;
      }
    }
    REQUIRE(addr + len <= bytes.size());
    return Result::Ok;
  }
  Result read(uint64_t addr, void* dst, size_t len, unsigned* vector) override {
    const Result r = access(addr, len, vector);
    if (r == Result::Ok) std::memcpy(dst, &bytes[addr], len);
    return r;
  }
  Result write(uint64_t addr, const void* src, size_t len, unsigned* vector) override {
    const Result r = access(addr, len, vector);
    if (r == Result::Ok) std::memcpy(&bytes[addr], src, len);
    return r;
  }
  // A 64-bit gate for `vector` in the IDT at `base`.
  void gate(uint64_t base, unsigned vector, uint64_t handler, uint8_t type = 0xE, bool present = true,
            uint16_t selector = 0x08, uint8_t ist = 0) {
    uint8_t d[16] = {};
    d[0] = uint8_t(handler);
    d[1] = uint8_t(handler >> 8);
    d[2] = uint8_t(selector);
    d[3] = uint8_t(selector >> 8);
    d[4] = ist;
    d[5] = uint8_t((present ? 0x80 : 0) | type);
    d[6] = uint8_t(handler >> 16);
    d[7] = uint8_t(handler >> 24);
    for (int i = 0; i < 4; ++i) d[8 + i] = uint8_t(handler >> (32 + 8 * i));
    std::memcpy(&bytes[base + 16 * vector], d, 16);
  }
  uint64_t q(uint64_t addr) const {
    uint64_t v;
    std::memcpy(&v, &bytes[addr], 8);
    return v;
  }
};

constexpr uint64_t kIdt = 0x2000;
const X86Idt kFullIdt{kIdt, 256 * 16 - 1, 0};

X86Frame at_fault() {
  X86Frame f;
  f.rip = 0x1234;
  f.rsp = 0x8ff8;  // not 16-aligned: the CPU aligns the new frame
  f.rflags = 0x202 | kRflagsTf;
  f.cs = 0x08;
  f.ss = 0x10;
  return f;
}

}  // namespace

TEST_CASE("x86 exception: vector names, error codes, gate decoding") {
  CHECK(x86_vector_name(20) == "#VE");
  CHECK(x86_vector_name(18) == "#MC");
  CHECK(x86_vector_name(8) == "#DF");
  CHECK(x86_vector_name(9) == "vector 9");
  CHECK(x86_vector_of_fault("VE") == 20u);
  CHECK(x86_vector_of_fault("MC") == 18u);
  CHECK(x86_vector_of_fault("UD") == 6u);
  CHECK_FALSE(x86_vector_of_fault("EPT violation").has_value());
  CHECK(x86_has_error_code(x86vec::kGP));
  CHECK(x86_has_error_code(x86vec::kDF));
  CHECK_FALSE(x86_has_error_code(x86vec::kVE));
  CHECK_FALSE(x86_has_error_code(x86vec::kMC));
  CHECK_FALSE(x86_has_error_code(x86vec::kUD));
  FlatMemory m;
  m.gate(0, 3, 0x1122334455667788ull, 0xF, true, 0x28, 2);
  uint8_t d[16];
  std::memcpy(d, &m.bytes[48], 16);
  const X86IdtGate g = decode_idt_gate(d);
  CHECK(g.offset == 0x1122334455667788ull);
  CHECK(g.selector == 0x28);
  CHECK(g.ist == 2);
  CHECK(g.type == 0xF);
  CHECK(g.present);
}

TEST_CASE("x86 exception: nesting follows the double-fault table of the SDM") {
  using namespace x86vec;
  CHECK(x86_nesting(kUD, kGP) == X86Nesting::Serial);           // benign first
  CHECK(x86_nesting(kGP, kNP) == X86Nesting::DoubleFault);      // contributory twice
  CHECK(x86_nesting(kVE, kNP) == X86Nesting::DoubleFault);      // page-fault class, then contributory
  CHECK(x86_nesting(kVE, kVE) == X86Nesting::DoubleFault);      // page-fault class twice
  CHECK(x86_nesting(kGP, kPF) == X86Nesting::Serial);           // contributory, then #PF
  CHECK(x86_nesting(kDF, kGP) == X86Nesting::TripleFault);
  CHECK(x86_nesting(kDF, kVE) == X86Nesting::TripleFault);
  CHECK(x86_nesting(kDF, kUD) == X86Nesting::Serial);
}

TEST_CASE("x86 exception: #VE through an interrupt gate pushes SS, RSP, RFLAGS, CS, RIP on an aligned stack") {
  FlatMemory m;
  m.gate(kIdt, x86vec::kVE, 0x4000);
  const X86Frame f = at_fault();
  const X86Delivery d = deliver_x86_exception(x86vec::kVE, 0, f, kFullIdt, m);
  REQUIRE(d.kind == X86Delivery::Kind::Delivered);
  CHECK(d.vector == x86vec::kVE);
  CHECK(d.chain == "#VE");
  CHECK(d.to.rip == 0x4000);
  CHECK(d.to.cs == 0x08);
  CHECK(d.to.ss == 0x10);
  CHECK(d.to.rsp == 0x8ff0 - 40);  // aligned down to 16, then five quadwords
  CHECK(m.q(d.to.rsp) == 0x1234);             // RIP
  CHECK(m.q(d.to.rsp + 8) == 0x08);           // CS
  CHECK(m.q(d.to.rsp + 16) == f.rflags);      // RFLAGS as it was
  CHECK(m.q(d.to.rsp + 24) == 0x8ff8);        // RSP as it was
  CHECK(m.q(d.to.rsp + 32) == 0x10);          // SS
  CHECK(d.to.rflags == 0x002);                // IF and TF cleared by an interrupt gate
}

TEST_CASE("x86 exception: #GP pushes its error code, a trap gate keeps IF, IST switches the stack") {
  FlatMemory m;
  m.gate(kIdt, x86vec::kGP, 0x4100, 0xF, true, 0x08, 1);
  const uint64_t tss = 0x3000, ist1 = 0x7008;
  std::memcpy(&m.bytes[tss + 0x24], &ist1, 8);
  X86Idt idt = kFullIdt;
  idt.tss_base = tss;
  const X86Delivery d = deliver_x86_exception(x86vec::kGP, 0x18, at_fault(), idt, m);
  REQUIRE(d.kind == X86Delivery::Kind::Delivered);
  CHECK(d.to.rsp == 0x7000 - 48);
  CHECK(m.q(d.to.rsp) == 0x18);      // the error code, on top
  CHECK(m.q(d.to.rsp + 8) == 0x1234);
  CHECK(m.q(d.to.rsp + 32) == 0x8ff8);
  CHECK(d.to.rflags == 0x202);       // trap gate: IF stays, TF goes
  CHECK(d.chain == "#GP(0x18)");
}

TEST_CASE("x86 exception: no usable gate escalates to #DF, and a failing #DF to a triple fault") {
  FlatMemory m;
  SUBCASE("#VE gate not present: #NP(IDT, EXT) is contributory after a page-fault-class exception: #DF") {
    m.gate(kIdt, x86vec::kVE, 0x4000, 0xE, false);
    m.gate(kIdt, x86vec::kDF, 0x4800);
    const X86Delivery d = deliver_x86_exception(x86vec::kVE, 0, at_fault(), kFullIdt, m);
    REQUIRE(d.kind == X86Delivery::Kind::Delivered);
    CHECK(d.vector == x86vec::kDF);
    CHECK(d.to.rip == 0x4800);
    CHECK(m.q(d.to.rsp) == 0);  // #DF's error code is 0
    CHECK(d.chain == "#VE -> #NP(0xa3) -> #DF");
  }
  SUBCASE("IDT limit below the vector: #GP, then #DF missing too: triple fault") {
    const X86Delivery d = deliver_x86_exception(x86vec::kVE, 0, at_fault(), X86Idt{kIdt, 0xff, 0}, m);
    CHECK(d.kind == X86Delivery::Kind::TripleFault);
    CHECK(d.chain == "#VE -> #GP(0xa3) -> #DF -> #GP(0x43) -> triple fault");
  }
  SUBCASE("#UD is benign: its not-present gate's #NP is taken in turn through the #NP gate") {
    m.gate(kIdt, x86vec::kUD, 0x4000, 0xE, false);
    m.gate(kIdt, x86vec::kNP, 0x4300);
    const X86Delivery d = deliver_x86_exception(x86vec::kUD, 0, at_fault(), kFullIdt, m);
    REQUIRE(d.kind == X86Delivery::Kind::Delivered);
    CHECK(d.vector == x86vec::kNP);
    CHECK(m.q(d.to.rsp) == (6u << 3 | 3));
  }
  SUBCASE("a zeroed gate is not an interrupt or trap gate: #GP before the present bit is looked at") {
    m.gate(kIdt, x86vec::kGP, 0x4400);
    const X86Delivery d = deliver_x86_exception(x86vec::kUD, 0, at_fault(), kFullIdt, m);
    REQUIRE(d.kind == X86Delivery::Kind::Delivered);
    CHECK(d.vector == x86vec::kGP);
    CHECK(d.chain == "#UD -> #GP(0x33)");
  }
  SUBCASE("a #VE on the stack page while delivering #VE: #DF on the IST stack") {
    m.gate(kIdt, x86vec::kVE, 0x4000);
    m.gate(kIdt, x86vec::kDF, 0x4800, 0xE, true, 0x08, 1);
    const uint64_t ist1 = 0x6000;
    std::memcpy(&m.bytes[0x3000 + 0x24], &ist1, 8);
    m.faulting[0x8] = x86vec::kVE;  // the stack at 0x8ff8 is not accepted
    X86Idt idt = kFullIdt;
    idt.tss_base = 0x3000;
    const X86Delivery d = deliver_x86_exception(x86vec::kVE, 0, at_fault(), idt, m);
    REQUIRE(d.kind == X86Delivery::Kind::Delivered);
    CHECK(d.vector == x86vec::kDF);
    CHECK(d.to.rsp == 0x6000 - 48);
    CHECK(d.chain == "#VE -> #VE -> #DF");
  }
  SUBCASE("#MC while delivering #MC shuts down") {
    m.gate(kIdt, x86vec::kMC, 0x4000);
    m.faulting[0x8] = x86vec::kMC;
    const X86Delivery d = deliver_x86_exception(x86vec::kMC, 0, at_fault(), kFullIdt, m);
    CHECK(d.kind == X86Delivery::Kind::TripleFault);
  }
}
