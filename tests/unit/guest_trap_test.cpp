// Hypervisor calls of real guest code: decoding of TDCALL, VMCALL and HVC
// from their bytes, their register conventions, and the executor's traps
// (with a fake vCPU, without SystemC).
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "cpu/guest_trap.h"
#include "cpu/isa_executor.h"
#include "flat_guest_memory.h"

using namespace cocosim;

namespace {

// Flat guest memory with DMI pointers, and recorders for the three calls.
class TrapVcpu : public GuestEnv, public FlatGuestMemory {
 public:
  Outcome access(Addr gpa, void* data, size_t len, bool write, bool) override {
    ++accesses[gpa >> 12];
    uint8_t* p = page(gpa >> 12)->bytes + (gpa & 4095);
    write ? std::memcpy(p, data, len) : std::memcpy(data, p, len);
    return Outcome::Ok;
  }
  Outcome translate_page(Addr gpa, bool, bool, GuestPage* gp) override {
    *gp = GuestPage{gpa >> 12, no_dmi.count(gpa >> 12) ? nullptr : page(gpa >> 12)->bytes, true, true};
    return Outcome::Ok;
  }
  Outcome convert(Addr gpa, uint64_t size, bool to_private, uint64_t, uint64_t* ret) override {
    converts.push_back({gpa, size, to_private});
    if (exit_first && converts.size() == 1) return Outcome::Exit;
    *ret = convert_ret;
    return Outcome::Ok;
  }
  Outcome tdcall(const TdcallRegs& in, TdcallOut* out) override {
    tdcalls.push_back(in);
    if (!is_td) return Outcome::Fault;
    if (exit_first && tdcalls.size() == 1) return Outcome::Exit;
    *out = tdcall_out;
    return Outcome::Ok;
  }
  Outcome hvc(uint64_t fn, uint64_t x1, uint64_t* ret) override {
    hvcs.push_back({fn, x1});
    if (exit_first && hvcs.size() == 1) return Outcome::Exit;
    *ret = hvc_ret;
    return Outcome::Ok;
  }
  bool exit_to_host() override {
    ++exits;
    return true;
  }
  std::string fault_name() const override { return "UD"; }
  void ucall_sync(const std::string&) override {}
  void ucall_done() override {}
  void ucall_abort(const std::string&) override {}
  void internal_error(const std::string& why) override { errors.push_back(why); }
  void consume_ns(double) override {}

