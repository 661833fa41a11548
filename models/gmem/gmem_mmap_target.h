// The host's mmap of guest_memfd on the memory bus: a TLM target addressed by
// (file, offset) that serves shared pages, raises SIGBUS for private pages and
// pages past EOF, and keeps the host PTEs of every process that mapped a page.
// DMI pointers it hands out are revoked over the exact range on conversion.
#pragma once
#include <functional>
#include <map>
#include <unordered_map>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "common/stats.h"
#include "gmem/guest_memfd.h"
#include "host/frame_allocator.h"

namespace cocosim {

class GmemMmapTarget : public sc_core::sc_module, public GmemHostMapper {
 public:
  tlm_utils::simple_target_socket<GmemMmapTarget> socket;    // file-offset addresses
  tlm_utils::simple_initiator_socket<GmemMmapTarget> phys;   // to the physical bus

  // The target's address space: (file id << 48) | offset. GuestMemfd sizes are
  // capped at 2^48 (GuestMemfd::kMaxSize) and ids at 2^16 (Kvm), so no file's
  // offsets can reach into another file.
  static constexpr unsigned kFileShift = 48;
  static Addr file_address(int gmem_id, uint64_t offset) {
    return (Addr(gmem_id) << kFileShift) | offset;
  }
  static int file_id(Addr a) { return int(a >> kFileShift); }
  static uint64_t file_offset(Addr a) { return a & ((Addr{1} << kFileShift) - 1); }

  GmemMmapTarget(sc_core::sc_module_name name, FrameAllocator& frames, Stats& stats);

  // Called by unmap_range: the host MM tells the MMU notifiers (KVM) about it.
  void set_unmap_hook(std::function<void(const GuestMemfd&, uint64_t, uint64_t)> h) {
    unmap_hook_ = std::move(h);
  }
  void attach(GuestMemfd& f);
  void detach(GuestMemfd& f);
  // munmap of one process's mapping of pages [first, end); pages for which
  // `still_mapped(index)` holds (another mapping of the same process) keep their PTE.
  void drop_process(GuestMemfd& f, int pid, uint64_t first, uint64_t end,
                    const std::function<bool(uint64_t)>& still_mapped);

  void unmap_range(GuestMemfd& f, uint64_t first, uint64_t end) override;
  bool page_mapped(const GuestMemfd& f, uint64_t index) const override;
  // Calls fn(index) for every page of f that some host PTE maps.
  template <typename Fn>
  void for_each_mapped(const GuestMemfd& f, Fn fn) const {
    auto it = files_.find(f.id());
    if (it == files_.end()) return;
    for (const auto& [index, pids] : it->second.ptes) fn(index);
  }

 private:
  struct File {
    GuestMemfd* gmem = nullptr;
    std::map<uint64_t, std::vector<int>> ptes;  // page index -> processes mapping it
  };

  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  bool get_direct_mem_ptr(tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi);
  unsigned int transport_dbg(tlm::tlm_generic_payload& trans);
  void invalidate_from_phys(sc_dt::uint64 start, sc_dt::uint64 end);
  // Resolve (file, page) for a host access: the frame, or a signal.
  File* file_of(Addr a);
  // Records the process's PTE for the page; false when it had one already.
  bool map_pte(File& f, uint64_t index, int pid);

  FrameAllocator& frames_;
  std::function<void(const GuestMemfd&, uint64_t, uint64_t)> unmap_hook_;
  std::unordered_map<int, File> files_;
  uint64_t& faults_;
  uint64_t& sigbus_;
  uint64_t& unmaps_;
};

}  // namespace cocosim
