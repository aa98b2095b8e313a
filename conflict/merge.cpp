#include "conflict/merge.h"

#include "crdt/json_text.h"

#include <algorithm>
#include <set>

namespace conflict {

using crdt::Result;
using crdt::Status;
using nlohmann::json;

void SortCanonical(std::vector<Sibling>& siblings) {
  std::sort(siblings.begin(), siblings.end(), [](const Sibling& a, const Sibling& b) {
    if (a.hlc != b.hlc) return a.hlc < b.hlc;
    return a.dot.origin < b.dot.origin;
  });
}

json SiblingsJson(const std::vector<Sibling>& siblings) {
  json out = json::array();
  for (const auto& s : siblings) {
    json ctx = json::object();
    for (const auto& [origin, seq] : s.context.entries()) ctx[origin.str()] = seq;
    out.push_back({{"version", s.dot.ToString()},
                   {"value", s.value ? *s.value : json(nullptr)},
                   {"deleted", !s.value.has_value()},
                   {"hlc", {{"wall_ms", s.hlc.wall_ms()}, {"logical", s.hlc.logical()}}},
                   {"origin", s.dot.origin.str()},
                   {"context", std::move(ctx)}});
  }
  return out;
}

const Sibling& Newest(const std::vector<Sibling>& siblings) {
  return *std::max_element(siblings.begin(), siblings.end(), [](const Sibling& a, const Sibling& b) {
    if (a.hlc != b.hlc) return a.hlc < b.hlc;
    return a.dot.origin < b.dot.origin;
  });
}

namespace {

bool AllDeleted(const std::vector<Sibling>& s) {
  return std::none_of(s.begin(), s.end(), [](const Sibling& v) { return v.value.has_value(); });
}

// Field-wise merge: `pick` combines the values one field has across the live versions
// (in canonical order); fields are those of any live version.
template <typename Pick>
Result<std::optional<json>> FieldWise(const std::vector<Sibling>& siblings, Pick pick) {
  if (AllDeleted(siblings)) return std::optional<json>();
  std::set<std::string> names;
  for (const auto& s : siblings) {
    if (s.value && s.value->is_object()) {
      for (const auto& [k, _] : s.value->items()) names.insert(k);
    }
  }
  json out = json::object();
  for (const auto& name : names) {
    std::vector<const json*> values;
    for (const auto& s : siblings) {
      if (s.value && s.value->is_object() && s.value->contains(name)) values.push_back(&(*s.value)[name]);
    }
    out[name] = pick(values);
  }
  return std::optional<json>(std::move(out));
}

json Union(const std::vector<const json*>& values) {
  const bool arrays = std::all_of(values.begin(), values.end(), [](const json* v) { return v->is_array(); });
  if (!arrays) return *values.back();
  std::vector<json> all;
  for (const json* v : values) all.insert(all.end(), v->begin(), v->end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return json(std::move(all));
}

template <typename Better>
json Extreme(const std::vector<const json*>& values, Better better) {
  const bool numbers = std::all_of(values.begin(), values.end(), [](const json* v) { return v->is_number(); });
  if (!numbers) return *values.back();
  const json* best = values.front();
  for (const json* v : values) {
    if (better(v->get<double>(), best->get<double>())) best = v;
  }
  return *best;
}

// Later arguments win conflicting leaves.
json DeepMerge(const json& into, const json& from) {
  if (!into.is_object() || !from.is_object()) return from;
  json out = into;
  for (const auto& [k, v] : from.items()) {
    auto it = out.find(k);
    out[k] = it == out.end() ? v : DeepMerge(*it, v);
  }
  return out;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
  });
}

int Depth(const json& j) {
  if (!j.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : j) deepest = std::max(deepest, Depth(child));
  return deepest + 1;
}

}  // namespace

Registry::Registry() {
  callbacks_["union"] = [](const std::vector<Sibling>& s) { return FieldWise(s, Union); };
  callbacks_["max"] = [](const std::vector<Sibling>& s) {
    return FieldWise(s, [](const auto& v) { return Extreme(v, [](double a, double b) { return a > b; }); });
  };
  callbacks_["min"] = [](const std::vector<Sibling>& s) {
    return FieldWise(s, [](const auto& v) { return Extreme(v, [](double a, double b) { return a < b; }); });
  };
  callbacks_["deep-merge"] = [](const std::vector<Sibling>& s) -> Result<std::optional<json>> {
    if (AllDeleted(s)) return std::optional<json>();
    json out = json::object();
    for (const auto& v : s) {
      if (v.value) out = DeepMerge(out, *v.value);
    }
    return std::optional<json>(std::move(out));
  };
}

Status Registry::Register(const std::string& name, MergeCallback callback) {
  if (!ValidName(name) || name == "prefer-region") {
    return Status::InvalidArgument("invalid-callback", "callback name '" + name + "' must match ^[a-z][a-z0-9_-]{0,63}$");
  }
  if (callbacks_.count(name)) return Status::InvalidArgument("invalid-callback", "callback '" + name + "' is taken");
  callbacks_[name] = std::move(callback);
  return Status::Ok();
}

Result<MergeCallback> Registry::Find(const std::string& name) const {
  const std::string prefix = "prefer-region:";
  if (name.rfind(prefix, 0) == 0) {
    auto region = crdt::RegionId::Parse(name.substr(prefix.size()));
    if (!region.ok()) return Status::NotFound("unknown-callback", "'" + name + "' does not name a region");
    return MergeCallback([region = *region](const std::vector<Sibling>& s) -> Result<std::optional<json>> {
      const Sibling* chosen = nullptr;
      for (const auto& v : s) {
        if (v.dot.origin == region) chosen = &v;  // canonical order: the last is the newest
      }
      const Sibling& pick = chosen ? *chosen : Newest(s);
      return pick.value;
    });
  }
  auto it = callbacks_.find(name);
  if (it == callbacks_.end()) return Status::NotFound("unknown-callback", "no merge callback named '" + name + "'");
  return it->second;
}

std::vector<std::string> Registry::Names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : callbacks_) out.push_back(name);
  out.push_back("prefer-region:<region>");
  return out;
}

Result<std::optional<json>> RunCallback(const MergeCallback& callback, const std::vector<Sibling>& siblings) {
  Result<std::optional<json>> out = Status::Internal("unset");
  try {
    out = callback(siblings);
  } catch (const std::exception& e) {
    return Status(crdt::Code::kInternal, "callback-failed", std::string("the callback threw: ") + e.what());
  } catch (...) {
    return Status(crdt::Code::kInternal, "callback-failed", "the callback threw");
  }
  if (!out.ok()) return Status(crdt::Code::kInternal, "callback-failed", out.status().message());
  if (*out && !(*out)->is_object()) {
    return Status(crdt::Code::kInternal, "callback-invalid", "the callback returned something other than an object or null");
  }
  if (*out && Depth(**out) > crdt::kDefaultMaxJsonDepth) {
    return Status(crdt::Code::kInternal, "callback-invalid", "the callback returned a value nested deeper than 64");
  }
  if (*out) {
    try {
      (void)(*out)->dump();  // strings must be valid UTF-8 to be stored and served
    } catch (const json::exception& e) {
      return Status(crdt::Code::kInternal, "callback-invalid", std::string("the callback returned ") + e.what());
    }
  }
  return out;
}

}  // namespace conflict
