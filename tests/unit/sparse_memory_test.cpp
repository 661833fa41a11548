#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <vector>

#include "dram/sparse_memory.h"

using cocosim::kPageSize;
using cocosim::SparseMemory;

namespace {
constexpr uint64_t kGiB = uint64_t{1} << 30;
}

TEST_CASE("SparseMemory: frames never written read as zeros and stay absent") {
  SparseMemory m(kGiB);
  std::array<uint8_t, 64> buf;
  buf.fill(0xee);
  m.read(0x12345, buf.data(), buf.size());
  for (uint8_t b : buf) CHECK(b == 0);
  CHECK(m.allocated_frames() == 0);
  CHECK_FALSE(m.allocated(0x12));
  CHECK(m.frame(0x12, false) == nullptr);
  CHECK(m.allocated_frames() == 0);
}

TEST_CASE("SparseMemory: writing or filling zeros to an absent frame allocates nothing") {
  SparseMemory m(kGiB);
  std::vector<uint8_t> zeros(3 * kPageSize, 0);
  m.write(0x1000, zeros.data(), zeros.size());
  m.fill(0x10000, 0, 5 * kPageSize);
  CHECK(m.allocated_frames() == 0);
}

TEST_CASE("SparseMemory: a non-zero write allocates exactly the frame it touches") {
  SparseMemory m(kGiB);
  uint32_t v = 0xdeadbeef;
  m.write(0x5004, &v, sizeof v);
  CHECK(m.allocated_frames() == 1);
  CHECK(m.allocated(5));
  uint32_t back = 0;
  m.read(0x5004, &back, sizeof back);
  CHECK(back == 0xdeadbeef);
  uint32_t around = 1;
  m.read(0x5000, &around, sizeof around);
  CHECK(around == 0);
}

TEST_CASE("SparseMemory: zeros written to an existing frame clear it but keep it") {
  SparseMemory m(kGiB);
  m.fill(0x3000, 0xab, kPageSize);
  REQUIRE(m.allocated(3));
  uint64_t zero = 0;
  m.write(0x3008, &zero, sizeof zero);
  uint64_t back = 1;
  m.read(0x3008, &back, sizeof back);
  CHECK(back == 0);
  CHECK(m.allocated(3));
  m.fill(0x3000, 0, kPageSize);
  uint8_t b = 1;
  m.read(0x3fff, &b, 1);
  CHECK(b == 0);
}

TEST_CASE("SparseMemory: 64 GiB with three pages written costs three frames") {
  const uint64_t size = 64 * kGiB;
  SparseMemory m(size);
  CHECK(m.size() == size);
  const uint8_t x = 1;
  m.write(0, &x, 1);
  m.write(32 * kGiB + 0x123, &x, 1);
  m.write(size - 1, &x, 1);
  CHECK(m.allocated_frames() == 3);
  CHECK(m.allocated(0));
  CHECK(m.allocated((32 * kGiB) >> 12));
  CHECK(m.allocated((size - 1) >> 12));
  uint8_t b = 0;
  m.read(size - 1, &b, 1);
  CHECK(b == 1);
}

TEST_CASE("SparseMemory: a write and a read may span a page boundary") {
  SparseMemory m(kGiB);
  std::array<uint8_t, 16> in;
  for (size_t i = 0; i < in.size(); ++i) in[i] = uint8_t(0x10 + i);
  m.write(0x1ff8, in.data(), in.size());
  CHECK(m.allocated_frames() == 2);
  CHECK(m.allocated(1));
  CHECK(m.allocated(2));
  std::array<uint8_t, 32> out;
  out.fill(0xee);
  m.read(0x1ff0, out.data(), out.size());
  for (size_t i = 0; i < 8; ++i) CHECK(out[i] == 0);
  for (size_t i = 0; i < 16; ++i) CHECK(out[8 + i] == in[i]);
  for (size_t i = 24; i < 32; ++i) CHECK(out[i] == 0);
}

TEST_CASE("SparseMemory: only the pages of a multi-page write that get non-zero data are allocated") {
  SparseMemory m(kGiB);
  std::vector<uint8_t> data(3 * kPageSize, 0);
  data[kPageSize + 7] = 0x42;  // only the middle page is non-zero
  m.write(0x10000, data.data(), data.size());
  CHECK(m.allocated_frames() == 1);
  CHECK(m.allocated(0x11));
  std::vector<uint8_t> back(data.size(), 0xee);
  m.read(0x10000, back.data(), back.size());
  CHECK(back == data);
}

TEST_CASE("SparseMemory: fill spans pages and reads back") {
  SparseMemory m(kGiB);
  m.fill(0x1800, 0x5a, 0x2000);
  CHECK(m.allocated_frames() == 3);
  std::vector<uint8_t> back(0x3000, 0);
  m.read(0x1000, back.data(), back.size());
  for (size_t i = 0; i < back.size(); ++i) {
    const bool inside = i >= 0x800 && i < 0x2800;
    if (back[i] != (inside ? 0x5a : 0)) {
      FAIL("byte " << i << " is " << int(back[i]));
      break;
    }
  }
}

TEST_CASE("SparseMemory: frame(pfn, true) hands out a zeroed frame once") {
  SparseMemory m(kGiB);
  uint8_t* f = m.frame(9, true);
  REQUIRE(f != nullptr);
  for (uint64_t i = 0; i < kPageSize; ++i) REQUIRE(f[i] == 0);
  f[10] = 0x77;
  CHECK(m.frame(9, true) == f);
  CHECK(m.frame(9, false) == f);
  uint8_t b = 0;
  m.read(9 * kPageSize + 10, &b, 1);
  CHECK(b == 0x77);
  CHECK(m.allocated_frames() == 1);
}

TEST_CASE("SparseMemory: in_range accepts the last byte and rejects what passes the end") {
  SparseMemory m(kGiB);
  CHECK(m.in_range(0, kGiB));
  CHECK(m.in_range(kGiB - 8, 8));
  CHECK_FALSE(m.in_range(kGiB - 8, 9));
  CHECK_FALSE(m.in_range(0, kGiB + 1));
  CHECK_FALSE(m.in_range(kGiB, 1));
  CHECK_FALSE(m.in_range(~uint64_t{0}, 2));  // no wrap-around
  CHECK(m.in_range(kGiB, 0));
}
