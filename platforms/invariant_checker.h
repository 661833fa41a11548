// The ghost-state oracle: after every control step it holds the platform
// against the ownership rules of docs/architecture.md and names the first
// thing that breaks one (rule, page, step).
#pragma once
#include <string>
#include <vector>

namespace cocosim {

class Platform;

struct Violation {
  std::string rule;    // short rule id, e.g. "host-map-private"
  std::string detail;  // the page and what reaches it
};

class InvariantChecker {
 public:
  explicit InvariantChecker(Platform& p) : p_(p) {}
  std::vector<Violation> check();

 private:
  void host_mappings(std::vector<Violation>& out);
  void pins(std::vector<Violation>& out);
  void dmi_pointers(std::vector<Violation>& out);
  void bindings(std::vector<Violation>& out);
  void stage2(std::vector<Violation>& out);
  void ownership(std::vector<Violation>& out);
  void tdx(std::vector<Violation>& out);
  void pkvm(std::vector<Violation>& out);
  void executor_mappings(std::vector<Violation>& out);

  Platform& p_;
};

}  // namespace cocosim
