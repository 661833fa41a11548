#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "dram/sparse_memory.h"
#include "scenario/scenario.h"
#include "scripted_executor.h"

using namespace cocosim;

namespace {

struct Access {
  Addr gpa;
  size_t len;
  bool write;
  bool shared;
  std::vector<uint8_t> data;
};

struct Conversion {
  Addr gpa;
  uint64_t size;
  bool to_private;
};

// Records what the guest does. Accesses are numbered from 1 in the order they
// are attempted; listed attempts leave to the host (Exit) or take a fault
// instead of happening.
class FakeEnv : public GuestEnv {
 public:
  Outcome access(Addr gpa, void* data, size_t len, bool write, bool shared) override {
    ++attempts;
    if (exit_at.count(attempts)) return Outcome::Exit;
    if (fault_at.count(attempts)) return Outcome::Fault;
    auto* p = static_cast<uint8_t*>(data);
    if (write)
      mem.write(gpa, p, len);
    else
      mem.read(gpa, p, len);
    done_accesses.push_back({gpa, len, write, shared, std::vector<uint8_t>(p, p + len)});
    return Outcome::Ok;
  }
  Outcome convert(Addr gpa, uint64_t size, bool to_private, uint64_t, uint64_t* ret) override {
    conversions.push_back({gpa, size, to_private});
    *ret = convert_ret;
    return Outcome::Ok;
  }
  Outcome tdcall(const TdcallRegs& in, TdcallOut* out) override {
    tdcalls.push_back(in.leaf);
    out->status = 0;
    return Outcome::Ok;
  }
  std::string fault_name() const override { return "VE"; }
  void ucall_sync(const std::string& tag) override { syncs.push_back(tag); }
  void ucall_done() override { ++dones; }
  void ucall_abort(const std::string& message) override { aborts.push_back(message); }
  void consume_ns(double) override {}

  SparseMemory mem{uint64_t{1} << 40};
  std::vector<uint64_t> tdcalls;
  uint64_t attempts = 0;
  std::set<uint64_t> exit_at, fault_at;
  uint64_t convert_ret = 0;
  std::vector<Access> done_accesses;
  std::vector<Conversion> conversions;
  std::vector<std::string> syncs;
  int dones = 0;
  std::vector<std::string> aborts;

  bool finished() const { return dones > 0 || !aborts.empty(); }
};

// The guest program `p` of a small scenario whose program body is `ops` (each
// line indented by four spaces). The first op is on line 5 of the text.
std::vector<GuestOp> program(const std::string& ops) {
  const std::string text = "platform: {arch: x86-tdx}\nsteps: []\nprograms:\n  p:\n" + ops;
  LoadResult r = load_scenario_text("prog.yaml", text, std::nullopt);
  for (const auto& e : r.errors) MESSAGE(e.str());
  REQUIRE(r.errors.empty());
  REQUIRE(r.scenario);
  return r.scenario->programs.at("p");
}

// Runs until the program ends or aborts, re-entering after every exit.
int run_to_end(ScriptedExecutor& x, FakeEnv& env, int max_entries = 1000) {
  int entries = 0;
  while (!env.finished() && entries < max_entries) {
    x.run(env);
    ++entries;
  }
  return entries;
}

uint64_t le(const std::vector<uint8_t>& b) {
  uint64_t v = 0;
  std::memcpy(&v, b.data(), std::min<size_t>(b.size(), 8));
  return v;
}

}  // namespace

