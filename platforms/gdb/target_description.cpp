#include "gdb/target_description.h"

namespace cocosim::gdb {

namespace {

// Flags types as gdb's features/ files define them, so `info registers`
// shows eflags and cpsr by their bits.
const char kEflagsType[] =
    "<flags id=\"i386_eflags\" size=\"4\">"
    "<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"\" start=\"1\" end=\"1\"/>"
    "<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>"
    "<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>"
    "<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>"
    "<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>"
    "<field name=\"NT\" start=\"14\" end=\"14\"/><field name=\"RF\" start=\"16\" end=\"16\"/>"
    "<field name=\"VM\" start=\"17\" end=\"17\"/><field name=\"AC\" start=\"18\" end=\"18\"/>"
    "<field name=\"VIF\" start=\"19\" end=\"19\"/><field name=\"VIP\" start=\"20\" end=\"20\"/>"
    "<field name=\"ID\" start=\"21\" end=\"21\"/></flags>";

const char kSseTypes[] =
    "<vector id=\"v8bf16\" type=\"bfloat16\" count=\"8\"/>"
    "<vector id=\"v8h\" type=\"ieee_half\" count=\"8\"/>"
    "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>"
    "<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
    "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>"
    "<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
    "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>"
    "<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
    "<union id=\"vec128\"><field name=\"v8_bfloat16\" type=\"v8bf16\"/>"
    "<field name=\"v8_half\" type=\"v8h\"/><field name=\"v4_float\" type=\"v4f\"/>"
    "<field name=\"v2_double\" type=\"v2d\"/><field name=\"v16_int8\" type=\"v16i8\"/>"
    "<field name=\"v8_int16\" type=\"v8i16\"/><field name=\"v4_int32\" type=\"v4i32\"/>"
    "<field name=\"v2_int64\" type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/></union>"
    "<flags id=\"i386_mxcsr\" size=\"4\">"
    "<field name=\"IE\" start=\"0\" end=\"0\"/><field name=\"DE\" start=\"1\" end=\"1\"/>"
    "<field name=\"ZE\" start=\"2\" end=\"2\"/><field name=\"OE\" start=\"3\" end=\"3\"/>"
    "<field name=\"UE\" start=\"4\" end=\"4\"/><field name=\"PE\" start=\"5\" end=\"5\"/>"
    "<field name=\"DAZ\" start=\"6\" end=\"6\"/><field name=\"IM\" start=\"7\" end=\"7\"/>"
    "<field name=\"DM\" start=\"8\" end=\"8\"/><field name=\"ZM\" start=\"9\" end=\"9\"/>"
    "<field name=\"OM\" start=\"10\" end=\"10\"/><field name=\"UM\" start=\"11\" end=\"11\"/>"
    "<field name=\"PM\" start=\"12\" end=\"12\"/><field name=\"FZ\" start=\"15\" end=\"15\"/></flags>";

const char kCpsrType[] =
    "<flags id=\"cpsr_flags\" size=\"4\">"
    "<field name=\"SP\" start=\"0\" end=\"0\"/><field name=\"EL\" start=\"2\" end=\"3\"/>"
    "<field name=\"nRW\" start=\"4\" end=\"4\"/><field name=\"F\" start=\"6\" end=\"6\"/>"
    "<field name=\"I\" start=\"7\" end=\"7\"/><field name=\"A\" start=\"8\" end=\"8\"/>"
    "<field name=\"D\" start=\"9\" end=\"9\"/><field name=\"BTYPE\" start=\"10\" end=\"11\"/>"
    "<field name=\"SSBS\" start=\"12\" end=\"12\"/><field name=\"IL\" start=\"20\" end=\"20\"/>"
    "<field name=\"SS\" start=\"21\" end=\"21\"/><field name=\"PAN\" start=\"22\" end=\"22\"/>"
    "<field name=\"UAO\" start=\"23\" end=\"23\"/><field name=\"DIT\" start=\"24\" end=\"24\"/>"
    "<field name=\"TCO\" start=\"25\" end=\"25\"/><field name=\"V\" start=\"28\" end=\"28\"/>"
    "<field name=\"C\" start=\"29\" end=\"29\"/><field name=\"Z\" start=\"30\" end=\"30\"/>"
    "<field name=\"N\" start=\"31\" end=\"31\"/></flags>";

std::string reg_xml(const RegisterInfo& r, unsigned regnum) {
  std::string s = "<reg name=\"" + r.name + "\" bitsize=\"" + std::to_string(r.bits) +
                  "\" regnum=\"" + std::to_string(regnum) + "\"";
  if (!r.type.empty()) s += " type=\"" + r.type + "\"";
  if (!r.group.empty()) s += " group=\"" + r.group + "\"";
  return s + "/>";
}

}  // namespace

TargetDescription TargetDescription::for_arch(Arch arch) {
  TargetDescription d;
  auto& r = d.regs_;
  std::string xml = "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\">"
                    "<target version=\"1.0\">";
  if (arch == Arch::X86Tdx) {
    xml += "<architecture>i386:x86-64</architecture>";
    for (const char* n : {"rax", "rbx", "rcx", "rdx", "rsi", "rdi"}) r.push_back({n, 64, "int64", ""});
    r.push_back({"rbp", 64, "data_ptr", ""});
    r.push_back({"rsp", 64, "data_ptr", ""});
    for (int i = 8; i < 16; ++i) r.push_back({"r" + std::to_string(i), 64, "int64", ""});
    d.pc_ = unsigned(r.size());
    r.push_back({"rip", 64, "code_ptr", ""});
    r.push_back({"eflags", 32, "i386_eflags", ""});
    for (const char* n : {"cs", "ss", "ds", "es", "fs", "gs"}) r.push_back({n, 32, "int32", ""});
    for (int i = 0; i < 8; ++i) r.push_back({"st" + std::to_string(i), 80, "i387_ext", ""});
    for (const char* n : {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"})
      r.push_back({n, 32, "int", "float"});
    const size_t core_end = r.size();
    for (int i = 0; i < 16; ++i) r.push_back({"xmm" + std::to_string(i), 128, "vec128", ""});
    r.push_back({"mxcsr", 32, "i386_mxcsr", "vector"});
    xml += "<feature name=\"org.gnu.gdb.i386.core\">";
    xml += kEflagsType;
    for (size_t i = 0; i < core_end; ++i) xml += reg_xml(r[i], unsigned(i));
    xml += "</feature><feature name=\"org.gnu.gdb.i386.sse\">";
    xml += kSseTypes;
    for (size_t i = core_end; i < r.size(); ++i) xml += reg_xml(r[i], unsigned(i));
    xml += "</feature>";
  } else {
    xml += "<architecture>aarch64</architecture><feature name=\"org.gnu.gdb.aarch64.core\">";
    for (int i = 0; i < 31; ++i) r.push_back({"x" + std::to_string(i), 64, "", ""});
    r.push_back({"sp", 64, "data_ptr", ""});
    d.pc_ = unsigned(r.size());
    r.push_back({"pc", 64, "code_ptr", ""});
    r.push_back({"cpsr", 32, "cpsr_flags", ""});
    xml += kCpsrType;
    for (size_t i = 0; i < r.size(); ++i) xml += reg_xml(r[i], unsigned(i));
    xml += "</feature>";
  }
  xml += "</target>";
  d.xml_ = std::move(xml);
  return d;
}

size_t TargetDescription::g_packet_bytes() const {
  size_t n = 0;
  for (const auto& r : regs_) n += r.bits / 8;
  return n;
}

}  // namespace cocosim::gdb
