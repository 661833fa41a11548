#include "common/access_extension.h"

namespace cocosim {

const char* initiator_name(Initiator who) {
  switch (who) {
    case Initiator::HostUser: return "host_user";
    case Initiator::HostKernel: return "host_kernel";
    case Initiator::Vcpu: return "vcpu";
    case Initiator::PageWalker: return "page_walker";
    case Initiator::Hypervisor: return "hypervisor";
    case Initiator::TdxModule: return "tdx_module";
  }
  return "?";
}

}  // namespace cocosim
