// The invariant checker must catch what it claims to catch: each test breaks
// one ownership rule behind the models' backs and expects the checker to name
// it. One platform for the whole process (SystemC elaborates once), so every
// test builds its own VM and file and leaves the platform clean.
// Every check runs the full and the incremental checker (dual_checker.h):
// the incremental one must name each broken rule in the same check.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>

#include <systemc>

#include "dual_checker.h"
#include "cpu/guest_page_map.h"
#include "invariant_checker.h"
#include "platform.h"

using namespace cocosim;

namespace {

Platform* g_platform = nullptr;

bool has_rule(const std::vector<Violation>& v, const std::string& rule) {
  for (const auto& x : v)
    if (x.rule == rule) return true;
  return false;
}

struct Fixture {
  Platform& p = *g_platform;
  DualChecker checker{p, [](const std::string& why) { FAIL_CHECK(why); }};
  Vm* vm = nullptr;
  std::shared_ptr<GuestMemfd> f;
  int pid = 0;
  Vma* map = nullptr;

  Fixture() {
    REQUIRE(checker.check().empty());
    REQUIRE(p.kvm.create_vm("t", VmType::SwProtected, &vm) == 0);
    REQUIRE(p.kvm.create_guest_memfd(*vm, "g", 16 * kPageSize,
                                     GuestMemfd::kFlagMmap | GuestMemfd::kFlagInitShared, &f) == 0);
    pid = p.mm.create_process("test");
    REQUIRE(p.mm.mmap_gmem(pid, "m", f, 0, 16 * kPageSize, true, &map) == 0);
    MemoryRegion r;
    r.slot = 1;
    r.flags = Memslot::kGuestMemfd;
    r.guest_phys_addr = 1ull << 32;
    r.memory_size = 16 * kPageSize;
    r.guest_memfd_given = true;
    r.guest_memfd = f.get();
    REQUIRE(vm->set_user_memory_region(r, true) == 0);
  }
  ~Fixture() {
    p.host_mmu.munmap(map);
    f.reset();
    p.kvm.close_vm(vm);
  }
  // A host write through the process's mapping (faults the page in, may take DMI).
  void host_touch(uint64_t page) {
    uint8_t b[8] = {1};
    sc_core::sc_time d;
    REQUIRE(p.host_cpu.user_access(pid, map->start + page * kPageSize, b, 8, true, d) == 0);
    REQUIRE(p.host_cpu.user_access(pid, map->start + page * kPageSize, b, 8, false, d) == 0);
  }
};

}  // namespace

TEST_CASE("a clean conversion leaves nothing to report") {
  Fixture t;
  t.host_touch(0);
  uint64_t eo = 0;
  CHECK(t.f->set_attributes(0, kPageSize, GuestMemfd::kAttrPrivate, 0, &eo) == 0);
  CHECK(t.checker.check().empty());
}

TEST_CASE("a conversion that forgets the host mapping is caught") {
  Fixture t;
  t.host_touch(0);
  REQUIRE(t.p.gmem_target.page_mapped(*t.f, 0));
  // A buggy conversion: state flips, nothing is unmapped or revoked.
  t.f->set_ownership_hook(nullptr);
  t.f->convert(0, 1, /*to_private=*/true, 0, false, /*host_unmapped=*/true);
  auto v = t.checker.check();
  CHECK(has_rule(v, "host-map-private"));
  CHECK(has_rule(v, "dmi-private"));
  CHECK(has_rule(v, "owner-record"));  // the frame still counts as the host's
  // Put things right before the fixture goes.
  t.p.gmem_target.unmap_range(*t.f, 0, 1);
  auto pfn = t.f->pfn(0);
  REQUIRE(pfn);
  t.p.ownership.converted(*pfn, true);
  CHECK(t.checker.check().empty());
}

TEST_CASE("stage-2 leaves that disagree with the attribute are caught") {
  Fixture t;
  KvmMmu* mmu = t.p.mmu(t.vm->id());
  REQUIRE(mmu);
  const Addr gpa = 1ull << 32;
  // Page 1 private, page 2 shared; map the shared GFN to the private frame.
  uint64_t eo = 0;
  REQUIRE(t.f->fallocate(GuestMemfd::kFallocKeepSize, 0, 4 * kPageSize) == 0);
  REQUIRE(t.f->set_attributes(kPageSize, kPageSize, GuestMemfd::kAttrPrivate, 0, &eo) == 0);
  const Addr private_pa = *t.f->pfn(1) << kPageShift;
  const int last = mmu->stage2().format().levels() - 1;
  mmu->stage2().map(gpa + 2 * kPageSize, private_pa, last, Perm::rwx());
  CHECK(has_rule(t.checker.check(), "s2-shared"));
  // And the private GFN mapped to some other frame.
  mmu->stage2().map(gpa + kPageSize, *t.f->pfn(3) << kPageShift, last, Perm::rwx());
  CHECK(has_rule(t.checker.check(), "s2-private"));
  mmu->zap(0, ~uint64_t{0} >> kPageShift);
  CHECK(t.checker.check().empty());
}

