// The instruction-set executor's glue, without SystemC: a fake vCPU whose
// "stage 2" is a table of GPA page -> host frame, and which tells the
// executor of invalidations as the real vCPU does.
#include <doctest/doctest.h>

#include <unicorn/unicorn.h>

#include <array>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "cpu/guest_page_map.h"
#include "cpu/isa_executor.h"

using namespace cocosim;

namespace {

struct Frame {
  alignas(4096) uint8_t bytes[4096];
};

class FakeVcpu : public GuestEnv {
 public:
  struct Leaf {
    Frame* frame;
    bool writable = true;
    bool dmi = true;  // the frame has a DMI pointer
  };

  Frame* frame(uint64_t gfn) {
    if (auto r = ram_frames.find(gfn); r != ram_frames.end()) return r->second;
    auto& f = frames_[gfn];
    if (!f) {
      f = std::make_unique<Frame>();
      std::memset(f->bytes, 0, sizeof f->bytes);
    }
    return f.get();
  }
  // Stage 2 maps GPA pages [first, first + n) to consecutive frames, one
  // host range (what translate_run() gathers into one run).
  void map_ram(uint64_t first, size_t n) {
    ram.reset(new Frame[n]);
    std::memset(static_cast<void*>(ram.get()), 0, n * sizeof(Frame));
    for (size_t i = 0; i < n; ++i) {
      ram_frames[first + i] = &ram[i];
      s2[first + i] = {&ram[i], true, true};
    }
  }
  // Stage 2 maps `gfn` to a frame of its own.
  void map(uint64_t gfn, bool writable = true, bool dmi = true) { s2[gfn] = {frame(gfn), writable, dmi}; }
  void put(uint64_t gpa, const void* src, size_t len) { std::memcpy(frame(gpa >> 12)->bytes + (gpa & 4095), src, len); }
  uint64_t get64(uint64_t gpa) {
    uint64_t v;
    std::memcpy(&v, frame(gpa >> 12)->bytes + (gpa & 4095), 8);
    return v;
  }
  // A selftests' struct ucall at `gpa` with `cmd` and args[1] = `stage`.
  void ucall_struct(uint64_t gpa, uint64_t cmd, uint64_t stage = 0, const char* msg = "") {
    uint64_t words[8] = {cmd, 0, stage};
    put(gpa, words, sizeof words);
    put(gpa + sizeof words, msg, std::strlen(msg) + 1);
  }

  Outcome access(Addr gpa, void* data, size_t len, bool write, bool shared) override {
    ++accesses;
    ++accesses_by_gfn[gpa >> 12];
    auto it = s2.find(gpa >> 12);
    if (it == s2.end() || (gpa & 4095) + len > 4096) return Outcome::Fault;
    uint8_t* p = it->second.frame->bytes + (gpa & 4095);
    write ? std::memcpy(p, data, len) : std::memcpy(data, p, len);
    return Outcome::Ok;
  }
  Outcome translate_page(Addr gpa, bool write, bool exec, GuestPage* page) override {
    ++translations;
    if (exit_once.erase(gpa >> 12)) return Outcome::Exit;
    auto it = s2.find(gpa >> 12);
    if (it == s2.end()) return Outcome::Fault;
    if (write && !it->second.writable) {
      if (!make_writable_on_fault) return Outcome::Fault;
      it->second.writable = true;  // the hypervisor resolved the write fault
    }
    page->pfn = 0x100000 + (gpa >> 12);
    page->host = it->second.dmi ? it->second.frame->bytes : nullptr;
    page->writable = it->second.writable;
    page->executable = true;
    return Outcome::Ok;
  }
  // The neighbours with the next host bytes and the same rights, as the
  // vCPU finds them (frames are numbered by GPA page here, so they follow).
  void translate_run(Addr gpa, const GuestPage& page, uint64_t lo, uint64_t end, uint64_t* first,
                     uint64_t* pages) override {
    const uint64_t g = gpa >> 12;
    *first = g;
    *pages = 1;
    if (!runs || !page.host) return;
    lo = std::max(lo, g & ~uint64_t{511});
    end = std::min(end, (g & ~uint64_t{511}) + 512);
    auto follows = [&](uint64_t n) {
      auto it = s2.find(n);
      return it != s2.end() && it->second.dmi && it->second.writable == page.writable &&
             reinterpret_cast<uintptr_t>(it->second.frame->bytes) ==
                 reinterpret_cast<uintptr_t>(page.host) + ((n - g) << 12);
    };
    uint64_t a = g, b = g + 1;
    while (a > lo && follows(a - 1)) --a;
    while (b < end && follows(b)) ++b;
    *first = a;
    *pages = b - a;
  }
  void set_translation_listener(TranslationListener* l) override { listener = l; }
  bool exit_to_host() override {
    ++exits;
    if (on_exit) on_exit();
    return !closed;
  }
  Outcome convert(Addr, uint64_t, bool, uint64_t, uint64_t* ret) override { *ret = 0; return Outcome::Ok; }
  Outcome tdcall(const TdcallRegs&, TdcallOut*) override { return Outcome::Fault; }
  std::string fault_name() const override { return "EPT violation"; }
  void ucall_sync(const std::string& tag) override { syncs.push_back(tag); }
  void ucall_done() override { ++dones; }
  void ucall_abort(const std::string& m) override { aborts.push_back(m); }
  void internal_error(const std::string& why) override { internal_errors.push_back(why); }
  void consume_ns(double ns) override {
    time_ns += ns;
    ++time_calls;
    if (on_time) on_time();  // the quantum's end: the host may run here
  }

