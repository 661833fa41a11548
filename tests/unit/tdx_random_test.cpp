// The malicious host at the unit level: a fixed-seed random sequence of legal
// and illegal SEAMCALLs and TDCALLs against the TDX module, with the
// invariants checked after every call and every refused call checked to
// change nothing. TDX_ITERATIONS=N runs a longer sequence; TDX_SEED another seed.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tdx_rig.h"

using namespace cocosim;
using namespace cocosim::tdx;
using cocosim_test::gl;
using cocosim_test::kSource;
using cocosim_test::kTdParams;
using cocosim_test::TdxRig;

namespace {

uint64_t env_or(const char* name, uint64_t dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : dflt;
}

// The rules, checked after every call; returns the first one broken ("" when all hold):
//  1. every SEPT root is a TDCS page (PT_TDCX) of its TD;
//  2. every SEPT entry has one of the module's states;
//  3. every non-leaf entry points to a PT_EPT page of that TD, reached once;
//  4. every MAPPED/PENDING/BLOCKED leaf's frames are PT_REG of that TD with the leaf's size,
//     and no frame is reached twice (no frame in two TDs or at two GPAs);
//  5. every PT_REG block has exactly that leaf and every PT_EPT page is in a SEPT
//     (unless its TD is in teardown, when its pages are reclaimed one by one);
//  6. every PAMT entry's owner is a TD, and each TD's child count is the frames PAMT gives it.
//
// It also returns a fingerprint of what a refused call must not change: PAMT,
// every SEPT entry (read through the module's port) and the module's TD and vCPU state.
std::string check_invariants(TdxRig& r, uint64_t& fp) {
  char buf[240];
  uint64_t h = 1469598103934665603ull;
  auto word = [&](uint64_t w) { h = (h ^ w) * 1099511628211ull + (h >> 29); };
  const uint64_t nframes = pfn_of(cocosim_test::kTdxMemSize);
  std::vector<uint8_t> leaf_size(nframes, 0);  // at a leaf's first frame: 1 = 4 KiB, 2 = 2 MiB
  std::vector<uint8_t> seen(nframes, 0);       // 1: a TD page frame, 2: a SEPT page
  std::map<uint64_t, std::pair<TdLifecycle, uint64_t>> tds;  // TDR pfn -> lifecycle, child count
  for (Addr tdr : r.tdx.tds()) {
    auto td = r.tdx.td(tdr);
    tds[pfn_of(tdr)] = {td->lifecycle, td->child_pages};
    SecureEpt* sept = r.tdx.sept(tdr);
    // In teardown the module no longer uses the SEPT; its pages are reclaimed one by one.
    if (!sept || td->lifecycle == TdLifecycle::Teardown) continue;
    if (r.pamt.get(td->sept_root).pt != PageType::TDCX || r.pamt.get(td->sept_root).owner != pfn_of(tdr))
      return "the SEPT root is not one of the TD's TDCS pages";
    std::string err;
    sept->for_each_entry([&](int level, Addr gpa, Addr, unsigned, SeptEntry e) {
      word(gpa);
      word(e.raw);
      if (!err.empty()) return;
      const SeptState s = e.state();
      if (!e.valid_state()) {
        std::snprintf(buf, sizeof buf, "SEPT entry for GPA 0x%llx has no valid state", (unsigned long long)gpa);
        err = buf;
        return;
      }
      const PamtEntry p = r.pamt.get(e.hpa());
      if (sept_non_leaf(s)) {
        if (p.pt != PageType::EPT || p.owner != pfn_of(tdr) || seen[pfn_of(e.hpa())]) {
          err = "a SEPT page is not PT_EPT of its TD, or is reached twice";
          return;
        }
        seen[pfn_of(e.hpa())] = 2;
        return;
      }
      if (!sept_holds_page(s)) return;
      const PageSize size = level ? PageSize::k2M : PageSize::k4K;
      if (level > 1 || p.pt != PageType::REG || p.owner != pfn_of(tdr) || p.size != size) {
        std::snprintf(buf, sizeof buf, "leaf %s at GPA 0x%llx: frame 0x%llx is %s of TD 0x%llx, not PT_REG of TD 0x%llx",
                      sept_state_name(s), (unsigned long long)gpa, (unsigned long long)e.hpa(),
                      page_type_name(p.pt), (unsigned long long)(p.owner << 12), (unsigned long long)tdr);
        err = buf;
        return;
      }
      leaf_size[pfn_of(e.hpa())] = level ? 2 : 1;
      for (uint64_t f = pfn_of(e.hpa()); f < pfn_of(e.hpa() + page_size_bytes(size)); ++f) {
        if (seen[f]) {
          std::snprintf(buf, sizeof buf, "frame 0x%llx mapped at two GPAs (or in two TDs)", (unsigned long long)(f << 12));
          err = buf;
          return;
        }
        seen[f] = 1;
      }
    });
    if (!err.empty()) return err;
  }
  std::string err;
  std::map<uint64_t, uint64_t> owned;  // TDR pfn -> 4 KiB frames PAMT gives it (TDR excluded)
  r.pamt.for_each([&](Addr a, const PamtEntry& e) {
    word(a);
    word(uint64_t(e.pt) | uint64_t(e.size) << 8);
    word(e.owner);
    word(e.bepoch);
    if (!err.empty()) return;
    auto td = tds.find(e.owner);
    if (td == tds.end()) {
      std::snprintf(buf, sizeof buf, "PAMT entry 0x%llx (%s) owned by no TD", (unsigned long long)a, page_type_name(e.pt));
      err = buf;
      return;
    }
    if (e.pt != PageType::TDR) owned[e.owner] += page_size_bytes(e.size) / kPageSize;
    if (td->second.first == TdLifecycle::Teardown) return;
    if (e.pt == PageType::REG && leaf_size[pfn_of(a)] != (e.size == PageSize::k2M ? 2 : 1)) {
      std::snprintf(buf, sizeof buf, "PT_REG block 0x%llx has no SEPT leaf", (unsigned long long)a);
      err = buf;
    }
    if (e.pt == PageType::EPT && seen[pfn_of(a)] != 2) {
      std::snprintf(buf, sizeof buf, "PT_EPT page 0x%llx is in no Secure EPT", (unsigned long long)a);
      err = buf;
    }
  });
  if (!err.empty()) return err;
  for (const auto& kv : tds)
    if (kv.second.second != owned[kv.first]) return "a TD's child count differs from the pages PAMT gives it";
  for (char c : r.tdx.describe_state()) word(uint8_t(c));
  fp = h;
  return "";
}

}  // namespace

