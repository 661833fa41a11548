// cocosim benchmarks. Each figure is printed beside a raw SystemC/TLM-2.0
// baseline measured in the same process, as a ratio.
//
//   cocosim_bench sweep  [--arch A] [-n N]  guest loads/stores per second through
//                                           vCPU, stage-2 MMU, TLB, bus and DRAM
//   cocosim_bench convert [--arch A] [-n N] shared<->private conversions per second
//   cocosim_bench memory [--arch A]         peak memory of a 64 GiB default guest
//                                           with 1 GiB touched
//   cocosim_bench memset [--arch A] [--max-touched S]
//                                           seconds per GiB of a host and a guest
//                                           memset on a 64 GiB platform, from 64 MiB
//                                           up (each size its own process)
//   cocosim_bench mee [-n N]                AES-XTS lines/s of the engine vs bare
//                                           OpenSSL; private-KeyID accesses/s through
//                                           the mee slot with plaintext kept (x86-tdx)
//   cocosim_bench td [-n N]                 a TD's private-page loads/s (Secure EPT,
//                                           HKID, engine) vs its shared alias (x86-tdx)
//   cocosim_bench isa-convert [-n PAGES]    guest code converting PAGES pages private ->
//                                           shared -> private (time per conversion and
//                                           per touch; default 1000, 10000, 50000)
//   cocosim_bench td-convert [--size 4K|2M] [-n N]
//                                           guest conversions/s, private -> shared ->
//                                           private (MapGPA exits handled by the VMM,
//                                           ACCEPT on a TD), a TD and a sw_protected
//                                           VM in the same run, 4 KiB and 2 MiB (N of
//                                           4 KiB, N/10 of 2 MiB)
//   cocosim_bench sweep --type pkvm --arch arm64-pkvm
//                                           the sweep in a protected VM (pKVM at EL2)
//   cocosim_bench share [--arch A] [--type T] [-n N]
//                                           guest share/unshare round trips/s
//                                           (MEM_SHARE/MEM_UNSHARE on a pkvm VM)
//   cocosim_bench host [-n N]               VMM accesses/s with and without the host
//                                           stage-2 (arm64-pkvm)
//   cocosim_bench checker [--arch A] [-n N] the invariant checker's cost per step,
//                                           incremental and full, with 64 MiB, 1 GiB
//                                           and 16 GiB mapped (each its own process)
//   cocosim_bench sweep-pool [-n N] [-j J] [--scenario F]
//                                           `cocosim sweep` of N points (default 200)
//                                           on the local pool vs N plain `cocosim run`
// One mode per process: SystemC elaborates once per process.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <openssl/evp.h>
#include <unicorn/unicorn.h>
#include <systemc>
#include <tlm_utils/simple_initiator_socket.h>

#include "platform.h"
#include "raw_tlm_baseline.h"
#include "runner.h"
#include "cpu/elf_image.h"
#include "scenario/scenario.h"

using namespace cocosim;

namespace {

constexpr uint64_t kRawLength = 2 << 20;

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long status_kib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(in, line))
    if (line.compare(0, n, key) == 0) return std::atol(line.c_str() + n);
  return 0;
}
long rss_kib() { return status_kib("VmRSS:"); }
long peak_rss_kib() { return status_kib("VmHWM:"); }

Scenario load(const std::string& text) {
  LoadResult r = load_scenario_text("bench", text, std::nullopt);
  if (!r.scenario) {
    for (const auto& e : r.errors) std::cerr << e.str() << "\n";
    std::exit(2);
  }
  return *r.scenario;
}

struct Raw {
  double load_s = 0, store_s = 0;
  double load_cpu_s = 0;  // the loads' process CPU time
};

// Builds the platform for `sc`, measures the raw loop (n loads, n stores) in
// the same process, then runs the scenario. Returns the runner's summary.
RunSummary run(const Scenario& sc, unsigned vcpus, uint64_t n, Raw* raw, long* rss_before,
               long* rss_after, Stats& stats, CheckMode check = CheckMode::Step) {
  Platform platform(sc.platform, vcpus, stats);
  Runner runner("vmm", sc, platform, std::cerr, false);
  runner.set_check_mode(check);
  bench::RawMemory raw_mem("raw_memory", kRawLength);
  bench::RawInitiator raw_init("raw_initiator");
  raw_init.socket.bind(raw_mem.socket);
  sc_core::sc_start(sc_core::SC_ZERO_TIME);  // elaboration
  double t0 = now_s();
  const std::clock_t c0 = std::clock();
  volatile uint64_t sink = raw_init.sweep(kRawLength, 64, n, false);
  raw->load_s = now_s() - t0;
  raw->load_cpu_s = double(std::clock() - c0) / CLOCKS_PER_SEC;
  t0 = now_s();
  sink = raw_init.sweep(kRawLength, 64, n, true);
  raw->store_s = now_s() - t0;
  (void)sink;
  if (rss_before) *rss_before = rss_kib();
  sc_core::sc_start();
  if (rss_after) *rss_after = rss_kib();
  platform.record_gauges();
  RunSummary s = runner.summary();
  if (s.failed || s.violations || !s.finished) {
    std::cerr << "cocosim_bench: the benchmark scenario failed\n";
    std::exit(1);
  }
  return s;
}

void line(const char* what, double value, const char* unit, double raw) {
  std::printf("  %-34s %14.0f %-10s raw TLM %14.0f %-10s ratio %.2f\n", what, value, unit, raw,
              unit, value / raw);
}

int sweep(const std::string& arch, uint64_t n, const std::string& type) {
  std::ostringstream y;
  y << "platform: {arch: " << arch << "}\n"
    << "programs:\n  p:\n"
    << "    - memset: {gpa: 4GiB, length: 2MiB, byte: 1}\n"  // fault every page in first
    << "    - sync: {tag: warm}\n"
    << "    - sweep: {gpa: 4GiB, length: 2MiB, op: load, size: 8, stride: 64, count: " << n << "}\n"
    << "    - sync: {tag: loads}\n"
    << "    - sweep: {gpa: 4GiB, length: 2MiB, op: store, size: 8, stride: 64, count: " << n << "}\n"
    << "steps:\n"
    << "  - KVM_CREATE_VM: {name: vm0, type: " << type << "}\n"
    << "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: 2MiB, flags: [MMAP, INIT_SHARED]}\n"
    << "  - KVM_SET_USER_MEMORY_REGION2: {vm: vm0, slot: 1, flags: [GUEST_MEMFD], "
       "guest_phys_addr: 4GiB, memory_size: 2MiB, guest_memfd: g}\n"
    << "  - KVM_CREATE_VCPU: {vm: vm0, id: 0, program: p}\n"
    << "  - KVM_RUN: {vm: vm0, vcpu: 0, expect: {exit: UCALL_SYNC, tag: warm}}\n"
    << "  - KVM_RUN: {vm: vm0, vcpu: 0, expect: {exit: UCALL_SYNC, tag: loads}}\n"
    << "  - KVM_RUN: {vm: vm0, vcpu: 0, expect: {exit: UCALL_DONE}}\n";
  Stats stats;
  Raw raw;
  RunSummary s = run(load(y.str()), 1, n, &raw, nullptr, nullptr, stats);
  const double loads = s.step_times.at(5).wall_s, stores = s.step_times.at(6).wall_s;
  std::printf("sweep on %s (%s VM): %llu loads and %llu stores of 8 bytes over 2 MiB, stride 64\n",
              arch.c_str(), type.c_str(), (unsigned long long)n, (unsigned long long)n);
  line("guest loads/s (checked path)", double(n) / loads, "acc/s", double(n) / raw.load_s);
  line("guest stores/s (checked path)", double(n) / stores, "acc/s", double(n) / raw.store_s);
  std::printf("  TLB hits %llu, misses %llu, DMI data accesses %llu\n",
              (unsigned long long)stats.get("platform.vcpu0.mmu.tlb_hits"),
              (unsigned long long)stats.get("platform.vcpu0.mmu.tlb_misses"),
              (unsigned long long)stats.get("platform.vcpu0.dmi_accesses"));
  return 0;
}

