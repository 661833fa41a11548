// A TDX module on fake memory for the tdx_*_test.cpp unit tests: PAMT over
// 64 MiB of TDX memory, a port that drops the KeyID bits (or, with the
// engine, routes each line through the memory encryption engine by KeyID),
// and helpers that build a TD the way KVM does.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "fakes.h"
#include "mee/memory_encryption_engine.h"
#include "ownership/pamt.h"
#include "tdx/tdx_module.h"

namespace cocosim_test {

using namespace cocosim;

constexpr unsigned kPaBits = 46;
constexpr uint64_t kPaMask = (uint64_t{1} << kPaBits) - 1;

// DRAM without an engine: the KeyID bits select nothing.
class PlainKeyedPort : public MemoryPort {
 public:
  explicit PlainKeyedPort(FakeMemory& m) : m_(m) {}
  void read(Addr pa, void* dst, size_t len) override { m_.read(pa & kPaMask, dst, len); }
  void write(Addr pa, const void* src, size_t len) override { m_.write(pa & kPaMask, src, len); }

 private:
  FakeMemory& m_;
};

// The engine in the slot before DRAM: KeyID from the address bits; an access
// with a TDX private KeyID is a TD (or SEAM) access.
class MeeKeyedPort : public MemoryPort {
 public:
  MeeKeyedPort(MemoryEncryptionEngine& e, unsigned first_private) : e_(e), first_private_(first_private) {}
  void read(Addr pa, void* dst, size_t len) override {
    auto* d = static_cast<uint8_t*>(dst);
    while (len) {
      const Addr a = pa & kPaMask, line = a & ~Addr{63};
      const unsigned off = unsigned(a - line), n = unsigned(std::min<size_t>(len, 64 - off));
      MemoryEncryptionEngine::Line l;
      const unsigned k = unsigned(pa >> kPaBits);
      if (e_.read_line(line, k, k >= first_private_, l).machine_check) throw std::runtime_error("#MC");
      std::memcpy(d, l.data() + off, n);
      d += n, pa += n, len -= n;
    }
  }
  void write(Addr pa, const void* src, size_t len) override {
    auto* s = static_cast<const uint8_t*>(src);
    while (len) {
      const Addr a = pa & kPaMask, line = a & ~Addr{63};
      const unsigned off = unsigned(a - line), n = unsigned(std::min<size_t>(len, 64 - off));
      const unsigned k = unsigned(pa >> kPaBits);
      e_.write(line, k, k >= first_private_, off, s, n);
      s += n, pa += n, len -= n;
    }
  }

 private:
  MemoryEncryptionEngine& e_;
  unsigned first_private_;
};

inline TdxModuleConfig rig_config() {
  TdxModuleConfig c;
  c.pa_bits = kPaBits;
  c.keyid_bits = 6;
  c.global_keyid = 16;
  c.num_keyids = 64;
  c.tdcs_pages = 4;
  c.tdvpx_pages = 2;
  return c;
}

constexpr uint64_t kTdxMemSize = uint64_t{64} << 20;
constexpr Addr kTdParams = 0x1000;  // host memory (KeyID 0) holding TD_PARAMS
constexpr Addr kSource = 0x2000;    // host page PAGE.ADD copies from

inline uint64_t gl(Addr gpa, int level) { return gpa | uint64_t(level); }

// The module over plain fake memory, with a bump allocator of 4 KiB frames
// (from 1 MiB) and 2 MiB blocks (from 32 MiB).
struct TdxRig {
  FakeMemory dram{kTdxMemSize};
  PlainKeyedPort plain{dram};
  Pamt pamt{0, kTdxMemSize};
  TdxModule tdx;
  Addr next4k = 1 << 20;
  Addr next2m = Addr{32} << 20;

  explicit TdxRig(MemoryPort* port = nullptr) : tdx(port ? *port : plain, pamt, rig_config()) {}

  Addr frame() {
    if (next4k >= (Addr{32} << 20)) throw std::runtime_error("rig: out of 4 KiB frames");
    Addr a = next4k;
    next4k += kPageSize;
    return a;
  }
  Addr block() {
    if (next2m >= kTdxMemSize) throw std::runtime_error("rig: out of 2 MiB blocks");
    Addr a = next2m;
    next2m += kHugePageSize;
    return a;
  }

