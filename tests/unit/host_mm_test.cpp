#include <doctest/doctest.h>

#include <cerrno>
#include <memory>

#include "common/stats.h"
#include "fakes.h"
#include "gmem/guest_memfd.h"
#include "host/frame_allocator.h"
#include "host/host_mm.h"

using namespace cocosim;
using cocosim_test::FakeMemory;

namespace {
constexpr uint64_t P = kPageSize;

struct Rig {
  FakeMemory mem;
  FrameAllocator frames{0x100, 0x100 + 256};
  Stats stats;
  HostMm mm{frames, mem};
  std::shared_ptr<GuestMemfd> gmem(uint64_t flags) {
    return std::make_shared<GuestMemfd>(1, "g", 4 * P, flags, GmemVm{1, "vm", VmType::SwProtected}, frames,
                                        mem, stats);
  }
};
}  // namespace

TEST_CASE("HostMm: processes get distinct pids and can be found by name") {
  Rig r;
  const int a = r.mm.create_process("vmm");
  const int b = r.mm.create_process("other");
  CHECK(a != b);
  REQUIRE(r.mm.process("other") != nullptr);
  CHECK(r.mm.process("other")->pid == b);
  CHECK(r.mm.process(a)->name == "vmm");
  CHECK(r.mm.process(999) == nullptr);
  CHECK(r.mm.process("nope") == nullptr);
}

TEST_CASE("HostMm: anonymous mmap checks its arguments and places VMAs 2 MiB aligned") {
  Rig r;
  const int pid = r.mm.create_process("vmm");
  Vma* v = nullptr;
  CHECK(r.mm.mmap_anon(999, "x", P, true, &v) == ESRCH);
  CHECK(r.mm.mmap_anon(pid, "x", 0, true, &v) == EINVAL);
  REQUIRE(r.mm.mmap_anon(pid, "a", P + 1, false, &v) == 0);
  CHECK(v->length == 2 * P);
  CHECK((v->start & (kHugePageSize - 1)) == 0);
  CHECK(v->kind == VmaKind::Anon);
  CHECK_FALSE(v->shared);
  Vma* w = nullptr;
  REQUIRE(r.mm.mmap_anon(pid, "b", P, true, &w) == 0);
  CHECK(w->start >= v->end());
  CHECK(r.mm.find_vma(pid, v->start) == v);
  CHECK(r.mm.find_vma(pid, v->end() - 1) == v);
  CHECK(r.mm.find_vma(pid, v->end()) == nullptr);
  CHECK(r.mm.find_vma(pid, v->start - 1) == nullptr);
  CHECK(r.mm.find_vma(pid, "b") == w);
}

TEST_CASE("HostMm: guest_memfd mmap needs the MMAP flag, MAP_SHARED and an aligned offset") {
  Rig r;
  const int pid = r.mm.create_process("vmm");
  Vma* v = nullptr;
  CHECK(r.mm.mmap_gmem(pid, "m", r.gmem(0), 0, P, true, &v) == ENODEV);
  CHECK(r.mm.mmap_gmem(pid, "m", r.gmem(0), 0, P, false, &v) == ENODEV);  // ENODEV comes first
  auto f = r.gmem(GuestMemfd::kFlagMmap | GuestMemfd::kFlagInitShared);
  CHECK(r.mm.mmap_gmem(pid, "m", f, 0, P, false, &v) == EINVAL);
  CHECK(r.mm.mmap_gmem(pid, "m", f, 100, P, true, &v) == EINVAL);
  CHECK(r.mm.mmap_gmem(pid, "m", f, 0, 0, true, &v) == EINVAL);
  REQUIRE(r.mm.mmap_gmem(pid, "m", f, 2 * P, 2 * P, true, &v) == 0);
  CHECK(v->kind == VmaKind::Gmem);
  CHECK(v->pgoff == 2);
  CHECK(v->gmem.get() == f.get());
  CHECK(f.use_count() == 2);  // the mapping holds the file
  REQUIRE(r.mm.munmap(v) == 0);
  CHECK(f.use_count() == 1);
}

TEST_CASE("HostMm: an anonymous fault allocates a zeroed frame once per page") {
  Rig r;
  auto junk = *r.frames.alloc({});
  r.mem.fill(junk << kPageShift, 0x99, P);
  r.frames.free(junk);
  AnonObject o;
  const uint64_t pfn = r.mm.anon_fault(o, 3).value();
  CHECK(pfn == junk);
  CHECK(r.mem.all(pfn << kPageShift, P, 0));
  CHECK(r.mm.anon_fault(o, 3) == pfn);
  CHECK(o.pages.size() == 1);
  const FrameUse* u = r.frames.use(pfn);
  REQUIRE(u != nullptr);
  CHECK(u->kind == FrameKind::Anon);
  CHECK(u->index == 3);
  for (auto [i, p] : o.pages) r.frames.free(p);
}

TEST_CASE("HostMm: MADV_DONTNEED frees exactly the pages of the range") {
  Rig r;
  const int pid = r.mm.create_process("vmm");
  Vma* v = nullptr;
  REQUIRE(r.mm.mmap_anon(pid, "a", 4 * P, true, &v) == 0);
  for (uint64_t i = 0; i < 4; ++i) REQUIRE(r.mm.anon_fault(*v->anon, i));
  REQUIRE(r.frames.in_use() == 4);
  r.mm.discard_anon(*v, v->start + P, 2 * P);
  CHECK(r.frames.in_use() == 2);
  CHECK(v->anon->pages.count(0) == 1);
  CHECK(v->anon->pages.count(1) == 0);
  CHECK(v->anon->pages.count(2) == 0);
  CHECK(v->anon->pages.count(3) == 1);
}

