// KVM's TDX side (KvmTdx) over the TDX module on fake memory: the TD built as
// Linux builds it, runtime AUG through the stage-2 backend, the zap sequence,
// and a teardown that reclaims every page and frees the HKID.
#include <doctest/doctest.h>

#include "common/stats.h"
#include "host/frame_allocator.h"
#include "kvm/kvm_tdx.h"
#include "mee/key_ids.h"
#include "tdx_rig.h"

using namespace cocosim;
using cocosim_test::FakeMemory;
using cocosim_test::kTdxMemSize;
using cocosim_test::PlainKeyedPort;

namespace {

struct KvmTdxRig {
  Stats stats;
  std::unique_ptr<Architecture> arch = make_architecture(Arch::X86Tdx, ArchParams{}, stats, "t");
  FakeMemory dram{kTdxMemSize};
  PlainKeyedPort port{dram};
  Pamt pamt{0, kTdxMemSize};
  KeyIdSpace keys{6, 15};
  TdxModule module{port, pamt, TdxModuleConfig::for_platform(*arch, keys)};
  FrameAllocator frames{0x100, kTdxMemSize >> kPageShift};
  KvmTdx::Services services() {
    KvmTdx::Services s;
    s.alloc_hkid = [this] { return keys.alloc_hkid(); };
    s.free_hkid = [this](unsigned k) { keys.free_hkid(k); };
    s.clear = [this](Addr pa, size_t len) { port.fill(pa, 0, len); };
    return s;
  }
  Addr page() {
    FrameUse u;
    return *frames.alloc(u) << kPageShift;
  }
};

uint64_t gfn(Addr gpa) { return gpa >> kPageShift; }

}  // namespace

TEST_CASE("KvmTdx: build, AUG, zap and teardown leave PAMT empty and the HKID free") {
  KvmTdxRig r;
  const size_t frames_before = r.frames.in_use();
  const unsigned free_before = r.keys.free_hkids();
  const Addr source = r.page(), p0 = r.page(), p1 = r.page();
  r.port.write64(source, 0xabcdef);
  auto t = std::make_unique<KvmTdx>(*r.arch, r.module, r.services(), r.port, r.frames, r.stats, 1);
  std::string why;
  REQUIRE(t->init_vm(TdParams::kAttrSeptVeDisable, &why) == 0);
  CHECK(t->init_vm(0, &why) == EINVAL);
  CHECK(t->hkid() == 17u);
  CHECK(r.pamt.get(t->tdr()).pt == PageType::TDR);
  CHECK(r.frames.use(pfn_of(t->tdr()))->kind == FrameKind::TdxControl);
  CHECK(t->finalize(&why) == EIO);  // TDX_NO_VCPUS
  REQUIRE(t->create_vcpu(0, nullptr, &why) == 0);
  REQUIRE(t->init_vcpu(0, 0, &why) == 0);
  CHECK(t->init_vcpu(0, 0, &why) == EINVAL);
  REQUIRE(t->add_initial_page(0, p0, source, true, &why) == 0);
  CHECK(r.port.read64(p0) == 0xabcdef);
  CHECK_FALSE(t->map(0x10000, p1, t->format().levels() - 1, Perm::rwx()));  // AUG needs a runnable TD
  REQUIRE(t->finalize(&why) == 0);
  CHECK(t->create_vcpu(1, nullptr, &why) == EIO);
  REQUIRE(t->map(0x10000, p1, t->format().levels() - 1, Perm::rwx()));
  CHECK(t->leaves() == 2u);
  CHECK(r.pamt.get(p1).pt == PageType::REG);
  auto leaf = t->lookup(0x10000);
  REQUIRE(leaf);
  CHECK(leaf->pa == p1);
  CHECK_FALSE(leaf->perm.r);  // PENDING: no translation until ACCEPT

  // The zap: BLOCK, TRACK, kick, REMOVE, WBINVD, clear.
  r.port.write64(p1, 0x77);
  auto z = t->zap(gfn(0x10000), gfn(0x11000), {});
  CHECK(z.leaves == 1u);
  CHECK(t->leaves() == 1u);
  CHECK(r.pamt.get(p1).pt == PageType::NDA);
  CHECK(r.port.read64(p1) == 0);
  CHECK_FALSE(t->lookup(0x10000));
  CHECK(t->lookup(0x0));

  // Teardown: every page reclaimed, the TDR last; the HKID back in the pool.
  const auto n_control = t->control_pages().size();
  CHECK(n_control == 1 + 4 + 1 + 5 + 3);  // TDR, TDCS, TDVPR, TDVPX, three SEPT pages
  t.reset();
  CHECK(r.pamt.entries() == 0u);
  CHECK(r.keys.free_hkids() == free_before);
  CHECK(r.frames.in_use() == frames_before + 3);  // the test's own pages
  CHECK(r.port.read64(p0) == 0);                  // cleared on reclaim
  CHECK(r.module.tds().empty());
}

TEST_CASE("KvmTdx: refusals before anything exists change nothing") {
  KvmTdxRig r;
  KvmTdx t(*r.arch, r.module, r.services(), r.port, r.frames, r.stats, 1);
  std::string why;
  CHECK(t.create_vcpu(0, nullptr, &why) == EIO);
  CHECK(t.init_vcpu(0, 0, &why) == EINVAL);
  CHECK(t.finalize(&why) == EINVAL);
  CHECK(t.init_vm(1ull << 30, &why) == EINVAL);  // an attribute KVM does not offer
  CHECK(r.pamt.entries() == 0u);
  CHECK(t.roots().root == 0u);
}
