#include "bus/bus.h"

#include <stdexcept>

namespace cocosim {

Bus::Bus(sc_core::sc_module_name name, Stats& stats)
    : sc_module(name),
      targ("targ"),
      init("init"),
      transactions_(stats.counter(std::string(this->name()) + ".transactions", "count", "transactions routed by b_transport (DMI accesses bypass the bus)")),
      decode_errors_(stats.counter(std::string(this->name()) + ".decode_errors", "count", "transactions to an address no target decodes")),
      dmi_refused_(stats.counter(std::string(this->name()) + ".dmi_refused", "count", "DMI requests refused by the policy (range holds a private frame)")),
      invalidations_(stats.counter(std::string(this->name()) + ".dmi_invalidations", "count", "DMI invalidations sent to initiators holding the range")) {
  targ.register_b_transport(this, &Bus::b_transport);
  targ.register_get_direct_mem_ptr(this, &Bus::get_direct_mem_ptr);
  targ.register_transport_dbg(this, &Bus::transport_dbg);
  init.register_invalidate_direct_mem_ptr(this, &Bus::invalidate_direct_mem_ptr);
}

void Bus::map(unsigned port, Addr base, uint64_t size, Addr target_offset,
              const std::string& name) {
  if (!map_.add({base, size, port, target_offset, name}))
    throw std::invalid_argument(std::string(this->name()) + ": region '" + name + "' overlaps");
}

void Bus::b_transport(int, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  ++transactions_;
  const Addr a = trans.get_address();
  Addr ta = 0;
  const BusRegion* r = route(a, &ta);
  if (!r || trans.get_data_length() - 1 > r->end() - (a & ~tag_mask_)) {
    ++decode_errors_;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  trans.set_address(ta);
  init[r->port]->b_transport(trans, delay);
  trans.set_address(a);
}

unsigned int Bus::transport_dbg(int, tlm::tlm_generic_payload& trans) {
  const Addr a = trans.get_address();
  Addr ta = 0;
  const BusRegion* r = route(a, &ta);
  if (!r) return 0;
  trans.set_address(ta);
  unsigned n = init[r->port]->transport_dbg(trans);
  trans.set_address(a);
  return n;
}

bool Bus::get_direct_mem_ptr(int id, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) {
  const Addr a = trans.get_address();
  Addr ta = 0;
  const BusRegion* r = route(a, &ta);
  if (!r) return false;
  // Pointers exist for untagged addresses only (a tagged one is refused below the bus).
  trans.set_address(ta);
  bool ok = init[r->port]->get_direct_mem_ptr(trans, dmi);
  trans.set_address(a);
  // Translate the target's range back to bus addresses, clipped to the
  // region. A tagged request (a KeyID above the PA width: the encryption
  // engine's plaintext for a TD) gets a tagged range back, so the initiator
  // keys it apart from the same frame's untagged address.
  const Addr tag = a & tag_mask_;
  Addr lo = dmi.get_start_address() & ~tag_mask_, hi = dmi.get_end_address() & ~tag_mask_;
  Addr rlo = r->target_offset, rhi = r->target_offset + r->size - 1;
  if (lo < rlo) {
    if (ok) dmi.set_dmi_ptr(dmi.get_dmi_ptr() + (rlo - lo));
    lo = rlo;
  }
  if (hi > rhi) hi = rhi;
  dmi.set_start_address((lo - r->target_offset + r->base) | tag);
  dmi.set_end_address((hi - r->target_offset + r->base) | tag);
  if (!ok) return false;
  if (dmi_policy_ && !dmi_policy_(static_cast<unsigned>(id), dmi.get_start_address(), dmi.get_end_address())) {
    ++dmi_refused_;
    dmi.allow_none();
    return false;
  }
  dmi_.record(static_cast<unsigned>(id), dmi.get_start_address(), dmi.get_end_address());
  return true;
}

void Bus::invalidate(Addr lo, Addr hi) {
  for (unsigned holder : dmi_.revoke(lo, hi)) {
    ++invalidations_;
    targ[holder]->invalidate_direct_mem_ptr(lo, hi);
  }
}

void Bus::invalidate_direct_mem_ptr(int port, sc_dt::uint64 start, sc_dt::uint64 end) {
  // A tagged range (one KeyID's view of a frame) stays tagged.
  const Addr tag = start & tag_mask_;
  start &= ~tag_mask_;
  end &= ~tag_mask_;
  for (const BusRegion* r : map_.regions_of_port(static_cast<unsigned>(port))) {
    Addr rlo = r->target_offset, rhi = r->target_offset + r->size - 1;
    if (end < rlo || start > rhi) continue;
    Addr lo = std::max<Addr>(start, rlo) - r->target_offset + r->base;
    Addr hi = std::min<Addr>(end, rhi) - r->target_offset + r->base;
    invalidate(lo | tag, hi | tag);
  }
}

}  // namespace cocosim
