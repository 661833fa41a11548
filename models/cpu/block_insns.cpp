#include "cpu/block_insns.h"

#include <capstone/capstone.h>

#include <stdexcept>

namespace cocosim {

namespace {
constexpr uint64_t kArm64InsnBytes = 4;

bool is_port_io(unsigned id) {
  switch (id) {
    case X86_INS_IN: case X86_INS_OUT:
    case X86_INS_INSB: case X86_INS_INSW: case X86_INS_INSD:
    case X86_INS_OUTSB: case X86_INS_OUTSW: case X86_INS_OUTSD:
      return true;
    default:
      return false;
  }
}

// Walks the instructions of code[0, len) from `start`: `visit(address, size, id)`
// returns true to stop. Returns false when the bytes stopped decoding first.
template <typename Visit>
bool walk_x86(size_t handle, const uint8_t* code, size_t len, uint64_t start, Visit visit) {
  cs_insn* insn = cs_malloc(handle);
  if (!insn) return false;
  const uint8_t* p = code;
  size_t left = len;
  uint64_t addr = start;
  bool done = false;
  while (!done && cs_disasm_iter(handle, &p, &left, &addr, insn))
    done = visit(insn->address, uint64_t(insn->size), unsigned(insn->id));
  cs_free(insn, 1);
  return done;
}
}  // namespace

BlockInsns::BlockInsns(IsaArch arch) : arch_(arch) {
  if (arch != IsaArch::X86_64) return;
  csh h = 0;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) throw std::runtime_error("Capstone: cannot open an x86-64 decoder");
  handle_ = h;
}

BlockInsns::~BlockInsns() {
  if (handle_) {
    csh h = handle_;
    cs_close(&h);
  }
}

std::optional<uint64_t> BlockInsns::count_before(const uint8_t* code, size_t len, uint64_t start,
                                                 uint64_t pc) const {
  if (pc < start || pc - start > len) return std::nullopt;
  if (arch_ == IsaArch::Arm64) {
    if ((pc - start) % kArm64InsnBytes) return std::nullopt;
    return (pc - start) / kArm64InsnBytes;
  }
  if (pc == start) return 0;
  uint64_t n = 0;
  uint64_t next = start;  // where the next instruction begins
  walk_x86(handle_, code, len, start, [&](uint64_t addr, uint64_t size, unsigned) {
    if (addr >= pc) return true;
    ++n;
    next = addr + size;
    return false;
  });
  if (next != pc) return std::nullopt;  // inside an instruction, or undecodable before it
  return n;
}

std::optional<uint64_t> BlockInsns::nth_port_io(const uint8_t* code, size_t len, uint64_t start, unsigned k,
                                                uint64_t max_insns) const {
  if (arch_ != IsaArch::X86_64) return std::nullopt;
  std::optional<uint64_t> found;
  uint64_t seen = 0;
  walk_x86(handle_, code, len, start, [&](uint64_t addr, uint64_t, unsigned id) {
    if (seen++ >= max_insns) return true;
    if (is_port_io(id) && k-- == 0) {
      found = addr;
      return true;
    }
    return false;
  });
  return found;
}

}  // namespace cocosim
