// Node: one region's replica, the thread-safe facade that server/ (and the simulation) use.
//
// A Node owns the region's SQLite database (one writer thread with group commit, a pool of
// read connections), its hybrid logical clock and its change log. Every local write is
// stamped (HLC and dot), merged into the document's state, appended to the change log in
// the same transaction, and acknowledged only after that transaction committed durably.
//
// Errors (crdt::Status reasons, stable; server/ maps them to HTTP once):
//   invalid-collection, invalid-key, invalid-document, invalid-patch, invalid-definition,
//   server-assigned-field, not-found, version-mismatch (If-Match), policy-mismatch,
//   shutting-down, clock-stalled, storage.
//
// Thread-safety: every public method may be called from any thread, concurrently, until
// Close(); Close() waits for in-flight writes to commit and must not race with destruction.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "crdt/status.h"
#include "region/clock.h"
#include "region/collection_def.h"
#include "region/replication.h"
#include "region/stability.h"
#include "region/store.h"
#include "region/types.h"
#include "region/writer.h"

namespace conflict {
struct DocState;
class Registry;
}

namespace crdt {
class DocCrdt;
}

namespace region {
namespace internal {
class DirLock;
class ReadPool;
}  // namespace internal
class Replicator;

struct NodeOptions {
  crdt::RegionId region;
  std::string data_dir;                  // created if missing; holds meridian.db
  Durability durability = Durability::kFull;
  int max_batch = 1024;                  // 1: one transaction per write (group commit off)
  int checkpoint_pages = 4000;           // WAL pages that start a background checkpoint
                                         // (region/internal/checkpointer.h); 0: SQLite's own
  int read_connections = 8;
  Clock* clock = nullptr;                // not owned; nullptr: the system clock
  uint64_t max_clock_offset_ms = 500;    // remote stamps further ahead are held back
  const conflict::Registry* registry = nullptr;  // merge callbacks; nullptr: the built-ins
  int merge_budget_ms = 100;             // time a merge callback may take
  size_t crdt_snapshot_bytes = 256 * 1024;  // crdt documents with a larger state are saved
  int crdt_max_deltas = 64;                 // whole only every this many writes
  uint64_t text_mark_every_ms = 250;        // text marks (see SaveCrdt) at most this often
  int purge_every_ms = 10'000;              // Purge() from the pullers at most this often, by the
                                            // region with the smallest id (0: never by itself)
  std::vector<PeerConfig> peers;
  Transport* transport = nullptr;        // not owned; nullptr: no puller threads (the
                                         // caller drives Pull/ApplyRemote itself)
};

struct ConflictQuery {
  std::string collection, key, status;
  int64_t since_ms = 0;
  int64_t after = 0;
  int limit = 100;
};

struct ConflictPage {
  std::vector<ConflictRow> conflicts;
  std::optional<int64_t> next;
};

struct ClusterInfo {
  crdt::RegionId region;
  crdt::Hlc hlc;
  uint64_t now_ms = 0;
  crdt::VersionVector applied;
  crdt::VersionVector floor;     // what this region promises its future operations have seen
  crdt::VersionVector stable;    // what every region has and every future operation will have seen
  bool refusing_writes = false;  // this region's clock is ahead of a majority of peers
  std::vector<PeerStatus> peers;
};

struct WriteRequest {
  std::string collection;
  std::string key;
  std::string body;                      // JSON text: the document (PUT) or merge patch (PATCH)
  std::optional<std::string> if_match;   // version token the client read
};

struct DigestInfo {
  std::string digest;
  std::vector<std::pair<std::string, std::string>> collections;
  crdt::VersionVector applied;
};

struct NodeStats {
  WriterStats writer;
  int64_t live_docs = 0;
  int64_t conflicts = 0;
  int64_t last_lsn = 0;
  crdt::Hlc hlc;
  crdt::VersionVector applied;
  uint64_t text_tombstones_collected = 0;  // since start
  crdt::VersionVector purged;              // dots dropped from crdt documents' contexts
  int64_t empty_crdt_docs = 0;             // rows kept for deleted crdt documents
};

class Node {
 public:
  static crdt::Result<std::unique_ptr<Node>> Open(NodeOptions options);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Wakes every long-poll so that a shutting-down server can finish its requests quickly;
  // writes still succeed until Close().
  void BeginShutdown();
  // Drains in-flight writes, then closes the database. Later calls fail with shutting-down.
  void Close();
  bool closed() const { return closed_ || draining_; }
  // Why writes are refused now, if they are: the database files were removed or replaced
  // under the region (for good), or a write was refused for a full disk in the last 5 s
  // (and none has committed since).
  std::optional<crdt::Status> WritesRefused() const;

