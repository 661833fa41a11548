// The trace sink of a run: receives every probe (models/common/trace.h) and
// feeds the VCD writer (--vcd) and the text trace (--trace CATEGORIES). At
// close() it writes the VCD, a GTKWave save file beside it and the translate
// filter files that show enumerated values (run states, exit reasons, TDX
// leaves and statuses, pKVM calls) as names.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "common/trace.h"
#include "trace/vcd_writer.h"

namespace cocosim {

class Tracer : public trace::Sink {
 public:
  // The simulated time of the current caller, in ps.
  using Clock = std::function<uint64_t()>;

  // Parses "bus,gmem,kvm,..." into a mask of categories; nullopt with the
  // unknown name in *bad.
  static std::optional<unsigned> parse_categories(const std::string& list, std::string* bad);
  static std::string category_list();  // "bus, gmem, kvm, tdx, pkvm, mmu, guest"

  explicit Tracer(Clock clock) : clock_(std::move(clock)) {}
  ~Tracer() override { uninstall(); }
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // One text line per event of the categories in `mask`, to `out`.
  void enable_text(std::ostream* out, unsigned mask) {
    text_ = out;
    text_mask_ = mask;
  }
  void enable_vcd() { vcd_ = std::make_unique<VcdWriter>(); }
  bool vcd_enabled() const { return vcd_ != nullptr; }
  bool active() const { return vcd_ || (text_ && text_mask_); }
  // Make this the process's sink (probes report from now on) / stop that.
  void install() {
    if (active()) trace::g_sink = this;
  }
  void uninstall() {
    if (trace::g_sink == this) trace::g_sink = nullptr;
  }

  // Writes the VCD to `vcd_path` (whole: through a temporary file), then the
  // .gtkw save file and filter files beside it. false with the reason in *err.
  bool write_vcd(const std::string& vcd_path, uint64_t end_ps, const std::string& comment,
                 std::string* err) const;

  // trace::Sink
  void value(trace::Cat c, const std::string& scope, const char* signal, uint64_t v,
             unsigned width, const char* label) override;
  void record(const std::string& scope, const char* signal, uint64_t v, unsigned width,
              const char* label) override;
  void pulse(trace::Cat c, const std::string& scope, const char* signal,
             const std::string& detail) override;
  void note(trace::Cat c, const std::string& scope, const std::string& text) override;

  const VcdWriter* vcd() const { return vcd_.get(); }

 private:
  bool text_on(trace::Cat c) const { return text_ && (text_mask_ >> unsigned(c) & 1); }
  void line(uint64_t t, const std::string& scope, const std::string& what);

  Clock clock_;
  std::ostream* text_ = nullptr;
  unsigned text_mask_ = 0;
  std::unique_ptr<VcdWriter> vcd_;
  // Names of enumerated values, by signal name: the translate filters.
  std::map<std::string, std::map<uint64_t, std::string>> labels_;
};

}  // namespace cocosim
