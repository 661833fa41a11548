#include <doctest/doctest.h>

#include <cerrno>
#include <memory>
#include <utility>
#include <vector>

#include "common/stats.h"
#include "fakes.h"
#include "host/frame_allocator.h"
#include "host/host_mm.h"
#include "kvm/gfn_backing.h"
#include "kvm/kvm.h"
#include "kvm/vm.h"

using namespace cocosim;
using cocosim_test::FakeMemory;

namespace {

constexpr uint64_t P = kPageSize;
constexpr uint64_t MiB2 = kHugePageSize;
constexpr Addr G4 = Addr{4} << 30;
constexpr uint64_t kMmap = GuestMemfd::kFlagMmap;
constexpr uint64_t kInitShared = GuestMemfd::kFlagInitShared;
constexpr uint64_t kPrivate = Vm::kAttrPrivate;

using Range = std::pair<uint64_t, uint64_t>;

struct Rig {
  std::vector<Range> zaps;  // outlives the VMs, which zap as they go
  FakeMemory mem;
  FrameAllocator frames{0x100, 0x100 + 4096};
  Stats stats;
  std::unique_ptr<Architecture> arch = make_architecture(Arch::X86Tdx, {}, stats, "kvm");
  Kvm kvm{*arch, frames, mem, stats};

  Vm* vm(VmType t, const char* name = "vm0") {
    Vm* v = nullptr;
    REQUIRE(kvm.create_vm(name, t, &v) == 0);
    v->set_zap_handler([this](uint64_t a, uint64_t b) { zaps.emplace_back(a, b); });
    return v;
  }
  std::shared_ptr<GuestMemfd> gmem(Vm& v, uint64_t size, uint64_t flags) {
    std::shared_ptr<GuestMemfd> f;
    REQUIRE(kvm.create_guest_memfd(v, "g", size, flags, &f) == 0);
    return f;
  }
};

MemoryRegion plain(int slot, Addr gpa, uint64_t size, uint32_t flags = 0) {
  MemoryRegion r;
  r.slot = slot;
  r.flags = flags;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  return r;
}

MemoryRegion gmem_slot(int slot, Addr gpa, uint64_t size, GuestMemfd* f, uint64_t offset) {
  MemoryRegion r = plain(slot, gpa, size, Memslot::kGuestMemfd);
  r.guest_memfd_given = true;
  r.guest_memfd = f;
  r.guest_memfd_offset = offset;
  return r;
}

uint64_t gfn(Addr a) { return a >> kPageShift; }

}  // namespace

// ---- KVM_SET_USER_MEMORY_REGION(2) ---------------------------------------------

TEST_CASE("Vm: memslot flags are checked per ioctl version") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 4 * MiB2, 0);
  SUBCASE("GUEST_MEMFD on the v1 ioctl") {
    CHECK(v->set_user_memory_region(gmem_slot(1, G4, MiB2, f.get(), 0), false) == EINVAL);
  }
  SUBCASE("unknown flag bits") {
    for (int bit = 3; bit < 32; ++bit) {
      CAPTURE(bit);
      CHECK(v->set_user_memory_region(plain(1, G4, MiB2, 1u << bit), true) == EINVAL);
    }
  }
  SUBCASE("dirty logging or read-only with guest_memfd") {
    auto m = gmem_slot(1, G4, MiB2, f.get(), 0);
    m.flags |= Memslot::kLogDirtyPages;
    CHECK(v->set_user_memory_region(m, true) == EINVAL);
    m.flags = Memslot::kGuestMemfd | Memslot::kReadonly;
    CHECK(v->set_user_memory_region(m, true) == EINVAL);
  }
  CHECK(v->slots().empty());
  CHECK(v->set_user_memory_region(plain(2, G4, MiB2, Memslot::kReadonly | Memslot::kLogDirtyPages), false) == 0);
}

TEST_CASE("Vm: memslot ids beyond the user slots or in another address space are EINVAL") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  CHECK(v->set_user_memory_region(plain(Vm::kUserMemSlots, G4, P), false) == EINVAL);
  CHECK(v->set_user_memory_region(plain(1 << 16, G4, P), false) == EINVAL);
  CHECK(v->set_user_memory_region(plain(-1, G4, P), false) == EINVAL);
  CHECK(v->set_user_memory_region(plain(Vm::kUserMemSlots - 1, G4, P), false) == 0);
}

