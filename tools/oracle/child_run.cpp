#include "child_run.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <regex>
#include <stdexcept>

namespace cocosim::oracle {

namespace {

// At most this many children at once: the machine is shared (2 cores).
constexpr size_t kParallel = 2;

struct Child {
  size_t index;
  pid_t pid;
  int fd;
  std::chrono::steady_clock::time_point start;
  bool killed = false;
  std::string out;
};

Child spawn(size_t index, const std::vector<std::string>& argv) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(p[1], STDOUT_FILENO);
    dup2(p[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(p[1]);
  return {index, pid, p[0], std::chrono::steady_clock::now()};
}

RunOutcome classify(const Child& c, int status, double seconds) {
  RunOutcome o;
  o.output = c.out;
  o.seconds = seconds;
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  else o.exit_code = WEXITSTATUS(status);
  static const std::regex kViolation(R"(invariant violated after step [^)]*\): ([A-Za-z0-9_-]+):)");
  std::smatch m;
  if (c.killed) o.kind = RunOutcome::Kind::Hang;
  else if (o.signal) o.kind = RunOutcome::Kind::Crash;
  else if (o.output.find("internal error") != std::string::npos) o.kind = RunOutcome::Kind::Crash;
  else if (o.exit_code == 0) o.kind = RunOutcome::Kind::Clean;
  else if (o.exit_code == 1 && std::regex_search(o.output, m, kViolation)) {
    o.kind = RunOutcome::Kind::Violation;
    o.rule = m[1];
  } else if (o.exit_code == 1) o.kind = RunOutcome::Kind::Failed;
  else if (o.exit_code == 2) o.kind = RunOutcome::Kind::Invalid;
  // 3: a run limit (--max-steps, --max-sim-time, --timeout) stopped it.
  else if (o.exit_code == 3) o.kind = RunOutcome::Kind::Runaway;
  else o.kind = RunOutcome::Kind::Crash;
  return o;
}

}  // namespace

const char* kind_name(RunOutcome::Kind k) {
  switch (k) {
    case RunOutcome::Kind::Clean: return "clean";
    case RunOutcome::Kind::Violation: return "violation";
    case RunOutcome::Kind::Failed: return "failed";
    case RunOutcome::Kind::Invalid: return "invalid";
    case RunOutcome::Kind::Crash: return "crash";
    case RunOutcome::Kind::Hang: return "hang";
    case RunOutcome::Kind::Runaway: return "runaway";
  }
  return "?";
}

std::string RunOutcome::describe() const {
  std::string d = kind_name(kind);
  if (kind == Kind::Violation) d += " " + rule;
  if (kind == Kind::Crash || kind == Kind::Invalid)
    d += signal ? ": signal " + std::to_string(signal) + " (" + strsignal(signal) + ")"
                : ": exit " + std::to_string(exit_code);
  return d;
}

std::vector<RunOutcome> run_children(const std::vector<std::vector<std::string>>& argvs, double timeout_s) {
  std::vector<RunOutcome> outcomes(argvs.size());
  std::vector<Child> running;
  size_t next = 0;
  while (next < argvs.size() || !running.empty()) {
    while (next < argvs.size() && running.size() < kParallel) {
      running.push_back(spawn(next, argvs[next]));
      ++next;
    }
    std::vector<pollfd> fds;
    for (const auto& c : running) fds.push_back({c.fd, POLLIN, 0});
    poll(fds.data(), fds.size(), 100);
    for (size_t i = 0; i < running.size();) {
      Child& c = running[i];
      bool eof = false;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[4096];
        const ssize_t n = read(c.fd, buf, sizeof buf);
        if (n > 0) c.out.append(buf, size_t(n));
        else if (n == 0 || errno != EINTR) eof = true;
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - c.start).count();
      if (!eof && !c.killed && seconds > timeout_s) {
        kill(c.pid, SIGKILL);
        c.killed = true;
      }
      if (!eof) {
        ++i;
        continue;
      }
      close(c.fd);
      int status = 0;
      while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
      }
      outcomes[c.index] = classify(c, status, seconds);
      running.erase(running.begin() + i);
      fds.erase(fds.begin() + i);
    }
  }
  return outcomes;
}

}  // namespace cocosim::oracle