  std::map<uint64_t, Leaf> s2;
  std::map<uint64_t, std::unique_ptr<Frame>> frames_;
  std::unique_ptr<Frame[]> ram;
  std::map<uint64_t, Frame*> ram_frames;
  bool runs = false;  // translate_run() answers with the neighbours
  std::set<uint64_t> exit_once;
  std::map<uint64_t, int> accesses_by_gfn;
  bool make_writable_on_fault = true;
  bool closed = false;  // exit_to_host() answers that the vCPU was closed
  TranslationListener* listener = nullptr;
  std::function<void()> on_exit;
  std::function<void()> on_time;
  std::vector<std::string> syncs, aborts, internal_errors;
  int dones = 0, exits = 0;
  uint64_t accesses = 0, translations = 0, time_calls = 0;
  double time_ns = 0;
};

// compute: rbx = 10 + 9 + ... + 1, then `in %dx, %al` with RDX = 0x1000 and
// RDI = 0x3000 (a ucall), then hlt.
const uint8_t kSumLoop[] = {
    0x48, 0xc7, 0xc1, 0x0a, 0x00, 0x00, 0x00,  // mov $10, %rcx
    0x31, 0xdb,                                // xor %ebx, %ebx
    0x48, 0x01, 0xcb,                          // 1: add %rcx, %rbx
    0x48, 0xff, 0xc9,                          // dec %rcx
    0x75, 0xf8,                                // jne 1b
    0xba, 0x00, 0x10, 0x00, 0x00,              // mov $0x1000, %edx
    0xbf, 0x00, 0x30, 0x00, 0x00,              // mov $0x3000, %edi
    0xec,                                      // in (%dx), %al
    0xf4,                                      // hlt
};

// Two loads of GPA 0x5000 with a ucall SYNC (struct at 0x3000) between them;
// the second value is stored at 0x6008; then a ucall (struct at 0x3800), hlt.
const uint8_t kLoadSyncLoad[] = {
    0x48, 0x8b, 0x1c, 0x25, 0x00, 0x50, 0x00, 0x00,  // mov 0x5000, %rbx
    0xba, 0x00, 0x10, 0x00, 0x00,                    // mov $0x1000, %edx
    0xbf, 0x00, 0x30, 0x00, 0x00,                    // mov $0x3000, %edi
    0xec,                                            // in (%dx), %al
    0x48, 0x8b, 0x0c, 0x25, 0x00, 0x50, 0x00, 0x00,  // mov 0x5000, %rcx
    0x48, 0x89, 0x0c, 0x25, 0x08, 0x60, 0x00, 0x00,  // mov %rcx, 0x6008
    0xbf, 0x00, 0x38, 0x00, 0x00,                    // mov $0x3800, %edi
    0xec,                                            // in (%dx), %al
    0xf4,                                            // hlt
};

uint64_t reg(const IsaExecutor& x, const char* name) {
  uint64_t v = 0;
  REQUIRE(x.read_register(name, &v));
  return v;
}

class RecordingMapper : public PageMapper {
 public:
  void map_page(const MappedPage& p) override { mapped.insert(p.gfn); }
  void unmap_page(const MappedPage& p) override {
    CHECK(mapped.erase(p.gfn) == 1);  // never unmapped twice, never unmapped unmapped
  }
  std::set<uint64_t> mapped;
};

uint8_t g_frames[8][4096];

}  // namespace

TEST_CASE("isa page map: bounded, oldest out, the emulator mirrors every change") {
  RecordingMapper m;
  {
    GuestPageMap map(m, 3);
    for (uint64_t g = 1; g <= 4; ++g) map.insert({g, 100 + g, g_frames[g], true, true});
    CHECK(map.size() == 3);
    CHECK(map.evictions() == 1);
    CHECK(map.find(1) == nullptr);  // the oldest went
    CHECK(m.mapped == std::set<uint64_t>{2, 3, 4});
    map.insert({3, 200, g_frames[5], false, true});  // re-translated: replaced in place
    CHECK(map.find(3)->pfn == 200);
    CHECK(map.size() == 3);
    CHECK(m.mapped == std::set<uint64_t>{2, 3, 4});
  }
  CHECK(m.mapped.empty());  // the map unmaps everything when it goes
}

