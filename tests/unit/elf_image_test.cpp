// The guest image reader: well-formed images, and no crash (only an error) on
// any truncation or bad field; scenario `programs:` that name ELF images.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cpu/elf_image.h"
#include "scenario/scenario.h"

using namespace cocosim;

namespace {

template <typename T>
void put(std::vector<uint8_t>& d, size_t off, T v) {
  if (d.size() < off + sizeof v) d.resize(off + sizeof v);
  std::memcpy(d.data() + off, &v, sizeof v);
}

// A minimal ET_EXEC: one PT_LOAD of 16 bytes at paddr 0x100000 (memsz 32),
// a symbol table with `guest_entry` = 0x100000 and `data` = 0x100010.
std::vector<uint8_t> tiny_elf(uint16_t machine) {
  std::vector<uint8_t> d(64, 0);
  std::memcpy(d.data(), "\x7f" "ELF", 4);
  d[4] = 2;  // ELFCLASS64
  d[5] = 1;  // little-endian
  d[6] = 1;
  put<uint16_t>(d, 16, 2);  // ET_EXEC
  put<uint16_t>(d, 18, machine);
  put<uint32_t>(d, 20, 1);
  put<uint64_t>(d, 24, 0x100000);
  put<uint64_t>(d, 32, 64);     // phoff
  put<uint16_t>(d, 52, 64);     // ehsize
  put<uint16_t>(d, 54, 56);     // phentsize
  put<uint16_t>(d, 56, 1);      // phnum
  put<uint16_t>(d, 58, 64);     // shentsize
  // program header at 64
  put<uint32_t>(d, 64, 1);      // PT_LOAD
  put<uint32_t>(d, 68, 5);      // R X
  put<uint64_t>(d, 72, 0x200);  // offset
  put<uint64_t>(d, 80, 0x100000);
  put<uint64_t>(d, 88, 0x100000);
  put<uint64_t>(d, 96, 16);     // filesz
  put<uint64_t>(d, 104, 32);    // memsz
  // code bytes at 0x200
  for (int i = 0; i < 16; ++i) put<uint8_t>(d, 0x200 + i, uint8_t(0x90));
  // strtab at 0x300: "\0guest_entry\0data\0"
  const char strtab[] = "\0guest_entry\0data";
  for (size_t i = 0; i < sizeof strtab; ++i) put<uint8_t>(d, 0x300 + i, uint8_t(strtab[i]));
  // symtab at 0x380: null symbol, guest_entry, data
  put<uint32_t>(d, 0x380 + 24, 1);
  put<uint16_t>(d, 0x380 + 24 + 6, 1);
  put<uint64_t>(d, 0x380 + 24 + 8, 0x100000);
  put<uint32_t>(d, 0x380 + 48, 13);
  put<uint16_t>(d, 0x380 + 48 + 6, 1);
  put<uint64_t>(d, 0x380 + 48 + 8, 0x100010);
  // section headers at 0x400: [0] null, [1] symtab, [2] strtab
  const size_t sh = 0x400;
  put<uint64_t>(d, 40, sh);
  put<uint16_t>(d, 60, 3);
  put<uint32_t>(d, sh + 64 + 4, 2);  // SHT_SYMTAB
  put<uint64_t>(d, sh + 64 + 24, 0x380);
  put<uint64_t>(d, sh + 64 + 32, 72);
  put<uint32_t>(d, sh + 64 + 40, 2);  // link: strtab
  put<uint64_t>(d, sh + 64 + 56, 24);
  put<uint32_t>(d, sh + 128 + 4, 3);  // SHT_STRTAB
  put<uint64_t>(d, sh + 128 + 24, 0x300);
  put<uint64_t>(d, sh + 128 + 32, sizeof strtab);
  d.resize(sh + 3 * 64);
  return d;
}

std::string make_temp_dir() {
  char tmpl[] = "/tmp/cocosim-elf-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

std::string write_file(const std::string& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  return path;
}

}  // namespace

TEST_CASE("elf image: segments at their physical addresses, zero-filled, and symbols") {
  ElfImage img;
  std::string err;
  REQUIRE(img.parse(tiny_elf(ElfImage::kMachineX86_64), &err));
  CHECK(img.machine() == ElfImage::kMachineX86_64);
  REQUIRE(img.segments().size() == 1);
  const ElfSegment& s = img.segments()[0];
  CHECK(s.paddr == 0x100000);
  CHECK(s.bytes.size() == 32);
  CHECK(s.bytes[15] == 0x90);
  CHECK(s.bytes[16] == 0);
  CHECK(s.exec);
  CHECK_FALSE(s.write);
  CHECK(img.symbol("guest_entry") == 0x100000);
  CHECK(img.symbol("data") == 0x100010);
  CHECK_FALSE(img.symbol("nothing"));
}

TEST_CASE("elf image: every truncation and bad header is an error, never a crash") {
  const std::vector<uint8_t> good = tiny_elf(ElfImage::kMachineAarch64);
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + long(n));
    ElfImage img;
    std::string err;
    CHECK_FALSE(img.parse(cut, &err));
    CHECK_FALSE(err.empty());
  }
  std::string err;
  ElfImage img;
  auto bad = good;
  put<uint64_t>(bad, 96, 1ull << 40);  // filesz beyond the file
  CHECK_FALSE(img.parse(bad, &err));
  CHECK(err.find("segment 0") != std::string::npos);
  bad = good;
  put<uint16_t>(bad, 16, 3);  // ET_DYN
  CHECK_FALSE(img.parse(bad, &err));
  CHECK(err.find("fixed addresses") != std::string::npos);
  bad = good;
  bad[4] = 1;  // 32-bit
  CHECK_FALSE(img.parse(bad, &err));
  bad = good;
  put<uint32_t>(bad, 0x400 + 64 + 40, 9);  // symtab linked to no section
  CHECK_FALSE(img.parse(bad, &err));
  CHECK(img.load("/nonexistent/x.elf", &err) == false);
  CHECK(err.find("No such file") != std::string::npos);
  CHECK(img.load("/dev/zero", &err) == false);  // no endless read
  CHECK(err.find("not a regular file") != std::string::npos);
  CHECK(img.load("/tmp", &err) == false);
}

