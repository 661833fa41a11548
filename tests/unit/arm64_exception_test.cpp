// AArch64 synchronous exceptions: the syndromes KVM injects and the frame
// the CPU builds (pure), then delivered by the instruction-set executor
// between two instructions of real code (a fake vCPU without SystemC).
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "cpu/arm64_exception.h"
#include "cpu/isa_executor.h"

using namespace cocosim;

TEST_CASE("arm64 exception: ESR_EL1 as inject_fault.c builds it") {
  const uint64_t el1h = 0x3c5, el0t = 0x0, aarch32 = 0x10;
  // inject_undef64: EC 0 (unknown), IL for a 32-bit instruction.
  CHECK(arm64_injected_esr(Arm64Exception::Undefined, el1h) == 0x02000000);
  CHECK(arm64_injected_esr(Arm64Exception::Undefined, el1h, false) == 0);
  // inject_abt64: current-EL classes from EL1, lower-EL ones from EL0 or
  // AArch32; FSC 0x10 (synchronous external abort).
  CHECK(arm64_injected_esr(Arm64Exception::InstructionAbort, el1h) == 0x86000010);
  CHECK(arm64_injected_esr(Arm64Exception::DataAbort, el1h) == 0x96000010);
  CHECK(arm64_injected_esr(Arm64Exception::InstructionAbort, el0t) == 0x82000010);
  CHECK(arm64_injected_esr(Arm64Exception::DataAbort, el0t) == 0x92000010);
  CHECK(arm64_injected_esr(Arm64Exception::DataAbort, aarch32) == 0x92000010);
}

TEST_CASE("arm64 exception: the frame of enter_exception64 for a synchronous exception to EL1h") {
  Arm64ExceptionEntry in;
  in.pc = 0x100024;
  in.pstate = 0x600003c5 | (1ull << 21) | (1ull << 20) | arm64::kPsrDit;  // SS and IL set, DIT
  in.vbar = 0x100800;
  in.sctlr = arm64::kSctlrSpan;
  in.esr = 0x02000000;
  Arm64ExceptionFrame f = arm64_take_exception(in);
  CHECK(f.elr == 0x100024);
  CHECK(f.spsr == in.pstate);  // the whole old PSTATE
  CHECK(f.esr == 0x02000000);
  CHECK_FALSE(f.write_far);    // an undefined instruction leaves FAR_EL1
  CHECK(f.pc == 0x100a00);     // current EL with SP_ELx: + 0x200
  // NZCV and DIT kept; SS and IL cleared; D, A, I, F masked; EL1h.
  CHECK(f.pstate == (0x600003c5 | arm64::kPsrDit));
  CHECK_FALSE(f.sp_switch);

  // PAN is set unless SCTLR_EL1.SPAN; SSBS from SCTLR_EL1.DSSBS.
  in.sctlr = arm64::kSctlrDssbs;
  in.pstate = 0x5;
  f = arm64_take_exception(in);
  CHECK(f.pstate == (0x3c5 | arm64::kPsrPan | arm64::kPsrSsbs));

  // The vector offset follows the mode the exception is taken from.
  in.sctlr = arm64::kSctlrSpan;
  in.pstate = 0x4;  // EL1t
  f = arm64_take_exception(in);
  CHECK(f.pc == 0x100800);
  CHECK(f.sp_switch);
  in.pstate = 0x0;  // EL0t
  CHECK(arm64_take_exception(in).pc == 0x100c00);
  in.pstate = 0x10;  // AArch32
  CHECK(arm64_take_exception(in).pc == 0x100e00);

  in.esr = 0x86000010;
  in.far = 0x20000000;
  in.far_valid = true;
  in.pstate = 0x3c5;
  f = arm64_take_exception(in);
  CHECK(f.write_far);
  CHECK(f.far == 0x20000000);
  CHECK(arm64_describe(Arm64Exception::InstructionAbort, in) ==
        "instruction abort (ESR_EL1 0x86000010, FAR_EL1 0x20000000) at PC 0x100024");
}

TEST_CASE("arm64 exception: SMC is recognised by its encoding") {
  CHECK(arm64_is_smc(0xd4000003));           // smc #0
  CHECK(arm64_is_smc(0xd4000003 | (5 << 5)));  // smc #5
  CHECK_FALSE(arm64_is_smc(0xd4000002));     // hvc #0
  CHECK_FALSE(arm64_is_smc(0x00000000));     // udf #0
}

