#include "crdt/doc_crdt.h"

#include <algorithm>

#include "crdt/reserved.h"

namespace crdt {

using nlohmann::json;

namespace {

constexpr size_t kMaxPathDepth = 32;
constexpr size_t kMaxSegment = 256;

struct KindName {
  CrdtOp::Kind kind;
  const char* name;
};
constexpr KindName kKinds[] = {{CrdtOp::Kind::kIncr, "incr"},   {CrdtOp::Kind::kAdd, "add"},
                               {CrdtOp::Kind::kRemove, "remove"}, {CrdtOp::Kind::kSet, "set"},
                               {CrdtOp::Kind::kUnset, "unset"}, {CrdtOp::Kind::kClear, "clear"},
                               {CrdtOp::Kind::kText, "text"}};

const char* KindText(CrdtOp::Kind k) {
  for (const auto& kn : kKinds) {
    if (kn.kind == k) return kn.name;
  }
  return "?";
}

Status BadOp(const std::string& msg) { return Status::InvalidArgument("invalid-op", msg); }

// "/a/b~1c" -> ["a", "b/c"] (RFC 6901 escapes).
Result<Path> ParsePointer(const std::string& text) {
  if (text.empty() || text[0] != '/') return BadOp("a path is a JSON pointer such as \"/likes\", got \"" + text + "\"");
  Path out;
  size_t pos = 1;
  while (true) {
    const size_t slash = text.find('/', pos);
    std::string raw = text.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    std::string seg;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        seg += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else if (raw[i] == '~') {
        return BadOp("bad escape in path \"" + text + "\" (use ~0 for ~ and ~1 for /)");
      } else {
        seg += raw[i];
      }
    }
    if (seg.empty() || seg.size() > kMaxSegment) return BadOp("path segments must be 1-256 bytes: \"" + text + "\"");
    out.push_back(std::move(seg));
    if (out.size() > kMaxPathDepth) return BadOp("paths nest at most 32 levels");
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return out;
}

std::string PathText(const Path& p) {
  std::string out;
  for (const auto& s : p) out += "/" + s;
  return out.empty() ? "/" : out;
}

bool StartsWith(const Path& p, const Path& prefix) {
  return p.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), p.begin());
}

json EncodeTags(const std::vector<Tag>& tags) {
  json out = json::array();
  for (const Tag& t : tags) out.push_back(EncodeTag(t));
  return out;
}

Result<std::vector<Tag>> DecodeTags(const json& j) {
  if (!j.is_array()) return BadOp("'observed' must be a list of tags");
  std::vector<Tag> out;
  for (const auto& t : j) {
    auto tag = DecodeTag(t);
    if (!tag.ok()) return tag.status();
    out.push_back(*tag);
  }
  return out;
}

}  // namespace

const char* FieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::kCounter: return "counter";
    case FieldType::kSet: return "set";
    case FieldType::kRegister: return "register";
    case FieldType::kMVRegister: return "mvregister";
    case FieldType::kMap: return "map";
    case FieldType::kText: return "text";
  }
  return "?";
}

std::optional<FieldType> ParseFieldType(const std::string& name) {
  for (FieldType t : {FieldType::kCounter, FieldType::kSet, FieldType::kRegister, FieldType::kMVRegister,
                      FieldType::kMap, FieldType::kText}) {
    if (name == FieldTypeName(t)) return t;
  }
  return std::nullopt;
}

json EncodeOp(const CrdtOp& op) {
  json out = {{"op", KindText(op.kind)}, {"path", op.path}};
  switch (op.kind) {
    case CrdtOp::Kind::kIncr: out["by"] = op.by; break;
    case CrdtOp::Kind::kAdd:
    case CrdtOp::Kind::kRemove:
    case CrdtOp::Kind::kSet:
      out["value"] = op.value;
      out["observed"] = EncodeTags(op.observed);
      break;
    case CrdtOp::Kind::kUnset:
    case CrdtOp::Kind::kClear: out["observed"] = op.observed_state; break;
    case CrdtOp::Kind::kText: out["text"] = EncodeTextOp(op.text); break;
  }
  return out;
}

