#include "scenario_generator.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace cocosim::oracle {

namespace {

// A small address universe, so that steps collide often: four slots of GPA
// space 4 MiB apart from 4 GiB, files and mappings of a few pages or 2 MiB.
constexpr uint64_t kPage = 4096;
constexpr uint64_t kGpaBase = uint64_t{4} << 30;
constexpr uint64_t kSlotStride = uint64_t{4} << 20;
constexpr unsigned kSlots = 4;
constexpr uint64_t k2M = uint64_t{2} << 20;

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// Builds a line with <<, whose operands C++17 evaluates left to right, so the
// random draws inside them happen in the same order with every compiler
// (the operands of + and a call's arguments have no such order: gcc and clang
// differ, and the same seed would give different files).
class Line {
 public:
  template <class T>
  Line& operator<<(const T& v) {
    o_ << v;
    return *this;
  }
  operator std::string() const { return o_.str(); }

 private:
  std::ostringstream o_;
};

}  // namespace

// What the steps so far have made, and the random source.
class GenState {
 public:
  GenState(uint64_t seed, std::string arch) : rng_(seed * 0x9e3779b97f4a7c15ull + 1), arch(std::move(arch)) {}

  // xorshift64*: the same sequence on every compiler and library.
  uint64_t next() {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545f4914f6cdd1dull;
  }
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

  // A length: a few pages, sometimes 2 MiB (huge pages), rarely odd.
  uint64_t length() {
    const unsigned r = below(100);
    if (r < 70) return (1 + below(8)) * kPage;
    if (r < 90) return k2M;
    if (r < 95) return k2M + kPage;
    return 1 + below(3 * kPage);
  }
  // An offset inside [0, size) in pages, sometimes past it or unaligned.
  uint64_t offset(uint64_t size) {
    const unsigned r = below(100);
    if (r < 50) return below(std::min<uint64_t>(4, size / kPage + 1)) * kPage;  // where others act too
    if (r < 85) return below(size / kPage + 1) * kPage;
    if (r < 95) return size + below(4) * kPage;
    return below(size + kPage);
  }
  uint64_t slot_gpa(unsigned slot) const { return kGpaBase + slot * kSlotStride; }
  // A GPA in the slot universe, mostly in the first pages of a slot.
  uint64_t gpa() {
    const unsigned slot = chance(70) ? 0 : below(kSlots);
    const unsigned r = below(100);
    const uint64_t span = r < 50 ? 4 * kPage : r < 85 ? 16 * kPage : k2M + 2 * kPage;
    const uint64_t page = below(span / kPage);
    const uint64_t unaligned = chance(5) ? below(kPage) : 0;
    return slot_gpa(slot) + page * kPage + unaligned;
  }
  std::string attributes() { return chance(50) ? "[PRIVATE]" : "[]"; }

  std::string new_name(const char* prefix) { return prefix + std::to_string(names_++); }

  struct Gmem {
    std::string name;
    uint64_t size;
  };
  struct Map {
    std::string name;
    uint64_t length;
  };
  struct Vcpu {
    std::string vm;
    unsigned id;
  };

  // A guest program of a few ops over the slot universe.
  std::string new_program() {
    const std::string name = new_name("prog");
    std::vector<std::string> ops;
    const unsigned n = 3 + below(14);
    for (unsigned i = 0; i < n; ++i) ops.push_back(guest_op(/*depth=*/0));
    programs.emplace_back(name, std::move(ops));
    return name;
  }