TEST_CASE("Vm: unaligned size, GPA, userspace address or guest_memfd offset is EINVAL") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 4 * MiB2, 0);
  CHECK(v->set_user_memory_region(plain(1, G4, P + 1), false) == EINVAL);
  CHECK(v->set_user_memory_region(plain(1, G4 + 0x800, P), false) == EINVAL);
  MemoryRegion m = plain(1, G4, P);
  m.userspace_pid = 1;
  m.userspace_addr = 0x7f0000000800;
  CHECK(v->set_user_memory_region(m, false) == EINVAL);
  for (uint64_t off : {uint64_t{1}, uint64_t{2}, uint64_t{8}, uint64_t{511}, uint64_t{2048}, P - 1, P + 2048}) {
    CAPTURE(off);
    CHECK(v->set_user_memory_region(gmem_slot(1, G4, MiB2, f.get(), off), true) == EINVAL);
  }
  CHECK(v->slots().empty());
  CHECK(v->set_user_memory_region(gmem_slot(1, G4, MiB2, f.get(), 0), true) == 0);
}

TEST_CASE("Vm: a GPA range that wraps around is EINVAL") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  CHECK(v->set_user_memory_region(plain(1, ~kPageMask, 2 * P), false) == EINVAL);
}

TEST_CASE("Vm: a new slot overlapping another one is EEXIST, an adjacent one is fine") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  REQUIRE(v->set_user_memory_region(plain(1, G4, 2 * MiB2), false) == 0);
  CHECK(v->set_user_memory_region(plain(2, G4 + MiB2, 2 * MiB2), false) == EEXIST);
  CHECK(v->set_user_memory_region(plain(2, G4 - P, 2 * P), false) == EEXIST);
  CHECK(v->set_user_memory_region(plain(2, G4 + 2 * MiB2 - P, P), false) == EEXIST);
  CHECK(v->set_user_memory_region(plain(2, G4 + 2 * MiB2, P), false) == 0);
  CHECK(v->set_user_memory_region(plain(3, G4 - P, P), false) == 0);
}

TEST_CASE("Vm: set_memory_region_test overlap: re-adding next to a bound slot is EEXIST") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  const uint64_t S = MiB2;
  const Addr G = Addr{1} << 30;
  auto f = r.gmem(*v, 4 * S, 0);
  REQUIRE(v->set_user_memory_region(gmem_slot(10, G, 2 * S, f.get(), 0), true) == 0);
  REQUIRE(v->set_user_memory_region(gmem_slot(11, 2 * G, 2 * S, f.get(), 2 * S), true) == 0);
  REQUIRE(v->set_user_memory_region(gmem_slot(10, G, 0, f.get(), 0), true) == 0);
  CHECK(v->set_user_memory_region(gmem_slot(10, 2 * G - S, 2 * S, f.get(), 0), true) == EEXIST);
  CHECK(v->set_user_memory_region(gmem_slot(10, 2 * G + S, 2 * S, f.get(), 0), true) == EEXIST);
  CHECK(v->set_user_memory_region(gmem_slot(10, G, 2 * S, f.get(), 0), true) == 0);
}

TEST_CASE("Vm: deleting a slot that does not exist is EINVAL") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  CHECK(v->set_user_memory_region(plain(5, G4, 0), false) == EINVAL);
  REQUIRE(v->set_user_memory_region(plain(5, G4, P), false) == 0);
  CHECK(v->set_user_memory_region(plain(5, G4, 0), false) == 0);
  CHECK(v->set_user_memory_region(plain(5, G4, 0), false) == EINVAL);
}

TEST_CASE("Vm: deleting a slot zaps exactly its GFN range and forgets it") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  REQUIRE(v->set_user_memory_region(plain(1, G4, 3 * P), false) == 0);
  REQUIRE(v->set_user_memory_region(plain(2, G4 + MiB2, P), false) == 0);
  CHECK(r.zaps.empty());
  REQUIRE(v->set_user_memory_region(plain(1, 0, 0), false) == 0);
  CHECK(r.zaps == std::vector<Range>{{gfn(G4), gfn(G4) + 3}});
  CHECK(v->slot_for_gfn(gfn(G4)) == nullptr);
  CHECK(v->slot_for_gfn(gfn(G4 + MiB2)) != nullptr);
}

