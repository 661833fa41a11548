// The TDX module's SEAMCALLs and TDCALLs: life cycle, Secure EPT, PAMT, TLB
// tracking, faults, and every refused call changing nothing.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>

#include <openssl/evp.h>

#include "common/stats.h"
#include "mee/memory_encryption_engine.h"
#include "tdx/map_gpa.h"
#include "tdx_rig.h"

using namespace cocosim;
using namespace cocosim::tdx;
using cocosim_test::gl;
using cocosim_test::kSource;
using cocosim_test::kTdParams;
using cocosim_test::TdxRig;

namespace {

constexpr Addr kGpa = 0x100000;     // a private GPA
constexpr Addr kGpa2M = 0x400000;   // a 2 MiB aligned one

// The call must be refused with `status` and leave everything as it was.
void refused(TdxRig& r, TdxStatus status, const std::function<SeamcallResult()>& call) {
  const auto before = r.snapshot();
  const SeamcallResult res = call();
  CHECK_MESSAGE(res.status == status, "got " << res.status.name() << ", expected " << status.name());
  CHECK_MESSAGE(r.snapshot() == before, "a refused call (" << status.name() << ") changed the state");
}

TdxStatus op(uint64_t code, uint64_t operand) { return TdxStatus::with_operand(code, operand); }

}  // namespace

TEST_CASE("TdxStatus: SEAMCALL leaf numbers and names") {
  CHECK(*seamcall_leaf_number("TDH.MEM.PAGE.ADD") == 2u);
  CHECK(*seamcall_leaf_number("TDH.MEM.TRACK") == 38u);
  CHECK(*seamcall_leaf_number("TDH.PHYMEM.PAGE.WBINVD") == 41u);
  CHECK(std::string(seamcall_leaf_name(15)) == "TDH.MEM.PAGE.DEMOTE");
  CHECK(seamcall_leaves().size() == 26u);
  CHECK(std::string(tdcall_leaf_name(6)) == "TDG.MEM.PAGE.ACCEPT");
}

TEST_CASE("TdxModule: a TD is built as KVM builds it, PAMT records every control page") {
  TdxRig r;
  auto t = r.create_td(17);
  auto v = r.tdx.td(t.tdr);
  REQUIRE(v);
  CHECK(v->hkid == 17u);
  CHECK(v->lifecycle == TdLifecycle::KeysConfigured);
  CHECK(v->op == TdOpState::Initialized);
  CHECK(v->sept_levels == 4);
  CHECK(v->vcpus == 1u);
  CHECK(v->child_pages == 4u + 1u + 2u);  // TDCS pages, TDVPR, TDVPX pages
  CHECK(r.pamt.get(t.tdr).pt == PageType::TDR);
  CHECK(r.pamt.get(t.vcpus[0]).pt == PageType::TDVPR);
  CHECK(r.pamt.get(t.vcpus[0]).owner == pfn_of(t.tdr));
  CHECK(r.pamt.get(v->sept_root).pt == PageType::TDCX);
  // The root SEPT page: 512 FREE entries.
  CHECK(r.tdx.sept(t.tdr)->read(v->sept_root, 0).is_free());
  CHECK(r.tdx.sept(t.tdr)->read(v->sept_root, 511).is_free());
}