  std::string guest_op(int depth) {
    // The shared alias is a TD's (x86-tdx only); the draw is made on both
    // arches so a seed makes the same choices elsewhere.
    const bool alias = chance(20);
    const std::string shared = alias && arch == "x86-tdx" ? ", shared: true" : "";
    switch (below(depth ? 7 : 8)) {
      case 0: return Line() << "{load: {gpa: " << hex(gpa()) << ", size: 8" << shared << ", expect: any}}";
      case 1:
        return Line() << "{store: {gpa: " << hex(gpa()) << ", value: " << hex(next()) << shared << ", expect: any}}";
      case 2:
        return Line() << "{memset: {gpa: " << hex(gpa()) << ", length: " << hex(length()) << ", byte: "
                      << below(256) << shared << ", expect: any}}";
      case 3:
        return Line() << "{sweep: {gpa: " << hex(gpa()) << ", length: " << hex(length()) << ", op: "
                      << (chance(50) ? "load" : "store") << ", count: " << 1 + below(64) << shared
                      << ", expect: any}}";
      case 4: return Line() << "{share: {gpa: " << hex(gpa()) << ", size: " << hex(length()) << ", expect: any}}";
      case 5: return Line() << "{unshare: {gpa: " << hex(gpa()) << ", size: " << hex(length()) << ", expect: any}}";
      case 6: return Line() << "{sync: {tag: t" << below(100) << "}}";
      default: {
        const unsigned count = 1 + below(4);
        std::string body;
        const unsigned n = 1 + below(3);
        for (unsigned i = 0; i < n; ++i) body += (i ? ", " : "") + guest_op(depth + 1);
        return Line() << "{repeat: {count: " << count << ", body: [" << body << "]}}";
      }
    }
  }

  std::vector<std::pair<std::string, std::string>> vms;  // name, type
  std::vector<Gmem> gmems;
  std::vector<Map> maps;
  std::vector<std::string> procs;
  std::vector<Vcpu> vcpus;
  std::vector<std::pair<std::string, std::vector<std::string>>> programs;
  bool first_slot = false;  // the next memslot is the start's slot 0

 private:
  uint64_t rng_;
  unsigned names_ = 0;

 public:
  const std::string arch;
};

