#include "sweep/sweep_plan.h"

#include <openssl/evp.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "arch/arch_id.h"

namespace cocosim {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool positive_number(const std::string& s, unsigned* out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  *out = unsigned(std::stoul(s));
  return *out > 0;
}

}  // namespace

std::optional<SweepOptions> parse_sweep_args(const std::vector<std::string>& args, std::string* err) {
  SweepOptions o;
  std::set<std::string> keys;
  auto fail = [&](const std::string& m) {
    *err = m;
    return std::nullopt;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
    auto number = [&](unsigned* out) -> bool {
      const std::string* v = value();
      if (!v) {
        *err = a + " needs a number";
        return false;
      }
      if (!positive_number(*v, out)) {
        *err = a + " must be a positive number, not '" + *v + "'";
        return false;
      }
      return true;
    };
    if (a == "--param") {
      const std::string* v = value();
      if (!v) return fail("--param needs KEY=V1,V2,...");
      const size_t eq = v->find('=');
      if (eq == std::string::npos || eq == 0)
        return fail("--param " + *v + ": expected KEY=V1,V2,... (e.g. platform.tlb.entries=16,64)");
      SweepParam p{v->substr(0, eq), split_commas(v->substr(eq + 1))};
      for (const std::string& x : p.values)
        if (x.empty()) return fail("--param " + *v + ": an empty value in the list");
      if (!keys.insert(p.key).second) return fail("--param " + p.key + " is given twice");
      o.params.push_back(std::move(p));
    } else if (a == "--arch") {
      const std::string* v = value();
      if (!v) return fail("--arch needs x86-tdx, arm64-pkvm or both (x86-tdx,arm64-pkvm)");
      for (const std::string& x : split_commas(*v)) {
        if (!arch_from_name(x)) return fail("--arch must be x86-tdx or arm64-pkvm, not '" + x + "'");
        o.archs.push_back(x);
      }
    } else if (a == "--repeat") {
      if (!number(&o.repeat)) return std::nullopt;
    } else if (a == "-j" || a == "--jobs") {
      if (!number(&o.jobs)) return std::nullopt;
    } else if (a == "--chunk") {
      if (!number(&o.chunk)) return std::nullopt;
    } else if (a == "--out" || a == "-o") {
      const std::string* v = value();
      if (!v || v->empty()) return fail(a + " needs a directory");
      o.out = *v;
    } else if (a == "--zip") {
      o.zip = true;
    } else if (a == "--plot") {
      const std::string* v = value();
      if (!v) return fail("--plot needs METRIC[,METRIC] (a results.csv column)");
      for (const std::string& m : split_commas(*v)) {
        if (m.empty()) return fail("--plot " + *v + ": an empty metric name");
        o.plots.push_back(m);
      }
    } else if (a == "--timeout") {
      const std::string* v = value();
      if (!v) return fail("--timeout needs a wall-clock time (e.g. 30s)");
      o.timeout = *v;
    } else if (a == "--check") {
      const std::string* v = value();
      if (!v || (*v != "step" && *v != "end" && *v != "off"))
        return fail("--check must be step, end or off");
      o.check = *v;
    } else if (a == "--slurm") {
      o.slurm = true;
    } else if (a == "--partition") {
      const std::string* v = value();
      if (!v || v->empty()) return fail("--partition needs a Slurm partition name");
      o.partition = *v;
    } else if (a == "--time") {
      const std::string* v = value();
      if (!v || v->empty()) return fail("--time needs a Slurm time limit (e.g. 10:00)");
      o.time_limit = *v;
    } else if (a == "--no-wait") {
      o.no_wait = true;
    } else if (a == "--collect") {
      const std::string* v = value();
      if (!v || v->empty()) return fail("--collect needs the sweep's directory");
      o.collect = *v;
    } else if (a == "--run-point") {
      const std::string* v = value();
      if (!v || v->empty()) return fail("--run-point needs the sweep's directory and a point");
      o.run_point_dir = *v;
      while (i + 1 < args.size() && args[i + 1].rfind("-", 0) != 0) o.run_point_ids.push_back(args[++i]);
      if (o.run_point_ids.empty()) return fail("--run-point needs the sweep's directory and a point");
    } else if (!a.empty() && a[0] == '-') {
      return fail("unknown option '" + a + "'");
    } else if (o.file.empty()) {
      o.file = a;
    } else {
      return fail("one scenario file at a time ('" + o.file + "', then '" + a + "')");
    }
  }
  if (!o.run_point_dir.empty()) return o;
  if (!o.collect.empty()) {
    if (!o.file.empty()) return fail("--collect DIR takes no scenario file");
    if (!o.params.empty() || o.slurm) return fail("--collect DIR only assembles results: no --param or --slurm");
    return o;
  }
  if (o.file.empty()) return fail("sweep needs a scenario FILE");
  if (o.params.empty() && o.archs.empty() && o.repeat == 1)
    return fail("nothing to sweep: give at least one --param KEY=V1,V2,... (or --arch A,B or --repeat N)");
  if (!o.slurm && (!o.partition.empty() || !o.time_limit.empty() || o.no_wait || o.chunk))
    return fail("--partition, --time, --no-wait and --chunk need --slurm");
  if (o.zip && o.params.size() < 2) return fail("--zip pairs two or more --param lists");
  return o;
}

