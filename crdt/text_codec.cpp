// JSON encodings of crdt::Text and its operations (grammar in text.h).
#include <algorithm>
#include <numeric>

#include <nlohmann/json.hpp>

#include "crdt/internal/text_util.h"
#include "crdt/text.h"

#include <charconv>
#include "crdt/utf8.h"

namespace crdt {

using internal::CharRef;
using internal::kNil;
using internal::Run;
using nlohmann::json;

namespace {

Status BadOp(const std::string& why) { return Status::InvalidArgument("invalid-text-op", why); }
Status BadState(const std::string& why) { return Status::InvalidArgument("invalid-text-state", why); }

std::optional<uint64_t> Unsigned(const json& j) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0) return static_cast<uint64_t>(j.get<int64_t>());
  return std::nullopt;
}

json EncodeId(const TextId& id) { return json::array({id.origin.str(), id.counter}); }

Result<TextId> DecodeId(const json& j) {
  if (!j.is_array() || j.size() != 2 || !j[0].is_string()) return BadOp("an id is [region, counter]");
  auto origin = RegionId::Parse(j[0].get<std::string>());
  const auto counter = Unsigned(j[1]);
  if (!origin.ok() || !counter || *counter == 0 || *counter > internal::kMaxTextIds) {
    return BadOp("an id is [region, counter >= 1]");
  }
  return TextId{std::move(origin).value(), *counter};
}

Result<std::optional<TextId>> DecodeOptionalId(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<TextId>();
  auto id = DecodeId(*it);
  if (!id.ok()) return id.status();
  return std::optional<TextId>(std::move(id).value());
}

}  // namespace

json EncodeTextOp(const TextOp& op) {
  json j = json::object();
  j["id"] = EncodeId(op.id);
  if (op.kind == TextOp::Kind::kInsert) {
    j["kind"] = "insert";
    j["left"] = op.left ? EncodeId(*op.left) : json(nullptr);
    j["right"] = op.right ? EncodeId(*op.right) : json(nullptr);
    j["text"] = op.text;
  } else {
    j["kind"] = "delete";
    json spans = json::array();
    for (const TextSpan& s : op.spans) spans.push_back(json::array({s.origin.str(), s.counter, s.length}));
    j["spans"] = std::move(spans);
  }
  return j;
}

Result<TextOp> DecodeTextOp(const json& j) {
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string() || !j.contains("id")) {
    return BadOp("a text op is an object with kind and id");
  }
  TextOp op;
  auto id = DecodeId(j["id"]);
  if (!id.ok()) return id.status();
  op.id = std::move(id).value();
  const std::string& kind = j["kind"].get_ref<const std::string&>();
  if (kind == "insert") {
    auto left = DecodeOptionalId(j, "left");
    auto right = DecodeOptionalId(j, "right");
    if (!left.ok()) return left.status();
    if (!right.ok()) return right.status();
    const auto text = j.find("text");
    if (text == j.end() || !text->is_string() || text->get_ref<const std::string&>().empty() ||
        !IsValidUtf8(text->get_ref<const std::string&>())) {
      return BadOp("an insert carries non-empty UTF-8 text");
    }
    op.left = std::move(left).value();
    op.right = std::move(right).value();
    op.text = text->get<std::string>();
    return op;
  }
  if (kind == "delete") {
    op.kind = TextOp::Kind::kDelete;
    const auto spans = j.find("spans");
    if (spans == j.end() || !spans->is_array() || spans->empty()) return BadOp("a delete carries spans");
    for (const json& s : *spans) {
      if (!s.is_array() || s.size() != 3 || !s[0].is_string()) return BadOp("a span is [region, counter, length]");
      auto origin = RegionId::Parse(s[0].get<std::string>());
      const auto counter = Unsigned(s[1]);
      const auto length = Unsigned(s[2]);
      if (!origin.ok() || !counter || !length || *counter == 0 || *length == 0 ||
          *counter > internal::kMaxTextIds || *length > internal::kMaxTextIds) {
        return BadOp("a span is [region, counter >= 1, length >= 1]");
      }
      op.spans.push_back({std::move(origin).value(), *counter, *length});
    }
    return op;
  }
  return BadOp("unknown text op kind " + kind);
}