TEST_CASE("a pinned frame that is private is caught: a pin is a host way in") {
  Fixture t;
  uint64_t eo = 0;
  REQUIRE(t.f->fallocate(GuestMemfd::kFallocKeepSize, 0, kPageSize) == 0);
  const uint64_t pfn = *t.f->pfn(0);
  t.p.frames.pin(pfn);  // a pin the file does not know about (the bug's shape)
  CHECK(t.p.host_mapped(pfn));
  CHECK(t.checker.check().empty());  // shared and pinned: fine
  REQUIRE(t.f->set_attributes(0, kPageSize, GuestMemfd::kAttrPrivate, 0, &eo) == 0);
  auto v = t.checker.check();
  CHECK(has_rule(v, "pin-private"));
  t.p.frames.unpin(pfn);
  CHECK(t.checker.check().empty());
}

TEST_CASE("s2-private tells the file's own page in the wrong state from another frame") {
  Fixture t;
  KvmMmu* mmu = t.p.mmu(t.vm->id());
  REQUIRE(t.f->fallocate(GuestMemfd::kFallocKeepSize, 0, 2 * kPageSize) == 0);
  uint64_t eo = 0;
  REQUIRE(t.f->set_attributes(0, kPageSize, GuestMemfd::kAttrPrivate, 0, &eo) == 0);
  const int last = mmu->stage2().format().levels() - 1;
  auto says = [](const std::vector<Violation>& v, const std::string& text) {
    for (const auto& x : v)
      if (x.rule == "s2-private" && x.detail.find(text) != std::string::npos) return true;
    return false;
  };
  // The private GFN mapped to the file's shared page 1: another frame.
  mmu->stage2().map(1ull << 32, *t.f->pfn(1) << kPageShift, last, Perm::rwx());
  CHECK(says(t.checker.check(), "(guest_memfd), not its guest_memfd page"));
  mmu->zap(0, ~uint64_t{0} >> kPageShift);

  // A file without MMAP: the VM's array says private; the file's page is
  // flipped to shared behind KVM's back while the stage-2 maps it.
  Vm* vm2 = nullptr;
  std::shared_ptr<GuestMemfd> g2;
  REQUIRE(t.p.kvm.create_vm("t2", VmType::SwProtected, &vm2) == 0);
  REQUIRE(t.p.kvm.create_guest_memfd(*vm2, "g2", kPageSize, 0, &g2) == 0);
  MemoryRegion r;
  r.slot = 1;
  r.flags = Memslot::kGuestMemfd;
  r.guest_phys_addr = 1ull << 32;
  r.memory_size = kPageSize;
  r.guest_memfd_given = true;
  r.guest_memfd = g2.get();
  REQUIRE(vm2->set_user_memory_region(r, true) == 0);
  REQUIRE(vm2->set_memory_attributes(1ull << 32, kPageSize, Vm::kAttrPrivate, 0) == 0);
  const uint64_t pfn2 = g2->get_pfn(0).pfn;
  KvmMmu* mmu2 = t.p.mmu(vm2->id());
  mmu2->stage2().map(1ull << 32, pfn2 << kPageShift, last, Perm::rwx());
  CHECK(t.checker.check().empty());
  g2->convert(0, 1, /*to_private=*/false, 0, /*notify_bindings=*/false);
  mmu2->stage2().map(1ull << 32, pfn2 << kPageShift, last, Perm::rwx());  // the convert zapped it
  CHECK(says(t.checker.check(), "holds that page as shared"));
  mmu2->zap(0, ~uint64_t{0} >> kPageShift);
  g2.reset();
  t.p.kvm.close_vm(vm2);
  CHECK(t.checker.check().empty());
}