int convert(const std::string& arch, uint64_t n) {
  // Each round: the host touches the page through its mapping, the guest
  // touches it (stage-2 leaf, TLB), then the page goes private and back.
  std::ostringstream y;
  y << "platform: {arch: " << arch << "}\n"
    << "programs:\n  p:\n    - repeat:\n        count: " << n << "\n        body:\n"
    << "          - load: {gpa: 4GiB}\n          - sync: {tag: t}\n"
    << "steps:\n"
    << "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
    << "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: 2MiB, flags: [MMAP, INIT_SHARED]}\n"
    << "  - mmap: {fd: g, name: m, length: 2MiB}\n"
    << "  - KVM_SET_USER_MEMORY_REGION2: {vm: vm0, slot: 1, flags: [GUEST_MEMFD], "
       "guest_phys_addr: 4GiB, memory_size: 2MiB, userspace_addr: m, guest_memfd: g}\n"
    << "  - KVM_CREATE_VCPU: {vm: vm0, id: 0, program: p}\n";
  for (uint64_t i = 0; i < n; ++i)
    y << "  - store: {map: m, offset: 0, value: " << i << "}\n"
      << "  - KVM_RUN: {vm: vm0, vcpu: 0, expect: {exit: UCALL_SYNC}}\n"
      << "  - KVM_SET_MEMORY_ATTRIBUTES2: {fd: g, offset: 0, size: 4KiB, attributes: [PRIVATE]}\n"
      << "  - KVM_SET_MEMORY_ATTRIBUTES2: {fd: g, offset: 0, size: 4KiB, attributes: []}\n";
  Stats stats;
  Raw raw;
  RunSummary s = run(load(y.str()), 1, 1000000, &raw, nullptr, nullptr, stats);
  const double t = s.op_wall_s.at("KVM_SET_MEMORY_ATTRIBUTES2");
  const uint64_t conversions = 2 * n;
  std::printf("conversions on %s: %llu of one 4 KiB page mapped by the host and the guest\n",
              arch.c_str(), (unsigned long long)conversions);
  const double raw_per_s = 1e6 / raw.load_s;
  std::printf("  %-34s %14.0f conv/s     raw TLM %14.0f acc/s      ratio %.5f\n", "conversions/s",
              double(conversions) / t, raw_per_s, (double(conversions) / t) / raw_per_s);
  std::printf("  one conversion costs as much wall time as %.0f raw TLM accesses\n",
              raw_per_s / (double(conversions) / t));
  std::printf("  zaps %llu, leaves zapped %llu, DMI invalidations %llu, host unmaps %llu\n",
              (unsigned long long)stats.get("platform.kvm.zaps"),
              (unsigned long long)stats.get("platform.kvm.leaves_zapped"),
              (unsigned long long)stats.get("platform.bus.dmi_invalidations"),
              (unsigned long long)stats.get("platform.gmem_mmap.host_unmaps"));
  return 0;
}

// Guest share/unshare round trips of one page: on a pkvm VM each is a
// MEM_SHARE and a MEM_UNSHARE handled at EL2 (in place, no exit to the VMM);
// on a sw_protected VM each is a KVM_HC_MAP_GPA_RANGE exit that the VMM
// converts (auto:), as QEMU does.
int share(const std::string& arch, uint64_t n, const std::string& type) {
  std::ostringstream y;
  y << "platform: {arch: " << arch << "}\n"
    << "programs:\n  p:\n    - store: {gpa: 4GiB, value: 1}\n    - sync: {tag: warm}\n"
    << "    - repeat:\n        count: " << n << "\n        body:\n"
    << "          - share: {gpa: 4GiB, size: 4KiB, expect: {ret: 0}}\n"
    << "          - unshare: {gpa: 4GiB, size: 4KiB, expect: {ret: 0}}\n"
    << "steps:\n"
    << "  - KVM_CREATE_VM: {name: vm0, type: " << type << "}\n"
    << "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: 2MiB, flags: [MMAP]}\n"
    << "  - mmap: {fd: g, name: m, length: 2MiB}\n"
    << "  - KVM_SET_USER_MEMORY_REGION2: {vm: vm0, slot: 1, flags: [GUEST_MEMFD], "
       "guest_phys_addr: 4GiB, memory_size: 2MiB, userspace_addr: m, guest_memfd: g}\n"
    << "  - KVM_CREATE_VCPU: {vm: vm0, id: 0, program: p}\n"
    << "  - KVM_RUN: {vm: vm0, vcpu: 0, auto: [KVM_EXIT_MEMORY_FAULT], expect: {exit: UCALL_SYNC, tag: warm}}\n"
    << "  - KVM_RUN: {vm: vm0, vcpu: 0, auto: [KVM_EXIT_HYPERCALL], expect: {exit: UCALL_DONE}}\n";
  Stats stats;
  Raw raw;
  RunSummary s = run(load(y.str()), 1, 1000000, &raw, nullptr, nullptr, stats);
  const double t = s.step_times.at(6).wall_s;
  const double raw_per_s = 1e6 / raw.load_s;
  std::printf("share/unshare on %s (%s VM): %llu round trips of one 4 KiB page, guest-initiated\n",
              arch.c_str(), type.c_str(), (unsigned long long)n);
  std::printf("  %-34s %14.0f trips/s    raw TLM %14.0f acc/s      ratio %.5f\n", "round trips/s",
              double(n) / t, raw_per_s, (double(n) / t) / raw_per_s);
  std::printf("  one round trip costs as much wall time as %.0f raw TLM accesses\n", raw_per_s / (double(n) / t));
  return 0;
}

// The host's accesses to its own memory with and without pKVM's host stage-2
// in the host_s2 slot, in the same process: the VMM writes and reads its
// anonymous memory (DMI once a page is mapped, as on real hardware, where
// the host's stage-2 sits in the TLB).
int host(uint64_t n) {
  const std::string y =
      "platform: {arch: arm64-pkvm}\nsteps:\n  - mmap: {anonymous: true, name: m, length: 2MiB}\n";
  Stats stats;
  Raw raw;
  const Scenario sc = load(y);
  Platform platform(sc.platform, 1, stats);
  Runner runner("vmm", sc, platform, std::cerr, false);
  bench::RawMemory raw_mem("raw_memory", kRawLength);
  bench::RawInitiator raw_init("raw_initiator");
  raw_init.socket.bind(raw_mem.socket);
  sc_core::sc_start();
  double t0 = now_s();
  volatile uint64_t sink = raw_init.sweep(kRawLength, 64, n, false);
  raw.load_s = now_s() - t0;
  (void)sink;
  const int pid = platform.mm.create_process("bench");
  Vma* vma = nullptr;
  if (platform.mm.mmap_anon(pid, "b", kRawLength, true, &vma) != 0) return 1;
  auto pass = [&](const char* what) {
    // Drop every host DMI pointer so both passes start cold.
    platform.phys_bus.invalidate(0, ~Addr{0} >> 16);
    sc_core::sc_time d;
    uint64_t v = 1;
    const double start = now_s();
    for (uint64_t i = 0; i < n; ++i) {
      const Addr va = vma->start + ((i * 64) % kRawLength);
      if (platform.host_cpu.user_access(pid, va, reinterpret_cast<uint8_t*>(&v), 8, i & 1, d)) std::exit(1);
    }
    const double rate = double(n) / (now_s() - start);
    std::printf("  %-34s %14.0f acc/s      raw TLM %14.0f acc/s      ratio %.2f\n", what, rate,
                double(n) / raw.load_s, rate * raw.load_s / double(n));
    return rate;
  };
  std::printf("host accesses on arm64-pkvm: %llu loads/stores of 8 bytes by the VMM over 2 MiB, stride 64\n",
              (unsigned long long)n);
  const double with = pass("with pKVM's host stage-2");
  platform.host_s2_policy.attach(nullptr);
  const double without = pass("without (slot passes through)");
  std::printf("  with / without: %.2f; host stage-2 faults handled at EL2 %llu\n", with / without,
              (unsigned long long)stats.get("platform.pkvm.host_aborts"));
  return 0;
}

int memory(const std::string& arch) {
  const uint64_t touched_pages = (1ull << 30) / 4096;
  std::ostringstream y;
  y << "platform: {arch: " << arch << ", dram: 72GiB}\n"
    << "programs:\n  p:\n"
    << "    - sweep: {gpa: 4GiB, length: 1GiB, op: store, size: 8, stride: 4KiB, count: "
    << touched_pages << "}\n"
    << "steps:\n"
    << "  - KVM_CREATE_VM: {name: vm0, type: default}\n"
    << "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: 64GiB, flags: [MMAP, INIT_SHARED]}\n"
    << "  - KVM_SET_USER_MEMORY_REGION2: {vm: vm0, slot: 1, flags: [GUEST_MEMFD], "
       "guest_phys_addr: 4GiB, memory_size: 64GiB, guest_memfd: g}\n"
    << "  - KVM_CREATE_VCPU: {vm: vm0, id: 0, program: p}\n"
    << "  - KVM_RUN: {vm: vm0, vcpu: 0, expect: {exit: UCALL_DONE}}\n";
  Stats stats;
  Raw raw;
  long before = 0, after = 0;
  const long start = rss_kib();
  run(load(y.str()), 1, 1000, &raw, &before, &after, stats);
  const long peak_sim = peak_rss_kib();
  // Baseline: the same 1 GiB held as plain memory, touched page by page.
  const long b0 = rss_kib();
  std::vector<uint8_t> plain(1ull << 30);
  for (size_t i = 0; i < plain.size(); i += 4096) plain[i] = 1;
  const long b1 = rss_kib();
  std::printf("memory on %s: 64 GiB default guest, 1 GiB touched (%llu pages)\n", arch.c_str(),
              (unsigned long long)touched_pages);
  std::printf("  platform before the run             %10.1f MiB\n", before / 1024.0);
  std::printf("  growth for 1 GiB touched            %10.1f MiB   raw 1 GiB buffer %8.1f MiB   ratio %.3f\n",
              (after - before) / 1024.0, (b1 - b0) / 1024.0, double(after - before) / double(b1 - b0));
  std::printf("  model overhead per GiB touched      %10.1f MiB\n", (after - before) / 1024.0 - 1024.0);
  std::printf("  peak RSS of the whole simulation    %10.1f MiB\n", peak_sim / 1024.0);
  std::printf("  DRAM frames allocated %llu (%.1f MiB), stage-2 leaves installed %llu\n",
              (unsigned long long)stats.get("platform.dram.frames_allocated"),
              stats.get("platform.dram.frames_allocated") * 4096.0 / (1 << 20),
              (unsigned long long)stats.get("platform.kvm.faults_in"));
  (void)start;
  return 0;
}