TEST_CASE("isa page map: invalidation by GPA range, by frame, and all, pages without pointer stay") {
  RecordingMapper m;
  GuestPageMap map(m, 16);
  for (uint64_t g = 10; g < 16; ++g) map.insert({g, 500 + g, g_frames[g - 10], true, true});
  map.insert({40, 0, nullptr, true, false});  // accessed through GuestEnv::access only
  map.invalidate_gfns(11, 13);
  CHECK(map.find(11) == nullptr);
  CHECK(map.find(12) == nullptr);
  CHECK(map.find(13) != nullptr);
  map.invalidate_pfns(514, 516);  // frames of gfns 14 and 15
  CHECK(map.find(14) == nullptr);
  CHECK(map.find(15) == nullptr);
  CHECK(map.find(10) != nullptr);
  map.invalidate_gfns(0, ~uint64_t{0});  // a wide range walks the entries
  CHECK(map.find(10) == nullptr);
  CHECK(map.find(40) != nullptr);
  map.insert({20, 520, g_frames[0], true, true});
  map.invalidate_all();
  CHECK(map.size() == 1);
  CHECK(m.mapped == std::set<uint64_t>{40});
  map.clear();
  CHECK(m.mapped.empty());
}

TEST_CASE("isa executor: x86-64 code runs from translated pages and ends with a selftests ucall") {
  FakeVcpu v;
  v.map(1);  // code
  v.map(3);  // the ucall struct
  v.put(0x1000, kSumLoop, sizeof kSumLoop);
  v.ucall_struct(0x3000, SelftestUcall::kDone);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.run(v);
  CHECK(reg(x, "rbx") == 55);
  CHECK(v.dones == 1);
  CHECK(v.exits == 1);  // the ucall left to the host from inside the instruction
  CHECK(x.stopped() == IsaStop::Halted);
  CHECK(v.internal_errors.size() == 1);  // HLT with no interrupt to wake it
  CHECK(x.instructions() == 2 + 3 * 10 + 4);
  CHECK(v.time_ns == doctest::Approx(0.5 * double(x.instructions())));
  CHECK(v.listener == &x);
  CHECK(x.mapped_pages()->find(1) != nullptr);
}

TEST_CASE("isa executor: a ucall's arguments and the assert message follow the selftests' layout") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.put(0x1000, kSumLoop, sizeof kSumLoop);
  SUBCASE("sync names its stage") {
    v.ucall_struct(0x3000, SelftestUcall::kSync, 7);
    IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
    x.run(v);
    CHECK(v.syncs == std::vector<std::string>{"7"});
  }
  SUBCASE("the host reads all seven args (GUEST_SYNC5)") {
    const uint64_t words[8] = {SelftestUcall::kSync, 1, 0x100000000, 0x1000, 0x11, 0x22, 6, 7};
    v.put(0x3000, words, sizeof words);
    IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
    x.run(v);
    CHECK(v.syncs == std::vector<std::string>{"4294967296"});  // args[1] names it
    CHECK(x.last_ucall().cmd == SelftestUcall::kSync);
    CHECK(x.last_ucall().args == std::array<uint64_t, 7>{1, 0x100000000, 0x1000, 0x11, 0x22, 6, 7});
  }
  SUBCASE("abort carries the buffer") {
    v.ucall_struct(0x3000, SelftestUcall::kAbort, 0, "x.c:12: a == b failed");
    IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
    x.run(v);
    CHECK(v.aborts == std::vector<std::string>{"x.c:12: a == b failed"});
  }
}

TEST_CASE("isa executor: an invalidation between two instructions is seen by the second") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.map(5);
  v.map(6);
  v.put(0x1000, kLoadSyncLoad, sizeof kLoadSyncLoad);
  v.ucall_struct(0x3000, SelftestUcall::kSync, 1);
  v.ucall_struct(0x3800, SelftestUcall::kDone);
  const uint64_t one = 1, two = 2;
  v.put(0x5000, &one, 8);
  auto other = std::make_unique<Frame>();
  std::memcpy(other->bytes, &two, 8);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  // While the guest is out (the sync), the host moves GPA 0x5000 to another
  // frame and invalidates, as KVM does after changing stage 2.
  v.on_exit = [&] {
    if (v.exits != 1) return;
    REQUIRE(x.mapped_pages()->find(5) != nullptr);
    v.s2[5].frame = other.get();
    v.listener->stage2_invalidated(5, 6);
    CHECK(x.mapped_pages()->find(5) == nullptr);  // gone before the invalidation returned
  };
  x.run(v);
  CHECK(reg(x, "rbx") == 1);
  CHECK(reg(x, "rcx") == 2);
  CHECK(v.get64(0x6008) == 2);
  CHECK(v.syncs.size() == 1);
  CHECK(v.dones == 1);
}