  const crdt::RegionId& region() const { return options_.region; }

  // Documents. Put replaces the document (a JSON object); Patch applies an RFC 7396 merge
  // patch (an object) field by field, creating the document if absent; Delete leaves a
  // tombstone (not-found if there is no live document).
  crdt::Result<WriteAck> Put(const WriteRequest& request);
  crdt::Result<WriteAck> Patch(const WriteRequest& request);
  crdt::Result<WriteAck> Delete(const WriteRequest& request);
  // Put, Patch or Delete (by `kind`) without waiting for the commit: `done` gets what the
  // blocking call would return, on the writer's completion thread, or at once on the
  // caller's thread when the request is refused before it reaches the writer. `done` must
  // be quick and must not write.
  void WriteAsync(WriteRequest request, ChangeKind kind, std::function<void(crdt::Result<WriteAck>)> done);
  // CRDT operations on a document of a crdt collection: `request.body` is
  // {"ops": [{"op": "incr"|"add"|"remove"|"set"|"unset", "path": "/x", ...}, ...]}, applied
  // atomically and replicated as one change. With an idempotency key, a retry of the same
  // request (same key, collection, document and body) returns the first answer and changes
  // nothing; the same key with another request is refused (idempotency-key-reused).
  crdt::Result<WriteAck> Ops(const WriteRequest& request, const std::string& idempotency_key = "");
  crdt::Result<Document> Get(const std::string& collection, const std::string& key);
  // Get for an event loop, which must neither wait nor do long work: nullopt when every read
  // connection is in use right now, or when the collection holds large documents (a value
  // over 64 KiB: the first one read marks its collection, whose reads then go to threads).
  std::optional<crdt::Result<Document>> TryGet(const std::string& collection, const std::string& key);
  // A crdt-collection document's encoded CRDT state (crdt/doc_crdt.h), "" when it has none;
  // policy-mismatch for other collections.
  crdt::Result<std::string> CrdtState(const std::string& collection, const std::string& key);
  // Live documents with key > after and starting with prefix, in key order; limit 1..1000.
  crdt::Result<DocPage> List(const std::string& collection, const std::string& prefix,
                             const std::string& after, int limit);

  // Collections. Definitions are JSON objects {"policy": "lww"}.
  crdt::Result<CollectionInfo> DefineCollection(const std::string& name, const std::string& definition);
  crdt::Result<std::vector<CollectionInfo>> Collections();

  // The change feed for clients: changes the cursor does not cover, in this region's apply
  // order, waiting up to wait_ms for one. The cursor is the version vector of what the
  // reader has seen ("" = nothing), so it stays exact even if a power cut makes this region
  // re-apply replicated changes at other log positions. InvalidArgument("invalid-cursor").
  // A wait also ends (with what there is) once `give_up` is set: the client went away.
  crdt::Result<FeedPage> Feed(const std::string& cursor, int limit, int wait_ms,
                              const std::atomic<bool>* give_up = nullptr);
  // This region's raw log after position `since` (local positions; for tests and tools).
  crdt::Result<ChangePage> LogSince(int64_t since, int limit);

