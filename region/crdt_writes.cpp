// Documents of crdt collections: local operations (with idempotency keys), deletes, and
// operations replicated from peers.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "crdt/doc_crdt.h"
#include "crdt/json_text.h"
#include "region/internal/doc_merge.h"
#include "region/internal/read_pool.h"
#include "region/node.h"

namespace region {

using crdt::DocCrdt;
using crdt::Result;
using crdt::Status;
using nlohmann::json;

namespace {

constexpr size_t kMaxOps = 10000;
constexpr size_t kCrdtCacheEntries = 8;
constexpr int64_t kIdempotencyTtlMs = 24 * 3600 * 1000;
// Text marks: documents followed, marks kept per document.
constexpr size_t kMarkedDocs = 64;
constexpr size_t kMarksPerDoc = 16;

Result<DocCrdt> DecodeCrdt(const std::optional<DocRow>& row) {
  if (!row || !row->state) return DocCrdt();
  json j = json::parse(*row->state, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Internal("stored document state is corrupt");
  auto doc = DocCrdt::Decode(j);
  if (!doc.ok()) return Status::Internal("stored document state is corrupt: " + doc.status().message());
  return doc;
}

// The row that stores `doc`. A row stays when its document empties: its causal context is
// part of the converged state (versions, the digest), and dropping it on one region but not
// on another that still held a concurrent element would make them differ.
// `dot`/`hlc` name the newest operation applied.
DocRow CrdtRow(const DocCrdt& doc, const CollectionDef& def, crdt::VersionVector ctx, const crdt::Dot& dot,
               crdt::Hlc hlc, int64_t lsn, bool with_state = true) {
  DocRow row;
  if (!doc.empty()) {
    if (with_state) row.state = doc.EncodeText();
    json value = doc.Value(def.fields);
    if (!value.empty()) row.value = value.dump();  // nothing visible: deleted (404)
  }
  row.ctx = std::move(ctx);
  row.dot = dot;
  row.hlc = hlc;
  row.lsn = lsn;
  return row;
}

json AckJson(const WriteAck& a) {
  return {{"version", a.version}, {"origin", a.dot.origin.str()}, {"seq", a.dot.seq}, {"hlc", a.hlc.packed()},
          {"created", a.created}, {"session", a.session}, {"value", a.value}};
}

Result<WriteAck> AckFromJson(const std::string& key, const std::string& text) {
  json j = json::parse(text, nullptr, false);
  auto origin = j.is_object() ? crdt::RegionId::Parse(j.value("origin", "")) : crdt::RegionId::Parse("");
  if (!origin.ok()) return Status::Internal("stored idempotent answer is corrupt");
  WriteAck a;
  a.key = key;
  a.version = j.value("version", "");
  a.dot = {std::move(origin).value(), j.value("seq", uint64_t{0})};
  a.hlc = crdt::Hlc::FromPacked(j.value("hlc", uint64_t{0}));
  a.created = j.value("created", false);
  a.session = j.value("session", "");
  a.value = j.value("value", "");
  return a;
}

}  // namespace

Result<WriteAck> Node::Ops(const WriteRequest& request, const std::string& idempotency_key) {
  MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(request.collection));
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(request.key));
  if (idempotency_key.size() > 256 || (!idempotency_key.empty() && !std::all_of(idempotency_key.begin(),
                                                                                  idempotency_key.end(), [](char ch) {
                                                                                    return ch > 0x20 && ch < 0x7F;
                                                                                  }))) {
    return Status::InvalidArgument("invalid-idempotency-key", "Idempotency-Key is 1-256 printable ASCII characters");
  }
  const CollectionDef def = DefinitionOf(request.collection);
  if (def.policy != Policy::kCrdt) {
    return Status::FailedPrecondition("policy-mismatch", "collection '" + request.collection +
                                                             "' is not a crdt collection; define it with "
                                                             "{\"policy\":\"crdt\"} to use operations");
  }
  auto parsed = crdt::ParseJson(request.body);
  if (!parsed.ok()) return parsed.status();
  const json& body = *parsed;
  const bool has_base = body.is_object() && body.contains("base");
  if (!body.is_object() || body.size() != (has_base ? 2u : 1u) || !body.contains("ops") || !body["ops"].is_array()) {
    return Status::InvalidArgument("invalid-op", "the body is {\"ops\": [operation, ...]} (and \"base\" with text ops)");
  }
  if (body["ops"].empty() || body["ops"].size() > kMaxOps) {
    return Status::InvalidArgument("invalid-op", "a request holds 1 to 10000 operations");
  }
  // Text operations made by a replica outside the region carry the version vector of the
  // state they were made on; it must cover this region's floor (region/stability.h), and
  // holds the floor down until the write commits.
  const bool replica_ops = std::any_of(body["ops"].begin(), body["ops"].end(), [](const json& op) {
    return op.is_object() && op.contains("op") && op["op"] == "text";
  });
  std::optional<uint64_t> hold;
  if (replica_ops || has_base) {
    if (!has_base || !body["base"].is_string()) {
      return Status::InvalidArgument("invalid-op", "\"text\" operations need \"base\": the version vector of the "
                                                   "state they were made on (the live session's \"v\")");
    }
    auto base = crdt::VersionVector::Decode(body["base"].get<std::string>());
    if (!base.ok()) return base.status();
    auto held = HoldFloor(*base);
    if (!held.ok()) return held.status();
    hold = *held;
  }
  Status status = CheckWritable();
  WriteAck ack;
  if (status.ok()) {
    status = writer_->Run(
        [&](WriteTxn& txn) { return LocalOps(txn, request, &body["ops"], def, idempotency_key, &ack); });
  }
  if (hold) ReleaseFloor(*hold);
  if (!status.ok()) return status;
  return ack;
}

