#include "scenario/yaml_tree.h"

#include <unordered_map>

#include <yaml.h>

namespace cocosim {

// ---- YNode ------------------------------------------------------------------

YNode::Kind YNode::kind() const { return t_ ? t_->nodes_[id_].kind : Kind::Absent; }

std::string_view YNode::text() const {
  if (kind() != Kind::Scalar) return {};
  const auto& n = t_->nodes_[id_];
  return std::string_view(t_->pool_).substr(n.a, n.b);
}

bool YNode::quoted() const { return t_ && t_->nodes_[id_].quoted; }

SourceLoc YNode::loc() const {
  if (!t_) return {1, 1};
  const auto& n = t_->nodes_[id_];
  return {int(n.line), int(n.col)};
}

const std::string& YNode::origin() const {
  static const std::string none;
  return t_ ? t_->origin_ : none;
}

size_t YNode::size() const {
  const Kind k = kind();
  if (k == Kind::Seq) return t_->nodes_[id_].b;
  if (k == Kind::Map) return t_->nodes_[id_].b / 2;
  return 0;
}

YNode YNode::at(size_t i) const { return {t_, t_->kids_[t_->nodes_[id_].a + i]}; }
YNode YNode::key(size_t i) const { return {t_, t_->kids_[t_->nodes_[id_].a + 2 * i]}; }
YNode YNode::value(size_t i) const { return {t_, t_->kids_[t_->nodes_[id_].a + 2 * i + 1]}; }

YNode YNode::get(std::string_view k) const {
  if (kind() != Kind::Map) return {};
  for (size_t i = 0, n = size(); i < n; ++i)
    if (key(i).text() == k) return value(i);
  return {};
}

std::string YNode::describe() const {
  switch (kind()) {
    case Kind::Seq: return "list";
    case Kind::Map: return "mapping";
    case Kind::Scalar: {
      std::string s(text().substr(0, 40));
      return "scalar '" + s + (text().size() > 40 ? "...'" : "'");
    }
    default: return "null";
  }
}

// ---- Builder ------------------------------------------------------------------

class YamlBuilder {
 public:
  YamlBuilder(YamlTree& t, std::vector<YamlError>* errors, int line0, int col0)
      : t_(t), errors_(errors), line0_(line0), col0_(col0) {}

