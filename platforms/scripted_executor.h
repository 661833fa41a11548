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

  uint64_t ops_completed() const { return completed_; }
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

  std::string name_;
  std::vector<Frame> stack_;
  uint64_t progress_ = 0;        // bytes or iterations of the current op already done
  std::vector<uint8_t> buffer_;  // data of the current load
  bool aborted_ = false;
  std::string abort_message_;
  uint64_t completed_ = 0, passed_ = 0, failed_ = 0;
};

}  // namespace cocosim