namespace {

struct Page {
  alignas(4096) uint8_t bytes[4096];
};

// A vCPU whose stage 2 maps a few GPA pages to frames with DMI pointers; a
// fetch from any other page is the prefetch abort KVM injects.
class FakeArm64Vcpu : public GuestEnv {
 public:
  void map(uint64_t gfn) {
    auto& p = pages[gfn];
    p = std::make_unique<Page>();
    std::memset(p->bytes, 0, sizeof p->bytes);
  }
  void put(uint64_t gpa, const void* src, size_t len) { std::memcpy(pages.at(gpa >> 12)->bytes + (gpa & 4095), src, len); }
  Outcome access(Addr gpa, void* data, size_t len, bool write, bool) override {
    if (mmio.count(gpa >> 12)) {  // emulated: a read gets 0x77
      mmio_log.push_back((write ? "write " : "read ") + std::to_string(gpa));
      if (!write) std::memset(data, 0x77, 1), std::memset(static_cast<uint8_t*>(data) + 1, 0, len - 1);
      return Outcome::Ok;
    }
    auto it = pages.find(gpa >> 12);
    if (it == pages.end()) return Outcome::Fault;
    uint8_t* p = it->second->bytes + (gpa & 4095);
    write ? std::memcpy(p, data, len) : std::memcpy(data, p, len);
    return Outcome::Ok;
  }
  Outcome translate_page(Addr gpa, bool write, bool exec, GuestPage* page) override {
    if (mmio.count(gpa >> 12) && !exec) {  // no direct pointer: every access through access()
      *page = GuestPage{gpa >> 12, nullptr, true, false};
      return Outcome::Ok;
    }
    auto it = pages.find(gpa >> 12);
    if (it == pages.end()) {
      fault = exec ? "IABT" : "stage-2 fault";
      return Outcome::Fault;
    }
    *page = GuestPage{0x100000 + (gpa >> 12), it->second->bytes, true, true};
    return Outcome::Ok;
  }
  Outcome convert(Addr, uint64_t, bool, uint64_t, uint64_t* ret) override { *ret = 0; return Outcome::Ok; }
  Outcome tdcall(const TdcallRegs&, TdcallOut*) override { return Outcome::Fault; }
  std::string fault_name() const override { return fault; }
  // A protected VM's KVM: a data abort without syndrome on MMIO is injected.
  Outcome mmio_nisv(Addr gpa, bool write, uint64_t iss) override {
    if (!mmio.count(gpa >> 12)) return Outcome::Ok;
    nisv_log.push_back(std::to_string(gpa) + (write ? " write iss " : " read iss ") + std::to_string(iss));
    fault = "DABT";
    return Outcome::Fault;
  }
  void ucall_sync(const std::string&) override {}
  void ucall_done() override { ++dones; }
  void ucall_abort(const std::string&) override {}
  void internal_error(const std::string& why) override { internal_errors.push_back(why); }
  void consume_ns(double) override {}