TEST_CASE("TdxRandom: 100 000 mixed legal and illegal SEAMCALLs and TDCALLs keep every invariant") {
  const uint64_t iterations = env_or("TDX_ITERATIONS", 100000);
  const uint64_t seed = env_or("TDX_SEED", 20261201);
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) { return n ? rng() % n : 0; };
  auto chance = [&](unsigned pct) { return pick(100) < pct; };

  TdxRig r;
  // TD_PARAMS: GPAW 48, GPAW 52 with SEPT_VE_DISABLE, and a bad one.
  TdParams::for_gpaw(48).write(r.plain, kTdParams);
  TdParams::for_gpaw(52, TdParams::kAttrSeptVeDisable).write(r.plain, kTdParams + 0x400);
  TdParams bad = TdParams::for_gpaw(48);
  bad.eptp_controls = 0;
  bad.write(r.plain, kTdParams + 0x800);
  r.plain.fill(kSource, 0x3c, kPageSize);

  std::vector<Addr> frames, blocks;
  for (int i = 0; i < 160; ++i) frames.push_back(r.frame());
  for (int i = 0; i < 6; ++i) blocks.push_back(r.block());

  auto any_vcpu = [&]() -> Addr {
    std::vector<Addr> v;
    for (Addr f : frames)
      if (r.pamt.get(f).pt == PageType::TDVPR) v.push_back(f);
    return v.empty() ? frames[pick(frames.size())] : v[pick(v.size())];
  };
  auto free_frame = [&]() -> Addr {
    for (int tries = 0; tries < 16; ++tries) {
      const Addr f = frames[pick(frames.size())];
      if (r.pamt.get(f).pt == PageType::NDA) return f;
    }
    return frames[pick(frames.size())];
  };
  auto any_tdr = [&]() -> Addr {
    std::vector<Addr> live, all = r.tdx.tds();
    for (Addr t : all)
      if (r.tdx.td(t)->lifecycle != TdLifecycle::Teardown) live.push_back(t);
    if (all.empty() || chance(10)) return frames[pick(frames.size())];
    return live.empty() || chance(10) ? all[pick(all.size())] : live[pick(live.size())];
  };
  auto hpa = [&]() -> uint64_t {
    switch (pick(24)) {
      case 0: return frames[pick(frames.size())] + 8;                     // misaligned
      case 1: return r.tdx.keyed(frames[pick(frames.size())], 17);        // KeyID bits
      case 2: return uint64_t{1} << 30;                                  // beyond TDX memory
      case 3: return any_tdr();
      case 4: return any_vcpu();
      case 5: return blocks[pick(blocks.size())] + kPageSize * pick(512);  // inside a 2 MiB block
      default: return frames[pick(frames.size())];
    }
  };
  auto gpa_level = [&](int max_level, int level = -1) -> uint64_t {
    if (level < 0) level = chance(70) ? 0 : int(pick(uint64_t(max_level) + 1));
    Addr gpa = (pick(3) == 0 ? Addr{0x400000} : Addr{0}) + pick(1024) * kPageSize;  // [0, 8 MiB)
    gpa &= ~(SecureEpt::level_size(level) - 1);
    switch (pick(40)) {
      case 0: return gpa | (Addr{1} << 47) | uint64_t(level);  // shared (GPAW 48)
      case 1: return gpa | (Addr{1} << 51) | uint64_t(level);  // shared (GPAW 52) / beyond GPAW 48
      case 2: return gpa | 0x800 | uint64_t(level);            // misaligned / reserved bits
      case 3: return gpa | 7;                                  // no such level
      default: return gl(gpa, level);
    }
  };

  uint64_t ok = 0, refused_calls = 0, tdcalls = 0, accesses = 0, created = 0, reclaimed = 0;
  std::map<std::string, uint64_t> by_status;
  uint64_t i = 0, before = 0;
  REQUIRE(check_invariants(r, before).empty());
  for (; ok + refused_calls < iterations; ++i) {
    SeamcallResult res;
    std::string what;
    bool is_call = true;
    const Addr tdr = any_tdr();
    switch (pick(52)) {
      case 44:
      case 45:
      case 46: {
        // Guided: the next legal build step of a live TD, so TDs reach RUNNABLE.
        auto t = r.tdx.td(tdr);
        if (!t) break;
        const Addr f = free_frame();
        std::vector<Addr> vs;
        for (Addr v : frames)
          if (r.tdx.td_of_vcpu(v) == tdr) vs.push_back(v);
        if (t->lifecycle == TdLifecycle::HkidAssigned) {
          what = "MNG.KEY.CONFIG";
          res = r.tdx.mng_key_config(tdr);
        } else if (t->op == TdOpState::Uninitialized) {
          what = "MNG.ADDCX|MNG.INIT";
          res = r.tdx.mng_addcx(f, tdr);
          if (res.status.code() == TDX_TDCX_NUM_INCORRECT) res = r.tdx.mng_init(tdr, kTdParams + 0x400 * pick(2));
        } else if (t->op == TdOpState::Initialized) {
          what = "VP.*|MR.FINALIZE";
          if (vs.empty() || chance(20)) {
            res = r.tdx.vp_create(f, tdr);
          } else {
            res = r.tdx.vp_addcx(f, vs[pick(vs.size())]);
            if (res.status.code() == TDX_TDCX_NUM_INCORRECT) res = r.tdx.vp_init(vs[pick(vs.size())], 0);
            if (res.status.code() == TDX_VCPU_STATE_INCORRECT) res = r.tdx.mr_finalize(tdr);
          }
        } else if (!vs.empty()) {
          what = "VP.ENTER";
          res = r.tdx.vp_enter(vs[pick(vs.size())]);
        }
        break;
      }
      case 47:
      case 48:
      case 49: {
        // Guided: KVM's memory flow on one GPA of a live TD (SEPT.ADD down the
        // path, AUG, or BLOCK, TRACK, REMOVE), each step the next legal one.
        const uint64_t g = gl(pick(2048) * kPageSize, 0);
        auto rd = r.tdx.mem_sept_rd(g, tdr);
        if (rd.status.code() == TDX_EPT_WALK_FAILED) {
          what = "MEM.SEPT.ADD";
          const int at = int(rd.rdx & 7);
          res = r.tdx.mem_sept_add(gl(g & ~(SecureEpt::level_size(at) - 1), at), tdr, free_frame());
        } else if (rd.status.ok()) {
          switch ((rd.rdx >> 8) & 0xff) {
            case 0: what = "MEM.PAGE.AUG"; res = r.tdx.mem_page_aug(g, tdr, free_frame()); break;
            case 2:
            case 4: what = "MEM.RANGE.BLOCK"; res = r.tdx.mem_range_block(g, tdr); break;
            default:
              what = chance(50) ? "MEM.TRACK" : "MEM.PAGE.REMOVE";
              res = what == "MEM.TRACK" ? r.tdx.mem_track(tdr) : r.tdx.mem_page_remove(g, tdr);
          }
        }
        break;
      }
      case 0: what = "MNG.CREATE"; res = r.tdx.mng_create(hpa(), 17 + pick(5) + (chance(5) ? 60 : 0)); break;
      case 1: what = "MNG.KEY.CONFIG"; res = r.tdx.mng_key_config(tdr); break;
      case 2: what = "MNG.ADDCX"; res = r.tdx.mng_addcx(hpa(), tdr); break;
      case 3: what = "MNG.INIT"; res = r.tdx.mng_init(tdr, kTdParams + 0x400 * pick(chance(10) ? 3 : 2)); break;
      case 4: what = "VP.CREATE"; res = r.tdx.vp_create(hpa(), tdr); break;
      case 5: what = "VP.ADDCX"; res = r.tdx.vp_addcx(hpa(), any_vcpu()); break;
      case 6: what = "VP.INIT"; res = r.tdx.vp_init(any_vcpu(), 0); break;
      case 7: what = "MR.FINALIZE"; res = r.tdx.mr_finalize(tdr); break;
      case 8:
      case 27: what = "VP.ENTER"; res = r.tdx.vp_enter(any_vcpu()); break;
      case 9:
        // Teardown is rare, so TDs live long enough to be attacked.
        what = chance(97) ? "VP.FLUSH" : "MNG.VPFLUSHDONE";
        res = what == "VP.FLUSH" ? r.tdx.vp_flush(any_vcpu()) : r.tdx.mng_vpflushdone(tdr);
        break;
      case 10:
        what = chance(5) ? "MNG.KEY.FREEID" : "MEM.SEPT.RD";
        res = what == "MEM.SEPT.RD" ? r.tdx.mem_sept_rd(gpa_level(3), tdr) : r.tdx.mng_key_freeid(tdr);
        break;
      case 11: {
        what = "PHYMEM.PAGE.RECLAIM";
        // Mostly a page of a TD in teardown, the TDR last if it can.
        std::vector<Addr> cands;
        r.pamt.for_each([&](Addr a, const PamtEntry& e) {
          auto td = r.tdx.td(e.owner << 12);
          if (td && td->lifecycle == TdLifecycle::Teardown) cands.push_back(a);
        });
        res = r.tdx.phymem_page_reclaim(cands.empty() || chance(20) ? hpa() : cands[pick(cands.size())]);
        if (res.status.ok()) ++reclaimed;
        break;
      }
      case 12: what = "PHYMEM.PAGE.WBINVD"; res = r.tdx.phymem_page_wbinvd(r.tdx.keyed(hpa() & ~kPageMask, 16 + pick(6))); break;
      case 13:
      case 14: what = "MEM.SEPT.ADD"; res = r.tdx.mem_sept_add(gpa_level(4, chance(90) ? int(1 + pick(3)) : -1), tdr, hpa()); break;
      case 15: what = "MEM.PAGE.ADD"; res = r.tdx.mem_page_add(gpa_level(0), tdr, hpa(), chance(90) ? kSource : r.tdx.keyed(kSource, 20)); break;
      case 16: what = "MR.EXTEND"; res = r.tdx.mr_extend(gpa_level(0) & ~uint64_t{7}, tdr); break;
      case 17:
      case 18: {
        what = "MEM.PAGE.AUG";
        const uint64_t gl1 = gpa_level(1);
        res = r.tdx.mem_page_aug(gl1, tdr, (gl1 & 7) == 1 && chance(80) ? blocks[pick(blocks.size())] : hpa());
        break;
      }
      case 19: what = "MEM.RANGE.BLOCK"; res = r.tdx.mem_range_block(gpa_level(2), tdr); break;
      case 20: what = "MEM.RANGE.UNBLOCK"; res = r.tdx.mem_range_unblock(gpa_level(2), tdr); break;
      case 21: what = "MEM.TRACK"; res = r.tdx.mem_track(tdr); break;
      case 22: what = "MEM.PAGE.REMOVE"; res = r.tdx.mem_page_remove(gpa_level(1), tdr); break;
      case 23: what = "MEM.SEPT.REMOVE"; res = r.tdx.mem_sept_remove(gpa_level(3), tdr); break;
      case 24: what = "MEM.PAGE.DEMOTE"; res = r.tdx.mem_page_demote(gpa_level(1, 1), tdr, hpa()); break;
      case 25: what = "MEM.PAGE.PROMOTE"; res = r.tdx.mem_page_promote(gpa_level(1, 1), tdr); break;
      case 26: {
        what = "SEAMCALL(random)";
        SeamcallArgs a{hpa(), chance(50) ? tdr : hpa(), hpa(), kSource, 0, 0, 0, 0};
        if (chance(50)) a.rcx = gpa_level(2);
        res = r.tdx.seamcall(pick(45), a);
        break;
      }
      default: {
        // The TD's side: a vCPU inside its TD accepts, reads VEINFO, reports,
        // calls the VMM, touches memory, or is interrupted.
        is_call = false;
        Addr v = 0;
        for (Addr f : frames)
          if (r.tdx.in_td(f) && (!v || chance(50))) v = f;
        if (!v) break;
        const unsigned k = unsigned(pick(6));
        if (k == 4) {
          const Addr g = gl(gpa_level(0) & ~uint64_t{0xfff} & ((Addr{1} << 47) - 1), 0) + pick(4096);
          r.tdx.td_access(v, g, chance(50));
          ++accesses;
          break;
        }
        if (k == 5) {
          r.tdx.td_exit(v);
          break;
        }
        ++tdcalls;
        is_call = true;
        const uint64_t leaf = k == 0 ? 6 : k == 1 ? 3 : k == 2 ? 4 : 0;
        what = tdcall_leaf_name(leaf);
        SeamcallArgs a;
        a.rcx = gpa_level(1);
        a.r11 = 0x10001;
        res.status = r.tdx.tdcall(v, leaf, a).status;
        break;
      }
    }
    if (is_call) {
      ++by_status[res.status.code() ? tdx_status_name(res.status.code()) ? tdx_status_name(res.status.code()) : "?" : "TDX_SUCCESS"];
      if (res.status.ok()) {
        ++ok;
        if (what == "MNG.CREATE") ++created;
      } else {
        ++refused_calls;
      }
    }
    uint64_t after = 0;
    const std::string broken = check_invariants(r, after);
    if (!broken.empty()) {
      FAIL_CHECK("iteration " << i << " after " << what << " (" << res.status.name() << "): " << broken);
      break;
    }
    if (is_call && !res.status.ok() && after != before) {
      FAIL_CHECK("iteration " << i << ": refused " << what << " (" << res.status.name() << ") changed the state");
      break;
    }
    before = after;
  }
  std::printf("TdxRandom: seed %llu, %llu steps: %llu calls succeeded, %llu refused (state unchanged), "
              "%llu TDCALLs, %llu TD accesses, %llu TDs created, %llu pages reclaimed\n",
              (unsigned long long)seed, (unsigned long long)i, (unsigned long long)ok,
              (unsigned long long)refused_calls, (unsigned long long)tdcalls, (unsigned long long)accesses,
              (unsigned long long)created, (unsigned long long)reclaimed);
  if (env_or("TDX_VERBOSE", 0))
    for (const auto& kv : by_status) std::printf("  %-40s %llu\n", kv.first.c_str(), (unsigned long long)kv.second);
  CHECK(ok + refused_calls >= iterations);
  CHECK(ok > iterations / 40);            // the sequence really builds and runs TDs
  CHECK(refused_calls > iterations / 2);  // and really attacks them
  CHECK(created > 1);
  CHECK(reclaimed > 0);
}
