#include "bus/interposer.h"

namespace cocosim {

Interposer::Interposer(sc_core::sc_module_name name, const InterposerPolicy* policy, Stats& stats)
    : sc_module(name),
      in("in"),
      out("out"),
      policy_(policy ? *policy : pass_),
      transactions_(stats.counter(std::string(this->name()) + ".transactions", "count",
                                  "b_transport calls through this slot (DMI accesses bypass it)")),
      refused_(stats.counter(std::string(this->name()) + ".refused", "count",
                             "accesses this slot's policy refused (an abort for the initiator)")),
      dmi_refused_(stats.counter(std::string(this->name()) + ".dmi_refused", "count",
                                 "DMI requests this slot's policy refused")) {
  in.register_b_transport(this, &Interposer::b_transport);
  in.register_get_direct_mem_ptr(this, &Interposer::get_direct_mem_ptr);
  in.register_transport_dbg(this, &Interposer::transport_dbg);
  out.register_invalidate_direct_mem_ptr(this, &Interposer::invalidate_direct_mem_ptr);
}

void Interposer::b_transport(int lane, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  ++transactions_;
  const Addr a = trans.get_address();
  AccessExtension* ext = nullptr;
  trans.get_extension(ext);
  if (!policy_.admit(a, trans.is_write(), trans.get_data_length(), ext)) {
    ++refused_;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    trans.set_dmi_allowed(false);
    return;
  }
  trans.set_address(policy_.downstream(a, ext));
  out[lane]->b_transport(trans, delay);
  trans.set_address(a);
}

bool Interposer::get_direct_mem_ptr(int lane, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) {
  const Addr a = trans.get_address();
  if (!policy_.dmi_allowed(a)) {
    ++dmi_refused_;
    // Refused for this page only: the initiator may ask again elsewhere.
    dmi.set_start_address(a & ~kPageMask);
    dmi.set_end_address(a | kPageMask);
    dmi.allow_none();
    return false;
  }
  trans.set_address(policy_.downstream(a, nullptr));
  const bool ok = out[lane]->get_direct_mem_ptr(trans, dmi);
  trans.set_address(a);
  return ok;
}

unsigned int Interposer::transport_dbg(int lane, tlm::tlm_generic_payload& trans) {
  const Addr a = trans.get_address();
  trans.set_address(policy_.downstream(a, nullptr));
  const unsigned n = out[lane]->transport_dbg(trans);
  trans.set_address(a);
  return n;
}

void Interposer::invalidate_direct_mem_ptr(int lane, sc_dt::uint64 start, sc_dt::uint64 end) {
  in[lane]->invalidate_direct_mem_ptr(start, end);
}

}  // namespace cocosim
