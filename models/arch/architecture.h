// One object per instruction-set architecture: everything that differs between
// the x86 (TDX) and the arm64 (pKVM) platform below the hypervisor. It owns
// the stage-2 descriptor format, builds fault syndromes, issues the TLB
// invalidation sequence and knows its cost, fixes the guest- and host-physical
// address widths (the TDX shared bit, the KeyID bits), and says which VM types
// KVM offers. Nothing else in the model asks "is this arm64?".
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arch/arch_id.h"
#include "arch/stage2_fault.h"
#include "arch/stage2_format.h"
#include "arch/tlb_control.h"
#include "common/stats.h"

namespace cocosim {

// The knobs of an architecture (from platform.* and platform.timing.*).
struct ArchParams {
  unsigned gpaw = 48;       // x86: guest physical address width, 48 or 52 (5-level EPT)
  unsigned ipa_bits = 48;   // arm64: IPA size, 32..48
  double ipi_ns = 2000;     // x86: remote TLB flush request (IPI and wait), once per flush
  double invept_ns = 200;   // x86: one INVEPT on one CPU
  double tlbi_ns = 50;      // arm64: one broadcast TLBI with its DSB
};

class Architecture {
 public:
  virtual ~Architecture() = default;
  Architecture(const Architecture&) = delete;
  Architecture& operator=(const Architecture&) = delete;

  virtual Arch id() const = 0;
  const char* name() const { return arch_name(id()); }
  const Stage2Format& stage2_format() const { return *format_; }

  // Guest-physical space: GPAs a VM may use (memslots end below 2^gpa_bits).
  virtual unsigned gpa_bits() const = 0;
  uint64_t max_gfn() const { return uint64_t{1} << (gpa_bits() - 12); }
  // KVM's errno for a memslot beyond it: x86 EINVAL (kvm_mmu_max_gfn), arm64 EFAULT (kvm_phys_size).
  virtual int gpa_beyond_errno() const = 0;
  // The GPA bit that selects the shared alias of a TD's memory (x86 only).
  virtual std::optional<unsigned> shared_bit() const { return std::nullopt; }

  // Host-physical space: the address width DRAM decodes, and the KeyID bits
  // above it that the memory encryption engine reads (x86 only).
  virtual unsigned pa_bits() const = 0;
  virtual unsigned keyid_bits() const { return 0; }

  // Fill the syndrome (and HPFAR) of a fault whose kind, level, GPA and access are set;
  // `entry` is what the faulting entry allowed (a permission fault).
  virtual void fill_syndrome(Stage2Fault& f, Perm entry) const = 0;
  virtual std::string describe(const Stage2Fault& f) const = 0;
  virtual bool has_hpfar() const { return false; }

  // The TLB invalidation a hypervisor performs after removing stage-2 leaves
  // for GFNs [first, end) of one VM, on the vCPUs of that VM. Counts the
  // instructions; returns the simulated time they take.
  virtual double invalidate_stage2(const std::vector<Stage2TlbControl*>& vcpus, uint64_t first_gfn,
                                   uint64_t end_gfn) = 0;

  // What a VM's teardown issues so that no TLB keeps its translations: x86
  // INVEPT single-context on the vCPU, arm64 TLBI VMALLS12E1IS for the VMID.
  virtual void invalidate_vm(Stage2TlbControl& vcpu) = 0;

  // The VM types KVM offers here (KVM_CAP_VM_TYPES).
  virtual bool offers(VmType t) const = 0;
  std::vector<VmType> vm_types() const;

 protected:
  explicit Architecture(std::unique_ptr<Stage2Format> f) : format_(std::move(f)) {}

 private:
  std::unique_ptr<Stage2Format> format_;
};

// The architecture of a platform; counters go under `prefix` (e.g. "platform.kvm").
// Throws std::invalid_argument for parameters the architecture cannot have.
std::unique_ptr<Architecture> make_architecture(Arch a, const ArchParams& p, Stats& stats,
                                                const std::string& prefix);

}  // namespace cocosim