TEST_CASE("a private frame at two GFNs is caught") {
  Fixture t;
  KvmMmu* mmu = t.p.mmu(t.vm->id());
  uint64_t eo = 0;
  REQUIRE(t.f->fallocate(GuestMemfd::kFallocKeepSize, 0, kPageSize) == 0);
  REQUIRE(t.f->set_attributes(0, kPageSize, GuestMemfd::kAttrPrivate, 0, &eo) == 0);
  const Addr pa = *t.f->pfn(0) << kPageShift;
  const int last = mmu->stage2().format().levels() - 1;
  mmu->stage2().map(1ull << 32, pa, last, Perm::rwx());
  CHECK(t.checker.check().empty());  // the right mapping is fine
  mmu->stage2().map(1ull << 33, pa, last, Perm::rwx());  // an alias outside any slot
  auto v = t.checker.check();
  CHECK(has_rule(v, "private-one-gfn"));  // (the alias's GFN is shared, so s2-shared too)
  mmu->zap(0, ~uint64_t{0} >> kPageShift);
}

TEST_CASE("a leaf to a freed frame and a stale TLB entry are caught") {
  Fixture t;
  KvmMmu* mmu = t.p.mmu(t.vm->id());
  const int last = mmu->stage2().format().levels() - 1;
  // Tables first (they take frames), then a frame nobody owns any more.
  REQUIRE(t.f->fallocate(GuestMemfd::kFallocKeepSize, 0, kPageSize) == 0);
  mmu->stage2().map(1ull << 32, *t.f->pfn(0) << kPageShift, last, Perm::rwx());
  CHECK(t.checker.check().empty());
  auto pfn = t.p.frames.alloc({FrameKind::Kernel});
  REQUIRE(pfn);
  t.p.frames.free(*pfn);
  mmu->stage2().map(1ull << 32, *pfn << kPageShift, last, Perm::rwx());
  CHECK(has_rule(t.checker.check(), "s2-freed"));
  mmu->zap(0, ~uint64_t{0} >> kPageShift);
  // A vCPU module whose TLB keeps a translation the tables do not have.
  Vcpu& v = *t.p.vcpus.at(0);
  v.bind_guest(nullptr, nullptr, mmu->stage2().roots(), t.vm->id(), 0);
  v.tlb().insert((1ull << 32) >> kPageShift, 0x1234, Perm::rwx());
  CHECK(has_rule(t.checker.check(), "tlb-stale"));
  v.tlb().flush_all();
  // A 2 MiB entry whose block is gone, or whose pages now map elsewhere.
  v.tlb().insert_huge((1ull << 32) >> kPageShift, 0x200000 >> kPageShift, Perm::rwx());
  CHECK(has_rule(t.checker.check(), "tlb-stale"));
  v.tlb().flush_all();
  v.bind_guest(nullptr, nullptr, {}, -1, -1);
  CHECK(t.checker.check().empty());
}

// An executor's own mappings (the ISA executor's Unicorn pages): a page map
// driving nothing, told of invalidations by the vCPU as the executor is.
struct RecordingExecutorMaps : TranslationListener, PageMapper {
  GuestPageMap map{*this, 4};
  void map_page(const MappedPage&) override {}
  void unmap_page(const MappedPage&) override {}
  void stage2_invalidated(uint64_t first, uint64_t end) override {
    if (first == 0 && end == ~uint64_t{0}) map.invalidate_all();
    else map.invalidate_gfns(first, end);
  }
  void frames_revoked(uint64_t first, uint64_t last) override { map.invalidate_pfns(first, last + 1); }
  const GuestPageMap* mapped_pages() const override { return &map; }
};

TEST_CASE("an executor mapping without the translation behind it is caught (isa-stale), an INVEPT drops it") {
  Fixture t;
  KvmMmu* mmu = t.p.mmu(t.vm->id());
  Vcpu& v = *t.p.vcpus.at(0);
  v.bind_guest(nullptr, nullptr, mmu->stage2().roots(), t.vm->id(), 0);
  RecordingExecutorMaps ex;
  v.set_translation_listener(&ex);
  alignas(4096) static uint8_t page[4096];
  // GPA 4 GiB has no stage-2 leaf: a Unicorn page there is stale.
  ex.map.insert({(1ull << 32) >> kPageShift, 0x1234, page, true, true});
  CHECK(has_rule(t.checker.check(), "isa-stale"));
  // A page reached only through GuestEnv::access holds no translation.
  ex.map.insert({((1ull << 32) >> kPageShift) + 1, 0, nullptr, true, false});
  v.invept_single_context();  // what KVM does after changing stage 2: the executor's pages go
  CHECK(ex.map.size() == 1);
  CHECK(t.checker.check().empty());
  v.set_translation_listener(nullptr);
  v.bind_guest(nullptr, nullptr, {}, -1, -1);
}