TEST_CASE("isa page map: a run is one mapping, and any page of it invalidated takes the whole run") {
  RecordingMapper m;
  GuestPageMap map(m, 2);
  map.insert({10, 500, g_frames[0], true, false, 4});  // GPA pages 10..13 on frames 500..503
  CHECK(map.size() == 1);
  CHECK(map.pages() == 4);
  CHECK(m.mapped == std::set<uint64_t>{10});
  REQUIRE(map.find(12) != nullptr);
  CHECK(map.find(12)->gfn == 10);
  CHECK(map.find(14) == nullptr);
  CHECK(map.find(9) == nullptr);
  std::vector<uint64_t> gfns, pfns;
  map.for_each([&](const MappedPage& p) {
    gfns.push_back(p.gfn);
    pfns.push_back(p.pfn);
    CHECK(p.pages == 1);
    CHECK(p.host == reinterpret_cast<uint8_t*>(g_frames) + ((p.gfn - 10) << 12));  // frames 0..3 in a row
  });
  CHECK(gfns == std::vector<uint64_t>{10, 11, 12, 13});
  CHECK(pfns == std::vector<uint64_t>{500, 501, 502, 503});
  uint64_t lo = 0, end = 0;
  map.insert({20, 0, nullptr, true, false});
  map.free_window(16, &lo, &end);
  CHECK(lo == 14);
  CHECK(end == 20);
  map.free_window(11, &lo, &end);  // the run holding the page is replaced by a new translation
  CHECK(lo == 0);
  CHECK(end == 20);
  map.invalidate_gfns(13, 14);
  CHECK(map.find(10) == nullptr);
  CHECK(m.mapped == std::set<uint64_t>{20});
  map.insert({10, 500, g_frames[0], true, false, 4});
  map.invalidate_pfns(502, 503);  // a frame inside the run
  CHECK(map.find(11) == nullptr);
  // A run replaces the runs it overlaps; capacity counts runs, not pages.
  map.insert({30, 600, g_frames[0], true, false, 2});
  map.insert({31, 601, g_frames[1], true, false, 3});
  CHECK(map.find(30) == nullptr);
  CHECK(map.find(33)->gfn == 31);
  CHECK(map.size() == 2);
  CHECK(map.evictions() == 0);
  CHECK_THROWS(map.insert({40, 0, nullptr, true, false, 2}));  // pages without pointer go one by one
}

TEST_CASE("isa executor: neighbours stage 2 maps alike share one Unicorn mapping, dropped whole on invalidation") {
  FakeVcpu v;
  v.runs = true;
  v.map(1);
  v.map(3);
  v.map_ram(4, 4);  // GPA pages 4..7, one host range
  v.put(0x1000, kLoadSyncLoad, sizeof kLoadSyncLoad);
  v.ucall_struct(0x3000, SelftestUcall::kSync, 1);
  v.ucall_struct(0x3800, SelftestUcall::kDone);
  const uint64_t one = 1;
  v.put(0x5000, &one, 8);
  auto other = std::make_unique<Frame>();
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  uint64_t maps_at_sync = 0, translations_at_sync = 0;
  // While the guest is out, the host moves GPA page 6 elsewhere: the run
  // holding it (and page 5 with it) goes before the invalidation returns.
  v.on_exit = [&] {
    if (v.exits != 1) return;
    const MappedPage* run = x.mapped_pages()->find(5);
    REQUIRE(run != nullptr);
    CHECK(run->gfn == 4);
    CHECK(run->pages == 4);
    CHECK(x.mapped_pages()->find(6) == run);
    maps_at_sync = x.map_count();
    translations_at_sync = v.translations;
    v.s2[6].frame = other.get();
    v.listener->stage2_invalidated(6, 7);
    CHECK(x.mapped_pages()->find(5) == nullptr);
  };
  x.run(v);
  CHECK(maps_at_sync == 2);  // the code page, then GPA pages 4..7 at once
  CHECK(reg(x, "rcx") == 1);
  CHECK(v.translations == translations_at_sync + 2);  // page 5 again, then page 6 in its new frame
  uint64_t stored = 0;
  std::memcpy(&stored, other->bytes + 8, 8);
  CHECK(stored == 1);  // the store reached the new frame, not the old one
  CHECK(v.get64(0x6008) == 0);
  CHECK(v.dones == 1);
}

TEST_CASE("isa executor: a revoked frame is unmapped, the next access translates again") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.map(5);
  v.map(6);
  v.put(0x1000, kLoadSyncLoad, sizeof kLoadSyncLoad);
  v.ucall_struct(0x3000, SelftestUcall::kSync, 1);
  v.ucall_struct(0x3800, SelftestUcall::kDone);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  uint64_t translations_at_sync = 0;
  v.on_exit = [&] {
    if (v.exits != 1) return;
    v.listener->frames_revoked(0x100005, 0x100005);
    CHECK(x.mapped_pages()->find(5) == nullptr);
    translations_at_sync = v.translations;
  };
  x.run(v);
  CHECK(v.translations > translations_at_sync);
  CHECK(x.mapped_pages()->find(5) != nullptr);
}

TEST_CASE("isa executor: stage-2 exits and write faults are resolved inside the instruction") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.map(5);
  v.map(6, /*writable=*/false);
  v.exit_once = {5};  // the first translation of 0x5000 needs the host (a memory fault exit)
  v.put(0x1000, kLoadSyncLoad, sizeof kLoadSyncLoad);
  v.ucall_struct(0x3000, SelftestUcall::kSync, 1);
  v.ucall_struct(0x3800, SelftestUcall::kDone);
  const uint64_t seven = 7;
  v.put(0x5000, &seven, 8);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.run(v);
  CHECK(reg(x, "rbx") == 7);  // the load completed after the host's turn
  CHECK(v.exits == 3);        // the fault, the sync, the done
  CHECK(v.get64(0x6008) == 7);
  CHECK(x.mapped_pages()->find(6)->writable);
}

