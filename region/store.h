// Store: one SQLite connection of a region with its prepared statements.
//
// The schema (schema version 1):
//   meta(k TEXT PRIMARY KEY, v)                 region, schema, hlc_hwm (largest HLC seen)
//   collections(name PRIMARY KEY, def, hlc, origin, seq, lsn)
//                                               def: JSON {"policy": ..., ...}; LWW by (hlc, origin)
//   docs(collection, key, value, hlc, origin, seq, ctx, state, lsn)  PRIMARY KEY(collection, key)
//       value  visible JSON text; NULL when deleted (a tombstone)
//       hlc/origin/seq  the winning write of the document's presence
//       ctx    version vector text of every write applied to the document
//       state  conflict::DocState text, or NULL when the state is that one write alone
//       lsn    log position of the last change applied to the document
//   changes(lsn INTEGER PRIMARY KEY, origin, seq, hlc, collection, key, kind, ctx, body)
//       the change log in this region's apply order; UNIQUE(origin, seq)
//   applied(origin PRIMARY KEY, seq)            highest contiguous seq applied per origin
//   conflicts(id INTEGER PRIMARY KEY, collection, key, detected_at, policy, versions, outcome,
//             status, resolution)             the conflict log; versions/outcome/resolution JSON
//   crdt_docs(collection, key, value, hlc, origin, seq, ctx, state, lsn)
//       documents of crdt collections, like docs but `state` is a crdt::DocCrdt (NULL when
//       the document is empty) and hlc/origin/seq name the newest operation applied
//   idempotency(key PRIMARY KEY, request, response, at)
//       answers of ops requests by Idempotency-Key, for retries (kept a day)
//
// A Store is used by one thread at a time: the writer thread owns one, readers borrow one
// each from a pool. Every method returns a Status; none throws.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crdt/hlc.h"
#include "crdt/status.h"
#include "crdt/version_vector.h"
#include "region/internal/sqlite.h"
#include "region/types.h"

namespace region {

enum class Durability { kFull, kNormal, kOff };

struct DocRow {
  std::optional<std::string> value;  // nullopt: deleted
  crdt::Dot dot;
  crdt::Hlc hlc;
  crdt::VersionVector ctx;
  std::optional<std::string> state;
  int64_t lsn = 0;
};

struct ConflictRow {
  int64_t id = 0;
  std::string collection;
  std::string key;
  int64_t detected_at = 0;       // this region's wall clock, ms
  std::string policy;
  std::string versions;          // JSON array
  std::string outcome;           // JSON object
  std::string status;            // "auto", "resolved", "needs-attention"
  std::string resolution;        // JSON object or "" when unresolved
};

struct ConflictFilter {
  std::string collection, key, status;  // empty: any
  int64_t since = 0;                    // detected_at >= since
  int64_t after = 0;                    // id > after
  int limit = 100;
};

struct CollectionRow {
  std::string name;
  std::string def;
  crdt::Dot dot;
  crdt::Hlc hlc;
};

// A page of documents or changes holds at most this many bytes of values (and at least
// one row), so that listing large documents cannot take the memory of the process.
inline constexpr size_t kMaxPageBytes = size_t{8} << 20;

class Store {
 public:
  // Opens the database at `path`, creating the schema if needed. `writer` connections set
  // the durability; readers are opened read-only in spirit (they never write).
  static crdt::Result<std::unique_ptr<Store>> Open(const std::string& path, bool writer,
                                                   Durability durability);

  // The sync mode of the next commits (PRAGMA synchronous); no-op when unchanged.
  crdt::Status SetSynchronous(Durability durability);
  crdt::Status Begin();
  crdt::Status Commit();
  void Rollback();

  // meta
  crdt::Result<std::optional<std::string>> GetMeta(const std::string& k);
  // A version vector stored in meta (Internal when it does not decode).
  crdt::Result<std::optional<crdt::VersionVector>> GetVectorMeta(const std::string& k);
  crdt::Status SetMeta(const std::string& k, const std::string& v);

  // documents
  crdt::Result<std::optional<DocRow>> LoadDoc(const std::string& collection, const std::string& key);
  crdt::Status SaveDoc(const std::string& collection, const std::string& key, const DocRow& row);
  // Live documents with key > after (and starting with prefix), in key order: at most
  // `limit`, and no more once kMaxPageBytes of values are read (then *cut is set).
  crdt::Result<std::vector<std::pair<std::string, DocRow>>> ListDocs(const std::string& collection,
                                                                     const std::string& prefix,
                                                                     const std::string& after, int limit,
                                                                     bool* cut = nullptr);
  crdt::Result<int64_t> CountLiveDocs();

