// Interconnect: routes b_transport / DMI / debug by address, forwards DMI grants
// (after an optional policy check) and sends each invalidation only to the
// initiators that hold a pointer into the range.
#pragma once
#include <functional>
#include <string>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include "bus/address_map.h"
#include "bus/dmi_registry.h"
#include "common/stats.h"

namespace cocosim {

class Bus : public sc_core::sc_module {
 public:
  // Initiators bind to `targ`, targets to `init` (one port each, in binding order).
  tlm_utils::multi_passthrough_target_socket<Bus> targ;
  tlm_utils::multi_passthrough_initiator_socket<Bus> init;

  // Decides whether a DMI pointer to bus range [lo, hi] may be handed out to
  // the initiator on port `initiator`.
  using DmiPolicy = std::function<bool(unsigned initiator, Addr lo, Addr hi)>;

  Bus(sc_core::sc_module_name name, Stats& stats);

  // Map [base, base+size) to target port `port`, which sees addresses from `target_offset`.
  void map(unsigned port, Addr base, uint64_t size, Addr target_offset, const std::string& name);
  void set_dmi_policy(DmiPolicy p) { dmi_policy_ = std::move(p); }
  // false: no DMI pointer at all, every access is a b_transport (--no-dmi).
  void set_dmi_enabled(bool on) { dmi_enabled_ = on; }
  // Decode only the low `bits` of an address; the bits above (a KeyID) ride
  // along to the target, whose slot interprets them.
  void set_decode_bits(unsigned bits) { tag_mask_ = bits >= 64 ? 0 : ~((Addr{1} << bits) - 1); }

  // Revoke every DMI pointer into bus range [lo, hi] (used on ownership changes).
  void invalidate(Addr lo, Addr hi);

  const DmiRegistry& dmi_registry() const { return dmi_; }
  const AddressMap& address_map() const { return map_; }

 private:
  void b_transport(int id, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  bool get_direct_mem_ptr(int id, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
  unsigned int transport_dbg(int id, tlm::tlm_generic_payload& trans);
  void invalidate_direct_mem_ptr(int port, sc_dt::uint64 start, sc_dt::uint64 end);
  // The waveform and text trace of one transaction (tracing on only).
  void trace_transaction(int port, const tlm::tlm_generic_payload& trans);

  // The region an address decodes to, and the address its target sees.
  const BusRegion* route(Addr a, Addr* target_addr) const {
    const BusRegion* r = map_.find(a & ~tag_mask_);
    if (r) *target_addr = ((a & ~tag_mask_) - r->base + r->target_offset) | (a & tag_mask_);
    return r;
  }

  AddressMap map_;
  Addr tag_mask_ = 0;
  DmiRegistry dmi_;
  DmiPolicy dmi_policy_;
  bool dmi_enabled_ = true;
  uint64_t& transactions_;
  uint64_t& decode_errors_;
  uint64_t& dmi_refused_;
  uint64_t& invalidations_;
};

}  // namespace cocosim