// One memset of `size` bytes of `byte`, by the host (a user memset of an
// anonymous mapping) or by a guest (a `default` VM's memory, stage-2 faults
// included), on a 64 GiB platform; prints one line of the table.
int memset_one(const std::string& arch, uint64_t size, bool guest, unsigned byte) {
  std::ostringstream y;
  y << "platform: {arch: " << arch << ", dram: 64GiB}\n";
  if (guest)
    y << "programs:\n  p:\n    - memset: {gpa: 4GiB, length: " << size << ", byte: " << byte << "}\n";
  y << "steps:\n"
    << "  - mmap: {anonymous: true, name: mem, length: " << size << "}\n";
  if (guest)
    y << "  - KVM_CREATE_VM: {name: vm0, type: default}\n"
      << "  - KVM_SET_USER_MEMORY_REGION2: {vm: vm0, slot: 1, guest_phys_addr: 4GiB, memory_size: " << size
      << ", userspace_addr: mem}\n"
      << "  - KVM_CREATE_VCPU: {vm: vm0, id: 0, program: p}\n"
      << "  - KVM_RUN: {vm: vm0, vcpu: 0, expect: {exit: UCALL_DONE}}\n";
  else
    y << "  - memset: {map: mem, offset: 0, length: " << size << ", byte: " << byte << "}\n";
  Scenario sc = load(y.str());
  Stats stats;
  Platform platform(sc.platform, guest ? 1 : 0, stats);
  Runner runner("vmm", sc, platform, std::cerr, false);
  runner.set_check_mode(CheckMode::End);  // the checker's cost is not the memset's
  bench::RawMemory raw_mem("raw_memory", 0);
  bench::RawInitiator raw_init("raw_initiator");
  raw_init.socket.bind(raw_mem.socket);
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
  // Baseline: 256 MiB (or the size, if smaller) into a fresh buffer behind a
  // plain TLM target, 4 KiB per b_transport, allocation included.
  const uint64_t raw_len = std::min<uint64_t>(size, 256ull << 20);
  double t0 = now_s();
  raw_mem.reset(raw_len);
  raw_init.memset_pages(raw_len, uint8_t(byte ? byte : 1));
  const double raw_s_per_gib = (now_s() - t0) / (double(raw_len) / double(1ull << 30));
  raw_mem.reset(0);
  const long rss_before = rss_kib();
  sc_core::sc_start();
  const long rss_after = rss_kib();
  RunSummary s = runner.summary();
  if (s.failed || s.violations || !s.finished) {
    std::cerr << "cocosim_bench: the memset scenario failed\n";
    return 1;
  }
  const double t = guest ? s.op_wall_s.at("KVM_RUN") : s.op_wall_s.at("memset");
  const double gib = double(size) / double(1ull << 30);
  // RSS growth over the run against the bytes touched (written bytes only:
  // zeros leave DRAM sparse), then the process's end and peak RSS.
  std::printf("  %-6s %9.3f GiB  byte %u  %8.2f s  %7.3f s/GiB   raw TLM %7.3f s/GiB   ratio %6.2f   "
              "RSS growth/touched %6.3f   RSS %7.0f MiB (peak %7.0f)\n",
              guest ? "guest" : "host", gib, byte, t, t / gib, raw_s_per_gib, (t / gib) / raw_s_per_gib,
              double(rss_after - rss_before) * 1024.0 / double(size), rss_after / 1024.0, peak_rss_kib() / 1024.0);
  std::fflush(stdout);
  return 0;
}

// The invariant checker's cost per step with `size` of a default guest's
// memory mapped in its stage-2 (a guest memset of zeros faults it all in,
// 4 KiB leaves) on a 64 GiB platform: each step unmaps one page (a zap, as
// an MMU notifier does) and is checked, incrementally and in full. The raw
// baseline: one 4 KiB b_transport to a plain TLM target, in this process.
int checker_one(const std::string& arch, uint64_t size, uint64_t steps) {
  std::ostringstream y;
  y << "platform: {arch: " << arch << ", dram: 64GiB}\n"
    << "programs:\n  p:\n    - memset: {gpa: 4GiB, length: " << size << ", byte: 0}\n"
    << "steps:\n"
    << "  - mmap: {anonymous: true, name: mem, length: " << size << "}\n"
    << "  - KVM_CREATE_VM: {name: vm0, type: default}\n"
    << "  - KVM_SET_USER_MEMORY_REGION2: {vm: vm0, slot: 1, guest_phys_addr: 4GiB, memory_size: " << size
    << ", userspace_addr: mem}\n"
    << "  - KVM_CREATE_VCPU: {vm: vm0, id: 0, program: p}\n"
    << "  - KVM_RUN: {vm: vm0, vcpu: 0, expect: {exit: UCALL_DONE}}\n";
  Scenario sc = load(y.str());
  Stats stats;
  Platform platform(sc.platform, 1, stats);
  Runner runner("vmm", sc, platform, std::cerr, false);
  runner.set_check_mode(CheckMode::Off);  // the bench checks by hand below
  bench::RawMemory raw_mem("raw_memory", 0);
  bench::RawInitiator raw_init("raw_initiator");
  raw_init.socket.bind(raw_mem.socket);
  sc_core::sc_start();
  RunSummary s = runner.summary();
  if (s.failed || !s.finished) {
    std::cerr << "cocosim_bench: the checker scenario failed\n";
    return 1;
  }
  constexpr uint64_t kRawPages = 4096;
  double t0 = now_s();
  raw_mem.reset(kRawPages * kPageSize);
  raw_init.memset_pages(kRawPages * kPageSize, 1);
  const double raw_page_s = (now_s() - t0) / double(kRawPages);
  raw_mem.reset(0);

  const Vm* vm = platform.kvm.vms().begin()->second.get();
  KvmMmu* mmu = platform.mmu(vm->id());
  const uint64_t leaves = mmu->stage2().leaves();
  InvariantChecker incremental(platform), full(platform);
  if (!incremental.enable_incremental()) return 1;
  const long rss0 = rss_kib();
  t0 = now_s();
  size_t found = incremental.check_incremental().size();  // the first is whole: learns who maps what
  const double index_s = now_s() - t0;
  const long index_kib = rss_kib() - rss0;
  const uint64_t first_gfn = (4ull << 30) >> kPageShift, pages = size >> kPageShift;
  double inc_s = 0;
  for (uint64_t i = 0; i < steps; ++i) {
    mmu->zap(first_gfn + (i * 7919) % pages, first_gfn + (i * 7919) % pages + 1);
    t0 = now_s();
    found += incremental.check_incremental().size();
    inc_s += now_s() - t0;
  }
  const unsigned full_runs = size >= (4ull << 30) ? 2 : 5;
  t0 = now_s();
  for (unsigned i = 0; i < full_runs; ++i) found += full.check().size();
  const double full_s = (now_s() - t0) / full_runs;
  if (found) {
    std::cerr << "cocosim_bench: the checker found violations in a clean run\n";
    return 1;
  }
  const double inc_step = inc_s / double(steps);
  std::printf("  %8.3f GiB mapped (%9llu leaves)   incremental %9.1f us/step (%7.1f raw TLM page writes)"
              "   full %10.1f us/step (%9.1f)   first (index) %7.2f s, %6.1f MiB   RSS %6.0f MiB\n",
              double(size) / double(1ull << 30), (unsigned long long)leaves, inc_step * 1e6, inc_step / raw_page_s,
              full_s * 1e6, full_s / raw_page_s, index_s, index_kib / 1024.0, peak_rss_kib() / 1024.0);
  std::fflush(stdout);
  return 0;
}

int checker_table(const std::string& arch, uint64_t steps) {
  std::printf("invariant checker per step on %s, 64 GiB platform, one default VM, one page unmapped per step "
              "(%llu steps; raw TLM: one 4 KiB b_transport to a plain target)\n",
              arch.c_str(), (unsigned long long)steps);
  std::fflush(stdout);
  char exe[4096];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return 1;
  const std::string self(exe, size_t(len));
  for (uint64_t size : {64ull << 20, 1ull << 30, 16ull << 30}) {
    const std::string cmd = self + " checker --arch " + arch + " --size " + std::to_string(size) + " -n " +
                            std::to_string(steps);
    if (std::system(cmd.c_str()) != 0) return 1;
  }
  return 0;
}