  struct Td {
    Addr tdr = 0;
    unsigned hkid = 0;
    std::vector<Addr> vcpus;
  };

  // INIT_VM (MNG.CREATE, KEY.CONFIG, ADDCX x N, MNG.INIT) and INIT_VCPU for `nvcpus`.
  Td create_td(unsigned hkid, unsigned gpaw = 48, uint64_t attributes = 0, unsigned nvcpus = 1,
               MemoryPort* host = nullptr) {
    Td t;
    t.tdr = frame();
    t.hkid = hkid;
    expect(tdx.mng_create(t.tdr, hkid), "MNG.CREATE");
    expect(tdx.mng_key_config(t.tdr), "MNG.KEY.CONFIG");
    for (unsigned i = 0; i < tdx.config().tdcs_pages; ++i) expect(tdx.mng_addcx(frame(), t.tdr), "MNG.ADDCX");
    TdParams::for_gpaw(gpaw, attributes).write(host ? *host : plain, kTdParams);
    expect(tdx.mng_init(t.tdr, kTdParams), "MNG.INIT");
    for (unsigned v = 0; v < nvcpus; ++v) {
      Addr tdvpr = frame();
      expect(tdx.vp_create(tdvpr, t.tdr), "VP.CREATE");
      for (unsigned i = 0; i < tdx.config().tdvpx_pages; ++i) expect(tdx.vp_addcx(frame(), tdvpr), "VP.ADDCX");
      expect(tdx.vp_init(tdvpr, 0), "VP.INIT");
      t.vcpus.push_back(tdvpr);
    }
    return t;
  }

  // SEPT.ADD for every missing table above `level` on the way to `gpa`.
  void sept_path(const Td& t, Addr gpa, int level) {
    const int root = tdx.td(t.tdr)->sept_levels - 1;
    for (int l = root; l > level; --l) {
      Addr g = gpa & ~(SecureEpt::level_size(l) - 1);
      auto r = tdx.mem_sept_add(gl(g, l), t.tdr, frame());
      if (!r.status.ok() && r.status.code() != tdx::TDX_EPT_ENTRY_STATE_INCORRECT)
        throw std::runtime_error("SEPT.ADD: " + r.status.name());
    }
  }

  static void expect(const SeamcallResult& r, const char* what) {
    if (!r.status.ok()) throw std::runtime_error(std::string(what) + ": " + r.status.name());
  }

  // Everything a refused call must leave alone: PAMT, every SEPT entry read
  // through the module's port, the module's TD and vCPU state, and DRAM.
  struct Snapshot {
    std::string pamt;
    std::string sept;
    std::string state;
    std::vector<uint8_t> dram;
    bool operator==(const Snapshot& o) const {
      return pamt == o.pamt && sept == o.sept && state == o.state && dram == o.dram;
    }
  };
  Snapshot snapshot(bool with_dram = true) {
    Snapshot s;
    std::ostringstream p;
    p << std::hex;
    pamt.for_each([&](Addr a, const PamtEntry& e) {
      p << a << ' ' << int(e.pt) << ' ' << e.owner << ' ' << e.bepoch << ' ' << int(e.size) << '\n';
    });
    s.pamt = p.str();
    std::ostringstream q;
    q << std::hex;
    for (Addr tdr : tdx.tds()) {
      SecureEpt* sept = tdx.sept(tdr);
      if (!sept) continue;
      sept->for_each_entry([&](int level, Addr gpa, Addr table, unsigned idx, SeptEntry e) {
        q << tdr << ' ' << level << ' ' << gpa << ' ' << table << ' ' << idx << ' ' << e.raw << '\n';
      });
    }
    s.sept = q.str();
    s.state = tdx.describe_state();
    if (with_dram) {  // every frame ever written (absent frames read as zeros)
      for (uint64_t pfn = 0; pfn < pfn_of(kTdxMemSize); ++pfn) {
        const uint8_t* f = dram.mem.frame(pfn, false);
        if (!f) continue;
        const uint8_t* b = reinterpret_cast<const uint8_t*>(&pfn);
        s.dram.insert(s.dram.end(), b, b + sizeof pfn);
        s.dram.insert(s.dram.end(), f, f + kPageSize);
      }
    }
    return s;
  }
};

}  // namespace cocosim_test