TEST_CASE("Vm: slot_for_gfn finds the slot at its first and last GFN only") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  REQUIRE(v->set_user_memory_region(plain(1, G4, 4 * P), false) == 0);
  CHECK(v->slot_for_gfn(gfn(G4) - 1) == nullptr);
  REQUIRE(v->slot_for_gfn(gfn(G4)) != nullptr);
  CHECK(v->slot_for_gfn(gfn(G4))->id() == 1);
  CHECK(v->slot_for_gfn(gfn(G4) + 3) != nullptr);
  CHECK(v->slot_for_gfn(gfn(G4) + 4) == nullptr);
}

TEST_CASE("Vm: a guest_memfd of another VM is EINVAL") {
  Rig r;
  Vm* a = r.vm(VmType::SwProtected, "a");
  Vm* b = r.vm(VmType::SwProtected, "b");
  auto fb = r.gmem(*b, MiB2, 0);
  CHECK(a->set_user_memory_region(gmem_slot(1, G4, MiB2, fb.get(), 0), true) == EINVAL);
  CHECK(a->slots().empty());
  CHECK_FALSE(fb->bound());
  CHECK(b->set_user_memory_region(gmem_slot(1, G4, MiB2, fb.get(), 0), true) == 0);
}

TEST_CASE("Vm: a descriptor that is not a guest_memfd is EINVAL, no descriptor EBADF") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  MemoryRegion m = gmem_slot(1, G4, MiB2, nullptr, 0);
  CHECK(v->set_user_memory_region(m, true) == EINVAL);
  m.guest_memfd_given = false;
  CHECK(v->set_user_memory_region(m, true) == EBADF);
  CHECK(v->slots().empty());
}

TEST_CASE("Vm: a slot reaching beyond the end of its guest_memfd is EINVAL") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, MiB2, 0);
  CHECK(v->set_user_memory_region(gmem_slot(1, G4, 2 * MiB2, f.get(), 0), true) == EINVAL);
  CHECK(v->set_user_memory_region(gmem_slot(1, G4, MiB2, f.get(), P), true) == EINVAL);
  CHECK(v->set_user_memory_region(gmem_slot(1, G4, MiB2, f.get(), MiB2), true) == EINVAL);
  CHECK(v->set_user_memory_region(gmem_slot(1, G4, P, f.get(), MiB2 - P), true) == 0);
}

TEST_CASE("Vm: two slots bound to overlapping file ranges: the second is EINVAL") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, MiB2, 0);
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, MiB2, f.get(), 0), true) == 0);
  CHECK(v->set_user_memory_region(gmem_slot(2, 2 * G4, P, f.get(), MiB2 - P), true) == EINVAL);
  CHECK(v->slot_for_gfn(gfn(2 * G4)) == nullptr);
  CHECK(v->slots().size() == 1);
}

TEST_CASE("Vm: guest_memfd slots are immutable: only deleting them works") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 2 * MiB2, 0);
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, MiB2, f.get(), 0), true) == 0);
  CHECK(v->set_user_memory_region(gmem_slot(1, 2 * G4, MiB2, f.get(), 0), true) == EINVAL);  // move
  CHECK(v->set_user_memory_region(gmem_slot(1, G4, MiB2, f.get(), 0), true) == EINVAL);      // same again
  CHECK(v->set_user_memory_region(plain(1, G4, MiB2), true) == EINVAL);                      // drop gmem
  REQUIRE(v->slot_for_gfn(gfn(G4)) != nullptr);
  CHECK(v->slot_for_gfn(gfn(G4))->gmem() == f.get());
  CHECK(r.zaps.empty());
  CHECK(v->set_user_memory_region(gmem_slot(1, G4, 0, f.get(), 0), true) == 0);
  CHECK_FALSE(f->bound());
}