TEST_CASE("HostMm: munmap of anonymous memory frees its frames") {
  Rig r;
  const int pid = r.mm.create_process("vmm");
  Vma* v = nullptr;
  REQUIRE(r.mm.mmap_anon(pid, "a", 2 * P, false, &v) == 0);
  REQUIRE(r.mm.anon_fault(*v->anon, 0));
  REQUIRE(r.mm.anon_fault(*v->anon, 1));
  REQUIRE(r.frames.in_use() == 2);
  const Addr start = v->start;
  CHECK(r.mm.munmap(v) == 0);
  CHECK(r.frames.in_use() == 0);
  CHECK(r.mm.find_vma(pid, start) == nullptr);
}

TEST_CASE("HostMm: fork shares MAP_SHARED memory and copies private memory") {
  Rig r;
  const int parent = r.mm.create_process("vmm");
  Vma *shr = nullptr, *prv = nullptr;
  REQUIRE(r.mm.mmap_anon(parent, "shr", P, true, &shr) == 0);
  REQUIRE(r.mm.mmap_anon(parent, "prv", P, false, &prv) == 0);
  const uint64_t s = r.mm.anon_fault(*shr->anon, 0).value();
  const uint64_t p = r.mm.anon_fault(*prv->anon, 0).value();
  r.mem.fill(p << kPageShift, 0x42, P);
  int child = 0;
  REQUIRE(r.mm.fork(parent, "child", &child) == 0);
  Vma* cshr = r.mm.find_vma(child, "shr");
  Vma* cprv = r.mm.find_vma(child, "prv");
  REQUIRE(cshr != nullptr);
  REQUIRE(cprv != nullptr);
  CHECK(cshr->start == shr->start);
  CHECK(cshr->anon.get() == shr->anon.get());
  CHECK(r.mm.anon_fault(*cshr->anon, 0) == s);
  CHECK(cprv->anon.get() != prv->anon.get());
  const uint64_t cp = r.mm.anon_fault(*cprv->anon, 0).value();
  CHECK(cp != p);
  CHECK(r.mem.all(cp << kPageShift, P, 0x42));
  // The parent's munmap of the shared mapping keeps the frame the child still maps.
  REQUIRE(r.mm.munmap(shr) == 0);
  CHECK(r.frames.use(s) != nullptr);
  r.mm.clear();
  CHECK(r.frames.in_use() == 0);
}

TEST_CASE("HostMm: an anonymous fault with no frame left fails without side effects") {
  Rig r;
  FrameAllocator tiny(0x10, 0x11);
  HostMm mm(tiny, r.mem);
  AnonObject o;
  REQUIRE(mm.anon_fault(o, 0));
  CHECK_FALSE(mm.anon_fault(o, 1).has_value());
  CHECK(o.pages.size() == 1);
  for (auto [i, p] : o.pages) tiny.free(p);
}

// A fork that cannot copy all of the private anonymous memory fails with ENOMEM
// and gives back the frames it had already taken for the copy.
TEST_CASE("HostMm: a fork that runs out of frames leaks none") {
  FakeMemory mem;
  FrameAllocator frames(0x100, 0x104);
  {
    HostMm mm(frames, mem);
    const int parent = mm.create_process("vmm");
    Vma* prv = nullptr;
    REQUIRE(mm.mmap_anon(parent, "prv", 3 * P, false, &prv) == 0);
    for (uint64_t i = 0; i < 3; ++i) REQUIRE(mm.anon_fault(*prv->anon, i));
    int child = 0;
    CHECK(mm.fork(parent, "child", &child) == ENOMEM);
    mm.clear();
    CHECK(frames.in_use() == 0);
  }
  CHECK(frames.in_use() == 0);
}

TEST_CASE("HostMm: virtual bus addresses carry the pid above bit 48") {
  const Addr hv = host_virtual(3, 0x7f0000001234);
  CHECK(pid_of(hv) == 3);
  CHECK(hva_of(hv) == 0x7f0000001234);
}

TEST_CASE("HostMm: with THP a first touch inside an aligned 2 MiB of the VMA takes a huge folio") {
  FakeMemory mem;
  FrameAllocator frames{0x100, 0x100 + 4096};
  HostMm mm{frames, mem};
  mm.set_thp(true);
  const int pid = mm.create_process("vmm");
  Vma* v = nullptr;
  REQUIRE(mm.mmap_anon(pid, "a", 4 * kHugePageSize / 2 + P, true, &v) == 0);  // 2 MiB x2 + 4 KiB
  const uint64_t pfn = mm.anon_fault(*v, 7).value();
  CHECK(mm.huge_mapped(*v, 0));
  CHECK(pfn % 512 == 7);
  CHECK(v->anon->pages.size() == 512);
  // The tail page beyond the last whole 2 MiB is a plain 4 KiB page.
  const uint64_t tail = 1024;
  REQUIRE(mm.anon_fault(*v, tail));
  CHECK(v->anon->pages.size() == 513);
  CHECK_FALSE(mm.huge_mapped(*v, 1024));
  // A range already partly touched without THP stays 4 KiB.
  mm.set_thp(false);
  REQUIRE(mm.anon_fault(*v, 512 + 3));
  mm.set_thp(true);
  REQUIRE(mm.anon_fault(*v, 512 + 4));
  CHECK_FALSE(mm.huge_mapped(*v, 512));
  // Freeing one page of a huge folio breaks it up.
  mm.discard_anon(*v, v->start + 5 * P, P);
  CHECK_FALSE(mm.huge_mapped(*v, 0));
}
