// Instruction boundaries inside a block (models/cpu/block_insns.*), without
// Unicorn: the counts an exact instruction count needs where a block is cut.
#include <doctest/doctest.h>

#include <cstdint>

#include "cpu/block_insns.h"

using namespace cocosim;

namespace {
// x86-64, at 0x1000: one block of 7 instructions of 1 to 8 bytes.
const uint8_t kX86Block[] = {
    0x48, 0x8b, 0x1c, 0x25, 0x00, 0x50, 0x00, 0x00,  // 0x1000 mov 0x5000, %rbx
    0xba, 0x00, 0x10, 0x00, 0x00,                    // 0x1008 mov $0x1000, %edx
    0xec,                                            // 0x100d in (%dx), %al
    0x48, 0x01, 0xcb,                                // 0x100e add %rcx, %rbx
    0xee,                                            // 0x1011 out %al, (%dx)
    0x6c,                                            // 0x1012 insb (%dx), %es:(%rdi)
    0xf4,                                            // 0x1013 hlt
};
}  // namespace

TEST_CASE("block instructions: x86-64 counts by decoded lengths, refuses a PC inside an instruction") {
  const BlockInsns b(IsaArch::X86_64);
  const size_t len = sizeof kX86Block;
  CHECK(b.count_before(kX86Block, len, 0x1000, 0x1000) == 0);
  CHECK(b.count_before(kX86Block, len, 0x1000, 0x1008) == 1);
  CHECK(b.count_before(kX86Block, len, 0x1000, 0x100d) == 2);
  CHECK(b.count_before(kX86Block, len, 0x1000, 0x100e) == 3);
  CHECK(b.count_before(kX86Block, len, 0x1000, 0x1013) == 6);
  CHECK(b.count_before(kX86Block, len, 0x1000, 0x1014) == 7);  // the block's end
  CHECK_FALSE(b.count_before(kX86Block, len, 0x1000, 0x1004).has_value());  // inside the first mov
  CHECK_FALSE(b.count_before(kX86Block, len, 0x1000, 0x0fff).has_value());  // before the block
  CHECK_FALSE(b.count_before(kX86Block, len, 0x1000, 0x1015).has_value());  // past its bytes
  CHECK_FALSE(b.count_before(kX86Block, 10, 0x1000, 0x100d).has_value());   // bytes end inside an instruction
}

TEST_CASE("block instructions: the k-th x86 port-I/O instruction, within the block's count") {
  const BlockInsns b(IsaArch::X86_64);
  const size_t len = sizeof kX86Block;
  CHECK(b.nth_port_io(kX86Block, len, 0x1000, 0, 7) == 0x100d);  // in
  CHECK(b.nth_port_io(kX86Block, len, 0x1000, 1, 7) == 0x1011);  // out
  CHECK(b.nth_port_io(kX86Block, len, 0x1000, 2, 7) == 0x1012);  // insb
  CHECK_FALSE(b.nth_port_io(kX86Block, len, 0x1000, 3, 7).has_value());
  CHECK_FALSE(b.nth_port_io(kX86Block, len, 0x1000, 1, 4).has_value());  // the block ends before the out
}

TEST_CASE("block instructions: AArch64 instructions are 4 bytes, no port I/O") {
  const BlockInsns b(IsaArch::Arm64);
  CHECK(b.count_before(nullptr, 64, 0x4000, 0x4000) == 0);
  CHECK(b.count_before(nullptr, 64, 0x4000, 0x4010) == 4);
  CHECK(b.count_before(nullptr, 64, 0x4000, 0x4040) == 16);
  CHECK_FALSE(b.count_before(nullptr, 64, 0x4000, 0x4002).has_value());
  CHECK_FALSE(b.count_before(nullptr, 64, 0x4000, 0x4044).has_value());
  const uint8_t code[8] = {};
  CHECK_FALSE(b.nth_port_io(code, sizeof code, 0x4000, 0, 2).has_value());
}
