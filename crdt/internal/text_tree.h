// TextTree: the ordered sequence of runs behind crdt::Text (text.h), as a splay tree.
//
// A run is a maximal-ish block of characters inserted together by one origin with
// consecutive counters, all visible or all deleted (by the same delete). The tree keeps the
// runs in document order (in-order traversal) and each node carries two subtree sums: the
// number of visible characters and the number of all characters (tombstones included), so
//   - the run holding visible index i is found by one descent, and
//   - the position of a run in the full sequence is the all-sum of its left subtree once it
//     has been splayed to the root.
// Every access splays the node it returns (amortised O(log n); editing is local, so the
// runs touched by consecutive edits stay near the root and most operations cost O(1)).
//
// Runs live in a chunked pool addressed by 32-bit indices (index 0 is the nil sentinel,
// whose sums are 0), so the tree is a value: copying a TextTree copies the document.
// Chunks never move, so a Run& stays valid until the next New().
//
// Thread-safety: value type; even const-looking queries that splay are non-const.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace crdt::internal {

inline constexpr uint32_t kNil = 0;
inline constexpr uint32_t kNoAgent = 0xFFFFFFFFu;

// A character identity inside the tree: interned origin + counter. agent == kNoAgent: none.
struct CharRef {
  uint32_t agent = kNoAgent;
  uint32_t counter = 0;
  bool none() const { return agent == kNoAgent; }
  friend bool operator==(const CharRef&, const CharRef&) = default;
};

struct Run {
  // Tree links and subtree sums (maintained by TextTree).
  uint32_t left = kNil, right = kNil, parent = kNil;
  uint32_t vis = 0, all = 0;
  // Characters (agent, start) .. (agent, start + len - 1).
  uint32_t agent = kNoAgent, start = 0, len = 0;
  // Origins of the first character; character k > 0 has origin_left (agent, start + k - 1)
  // and the same origin_right.
  CharRef origin_left, origin_right;
  CharRef deleted_by;  // none: visible; else the id of the delete op (the least one)
  uint32_t text = 0;   // byte offset of the run's UTF-8 text in the arena (visible runs)
  bool visible() const { return deleted_by.none(); }
  CharRef Id(uint32_t k) const { return {agent, start + k}; }
};

class TextTree {
 public:
  TextTree();

  // Allocates an unlinked run (a copy of `r` with links cleared).
  uint32_t New(const Run& r);
  Run& operator[](uint32_t x) { return chunks_[x >> kShift][x & kMask]; }
  const Run& operator[](uint32_t x) const { return chunks_[x >> kShift][x & kMask]; }

  uint32_t visible_size() const { return (*this)[root_].vis; }
  uint32_t total_size() const { return (*this)[root_].all; }
  size_t run_count() const { return count_; }

  // The run holding visible character `pos` (< visible_size()) and the offset in it; splays it.
  std::pair<uint32_t, uint32_t> FindVisible(uint32_t pos);
  // Position of x's first character in the full sequence (tombstones included); splays x.
  uint32_t PositionOf(uint32_t x);
  uint32_t First() const;
  uint32_t Last() const;
  uint32_t Next(uint32_t x) const;
  uint32_t Prev(uint32_t x) const;

  // Links unlinked run n right after x (x == kNil: at the front).
  void InsertAfter(uint32_t x, uint32_t n);
  // Call after changing x's len or visibility: restores the sums.
  void Touch(uint32_t x);
  // Drops every run and relinks `order` (unlinked or stale runs) as a balanced tree; runs not
  // in `order` are freed.
  void Rebuild(const std::vector<uint32_t>& order);

 private:
  static constexpr uint32_t kShift = 12;
  static constexpr uint32_t kMask = (1u << kShift) - 1;

  void Update(uint32_t x);
  void Rotate(uint32_t x);
  void Splay(uint32_t x);
  uint32_t Build(const std::vector<uint32_t>& order, size_t lo, size_t hi, uint32_t parent);

  std::vector<std::vector<Run>> chunks_;
  std::vector<uint32_t> free_;
  uint32_t root_ = kNil;
  size_t count_ = 0;
};

}  // namespace crdt::internal
