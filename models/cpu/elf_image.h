// A guest program image: an ELF64 executable (little-endian) read with bounds
// checks on every offset and size, so a truncated or hostile file is an
// error, never a crash. What the loader needs: the machine, the loadable
// segments at their physical (guest-physical) addresses, and symbols by name.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cocosim {

struct ElfSegment {
  uint64_t paddr = 0;          // guest-physical load address
  std::vector<uint8_t> bytes;  // file bytes, zero-filled up to the memory size
  bool exec = false, write = false;
};

class ElfImage {
 public:
  static constexpr uint16_t kMachineX86_64 = 62;    // EM_X86_64
  static constexpr uint16_t kMachineAarch64 = 183;  // EM_AARCH64

  // Parses `data`; false with the reason in *error.
  bool parse(const std::vector<uint8_t>& data, std::string* error);
  // Reads and parses the file at `path`.
  bool load(const std::string& path, std::string* error);

  uint16_t machine() const { return machine_; }
  uint64_t entry() const { return entry_; }
  const std::vector<ElfSegment>& segments() const { return segments_; }
  std::optional<uint64_t> symbol(const std::string& name) const;
  static const char* machine_name(uint16_t m);

 private:
  uint16_t machine_ = 0;
  uint64_t entry_ = 0;
  std::vector<ElfSegment> segments_;
  std::map<std::string, uint64_t> symbols_;
};

}  // namespace cocosim