Result<CrdtOp> DecodeOp(const json& j) {
  if (!j.is_object() || !j.contains("op") || !j["op"].is_string() || !j.contains("path") || !j["path"].is_array()) {
    return BadOp("malformed operation");
  }
  CrdtOp op;
  const std::string name = j["op"].get<std::string>();
  bool known = false;
  for (const auto& kn : kKinds) {
    if (name == kn.name) {
      op.kind = kn.kind;
      known = true;
    }
  }
  if (!known) return BadOp("unknown operation '" + name + "'");
  for (const auto& seg : j["path"]) {
    if (!seg.is_string()) return BadOp("malformed path");
    op.path.push_back(seg.get<std::string>());
  }
  switch (op.kind) {
    case CrdtOp::Kind::kIncr:
      if (!j.contains("by") || !j["by"].is_number_integer()) return BadOp("incr needs an integer 'by'");
      op.by = j["by"].get<int64_t>();
      break;
    case CrdtOp::Kind::kAdd:
    case CrdtOp::Kind::kRemove:
    case CrdtOp::Kind::kSet: {
      if (!j.contains("value") || !j.contains("observed")) return BadOp(name + " needs 'value' and 'observed'");
      op.value = j["value"];
      auto tags = DecodeTags(j["observed"]);
      if (!tags.ok()) return tags.status();
      op.observed = std::move(tags).value();
      break;
    }
    case CrdtOp::Kind::kUnset:
    case CrdtOp::Kind::kClear:
      if (!j.contains("observed")) return BadOp(name + " needs 'observed'");
      op.observed_state = j["observed"];
      break;
    case CrdtOp::Kind::kText: {
      if (!j.contains("text")) return BadOp("text needs 'text'");
      auto t = DecodeTextOp(j["text"]);
      if (!t.ok()) return t.status();
      op.text = std::move(t).value();
      break;
    }
  }
  return op;
}

bool DocCrdt::HasBelow(const Path& path) const {
  for (auto it = entries_.upper_bound(path); it != entries_.end() && StartsWith(it->first, path); ++it) {
    if (it->first.size() > path.size()) return true;
  }
  return false;
}

bool DocCrdt::HasAbove(const Path& path) const {
  for (size_t n = 1; n < path.size(); ++n) {
    if (entries_.count(Path(path.begin(), path.begin() + static_cast<long>(n)))) return true;
  }
  return false;
}

void DocCrdt::Prune(const Path& path) {
  auto it = entries_.find(path);
  if (it == entries_.end()) return;
  Typed& t = it->second;
  // A counter keeps its removal marks even when nothing is left to count (see counter.h).
  if (t.set && t.set->empty()) t.set.reset();
  if (t.reg && t.reg->empty()) t.reg.reset();
  if (t.empty()) entries_.erase(it);
}

void DocCrdt::RemoveObserved(const Path& prefix, const DocCrdt& observed) {
  for (const auto& [path, seen] : observed.entries_) {
    if (!StartsWith(path, prefix)) continue;
    auto it = entries_.find(path);
    if (it == entries_.end()) continue;
    Typed& t = it->second;
    if (t.counter && seen.counter) t.counter->Remove(*seen.counter);
    if (t.set && seen.set) t.set->RemoveObserved(*seen.set);
    if (t.reg && seen.reg) t.reg->RemoveObserved(*seen.reg);
    // A text is never removed by what its origin observed: text operations delete it.
    Prune(path);
  }
}