  std::map<uint64_t, std::unique_ptr<Page>> pages;
  std::set<uint64_t> mmio;  // GFNs without memslot
  std::vector<std::string> mmio_log, nisv_log;
  std::string fault = "none";
  std::vector<std::string> internal_errors;
  int dones = 0;
};

uint64_t reg(const IsaExecutor& x, const char* name) {
  uint64_t v = 0;
  REQUIRE(x.read_register(name, &v));
  return v;
}

// At 0x1000: VBAR_EL1 = 0x2000, some arithmetic, UDF #0 between two
// instructions, then a branch to 0x20000000 (no page: a prefetch abort),
// then a ucall DONE (struct at 0x3000, MMIO address 0x9000000) and WFI.
const uint32_t kCode[] = {
    0xd2840007,  // 0x1000 mov x7, #0x2000
    0xd518c007,  // 0x1004 msr vbar_el1, x7
    0xd28000e1,  // 0x1008 mov x1, #7
    0xd2800122,  // 0x100c mov x2, #9
    0xab020023,  // 0x1010 adds x3, x1, x2
    0xeb01003f,  // 0x1014 cmp x1, x1            (Z, C set)
    0x00000000,  // 0x1018 udf #0
    0x9a9f17e6,  // 0x101c cset x6, eq           (Z restored by ERET)
    0xaa0b03f1,  // 0x1020 mov x17, x11          (the first handler's ELR_EL1)
    0xaa0a03f2,  // 0x1024 mov x18, x10          (... ESR_EL1)
    0xaa0c03f3,  // 0x1028 mov x19, x12          (... SPSR_EL1)
    0x91000424,  // 0x102c add x4, x1, #1
    0xd2a40005,  // 0x1030 mov x5, #0x20000000
    0xd63f00a0,  // 0x1034 blr x5
    0xd2860000,  // 0x1038 mov x0, #0x3000
    0xd2a12009,  // 0x103c mov x9, #0x9000000
    0xf9000120,  // 0x1040 str x0, [x9]
    0xd503207f,  // 0x1044 wfi
};
// At VBAR_EL1 + 0x200: ESR, ELR, SPSR, FAR into x10, x11, x12, x14; return
// to x30 after an instruction abort, past the instruction otherwise.
const uint32_t kHandler[] = {
    0xd538520a,  // mrs x10, esr_el1
    0xd538402b,  // mrs x11, elr_el1
    0xd538400c,  // mrs x12, spsr_el1
    0xd538600e,  // mrs x14, far_el1
    0xd35afd4f,  // lsr x15, x10, #26
    0xf10085ff,  // cmp x15, #0x21         (Z clear for EC 0)
    0x9100116d,  // add x13, x11, #4
    0x9a8d03cd,  // csel x13, x30, x13, eq
    0xd518402d,  // msr elr_el1, x13
    0xd69f03e0,  // eret
};

}  // namespace

TEST_CASE("isa executor: an exception between two instructions is taken at the right PC, registers intact") {
  FakeArm64Vcpu v;
  v.map(1);
  v.map(2);
  v.map(3);
  v.put(0x1000, kCode, sizeof kCode);
  v.put(0x2200, kHandler, sizeof kHandler);
  const uint64_t done[8] = {4};  // UCALL_DONE
  v.put(0x3000, done, sizeof done);
  IsaOptions o;
  o.ucall_mmio_gpa = 0x9000000;
  IsaExecutor x(IsaArch::Arm64, 0x1000, 0x8000, o);
  x.run(v);
  CHECK(v.dones == 1);
  CHECK(x.exceptions_delivered() == 2);
  // The undefined instruction: ELR_EL1 its own PC, EC 0 with IL, SPSR_EL1
  // the PSTATE after the CMP (Z, C; EL1h with D, A, I, F masked).
  CHECK(reg(x, "x17") == 0x1018);
  CHECK(reg(x, "x18") == 0x02000000);
  CHECK(reg(x, "x19") == 0x600003c5);
  // Around it: the registers of the instructions before, the flags
  // restored by ERET, the instruction after it ran.
  CHECK(reg(x, "x1") == 7);
  CHECK(reg(x, "x2") == 9);
  CHECK(reg(x, "x3") == 16);
  CHECK(reg(x, "x6") == 1);
  CHECK(reg(x, "x4") == 8);
  // The prefetch abort on the branch target: FAR_EL1 = ELR_EL1 = 0x20000000,
  // EC 0x21 (current EL) with IL and an external abort; back to the link register.
  CHECK(reg(x, "x10") == 0x86000010);
  CHECK(reg(x, "x11") == 0x20000000);
  CHECK(reg(x, "x14") == 0x20000000);
  CHECK(reg(x, "x30") == 0x1038);
  CHECK(x.stopped() == IsaStop::Halted);  // the WFI at the end
}

TEST_CASE("isa executor: an exception whose vector cannot be fetched ends the run as a recursive exception") {
  FakeArm64Vcpu v;
  v.map(1);
  const uint32_t code[] = {0xd2800021, 0x00000000};  // mov x1, #1; udf #0 (VBAR_EL1 0: nothing at 0x200)
  v.put(0x1000, code, sizeof code);
  IsaExecutor x(IsaArch::Arm64, 0x1000, 0x8000);
  x.run(v);
  CHECK(x.stopped() == IsaStop::Shutdown);
  REQUIRE(v.internal_errors.size() == 1);
  CHECK(v.internal_errors[0] ==
        "shutdown: recursive exception: instruction abort (ESR_EL1 0x86000010, FAR_EL1 0x200) at PC 0x200 "
        "taking the vector for undefined instruction (ESR_EL1 0x2000000) at PC 0x1004 (VBAR_EL1 0x0)");
  CHECK(x.exceptions_delivered() == 1);
  CHECK(reg(x, "x1") == 1);
}