namespace {

// A crdt document's row with its context as every region sees it: with the purged vector
// joined in (what was purged is in every context, whatever each region had recorded).
Result<std::optional<DocRow>> LoadCrdtRow(WriteTxn& txn, const std::string& collection, const std::string& key) {
  auto row = txn.store().LoadCrdtDoc(collection, key);
  if (row.ok() && *row) (*row)->ctx.Join(txn.state().purged);
  return row;
}

// Applies a logged ops change to `doc` (as ApplyOpsChange did when it first arrived).
Status ApplyDelta(DocCrdt& doc, const Change& c) {
  const json body = json::parse(c.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("ops") || !body["ops"].is_array()) {
    return Status::Internal("logged change " + c.dot.ToString() + " is not an ops change");
  }
  uint32_t i = 0;
  for (const auto& j : body["ops"]) {
    auto op = crdt::DecodeOp(j);
    if (!op.ok()) return Status::Internal("logged change " + c.dot.ToString() + ": " + op.status().message());
    auto applied = doc.Apply(*op, crdt::Tag{c.dot, i++}, c.hlc);
    if (!applied.ok()) return Status::Internal("logged change " + c.dot.ToString() + ": " + applied.status().message());
  }
  return Status::Ok();
}

// The stored state with the changes applied since.
Result<DocCrdt> Materialize(Store& store, const std::string& collection, const std::string& key,
                            const std::optional<DocRow>& row, int* deltas) {
  auto doc = DecodeCrdt(row);
  if (!doc.ok() || !row || !row->state) return doc;
  auto changes = store.CrdtDeltas(collection, key);
  if (!changes.ok()) return changes.status();
  for (const Change& c : *changes) MERIDIAN_RETURN_IF_ERROR(ApplyDelta(*doc, c));
  *deltas = static_cast<int>(changes->size());
  return doc;
}

}  // namespace

Result<DocCrdt> Node::LoadCrdt(Store& store, const std::string& collection, const std::string& key,
                               const std::optional<DocRow>& row, int* deltas) {
  *deltas = 0;
  if (row && row->state) {
    for (auto it = crdt_cache_.begin(); it != crdt_cache_.end(); ++it) {
      if (it->collection != collection || it->key != key) continue;
      // Taken out: a failed write must not leave its changes in the cache.
      std::shared_ptr<DocCrdt> doc = std::move(it->doc);
      const bool fresh = it->lsn == row->lsn && it->state_bytes == row->state->size();
      const int cached_deltas = it->deltas;
      crdt_cache_.erase(it);
      if (fresh) {
        *deltas = cached_deltas;
        return std::move(*doc);
      }
      break;
    }
  }
  return Materialize(store, collection, key, row, deltas);
}

