#include "tdx/secure_ept.h"

namespace cocosim {

void SecureEpt::init_page(Addr table) {
  Page p;
  p.fill(SeptEntry::free_entry().raw);
  write_page(table, p);
}

SecureEpt::Walk SecureEpt::walk(Addr gpa, int level) {
  Walk w;
  Addr table = root_;
  for (int l = root_level();; --l) {
    w.at_level = l;
    w.table = table;
    w.idx = index(gpa, l);
    w.entry = read(table, w.idx);
    if (l == level) {
      w.reached = true;
      return w;
    }
    // Only a present non-leaf entry leads further down.
    if (w.entry.state() != SeptState::NlMapped) return w;
    table = w.entry.hpa();
  }
}

void SecureEpt::for_each_entry(const EntryFn& fn) { visit(root_, root_level(), 0, fn); }

void SecureEpt::visit(Addr table, int level, Addr gpa_base, const EntryFn& fn) {
  Page p;
  read_page(table, p);
  const uint64_t free_raw = SeptEntry::free_entry().raw;
  for (unsigned i = 0; i < 512; ++i) {
    const SeptEntry e{p[i]};
    if (e.raw == free_raw || e.is_free()) continue;
    const Addr gpa = gpa_base + Addr(i) * level_size(level);
    fn(level, gpa, table, i, e);
    if (level > 0 && sept_non_leaf(e.state())) visit(e.hpa(), level - 1, gpa, fn);
  }
}

}  // namespace cocosim
