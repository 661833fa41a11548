#include "gmem/gmem_mmap_target.h"

#include "common/change_journal.h"

#include <algorithm>
#include <csignal>

#include "common/access_extension.h"
#include "common/hex.h"
#include "common/trace.h"

namespace cocosim {

GmemMmapTarget::GmemMmapTarget(sc_core::sc_module_name name, FrameAllocator& frames,
                               Stats& stats)
    : sc_module(name),
      socket("socket"),
      phys("phys"),
      frames_(frames),
      faults_(stats.counter(std::string(this->name()) + ".host_faults", "count", "host page faults on a guest_memfd mapping")),
      sigbus_(stats.counter(std::string(this->name()) + ".host_sigbus", "count", "host accesses to private or out-of-file guest_memfd pages (SIGBUS)")),
      unmaps_(stats.counter(std::string(this->name()) + ".host_unmaps", "count", "host PTEs of guest_memfd pages removed")) {
  socket.register_b_transport(this, &GmemMmapTarget::b_transport);
  socket.register_get_direct_mem_ptr(this, &GmemMmapTarget::get_direct_mem_ptr);
  socket.register_transport_dbg(this, &GmemMmapTarget::transport_dbg);
  phys.register_invalidate_direct_mem_ptr(this, &GmemMmapTarget::invalidate_from_phys);
}

void GmemMmapTarget::attach(GuestMemfd& f) {
  files_[f.id()].gmem = &f;
  f.set_host_mapper(this);
}

void GmemMmapTarget::detach(GuestMemfd& f) {
  unmap_range(f, 0, f.pages());
  files_.erase(f.id());
  f.set_host_mapper(nullptr);
}

GmemMmapTarget::File* GmemMmapTarget::file_of(Addr a) {
  auto it = files_.find(file_id(a));
  return it == files_.end() ? nullptr : &it->second;
}

bool GmemMmapTarget::map_pte(File& f, uint64_t index, int pid) {
  auto& pids = f.ptes[index];
  if (f.gmem) CC_JOURNAL(gmem_pages(f.gmem->id(), index, index + 1));
  if (std::find(pids.begin(), pids.end(), pid) != pids.end()) return false;
  pids.push_back(pid);
  return true;
}

void GmemMmapTarget::b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  const Addr a = trans.get_address();
  auto* ext = trans.get_extension<AccessExtension>();
  File* f = file_of(a);
  const uint64_t offset = file_offset(a);
  const uint64_t index = offset >> kPageShift;
  GuestMemfd::HostFault r = f ? f->gmem->host_fault(index) : GuestMemfd::HostFault{SIGBUS, 0};
  if (r.signal) {
    ++sigbus_;
    COCOSIM_PROBE(pulse(trace::Cat::Gmem, name(), "sigbus",
                        (f ? f->gmem->name() : std::string("?")) + " offset " + hex(offset)));
    if (ext) ext->signal = r.signal;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  // A fault only where the process has no PTE yet: later accesses use it,
  // through b_transport or a DMI pointer alike.
  if (map_pte(*f, index, ext ? ext->process : 0)) ++faults_;
  trans.set_address((r.pfn << kPageShift) | (offset & kPageMask));
  phys->b_transport(trans, delay);
  trans.set_address(a);
}

unsigned int GmemMmapTarget::transport_dbg(tlm::tlm_generic_payload& trans) {
  const Addr a = trans.get_address();
  File* f = file_of(a);
  if (!f) return 0;
  const uint64_t offset = file_offset(a);
  auto pfn = f->gmem->pfn(offset >> kPageShift);
  if (!pfn || f->gmem->is_private(offset >> kPageShift)) return 0;
  trans.set_address((*pfn << kPageShift) | (offset & kPageMask));
  unsigned n = phys->transport_dbg(trans);
  trans.set_address(a);
  return n;
}

bool GmemMmapTarget::get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) {
  const Addr a = trans.get_address();
  const Addr page = page_floor(a);
  dmi.set_start_address(page);
  dmi.set_end_address(page + kPageSize - 1);
  File* f = file_of(a);
  const uint64_t index = file_offset(a) >> kPageShift;
  if (!f || index >= f->gmem->pages() || f->gmem->is_private(index)) {
    dmi.allow_none();
    return false;
  }
  auto pfn = f->gmem->pfn(index);
  if (!pfn) {
    dmi.allow_none();
    return false;
  }
  trans.set_address(*pfn << kPageShift);
  bool ok = phys->get_direct_mem_ptr(trans, dmi);
  trans.set_address(a);
  // DRAM grants one frame: present it as this file page.
  dmi.set_start_address(page);
  dmi.set_end_address(page + kPageSize - 1);
  if (ok) {
    auto* ext = trans.get_extension<AccessExtension>();
    map_pte(*f, index, ext ? ext->process : 0);
    COCOSIM_PROBE(pulse(trace::Cat::Gmem, name(), "dmi_grant",
                        f->gmem->name() + " page " + std::to_string(index)));
  }
  return ok;
}

void GmemMmapTarget::invalidate_from_phys(sc_dt::uint64 start, sc_dt::uint64 end) {
  for (uint64_t pfn = pfn_of(start); pfn <= pfn_of(end); ++pfn) {
    const FrameUse* u = frames_.use(pfn);
    if (!u || u->kind != FrameKind::Gmem || !u->gmem) continue;
    Addr fa = file_address(u->gmem->id(), u->index << kPageShift);
    socket->invalidate_direct_mem_ptr(fa, fa + kPageSize - 1);
  }
}

void GmemMmapTarget::unmap_range(GuestMemfd& gf, uint64_t first, uint64_t end) {
  auto it = files_.find(gf.id());
  if (it == files_.end() || first >= end) return;
  if (unmap_hook_) unmap_hook_(gf, first, end);  // MMU notifiers first, as unmap_mapping_range
  auto& ptes = it->second.ptes;
  ptes.erase(ptes.lower_bound(first), ptes.lower_bound(end));
  ++unmaps_;
  COCOSIM_PROBE(pulse(trace::Cat::Gmem, name(), "dmi_revoke",
                      gf.name() + " pages " + std::to_string(first) + ".." + std::to_string(end)));
  // unmap_mapping_range: every process's PTEs and the DMI pointers derived from them.
  socket->invalidate_direct_mem_ptr(file_address(gf.id(), first << kPageShift),
                                    file_address(gf.id(), end << kPageShift) - 1);
}

void GmemMmapTarget::drop_process(GuestMemfd& gf, int pid, uint64_t first, uint64_t end,
                                  const std::function<bool(uint64_t)>& still_mapped) {
  auto it = files_.find(gf.id());
  if (it == files_.end()) return;
  auto& ptes = it->second.ptes;
  for (auto p = ptes.lower_bound(first); p != ptes.end() && p->first < end;) {
    if (still_mapped(p->first)) {
      ++p;
      continue;
    }
    auto& pids = p->second;
    pids.erase(std::remove(pids.begin(), pids.end(), pid), pids.end());
    p = pids.empty() ? ptes.erase(p) : std::next(p);
  }
}

bool GmemMmapTarget::page_mapped(const GuestMemfd& f, uint64_t index) const {
  auto it = files_.find(f.id());
  return it != files_.end() && it->second.ptes.count(index);
}

}  // namespace cocosim