json EncodeTextOps(const std::vector<TextOp>& ops) {
  json out = json::array();
  for (const TextOp& op : ops) out.push_back(EncodeTextOp(op));
  return out;
}

Result<std::vector<TextOp>> DecodeTextOps(const json& j) {
  if (!j.is_array()) return BadOp("text ops are an array");
  std::vector<TextOp> ops;
  ops.reserve(j.size());
  for (const json& e : j) {
    auto op = DecodeTextOp(e);
    if (!op.ok()) return op.status();
    ops.push_back(std::move(op).value());
  }
  return ops;
}

void Text::EncodeParts(Parts* parts) const {
  std::vector<uint32_t> by_name(agents_.size());
  std::iota(by_name.begin(), by_name.end(), 0);
  std::sort(by_name.begin(), by_name.end(), [&](uint32_t a, uint32_t b) { return agents_[a].name < agents_[b].name; });
  std::vector<uint64_t> rank(agents_.size());  // 1-based; 0 encodes "none"
  std::vector<std::string> origins;
  std::vector<uint64_t> counters;
  for (size_t k = 0; k < by_name.size(); ++k) {
    rank[by_name[k]] = k + 1;
    origins.push_back(agents_[by_name[k]].name.str());
    counters.push_back(agents_[by_name[k]].index.size());
  }
  std::vector<uint64_t> runs;
  std::string text;
  const auto push_ref = [&](CharRef c) {
    runs.push_back(c.none() ? 0 : rank[c.agent]);
    runs.push_back(c.none() ? 0 : c.counter);
  };
  const auto emit = [&](const Run& r) {
    runs.insert(runs.end(), {rank[r.agent], r.start, r.len});
    push_ref(r.origin_left);
    push_ref(r.origin_right);
    push_ref(r.deleted_by);
  };
  // Runs are split differently on each replica; emitting maximal runs makes it canonical.
  Run cur;
  bool have = false;
  for (uint32_t x = tree_.First(); x != kNil; x = tree_.Next(x)) {
    const Run& r = tree_[x];
    if (r.visible()) text.append(arena_, r.text, RunBytes(r));
    if (have && r.agent == cur.agent && r.start == cur.start + cur.len && r.origin_left == cur.Id(cur.len - 1) &&
        r.origin_right == cur.origin_right && r.deleted_by == cur.deleted_by) {
      cur.len += r.len;
      continue;
    }
    if (have) emit(cur);
    cur = r;
    have = true;
  }
  if (have) emit(cur);
  parts->origins = std::move(origins);
  parts->counters = std::move(counters);
  parts->runs = std::move(runs);
  parts->text = std::move(text);
}

json Text::Encode() const {
  Parts p;
  EncodeParts(&p);
  json j = json::object();
  j["origins"] = std::move(p.origins);
  j["counters"] = std::move(p.counters);
  j["runs"] = std::move(p.runs);
  j["text"] = std::move(p.text);
  return j;
}

std::string Text::EncodeText() const {
  Parts p;
  EncodeParts(&p);
  std::string out;
  out.reserve(p.runs.size() * 4 + p.text.size() + 64);
  char digits[24];
  const auto numbers = [&](const std::vector<uint64_t>& xs) {
    out += '[';
    for (size_t i = 0; i < xs.size(); ++i) {
      if (i) out += ',';
      const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, xs[i]);
      out.append(digits, end);
    }
    out += ']';
  };
  out += "{\"counters\":";
  numbers(p.counters);
  out += ",\"origins\":";
  out += json(p.origins).dump();
  out += ",\"runs\":";
  numbers(p.runs);
  out += ",\"text\":";
  out += json(p.text).dump();
  out += '}';
  return out;
}

