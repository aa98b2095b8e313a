#include "crdt/internal/text_tree.h"

namespace crdt::internal {

TextTree::TextTree() {
  chunks_.emplace_back();
  chunks_.back().reserve(size_t{1} << kShift);
  chunks_.back().emplace_back();  // the nil sentinel
}

uint32_t TextTree::New(const Run& r) {
  uint32_t x;
  if (!free_.empty()) {
    x = free_.back();
    free_.pop_back();
  } else {
    if (chunks_.back().size() == (size_t{1} << kShift)) {
      chunks_.emplace_back();
      chunks_.back().reserve(size_t{1} << kShift);
    }
    x = static_cast<uint32_t>(((chunks_.size() - 1) << kShift) | chunks_.back().size());
    chunks_.back().emplace_back();
  }
  Run& n = (*this)[x];
  n = r;
  n.left = n.right = n.parent = kNil;
  n.vis = n.visible() ? n.len : 0;
  n.all = n.len;
  ++count_;
  return x;
}

void TextTree::Update(uint32_t x) {
  Run& n = (*this)[x];
  const Run& l = (*this)[n.left];
  const Run& r = (*this)[n.right];
  n.vis = l.vis + r.vis + (n.visible() ? n.len : 0);
  n.all = l.all + r.all + n.len;
}

void TextTree::Rotate(uint32_t x) {
  Run& nx = (*this)[x];
  const uint32_t y = nx.parent;
  Run& ny = (*this)[y];
  const uint32_t z = ny.parent;
  uint32_t b;
  if (ny.left == x) {
    b = nx.right;
    ny.left = b;
    nx.right = y;
  } else {
    b = nx.left;
    ny.right = b;
    nx.left = y;
  }
  if (b != kNil) (*this)[b].parent = y;
  ny.parent = x;
  nx.parent = z;
  if (z == kNil) {
    root_ = x;
  } else {
    Run& nz = (*this)[z];
    (nz.left == y ? nz.left : nz.right) = x;
  }
  Update(y);
  Update(x);
}

void TextTree::Splay(uint32_t x) {
  while (true) {
    const uint32_t p = (*this)[x].parent;
    if (p == kNil) return;
    const uint32_t g = (*this)[p].parent;
    if (g != kNil) {
      const bool zig_zig = ((*this)[g].left == p) == ((*this)[p].left == x);
      Rotate(zig_zig ? p : x);
    }
    Rotate(x);
  }
}

std::pair<uint32_t, uint32_t> TextTree::FindVisible(uint32_t pos) {
  uint32_t x = root_;
  while (true) {
    const Run& n = (*this)[x];
    const uint32_t lv = (*this)[n.left].vis;
    if (pos < lv) {
      x = n.left;
      continue;
    }
    pos -= lv;
    const uint32_t own = n.visible() ? n.len : 0;
    if (pos < own) break;
    pos -= own;
    x = n.right;
  }
  Splay(x);
  return {x, pos};
}

uint32_t TextTree::PositionOf(uint32_t x) {
  Splay(x);
  return (*this)[(*this)[x].left].all;
}

uint32_t TextTree::First() const {
  uint32_t x = root_;
  if (x == kNil) return kNil;
  while ((*this)[x].left != kNil) x = (*this)[x].left;
  return x;
}

uint32_t TextTree::Last() const {
  uint32_t x = root_;
  if (x == kNil) return kNil;
  while ((*this)[x].right != kNil) x = (*this)[x].right;
  return x;
}

uint32_t TextTree::Next(uint32_t x) const {
  if ((*this)[x].right != kNil) {
    x = (*this)[x].right;
    while ((*this)[x].left != kNil) x = (*this)[x].left;
    return x;
  }
  while (true) {
    const uint32_t p = (*this)[x].parent;
    if (p == kNil || (*this)[p].left == x) return p;
    x = p;
  }
}

uint32_t TextTree::Prev(uint32_t x) const {
  if ((*this)[x].left != kNil) {
    x = (*this)[x].left;
    while ((*this)[x].right != kNil) x = (*this)[x].right;
    return x;
  }
  while (true) {
    const uint32_t p = (*this)[x].parent;
    if (p == kNil || (*this)[p].right == x) return p;
    x = p;
  }
}

void TextTree::InsertAfter(uint32_t x, uint32_t n) {
  Run& nn = (*this)[n];
  if (x == kNil) {
    nn.left = kNil;
    nn.right = root_;
  } else {
    Splay(x);
    Run& nx = (*this)[x];
    nn.left = x;
    nn.right = nx.right;
    nx.right = kNil;
    Update(x);
  }
  if (nn.left != kNil) (*this)[nn.left].parent = n;
  if (nn.right != kNil) (*this)[nn.right].parent = n;
  nn.parent = kNil;
  root_ = n;
  Update(n);
}

void TextTree::Touch(uint32_t x) {
  Splay(x);
  Update(x);
}

uint32_t TextTree::Build(const std::vector<uint32_t>& order, size_t lo, size_t hi, uint32_t parent) {
  if (lo >= hi) return kNil;
  const size_t mid = lo + (hi - lo) / 2;
  const uint32_t x = order[mid];
  (*this)[x].parent = parent;
  (*this)[x].left = Build(order, lo, mid, x);
  (*this)[x].right = Build(order, mid + 1, hi, x);
  Update(x);
  return x;
}

void TextTree::Rebuild(const std::vector<uint32_t>& order) {
  const size_t pool = ((chunks_.size() - 1) << kShift) + chunks_.back().size();
  std::vector<bool> keep(pool, false);
  for (uint32_t x : order) keep[x] = true;
  std::vector<bool> already_free(pool, false);
  for (uint32_t x : free_) already_free[x] = true;
  for (size_t x = 1; x < pool; ++x) {
    if (!keep[x] && !already_free[x]) free_.push_back(static_cast<uint32_t>(x));
  }
  count_ = order.size();
  root_ = Build(order, 0, order.size(), kNil);
}

}  // namespace crdt::internal
