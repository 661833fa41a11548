// GTKWave save files (.gtkw) and translate filter files for a VCD the
// tracer wrote: the interesting signals in one group per model instance, with
// enumerated signals shown by name through a filter file each.
#pragma once
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "trace/vcd_writer.h"

namespace cocosim {

// A translate filter file: one "value name" line per known value, the value
// as GTKWave shows it in decimal.
void write_gtkw_filter(std::ostream& out, const std::map<uint64_t, std::string>& names);

// The save file: `dumpfile` is the VCD, `filters` maps a signal name (as in
// the VCD, e.g. "exit_reason") to its filter file's path.
void write_gtkw(std::ostream& out, const std::string& dumpfile,
                const std::vector<VcdWriter::Signal>& signals,
                const std::map<std::string, std::string>& filters, uint64_t end_ps);

}  // namespace cocosim