Result<bool> DocCrdt::Apply(const CrdtOp& op, const Tag& tag, Hlc hlc) {
  if (op.kind == CrdtOp::Kind::kUnset || op.kind == CrdtOp::Kind::kClear) {
    auto observed = Decode(op.observed_state);
    if (!observed.ok()) return observed.status();
    RemoveObserved(op.path, *observed);
    return false;
  }
  if (op.path.empty()) return BadOp("an operation needs a path");
  const bool had_entry = entries_.count(op.path) > 0;
  Typed& t = entries_[op.path];
  const bool other_shape = HasBelow(op.path) || HasAbove(op.path);
  bool clash = false;
  switch (op.kind) {
    case CrdtOp::Kind::kIncr:
      clash = !t.counter && (t.kinds() > 0 || other_shape);
      if (!t.counter) t.counter.emplace();
      t.counter->Apply(tag.dot.origin, tag.dot.seq, op.by);
      break;
    case CrdtOp::Kind::kAdd:
      clash = !t.set && (t.kinds() > 0 || other_shape);
      if (!t.set) t.set.emplace();
      t.set->Add(op.value.dump(), tag, op.observed);
      break;
    case CrdtOp::Kind::kRemove:
      if (t.set) t.set->Remove(op.value.dump(), op.observed);
      break;
    case CrdtOp::Kind::kSet:
      clash = !t.reg && (t.kinds() > 0 || other_shape);
      if (!t.reg) t.reg.emplace();
      t.reg->Set(op.value, tag, hlc, op.observed);
      break;
    case CrdtOp::Kind::kText: {
      clash = !t.text && (t.kinds() > 0 || other_shape);
      if (!t.text) t.text.emplace();
      Status applied = t.text->Apply(op.text);
      if (!applied.ok()) {
        if (!had_entry && t.text->size() == 0 && t.kinds() == 1) entries_.erase(op.path);
        return applied;
      }
      break;
    }
    default:
      break;
  }
  Prune(op.path);
  return clash;
}

Result<CrdtOp> DocCrdt::Resolve(const json& c, const std::map<std::string, FieldType>& declared,
                                const RegionId& origin) const {
  if (!c.is_object() || !c.contains("op") || !c["op"].is_string()) {
    return BadOp("each operation is an object with \"op\" and \"path\"");
  }
  const std::string name = c["op"].get<std::string>();
  if (name == "insert" || name == "delete" || name == "text") {
    return BadOp("text operation '" + name + "' goes through DocCrdt::Local");
  }
  CrdtOp op;
  bool known = false;
  for (const auto& kn : kKinds) {
    if (name == kn.name && kn.kind != CrdtOp::Kind::kClear) {
      op.kind = kn.kind;
      known = true;
    }
  }
  if (!known) {
    return BadOp("unknown operation '" + name + "' (incr, add, remove, set, unset; insert, delete on text fields)");
  }
  for (const auto& [k, _] : c.items()) {
    if (k != "op" && k != "path" && k != "by" && k != "value") return BadOp("unknown member '" + k + "' in an operation");
  }
  if (!c.contains("path") || !c["path"].is_string()) return BadOp("operation '" + name + "' needs a string \"path\"");
  auto path = ParsePointer(c["path"].get<std::string>());
  if (!path.ok()) return path.status();
  if (IsServerAssignedField(path->front())) return ServerAssignedField(path->front());
  op.path = std::move(path).value();

  // The type this operation needs, checked against the declaration and what is here.
  std::optional<FieldType> needs;
  if (op.kind == CrdtOp::Kind::kIncr) needs = FieldType::kCounter;
  if (op.kind == CrdtOp::Kind::kAdd || op.kind == CrdtOp::Kind::kRemove) needs = FieldType::kSet;
  if (op.kind == CrdtOp::Kind::kSet) needs = FieldType::kRegister;
  auto mismatch = [&](const std::string& why) {
    return Status::FailedPrecondition("type-mismatch", "cannot " + name + " " + PathText(op.path) + ": " + why);
  };
  if (auto d = declared.find(op.path[0]); d != declared.end() && needs) {
    FieldType want = d->second == FieldType::kMVRegister ? FieldType::kRegister : d->second;
    if (want == FieldType::kMap) {
      if (op.path.size() == 1) return mismatch("the field is declared a map; address a member, e.g. /" + op.path[0] + "/x");
    } else if (op.path.size() > 1 || want != *needs) {
      return mismatch(std::string("the field is declared ") + FieldTypeName(d->second));
    }
  }
  if (needs) {
    if (HasBelow(op.path)) return mismatch("it holds an object");
    if (HasAbove(op.path)) return mismatch("a parent holds a value that is not an object");
    if (auto it = entries_.find(op.path); it != entries_.end()) {
      const Typed& t = it->second;
      const bool same = (*needs == FieldType::kCounter && t.counter) || (*needs == FieldType::kSet && t.set) ||
                        (*needs == FieldType::kRegister && t.reg);
      if (!same) return mismatch("it holds another type");
    }
  }

  const Typed* here = nullptr;
  if (auto it = entries_.find(op.path); it != entries_.end()) here = &it->second;
  switch (op.kind) {
    case CrdtOp::Kind::kIncr: {
      if (c.contains("by") && !c["by"].is_number_integer()) return BadOp("'by' must be an integer");
      if (c.contains("by") && c["by"].is_number_unsigned() && c["by"].get<uint64_t>() > INT64_MAX) {
        return Status(Code::kOutOfRange, "counter-overflow", "'by' exceeds the int64 range");
      }
      op.by = c.contains("by") ? c["by"].get<int64_t>() : 1;
      Counter probe = here && here->counter ? *here->counter : Counter();
      MERIDIAN_RETURN_IF_ERROR(probe.Increment(origin, UINT64_MAX, op.by));
      break;
    }
    case CrdtOp::Kind::kAdd:
    case CrdtOp::Kind::kRemove:
      if (!c.contains("value")) return BadOp("operation '" + name + "' needs a \"value\"");
      op.value = c["value"];
      if (here && here->set) op.observed = here->set->TagsOf(op.value.dump());
      break;
    case CrdtOp::Kind::kSet:
      if (!c.contains("value")) return BadOp("operation 'set' needs a \"value\"");
      op.value = c["value"];
      if (here && here->reg) op.observed = here->reg->Tags();
      break;
    case CrdtOp::Kind::kUnset:
      op.observed_state = EncodeUnder(op.path);
      break;
    case CrdtOp::Kind::kClear:
    case CrdtOp::Kind::kText:  // not a client operation here (see Local)
      break;
  }
  return op;
}

