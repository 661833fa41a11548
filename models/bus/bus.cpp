#include "bus/bus.h"

#include <stdexcept>

#include "common/access_extension.h"
#include "common/hex.h"
#include "common/trace.h"

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

void Bus::b_transport(int id, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  ++transactions_;
  const Addr a = trans.get_address();
  Addr ta = 0;
  const BusRegion* r = route(a, &ta);
  if (!r || trans.get_data_length() - 1 > r->end() - (a & ~tag_mask_)) {
    ++decode_errors_;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  if (trace::on()) trace_transaction(id, trans);
  trans.set_address(ta);
  init[r->port]->b_transport(trans, delay);
  trans.set_address(a);
}

void Bus::trace_transaction(int port, const tlm::tlm_generic_payload& trans) {
  AccessExtension* ext = nullptr;
  trans.get_extension(ext);
  const Addr a = trans.get_address();
  const unsigned keyid = tag_mask_ ? unsigned((a & tag_mask_) >> __builtin_ctzll(tag_mask_)) : 0;
  const char* who = ext ? initiator_name(ext->who) : "unmarked";
  const bool write = trans.is_write();
  trace::Sink& t = *trace::g_sink;
  t.record(name(), "addr", a & ~tag_mask_, 64, nullptr);
  t.record(name(), "cmd", write ? 1 : 0, 1, write ? "write" : "read");
  t.record(name(), "initiator", unsigned(port), 8, nullptr);
  t.record(name(), "initiator_kind", ext ? unsigned(ext->who) : 255, 8, who);
  t.record(name(), "keyid", keyid, 16, nullptr);
  t.note(trace::Cat::Bus, name(),
         std::string(write ? "write " : "read ") + hex(a & ~tag_mask_) + " len " +
             std::to_string(trans.get_data_length()) + " from port " + std::to_string(port) + " (" +
             who + ") keyid " + std::to_string(keyid));
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
  if (!dmi_enabled_) {
    dmi.allow_none();
    return false;
  }
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
  COCOSIM_PROBE(pulse(trace::Cat::Bus, name(), "dmi_grant",
                      "port " + std::to_string(id) + " " + hex(dmi.get_start_address()) + ".." +
                          hex(dmi.get_end_address())));
  return true;
}

void Bus::invalidate(Addr lo, Addr hi) {
  for (unsigned holder : dmi_.revoke(lo, hi)) {
    ++invalidations_;
    COCOSIM_PROBE(pulse(trace::Cat::Bus, name(), "dmi_invalidate",
                        "port " + std::to_string(holder) + " " + hex(lo) + ".." + hex(hi)));
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