  struct Convert {
    uint64_t gpa, size;
    bool to_private;
  };
  struct Hvc {
    uint64_t fn, x1;
  };
  std::set<uint64_t> no_dmi;           // pages reached through access() only
  std::map<uint64_t, int> accesses;    // access() calls by page
  std::vector<Convert> converts;
  std::vector<TdcallRegs> tdcalls;
  std::vector<Hvc> hvcs;
  std::vector<std::string> errors;
  bool is_td = true, exit_first = false;
  uint64_t convert_ret = 0, hvc_ret = 0;
  TdcallOut tdcall_out;
  int exits = 0;
};

uint64_t reg(const IsaExecutor& x, const char* name) {
  uint64_t v = 0;
  REQUIRE(x.read_register(name, &v));
  return v;
}

// TDG.MEM.PAGE.ACCEPT (leaf 6, RCX 0x5000, RDX 0x77 not an operand), RBX =
// its status, then TDG.VP.VMCALL<MapGPA> (R11 0x10001, R12 GPA, R13 size), hlt.
const uint8_t kTdcalls[] = {
    0xb8, 0x06, 0x00, 0x00, 0x00,              // mov $6, %eax
    0xb9, 0x00, 0x50, 0x00, 0x00,              // mov $0x5000, %ecx
    0xba, 0x77, 0x00, 0x00, 0x00,              // mov $0x77, %edx
    0x66, 0x0f, 0x01, 0xcc,                    // tdcall
    0x48, 0x89, 0xc3,                          // mov %rax, %rbx
    0x31, 0xc0,                                // xor %eax, %eax
    0x41, 0xbb, 0x01, 0x00, 0x01, 0x00,        // mov $0x10001, %r11d
    0x41, 0xbc, 0x00, 0x50, 0x00, 0x00,        // mov $0x5000, %r12d
    0x41, 0xbd, 0x00, 0x30, 0x00, 0x00,        // mov $0x3000, %r13d
    0x45, 0x31, 0xd2,                          // xor %r10d, %r10d
    0x66, 0x0f, 0x01, 0xcc,                    // tdcall
    0xf4,                                      // hlt
};

// KVM_HC_MAP_GPA_RANGE(0x200000, 2 pages, ENCRYPTED), R8 = its result, then
// hypercall 99, hlt.
const uint8_t kVmcalls[] = {
    0xb8, 0x0c, 0x00, 0x00, 0x00,  // mov $12, %eax
    0xbb, 0x00, 0x00, 0x20, 0x00,  // mov $0x200000, %ebx
    0xb9, 0x02, 0x00, 0x00, 0x00,  // mov $2, %ecx
    0xba, 0x10, 0x00, 0x00, 0x00,  // mov $0x10, %edx
    0x0f, 0x01, 0xc1,              // vmcall
    0x49, 0x89, 0xc0,              // mov %rax, %r8
    0xb8, 0x63, 0x00, 0x00, 0x00,  // mov $99, %eax
    0x0f, 0x01, 0xc1,              // vmcall
    0xf4,                          // hlt
};

// x0 = HYP_MEMINFO (0xc6000002), x1 = 0x4000, x2 = 7; hvc #0; x5 = x0; hvc #1; udf.
const uint32_t kHvcs[] = {0xd2800040, 0xf2b8c000, 0xd2880001, 0xd28000e2,
                          0xd4000002, 0xaa0003e5, 0xd4000022, 0x00000000};

}  // namespace

TEST_CASE("guest traps: x86 TDCALL and VMCALL decoded from their bytes, nothing else") {
  const uint8_t tdcall[] = {0x66, 0x0f, 0x01, 0xcc}, vmcall[] = {0x0f, 0x01, 0xc1, 0x90};
  const uint8_t vmlaunch[] = {0x0f, 0x01, 0xc2}, rex_vmcall[] = {0x48, 0x0f, 0x01, 0xc1};
  DecodedTrap t = decode_x86_trap(tdcall, 4);
  CHECK(t.kind == TrapInsn::Tdcall);
  CHECK(t.length == 4);
  CHECK(decode_x86_trap(tdcall, 3).kind == TrapInsn::None);  // cut short by an unmapped page
  t = decode_x86_trap(vmcall, 4);
  CHECK(t.kind == TrapInsn::Vmcall);
  CHECK(t.length == 3);
  CHECK(decode_x86_trap(vmlaunch, 3).kind == TrapInsn::None);
  CHECK(decode_x86_trap(rex_vmcall, 4).kind == TrapInsn::None);
  CHECK(decode_x86_trap(tdcall + 1, 3).kind == TrapInsn::None);  // 0F 01 CC without 66 is not TDCALL
}

TEST_CASE("guest traps: AArch64 HVC and its immediate, SVC and SMC are not HVC") {
  DecodedTrap t = decode_arm64_trap(0xd4000002);
  CHECK(t.kind == TrapInsn::Hvc);
  CHECK(t.imm == 0);
  CHECK(t.length == 4);
  t = decode_arm64_trap(0xd41fffe2);  // hvc #0xffff
  CHECK(t.kind == TrapInsn::Hvc);
  CHECK(t.imm == 0xffff);
  CHECK(decode_arm64_trap(0xd4000001).kind == TrapInsn::None);  // svc #0
  CHECK(decode_arm64_trap(0xd4000003).kind == TrapInsn::None);  // smc #0
  CHECK(decode_arm64_trap(0x00000000).kind == TrapInsn::None);  // udf #0
}

