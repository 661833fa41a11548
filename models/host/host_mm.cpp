#include "host/host_mm.h"

#include <algorithm>
#include <array>
#include <cerrno>

#include "gmem/guest_memfd.h"

namespace cocosim {

HostMm::~HostMm() { clear(); }

void HostMm::clear() {
  notifier_ = nullptr;
  // Files released below may look for their mappings: let them find none.
  auto procs = std::move(procs_);
  procs_.clear();
  for (auto& [pid, p] : procs)
    for (auto& [start, v] : p->vmas)
      if (v->anon) release_anon(v->anon);
  procs.clear();
}

void HostMm::discard_anon(Vma& v, Addr va, uint64_t len) {
  if (!v.anon) return;
  notify(v.pid, va, va + len);
  const uint64_t first = (va - v.start) >> kPageShift;
  const uint64_t end = (va - v.start + len + kPageMask) >> kPageShift;
  for (uint64_t i = first; i < end; ++i) {
    auto it = v.anon->pages.find(i);
    if (it == v.anon->pages.end()) continue;
    frames_.free(it->second);
    v.anon->pages.erase(it);
  }
}

int HostMm::create_process(const std::string& name) {
  auto p = std::make_unique<Process>();
  p->pid = next_pid_++;
  p->name = name;
  int pid = p->pid;
  procs_.emplace(pid, std::move(p));
  return pid;
}

void HostMm::remove_process(int pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  auto p = std::move(it->second);
  procs_.erase(it);
  for (auto& [start, v] : p->vmas)
    if (v->anon) release_anon(v->anon);
}

Process* HostMm::process(int pid) {
  auto it = procs_.find(pid);
  return it == procs_.end() ? nullptr : it->second.get();
}

Process* HostMm::process(const std::string& name) {
  for (auto& [pid, p] : procs_)
    if (p->name == name) return p.get();
  return nullptr;
}

namespace {
// Place a VMA with a 2 MiB-aligned start and a guard gap behind it; 0 when the
// address space is full (mmap's ENOMEM).
Addr place(Process& p, uint64_t length) {
  Addr start = (p.next_hva + (kHugePageSize - 1)) & ~(kHugePageSize - 1);
  if (length > HostMm::kUserTop || start > HostMm::kUserTop - length) return 0;
  p.next_hva = start + length + kHugePageSize;
  return start;
}
}  // namespace

void HostMm::file_range_unmapped(const GuestMemfd& f, uint64_t first, uint64_t end) {
  if (!notifier_) return;
  for (auto& [pid, p] : procs_)
    for (auto& [start, v] : p->vmas) {
      if (v->kind != VmaKind::Gmem || v->gmem.get() != &f) continue;
      const uint64_t vfirst = v->pgoff, vend = v->pgoff + (v->length >> kPageShift);
      const uint64_t a = std::max(first, vfirst), b = std::min(end, vend);
      if (a < b)
        notify(pid, v->start + ((a - vfirst) << kPageShift), v->start + ((b - vfirst) << kPageShift));
    }
}

int HostMm::add_vma(Process& p, std::unique_ptr<Vma> v, uint64_t length, Vma** out) {
  if (length > kUserTop) return ENOMEM;
  length = page_ceil(length);
  const Addr start = place(p, length);
  if (!start) return ENOMEM;
  v->pid = p.pid;
  v->start = start;
  v->length = length;
  *out = v.get();
  p.vmas.emplace(start, std::move(v));
  return 0;
}

int HostMm::mmap_anon(int pid, const std::string& name, uint64_t length, bool shared,
                      Vma** out) {
  Process* p = process(pid);
  if (!p) return ESRCH;
  if (length == 0) return EINVAL;
  auto v = std::make_unique<Vma>();
  v->name = name;
  v->kind = VmaKind::Anon;
  v->shared = shared;
  v->anon = std::make_shared<AnonObject>();
  return add_vma(*p, std::move(v), length, out);
}

int HostMm::mmap_gmem(int pid, const std::string& name, std::shared_ptr<GuestMemfd> f,
                      uint64_t offset, uint64_t length, bool shared, Vma** out) {
  Process* p = process(pid);
  if (!p) return ESRCH;
  if (length == 0 || !page_aligned(offset)) return EINVAL;
  if (!f->mmap_allowed()) return ENODEV;  // kvm_gmem_mmap without GUEST_MEMFD_FLAG_MMAP
  if (!shared) return EINVAL;             // guest_memfd mappings must be MAP_SHARED
  auto v = std::make_unique<Vma>();
  v->name = name;
  v->kind = VmaKind::Gmem;
  v->shared = true;
  v->gmem = std::move(f);
  v->pgoff = offset >> kPageShift;
  return add_vma(*p, std::move(v), length, out);
}

void HostMm::release_anon(std::shared_ptr<AnonObject>& o) {
  if (o.use_count() == 1)
    for (auto& [index, pfn] : o->pages) frames_.free(pfn);
  o.reset();
}

int HostMm::munmap(Vma* v) {
  Process* p = process(v->pid);
  if (!p) return EINVAL;
  auto it = p->vmas.find(v->start);
  if (it == p->vmas.end() || it->second.get() != v) return EINVAL;
  notify(v->pid, v->start, v->end());
  if (v->anon) release_anon(v->anon);
  p->vmas.erase(it);
  return 0;
}

int HostMm::fork(int parent, const std::string& child_name, int* child_pid) {
  Process* pp = process(parent);
  if (!pp) return ESRCH;
  int cpid = create_process(child_name);
  Process* c = process(cpid);
  c->next_hva = pp->next_hva;
  for (auto& [start, v] : pp->vmas) {
    auto nv = std::make_unique<Vma>(*v);
    nv->pid = cpid;
    if (v->kind == VmaKind::Anon && !v->shared) {
      // Private anonymous memory: the child gets its own copy of every present page.
      nv->anon = std::make_shared<AnonObject>();
      std::array<uint8_t, kPageSize> buf;
      for (auto& [index, pfn] : v->anon->pages) {
        auto npfn = anon_fault(*nv->anon, index);
        if (!npfn) {  // fork fails: the partial copy and the child go away
          release_anon(nv->anon);
          remove_process(cpid);
          return ENOMEM;
        }
        mem_.read(pfn << kPageShift, buf.data(), kPageSize);
        mem_.write(*npfn << kPageShift, buf.data(), kPageSize);
      }
    }
    c->vmas.emplace(start, std::move(nv));
  }
  *child_pid = cpid;
  return 0;
}

Vma* HostMm::find_vma(int pid, Addr hva) {
  Process* p = process(pid);
  if (!p) return nullptr;
  auto it = p->vmas.upper_bound(hva);
  if (it == p->vmas.begin()) return nullptr;
  --it;
  return hva < it->second->end() ? it->second.get() : nullptr;
}

Vma* HostMm::find_vma(int pid, const std::string& name) {
  Process* p = process(pid);
  if (!p) return nullptr;
  for (auto& [start, v] : p->vmas)
    if (v->name == name) return v.get();
  return nullptr;
}

std::optional<uint64_t> HostMm::anon_fault(Vma& v, uint64_t index) {
  constexpr uint64_t kPages = kHugePageSize >> kPageShift;
  AnonObject& o = *v.anon;
  const uint64_t first = index & ~(kPages - 1);
  // THP: the whole aligned 2 MiB inside the VMA (VMAs start 2 MiB aligned), none of it there yet.
  if (thp_ && !o.pages.count(index) && (first + kPages) << kPageShift <= v.length) {
    bool untouched = true;
    for (uint64_t i = 0; i < kPages && untouched; ++i) untouched = !o.pages.count(first + i);
    if (untouched) {
      if (auto pfn = frames_.alloc_huge({FrameKind::Anon, nullptr, first, -1})) {
        mem_.fill(*pfn << kPageShift, 0, kHugePageSize);
        for (uint64_t i = 0; i < kPages; ++i) o.pages.emplace(first + i, *pfn + i);
        return *pfn + (index - first);
      }
    }
  }
  return anon_fault(o, index);
}

bool HostMm::huge_mapped(const Vma& v, uint64_t first) const {
  constexpr uint64_t kPages = kHugePageSize >> kPageShift;
  if (!v.anon || (first & (kPages - 1))) return false;
  auto head = v.anon->pages.find(first);
  if (head == v.anon->pages.end() || (head->second & (kPages - 1))) return false;
  for (uint64_t i = 1; i < kPages; ++i) {
    auto it = v.anon->pages.find(first + i);
    if (it == v.anon->pages.end() || it->second != head->second + i) return false;
  }
  return true;
}

std::optional<uint64_t> HostMm::anon_fault(AnonObject& o, uint64_t index) {
  auto it = o.pages.find(index);
  if (it != o.pages.end()) return it->second;
  auto pfn = frames_.alloc({FrameKind::Anon, nullptr, index, -1});
  if (!pfn) return std::nullopt;
  mem_.fill(*pfn << kPageShift, 0, kPageSize);
  o.pages.emplace(index, *pfn);
  return *pfn;
}

}  // namespace cocosim