Result<Text> Text::Decode(const json& j) {
  if (!j.is_object()) return BadState("a text state is an object");
  const auto origins = j.find("origins"), counters = j.find("counters"), runs = j.find("runs"),
             text = j.find("text");
  if (origins == j.end() || counters == j.end() || runs == j.end() || text == j.end() || !origins->is_array() ||
      !counters->is_array() || !runs->is_array() || !text->is_string() || origins->size() != counters->size() ||
      runs->size() % 9 != 0) {
    return BadState("a text state is {origins, counters, runs, text}");
  }
  const std::string& utf8 = text->get_ref<const std::string&>();
  if (!IsValidUtf8(utf8)) return BadState("text is not UTF-8");
  Text t;
  for (size_t k = 0; k < origins->size(); ++k) {
    const json& o = (*origins)[k];
    auto name = o.is_string() ? RegionId::Parse(o.get<std::string>()) : Result<RegionId>(BadState("origin"));
    const auto n = Unsigned((*counters)[k]);
    if (!name.ok() || !n || *n == 0 || (k > 0 && !(t.agents_.back().name < *name))) {
      return BadState("origins are sorted region ids with counters >= 1");
    }
    t.ids_ += *n;
    if (t.ids_ > internal::kMaxTextIds) {
      return Status(Code::kResourceExhausted, "text-too-large", "the text state has too many ids");
    }
    t.agents_.push_back({std::move(name).value(), std::vector<uint32_t>(*n, kNil)});
  }
  const auto agent_count = t.agents_.size();
  std::vector<uint64_t> v(runs->size());
  for (size_t k = 0; k < v.size(); ++k) {
    const auto n = Unsigned((*runs)[k]);
    if (!n) return BadState("runs are unsigned integers");
    v[k] = *n;
  }
  // A reference: (0, 0) none, or a known origin rank and a counter it has used.
  const auto ref = [&](uint64_t o, uint64_t c, CharRef& out) {
    if (o == 0) return c == 0;
    if (o > agent_count || c == 0 || c > t.agents_[o - 1].index.size()) return false;
    out = {static_cast<uint32_t>(o - 1), static_cast<uint32_t>(c)};
    return true;
  };
  std::vector<uint32_t> order;
  size_t byte = 0;
  uint64_t code_points_left = internal::CountCodePoints(utf8);
  for (size_t k = 0; k < v.size(); k += 9) {
    Run r;
    if (v[k] == 0 || v[k] > agent_count || !ref(v[k + 3], v[k + 4], r.origin_left) ||
        !ref(v[k + 5], v[k + 6], r.origin_right) || !ref(v[k + 7], v[k + 8], r.deleted_by)) {
      return BadState("run " + std::to_string(k / 9) + " names an unknown origin");
    }
    const uint32_t a = static_cast<uint32_t>(v[k] - 1);
    auto& index = t.agents_[a].index;
    const uint64_t start = v[k + 1], len = v[k + 2];
    if (start == 0 || len == 0 || len > index.size() || start > index.size() - len + 1) {
      return BadState("run " + std::to_string(k / 9) + " has ids its origin never used");
    }
    r.agent = a;
    for (uint64_t done = 0; done < len;) {
      r.start = static_cast<uint32_t>(start + done);
      r.len = static_cast<uint32_t>(std::min<uint64_t>(len - done, internal::kMaxRun));
      if (done > 0) r.origin_left = {a, r.start - 1};
      if (r.visible()) {
        if (code_points_left < r.len) return BadState("text shorter than the visible runs");
        code_points_left -= r.len;
        r.text = static_cast<uint32_t>(byte);
        byte += internal::Utf8Bytes(utf8, byte, r.len);
      }
      for (uint32_t c = r.start; c < r.start + r.len; ++c) {
        if (index[c - 1] != kNil) return BadState("character " + std::to_string(c) + " appears twice");
      }
      const uint32_t x = t.tree_.New(r);
      t.Reindex(x);
      order.push_back(x);
      done += r.len;
    }
  }
  if (code_points_left != 0) return BadState("text longer than the visible runs");
  t.arena_ = utf8;
  t.tree_.Rebuild(order);
  return t;
}

}  // namespace crdt