  // Waits until this region has applied everything `session` names (a token from a write at
  // any region). Unavailable("session-not-caught-up") after timeout_ms, or once `give_up`
  // is set.
  crdt::Status WaitForSession(const crdt::VersionVector& session, int timeout_ms,
                              const std::atomic<bool>* give_up = nullptr);

  // Replication, serving side: the changes `have` lacks, in this region's apply order,
  // waiting up to wait_ms for one. `puller` is recorded for lag reports.
  // `floor` is the puller's floor report (region/stability.h), when it sent one.
  crdt::Result<PullResponse> Pull(const crdt::RegionId& puller, const crdt::VersionVector& have, int limit,
                                  int wait_ms, const FloorReport* floor = nullptr,
                                  const std::atomic<bool>* give_up = nullptr);
  // Replication, receiving side: applies a peer's batch in one transaction together with
  // the advance of the applied vector. Duplicates are skipped; the first change that
  // cannot be applied yet (clock skew, missing cause) stops the batch (see ApplyResult).
  crdt::Result<ApplyResult> ApplyRemote(const crdt::RegionId& from, std::vector<Change> changes);
  // Highest contiguous seq applied per origin (this region included), as committed.
  crdt::VersionVector Applied() const;
  ClusterInfo Cluster() const;

  // Causal stability (region/stability.h). Floor(): this region's floor report, sent with
  // every pull. HoldFloor/RaiseFloor/ReleaseFloor: a live session keeps the floor at or
  // below what its browser has seen (FailedPrecondition "stale-base" when that is older
  // than the floor already promised), and for `after_ms` after it ends. Stable(): the causally stable vector now; text
  // tombstones it covers are collected when a document's state is next written whole.
  FloorReport Floor();
  crdt::Result<uint64_t> HoldFloor(const crdt::VersionVector& base);
  void RaiseFloor(uint64_t hold, const crdt::VersionVector& base);
  void ReleaseFloor(uint64_t hold, int after_ms = 0);
  crdt::VersionVector Stable();
  // Drops the rows of deleted crdt documents (no value, no state) whose causal context is
  // stable, with a change every region applies: contexts then leave out every dot of the
  // purged vector, everywhere, so regions that collected at different moments stay equal
  // (the digest and version tokens read contexts that way). Returns the rows removed here;
  // makes no change when there is nothing to collect.
  crdt::Result<size_t> Purge();

  // The conflict log.
  crdt::Result<ConflictPage> Conflicts(const ConflictQuery& query);
  crdt::Result<ConflictRow> Conflict(int64_t id);
  // Resolves a conflict with a new local write that dominates every version involved:
  // `resolution` is {"value": <document>} or {"choose": "<version>"} (a version of the
  // conflict: its write is made again). The write replicates like any other.
  crdt::Result<WriteAck> ResolveConflict(int64_t id, const std::string& resolution);

  crdt::Result<DigestInfo> Digest();
  NodeStats Stats() const;
  crdt::Hlc CurrentHlc() const { return hlc_->Last(); }

