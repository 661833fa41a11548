// The scripted executor: runs a scenario's guest program (scenario-format §4)
// op by op. Multi-page ops and sweeps keep their progress across exits, so a
// run that leaves to the host resumes exactly where it stopped.
#pragma once
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "result.h"
#include "scenario/scenario.h"

namespace cocosim {

class ScriptedExecutor : public Executor {
 public:
  ScriptedExecutor(const std::vector<GuestOp>& program, std::string program_name);
  void run(GuestEnv& env) override;

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