TEST_CASE("Vm: a plain slot can move: the old range is zapped and the new one found") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  REQUIRE(v->set_user_memory_region(plain(1, G4, 2 * P), false) == 0);
  REQUIRE(v->set_user_memory_region(plain(2, 2 * G4, P), false) == 0);
  CHECK(v->set_user_memory_region(plain(1, 2 * G4 - P, 2 * P), false) == EEXIST);
  CHECK(r.zaps.empty());
  REQUIRE(v->set_user_memory_region(plain(1, 3 * G4, 2 * P), false) == 0);
  CHECK(r.zaps == std::vector<Range>{{gfn(G4), gfn(G4) + 2}});
  CHECK(v->slot_for_gfn(gfn(G4)) == nullptr);
  REQUIRE(v->slot_for_gfn(gfn(3 * G4) + 1) != nullptr);
  CHECK(v->slot_for_gfn(gfn(3 * G4) + 1)->id() == 1);
}

TEST_CASE("Vm: changing a plain slot's size or userspace address is EINVAL") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  MemoryRegion m = plain(1, G4, 2 * P);
  m.userspace_pid = 1;
  m.userspace_addr = 0x7f0000000000;
  REQUIRE(v->set_user_memory_region(m, false) == 0);
  MemoryRegion bigger = m;
  bigger.memory_size = 4 * P;
  CHECK(v->set_user_memory_region(bigger, false) == EINVAL);
  MemoryRegion moved = m;
  moved.userspace_addr += P;
  CHECK(v->set_user_memory_region(moved, false) == EINVAL);
  MemoryRegion other = m;
  other.userspace_pid = 2;  // another process's address
  CHECK(v->set_user_memory_region(other, false) == EINVAL);
  CHECK(v->set_user_memory_region(m, false) == 0);  // the same region again: nothing to do
}

// __kvm_set_memory_region refuses a change of KVM_MEM_READONLY with EINVAL and
// applies a change of KVM_MEM_LOG_DIRTY_PAGES (KVM_MR_FLAGS_ONLY).
TEST_CASE("Vm: toggling READONLY on an existing slot is EINVAL, LOG_DIRTY_PAGES is applied") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  REQUIRE(v->set_user_memory_region(plain(1, G4, 2 * P), false) == 0);
  CHECK(v->set_user_memory_region(plain(1, G4, 2 * P, Memslot::kReadonly), false) == EINVAL);
  CHECK((v->slot_for_gfn(gfn(G4))->flags() & Memslot::kReadonly) == 0);
  CHECK(v->set_user_memory_region(plain(1, G4, 2 * P, Memslot::kLogDirtyPages), false) == 0);
  CHECK((v->slot_for_gfn(gfn(G4))->flags() & Memslot::kLogDirtyPages) != 0);
}

// ---- KVM_SET_MEMORY_ATTRIBUTES ---------------------------------------------------

TEST_CASE("Vm: a default VM refuses PRIVATE but accepts no attributes") {
  Rig r;
  Vm* v = r.vm(VmType::Default);
  CHECK(v->set_memory_attributes(G4, P, kPrivate, 0) == EINVAL);
  CHECK(v->set_memory_attributes(G4, P, 0, 0) == 0);
  CHECK_FALSE(v->is_private(gfn(G4)));
  CHECK(r.zaps.empty());
}

TEST_CASE("Vm: set_memory_attributes argument errors are EINVAL and change nothing") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  CHECK(v->set_memory_attributes(G4, P, kPrivate, 1) == EINVAL);          // flags
  CHECK(v->set_memory_attributes(G4, P, 1ull << 0, 0) == EINVAL);         // unknown attribute
  CHECK(v->set_memory_attributes(G4, P, kPrivate | (1ull << 4), 0) == EINVAL);
  CHECK(v->set_memory_attributes(G4, 0, kPrivate, 0) == EINVAL);          // size 0
  CHECK(v->set_memory_attributes(~kPageMask, 2 * P, kPrivate, 0) == EINVAL);  // overflow
  CHECK(v->set_memory_attributes(G4 + 1, P, kPrivate, 0) == EINVAL);      // unaligned address
  CHECK(v->set_memory_attributes(G4, P + 1, kPrivate, 0) == EINVAL);      // unaligned size
  CHECK_FALSE(v->is_private(gfn(G4)));
  CHECK(r.zaps.empty());
}

