#include "scripted_executor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "common/trace.h"

#include "tdx/map_gpa.h"
#include "tdx/tdx_module.h"

namespace cocosim {

ScriptedExecutor::ScriptedExecutor(const std::vector<GuestOp>& program, std::string program_name)
    : name_(std::move(program_name)) {
  stack_.push_back({&program, 0, 0, 1});
  // Number the ops in document order: the pc a debugger sees.
  struct Walk {
    ScriptedExecutor* self;
    void operator()(const std::vector<GuestOp>& ops) const {
      for (const GuestOp& op : ops) {
        self->index_[&op] = self->op_count_++;
        (*this)(op.body);
      }
    }
  };
  Walk{this}(program);
}

ScriptedExecutor::~ScriptedExecutor() {
  if (observer_) observer_->executor_gone(*this);
}

uint64_t ScriptedExecutor::pc() const {
  for (auto f = stack_.rbegin(); f != stack_.rend(); ++f)
    if (f->pc < f->ops->size()) return index_.at(&(*f->ops)[f->pc]);
  return op_count_;  // done (or the end of a body about to repeat: its loop's next op)
}

std::string ScriptedExecutor::describe(const GuestOp& op) const {
  std::string s = "program '" + name_ + "' line " + std::to_string(op.loc.line) + ": " + op.op;
  if (op.args.has("gpa")) {
    char b[32];
    std::snprintf(b, sizeof b, " gpa=0x%llx", (unsigned long long)op.args.u64("gpa"));
    s += b;
  }
  return s;
}

Outcome ScriptedExecutor::chunked(const GuestOp& op, GuestEnv& env, uint64_t gpa, uint64_t len,
                                  bool write, bool shared, uint8_t fill, Result& r) {
  if (!write) buffer_.resize(len);
  std::vector<uint8_t> src;
  while (progress_ < len) {
    const uint64_t a = gpa + progress_;
    const uint64_t n = std::min<uint64_t>(len - progress_, kPageSize - (a & kPageMask));
    uint8_t* p;
    if (write) {
      src.assign(n, fill);
      p = src.data();
    } else {
      p = buffer_.data() + progress_;
    }
    Outcome o = env.access(a, p, n, write, shared);
    if (o == Outcome::Exit) return o;
    if (o == Outcome::Fault) {
      r["fault"] = RValue::str(env.fault_name());
      return Outcome::Fault;
    }
    progress_ += n;
  }
  r["fault"] = RValue::str("none");
  if (!write) {
    r["bytes"] = RValue::bytes(buffer_.data(), buffer_.size());
    if (!buffer_.empty() &&
        std::all_of(buffer_.begin(), buffer_.end(), [&](uint8_t b) { return b == buffer_[0]; }))
      r["all"] = RValue::integer(buffer_[0]);
  }
  return Outcome::Ok;
}

Outcome ScriptedExecutor::execute(const GuestOp& op, GuestEnv& env, Result& r) {
  const Args& a = op.args;
  const bool shared = a.boolean("shared");
  if (op.op == "load") {
    const uint64_t gpa = a.u64("gpa");
    if (a.has("length")) return chunked(op, env, gpa, a.u64("length"), false, shared, 0, r);
    const unsigned size = unsigned(a.u64("size", 8));
    uint64_t v = 0;
    Outcome o = env.access(gpa, &v, size, false, shared);
    if (o == Outcome::Exit) return o;
    if (o == Outcome::Fault) {
      r["fault"] = RValue::str(env.fault_name());
      return o;
    }
    r["fault"] = RValue::str("none");
    r["value"] = RValue::integer(v);
    r["bytes"] = RValue::bytes(reinterpret_cast<uint8_t*>(&v), size);
    return o;
  }
  if (op.op == "store") {
    uint64_t v = a.u64("value");
    Outcome o = env.access(a.u64("gpa"), &v, unsigned(a.u64("size", 8)), true, shared);
    if (o == Outcome::Fault) r["fault"] = RValue::str(env.fault_name());
    else if (o == Outcome::Ok) r["fault"] = RValue::str("none");
    return o;
  }
  if (op.op == "memset")
    return chunked(op, env, a.u64("gpa"), a.u64("length"), true, shared, uint8_t(a.u64("byte")), r);
  if (op.op == "sweep") {
    const uint64_t gpa = a.u64("gpa"), length = a.u64("length");
    const unsigned size = unsigned(a.u64("size", 8));
    const uint64_t stride = std::max<uint64_t>(1, a.u64("stride", size));
    const uint64_t count = a.u64("count", length / stride);
    const bool write = a.str("op", "load") == "store";
    const uint64_t span = length ? length : 1;
    uint64_t off = (progress_ * stride) % span;  // resumes mid-sweep after an exit
    for (; progress_ < count; ++progress_) {
      uint64_t v = progress_;
      Outcome o = env.access(gpa + off, &v, size, write, shared);
      if (o == Outcome::Exit) return o;
      if (o == Outcome::Fault) {
        r["fault"] = RValue::str(env.fault_name());
        return o;
      }
      off += stride;
      if (off >= span) off %= span;
    }
    r["fault"] = RValue::str("none");
    return Outcome::Ok;
  }
  if (op.op == "hvc") {
    // SMCCC vendor-hypervisor calls by name (hypercalls.rst), or a raw function ID.
    static const std::pair<const char*, uint64_t> kCalls[] = {
        {"FEATURES", 0x86000000}, {"HYP_MEMINFO", 0xC6000002}, {"MEM_SHARE", 0xC6000003},
        {"MEM_UNSHARE", 0xC6000004}, {"MMIO_GUARD", 0xC6000007}};
    const std::string call = a.str("call");
    uint64_t fn = 0;
    bool known = false;
    for (const auto& [name, id] : kCalls)
      if (call == name) fn = id, known = true;
    if (!known) {
      char* end = nullptr;
      fn = std::strtoull(call.c_str(), &end, 0);
      known = !call.empty() && end && *end == 0;
    }
    if (!known) {
      r["fault"] = RValue::str("unknown hvc call '" + call + "'");
      return Outcome::Ok;
    }
    uint64_t ret = 0;
    Outcome o = env.hvc(fn, a.u64("ipa"), &ret);
    if (o == Outcome::Ok) {
      regs_["x0"] = ret;
      r["ret"] = RValue::integer(ret);
      r["fault"] = RValue::str("none");
    }
    return o;
  }
  if (op.op == "share" || op.op == "unshare") {
    uint64_t ret = 0;
    const bool to_private = op.op == "unshare";
    const uint64_t encrypted = uint64_t{1} << 4;  // KVM_MAP_GPA_RANGE_ENCRYPTED
    Outcome o = env.convert(a.u64("gpa"), a.u64("size", kPageSize), to_private, to_private ? encrypted : 0, &ret);
    if (o == Outcome::Ok) {
      r["ret"] = RValue::integer(ret);
      r["fault"] = RValue::str("none");
    }
    return o;
  }
  if (op.op == "tdcall" || op.op == "tdvmcall") return td_call(op, env, r);
  return Outcome::Ok;
}

Outcome ScriptedExecutor::td_call(const GuestOp& op, GuestEnv& env, Result& r) {
  const Args& a = op.args;
  TdcallRegs in;
  if (op.op == "tdvmcall") {
    // TDG.VP.VMCALL<MapGPA>: R11 the sub-function, R12 the GPA (with the shared
    // bit for `shared: true`, set by the vCPU's alias), R13 the size.
    in.leaf = uint64_t(TdcallLeaf::VP_VMCALL);
    in.r11 = MapGpa::kSubFunction;
    in.r12 = a.u64("gpa");
    in.r13 = a.u64("size", kPageSize);
    if (a.boolean("shared")) in.r12 |= shared_bit_hint_;
  } else {
    std::optional<uint64_t> leaf;
    for (uint64_t l = 0; l < 64 && !leaf; ++l)
      if (const char* n = tdcall_leaf_name(l); n && a.str("leaf") == n) leaf = l;
    if (!leaf) {
      r["status"] = RValue::str(TdxStatus(tdx::TDX_OPERAND_INVALID).name());
      r["fault"] = RValue::str("none");
      return Outcome::Ok;
    }
    in.leaf = *leaf;
    in.rcx = a.u64("gpa") | (a.str("level", "4K") == "2M" ? 1 : 0);
  }
  TdcallOut out;
  const Outcome o = env.tdcall(in, &out);
  if (o == Outcome::Exit) return o;
  if (o == Outcome::Fault) {
    r["fault"] = RValue::str(env.fault_name());
    return o;
  }
  r["fault"] = RValue::str("none");
  regs_["rax"] = out.status;
  regs_["rcx"] = out.rcx;
  regs_["rdx"] = out.rdx;
  regs_["r8"] = out.r8;
  regs_["r9"] = out.r9;
  regs_["r10"] = out.r10;
  regs_["r11"] = out.r11;
  if (op.op == "tdvmcall") {
    // The VMM's answer in R10 (GHCI status), the next GPA on RETRY in R11.
    r["status"] = RValue::str(out.r10 == tdx::TDVMCALL_STATUS_SUCCESS ? "TDVMCALL_STATUS_SUCCESS"
                              : out.r10 == tdx::TDVMCALL_STATUS_RETRY ? "TDVMCALL_STATUS_RETRY"
                              : out.r10 == tdx::TDVMCALL_STATUS_INVALID_OPERAND ? "TDVMCALL_STATUS_INVALID_OPERAND"
                              : out.r10 == tdx::TDVMCALL_STATUS_ALIGN_ERROR ? "TDVMCALL_STATUS_ALIGN_ERROR"
                              : out.r10 == tdx::TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED
                                  ? "TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED"
                                  : "0x" + hex_digits(out.r10));
    r["next"] = RValue::integer(out.r11);
    return Outcome::Ok;
  }
  r["status"] = RValue::str(TdxStatus(out.status).name());
  if (in.leaf == uint64_t(TdcallLeaf::MR_REPORT)) {
    static const char* kHex = "0123456789abcdef";
    std::string h;
    for (uint8_t b : out.mrtd) h += kHex[b >> 4], h += kHex[b & 15];
    r["mrtd"] = RValue::str(h);
  }
  if (in.leaf == uint64_t(TdcallLeaf::VP_VEINFO_GET) && out.status == 0) {
    r["exit_reason"] = RValue::integer(out.rcx);
    r["qualification"] = RValue::integer(out.rdx);
    r["gpa"] = RValue::integer(out.r9);
  }
  return Outcome::Ok;
}

unsigned ScriptedExecutor::op_code(const std::string& op) {
  static const char* const kOps[] = {"load", "store", "memset", "sweep", "share", "unshare",
                                     "hvc", "tdcall", "tdvmcall", "sync", "repeat"};
  for (unsigned i = 0; i < std::size(kOps); ++i)
    if (op == kOps[i]) return i + 1;
  return 0;
}

void ScriptedExecutor::run(GuestEnv& env) {
  if (aborted_) return env.ucall_abort(abort_message_);
  for (;;) {
    if (stack_.empty()) return env.ucall_done();
    Frame& f = stack_.back();
    if (f.pc >= f.ops->size()) {
      if (++f.iteration < f.count) {
        f.pc = 0;
        continue;
      }
      stack_.pop_back();
      if (!stack_.empty()) ++stack_.back().pc;
      continue;
    }
    const GuestOp& op = (*f.ops)[f.pc];
    if (observer_ && !observed_) {
      observed_ = true;
      observer_->before_op(*this, index_.at(&op));
    }
    if (op.op == "repeat") {
      const uint64_t count = op.args.u64("count");
      observed_ = false;
      if (count == 0 || op.body.empty()) {
        ++f.pc;
        continue;
      }
      stack_.push_back({&op.body, 0, 0, count});
      continue;
    }
    if (trace::on()) {
      trace::g_sink->record(scope_, "op_index", f.pc, 32, nullptr);
      trace::g_sink->value(trace::Cat::Guest, scope_, "op", op_code(op.op), 8, op.op.c_str());
      trace::g_sink->note(trace::Cat::Guest, scope_, name_ + "[" + std::to_string(f.pc) + "]: " + describe(op));
    }
    if (op.op == "sync") {
      observed_ = false;
      ++f.pc;  // resume after the sync
      ++completed_;
      if (ops_counter_) ++*ops_counter_;
      return env.ucall_sync(op.args.str("tag"));
    }
    Result r;
    if (execute(op, env, r) == Outcome::Exit) return;  // resume this op on re-entry
    progress_ = 0;
    observed_ = false;
    ++completed_;
    if (ops_counter_) ++*ops_counter_;
    // Expectations, or without them: no fault, and a hypercall that succeeded.
    std::string why;
    if (op.expect.present) {
      if (!op.expect.any)
        for (const CheckOutcome& c : check_expect(op.expect, r)) {
          if (c.ok) {
            ++passed_;
            continue;
          }
          ++failed_;
          if (why.empty())
            why = "expected " + std::string(c.negate ? "not " : "") + c.field + "=" + c.expected +
                  ", got " + c.actual;
        }
    } else {
      auto fault = r.find("fault");
      auto ret = r.find("ret");
      if (fault != r.end() && fault->second.s != "none") why = "unexpected fault " + fault->second.s;
      else if (ret != r.end() && ret->second.i != 0) why = "hypercall failed: ret=" + ret->second.show();
      if (!why.empty()) ++failed_;
    }
    if (!why.empty()) {
      aborted_ = true;
      abort_message_ = describe(op) + ": " + why;
      return env.ucall_abort(abort_message_);
    }
    ++f.pc;
  }
}

}  // namespace cocosim
