// Exceptions delivered into real x86-64 guest code by the instruction-set
// executor (Unicorn, a fake vCPU, no SystemC): a #VE raised by a load between
// two instructions and a #UD go through the guest's IDT, and IRETQ returns to
// the right instruction with the registers as they were.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cpu/isa_executor.h"
#include "flat_guest_memory.h"

using namespace cocosim;

namespace {

// Flat guest memory with DMI pointers; pages in `ve_once` raise #VE at their
// first translation (a TD's page not accepted yet), pages in `ve_always` at
// every access.
class ExceptionVcpu : public GuestEnv, public FlatGuestMemory {
 public:
  void put64(uint64_t gpa, uint64_t v) { put(gpa, &v, 8); }
  Outcome access(Addr gpa, void* data, size_t len, bool write, bool) override {
    if (ve_always.count(gpa >> 12)) return Outcome::Fault;
    uint8_t* p = page(gpa >> 12)->bytes + (gpa & 4095);
    write ? std::memcpy(p, data, len) : std::memcpy(data, p, len);
    return Outcome::Ok;
  }
  Outcome translate_page(Addr gpa, bool, bool, GuestPage* gp) override {
    ++translations[gpa >> 12];
    if (ve_once.erase(gpa >> 12) || ve_always.count(gpa >> 12)) return Outcome::Fault;
    *gp = GuestPage{gpa >> 12, page(gpa >> 12)->bytes, true, true};
    return Outcome::Ok;
  }
  Outcome convert(Addr, uint64_t, bool, uint64_t, uint64_t* ret) override {
    *ret = 0;
    return Outcome::Ok;
  }
  Outcome tdcall(const TdcallRegs&, TdcallOut*) override { return Outcome::Fault; }
  std::string fault_name() const override { return fault; }
  void ucall_sync(const std::string& tag) override { syncs.push_back(tag); }
  void ucall_done() override {}
  void ucall_abort(const std::string&) override {}
  void internal_error(const std::string& why) override { errors.push_back(why); }
  void shutdown(const std::string& why) override { shutdowns.push_back(why); }
  void consume_ns(double) override {}

  std::set<uint64_t> ve_once, ve_always;
  std::string fault = "VE";  // what the faulting pages raise
  std::map<uint64_t, int> translations;
  std::vector<std::string> syncs, errors, shutdowns;
};

// At 0x1000: lgdt 0x2040; a far return to CS 0x08 (IRETQ loads CS from the
// GDT: a guest taking exceptions needs one); lidt 0x2050; rbx, rcx, rsi =
// 0x1111, 0x2222, 0x3333; mov 0x5000, %rax (#VE the first time); mov %rax,
// %r8; ud2; a ucall (RDI 0x3000); hlt at 0x104c.
const uint8_t kMain[] = {
    0x0f, 0x01, 0x14, 0x25, 0x40, 0x20, 0x00, 0x00, 0x6a, 0x08, 0x48, 0xb8,
    0x17, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x48, 0xcb, 0x0f,
    0x01, 0x1c, 0x25, 0x50, 0x20, 0x00, 0x00, 0x48, 0xc7, 0xc3, 0x11, 0x11,
    0x00, 0x00, 0x48, 0xc7, 0xc1, 0x22, 0x22, 0x00, 0x00, 0x48, 0xc7, 0xc6,
    0x33, 0x33, 0x00, 0x00, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x50, 0x00, 0x00,
    0x49, 0x89, 0xc0, 0x0f, 0x0b, 0xba, 0x00, 0x10, 0x00, 0x00, 0xbf, 0x00,
    0x30, 0x00, 0x00, 0xec, 0xf4,
};
constexpr uint64_t kFaultingLoad = 0x1034, kUd2 = 0x103f, kHlt = 0x104c;
// At 0x1100, #VE: push rbx, rcx; the saved RIP to 0x6010; clobber rbx and
// rcx; incq 0x6000; pop; iretq.
const uint8_t kVeHandler[] = {
    0x53, 0x51, 0x48, 0x8b, 0x5c, 0x24, 0x10, 0x48, 0x89, 0x1c, 0x25, 0x10,
    0x60, 0x00, 0x00, 0x48, 0xc7, 0xc3, 0x99, 0x99, 0x00, 0x00, 0x48, 0xc7,
    0xc1, 0x77, 0x77, 0x00, 0x00, 0x48, 0xff, 0x04, 0x25, 0x00, 0x60, 0x00,
    0x00, 0x59, 0x5b, 0x48, 0xcf,
};
// At 0x1180, #UD: incq 0x6008; addq $2, (%rsp) (past the ud2); iretq.
const uint8_t kUdHandler[] = {
    0x48, 0xff, 0x04, 0x25, 0x08, 0x60, 0x00, 0x00, 0x48, 0x83, 0x04, 0x24,
    0x02, 0x48, 0xcf,
};

void put_gate(ExceptionVcpu& v, uint64_t idt, unsigned vector, uint64_t handler, bool present = true) {
  uint8_t d[16] = {};
  d[0] = uint8_t(handler);
  d[1] = uint8_t(handler >> 8);
  d[2] = 0x08;                          // the code segment
  d[5] = present ? 0x8E : 0x0E;         // 64-bit interrupt gate
  d[6] = uint8_t(handler >> 16);
  d[7] = uint8_t(handler >> 24);
  v.put(idt + 16 * vector, d, sizeof d);
}

// The program, a GDT (null, 64-bit code at 0x08, data at 0x10) at 0x2000,
// GDTR at 0x2040, IDTR at 0x2050 for an IDT of 32 gates at 0x2100.
void load(ExceptionVcpu& v) {
  v.put(0x1000, kMain, sizeof kMain);
  v.put(0x1100, kVeHandler, sizeof kVeHandler);
  v.put(0x1180, kUdHandler, sizeof kUdHandler);
  const uint64_t gdt[3] = {0, 0x00af9a000000ffffull, 0x00cf92000000ffffull};
  v.put(0x2000, gdt, sizeof gdt);
  const uint16_t gdt_limit = sizeof gdt - 1, idt_limit = 32 * 16 - 1;
  const uint64_t gdt_base = 0x2000, idt_base = 0x2100;
  v.put(0x2040, &gdt_limit, 2);
  v.put(0x2042, &gdt_base, 8);
  v.put(0x2050, &idt_limit, 2);
  v.put(0x2052, &idt_base, 8);
  v.put64(0x5000, 0xfeedf00d);
  const uint64_t ucall[3] = {1, 0, 7};  // UCALL_SYNC, stage 7
  v.put(0x3000, ucall, sizeof ucall);
}

// A TD's vCPU: the executor keeps RIP exact at memory accesses, so a fault
// there (#VE) is delivered.
const IsaOptions kTd{0.5, 1000, 64, 0, true};

uint64_t reg(const IsaExecutor& x, const char* name) {
  uint64_t v = 0;
  REQUIRE(x.read_register(name, &v));
  return v;
}

}  // namespace