TEST_CASE("TdxModule: refused management calls return the module's status and change nothing") {
  TdxRig r;
  const Addr tdr = r.frame();
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RCX), [&] { return r.tdx.mng_create(tdr + 8, 17); });
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RCX), [&] { return r.tdx.mng_create(r.tdx.keyed(tdr, 17), 17); });
  refused(r, op(TDX_OPERAND_ADDR_RANGE_ERROR, OPERAND_ID_RCX), [&] { return r.tdx.mng_create(Addr{1} << 30, 17); });
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RDX), [&] { return r.tdx.mng_create(tdr, 16); });  // the global KeyID
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RDX), [&] { return r.tdx.mng_create(tdr, 64); });
  REQUIRE(r.tdx.mng_create(tdr, 17).status.ok());
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RCX), [&] { return r.tdx.mng_create(tdr, 18); });
  refused(r, op(TDX_HKID_NOT_FREE, OPERAND_ID_RDX), [&] { return r.tdx.mng_create(r.frame(), 17); });
  refused(r, TDX_TD_KEYS_NOT_CONFIGURED, [&] { return r.tdx.mng_addcx(r.frame(), tdr); });
  REQUIRE(r.tdx.mng_key_config(tdr).status.ok());
  refused(r, TDX_KEY_CONFIGURED, [&] { return r.tdx.mng_key_config(tdr); });
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RDX), [&] { return r.tdx.mng_addcx(r.frame(), r.frame()); });
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RCX), [&] { return r.tdx.mng_addcx(tdr, tdr); });
  refused(r, TDX_TDCS_NOT_ALLOCATED, [&] { return r.tdx.mng_init(tdr, kTdParams); });
  for (int i = 0; i < 4; ++i) REQUIRE(r.tdx.mng_addcx(r.frame(), tdr).status.ok());
  refused(r, op(TDX_TDCX_NUM_INCORRECT, OPERAND_ID_RCX), [&] { return r.tdx.mng_addcx(r.frame(), tdr); });
  refused(r, TDX_OP_STATE_INCORRECT, [&] { return r.tdx.vp_create(r.frame(), tdr); });
  // TD_PARAMS: misaligned, in private memory, GPAW and EPT levels that disagree, unknown attributes.
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RDX), [&] { return r.tdx.mng_init(tdr, kTdParams + 8); });
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RDX), [&] { return r.tdx.mng_init(tdr, r.tdx.keyed(kTdParams, 17)); });
  TdParams bad = TdParams::for_gpaw(48);
  bad.eptp_controls = TdParams::kEptpMtWb | 4 << 3;  // 5-level walk with GPAW 48
  bad.write(r.plain, kTdParams);
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RDX), [&] { return r.tdx.mng_init(tdr, kTdParams); });
  bad.eptp_controls = 3 << 3;  // memory type UC
  bad.write(r.plain, kTdParams);
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RDX), [&] { return r.tdx.mng_init(tdr, kTdParams); });
  TdParams::for_gpaw(48, 1ull << 30).write(r.plain, kTdParams);
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RDX), [&] { return r.tdx.mng_init(tdr, kTdParams); });
  TdParams::for_gpaw(48).write(r.plain, kTdParams);
  REQUIRE(r.tdx.mng_init(tdr, kTdParams).status.ok());
  refused(r, TDX_OP_STATE_INCORRECT, [&] { return r.tdx.mng_init(tdr, kTdParams); });
  refused(r, TDX_NO_VCPUS, [&] { return r.tdx.mr_finalize(tdr); });
  const Addr tdvpr = r.frame();
  REQUIRE(r.tdx.vp_create(tdvpr, tdr).status.ok());
  refused(r, TDX_VCPU_STATE_INCORRECT, [&] { return r.tdx.vp_init(tdvpr, 0); });  // TDVPX pages missing
  refused(r, TDX_OP_STATE_INCORRECT, [&] { return r.tdx.vp_enter(tdvpr); });     // not finalized
  REQUIRE(r.tdx.vp_addcx(r.frame(), tdvpr).status.ok());
  REQUIRE(r.tdx.vp_addcx(r.frame(), tdvpr).status.ok());
  refused(r, op(TDX_TDCX_NUM_INCORRECT, OPERAND_ID_RCX), [&] { return r.tdx.vp_addcx(r.frame(), tdvpr); });
  REQUIRE(r.tdx.vp_init(tdvpr, 0).status.ok());
  refused(r, TDX_VCPU_STATE_INCORRECT, [&] { return r.tdx.vp_init(tdvpr, 0); });
  refused(r, TDX_LIFECYCLE_STATE_INCORRECT, [&] { return r.tdx.mng_key_freeid(tdr); });
  refused(r, TDX_LIFECYCLE_STATE_INCORRECT, [&] { return r.tdx.phymem_page_reclaim(tdvpr); });
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RCX), [&] { return r.tdx.phymem_page_reclaim(r.frame()); });
  CHECK(r.tdx.seamcall(5, {}).status == TDX_OPERAND_INVALID);  // TDH.MEM.PAGE.RELOCATE: not modelled
}

