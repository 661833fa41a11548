#include "mee/mee_slot.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace cocosim {

MeeSlot::MeeSlot(sc_core::sc_module_name name, const KeyIdPolicy& decode, const KeyIdSpace& keys,
                 MemoryEncryptionEngine::Integrity integrity, uint64_t seed, sc_core::sc_time line_cost,
                 sc_core::sc_time dram_latency, Stats& stats)
    : sc_module(name),
      in("in"),
      out("out"),
      decode_(decode),
      keys_(keys),
      line_cost_(line_cost),
      dram_latency_(dram_latency),
      transactions_(stats.counter(std::string(this->name()) + ".transactions", "count",
                                  "b_transport calls through this slot (DMI accesses bypass it)")),
      refused_(stats.counter(std::string(this->name()) + ".refused", "count",
                             "accesses refused: a private KeyID outside SEAM/TD, or a KeyID with no key")),
      dmi_grants_(stats.counter(std::string(this->name()) + ".dmi_grants", "count",
                                "DMI pointers to an owner's plaintext frame")),
      dmi_refused_(stats.counter(std::string(this->name()) + ".dmi_refused", "count",
                                 "DMI requests this slot refused")),
      dmi_revoked_(stats.counter(std::string(this->name()) + ".dmi_revoked", "count",
                                 "owner DMI pointers revoked before a write-back")) {
  const std::string prefix = this->name();
  mem_ = std::make_unique<EncryptedMemory>(dram_port_, integrity, seed, keys.total(), stats, prefix);
  for (unsigned k = 1; k < keys.first_private(); ++k) mem_->engine().program_key(k);
  mem_->set_revoke([this](uint64_t pfn, unsigned keyid) { revoke(pfn, keyid); });
  in.register_b_transport(this, &MeeSlot::b_transport);
  in.register_get_direct_mem_ptr(this, &MeeSlot::get_direct_mem_ptr);
  in.register_transport_dbg(this, &MeeSlot::transport_dbg);
}

bool MeeSlot::td_access(const AccessExtension* ext, unsigned keyid) const {
  return ext && (ext->security == SecurityState::Td || ext->security == SecurityState::Seam) &&
         keys_.is_private(keyid);
}

void MeeSlot::DramPort::access(bool write, Addr pa, uint8_t* p, size_t len) {
  tlm::tlm_generic_payload t;
  prepare(t, write, pa, p, unsigned(len));
  sc_core::sc_time d;  // the slot charges DRAM once per transaction it serves
  s_.out->b_transport(t, d);
}
void MeeSlot::DramPort::read(Addr pa, void* dst, size_t len) {
  access(false, pa, static_cast<uint8_t*>(dst), len);
}
void MeeSlot::DramPort::write(Addr pa, const void* src, size_t len) {
  access(true, pa, static_cast<uint8_t*>(const_cast<void*>(src)), len);
}

void MeeSlot::b_transport(int, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  ++transactions_;
  const Addr a = trans.get_address();
  AccessExtension* ext = nullptr;
  trans.get_extension(ext);
  const unsigned keyid = decode_.keyid(a);
  const Addr pa = decode_.strip(a);
  if (ext) ext->keyid = uint16_t(keyid);
  const unsigned len = trans.get_data_length();
  if (trans.get_byte_enable_ptr()) {
    trans.set_response_status(tlm::TLM_BYTE_ENABLE_ERROR_RESPONSE);
    return;
  }
  const bool td = td_access(ext, keyid);
  if ((keys_.is_private(keyid) && !td) || (keyid && !mem_->engine().key_programmed(keyid))) {
    ++refused_;
    trans.set_response_status(tlm::TLM_ADDRESS_ERROR_RESPONSE);
    return;
  }
  if (keyid == 0 && mem_->plain_path(pa, len)) {
    // KeyID 0 on lines without TD bit or poison: DRAM itself (TME as plaintext).
    trans.set_address(pa);
    out->b_transport(trans, delay);
    trans.set_address(a);
    return;
  }
  const bool write = trans.is_write();
  uint8_t* data = trans.get_data_ptr();
  unsigned lines = 0;
  bool owner = true, mc = false;
  for (unsigned done = 0; done < len && !mc;) {
    const unsigned n = unsigned(std::min<uint64_t>(len - done, kPageSize - ((pa + done) & kPageMask)));
    auto r = mem_->access(pa + done, keyid, td, write, data + done, n);
    lines += r.engine_lines;
    owner = owner && r.owner_held;
    mc = r.machine_check;
    done += n;
  }
  // One DRAM access, as through the owner's DMI pointer to the plaintext the
  // engine holds (which stands for DRAM), plus the cipher for each line that
  // went between DRAM and the engine (a frame's first touch loads all 64).
  delay += dram_latency_ + line_cost_ * double(lines);
  if (mc) {
    if (ext) ext->machine_check = true;
    trans.set_response_status(tlm::TLM_GENERIC_ERROR_RESPONSE);
    return;
  }
  trans.set_dmi_allowed(td && owner);
  trans.set_response_status(tlm::TLM_OK_RESPONSE);
}