// The local pool's scale: `cocosim sweep` of `points` small points (the
// scenario once per value of platform.timing.dram) with -j `jobs`, against the
// same points as plain `cocosim run` processes one after another (fork/exec,
// as a shell loop would run them). Overhead per point: the core-seconds the
// pool spends per point beyond what a plain run takes.
int run_process(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (FILE* f = std::freopen("/dev/null", "w", stdout)) (void)f;
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int sweep_pool(const std::string& scenario, uint64_t points, unsigned jobs) {
  char exe[4096];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return 1;
  std::string cocosim(exe, size_t(len));
  cocosim = cocosim.substr(0, cocosim.rfind('/') + 1) + "cocosim";
  char tmpl[] = "/tmp/cocosim-pool-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  const std::string dir = tmpl;
  std::string values;
  for (uint64_t i = 1; i <= points; ++i) values += (i > 1 ? "," : "") + std::to_string(i) + "ns";
  // Sequential plain runs first (they also warm the page cache for both).
  double t0 = now_s();
  for (uint64_t i = 1; i <= points; ++i)
    if (run_process({cocosim, "run", scenario, "--set", "platform.timing.dram=" + std::to_string(i) + "ns",
                     "--stats", dir + "/plain.json"}) != 0) {
      std::cerr << "cocosim_bench: cocosim run " << scenario << " failed\n";
      return 1;
    }
  const double plain_s = now_s() - t0;
  t0 = now_s();
  const int rc = run_process({cocosim, "sweep", scenario, "--param", "platform.timing.dram=" + values, "-j",
                              std::to_string(jobs), "--out", dir + "/sweep"});
  const double pool_s = now_s() - t0;
  std::system(("rm -rf '" + dir + "'").c_str());
  if (rc != 0) {
    std::cerr << "cocosim_bench: cocosim sweep failed (exit " << rc << ")\n";
    return 1;
  }
  const double n = double(points);
  std::printf("local pool, %llu points of %s, -j %u (plain: the same points as `cocosim run` processes one after "
              "another)\n", (unsigned long long)points, scenario.c_str(), jobs);
  std::printf("  sweep  %7.2f s   %7.1f points/s   plain %7.2f s   %7.1f points/s   ratio %.2f\n", pool_s, n / pool_s,
              plain_s, n / plain_s, plain_s / pool_s);
  std::printf("  per point: plain run %.1f ms, pool %.1f ms of wall (x %u jobs = %.1f ms of core time), "
              "overhead %.1f ms\n", 1e3 * plain_s / n, 1e3 * pool_s / n, jobs, 1e3 * pool_s * jobs / n,
              1e3 * (pool_s * jobs - plain_s) / n);
  return 0;
}

// The table: each size in its own process (SystemC elaborates once per
// process), written bytes up to `max_touched`, zero bytes (bookkeeping only:
// zeros leave DRAM frames absent) up to 16 GiB.
int memset_table(const std::string& arch, uint64_t max_touched) {
  std::printf("memset on %s, 64 GiB platform, --check end (seconds per GiB; raw TLM: a plain target "
              "written 4 KiB per b_transport into fresh memory)\n", arch.c_str());
  std::fflush(stdout);  // before the children write theirs
  char exe[4096];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return 1;
  const std::string self(exe, size_t(len));  // std::system's shell has its own /proc/self
  for (unsigned byte : {1u, 0u})
    for (uint64_t size : {64ull << 20, 256ull << 20, 1ull << 30, 4ull << 30, 16ull << 30}) {
      if (byte && size > max_touched) continue;
      for (const char* who : {"host", "guest"}) {
        const std::string cmd = self + " memset --arch " + arch + " --size " + std::to_string(size) +
                                " --byte " + std::to_string(byte) + (std::string(who) == "guest" ? " --guest" : "");
        if (std::system(cmd.c_str()) != 0) return 1;
      }
    }
  return 0;
}

// An initiator on the platform's bus in a chosen security state, as a TD's
// vCPU (after translation) or the host is: 8-byte accesses by b_transport, or
// through the DMI pointer it is given, one per page, as a vCPU keeps them.
class BusInitiator : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<BusInitiator> socket;
  explicit BusInitiator(sc_core::sc_module_name n) : sc_module(n), socket("socket") {
    socket.register_invalidate_direct_mem_ptr(this, &BusInitiator::invalidate);
  }
  uint64_t sweep(Addr base, uint64_t length, uint64_t count, SecurityState sec, bool write, bool dmi) {
    tlm::tlm_generic_payload t;
    AccessExtension ext;
    ext.who = Initiator::Vcpu;
    ext.security = sec;
    ScopedExtension scoped(t, ext);
    uint64_t v = 0, sum = 0;
    sc_core::sc_time delay;
    for (uint64_t i = 0; i < count; ++i) {
      const Addr a = base + (i * 64) % length;
      v = i;
      if (dmi) {
        auto it = pages_.find(a >> kPageShift);
        if (it != pages_.end()) {
          uint8_t* p = it->second + (a & kPageMask);
          write ? std::memcpy(p, &v, 8) : std::memcpy(&v, p, 8);
          sum += v;
          continue;
        }
      }
      prepare(t, write, a, reinterpret_cast<unsigned char*>(&v), 8);
      socket->b_transport(t, delay);
      if (!t.is_response_ok()) {
        std::cerr << "cocosim_bench: an access failed at " << std::hex << a << "\n";
        std::exit(1);
      }
      sum += v;
      if (dmi && t.is_dmi_allowed()) {
        tlm::tlm_dmi d;
        t.set_address(a & ~kPageMask);
        if (socket->get_direct_mem_ptr(t, d)) pages_[a >> kPageShift] = d.get_dmi_ptr();
      }
    }
    return sum;
  }

 private:
  void invalidate(sc_dt::uint64 lo, sc_dt::uint64 hi) {
    for (uint64_t p = lo >> kPageShift; p <= hi >> kPageShift; ++p) pages_.erase(p);
  }
  std::unordered_map<uint64_t, uint8_t*> pages_;
};

int mee(uint64_t n) {
  std::printf("mee on x86-tdx (encryption: ci): %llu lines / accesses each\n", (unsigned long long)n);
  // 1. The cipher: the engine's AES-XTS-128 per 64-byte line (its key, the
  // line's PA as tweak) against a bare OpenSSL EVP loop doing the same lines.
  const uint64_t lines = std::min<uint64_t>(n, 1 << 20);
  std::vector<uint8_t> buf(lines * 64), out(lines * 64);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = uint8_t(i * 131);
  {
    struct NoMemory : MemoryPort {
      void read(Addr, void*, size_t) override {}
      void write(Addr, const void*, size_t) override {}
    } none;
    Stats st;
    MemoryEncryptionEngine e(none, MemoryEncryptionEngine::Integrity::Ci, 1, 64, st, "bench");
    e.program_key(20);
    double t0 = now_s();
    MemoryEncryptionEngine::Line pl, ct;
    for (uint64_t i = 0; i < lines; ++i) {
      std::memcpy(pl.data(), &buf[i * 64], 64);
      e.encrypt(20, i * 64, pl, ct);
      std::memcpy(&out[i * 64], ct.data(), 64);
    }
    const double engine_s = now_s() - t0;
    std::vector<uint8_t> ref(lines * 64);
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_128_xts(), nullptr, e.key(20).data(), nullptr);
    t0 = now_s();
    for (uint64_t i = 0; i < lines; ++i) {
      uint8_t iv[16] = {};
      const uint64_t pa = i * 64;
      std::memcpy(iv, &pa, 8);  // little endian on x86
      int len = 0;
      EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, iv);
      EVP_EncryptUpdate(c, &ref[i * 64], &len, &buf[i * 64], 64);
    }
    const double bare_s = now_s() - t0;
    EVP_CIPHER_CTX_free(c);
    if (ref != out) {
      std::cerr << "cocosim_bench: the engine's ciphertext differs from OpenSSL's\n";
      return 1;
    }
    std::printf("  %-34s %14.0f lines/s    OpenSSL %14.0f lines/s    ratio %.2f\n",
                "AES-XTS-128 lines/s (engine)", lines / engine_s, lines / bare_s, bare_s / engine_s);
  }
  // 2. Accesses through the wired slot: a TD's private-KeyID loads with the
  // plaintext kept (b_transport, and through its DMI pointer), KeyID-0 loads
  // by the host, each against the raw TLM loop measured in the same process.
  Stats stats;
  PlatformConfig cfg;
  Platform platform(cfg, 1, stats);
  BusInitiator init("bench_initiator");
  init.socket.bind(platform.phys_bus.targ);
  bench::RawMemory raw_mem("raw_memory", kRawLength);
  bench::RawInitiator raw_init("raw_initiator");
  raw_init.socket.bind(raw_mem.socket);
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
  const unsigned hkid = *platform.alloc_hkid();
  platform.program_key(hkid);
  const Addr base = 0x10000000, len = kRawLength;
  const Addr priv = platform.keyid_address(base, hkid);
  init.sweep(priv, len, len / 64, SecurityState::Td, true, false);  // frames in
  double t0 = now_s();
  volatile uint64_t sink = raw_init.sweep(kRawLength, 64, n, false);
  const double raw_s = now_s() - t0;
  t0 = now_s();
  sink = init.sweep(priv, len, n, SecurityState::Td, false, false);
  const double td_s = now_s() - t0;
  t0 = now_s();
  sink = init.sweep(priv, len, n, SecurityState::Td, false, true);
  const double td_dmi_s = now_s() - t0;
  const uint64_t enc = stats.get("platform.mee.encryptions");
  const uint64_t dec = stats.get("platform.mee.decryptions");
  const Addr shared = base + (64ull << 20);  // host memory elsewhere, KeyID 0
  init.sweep(shared, len, len / 64, SecurityState::Normal, true, false);
  t0 = now_s();
  sink = init.sweep(shared, len, n, SecurityState::Normal, false, false);
  const double host_s = now_s() - t0;
  (void)sink;
  line("TD private loads/s (b_transport)", n / td_s, "acc/s", n / raw_s);
  line("TD private loads/s (DMI, plaintext)", n / td_dmi_s, "acc/s", n / raw_s);
  line("host KeyID-0 loads/s (b_transport)", n / host_s, "acc/s", n / raw_s);
  std::printf("  TD private vs host KeyID-0 through the same slot: ratio %.2f\n", host_s / td_s);
  std::printf("  frames loaded %llu, decryptions %llu, encryptions %llu (none during the loads)\n",
              (unsigned long long)stats.get("platform.mee.frames_loaded"), (unsigned long long)dec,
              (unsigned long long)enc);
  return 0;
}

}  // namespace