namespace {

std::string step(const std::string& op, const std::string& fields) {
  return "{" + op + ": {" + fields + (fields.empty() ? "" : ", ") + "expect: any}}";
}

std::string make_vm(GenState& g) {
  std::vector<std::string> types = {"default", "sw_protected", "sw_protected"};
  types.push_back(g.arch == "x86-tdx" ? "tdx" : "pkvm");
  const std::string name = g.new_name("vm");
  const std::string type = g.pick(types);
  g.vms.emplace_back(name, type);
  return step("KVM_CREATE_VM", "name: " + name + ", type: " + type);
}

const std::string& some_vm(GenState& g) { return g.pick(g.vms).first; }

std::string make_gmem(GenState& g) {
  if (g.vms.empty()) return "";
  static const std::vector<std::string> kFlags = {"[]", "[MMAP]", "[INIT_SHARED]", "[MMAP, INIT_SHARED]"};
  const std::string name = g.new_name("g");
  const uint64_t size = g.chance(70) ? 16 * kPage : 2 * k2M;
  g.gmems.push_back({name, size});
  return step("KVM_CREATE_GUEST_MEMFD", Line() << "vm: " << some_vm(g) << ", name: " << name << ", size: "
                                               << hex(size) << ", flags: " << g.pick(kFlags));
}

std::string make_mmap(GenState& g) {
  const std::string name = g.new_name("m");
  // Mostly long enough to back a whole slot.
  const unsigned r = g.below(10);
  const uint64_t length = r < 5 ? 16 * kPage : r < 8 ? k2M : g.length();
  g.maps.push_back({name, length});
  if (!g.gmems.empty() && g.chance(40)) {
    const auto& f = g.pick(g.gmems);
    return step("mmap", Line() << "fd: " << f.name << ", name: " << name << ", offset: "
                               << hex(g.offset(f.size) & ~(kPage - 1)) << ", length: " << hex(length));
  }
  return step("mmap", Line() << "anonymous: true, name: " << name << ", length: " << hex(length)
                             << ", flags: " << (g.chance(80) ? "[SHARED]" : "[PRIVATE]"));
}

std::string make_memslot(GenState& g) {
  if (g.vms.empty()) return "";
  const unsigned slot = g.first_slot || g.chance(50) ? 0 : g.below(kSlots);
  const uint64_t size = g.first_slot ? g.maps.back().length : g.chance(10) ? 0 : (g.chance(75) ? 16 * kPage : k2M);
  std::string f = Line() << "vm: " << some_vm(g) << ", slot: " << slot << ", guest_phys_addr: "
                         << hex(g.slot_gpa(slot)) << ", memory_size: " << hex(size);
  // Mostly a mapping and a file big enough, so that the slot is made and
  // the guest reaches memory; sometimes anything, for the errors.
  std::vector<GenState::Map> maps;
  for (const auto& m : g.maps)
    if (m.length >= size || g.chance(15)) maps.push_back(m);
  if (g.first_slot) {
    g.first_slot = false;
    const bool bind = g.chance(75);
    f += ", userspace_addr: " + g.maps.back().name;
    if (!bind) return step("KVM_SET_USER_MEMORY_REGION2", f);
    return step("KVM_SET_USER_MEMORY_REGION2",
                f + ", flags: [GUEST_MEMFD], guest_memfd: " + g.gmems.back().name + ", guest_memfd_offset: 0x0");
  }
  if (!maps.empty() && g.chance(85)) f += ", userspace_addr: " + g.pick(maps).name;
  std::vector<GenState::Gmem> gmems;
  for (const auto& m : g.gmems)
    if (m.size >= size || g.chance(15)) gmems.push_back(m);
  if (gmems.empty() || g.chance(30)) {
    const char* op = g.chance(50) ? "KVM_SET_USER_MEMORY_REGION" : "KVM_SET_USER_MEMORY_REGION2";
    return step(op, f);
  }
  const auto& gm = g.pick(gmems);
  const uint64_t offset = g.chance(80) ? 0 : g.offset(gm.size);
  return step("KVM_SET_USER_MEMORY_REGION2",
              f + ", flags: [GUEST_MEMFD], guest_memfd: " + gm.name + ", guest_memfd_offset: " + hex(offset));
}

std::string make_attributes(GenState& g) {
  if (g.vms.empty()) return "";
  return step("KVM_SET_MEMORY_ATTRIBUTES", Line() << "vm: " << some_vm(g) << ", address: "
                                                  << hex(g.gpa() & ~(kPage - 1)) << ", size: " << hex(g.length())
                                                  << ", attributes: " << g.attributes());
}

std::string make_attributes2(GenState& g) {
  if (g.gmems.empty()) return "";
  static const std::vector<std::string> kModes = {"[]", "[ZERO]", "[PRESERVE]"};
  const auto& f = g.pick(g.gmems);
  return step("KVM_SET_MEMORY_ATTRIBUTES2", Line() << "fd: " << f.name << ", offset: " << hex(g.offset(f.size))
                                                   << ", size: " << hex(g.length()) << ", attributes: "
                                                   << g.attributes() << ", flags: " << g.pick(kModes));
}

std::string make_fallocate(GenState& g) {
  if (g.gmems.empty()) return "";
  static const std::vector<std::string> kModes = {"[KEEP_SIZE, PUNCH_HOLE]", "[KEEP_SIZE, PUNCH_HOLE]", "[]",
                                                  "[KEEP_SIZE]"};
  const auto& f = g.pick(g.gmems);
  return step("fallocate", Line() << "fd: " << f.name << ", mode: " << g.pick(kModes) << ", offset: "
                                  << hex(g.offset(f.size)) << ", len: " << hex(g.length()));
}

std::string make_file_op(GenState& g) {
  if (g.gmems.empty()) return "";
  const auto& f = g.pick(g.gmems);
  switch (g.below(4)) {
    case 0: return step("read", "fd: " + f.name + ", offset: " + hex(g.offset(f.size)) + ", size: 16");
    case 1: return step("write", "fd: " + f.name + ", offset: " + hex(g.offset(f.size)) + ", data: abc");
    case 2: return step("ftruncate", "fd: " + f.name + ", size: " + hex(g.chance(50) ? f.size : 2 * f.size));
    default: return step("fstat", "fd: " + f.name);
  }
}

std::string make_pin(GenState& g) {
  if (g.maps.empty()) return "";
  const auto& m = g.pick(g.maps);
  const char* op = g.chance(60) ? "pin" : "unpin";
  return step(op, Line() << "map: " << m.name << ", offset: " << hex(g.offset(m.length) & ~(kPage - 1))
                         << ", length: " << hex((1 + g.below(4)) * kPage));
}

std::string make_fork(GenState& g) {
  const std::string name = g.new_name("p");
  g.procs.push_back(name);
  return step("fork", "name: " + name);
}

std::string make_host_access(GenState& g) {
  if (g.maps.empty()) return "";
  const auto& m = g.pick(g.maps);
  std::string f = "map: " + m.name + ", offset: " + hex(g.offset(m.length));
  if (!g.procs.empty() && g.chance(30)) f += ", process: " + g.pick(g.procs);
  switch (g.below(3)) {
    case 0: return step("load", f + (g.chance(50) ? ", size: 8" : ", length: " + hex(g.length())));
    case 1: return step("store", f + ", value: " + hex(g.next()));
    default:
      return step("memset", Line() << f << ", length: " << hex(g.length()) << ", byte: " << g.below(256));
  }
}

std::string make_munmap(GenState& g) {
  if (g.maps.empty()) return "";
  return step("munmap", "map: " + g.pick(g.maps).name);
}

std::string make_close(GenState& g) {
  if (!g.gmems.empty() && g.chance(70)) return step("close", "fd: " + g.pick(g.gmems).name);
  if (g.vms.empty()) return "";
  return step("close", "vm: " + some_vm(g));
}

std::string make_vcpu(GenState& g) {
  if (g.vms.empty()) return "";
  const std::string& vm = some_vm(g);
  unsigned id = 0;
  for (const auto& c : g.vcpus) id += c.vm == vm;
  g.vcpus.push_back({vm, id});
  const std::string program = g.new_program();
  return step("KVM_CREATE_VCPU", "vm: " + vm + ", id: " + std::to_string(id) + ", program: " + program);
}

std::string make_run(GenState& g) {
  if (g.vcpus.empty()) return "";
  static const std::vector<std::string> kAuto = {
      "", "", "[KVM_EXIT_HYPERCALL]", "[KVM_EXIT_MEMORY_FAULT]", "[KVM_EXIT_MEMORY_FAULT, KVM_EXIT_HYPERCALL]"};
  const auto& c = g.pick(g.vcpus);
  std::string f = "vm: " + c.vm + ", vcpu: " + std::to_string(c.id);
  const std::string& a = g.pick(kAuto);
  if (!a.empty()) f += ", auto: " + a;
  if (g.chance(20)) f += ", hypercall_ret: " + std::to_string(g.below(2));
  return step("KVM_RUN", f);
}

// Looking: must never change what is simulated.
std::string make_inspect(GenState& g) {
  if (!g.gmems.empty() && g.chance(40)) {
    const auto& f = g.pick(g.gmems);
    return step("inspect", "fd: " + f.name + ", offset: " + hex(g.offset(f.size) & ~(kPage - 1)));
  }
  if (g.vms.empty()) return "";
  return step("inspect", Line() << "vm: " << some_vm(g) << (g.chance(80) ? ", gpa: " + hex(g.gpa()) : ""));
}

// The untrusted host kernel touching a frame, and a bus probe reading DRAM.
std::string make_host_kernel(GenState& g) {
  std::string frame;
  if (!g.gmems.empty() && g.chance(60)) {
    const auto& f = g.pick(g.gmems);
    frame = "fd: " + f.name + ", offset: " + hex(g.offset(f.size) & ~(kPage - 1));
  } else if (!g.maps.empty()) {
    const auto& m = g.pick(g.maps);
    frame = "map: " + m.name + ", offset: " + hex(g.offset(m.length) & ~(kPage - 1));
  } else {
    return "";
  }
  switch (g.below(3)) {
    case 0: return step("host_kernel", "op: load, " + frame);
    case 1: return step("host_kernel", "op: store, value: " + hex(g.next()) + ", " + frame);
    default: return step("dram_read", frame + ", length: 64");
  }
}

}  // namespace