bool MeeSlot::get_direct_mem_ptr(int, tlm::tlm_generic_payload& trans, tlm::tlm_dmi& dmi) {
  const Addr a = trans.get_address();
  const unsigned keyid = decode_.keyid(a);
  const uint64_t pfn = decode_.strip(a) >> kPageShift;
  const Addr tag = a & ~decode_.strip(~Addr{0});
  auto refuse = [&] {
    ++dmi_refused_;
    dmi.set_start_address(tag | (pfn << kPageShift));
    dmi.set_end_address(tag | (pfn << kPageShift) | kPageMask);
    dmi.allow_none();
    return false;
  };
  if (keyid == 0) {
    // Straight into DRAM, where the engine sees nothing: only for frames whose
    // lines carry no TD bit or poison, and after any held plaintext went back.
    mem_->release(pfn);
    if (mem_->engine().has_meta(pfn << kPageShift, kPageSize)) return refuse();
    trans.set_address(decode_.strip(a));
    const bool ok = out->get_direct_mem_ptr(trans, dmi);
    trans.set_address(a);
    return ok;
  }
  AccessExtension* ext = nullptr;
  trans.get_extension(ext);
  if (!td_access(ext, keyid)) return refuse();
  uint8_t* page = mem_->owner_frame(pfn, keyid, nullptr);
  if (!page) return refuse();
  ++dmi_grants_;
  dmi.set_dmi_ptr(page);
  dmi.set_start_address(tag | (pfn << kPageShift));
  dmi.set_end_address(tag | (pfn << kPageShift) | kPageMask);
  dmi.allow_read_write();
  dmi.set_read_latency(dram_latency_);
  dmi.set_write_latency(dram_latency_);
  return true;
}

unsigned int MeeSlot::transport_dbg(int, tlm::tlm_generic_payload& trans) {
  const Addr a = trans.get_address();
  const Addr pa = decode_.strip(a);
  if (trans.is_write()) {
    // A debug write lands in DRAM: the owner's copy of those frames goes first.
    const unsigned len = trans.get_data_length();
    for (uint64_t pfn = pa >> kPageShift; len && pfn <= (pa + len - 1) >> kPageShift; ++pfn)
      mem_->release(pfn);
  }
  const unsigned keyid = decode_.keyid(a);
  if (trans.is_read() && keyid) {
    // Through a KeyID: the plaintext that KeyID would read, whole lines
    // decrypted from DRAM as it will be after write-back; nothing changes.
    const unsigned len = trans.get_data_length();
    const Addr lo = pa & ~Addr(MemoryEncryptionEngine::kLine - 1);
    const Addr hi = (pa + len + MemoryEncryptionEngine::kLine - 1) & ~Addr(MemoryEncryptionEngine::kLine - 1);
    std::vector<uint8_t> lines(hi - lo);
    tlm::tlm_generic_payload t;
    t.set_command(tlm::TLM_READ_COMMAND);
    t.set_address(lo);
    t.set_data_ptr(lines.data());
    t.set_data_length(unsigned(lines.size()));
    if (out->transport_dbg(t) != lines.size() || !mem_->peek(lo, keyid, lines.data(), lines.size())) return 0;
    std::memcpy(trans.get_data_ptr(), lines.data() + (pa - lo), len);
    return len;
  }
  trans.set_address(pa);
  const unsigned n = out->transport_dbg(trans);
  trans.set_address(a);
  if (trans.is_read() && n) mem_->overlay(pa, trans.get_data_ptr(), n);
  return n;
}

void MeeSlot::revoke(uint64_t pfn, unsigned keyid) {
  const Addr lo = (Addr(keyid) << decode_.pa_bits()) | (pfn << kPageShift);
  ++dmi_revoked_;
  for (unsigned lane = 0; lane < unsigned(in.size()); ++lane)
    in[lane]->invalidate_direct_mem_ptr(lo, lo | kPageMask);
}

}  // namespace cocosim
