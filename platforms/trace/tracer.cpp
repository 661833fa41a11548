#include "trace/tracer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "output_file.h"
#include "trace/gtkw_writer.h"

namespace cocosim {

std::optional<unsigned> Tracer::parse_categories(const std::string& list, std::string* bad) {
  unsigned mask = 0;
  std::stringstream in(list);
  std::string item;
  bool any = false;
  while (std::getline(in, item, ',')) {
    any = true;
    bool found = false;
    for (unsigned c = 0; c < unsigned(trace::Cat::Count); ++c) {
      if (item == trace::cat_name(trace::Cat(c))) {
        mask |= 1u << c;
        found = true;
      }
    }
    if (item == "all") {
      mask = (1u << unsigned(trace::Cat::Count)) - 1;
      found = true;
    }
    if (!found) {
      if (bad) *bad = item;
      return std::nullopt;
    }
  }
  if (!any || list.back() == ',') {
    if (bad) *bad = "";
    return std::nullopt;
  }
  return mask;
}

std::string Tracer::category_list() {
  std::string s;
  for (unsigned c = 0; c < unsigned(trace::Cat::Count); ++c)
    s += std::string(c ? ", " : "") + trace::cat_name(trace::Cat(c));
  return s + " (or all)";
}

void Tracer::line(uint64_t t, const std::string& scope, const std::string& what) {
  *text_ << '[' << t << " ps] " << scope << ": " << what << '\n';
}

void Tracer::value(trace::Cat c, const std::string& scope, const char* signal, uint64_t v,
                   unsigned width, const char* label) {
  const uint64_t t = clock_();
  if (vcd_) vcd_->change(t, vcd_->signal(scope, signal, width), v);
  if (label) {
    auto& names = labels_[signal];
    if (!names.count(v)) names.emplace(v, label);
  }
  if (text_on(c)) {
    std::ostringstream o;
    o << signal << '=';
    if (label) o << label;
    else o << "0x" << std::hex << v;
    line(t, scope, o.str());
  }
}

void Tracer::record(const std::string& scope, const char* signal, uint64_t v, unsigned width,
                    const char* label) {
  if (vcd_) vcd_->change(clock_(), vcd_->signal(scope, signal, width), v);
  if (label) labels_[signal].emplace(v, label);
}

void Tracer::pulse(trace::Cat c, const std::string& scope, const char* signal,
                   const std::string& detail) {
  const uint64_t t = clock_();
  if (vcd_) vcd_->trigger(t, vcd_->event(scope, signal));
  if (text_on(c)) line(t, scope, detail.empty() ? std::string(signal) : signal + (" " + detail));
}

void Tracer::note(trace::Cat c, const std::string& scope, const std::string& text) {
  if (text_on(c)) line(clock_(), scope, text);
}

namespace {

// "waves/run.vcd" -> "waves/run"
std::string stem(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return path;
  return path.substr(0, dot);
}

// The save file names files by absolute path: GTKWave opens it from anywhere.
std::string absolute(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

bool write_text(const std::string& path, const std::function<void(std::ostream&)>& fill,
                std::string* err) {
  return write_whole(
      path,
      [&](const std::string& tmp, std::string* e) {
        std::ofstream out(tmp, std::ios::binary);
        if (out) fill(out);
        out.flush();
        if (!out) {
          if (e) *e = "write failed";
          return false;
        }
        return true;
      },
      err);
}

}  // namespace

bool Tracer::write_vcd(const std::string& vcd_path, uint64_t end_ps, const std::string& comment,
                       std::string* err) const {
  if (!vcd_) return true;
  if (!write_text(vcd_path, [&](std::ostream& o) { vcd_->write(o, end_ps, comment); }, err))
    return false;
  // Filter files beside the VCD, one per enumerated signal, named after it.
  // GTKWave reads them by the path in the save file: the VCD's own directory.
  const std::string base = stem(vcd_path);
  std::map<std::string, std::string> filters;
  for (const auto& entry : labels_) {
    const std::string path = base + "." + entry.first + ".filter";
    if (!write_text(path, [&](std::ostream& o) { write_gtkw_filter(o, entry.second); }, err))
      return false;
    filters[entry.first] = absolute(path);
  }
  return write_text(
      base + ".gtkw",
      [&](std::ostream& o) { write_gtkw(o, absolute(vcd_path), vcd_->signals(), filters, end_ps); },
      err);
}

}  // namespace cocosim
