#include "sweep/sweep_command.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "output_file.h"
#include "scenario/int_expr.h"
#include "scenario/scenario.h"
#include "stats_json.h"
#include "sweep/sweep_plan.h"
#include "sweep/sweep_results.h"

namespace cocosim {

namespace {

using Clock = std::chrono::steady_clock;

// SIGINT/SIGTERM/SIGHUP to the sweep: start no new point, let the running
// ones end (the terminal's ^C reaches them too: they stop and write their
// stats), assemble what there is, exit 128+N.
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }
void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

const char* kSweepUsage =
    "usage: cocosim sweep FILE --param KEY=V1,V2,... [--param ...] [--arch A[,B]] [--repeat N]\n"
    "                    [-j N] [--out DIR] [--zip] [--plot METRIC[,METRIC]]\n"
    "                    [--timeout T] [--check step|end|off]\n"
    "                    [--slurm [--partition P] [--time T] [--chunk N] [--no-wait]]\n"
    "       cocosim sweep --collect DIR [--plot METRIC[,METRIC]]\n";

std::string read_file(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = bool(in);
  std::ostringstream ss;
  if (in) ss << in.rdbuf();
  return ss.str();
}

bool write_text(const std::string& path, const std::string& text, std::string* err) {
  return write_whole(path,
                     [&](const std::string& tmp, std::string* e) {
                       std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
                       out << text;
                       out.close();
                       if (!out) *e = std::strerror(errno);
                       return bool(out);
                     },
                     err);
}

std::optional<Json> read_json(const std::string& path) {
  bool ok = false;
  const std::string text = read_file(path, &ok);
  if (!ok) return std::nullopt;
  std::string err;
  return Json::parse(text, &err);
}

bool make_dir(const std::string& path, std::string* err) {
  if (::mkdir(path.c_str(), 0777) == 0 || errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
    *err = path + ": not a directory";
    return false;
  }
  *err = path + ": " + std::strerror(errno);
  return false;
}

std::string absolute(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf)) return buf;
  return path;
}

std::string self_exe() { return absolute("/proc/self/exe"); }

// --timeout as seconds (plain numbers are seconds, as for `cocosim run`);
// the default is cocosim run's 50 s, 0 is none.
double timeout_seconds(const std::string& t) {
  if (t.empty()) return 50;
  const std::string v = std::isdigit(static_cast<unsigned char>(t.back())) ? t + "s" : t;
  auto ns = parse_time_ns(v);
  return ns ? *ns / 1e9 : 50;
}

// ---- the plan on disk -------------------------------------------------------

// DIR/sweep.json: what collect needs to assemble the table on its own.
struct PlanFile {
  std::string scenario;
  std::vector<std::string> param_keys;
  std::vector<std::string> plots;
  std::vector<SweepPoint> points;
  std::vector<std::string> ids;  // each point's directory under points/
};

Json plan_to_json(const PlanFile& p) {
  Json j = Json::object();
  j.set("cocosim_version", cocosim_version());
  j.set("scenario", p.scenario);
  Json keys = Json::array();
  for (const auto& k : p.param_keys) keys.push(k);
  j.set("params", std::move(keys));
  Json plots = Json::array();
  for (const auto& m : p.plots) plots.push(m);
  j.set("plots", std::move(plots));
  Json pts = Json::array();
  for (size_t i = 0; i < p.points.size(); ++i) {
    const SweepPoint& pt = p.points[i];
    Json o = Json::object();
    o.set("id", p.ids[i]);
    Json vals = Json::array();
    for (const auto& [k, v] : pt.values) {
      Json kv = Json::array();
      kv.push(k);
      kv.push(v);
      vals.push(std::move(kv));
    }
    o.set("values", std::move(vals));
    o.set("arch", pt.arch);
    o.set("repeat", pt.repeat);
    pts.push(std::move(o));
  }
  j.set("points", std::move(pts));
  return j;
}

