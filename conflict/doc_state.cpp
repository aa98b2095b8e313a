#include "conflict/doc_state.h"

#include <algorithm>
#include <set>

namespace conflict {

using crdt::Dot;
using nlohmann::json;

bool LwwLess(const Version& a, const Version& b) {
  if (a.hlc != b.hlc) return a.hlc < b.hlc;
  return a.dot.origin < b.dot.origin;
}

const Version& LwwWinner(const SiblingSet& set) {
  return *std::max_element(set.begin(), set.end(), LwwLess);
}

namespace {

const json kPresent = true;

std::optional<json> FieldOf(const std::optional<json>& doc, const std::string& name) {
  if (!doc || !doc->is_object()) return std::nullopt;
  auto it = doc->find(name);
  if (it == doc->end()) return std::nullopt;
  return *it;
}

SiblingSet ImpliedField(const SiblingSet& base, const std::string& name) {
  SiblingSet out;
  out.reserve(base.size());
  for (const auto& b : base) out.push_back({b.dot, b.hlc, FieldOf(b.value, name)});
  return out;
}

SiblingSet ImpliedPresence(const SiblingSet& base) {
  SiblingSet out;
  out.reserve(base.size());
  for (const auto& b : base) {
    out.push_back({b.dot, b.hlc, b.value ? std::optional<json>(kPresent) : std::nullopt});
  }
  return out;
}

// One write's effect on one set: drop what it dominates, keep the rest beside it.
class Stepper {
 public:
  explicit Stepper(const Write& w) : w_(w) {}

  // `report` says whether surviving siblings count as conflicts.
  SiblingSet Step(const SiblingSet& current, std::optional<json> value, bool report = true) {
    SiblingSet out;
    out.reserve(current.size() + 1);
    for (const auto& v : current) {
      if (w_.ctx.Contains(v.dot)) continue;
      if (report || v.value.has_value() != value.has_value()) conflicts_.insert(v.dot);
      out.push_back(v);
    }
    Version nv{w_.dot, w_.hlc, std::move(value)};
    auto at = std::lower_bound(out.begin(), out.end(), nv,
                               [](const Version& a, const Version& b) { return a.dot < b.dot; });
    out.insert(at, std::move(nv));
    return out;
  }

  std::vector<Dot> conflicts() const { return {conflicts_.begin(), conflicts_.end()}; }

