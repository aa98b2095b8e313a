// Replication inside a region: serving pulls from peers and applying their changes.
#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "crdt/json_text.h"
#include "region/internal/doc_merge.h"
#include "region/internal/read_pool.h"
#include "region/node.h"

namespace region {

using crdt::Result;
using crdt::Status;
using nlohmann::json;

Result<PullResponse> Node::Pull(const crdt::RegionId& puller, const crdt::VersionVector& have, int limit,
                                int wait_ms, const FloorReport* floor, const std::atomic<bool>* give_up) {
  {
    std::lock_guard lock(peers_mu_);
    peer_have_[puller] = have;
  }
  if (floor) stability_->OnReport(puller, *floor);
  return Scan(have, limit, wait_ms, give_up);
}

Result<PullResponse> Node::Scan(const crdt::VersionVector& have, int limit, int wait_ms,
                                const std::atomic<bool>* give_up) {
  if (limit < 1 || limit > 10000) return Status::InvalidArgument("invalid-limit", "limit must be 1..10000");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(0, wait_ms));
  while (true) {
    if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
    const TxnState committed = writer_->Committed();
    PullResponse r;
    r.region = options_.region;
    r.applied = committed.applied;
    {
      auto reader = readers_->Acquire();
      // Start where the first change the puller lacks sits in our log.
      int64_t start = INT64_MAX;
      for (const auto& [origin, seq] : committed.applied.entries()) {
        const uint64_t has = have.Get(origin);
        if (seq <= has) continue;
        auto lsn = reader->LsnOf({origin, has + 1});
        if (!lsn.ok()) return lsn.status();
        if (!*lsn) {
          return Status(crdt::Code::kGone, "history-compacted",
                        "change " + origin.str() + ":" + std::to_string(has + 1) + " is no longer in the log of " +
                            options_.region.str() + "; bootstrap from a snapshot");
        }
        start = std::min(start, **lsn);
      }
      if (start != INT64_MAX) {
        crdt::VersionVector running = have;
        int64_t pos = start - 1;
        bool full = false;
        size_t bytes = 0;
        while (!full && pos < committed.last_lsn) {
          auto page = reader->ChangesSince(pos, 1000);
          if (!page.ok()) return page.status();
          if (page->empty()) break;
          for (Change& c : *page) {
            if (c.lsn > committed.last_lsn) {  // committed after our snapshot: next time
              pos = committed.last_lsn;
              break;
            }
            pos = c.lsn;
            const uint64_t next = running.Get(c.dot.origin) + 1;
            if (c.dot.seq < next) continue;  // the puller has it
            if (c.dot.seq > next) {
              return Status::Internal("change log of " + options_.region.str() + " skips from " +
                                      c.dot.origin.str() + ":" + std::to_string(next - 1) + " to " +
                                      c.dot.ToString());
            }
            running.Add(c.dot);
            bytes += c.body.size();
            r.changes.push_back(std::move(c));
            if (static_cast<int>(r.changes.size()) >= limit || bytes >= kMaxPageBytes) {
              full = true;
              break;
            }
          }
        }
        r.more = full && pos < committed.last_lsn;
      }
    }
    if (!r.changes.empty() || std::chrono::steady_clock::now() >= deadline || draining_ ||
        (give_up && give_up->load(std::memory_order_relaxed))) {
      r.now_ms = hlc_->PhysicalMs();
      return r;
    }
    std::unique_lock lock(commit_mu_);
    WaitForCommit(lock, deadline, give_up,
                  [&] { return committed_lsn_ > committed.last_lsn || closed_ || draining_; });
  }
}

crdt::VersionVector Node::Applied() const { return writer_->Committed().applied; }