TEST_CASE("Vm: attributes of GFNs without guest_memfd follow the VM's attribute array") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  REQUIRE(v->set_user_memory_region(plain(1, G4, 4 * P), false) == 0);
  REQUIRE(v->set_memory_attributes(G4 + P, 2 * P, kPrivate, 0) == 0);
  CHECK(r.zaps == std::vector<Range>{{gfn(G4) + 1, gfn(G4) + 3}});
  CHECK_FALSE(v->is_private(gfn(G4)));
  CHECK(v->is_private(gfn(G4) + 1));
  CHECK(v->is_private(gfn(G4) + 2));
  CHECK_FALSE(v->is_private(gfn(G4) + 3));
  // No memslot at all: still the attribute.
  REQUIRE(v->set_memory_attributes(8 * G4, P, kPrivate, 0) == 0);
  CHECK(v->is_private(gfn(8 * G4)));
  // Back to shared.
  REQUIRE(v->set_memory_attributes(G4, 4 * P, 0, 0) == 0);
  CHECK_FALSE(v->is_private(gfn(G4) + 1));
}

TEST_CASE("Vm: setting attributes that are already in place neither zaps nor fails") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  REQUIRE(v->set_memory_attributes(G4, 2 * P, kPrivate, 0) == 0);
  REQUIRE(r.zaps.size() == 1);
  CHECK(v->set_memory_attributes(G4, 2 * P, kPrivate, 0) == 0);
  CHECK(v->set_memory_attributes(G4, P, kPrivate, 0) == 0);
  CHECK(r.zaps.size() == 1);
}

TEST_CASE("Vm: is_private follows the file for an MMAP guest_memfd") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto priv = r.gmem(*v, 4 * P, kMmap);                // starts private
  auto shr = r.gmem(*v, 4 * P, kMmap | kInitShared);  // starts shared
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, 4 * P, priv.get(), 0), true) == 0);
  REQUIRE(v->set_user_memory_region(gmem_slot(2, 2 * G4, 4 * P, shr.get(), 0), true) == 0);
  CHECK(v->is_private(gfn(G4)));
  CHECK(v->is_private(gfn(G4) + 3));
  CHECK_FALSE(v->is_private(gfn(2 * G4)));
  // A conversion on the file alone (no notification of the VM) is what KVM sees.
  shr->convert(1, 2, true, 0, /*notify_bindings=*/false);
  CHECK(v->is_private(gfn(2 * G4) + 1));
  CHECK_FALSE(v->is_private(gfn(2 * G4) + 2));
}

TEST_CASE("Vm: is_private follows the VM attribute for a guest_memfd without MMAP") {
  Rig r;
  Vm* v = r.vm(VmType::Tdx);
  auto f = r.gmem(*v, 4 * P, 0);  // the file's pages start private
  REQUIRE(f->range_is(0, 4, true));
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, 4 * P, f.get(), 0), true) == 0);
  CHECK_FALSE(v->is_private(gfn(G4)));  // KVM's attribute: shared until set
  REQUIRE(v->set_memory_attributes(G4, P, kPrivate, 0) == 0);
  CHECK(v->is_private(gfn(G4)));
  CHECK_FALSE(v->is_private(gfn(G4) + 1));
}

TEST_CASE("Vm: a VM-level conversion also converts the guest_memfd pages behind the range") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 4 * P, kMmap | kInitShared);
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, 2 * P, f.get(), 2 * P), true) == 0);
  REQUIRE(v->set_memory_attributes(G4, 2 * P, kPrivate, 0) == 0);
  CHECK(f->range_is(0, 2, false));
  CHECK(f->range_is(2, 4, true));
  CHECK(v->is_private(gfn(G4)));
  CHECK(v->is_private(gfn(G4) + 1));
  // Zapped (KVM zaps and the file invalidates its bindings): always exactly the range.
  REQUIRE_FALSE(r.zaps.empty());
  for (const Range& z : r.zaps) CHECK(z == Range{gfn(G4), gfn(G4) + 2});
}