 private:
  const Write& w_;
  std::set<Dot> conflicts_;
};

void Canonicalize(DocState& state) {
  for (auto it = state.fields.begin(); it != state.fields.end();) {
    if (it->second == ImpliedField(state.base, it->first)) {
      it = state.fields.erase(it);
    } else {
      ++it;
    }
  }
  if (state.presence && *state.presence == ImpliedPresence(state.base)) state.presence.reset();
}

}  // namespace

std::vector<Dot> Apply(DocState& state, const Write& w) {
  Stepper step(w);
  const SiblingSet presence = state.presence ? *state.presence : ImpliedPresence(state.base);
  if (w.kind == WriteKind::kPatch) {
    for (const auto& [name, value] : w.fields) {
      auto it = state.fields.find(name);
      const SiblingSet current = it != state.fields.end() ? it->second : ImpliedField(state.base, name);
      state.fields[name] = step.Step(current, value);
    }
    state.presence = step.Step(presence, kPresent, /*report=*/false);
  } else {
    const bool put = w.kind == WriteKind::kPut;
    const std::optional<json> whole = put ? std::optional<json>(w.value) : std::nullopt;
    for (auto& [name, set] : state.fields) set = step.Step(set, FieldOf(whole, name));
    state.presence = step.Step(presence, put ? std::optional<json>(kPresent) : std::nullopt, false);
    state.base = step.Step(state.base, whole);
  }
  state.ctx.Add(w.dot);
  Canonicalize(state);
  return step.conflicts();
}

Visible ResolveLww(const DocState& state) {
  Visible out;
  const SiblingSet presence = state.presence ? *state.presence : ImpliedPresence(state.base);
  if (presence.empty()) return out;
  const Version& top = LwwWinner(presence);
  out.dot = top.dot;
  out.hlc = top.hlc;
  out.conflicted = presence.size() > 1 || state.base.size() > 1;
  for (const auto& [name, set] : state.fields) out.conflicted |= set.size() > 1;
  out.exists = top.value.has_value();
  if (!out.exists) return out;
  out.value = json::object();
  if (!state.base.empty()) {
    const Version& base_top = LwwWinner(state.base);
    if (base_top.value && base_top.value->is_object()) out.value = *base_top.value;
  }
  for (const auto& [name, set] : state.fields) {
    const Version& w = LwwWinner(set);
    if (w.value) {
      out.value[name] = *w.value;
    } else {
      out.value.erase(name);
    }
  }
  return out;
}

bool IsSingleVersion(const DocState& state) {
  return state.base.size() == 1 && !state.presence && state.fields.empty();
}

DocState SingleVersion(crdt::VersionVector ctx, Version version) {
  DocState state;
  state.ctx = std::move(ctx);
  state.base.push_back(std::move(version));
  return state;
}

namespace {

json EncodeSet(const SiblingSet& set) {
  json out = json::array();
  for (const auto& v : set) {
    json e = json::array({v.dot.origin.str(), v.dot.seq, v.hlc.packed()});
    if (v.value) e.push_back(*v.value);
    out.push_back(std::move(e));
  }
  return out;
}

crdt::Result<SiblingSet> DecodeSet(const json& j) {
  auto bad = crdt::Status::InvalidArgument("invalid-state", "malformed sibling set");
  if (!j.is_array()) return bad;
  SiblingSet out;
  for (const auto& e : j) {
    if (!e.is_array() || e.size() < 3 || e.size() > 4 || !e[0].is_string() ||
        !e[1].is_number_unsigned() || !e[2].is_number_unsigned()) {
      return bad;
    }
    auto origin = crdt::RegionId::Parse(e[0].get<std::string>());
    if (!origin.ok()) return bad;
    Version v{{*origin, e[1].get<uint64_t>()}, crdt::Hlc::FromPacked(e[2].get<uint64_t>()), std::nullopt};
    if (e.size() == 4) v.value = e[3];
    if (!out.empty() && !(out.back().dot < v.dot)) return bad;
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

std::string EncodeState(const DocState& state) {
  json j = json::object();
  j["ctx"] = state.ctx.Encode();
  j["base"] = EncodeSet(state.base);
  if (state.presence) j["presence"] = EncodeSet(*state.presence);
  if (!state.fields.empty()) {
    json fields = json::object();
    for (const auto& [name, set] : state.fields) fields[name] = EncodeSet(set);
    j["fields"] = std::move(fields);
  }
  return j.dump();
}

crdt::Result<DocState> DecodeState(const std::string& text) {
  auto bad = crdt::Status::InvalidArgument("invalid-state", "malformed document state");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ctx") || !j["ctx"].is_string()) return bad;
  DocState state;
  auto ctx = crdt::VersionVector::Decode(j["ctx"].get<std::string>());
  if (!ctx.ok()) return bad;
  state.ctx = std::move(ctx).value();
  auto base = DecodeSet(j.value("base", json::array()));
  if (!base.ok()) return base.status();
  state.base = std::move(base).value();
  if (j.contains("presence")) {
    auto presence = DecodeSet(j["presence"]);
    if (!presence.ok()) return presence.status();
    state.presence = std::move(presence).value();
  }
  if (j.contains("fields")) {
    if (!j["fields"].is_object()) return bad;
    for (const auto& [name, set_json] : j["fields"].items()) {
      auto set = DecodeSet(set_json);
      if (!set.ok()) return set.status();
      state.fields[name] = std::move(set).value();
    }
  }
  return state;
}

}  // namespace conflict