Result<ApplyResult> Node::ApplyRemote(const crdt::RegionId& from, std::vector<Change> changes) {
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  ApplyResult result;
  Status status = writer_->Run([&](WriteTxn& txn) -> Status {
    result = ApplyResult();
    std::set<crdt::RegionId> advanced;
    const uint64_t now = hlc_->PhysicalMs();
    crdt::Hlc newest;  // the receive rule, once for the batch's largest stamp
    for (Change& c : changes) {
      const uint64_t has = txn.state().applied.Get(c.dot.origin);
      if (c.dot.seq <= has) {
        ++result.duplicates;
        continue;
      }
      if (c.dot.origin == options_.region) {
        result.held = Status::FailedPrecondition(
            "own-history", "peer " + from.str() + " holds change " + c.dot.ToString() +
                               " of this region, which this region does not have (restored from an old backup?)");
        break;
      }
      if (c.dot.seq != has + 1) {
        result.held = Status::FailedPrecondition("gap", "change " + c.dot.ToString() + " arrived before " +
                                                            c.dot.origin.str() + ":" + std::to_string(has + 1));
        break;
      }
      if (!c.ctx.LessOrEqual(txn.state().applied)) {
        result.held = Status::FailedPrecondition("causal", "change " + c.dot.ToString() +
                                                               " depends on changes not applied yet");
        break;
      }
      if (c.hlc.wall_ms() > now + options_.max_clock_offset_ms) {
        result.held = Status::Unavailable(
            "clock-skew", "change " + c.dot.ToString() + " from " + from.str() + " is stamped " +
                              std::to_string(c.hlc.wall_ms() - now) + " ms ahead of this region's clock (max " +
                              std::to_string(options_.max_clock_offset_ms) + " ms); held back");
        result.held_hlc = c.hlc;
        break;
      }
      if (newest < c.hlc) newest = c.hlc;
      const crdt::RegionId origin = c.dot.origin;
      Status applied = ApplyChange(txn, std::move(c), &result);  // c is spent from here on
      if (!applied.ok()) {
        if (applied.reason() == "storage") return applied;
        result.held = applied;  // e.g. a malformed change: keep it in the peer's log, never drop it
        break;
      }
      ++result.applied;
      advanced.insert(origin);
    }
    for (const auto& origin : advanced) {
      MERIDIAN_RETURN_IF_ERROR(txn.store().SaveApplied(origin, txn.state().applied.Get(origin)));
    }
    // Receiving the largest stamp leaves the clock where receiving each in turn would:
    // past every one of them. It cannot fail for stamps within the offset checked above.
    if (!newest.is_zero()) (void)hlc_->Receive(newest);
    return Status::Ok();
  }, /*durable=*/false);  // the origin holds these changes durably; a lost apply is pulled again
  if (!status.ok()) return status;
  return result;
}

Status Node::ApplyChange(WriteTxn& txn, Change c, ApplyResult* result) {
  // Validate before anything is written: a job writes nothing when it fails.
  if (c.kind == ChangeKind::kPurge) {
    if (!c.collection.empty() || !c.key.empty() || !c.body.empty()) {
      return Status::InvalidArgument("invalid-change", "change " + c.dot.ToString() + ": bad purge");
    }
    c.lsn = txn.NextLsn();
    size_t removed = 0;
    MERIDIAN_RETURN_IF_ERROR(ApplyPurge(txn, c, &removed));
  } else if (c.kind == ChangeKind::kDefine) {
    MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(c.collection));
    auto def = crdt::ParseJson(c.body);
    if (!def.ok() || !def->is_object()) {
      return Status::InvalidArgument("invalid-change", "change " + c.dot.ToString() + ": bad definition");
    }
    c.lsn = txn.NextLsn();
    MERIDIAN_RETURN_IF_ERROR(ApplyDefine(txn, c));
  } else {
    MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(c.collection));
    MERIDIAN_RETURN_IF_ERROR(ValidateKey(c.key));
    // Both assign c.lsn once the change is known to be valid.
    if (c.kind == ChangeKind::kOps) {
      MERIDIAN_RETURN_IF_ERROR(ApplyOpsChange(txn, c, result));
    } else {
      MERIDIAN_RETURN_IF_ERROR(ApplyDocChange(txn, c, result));
    }
  }
  MERIDIAN_RETURN_IF_ERROR(txn.store().AppendChange(c));
  txn.MarkApplied(c.dot);
  return Status::Ok();
}

