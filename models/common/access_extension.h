// TLM payload extension: who performs an access and in which security state.
// Targets may also use it to report a fault (a signal for host user accesses).
#pragma once
#include <tlm>

#include <cstdint>

namespace cocosim {

enum class Initiator : uint8_t {
  HostUser,     // a process of the host (the VMM, its children)
  HostKernel,   // the untrusted host kernel
  Vcpu,         // a guest vCPU (after stage-2 translation)
  PageWalker,   // a stage-2 MMU reading page tables
  Hypervisor,   // KVM / EL2 writing page tables, clearing pages
  TdxModule,
};

enum class SecurityState : uint8_t { Normal, Td, Seam, El2 };

const char* initiator_name(Initiator who);

struct AccessExtension : tlm::tlm_extension<AccessExtension> {
  Initiator who = Initiator::HostKernel;
  SecurityState security = SecurityState::Normal;
  int process = 0;   // host process id for HostUser accesses
  int vm = -1;       // VM id for guest accesses
  int vcpu = -1;
  uint16_t keyid = 0;
  bool private_access = false;  // guest access to private memory
  // Filled by a target that refuses the access with a signal (SIGBUS, SIGSEGV).
  int signal = 0;
  // Set by the memory encryption engine, with TLM_GENERIC_ERROR_RESPONSE, when
  // the access consumed poison or failed a line's MAC: a machine check (#MC)
  // in whoever made the access (a TD's vCPU turns it into the TDX module's
  // TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE exit; the host kernel reports it).
  bool machine_check = false;

  tlm::tlm_extension_base* clone() const override { return new AccessExtension(*this); }
  void copy_from(const tlm::tlm_extension_base& other) override {
    *this = static_cast<const AccessExtension&>(other);
  }
};

// A payload for a plain read or write of `len` bytes at `addr`.
inline void prepare(tlm::tlm_generic_payload& t, bool write, uint64_t addr, unsigned char* data,
                    unsigned len) {
  t.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  t.set_address(addr);
  t.set_data_ptr(data);
  t.set_data_length(len);
  t.set_streaming_width(len);
  t.set_byte_enable_ptr(nullptr);
  t.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
}

// Puts a stack-owned extension on a payload for one scope and takes it off
// again, also when an exception unwinds (a payload deletes what it still holds).
class ScopedExtension {
 public:
  ScopedExtension(tlm::tlm_generic_payload& t, AccessExtension& e) : t_(t), e_(e) {
    t_.set_extension(&e_);
  }
  ~ScopedExtension() { t_.clear_extension(&e_); }
  ScopedExtension(const ScopedExtension&) = delete;
  ScopedExtension& operator=(const ScopedExtension&) = delete;

 private:
  tlm::tlm_generic_payload& t_;
  AccessExtension& e_;
};

}  // namespace cocosim
