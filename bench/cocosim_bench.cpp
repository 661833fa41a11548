// cocosim benchmarks. Each figure is printed beside a raw SystemC/TLM-2.0
// baseline measured in the same process, as a ratio.
//
//   cocosim_bench sweep  [--arch A] [-n N]  guest loads/stores per second through
//                                           vCPU, stage-2 MMU, TLB, bus and DRAM
//   cocosim_bench convert [--arch A] [-n N] shared<->private conversions per second
//   cocosim_bench memory [--arch A]         peak memory of a 64 GiB default guest
//                                           with 1 GiB touched
// One mode per process: SystemC elaborates once per process.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <systemc>

#include "platform.h"
#include "raw_tlm_baseline.h"
#include "runner.h"
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
};

// Builds the platform for `sc`, measures the raw loop (n loads, n stores) in
// the same process, then runs the scenario. Returns the runner's summary.
RunSummary run(const Scenario& sc, unsigned vcpus, uint64_t n, Raw* raw, long* rss_before,
               long* rss_after, Stats& stats) {
  Platform platform(sc.platform, vcpus, stats);
  Runner runner("vmm", sc, platform, std::cerr, false);
  bench::RawMemory raw_mem("raw_memory", kRawLength);
  bench::RawInitiator raw_init("raw_initiator");
  raw_init.socket.bind(raw_mem.socket);
  sc_core::sc_start(sc_core::SC_ZERO_TIME);  // elaboration
  double t0 = now_s();
  volatile uint64_t sink = raw_init.sweep(kRawLength, 64, n, false);
  raw->load_s = now_s() - t0;
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

}  // namespace

int main(int argc, char** argv) {
  setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
  return sc_core::sc_elab_and_sim(argc, argv);
}

int sc_main(int argc, char** argv) {
  std::string mode = "sweep", arch = "x86-tdx", type = "default";
  uint64_t n = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--arch" && i + 1 < argc) arch = argv[++i];
    else if (a == "--type" && i + 1 < argc) type = argv[++i];
    else if (a == "-n" && i + 1 < argc) n = std::strtoull(argv[++i], nullptr, 0);
    else if (a == "sweep" || a == "convert" || a == "memory" || a == "share" || a == "host") mode = a;
    else {
      std::cerr << "usage: cocosim_bench sweep|convert|memory|share|host [--arch x86-tdx|arm64-pkvm] "
                   "[--type default|sw_protected|pkvm] [-n N]\n";
      return 2;
    }
  }
  sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
  if (mode == "sweep") return sweep(arch, n ? n : 2000000, type);
  if (mode == "convert") return convert(arch, n ? n : 2000);
  if (mode == "share") return share(arch, n ? n : 20000, type);
  if (mode == "host") return host(n ? n : 2000000);
  return memory(arch);
}
