#include "dram/dram.h"

#include <new>

namespace cocosim {

Dram::Dram(sc_core::sc_module_name name, uint64_t size, sc_core::sc_time latency, Stats& stats)
    : sc_module(name),
      socket("socket"),
      mem_(size),
      latency_(latency),
      reads_(stats.counter(std::string(this->name()) + ".reads", "count", "read transactions served by b_transport (not DMI)")),
      writes_(stats.counter(std::string(this->name()) + ".writes", "count", "write transactions served by b_transport (not DMI)")),
      dmi_grants_(stats.counter(std::string(this->name()) + ".dmi_grants", "count", "DMI pointers granted")) {
  socket.register_b_transport(this, &Dram::b_transport);
  socket.register_get_direct_mem_ptr(this, &Dram::get_direct_mem_ptr);
  socket.register_transport_dbg(this, &Dram::transport_dbg);
}

bool Dram::execute(tlm::tlm_generic_payload& trans) {
  const Addr a = trans.get_address();
  const unsigned len = trans.get_data_length();
  if (trans.get_byte_enable_ptr()) {
    trans.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    return false;
  }
  if (!mem_.in_range(a, len)) {
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return false;
  }
  if (trans.is_read()) {
    mem_.read(a, trans.get_data_ptr(), len);
  } else if (trans.is_write()) {
    mem_.write(a, trans.get_data_ptr(), len);
  }
  trans.set_response_status(tlm::TLM_OK_RESPONSE);
  return true;
}

void Dram::b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  if (execute(trans)) {
    // Counted here, not in execute(): debug transactions are observers'.
    if (trans.is_read()) ++reads_;
    else if (trans.is_write()) ++writes_;
    delay += latency_;
    // Offer DMI for a frame that has storage, and to a read of one that has
    // none yet: the pointer request gives it its (zeroed) storage, so pages
    // that are only read run at DMI speed too. A write to a frame without
    // storage stays on b_transport, so writing zeros (a memset of fresh
    // memory) keeps DRAM sparse; the first non-zero byte makes the storage.
    trans.set_dmi_allowed(trans.is_read() || mem_.allocated(pfn_of(trans.get_address())));
  }
}

unsigned int Dram::transport_dbg(tlm::tlm_generic_payload& trans) {
  return execute(trans) ? trans.get_data_length() : 0;
}

bool Dram::get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) {
  const Addr a = trans.get_address();
  const Addr base = page_floor(a);
  dmi.allow_read_write();
  dmi.set_read_latency(latency_);
  dmi.set_write_latency(latency_);
  if (!mem_.in_range(a, 1)) {
    dmi.allow_none();
    dmi.set_start_address(a);
    dmi.set_end_address(a);
    return false;
  }
  uint8_t* f = nullptr;
  try {
    f = mem_.frame(pfn_of(a), /*allocate=*/true);
  } catch (const std::bad_alloc&) {
    // No host memory for the storage: the access stays on b_transport.
  }
  dmi.set_start_address(base);
  dmi.set_end_address(base + kPageSize - 1);
  if (!f) {
    dmi.allow_none();
    return false;
  }
  dmi.set_dmi_ptr(f);
  ++dmi_grants_;
  return true;
}

}  // namespace cocosim
