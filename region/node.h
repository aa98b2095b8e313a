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
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "crdt/status.h"
#include "region/clock.h"
#include "region/store.h"
#include "region/types.h"
#include "region/writer.h"

namespace region {
namespace internal {
class ReadPool;
}

struct NodeOptions {
  crdt::RegionId region;
  std::string data_dir;                  // created if missing; holds meridian.db
  Durability durability = Durability::kFull;
  int max_batch = 1024;                  // 1: one transaction per write (group commit off)
  int read_connections = 8;
  Clock* clock = nullptr;                // not owned; nullptr: the system clock
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
  int64_t last_lsn = 0;
  crdt::Hlc hlc;
  crdt::VersionVector applied;
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

  const crdt::RegionId& region() const { return options_.region; }

  // Documents. Put replaces the document (a JSON object); Patch applies an RFC 7396 merge
  // patch (an object) field by field, creating the document if absent; Delete leaves a
  // tombstone (not-found if there is no live document).
  crdt::Result<WriteAck> Put(const WriteRequest& request);
  crdt::Result<WriteAck> Patch(const WriteRequest& request);
  crdt::Result<WriteAck> Delete(const WriteRequest& request);
  crdt::Result<Document> Get(const std::string& collection, const std::string& key);
  // Live documents with key > after and starting with prefix, in key order; limit 1..1000.
  crdt::Result<DocPage> List(const std::string& collection, const std::string& prefix,
                             const std::string& after, int limit);

  // Collections. Definitions are JSON objects {"policy": "lww"}.
  crdt::Result<CollectionInfo> DefineCollection(const std::string& name, const std::string& definition);
  crdt::Result<std::vector<CollectionInfo>> Collections();

  // Change log after position `since`, waiting up to wait_ms for the first new change.
  crdt::Result<ChangePage> Changes(int64_t since, int limit, int wait_ms);

  // Waits until this region has applied everything `session` names (a token from a write at
  // any region). Unavailable("session-not-caught-up") after timeout_ms.
  crdt::Status WaitForSession(const crdt::VersionVector& session, int timeout_ms);

  crdt::Result<DigestInfo> Digest();
  NodeStats Stats() const;
  crdt::Hlc CurrentHlc() const { return hlc_->Last(); }

 private:
  explicit Node(NodeOptions options);
  crdt::Status Init();
  crdt::Result<WriteAck> RunDocWrite(const WriteRequest& request, ChangeKind kind);
  void OnCommit(const TxnState& state);

  NodeOptions options_;
  SystemClock system_clock_;
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
};

// Validation shared by the node and the HTTP layer.
crdt::Status ValidateCollectionName(const std::string& name);
crdt::Status ValidateKey(const std::string& key);
// Opaque version token of a document state (a hash of its causal context).
std::string VersionToken(const crdt::VersionVector& ctx);

}  // namespace region
