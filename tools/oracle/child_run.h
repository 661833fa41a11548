// Runs `cocosim run` in child processes (at most two at a time) and says what
// became of each run: the oracle trusts nothing the child reports about
// itself beyond its exit status and its output.
#pragma once
#include <string>
#include <vector>

namespace cocosim::oracle {

struct RunOutcome {
  enum class Kind {
    Clean,      // exit 0
    Violation,  // exit 1, the invariant checker reported a violation
    Failed,     // exit 1 without a violation: an expectation failed although all are `any`
    Invalid,    // exit 2: the generator wrote a file the validator refuses
    Crash,      // a signal, an internal error, or an exit status cocosim does not document
    Hang,       // still running at the timeout (killed)
    Runaway,    // finished, but spent more simulated time than any generated scenario needs
  };
  Kind kind = Kind::Clean;
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string rule;    // the first violated invariant (Violation)
  std::string output;  // stdout and stderr, interleaved
  double seconds = 0;
  double simulated_ns = -1;  // from the stats file; -1 when there is none
  std::string describe() const;  // e.g. "violation s2-private", "crash: signal 11"
};

const char* kind_name(RunOutcome::Kind k);

// Runs every argv (argv[0] is the program), two at a time, each killed after
// timeout_s of wall time; outcomes in argv order.
std::vector<RunOutcome> run_children(const std::vector<std::vector<std::string>>& argvs, double timeout_s);

}  // namespace cocosim::oracle