TEST_CASE("isa executor: a page without DMI pointer is reached through GuestEnv::access") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.map(5, true, /*dmi=*/false);
  v.map(6, true, /*dmi=*/false);
  v.put(0x1000, kLoadSyncLoad, sizeof kLoadSyncLoad);
  v.ucall_struct(0x3000, SelftestUcall::kSync, 1);
  v.ucall_struct(0x3800, SelftestUcall::kDone);
  const uint64_t nine = 9;
  v.put(0x5000, &nine, 8);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.run(v);
  CHECK(reg(x, "rcx") == 9);
  CHECK(v.get64(0x6008) == 9);
  // Two 8-byte loads and one store, each through access() as two 4-byte
  // halves: Unicorn 2.0.1 splits MMIO-region accesses at 4 bytes.
  CHECK(v.accesses_by_gfn[5] == 4);
  CHECK(v.accesses_by_gfn[6] == 2);
  CHECK(x.mapped_pages()->find(5)->host == nullptr);
}

TEST_CASE("isa executor: a fault without handler ends the run, named") {
  FakeVcpu v;
  v.map(1);
  v.put(0x1000, kLoadSyncLoad, sizeof kLoadSyncLoad);  // 0x5000 has no stage-2 mapping
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.run(v);
  CHECK(x.stopped() == IsaStop::Shutdown);
  CHECK(x.stop_detail().find("EPT violation") != std::string::npos);
  // KVM_RUN returns KVM_EXIT_INTERNAL_ERROR naming it, now and at every later entry.
  REQUIRE(v.internal_errors.size() == 1);
  CHECK(v.internal_errors[0].rfind("shutdown: fault EPT violation", 0) == 0);
  x.run(v);
  CHECK(v.internal_errors.size() == 2);
}

TEST_CASE("isa executor: the host runs at a quantum's end inside the run, and its invalidation is seen next") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.map(5);
  const uint8_t code[] = {
      0x48, 0xc7, 0xc1, 0x0a, 0x00, 0x00, 0x00,  // mov $10, %rcx
      0x31, 0xdb,                                // xor %ebx, %ebx
      0x48, 0x8b, 0x04, 0x25, 0x00, 0x50, 0x00, 0x00,  // 1: mov 0x5000, %rax
      0x48, 0x01, 0xc3,                          // add %rax, %rbx
      0x48, 0xff, 0xc9,                          // dec %rcx
      0x75, 0xf0,                                // jne 1b
      0xba, 0x00, 0x10, 0x00, 0x00,              // mov $0x1000, %edx
      0xbf, 0x00, 0x30, 0x00, 0x00,              // mov $0x3000, %edi
      0xec,                                      // in (%dx), %al
      0xf4,                                      // hlt
  };
  v.put(0x1000, code, sizeof code);
  v.ucall_struct(0x3000, SelftestUcall::kDone);
  const uint64_t one = 1, two = 2;
  v.put(0x5000, &one, 8);
  auto other = std::make_unique<Frame>();
  std::memcpy(other->bytes, &two, 8);
  IsaOptions o;
  o.insn_ns = 1;
  o.quantum_ns = 6;
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000, o);
  // At the first quantum's end the host moves GPA 0x5000 to another frame.
  bool moved = false;
  v.on_time = [&] {
    if (moved || !x.mapped_pages()->find(5)) return;
    moved = true;
    v.s2[5].frame = other.get();
    v.listener->stage2_invalidated(5, 6);
    CHECK(x.mapped_pages()->find(5) == nullptr);
  };
  x.run(v);
  REQUIRE(moved);
  CHECK(v.dones == 1);
  // Ten loads summed: those before the quantum's end read 1, those after it 2.
  CHECK(reg(x, "rbx") > 10);
  CHECK(reg(x, "rbx") < 20);
  CHECK(v.time_ns == doctest::Approx(double(x.instructions())));
}

TEST_CASE("isa executor: the quantum's time is charged as each quantum ends") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.put(0x1000, kSumLoop, sizeof kSumLoop);
  v.ucall_struct(0x3000, SelftestUcall::kDone);
  IsaOptions o;
  o.insn_ns = 1;
  o.quantum_ns = 6;  // 6 instructions: stops at the first block boundary at or after them
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000, o);
  x.run(v);
  CHECK(reg(x, "rbx") == 55);
  CHECK(v.time_calls >= 4);
  CHECK(v.time_ns == doctest::Approx(double(x.instructions())));
}