const std::vector<StepKind>& step_kinds() {
  static const std::vector<StepKind> kinds = {
      {"KVM_CREATE_VM", 1, {}, make_vm},
      {"KVM_CREATE_GUEST_MEMFD", 6, {}, make_gmem},
      {"mmap", 6, {}, make_mmap},
      {"KVM_SET_USER_MEMORY_REGION", 8, {}, make_memslot},
      {"KVM_SET_MEMORY_ATTRIBUTES", 6, {}, make_attributes},
      {"KVM_SET_MEMORY_ATTRIBUTES2", 6, {}, make_attributes2},
      {"fallocate", 4, {}, make_fallocate},
      {"read/write/ftruncate/fstat", 2, {}, make_file_op},
      {"pin/unpin", 4, {}, make_pin},
      {"fork", 1, {}, make_fork},
      {"load/store/memset", 6, {}, make_host_access},
      {"munmap", 2, {}, make_munmap},
      {"close", 2, {}, make_close},
      {"KVM_CREATE_VCPU", 3, {}, make_vcpu},
      {"KVM_RUN", 14, {}, make_run},
      {"inspect", 3, {}, make_inspect},
      {"host_kernel/dram_read", 2, {}, make_host_kernel},
  };
  return kinds;
}

GeneratedScenario generate_scenario(uint64_t seed, const std::string& arch) {
  GenState g(seed, arch);
  GeneratedScenario s;
  s.seed = seed;
  s.arch = arch;
  s.thp = g.chance(25);
  std::vector<const StepKind*> kinds;
  unsigned total = 0;
  for (const auto& k : step_kinds()) {
    if (!k.arches.empty() && std::find(k.arches.begin(), k.arches.end(), arch) == k.arches.end()) continue;
    kinds.push_back(&k);
    total += k.weight;
  }
  s.steps.push_back(make_vm(g));
  // Mostly a working start, as a VMM would make it: a file, memory, slot 0
  // binding both, a vCPU; what follows then reaches memory instead of MMIO.
  if (g.chance(80)) {
    s.steps.push_back(make_gmem(g));
    s.steps.push_back(make_mmap(g));
    // Attributes and file state set before the slot exists, too.
    for (unsigned i = g.chance(50) ? 1 + g.below(3) : 0; i > 0; --i) {
      switch (g.below(4)) {
        case 0: s.steps.push_back(make_attributes(g)); break;
        case 1: s.steps.push_back(make_attributes2(g)); break;
        case 2: s.steps.push_back(make_fallocate(g)); break;
        default: s.steps.push_back(make_pin(g)); break;
      }
    }
    g.first_slot = true;
    s.steps.push_back(make_memslot(g));
    s.steps.push_back(make_vcpu(g));
  }
  const unsigned n = 8 + g.below(40);
  while (s.steps.size() < n) {
    uint64_t r = g.below(total);
    const StepKind* k = kinds.front();
    for (const StepKind* c : kinds) {
      if (r < c->weight) {
        k = c;
        break;
      }
      r -= c->weight;
    }
    std::string line = k->make(g);
    if (!line.empty()) s.steps.push_back(std::move(line));
  }
  s.programs = std::move(g.programs);
  return s;
}

std::string GeneratedScenario::yaml() const {
  std::ostringstream o;
  o << "# cocosim_oracle --seed " << seed << " --arch " << arch << "\n"
    << "name: oracle seed " << seed << "\n"
    << "platform: {arch: " << arch << (thp ? ", thp: true" : "") << "}\n";
  if (!programs.empty()) {
    o << "programs:\n";
    for (const auto& [name, ops] : programs) {
      o << "  " << name << ":" << (ops.empty() ? " []" : "") << "\n";
      for (const auto& op : ops) o << "    - " << op << "\n";
    }
  }
  o << "steps:" << (steps.empty() ? " []" : "") << "\n";
  for (const auto& s : steps) o << "  - " << s << "\n";
  return o.str();
}

}  // namespace cocosim::oracle