 private:
  explicit Node(NodeOptions options);
  crdt::Status Init();
  // A local document write, ready for the writer thread.
  struct LocalWrite {
    const std::string& collection;
    const std::string& key;
    ChangeKind kind;
    std::optional<std::string> if_match;
    std::string canonical;                  // kPut: the document, canonical JSON
    const nlohmann::json* patch = nullptr;  // kPatch: the merge patch
    bool exact_fields = false;              // kPatch: assign the patch's fields as they are
                                            // (null unsets) instead of merging into them
    bool resolution = false;                // kDelete: a tombstone over a tombstone is fine
    bool whole_document = false;            // kPatch: write the patched document whole
                                            // (merge and manual collections)
    bool needs_context = false;             // manual: a document showing siblings is written
                                            // only with If-Match naming its version
  };
  // A validated document write and what the writer needs to run it.
  struct PreparedDocWrite;
  crdt::Result<std::shared_ptr<PreparedDocWrite>> PrepareDocWrite(WriteRequest request, ChangeKind kind);
  Writer::Job DocWriteJob(const std::shared_ptr<PreparedDocWrite>& prepared);
  crdt::Result<WriteAck> RunDocWrite(const WriteRequest& request, ChangeKind kind);
  // Get; without `wait`, Unavailable(kReadersBusy) when no read connection is free.
  static constexpr const char* kReadersBusy = "readers-busy";
  crdt::Result<Document> GetWith(const std::string& collection, const std::string& key, bool wait);
  crdt::Status LocalOps(WriteTxn& txn, const WriteRequest& request, const nlohmann::json* ops,
                        const CollectionDef& def, const std::string& idempotency_key, WriteAck* ack);
  crdt::Status ApplyOpsChange(WriteTxn& txn, Change& change, ApplyResult* result);
  crdt::Status ReloadDefinitions();
  std::shared_ptr<const CollectionDefs> Definitions() const;
  CollectionDef DefinitionOf(const std::string& collection) const;
  crdt::Status LocalDocWrite(WriteTxn& txn, const LocalWrite& write, WriteAck* ack);
  crdt::Status ApplyChange(WriteTxn& txn, Change change, ApplyResult* result);
  crdt::Status ApplyDocChange(WriteTxn& txn, Change& change, ApplyResult* result);
  crdt::Status ApplyDefine(WriteTxn& txn, const Change& change);
  crdt::Status ApplyPurge(WriteTxn& txn, const Change& change, size_t* removed);
  std::atomic<uint64_t> last_purge_ms_{0};
  void MaybePurge();
  // The row a merge state is stored as under a collection's policy (see policies.cpp).
  struct PolicyView {
    DocRow row;
    std::string callback;
    bool merged = false;   // the callback's value is shown
    bool capped = false;   // more siblings than max_siblings
    crdt::Status failure;  // the callback failed: the LWW view is shown
  };
  crdt::Result<PolicyView> ViewFor(WriteTxn& txn, const conflict::DocState& state, int64_t lsn,
                                   const CollectionDef& def);
  crdt::Status RecordConflict(WriteTxn& txn, const Change& incoming, const std::vector<crdt::Dot>& concurrent,
                              const conflict::DocState& state, const CollectionDef& def, const PolicyView& view);
  // A write that leaves a merge/manual document with one version settles its open conflicts.
  crdt::Status SupersedeConflicts(WriteTxn& txn, const std::string& collection, const std::string& key,
                                  const std::optional<DocRow>& before, const DocRow& after, const crdt::Dot& by);
  // The siblings of a document with concurrent versions, as JSON; "" when it has one.
  // Manual collections: the newest `cap` concurrent versions of a document, canonically, as
  // JSON (conflict::SiblingsJson), or "" when it has one version; `total` counts them all.
  crdt::Result<std::string> SiblingsJson(Store& store, const DocRow& row, int cap, int* total) const;
  // Ok when local writes are allowed: not shutting down, clock not ahead of the peers.
  crdt::Status CheckWritable() const;
  // What Pull and Feed share: the changes `have` lacks, waiting up to wait_ms for one (or
  // until `give_up` is set).
  crdt::Result<PullResponse> Scan(const crdt::VersionVector& have, int limit, int wait_ms,
                                  const std::atomic<bool>* give_up);
  // Waits on commit_cv_ until `until` or `done`; with `give_up`, in steps that look at it.
  void WaitForCommit(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::time_point until,
                     const std::atomic<bool>* give_up, const std::function<bool()>& done);
  void UpdateClockHealth();
  void OnCommit(const TxnState& state);

