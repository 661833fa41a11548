// Delivery of an x86 exception into the guest through its IDT, as a 64-bit
// CPU does it (Intel SDM vol. 3, 6.14 "Exception and interrupt handling in
// 64-bit mode"; 6.15 "Interrupt 8 - Double Fault" for the nesting rules):
// the gate at IDTR.base + 16 * vector, a 64-bit interrupt or trap gate; the
// stack pointer (the current one, or the TSS's IST entry the gate names)
// aligned down to 16; SS, RSP, RFLAGS, CS, RIP and, for the vectors that
// have one, an error code pushed; RIP and CS from the gate; TF, NT, RF
// cleared, and IF for an interrupt gate. The handler returns with IRETQ.
//
// An exception raised while delivering one (a limit too small or a gate not
// present, a stack page that faults) is handled as the CPU handles it: in
// turn, as a double fault (#DF, vector 8), or, during a double fault, as a
// triple fault, which shuts the vCPU down. Only CPL 0 is modelled (the
// guest's code runs in ring 0 with paging off): no privilege change, SS is
// kept. Plain C++: guest memory is reached through X86GuestMemory.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace cocosim {

namespace x86vec {
constexpr unsigned kDE = 0, kDB = 1, kNMI = 2, kBP = 3, kOF = 4, kBR = 5, kUD = 6, kNM = 7, kDF = 8,
                   kTS = 10, kNP = 11, kSS = 12, kGP = 13, kPF = 14, kMF = 16, kAC = 17, kMC = 18,
                   kXM = 19, kVE = 20, kCP = 21;
}  // namespace x86vec

// "#VE", "#MC", ... ("vector N" for one without a mnemonic).
std::string x86_vector_name(unsigned vector);
// The vector of a fault the hypervisor injects, by the name GuestEnv gives
// it ("VE", "MC", "UD", "GP", "PF"); nullopt for another name.
std::optional<unsigned> x86_vector_of_fault(const std::string& name);
// Whether the CPU pushes an error code for the exception (#DF, #TS, #NP,
// #SS, #GP, #PF, #AC, #CP).
bool x86_has_error_code(unsigned vector);

// What a second exception, raised while the first is delivered, becomes
// (SDM Table 6-5): benign ones are taken in turn; contributory after
// contributory, or contributory or page-fault class (#PF, #VE) after a
// page-fault-class one, is a double fault; any of those during a double
// fault is a triple fault.
enum class X86Nesting { Serial, DoubleFault, TripleFault };
X86Nesting x86_nesting(unsigned first, unsigned second);

// A 64-bit IDT gate descriptor (16 bytes).
struct X86IdtGate {
  uint64_t offset = 0;
  uint16_t selector = 0;
  uint8_t ist = 0;      // 0: the current stack; 1..7: the TSS's IST entry
  uint8_t type = 0;     // 0xE interrupt gate, 0xF trap gate
  uint8_t dpl = 0;
  bool present = false;
};
X86IdtGate decode_idt_gate(const uint8_t (&bytes)[16]);

// What the CPU reads and writes while delivering: guest-physical memory
// (paging off). An access that does not complete raises `*vector` (e.g. #VE
// for a page not accepted); `*gone` says the vCPU went away meanwhile.
class X86GuestMemory {
 public:
  virtual ~X86GuestMemory() = default;
  enum class Result { Ok, Exception, Gone };
  virtual Result read(uint64_t addr, void* dst, size_t len, unsigned* vector) = 0;
  virtual Result write(uint64_t addr, const void* src, size_t len, unsigned* vector) = 0;
};

// The state an exception interrupts, and what the handler starts with.
struct X86Frame {
  uint64_t rip = 0, rsp = 0, rflags = 0;
  uint16_t cs = 0, ss = 0;
};

struct X86Delivery {
  enum class Kind {
    Delivered,    // `to` is the handler's state; `vector` what it was given
    TripleFault,  // the vCPU shuts down
    Gone,         // the vCPU went away during delivery
  } kind = Kind::Delivered;
  X86Frame to;
  unsigned vector = 0;
  std::string chain;  // what happened, for the report: "#VE -> #NP(0xa3) -> #DF"
};

struct X86Idt {
  uint64_t base = 0;
  uint32_t limit = 0;
  uint64_t tss_base = 0;  // for IST stacks (TR's base)
};

// Delivers `vector` (with `error` where the vector has an error code) at
// the state `at`, writing the frame through `mem`.
X86Delivery deliver_x86_exception(unsigned vector, uint32_t error, const X86Frame& at, const X86Idt& idt,
                                  X86GuestMemory& mem);

// RFLAGS bits delivery clears.
constexpr uint64_t kRflagsTf = 1u << 8, kRflagsIf = 1u << 9, kRflagsNt = 1u << 14, kRflagsRf = 1u << 16,
                   kRflagsVm = 1u << 17;

}  // namespace cocosim