// A TD with 2 MiB of measured private memory at 0 and 2 MiB shared at 4 MiB:
// n loads over each, stride 64, after every page was touched once.
int td(uint64_t n) {
  std::ostringstream y;
  y << "platform: {arch: x86-tdx}\n"
    << "programs:\n  p:\n"
    << "    - sweep: {gpa: 0, length: 2MiB, op: load, size: 8, stride: 4KiB, count: 512}\n"
    << "    - sweep: {gpa: 4MiB, length: 2MiB, op: load, size: 8, stride: 4KiB, count: 512, shared: true}\n"
    << "    - sync: {tag: warm}\n"
    << "    - sweep: {gpa: 0, length: 2MiB, op: load, size: 8, stride: 64, count: " << n << "}\n"
    << "    - sync: {tag: private}\n"
    << "    - sweep: {gpa: 4MiB, length: 2MiB, op: load, size: 8, stride: 64, count: " << n << ", shared: true}\n"
    << "steps:\n"
    << "  - mmap: {anonymous: true, name: image, length: 2MiB}\n"
    << "  - mmap: {anonymous: true, name: shared, length: 8MiB}\n"
    << "  - KVM_CREATE_VM: {name: td, type: tdx}\n"
    << "  - KVM_CREATE_GUEST_MEMFD: {vm: td, name: g, size: 8MiB}\n"
    << "  - KVM_SET_USER_MEMORY_REGION2: {vm: td, slot: 0, flags: [GUEST_MEMFD], guest_phys_addr: 0, "
       "memory_size: 8MiB, userspace_addr: shared, guest_memfd: g}\n"
    << "  - KVM_SET_MEMORY_ATTRIBUTES: {vm: td, address: 0, size: 2MiB, attributes: [PRIVATE]}\n"
    << "  - KVM_TDX_INIT_VM: {vm: td}\n"
    << "  - KVM_CREATE_VCPU: {vm: td, id: 0, program: p}\n"
    << "  - KVM_TDX_INIT_MEM_REGION: {vm: td, gpa: 0, nr_pages: 512, source: {map: image, offset: 0}}\n"
    << "  - KVM_TDX_FINALIZE_VM: {vm: td}\n"
    << "  - KVM_RUN: {vm: td, vcpu: 0, expect: {exit: UCALL_SYNC, tag: warm}}\n"
    << "  - KVM_RUN: {vm: td, vcpu: 0, expect: {exit: UCALL_SYNC, tag: private}}\n"
    << "  - KVM_RUN: {vm: td, vcpu: 0, expect: {exit: UCALL_DONE}}\n";
  Stats stats;
  Raw raw;
  RunSummary s = run(load(y.str()), 1, n, &raw, nullptr, nullptr, stats);
  const double priv = s.step_times.at(11).wall_s, shared = s.step_times.at(12).wall_s;
  std::printf("TD on x86-tdx (encryption ci): %llu loads of 8 bytes over 2 MiB, stride 64\n",
              (unsigned long long)n);
  line("TD private loads/s", double(n) / priv, "acc/s", double(n) / raw.load_s);
  line("TD shared-alias loads/s", double(n) / shared, "acc/s", double(n) / raw.load_s);
  std::printf("  private / shared %.2f\n", shared / priv);
  return 0;
}

// Guest-driven conversions of one 4 KiB page or one 2 MiB range: `share`
// then `unshare` (on a TD: MapGPA both ways, then ACCEPT, 2 MiB at a time where
// it can), the VMM handling each KVM_EXIT_HYPERCALL as QEMU does. One scenario
// holds a TD and a sw_protected VM per size, run one after the other in the
// same process, so the ratio compares like with like. The TD's guest_memfd is
// HUGETLB: a 2 MiB range comes back as one 2 MiB AUG and ACCEPT.
int td_convert(const std::string& sizes, uint64_t n4k, uint64_t n2m) {
  struct Case {
    const char* type;
    bool huge;
    uint64_t n;
    size_t step = 0;  // the KVM_RUN step's index
  };
  std::vector<Case> cases;
  for (bool huge : {false, true}) {
    if (sizes == (huge ? "4K" : "2M")) continue;
    for (const char* type : {"tdx", "sw_protected"}) cases.push_back({type, huge, huge ? n2m : n4k});
  }
  std::ostringstream y;
  y << "platform: {arch: x86-tdx}\nprograms:\n";
  for (size_t i = 0; i < cases.size(); ++i) {
    const char* size = cases[i].huge ? "2MiB" : "4KiB";
    y << "  p" << i << ":\n    - repeat:\n        count: " << cases[i].n << "\n        body:\n"
      << "          - share: {gpa: 0, size: " << size << "}\n"
      << "          - unshare: {gpa: 0, size: " << size << "}\n";
  }
  y << "steps:\n";
  size_t step = 0;
  auto emit = [&](const std::string& s) {
    y << "  - " << s << "\n";
    ++step;
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string vm = "vm" + std::to_string(i), tdx = cases[i].type == std::string("tdx") ? "1" : "";
    emit("mmap: {anonymous: true, name: s" + std::to_string(i) + ", length: 2MiB}");
    emit("KVM_CREATE_VM: {name: " + vm + ", type: " + cases[i].type + "}");
    emit("KVM_CREATE_GUEST_MEMFD: {vm: " + vm + ", name: g" + std::to_string(i) + ", size: 2MiB" +
         (tdx.empty() ? "" : ", flags: [HUGETLB]") + "}");
    emit("KVM_SET_USER_MEMORY_REGION2: {vm: " + vm + ", slot: 0, flags: [GUEST_MEMFD], guest_phys_addr: 0, "
         "memory_size: 2MiB, userspace_addr: s" + std::to_string(i) + ", guest_memfd: g" + std::to_string(i) + "}");
    emit("KVM_SET_MEMORY_ATTRIBUTES: {vm: " + vm + ", address: 0, size: 2MiB, attributes: [PRIVATE]}");
    if (!tdx.empty()) emit("KVM_TDX_INIT_VM: {vm: " + vm + "}");
    emit("KVM_CREATE_VCPU: {vm: " + vm + ", id: 0, program: p" + std::to_string(i) + "}");
    if (!tdx.empty()) emit("KVM_TDX_FINALIZE_VM: {vm: " + vm + "}");
    cases[i].step = step;
    emit("KVM_RUN: {vm: " + vm + ", vcpu: 0, auto: [KVM_EXIT_HYPERCALL], expect: {exit: UCALL_DONE}}");
  }
  Stats stats;
  Raw raw;
  // One vCPU per VM; the VMs run one after the other.
  RunSummary s = run(load(y.str()), unsigned(cases.size()), 1000000, &raw, nullptr, nullptr, stats);
  const double raw_per_s = 1e6 / raw.load_s;
  std::printf("guest conversions, private -> shared -> private, in one run (x86-tdx, encryption ci);\n"
              "raw TLM baseline %.0f acc/s (same process)\n", raw_per_s);
  for (size_t i = 0; i < cases.size(); i += 2) {
    const Case &td = cases[i], &sw = cases[i + 1];
    const double td_rate = 2.0 * td.n / s.step_times.at(td.step).wall_s;
    const double sw_rate = 2.0 * sw.n / s.step_times.at(sw.step).wall_s;
    const char* size = td.huge ? "2 MiB" : "4 KiB";
    std::printf("  %-5s tdx          %12.0f conv/s  (%llu)   ratio to raw TLM %.6f\n", size, td_rate,
                (unsigned long long)(2 * td.n), td_rate / raw_per_s);
    std::printf("  %-5s sw_protected %12.0f conv/s  (%llu)   ratio to raw TLM %.6f\n", size, sw_rate,
                (unsigned long long)(2 * sw.n), sw_rate / raw_per_s);
    std::printf("  %-5s tdx / sw_protected ratio %.6f\n", size, td_rate / sw_rate);
  }
  std::printf("  SEAMCALLs by KVM %llu, pages removed %llu, 2 MiB AUGs %llu, zaps %llu\n",
              (unsigned long long)stats.get("platform.kvm.tdx.seamcalls"),
              (unsigned long long)stats.get("platform.kvm.tdx.pages_removed"),
              (unsigned long long)stats.get("platform.kvm.private_huge_leaves"),
              (unsigned long long)stats.get("platform.kvm.zaps"));
  return 0;
}

