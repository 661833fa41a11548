#include "sweep/sweep_results.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

namespace cocosim {

int ResultsTable::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return int(i);
  return -1;
}

namespace {

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string number_text(const Json& j) {
  if (j.kind() == Json::Kind::UInt) return std::to_string(j.as_uint());
  if (j.kind() == Json::Kind::Int) return std::to_string(j.as_int());
  if (j.kind() == Json::Kind::Double) {
    char b[64];
    std::snprintf(b, sizeof b, "%.17g", j.as_double());
    return b;
  }
  return "";
}

std::string wall_text(double s) {
  char b[64];
  std::snprintf(b, sizeof b, "%.6f", s);
  return b;
}

// A cell as a number, when it is one.
std::optional<double> number_of(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return d;
}

// A gnuplot double-quoted string (the terminals are noenhanced, so '_' in a
// counter name stays a '_').
std::string gp_string(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

}  // namespace

std::string ResultsTable::csv() const {
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) out += (i ? "," : "") + csv_cell(cells[i]);
    out += "\n";
  };
  line(columns);
  for (const auto& r : rows) line(r);
  return out;
}

ResultsTable build_results(const std::vector<std::string>& param_keys,
                           const std::vector<SweepPoint>& points,
                           const std::vector<PointResult>& results) {
  ResultsTable t;
  t.columns.push_back("point");
  for (const std::string& k : param_keys) t.columns.push_back(k);
  for (const char* c : {"arch", "repeat", "verdict", "exit_code", "simulated_time_ps", "wall_time_s"})
    t.columns.push_back(c);
  std::set<std::string> counters;
  for (const PointResult& r : results)
    if (r.stats)
      if (const Json* c = r.stats->find("counters"))
        for (const auto& [name, v] : c->members()) counters.insert(name);
  const size_t fixed = t.columns.size();
  t.columns.insert(t.columns.end(), counters.begin(), counters.end());

  for (size_t i = 0; i < points.size() && i < results.size(); ++i) {
    const SweepPoint& p = points[i];
    const PointResult& r = results[i];
    std::vector<std::string> row;
    row.push_back(r.id);
    for (const std::string& k : param_keys) {
      std::string v;
      for (const auto& [pk, pv] : p.values)
        if (pk == k) v = pv;
      row.push_back(v);
    }
    std::string arch = p.arch;
    if (r.stats)
      if (const Json* a = r.stats->find("arch"); a && a->kind() == Json::Kind::String) arch = a->str();
    row.push_back(arch);
    row.push_back(std::to_string(p.repeat));
    row.push_back(r.verdict);
    row.push_back(r.exit_code < 0 ? "" : std::to_string(r.exit_code));
    const Json* sim = r.stats ? r.stats->find("simulated_time_ps") : nullptr;
    row.push_back(sim ? number_text(*sim) : "");
    row.push_back(r.exit_code < 0 ? "" : wall_text(r.wall_s));
    row.resize(t.columns.size());
    if (r.stats)
      if (const Json* c = r.stats->find("counters"))
        for (const auto& [name, v] : c->members()) {
          const Json* val = v.find("value");
          const int col = t.column(name);
          if (val && col >= int(fixed)) row[size_t(col)] = number_text(*val);
        }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string metric_file_name(const std::string& metric) {
  std::string s;
  for (char c : metric)
    s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  return s;
}

std::optional<PlotFiles> make_plot(const ResultsTable& t, const std::vector<std::string>& param_keys,
                                   const std::string& metric, const std::string& data_path,
                                   const std::string& png_path, const std::string& svg_path,
                                   std::string* err) {
  const int y = t.column(metric);
  if (y < 0) {
    *err = "--plot " + metric + ": results.csv has no such column (a counter name such as "
           "platform.vcpu0.mmu.tlb_misses, or simulated_time_ps, wall_time_s)";
    return std::nullopt;
  }
  const std::string xkey = param_keys.empty() ? "arch" : param_keys[0];
  const int x = t.column(xkey);
  const int s2 = param_keys.size() > 1 ? t.column(param_keys[1]) : -1;
  const int arch = t.column("arch"), verdict = t.column("verdict");
  std::set<std::string> archs;
  for (const auto& r : t.rows) archs.insert(r[size_t(arch)]);
  const bool by_arch = archs.size() > 1 && xkey != "arch";

  // x values and series in the order they first appear (the command line's).
  std::vector<std::string> xs, series;
  std::map<std::pair<std::string, std::string>, std::pair<double, unsigned>> sum;  // (series, x)
  bool any_number = false;
  for (const auto& r : t.rows) {
    std::string s;
    if (s2 >= 0) s = param_keys[1] + "=" + r[size_t(s2)];
    if (by_arch) s += (s.empty() ? "" : " ") + r[size_t(arch)];
    if (s.empty()) s = metric;
    const std::string& xv = r[size_t(x)];
    if (std::find(xs.begin(), xs.end(), xv) == xs.end()) xs.push_back(xv);
    if (std::find(series.begin(), series.end(), s) == series.end()) series.push_back(s);
    auto v = number_of(r[size_t(y)]);
    if (!v || r[size_t(verdict)] != "passed") continue;
    any_number = true;
    auto& acc = sum[{s, xv}];
    acc.first += *v;
    acc.second += 1;
  }
  if (!any_number) {
    *err = "--plot " + metric + ": no point that passed has a number in that column";
    return std::nullopt;
  }
  PlotFiles f;
  std::ostringstream data, gp;
  std::vector<std::string> plotted;
  for (const std::string& s : series) {
    std::ostringstream block;
    bool any = false;
    for (size_t i = 0; i < xs.size(); ++i) {
      auto it = sum.find({s, xs[i]});
      if (it == sum.end()) continue;
      char b[64];
      std::snprintf(b, sizeof b, "%.17g", it->second.first / it->second.second);
      block << i << "\t" << xs[i] << "\t" << b << "\n";
      any = true;
    }
    if (!any) continue;
    if (!plotted.empty()) data << "\n\n";
    data << block.str();
    plotted.push_back(s);
  }
  f.data = data.str();
  gp << "# Written by cocosim sweep: " << metric << " against " << xkey << "\n"
     << "set datafile separator \"\\t\"\n"
     << "set title " << gp_string(metric + " against " + xkey) << "\n"
     << "set xlabel " << gp_string(xkey) << "\n"
     << "set ylabel " << gp_string(metric) << "\n"
     << "set key below\n"
     << "set grid\n"
     << "set offsets 0.25, 0.25, 0, 0\n"
     << "set yrange [0:*]\n";
  std::ostringstream plot;
  plot << "plot ";
  for (size_t i = 0; i < plotted.size(); ++i)
    plot << (i ? ", \\\n     " : "") << gp_string(data_path) << " index " << i
         << " using 1:3:xtic(2) with linespoints lw 2 pt 7 title " << gp_string(plotted[i]);
  plot << "\n";
  gp << "set terminal pngcairo noenhanced size 800,480 font \"sans,10\"\n"
     << "set output " << gp_string(png_path) << "\n"
     << plot.str()
     << "set terminal svg noenhanced size 800,480 font \"sans,10\"\n"
     << "set output " << gp_string(svg_path) << "\n"
     << plot.str() << "set output\n";
  f.script = gp.str();
  return f;
}

}  // namespace cocosim
