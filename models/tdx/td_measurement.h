// MRTD, the TD's build-time measurement: SHA-384 over the module's 128-byte
// blocks, started by TDH.MNG.INIT and closed by TDH.MR.FINALIZE. A block is a
// 16-byte ASCII operation name (zero padded), the 8-byte GPA (little endian)
// and 104 zero bytes: TDH.MEM.PAGE.ADD adds one ("MEM.PAGE.ADD", the GPA
// only), TDH.MR.EXTEND one ("MR.EXTEND") followed by the 256 bytes it measures.
#pragma once
#include <array>
#include <cstdint>
#include <memory>

#include "common/types.h"

struct evp_md_ctx_st;

namespace cocosim {

class TdMeasurement {
 public:
  using Digest = std::array<uint8_t, 48>;
  static constexpr size_t kBlock = 128;
  static constexpr size_t kExtendChunk = 256;

  TdMeasurement();
  ~TdMeasurement();
  TdMeasurement(const TdMeasurement&) = delete;
  TdMeasurement& operator=(const TdMeasurement&) = delete;

  // The block header of an operation, as the module builds it.
  static std::array<uint8_t, kBlock> header(const char* name, Addr gpa);

  void page_add(Addr gpa);
  void extend(Addr gpa, const uint8_t (&chunk)[kExtendChunk]);
  // SHA-384 of everything so far; no further blocks are taken.
  const Digest& finalize();

  bool finalized() const { return finalized_; }
  const Digest& mrtd() const { return mrtd_; }  // zeros until finalized
  uint64_t blocks() const { return blocks_; }

 private:
  void update(const uint8_t* p, size_t n);

  std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> ctx_;
  Digest mrtd_{};
  bool finalized_ = false;
  uint64_t blocks_ = 0;
};

}  // namespace cocosim