void Node::CollectAndMark(WriteTxn& txn, const std::string& collection, const std::string& key, bool collect,
                          DocCrdt& doc, const crdt::Dot& change) {
  TextVersions texts = doc.Texts();
  if (texts.empty() && text_marks_.empty()) return;  // no text anywhere: nothing to do
  // A rolled-back batch may have left marks naming changes that never committed.
  const uint64_t failed = writer_->Stats().failed_batches;
  if (failed != marks_failed_batches_) {
    marks_failed_batches_ = failed;
    text_marks_.clear();
  }
  auto it = std::find_if(text_marks_.begin(), text_marks_.end(),
                         [&](const TextMarks& m) { return m.collection == collection && m.key == key; });
  if (texts.empty()) {
    if (it != text_marks_.end()) text_marks_.erase(it);
    return;
  }
  if (it == text_marks_.end()) {
    if (text_marks_.size() >= kMarkedDocs) text_marks_.erase(text_marks_.begin());
    text_marks_.push_back({collection, key, {}, {}});
  } else {
    std::rotate(it, it + 1, text_marks_.end());  // most recently written last
  }
  TextMarks& m = text_marks_.back();
  if (collect && !m.marks.empty()) {
    // The committed vector: a report must not become usable on changes this batch may
    // still roll back.
    const crdt::VersionVector stable = stability_->Stable(writer_->Committed().applied);
    size_t usable = m.marks.size();
    for (size_t i = 0; i < m.marks.size(); ++i) {
      if (m.marks[i].applied.LessOrEqual(stable)) usable = i;
    }
    if (usable < m.marks.size()) {
      if (m.marks[usable].texts != m.collected) {
        text_tombstones_collected_ += doc.CollectTextTombstones(m.marks[usable].texts);
        m.collected = m.marks[usable].texts;
      }
      m.marks.erase(m.marks.begin(), m.marks.begin() + static_cast<std::ptrdiff_t>(usable));
    }
  }
  const uint64_t now = hlc_->PhysicalMs();
  if (m.marks.empty() || now >= m.marks.back().at_ms + options_.text_mark_every_ms) {
    crdt::VersionVector applied = txn.state().applied;
    applied.Add(change);
    // Full: the newest replaces the second newest. The older marks stay until stability
    // reaches them, so collection always has one to catch up with.
    if (m.marks.size() >= kMarksPerDoc) m.marks.erase(m.marks.end() - 2);
    m.marks.push_back({std::move(applied), std::move(texts), now});
  }
}

Status Node::SaveCrdt(WriteTxn& txn, const std::string& collection, const std::string& key,
                      const std::optional<DocRow>& before, int deltas, DocCrdt doc, const crdt::Dot& change,
                      DocRow* next) {
  // A large state is rewritten only every crdt_max_deltas writes; in between, the row and
  // the change log (crdt_deltas names the changes) say everything.
  const bool lazy = before && before->state && before->state->size() >= options_.crdt_snapshot_bytes &&
                    deltas < options_.crdt_max_deltas && !doc.empty();
  CollectAndMark(txn, collection, key, /*collect=*/!lazy, doc, change);
  size_t state_bytes = 0;
  if (lazy) {
    MERIDIAN_RETURN_IF_ERROR(txn.store().SaveCrdtDocKeepingState(collection, key, *next, next->lsn));
    state_bytes = before->state->size();
    ++deltas;
  } else {
    if (!doc.empty()) next->state = doc.EncodeText();
    MERIDIAN_RETURN_IF_ERROR(txn.store().SaveCrdtDoc(collection, key, *next));
    if (deltas > 0) MERIDIAN_RETURN_IF_ERROR(txn.store().ClearCrdtDeltas(collection, key));
    state_bytes = next->state ? next->state->size() : 0;
    deltas = 0;
  }
  for (auto it = crdt_cache_.begin(); it != crdt_cache_.end(); ++it) {
    if (it->collection == collection && it->key == key) {
      crdt_cache_.erase(it);
      break;
    }
  }
  // Small documents decode fast enough; the cache is for the large ones.
  if (state_bytes < 16 * 1024) return Status::Ok();
  if (crdt_cache_.size() >= kCrdtCacheEntries) crdt_cache_.erase(crdt_cache_.begin());
  crdt_cache_.push_back({collection, key, next->lsn, state_bytes, deltas, std::make_shared<DocCrdt>(std::move(doc))});
  return Status::Ok();
}

