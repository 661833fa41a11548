// The ghost-state oracle: after every control step it holds the platform
// against the ownership rules of docs/architecture.md and names the first
// thing that breaks one (rule, page, step).
//
// Two ways to run the same rules: check() looks at everything mapped (its
// cost grows with the guests), check_incremental() only at what the models
// reported changing since the last check (a ChangeJournal), plus the parts
// whose size does not grow with memory (memslots, TLBs). Both name the same
// rules with the same messages.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/change_journal.h"
#include "common/types.h"

namespace cocosim {

class Platform;
class Vm;
class KvmMmu;
class Stage2PageTable;
struct FrameUse;

struct Violation {
  std::string rule;    // short rule id, e.g. "host-map-private"
  std::string detail;  // the page and what reaches it
};

class InvariantChecker {
 public:
  explicit InvariantChecker(Platform& p);
  ~InvariantChecker();
  InvariantChecker(const InvariantChecker&) = delete;
  InvariantChecker& operator=(const InvariantChecker&) = delete;

  // Every rule over everything mapped.
  std::vector<Violation> check();
  // Every rule over what changed since the last check (of either kind). The
  // first call listens from then on and runs the full check once to learn
  // which stage-2 entries map which frame. False from enable_incremental()
  // when another checker's journal is already listening.
  bool enable_incremental();
  std::vector<Violation> check_incremental();

 private:
  // Where a stage-2 entry maps a frame: the table and the input page.
  struct Ref {
    const void* table;
    uint64_t gfn;
    bool operator==(const Ref& o) const { return table == o.table && gfn == o.gfn; }
  };
  // Whose a stage-2 table is (one table can be both: a protected VM's
  // KVM side and EL2's pKVM VM share EL2's table).
  struct TableOwner {
    Stage2PageTable* table = nullptr;
    const Vm* vm = nullptr;  // KVM VM (not a TD: their rules re-run whole)
    bool protected_vm = false;
    int pkvm_handle = -1;  // EL2's VM handle
    bool host_s2 = false;  // pKVM's host stage-2 (identity: gfn = pfn)
  };

  void host_mappings(std::vector<Violation>& out);
  void pins(std::vector<Violation>& out);
  void dmi_pointers(std::vector<Violation>& out);
  void bindings(std::vector<Violation>& out);
  void stage2(std::vector<Violation>& out, bool tds_only = false);
  void tlbs(std::vector<Violation>& out, int only_vm = -2);
  void ownership(std::vector<Violation>& out);
  void tdx(std::vector<Violation>& out);
  void pkvm(std::vector<Violation>& out);
  void executor_mappings(std::vector<Violation>& out);

  // One rule on one thing, shared by both checks.
  void owner_frame(uint64_t pfn, const FrameUse& u, std::vector<Violation>& out);
  void pin_frame(uint64_t pfn, uint32_t n, std::vector<Violation>& out);
  void gmem_page_mapped(int file, uint64_t index, std::vector<Violation>& out);
  void dmi_range(unsigned init, Addr lo, Addr hi, std::vector<Violation>& out);
  void host_grant(Addr hv_page, Addr below, std::vector<Violation>& out);
  void vcpu_dmi_page(size_t k, uint64_t pfn, std::vector<Violation>& out);
  // A KVM VM's stage-2 entry mapping `pfn` at `gfn` against KVM's view.
  void s2_page(const Vm& vm, bool protected_vm, uint64_t gfn, uint64_t pfn,
               std::map<uint64_t, std::pair<const Vm*, uint64_t>>& private_owner,
               std::vector<Violation>& out);
  // pKVM: one frame's guest entries against its host/hyp metadata.
  struct GuestRef {
    uint16_t handle;
    uint64_t gfn;
    uint8_t state;  // PkvmPageState
  };
  void pkvm_refs(uint64_t pfn, const std::vector<GuestRef>& refs, std::vector<Violation>& out);
  void pkvm_used(uint64_t pfn, const FrameUse& u, const std::vector<GuestRef>* refs,
                 std::vector<Violation>& out);
  void tdx_frame(uint64_t pfn, std::vector<Violation>& out);

  std::map<const void*, TableOwner> table_owners();
  void index_leaf(const void* table, uint64_t gfn, uint64_t pfn);
  void unindex_leaf(const void* table, uint64_t gfn, uint64_t pfn);
  void rebuild_index();

  Platform& p_;
  std::unique_ptr<ChangeJournal> journal_;  // non-null while incremental
  bool indexed_ = false;
  // pfn -> the stage-2 entries (of KVM's non-TD VMs and EL2's VMs) mapping it.
  std::unordered_map<uint64_t, std::vector<Ref>> mapped_by_;
};

}  // namespace cocosim
