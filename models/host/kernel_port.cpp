#include "host/kernel_port.h"

#include <algorithm>

#include "common/change_journal.h"

namespace cocosim {

KernelPort::KernelPort(sc_core::sc_module_name name, Initiator who, SecurityState security)
    : sc_module(name), socket("socket"), who_(who), security_(security) {}

void KernelPort::access(tlm::tlm_command cmd, Addr pa, uint8_t* data, size_t len) {
  last_ok_ = true;
  last_mc_ = false;
  while (len) {
    size_t chunk = std::min<size_t>(len, kPageSize - (pa & kPageMask));
    tlm::tlm_generic_payload trans;
    AccessExtension ext;
    ext.who = who_;
    ext.security = security_;
    ScopedExtension scoped(trans, ext);
    prepare(trans, cmd == tlm::TLM_WRITE_COMMAND, pa, data, unsigned(chunk));
    socket->b_transport(trans, delay_);
    last_ok_ = last_ok_ && trans.is_response_ok();
    last_mc_ = last_mc_ || ext.machine_check;
    pa += chunk;
    data += chunk;
    len -= chunk;
  }
}

void KernelPort::read(Addr pa, void* dst, size_t len) {
  access(tlm::TLM_READ_COMMAND, pa, static_cast<uint8_t*>(dst), len);
}

void KernelPort::write(Addr pa, const void* src, size_t len) {
  if (security_ == SecurityState::Seam) CC_JOURNAL(tdx());  // Secure EPT, TD control pages
  access(tlm::TLM_WRITE_COMMAND, pa, static_cast<uint8_t*>(const_cast<void*>(src)), len);
}

size_t KernelPort::debug_read(Addr pa, void* dst, size_t len) {
  tlm::tlm_generic_payload trans;
  trans.set_command(tlm::TLM_READ_COMMAND);
  trans.set_address(pa);
  trans.set_data_ptr(static_cast<uint8_t*>(dst));
  trans.set_data_length(unsigned(len));
  return socket->transport_dbg(trans);
}

}  // namespace cocosim