Result<std::string> Node::CrdtState(const std::string& collection, const std::string& key) {
  MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(collection));
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(key));
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  if (DefinitionOf(collection).policy != Policy::kCrdt) {
    return Status::FailedPrecondition("policy-mismatch", "collection '" + collection + "' is not a crdt collection");
  }
  auto reader = readers_->Acquire();
  auto row = reader->LoadCrdtDoc(collection, key);
  if (!row.ok()) return row.status();
  if (!*row || !(*row)->state) return std::string();
  int deltas = 0;
  auto doc = Materialize(*reader, collection, key, *row, &deltas);
  if (!doc.ok()) return doc.status();
  return deltas == 0 ? *(*row)->state : doc->EncodeText();
}

Status Node::LocalOps(WriteTxn& txn, const WriteRequest& request, const json* ops, const CollectionDef& def,
                      const std::string& idempotency_key, WriteAck* ack) {
  // A retried request returns its first answer; nothing else happens.
  // Only requests with a key are remembered: dumping up to 10,000 ops for nothing is not free.
  const std::string fingerprint =
      idempotency_key.empty() ? std::string()
                              : request.collection + "\n" + request.key + "\n" + (ops ? ops->dump() : "delete");
  if (!idempotency_key.empty()) {
    auto seen = txn.store().GetIdempotent(idempotency_key);
    if (!seen.ok()) return seen.status();
    if (*seen) {
      if ((*seen)->first != fingerprint) {
        return Status::FailedPrecondition("idempotency-key-reused",
                                          "Idempotency-Key '" + idempotency_key + "' was used for another request");
      }
      auto first = AckFromJson(request.key, (*seen)->second);
      if (!first.ok()) return first.status();
      *ack = std::move(first).value();
      return Status::Ok();
    }
  }
  auto loaded = LoadCrdtRow(txn, request.collection, request.key);
  if (!loaded.ok()) return loaded.status();
  const std::optional<DocRow>& row = *loaded;
  MERIDIAN_RETURN_IF_ERROR(internal::CheckIfMatch(request.if_match, row, request.key));
  int deltas = 0;
  auto doc = LoadCrdt(txn.store(), request.collection, request.key, row, &deltas);
  if (!doc.ok()) return doc.status();
  const bool was_live = row && row->value;
  if (!ops && !was_live) {
    return Status::NotFound("not-found", "no document '" + request.key + "' in collection '" + request.collection + "'");
  }
  auto hlc = hlc_->Now();
  if (!hlc.ok()) return hlc.status();
  const crdt::Dot dot{options_.region, txn.state().local_seq + 1};

  // Resolve every operation against the state the earlier ones left, then log them all.
  json resolved = json::array();
  uint32_t next_index = 0;
  const size_t count = ops ? ops->size() : 1;
  for (size_t i = 0; i < count; ++i) {
    auto local = doc->Local(ops ? &(*ops)[i] : nullptr, def.fields, options_.region, dot, &next_index, *hlc);
    if (!local.ok()) {
      if (!ops) return local.status();
      return Status(local.status().code(), local.status().reason(),
                    "operation " + std::to_string(i) + ": " + local.status().message());
    }
    for (const auto& op : *local) resolved.push_back(crdt::EncodeOp(op));
  }
  txn.NextLocalSeq();
  Change change;
  change.dot = dot;
  change.hlc = *hlc;
  change.collection = request.collection;
  change.key = request.key;
  change.kind = ChangeKind::kOps;
  change.ctx = row ? row->ctx : crdt::VersionVector();
  change.body = json{{"ops", std::move(resolved)}}.dump();
  change.lsn = txn.NextLsn();
  crdt::VersionVector ctx = change.ctx;
  ctx.Add(dot);
  DocRow next = CrdtRow(*doc, def, std::move(ctx), dot, *hlc, change.lsn, /*with_state=*/false);
  MERIDIAN_RETURN_IF_ERROR(SaveCrdt(txn, request.collection, request.key, row, deltas, std::move(doc).value(), dot, &next));
  MERIDIAN_RETURN_IF_ERROR(txn.store().AppendChange(change));
  txn.MarkApplied(dot);
  txn.AddLiveDocs((next.value ? 1 : 0) - (was_live ? 1 : 0));

  ack->key = request.key;
  ack->version = VersionToken(next.ctx);
  ack->dot = dot;
  ack->hlc = *hlc;
  ack->created = !was_live && next.value.has_value();
  ack->session = dot.ToString();
  ack->value = next.value.value_or("null");
  if (!idempotency_key.empty()) {
    const auto now = static_cast<int64_t>(hlc_->PhysicalMs());
    MERIDIAN_RETURN_IF_ERROR(txn.store().PutIdempotent(idempotency_key, fingerprint, AckJson(*ack).dump(), now));
    if (dot.seq % 1000 == 0) MERIDIAN_RETURN_IF_ERROR(txn.store().ExpireIdempotent(now - kIdempotencyTtlMs));
  }
  return Status::Ok();
}

