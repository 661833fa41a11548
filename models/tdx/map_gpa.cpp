#include "tdx/map_gpa.h"

#include <algorithm>
#include <stdexcept>

#include "tdx/tdx_status.h"

namespace cocosim {

MapGpa::Step MapGpa::start(uint64_t gpa, uint64_t size) {
  Step s;
  if (!exit_enabled_) {
    s.done = Done{tdx::TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED, gpa};
    return s;
  }
  if (gpa + size <= gpa || !legal(gpa) || !legal(gpa + size - 1) ||
      is_private(gpa) != is_private(gpa + size - 1)) {
    s.done = Done{tdx::TDVMCALL_STATUS_INVALID_OPERAND, gpa};
    return s;
  }
  if (!page_aligned(gpa) || !page_aligned(size)) {
    s.done = Done{tdx::TDVMCALL_STATUS_ALIGN_ERROR, gpa};
    return s;
  }
  next_ = gpa;
  end_ = gpa + size;
  active_ = true;
  return piece();
}

MapGpa::Step MapGpa::piece() {
  Step s;
  const uint64_t size = std::min(end_ - next_, kMaxPerExit);
  s.exit = Exit{next_ & ~shared_bit(), size / kPageSize, is_private(next_) ? kEncrypted : kDecrypted};
  return s;
}

MapGpa::Step MapGpa::complete(uint64_t ret, bool interrupt_pending) {
  if (!active_) throw std::logic_error("MapGPA: completion without an exit");
  Step s;
  if (ret) {
    active_ = false;
    s.done = Done{tdx::TDVMCALL_STATUS_INVALID_OPERAND, next_};
    return s;
  }
  // As KVM does: the next piece starts 2 MiB further, whatever the first piece's size.
  next_ += kMaxPerExit;
  if (next_ >= end_) {
    active_ = false;
    s.done = Done{tdx::TDVMCALL_STATUS_SUCCESS, 0};
    return s;
  }
  if (interrupt_pending) {
    active_ = false;
    s.done = Done{tdx::TDVMCALL_STATUS_RETRY, next_};
    return s;
  }
  return piece();
}

}  // namespace cocosim
