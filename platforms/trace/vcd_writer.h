// A VCD (IEEE 1364 value change dump) writer of our own, not SystemC's
// sc_trace: cocosim's models run temporally decoupled, so an event happens at
// the kernel's time plus a local offset that sc_trace (which samples traced
// variables at the end of kernel delta cycles) never sees; a fault and its
// retry inside one quantum would collapse into one sample, and a pulse would
// vanish. sc_trace also needs every variable before the simulation starts,
// while vCPUs, VMs and guest_memfd files appear during the run.
//
// Signals are declared as they first change; changes are kept in memory with
// the time the model reported (its local time) and written sorted by time at
// close(), so the file is complete and valid however the run ended.
#pragma once
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace cocosim {

class VcdWriter {
 public:
  // At most this many changes are kept (24 bytes each: 192 MiB); later ones
  // are dropped and the file says so in a $comment.
  static constexpr size_t kDefaultMaxChanges = size_t{8} << 20;

  explicit VcdWriter(size_t max_changes = kDefaultMaxChanges) : max_changes_(max_changes) {}

  // The signal `name` (width bits) in the dotted scope path; declared once.
  unsigned signal(const std::string& scope, const std::string& name, unsigned width);
  // A VCD `event` variable: no value, only instants (GTKWave draws an arrow
  // at each, visible at any zoom, where a 1 ps pulse on a wire would not be).
  unsigned event(const std::string& scope, const std::string& name);
  // The signal takes value v at time_ps (a later change at the same time wins).
  void change(uint64_t time_ps, unsigned id, uint64_t v);
  // The event `id` happens at time_ps.
  void trigger(uint64_t time_ps, unsigned id) { change(time_ps, id, 1); }

  // Writes the whole dump: header, declarations, initial values (x: not
  // reported yet), changes.
  // `end_ps` closes the dump with a last timestamp (the end of the run).
  void write(std::ostream& out, uint64_t end_ps, const std::string& comment) const;

  struct Signal {
    std::string scope, name;
    unsigned width;
    bool event = false;
  };
  const std::vector<Signal>& signals() const { return signals_; }
  // Whether the memory limit dropped changes.
  bool dropped() const { return dropped_ > 0; }
  size_t max_changes() const { return max_changes_; }

 private:
  // Kept in report order; a stable sort by time keeps it for ties, so the
  // last report at a time wins.
  struct Change {
    uint64_t time_ps;
    uint64_t value;
    unsigned id;
  };
  static std::string id_code(unsigned id);
  std::vector<Signal> signals_;
  std::map<std::pair<std::string, std::string>, unsigned> by_name_;
  std::vector<Change> changes_;
  size_t max_changes_;
  uint64_t dropped_ = 0;
};

}  // namespace cocosim
