#include "kvm/kvm.h"

#include <cerrno>

namespace cocosim {

Kvm::~Kvm() { shutdown(); }

void Kvm::shutdown() {
  for (auto& [id, vm] : vms_)
    if (hooks_.vm_destroyed) hooks_.vm_destroyed(*vm);
  vms_.clear();
  hooks_ = Hooks{};
}

int Kvm::create_vm(const std::string& name, VmType type, Vm** out) {
  if (!arch_.offers(type)) return EINVAL;
  // kvm_arch_init_vm: !kvm_is_vm_type_supported(type) -> -EINVAL; the TDX
  // type is supported only once tdx_bringup() succeeded.
  if (type == VmType::Tdx && !tdx_enabled_) return EINVAL;
  int id = next_vm_++;
  auto vm = std::make_unique<Vm>(id, name, type, arch_);
  *out = vm.get();
  vms_.emplace(id, std::move(vm));
  if (hooks_.vm_created) hooks_.vm_created(**out);
  return 0;
}

Vm* Kvm::vm_by_id(int id) const {
  auto it = vms_.find(id);
  return it == vms_.end() ? nullptr : it->second.get();
}

void Kvm::put_vm(int id) {
  Vm* vm = vm_by_id(id);
  if (!vm || !vm->put()) return;
  if (hooks_.vm_destroyed) hooks_.vm_destroyed(*vm);
  vms_.erase(id);
}

void Kvm::close_vm(Vm* vm) {
  if (!vm->fd_open()) return;
  vm->close_fd();
  put_vm(vm->id());
}

int Kvm::create_guest_memfd(Vm& vm, const std::string& name, uint64_t size, uint64_t flags,
                            std::shared_ptr<GuestMemfd>* out) {
  if (int err = GuestMemfd::validate_create(size, flags, vm.type())) return err;
  if (next_gmem_ >= kMaxGmemFiles) return ENFILE;  // file ids name the mmap target's address space
  auto* f = new GuestMemfd(next_gmem_++, name, size, flags,
                           GmemVm{vm.id(), vm.name(), vm.type()}, frames_, mem_, stats_);
  vm.get();
  gmems_.emplace(f->id(), f);
  if (hooks_.gmem_created) hooks_.gmem_created(*f);
  // The last reference (fd, mapping or pin) releases the file: kvm_gmem_release.
  *out = std::shared_ptr<GuestMemfd>(f, [this](GuestMemfd* g) { destroy_gmem(g); });
  return 0;
}

void Kvm::destroy_gmem(GuestMemfd* f) {
  const int vm_id = f->vm().id;
  f->release();
  if (hooks_.gmem_destroyed) hooks_.gmem_destroyed(*f);
  gmems_.erase(f->id());
  delete f;
  put_vm(vm_id);
}

}  // namespace cocosim
