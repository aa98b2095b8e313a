// Local writes: validate on the caller's thread, then stamp, merge and log on the writer
// thread inside the group-commit transaction.
#include <nlohmann/json.hpp>

#include "conflict/doc_state.h"
#include "crdt/json_text.h"
#include "region/node.h"
#include "region/internal/read_pool.h"

namespace region {

using conflict::DocState;
using crdt::Result;
using crdt::Status;
using nlohmann::json;

namespace {

// Top-level document fields that only the server may assign.
constexpr const char* kReservedFields[] = {"_hlc", "_origin", "_version", "_context", "_dot"};

Result<json> ParseObjectBody(const std::string& body, const char* what, const char* reason) {
  auto parsed = crdt::ParseJson(body);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return Status::InvalidArgument(reason, std::string(what) + " must be a JSON object");
  }
  for (const char* field : kReservedFields) {
    if (parsed->contains(field)) {
      return Status::InvalidArgument("server-assigned-field",
                                     std::string("field '") + field + "' is assigned by the server; remove it");
    }
  }
  return parsed;
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

DocState LoadState(const std::optional<DocRow>& row, Status* status) {
  if (!row) return DocState();
  if (row->state) {
    auto decoded = conflict::DecodeState(*row->state);
    if (!decoded.ok()) {
      *status = Status::Internal("stored state is corrupt: " + decoded.status().message());
      return DocState();
    }
    return std::move(decoded).value();
  }
  std::optional<json> value;
  if (row->value) {
    value = json::parse(*row->value, nullptr, /*allow_exceptions=*/false);
    if (value->is_discarded()) {
      *status = Status::Internal("stored document value is corrupt");
      return DocState();
    }
  }
  return conflict::SingleVersion(row->ctx, {row->dot, row->hlc, std::move(value)});
}

// The row that stores `state`, with its LWW view.
DocRow RowFor(const DocState& state, int64_t lsn) {
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

}  // namespace

Result<WriteAck> Node::Put(const WriteRequest& request) { return RunDocWrite(request, ChangeKind::kPut); }
Result<WriteAck> Node::Patch(const WriteRequest& request) { return RunDocWrite(request, ChangeKind::kPatch); }
Result<WriteAck> Node::Delete(const WriteRequest& request) { return RunDocWrite(request, ChangeKind::kDelete); }

Result<WriteAck> Node::RunDocWrite(const WriteRequest& request, ChangeKind kind) {
  MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(request.collection));
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(request.key));
  // Parse and canonicalise on the caller's thread; the writer thread only merges.
  json patch;
  std::string canonical;
  if (kind == ChangeKind::kPut) {
    auto doc = ParseObjectBody(request.body, "a document", "invalid-document");
    if (!doc.ok()) return doc.status();
    canonical = doc->dump();
  } else if (kind == ChangeKind::kPatch) {
    auto parsed = ParseObjectBody(request.body, "a merge patch", "invalid-patch");
    if (!parsed.ok()) return parsed.status();
    patch = std::move(parsed).value();
  }
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");

