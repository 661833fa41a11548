// The host's user-address MMU: a TLM target for host-virtual addresses
// ((pid << 48) | va) that routes anonymous mappings to DRAM through the host
// kernel's page allocator and guest_memfd mappings to the guest_memfd mmap
// target. It forwards DMI up to the host CPU and knows every pointer it gave,
// so an invalidation from below reaches exactly the host pages derived from it.
#pragma once
#include <map>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "common/stats.h"
#include "gmem/gmem_mmap_target.h"
#include "host/host_mm.h"

namespace cocosim {

class HostMmu : public sc_core::sc_module {
 public:
  tlm_utils::simple_target_socket<HostMmu> socket;     // from the host CPU
  tlm_utils::simple_initiator_socket<HostMmu> phys;    // anonymous memory
  tlm_utils::simple_initiator_socket<HostMmu> gmem;    // guest_memfd mappings

  HostMmu(sc_core::sc_module_name name, HostMm& mm, GmemMmapTarget& gmem_target, Stats& stats);

  // munmap: PTEs and DMI pointers of the VMA go first, then the VMA itself.
  int munmap(Vma* v);
  // Where a host page's DMI pointer leads (for the invariant checker).
  struct DmiGrant {
    bool to_gmem;
    Addr below;  // physical page or guest_memfd file page
  };
  const std::map<Addr, DmiGrant>& dmi_grants() const { return grants_; }
  // Whether some host page holds a DMI pointer to this physical page or file page.
  bool grants_to(bool to_gmem, Addr below_page) const {
    return (to_gmem ? file_to_host_ : phys_to_host_).count(below_page) != 0;
  }

 private:
  struct Route {
    Vma* vma = nullptr;
    bool to_gmem = false;
    Addr below = 0;  // physical or file address of the accessed byte
    bool oom = false;  // mapped, but no frame could be had
  };
  bool route(Addr hv, Route* r);
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  bool get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
  unsigned int transport_dbg(tlm::tlm_generic_payload& trans);
  void invalidate_from_phys(sc_dt::uint64 start, sc_dt::uint64 end);
  void invalidate_from_gmem(sc_dt::uint64 start, sc_dt::uint64 end);
  void invalidate_below(std::multimap<Addr, Addr>& index, Addr start, Addr end);
  void record_grant(Addr hv_page, bool to_gmem, Addr below_page);
  void revoke_host_range(Addr lo, Addr hi);

  HostMm& mm_;
  GmemMmapTarget& gmem_target_;
  std::map<Addr, DmiGrant> grants_;              // host-virtual page -> where it leads
  std::multimap<Addr, Addr> phys_to_host_;       // physical page -> host-virtual pages
  std::multimap<Addr, Addr> file_to_host_;       // file page -> host-virtual pages
  uint64_t& segv_;
  uint64_t& anon_faults_;
};

}  // namespace cocosim
