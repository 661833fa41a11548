// A YAML document read strictly and held compactly: one 20-byte record per
// node, scalars in one string pool. yaml-cpp's node graph cost about 4.7 KB per
// scenario step and its scanner most of the load time; libyaml's event parser
// feeds this tree instead (docs/scenario-format.md, "Strict YAML").
//
// Strict means: one document per text, no duplicate key in any mapping, keys
// are scalars, anchors are defined before their aliases and never contain
// them, nesting is bounded, and aliases may add at most kAliasBudget nodes to
// the document as it is read (each use of an alias counts its whole subtree).
// A text is at most kMaxText bytes.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cocosim {

struct SourceLoc {
  int line = 0;  // 1-based
  int col = 0;   // 1-based
};

class YamlTree;

// A handle on one node of a tree; cheap to copy, valid while the tree lives.
// A default handle is "absent" (a key that is not there).
class YNode {
 public:
  enum class Kind : uint8_t { Absent, Null, Scalar, Seq, Map };
  YNode() = default;
  YNode(const YamlTree* t, uint32_t id) : t_(t), id_(id) {}

  Kind kind() const;
  explicit operator bool() const { return kind() != Kind::Absent; }
  bool is_null() const { return kind() == Kind::Null; }
  bool is_scalar() const { return kind() == Kind::Scalar; }
  bool is_seq() const { return kind() == Kind::Seq; }
  bool is_map() const { return kind() == Kind::Map; }
  // A scalar's text ("" for anything else).
  std::string_view text() const;
  std::string str() const { return std::string(text()); }
  bool quoted() const;  // written in quotes (a quoted "null" is a string)
  SourceLoc loc() const;
  const std::string& origin() const;  // file name, or "--set"

  // Sequences: elements; mappings: key/value pairs.
  size_t size() const;
  YNode at(size_t i) const;     // i-th element of a sequence
  YNode key(size_t i) const;    // i-th key of a mapping
  YNode value(size_t i) const;  // i-th value of a mapping
  YNode get(std::string_view k) const;  // a mapping's value for k, or absent
  // "list", "mapping", "scalar 'x'", "null": for messages.
  std::string describe() const;

  const YamlTree* tree() const { return t_; }
  uint32_t id() const { return id_; }

 private:
  const YamlTree* t_ = nullptr;
  uint32_t id_ = 0;
};

struct YamlError {
  SourceLoc loc;
  std::string message;
};

class YamlTree {
 public:
  static constexpr uint64_t kAliasBudget = 1'000'000;  // nodes added by alias expansion
  static constexpr int kMaxDepth = 64;                 // nesting of sequences and mappings
  static constexpr size_t kMaxText = size_t{256} << 20;  // bytes

  // Parses `text`; errors (syntax, or a strictness rule) go to `errors`, and
  // the tree is then unusable. `origin` names the text in locations; lines
  // and columns of the first line are shifted by line0/col0 (for --set).
  static std::shared_ptr<YamlTree> parse(const std::string& text, std::string origin,
                                         std::vector<YamlError>* errors, int line0 = 0,
                                         int col0 = 0);

  // The document's root: absent for an empty text.
  YNode root() const { return nodes_.empty() ? YNode() : YNode(this, root_); }
  const std::string& origin() const { return origin_; }
  size_t node_count() const { return nodes_.size(); }

 private:
  friend class YNode;
  friend class YamlBuilder;
  struct Node {
    YNode::Kind kind;
    bool quoted;
    uint32_t line, col;
    uint32_t a, b;  // scalar: offset and length in pool_; containers: first and count in kids_
  };
  std::vector<Node> nodes_;
  std::vector<uint32_t> kids_;  // mapping children as key, value, key, value, ...
  std::string pool_;
  uint32_t root_ = 0;
  std::string origin_;
};

}  // namespace cocosim