TEST_CASE("a guest_memfd page bound twice, or bound to another VM, is caught") {
  Fixture t;
  // The fixture's slot 1 binds the whole file: make it a quarter of it.
  MemoryRegion del;
  del.slot = 1;
  del.flags = Memslot::kGuestMemfd;
  REQUIRE(t.vm->set_user_memory_region(del, true) == 0);
  MemoryRegion first = del;
  first.guest_phys_addr = 1ull << 32;
  first.memory_size = 4 * kPageSize;
  first.guest_memfd_given = true;
  first.guest_memfd = t.f.get();
  REQUIRE(t.vm->set_user_memory_region(first, true) == 0);
  // A second slot of the same VM on another part of the file.
  MemoryRegion r;
  r.slot = 2;
  r.flags = Memslot::kGuestMemfd;
  r.guest_phys_addr = 1ull << 33;
  r.memory_size = 4 * kPageSize;
  r.guest_memfd_given = true;
  r.guest_memfd = t.f.get();
  r.guest_memfd_offset = 8 * kPageSize;
  REQUIRE(t.vm->set_user_memory_region(r, true) == 0);
  CHECK(t.checker.check().empty());
  // A buggy bind: the second slot now claims file pages [2, 6), over slot 1's [0, 4).
  Memslot* second = t.vm->slots().at(2).get();
  second->bind_gmem(t.f.get(), 2);
  CHECK(has_rule(t.checker.check(), "gmem-one-gfn"));
  second->bind_gmem(t.f.get(), 8);
  CHECK(t.checker.check().empty());

  // A slot of another VM pointing at this VM's file.
  Vm* other = nullptr;
  REQUIRE(t.p.kvm.create_vm("other", VmType::SwProtected, &other) == 0);
  MemoryRegion plain;
  plain.slot = 1;
  plain.guest_phys_addr = 1ull << 32;
  plain.memory_size = 4 * kPageSize;
  REQUIRE(other->set_user_memory_region(plain, true) == 0);
  Memslot* foreign = other->slots().at(1).get();
  foreign->bind_gmem(t.f.get(), 12);
  CHECK(has_rule(t.checker.check(), "gmem-one-vm"));
  foreign->bind_gmem(nullptr, 0);
  CHECK(t.checker.check().empty());
  t.p.kvm.close_vm(other);
}

TEST_CASE("an owner record that a hook failed to update is caught") {
  Fixture t;
  auto pfn = t.f->get_pfn(2);
  REQUIRE(pfn.err == 0);
  const FrameOwner right = t.p.ownership.of(pfn.pfn);
  t.p.frames.set_owner(pfn.pfn, {Owner::Guest, t.vm->id(), false});  // shared in the file
  CHECK(has_rule(t.checker.check(), "owner-record"));
  t.p.frames.set_owner(pfn.pfn, right);
  CHECK(t.checker.check().empty());
}

// The platform's wiring, checked on the same platform: the bus decodes only
// the physical address width, so an access tagged with a KeyID reaches DRAM
// through the memory slot, which strips the tag and encrypts with the KeyID's key.
TEST_CASE("platform: KeyID bits above the PA width pass the bus and are stripped by the memory slot") {
  Platform& p = *g_platform;
  REQUIRE(p.mee());  // x86-tdx runs with the engine (encryption: ci) by default
  const Addr pa = 0x3000000;
  const Addr tagged = pa | (Addr{3} << p.architecture().pa_bits());
  const uint64_t mee_before = p.stats().get("platform.mee.transactions");
  const uint64_t v = 0x1122334455667788;
  p.kernel_port.write(tagged, &v, 8);
  REQUIRE(p.kernel_port.last_ok());
  uint64_t back = 0;
  p.kernel_port.read(tagged, &back, 8);
  CHECK(back == v);
  p.kernel_port.read(pa, &back, 8);  // KeyID 0 sees the ciphertext
  CHECK(back != v);
  CHECK(p.stats().get("platform.mee.transactions") >= mee_before + 1);
  CHECK(p.stats().get("platform.bus.decode_errors") == 0);
  const uint64_t zero = 0;
  p.kernel_port.write(pa, &zero, 8);
}

// A TD built through KVM's TDX side (no vCPU thread needed): one measured page at GPA 0.
struct TdFixture {
  Platform& p = *g_platform;
  DualChecker checker{p, [](const std::string& why) { FAIL_CHECK(why); }};
  Vm* vm = nullptr;
  KvmTdx* td = nullptr;
  std::shared_ptr<GuestMemfd> f;
  uint64_t page_pfn = 0;

