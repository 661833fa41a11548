#include "kvm/memslot.h"

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

}  // namespace cocosim