TEST_CASE("isa executor: AArch64 code, ucall by an MMIO store") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  const uint32_t code[] = {
      0xd2800000,  // mov x0, #0
      0xd2800141,  // mov x1, #10
      0x8b010000,  // 1: add x0, x0, x1
      0xf1000421,  // subs x1, x1, #1
      0x54ffffc1,  // b.ne 1b
      0xd2860002,  // mov x2, #0x3000
      0xd2a12003,  // mov x3, #0x9000000
      0xf9000062,  // str x2, [x3]
      0x00000000,  // udf #0
  };
  v.put(0x1000, code, sizeof code);
  v.ucall_struct(0x3000, SelftestUcall::kDone);
  IsaOptions o;
  o.ucall_mmio_gpa = 0x9000000;
  IsaExecutor x(IsaArch::Arm64, 0x1000, 0x8000, o);
  x.run(v);
  CHECK(reg(x, "x0") == 55);
  CHECK(v.dones == 1);
  CHECK(x.stopped() == IsaStop::Shutdown);  // the udf: no vector table
}

TEST_CASE("isa executor: registers by name, refused names") {
  IsaExecutor x86(IsaArch::X86_64, 0x1000, 0x8000);
  CHECK(reg(x86, "rsp") == 0x8000);
  CHECK(reg(x86, "rip") == 0x1000);
  CHECK(x86.write_register("r15", 42));
  CHECK(reg(x86, "r15") == 42);
  uint64_t v;
  CHECK_FALSE(x86.read_register("x0", &v));
  IsaExecutor a64(IsaArch::Arm64, 0x2000, 0x9000);
  CHECK(reg(a64, "pc") == 0x2000);
  CHECK(reg(a64, "sp") == 0x9000);
  CHECK(a64.write_register("x30", 5));
  CHECK(reg(a64, "x30") == 5);
  CHECK_FALSE(a64.read_register("x31", &v));
  CHECK_FALSE(a64.read_register("x01", &v));
  CHECK_FALSE(a64.read_register("rax", &v));
}

TEST_CASE("isa executor: Unicorn's errors decoded") {
  CHECK(decode_unicorn_error(UC_ERR_OK, IsaArch::X86_64).stop == IsaStop::None);
  CHECK(decode_unicorn_error(UC_ERR_INSN_INVALID, IsaArch::X86_64).what.find("#UD") != std::string::npos);
  CHECK(decode_unicorn_error(UC_ERR_INSN_INVALID, IsaArch::Arm64).stop == IsaStop::Shutdown);
  CHECK(decode_unicorn_error(UC_ERR_READ_UNMAPPED, IsaArch::X86_64).stop == IsaStop::Shutdown);
  CHECK(decode_unicorn_error(UC_ERR_NOMEM, IsaArch::X86_64).stop == IsaStop::InternalError);
}

TEST_CASE("isa executor debugging: registers by gdb's numbers") {
  IsaExecutor x86(IsaArch::X86_64, 0x1000, 0x8000);
  uint64_t v = 0;
  CHECK(x86.write_gdb_register(0, 5));  // rax
  CHECK(reg(x86, "rax") == 5);
  CHECK(x86.read_gdb_register(7, &v));  // rsp
  CHECK(v == 0x8000);
  CHECK(x86.write_gdb_register(15, 9));  // r15
  CHECK(reg(x86, "r15") == 9);
  CHECK(x86.write_gdb_register(16, 0x2000));  // rip
  CHECK(x86.pc() == 0x2000);
  CHECK(x86.read_gdb_register(17, &v));  // eflags
  CHECK_FALSE(x86.read_gdb_register(24, &v));
  IsaExecutor a64(IsaArch::Arm64, 0x1000, 0x8000);
  CHECK(a64.write_gdb_register(30, 7));  // x30
  CHECK(reg(a64, "x30") == 7);
  CHECK(a64.read_gdb_register(31, &v));  // sp
  CHECK(v == 0x8000);
  CHECK(a64.read_gdb_register(32, &v));  // pc
  CHECK(v == 0x1000);
  CHECK(a64.read_gdb_register(33, &v));  // cpsr
  CHECK_FALSE(a64.read_gdb_register(34, &v));
}

TEST_CASE("isa executor debugging: single step and PC breakpoints") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.put(0x1000, kSumLoop, sizeof kSumLoop);
  v.ucall_struct(0x3000, SelftestUcall::kDone);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.single_step(v);
  CHECK(x.pc() == 0x1007);  // after mov $10, %rcx
  CHECK(reg(x, "rcx") == 10);
  x.single_step(v);
  x.single_step(v);
  CHECK(x.pc() == 0x100c);  // after xor and the first add
  CHECK(reg(x, "rbx") == 10);
  CHECK(x.instructions() == 3);
  x.insert_breakpoint(0x1011);  // mov $0x1000, %edx: after the loop
  x.run(v);
  CHECK(x.stopped_at_breakpoint());
  CHECK(x.pc() == 0x1011);
  CHECK(reg(x, "rbx") == 55);
  CHECK(v.dones == 0);
  x.insert_breakpoint(0x100c);  // inside the loop, which is over: never reached again
  x.run(v);                     // resumes at the breakpoint's instruction
  CHECK_FALSE(x.stopped_at_breakpoint());
  CHECK(v.dones == 1);
  CHECK(x.stopped() == IsaStop::Halted);
}