Status Node::ApplyDocChange(WriteTxn& txn, Change& c, ApplyResult* result) {
  auto loaded = txn.store().LoadDoc(c.collection, c.key);
  if (!loaded.ok()) return loaded.status();
  const std::optional<DocRow>& row = *loaded;
  const bool was_live = row && row->value;
  DocRow next;
  const bool whole = c.kind == ChangeKind::kPut || c.kind == ChangeKind::kDelete;
  if (whole && (!row || row->ctx.LessOrEqual(c.ctx))) {
    // The change was made on everything this region has of the document: it replaces it.
    if (c.kind == ChangeKind::kPut) {
      // A syntax check without building the document: peers send canonical JSON.
      if (c.body.empty() || c.body.front() != '{' || !json::accept(c.body)) {
        return Status::InvalidArgument("invalid-change", "change " + c.dot.ToString() + ": put body is not an object");
      }
      next.value = c.body;
    }
    c.lsn = txn.NextLsn();
    next.dot = c.dot;
    next.hlc = c.hlc;
    next.ctx = c.ctx;
    if (row) next.ctx.Join(row->ctx);
    next.ctx.Add(c.dot);
    next.lsn = c.lsn;
  } else {
    auto write = internal::WriteFromChange(c);
    if (!write.ok()) return write.status();
    auto state = internal::LoadState(row);
    if (!state.ok()) return state.status();
    const std::vector<crdt::Dot> concurrent = conflict::Apply(*state, *write);
    c.lsn = txn.NextLsn();
    const CollectionDef def = DefinitionOf(c.collection);
    auto view = ViewFor(txn, *state, c.lsn, def);
    if (!view.ok()) return StorageFailure(view.status());
    if (!concurrent.empty()) {
      MERIDIAN_RETURN_IF_ERROR(StorageFailure(RecordConflict(txn, c, concurrent, *state, def, *view)));
      ++result->conflicts;
    }
    next = std::move(view->row);
  }
  MERIDIAN_RETURN_IF_ERROR(StorageFailure(SupersedeConflicts(txn, c.collection, c.key, row, next, c.dot)));
  MERIDIAN_RETURN_IF_ERROR(StorageFailure(txn.store().SaveDoc(c.collection, c.key, next)));
  txn.AddLiveDocs((next.value ? 1 : 0) - (was_live ? 1 : 0));
  return Status::Ok();
}

// Every region applies a purge after everything in its context (causal delivery), so the
// rows it removes are the same everywhere: deleted, no state, nothing beyond the purged
// vector in their context.
Status Node::ApplyPurge(WriteTxn& txn, const Change& c, size_t* removed) {
  crdt::VersionVector purged = txn.state().purged;
  purged.Join(c.ctx);
  auto rows = txn.store().EmptyCrdtDocs();
  if (!rows.ok()) return StorageFailure(rows.status());
  for (const auto& r : *rows) {
    if (!r.ctx.LessOrEqual(purged)) continue;
    MERIDIAN_RETURN_IF_ERROR(StorageFailure(txn.store().DeleteCrdtDoc(r.collection, r.key)));
    ++*removed;
  }
  MERIDIAN_RETURN_IF_ERROR(StorageFailure(txn.store().SetMeta("purged", purged.Encode())));
  txn.AddPurged(purged);
  return Status::Ok();
}

Result<size_t> Node::Purge() {
  MERIDIAN_RETURN_IF_ERROR(CheckWritable());
  const crdt::VersionVector stable = Stable();
  size_t removed = 0;
  Status status = writer_->Run([&](WriteTxn& txn) -> Status {
    removed = 0;
    crdt::VersionVector purged = txn.state().purged;
    purged.Join(stable);
    auto rows = txn.store().EmptyCrdtDocs();
    if (!rows.ok()) return rows.status();
    if (std::none_of(rows->begin(), rows->end(), [&](const Store::EmptyCrdtRow& r) {
          return r.ctx.LessOrEqual(purged);
        })) {
      return Status::Ok();  // nothing to collect: no change
    }
    auto hlc = hlc_->Now();
    if (!hlc.ok()) return hlc.status();
    Change c;
    c.dot = {options_.region, txn.NextLocalSeq()};
    c.hlc = *hlc;
    c.kind = ChangeKind::kPurge;
    c.ctx = stable;
    c.lsn = txn.NextLsn();
    MERIDIAN_RETURN_IF_ERROR(ApplyPurge(txn, c, &removed));
    MERIDIAN_RETURN_IF_ERROR(txn.store().AppendChange(c));
    txn.MarkApplied(c.dot);
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return removed;
}

Status Node::ApplyDefine(WriteTxn& txn, const Change& c) {
  auto rows = txn.store().LoadCollections();
  if (!rows.ok()) return rows.status();
  for (const auto& row : *rows) {
    if (row.name != c.collection) continue;
    const bool dominates = c.ctx.Contains(row.dot);
    const bool later = row.hlc < c.hlc || (row.hlc == c.hlc && row.dot.origin < c.dot.origin);
    if (!dominates && !later) return Status::Ok();  // the current definition wins
  }
  txn.MarkDefinitionsChanged();
  return StorageFailure(txn.store().SaveCollection({c.collection, c.body, c.dot, c.hlc}, c.lsn));
}

}  // namespace region
