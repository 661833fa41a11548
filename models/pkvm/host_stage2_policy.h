// pKVM's host stage-2 in the platform's `host_s2` slot: every access of the
// host's initiators (host kernel, the VMM through its MMU and guest_memfd's
// mmap) goes through the identity stage-2 EL2 keeps (HostStage2), which is
// filled lazily; an access to a page the host does not own is an abort EL2
// injects back: the host kernel oopses, a host process gets SIGSEGV. A DMI
// pointer passes only for a page the host's stage-2 maps, and loses it when
// the page is donated (the ownership model revokes it).
//
// The host's stage-2 TLB (in HostStage2) is shared by both paths: a
// b_transport access walks only on a TLB miss, and a DMI pointer is granted
// only over a translation the TLB holds (the b_transport before the request
// filled it), so accesses through it are TLB hits and cost what a
// b_transport hit costs: `--no-dmi` charges the same walks.
#pragma once
#include <csignal>

#include "bus/interposer.h"
#include "pkvm/pkvm_hyp.h"

namespace cocosim {

class HostStage2Policy final : public InterposerPolicy {
 public:
  struct Oops {
    Addr pa = 0;
    uint64_t esr = 0, far = 0;
  };

  HostStage2Policy(Stats& stats, const std::string& prefix)
      : oopses_(stats.counter(prefix + ".host_oops", "count",
                              "host-kernel accesses EL2 refused (each an oops of the host kernel)")),
        segv_(stats.counter(prefix + ".host_sigsegv", "count",
                            "host-process accesses EL2 refused (SIGSEGV)")) {}

  // Until attached, everything passes (the platforms without pKVM).
  void attach(PkvmHyp* hyp) { hyp_ = hyp; }
  bool active() const { return hyp_ != nullptr; }

  bool admit(Addr a, bool write, unsigned len, AccessExtension* ext) const override {
    if (!hyp_) return true;
    const bool el0 = ext && ext->who == Initiator::HostUser;
    const HostAccess r = hyp_->host_access(a, write, false, len, el0, a);
    if (r.ok) return true;
    if (el0) {
      ++segv_;
      if (ext) ext->signal = SIGSEGV;
    } else {
      ++oopses_;
      last_oops_ = {a, r.esr, r.far};
      ++oops_seq_;
    }
    return false;
  }

  // Looks, never walks: a pointer stands for a cached writable translation.
  bool dmi_allowed(Addr a) const override {
    if (!hyp_) return true;
    const PkvmPage p = hyp_->page(a >> kPageShift);
    if (p.host_state == PkvmPageState::NoPage) return false;
    if (!hyp_->host_stage2().addr_is_memory(a)) return false;
    return hyp_->host_stage2().tlb_allows(a, true, false);
  }

  // The last oops and a sequence number that moves with each one.
  const Oops& last_oops() const { return last_oops_; }
  uint64_t oops_seq() const { return oops_seq_; }

 private:
  PkvmHyp* hyp_ = nullptr;
  uint64_t& oopses_;
  uint64_t& segv_;
  mutable Oops last_oops_;
  mutable uint64_t oops_seq_ = 0;
};

}  // namespace cocosim
