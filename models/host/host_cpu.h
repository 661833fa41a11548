// The CPU that runs host software: issues user and kernel accesses as TLM
// transactions, with a DMI cache that honours every invalidation.
#pragma once
#include <cstdint>
#include <unordered_map>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "common/access_extension.h"
#include "common/dmi_cache.h"
#include "common/stats.h"
#include "common/types.h"

namespace cocosim {

class HostCpu : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<HostCpu> user;  // to the host MMU (virtual addresses)

  HostCpu(sc_core::sc_module_name name, Stats& stats);

  // A user access of `len` bytes by process `pid`, page by page, as the CPU
  // would do it: stops at the first faulting page. Returns 0 or the signal.
  int user_access(int pid, Addr va, uint8_t* buf, size_t len, bool write,
                  sc_core::sc_time& delay);

  size_t dmi_pages() const { return dmi_.size(); }

 private:
  void invalidate(sc_dt::uint64 start, sc_dt::uint64 end);

  DmiCache dmi_;  // by host-virtual page number
  sc_core::sc_time dmi_latency_;
  uint64_t& dmi_hits_;
  uint64_t& transactions_;
};

}  // namespace cocosim