// ---- Real guest code (cocosim_bench isa, isa-sweep) ----

// An ELF of the firmware target (nullopt with a message when it is missing).
bool load_firmware(const char* name, ElfImage* image) {
  std::string err;
  if (image->load(std::string(COCOSIM_FIRMWARE_DIR) + "/" + name, &err)) return true;
  std::cerr << "cocosim_bench isa: " << err << " (build the firmware target first)\n";
  return false;
}

// The image in bare Unicorn 2.0.1 in this process: its own memory mapped once,
// no hooks but the one that stops at the first ucall (`in`). `block_hook`:
// with an empty block hook as well (what counting instructions per block
// costs Unicorn itself). Seconds of the call that runs to the ucall, after
// `warm` runs of the same (a sweep's first pass touches its pages).
double bare_unicorn(const ElfImage& image, uint64_t param_gpa, uint64_t param, uint64_t data_base,
                    uint64_t data_bytes, unsigned warm, bool block_hook) {
  uc_engine* uc = nullptr;
  uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
  uc_mem_map(uc, 0x100000, 64 * 1024, UC_PROT_ALL);
  if (data_bytes) uc_mem_map(uc, data_base, data_bytes, UC_PROT_READ | UC_PROT_WRITE);
  for (const ElfSegment& s : image.segments()) uc_mem_write(uc, s.paddr, s.bytes.data(), s.bytes.size());
  uc_mem_write(uc, param_gpa, &param, 8);
  uc_hook h;
  uc_hook_add(uc, &h, UC_HOOK_INSN,
              reinterpret_cast<void*>(+[](uc_engine* u, uint32_t, int, void*) -> uint32_t {
                uc_emu_stop(u);
                return 0;
              }),
              nullptr, 1, 0, UC_X86_INS_IN);
  if (block_hook)
    uc_hook_add(uc, &h, UC_HOOK_BLOCK, reinterpret_cast<void*>(+[](uc_engine*, uint64_t, uint32_t, void*) {}),
                nullptr, 1, 0);
  const uint64_t entry = *image.symbol("guest_entry");
  for (unsigned i = 0; i < warm; ++i) uc_emu_start(uc, entry, ~uint64_t{0}, 0, 0);
  const double t0 = now_s();
  uc_emu_start(uc, entry, ~uint64_t{0}, 0, 0);
  const double s = now_s() - t0;
  if (param_gpa == *image.symbol("iterations")) {  // the compute loop: check its sum
    uint64_t sum = 0;
    uc_mem_read(uc, *image.symbol("sum"), &sum, 8);
    if (sum != param * (param + 1) / 2) std::cerr << "cocosim_bench isa: bare Unicorn computed " << sum << "\n";
  }
  uc_close(uc);
  return s;
}

// The wall time of the step numbered `n` (0 when absent).
double step_wall(const RunSummary& s, size_t n) {
  for (const auto& st : s.step_times)
    if (st.step == std::to_string(n)) return st.wall_s;
  return 0;
}

// One platform (SystemC elaborates once per process) with two default VMs:
// vm0 runs firmware/x86_64/compute_loop.S (`n` loop iterations) on one vCPU;
// vm1 runs firmware/x86_64/memory_sweep.S over `bytes` (8-byte loads, stride
// 64) on a vCPU: a first pass faults every page in, the second is measured;
// then the scripted sweep of the same loads on a second vCPU (a warm-up pass,
// then the measured one). Stage 2 enforced, the checker at the end. Bare Unicorn
// runs of both images before and after, in this process; the ratios use the
// faster of the two (the machine is shared: the slower bare run is noise).
// `compute`/`sweep`: which halves run (isa-sweep runs the sweep alone).
int isa(uint64_t n, const std::string& quantum, uint64_t bytes, bool compute, bool sweep) {
  ElfImage loop, sweeper;
  if ((compute && !load_firmware("compute_loop.elf", &loop)) || (sweep && !load_firmware("memory_sweep.elf", &sweeper)))
    return 2;
  if (sweep && (bytes < 4096 || bytes % 4096)) {
    std::cerr << "cocosim_bench isa: --size must be a positive multiple of 4096\n";
    return 2;
  }
  const uint64_t base = 16ull << 20, accesses = bytes / 64;
  const uint64_t iterations_gpa = compute ? *loop.symbol("iterations") : 0;
  const uint64_t length_gpa = sweep ? *sweeper.symbol("sweep_base") + 8 : 0;
  double bare_loop = 1e30, bare_hooked = 1e30, bare_sweep = 1e30, bare_sweep_hooked = 1e30;
  auto bare_runs = [&] {
    if (compute) {
      bare_loop = std::min(bare_loop, bare_unicorn(loop, iterations_gpa, n, 0, 0, 0, false));
      bare_hooked = std::min(bare_hooked, bare_unicorn(loop, iterations_gpa, n, 0, 0, 0, true));
    }
    if (sweep) {
      bare_sweep = std::min(bare_sweep, bare_unicorn(sweeper, length_gpa, bytes, base, bytes, 1, false));
      bare_sweep_hooked = std::min(bare_sweep_hooked, bare_unicorn(sweeper, length_gpa, bytes, base, bytes, 1, true));
    }
  };
  bare_runs();

  std::ostringstream y;
  size_t step = 0, loop_step = 0, first_step = 0, sweep_step = 0, scripted_step = 0;
  auto emit = [&](const std::string& s) {
    y << "  - " << s << "\n";
    return ++step;
  };
  y << "platform: {arch: x86-tdx, quantum: " << quantum << ", dram: " << ((bytes >> 20) + 64) << "MiB}\n"
    << "programs:\n";
  if (compute) y << "  compute: {elf: " << COCOSIM_FIRMWARE_DIR << "/compute_loop.elf, entry: guest_entry}\n";
  if (sweep) {
    const std::string sw = "{gpa: " + std::to_string(base) + ", length: " + std::to_string(bytes) +
                           ", op: load, size: 8, stride: 64, count: " + std::to_string(accesses) + "}";
    y << "  sweep: {elf: " << COCOSIM_FIRMWARE_DIR << "/memory_sweep.elf, entry: guest_entry}\n"
      << "  scripted:\n    - sweep: " << sw << "\n    - sync: {tag: warm}\n    - sweep: " << sw << "\n";
  }
  y << "steps:\n";
  if (compute) {
    emit("KVM_CREATE_VM: {name: vm0, type: default}");
    emit("mmap: {anonymous: true, name: m0, length: 64KiB}");
    emit("KVM_SET_USER_MEMORY_REGION: {vm: vm0, slot: 0, guest_phys_addr: 1MiB, memory_size: 64KiB, userspace_addr: m0}");
    emit("load_elf: {program: compute, map: m0, gpa: 1MiB}");
    emit("store: {map: m0, offset: " + std::to_string(iterations_gpa - 0x100000) + ", value: " + std::to_string(n) + "}");
    emit("KVM_CREATE_VCPU: {vm: vm0, id: 0, program: compute}");
    loop_step = emit("KVM_RUN: {vm: vm0, vcpu: 0, expect: {exit: UCALL_SYNC}}");
    emit("load: {map: m0, offset: 0x1000, expect: {value: " + std::to_string(n * (n + 1) / 2) + "}}");
  }
  if (sweep) {
    emit("KVM_CREATE_VM: {name: vm1, type: default}");
    emit("mmap: {anonymous: true, name: m1, length: 64KiB}");
    emit("KVM_SET_USER_MEMORY_REGION: {vm: vm1, slot: 0, guest_phys_addr: 1MiB, memory_size: 64KiB, userspace_addr: m1}");
    emit("mmap: {anonymous: true, name: m2, length: " + std::to_string(bytes) + "}");
    emit("KVM_SET_USER_MEMORY_REGION: {vm: vm1, slot: 1, guest_phys_addr: " + std::to_string(base) +
         ", memory_size: " + std::to_string(bytes) + ", userspace_addr: m2}");
    emit("load_elf: {program: sweep, map: m1, gpa: 1MiB}");
    emit("store: {map: m1, offset: " + std::to_string(length_gpa - 0x100000) + ", value: " + std::to_string(bytes) + "}");
    emit("KVM_CREATE_VCPU: {vm: vm1, id: 0, program: sweep}");
    first_step = emit("KVM_RUN: {vm: vm1, vcpu: 0, expect: {exit: UCALL_SYNC, tag: \"1\"}}");  // faults every page in
    sweep_step = emit("KVM_RUN: {vm: vm1, vcpu: 0, expect: {exit: UCALL_SYNC, tag: \"2\"}}");  // pages in stage 2 already
    emit("KVM_CREATE_VCPU: {vm: vm1, id: 1, program: scripted}");
    emit("KVM_RUN: {vm: vm1, vcpu: 1, expect: {exit: UCALL_SYNC}}");
    scripted_step = emit("KVM_RUN: {vm: vm1, vcpu: 1, expect: {exit: UCALL_DONE}}");
  }
  Scenario sc = load(y.str());
  Stats stats;
  Platform platform(sc.platform, 4, stats);
  Runner runner("vmm", sc, platform, std::cerr, false);
  runner.set_check_mode(CheckMode::End);
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
  sc_core::sc_start();
  RunSummary s = runner.summary();
  if (s.failed || s.violations || !s.finished) {
    std::cerr << "cocosim_bench: the benchmark scenario failed\n";
    return 1;
  }
  bare_runs();

  if (compute) {
    // 3 + 3 n + 4 instructions up to the ucall, in every run.
    const double insns = 3 + 3.0 * double(n) + 4, sim_s = step_wall(s, loop_step);
    std::printf("isa compute loop (x86-64, %.0f instructions, quantum %s; stage 2 enforced, checker at end)\n", insns,
                quantum.c_str());
    std::printf("  %-30s %12.0f insn/s   bare Unicorn %12.0f insn/s             ratio %.2f\n", "instructions/s",
                insns / sim_s, insns / bare_loop, bare_loop / sim_s);
    std::printf("  %-30s %12.0f insn/s   bare Unicorn + empty block hook %12.0f   ratio %.2f\n", "instructions/s",
                insns / sim_s, insns / bare_hooked, bare_hooked / sim_s);
  }
  if (sweep) {
    const double first_s = step_wall(s, first_step), isa_s = step_wall(s, sweep_step),
                 scripted_s = step_wall(s, scripted_step);
    // The vCPU modules in creation order: vm0's (if any), then vm1's.
    const std::string sweep_vcpu = "platform.vcpu" + std::to_string(compute ? 1 : 0);
    std::printf("isa memory sweep (x86-64, %llu MiB, %llu loads of 8 bytes, stride 64; stage 2 enforced, checker at end)\n",
                (unsigned long long)(bytes >> 20), (unsigned long long)accesses);
    std::printf("  %-30s %12.0f acc/s    bare Unicorn %12.0f acc/s              ratio %.2f\n", "guest code loads/s",
                accesses / isa_s, accesses / bare_sweep, bare_sweep / isa_s);
    std::printf("  %-30s %12.0f acc/s    bare Unicorn + empty block hook %12.0f  ratio %.2f\n",
                "guest code loads/s", accesses / isa_s, accesses / bare_sweep_hooked, bare_sweep_hooked / isa_s);
    std::printf("  %-30s %12.0f acc/s    scripted sweep %12.0f acc/s            ratio %.2f\n", "guest code loads/s",
                accesses / isa_s, accesses / scripted_s, scripted_s / isa_s);
    std::printf("  %-30s %12.1f ns/access   first pass (every page faulted in) %.1f ns/access\n", "time per access",
                isa_s / accesses * 1e9, first_s / accesses * 1e9);
    std::printf("  %-30s %llu of the %llu pages of both passes beside a translated one\n", "pages mapped in runs",
                (unsigned long long)stats.get(sweep_vcpu + ".run_pages"), (unsigned long long)(bytes >> 11));
  }
  return 0;
}