json DocCrdt::Value(const std::map<std::string, FieldType>& declared) const {
  json out = json::object();
  for (const auto& [path, t] : entries_) {
    if (HasBelow(path)) continue;  // an object wins over a value at the same path
    json v;
    if (t.counter && !t.counter->removed_all()) {
      v = CounterJson(t.counter->value());
    } else if (t.set) {
      v = t.set->Value();
    } else if (t.reg) {
      auto d = declared.find(path[0]);
      v = path.size() == 1 && d != declared.end() && d->second == FieldType::kMVRegister ? t.reg->Values()
                                                                                        : t.reg->LwwValue();
    } else if (t.text && t.text->size() > 0) {
      v = t.text->Value();
    } else {
      continue;
    }
    json* node = &out;
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      json& child = (*node)[path[i]];
      if (!child.is_object()) child = json::object();
      node = &child;
    }
    (*node)[path.back()] = std::move(v);
  }
  return out;
}

json DocCrdt::EncodeTyped(const Typed& t) {
  json out = json::object();
  if (t.counter) out["counter"] = t.counter->Encode();
  if (t.set) out["set"] = t.set->Encode();
  if (t.reg) out["register"] = t.reg->Encode();
  if (t.text) out["text"] = t.text->Encode();
  return out;
}

Result<DocCrdt::Typed> DocCrdt::DecodeTyped(const json& j) {
  auto bad = Status::InvalidArgument("invalid-state", "malformed document entry");
  if (!j.is_object() || j.empty()) return bad;
  Typed t;
  for (const auto& [k, v] : j.items()) {
    if (k == "counter") {
      auto c = Counter::Decode(v);
      if (!c.ok()) return c.status();
      t.counter = std::move(c).value();
    } else if (k == "set") {
      auto s = ORSet::Decode(v);
      if (!s.ok()) return s.status();
      t.set = std::move(s).value();
    } else if (k == "register") {
      auto r = MVRegister::Decode(v);
      if (!r.ok()) return r.status();
      t.reg = std::move(r).value();
    } else if (k == "text") {
      auto x = Text::Decode(v);
      if (!x.ok()) return x.status();
      t.text = std::move(x).value();
    } else {
      return bad;
    }
  }
  return t;
}