  // documents of crdt collections (same row shape; `value` NULL when empty)
  crdt::Result<std::optional<DocRow>> LoadCrdtDoc(const std::string& collection, const std::string& key);
  crdt::Status SaveCrdtDoc(const std::string& collection, const std::string& key, const DocRow& row);
  // A large document's write that leaves its stored state (a snapshot) as it is and records
  // the change at `delta_lsn` as applied on top of it; the row must exist.
  crdt::Status SaveCrdtDocKeepingState(const std::string& collection, const std::string& key, const DocRow& row,
                                       int64_t delta_lsn);
  // The changes applied on top of the stored state, in apply order (read from the change
  // log: compacting the log must keep the changes named here, or save the states first).
  crdt::Result<std::vector<Change>> CrdtDeltas(const std::string& collection, const std::string& key);
  // After a full state was saved.
  crdt::Status ClearCrdtDeltas(const std::string& collection, const std::string& key);
  crdt::Result<std::vector<std::pair<std::string, DocRow>>> ListCrdtDocs(const std::string& collection,
                                                                         const std::string& prefix,
                                                                         const std::string& after, int limit,
                                                                         bool* cut = nullptr);
  // Deleted crdt documents with no state left: (collection, key, causal context).
  struct EmptyCrdtRow {
    std::string collection, key;
    crdt::VersionVector ctx;
  };
  crdt::Result<std::vector<EmptyCrdtRow>> EmptyCrdtDocs();
  crdt::Status DeleteCrdtDoc(const std::string& collection, const std::string& key);
  crdt::Result<int64_t> CountEmptyCrdtDocs();

  // idempotency keys
  crdt::Result<std::optional<std::pair<std::string, std::string>>> GetIdempotent(const std::string& key);
  crdt::Status PutIdempotent(const std::string& key, const std::string& request, const std::string& response,
                             int64_t at_ms);
  crdt::Status ExpireIdempotent(int64_t before_ms);

  // change log
  crdt::Status AppendChange(const Change& change);
  // Changes with lsn > since, in lsn order, at most `limit`, and no more once kMaxPageBytes
  // of bodies are read.
  crdt::Result<std::vector<Change>> ChangesSince(int64_t since, int limit);
  crdt::Result<int64_t> MaxLsn();
  // Log position of the change `dot`, if this region has it.
  crdt::Result<std::optional<int64_t>> LsnOf(const crdt::Dot& dot);
  crdt::Result<std::optional<Change>> ChangeOf(const crdt::Dot& dot);
  crdt::Result<uint64_t> MaxSeq(const crdt::RegionId& origin);

  // applied vector
  crdt::Result<crdt::VersionVector> LoadApplied();
  crdt::Status SaveApplied(const crdt::RegionId& origin, uint64_t seq);

  // conflict log
  crdt::Result<int64_t> InsertConflict(const ConflictRow& row);
  crdt::Result<std::optional<ConflictRow>> GetConflict(int64_t id);
  crdt::Result<std::vector<ConflictRow>> ListConflicts(const ConflictFilter& filter);
  crdt::Status ResolveConflict(int64_t id, const std::string& status, const std::string& resolution);
  // Marks the document's conflicts that need attention as resolved.
  crdt::Status SupersedeConflicts(const std::string& collection, const std::string& key,
                                  const std::string& resolution);
  crdt::Result<int64_t> CountConflicts();

  // collections
  crdt::Result<std::vector<CollectionRow>> LoadCollections();
  crdt::Status SaveCollection(const CollectionRow& row, int64_t lsn);
  crdt::Result<std::vector<std::string>> ImplicitCollections();
  // Whether any document row (live or not) of `collection` exists.
  crdt::Result<bool> HasDocs(const std::string& collection);

  // SHA-256 over the canonical bytes of every document row (values and merge metadata,
  // tombstones included, log positions excluded) and collection definition, per collection.
  struct Digests {
    std::string all;
    std::vector<std::pair<std::string, std::string>> collections;
  };
  // `purged`: dots dropped from crdt documents' contexts (region/node.h, Purge).
  crdt::Result<Digests> ComputeDigests(const crdt::VersionVector& purged);

  internal::Db& db() { return *db_; }
  const std::string& path() const { return path_; }
  Durability durability() const { return durability_; }

 private:
  explicit Store(std::unique_ptr<internal::Db> db) : db_(std::move(db)) {}
  crdt::Status Prepare();

  std::unique_ptr<internal::Db> db_;
  std::string path_;
  Durability durability_ = Durability::kFull;  // as opened
  Durability synchronous_ = Durability::kFull;
  internal::Stmt begin_, commit_, rollback_;
  internal::Stmt get_meta_, set_meta_;
  internal::Stmt load_doc_, save_doc_, list_docs_, count_docs_;
  internal::Stmt append_change_, changes_since_, max_lsn_, max_seq_, lsn_of_, change_of_;
  internal::Stmt insert_conflict_, get_conflict_, list_conflicts_, resolve_conflict_, count_conflicts_,
      supersede_conflicts_;
  internal::Stmt load_applied_, save_applied_;
  internal::Stmt load_collections_, save_collection_, implicit_collections_, digest_rows_;
  internal::Stmt load_crdt_, save_crdt_, list_crdt_, digest_crdt_rows_;
  internal::Stmt save_crdt_lazy_, add_crdt_delta_, crdt_deltas_, clear_crdt_deltas_, save_crdt_state_,
      clear_crdt_state_, empty_crdt_, delete_crdt_, count_empty_crdt_;
  internal::Stmt get_idem_, put_idem_, expire_idem_, has_docs_;
};

}  // namespace region