TEST_CASE("TdxModule: PAGE.ADD copies under the TD key and AUG demands PT_NDA, one frame, one TD, one GPA") {
  TdxRig r;
  auto a = r.create_td(17);
  auto b = r.create_td(18);
  r.sept_path(a, kGpa, 0);
  r.sept_path(b, kGpa, 0);
  r.plain.fill(kSource, 0x5a, kPageSize);
  const Addr page = r.frame();
  // Operand order: TDR (RDX), OP state, GPA (RCX), page (R8), source (R9), SEPT.
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RDX), [&] { return r.tdx.mem_page_add(gl(kGpa, 0), page, page, kSource); });
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_add(gl(kGpa, 1), a.tdr, page, kSource); });
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_add(gl(kGpa | (1ull << 47), 0), a.tdr, page, kSource); });
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_R9), [&] { return r.tdx.mem_page_add(gl(kGpa, 0), a.tdr, page, r.tdx.keyed(kSource, 17)); });
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_R8), [&] { return r.tdx.mem_page_add(gl(kGpa, 0), a.tdr, a.tdr, kSource); });
  refused(r, op(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_add(gl(0x40000000, 0), a.tdr, page, kSource); });
  REQUIRE(r.tdx.mem_page_add(gl(kGpa, 0), a.tdr, page, kSource).status.ok());
  CHECK(r.pamt.get(page).pt == PageType::REG);
  CHECK(r.pamt.get(page).owner == pfn_of(a.tdr));
  std::vector<uint8_t> got(kPageSize);
  r.plain.read(r.tdx.keyed(page, 17), got.data(), got.size());
  CHECK(got == std::vector<uint8_t>(kPageSize, 0x5a));
  // The same frame again: at another GPA of the same TD, or in another TD.
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_R8), [&] { return r.tdx.mem_page_add(gl(kGpa + 0x1000, 0), a.tdr, page, kSource); });
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_R8), [&] { return r.tdx.mem_page_aug(gl(kGpa, 0), b.tdr, page); });
  // The same GPA again.
  refused(r, op(TDX_EPT_ENTRY_STATE_INCORRECT, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_add(gl(kGpa, 0), a.tdr, r.frame(), kSource); });
  // A SEPT page or a control page as a TD page.
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_R8), [&] { return r.tdx.mem_page_aug(gl(kGpa + 0x1000, 0), a.tdr, r.tdx.td(b.tdr)->sept_root); });
  // After FINALIZE, no more ADD, EXTEND or FINALIZE.
  REQUIRE(r.tdx.mr_finalize(a.tdr).status.ok());
  refused(r, TDX_OP_STATE_INCORRECT, [&] { return r.tdx.mem_page_add(gl(kGpa + 0x1000, 0), a.tdr, r.frame(), kSource); });
  refused(r, TDX_OP_STATE_INCORRECT, [&] { return r.tdx.mr_extend(kGpa, a.tdr); });
  refused(r, TDX_OP_STATE_INCORRECT, [&] { return r.tdx.mr_finalize(a.tdr); });
}

TEST_CASE("TdxModule: MRTD is SHA-384 over the module's 128-byte blocks, recomputed outside bit for bit") {
  TdxRig r;
  auto t = r.create_td(17);
  std::vector<uint8_t> image(2 * kPageSize);
  for (size_t i = 0; i < image.size(); ++i) image[i] = uint8_t(i * 13 + 7);
  const Addr gpas[2] = {0x200000, 0x201000};
  for (int p = 0; p < 2; ++p) {
    r.sept_path(t, gpas[p], 0);
    r.plain.write(kSource, image.data() + p * kPageSize, kPageSize);
    REQUIRE(r.tdx.mem_page_add(gl(gpas[p], 0), t.tdr, r.frame(), kSource).status.ok());
  }
  // Only the first page is measured (MEASURE_MEMORY_REGION): 16 x MR.EXTEND.
  for (int c = 0; c < 16; ++c) REQUIRE(r.tdx.mr_extend(gpas[0] + c * 256, t.tdr).status.ok());
  CHECK(r.tdx.mr_extend(gpas[0] + 8, t.tdr).status == op(TDX_OPERAND_INVALID, OPERAND_ID_RCX));
  CHECK(r.tdx.mr_extend(0x300000, t.tdr).status == op(TDX_EPT_ENTRY_NOT_PRESENT, OPERAND_ID_RCX));
  CHECK(r.tdx.mr_extend(0x40000000, t.tdr).status == op(TDX_EPT_WALK_FAILED, OPERAND_ID_RCX));
  CHECK_FALSE(r.tdx.td(t.tdr)->finalized);
  REQUIRE(r.tdx.mr_finalize(t.tdr).status.ok());
  const auto mrtd = r.tdx.td(t.tdr)->mrtd;

  // Independently: hand-built blocks, OpenSSL's one-shot SHA-384.
  std::vector<uint8_t> msg;
  auto block = [&](const char* name, uint64_t gpa) {
    uint8_t b[128] = {};
    std::memcpy(b, name, std::strlen(name));
    for (int i = 0; i < 8; ++i) b[16 + i] = uint8_t(gpa >> (8 * i));
    msg.insert(msg.end(), b, b + 128);
  };
  block("MEM.PAGE.ADD", gpas[0]);
  block("MEM.PAGE.ADD", gpas[1]);
  for (int c = 0; c < 16; ++c) {
    block("MR.EXTEND", gpas[0] + c * 256);
    msg.insert(msg.end(), image.begin() + c * 256, image.begin() + (c + 1) * 256);
  }
  uint8_t want[48];
  unsigned len = 0;
  REQUIRE(EVP_Digest(msg.data(), msg.size(), want, &len, EVP_sha384(), nullptr) == 1);
  CHECK(len == 48u);
  CHECK(std::memcmp(mrtd.data(), want, 48) == 0);

  // The TD reads the same through TDG.MR.REPORT.
  REQUIRE(r.tdx.vp_enter(t.vcpus[0]).status.ok());
  auto rep = r.tdx.tdg_mr_report(t.vcpus[0]);
  CHECK(rep.status.ok());
  CHECK(rep.mrtd == mrtd);
}

