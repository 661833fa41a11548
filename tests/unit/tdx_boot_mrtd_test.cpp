// The MRTD that configs/tdx-boot.yaml expects, recomputed outside the model:
// the image page the scenario stores, the module's 128-byte blocks built by
// hand, OpenSSL's one-shot SHA-384. Every `mrtd:` literal in the file must
// equal it, so the scenario cannot drift from an independent computation.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <openssl/evp.h>

namespace {

std::string tdx_boot_mrtd() {
  std::vector<uint8_t> image(4096, 0);
  const uint64_t v = 0x1122334455667788ull;  // `store: {map: image, offset: 0, value: ...}`
  for (int i = 0; i < 8; ++i) image[i] = uint8_t(v >> (8 * i));
  std::vector<uint8_t> msg;
  auto block = [&](const char* name, uint64_t gpa) {
    uint8_t b[128] = {};
    std::memcpy(b, name, std::strlen(name));
    for (int i = 0; i < 8; ++i) b[16 + i] = uint8_t(gpa >> (8 * i));
    msg.insert(msg.end(), b, b + 128);
  };
  // KVM_TDX_INIT_MEM_REGION of GPA 0 with MEASURE_MEMORY_REGION: PAGE.ADD, then 16 x MR.EXTEND.
  block("MEM.PAGE.ADD", 0);
  for (int c = 0; c < 16; ++c) {
    block("MR.EXTEND", uint64_t(c) * 256);
    msg.insert(msg.end(), image.begin() + c * 256, image.begin() + (c + 1) * 256);
  }
  uint8_t d[48];
  unsigned len = 0;
  REQUIRE(EVP_Digest(msg.data(), msg.size(), d, &len, EVP_sha384(), nullptr) == 1);
  static const char* kHex = "0123456789abcdef";
  std::string h;
  for (unsigned i = 0; i < len; ++i) h += kHex[d[i] >> 4], h += kHex[d[i] & 15];
  return h;
}

}  // namespace

TEST_CASE("tdx-boot.yaml: the MRTD it expects is SHA-384 over the measured image, recomputed with OpenSSL") {
  std::ifstream in(std::string(COCOSIM_SOURCE_DIR) + "/configs/tdx-boot.yaml");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::string want = tdx_boot_mrtd();
  const std::regex lit("mrtd: \"?([0-9a-f]{96})\"?");
  int nonzero = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), lit); it != std::sregex_iterator(); ++it) {
    const std::string got = (*it)[1];
    if (got == std::string(96, '0')) continue;  // before FINALIZE
    CHECK(got == want);
    ++nonzero;
  }
  CHECK(nonzero >= 2);  // inspect and TDG.MR.REPORT
}
