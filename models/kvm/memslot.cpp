#include "kvm/memslot.h"

#include "common/change_journal.h"

#include "kvm/vm.h"

namespace cocosim {

Memslot::~Memslot() {
  if (gmem_) gmem_->unbind(this);
}

void Memslot::gmem_invalidate(uint64_t first, uint64_t end) {
  vm_.zap_gfn_range(gfn_of_index(first), gfn_of_index(end));
}

void Memslot::gmem_converted(uint64_t first, uint64_t end, bool to_private) {
  vm_.set_private(gfn_of_index(first), gfn_of_index(end), to_private);
}

void Memslot::bind_gmem(GuestMemfd* f, uint64_t first_page) {
  gmem_ = f, gmem_first_ = first_page;
  CC_JOURNAL(vm(vm_.id()));  // every GFN of the slot may now be backed elsewhere
}

}  // namespace cocosim
