// A slot on a path of the platform where a model that sees every access can
// sit: the memory encryption engine between the bus and DRAM, pKVM's host
// stage-2 between the host's initiators and the bus. Each lane forwards its
// target socket to the initiator socket of the same index: b_transport, DMI
// requests and debug transport go down, DMI invalidations come back up the
// same lane, so the bus still tells every initiator apart. What the slot does
// to an access is its policy's business; the default passes everything.
#pragma once
#include <string>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include "common/access_extension.h"
#include "common/stats.h"
#include "common/types.h"

namespace cocosim {

// Plain C++ so it can be tested without a SystemC kernel.
class InterposerPolicy {
 public:
  virtual ~InterposerPolicy() = default;
  // The address the next hop decodes; tags carried in the address (a KeyID)
  // go into the extension when the access has one.
  virtual Addr downstream(Addr a, AccessExtension* ext) const { return a; }
  // Whether a DMI pointer for the page at `a` may pass through this slot.
  virtual bool dmi_allowed(Addr a) const { return true; }
  // Whether an access of `len` bytes at `a` may go on; a refused one ends
  // with an address error (the policy puts what the initiator sees, e.g. a
  // signal, in the extension).
  virtual bool admit(Addr a, bool write, unsigned len, AccessExtension* ext) const { return true; }
};

// The memory side: KeyID bits above the platform's physical address width
// (x86 MKTME/TDX) select the key and are stripped before DRAM; a pointer
// straight into DRAM exists only for KeyID 0, so DMI is refused for others.
// With no KeyID bits (arm64) the policy passes everything.
class KeyIdPolicy final : public InterposerPolicy {
 public:
  KeyIdPolicy(unsigned pa_bits, unsigned keyid_bits) : pa_bits_(pa_bits), keyid_bits_(keyid_bits) {}
  unsigned keyid(Addr a) const {
    return keyid_bits_ ? unsigned((a >> pa_bits_) & ((1u << keyid_bits_) - 1)) : 0;
  }
  Addr strip(Addr a) const { return keyid_bits_ ? a & ((Addr{1} << pa_bits_) - 1) : a; }
  unsigned pa_bits() const { return pa_bits_; }
  Addr downstream(Addr a, AccessExtension* ext) const override {
    if (ext && keyid_bits_) ext->keyid = uint16_t(keyid(a));
    return strip(a);
  }
  bool dmi_allowed(Addr a) const override { return keyid(a) == 0; }

 private:
  unsigned pa_bits_, keyid_bits_;
};

class Interposer : public sc_core::sc_module {
 public:
  // Lane i: whoever binds to in[i] reaches what out[i] is bound to.
  tlm_utils::multi_passthrough_target_socket<Interposer> in;
  tlm_utils::multi_passthrough_initiator_socket<Interposer> out;

  // `policy` must outlive the module; null passes everything through.
  Interposer(sc_core::sc_module_name name, const InterposerPolicy* policy, Stats& stats);

 private:
  void b_transport(int lane, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  bool get_direct_mem_ptr(int lane, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
  unsigned int transport_dbg(int lane, tlm::tlm_generic_payload& trans);
  void invalidate_direct_mem_ptr(int lane, sc_dt::uint64 start, sc_dt::uint64 end);

  InterposerPolicy pass_;
  const InterposerPolicy& policy_;
  uint64_t& transactions_;
  uint64_t& refused_;
  uint64_t& dmi_refused_;
};

}  // namespace cocosim