TEST_CASE("isa executor debugging: a breakpoint in a loop stops at every pass") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.put(0x1000, kSumLoop, sizeof kSumLoop);
  v.ucall_struct(0x3000, SelftestUcall::kDone);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.insert_breakpoint(0x1009);  // add %rcx, %rbx
  int hits = 0;
  for (; hits < 20; ++hits) {
    x.run(v);
    if (!x.stopped_at_breakpoint()) break;
    CHECK(reg(x, "rcx") == uint64_t(10 - hits));
  }
  CHECK(hits == 10);
  x.remove_breakpoint(0x1009);
  CHECK(reg(x, "rbx") == 55);
  CHECK(v.dones == 1);
}

TEST_CASE("isa executor: a vCPU closed while its guest is out: the executor lets go at once") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.map(5);
  v.map(6);
  v.put(0x1000, kLoadSyncLoad, sizeof kLoadSyncLoad);
  v.ucall_struct(0x3000, SelftestUcall::kSync, 1);
  v.ucall_struct(0x3800, SelftestUcall::kDone);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  v.on_exit = [&] { v.closed = true; };  // the VMM closed the vCPU during the sync
  x.run(v);
  CHECK(v.syncs.size() == 1);
  CHECK(v.dones == 0);
  CHECK(v.get64(0x6008) == 0);  // the rest of its block never reached memory
  CHECK(x.mapped_pages()->find(5) == nullptr);
  CHECK(v.internal_errors.empty());  // nothing told to an environment that is not its own any more
  const uint64_t translations = v.translations, accesses = v.accesses;
  x.run(v);
  CHECK(v.translations == translations);
  CHECK(v.accesses == accesses);
}

// A debugger as the gdb server is one: records every pause, steps when told.
struct RecordingDebugger : IsaDebugObserver {
  std::vector<std::pair<IsaPause, uint64_t>> pauses;  // why, at which PC
  int steps_left = 0;       // before_call answers "one instruction" this many times
  uint64_t remove_at = 0;   // at a breakpoint here, remove it before going on
  bool gone = false;
  bool before_call(IsaExecutor&) override { return steps_left > 0 && steps_left--; }
  void paused(IsaExecutor& x, IsaPause why) override {
    pauses.push_back({why, x.pc()});
    if (why == IsaPause::Breakpoint && x.pc() == remove_at) x.remove_breakpoint(remove_at);
  }
  void executor_gone(IsaExecutor&) override { gone = true; }
};

TEST_CASE("isa executor debugging: a debug observer sees breakpoints, single steps and quanta") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.put(0x1000, kSumLoop, sizeof kSumLoop);
  v.ucall_struct(0x3000, SelftestUcall::kDone);
  RecordingDebugger d;
  IsaOptions o;
  o.quantum_ns = 2;  // four instructions per Unicorn call: quanta between them
  {
    IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000, o);
    x.set_debug_observer(&d);
    x.insert_breakpoint(0x1000);  // the entry: hit before the first instruction
    x.insert_breakpoint(0x1011);  // after the loop
    d.remove_at = 0x1000;
    x.run(v);  // returns when the guest halts
    REQUIRE(d.pauses.size() >= 2);
    CHECK(d.pauses.front() == std::make_pair(IsaPause::Breakpoint, uint64_t{0x1000}));
    bool quantum = false, at_end = false;
    for (auto& [why, pc] : d.pauses) {
      quantum |= why == IsaPause::Quantum;
      at_end |= why == IsaPause::Breakpoint && pc == 0x1011;
    }
    CHECK(quantum);
    CHECK(at_end);
    CHECK(reg(x, "rbx") == 55);
    CHECK(v.dones == 1);
    CHECK(x.stopped() == IsaStop::Halted);
    // Pausing never changed what ran: 2 + 3 x 10 + 4 up to the hlt.
    CHECK(x.instructions() >= 36);
  }
  CHECK(d.gone);
}

TEST_CASE("isa executor debugging: a single step after a run executes exactly one instruction") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.put(0x1000, kSumLoop, sizeof kSumLoop);
  v.ucall_struct(0x3000, SelftestUcall::kDone);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  x.insert_breakpoint(0x1000);  // the entry: its block is translated when the breakpoint stops it
  // The first pause is at the breakpoint, which the observer removes; it then
  // asks for two single steps (through before_call), which must stop after
  // the mov and the xor, not run on in the block Unicorn translated without
  // counting.
  struct Stepper : RecordingDebugger {
    bool before_call(IsaExecutor& x) override {
      if (!pauses.empty() && pauses.back().first == IsaPause::Breakpoint) steps_left = 2;
      return RecordingDebugger::before_call(x);
    }
  } s;
  s.remove_at = 0x1000;
  x.set_debug_observer(&s);
  x.run(v);
  REQUIRE(s.pauses.size() >= 3);
  CHECK(s.pauses[0] == std::make_pair(IsaPause::Breakpoint, uint64_t{0x1000}));
  CHECK(s.pauses[1] == std::make_pair(IsaPause::Step, uint64_t{0x1007}));
  CHECK(s.pauses[2] == std::make_pair(IsaPause::Step, uint64_t{0x1009}));
  CHECK(reg(x, "rbx") == 55);
  CHECK(v.dones == 1);
  x.set_debug_observer(nullptr);
}