TEST_CASE("Vm: a pinned guest_memfd page makes a VM-level to-private EAGAIN and nothing changes") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 4 * P, kMmap | kInitShared);
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, 4 * P, f.get(), 0), true) == 0);
  uint64_t pfn = 0;
  REQUIRE(f->pin(2, &pfn) == 0);
  CHECK(v->set_memory_attributes(G4, 4 * P, kPrivate, 0) == EAGAIN);
  CHECK(r.zaps.empty());
  CHECK(f->range_is(0, 4, false));
  for (uint64_t i = 0; i < 4; ++i) CHECK_FALSE(v->is_private(gfn(G4) + i));
  REQUIRE(f->unpin(pfn) == 0);
  CHECK(v->set_memory_attributes(G4, 4 * P, kPrivate, 0) == 0);
  CHECK(f->range_is(0, 4, true));
}

TEST_CASE("Vm: a conversion through the guest_memfd zaps the slot's GFNs and updates the attribute") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 4 * P, kMmap | kInitShared);
  // The slot maps file pages 2..3 at G4.
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, 2 * P, f.get(), 2 * P), true) == 0);
  REQUIRE(f->set_attributes(0, 4 * P, kPrivate, 0, nullptr) == 0);
  CHECK(r.zaps == std::vector<Range>{{gfn(G4), gfn(G4) + 2}});
  CHECK(v->is_private(gfn(G4)));
  CHECK(v->is_private(gfn(G4) + 1));
  r.zaps.clear();
  REQUIRE(f->set_attributes(3 * P, P, 0, 0, nullptr) == 0);
  CHECK(r.zaps == std::vector<Range>{{gfn(G4) + 1, gfn(G4) + 2}});
  CHECK(v->is_private(gfn(G4)));
  CHECK_FALSE(v->is_private(gfn(G4) + 1));
}

TEST_CASE("Vm: a punch hole in the guest_memfd zaps the bound GFNs") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 4 * P, kMmap | kInitShared);
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, 4 * P, f.get(), 0), true) == 0);
  REQUIRE(f->fallocate(GuestMemfd::kFallocKeepSize | GuestMemfd::kFallocPunchHole, int64_t(P), int64_t(P)) == 0);
  CHECK(r.zaps == std::vector<Range>{{gfn(G4) + 1, gfn(G4) + 2}});
}

// ---- Kvm: VM and guest_memfd lifetimes -------------------------------------------

TEST_CASE("Kvm: a VM type the architecture does not offer is EINVAL") {
  FakeMemory mem;
  FrameAllocator frames(0x100, 0x200);
  Stats stats;
  auto x86_arch = make_architecture(Arch::X86Tdx, {}, stats, "kvm");
  auto arm_arch = make_architecture(Arch::Arm64Pkvm, {}, stats, "kvm");
  Kvm x86(*x86_arch, frames, mem, stats);
  Kvm arm(*arm_arch, frames, mem, stats);
  Vm* v = nullptr;
  CHECK(x86.create_vm("a", VmType::Pkvm, &v) == EINVAL);
  CHECK(arm.create_vm("b", VmType::Tdx, &v) == EINVAL);
  CHECK(x86.create_vm("c", VmType::Tdx, &v) == 0);
  x86.set_tdx_enabled(false);  // no encryption engine: no TDX KeyIDs, no TDs
  CHECK(x86.create_vm("c2", VmType::Tdx, &v) == EINVAL);
  x86.set_tdx_enabled(true);
  CHECK(arm.create_vm("d", VmType::Pkvm, &v) == 0);
  CHECK(arm.create_vm("e", VmType::Default, &v) == 0);
  CHECK(x86.vms().size() == 1);
  CHECK(arm.vms().size() == 2);
}

TEST_CASE("Kvm: create_guest_memfd applies the creation checks of the VM's type") {
  Rig r;
  Vm* tdx = r.vm(VmType::Tdx);
  std::shared_ptr<GuestMemfd> f;
  CHECK(r.kvm.create_guest_memfd(*tdx, "g", 4 * P, kMmap | kInitShared, &f) == EINVAL);
  CHECK(r.kvm.create_guest_memfd(*tdx, "g", P + 1, 0, &f) == EINVAL);
  CHECK(r.kvm.create_guest_memfd(*tdx, "g", 0, 0, &f) == EINVAL);
  CHECK(r.kvm.gmems().empty());
  CHECK(r.kvm.create_guest_memfd(*tdx, "g", 4 * P, kMmap, &f) == 0);
  REQUIRE(f.get() != nullptr);
  CHECK(f->vm().id == tdx->id());
  CHECK(f->vm().type == VmType::Tdx);
  CHECK(r.kvm.gmems().size() == 1);
}