TEST_CASE("guest traps: KVM hypercalls as kvm_emulate_hypercall checks them") {
  KvmHypercall hc;
  hc.nr = KvmHypercall::kMapGpaRange;
  hc.a0 = 0x200000;
  hc.a1 = 3;
  hc.a2 = KvmHypercall::kMapGpaRangeEncrypted;
  HypercallAction a = decode_kvm_hypercall(hc);
  CHECK(a.kind == HypercallAction::Convert);
  CHECK(a.gpa == 0x200000);
  CHECK(a.size == 3 * 4096);
  CHECK(a.to_private);
  CHECK(a.attrs == KvmHypercall::kMapGpaRangeEncrypted);
  hc.a2 = 0;
  CHECK_FALSE(decode_kvm_hypercall(hc).to_private);
  hc.a2 = 0x7;  // bits KVM does not read (the selftest's own flags) go to the VMM as they are
  a = decode_kvm_hypercall(hc);
  CHECK_FALSE(a.to_private);
  CHECK(a.attrs == 0x7);
  hc.a2 = 0;
  hc.a0 = 0x200800;  // not page aligned
  a = decode_kvm_hypercall(hc);
  CHECK(a.kind == HypercallAction::Return);
  CHECK(a.ret == uint64_t(-22));
  hc.a0 = 0x200000;
  hc.a1 = 0;  // no pages
  CHECK(decode_kvm_hypercall(hc).ret == uint64_t(-22));
  hc.a0 = ~uint64_t{0} << 12;
  hc.a1 = 1ull << 52;  // wraps
  CHECK(decode_kvm_hypercall(hc).ret == uint64_t(-22));
  hc.nr = 99;
  a = decode_kvm_hypercall(hc);
  CHECK(a.kind == HypercallAction::Return);
  CHECK(a.ret == uint64_t(-1000));
  hc.nr = KvmHypercall::kVapicPollIrq;
  CHECK(decode_kvm_hypercall(hc).ret == 0);
  hc.nr = KvmHypercall::kKickCpu;
  CHECK(decode_kvm_hypercall(hc).kind == HypercallAction::Refused);
}

TEST_CASE("guest traps: TDCALL leaves write back only their outputs") {
  const TdcallOutputs vmcall = tdcall_outputs(0), accept = tdcall_outputs(6), veinfo = tdcall_outputs(3);
  CHECK(vmcall.r10);
  CHECK(vmcall.r11);
  CHECK_FALSE(vmcall.rcx);
  CHECK_FALSE(accept.rcx);
  CHECK_FALSE(accept.r10);
  CHECK(veinfo.rcx);
  CHECK(veinfo.r10);
  CHECK_FALSE(veinfo.r11);
}

TEST_CASE("guest traps: x86 TDCALL reaches the TDX module with its registers, RIP moves past it") {
  TrapVcpu v;
  v.put(0x1000, kTdcalls, sizeof kTdcalls);
  v.exit_first = true;  // the first TDCALL leaves to the host and resumes inside the instruction
  v.tdcall_out.status = 0xc0000b0b00000001ull;
  v.tdcall_out.rcx = 0xdead;  // not an output of ACCEPT: RCX keeps its value
  v.tdcall_out.r10 = 1;       // TDVMCALL_STATUS_RETRY ...
  v.tdcall_out.r11 = 0x6000;  // ... from here
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000, IsaOptions{0.5, 1000, 64, 0, true});
  x.run(v);
  REQUIRE(v.tdcalls.size() == 3);  // ACCEPT twice (once before the exit), MapGPA once
  CHECK(v.exits == 1);
  CHECK(v.tdcalls[0].leaf == 6);
  CHECK(v.tdcalls[0].rcx == 0x5000);
  CHECK(v.tdcalls[2].leaf == 0);
  CHECK(v.tdcalls[2].r11 == 0x10001);
  CHECK(v.tdcalls[2].r12 == 0x5000);
  CHECK(v.tdcalls[2].r13 == 0x3000);
  CHECK(reg(x, "rbx") == 0xc0000b0b00000001ull);
  CHECK(reg(x, "rcx") == 0x5000);
  CHECK(reg(x, "rdx") == 0x77);
  CHECK(reg(x, "r10") == 1);
  CHECK(reg(x, "r11") == 0x6000);
  CHECK(x.stopped() == IsaStop::Halted);  // the hlt after the second TDCALL
  CHECK(reg(x, "rip") == 0x1000 + sizeof kTdcalls);
}