TEST_CASE("scenario programs: an ELF program loads, a wrong-architecture or missing one is FILE:LINE:COL") {
  const std::string dir = make_temp_dir();
  write_file(dir, "x86.elf", tiny_elf(ElfImage::kMachineX86_64));
  write_file(dir, "a64.elf", tiny_elf(ElfImage::kMachineAarch64));
  const std::string head = "platform: {arch: x86-tdx}\nprograms:\n";
  const std::string tail = "steps:\n  - KVM_CREATE_VM: {name: vm0, type: default}\n";
  const std::string file = dir + "/t.yaml";
  auto err_at = [](const LoadResult& r, int line, int col, const std::string& what) {
    for (const auto& e : r.errors)
      if (e.loc.line == line && e.loc.col == col && e.message.find(what) != std::string::npos) return true;
    return false;
  };
  SUBCASE("relative to the scenario file") {
    LoadResult r = load_scenario_text(file, head + "  p: {elf: x86.elf, entry: guest_entry}\n" + tail, std::nullopt);
    REQUIRE(r.scenario);
    CHECK(r.scenario->elf_programs.at("p").entry_addr == 0x100000);
  }
  SUBCASE("wrong architecture") {
    LoadResult r = load_scenario_text(file, head + "  p: {elf: a64.elf, entry: guest_entry}\n" + tail, std::nullopt);
    CHECK_FALSE(r.scenario);
    CHECK(err_at(r, 3, 12, "is AArch64 code, but platform.arch x86-tdx runs x86-64"));
    LoadResult a = load_scenario_text(file, head + "  p: {elf: a64.elf, entry: guest_entry}\n" + tail, Arch::Arm64Pkvm);
    CHECK(a.scenario);
  }
  SUBCASE("missing file, missing symbol, unknown key") {
    LoadResult r = load_scenario_text(file, head + "  p: {elf: none.elf, entry: guest_entry}\n" + tail, std::nullopt);
    CHECK(err_at(r, 3, 12, "cannot open"));
    r = load_scenario_text(file, head + "  p: {elf: x86.elf, entry: main}\n" + tail, std::nullopt);
    CHECK(err_at(r, 3, 28, "no symbol 'main'"));
    r = load_scenario_text(file, head + "  p: {elf: x86.elf, entry: guest_entry, entyr: x}\n" + tail, std::nullopt);
    CHECK(err_at(r, 3, 41, "unknown key 'entyr'"));
    r = load_scenario_text(file, head + "  p: {elf: x86.elf, entry: guest_entry, ucall_mmio: 0x1000}\n" + tail,
                           std::nullopt);
    CHECK(err_at(r, 3, 53, "ucall_mmio is arm64-pkvm only"));
  }
  SUBCASE("arm64: the ucall MMIO address") {
    LoadResult r = load_scenario_text(
        file, head + "  p: {elf: a64.elf, entry: guest_entry, ucall_mmio: 0x10000000}\n" + tail, Arch::Arm64Pkvm);
    REQUIRE(r.scenario);
    CHECK(r.scenario->elf_programs.at("p").ucall_mmio == 0x10000000);
  }
  std::remove((dir + "/x86.elf").c_str());
  std::remove((dir + "/a64.elf").c_str());
  rmdir(dir.c_str());
}
