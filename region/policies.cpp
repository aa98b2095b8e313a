// What a document shows under its collection's policy, and what the conflict log records.
//
//   lww     the LWW view of the merge state (conflict::ResolveLww)
//   merge   the collection's callback over every concurrent whole-document version, in
//           canonical order, within the time budget; on failure the LWW view, and the
//           conflict is marked needs-attention
//   manual  the LWW view; GET shows the siblings until a write that has seen them all
#include <algorithm>

#include <nlohmann/json.hpp>

#include "region/internal/callback_runner.h"
#include "region/internal/doc_merge.h"
#include "region/node.h"

namespace region {

using crdt::Result;
using crdt::Status;
using nlohmann::json;

namespace {

json HlcJson(crdt::Hlc h) { return {{"wall_ms", h.wall_ms()}, {"logical", h.logical()}}; }

json VectorJson(const crdt::VersionVector& vv) {
  json out = json::object();
  for (const auto& [origin, seq] : vv.entries()) out[origin.str()] = seq;
  return out;
}

json VersionJson(const Change& c) {
  json value;  // null for a delete
  if (c.kind != ChangeKind::kDelete) {
    value = json::parse(c.body, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) value = nullptr;
  }
  return {{"version", c.dot.ToString()}, {"kind", ChangeKindName(c.kind)}, {"value", std::move(value)},
          {"hlc", HlcJson(c.hlc)},       {"origin", c.dot.origin.str()}, {"context", VectorJson(c.ctx)}};
}

// The concurrent versions of a document with their writers' contexts (from the change
// log), canonically ordered, the newest `cap` of them; `capped` says whether any were left out.
Result<std::vector<conflict::Sibling>> NewestSiblings(Store& store, const conflict::DocState& state, int cap,
                                                      bool* capped) {
  std::vector<conflict::Sibling> siblings;
  for (const auto& v : state.base) {
    conflict::Sibling s{v.dot, v.hlc, {}, v.value};
    auto change = store.ChangeOf(v.dot);
    if (!change.ok()) return change.status();
    if (*change) s.context = (*change)->ctx;
    siblings.push_back(std::move(s));
  }
  conflict::SortCanonical(siblings);
  *capped = static_cast<int>(siblings.size()) > cap;
  if (*capped) siblings.erase(siblings.begin(), siblings.end() - cap);
  return siblings;
}

}  // namespace

Result<Node::PolicyView> Node::ViewFor(WriteTxn& txn, const conflict::DocState& state, int64_t lsn,
                                       const CollectionDef& def) {
  PolicyView view;
  view.row = internal::RowFor(state, lsn);
  if (def.policy == Policy::kManual) view.capped = static_cast<int>(state.base.size()) > def.max_siblings;
  if (def.policy != Policy::kMerge || state.base.size() < 2) return view;

  // Every concurrent whole-document version, newest `max_siblings` of them, canonically.
  auto siblings = NewestSiblings(txn.store(), state, def.max_siblings, &view.capped);
  if (!siblings.ok()) return siblings.status();
  view.callback = def.merge;
  auto callback = registry_->Find(def.merge);
  if (!callback.ok()) {
    view.failure = callback.status();
    return view;
  }
  auto merged = internal::RunWithBudget(*callback, *siblings, std::chrono::milliseconds(options_.merge_budget_ms));
  if (!merged.ok()) {
    view.failure = merged.status();
    return view;
  }
  view.merged = true;
  view.row.value = *merged ? std::optional<std::string>((*merged)->dump()) : std::nullopt;
  return view;
}

Status Node::RecordConflict(WriteTxn& txn, const Change& incoming, const std::vector<crdt::Dot>& concurrent,
                            const conflict::DocState& state, const CollectionDef& def, const PolicyView& view) {
  json versions = json::array({VersionJson(incoming)});
  const Change* winner = &incoming;
  std::vector<Change> others;
  others.reserve(concurrent.size());
  for (const auto& dot : concurrent) {
    auto c = txn.store().ChangeOf(dot);
    if (!c.ok()) return c.status();
    if (!*c) return Status::Internal("conflicting version " + dot.ToString() + " is not in the change log");
    others.push_back(std::move(**c));
  }
  for (const Change& o : others) {
    versions.push_back(VersionJson(o));
    if (winner->hlc < o.hlc || (winner->hlc == o.hlc && winner->dot.origin < o.dot.origin)) winner = &o;
  }
  const conflict::Visible lww = conflict::ResolveLww(state);
  const json shown = view.row.value ? json::parse(*view.row.value) : json(nullptr);
  json outcome;
  std::string status = "auto";
  switch (def.policy) {
    case Policy::kMerge:
      outcome = {{"rule", "merge: callback '" + def.merge + "' over every concurrent version, in (hlc, origin) order"},
                 {"callback", def.merge},
                 {"value", shown}};
      if (!view.failure.ok()) {
        outcome["rule"] = "merge: callback '" + def.merge + "' failed; the last writer wins until an operator acts";
        outcome["error"] = view.failure.message();
        outcome["reason"] = view.failure.reason();
        outcome["fallback"] = "lww";
        outcome["winner"] = winner->dot.ToString();
        status = "needs-attention";
      }
      break;
    case Policy::kManual:
      outcome = {{"rule", "manual: every version is kept, and shown, until a write that has seen them all "
                          "(If-Match with the document's version, or POST /v1/conflicts/{id}/resolve)"},
                 {"winner", winner->dot.ToString()},
                 {"value", lww.exists ? lww.value : json(nullptr)}};
      status = "needs-attention";
      break;
    default:
      outcome = {{"rule", "lww: the larger (hlc, origin) wins each field it wrote; the others are kept here"},
                 {"winner", winner->dot.ToString()},
                 {"value", lww.exists ? lww.value : json(nullptr)}};
      break;
  }
  if (view.capped) {
    outcome["capped"] = "more than " + std::to_string(def.max_siblings) +
                        " concurrent versions (max_siblings): only the newest " + std::to_string(def.max_siblings) +
                        " are " + (def.policy == Policy::kMerge ? "merged" : "shown") + "; all are kept";
    status = "needs-attention";
  }
  ConflictRow row;
  row.collection = incoming.collection;
  row.key = incoming.key;
  row.detected_at = static_cast<int64_t>(hlc_->PhysicalMs());
  row.policy = PolicyName(def.policy);
  row.versions = versions.dump();
  row.outcome = outcome.dump();
  row.status = status;
  auto id = txn.store().InsertConflict(row);
  if (!id.ok()) return id.status();
  txn.AddConflict();
  return Status::Ok();
}

Result<std::string> Node::SiblingsJson(Store& store, const DocRow& row, int cap, int* total) const {
  auto state = internal::LoadState(row);
  if (!state.ok()) return state.status();
  if (state->base.size() < 2) return std::string();
  *total = static_cast<int>(state->base.size());
  bool capped = false;
  auto siblings = NewestSiblings(store, *state, cap, &capped);
  if (!siblings.ok()) return siblings.status();
  return conflict::SiblingsJson(*siblings).dump();
}

Status Node::SupersedeConflicts(WriteTxn& txn, const std::string& collection, const std::string& key,
                                const std::optional<DocRow>& before, const DocRow& after, const crdt::Dot& by) {
  if (!before || !before->state || after.state) return Status::Ok();  // siblings neither before nor gone
  const json how = {{"by", by.ToString()}, {"at", hlc_->PhysicalMs()}, {"superseded", true}};
  return txn.store().SupersedeConflicts(collection, key, how.dump());
}

}  // namespace region
