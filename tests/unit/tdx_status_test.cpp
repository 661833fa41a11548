// TDX status codes, SEPT entry states and PAMT: names, values and encodings.
#include <doctest/doctest.h>

#include <stdexcept>

#include "ownership/pamt.h"
#include "tdx/sept_entry.h"
#include "tdx/tdx_status.h"

using namespace cocosim;

TEST_CASE("TdxStatus: names and 64-bit values both ways, with the operand ID in the low bits") {
  CHECK(tdx_status_value("TDX_OPERAND_BUSY") == tdx::TDX_OPERAND_BUSY);
  CHECK(*tdx_status_value("TDX_OPERAND_BUSY") == 0x8000020000000000ull);
  CHECK(*tdx_status_value("TDX_PAGE_METADATA_INCORRECT") == 0xC000030000000000ull);
  CHECK(*tdx_status_value("TDX_TLB_TRACKING_NOT_DONE") == 0xC0000B0800000000ull);
  CHECK(*tdx_status_value("TDX_PAGE_ALREADY_ACCEPTED") == 0x00000B0A00000000ull);
  CHECK(*tdx_status_value("TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE") == 0x6000000500000000ull);
  CHECK(*tdx_status_value("TDX_OPERAND_BUSY|SEPT_TREE") == 0x8000020000000092ull);
  CHECK(*tdx_status_value("TDX_OPERAND_BUSY|TD_EPOCH") == 0x80000200000000A9ull);
  CHECK_FALSE(tdx_status_value("TDX_NO_SUCH_STATUS"));
  CHECK_FALSE(tdx_status_value("TDX_OPERAND_BUSY|R15"));
  // Every name maps to a value that maps back to it.
  for (const std::string& n : tdx_status_names()) CHECK(tdx_status_name(*tdx_status_value(n)) == n);

  const TdxStatus s = TdxStatus::with_operand(tdx::TDX_OPERAND_INVALID, tdx::OPERAND_ID_R8);
  CHECK(s.value == 0xC000010000000008ull);
  CHECK(s.code() == tdx::TDX_OPERAND_INVALID);
  CHECK(s.operand() == 8u);
  CHECK(s.error());
  CHECK(s.name() == "TDX_OPERAND_INVALID|R8");
  CHECK(TdxStatus(tdx::TDX_GPA_RANGE_ALREADY_BLOCKED).name() == "TDX_GPA_RANGE_ALREADY_BLOCKED");
  CHECK_FALSE(TdxStatus(tdx::TDX_GPA_RANGE_ALREADY_BLOCKED).error());  // a warning, not an error
  CHECK(TdxStatus(0xC0DE000000000000ull).name() == "0xc0de000000000000");
}

TEST_CASE("SeptEntry: states are the module's encodings in D/TDEX/TDBW/TDB/TDP/IPAT/PS") {
  struct Case {
    SeptState s;
    uint64_t bits;
    uint8_t pub;
  };
  const Case cases[] = {
      {SeptState::Free, SeptEntry::kTdex | SeptEntry::kTdbw | SeptEntry::kTdb, 0},
      {SeptState::NlMapped, 0, 0x84},
      {SeptState::NlBlocked, SeptEntry::kTdb, 0x81},
      {SeptState::Mapped, SeptEntry::kIpat | SeptEntry::kPs, 4},
      {SeptState::Blocked, SeptEntry::kIpat | SeptEntry::kPs | SeptEntry::kTdb, 1},
      {SeptState::Pending, SeptEntry::kIpat | SeptEntry::kPs | SeptEntry::kTdp, 2},
      {SeptState::PendingBlocked, SeptEntry::kIpat | SeptEntry::kPs | SeptEntry::kTdp | SeptEntry::kTdb, 3},
  };
  const uint64_t state_bits = SeptEntry::kD | SeptEntry::kTdex | SeptEntry::kTdbw | SeptEntry::kTdb |
                              SeptEntry::kTdp | SeptEntry::kIpat | SeptEntry::kPs;
  for (const Case& c : cases) {
    CAPTURE(sept_state_name(c.s));
    const SeptEntry e = SeptEntry::make(c.s, 0x123456000);
    CHECK((e.raw & state_bits) == c.bits);
    CHECK(e.state() == c.s);
    CHECK(e.valid_state());
    CHECK(sept_public_state(c.s) == c.pub);
    CHECK((e.raw & SeptEntry::kSve) != 0);
  }
  const SeptEntry m = SeptEntry::make(SeptState::Mapped, 0x123456000);
  CHECK(m.hpa() == 0x123456000u);
  CHECK(m.present());
  CHECK((m.raw & 7) == 7u);
  CHECK_FALSE(SeptEntry::make(SeptState::Pending, 0x1000).present());
  CHECK_FALSE(SeptEntry::make(SeptState::Blocked, 0x1000).present());
  CHECK(SeptEntry::make(SeptState::Blocked, 0x1000).hpa() == 0x1000u);
  CHECK(SeptEntry::free_entry().raw == (SeptEntry::kSve | SeptEntry::kTdex | SeptEntry::kTdbw | SeptEntry::kTdb));
  CHECK_FALSE(SeptEntry{SeptEntry::kD}.valid_state());
}

TEST_CASE("Pamt: sparse 4 KiB and 2 MiB entries, a frame in one block only") {
  Pamt p(0, uint64_t{16} << 20);
  CHECK(p.entries() == 0u);
  CHECK(p.get(0x5000).pt == PageType::NDA);
  p.assign(0x5000, PageSize::k4K, PageType::TDR, 5);
  CHECK(p.get(0x5000).pt == PageType::TDR);
  CHECK(p.get(0x5000).owner == 5u);
  CHECK_FALSE(p.free(0x5000, PageSize::k4K));
  CHECK_FALSE(p.free(0, PageSize::k2M));  // one frame of the block is taken
  CHECK(p.free(0x200000, PageSize::k2M));
  CHECK_THROWS_AS(p.assign(0x5000, PageSize::k4K, PageType::REG, 5), std::logic_error);

  p.assign(0x200000, PageSize::k2M, PageType::REG, 5);
  CHECK(p.entries() == 2u);  // one entry for 512 frames
  CHECK(p.get(0x3ff000).pt == PageType::REG);
  CHECK(p.get(0x3ff000).size == PageSize::k2M);
  CHECK_FALSE(p.free(0x201000, PageSize::k4K));
  p.set_bepoch(0x200000, 7);
  p.demote(0x200000);
  CHECK(p.entries() == 513u);
  CHECK(p.get(0x3ff000).size == PageSize::k4K);
  CHECK(p.get(0x3ff000).bepoch == 7u);
  p.promote(0x200000);
  CHECK(p.entries() == 2u);
  CHECK(p.get(0x200000).size == PageSize::k2M);
  p.release(0x200000, PageSize::k2M);
  CHECK(p.free(0x200000, PageSize::k2M));
  CHECK_THROWS_AS(p.release(0x200000, PageSize::k2M), std::logic_error);
  CHECK_FALSE(p.covers(uint64_t{16} << 20));
  CHECK_THROWS_AS(Pamt(0x1000, uint64_t{2} << 20), std::invalid_argument);
  CHECK(std::string(page_type_name(PageType::EPT)) == "PT_EPT");
}
