// DRAM as a TLM-2.0 target over SparseMemory. DMI is granted per 4 KiB frame,
// for frames that exist, so sparseness survives fast accesses.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_target_socket.h>

#include "common/stats.h"
#include "dram/sparse_memory.h"

namespace cocosim {

class Dram : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<Dram> socket;

  Dram(sc_core::sc_module_name name, uint64_t size, sc_core::sc_time latency, Stats& stats);

  SparseMemory& memory() { return mem_; }
  const SparseMemory& memory() const { return mem_; }

 private:
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  bool get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
  unsigned int transport_dbg(tlm::tlm_generic_payload& trans);
  bool execute(tlm::tlm_generic_payload& trans);

  SparseMemory mem_;
  sc_core::sc_time latency_;
  uint64_t& reads_;
  uint64_t& writes_;
  uint64_t& dmi_grants_;
};

}  // namespace cocosim