  TdFixture() {
    REQUIRE(checker.check().empty());
    REQUIRE(p.kvm.create_vm("td", VmType::Tdx, &vm) == 0);
    td = p.td(vm->id());
    REQUIRE(td);
    REQUIRE(p.kvm.create_guest_memfd(*vm, "tg", 16 * kPageSize, 0, &f) == 0);
    MemoryRegion r;
    r.slot = 1;
    r.flags = Memslot::kGuestMemfd;
    r.guest_phys_addr = 0;
    r.memory_size = 16 * kPageSize;
    r.guest_memfd_given = true;
    r.guest_memfd = f.get();
    REQUIRE(vm->set_user_memory_region(r, true) == 0);
    REQUIRE(vm->set_memory_attributes(0, 16 * kPageSize, Vm::kAttrPrivate, 0) == 0);
    std::string why;
    REQUIRE(td->init_vm(0, &why) == 0);
    REQUIRE(td->create_vcpu(0, nullptr, &why) == 0);
    REQUIRE(td->init_vcpu(0, 0, &why) == 0);
    auto g = f->get_pfn(0);
    REQUIRE(g.err == 0);
    page_pfn = g.pfn;
    FrameUse u;
    const uint64_t src = *p.frames.alloc(u);
    REQUIRE(td->add_initial_page(0, page_pfn << kPageShift, src << kPageShift, true, &why) == 0);
    p.frames.free(src);
    REQUIRE(td->finalize(&why) == 0);
  }
  ~TdFixture() {
    f.reset();
    p.kvm.close_vm(vm);
  }
};

TEST_CASE("a TD built as KVM builds it leaves nothing to report") {
  TdFixture t;
  CHECK(t.checker.check().empty());
  CHECK(t.p.pamt->get(t.page_pfn << kPageShift).pt == PageType::REG);
  CHECK(t.p.ownership.of(pfn_of(t.td->tdr())).owner == Owner::TdxModule);
}

TEST_CASE("a PT_REG frame no Secure EPT leaf holds is caught (pamt-sept, pamt-owner)") {
  TdFixture t;
  FrameUse u;
  const uint64_t stray = *t.p.frames.alloc(u);
  // A buggy module: PAMT assigns a frame to the TD without mapping it.
  t.p.pamt->assign(stray << kPageShift, PageSize::k4K, PageType::REG, pfn_of(t.td->tdr()));
  auto v = t.checker.check();
  CHECK(has_rule(v, "pamt-sept"));
  CHECK(has_rule(v, "pamt-owner"));  // the host's frame, recorded as such
  t.p.pamt->release(stray << kPageShift, PageSize::k4K);
  t.p.frames.free(stray);
  CHECK(t.checker.check().empty());
}

TEST_CASE("a Secure EPT leaf whose frame PAMT does not assign is caught (pamt-sept)") {
  TdFixture t;
  const Addr pa = t.page_pfn << kPageShift;
  const PamtEntry e = t.p.pamt->get(pa);
  t.p.pamt->release(pa, PageSize::k4K);  // a PAMT that forgot the page the SEPT maps
  CHECK(has_rule(t.checker.check(), "pamt-sept"));
  t.p.pamt->assign(pa, PageSize::k4K, e.pt, e.owner);
  CHECK(t.checker.check().empty());
}

TEST_CASE("a TD control page recorded as the host's is caught (pamt-owner)") {
  TdFixture t;
  const uint64_t tdr = pfn_of(t.td->tdr());
  const FrameOwner keep = t.p.ownership.of(tdr);
  t.p.frames.set_owner(tdr, FrameOwner{Owner::Host, -1, true});
  CHECK(has_rule(t.checker.check(), "pamt-owner"));
  t.p.frames.set_owner(tdr, keep);
  CHECK(t.checker.check().empty());
}

TEST_CASE("a host pin on a TD's private page is caught (host-plaintext)") {
  TdFixture t;
  t.p.frames.pin(t.page_pfn);
  CHECK(has_rule(t.checker.check(), "host-plaintext"));
  t.p.frames.unpin(t.page_pfn);
  CHECK(t.checker.check().empty());
}

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  return sc_core::sc_elab_and_sim(argc, argv);
}

int sc_main(int argc, char** argv) {
  Stats stats;
  PlatformConfig cfg;
  Platform platform(cfg, 1, stats);
  g_platform = &platform;
  sc_core::sc_start(sc_core::SC_ZERO_TIME);  // elaboration: sockets bound
  doctest::Context ctx(argc, argv);
  int rc = ctx.run();
  g_platform = nullptr;
  return rc;
}
