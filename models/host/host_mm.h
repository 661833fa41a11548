// The host kernel's view of user address spaces: processes, their VMAs and the
// anonymous memory behind them. guest_memfd VMAs only name the file; their
// pages are faulted in by the guest_memfd mmap target.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/memory_port.h"
#include "host/frame_allocator.h"

namespace cocosim {

class GuestMemfd;

// Host-virtual bus addresses carry the process: (pid << 48) | user address.
constexpr unsigned kPidShift = 48;
constexpr Addr host_virtual(int pid, Addr hva) { return (Addr(pid) << kPidShift) | hva; }
constexpr int pid_of(Addr hv) { return int(hv >> kPidShift); }
constexpr Addr hva_of(Addr hv) { return hv & ((Addr{1} << kPidShift) - 1); }

struct AnonObject {
  std::unordered_map<uint64_t, uint64_t> pages;  // page index -> pfn
};

enum class VmaKind { Anon, Gmem };

struct Vma {
  std::string name;
  int pid = 0;
  Addr start = 0;
  uint64_t length = 0;
  VmaKind kind = VmaKind::Anon;
  bool shared = true;                 // MAP_SHARED
  std::shared_ptr<GuestMemfd> gmem;   // a mapping holds a reference to its file
  uint64_t pgoff = 0;                 // file page of `start`
  std::shared_ptr<AnonObject> anon;
  Addr end() const { return start + length; }
};

struct Process {
  int pid = 0;
  std::string name;
  std::map<Addr, std::unique_ptr<Vma>> vmas;  // by start
  Addr next_hva = 0x100000000000;            // where the next mmap goes
};

class HostMm {
 public:
  HostMm(FrameAllocator& frames, MemoryPort& mem) : frames_(frames), mem_(mem) {}
  // Transparent huge pages for anonymous memory ("always"): a first touch of a
  // 2 MiB-aligned range that lies inside its VMA allocates a huge folio.
  void set_thp(bool on) { thp_ = on; }
  ~HostMm();

  int create_process(const std::string& name);  // returns the pid
  // Tear down every process and mapping (platform shutdown).
  void clear();
  // MADV_DONTNEED on anonymous memory: the pages of [va, va+len) are freed.
  void discard_anon(Vma& v, Addr va, uint64_t len);
  Process* process(int pid);
  Process* process(const std::string& name);
  const std::map<int, std::unique_ptr<Process>>& processes() const { return procs_; }

  // mmap: returns 0 or an errno; *out is the new VMA.
  int mmap_anon(int pid, const std::string& name, uint64_t length, bool shared, Vma** out);
  int mmap_gmem(int pid, const std::string& name, std::shared_ptr<GuestMemfd> f,
                uint64_t offset, uint64_t length, bool shared, Vma** out);
  // Removes the VMA; the caller has already torn down its PTEs and DMI.
  int munmap(Vma* v);
  // A child with the parent's mappings: MAP_SHARED ones share memory, private
  // anonymous memory is copied (eager copy-on-write).
  int fork(int parent, const std::string& child_name, int* child_pid);

  Vma* find_vma(int pid, Addr hva);

  // MMU notifier: called with (pid, lo, hi) before the pages behind host
  // addresses [lo, hi) of a process go away or change (munmap, MADV_DONTNEED,
  // a guest_memfd page unmapped from every process).
  void set_notifier(std::function<void(int, Addr, Addr)> n) { notifier_ = std::move(n); }
  // Pages [first, end) of file `f` lost their host mappings: notify for every
  // VMA of every process that maps them.
  void file_range_unmapped(const GuestMemfd& f, uint64_t first, uint64_t end);
  // The highest user address (x86-64 TASK_SIZE with 4-level paging).
  static constexpr Addr kUserTop = 0x00007ffffffff000;
  Vma* find_vma(int pid, const std::string& name);

  // Anonymous fault: the frame behind page `index` of the object, allocated and
  // zeroed on first use; nullopt when no frame is left.
  std::optional<uint64_t> anon_fault(AnonObject& o, uint64_t index);
  // The same through the mapping, which may back it with a huge folio (THP).
  std::optional<uint64_t> anon_fault(Vma& v, uint64_t index);
  // Whether the pages of v's object [first, first + 512) are one huge folio.
  bool huge_mapped(const Vma& v, uint64_t first) const;

 private:
  void release_anon(std::shared_ptr<AnonObject>& o);
  void remove_process(int pid);
  // Place a new VMA of `length` bytes in the process; ENOMEM when it does not fit.
  int add_vma(Process& p, std::unique_ptr<Vma> v, uint64_t length, Vma** out);

  void notify(int pid, Addr lo, Addr hi) {
    if (notifier_) notifier_(pid, lo, hi);
  }

  FrameAllocator& frames_;
  MemoryPort& mem_;
  std::function<void(int, Addr, Addr)> notifier_;
  bool thp_ = false;
  std::map<int, std::unique_ptr<Process>> procs_;
  int next_pid_ = 1;
};

}  // namespace cocosim
