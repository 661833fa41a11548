#include "cpu/elf_image.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace cocosim {

namespace {

constexpr uint32_t kPtLoad = 1;
constexpr uint32_t kShtSymtab = 2;
constexpr uint32_t kPfX = 1, kPfW = 2;
constexpr uint64_t kMaxSegment = uint64_t{1} << 30;  // a guest image, not a disk
constexpr uint64_t kMaxFile = uint64_t{256} << 20;

// Little-endian reads that fail instead of reading past the end.
struct Reader {
  const std::vector<uint8_t>& d;
  bool ok = true;
  template <typename T>
  T at(uint64_t off) {
    T v{};
    if (off > d.size() || d.size() - off < sizeof(T)) {
      ok = false;
      return v;
    }
    std::memcpy(&v, d.data() + off, sizeof(T));  // the hosts cocosim builds on are little-endian
    return v;
  }
  bool range(uint64_t off, uint64_t len) const { return off <= d.size() && d.size() - off >= len; }
};

}  // namespace

const char* ElfImage::machine_name(uint16_t m) {
  switch (m) {
    case kMachineX86_64: return "x86-64";
    case kMachineAarch64: return "AArch64";
    case 3: return "i386";
    case 40: return "ARM (32-bit)";
    case 243: return "RISC-V";
    default: return "another machine";
  }
}

bool ElfImage::load(const std::string& path, std::string* error) {
  // A regular file of bounded size: a scenario naming /dev/zero or a FIFO
  // must get an error, not an endless read.
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = "'" + path + "' is not a regular file";
    return false;
  }
  if (uint64_t(st.st_size) > kMaxFile) {
    *error = "'" + path + "' is larger than " + std::to_string(kMaxFile >> 20) + " MiB";
    return false;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!parse(data, error)) {
    *error = "'" + path + "': " + *error;
    return false;
  }
  return true;
}

bool ElfImage::parse(const std::vector<uint8_t>& d, std::string* error) {
  segments_.clear();
  symbols_.clear();
  Reader r{d};
  if (d.size() < 64 || std::memcmp(d.data(), "\x7f" "ELF", 4) != 0) {
    *error = "not an ELF file";
    return false;
  }
  if (d[4] != 2 || d[5] != 1) {
    *error = "not a 64-bit little-endian ELF file";
    return false;
  }
  const uint16_t type = r.at<uint16_t>(16);
  if (type != 2) {  // ET_EXEC: linked at fixed guest-physical addresses
    *error = "not an executable linked at fixed addresses (ELF type " + std::to_string(type) + ")";
    return false;
  }
  machine_ = r.at<uint16_t>(18);
  entry_ = r.at<uint64_t>(24);
  const uint64_t phoff = r.at<uint64_t>(32), shoff = r.at<uint64_t>(40);
  const uint16_t phentsize = r.at<uint16_t>(54), phnum = r.at<uint16_t>(56);
  const uint16_t shentsize = r.at<uint16_t>(58), shnum = r.at<uint16_t>(60);
  if (phnum && (phentsize < 56 || !r.range(phoff, uint64_t(phentsize) * phnum))) {
    *error = "program headers lie outside the file";
    return false;
  }
  for (uint16_t i = 0; i < phnum; ++i) {
    const uint64_t h = phoff + uint64_t(i) * phentsize;
    if (r.at<uint32_t>(h) != kPtLoad) continue;
    const uint32_t flags = r.at<uint32_t>(h + 4);
    const uint64_t off = r.at<uint64_t>(h + 8), paddr = r.at<uint64_t>(h + 24);
    const uint64_t filesz = r.at<uint64_t>(h + 32), memsz = r.at<uint64_t>(h + 40);
    if (filesz > memsz || memsz > kMaxSegment || !r.range(off, filesz) || paddr + memsz < paddr) {
      *error = "loadable segment " + std::to_string(i) + " is malformed (outside the file or too large)";
      return false;
    }
    ElfSegment s;
    s.paddr = paddr;
    s.bytes.assign(memsz, 0);
    if (filesz) std::memcpy(s.bytes.data(), d.data() + off, filesz);
    s.exec = flags & kPfX;
    s.write = flags & kPfW;
    segments_.push_back(std::move(s));
  }
  if (segments_.empty()) {
    *error = "no loadable segment";
    return false;
  }
  // Symbols: every SHT_SYMTAB with its linked string table.
  if (shnum && (shentsize < 64 || !r.range(shoff, uint64_t(shentsize) * shnum))) {
    *error = "section headers lie outside the file";
    return false;
  }
  for (uint16_t i = 0; i < shnum; ++i) {
    const uint64_t h = shoff + uint64_t(i) * shentsize;
    if (r.at<uint32_t>(h + 4) != kShtSymtab) continue;
    const uint64_t off = r.at<uint64_t>(h + 24), size = r.at<uint64_t>(h + 32);
    const uint32_t link = r.at<uint32_t>(h + 40);
    const uint64_t entsize = r.at<uint64_t>(h + 56);
    if (link >= shnum || entsize < 24 || !r.range(off, size)) {
      *error = "symbol table " + std::to_string(i) + " is malformed";
      return false;
    }
    const uint64_t sh = shoff + uint64_t(link) * shentsize;
    const uint64_t stroff = r.at<uint64_t>(sh + 24), strsize = r.at<uint64_t>(sh + 32);
    if (!r.range(stroff, strsize)) {
      *error = "string table " + std::to_string(link) + " lies outside the file";
      return false;
    }
    for (uint64_t e = off; e + entsize <= off + size; e += entsize) {
      const uint32_t name = r.at<uint32_t>(e);
      const uint16_t shndx = r.at<uint16_t>(e + 6);
      const uint64_t value = r.at<uint64_t>(e + 8);
      if (name == 0 || name >= strsize || shndx == 0) continue;  // unnamed or undefined
      const char* s = reinterpret_cast<const char*>(d.data() + stroff + name);
      const size_t n = strnlen(s, size_t(strsize - name));
      if (n == strsize - name) continue;  // not terminated inside its table
      symbols_.emplace(std::string(s, n), value);
    }
  }
  if (!r.ok) {
    *error = "truncated ELF file";
    return false;
  }
  return true;
}

std::optional<uint64_t> ElfImage::symbol(const std::string& name) const {
  auto it = symbols_.find(name);
  if (it == symbols_.end()) return std::nullopt;
  return it->second;
}

}  // namespace cocosim