DocCrdt::Typed DocCrdt::WithoutText(const Typed& t) {
  Typed out;  // not a copy and reset: a text can be megabytes
  out.counter = t.counter;
  out.set = t.set;
  out.reg = t.reg;
  return out;
}

json DocCrdt::EncodeUnder(const Path& prefix, bool with_text) const {
  json list = json::array();
  for (auto it = entries_.lower_bound(prefix); it != entries_.end() && StartsWith(it->first, prefix); ++it) {
    if (with_text) {
      list.push_back(json::array({it->first, EncodeTyped(it->second)}));
      continue;
    }
    const Typed t = WithoutText(it->second);
    if (!t.empty()) list.push_back(json::array({it->first, EncodeTyped(t)}));
  }
  return {{"entries", std::move(list)}};
}

const Text* DocCrdt::TextAt(const Path& path) const {
  auto it = entries_.find(path);
  return it == entries_.end() || !it->second.text ? nullptr : &*it->second.text;
}

DocCrdt::TextVersions DocCrdt::Texts() const {
  TextVersions out;
  for (const auto& [path, typed] : entries_) {
    if (typed.text) out.emplace_back(path, typed.text->version());
  }
  return out;
}

uint64_t DocCrdt::CollectTextTombstones(const TextVersions& stable) {
  uint64_t removed = 0;
  for (const auto& [path, vv] : stable) {
    auto it = entries_.find(path);
    if (it != entries_.end() && it->second.text) removed += it->second.text->CollectTombstones(vv);
  }
  return removed;
}