TEST_CASE("TdxModule: lazy AUG + ACCEPT at 4 KiB and 2 MiB, double ACCEPT, size mismatch") {
  TdxRig r;
  auto t = r.create_td(17);
  REQUIRE(r.tdx.mr_finalize(t.tdr).status.ok());
  const Addr vcpu = t.vcpus[0];
  r.sept_path(t, kGpa, 0);
  r.sept_path(t, kGpa2M, 1);
  const Addr page = r.frame(), block = r.block();
  r.dram.mem.fill(page, 0xee, kPageSize);  // stale host data
  REQUIRE(r.tdx.mem_page_aug(gl(kGpa, 0), t.tdr, page).status.ok());
  refused(r, op(TDX_OPERAND_INVALID, OPERAND_ID_R8), [&] { return r.tdx.mem_page_aug(gl(kGpa2M, 1), t.tdr, block + kPageSize); });
  REQUIRE(r.tdx.mem_page_aug(gl(kGpa2M, 1), t.tdr, block).status.ok());
  CHECK(r.pamt.get(block + 0x1ff000).size == PageSize::k2M);
  CHECK(r.tdx.td(t.tdr)->child_pages == 7u + 3u + 1u + 512u);  // control, SEPT pages, 4K, 2M
  auto rd = r.tdx.mem_sept_rd(gl(kGpa, 0), t.tdr);
  CHECK(rd.status.ok());
  CHECK(((rd.rdx >> 8) & 0xff) == 2u);  // PENDING
  CHECK(SeptEntry{rd.rcx}.hpa() == page);

  REQUIRE(r.tdx.vp_enter(vcpu).status.ok());
  CHECK(r.tdx.tdg_mem_page_accept(vcpu, gl(kGpa + kPageSize, 0)).status == TDX_SUCCESS);  // FREE: exits
  CHECK_FALSE(r.tdx.in_td(vcpu));
  REQUIRE(r.tdx.vp_enter(vcpu).status.ok());
  auto acc = r.tdx.tdg_mem_page_accept(vcpu, gl(kGpa, 0));
  CHECK(acc.status.ok());
  CHECK_FALSE(acc.exit);
  CHECK(r.dram.all(page, kPageSize, 0));  // zeroed with the TD's key
  CHECK(r.tdx.tdg_mem_page_accept(vcpu, gl(kGpa, 0)).status == op(TDX_PAGE_ALREADY_ACCEPTED, OPERAND_ID_RCX));
  // 4 KiB inside the 2 MiB leaf: the guest must accept at 2 MiB.
  CHECK(r.tdx.tdg_mem_page_accept(vcpu, gl(kGpa2M + kPageSize, 0)).status == op(TDX_PAGE_SIZE_MISMATCH, OPERAND_ID_RCX));
  CHECK(r.tdx.tdg_mem_page_accept(vcpu, gl(kGpa2M, 1)).status.ok());
  auto a = r.tdx.td_access(vcpu, kGpa2M + 0x12345, true);
  CHECK(a.kind == PrivateAccess::Kind::Mapped);
  CHECK(a.hpa == block + 0x12000);
  CHECK(a.size == kHugePageSize);
  CHECK(a.hkid == 17u);
  // 2 MiB over 4 KiB mappings.
  CHECK(r.tdx.tdg_mem_page_accept(vcpu, gl(0, 1)).status == op(TDX_PAGE_SIZE_MISMATCH, OPERAND_ID_RCX));
}

