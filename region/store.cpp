#include "region/store.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>
#include <sqlite3.h>

#include "region/internal/wal_vfs.h"

namespace region {

using crdt::Result;
using crdt::Status;
using internal::Db;
using internal::Stmt;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS collections(
  name TEXT PRIMARY KEY, def TEXT NOT NULL, hlc INTEGER NOT NULL, origin TEXT NOT NULL,
  seq INTEGER NOT NULL, lsn INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs(
  collection TEXT NOT NULL, key TEXT NOT NULL, value TEXT, hlc INTEGER NOT NULL,
  origin TEXT NOT NULL, seq INTEGER NOT NULL, ctx TEXT NOT NULL, state TEXT,
  lsn INTEGER NOT NULL, PRIMARY KEY(collection, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes(
  lsn INTEGER PRIMARY KEY, origin TEXT NOT NULL, seq INTEGER NOT NULL, hlc INTEGER NOT NULL,
  collection TEXT NOT NULL, key TEXT NOT NULL, kind INTEGER NOT NULL, ctx TEXT NOT NULL,
  body TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS changes_dot ON changes(origin, seq);
CREATE TABLE IF NOT EXISTS applied(origin TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conflicts(
  id INTEGER PRIMARY KEY, collection TEXT NOT NULL, key TEXT NOT NULL, detected_at INTEGER NOT NULL,
  policy TEXT NOT NULL, versions TEXT NOT NULL, outcome TEXT NOT NULL, status TEXT NOT NULL,
  resolution TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS conflicts_doc ON conflicts(collection, key);
CREATE TABLE IF NOT EXISTS crdt_docs(
  collection TEXT NOT NULL, key TEXT NOT NULL, value TEXT, hlc INTEGER NOT NULL,
  origin TEXT NOT NULL, seq INTEGER NOT NULL, ctx TEXT NOT NULL, state TEXT,
  lsn INTEGER NOT NULL, PRIMARY KEY(collection, key)) WITHOUT ROWID;
-- Deleted crdt documents (rows without a value): counted by /metrics, found by a purge.
CREATE INDEX IF NOT EXISTS crdt_docs_deleted ON crdt_docs(collection, key) WHERE value IS NULL;
CREATE TABLE IF NOT EXISTS crdt_states(
  collection TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY(collection, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS crdt_deltas(
  collection TEXT NOT NULL, key TEXT NOT NULL, lsn INTEGER NOT NULL,
  PRIMARY KEY(collection, key, lsn)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency(
  key TEXT PRIMARY KEY, request TEXT NOT NULL, response TEXT NOT NULL, at INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(k, v) VALUES('schema', 1);
)sql";

// Databases written before crdt states had their own table: moved once, at the first open.
constexpr const char* kMoveCrdtStates = R"sql(
INSERT OR IGNORE INTO crdt_states(collection, key, state)
  SELECT collection, key, state FROM crdt_docs WHERE state IS NOT NULL;
UPDATE crdt_docs SET state = NULL WHERE state IS NOT NULL;
INSERT OR REPLACE INTO meta(k, v) VALUES('crdt_states', 1);
)sql";

const char* DurabilityPragma(Durability d) {
  switch (d) {
    case Durability::kFull: return "PRAGMA synchronous=FULL;";
    case Durability::kNormal: return "PRAGMA synchronous=NORMAL;";
    case Durability::kOff: return "PRAGMA synchronous=OFF;";
  }
  return "PRAGMA synchronous=FULL;";
}

// Smallest string greater than every string that starts with `prefix`; empty when none.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

Result<crdt::RegionId> ColumnRegion(const Stmt& s, int col) {
  auto r = crdt::RegionId::Parse(s.TextView(col));
  if (!r.ok()) return Status::Internal("stored region id is invalid: " + s.Text(col));
  return r;
}

Result<DocRow> ReadDocRow(const Stmt& s, int first) {
  DocRow row;
  if (!s.IsNull(first)) row.value = s.Text(first);
  row.hlc = crdt::Hlc::FromPacked(static_cast<uint64_t>(s.Int(first + 1)));
  auto origin = ColumnRegion(s, first + 2);
  if (!origin.ok()) return origin.status();
  row.dot = {std::move(origin).value(), static_cast<uint64_t>(s.Int(first + 3))};
  auto ctx = crdt::VersionVector::Decode(s.TextView(first + 4));
  if (!ctx.ok()) return Status::Internal("stored context is invalid: " + ctx.status().message());
  row.ctx = std::move(ctx).value();
  if (!s.IsNull(first + 5)) row.state = s.Text(first + 5);
  row.lsn = s.Int(first + 6);
  return row;
}

Result<Change> ReadChange(const Stmt& s) {
  Change c;
  c.lsn = s.Int(0);
  auto origin = ColumnRegion(s, 1);
  if (!origin.ok()) return origin.status();
  c.dot = {std::move(origin).value(), static_cast<uint64_t>(s.Int(2))};
  c.hlc = crdt::Hlc::FromPacked(static_cast<uint64_t>(s.Int(3)));
  c.collection = s.Text(4);
  c.key = s.Text(5);
  c.kind = static_cast<ChangeKind>(s.Int(6));
  auto ctx = crdt::VersionVector::Decode(s.TextView(7));
  if (!ctx.ok()) return Status::Internal("stored change context is invalid");
  c.ctx = std::move(ctx).value();
  c.body = s.Text(8);
  return c;
}

// Every change a bound statement yields (ReadChange's columns); the statement is reset.
Result<std::vector<Change>> ReadChanges(Stmt& s) {
  std::vector<Change> out;
  size_t bytes = 0;
  while (true) {
    if (bytes >= kMaxPageBytes) {
      s.Reset();
      return out;
    }
    auto row = s.Step();
    if (!row.ok() || !*row) {
      s.Reset();
      if (!row.ok()) return row.status();
      return out;
    }
    auto c = ReadChange(s);
    if (!c.ok()) {
      s.Reset();
      return c.status();
    }
    bytes += c->body.size();
    out.push_back(std::move(c).value());
  }
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, bool writer, Durability durability) {
  // The writer's WAL appends are coalesced into one write per commit (see wal_vfs.h).
  // Readers through a pass-through shim: a failed fsync of the database file (their
  // checkpoint when the last connection closes) stops the process too (wal_vfs.h).
  auto db = Db::Open(path, writer ? internal::CoalescingWalVfsName() : internal::CheckedSyncVfsName());
  if (!db.ok()) return db.status();
  std::unique_ptr<Store> store(new Store(std::move(db).value()));
  store->path_ = path;
  store->durability_ = durability;
  Db& d = store->db();
  MERIDIAN_RETURN_IF_ERROR(d.Exec("PRAGMA journal_mode=WAL;"));
  MERIDIAN_RETURN_IF_ERROR(d.Exec(DurabilityPragma(durability)));
  store->synchronous_ = durability;
  MERIDIAN_RETURN_IF_ERROR(d.Exec("PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"));
  if (writer) {
    // Checkpoint every 4000 pages (16 MB) instead of SQLite's 1000: pages written many
    // times between two checkpoints are copied once. The writer normally hands its
    // checkpoints to a thread of its own instead (internal/checkpointer.h).
    MERIDIAN_RETURN_IF_ERROR(d.Exec("PRAGMA wal_autocheckpoint=4000;"));
    MERIDIAN_RETURN_IF_ERROR(d.Exec(kSchema));
  }
  MERIDIAN_RETURN_IF_ERROR(store->Prepare());
  if (writer) {
    auto moved = store->GetMeta("crdt_states");
    if (!moved.ok()) return moved.status();
    if (!*moved) MERIDIAN_RETURN_IF_ERROR(d.Exec(kMoveCrdtStates));
  }
  return store;
}

Status Store::Prepare() {
  struct Item {
    Stmt* stmt;
    const char* sql;
  };
  const Item items[] = {
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&get_meta_, "SELECT v FROM meta WHERE k = ?1"},
      {&set_meta_, "INSERT INTO meta(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v"},
      {&load_doc_,
       "SELECT value, hlc, origin, seq, ctx, state, lsn FROM docs WHERE collection = ?1 AND key = ?2"},
      {&save_doc_,
       "INSERT INTO docs(collection, key, value, hlc, origin, seq, ctx, state, lsn) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(collection, key) DO UPDATE SET "
       "value = excluded.value, hlc = excluded.hlc, origin = excluded.origin, seq = excluded.seq, "
       "ctx = excluded.ctx, state = excluded.state, lsn = excluded.lsn"},
      {&list_docs_,
       "SELECT key, value, hlc, origin, seq, ctx, state, lsn FROM docs WHERE collection = ?1 "
       "AND key > ?2 AND key >= ?3 AND (?4 IS NULL OR key < ?4) AND value IS NOT NULL "
       "ORDER BY key LIMIT ?5"},
      {&count_docs_,
       "SELECT (SELECT count(*) FROM docs WHERE value IS NOT NULL) + "
       "(SELECT count(*) FROM crdt_docs WHERE value IS NOT NULL)"},
      {&load_crdt_,
       "SELECT d.value, d.hlc, d.origin, d.seq, d.ctx, s.state, d.lsn FROM crdt_docs d LEFT JOIN crdt_states s "
       "ON s.collection = d.collection AND s.key = d.key WHERE d.collection = ?1 AND d.key = ?2"},
      // A crdt document's state lives in its own table: a write that leaves it as it is
      // (crdt_deltas) does not rewrite megabytes of it with the row.
      {&save_crdt_state_,
       "INSERT INTO crdt_states(collection, key, state) VALUES(?1, ?2, ?3) ON CONFLICT(collection, key) "
       "DO UPDATE SET state = excluded.state"},
      {&clear_crdt_state_, "DELETE FROM crdt_states WHERE collection = ?1 AND key = ?2"},
      {&save_crdt_,
       "INSERT INTO crdt_docs(collection, key, value, hlc, origin, seq, ctx, state, lsn) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?9) ON CONFLICT(collection, key) DO UPDATE SET "
       "value = excluded.value, hlc = excluded.hlc, origin = excluded.origin, seq = excluded.seq, "
       "ctx = excluded.ctx, lsn = excluded.lsn"},  // ?8, the state, goes to crdt_states
      {&list_crdt_,
       "SELECT key, value, hlc, origin, seq, ctx, NULL, lsn FROM crdt_docs WHERE collection = ?1 "
       "AND key > ?2 AND key >= ?3 AND (?4 IS NULL OR key < ?4) AND value IS NOT NULL "
       "ORDER BY key LIMIT ?5"},
      {&save_crdt_lazy_,
       "UPDATE crdt_docs SET value = ?3, hlc = ?4, origin = ?5, seq = ?6, ctx = ?7, lsn = ?9 "
       "WHERE collection = ?1 AND key = ?2"},  // ?8 (the state) is bound and unused
      {&add_crdt_delta_, "INSERT OR IGNORE INTO crdt_deltas(collection, key, lsn) VALUES(?1, ?2, ?3)"},
      {&crdt_deltas_,
       "SELECT c.lsn, c.origin, c.seq, c.hlc, c.collection, c.key, c.kind, c.ctx, c.body FROM crdt_deltas d "
       "JOIN changes c ON c.lsn = d.lsn WHERE d.collection = ?1 AND d.key = ?2 ORDER BY d.lsn"},
      {&clear_crdt_deltas_, "DELETE FROM crdt_deltas WHERE collection = ?1 AND key = ?2"},
      // A crdt document's stored state is a snapshot some changes behind (crdt_deltas): the
      // causal context and the value stand for it (equal contexts mean equal states).
      {&digest_crdt_rows_,
       "SELECT collection, key, coalesce(value, ''), value IS NULL, hlc, origin, seq, ctx, "
       "'' FROM crdt_docs ORDER BY collection, key"},
      {&empty_crdt_,
       "SELECT d.collection, d.key, d.ctx FROM crdt_docs d WHERE d.value IS NULL AND NOT EXISTS("
       "SELECT 1 FROM crdt_states s WHERE s.collection = d.collection AND s.key = d.key)"},
      {&delete_crdt_, "DELETE FROM crdt_docs WHERE collection = ?1 AND key = ?2"},
      {&count_empty_crdt_, "SELECT count(*) FROM crdt_docs WHERE value IS NULL"},
      {&get_idem_, "SELECT request, response FROM idempotency WHERE key = ?1"},
      {&put_idem_, "INSERT OR REPLACE INTO idempotency(key, request, response, at) VALUES(?1, ?2, ?3, ?4)"},
      {&expire_idem_, "DELETE FROM idempotency WHERE at < ?1"},
      {&has_docs_,
       "SELECT EXISTS(SELECT 1 FROM docs WHERE collection = ?1) OR "
       "EXISTS(SELECT 1 FROM crdt_docs WHERE collection = ?1)"},
      {&append_change_,
       "INSERT INTO changes(lsn, origin, seq, hlc, collection, key, kind, ctx, body) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"},
      {&changes_since_,
       "SELECT lsn, origin, seq, hlc, collection, key, kind, ctx, body FROM changes "
       "WHERE lsn > ?1 ORDER BY lsn LIMIT ?2"},
      {&max_lsn_, "SELECT coalesce(max(lsn), 0) FROM changes"},
      {&max_seq_, "SELECT coalesce(max(seq), 0) FROM changes WHERE origin = ?1"},
      {&lsn_of_, "SELECT lsn FROM changes WHERE origin = ?1 AND seq = ?2"},
      {&change_of_,
       "SELECT lsn, origin, seq, hlc, collection, key, kind, ctx, body FROM changes WHERE origin = ?1 AND seq = ?2"},
      {&insert_conflict_,
       "INSERT INTO conflicts(collection, key, detected_at, policy, versions, outcome, status) "
       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
      {&get_conflict_,
       "SELECT id, collection, key, detected_at, policy, versions, outcome, status, resolution FROM conflicts "
       "WHERE id = ?1"},
      {&list_conflicts_,
       "SELECT id, collection, key, detected_at, policy, versions, outcome, status, resolution FROM conflicts "
       "WHERE id > ?1 AND detected_at >= ?2 AND (?3 = '' OR collection = ?3) AND (?4 = '' OR key = ?4) "
       "AND (?5 = '' OR status = ?5) ORDER BY id LIMIT ?6"},
      {&resolve_conflict_, "UPDATE conflicts SET status = ?2, resolution = ?3 WHERE id = ?1"},
      {&count_conflicts_, "SELECT count(*) FROM conflicts"},
      {&supersede_conflicts_,
       "UPDATE conflicts SET status = 'resolved', resolution = ?3 "
       "WHERE collection = ?1 AND key = ?2 AND status = 'needs-attention'"},
      {&load_applied_, "SELECT origin, seq FROM applied ORDER BY origin"},
      {&save_applied_,
       "INSERT INTO applied(origin, seq) VALUES(?1, ?2) "
       "ON CONFLICT(origin) DO UPDATE SET seq = max(seq, excluded.seq)"},
      {&load_collections_, "SELECT name, def, hlc, origin, seq FROM collections ORDER BY name"},
      {&save_collection_,
       "INSERT INTO collections(name, def, hlc, origin, seq, lsn) VALUES(?1, ?2, ?3, ?4, ?5, ?6) "
       "ON CONFLICT(name) DO UPDATE SET def = excluded.def, hlc = excluded.hlc, "
       "origin = excluded.origin, seq = excluded.seq, lsn = excluded.lsn"},
      {&implicit_collections_,
       "SELECT DISTINCT collection FROM docs WHERE collection NOT IN (SELECT name FROM collections) "
       "UNION SELECT DISTINCT collection FROM crdt_docs WHERE collection NOT IN (SELECT name FROM collections) "
       "ORDER BY 1"},
      {&digest_rows_,
       "SELECT collection, key, coalesce(value, ''), value IS NULL, hlc, origin, seq, ctx, "
       "coalesce(state, '') FROM docs ORDER BY collection, key"},
  };
  for (const auto& item : items) {
    auto s = db_->Prepare(item.sql);
    if (!s.ok()) return s.status();
    *item.stmt = std::move(s).value();
  }
  return Status::Ok();
}

Status Store::SetSynchronous(Durability d) {
  if (synchronous_ == d) return Status::Ok();
  MERIDIAN_RETURN_IF_ERROR(db_->Exec(DurabilityPragma(d)));
  synchronous_ = d;
  return Status::Ok();
}

Status Store::Begin() { return begin_.Run(); }
Status Store::Commit() {
  Status s = commit_.Run();
  // Some I/O errors in COMMIT come after the log frames reached the disk (a failed fsync of
  // the WAL, a wal-index that cannot grow): the next start's recovery may find the batch
  // committed. Answering "rolled back" could be false, and going on would give its sequence
  // numbers to other writes. Stop; the restart's recovery decides what committed.
  const int code = s.ok() ? SQLITE_OK : sqlite3_extended_errcode(db().raw());
  // (A failed write of the frames is a clean rollback: the commit frame is their last.)
  if (code == SQLITE_IOERR_FSYNC || code == SQLITE_IOERR_DIR_FSYNC || code == SQLITE_IOERR_SHMSIZE ||
      code == SQLITE_IOERR_SHMMAP || code == SQLITE_IOERR_SHMOPEN || code == SQLITE_IOERR_SHMLOCK) {
    std::fprintf(stderr,
                 "meridian: fatal: a commit failed with an I/O error (%s) after its log may have reached the disk. "
                 "Stopping: whether that batch committed is decided by SQLite's recovery at the next start (its "
                 "writes were not acknowledged). Check the disk (dmesg, df); do not delete the -wal or -shm files.\n",
                 s.message().c_str());
    std::abort();
  }
  return s;
}
void Store::Rollback() { (void)rollback_.Run(); }

Result<std::optional<std::string>> Store::GetMeta(const std::string& k) {
  get_meta_.Bind(1, k);
  auto row = get_meta_.Step();
  if (!row.ok()) return row.status();
  std::optional<std::string> out;
  if (*row) out = get_meta_.Text(0);
  get_meta_.Reset();
  return out;
}

Result<std::optional<crdt::VersionVector>> Store::GetVectorMeta(const std::string& k) {
  auto text = GetMeta(k);
  if (!text.ok()) return text.status();
  if (!*text) return std::optional<crdt::VersionVector>();
  auto vv = crdt::VersionVector::Decode(**text);
  if (!vv.ok()) return Status::Internal("stored " + k + " vector is corrupt: " + vv.status().message());
  return std::optional<crdt::VersionVector>(std::move(vv).value());
}

Status Store::SetMeta(const std::string& k, const std::string& v) {
  return set_meta_.Bind(1, k).Bind(2, v).Run();
}

namespace {
Result<std::optional<DocRow>> LoadRow(Stmt& stmt, const std::string& collection, const std::string& key) {
  stmt.Bind(1, collection).Bind(2, key);
  auto row = stmt.Step();
  if (!row.ok()) return row.status();
  std::optional<DocRow> out;
  if (*row) {
    auto doc = ReadDocRow(stmt, 0);
    if (!doc.ok()) {
      stmt.Reset();
      return doc.status();
    }
    out = std::move(doc).value();
  }
  stmt.Reset();
  return out;
}

Status SaveRow(Stmt& stmt, const std::string& collection, const std::string& key, const DocRow& row) {
  return stmt.Bind(1, collection)
      .Bind(2, key)
      .Bind(3, row.value)
      .Bind(4, static_cast<int64_t>(row.hlc.packed()))
      .Bind(5, row.dot.origin.str())
      .Bind(6, static_cast<int64_t>(row.dot.seq))
      .Bind(7, row.ctx.Encode())
      .Bind(8, row.state)
      .Bind(9, row.lsn)
      .Run();
}

Result<std::vector<std::pair<std::string, DocRow>>> ListRows(Stmt& stmt, const std::string& collection,
                                                              const std::string& prefix, const std::string& after,
                                                              int limit, bool* cut) {
  const std::string end = PrefixEnd(prefix);
  stmt.Bind(1, collection).Bind(2, after).Bind(3, prefix).Bind(5, int64_t{limit});
  if (end.empty()) {
    stmt.BindNull(4);
  } else {
    stmt.Bind(4, end);
  }
  std::vector<std::pair<std::string, DocRow>> out;
  size_t bytes = 0;
  if (cut) *cut = false;
  while (true) {
    if (bytes >= kMaxPageBytes) {
      if (cut) *cut = true;
      break;
    }
    auto row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto doc = ReadDocRow(stmt, 1);
    if (!doc.ok()) {
      stmt.Reset();
      return doc.status();
    }
    bytes += (doc->value ? doc->value->size() : 0) + (doc->state ? doc->state->size() : 0);
    out.emplace_back(stmt.Text(0), std::move(doc).value());
  }
  stmt.Reset();
  return out;
}
}  // namespace

Result<std::optional<DocRow>> Store::LoadDoc(const std::string& collection, const std::string& key) {
  return LoadRow(load_doc_, collection, key);
}

Status Store::SaveDoc(const std::string& collection, const std::string& key, const DocRow& row) {
  return SaveRow(save_doc_, collection, key, row);
}

Result<std::optional<DocRow>> Store::LoadCrdtDoc(const std::string& collection, const std::string& key) {
  return LoadRow(load_crdt_, collection, key);
}

Status Store::SaveCrdtDoc(const std::string& collection, const std::string& key, const DocRow& row) {
  MERIDIAN_RETURN_IF_ERROR(SaveRow(save_crdt_, collection, key, row));
  if (row.state) return save_crdt_state_.Bind(1, collection).Bind(2, key).Bind(3, *row.state).Run();
  return clear_crdt_state_.Bind(1, collection).Bind(2, key).Run();
}

Status Store::SaveCrdtDocKeepingState(const std::string& collection, const std::string& key, const DocRow& row,
                                      int64_t delta_lsn) {
  DocRow without = row;
  without.state.reset();
  MERIDIAN_RETURN_IF_ERROR(SaveRow(save_crdt_lazy_, collection, key, without));
  return add_crdt_delta_.Bind(1, collection).Bind(2, key).Bind(3, delta_lsn).Run();
}

Result<std::vector<Change>> Store::CrdtDeltas(const std::string& collection, const std::string& key) {
  crdt_deltas_.Bind(1, collection).Bind(2, key);
  return ReadChanges(crdt_deltas_);
}

Status Store::ClearCrdtDeltas(const std::string& collection, const std::string& key) {
  return clear_crdt_deltas_.Bind(1, collection).Bind(2, key).Run();
}

Result<std::vector<Store::EmptyCrdtRow>> Store::EmptyCrdtDocs() {
  std::vector<EmptyCrdtRow> out;
  while (true) {
    auto row = empty_crdt_.Step();
    if (!row.ok()) {
      empty_crdt_.Reset();
      return row.status();
    }
    if (!*row) break;
    auto ctx = crdt::VersionVector::Decode(empty_crdt_.TextView(2));
    if (!ctx.ok()) {
      empty_crdt_.Reset();
      return Status::Internal("stored causal context is corrupt");
    }
    out.push_back({empty_crdt_.Text(0), empty_crdt_.Text(1), std::move(ctx).value()});
  }
  empty_crdt_.Reset();
  return out;
}

Status Store::DeleteCrdtDoc(const std::string& collection, const std::string& key) {
  MERIDIAN_RETURN_IF_ERROR(clear_crdt_state_.Bind(1, collection).Bind(2, key).Run());
  MERIDIAN_RETURN_IF_ERROR(clear_crdt_deltas_.Bind(1, collection).Bind(2, key).Run());
  return delete_crdt_.Bind(1, collection).Bind(2, key).Run();
}

Result<std::vector<std::pair<std::string, DocRow>>> Store::ListCrdtDocs(const std::string& collection,
                                                                       const std::string& prefix,
                                                                       const std::string& after, int limit,
                                                                       bool* cut) {
  return ListRows(list_crdt_, collection, prefix, after, limit, cut);
}

Result<std::optional<std::pair<std::string, std::string>>> Store::GetIdempotent(const std::string& key) {
  get_idem_.Bind(1, key);
  auto row = get_idem_.Step();
  if (!row.ok()) return row.status();
  std::optional<std::pair<std::string, std::string>> out;
  if (*row) out = std::make_pair(get_idem_.Text(0), get_idem_.Text(1));
  get_idem_.Reset();
  return out;
}

Status Store::PutIdempotent(const std::string& key, const std::string& request, const std::string& response,
                            int64_t at_ms) {
  return put_idem_.Bind(1, key).Bind(2, request).Bind(3, response).Bind(4, at_ms).Run();
}

Status Store::ExpireIdempotent(int64_t before_ms) { return expire_idem_.Bind(1, before_ms).Run(); }

Result<std::vector<std::pair<std::string, DocRow>>> Store::ListDocs(const std::string& collection,
                                                                   const std::string& prefix,
                                                                   const std::string& after, int limit,
                                                                   bool* cut) {
  return ListRows(list_docs_, collection, prefix, after, limit, cut);
}

namespace {
Result<int64_t> ScalarInt(Stmt& stmt) {
  auto row = stmt.Step();
  if (!row.ok()) return row.status();
  const int64_t v = *row ? stmt.Int(0) : 0;
  stmt.Reset();
  return v;
}
}  // namespace

Result<int64_t> Store::CountLiveDocs() { return ScalarInt(count_docs_); }
Result<int64_t> Store::MaxLsn() { return ScalarInt(max_lsn_); }

Result<uint64_t> Store::MaxSeq(const crdt::RegionId& origin) {
  max_seq_.Bind(1, origin.str());
  auto v = ScalarInt(max_seq_);
  if (!v.ok()) return v.status();
  return static_cast<uint64_t>(*v);
}

Result<std::optional<int64_t>> Store::LsnOf(const crdt::Dot& dot) {
  lsn_of_.Bind(1, dot.origin.str()).Bind(2, static_cast<int64_t>(dot.seq));
  auto row = lsn_of_.Step();
  if (!row.ok()) return row.status();
  std::optional<int64_t> out;
  if (*row) out = lsn_of_.Int(0);
  lsn_of_.Reset();
  return out;
}

Result<std::optional<Change>> Store::ChangeOf(const crdt::Dot& dot) {
  change_of_.Bind(1, dot.origin.str()).Bind(2, static_cast<int64_t>(dot.seq));
  auto row = change_of_.Step();
  if (!row.ok()) return row.status();
  std::optional<Change> out;
  if (*row) {
    auto c = ReadChange(change_of_);
    if (!c.ok()) {
      change_of_.Reset();
      return c.status();
    }
    out = std::move(c).value();
  }
  change_of_.Reset();
  return out;
}

namespace {
ConflictRow ReadConflict(const Stmt& s) {
  return ConflictRow{s.Int(0),  s.Text(1), s.Text(2), s.Int(3), s.Text(4),
                     s.Text(5), s.Text(6), s.Text(7), s.Text(8)};
}
}  // namespace

Result<int64_t> Store::InsertConflict(const ConflictRow& r) {
  MERIDIAN_RETURN_IF_ERROR(insert_conflict_.Bind(1, r.collection)
                               .Bind(2, r.key)
                               .Bind(3, r.detected_at)
                               .Bind(4, r.policy)
                               .Bind(5, r.versions)
                               .Bind(6, r.outcome)
                               .Bind(7, r.status)
                               .Run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_->raw()));
}

Result<std::optional<ConflictRow>> Store::GetConflict(int64_t id) {
  get_conflict_.Bind(1, id);
  auto row = get_conflict_.Step();
  if (!row.ok()) return row.status();
  std::optional<ConflictRow> out;
  if (*row) out = ReadConflict(get_conflict_);
  get_conflict_.Reset();
  return out;
}

Result<std::vector<ConflictRow>> Store::ListConflicts(const ConflictFilter& f) {
  list_conflicts_.Bind(1, f.after)
      .Bind(2, f.since)
      .Bind(3, f.collection)
      .Bind(4, f.key)
      .Bind(5, f.status)
      .Bind(6, int64_t{f.limit});
  std::vector<ConflictRow> out;
  while (true) {
    auto row = list_conflicts_.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(ReadConflict(list_conflicts_));
  }
  list_conflicts_.Reset();
  return out;
}

Status Store::ResolveConflict(int64_t id, const std::string& status, const std::string& resolution) {
  return resolve_conflict_.Bind(1, id).Bind(2, status).Bind(3, resolution).Run();
}

Result<int64_t> Store::CountConflicts() { return ScalarInt(count_conflicts_); }

Result<int64_t> Store::CountEmptyCrdtDocs() { return ScalarInt(count_empty_crdt_); }

Status Store::SupersedeConflicts(const std::string& collection, const std::string& key,
                                 const std::string& resolution) {
  return supersede_conflicts_.Bind(1, collection).Bind(2, key).Bind(3, resolution).Run();
}

Result<bool> Store::HasDocs(const std::string& collection) {
  has_docs_.Bind(1, collection);
  auto v = ScalarInt(has_docs_);
  if (!v.ok()) return v.status();
  return *v != 0;
}

Status Store::AppendChange(const Change& c) {
  return append_change_.Bind(1, c.lsn)
      .Bind(2, c.dot.origin.str())
      .Bind(3, static_cast<int64_t>(c.dot.seq))
      .Bind(4, static_cast<int64_t>(c.hlc.packed()))
      .Bind(5, c.collection)
      .Bind(6, c.key)
      .Bind(7, static_cast<int64_t>(c.kind))
      .Bind(8, c.ctx.Encode())
      .Bind(9, c.body)
      .Run();
}

Result<std::vector<Change>> Store::ChangesSince(int64_t since, int limit) {
  changes_since_.Bind(1, since).Bind(2, int64_t{limit});
  return ReadChanges(changes_since_);
}

Result<crdt::VersionVector> Store::LoadApplied() {
  crdt::VersionVector vv;
  while (true) {
    auto row = load_applied_.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto origin = ColumnRegion(load_applied_, 0);
    if (!origin.ok()) {
      load_applied_.Reset();
      return origin.status();
    }
    vv.Advance(*origin, static_cast<uint64_t>(load_applied_.Int(1)));
  }
  load_applied_.Reset();
  return vv;
}

Status Store::SaveApplied(const crdt::RegionId& origin, uint64_t seq) {
  return save_applied_.Bind(1, origin.str()).Bind(2, static_cast<int64_t>(seq)).Run();
}

Result<std::vector<CollectionRow>> Store::LoadCollections() {
  std::vector<CollectionRow> out;
  while (true) {
    auto row = load_collections_.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto origin = ColumnRegion(load_collections_, 3);
    if (!origin.ok()) {
      load_collections_.Reset();
      return origin.status();
    }
    out.push_back({load_collections_.Text(0), load_collections_.Text(1),
                   {std::move(origin).value(), static_cast<uint64_t>(load_collections_.Int(4))},
                   crdt::Hlc::FromPacked(static_cast<uint64_t>(load_collections_.Int(2)))});
  }
  load_collections_.Reset();
  return out;
}

Status Store::SaveCollection(const CollectionRow& row, int64_t lsn) {
  return save_collection_.Bind(1, row.name)
      .Bind(2, row.def)
      .Bind(3, static_cast<int64_t>(row.hlc.packed()))
      .Bind(4, row.dot.origin.str())
      .Bind(5, static_cast<int64_t>(row.dot.seq))
      .Bind(6, lsn)
      .Run();
}

Result<std::vector<std::string>> Store::ImplicitCollections() {
  std::vector<std::string> out;
  while (true) {
    auto row = implicit_collections_.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(implicit_collections_.Text(0));
  }
  implicit_collections_.Reset();
  return out;
}

Result<Store::Digests> Store::ComputeDigests(const crdt::VersionVector& purged) {
  // Per collection: its definition first (if any), then its rows in key order.
  auto defs = LoadCollections();
  if (!defs.ok()) return defs.status();
  std::map<std::string, std::unique_ptr<Poco::SHA2Engine>> per;
  auto engine = [&](const std::string& c) -> Poco::SHA2Engine& {
    auto& e = per[c];
    if (!e) e = std::make_unique<Poco::SHA2Engine>(Poco::SHA2Engine::SHA_256);
    return *e;
  };
  auto field = [](Poco::SHA2Engine& e, std::string_view bytes) {
    const std::string len = std::to_string(bytes.size()) + ":";
    e.update(len.data(), len.size());
    e.update(bytes.data(), bytes.size());
  };
  for (const auto& d : *defs) {
    auto& e = engine(d.name);
    field(e, "def");
    field(e, d.def);
    field(e, d.hlc.ToString());
    field(e, d.dot.ToString());
  }
  for (Stmt* rows : {&digest_rows_, &digest_crdt_rows_}) {
    const std::string_view table = rows == &digest_rows_ ? "docs" : "crdt";
    while (true) {
      auto row = rows->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto& e = engine(rows->Text(0));
      field(e, table);
      for (int col = 1; col <= 8; ++col) {
        if (col == 7 && rows == &digest_crdt_rows_ && !purged.empty()) {
          // What was purged is in every context, whenever each row was written.
          auto ctx = crdt::VersionVector::Decode(rows->TextView(col));
          if (!ctx.ok()) {
            rows->Reset();
            return Status::Internal("stored causal context is corrupt");
          }
          ctx->Join(purged);
          field(e, ctx->Encode());
          continue;
        }
        field(e, rows->TextView(col));
      }
    }
    rows->Reset();
  }
  Digests out;
  Poco::SHA2Engine all(Poco::SHA2Engine::SHA_256);
  for (auto& [name, e] : per) {
    std::string hex = Poco::DigestEngine::digestToHex(e->digest());
    field(all, name);
    field(all, hex);
    out.collections.emplace_back(name, std::move(hex));
  }
  out.all = Poco::DigestEngine::digestToHex(all.digest());
  return out;
}

}  // namespace region