Result<std::vector<CrdtOp>> DocCrdt::Local(const json* c, const std::map<std::string, FieldType>& declared,
                                           const RegionId& origin, const Dot& dot, uint32_t* next_index, Hlc hlc) {
  std::vector<CrdtOp> out;
  auto apply = [&](CrdtOp op) -> Status {
    auto r = Apply(op, Tag{dot, (*next_index)++}, hlc);
    if (!r.ok()) return r.status();
    out.push_back(std::move(op));
    return Status::Ok();
  };
  // Deletes every visible character of the texts under `prefix` with text operations.
  auto delete_texts = [&](const Path& prefix) -> Status {
    std::vector<Path> paths;
    for (auto it = entries_.lower_bound(prefix); it != entries_.end() && StartsWith(it->first, prefix); ++it) {
      if (it->second.text && it->second.text->size() > 0) paths.push_back(it->first);
    }
    for (const Path& p : paths) {
      Text& t = *entries_[p].text;
      auto d = t.Delete(origin, 0, t.size());
      if (!d.ok()) return d.status();
      CrdtOp op;
      op.kind = CrdtOp::Kind::kText;
      op.path = p;
      op.text = std::move(d).value();
      MERIDIAN_RETURN_IF_ERROR(apply(std::move(op)));  // already applied: a no-op
    }
    return Status::Ok();
  };
  if (!c) {  // a document delete
    MERIDIAN_RETURN_IF_ERROR(delete_texts({}));
    CrdtOp clear;
    clear.kind = CrdtOp::Kind::kClear;
    clear.observed_state = EncodeUnder({}, /*with_text=*/false);
    MERIDIAN_RETURN_IF_ERROR(apply(std::move(clear)));
    return out;
  }
  const std::string name = c->is_object() && c->contains("op") && (*c)["op"].is_string() ? (*c)["op"].get<std::string>() : "";
  if (name != "insert" && name != "delete" && name != "text") {
    auto op = Resolve(*c, declared, origin);
    if (!op.ok()) return op.status();
    if (op->kind == CrdtOp::Kind::kUnset) {
      MERIDIAN_RETURN_IF_ERROR(delete_texts(op->path));
      op->observed_state = EncodeUnder(op->path, /*with_text=*/false);
    }
    MERIDIAN_RETURN_IF_ERROR(apply(std::move(op).value()));
    return out;
  }
  // Text operations.
  for (const auto& [k, _] : c->items()) {
    if (k != "op" && k != "path" && k != "index" && k != "text" && k != "count") {
      return BadOp("unknown member '" + k + "' in a text operation");
    }
  }
  if (!c->contains("path") || !(*c)["path"].is_string()) return BadOp("operation '" + name + "' needs a string \"path\"");
  auto path = ParsePointer((*c)["path"].get<std::string>());
  if (!path.ok()) return path.status();
  if (IsServerAssignedField(path->front())) return ServerAssignedField(path->front());
  auto mismatch = [&](const std::string& why) {
    return Status::FailedPrecondition("type-mismatch", "cannot " + name + " " + PathText(*path) + ": " + why);
  };
  if (auto d = declared.find((*path)[0]); d != declared.end()) {
    if (d->second != FieldType::kText && d->second != FieldType::kMap) {
      return mismatch(std::string("the field is declared ") + FieldTypeName(d->second));
    }
    if (d->second == FieldType::kText && path->size() > 1) return mismatch("the field is declared text");
    if (d->second == FieldType::kMap && path->size() == 1) return mismatch("the field is declared a map");
  }
  if (HasBelow(*path)) return mismatch("it holds an object");
  if (HasAbove(*path)) return mismatch("a parent holds a value that is not an object");
  if (auto it = entries_.find(*path); it != entries_.end() && !it->second.text) return mismatch("it holds another type");

  CrdtOp op;
  op.kind = CrdtOp::Kind::kText;
  op.path = *path;
  if (name == "text") {
    if (!c->contains("text")) return BadOp("operation 'text' needs a \"text\" operation");
    auto t = DecodeTextOp((*c)["text"]);
    if (!t.ok()) return t.status();
    const std::string& agent = t->id.origin.str();
    if (agent.rfind("web-", 0) != 0) {
      return BadOp("a text operation made by a client names an origin starting with \"web-\", got \"" + agent + "\"");
    }
    op.text = std::move(t).value();
  } else {
    Typed& here = entries_[*path];
    if (!here.text) here.text.emplace();
    auto t = here.text->ApplyClientEdit(origin, *c);
    if (!t.ok()) return t.status();
    op.text = std::move(t).value();
  }
  MERIDIAN_RETURN_IF_ERROR(apply(std::move(op)));
  return out;
}

json DocCrdt::Encode() const { return EncodeUnder({}); }

std::string DocCrdt::EncodeText() const {
  std::string out = "{\"entries\":[";
  bool first = true;
  for (const auto& [path, typed] : entries_) {
    if (!first) out += ',';
    first = false;
    out += '[';
    out += json(path).dump();
    out += ',';
    const Typed rest = WithoutText(typed);
    std::string fields = rest.empty() ? std::string() : EncodeTyped(rest).dump();
    if (typed.text) {
      // "text" sorts after every other key, as nlohmann's objects order them.
      fields = fields.empty() ? "{" : fields.substr(0, fields.size() - 1) + ",";
      fields += "\"text\":" + typed.text->EncodeText() + "}";
    }
    out += fields;
    out += ']';
  }
  out += "]}";
  return out;
}

Result<DocCrdt> DocCrdt::Decode(const json& j) {
  auto bad = Status::InvalidArgument("invalid-state", "malformed document state");
  if (!j.is_object() || !j.contains("entries") || !j["entries"].is_array()) return bad;
  DocCrdt d;
  for (const auto& e : j["entries"]) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_array() || e[0].empty()) return bad;
    Path path;
    for (const auto& seg : e[0]) {
      if (!seg.is_string()) return bad;
      path.push_back(seg.get<std::string>());
    }
    auto t = DecodeTyped(e[1]);
    if (!t.ok()) return t.status();
    d.entries_[std::move(path)] = std::move(t).value();
  }
  return d;
}

}  // namespace crdt