TEST_CASE("TdxModule: a PENDING page gives a #VE (VEINFO readable) or, with SEPT_VE_DISABLE, an exit") {
  for (bool ve_disable : {false, true}) {
    CAPTURE(ve_disable);
    TdxRig r;
    auto t = r.create_td(17, 48, ve_disable ? TdParams::kAttrSeptVeDisable : 0);
    REQUIRE(r.tdx.mr_finalize(t.tdr).status.ok());
    const Addr vcpu = t.vcpus[0];
    r.sept_path(t, kGpa, 0);
    REQUIRE(r.tdx.mem_page_aug(gl(kGpa, 0), t.tdr, r.frame()).status.ok());
    REQUIRE(r.tdx.vp_enter(vcpu).status.ok());
    CHECK(r.tdx.tdg_vp_veinfo_get(vcpu).status == TDX_NO_VALID_VE_INFO);
    auto a = r.tdx.td_access(vcpu, kGpa + 0x10, false);
    if (!ve_disable) {
      CHECK(a.kind == PrivateAccess::Kind::VirtualizationException);
      CHECK(r.tdx.in_td(vcpu));
      auto ve = r.tdx.tdg_vp_veinfo_get(vcpu);
      CHECK(ve.status.ok());
      CHECK(ve.rcx == 48u);  // EPT violation
      CHECK(ve.r9 == kGpa + 0x10);
      CHECK(r.tdx.tdg_vp_veinfo_get(vcpu).status == TDX_NO_VALID_VE_INFO);
    } else {
      REQUIRE(a.kind == PrivateAccess::Kind::Exit);
      CHECK(a.exit->kind == TdExit::Kind::PendingEptViolation);
      CHECK(a.exit->eeq == 6u);
      CHECK_FALSE(r.tdx.in_td(vcpu));
    }
  }
  // A GPA with no leaf: an EPT-violation exit for KVM to AUG.
  TdxRig r;
  auto t = r.create_td(17);
  REQUIRE(r.tdx.mr_finalize(t.tdr).status.ok());
  REQUIRE(r.tdx.vp_enter(t.vcpus[0]).status.ok());
  auto a = r.tdx.td_access(t.vcpus[0], 0x7000, true);
  REQUIRE(a.kind == PrivateAccess::Kind::Exit);
  CHECK(a.exit->kind == TdExit::Kind::EptViolation);
  CHECK(a.exit->gpa == 0x7000u);
}

TEST_CASE("TdxModule: REMOVE on a running TD needs BLOCK and a completed TRACK") {
  TdxRig r;
  auto t = r.create_td(17, 48, 0, 2);
  REQUIRE(r.tdx.mr_finalize(t.tdr).status.ok());
  r.sept_path(t, kGpa, 0);
  const Addr page = r.frame();
  REQUIRE(r.tdx.mem_page_aug(gl(kGpa, 0), t.tdr, page).status.ok());
  const Addr v0 = t.vcpus[0], v1 = t.vcpus[1];
  auto e0 = r.tdx.vp_enter(v0);
  REQUIRE(e0.status.ok());
  CHECK(e0.flush_tlb);  // first entry in this epoch
  CHECK(r.tdx.vp_enter(v0).status == op(TDX_OPERAND_BUSY, OPERAND_ID_RCX));
  REQUIRE(r.tdx.tdg_mem_page_accept(v0, gl(kGpa, 0)).status.ok());

  refused(r, op(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_remove(gl(kGpa, 0), t.tdr); });
  refused(r, op(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_ID_RCX), [&] { return r.tdx.mem_range_unblock(gl(kGpa, 0), t.tdr); });
  REQUIRE(r.tdx.mem_range_block(gl(kGpa, 0), t.tdr).status.ok());
  const uint64_t epoch = r.tdx.td(t.tdr)->td_epoch;
  CHECK(r.pamt.get(page).bepoch == epoch);
  refused(r, op(TDX_GPA_RANGE_ALREADY_BLOCKED, OPERAND_ID_RCX), [&] { return r.tdx.mem_range_block(gl(kGpa, 0), t.tdr); });
  refused(r, op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_remove(gl(kGpa, 0), t.tdr); });
  // v0 is still inside the TD, entered in the blocking epoch: TRACK passes, but not tracked yet.
  REQUIRE(r.tdx.mem_track(t.tdr).status.ok());
  CHECK(r.tdx.td(t.tdr)->td_epoch == epoch + 1);
  CHECK_FALSE(r.tdx.is_tlb_tracked(t.tdr, epoch));
  refused(r, op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_remove(gl(kGpa, 0), t.tdr); });
  // A second TRACK while v0 still runs in the previous epoch.
  refused(r, TDX_PREVIOUS_TLB_EPOCH_BUSY, [&] { return r.tdx.mem_track(t.tdr); });
  // v1 enters in the new epoch: it does not hold the old translation.
  REQUIRE(r.tdx.vp_enter(v1).status.ok());
  r.tdx.td_exit(v0);  // the kick
  CHECK(r.tdx.is_tlb_tracked(t.tdr, epoch));
  auto rm = r.tdx.mem_page_remove(gl(kGpa, 0), t.tdr);
  REQUIRE(rm.status.ok());
  CHECK(rm.rcx == page);
  CHECK(r.pamt.get(page).pt == PageType::NDA);
  CHECK(r.tdx.phymem_page_wbinvd(r.tdx.keyed(page, 17)).status.ok());
  CHECK(r.tdx.phymem_page_wbinvd(r.tdx.keyed(t.tdr, 17)).status == op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_RCX));
  CHECK(r.tdx.phymem_page_wbinvd(page).status == op(TDX_OPERAND_INVALID, OPERAND_ID_RCX));  // KeyID 0
  CHECK(r.tdx.phymem_page_wbinvd(r.tdx.keyed(page, 64)).status == op(TDX_OPERAND_INVALID, OPERAND_ID_RCX));
  // v0 re-enters: the epoch moved, so the entry flushes its TLB.
  CHECK(r.tdx.vp_enter(v0).flush_tlb);
}

