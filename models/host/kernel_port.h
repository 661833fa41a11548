// The host kernel's (and KVM's) own memory accesses: a TLM initiator on the
// physical bus that control-plane logic uses through the MemoryPort interface.
// The latency of what it does is collected for the caller to charge.
#pragma once
#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "common/access_extension.h"
#include "common/memory_port.h"

namespace cocosim {

class KernelPort : public sc_core::sc_module, public MemoryPort {
 public:
  tlm_utils::simple_initiator_socket<KernelPort> socket;

  // `security`: the state its accesses are made in (Seam for the TDX module,
  // which reaches a TD's memory at PA | HKID << pa_bits).
  KernelPort(sc_core::sc_module_name name, Initiator who,
             SecurityState security = SecurityState::Normal);

  void read(Addr pa, void* dst, size_t len) override;
  void write(Addr pa, const void* src, size_t len) override;
  // Raw debug read (no side effects, no latency), as a bus probe sees memory.
  size_t debug_read(Addr pa, void* dst, size_t len);
  // The same as a read-only MemoryPort: for observers (the invariant checker)
  // that must not add simulated time or bus traffic to what they observe.
  MemoryPort& debug_view() { return debug_view_; }
  // Latency accumulated since the last call.
  sc_core::sc_time take_delay() {
    auto d = delay_;
    delay_ = sc_core::SC_ZERO_TIME;
    return d;
  }
  bool last_ok() const { return last_ok_; }
  // Whether the last read or write raised a machine check (consumed poison).
  bool last_machine_check() const { return last_mc_; }

 private:
  class DebugView : public MemoryPort {
   public:
    explicit DebugView(KernelPort& k) : k_(k) {}
    void read(Addr pa, void* dst, size_t len) override { k_.debug_read(pa, dst, len); }
    void write(Addr, const void*, size_t) override {}  // observers never write
   private:
    KernelPort& k_;
  };
  void access(tlm::tlm_command cmd, Addr pa, uint8_t* data, size_t len);
  DebugView debug_view_{*this};
  Initiator who_;
  SecurityState security_;
  sc_core::sc_time delay_;
  bool last_ok_ = true;
  bool last_mc_ = false;
};

}  // namespace cocosim
