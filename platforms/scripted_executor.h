// The scripted executor: runs a scenario's guest program (scenario-format §4)
// op by op. Multi-page ops and sweeps keep their progress across exits, so a
// run that leaves to the host resumes exactly where it stopped.
#pragma once
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/executor.h"
#include "result.h"
#include "scenario/scenario.h"

namespace cocosim {

class ScriptedExecutor;
class IsaExecutor;

// Told before each op runs (the gdb server's breakpoints and single steps),
// and when the executor goes (its vCPU closed). It may block: the guest waits.
class OpObserver {
 public:
  virtual ~OpObserver() = default;
  virtual void vcpu_created(ScriptedExecutor& exec, int vm, int vcpu) = 0;
  virtual void before_op(ScriptedExecutor& exec, uint64_t pc) = 0;
  virtual void executor_gone(ScriptedExecutor& exec) = 0;
  // A vCPU that runs an ELF program (real guest code) was created.
  virtual void isa_vcpu_created(IsaExecutor& exec, int vm, int vcpu, const std::string& program) {}
};

class ScriptedExecutor : public Executor {
 public:
  ScriptedExecutor(const std::vector<GuestOp>& program, std::string program_name);
  ~ScriptedExecutor() override;
  void run(GuestEnv& env) override;

  // The program counter of a scripted guest: the index of the op that runs
  // next, counting every op of the program in document order, a `repeat`
  // and then its body (the first op is 0; the op count when the program is done).
  uint64_t pc() const;
  const std::string& program_name() const { return name_; }
  // The registers an op sets as its instruction would, by gdb's name: a
  // tdcall's or tdvmcall's outputs (rax the status, rcx, rdx, r8 to r11), an
  // hvc's x0. They keep their values until another op sets them.
  const std::map<std::string, uint64_t>& registers() const { return regs_; }
  void set_observer(OpObserver* o) { observer_ = o; }

  // The GPA bit a `tdvmcall` with `shared: true` sets (the TD's shared bit).
  void set_shared_bit(uint64_t bit) { shared_bit_hint_ = bit; }
  uint64_t ops_completed() const { return completed_; }
  // Where the op it runs is traced (its vCPU module's path), and the counter
  // of ops it completes (the vCPU module's guest_ops).
  void observe(std::string trace_scope, uint64_t* ops_counter) {
    scope_ = std::move(trace_scope);
    ops_counter_ = ops_counter;
  }
  uint64_t expectations_passed() const { return passed_; }
  uint64_t expectations_failed() const { return failed_; }

 private:
  struct Frame {
    const std::vector<GuestOp>* ops;
    size_t pc;
    uint64_t iteration;
    uint64_t count;
  };
  // Ok: done (result filled); Exit: leave now, resume this op later.
  Outcome execute(const GuestOp& op, GuestEnv& env, Result& r);
  Outcome chunked(const GuestOp& op, GuestEnv& env, uint64_t gpa, uint64_t len, bool write,
                  bool shared, uint8_t fill, Result& r);
  std::string describe(const GuestOp& op) const;
  Outcome td_call(const GuestOp& op, GuestEnv& env, Result& r);
  static std::string hex_digits(uint64_t v) {
    static const char* kHex = "0123456789abcdef";
    std::string s;
    do s.insert(s.begin(), kHex[v & 15]); while (v >>= 4);
    return s;
  }

  std::string name_;
  std::unordered_map<const GuestOp*, uint64_t> index_;  // each op's pc
  uint64_t op_count_ = 0;
  OpObserver* observer_ = nullptr;
  bool observed_ = false;
  std::map<std::string, uint64_t> regs_;  // the observer saw the current op (it may resume after an exit)
  std::vector<Frame> stack_;
  uint64_t progress_ = 0;        // bytes or iterations of the current op already done
  std::vector<uint8_t> buffer_;  // data of the current load
  bool aborted_ = false;
  std::string abort_message_;
  uint64_t completed_ = 0, passed_ = 0, failed_ = 0;
  uint64_t shared_bit_hint_ = uint64_t{1} << 47;
  std::string scope_ = "guest";
  uint64_t* ops_counter_ = nullptr;
  // A number for each op name, the same in every program (the VCD's `op` signal).
  static unsigned op_code(const std::string& op);
};

}  // namespace cocosim
