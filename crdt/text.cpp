#include "crdt/text.h"

#include <algorithm>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "crdt/internal/text_util.h"
#include "crdt/utf8.h"

namespace crdt {

using internal::CharRef;
using internal::kMaxRun;
using internal::kNil;
using internal::Run;

Status Text::CheckBudget(uint64_t more) const {
  if (ids_ + more > internal::kMaxTextIds) {
    return Status(Code::kResourceExhausted, "text-too-large", "the text has used all its ids");
  }
  return Status::Ok();
}

std::optional<uint32_t> Text::FindAgent(const RegionId& name) const {
  for (uint32_t a = 0; a < agents_.size(); ++a) {
    if (agents_[a].name == name) return a;
  }
  return std::nullopt;
}

uint32_t Text::InternAgent(const RegionId& name) {
  if (auto a = FindAgent(name)) return *a;
  agents_.push_back({name, {}});
  return static_cast<uint32_t>(agents_.size() - 1);
}

uint64_t Text::Version(std::optional<uint32_t> agent) const {
  return agent ? agents_[*agent].index.size() : 0;
}

VersionVector Text::version() const {
  VersionVector v;
  for (const Agent& a : agents_) v.Advance(a.name, a.index.size());
  return v;
}

bool Text::DeleteLess(CharRef a, CharRef b) const {
  const auto& na = agents_[a.agent].name;
  const auto& nb = agents_[b.agent].name;
  return na < nb || (na == nb && a.counter < b.counter);
}

Result<CharRef> Text::Resolve(const TextId& id) const {
  const auto a = FindAgent(id.origin);
  if (!a || id.counter == 0 || id.counter > Version(a) || agents_[*a].index[id.counter - 1] == kNil) {
    return Status::FailedPrecondition("text-causality",
                                      "unknown character " + id.origin.str() + ":" + std::to_string(id.counter));
  }
  return CharRef{*a, static_cast<uint32_t>(id.counter)};
}

Text::Place Text::Locate(CharRef c) const {
  const uint32_t x = agents_[c.agent].index[c.counter - 1];
  return {x, c.counter - tree_[x].start};
}

Result<uint32_t> Text::PositionOf(CharRef c) {
  if (c.agent >= agents_.size() || c.counter == 0 || c.counter > agents_[c.agent].index.size() ||
      agents_[c.agent].index[c.counter - 1] == kNil) {
    return Status::FailedPrecondition("text-causality", "a character names a collected origin");
  }
  const Place p = Locate(c);
  return tree_.PositionOf(p.run) + p.offset;
}

uint32_t Text::RunBytes(const Run& r) const { return internal::Utf8Bytes(arena_, r.text, r.len); }

void Text::Reindex(uint32_t x) {
  const Run& r = tree_[x];
  auto& index = agents_[r.agent].index;
  for (uint32_t c = r.start; c < r.start + r.len; ++c) index[c - 1] = x;
}

uint32_t Text::Split(uint32_t x, uint32_t k) {
  Run right = tree_[x];
  right.start += k;
  right.len -= k;
  right.origin_left = tree_[x].Id(k - 1);
  right.text = right.visible() ? right.text + internal::Utf8Bytes(arena_, right.text, k) : 0;
  tree_[x].len = k;
  const uint32_t y = tree_.New(right);
  tree_.InsertAfter(x, y);  // also restores x's sums
  Reindex(y);
  if (tail_ == x) tail_ = y;
  return y;
}

void Text::MarkDeleted(uint32_t x, uint32_t offset, uint32_t count, CharRef by) {
  if (!tree_[x].visible() && !DeleteLess(by, tree_[x].deleted_by)) return;
  if (offset > 0) x = Split(x, offset);
  if (count < tree_[x].len) Split(x, count);
  tree_[x].deleted_by = by;
  tree_.Touch(x);
}

void Text::PlaceAfter(Place after, uint32_t agent, uint32_t counter, CharRef left, CharRef right,
                      std::string_view utf8, uint32_t length) {
  const uint32_t x = after.run;
  if (x != kNil && after.offset + 1 < tree_[x].len) Split(x, after.offset + 1);
  auto& index = agents_[agent].index;
  ids_ += length;
  if (x != kNil) {
    Run& r = tree_[x];
    // Typing on: the new characters continue x (same origin, next counters, same right
    // origin, left origin = x's last character), so they join it instead of making a run.
    if (x == tail_ && r.agent == agent && r.start + r.len == counter && r.visible() && r.origin_right == right &&
        left == r.Id(r.len - 1) && r.len + length <= kMaxRun) {
      r.len += length;
      arena_.append(utf8);
      tree_.Touch(x);
      index.insert(index.end(), length, x);
      return;
    }
  }
  uint32_t prev = x;
  size_t byte = 0;
  while (length > 0) {
    const uint32_t take = std::min(length, kMaxRun);
    const uint32_t bytes = internal::Utf8Bytes(utf8, byte, take);
    Run r;
    r.agent = agent;
    r.start = counter;
    r.len = take;
    r.origin_left = left;
    r.origin_right = right;
    r.text = static_cast<uint32_t>(arena_.size());
    arena_.append(utf8.substr(byte, bytes));
    const uint32_t y = tree_.New(r);
    tree_.InsertAfter(prev, y);
    index.insert(index.end(), take, y);
    tail_ = y;
    left = {agent, counter + take - 1};
    counter += take;
    length -= take;
    byte += bytes;
    prev = y;
  }
}

// YjsMod's scan (see the header): returns the character to insert after (run kNil: front).
Result<Text::Place> Text::Integrate(const RegionId& name, CharRef left, CharRef right) {
  const int64_t total = tree_.total_size();
  int64_t lpos = -1;
  Place lp;
  if (!left.none()) {
    auto p = PositionOf(left);
    if (!p.ok()) return p.status();
    lpos = *p;
    lp = Locate(left);
  }
  int64_t rpos = total;
  if (!right.none()) {
    auto p = PositionOf(right);
    if (!p.ok()) return p.status();
    rpos = *p;
  }
  if (lpos >= rpos) return Status::InvalidArgument("invalid-text-op", "left origin is not before right origin");

  uint32_t n = kNil, o = 0;
  if (left.none()) {
    n = tree_.First();
  } else if (lp.offset + 1 < tree_[lp.run].len) {
    n = lp.run;
    o = lp.offset + 1;
  } else {
    n = tree_.Next(lp.run);
  }
  int64_t i = lpos + 1;
  bool scanning = false;
  uint32_t dest = n, dest_offset = o;  // insert before this character (kNil: at the end)
  while (true) {
    if (!scanning) dest = n, dest_offset = o;
    if (n == kNil || i == rpos) break;
    const Run& r = tree_[n];
    // Inside a run, a character's left origin is its predecessor.
    int64_t oleft = i - 1;
    if (o == 0) {
      oleft = -1;
      if (!r.origin_left.none()) {
        auto p = PositionOf(r.origin_left);
        if (!p.ok()) return p.status();
        oleft = *p;
      }
    }
    int64_t oright = total;
    if (!r.origin_right.none()) {
      auto p = PositionOf(r.origin_right);
      if (!p.ok()) return p.status();
      oright = *p;
    }
    if (oleft < lpos) break;
    if (oleft == lpos) {
      if (oright < rpos) {
        scanning = true;
      } else if (oright == rpos && name < agents_[r.agent].name) {
        break;
      } else {
        scanning = false;
      }
    }
    // The run's other characters have their predecessor as left origin, after ours: skipped.
    const int64_t end = i + (r.len - o);
    if (rpos > i && rpos < end) {
      if (!scanning) dest = n, dest_offset = o + static_cast<uint32_t>(rpos - i);
      break;
    }
    i = end;
    n = tree_.Next(n);
    o = 0;
  }
  if (dest == kNil) {
    const uint32_t last = tree_.Last();
    return last == kNil ? Place{} : Place{last, tree_[last].len - 1};
  }
  if (dest_offset > 0) return Place{dest, dest_offset - 1};
  const uint32_t prev = tree_.Prev(dest);
  return prev == kNil ? Place{} : Place{prev, tree_[prev].len - 1};
}

Status Text::ApplyInsert(const TextOp& op) {
  if (op.id.counter == 0 || !IsValidUtf8(op.text) || op.text.empty()) {
    return Status::InvalidArgument("invalid-text-op", "an insert needs a counter >= 1 and UTF-8 text");
  }
  uint64_t length = internal::CountCodePoints(op.text);
  const auto agent = FindAgent(op.id.origin);
  const uint64_t next = Version(agent) + 1;
  if (op.id.counter + length - 1 < next) return Status::Ok();  // a duplicate
  if (op.id.counter > next) {
    return Status::FailedPrecondition("text-causality", "insert " + op.id.origin.str() + ":" +
                                                            std::to_string(op.id.counter) + " arrived out of order");
  }
  MERIDIAN_RETURN_IF_ERROR(CheckBudget(length));
  std::string_view text = op.text;
  CharRef left, right;
  if (op.id.counter < next) {  // partly a duplicate: integrate the rest after what we have
    const uint64_t skip = next - op.id.counter;
    text.remove_prefix(internal::Utf8Bytes(text, 0, static_cast<uint32_t>(skip)));
    length -= skip;
    left = {*agent, static_cast<uint32_t>(next - 1)};
  } else if (op.left) {
    auto l = Resolve(*op.left);
    if (!l.ok()) return l.status();
    left = *l;
  }
  if (op.right) {
    auto r = Resolve(*op.right);
    if (!r.ok()) return r.status();
    right = *r;
  }
  auto after = Integrate(op.id.origin, left, right);
  if (!after.ok()) return after.status();
  const uint32_t a = InternAgent(op.id.origin);
  PlaceAfter(*after, a, static_cast<uint32_t>(next), left, right, text, static_cast<uint32_t>(length));
  return Status::Ok();
}

Status Text::ApplyDelete(const TextOp& op) {
  if (op.id.counter == 0 || op.spans.empty()) {
    return Status::InvalidArgument("invalid-text-op", "a delete needs a counter >= 1 and spans");
  }
  const uint64_t next = Version(FindAgent(op.id.origin)) + 1;
  if (op.id.counter < next) return Status::Ok();
  if (op.id.counter > next) {
    return Status::FailedPrecondition("text-causality", "delete " + op.id.origin.str() + ":" +
                                                            std::to_string(op.id.counter) + " arrived out of order");
  }
  for (const TextSpan& s : op.spans) {
    const auto a = FindAgent(s.origin);
    if (!a || s.counter == 0 || s.length == 0 || s.length > Version(a) || s.counter > Version(a) - s.length + 1) {
      return Status::FailedPrecondition("text-causality", "delete names unknown characters of " + s.origin.str());
    }
  }
  MERIDIAN_RETURN_IF_ERROR(CheckBudget(1));
  const uint32_t agent = InternAgent(op.id.origin);
  agents_[agent].index.push_back(kNil);
  ++ids_;
  const CharRef by{agent, static_cast<uint32_t>(op.id.counter)};
  for (const TextSpan& s : op.spans) {
    const uint32_t a = *FindAgent(s.origin);
    for (uint64_t c = s.counter, end = s.counter + s.length; c < end;) {
      const uint32_t x = agents_[a].index[c - 1];
      if (x == kNil) {  // collected (already deleted everywhere) or a delete's own id
        ++c;
        continue;
      }
      const uint32_t offset = static_cast<uint32_t>(c) - tree_[x].start;
      const uint32_t take = static_cast<uint32_t>(std::min<uint64_t>(tree_[x].len - offset, end - c));
      MarkDeleted(x, offset, take, by);
      c += take;
    }
  }
  return Status::Ok();
}

Status Text::Apply(const TextOp& op) {
  return op.kind == TextOp::Kind::kInsert ? ApplyInsert(op) : ApplyDelete(op);
}

Status Text::ApplyAll(const std::vector<TextOp>& ops) {
  for (const TextOp& op : ops) MERIDIAN_RETURN_IF_ERROR(Apply(op));
  return Status::Ok();
}

Result<TextOp> Text::Insert(const RegionId& origin, uint64_t index, std::string_view utf8) {
  if (!IsValidUtf8(utf8)) return Status::InvalidArgument("invalid-utf8", "inserted text is not UTF-8");
  const uint64_t length = internal::CountCodePoints(utf8);
  if (length == 0) return Status::InvalidArgument("empty-edit", "nothing to insert");
  if (index > size()) {
    return Status(Code::kOutOfRange, "text-index",
                  "insert at " + std::to_string(index) + " in a text of " + std::to_string(size()));
  }
  MERIDIAN_RETURN_IF_ERROR(CheckBudget(length));
  const uint32_t agent = InternAgent(origin);  // nothing below fails
  const uint32_t counter = static_cast<uint32_t>(agents_[agent].index.size() + 1);
  CharRef left, right;
  Place after;
  if (index == 0) {
    const uint32_t first = tree_.First();
    if (first != kNil) right = tree_[first].Id(0);
  } else {
    const auto [x, offset] = tree_.FindVisible(static_cast<uint32_t>(index - 1));
    after = {x, offset};
    left = tree_[x].Id(offset);
    if (offset + 1 < tree_[x].len) {
      right = tree_[x].Id(offset + 1);
    } else if (const uint32_t y = tree_.Next(x); y != kNil) {
      right = tree_[y].Id(0);
    }
  }
  TextOp op;
  op.id = {origin, counter};
  if (!left.none()) op.left = ToId(left);
  if (!right.none()) op.right = ToId(right);
  op.text = std::string(utf8);
  // No concurrent character can sit between left and right here: place it directly.
  PlaceAfter(after, agent, counter, left, right, utf8, static_cast<uint32_t>(length));
  return op;
}

Result<TextOp> Text::Delete(const RegionId& origin, uint64_t index, uint64_t count) {
  if (count == 0) return Status::InvalidArgument("empty-edit", "nothing to delete");
  if (index > size() || count > size() - index) {
    return Status(Code::kOutOfRange, "text-index",
                  "delete of " + std::to_string(count) + " at " + std::to_string(index) + " in a text of " +
                      std::to_string(size()));
  }
  TextOp op;
  op.kind = TextOp::Kind::kDelete;
  op.id = {origin, Version(FindAgent(origin)) + 1};
  auto [x, offset] = tree_.FindVisible(static_cast<uint32_t>(index));
  for (uint64_t remaining = count; remaining > 0; x = tree_.Next(x), offset = 0) {
    const Run& r = tree_[x];
    if (!r.visible()) continue;
    const uint32_t take = static_cast<uint32_t>(std::min<uint64_t>(r.len - offset, remaining));
    TextSpan* last = op.spans.empty() ? nullptr : &op.spans.back();
    if (last && last->origin == agents_[r.agent].name && last->counter + last->length == r.start + offset) {
      last->length += take;
    } else {
      op.spans.push_back({agents_[r.agent].name, r.start + offset, take});
    }
    remaining -= take;
  }
  MERIDIAN_RETURN_IF_ERROR(ApplyDelete(op));
  return op;
}

Result<TextOp> Text::ApplyClientEdit(const RegionId& origin, const nlohmann::json& edit) {
  const auto bad = Status::InvalidArgument(
      "invalid-text-edit", R"(a text edit is {"op":"insert","index":i,"text":s} or {"op":"delete","index":i,"count":n})");
  if (!edit.is_object()) return bad;
  const auto op = edit.find("op");
  const auto index = edit.find("index");
  if (op == edit.end() || !op->is_string() || index == edit.end() || !index->is_number_unsigned()) return bad;
  if (*op == "insert") {
    const auto text = edit.find("text");
    if (text == edit.end() || !text->is_string()) return bad;
    return Insert(origin, index->get<uint64_t>(), text->get_ref<const std::string&>());
  }
  if (*op == "delete") {
    const auto count = edit.find("count");
    if (count == edit.end() || !count->is_number_unsigned()) return bad;
    return Delete(origin, index->get<uint64_t>(), count->get<uint64_t>());
  }
  return bad;
}

std::string Text::Value() const {
  std::string out;
  out.reserve(arena_.size());
  for (uint32_t x = tree_.First(); x != kNil; x = tree_.Next(x)) {
    const Run& r = tree_[x];
    if (r.visible()) out.append(arena_, r.text, RunBytes(r));
  }
  return out;
}

uint64_t Text::CollectTombstones(const VersionVector& stable) {
  std::vector<uint64_t> horizon(agents_.size());
  for (uint32_t a = 0; a < agents_.size(); ++a) horizon[a] = stable.Get(agents_[a].name);
  const auto inserted_stable = [&](const Run& r) { return uint64_t{r.start} + r.len - 1 <= horizon[r.agent]; };
  const auto key = [](CharRef c) { return (uint64_t{c.agent} << 32) | c.counter; };

  std::vector<uint32_t> runs;
  std::unordered_set<uint64_t> referenced;
  for (uint32_t x = tree_.First(); x != kNil; x = tree_.Next(x)) {
    runs.push_back(x);
    const Run& r = tree_[x];
    if (inserted_stable(r)) continue;
    if (!r.origin_left.none()) referenced.insert(key(r.origin_left));
    if (!r.origin_right.none()) referenced.insert(key(r.origin_right));
  }

  uint64_t removed = 0;
  std::vector<uint32_t> order;
  order.reserve(runs.size());
  bool after_stable_tombstone = false;
  for (uint32_t x : runs) {
    const Run r = tree_[x];
    const bool stable_tombstone =
        !r.visible() && r.deleted_by.counter <= horizon[r.deleted_by.agent] && inserted_stable(r);
    if (!stable_tombstone) {
      order.push_back(x);
      after_stable_tombstone = false;
      continue;
    }
    auto& index = agents_[r.agent].index;
    bool reuse = true;
    for (uint32_t k = 0; k < r.len;) {
      const auto keep = [&](uint32_t j) {
        return (j == 0 && !after_stable_tombstone) || referenced.count(key(r.Id(j))) > 0;
      };
      if (!keep(k)) {
        index[r.start + k - 1] = kNil;
        ++removed;
        ++k;
        continue;
      }
      uint32_t end = k + 1;
      while (end < r.len && keep(end)) ++end;
      Run piece = r;
      piece.start = r.start + k;
      piece.len = end - k;
      piece.origin_left = k == 0 ? r.origin_left : r.Id(k - 1);
      piece.text = 0;
      uint32_t y = x;
      if (reuse) {
        tree_[x] = piece;
        reuse = false;
      } else {
        y = tree_.New(piece);
      }
      order.push_back(y);
      Reindex(y);
      k = end;
    }
    after_stable_tombstone = true;
  }
  tree_.Rebuild(order);

  std::string arena;
  for (uint32_t x : order) {
    Run& r = tree_[x];
    if (!r.visible()) continue;
    const uint32_t bytes = RunBytes(r);
    const uint32_t at = static_cast<uint32_t>(arena.size());
    arena.append(arena_, r.text, bytes);
    r.text = at;
  }
  arena_ = std::move(arena);
  tail_ = kNil;
  return removed;
}

}  // namespace crdt
