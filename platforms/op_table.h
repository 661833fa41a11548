// The runner's dispatch table: each operation of the scenario schema
// (scenario/schema.h) that is not refused maps to the one handler that runs
// it, with what the operation costs and how it fails when DRAM runs out.
#pragma once
#include <string>
#include <vector>

#include "inspection.h"
#include "result.h"
#include "scenario/scenario.h"
#include "vmm.h"

namespace cocosim {

// What a handler may use.
struct OpContext {
  Vmm& vmm;
  Inspection& inspection;
};

struct OpHandler {
  const char* op;  // the schema's name for it
  Result (*run)(OpContext& c, const Step& s);
  // A system call or ioctl: charged platform.timing.ioctl before it runs.
  bool syscall = false;
  // Out of simulated DRAM: the signal the access takes, or else the errno.
  int oom_signal = 0;
  int oom_errno = 0;
};

const std::vector<OpHandler>& op_handlers();
// nullptr: the schema refuses the operation before a run starts.
const OpHandler* op_handler(const std::string& op);

}  // namespace cocosim