  NodeOptions options_;
  std::unique_ptr<internal::DirLock> dir_lock_;  // first in, last out: held until all else closed
  SystemClock system_clock_;
  std::unique_ptr<conflict::Registry> builtin_registry_;
  const conflict::Registry* registry_ = nullptr;
  std::unique_ptr<HybridClock> hlc_;
  std::unique_ptr<internal::ReadPool> readers_;
  std::unique_ptr<Writer> writer_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> draining_{false};

  // Long-poll waiters on the change log.
  mutable std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  int64_t committed_lsn_ = 0;
  crdt::VersionVector committed_applied_;

  // Committed collection definitions, reloaded after commits that change them.
  mutable std::mutex defs_mu_;
  std::shared_ptr<const CollectionDefs> defs_ = std::make_shared<CollectionDefs>();
  // Decoded states of the crdt documents written last (writer thread only): a large text is
  // not parsed again on every write. An entry is used only while the stored row still has
  // the lsn and state size it was saved with.
  struct CachedCrdt {
    std::string collection, key;
    int64_t lsn = -1;
    size_t state_bytes = 0;
    int deltas = 0;  // changes applied on top of the stored state
    std::shared_ptr<crdt::DocCrdt> doc;
  };
  std::vector<CachedCrdt> crdt_cache_;
  // A crdt document's current state: its stored state and the changes applied since
  // (`deltas` says how many), or the cached copy.
  crdt::Result<crdt::DocCrdt> LoadCrdt(Store& store, const std::string& collection, const std::string& key,
                                       const std::optional<DocRow>& row, int* deltas);
  // Saves a crdt document after a change (at next.lsn): the whole state, or for a large one
  // only the row and the change as one more delta (at most crdt_max_deltas in a row).
  // `change` is the change just applied to `doc`. Before a whole state is written, its
  // texts drop the tombstones that a text mark (below) shows stable.
  crdt::Status SaveCrdt(WriteTxn& txn, const std::string& collection, const std::string& key,
                        const std::optional<DocRow>& before, int deltas, crdt::DocCrdt doc, const crdt::Dot& change,
                        DocRow* next);
  // Text marks (writer thread only): now and then, a crdt document's text versions with
  // an applied vector covering every change they contain. Once that vector is stable, so
  // is every character id up to those versions: that translates change dots, which
  // stability speaks of, into the text ids CollectTombstones needs.
  // = crdt::DocCrdt::TextVersions (path, version of the text there)
  using TextVersions = std::vector<std::pair<std::vector<std::string>, crdt::VersionVector>>;
  struct TextMark {
    crdt::VersionVector applied;
    TextVersions texts;
    uint64_t at_ms = 0;
  };
  struct TextMarks {
    std::string collection, key;
    std::vector<TextMark> marks;          // oldest first
    TextVersions collected;  // what the stored state was collected with
  };
  std::vector<TextMarks> text_marks_;
  uint64_t marks_failed_batches_ = 0;
  void CollectAndMark(WriteTxn& txn, const std::string& collection, const std::string& key, bool collect,
                      crdt::DocCrdt& doc, const crdt::Dot& change);
  std::atomic<uint64_t> text_tombstones_collected_{0};
  std::unique_ptr<Stability> stability_;
  uint64_t defs_loaded_ = 0;  // TxnState::definitions of the loaded copy

  std::unique_ptr<Replicator> replicator_;
  std::atomic<bool> clock_refusing_{false};
  // What each peer said it had at its last pull from us (outbound lag).
  mutable std::mutex large_mu_;
  std::set<std::string> large_collections_;  // collections TryGet leaves to threads
  mutable std::mutex peers_mu_;
  std::map<crdt::RegionId, crdt::VersionVector> peer_have_;
};

// Validation shared by the node and the HTTP layer.
crdt::Status ValidateCollectionName(const std::string& name);
crdt::Status ValidateKey(const std::string& key);
// Opaque version token of a document state (a hash of its causal context).
std::string VersionToken(const crdt::VersionVector& ctx);

}  // namespace region
