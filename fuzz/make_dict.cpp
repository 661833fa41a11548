// Writes the libFuzzer dictionaries from the schema, so they follow the
// operations and fields as they change (run at build time).
//   make_dict scenario OUT  - ops, fields, names of flags/exits/choices, YAML syntax
//   make_dict int_expr OUT  - the tokens of integer and time expressions
#include <fstream>
#include <iostream>
#include <set>
#include <string>

#include "scenario/schema.h"

namespace {

std::ofstream out;

void quoted(const std::string& s) {
  out << '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out << '\\';
    else if (c == '\n') {
      out << "\\x0A";  // libFuzzer dictionaries know \\ \" and \xAB only
      continue;
    }
    out << c;
  }
  out << "\"\n";
}

void scenario_dict() {
  std::set<std::string> words = {
      // Top level, platform, timing and trace keys (the loader's own, not in the op table).
      "name", "platform", "trace", "programs", "steps", "arch", "cpus", "dram", "encryption",
      "gpaw", "seed", "timing", "quantum", "thp", "vcd", "stats", "x86-tdx", "arm64-pkvm", "ci",
      "li", "off", "mee", "walk_level", "tlb_hit", "vm_exit", "seamcall", "hvc", "tlb_shootdown",
      "ioctl", "expect", "note", "not", "any", "true", "false",
      // YAML syntax.
      ": ", "- ", "{", "}", "[", "]", ", ", "\n  - ", "\n    ", "---", "&a", "*a", "<<: ", "!!int",
      "'", "|", ">",
  };
  auto add_specs = [&](const std::vector<cocosim::OpSpec>& specs) {
    for (const auto& op : specs) {
      words.insert(op.name);
      for (const auto& r : op.results) words.insert(r);
      for (const auto& f : op.fields) {
        words.insert(f.name);
        for (const auto& c : f.choices) words.insert(c);
        if (f.vocab)
          for (const auto& [n, v] : *f.vocab) words.insert(n);
      }
    }
  };
  add_specs(cocosim::step_specs());
  add_specs(cocosim::guest_specs());
  for (const auto& e : cocosim::kExitNames) words.insert(e);
  for (const auto& w : words) quoted(w);
}

void int_expr_dict() {
  for (const char* w : {"0x", "KiB", "MiB", "GiB", "TiB", "EiB", "ps", "ns", "us", "ms", "s",
                        "+", "-", "*", "(", ")", " ", ".", "e", "0xffffffffffffffff",
                        "18446744073709551615", "3600"})
    quoted(w);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc == 3 ? argv[1] : "";
  if (which != "scenario" && which != "int_expr") {
    std::cerr << "usage: make_dict scenario|int_expr OUT\n";
    return 2;
  }
  out.open(argv[2]);
  if (which == "scenario") scenario_dict();
  else int_expr_dict();
  out.close();
  if (!out) {
    std::cerr << "make_dict: cannot write " << argv[2] << "\n";
    return 1;
  }
  return 0;
}
