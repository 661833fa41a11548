#include "cpu/x86_exception.h"

#include <cstdio>
#include <cstring>

namespace cocosim {

namespace {

enum class Class { Benign, Contributory, PageFault };

Class class_of(unsigned v) {
  switch (v) {
    case x86vec::kDE: case x86vec::kTS: case x86vec::kNP: case x86vec::kSS: case x86vec::kGP:
    case x86vec::kCP:
      return Class::Contributory;
    case x86vec::kPF: case x86vec::kVE:
      return Class::PageFault;
    default:
      return Class::Benign;
  }
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// The error code of a fault on the IDT entry of `vector` raised while an
// exception was delivered: EXT (bit 0) and IDT (bit 1) set, the index in
// bits 3..15.
uint32_t idt_error(unsigned vector) { return (vector << 3) | 2 | 1; }

}  // namespace

std::string x86_vector_name(unsigned v) {
  static const char* const kNames[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
                                       "#DF", nullptr, "#TS", "#NP", "#SS", "#GP", "#PF", nullptr,
                                       "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"};
  if (v < sizeof kNames / sizeof kNames[0] && kNames[v]) return kNames[v];
  return "vector " + std::to_string(v);
}

std::optional<unsigned> x86_vector_of_fault(const std::string& n) {
  if (n == "VE") return x86vec::kVE;
  if (n == "MC") return x86vec::kMC;
  if (n == "UD") return x86vec::kUD;
  if (n == "GP") return x86vec::kGP;
  if (n == "PF") return x86vec::kPF;
  return std::nullopt;
}

bool x86_has_error_code(unsigned v) {
  switch (v) {
    case x86vec::kDF: case x86vec::kTS: case x86vec::kNP: case x86vec::kSS: case x86vec::kGP:
    case x86vec::kPF: case x86vec::kAC: case x86vec::kCP:
      return true;
    default:
      return false;
  }
}

X86Nesting x86_nesting(unsigned first, unsigned second) {
  const Class b = class_of(second);
  if (first == x86vec::kDF) return b == Class::Benign ? X86Nesting::Serial : X86Nesting::TripleFault;
  const Class a = class_of(first);
  if (a == Class::Contributory && b == Class::Contributory) return X86Nesting::DoubleFault;
  if (a == Class::PageFault && b != Class::Benign) return X86Nesting::DoubleFault;
  return X86Nesting::Serial;
}

X86IdtGate decode_idt_gate(const uint8_t (&d)[16]) {
  X86IdtGate g;
  uint16_t lo, mid;
  uint32_t hi;
  std::memcpy(&lo, d, 2);
  std::memcpy(&g.selector, d + 2, 2);
  std::memcpy(&mid, d + 6, 2);
  std::memcpy(&hi, d + 8, 4);
  g.offset = uint64_t(lo) | uint64_t(mid) << 16 | uint64_t(hi) << 32;
  g.ist = d[4] & 7;
  g.type = d[5] & 0xF;
  g.dpl = (d[5] >> 5) & 3;
  g.present = (d[5] & 0x80) != 0;
  return g;
}

X86Delivery deliver_x86_exception(unsigned vector, uint32_t error, const X86Frame& at, const X86Idt& idt,
                                  X86GuestMemory& mem) {
  X86Delivery out;
  out.chain = x86_vector_name(vector);
  if (x86_has_error_code(vector)) out.chain += "(" + hex(error) + ")";
  // At most: the exception, one taken in turn, #DF, then the triple fault.
  for (int round = 0; round < 8; ++round) {
    unsigned raised = 0;
    uint32_t raised_error = 0;
    bool failed = true;
    X86GuestMemory::Result r = X86GuestMemory::Result::Ok;
    do {  // one attempt; `break` with `raised` set on a fault
      if (uint64_t(vector) * 16 + 15 > idt.limit) {
        raised = x86vec::kGP;
        raised_error = idt_error(vector);
        break;
      }
      uint8_t desc[16];
      r = mem.read(idt.base + uint64_t(vector) * 16, desc, sizeof desc, &raised);
      if (r != X86GuestMemory::Result::Ok) break;
      const X86IdtGate g = decode_idt_gate(desc);
      if (g.type != 0xE && g.type != 0xF) {
        raised = x86vec::kGP;
        raised_error = idt_error(vector);
        break;
      }
      if (!g.present) {
        raised = x86vec::kNP;
        raised_error = idt_error(vector);
        break;
      }
      if ((g.selector & 0xFFFC) == 0) {  // a null code selector
        raised = x86vec::kGP;
        raised_error = 1;  // EXT
        break;
      }
      uint64_t rsp = at.rsp;
      if (g.ist) {
        r = mem.read(idt.tss_base + 0x24 + 8 * uint64_t(g.ist - 1), &rsp, sizeof rsp, &raised);
        if (r != X86GuestMemory::Result::Ok) break;
      }
      rsp &= ~uint64_t{15};
      // From the top: SS, RSP, RFLAGS, CS, RIP, then the error code.
      uint64_t frame[6] = {error, at.rip, at.cs, at.rflags, at.rsp, at.ss};
      const bool with_error = x86_has_error_code(vector);
      const uint64_t* first = with_error ? frame : frame + 1;
      const size_t bytes = (with_error ? 6 : 5) * sizeof(uint64_t);
      r = mem.write(rsp - bytes, first, bytes, &raised);
      if (r != X86GuestMemory::Result::Ok) break;
      out.kind = X86Delivery::Kind::Delivered;
      out.vector = vector;
      out.to.rip = g.offset;
      out.to.cs = g.selector;
      out.to.ss = at.ss;
      out.to.rsp = rsp - bytes;
      out.to.rflags = at.rflags & ~(kRflagsTf | kRflagsNt | kRflagsRf | kRflagsVm | (g.type == 0xE ? kRflagsIf : 0));
      failed = false;
    } while (false);
    if (!failed) return out;
    if (r == X86GuestMemory::Result::Gone) {
      out.kind = X86Delivery::Kind::Gone;
      return out;
    }
    out.chain += " -> " + x86_vector_name(raised);
    if (x86_has_error_code(raised)) out.chain += "(" + hex(raised_error) + ")";
    if (vector == x86vec::kMC && raised == x86vec::kMC) {  // MCG_STATUS.MCIP: the CPU shuts down
      out.kind = X86Delivery::Kind::TripleFault;
      out.chain += " -> shutdown";
      return out;
    }
    switch (x86_nesting(vector, raised)) {
      case X86Nesting::Serial:
        vector = raised;
        error = raised_error;
        break;
      case X86Nesting::DoubleFault:
        vector = x86vec::kDF;
        error = 0;
        out.chain += " -> #DF";
        break;
      case X86Nesting::TripleFault:
        out.kind = X86Delivery::Kind::TripleFault;
        out.chain += " -> triple fault";
        return out;
    }
  }
  // Not reached by the rules above (each failed round raises a contributory
  // or page-fault-class exception, or #MC, at most twice before #DF); a bound
  // all the same.
  out.kind = X86Delivery::Kind::TripleFault;
  out.chain += " -> triple fault";
  return out;
}

}  // namespace cocosim
