#include "tdx/td_measurement.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <openssl/evp.h>

namespace cocosim {

TdMeasurement::TdMeasurement() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha384(), nullptr) != 1)
    throw std::runtime_error("MRTD: SHA-384 unavailable");
}

TdMeasurement::~TdMeasurement() = default;

std::array<uint8_t, TdMeasurement::kBlock> TdMeasurement::header(const char* name, Addr gpa) {
  std::array<uint8_t, kBlock> b{};
  std::memcpy(b.data(), name, std::min<size_t>(std::strlen(name), 16));
  for (int i = 0; i < 8; ++i) b[16 + i] = uint8_t(gpa >> (8 * i));
  return b;
}

void TdMeasurement::update(const uint8_t* p, size_t n) {
  if (finalized_) throw std::logic_error("MRTD: extended after finalize");
  EVP_DigestUpdate(ctx_.get(), p, n);
  blocks_ += n / kBlock;
}

void TdMeasurement::page_add(Addr gpa) {
  const auto b = header("MEM.PAGE.ADD", gpa);
  update(b.data(), b.size());
}

void TdMeasurement::extend(Addr gpa, const uint8_t (&chunk)[kExtendChunk]) {
  const auto b = header("MR.EXTEND", gpa);
  update(b.data(), b.size());
  update(chunk, kExtendChunk);
}

const TdMeasurement::Digest& TdMeasurement::finalize() {
  if (finalized_) return mrtd_;
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx_.get(), mrtd_.data(), &len);
  finalized_ = true;
  return mrtd_;
}

}  // namespace cocosim