TEST_CASE("ScriptedExecutor: store then load of the same GPA reads the value back") {
  auto prog = program(
      "    - store: {gpa: 0x1000, value: 0xbeef}\n"
      "    - load: {gpa: 0x1000, expect: {value: 0xbeef}}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  CHECK(env.dones == 1);
  CHECK(env.aborts.empty());
  REQUIRE(env.done_accesses.size() == 2);
  CHECK(env.done_accesses[0].write);
  CHECK(env.done_accesses[0].gpa == 0x1000);
  CHECK(env.done_accesses[0].len == 8);
  CHECK(le(env.done_accesses[0].data) == 0xbeef);
  CHECK_FALSE(env.done_accesses[1].write);
  CHECK(x.ops_completed() == 2);
  CHECK(x.expectations_passed() == 1);
  CHECK(x.expectations_failed() == 0);
}

TEST_CASE("ScriptedExecutor: size and shared reach the access") {
  auto prog = program(
      "    - store: {gpa: 0x2002, value: 0x1234, size: 2, shared: true}\n"
      "    - load: {gpa: 0x2000, size: 4, expect: {value: 0x12340000}}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  CHECK(env.aborts.empty());
  REQUIRE(env.done_accesses.size() == 2);
  CHECK(env.done_accesses[0].len == 2);
  CHECK(env.done_accesses[0].shared);
  CHECK(env.done_accesses[1].len == 4);
  CHECK_FALSE(env.done_accesses[1].shared);
}

TEST_CASE("ScriptedExecutor: memset is split at page boundaries") {
  auto prog = program(
      "    - memset: {gpa: 0x1800, length: 0x2000, byte: 0x5a}\n"
      "    - load: {gpa: 0x1800, length: 0x2000, expect: {all: 0x5a}}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  CHECK(env.aborts.empty());
  CHECK(env.dones == 1);
  REQUIRE(env.done_accesses.size() == 6);
  const Addr want_gpa[] = {0x1800, 0x2000, 0x3000};
  const size_t want_len[] = {0x800, 0x1000, 0x800};
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(env.done_accesses[i].write);
    CHECK(env.done_accesses[i].gpa == want_gpa[i]);
    CHECK(env.done_accesses[i].len == want_len[i]);
    CHECK(env.done_accesses[i].data == std::vector<uint8_t>(want_len[i], 0x5a));
    CHECK_FALSE(env.done_accesses[3 + i].write);
    CHECK(env.done_accesses[3 + i].gpa == want_gpa[i]);
  }
}

TEST_CASE("ScriptedExecutor: a memset interrupted by exits resumes where it stopped") {
  auto prog = program("    - memset: {gpa: 0x10000, length: 0x5000, byte: 0x11}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  env.exit_at = {2, 3, 5};
  x.run(env);  // page 0 done, page 1 exits
  CHECK(env.done_accesses.size() == 1);
  CHECK(env.dones == 0);
  const int entries = run_to_end(x, env);
  CHECK(entries == 3);
  CHECK(env.dones == 1);
  CHECK(env.aborts.empty());
  REQUIRE(env.done_accesses.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(env.done_accesses[i].gpa == 0x10000 + i * kPageSize);
    CHECK(env.done_accesses[i].len == kPageSize);
  }
  CHECK(env.attempts == 8);  // five pages, three of them tried twice
  CHECK(x.ops_completed() == 1);
}

TEST_CASE("ScriptedExecutor: a multi-page load interrupted by an exit returns every byte") {
  auto prog = program(
      "    - memset: {gpa: 0x20000, length: 0x3000, byte: 0x77}\n"
      "    - load: {gpa: 0x20000, length: 0x3000, expect: {all: 0x77}}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  env.exit_at = {5};  // the second page of the load
  run_to_end(x, env);
  CHECK(env.aborts.empty());
  CHECK(x.expectations_passed() == 1);
  CHECK(env.done_accesses.size() == 6);
}

TEST_CASE("ScriptedExecutor: a sweep walks count accesses with the stride, wrapping in the range") {
  auto prog = program("    - sweep: {gpa: 0x40000, length: 0x100, op: store, size: 8, count: 64}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  CHECK(env.dones == 1);
  REQUIRE(env.done_accesses.size() == 64);
  for (uint64_t i = 0; i < 64; ++i) {
    CAPTURE(i);
    CHECK(env.done_accesses[i].gpa == 0x40000 + (i * 8) % 0x100);
    CHECK(env.done_accesses[i].write);
    CHECK(le(env.done_accesses[i].data) == i);
  }
}

TEST_CASE("ScriptedExecutor: a sweep interrupted by exits neither repeats nor skips an access") {
  auto prog = program("    - sweep: {gpa: 0x40000, length: 0x1000, op: store, size: 4, stride: 0x40, count: 100}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  env.exit_at = {1, 10, 11, 50, 100};
  run_to_end(x, env);
  CHECK(env.dones == 1);
  REQUIRE(env.done_accesses.size() == 100);
  for (uint64_t i = 0; i < 100; ++i) {
    CAPTURE(i);
    CHECK(env.done_accesses[i].gpa == 0x40000 + (i * 0x40) % 0x1000);
    CHECK(env.done_accesses[i].len == 4);
    CHECK(le(env.done_accesses[i].data) == i);
  }
  CHECK(env.attempts == 105);
}

TEST_CASE("ScriptedExecutor: a sweep's count defaults to length / stride and loads by default") {
  auto prog = program("    - sweep: {gpa: 0x8000, length: 0x100, size: 8}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  REQUIRE(env.done_accesses.size() == 32);
  CHECK_FALSE(env.done_accesses[0].write);
  CHECK(env.done_accesses[31].gpa == 0x8000 + 31 * 8);
}

TEST_CASE("ScriptedExecutor: share and unshare request conversions in the right direction") {
  auto prog = program(
      "    - share: {gpa: 0x3000}\n"
      "    - unshare: {gpa: 0x4000, size: 0x2000}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  CHECK(env.aborts.empty());
  REQUIRE(env.conversions.size() == 2);
  CHECK(env.conversions[0].gpa == 0x3000);
  CHECK(env.conversions[0].size == kPageSize);
  CHECK_FALSE(env.conversions[0].to_private);
  CHECK(env.conversions[1].gpa == 0x4000);
  CHECK(env.conversions[1].size == 0x2000);
  CHECK(env.conversions[1].to_private);
}

TEST_CASE("ScriptedExecutor: a failed hypercall aborts without expect and is checked with expect") {
  {
    auto prog = program("    - share: {gpa: 0x3000}\n");
    ScriptedExecutor x(prog, "p");
    FakeEnv env;
    env.convert_ret = 5;
    x.run(env);
    REQUIRE(env.aborts.size() == 1);
    CHECK(env.aborts[0].find("share") != std::string::npos);
    CHECK(env.aborts[0].find("ret=5") != std::string::npos);
  }
  {
    auto prog = program("    - share: {gpa: 0x3000, expect: {ret: 5}}\n");
    ScriptedExecutor x(prog, "p");
    FakeEnv env;
    env.convert_ret = 5;
    x.run(env);
    CHECK(env.aborts.empty());
    CHECK(env.dones == 1);
  }
}

TEST_CASE("ScriptedExecutor: sync leaves with its tag and the next run continues after it") {
  auto prog = program(
      "    - store: {gpa: 0x1000, value: 1}\n"
      "    - sync: {tag: half}\n"
      "    - store: {gpa: 0x1000, value: 2}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  CHECK(env.syncs == std::vector<std::string>{"half"});
  CHECK(env.done_accesses.size() == 1);
  CHECK(env.dones == 0);
  x.run(env);
  CHECK(env.syncs.size() == 1);
  CHECK(env.done_accesses.size() == 2);
  CHECK(env.dones == 1);
}

TEST_CASE("ScriptedExecutor: repeat runs its body count times, nested repeats multiply") {
  auto prog = program(
      "    - repeat:\n"
      "        count: 2\n"
      "        body:\n"
      "          - store: {gpa: 0x1000, value: 1}\n"
      "          - repeat: {count: 3, body: [{store: {gpa: 0x2000, value: 2}}]}\n"
      "    - repeat: {count: 0, body: [{store: {gpa: 0x3000, value: 3}}]}\n"
      "    - store: {gpa: 0x4000, value: 4}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  CHECK(env.dones == 1);
  std::vector<Addr> gpas;
  for (const auto& a : env.done_accesses) gpas.push_back(a.gpa);
  CHECK(gpas == std::vector<Addr>{0x1000, 0x2000, 0x2000, 0x2000, 0x1000, 0x2000, 0x2000, 0x2000, 0x4000});
}

TEST_CASE("ScriptedExecutor: a sync inside a repeat resumes inside the loop") {
  auto prog = program(
      "    - repeat:\n"
      "        count: 3\n"
      "        body:\n"
      "          - store: {gpa: 0x1000, value: 1}\n"
      "          - sync: {tag: tick}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  run_to_end(x, env);
  CHECK(env.syncs == std::vector<std::string>{"tick", "tick", "tick"});
  CHECK(env.done_accesses.size() == 3);
  CHECK(env.dones == 1);
}

TEST_CASE("ScriptedExecutor: a failed expectation aborts with the op and its line, and stays aborted") {
  auto prog = program(
      "    - store: {gpa: 0x1000, value: 1}\n"
      "    - load: {gpa: 0x1000, expect: {value: 2}}\n"
      "    - store: {gpa: 0x2000, value: 3}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  REQUIRE(env.aborts.size() == 1);
  const std::string& m = env.aborts[0];
  CHECK(m.find("load") != std::string::npos);
  CHECK(m.find("line 6") != std::string::npos);  // the load is on line 6 of the text
  CHECK(m.find("'p'") != std::string::npos);
  CHECK(m.find("value") != std::string::npos);
  CHECK(env.dones == 0);
  CHECK(x.expectations_failed() == 1);
  x.run(env);
  CHECK(env.aborts.size() == 2);
  CHECK(env.done_accesses.size() == 2);  // the last store never ran
}

TEST_CASE("ScriptedExecutor: an unexpected fault aborts but an expected one passes") {
  {
    auto prog = program("    - load: {gpa: 0x1000}\n");
    ScriptedExecutor x(prog, "p");
    FakeEnv env;
    env.fault_at = {1};
    x.run(env);
    REQUIRE(env.aborts.size() == 1);
    CHECK(env.aborts[0].find("unexpected fault VE") != std::string::npos);
    CHECK(env.aborts[0].find("line 5") != std::string::npos);
  }
  {
    auto prog = program("    - memset: {gpa: 0x1000, length: 0x2000, byte: 1, expect: {fault: VE}}\n");
    ScriptedExecutor x(prog, "p");
    FakeEnv env;
    env.fault_at = {2};
    x.run(env);
    CHECK(env.aborts.empty());
    CHECK(env.dones == 1);
    CHECK(x.expectations_passed() == 1);
  }
}

TEST_CASE("ScriptedExecutor: expect any accepts a fault") {
  auto prog = program("    - store: {gpa: 0x1000, value: 1, expect: any}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  env.fault_at = {1};
  x.run(env);
  CHECK(env.aborts.empty());
  CHECK(env.dones == 1);
}

TEST_CASE("ScriptedExecutor: the end of the program is UCALL_DONE, every time it is entered") {
  auto prog = program("    - store: {gpa: 0x1000, value: 1}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  CHECK(env.dones == 1);
  x.run(env);
  CHECK(env.dones == 2);
  CHECK(env.done_accesses.size() == 1);
}

TEST_CASE("ScriptedExecutor: an empty program is done at once") {
  auto prog = program("    []\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  x.run(env);
  CHECK(env.dones == 1);
  CHECK(env.attempts == 0);
}

TEST_CASE("ScriptedExecutor: a single load that exits is retried whole on re-entry") {
  auto prog = program(
      "    - store: {gpa: 0x1000, value: 0x55}\n"
      "    - load: {gpa: 0x1000, expect: {value: 0x55}}\n");
  ScriptedExecutor x(prog, "p");
  FakeEnv env;
  env.exit_at = {2};
  x.run(env);
  CHECK(env.dones == 0);
  x.run(env);
  CHECK(env.dones == 1);
  CHECK(env.aborts.empty());
  CHECK(env.done_accesses.size() == 2);
  CHECK(x.ops_completed() == 2);
}

namespace {
// Records every op the executor announces, with its pc.
struct PcRecorder : OpObserver {
  std::vector<uint64_t> pcs;
  int gone = 0;
  void vcpu_created(ScriptedExecutor&, int, int) override {}
  void before_op(ScriptedExecutor& x, uint64_t pc) override {
    CHECK(x.pc() == pc);
    pcs.push_back(pc);
  }
  void executor_gone(ScriptedExecutor&) override { ++gone; }
};
}  // namespace

TEST_CASE("ScriptedExecutor: the pc counts ops in document order, each announced once per run of it") {
  auto prog = program(
      "    - store: {gpa: 0x1000, value: 1}\n"       // 0
      "    - repeat:\n"                              // 1
      "        count: 2\n"
      "        body:\n"
      "          - load: {gpa: 0x1000}\n"            // 2
      "          - sync: {tag: t}\n"                 // 3
      "    - load: {gpa: 0x2000}\n");                // 4
  PcRecorder rec;
  {
    ScriptedExecutor x(prog, "p");
    x.set_observer(&rec);
    CHECK(x.pc() == 0);
    FakeEnv env;
    env.exit_at = {2};  // the first load leaves to the host once: re-entry resumes it, unannounced
    run_to_end(x, env);
    CHECK(env.dones == 1);
    CHECK(x.pc() == 5);  // done: one past the last op
  }
  CHECK(rec.pcs == std::vector<uint64_t>{0, 1, 2, 3, 2, 3, 4});
  CHECK(rec.gone == 1);
}

TEST_CASE("ScriptedExecutor: a tdcall's outputs and an hvc's x0 stay in its registers for a debugger") {
  struct RegEnv : FakeEnv {
    Outcome tdcall(const TdcallRegs& in, TdcallOut* out) override {
      out->status = 0xb0a00000001;
      out->rcx = 1, out->rdx = 2, out->r8 = 3, out->r9 = 4, out->r10 = 5, out->r11 = 6;
      return Outcome::Ok;
    }
  };
  auto prog = program(
      "    - tdcall: {leaf: TDG.MEM.PAGE.ACCEPT, gpa: 0x1000, expect: {status: \"TDX_PAGE_ALREADY_ACCEPTED|RCX\"}}\n"
      "    - store: {gpa: 0x1000, value: 1}\n");
  ScriptedExecutor x(prog, "p");
  CHECK(x.registers().empty());
  RegEnv env;
  x.run(env);
  CHECK(env.aborts.empty());
  const std::map<std::string, uint64_t> want = {{"rax", 0xb0a00000001}, {"rcx", 1}, {"rdx", 2},
                                                {"r8", 3}, {"r9", 4}, {"r10", 5}, {"r11", 6}};
  CHECK(x.registers() == want);  // the store after it changed none

  // arm64: an HVC's result in x0 (FakeEnv answers NOT_SUPPORTED, -1).
  LoadResult r = load_scenario_text(
      "hvc.yaml",
      "platform: {arch: arm64-pkvm}\nsteps: []\nprograms:\n  p:\n"
      "    - hvc: {call: FEATURES, expect: {ret: 0xffffffffffffffff}}\n",
      std::nullopt);
  REQUIRE(r.scenario);
  ScriptedExecutor y(r.scenario->programs.at("p"), "p");
  FakeEnv env2;
  y.run(env2);
  CHECK(env2.aborts.empty());
  CHECK(y.registers() == std::map<std::string, uint64_t>{{"x0", ~uint64_t{0}}});
}