std::optional<PlanFile> plan_from_json(const Json& j) {
  PlanFile p;
  const Json *sc = j.find("scenario"), *keys = j.find("params"), *pts = j.find("points"),
             *plots = j.find("plots");
  if (!sc || !keys || !pts) return std::nullopt;
  p.scenario = sc->str();
  for (const Json& k : keys->elements()) p.param_keys.push_back(k.str());
  if (plots)
    for (const Json& m : plots->elements()) p.plots.push_back(m.str());
  for (const Json& o : pts->elements()) {
    SweepPoint pt;
    pt.index = p.points.size();
    const Json *id = o.find("id"), *vals = o.find("values"), *arch = o.find("arch"),
               *rep = o.find("repeat");
    if (!id || !vals || !arch || !rep) return std::nullopt;
    for (const Json& kv : vals->elements())
      if (kv.elements().size() == 2) pt.values.emplace_back(kv.elements()[0].str(), kv.elements()[1].str());
    pt.arch = arch->str();
    pt.repeat = unsigned(rep->as_uint());
    p.ids.push_back(id->str());
    p.points.push_back(std::move(pt));
  }
  return p;
}

// ---- one point: a `cocosim run` process --------------------------------------

std::string point_dir(const std::string& dir, const std::string& id) { return dir + "/points/" + id; }

// A point whose manifest holds `hash` and which ran to an end of its own
// (passed, failed or stopped by a limit: exit 0, 1 or 3) is not run again. A
// point stopped by a signal (the user's ^C, a killed Slurm task) is.
bool point_done(const std::string& pdir, const std::string& hash) {
  auto m = read_json(pdir + "/manifest.json");
  if (!m) return false;
  const Json *h = m->find("hash"), *rc = m->find("exit_code");
  if (!h || h->str() != hash || !rc) return false;
  const int64_t code = rc->as_int();
  return code == 0 || code == 1 || code == 3;
}

struct Child {
  pid_t pid = -1;
  std::string id, pdir, hash;
  Clock::time_point start;
  bool killed = false;
};

// Starts `cocosim run` for the point described in PDIR/point.json; its output
// goes to PDIR/output.txt.
std::optional<Child> start_point(const std::string& exe, const std::string& pdir, std::string* err) {
  auto pj = read_json(pdir + "/point.json");
  const Json* argv_j = pj ? pj->find("argv") : nullptr;
  const Json* hash_j = pj ? pj->find("hash") : nullptr;
  if (!argv_j || !hash_j) {
    *err = pdir + "/point.json: missing or not a point description";
    return std::nullopt;
  }
  std::vector<std::string> args{exe};
  for (const Json& a : argv_j->elements()) args.push_back(a.str());
  ::unlink((pdir + "/stats.json").c_str());
  ::unlink((pdir + "/manifest.json").c_str());
  const std::string out = pdir + "/output.txt";
  Child c;
  c.pdir = pdir;
  c.hash = hash_j->str();
  c.start = Clock::now();
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  c.pid = ::fork();
  if (c.pid < 0) {
    *err = std::string("fork: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (c.pid == 0) {
    const int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    const int in = ::open("/dev/null", O_RDONLY);
    if (in >= 0) ::dup2(in, 0);
    ::execv(cargv[0], cargv.data());
    std::fprintf(stderr, "cocosim sweep: cannot run %s: %s\n", cargv[0], std::strerror(errno));
    ::_exit(127);
  }
  return c;
}

// Records how the point ended in PDIR/manifest.json; returns its verdict.
std::string finish_point(const Child& c, int status, const std::string& executor) {
  const double wall = std::chrono::duration<double>(Clock::now() - c.start).count();
  int code = -1;
  std::string verdict;
  if (WIFEXITED(status)) code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) code = 128 + WTERMSIG(status);
  auto stats = read_json(c.pdir + "/stats.json");
  const Json* v = stats ? stats->find("verdict") : nullptr;
  if (c.killed) verdict = "killed: no end " + std::to_string(int(wall)) + " s after --timeout";
  else if (v) verdict = v->str();
  else if (WIFSIGNALED(status)) verdict = "killed by signal " + std::to_string(WTERMSIG(status));
  else if (code == 2) verdict = "invalid scenario";
  else if (code == 127) verdict = "could not start";
  else verdict = "no stats (exit " + std::to_string(code) + ")";
  auto pj = read_json(c.pdir + "/point.json");
  Json m = Json::object();
  m.set("hash", c.hash);
  if (pj)
    if (const Json* in = pj->find("inputs")) m.set("inputs", *in);
  m.set("executor", executor);
  m.set("exit_code", code);
  m.set("verdict", verdict);
  m.set("wall_time_s", wall);
  std::string err;
  if (!write_text(c.pdir + "/manifest.json", m.dump() + "\n", &err))
    std::cerr << "cocosim sweep: cannot write " << c.pdir << "/manifest.json: " << err << "\n";
  return verdict;
}