// At 0x1000: an LDP with post-index writeback and an STP with pre-index
// writeback to an MMIO page (no instruction syndrome: the data abort KVM
// injects into a protected VM), then an LDR of one register there (a valid
// syndrome: emulated), a ucall DONE and WFI. The handler is kHandler.
const uint32_t kNoSyndromeCode[] = {
    0xd2840007,  // 0x1000 mov x7, #0x2000
    0xd518c007,  // 0x1004 msr vbar_el1, x7
    0xd2955540,  // 0x1008 mov x0, #0xaaaa
    0xd2977761,  // 0x100c mov x1, #0xbbbb
    0xd28a0008,  // 0x1010 mov x8, #0x5000
    0xa8c10500,  // 0x1014 ldp x0, x1, [x8], #16
    0xaa0b03f4,  // 0x1018 mov x20, x11      (the handler's ELR_EL1)
    0xaa0e03f5,  // 0x101c mov x21, x14      (... FAR_EL1)
    0x8b010004,  // 0x1020 add x4, x0, x1
    0xa9808500,  // 0x1024 stp x0, x1, [x8, #8]!
    0xf9400116,  // 0x1028 ldr x22, [x8]
    0xd2860000,  // 0x102c mov x0, #0x3000
    0xd2a12009,  // 0x1030 mov x9, #0x9000000
    0xf9000120,  // 0x1034 str x0, [x9]
    0xd503207f,  // 0x1038 wfi
};

TEST_CASE("isa executor: a load/store without syndrome to MMIO is abandoned, registers as before, data abort taken") {
  FakeArm64Vcpu v;
  v.map(1);
  v.map(2);
  v.map(3);
  v.mmio.insert(5);
  v.put(0x1000, kNoSyndromeCode, sizeof kNoSyndromeCode);
  v.put(0x2200, kHandler, sizeof kHandler);
  const uint64_t done[8] = {4};  // UCALL_DONE
  v.put(0x3000, done, sizeof done);
  IsaOptions o;
  o.ucall_mmio_gpa = 0x9000000;
  IsaExecutor x(IsaArch::Arm64, 0x1000, 0x8000, o);
  x.run(v);
  CHECK(v.dones == 1);
  CHECK(x.exceptions_delivered() == 2);
  // KVM was asked once per instruction, with the syndrome the CPU reports:
  // no ISV, WnR for the store, a level-3 translation fault.
  REQUIRE(v.nisv_log.size() == 2);
  CHECK(v.nisv_log[0] == "20480 read iss 7");
  CHECK(v.nisv_log[1] == "20488 write iss 71");
  // The LDP: the handler saw ELR_EL1 = it, FAR_EL1 = the address; x0, x1
  // and the base x8 are as before it.
  CHECK(reg(x, "x20") == 0x1014);
  CHECK(reg(x, "x21") == 0x5000);
  CHECK(reg(x, "x4") == 0xaaaa + 0xbbbb);
  CHECK(reg(x, "x8") == 0x5000);
  // The STP (pre-index): EC 0x25 with IL and FSC 0x10, ELR_EL1 it, FAR_EL1 the
  // address; no write reached the device, the base kept.
  CHECK(reg(x, "x10") == 0x96000010);
  CHECK(reg(x, "x11") == 0x1024);
  CHECK(reg(x, "x14") == 0x5008);
  // Only the LDR of one register was emulated (as two 4-byte reads: Unicorn
  // splits MMIO accesses at 4 bytes, docs/guest-code.md).
  REQUIRE(v.mmio_log.size() == 2);
  CHECK(v.mmio_log[0] == "read 20480");
  CHECK(v.mmio_log[1] == "read 20484");
  CHECK(reg(x, "x22") == 0x0000007700000077);
  CHECK(x.stopped() == IsaStop::Halted);
}