TEST_CASE("isa executor counting: a breakpoint inside a block changes neither the count nor the time") {
  auto run_to_end = [](uint64_t breakpoint, uint64_t* at_break) {
    FakeVcpu v;
    v.map(1);
    v.map(3);
    v.put(0x1000, kSumLoop, sizeof kSumLoop);
    v.ucall_struct(0x3000, SelftestUcall::kDone);
    IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
    if (breakpoint) {
      x.insert_breakpoint(breakpoint);
      x.run(v);
      REQUIRE(x.stopped_at_breakpoint());
      REQUIRE(x.pc() == breakpoint);
      *at_break = x.instructions();
      x.remove_breakpoint(breakpoint);
    }
    x.run(v);
    CHECK(v.dones == 1);
    return std::make_pair(x.instructions(), v.time_ns);
  };
  uint64_t unused = 0, at_break = 0;
  const auto plain = run_to_end(0, &unused);
  CHECK(plain.first == 2 + 3 * 10 + 4);
  // mov $0x3000, %edi: the second instruction of the block after the loop.
  const auto looked = run_to_end(0x1016, &at_break);
  CHECK(at_break == 2 + 3 * 10 + 1);  // only the instructions before the breakpoint
  CHECK(looked.first == plain.first);
  CHECK(looked.second == doctest::Approx(plain.second));
  // The first block's second instruction (before the loop).
  const auto early = run_to_end(0x1007, &at_break);
  CHECK(at_break == 1);
  CHECK(early.first == plain.first);
}

TEST_CASE("isa executor counting: at an exit, the PC and count of the instruction the guest left from") {
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.map(5);
  v.map(6);
  v.put(0x1000, kLoadSyncLoad, sizeof kLoadSyncLoad);
  v.ucall_struct(0x3000, SelftestUcall::kSync, 1);
  v.ucall_struct(0x3800, SelftestUcall::kDone);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  std::vector<std::pair<uint64_t, uint64_t>> seen;  // (PC, instructions) at each exit
  v.on_exit = [&] {
    CHECK(x.out());
    uint64_t rip = 0;
    CHECK(x.read_register("rip", &rip));
    CHECK(rip == x.pc());
    seen.emplace_back(x.pc(), x.instructions());
  };
  x.run(v);
  CHECK_FALSE(x.out());
  // The two ucalls' `in`: the 4th and the 8th instruction of one block.
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::make_pair(uint64_t{0x1012}, uint64_t{3}));
  CHECK(seen[1] == std::make_pair(uint64_t{0x1028}, uint64_t{7}));
  CHECK(x.instructions() == 9);  // through the hlt
}

TEST_CASE("isa executor counting: an exit from a memory access is placed at its block's start") {
  // Unicorn 2.0.1 does not say which of a block's instructions made an
  // access: the exit names the block's first instruction and counts none of it.
  FakeVcpu v;
  v.map(1);
  v.map(3);
  v.map(5);
  v.map(6);
  v.put(0x1000, kSumLoop, sizeof kSumLoop);  // a block of its own before the loads
  v.put(0x1100, kLoadSyncLoad, sizeof kLoadSyncLoad);
  // kSumLoop's ucall struct: a SYNC, so it goes on into the code at 0x1100.
  v.ucall_struct(0x3000, SelftestUcall::kSync, 1);
  v.ucall_struct(0x3800, SelftestUcall::kDone);
  const uint8_t jump[] = {0xe9, 0xdf, 0x00, 0x00, 0x00};  // jmp 0x1100 (from 0x101c, replacing hlt)
  v.put(0x101c, jump, sizeof jump);
  IsaExecutor x(IsaArch::X86_64, 0x1000, 0x8000);
  v.exit_once.insert(6);  // the store to 0x6008 exits to the host first
  std::vector<std::pair<uint64_t, uint64_t>> seen;
  v.on_exit = [&] { seen.emplace_back(x.pc(), x.instructions()); };
  x.run(v);
  REQUIRE(seen.size() >= 1);
  CHECK(seen[0] == std::make_pair(uint64_t{0x101b}, uint64_t{2 + 3 * 10 + 2}));  // kSumLoop's `in`
  // The block at 0x1100 starts after the jmp (36 instructions before it): its
  // `in` is exact, the store's exit is placed at the block's start.
  REQUIRE(seen.size() == 4);
  CHECK(seen[1] == std::make_pair(uint64_t{0x1112}, uint64_t{36 + 3}));
  CHECK(seen[2] == std::make_pair(uint64_t{0x1100}, uint64_t{36}));
  CHECK(seen[3] == std::make_pair(uint64_t{0x1128}, uint64_t{36 + 7}));
  CHECK(x.instructions() == 36 + 9);
}