TEST_CASE("TdxModule: DEMOTE splits a 2 MiB leaf into a SEPT page of 512 4 KiB leaves, PROMOTE merges them") {
  TdxRig r;
  auto t = r.create_td(17);
  REQUIRE(r.tdx.mr_finalize(t.tdr).status.ok());
  r.sept_path(t, kGpa2M, 1);
  const Addr block = r.block();
  REQUIRE(r.tdx.mem_page_aug(gl(kGpa2M, 1), t.tdr, block).status.ok());
  const Addr sp = r.frame();
  refused(r, op(TDX_GPA_RANGE_NOT_BLOCKED, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_demote(gl(kGpa2M, 1), t.tdr, sp); });
  REQUIRE(r.tdx.mem_range_block(gl(kGpa2M, 1), t.tdr).status.ok());
  refused(r, op(TDX_TLB_TRACKING_NOT_DONE, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_demote(gl(kGpa2M, 1), t.tdr, sp); });
  REQUIRE(r.tdx.mem_track(t.tdr).status.ok());
  refused(r, op(TDX_PAGE_METADATA_INCORRECT, OPERAND_ID_R8), [&] { return r.tdx.mem_page_demote(gl(kGpa2M, 1), t.tdr, block); });
  REQUIRE(r.tdx.mem_page_demote(gl(kGpa2M, 1), t.tdr, sp).status.ok());
  CHECK(r.pamt.get(sp).pt == PageType::EPT);
  CHECK(r.pamt.get(block + 0x5000).size == PageSize::k4K);
  for (unsigned i : {0u, 1u, 511u}) {
    auto rd = r.tdx.mem_sept_rd(gl(kGpa2M + i * kPageSize, 0), t.tdr);
    CHECK(rd.status.ok());
    CHECK(SeptEntry{rd.rcx}.state() == SeptState::Pending);
    CHECK(SeptEntry{rd.rcx}.hpa() == block + i * kPageSize);
  }
  // One child accepted: the block is no longer uniform.
  REQUIRE(r.tdx.vp_enter(t.vcpus[0]).status.ok());
  REQUIRE(r.tdx.tdg_mem_page_accept(t.vcpus[0], gl(kGpa2M + kPageSize, 0)).status.ok());
  r.tdx.td_exit(t.vcpus[0]);
  REQUIRE(r.tdx.mem_range_block(gl(kGpa2M, 1), t.tdr).status.ok());
  REQUIRE(r.tdx.mem_track(t.tdr).status.ok());
  refused(r, op(TDX_EPT_INVALID_PROMOTE_CONDITIONS, OPERAND_ID_RCX), [&] { return r.tdx.mem_page_promote(gl(kGpa2M, 1), t.tdr); });
  refused(r, op(TDX_EPT_PAGE_NOT_FREE, OPERAND_ID_RCX), [&] { return r.tdx.mem_sept_remove(gl(kGpa2M, 1), t.tdr); });
  // Accept the rest in the guest, then promote.
  REQUIRE(r.tdx.mem_range_unblock(gl(kGpa2M, 1), t.tdr).status.ok());
  REQUIRE(r.tdx.vp_enter(t.vcpus[0]).status.ok());
  for (unsigned i = 0; i < 512; ++i)
    if (i != 1) REQUIRE(r.tdx.tdg_mem_page_accept(t.vcpus[0], gl(kGpa2M + i * kPageSize, 0)).status.ok());
  r.tdx.td_exit(t.vcpus[0]);
  REQUIRE(r.tdx.mem_range_block(gl(kGpa2M, 1), t.tdr).status.ok());
  REQUIRE(r.tdx.mem_track(t.tdr).status.ok());
  REQUIRE(r.tdx.mem_page_promote(gl(kGpa2M, 1), t.tdr).status.ok());
  CHECK(r.pamt.get(sp).pt == PageType::NDA);
  CHECK(r.pamt.get(block + 0x5000).size == PageSize::k2M);
  auto rd = r.tdx.mem_sept_rd(gl(kGpa2M, 1), t.tdr);
  CHECK(SeptEntry{rd.rcx}.state() == SeptState::Mapped);
  CHECK(SeptEntry{rd.rcx}.leaf());
}

