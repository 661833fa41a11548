// libFuzzer target: the scenario loader and validator on arbitrary bytes.
// Any input must give either a scenario or located errors, never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>

#include "scenario/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  cocosim::LoadResult r = cocosim::load_scenario_text("fuzz.yaml", text, std::nullopt);
  // A refused file must say why and where; an accepted one has no errors.
  if (!r.scenario && r.errors.empty()) {
    std::fprintf(stderr, "fuzz_scenario: refused without an error message\n");
    std::abort();
  }
  if (r.scenario && !r.errors.empty()) {
    std::fprintf(stderr, "fuzz_scenario: accepted with errors: %s\n", r.errors[0].str().c_str());
    std::abort();
  }
  for (const auto& e : r.errors) {
    if (e.message.empty() || e.loc.line < 0 || e.loc.col < 0) {
      std::fprintf(stderr, "fuzz_scenario: error without a message or place: %s\n", e.str().c_str());
      std::abort();
    }
  }
  return 0;
}
