#include "region/internal/doc_merge.h"

#include "crdt/json_text.h"
#include "region/node.h"

namespace region::internal {

using crdt::Result;
using crdt::Status;
using nlohmann::json;

Result<conflict::DocState> LoadState(const std::optional<DocRow>& row) {
  if (!row) return conflict::DocState();
  if (row->state) {
    auto decoded = conflict::DecodeState(*row->state);
    if (!decoded.ok()) return Status::Internal("stored state is corrupt: " + decoded.status().message());
    return decoded;
  }
  std::optional<json> value;
  if (row->value) {
    value = json::parse(*row->value, nullptr, /*allow_exceptions=*/false);
    if (value->is_discarded()) return Status::Internal("stored document value is corrupt");
  }
  return conflict::SingleVersion(row->ctx, {row->dot, row->hlc, std::move(value)});
}

DocRow RowFor(const conflict::DocState& state, int64_t lsn) {
  const conflict::Visible vis = conflict::ResolveLww(state);
  DocRow row;
  if (vis.exists) row.value = vis.value.dump();
  row.dot = vis.dot;
  row.hlc = vis.hlc;
  row.ctx = state.ctx;
  if (!conflict::IsSingleVersion(state)) row.state = conflict::EncodeState(state);
  row.lsn = lsn;
  return row;
}

Result<conflict::Write> WriteFromChange(const Change& c) {
  conflict::Write w;
  w.dot = c.dot;
  w.hlc = c.hlc;
  w.ctx = c.ctx;
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("invalid-change", "change " + c.dot.ToString() + ": " + why);
  };
  // A patch body wraps field values two levels deep ({"set": {name: value}}), so a value
  // that was valid at its origin may reach kDefaultMaxJsonDepth + 2 here.
  constexpr int kDepth = crdt::kDefaultMaxJsonDepth + 2;
  switch (c.kind) {
    case ChangeKind::kDelete:
      w.kind = conflict::WriteKind::kDelete;
      return w;
    case ChangeKind::kPut: {
      auto v = crdt::ParseJson(c.body, kDepth);
      if (!v.ok()) return bad(v.status().message());
      if (!v->is_object()) return bad("a put body must be a JSON object");
      w.kind = conflict::WriteKind::kPut;
      w.value = std::move(v).value();
      return w;
    }
    case ChangeKind::kPatch: {
      auto v = crdt::ParseJson(c.body, kDepth);
      if (!v.ok()) return bad(v.status().message());
      if (!v->is_object()) return bad("a patch body must be a JSON object");
      w.kind = conflict::WriteKind::kPatch;
      auto set = v->find("set");
      auto unset = v->find("unset");
      if (set == v->end() || !set->is_object() || unset == v->end() || !unset->is_array()) {
        return bad("a patch body needs \"set\" (object) and \"unset\" (array)");
      }
      for (auto& [name, value] : set->items()) w.fields[name] = value;
      for (const auto& name : *unset) {
        if (!name.is_string()) return bad("\"unset\" holds field names");
        w.fields[name.get<std::string>()] = std::nullopt;
      }
      return w;
    }
    case ChangeKind::kDefine:
    case ChangeKind::kOps:
    case ChangeKind::kPurge:
      break;
  }
  return bad("not a change of an lww document");
}

std::string PatchBody(const conflict::Write& w) {
  json set = json::object();
  json unset = json::array();
  for (const auto& [name, value] : w.fields) {
    if (value) {
      set[name] = *value;
    } else {
      unset.push_back(name);
    }
  }
  return json{{"set", std::move(set)}, {"unset", std::move(unset)}}.dump();
}

Status CheckIfMatch(const std::optional<std::string>& if_match, const std::optional<DocRow>& row,
                    const std::string& key) {
  if (!if_match) return Status::Ok();
  const bool live = row && row->value;
  if (*if_match == "*" ? live : (live && VersionToken(row->ctx) == *if_match)) return Status::Ok();
  return Status::FailedPrecondition(
      "version-mismatch", "document '" + key + "' is not at version " + *if_match +
                              (live ? " (it is at " + VersionToken(row->ctx) + ")" : " (it does not exist)"));
}

}  // namespace region::internal
