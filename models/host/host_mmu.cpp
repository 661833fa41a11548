#include "host/host_mmu.h"

#include <csignal>
#include <vector>

#include "common/access_extension.h"
#include "common/change_journal.h"
#include "gmem/gmem_mmap_target.h"

namespace cocosim {

HostMmu::HostMmu(sc_core::sc_module_name name, HostMm& mm, GmemMmapTarget& gmem_target,
                 Stats& stats)
    : sc_module(name),
      socket("socket"),
      phys("phys"),
      gmem("gmem"),
      mm_(mm),
      gmem_target_(gmem_target),
      segv_(stats.counter(std::string(this->name()) + ".sigsegv", "count", "host user accesses to unmapped addresses (SIGSEGV)")),
      anon_faults_(stats.counter(std::string(this->name()) + ".anon_accesses", "count", "host user accesses routed to anonymous memory")) {
  socket.register_b_transport(this, &HostMmu::b_transport);
  socket.register_get_direct_mem_ptr(this, &HostMmu::get_direct_mem_ptr);
  socket.register_transport_dbg(this, &HostMmu::transport_dbg);
  phys.register_invalidate_direct_mem_ptr(this, &HostMmu::invalidate_from_phys);
  gmem.register_invalidate_direct_mem_ptr(this, &HostMmu::invalidate_from_gmem);
}

bool HostMmu::route(Addr hv, Route* r) {
  const int pid = pid_of(hv);
  const Addr va = hva_of(hv);
  Vma* v = mm_.find_vma(pid, va);
  if (!v) return false;
  r->vma = v;
  const uint64_t rel = va - v->start;
  if (v->kind == VmaKind::Gmem) {
    r->to_gmem = true;
    r->below = GmemMmapTarget::file_address(v->gmem->id(), (v->pgoff << kPageShift) + rel);
  } else {
    r->to_gmem = false;
    auto pfn = mm_.anon_fault(*v, rel >> kPageShift);
    if (!pfn) {
      r->oom = true;
      return false;
    }
    r->below = (*pfn << kPageShift) | (rel & kPageMask);
  }
  return true;
}

void HostMmu::b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  const Addr hv = trans.get_address();
  Route r;
  if (!route(hv, &r)) {
    if (!r.oom) ++segv_;
    if (auto* ext = trans.get_extension<AccessExtension>()) ext->signal = r.oom ? SIGBUS : SIGSEGV;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  trans.set_address(r.below);
  if (r.to_gmem) {
    gmem->b_transport(trans, delay);
  } else {
    ++anon_faults_;
    phys->b_transport(trans, delay);
  }
  trans.set_address(hv);
}

unsigned int HostMmu::transport_dbg(tlm::tlm_generic_payload& trans) {
  const Addr hv = trans.get_address();
  Route r;
  if (!route(hv, &r)) return 0;
  trans.set_address(r.below);
  unsigned n = r.to_gmem ? gmem->transport_dbg(trans) : phys->transport_dbg(trans);
  trans.set_address(hv);
  return n;
}

void HostMmu::record_grant(Addr hv_page, bool to_gmem, Addr below_page) {
  auto old = grants_.find(hv_page);
  if (old != grants_.end()) return;
  grants_.emplace(hv_page, DmiGrant{to_gmem, below_page});
  if (to_gmem)
    CC_JOURNAL(gmem_pages(GmemMmapTarget::file_id(below_page),
                          GmemMmapTarget::file_offset(below_page) >> kPageShift,
                          (GmemMmapTarget::file_offset(below_page) >> kPageShift) + 1));
  (to_gmem ? file_to_host_ : phys_to_host_).emplace(below_page, hv_page);
}

bool HostMmu::get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) {
  const Addr hv = trans.get_address();
  const Addr hv_page = page_floor(hv);
  Route r;
  dmi.set_start_address(hv_page);
  dmi.set_end_address(hv_page + kPageSize - 1);
  if (!route(hv, &r)) {
    dmi.allow_none();
    return false;
  }
  trans.set_address(r.below);
  bool ok = r.to_gmem ? gmem->get_direct_mem_ptr(trans, dmi) : phys->get_direct_mem_ptr(trans, dmi);
  trans.set_address(hv);
  // Both targets below grant exactly the page asked for; present it at its host address.
  if (ok && dmi.get_start_address() != page_floor(r.below)) ok = false;
  dmi.set_start_address(hv_page);
  dmi.set_end_address(hv_page + kPageSize - 1);
  if (!ok) {
    dmi.allow_none();
    return false;
  }
  record_grant(hv_page, r.to_gmem, page_floor(r.below));
  return true;
}

void HostMmu::invalidate_below(std::multimap<Addr, Addr>& index, Addr start, Addr end) {
  std::vector<Addr> pages;
  for (auto it = index.lower_bound(page_floor(start)); it != index.end() && it->first <= end;) {
    pages.push_back(it->second);
    it = index.erase(it);
  }
  for (Addr hv_page : pages) {
    grants_.erase(hv_page);
    socket->invalidate_direct_mem_ptr(hv_page, hv_page + kPageSize - 1);
  }
}

void HostMmu::invalidate_from_phys(sc_dt::uint64 start, sc_dt::uint64 end) {
  invalidate_below(phys_to_host_, start, end);
}

void HostMmu::invalidate_from_gmem(sc_dt::uint64 start, sc_dt::uint64 end) {
  invalidate_below(file_to_host_, start, end);
}

void HostMmu::revoke_host_range(Addr lo, Addr hi) {
  for (auto it = grants_.lower_bound(lo); it != grants_.end() && it->first <= hi;) {
    auto& index = it->second.to_gmem ? file_to_host_ : phys_to_host_;
    auto [b, e] = index.equal_range(it->second.below);
    for (auto x = b; x != e; ++x)
      if (x->second == it->first) {
        index.erase(x);
        break;
      }
    it = grants_.erase(it);
  }
  socket->invalidate_direct_mem_ptr(lo, hi);
}

int HostMmu::munmap(Vma* v) {
  revoke_host_range(host_virtual(v->pid, v->start), host_virtual(v->pid, v->end()) - 1);
  if (v->kind == VmaKind::Gmem) {
    Process* proc = mm_.process(v->pid);
    auto other_maps = [&](uint64_t index) {
      for (const auto& [start, w] : proc->vmas)
        if (w.get() != v && w->gmem == v->gmem && index >= w->pgoff &&
            index < w->pgoff + (w->length >> kPageShift))
          return true;
      return false;
    };
    gmem_target_.drop_process(*v->gmem, v->pid, v->pgoff, v->pgoff + (v->length >> kPageShift),
                              other_maps);
  }
  return mm_.munmap(v);
}

}  // namespace cocosim