// The last resort when a run ignores its own --timeout: SIGKILL 30 s later.
double backstop_seconds(const std::string& timeout) {
  const double t = timeout_seconds(timeout);
  return t > 0 ? t + 30 : 0;
}

// `cocosim sweep --run-point DIR ID...`: what one Slurm array task runs.
int run_points(const SweepOptions& o) {
  const std::string exe = self_exe();
  const char* job = std::getenv("SLURM_JOB_ID");
  const std::string executor = job ? "slurm" : "local";
  auto plan_j = read_json(o.run_point_dir + "/sweep.json");
  const Json* to = plan_j ? plan_j->find("timeout") : nullptr;
  const double backstop = backstop_seconds(to ? to->str() : "");
  int rc = 0;
  for (const std::string& id : o.run_point_ids) {
    std::string err;
    auto c = start_point(exe, point_dir(o.run_point_dir, id), &err);
    if (!c) {
      std::cerr << "cocosim sweep: " << err << "\n";
      rc = 2;
      continue;
    }
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(c->pid, &status, WNOHANG);
      if (r == c->pid) break;
      if (r < 0 && errno != EINTR) break;
      if (backstop > 0 && !c->killed &&
          std::chrono::duration<double>(Clock::now() - c->start).count() > backstop) {
        ::kill(c->pid, SIGKILL);
        c->killed = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::cout << id << ": " << finish_point(*c, status, executor) << "\n";
  }
  return rc;
}

// ---- assembling ------------------------------------------------------------

// Reads every point's manifest and stats, writes results.csv and the plots.
// Returns the number of points that did not pass, or -1 on an error (a file
// that cannot be read or written, a --plot metric that is no column: the
// table is written all the same).
int collect(const std::string& dir, const std::vector<std::string>& extra_plots, bool quiet) {
  auto pj = read_json(dir + "/sweep.json");
  auto plan = pj ? plan_from_json(*pj) : std::nullopt;
  if (!plan) {
    std::cerr << "cocosim sweep: " << dir << "/sweep.json: missing or not a sweep plan\n";
    return -1;
  }
  std::vector<PointResult> results;
  int not_passed = 0, not_run = 0;
  for (size_t i = 0; i < plan->points.size(); ++i) {
    PointResult r;
    r.id = plan->ids[i];
    const std::string pdir = point_dir(dir, r.id);
    auto m = read_json(pdir + "/manifest.json");
    if (m) {
      if (const Json* v = m->find("verdict")) r.verdict = v->str();
      if (const Json* c = m->find("exit_code")) r.exit_code = int(c->as_int());
      if (const Json* w = m->find("wall_time_s")) r.wall_s = w->as_double();
      r.stats = read_json(pdir + "/stats.json");
    } else {
      r.verdict = "not run";
      ++not_run;
    }
    if (r.verdict != "passed") ++not_passed;
    results.push_back(std::move(r));
  }
  const ResultsTable t = build_results(plan->param_keys, plan->points, results);
  std::string err;
  if (!write_text(dir + "/results.csv", t.csv(), &err)) {
    std::cerr << "cocosim sweep: cannot write " << dir << "/results.csv: " << err << "\n";
    return -1;
  }
  std::vector<std::string> plots = plan->plots;
  for (const auto& m : extra_plots)
    if (std::find(plots.begin(), plots.end(), m) == plots.end()) plots.push_back(m);
  bool plot_error = false;
  if (!plots.empty()) {
    if (!make_dir(dir + "/plots", &err)) {
      std::cerr << "cocosim sweep: " << err << "\n";
      return -1;
    }
    for (const std::string& metric : plots) {
      const std::string base = dir + "/plots/" + metric_file_name(metric);
      auto f = make_plot(t, plan->param_keys, metric, base + ".dat", base + ".png", base + ".svg", &err);
      if (!f) {
        std::cerr << "cocosim sweep: " << err << "\n";
        plot_error = true;
        continue;
      }
      if (!write_text(base + ".dat", f->data, &err) || !write_text(base + ".gp", f->script, &err)) {
        std::cerr << "cocosim sweep: cannot write " << base << ".gp: " << err << "\n";
        return -1;
      }
      const std::string cmd = "gnuplot '" + base + ".gp' 2>'" + base + ".log'";
      const int rc = std::system(cmd.c_str());
      if (rc != 0) {
        std::cerr << "cocosim sweep: gnuplot failed on " << base << ".gp (is gnuplot installed? "
                  << "see " << base << ".log)\n";
        plot_error = true;
      } else if (!quiet) {
        std::cout << "  plot: " << base << ".png, .svg\n";
      }
    }
  }
  if (!quiet)
    std::cout << "cocosim sweep: " << plan->points.size() << " points, "
              << (plan->points.size() - size_t(not_passed)) << " passed, " << not_passed
              << " did not" << (not_run ? " (" + std::to_string(not_run) + " not run)" : "")
              << ": " << dir << "/results.csv\n";
  return plot_error ? -1 : not_passed;
}

// ---- validation and planning ---------------------------------------------------

// Loads the scenario with each distinct point's overrides, as `cocosim run`
// would, before anything runs. Errors name the --param.
bool validate_points(const SweepOptions& o, const std::vector<SweepPoint>& points) {
  std::set<std::string> seen;
  // Each problem once, with the values it applies to: (--param key, message) -> values.
  std::vector<std::pair<std::pair<std::string, std::string>, std::vector<std::string>>> problems;
  auto note = [&](const std::string& key, const std::string& msg, const std::string& value) {
    for (auto& [km, values] : problems)
      if (km.first == key && km.second == msg) {
        if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
        return;
      }
    problems.push_back({{key, msg}, {value}});
  };
  for (const SweepPoint& p : points) {
    const std::string label = p.label();
    if (!seen.insert(label.substr(0, label.rfind('#'))).second) continue;
    LoadOptions lo;
    lo.sets = p.sets();
    if (!p.arch.empty()) lo.arch = arch_from_name(p.arch);
    LoadResult lr = load_scenario(o.file, lo);
    for (const ScenarioError& e : lr.errors) {
      // --set:N:COL is the N-th override: the N-th --param.
      if (e.file == "--set" && e.loc.line >= 1 && size_t(e.loc.line) <= p.values.size()) {
        const auto& [k, v] = p.values[size_t(e.loc.line) - 1];
        note(k, e.message, v);
      } else {
        note("", e.str(), "");
      }
    }
  }
  for (const auto& [km, values] : problems) {
    if (km.first.empty()) {
      std::cerr << km.second << "\n";
      continue;
    }
    std::string vs;
    for (const std::string& v : values) vs += (vs.empty() ? "" : ",") + v;
    std::cerr << "--param " << km.first << "=" << vs << ": " << km.second << "\n";
  }
  if (!problems.empty()) {
    std::cerr << "cocosim sweep: " << problems.size() << (problems.size() == 1 ? " error" : " errors")
              << "; nothing was run\n";
    return false;
  }
  return true;
}

std::vector<std::string> point_args(const SweepOptions& o, const std::string& scenario,
                                    const SweepPoint& p, const std::string& stats) {
  std::vector<std::string> a{"run", scenario};
  if (!p.arch.empty()) a.insert(a.end(), {"--arch", p.arch});
  for (const std::string& s : p.sets()) a.insert(a.end(), {"--set", s});
  if (!o.check.empty()) a.insert(a.end(), {"--check", o.check});
  if (!o.timeout.empty()) a.insert(a.end(), {"--timeout", o.timeout});
  a.insert(a.end(), {"--stats", stats});
  return a;
}

// Redrawn only when it changes (the elapsed time is in whole seconds).
void progress(bool tty, size_t done, size_t total, size_t running, size_t failed, Clock::time_point t0) {
  if (!tty) return;
  static std::string last;
  const double el = std::chrono::duration<double>(Clock::now() - t0).count();
  char line[160];
  std::snprintf(line, sizeof line, "\r[%zu/%zu] %zu running, %zu not passed, %.0f s   ", done, total, running,
                failed, el);
  if (last == line) return;
  last = line;
  std::fputs(line, stdout);
  std::fflush(stdout);
}

// Runs `todo` (indices into the plan) N at a time.
void run_local(const std::string& dir, const PlanFile& plan, const std::vector<size_t>& todo,
               unsigned jobs, double backstop, size_t skipped) {
  const std::string exe = self_exe();
  const bool tty = ::isatty(STDOUT_FILENO);
  const auto t0 = Clock::now();
  std::map<pid_t, Child> running;
  size_t next = 0, done = skipped, failed = 0;
  const size_t total = plan.points.size();
  while (next < todo.size() || !running.empty()) {
    if (g_stop_signal) next = todo.size();  // the running points end on their own
    while (next < todo.size() && running.size() < jobs) {
      const std::string& id = plan.ids[todo[next++]];
      std::string err;
      auto c = start_point(exe, point_dir(dir, id), &err);
      if (!c) {
        std::cerr << "\ncocosim sweep: " << err << "\n";
        ++done;
        ++failed;
        continue;
      }
      c->id = id;
      running[c->pid] = *c;
    }
    progress(tty, done, total, running.size(), failed, t0);
    int status = 0;
    const pid_t r = ::waitpid(-1, &status, WNOHANG);
    if (r > 0 && running.count(r)) {
      if (finish_point(running[r], status, "local") != "passed") ++failed;
      running.erase(r);
      ++done;
      continue;
    }
    if (r < 0 && errno == ECHILD) break;
    for (auto& [pid, c] : running)
      if (backstop > 0 && !c.killed && std::chrono::duration<double>(Clock::now() - c.start).count() > backstop) {
        ::kill(pid, SIGKILL);
        c.killed = true;
      }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  progress(tty, done, total, 0, failed, t0);
  if (tty) std::printf("\n");
}

// ---- Slurm --------------------------------------------------------------------

// Runs a command, returning its stdout (and its exit status in *rc).
std::string capture(const std::string& cmd, int* rc) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int st = ::pclose(f);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Writes DIR/slurm/sweep.sbatch (an array task per chunk of `todo`), submits
// it, and returns the job id ("" on failure, said on stderr).
std::string submit_slurm(const SweepOptions& o, const std::string& dir, const PlanFile& plan,
                         const std::vector<size_t>& todo) {
  std::string err;
  if (!make_dir(dir + "/slurm", &err)) {
    std::cerr << "cocosim sweep: " << err << "\n";
    return "";
  }
  // Slurm's default MaxArraySize is 1001: more points than that share tasks.
  const size_t chunk = o.chunk ? o.chunk : (todo.size() + 999) / 1000;
  const size_t tasks = (todo.size() + chunk - 1) / chunk;
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# Written by cocosim sweep: one array task per " << (chunk == 1 ? "point" : std::to_string(chunk) + " points")
    << "; each runs `cocosim sweep --run-point`, which runs the point's `cocosim run`\n"
    << "# and records its manifest in points/ID/.\n"
    << "#SBATCH --job-name=cocosim-sweep\n"
    << "#SBATCH --array=0-" << (tasks - 1) << "\n"
    << "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n"
    << "#SBATCH --output=" << dir << "/slurm/task-%a.out\n";
  if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
  if (!o.time_limit.empty()) s << "#SBATCH --time=" << o.time_limit << "\n";
  s << "POINTS=(\n";
  for (size_t t = 0; t < tasks; ++t) {
    s << "  \"";
    for (size_t i = t * chunk; i < std::min(todo.size(), (t + 1) * chunk); ++i)
      s << (i == t * chunk ? "" : " ") << plan.ids[todo[i]];
    s << "\"\n";
  }
  s << ")\n"
    << "exec " << shell_quote(self_exe()) << " sweep --run-point " << shell_quote(dir)
    << " ${POINTS[$SLURM_ARRAY_TASK_ID]}\n";
  const std::string script = dir + "/slurm/sweep.sbatch";
  if (!write_text(script, s.str(), &err)) {
    std::cerr << "cocosim sweep: cannot write " << script << ": " << err << "\n";
    return "";
  }
  int rc = 0;
  const std::string out = capture("sbatch --parsable " + shell_quote(script) + " 2>&1", &rc);
  std::string id = out.substr(0, out.find_first_of(";\n"));
  if (rc != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
    std::cerr << "cocosim sweep: sbatch failed (exit " << rc << "): " << out;
    return "";
  }
  write_text(dir + "/slurm/job_id", id + "\n", &err);
  return id;
}

// Polls squeue until the job has left the queue.
void wait_slurm(const std::string& job, const std::string& dir, const PlanFile& plan) {
  const bool tty = ::isatty(STDOUT_FILENO);
  const auto t0 = Clock::now();
  int failures = 0;
  for (;;) {
    int rc = 0;
    const std::string out = capture("squeue -h -j " + job + " -o %i 2>&1", &rc);
    if (rc == 0 && out.find_first_not_of(" \n") == std::string::npos) break;
    // After the job ends, squeue may answer "Invalid job id" once it is purged.
    if (rc != 0 && out.find("Invalid job id") != std::string::npos) break;
    if (rc != 0 && ++failures > 30) {
      std::cerr << "\ncocosim sweep: squeue keeps failing (" << out
                << "); collect later with cocosim sweep --collect " << dir << "\n";
      break;
    }
    if (rc == 0) failures = 0;
    if (tty) {
      size_t done = 0;
      for (const std::string& id : plan.ids)
        done += ::access((point_dir(dir, id) + "/manifest.json").c_str(), F_OK) == 0;
      std::printf("\r[%zu/%zu] Slurm job %s, %.0f s   ", done, plan.ids.size(), job.c_str(),
                  std::chrono::duration<double>(Clock::now() - t0).count());
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (tty) std::printf("\n");
}

}  // namespace

int sweep_main(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "-h" || a == "--help") {
      std::cout << kSweepUsage;
      return 0;
    }
  std::string err;
  auto opt = parse_sweep_args(args, &err);
  if (!opt) {
    std::cerr << "cocosim sweep: " << err << "\n" << kSweepUsage;
    return 2;
  }
  SweepOptions& o = *opt;
  if (!o.run_point_dir.empty()) return run_points(o);
  if (!o.collect.empty()) {
    const int n = collect(o.collect, o.plots, false);
    return n < 0 ? 2 : n > 0 ? 1 : 0;
  }

  auto points = plan_sweep(o, &err);
  if (!points) {
    std::cerr << "cocosim sweep: " << err << "\n";
    return 2;
  }
  if (!validate_points(o, *points)) return 2;

  // Inputs every point shares.
  bool ok = false;
  const std::string bytes = read_file(o.file, &ok);
  if (!ok) {
    std::cerr << "cocosim sweep: cannot read " << o.file << "\n";
    return 2;
  }
  PointInputs in;
  in.scenario_sha256 = sha256_hex(bytes);
  in.version = cocosim_version();
  in.build_id = sha256_file(self_exe());
  in.check = o.check;
  in.timeout = o.timeout;

  if (!make_dir(o.out, &err)) {
    std::cerr << "cocosim sweep: --out " << err << "\n";
    return 2;
  }
  const std::string dir = absolute(o.out);
  if (!make_dir(dir + "/points", &err)) {
    std::cerr << "cocosim sweep: " << err << "\n";
    return 2;
  }
  PlanFile plan;
  plan.scenario = absolute(o.file);
  for (const auto& p : o.params) plan.param_keys.push_back(p.key);
  plan.plots = o.plots;
  plan.points = *points;
  std::vector<size_t> todo;
  for (const SweepPoint& p : plan.points) {
    const std::string hash = point_hash(p, in);
    const std::string id = hash.substr(0, 16);
    plan.ids.push_back(id);
    const std::string pdir = point_dir(dir, id);
    if (point_done(pdir, hash)) continue;
    todo.push_back(p.index);
    if (!make_dir(pdir, &err)) {
      std::cerr << "cocosim sweep: " << err << "\n";
      return 2;
    }
    Json pj = Json::object();
    pj.set("hash", hash);
    pj.set("label", p.label());
    Json inputs = Json::object();
    inputs.set("scenario", plan.scenario);
    inputs.set("scenario_sha256", in.scenario_sha256);
    Json sets = Json::array();
    for (const auto& s : p.sets()) sets.push(s);
    inputs.set("sets", std::move(sets));
    inputs.set("arch", p.arch);
    inputs.set("repeat", p.repeat);
    inputs.set("cocosim_version", in.version);
    inputs.set("build_id", in.build_id);
    inputs.set("check", in.check);
    inputs.set("timeout", in.timeout);
    pj.set("inputs", std::move(inputs));
    Json argv = Json::array();
    for (const auto& a : point_args(o, plan.scenario, p, pdir + "/stats.json")) argv.push(a);
    pj.set("argv", std::move(argv));
    if (!write_text(pdir + "/point.json", pj.dump() + "\n", &err)) {
      std::cerr << "cocosim sweep: cannot write " << pdir << "/point.json: " << err << "\n";
      return 2;
    }
  }
  Json pjson = plan_to_json(plan);
  pjson.set("timeout", o.timeout);
  if (!write_text(dir + "/sweep.json", pjson.dump() + "\n", &err)) {
    std::cerr << "cocosim sweep: cannot write " << dir << "/sweep.json: " << err << "\n";
    return 2;
  }
  const size_t skipped = plan.points.size() - todo.size();
  std::cout << "cocosim sweep: " << plan.points.size() << " points of " << o.file << ", "
            << todo.size() << " to run" << (skipped ? ", " + std::to_string(skipped) + " unchanged since the last run" : "")
            << (o.slurm ? " on Slurm" : "") << std::endl;

  if (o.slurm) {
    if (!todo.empty()) {
      const std::string job = submit_slurm(o, dir, plan, todo);
      if (job.empty()) return 2;
      std::cout << "cocosim sweep: submitted Slurm job " << job << " (" << dir << "/slurm/sweep.sbatch)"
                << std::endl;
      if (o.no_wait) {
        std::cout << "cocosim sweep: assemble the results later with: cocosim sweep --collect " << dir << "\n";
        return 0;
      }
      wait_slurm(job, dir, plan);
    }
  } else {
    long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
    const unsigned jobs = o.jobs ? o.jobs : unsigned(cores > 0 ? cores : 1);
    catch_stop_signals();
    run_local(dir, plan, todo, jobs, backstop_seconds(o.timeout), skipped);
  }
  const int n = collect(dir, {}, false);
  if (g_stop_signal) {
    std::cerr << "cocosim sweep: stopped by signal " << int(g_stop_signal)
              << "; the same command runs the points left\n";
    return 128 + int(g_stop_signal);
  }
  return n < 0 ? 2 : n > 0 ? 1 : 0;
}

}  // namespace cocosim