TEST_CASE("isa exceptions: #VE between two instructions returns to the faulting load, registers intact") {
  ExceptionVcpu v;
  load(v);
  put_gate(v, 0x2100, 20, 0x1100);
  put_gate(v, 0x2100, 6, 0x1180);
  v.ve_once.insert(5);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000, kTd);
  x.run(v);
  REQUIRE(v.errors.size() == 1);
  CHECK(v.errors[0].find("HLT") != std::string::npos);  // the end of the program
  CHECK(v.shutdowns.empty());
  CHECK(v.syncs == std::vector<std::string>{"7"});
  CHECK(x.exceptions_delivered() == 2);
  CHECK(v.get64(0x6000) == 1);   // the #VE handler ran once
  CHECK(v.get64(0x6010) == kFaultingLoad);  // the RIP its frame held
  CHECK(v.get64(0x6008) == 1);   // the #UD handler once
  CHECK(v.translations[5] == 2);  // the load ran again after IRETQ
  CHECK(reg(x, "rax") == 0xfeedf000);  // the ucall's `in` wrote AL
  CHECK(reg(x, "r8") == 0xfeedf00d);
  CHECK(reg(x, "rbx") == 0x1111);  // the handler's pushes and pops
  CHECK(reg(x, "rcx") == 0x2222);
  CHECK(reg(x, "rsi") == 0x3333);
  CHECK(reg(x, "rsp") == 0x8000);  // the frame is gone again
  CHECK(reg(x, "rip") == kHlt + 1);
  // The #UD's frame is still below the stack: RIP of the ud2 (moved past it
  // by the handler), CS, RFLAGS, the old RSP, SS.
  CHECK(v.get64(0x8000 - 40) == kUd2 + 2);
  CHECK(v.get64(0x8000 - 32) == 0x08);
  CHECK(v.get64(0x8000 - 16) == 0x8000);
}

TEST_CASE("isa exceptions: a machine check on an access goes to vector 18") {
  ExceptionVcpu v;
  load(v);
  put_gate(v, 0x2100, 18, 0x1100);  // the handler that records the frame's RIP
  put_gate(v, 0x2100, 6, 0x1180);
  v.ve_once.insert(5);
  v.fault = "MC";
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000, kTd);
  x.run(v);
  CHECK(x.exceptions_delivered() == 2);
  CHECK(v.get64(0x6000) == 1);
  CHECK(v.get64(0x6010) == kFaultingLoad);
  CHECK(v.syncs == std::vector<std::string>{"7"});
}

TEST_CASE("isa exceptions: outside a TD a fault on an access ends the run (its RIP would not be exact)") {
  ExceptionVcpu v;
  load(v);
  put_gate(v, 0x2100, 20, 0x1100);
  v.ve_once.insert(5);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.run(v);
  CHECK(x.stopped() == IsaStop::Shutdown);
  CHECK(x.exceptions_delivered() == 0);
  CHECK(v.get64(0x6000) == 0);
}

TEST_CASE("isa exceptions: a #VE with its gate not present is #NP, then #DF (zeroed gate: #GP), then a triple fault: KVM_EXIT_SHUTDOWN") {
  ExceptionVcpu v;
  load(v);
  put_gate(v, 0x2100, 20, 0x1100, /*present=*/false);
  v.ve_once.insert(5);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000, kTd);
  x.run(v);
  CHECK(x.stopped() == IsaStop::TripleFault);
  REQUIRE(v.shutdowns.size() == 1);
  CHECK(v.shutdowns[0] == "shutdown: triple fault (#VE -> #NP(0xa3) -> #DF -> #GP(0x43) -> triple fault) at RIP 0x1034");
  CHECK(v.errors.empty());
  x.run(v);  // KVM_RUN again: the same end
  CHECK(v.shutdowns.size() == 2);
}