std::vector<std::string> SweepPoint::sets() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : values) out.push_back(k + "=" + v);
  return out;
}

std::string SweepPoint::label() const {
  std::string s;
  for (const auto& [k, v] : values) s += (s.empty() ? "" : " ") + k + "=" + v;
  if (!arch.empty()) s += (s.empty() ? "" : " ") + std::string("arch=") + arch;
  s += (s.empty() ? "#" : " #") + std::to_string(repeat);
  return s;
}

std::optional<std::vector<SweepPoint>> plan_sweep(const SweepOptions& o, std::string* err) {
  std::vector<std::vector<std::pair<std::string, std::string>>> combos;
  if (o.zip) {
    const size_t n = o.params.front().values.size();
    for (const SweepParam& p : o.params)
      if (p.values.size() != n) {
        *err = "--zip needs lists of one length: --param " + o.params.front().key + " has " +
               std::to_string(n) + " values, --param " + p.key + " has " + std::to_string(p.values.size());
        return std::nullopt;
      }
    for (size_t i = 0; i < n; ++i) {
      combos.emplace_back();
      for (const SweepParam& p : o.params) combos.back().emplace_back(p.key, p.values[i]);
    }
  } else {
    combos.emplace_back();
    for (const SweepParam& p : o.params) {
      std::vector<std::vector<std::pair<std::string, std::string>>> next;
      for (const auto& c : combos)
        for (const std::string& v : p.values) {
          next.push_back(c);
          next.back().emplace_back(p.key, v);
        }
      combos = std::move(next);
    }
  }
  const std::vector<std::string> archs = o.archs.empty() ? std::vector<std::string>{""} : o.archs;
  std::vector<SweepPoint> points;
  for (const auto& c : combos)
    for (const std::string& a : archs)
      for (unsigned r = 0; r < o.repeat; ++r) {
        SweepPoint p;
        p.index = points.size();
        p.values = c;
        p.arch = a;
        p.repeat = r;
        points.push_back(std::move(p));
      }
  return points;
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return sha256_hex(ss.str());
}

std::string point_hash(const SweepPoint& p, const PointInputs& in) {
  std::string b;
  auto field = [&](const std::string& s) { b += std::to_string(s.size()) + ":" + s + ";"; };
  field("cocosim-sweep-point-1");
  field(in.scenario_sha256);
  field(in.version);
  field(in.build_id);
  field(in.check);
  field(in.timeout);
  field(p.arch);
  field(std::to_string(p.repeat));
  for (const std::string& s : p.sets()) field(s);
  return sha256_hex(b);
}

}  // namespace cocosim