TEST_CASE("Kvm: a guest_memfd keeps its VM alive after the VM fd is closed") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  const int id = v->id();
  auto f = r.gmem(*v, 4 * P, kMmap | kInitShared);
  r.kvm.close_vm(v);
  CHECK(r.kvm.vm_by_id(id) != nullptr);
  f.reset();
  CHECK(r.kvm.vm_by_id(id) == nullptr);
  CHECK(r.kvm.gmems().empty());
}

TEST_CASE("Kvm: releasing a bound guest_memfd zaps its slot and leaves the slot without memory") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 4 * P, kMmap);
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, 4 * P, f.get(), 0), true) == 0);
  REQUIRE(f->fallocate(GuestMemfd::kFallocKeepSize, 0, int64_t(4 * P)) == 0);
  CHECK(r.frames.in_use() == 4);
  f.reset();
  CHECK(r.zaps == std::vector<Range>{{gfn(G4), gfn(G4) + 4}});
  REQUIRE(v->slot_for_gfn(gfn(G4)) != nullptr);
  CHECK(v->slot_for_gfn(gfn(G4))->gmem() == nullptr);
  CHECK(r.frames.in_use() == 0);
  CHECK_FALSE(v->is_private(gfn(G4)));  // back to the VM attribute
  CHECK(v->set_user_memory_region(gmem_slot(1, G4, 0, nullptr, 0), true) == 0);
}

TEST_CASE("Memslot: file page and GFN convert both ways through the binding offset") {
  Rig r;
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 8 * P, kMmap);
  REQUIRE(v->set_user_memory_region(gmem_slot(3, G4, 4 * P, f.get(), 2 * P), true) == 0);
  Memslot* s = v->slot_for_gfn(gfn(G4));
  REQUIRE(s != nullptr);
  CHECK(s->base_gfn() == gfn(G4));
  CHECK(s->npages() == 4);
  CHECK(s->gmem_first() == 2);
  CHECK(s->gmem_index(gfn(G4) + 1) == 3);
  CHECK(s->gfn_of_index(5) == gfn(G4) + 3);
  CHECK(s->had_gmem());
  CHECK(s->contains_gfn(gfn(G4) + 3));
  CHECK_FALSE(s->contains_gfn(gfn(G4) + 4));
}

// ---- gfn_backing: KVM's answer to "which frame backs this GFN" -------------------

TEST_CASE("gfn_backing: private GFNs come from guest_memfd, looking allocates nothing, a fault does") {
  Rig r;
  HostMm mm(r.frames, r.mem);
  Vm* v = r.vm(VmType::SwProtected);
  auto f = r.gmem(*v, 4 * P, 0);
  REQUIRE(v->set_user_memory_region(gmem_slot(1, G4, 4 * P, f.get(), 0), true) == 0);
  GfnBacking look = gfn_backing(*v, mm, gfn(G4) + 1, true, false);
  CHECK(look.source == GfnBacking::Source::GuestMemfd);
  CHECK_FALSE(look.pfn.has_value());
  CHECK(f->allocated_pages() == 0);
  GfnBacking fault = gfn_backing(*v, mm, gfn(G4) + 1, true, true);
  REQUIRE(fault.pfn.has_value());
  CHECK(fault.pfn == f->pfn(1));
  CHECK(fault.index == 1);
  CHECK(gfn_backing(*v, mm, gfn(G4) + 1, true, false).pfn == fault.pfn);
  // A shared access to a file without MMAP and no userspace address: nothing backs it.
  CHECK(gfn_backing(*v, mm, gfn(G4) + 1, false, true).source == GfnBacking::Source::None);
  CHECK(gfn_backing(*v, mm, gfn(G4) + 8, false, true).source == GfnBacking::Source::NoSlot);
}

