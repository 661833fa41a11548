// The registers gdb is told about (qXfer:features:read:target.xml) and the
// order of the `g` packet: x86-64 (gdb's org.gnu.gdb.i386.core and
// org.gnu.gdb.i386.sse features, architecture i386:x86-64) for x86-tdx, and
// AArch64 (org.gnu.gdb.aarch64.core, architecture aarch64) for arm64-pkvm.
// Names, sizes, types and order follow gdb's own features/ files, so
// gdb-multiarch accepts the description and numbers registers as we do.
#pragma once
#include <string>
#include <vector>

#include "arch/arch_id.h"

namespace cocosim::gdb {

struct RegisterInfo {
  std::string name;
  unsigned bits;
  std::string type;  // gdb's type name, "" for the default (an integer)
  std::string group;
};

class TargetDescription {
 public:
  static TargetDescription for_arch(Arch arch);

  const std::string& xml() const { return xml_; }
  const std::vector<RegisterInfo>& registers() const { return regs_; }
  // gdb's register number of the program counter (rip, pc).
  unsigned pc_regnum() const { return pc_; }
  // Bytes of the whole `g` packet.
  size_t g_packet_bytes() const;

 private:
  std::vector<RegisterInfo> regs_;
  unsigned pc_ = 0;
  std::string xml_;
};

}  // namespace cocosim::gdb