// Conversions at scale in guest code (firmware/x86_64/conversion_scale.S):
// `pages` pages go private, shared and private again, one
// KVM_HC_MAP_GPA_RANGE VMCALL per page that the VMM converts itself (auto:,
// as QEMU), and the guest touches every page after each pass. Prints the
// process CPU time per conversion and per touch of each pass (wall time
// varies with the machine's other load) beside a raw TLM access in the same
// process; `isa-convert` without -n runs 1 000, 10 000
// and 50 000 pages in child processes (one platform per process), to show
// whether a cost grows with the number of pages.
int isa_convert(uint64_t pages, bool one_line) {
  const std::string elf = std::string(COCOSIM_FIRMWARE_DIR) + "/conversion_scale.elf";
  ElfImage image;
  std::string err;
  if (!image.load(elf, &err)) {
    std::cerr << "cocosim_bench isa-convert: " << err << " (build the firmware target first)\n";
    return 2;
  }
  if (pages > 99999) {  // each pass is one KVM_RUN whose auto: handles at most 100 000 exits
    std::cerr << "cocosim_bench isa-convert: at most 99999 pages (one KVM_RUN per pass, and auto: gives up "
                 "after 100 000 exits)\n";
    return 2;
  }
  const uint64_t bytes = pages << kPageShift;
  std::ostringstream y;
  y << "platform: {arch: x86-tdx, dram: " << ((2 * bytes >> 20) + 64) << "MiB}\n"
    << "programs:\n  guest: {elf: " << elf << ", entry: guest_entry}\n"
    << "steps:\n"
    << "  - KVM_CREATE_VM: {name: vm0, type: sw_protected}\n"
    << "  - mmap: {anonymous: true, name: code, length: 64KiB}\n"
    << "  - KVM_SET_USER_MEMORY_REGION: {vm: vm0, slot: 0, guest_phys_addr: 1MiB, memory_size: 64KiB, userspace_addr: code}\n"
    << "  - load_elf: {program: guest, map: code, gpa: 1MiB}\n"
    << "  - store: {map: code, offset: " << (*image.symbol("scale_pages") - 0x100000) << ", value: " << pages << "}\n"
    << "  - KVM_CREATE_GUEST_MEMFD: {vm: vm0, name: g, size: " << bytes << ", flags: 0}\n"
    << "  - mmap: {anonymous: true, name: a, length: " << bytes << "}\n"
    << "  - KVM_SET_USER_MEMORY_REGION2: {vm: vm0, slot: 10, flags: [GUEST_MEMFD], guest_phys_addr: 4GiB, "
    << "memory_size: " << bytes << ", userspace_addr: a, guest_memfd: g, guest_memfd_offset: 0}\n"
    << "  - KVM_CREATE_VCPU: {vm: vm0, id: 0, program: guest}\n";
  for (int stage = 1; stage <= 6; ++stage)  // steps 10 ... 15: odd stages convert, even ones touch
    y << "  - KVM_RUN: {vm: vm0, vcpu: 0" << (stage % 2 ? ", auto: [KVM_EXIT_HYPERCALL]" : "")
      << ", expect: {exit: UCALL_SYNC, tag: \"" << stage << "\"}}\n";
  y << "  - load: {map: a, offset: " << (bytes - kPageSize) << ", expect: {value: 0}}\n"
    << "  - KVM_RUN: {vm: vm0, vcpu: 0, expect: {exit: UCALL_DONE}}\n";
  Stats stats;
  Raw raw;
  RunSummary s = run(load(y.str()), 1, 1000000, &raw, nullptr, nullptr, stats, CheckMode::End);
  double step_s[16] = {};
  for (const auto& st : s.step_times) {
    const int i = std::atoi(st.step.c_str());
    if (i >= 10 && i <= 15) step_s[i] = st.cpu_s;  // CPU time: the machine may be shared
  }
  const double n = double(pages), raw_acc_s = 1e6 / raw.load_cpu_s;
  const double conv_us = (step_s[10] + step_s[12] + step_s[14]) / (3 * n) * 1e6;
  const double touch_us = (step_s[11] + step_s[13] + step_s[15]) / (3 * n) * 1e6;
  if (one_line) {  // for isa_convert_table()
    std::printf("%llu %.6f %.6f %.1f\n", (unsigned long long)pages, conv_us, touch_us, raw_acc_s);
    return 0;
  }
  std::printf("isa-convert (x86-64 guest, %llu pages: %llu KVM_HC_MAP_GPA_RANGE exits converted by the VMM "
              "(auto), %llu touches; sw_protected, checker at end; process CPU time)\n",
              (unsigned long long)pages, (unsigned long long)(3 * pages), (unsigned long long)(3 * pages));
  std::printf("  %-34s %14.0f conv/s     raw TLM %14.0f acc/s      ratio %.5f\n", "conversions/s", 1e6 / conv_us,
              raw_acc_s, (1e6 / conv_us) / raw_acc_s);
  std::printf("  %-34s %14.0f touch/s    raw TLM %14.0f acc/s      ratio %.5f\n", "touches/s", 1e6 / touch_us,
              raw_acc_s, (1e6 / touch_us) / raw_acc_s);
  std::printf("  time per conversion (us): to private %.2f, to shared %.2f, to private again %.2f\n",
              step_s[10] / n * 1e6, step_s[12] / n * 1e6, step_s[14] / n * 1e6);
  std::printf("  time per touch (us): new private page %.2f, shared page %.2f, private page again %.2f\n",
              step_s[11] / n * 1e6, step_s[13] / n * 1e6, step_s[15] / n * 1e6);
  // The work behind those times, per conversion: what would grow if a
  // conversion's cost grew with the pages converted or mapped.
  const double conv = 3 * n;
  std::printf("  per conversion: %.2f zaps, %.2f leaves zapped, %.2f remote TLB flushes, %.2f vCPU TLB flushes, "
              "%.2f DMI invalidations, %.2f stage-2 faults (touches)\n",
              double(stats.get("platform.kvm.zaps")) / conv, double(stats.get("platform.kvm.leaves_zapped")) / conv,
              double(stats.get("platform.kvm.remote_tlb_flushes")) / conv,
              double(stats.get("platform.vcpu0.tlb.flushes")) / conv,
              double(stats.get("platform.bus.dmi_invalidations")) / conv,
              double(stats.get("platform.kvm.faults_in")) / conv);
  return 0;
}