  void run(const std::string& text) {
    length_ = text.size();
    // Offsets are 32-bit; no scenario comes near this.
    if (text.size() > YamlTree::kMaxText)
      return fail({1, 1}, "the text is larger than " + std::to_string(YamlTree::kMaxText >> 20) + " MiB");
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return fail({1, 1}, "out of memory starting the YAML parser");
    // At most about one node per 4 bytes of a scenario: reserve once rather
    // than copy while doubling (pages never touched cost no memory).
    t_.nodes_.reserve(text.size() / 4 + 16);
    t_.kids_.reserve(text.size() / 4 + 16);
    t_.pool_.reserve(text.size());
    yaml_parser_set_input_string(&p, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    int documents = 0;
    bool done = false;
    while (!done && !failed_) {
      yaml_event_t e;
      if (!yaml_parser_parse(&p, &e)) {
        syntax_error(p, text);
        break;
      }
      const SourceLoc at = loc(e.start_mark);
      switch (e.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_DOCUMENT_START_EVENT:
          if (++documents > 1)
            fail(at, "a second YAML document starts here: a scenario is one document "
                     "(remove this '---' and what follows it, or merge the two)");
          break;
        case YAML_SCALAR_EVENT: {
          const auto& s = e.data.scalar;
          const std::string_view v(reinterpret_cast<const char*>(s.value), s.length);
          const bool quoted = s.style != YAML_PLAIN_SCALAR_STYLE;
          const bool tagged = s.tag != nullptr;
          const bool null_tag = tagged && std::string_view(reinterpret_cast<const char*>(s.tag)) == YAML_NULL_TAG;
          const bool is_null = null_tag || (!quoted && !tagged &&
                                            (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL"));
          const uint32_t id = add(is_null ? YNode::Kind::Null : YNode::Kind::Scalar, quoted, at);
          if (!is_null) {
            t_.nodes_[id].a = uint32_t(t_.pool_.size());
            t_.nodes_[id].b = uint32_t(v.size());
            t_.pool_.append(v);
          }
          finish_leaf(id, 1, anchor(s.anchor), at);
          break;
        }
        case YAML_ALIAS_EVENT: alias(anchor(e.data.alias.anchor), at); break;
        case YAML_SEQUENCE_START_EVENT:
          open(add(YNode::Kind::Seq, false, at), anchor(e.data.sequence_start.anchor), at);
          break;
        case YAML_MAPPING_START_EVENT:
          open(add(YNode::Kind::Map, false, at), anchor(e.data.mapping_start.anchor), at);
          break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: close(); break;
        default: break;
      }
      yaml_event_delete(&e);
    }
    yaml_parser_delete(&p);
    if (failed_) {
      t_.nodes_.clear();
      t_.kids_.clear();
      t_.pool_.clear();
    }
  }

 private:
  struct Frame {
    uint32_t id;
    std::vector<uint32_t> kids;
    uint64_t size = 1;  // nodes in this subtree with aliases expanded
    std::string anchor;
    // Keys seen, for duplicate detection in large mappings (small ones scan).
    std::unordered_map<std::string, uint32_t> keys;
  };
  struct Anchor {
    uint32_t id;
    uint64_t size;
    bool complete;
  };

  SourceLoc loc(const yaml_mark_t& m) const {
    int line = int(m.line) + 1, col = int(m.column) + 1;
    // A --set value is one command-line word: a mark past its end (libyaml
    // moves to a next line at the end of the input) is its end.
    if (col0_ && line > 1) line = 1, col = int(length_) + 1;
    return {line + line0_, line == 1 ? col + col0_ : col};
  }
  static std::string anchor(const yaml_char_t* a) {
    return a ? std::string(reinterpret_cast<const char*>(a)) : std::string();
  }

  void fail(SourceLoc at, std::string msg) {
    if (!failed_) errors_->push_back({at, std::move(msg)});
    failed_ = true;
  }

  void syntax_error(const yaml_parser_t& p, const std::string& text) {
    std::string msg = std::string("YAML syntax error: ") + (p.problem ? p.problem : "unknown problem");
    SourceLoc at = loc(p.problem_mark);
    if (p.error == YAML_READER_ERROR) {
      // The reader reports a byte offset, not a mark: work the line and column out.
      int line = 1, col = 1;
      for (size_t i = 0; i < p.problem_offset && i < text.size(); ++i) {
        if (text[i] == '\n') ++line, col = 1;
        else if ((static_cast<unsigned char>(text[i]) & 0xc0) != 0x80) ++col;
      }
      at = {line + line0_, line == 1 ? col + col0_ : col};
      if (p.problem_value != -1) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", unsigned(p.problem_value) & 0xffffu);
        msg += std::string(" (") + hex + ")";
      }
    } else if (p.context) {
      const SourceLoc c = loc(p.context_mark);
      msg += std::string(", ") + p.context + " at " + std::to_string(c.line) + ":" + std::to_string(c.col);
    }
    fail(at, msg);
  }

  uint32_t add(YNode::Kind k, bool quoted, SourceLoc at) {
    t_.nodes_.push_back({k, quoted, uint32_t(at.line), uint32_t(at.col), 0, 0});
    return uint32_t(t_.nodes_.size() - 1);
  }

  // A complete node joins its parent (or becomes the root).
  void finish_leaf(uint32_t id, uint64_t size, const std::string& anchor_name, SourceLoc at) {
    if (!anchor_name.empty()) anchors_[anchor_name] = {id, size, true};
    attach(id, size, at);
  }

  void attach(uint32_t id, uint64_t size, SourceLoc at) {
    if (depth_ == 0) {
      t_.root_ = id;
      return;
    }
    Frame& f = frames_[depth_ - 1];
    f.size = std::min<uint64_t>(f.size + size, uint64_t{1} << 62);
    if (t_.nodes_[f.id].kind == YNode::Kind::Map && f.kids.size() % 2 == 0) check_key(f, id, at);
    f.kids.push_back(id);
  }

  void check_key(Frame& f, uint32_t id, SourceLoc at) {
    const auto& n = t_.nodes_[id];
    if (n.kind == YNode::Kind::Seq || n.kind == YNode::Kind::Map)
      return fail(at, "a mapping key must be a scalar, not a " + YNode(&t_, id).describe());
    const std::string_view k = YNode(&t_, id).text();
    auto duplicate = [&](uint32_t first) {
      const SourceLoc was{int(t_.nodes_[first].line), int(t_.nodes_[first].col)};
      errors_->push_back({at, "duplicate key '" + std::string(k) + "' (first at " +
                                  std::to_string(was.line) + ":" + std::to_string(was.col) + ")"});
      failed_after_ = true;
    };
    if (f.kids.size() < 32) {
      for (size_t i = 0; i < f.kids.size(); i += 2)
        if (YNode(&t_, f.kids[i]).text() == k) return duplicate(f.kids[i]);
      return;
    }
    // A large mapping (a program table, say) indexes its keys once.
    if (f.keys.empty())
      for (size_t i = 0; i < f.kids.size(); i += 2) f.keys.emplace(YNode(&t_, f.kids[i]).text(), f.kids[i]);
    auto [it, fresh] = f.keys.emplace(std::string(k), id);
    if (!fresh) duplicate(it->second);
  }

  void open(uint32_t id, std::string anchor_name, SourceLoc at) {
    if (depth_ >= YamlTree::kMaxDepth)
      return fail(at, "nested more than " + std::to_string(YamlTree::kMaxDepth) + " levels deep");
    if (frames_.size() <= size_t(depth_)) frames_.emplace_back();
    Frame& f = frames_[depth_++];
    f.id = id;
    f.kids.clear();
    f.keys.clear();
    f.size = 1;
    f.anchor = std::move(anchor_name);
    // An alias to this node from inside it would make the document infinite.
    if (!f.anchor.empty()) anchors_[f.anchor] = {id, 0, false};
  }

  void close() {
    if (depth_ == 0) return;
    Frame& f = frames_[--depth_];
    auto& n = t_.nodes_[f.id];
    n.a = uint32_t(t_.kids_.size());
    n.b = uint32_t(f.kids.size());
    t_.kids_.insert(t_.kids_.end(), f.kids.begin(), f.kids.end());
    if (!f.anchor.empty()) anchors_[f.anchor] = {f.id, f.size, true};
    attach(f.id, f.size, {int(n.line), int(n.col)});
  }

  void alias(const std::string& name, SourceLoc at) {
    auto it = anchors_.find(name);
    if (it == anchors_.end()) return fail(at, "alias '*" + name + "' names no anchor defined before it");
    if (!it->second.complete)
      return fail(at, "alias '*" + name + "' is inside the node its anchor names (an endless document)");
    expanded_ += it->second.size;
    if (expanded_ > YamlTree::kAliasBudget)
      return fail(at, "aliases expand this document by more than " +
                          std::to_string(YamlTree::kAliasBudget) +
                          " nodes (each use of '*" + name + "' copies its " +
                          std::to_string(it->second.size) + " nodes)");
    attach(it->second.id, it->second.size, at);
  }

  YamlTree& t_;
  std::vector<YamlError>* errors_;
  int line0_, col0_;
  size_t length_ = 0;
  std::vector<Frame> frames_;
  int depth_ = 0;
  std::unordered_map<std::string, Anchor> anchors_;
  uint64_t expanded_ = 0;
  bool failed_ = false;
  bool failed_after_ = false;  // errors that still let the rest of the text be read

 public:
  bool ok() const { return !failed_ && !failed_after_; }
};

std::shared_ptr<YamlTree> YamlTree::parse(const std::string& text, std::string origin,
                                          std::vector<YamlError>* errors, int line0, int col0) {
  auto t = std::make_shared<YamlTree>();
  t->origin_ = std::move(origin);
  YamlBuilder b(*t, errors, line0, col0);
  b.run(text);
  return t;
}

}  // namespace cocosim
