// The memory encryption engine in the platform's `mee` slot, between the bus
// and DRAM: a thin sc_module over EncryptedMemory. It decodes the KeyID bits
// above the physical address width (KeyIdPolicy), decides whether an access
// is a TD's (Td or Seam state with a private KeyID), hands the access to the
// engine and charges DRAM's latency per access plus `timing.mee` per line
// that went through the cipher, the same through b_transport as through a DMI
// pointer to the owner's plaintext (whose latency is DRAM's).
//  - A non-TD access with a private KeyID, or any access with a KeyID whose
//    key is not programmed, is refused (TLM_ADDRESS_ERROR_RESPONSE): outside
//    SEAM the CPU treats such an address as beyond MAXPHYADDR.
//  - A machine check comes back as TLM_GENERIC_ERROR_RESPONSE with
//    AccessExtension::machine_check set.
//  - DMI: KeyID 0 reaches DRAM itself, unless a line of the frame carries a TD
//    bit or poison; a private KeyID reaches the owner's plaintext copy, for a
//    TD access only, over the tagged page; revoked before a write-back.
//  - Debug transport without a KeyID reads raw DRAM as it will be after
//    write-back; with one, the plaintext that KeyID would read. No side effects.
#pragma once
#include <memory>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>
#include <tlm_utils/simple_initiator_socket.h>

#include "bus/interposer.h"
#include "common/access_extension.h"
#include "common/memory_port.h"
#include "common/stats.h"
#include "mee/encrypted_memory.h"
#include "mee/key_ids.h"

namespace cocosim {

class MeeSlot : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<MeeSlot> in;
  tlm_utils::simple_initiator_socket<MeeSlot> out;

  // `keys` and `decode` must outlive the module; shared MKTME KeyIDs are
  // programmed at once (the host may use them), private ones by program_key.
  MeeSlot(sc_core::sc_module_name name, const KeyIdPolicy& decode, const KeyIdSpace& keys,
          MemoryEncryptionEngine::Integrity integrity, uint64_t seed, sc_core::sc_time line_cost,
          sc_core::sc_time dram_latency, Stats& stats);

  EncryptedMemory& memory() { return *mem_; }
  const EncryptedMemory& memory() const { return *mem_; }
  // Whether the access state and KeyID make a TD access (TD-owner bit set).
  bool td_access(const AccessExtension* ext, unsigned keyid) const;

 private:
  // The engine's way to DRAM: real transactions through `out`.
  class DramPort : public MemoryPort {
   public:
    explicit DramPort(MeeSlot& s) : s_(s) {}
    void read(Addr pa, void* dst, size_t len) override;
    void write(Addr pa, const void* src, size_t len) override;

   private:
    void access(bool write, Addr pa, uint8_t* p, size_t len);
    MeeSlot& s_;
  };

  void b_transport(int lane, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  bool get_direct_mem_ptr(int lane, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
  unsigned int transport_dbg(int lane, tlm::tlm_generic_payload& trans);
  void revoke(uint64_t pfn, unsigned keyid);

  const KeyIdPolicy& decode_;
  const KeyIdSpace& keys_;
  sc_core::sc_time line_cost_, dram_latency_;
  DramPort dram_port_{*this};
  std::unique_ptr<EncryptedMemory> mem_;
  uint64_t& transactions_;
  uint64_t& refused_;
  uint64_t& dmi_grants_;
  uint64_t& dmi_refused_;
  uint64_t& dmi_revoked_;
};

}  // namespace cocosim