// Each size three times, interleaved, in child processes; the least CPU time
// per operation of the three (the machine may be shared: a busy neighbour
// only ever adds time).
int isa_convert_table() {
  std::printf("isa-convert: pages private -> shared -> private in x86-64 guest code, one KVM_HC_MAP_GPA_RANGE "
              "exit per page and pass converted by the VMM (auto:); least process CPU time of 3 runs\n"
              "  %8s %18s %16s %18s %18s\n", "pages", "us/conversion", "us/touch", "raw TLM acc/s",
              "ratio conv/raw");
  std::fflush(stdout);
  char exe[4096];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0) return 1;
  const std::string self(exe, size_t(len));
  const uint64_t sizes[] = {1000, 10000, 50000};
  double best_conv[3] = {1e30, 1e30, 1e30}, best_touch[3] = {1e30, 1e30, 1e30}, best_raw[3] = {};
  for (int rep = 0; rep < 3; ++rep)
    for (int i = 0; i < 3; ++i) {
      FILE* f = ::popen((self + " isa-convert --one-line -n " + std::to_string(sizes[i])).c_str(), "r");
      if (!f) return 1;
      unsigned long long pages = 0;
      double conv = 0, touch = 0, raw = 0;
      const int got = std::fscanf(f, "%llu %lf %lf %lf", &pages, &conv, &touch, &raw);
      if (::pclose(f) != 0 || got != 4) return 1;
      best_conv[i] = std::min(best_conv[i], conv);
      best_touch[i] = std::min(best_touch[i], touch);
      best_raw[i] = std::max(best_raw[i], raw);
    }
  for (int i = 0; i < 3; ++i)
    std::printf("  %8llu %18.2f %16.2f %18.0f %18.6f\n", (unsigned long long)sizes[i], best_conv[i], best_touch[i],
                best_raw[i], (1e6 / best_conv[i]) / best_raw[i]);
  return 0;
}

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  return sc_core::sc_elab_and_sim(argc, argv);
}

int sc_main(int argc, char** argv) {
  std::string mode = "sweep", arch = "x86-tdx", type, size_arg, quantum;  // type: per mode's default below
  uint64_t n = 0, max_touched = 1ull << 30;
  unsigned byte = 1;
  bool guest = false, one_line = false;
  std::string scenario = "configs/quickstart.yaml";
  unsigned jobs = 2;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--arch" && i + 1 < argc) arch = argv[++i];
    else if (a == "--type" && i + 1 < argc) type = argv[++i];
    else if (a == "-n" && i + 1 < argc) n = std::strtoull(argv[++i], nullptr, 0);
    else if (a == "--size" && i + 1 < argc) size_arg = argv[++i];  // memset: bytes; td-convert: 4K|2M
    else if (a == "--max-touched" && i + 1 < argc) max_touched = std::strtoull(argv[++i], nullptr, 0) << 30;
    else if (a == "--byte" && i + 1 < argc) byte = unsigned(std::strtoul(argv[++i], nullptr, 0)) & 0xff;
    else if (a == "--guest") guest = true;
    else if (a == "--one-line") one_line = true;  // isa-convert: one line of figures, for its table
    else if (a == "--scenario" && i + 1 < argc) scenario = argv[++i];
    else if (a == "-j" && i + 1 < argc) jobs = unsigned(std::strtoul(argv[++i], nullptr, 0));
    else if (a == "--quantum" && i + 1 < argc) quantum = argv[++i];  // isa: platform.quantum
    else if (a == "sweep" || a == "convert" || a == "memory" || a == "memset" || a == "mee" || a == "td" ||
             a == "td-convert" || a == "share" || a == "host" || a == "checker" ||
             a == "sweep-pool" || a == "isa" || a == "isa-sweep" || a == "isa-convert")
      mode = a;
    else {
      std::cerr << "usage: cocosim_bench sweep|convert|memory|memset|mee|td|td-convert|share|host|checker|sweep-pool|isa|isa-sweep|isa-convert\n"
                   "                     [--arch x86-tdx|arm64-pkvm] [--type default|sw_protected|pkvm|tdx] [-n N]\n"
                   "       cocosim_bench memset [--max-touched GIB]  (or one run: --size BYTES [--guest] [--byte B])\n"
                   "       cocosim_bench td-convert [--size 4K|2M] [-n N]\n"
                   "       cocosim_bench sweep-pool [-n POINTS] [-j JOBS] [--scenario FILE]\n"
                   "       cocosim_bench isa [-n ITERATIONS] [--quantum T] [--size BYTES] | isa-sweep [--size BYTES]\n"
                   "       cocosim_bench isa-convert [-n PAGES [--one-line]]  (default: 1000, 10000 and 50000, 3 runs each)\n";
      return 2;
    }
  }
  if (one_line && (mode != "isa-convert" || !n)) {
    std::cerr << "cocosim_bench: --one-line is for isa-convert -n PAGES (its table's child runs)\n";
    return 2;
  }
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  if (mode == "sweep") return sweep(arch, n ? n : 2000000, type.empty() ? "default" : type);
  if (mode == "convert") return convert(arch, n ? n : 2000);
  if (mode == "memset") {
    const uint64_t size = std::strtoull(size_arg.c_str(), nullptr, 0);
    return size ? memset_one(arch, size, guest, byte) : memset_table(arch, max_touched);
  }
  if (mode == "checker") {
    const uint64_t size = std::strtoull(size_arg.c_str(), nullptr, 0);
    return size ? checker_one(arch, size, n ? n : 1000) : checker_table(arch, n ? n : 1000);
  }
  if (mode == "sweep-pool") return sweep_pool(scenario, n ? n : 200, jobs ? jobs : 2);
  if (mode == "mee") return mee(n ? n : 2000000);
  if (mode == "td") return td(n ? n : 2000000);
  if (mode == "td-convert") {
    if (!size_arg.empty() && size_arg != "4K" && size_arg != "2M") {
      std::cerr << "td-convert: --size is 4K or 2M (default: both)\n";
      return 2;
    }
    if (!type.empty()) {
      std::cerr << "td-convert runs tdx and sw_protected in the same process: --type does not apply\n";
      return 2;
    }
    return td_convert(size_arg, n ? n : 2000, n ? std::max<uint64_t>(1, n / 10) : 200);
  }
  if (mode == "share") return share(arch, n ? n : 20000, type.empty() ? "default" : type);
  if (mode == "host") return host(n ? n : 2000000);
  // One platform per process (SystemC elaborates once): isa runs the loop and the sweep on one.
  if (mode == "isa-convert") return n ? isa_convert(n, one_line) : isa_convert_table();
  const uint64_t sweep_bytes = size_arg.empty() ? 16ull << 20 : std::strtoull(size_arg.c_str(), nullptr, 0);
  if (mode == "isa") return isa(n ? n : 100000000, quantum.empty() ? "1us" : quantum, sweep_bytes, true, true);
  if (mode == "isa-sweep") return isa(0, quantum.empty() ? "1us" : quantum, sweep_bytes, false, true);
  return memory(arch);
}
