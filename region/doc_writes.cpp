// Local writes: validate on the caller's thread, then stamp, merge and log on the writer
// thread inside the group-commit transaction.
#include <nlohmann/json.hpp>

#include "conflict/doc_state.h"
#include "crdt/json_text.h"
#include "crdt/reserved.h"
#include "region/internal/doc_merge.h"
#include "region/internal/read_pool.h"
#include "region/node.h"

namespace region {

using conflict::DocState;
using crdt::Result;
using crdt::Status;
using nlohmann::json;

namespace {

// Top-level fields a document may have: a merge patch costs the writer time in proportion
// to them (per-field versions), and every other write waits meanwhile (about 30 ms at the
// limit here; 0.26 s for one small patch at 100,000 fields).
constexpr size_t kMaxTopLevelFields = 10000;

Status CheckFieldCount(size_t fields, const std::string& key) {
  if (fields <= kMaxTopLevelFields) return Status::Ok();
  return Status::InvalidArgument("too-many-fields", "document '" + key + "' would have " + std::to_string(fields) +
                                                        " top-level fields; at most " +
                                                        std::to_string(kMaxTopLevelFields) +
                                                        " (nest the rest in objects)");
}

Result<json> ParseObjectBody(const std::string& body, const char* what, const char* reason) {
  auto parsed = crdt::ParseJson(body);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return Status::InvalidArgument(reason, std::string(what) + " must be a JSON object");
  }
  for (std::string_view field : crdt::kServerAssignedFields) {
    if (parsed->contains(field)) return crdt::ServerAssignedField(field);
  }
  return parsed;
}

}  // namespace

Result<WriteAck> Node::Put(const WriteRequest& request) { return RunDocWrite(request, ChangeKind::kPut); }
Result<WriteAck> Node::Patch(const WriteRequest& request) { return RunDocWrite(request, ChangeKind::kPatch); }
Result<WriteAck> Node::Delete(const WriteRequest& request) { return RunDocWrite(request, ChangeKind::kDelete); }

struct Node::PreparedDocWrite {
  WriteRequest request;
  CollectionDef def;
  bool crdt_delete = false;  // a crdt collection's delete: LocalOps instead of LocalDocWrite
  json patch;
  LocalWrite w;
  WriteAck ack;
  PreparedDocWrite(WriteRequest r, ChangeKind kind)
      : request(std::move(r)), w{request.collection, request.key, kind, request.if_match, "", nullptr,
                                  false, false, false, false} {}
};

Result<std::shared_ptr<Node::PreparedDocWrite>> Node::PrepareDocWrite(WriteRequest request, ChangeKind kind) {
  MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(request.collection));
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(request.key));
  auto p = std::make_shared<PreparedDocWrite>(std::move(request), kind);
  p->def = DefinitionOf(p->request.collection);
  if (p->def.policy == Policy::kCrdt) {
    if (kind != ChangeKind::kDelete) {
      return Status::FailedPrecondition("policy-mismatch", "collection '" + p->request.collection +
                                                               "' is a crdt collection: write it with POST "
                                                               ".../docs/{key}/ops");
    }
    // Deleting a CRDT document removes what this region has seen of it; operations made
    // concurrently elsewhere survive (update beats delete).
    p->crdt_delete = true;
    MERIDIAN_RETURN_IF_ERROR(CheckWritable());
    return p;
  }
  // Parse and canonicalise on the caller's thread; the writer thread only merges.
  LocalWrite& w = p->w;
  // Merge and manual collections resolve whole documents: a patch writes the patched whole.
  w.whole_document = p->def.policy == Policy::kMerge || p->def.policy == Policy::kManual;
  w.needs_context = p->def.policy == Policy::kManual;
  if (kind == ChangeKind::kPut) {
    auto doc = ParseObjectBody(p->request.body, "a document", "invalid-document");
    if (!doc.ok()) return doc.status();
    MERIDIAN_RETURN_IF_ERROR(CheckFieldCount(doc->size(), p->request.key));
    w.canonical = doc->dump();
  } else if (kind == ChangeKind::kPatch) {
    auto parsed = ParseObjectBody(p->request.body, "a merge patch", "invalid-patch");
    if (!parsed.ok()) return parsed.status();
    p->patch = std::move(parsed).value();
    w.patch = &p->patch;
  }
  p->request.body.clear();  // parsed: the writer needs only the canonical form
  MERIDIAN_RETURN_IF_ERROR(CheckWritable());
  return p;
}

Writer::Job Node::DocWriteJob(const std::shared_ptr<PreparedDocWrite>& prepared) {
  PreparedDocWrite* p = prepared.get();
  if (p->crdt_delete) {
    return [this, p](WriteTxn& txn) { return LocalOps(txn, p->request, nullptr, p->def, "", &p->ack); };
  }
  return [this, p](WriteTxn& txn) { return LocalDocWrite(txn, p->w, &p->ack); };
}

Result<WriteAck> Node::RunDocWrite(const WriteRequest& request, ChangeKind kind) {
  auto prepared = PrepareDocWrite(request, kind);
  if (!prepared.ok()) return prepared.status();
  Status status = writer_->Run(DocWriteJob(*prepared));
  if (!status.ok()) return status;
  return std::move((*prepared)->ack);
}

