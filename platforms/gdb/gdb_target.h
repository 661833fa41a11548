// What the gdb server needs from the thing it debugs. The platform
// implements it for scripted guests (ScenarioGdbTarget); an executor of real
// guest code implements the same calls with real registers and guest PCs, and
// the server does not change.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gdb/target_description.h"

namespace cocosim::gdb {

// One thread per vCPU; ids start at 1 (0 and -1 mean "any" and "all" in the protocol).
struct ThreadInfo {
  int id = 0;
  std::string name;  // qThreadExtraInfo, e.g. "vm0 vcpu0 (program guest)"
};

// How gdb resumes the target.
enum class ResumeKind {
  Continue,      // `c`: run until a breakpoint, an interrupt or the end
  Step,          // `s`: one instruction (one program op) of `thread`, then stop
  ScenarioStep,  // `monitor step`: the next scenario step, then stop
  Kill,          // `k`: end the run
  Detach,        // `D` (or the connection is gone): run on without gdb
};

struct Resume {
  ResumeKind kind = ResumeKind::Continue;
  int thread = 0;  // the thread `s` steps (0: the one that stopped)
};

// Why the target is stopped (the stop reply `T05thread:N;` and its reason).
struct StopEvent {
  enum class Reason { Attach, Breakpoint, Step, Interrupt, ScenarioStep };
  Reason reason = Reason::Attach;
  int thread = 0;  // 0: no vCPU runs a guest now (stopped between scenario steps)
  std::string where;  // for people: "before step 3 (KVM_RUN)", "op 2 of program guest"
};

// A memory access that cannot be done: `code` is the errno of the `E..` reply.
struct MemoryError {
  int code;
  std::string why;
};

struct MonitorReply {
  bool known = true;    // false: an unknown command (gdb prints our text as the error)
  std::string output;   // printed by gdb
  bool resumes = false; // the command runs the target (`monitor step`): the reply waits for the stop
};

class GdbTarget {
 public:
  virtual ~GdbTarget() = default;
  virtual const TargetDescription& description() const = 0;
  virtual std::vector<ThreadInfo> threads() const = 0;
  // Register `regnum` of `thread`, little-endian, bits/8 bytes (0: the
  // current thread, or none). nullopt: no such register.
  virtual std::optional<std::vector<uint8_t>> read_register(int thread, unsigned regnum) = 0;
  // False with `why` when the register cannot be written.
  virtual bool write_register(int thread, unsigned regnum, const std::vector<uint8_t>& value,
                              std::string* why) = 0;
  // Memory as `thread`'s guest sees it (guest-physical, through its stage 2).
  virtual std::optional<MemoryError> read_memory(int thread, uint64_t addr, uint8_t* out, size_t len) = 0;
  virtual std::optional<MemoryError> write_memory(int thread, uint64_t addr, const uint8_t* data,
                                                  size_t len) = 0;
  // Software breakpoints at a guest PC (Z0/z0); false: refused.
  virtual bool insert_breakpoint(uint64_t pc) = 0;
  virtual bool remove_breakpoint(uint64_t pc) = 0;
  // `monitor ...` (qRcmd), with gdb's current thread.
  virtual MonitorReply monitor(int thread, const std::string& command) = 0;
  // gdb resumes the target; the server returns to the simulation right after.
  virtual void resume(const Resume& how) = 0;
};

}  // namespace cocosim::gdb