  WriteAck ack;
  ack.key = request.key;
  const crdt::RegionId& self = options_.region;
  Status status = writer_->Run([&](WriteTxn& txn) -> Status {
    auto loaded = txn.store().LoadDoc(request.collection, request.key);
    if (!loaded.ok()) return loaded.status();
    const std::optional<DocRow>& row = *loaded;
    MERIDIAN_RETURN_IF_ERROR(CheckIfMatch(request.if_match, row, request.key));
    const bool was_live = row && row->value;
    if (kind == ChangeKind::kDelete && !was_live) {
      return Status::NotFound("not-found", "no document '" + request.key + "' in collection '" +
                                               request.collection + "'");
    }
    auto hlc = hlc_->Now();
    if (!hlc.ok()) return hlc.status();

    Change change;
    change.dot = {self, txn.NextLocalSeq()};
    change.hlc = *hlc;
    change.collection = request.collection;
    change.key = request.key;
    change.kind = kind;
    change.ctx = row ? row->ctx : crdt::VersionVector();
    change.lsn = txn.NextLsn();

    DocRow next;
    if (kind == ChangeKind::kPatch) {
      Status load_status;
      DocState state = LoadState(row, &load_status);
      MERIDIAN_RETURN_IF_ERROR(load_status);
      const conflict::Visible current = conflict::ResolveLww(state);
      conflict::Write w{change.dot, change.hlc, change.ctx, conflict::WriteKind::kPatch, json(), {}};
      json set = json::object();
      json unset = json::array();
      for (const auto& [name, value] : patch.items()) {
        if (value.is_null()) {
          w.fields[name] = std::nullopt;
          unset.push_back(name);
          continue;
        }
        const json* old = nullptr;
        if (current.exists) {
          auto it = current.value.find(name);
          if (it != current.value.end()) old = &*it;
        }
        json merged = crdt::ApplyMergePatch(old ? *old : json(), value);
        set[name] = merged;
        w.fields[name] = std::move(merged);
      }
      conflict::Apply(state, w);
      next = RowFor(state, change.lsn);
      change.body = json{{"set", std::move(set)}, {"unset", std::move(unset)}}.dump();
    } else {
      // A local PUT or DELETE has seen every version of the document: it replaces them all.
      next.value = kind == ChangeKind::kPut ? std::optional<std::string>(canonical) : std::nullopt;
      next.dot = change.dot;
      next.hlc = change.hlc;
      next.ctx = change.ctx;
      next.ctx.Add(change.dot);
      next.lsn = change.lsn;
      change.body = kind == ChangeKind::kPut ? canonical : std::string();
    }
    MERIDIAN_RETURN_IF_ERROR(txn.store().SaveDoc(request.collection, request.key, next));
    MERIDIAN_RETURN_IF_ERROR(txn.store().AppendChange(change));
    txn.MarkApplied(change.dot);
    txn.AddLiveDocs((next.value ? 1 : 0) - (was_live ? 1 : 0));

    ack.version = VersionToken(next.ctx);
    ack.dot = change.dot;
    ack.hlc = change.hlc;
    ack.created = !was_live && next.value.has_value();
    ack.session = change.dot.ToString();
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return ack;
}

namespace {

constexpr const char* kPolicies[] = {"lww", "crdt", "merge", "manual"};

// Validates and canonicalises a collection definition.
Result<std::string> CanonicalDefinition(const std::string& text) {
  auto parsed = crdt::ParseJson(text);
  if (!parsed.ok()) return parsed.status();
  const json& def = *parsed;
  auto bad = [](std::string msg) { return Status::InvalidArgument("invalid-definition", std::move(msg)); };
  if (!def.is_object()) return bad("a collection definition must be a JSON object");
  for (const auto& [name, _] : def.items()) {
    if (name != "policy" && name != "merge" && name != "fields") {
      return bad("unknown field '" + name + "' in collection definition (allowed: policy, merge, fields)");
    }
  }
  const auto policy = def.find("policy");
  if (policy == def.end() || !policy->is_string()) return bad("'policy' is required: one of lww, crdt, merge, manual");
  const std::string p = policy->get<std::string>();
  if (std::find(std::begin(kPolicies), std::end(kPolicies), p) == std::end(kPolicies)) {
    return bad("unknown policy '" + p + "' (one of lww, crdt, merge, manual)");
  }
  if (p != "lww") {
    return Status::InvalidArgument("unsupported-policy",
                                   "policy '" + p + "' is not available in this version; use lww");
  }
  if (def.contains("merge") || def.contains("fields")) {
    return bad("'merge' and 'fields' apply only to the merge and crdt policies");
  }
  return def.dump();
}

CollectionInfo InfoFrom(const CollectionRow& row) {
  return CollectionInfo{row.name, row.def, true, row.hlc, row.dot.origin};
}

}  // namespace

Result<CollectionInfo> Node::DefineCollection(const std::string& name, const std::string& definition) {
  MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(name));
  auto canonical = CanonicalDefinition(definition);
  if (!canonical.ok()) return canonical.status();
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  CollectionInfo info;
  Status status = writer_->Run([&](WriteTxn& txn) -> Status {
    auto rows = txn.store().LoadCollections();
    if (!rows.ok()) return rows.status();
    crdt::VersionVector ctx;
    for (const auto& row : *rows) {
      if (row.name != name) continue;
      if (row.def == *canonical) {  // unchanged: nothing to write
        info = InfoFrom(row);
        return Status::Ok();
      }
      ctx.Add(row.dot);
    }
    auto hlc = hlc_->Now();
    if (!hlc.ok()) return hlc.status();
    Change change;
    change.dot = {options_.region, txn.NextLocalSeq()};
    change.hlc = *hlc;
    change.collection = name;
    change.kind = ChangeKind::kDefine;
    change.ctx = ctx;
    change.body = *canonical;
    change.lsn = txn.NextLsn();
    CollectionRow row{name, *canonical, change.dot, change.hlc};
    MERIDIAN_RETURN_IF_ERROR(txn.store().SaveCollection(row, change.lsn));
    MERIDIAN_RETURN_IF_ERROR(txn.store().AppendChange(change));
    txn.MarkApplied(change.dot);
    info = InfoFrom(row);
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return info;
}

Result<std::vector<CollectionInfo>> Node::Collections() {
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  auto reader = readers_->Acquire();
  auto rows = reader->LoadCollections();
  if (!rows.ok()) return rows.status();
  auto implicit = reader->ImplicitCollections();
  if (!implicit.ok()) return implicit.status();
  std::vector<CollectionInfo> out;
  for (const auto& row : *rows) out.push_back(InfoFrom(row));
  for (const auto& name : *implicit) out.push_back(CollectionInfo{name, R"({"policy":"lww"})", false, {}, {}});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

const char* ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kPut: return "put";
    case ChangeKind::kPatch: return "patch";
    case ChangeKind::kDelete: return "delete";
    case ChangeKind::kDefine: return "define";
  }
  return "unknown";
}

}  // namespace region