TEST_CASE("TdxModule: teardown reclaims every page, the TDR last, and frees the HKID for reuse") {
  TdxRig r;
  auto t = r.create_td(17);
  REQUIRE(r.tdx.mr_finalize(t.tdr).status.ok());
  r.sept_path(t, kGpa, 0);
  const Addr page = r.frame();
  REQUIRE(r.tdx.mem_page_aug(gl(kGpa, 0), t.tdr, page).status.ok());
  REQUIRE(r.tdx.vp_enter(t.vcpus[0]).status.ok());
  refused(r, op(TDX_OPERAND_BUSY, OPERAND_ID_RCX), [&] { return r.tdx.vp_flush(t.vcpus[0]); });
  r.tdx.td_exit(t.vcpus[0]);
  refused(r, TDX_FLUSHVP_NOT_DONE, [&] { return r.tdx.mng_vpflushdone(t.tdr); });
  REQUIRE(r.tdx.vp_flush(t.vcpus[0]).status.ok());
  CHECK(r.tdx.vp_flush(t.vcpus[0]).status == TDX_VCPU_NOT_ASSOCIATED);
  REQUIRE(r.tdx.mng_vpflushdone(t.tdr).status.ok());
  CHECK(r.tdx.td(t.tdr)->lifecycle == TdLifecycle::Blocked);
  refused(r, TDX_LIFECYCLE_STATE_INCORRECT, [&] { return r.tdx.vp_enter(t.vcpus[0]); });
  refused(r, TDX_LIFECYCLE_STATE_INCORRECT, [&] { return r.tdx.phymem_page_reclaim(page); });
  refused(r, op(TDX_HKID_NOT_FREE, OPERAND_ID_RDX), [&] { return r.tdx.mng_create(r.frame(), 17); });
  REQUIRE(r.tdx.mng_key_freeid(t.tdr).status.ok());
  refused(r, TDX_TD_ASSOCIATED_PAGES_EXIST, [&] { return r.tdx.phymem_page_reclaim(t.tdr); });
  std::vector<Addr> owned;
  r.pamt.for_each([&](Addr a, const PamtEntry& e) {
    if (e.owner == pfn_of(t.tdr) && e.pt != PageType::TDR) owned.push_back(a);
  });
  CHECK(owned.size() == 4u + 1u + 2u + 3u + 1u);
  for (Addr a : owned) {
    auto rc = r.tdx.phymem_page_reclaim(a);
    REQUIRE(rc.status.ok());
    CHECK(rc.rdx == t.tdr);
  }
  auto last = r.tdx.phymem_page_reclaim(t.tdr);
  REQUIRE(last.status.ok());
  CHECK(last.rcx == uint64_t(PageType::TDR));
  CHECK(r.pamt.entries() == 0u);
  CHECK(r.tdx.tds().empty());
  auto again = r.create_td(17);  // the HKID is free again
  CHECK(r.tdx.td(again.tdr)->hkid == 17u);
}

TEST_CASE("TdxModule: GPAW 52 uses a 5-level Secure EPT and bit 51 as the shared bit") {
  TdxRig r;
  auto t = r.create_td(17, 52);
  CHECK(r.tdx.td(t.tdr)->sept_levels == 5);
  const Addr high = Addr{1} << 50;  // above 4-level reach, below the shared bit
  r.sept_path(t, high, 0);
  REQUIRE(r.tdx.mem_page_add(gl(high, 0), t.tdr, r.frame(), kSource).status.ok());
  CHECK(r.tdx.mem_sept_rd(gl(high, 0), t.tdr).status.ok());
  CHECK(r.tdx.mem_page_add(gl(high | (Addr{1} << 51), 0), t.tdr, r.frame(), kSource).status ==
        op(TDX_OPERAND_INVALID, OPERAND_ID_RCX));
  CHECK(r.tdx.mem_sept_add(gl(0, 5), t.tdr, r.frame()).status == op(TDX_OPERAND_INVALID, OPERAND_ID_RCX));
}

