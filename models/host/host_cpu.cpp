#include "host/host_cpu.h"

#include <algorithm>
#include <csignal>
#include <cstring>

#include "host/host_mm.h"

namespace cocosim {

HostCpu::HostCpu(sc_core::sc_module_name name, Stats& stats)
    : sc_module(name),
      user("user"),
      dmi_hits_(stats.counter(std::string(this->name()) + ".dmi_hits", "count", "host user accesses served by a DMI pointer")),
      transactions_(stats.counter(std::string(this->name()) + ".transactions", "count", "host user accesses sent as b_transport")) {
  user.register_invalidate_direct_mem_ptr(this, &HostCpu::invalidate);
}

int HostCpu::user_access(int pid, Addr va, uint8_t* buf, size_t len, bool write,
                         sc_core::sc_time& delay) {
  // Beyond the user address space (or wrapping): no mapping can be there.
  if (va >= HostMm::kUserTop || len > HostMm::kUserTop - va) return SIGSEGV;
  while (len) {
    const Addr hv = host_virtual(pid, va);
    const size_t chunk = std::min<size_t>(len, kPageSize - (va & kPageMask));
    if (uint8_t* page = dmi_.find(pfn_of(hv))) {
      ++dmi_hits_;
      uint8_t* p = page + (va & kPageMask);
      write ? std::memcpy(p, buf, chunk) : std::memcpy(buf, p, chunk);
      delay += dmi_latency_;
    } else {
      tlm::tlm_generic_payload trans;
      AccessExtension ext;
      ext.who = Initiator::HostUser;
      ext.process = pid;
      ScopedExtension scoped(trans, ext);
      prepare(trans, write, hv, buf, unsigned(chunk));
      ++transactions_;
      user->b_transport(trans, delay);
      bool ok = trans.is_response_ok();
      int sig = ext.signal;
      if (ok && trans.is_dmi_allowed()) {
        tlm::tlm_dmi dmi;
        trans.set_address(page_floor(hv));
        if (user->get_direct_mem_ptr(trans, dmi) && dmi.is_read_write_allowed() &&
            dmi.get_start_address() == page_floor(hv)) {
          dmi_.insert(pfn_of(hv), dmi.get_dmi_ptr());
          dmi_latency_ = dmi.get_read_latency();
        }
      }
      if (!ok) return sig ? sig : SIGSEGV;
    }
    va += chunk;
    buf += chunk;
    len -= chunk;
  }
  return 0;
}

void HostCpu::invalidate(sc_dt::uint64 start, sc_dt::uint64 end) {
  dmi_.invalidate(pfn_of(start), pfn_of(end));
}

}  // namespace cocosim