TEST_CASE("guest traps: TDCALL outside a TD is #UD, without a handler a triple fault") {
  TrapVcpu v;
  v.is_td = false;
  v.put(0x1000, kTdcalls, sizeof kTdcalls);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.run(v);
  // IDTR as the CPU resets it (base 0, limit 0xffff) over zeroed memory:
  // every gate is invalid (#GP), the double fault's too.
  CHECK(x.stopped() == IsaStop::TripleFault);
  CHECK(x.stop_detail() == "triple fault (#UD -> #GP(0x33) -> #GP(0x6b) -> #DF -> #GP(0x43) -> triple fault) at RIP 0x100f");
  CHECK(v.tdcalls.size() == 1);
}

TEST_CASE("guest traps: x86 VMCALL is KVM_HC_MAP_GPA_RANGE through convert, unknown numbers -KVM_ENOSYS") {
  TrapVcpu v;
  v.put(0x1000, kVmcalls, sizeof kVmcalls);
  v.exit_first = true;  // KVM_EXIT_HYPERCALL, then userspace's answer
  v.convert_ret = 0;
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.write_register("r8", 0x55);
  x.run(v);
  REQUIRE(v.converts.size() == 2);
  CHECK(v.exits == 1);
  CHECK(v.converts[1].gpa == 0x200000);
  CHECK(v.converts[1].size == 0x2000);
  CHECK(v.converts[1].to_private);
  CHECK(reg(x, "r8") == 0);
  CHECK(reg(x, "rax") == uint64_t(-1000));
  CHECK(x.stopped() == IsaStop::Halted);

  TrapVcpu td;  // in a TD, VMCALL is no KVM hypercall
  td.put(0x1000, kVmcalls, sizeof kVmcalls);
  IsaExecutor y(IsaArch::X86_64, 0x1000, 0x8000, IsaOptions{0.5, 1000, 64, 0, true});
  y.run(td);
  CHECK(y.stopped() == IsaStop::InternalError);
  CHECK(td.converts.empty());
}

TEST_CASE("guest traps: AArch64 HVC #0 is an SMCCC call, other immediates NOT_SUPPORTED") {
  TrapVcpu v;
  v.put(0x1000, kHvcs, sizeof kHvcs);
  v.exit_first = true;
  v.hvc_ret = 4096;  // HYP_MEMINFO: the hypervisor's page size
  IsaExecutor x(IsaArch::Arm64, 0x1000, 0x8000);
  x.run(v);
  REQUIRE(v.hvcs.size() == 2);  // the first left to the host, the HVC ran again
  CHECK(v.exits == 1);
  CHECK(v.hvcs[1].fn == 0xc6000002);
  CHECK(v.hvcs[1].x1 == 0x4000);
  CHECK(reg(x, "x5") == 4096);
  CHECK(reg(x, "x0") == ~uint64_t{0});  // hvc #1
  CHECK(reg(x, "x1") == 0);
  CHECK(reg(x, "x2") == 0);  // SMCCC: x1..x3 returned as 0
  CHECK(x.stopped() == IsaStop::Shutdown);  // the udf
  CHECK(x.stop_detail().find("undefined") != std::string::npos);
}

TEST_CASE("guest traps: decoding an invalid instruction never reads a page without direct pointer") {
  TrapVcpu v;
  v.no_dmi.insert(2);  // e.g. MMIO: a read there is an access of its own
  const uint8_t code[] = {
      0x8b, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00,  // mov 0x2000, %eax: page 2 becomes a page of callbacks
      0xe9, 0xf2, 0x0f, 0x00, 0x00,              // jmp 0x1ffe
  };
  const uint8_t ud2[] = {0x0f, 0x0b};  // the last two bytes of page 1
  v.put(0x1000, code, sizeof code);
  v.put(0x1ffe, ud2, sizeof ud2);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.run(v);
  CHECK(x.stopped() == IsaStop::TripleFault);  // #UD, no handler
  CHECK(v.accesses[2] == 1);  // the load only, not the decoder looking past the page end
}