TEST_CASE("gfn_backing: shared GFNs come from the VMM's mapping, or in place from an MMAP file") {
  Rig r;
  HostMm mm(r.frames, r.mem);
  const int pid = mm.create_process("vmm");
  Vma* anon = nullptr;
  REQUIRE(mm.mmap_anon(pid, "a", 4 * P, true, &anon) == 0);
  Vm* v = r.vm(VmType::SwProtected);
  MemoryRegion m = plain(1, G4, 4 * P);
  m.userspace_pid = pid;
  m.userspace_addr = anon->start;
  REQUIRE(v->set_user_memory_region(m, true) == 0);
  CHECK_FALSE(gfn_backing(*v, mm, gfn(G4), false, false).pfn.has_value());
  GfnBacking b = gfn_backing(*v, mm, gfn(G4), false, true);
  CHECK(b.source == GfnBacking::Source::HostMapping);
  CHECK(b.vma == anon);
  REQUIRE(b.pfn.has_value());
  CHECK(anon->anon->pages.at(0) == *b.pfn);

  auto f = r.gmem(*v, 4 * P, GuestMemfd::kFlagMmap | GuestMemfd::kFlagInitShared);
  REQUIRE(v->set_user_memory_region(gmem_slot(2, 2 * G4, 4 * P, f.get(), 0), true) == 0);
  GfnBacking in_place = gfn_backing(*v, mm, gfn(2 * G4), false, true);
  CHECK(in_place.source == GfnBacking::Source::GuestMemfd);
  CHECK(in_place.pfn == f->pfn(0));
  REQUIRE(f->set_attributes(0, P, GuestMemfd::kAttrPrivate, 0, nullptr) == 0);
  // Private in the file: a shared access finds nothing, a private one the same page.
  CHECK(gfn_backing(*v, mm, gfn(2 * G4), false, false).source == GfnBacking::Source::None);
  CHECK(gfn_backing(*v, mm, gfn(2 * G4), true, false).pfn == in_place.pfn);
  mm.clear();
}

// pKVM's kvm_arch_prepare_memory_region(): after the first run a protected
// VM's slots can be neither deleted nor moved; dirty logging and read-only
// slots never. The generic checks (EINVAL, EEXIST) come first.
TEST_CASE("vm: a protected VM's memslots are fixed once it has run") {
  Stats stats;
  auto arch = make_architecture(Arch::Arm64Pkvm, {}, stats, "kvm");
  Vm v(1, "p", VmType::Pkvm, *arch);
  CHECK(v.set_user_memory_region(plain(1, G4, P, Memslot::kReadonly), true) == EPERM);
  CHECK(v.set_user_memory_region(plain(1, G4, P, Memslot::kLogDirtyPages), true) == EPERM);
  REQUIRE(v.set_user_memory_region(plain(1, G4, P), true) == 0);
  REQUIRE(v.set_user_memory_region(plain(1, 2 * G4, P), true) == 0);  // moved before the run
  REQUIRE(v.set_user_memory_region(plain(2, G4, P), true) == 0);
  v.note_run();
  CHECK(v.set_user_memory_region(plain(1, 2 * G4, 0), true) == EPERM);
  CHECK(v.set_user_memory_region(plain(1, 3 * G4, P), true) == EPERM);
  CHECK(v.set_user_memory_region(plain(1, G4, P), true) == EEXIST);
  CHECK(v.set_user_memory_region(plain(3, G4, 0), true) == EINVAL);
  CHECK(v.set_user_memory_region(plain(1, 2 * G4, P, Memslot::kLogDirtyPages), true) == EPERM);
  CHECK(v.set_user_memory_region(plain(3, 3 * G4, P), true) == 0);
  CHECK(v.slots().size() == 3);

  Vm d(2, "d", VmType::Default, *arch);  // not EL2's: KVM's generic rules only
  REQUIRE(d.set_user_memory_region(plain(1, G4, P), true) == 0);
  d.note_run();
  CHECK(d.set_user_memory_region(plain(1, 2 * G4, P), true) == 0);
  CHECK(d.set_user_memory_region(plain(1, 2 * G4, 0), true) == 0);
}