Status Node::ApplyOpsChange(WriteTxn& txn, Change& c, ApplyResult* result) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("invalid-change", "change " + c.dot.ToString() + ": " + why);
  };
  // Decode and check everything before anything is written.
  json body = json::parse(c.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object() || !body.contains("ops") || !body["ops"].is_array()) {
    return bad("an ops body is {\"ops\": [...]}");
  }
  std::vector<crdt::CrdtOp> ops;
  for (const auto& j : body["ops"]) {
    auto op = crdt::DecodeOp(j);
    if (!op.ok()) return bad(op.status().message());
    ops.push_back(std::move(op).value());
  }
  auto loaded = LoadCrdtRow(txn, c.collection, c.key);
  if (!loaded.ok()) return loaded.status();
  const std::optional<DocRow>& row = *loaded;
  int deltas = 0;
  auto doc = LoadCrdt(txn.store(), c.collection, c.key, row, &deltas);
  if (!doc.ok()) return doc.status();
  bool clash = false;
  for (size_t i = 0; i < ops.size(); ++i) {
    auto applied = doc->Apply(ops[i], crdt::Tag{c.dot, static_cast<uint32_t>(i)}, c.hlc);
    if (!applied.ok()) return bad(applied.status().message());
    clash |= *applied;
  }
  const bool was_live = row && row->value;
  c.lsn = txn.NextLsn();
  crdt::VersionVector ctx = c.ctx;
  if (row) ctx.Join(row->ctx);
  ctx.Add(c.dot);
  ctx.Join(txn.state().purged);
  // The row reports the newest operation by (hlc, origin), the same everywhere.
  const bool newer = !row || row->hlc < c.hlc || (row->hlc == c.hlc && row->dot.origin < c.dot.origin);
  DocRow next = CrdtRow(*doc, DefinitionOf(c.collection), std::move(ctx), newer ? c.dot : row->dot,
                        newer ? c.hlc : row->hlc, c.lsn, /*with_state=*/false);
  MERIDIAN_RETURN_IF_ERROR(StorageFailure(SaveCrdt(txn, c.collection, c.key, row, deltas, std::move(doc).value(), c.dot, &next)));
  txn.AddLiveDocs((next.value ? 1 : 0) - (was_live ? 1 : 0));
  if (clash) {
    const json outcome = {{"rule", "a path written with two types keeps both states and shows one: "
                                   "an object, else a counter, else a set, else a register"},
                          {"value", next.value ? json::parse(*next.value) : json(nullptr)}};
    ConflictRow conflict;
    conflict.collection = c.collection;
    conflict.key = c.key;
    conflict.detected_at = static_cast<int64_t>(hlc_->PhysicalMs());
    conflict.policy = "crdt";
    conflict.versions = json::array({{{"version", c.dot.ToString()},
                                      {"kind", "ops"},
                                      {"value", body["ops"]},
                                      {"hlc", {{"wall_ms", c.hlc.wall_ms()}, {"logical", c.hlc.logical()}}},
                                      {"origin", c.dot.origin.str()}}})
                            .dump();
    conflict.outcome = outcome.dump();
    conflict.status = "auto";
    auto id = txn.store().InsertConflict(conflict);
    if (!id.ok()) return StorageFailure(id.status());
    txn.AddConflict();
    ++result->conflicts;
  }
  return Status::Ok();
}

}  // namespace region