TEST_CASE("TdxModule: with the engine below, SEPT pages and TD pages are ciphertext in DRAM") {
  cocosim_test::FakeMemory dram{cocosim_test::kTdxMemSize};
  Stats stats;
  MemoryEncryptionEngine mee{dram, MemoryEncryptionEngine::Integrity::Ci, 7, 64, stats, "mee"};
  cocosim_test::MeeKeyedPort port{mee, 16};  // private KeyIDs from 16
  TdxRig r(&port);
  r.tdx.set_key_programmer([&](unsigned k) { mee.program_key(k); });
  auto t = r.create_td(17, 48, 0, 1, &port);
  r.sept_path(t, kGpa, 0);
  std::vector<uint8_t> src(kPageSize, 0x42);
  port.write(kSource, src.data(), src.size());
  const Addr page = r.frame();
  REQUIRE(r.tdx.mem_page_add(gl(kGpa, 0), t.tdr, page, kSource).status.ok());
  // Through the TD's key the module reads what it wrote ...
  auto rd = r.tdx.mem_sept_rd(gl(kGpa, 0), t.tdr);
  CHECK(SeptEntry{rd.rcx}.state() == SeptState::Mapped);
  std::vector<uint8_t> back(kPageSize);
  port.read(r.tdx.keyed(page, 17), back.data(), back.size());
  CHECK(back == src);
  // ... DRAM holds neither the entry nor the content in the clear.
  const SecureEpt::Walk w = r.tdx.sept(t.tdr)->walk(kGpa, 0);
  CHECK(dram.mem.allocated(pfn_of(w.table)));
  uint64_t raw = 0;
  dram.read(w.table + 8 * w.idx, &raw, 8);
  CHECK(raw != w.entry.raw);
  CHECK(mee.td_bit(w.table + 8 * w.idx - (8 * w.idx) % 64));
  CHECK_FALSE(dram.all(page, kPageSize, 0x42));
  // The host (KeyID 0) reads zeros: the TD-owner bit does not match.
  std::vector<uint8_t> host(64);
  port.read(page, host.data(), host.size());
  CHECK(host == std::vector<uint8_t>(64, 0));
}

TEST_CASE("MapGpa: KVM's checks, 2 MiB per exit, RETRY with the next GPA") {
  const uint64_t shared = uint64_t{1} << 47;
  MapGpa off(48, false);
  CHECK(off.start(shared, 0x1000).done->status == TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED);
  MapGpa m(48, true);
  CHECK(m.start(shared - 0x1000, 0x2000).done->status == TDVMCALL_STATUS_INVALID_OPERAND);  // both sides
  CHECK(m.start(uint64_t{1} << 48, 0x1000).done->status == TDVMCALL_STATUS_INVALID_OPERAND);
  CHECK(m.start(shared + 0x800, 0x1000).done->status == TDVMCALL_STATUS_ALIGN_ERROR);
  auto s = m.start(shared + 0x100000, 5 << 20);  // 5 MiB to shared
  REQUIRE(s.exit);
  CHECK(s.exit->gpa == 0x100000u);
  CHECK(s.exit->npages == 512u);
  CHECK(s.exit->attrs == MapGpa::kDecrypted);
  s = m.complete(0, false);
  REQUIRE(s.exit);
  CHECK(s.exit->gpa == 0x300000u);
  s = m.complete(0, true);  // an interrupt is pending: back to the guest
  REQUIRE(s.done);
  CHECK(s.done->status == TDVMCALL_STATUS_RETRY);
  CHECK(s.done->r11 == shared + 0x500000);
  s = m.start(s.done->r11, 0x100000);  // the guest resumes from R11
  CHECK(s.exit->npages == 256u);
  CHECK(m.complete(0, false).done->status == TDVMCALL_STATUS_SUCCESS);
  s = m.start(0x200000, 0x1000);  // to private
  CHECK(s.exit->attrs == MapGpa::kEncrypted);
  CHECK(m.complete(1, false).done->status == TDVMCALL_STATUS_INVALID_OPERAND);
}
