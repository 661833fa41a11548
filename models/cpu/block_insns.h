// Where instructions begin inside a block of guest code, for exact
// instruction counts where a translated block is cut short. Unicorn counts
// per translated block (its block hook gives the block's start); a debugger's
// breakpoint inside a block, or an exit from inside one, needs how many of the
// block's instructions come before a given PC. AArch64 instructions are 4
// bytes each; x86-64 ones are decoded with Capstone (Debian libcapstone-dev).
// Pure: no Unicorn, no SystemC (unit-tested).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

namespace cocosim {

enum class IsaArch { X86_64, Arm64 };

class BlockInsns {
 public:
  explicit BlockInsns(IsaArch arch);
  ~BlockInsns();
  BlockInsns(const BlockInsns&) = delete;
  BlockInsns& operator=(const BlockInsns&) = delete;

  // How many instructions of the straight-line code `code[0, len)`, whose
  // first instruction is at `start`, begin before `pc`. nullopt when `pc` is
  // not an instruction boundary of it (or the bytes do not decode up to it).
  std::optional<uint64_t> count_before(const uint8_t* code, size_t len, uint64_t start, uint64_t pc) const;
  // The address of the `k`-th (from 0) x86 port-I/O instruction (IN, OUT,
  // INS, OUTS) among the first `max_insns` instructions of `code`; nullopt:
  // there is none (always on AArch64, which has no port I/O).
  std::optional<uint64_t> nth_port_io(const uint8_t* code, size_t len, uint64_t start, unsigned k,
                                      uint64_t max_insns) const;

 private:
  IsaArch arch_;
  size_t handle_ = 0;  // Capstone's csh (x86-64 only)
};

}  // namespace cocosim