void Node::WriteAsync(WriteRequest request, ChangeKind kind, std::function<void(Result<WriteAck>)> done) {
  auto prepared = PrepareDocWrite(std::move(request), kind);
  if (!prepared.ok()) {
    done(prepared.status());
    return;
  }
  std::shared_ptr<PreparedDocWrite> p = std::move(prepared).value();
  Writer::Job job = DocWriteJob(p);
  writer_->Submit(std::move(job), /*durable=*/true, [p, done = std::move(done)](Status status) {
    if (!status.ok()) {
      done(status);
    } else {
      done(std::move(p->ack));
    }
  });
}

Status Node::LocalDocWrite(WriteTxn& txn, const LocalWrite& w, WriteAck* ack) {
  auto loaded = txn.store().LoadDoc(w.collection, w.key);
  if (!loaded.ok()) return loaded.status();
  const std::optional<DocRow>& row = *loaded;
  MERIDIAN_RETURN_IF_ERROR(internal::CheckIfMatch(w.if_match, row, w.key));
  const bool was_live = row && row->value;
  // "If-Match: *" names no version: it resolves nothing the client has not seen.
  if (w.needs_context && was_live && row->state && (!w.if_match || *w.if_match == "*")) {
    auto state = internal::LoadState(row);
    if (!state.ok()) return state.status();
    if (state->base.size() > 1) {
      return Status::FailedPrecondition(
          "conflicted", "document '" + w.key + "' has " + std::to_string(state->base.size()) +
                            " concurrent versions: read it and write with If-Match: \"" + VersionToken(row->ctx) + "\"" +
                            " to resolve them, or POST /v1/conflicts/{id}/resolve");
    }
  }
  // A resolution may choose a delete that already won: its write still covers the siblings.
  if (w.kind == ChangeKind::kDelete && !was_live && !(w.resolution && row)) {
    return Status::NotFound("not-found", "no document '" + w.key + "' in collection '" + w.collection + "'");
  }
  ChangeKind kind = w.kind;
  std::string canonical = w.canonical;
  if (kind == ChangeKind::kPatch && w.whole_document) {
    json current = json::object();
    if (row && row->value) current = json::parse(*row->value, nullptr, /*allow_exceptions=*/false);
    if (current.is_discarded()) return Status::Internal("stored document value is corrupt");
    json patched = crdt::ApplyMergePatch(current, *w.patch);
    MERIDIAN_RETURN_IF_ERROR(CheckFieldCount(patched.size(), w.key));
    canonical = patched.dump();
    kind = ChangeKind::kPut;
  }
  // Everything that can refuse the write comes before it takes a sequence number.
  std::optional<conflict::DocState> state;
  conflict::Visible current;
  if (kind == ChangeKind::kPatch) {
    auto loaded_state = internal::LoadState(row);
    if (!loaded_state.ok()) return loaded_state.status();
    state = std::move(loaded_state).value();
    current = conflict::ResolveLww(*state);
    size_t fields = current.exists ? current.value.size() : 0;
    for (const auto& [name, value] : w.patch->items()) {
      const bool present = current.exists && current.value.contains(name);
      if (value.is_null() && present) --fields;
      if (!value.is_null() && !present) ++fields;
    }
    MERIDIAN_RETURN_IF_ERROR(CheckFieldCount(fields, w.key));
  }
  auto hlc = hlc_->Now();
  if (!hlc.ok()) return hlc.status();

  Change change;
  change.dot = {options_.region, txn.NextLocalSeq()};
  change.hlc = *hlc;
  change.collection = w.collection;
  change.key = w.key;
  change.kind = kind;
  change.ctx = row ? row->ctx : crdt::VersionVector();
  change.lsn = txn.NextLsn();

  DocRow next;
  if (kind == ChangeKind::kPatch) {
    conflict::Write mw{change.dot, change.hlc, change.ctx, conflict::WriteKind::kPatch, json(), {}};
    for (const auto& [name, value] : w.patch->items()) {
      if (value.is_null()) {
        mw.fields[name] = std::nullopt;
        continue;
      }
      if (w.exact_fields) {
        mw.fields[name] = value;
        continue;
      }
      const json* old = nullptr;
      if (current.exists) {
        auto it = current.value.find(name);
        if (it != current.value.end()) old = &*it;
      }
      mw.fields[name] = crdt::ApplyMergePatch(old ? *old : json(), value);
    }
    conflict::Apply(*state, mw);
    next = internal::RowFor(*state, change.lsn);
    change.body = internal::PatchBody(mw);
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
  MERIDIAN_RETURN_IF_ERROR(SupersedeConflicts(txn, w.collection, w.key, row, next, change.dot));
  MERIDIAN_RETURN_IF_ERROR(txn.store().SaveDoc(w.collection, w.key, next));
  MERIDIAN_RETURN_IF_ERROR(txn.store().AppendChange(change));
  txn.MarkApplied(change.dot);
  txn.AddLiveDocs((next.value ? 1 : 0) - (was_live ? 1 : 0));

  ack->key = w.key;
  ack->version = VersionToken(next.ctx);
  ack->dot = change.dot;
  ack->hlc = change.hlc;
  ack->created = !was_live && next.value.has_value();
  ack->session = change.dot.ToString();
  return Status::Ok();
}

const char* ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kPut: return "put";
    case ChangeKind::kPatch: return "patch";
    case ChangeKind::kDelete: return "delete";
    case ChangeKind::kDefine: return "define";
    case ChangeKind::kOps: return "ops";
    case ChangeKind::kPurge: return "purge";
  }
  return "unknown";
}

}  // namespace region
