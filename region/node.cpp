#include "region/node.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "conflict/merge.h"
#include "crdt/utf8.h"
#include "region/internal/dir_lock.h"
#include "region/internal/read_pool.h"
#include "region/replicator.h"

namespace region {

using crdt::Result;
using crdt::Status;

namespace {
bool IsAsciiAlnum(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}
}  // namespace

Status ValidateCollectionName(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 64 && IsAsciiAlnum(name[0]) &&
                  std::all_of(name.begin(), name.end(), [](char ch) {
                    return IsAsciiAlnum(ch) || ch == '_' || ch == '-' || ch == '.';
                  });
  if (ok) return Status::Ok();
  return Status::InvalidArgument("invalid-collection",
                                 "collection name must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$");
}

Status ValidateKey(const std::string& key) {
  const bool control = std::any_of(key.begin(), key.end(), [](char ch) {
    return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F;
  });
  if (key.empty() || key.size() > 1024 || control || !crdt::IsValidUtf8(key)) {
    return Status::InvalidArgument("invalid-key",
                                   "document key must be 1-1024 bytes of UTF-8 without control characters");
  }
  return Status::Ok();
}

std::string VersionToken(const crdt::VersionVector& ctx) {
  // FNV-1a 64 over the canonical text: equal contexts give equal tokens on every region.
  uint64_t h = 14695981039346656037ull;
  for (unsigned char ch : ctx.Encode()) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  static const char* kHex = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<size_t>(i)] = kHex[h & 0xF];
  return out;
}

Node::Node(NodeOptions options) : options_(std::move(options)) {
  if (options_.registry) {
    registry_ = options_.registry;
  } else {
    builtin_registry_ = std::make_unique<conflict::Registry>();
    registry_ = builtin_registry_.get();
  }
}

Node::~Node() { Close(); }

Result<std::unique_ptr<Node>> Node::Open(NodeOptions options) {
  if (options.region.empty()) return Status::InvalidArgument("invalid-region", "a region id is required");
  std::unique_ptr<Node> node(new Node(std::move(options)));
  MERIDIAN_RETURN_IF_ERROR(node->Init());
  return node;
}

Status Node::Init() {
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  if (ec) {
    return Status::Internal("cannot create data directory " + options_.data_dir + ": " + ec.message());
  }
  auto locked = internal::DirLock::Acquire(options_.data_dir);
  if (!locked.ok()) return locked.status();
  dir_lock_ = std::move(locked).value();
  const std::string path = (std::filesystem::path(options_.data_dir) / "meridian.db").string();
  // A database file that is missing or empty while its log holds data was removed or
  // truncated: SQLite would start a new, empty database and delete the log with it.
  const auto wal_size = std::filesystem::file_size(path + "-wal", ec);
  if (!ec && wal_size > 0) {
    const auto db_size = std::filesystem::file_size(path, ec);
    if (ec || db_size == 0) {
      return Status::FailedPrecondition(
          "database-missing", path + " is " + (ec ? "missing" : "empty") + " but its log (" + path + "-wal, " +
                                  std::to_string(wal_size) +
                                  " bytes) holds data: the database file was removed or truncated. Restore it "
                                  "(keep the -wal file); starting would drop the log");
    }
  }
  ec.clear();
  auto opened = Store::Open(path, /*writer=*/true, options_.durability);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<Store> store = std::move(opened).value();

  auto region = store->GetMeta("region");
  if (!region.ok()) return region.status();
  if (!*region) {
    MERIDIAN_RETURN_IF_ERROR(store->SetMeta("region", options_.region.str()));
  } else if (**region != options_.region.str()) {
    return Status::FailedPrecondition("region-mismatch", "data directory " + options_.data_dir +
                                                             " belongs to region '" + **region +
                                                             "', not '" + options_.region.str() + "'");
  }
  auto hwm = store->GetMeta("hlc_hwm");
  if (!hwm.ok()) return hwm.status();
  const crdt::Hlc high_water = crdt::Hlc::FromPacked(*hwm ? std::stoull(**hwm) : 0);

  TxnState state;
  auto lsn = store->MaxLsn();
  auto seq = store->MaxSeq(options_.region);
  auto applied = store->LoadApplied();
  auto live = store->CountLiveDocs();
  auto conflicts = store->CountConflicts();
  for (const Status* s : {&lsn.status(), &seq.status(), &applied.status(), &live.status(), &conflicts.status()}) {
    if (!s->ok()) return *s;
  }
  state.last_lsn = *lsn;
  state.local_seq = *seq;
  state.applied = *applied;
  state.applied.Advance(options_.region, *seq);
  state.live_docs = *live;
  state.conflicts = *conflicts;
  state.persisted_hwm = high_water.packed();
  state.persisted_seq = *seq;
  committed_lsn_ = state.last_lsn;
  committed_applied_ = state.applied;

  {
    std::vector<crdt::RegionId> peer_ids;
    for (const auto& p : options_.peers) peer_ids.push_back(p.id);
    auto floor = store->GetVectorMeta("floor");
    if (!floor.ok()) return floor.status();
    state.floor = floor->value_or(state.applied);  // nothing promised yet: the safe upper bound
    stability_ = std::make_unique<Stability>(options_.region, std::move(peer_ids), state.floor);
    auto purged = store->GetVectorMeta("purged");
    if (!purged.ok()) return purged.status();
    state.purged = purged->value_or(crdt::VersionVector());
  }

  readers_ = std::make_unique<internal::ReadPool>();
  MERIDIAN_RETURN_IF_ERROR(readers_->Open(path, std::max(1, options_.read_connections), options_.durability));
  MERIDIAN_RETURN_IF_ERROR(ReloadDefinitions());

  Clock& clock = options_.clock ? *options_.clock : static_cast<Clock&>(system_clock_);
  hlc_ = std::make_unique<HybridClock>(clock, high_water);

  // Persists the HLC high-water mark and this region's seq with every batch that moved
  // them (a batch of duplicates writes nothing at all).
  auto finalizer = [this](WriteTxn& txn) -> Status {
    const uint64_t hwm = hlc_->Last().packed();
    const uint64_t seq = txn.state().local_seq;
    if (hwm != txn.state().persisted_hwm) {
      MERIDIAN_RETURN_IF_ERROR(txn.store().SetMeta("hlc_hwm", std::to_string(hwm)));
    }
    if (seq != txn.state().persisted_seq) {
      MERIDIAN_RETURN_IF_ERROR(txn.store().SaveApplied(options_.region, seq));
    }
    txn.NotePersisted(hwm, seq);
    // The floor reports will read once this commits (from the state committed before it:
    // everything this transaction writes is made on that state or later).
    crdt::VersionVector floor = stability_->Advance(writer_->Committed().applied);
    if (floor != txn.state().floor) {
      MERIDIAN_RETURN_IF_ERROR(txn.store().SetMeta("floor", floor.Encode()));
      txn.SetFloor(std::move(floor));
    }
    return Status::Ok();
  };
  WriterOptions wopts;
  wopts.max_batch = options_.max_batch;
  wopts.durability = options_.durability;
  wopts.checkpoint_pages = options_.checkpoint_pages;
  writer_ = std::make_unique<Writer>(std::move(store), std::move(state), wopts, std::move(finalizer),
                                     [this](const TxnState& s) { OnCommit(s); });
  if (options_.transport && !options_.peers.empty()) {
    ReplicatorHooks hooks;
    hooks.applied = [this] { return Applied(); };
    hooks.floor = [this] { return Floor(); };
    hooks.apply = [this](const crdt::RegionId& from, std::vector<Change> changes) {
      return ApplyRemote(from, std::move(changes));
    };
    hooks.on_status = [this] { UpdateClockHealth(); };
    replicator_ = std::make_unique<Replicator>(options_.peers, *options_.transport, clock, std::move(hooks));
    replicator_->Start();
  }
  return Status::Ok();
}

Status Node::CheckWritable() const {
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  if (clock_refusing_) {
    return Status::Unavailable("clock-skew", "this region's clock is more than " +
                                                 std::to_string(options_.max_clock_offset_ms) +
                                                 " ms ahead of a majority of its peers; writes are refused until "
                                                 "the clock is fixed (see GET /v1/cluster)");
  }
  return Status::Ok();
}

void Node::UpdateClockHealth() {
  if (!replicator_) return;
  const auto peers = replicator_->Status();
  const uint64_t now = hlc_->PhysicalMs();
  size_t behind = 0;
  for (const auto& p : peers) {
    // Only recent measurements count: a peer we cannot reach tells us nothing.
    const bool fresh = p.clock_offset_known && p.last_contact_ms + 60'000 > now;
    // Judged on the bound, not the estimate: a slow answer (a large batch, a loaded machine)
    // makes the peer look behind by however long it took to arrive.
    if (fresh && p.clock_offset_max_ms < -static_cast<int64_t>(options_.max_clock_offset_ms)) ++behind;
  }
  clock_refusing_ = !peers.empty() && behind * 2 > peers.size();
}

ClusterInfo Node::Cluster() const {
  ClusterInfo info;
  info.region = options_.region;
  info.hlc = hlc_->Last();
  info.now_ms = hlc_->PhysicalMs();
  const TxnState committed = writer_->Committed();
  info.applied = committed.applied;
  info.floor = committed.floor;
  info.stable = stability_->Stable(committed.applied);
  info.refusing_writes = clock_refusing_;
  if (replicator_) info.peers = replicator_->Status();
  std::lock_guard lock(peers_mu_);
  for (auto& p : info.peers) {
    auto it = peer_have_.find(p.id);
    if (it == peer_have_.end()) continue;
    for (const auto& [origin, seq] : info.applied.entries()) {
      const uint64_t has = it->second.Get(origin);
      if (seq > has) p.outbound_lag_changes += seq - has;
    }
  }
  return info;
}

std::optional<Status> Node::WritesRefused() const {
  if (!writer_) return std::nullopt;
  if (auto gone = writer_->FilesGone()) return gone;
  if (writer_->DiskFullWithin(std::chrono::seconds(5))) {
    return Status::Unavailable("disk-full", "the disk is full: writes are refused until space is freed");
  }
  return std::nullopt;
}

void Node::BeginShutdown() {
  draining_ = true;
  commit_cv_.notify_all();
}

void Node::Close() {
  if (replicator_) replicator_->Stop();  // before closed_: its applies still run
  if (closed_.exchange(true)) return;
  if (writer_) writer_->Stop();
  commit_cv_.notify_all();
}

void Node::OnCommit(const TxnState& state) {
  if (state.definitions != defs_loaded_) {
    // Only the completion thread runs this, so defs_loaded_ needs no lock.
    if (ReloadDefinitions().ok()) defs_loaded_ = state.definitions;
  }
  {
    std::lock_guard lock(commit_mu_);
    committed_lsn_ = state.last_lsn;
    committed_applied_ = state.applied;
  }
  commit_cv_.notify_all();
}

void Node::WaitForCommit(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::time_point until,
                         const std::atomic<bool>* give_up, const std::function<bool()>& done) {
  // Nothing signals the condition when the client goes away: look every 100 ms.
  constexpr auto kGiveUpStep = std::chrono::milliseconds(100);
  while (!done()) {
    if (give_up && give_up->load(std::memory_order_relaxed)) return;
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return;
    commit_cv_.wait_until(lock, give_up ? std::min(until, now + kGiveUpStep) : until);
  }
}

Status Node::WaitForSession(const crdt::VersionVector& session, int timeout_ms, const std::atomic<bool>* give_up) {
  std::unique_lock lock(commit_mu_);
  WaitForCommit(lock, std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms)), give_up,
                [&] { return session.LessOrEqual(committed_applied_) || closed_ || draining_; });
  if (session.LessOrEqual(committed_applied_)) return Status::Ok();
  return Status::Unavailable("session-not-caught-up",
                             "region " + options_.region.str() + " has not yet applied the writes of this session (" +
                                 session.Encode() + "); retry, or read where you wrote");
}

Result<Document> Node::Get(const std::string& collection, const std::string& key) {
  return GetWith(collection, key, /*wait=*/true);
}

std::optional<Result<Document>> Node::TryGet(const std::string& collection, const std::string& key) {
  // SQLite cannot tell a value's size without reading it, so the first large one is read
  // here; its collection's later reads are left to threads.
  constexpr size_t kLoopReadBytes = 64 << 10;
  {
    std::lock_guard lock(large_mu_);
    if (large_collections_.count(collection) != 0) return std::nullopt;
  }
  auto doc = GetWith(collection, key, /*wait=*/false);
  if (!doc.ok() && doc.status().reason() == kReadersBusy) return std::nullopt;
  if (doc.ok() && doc->value.size() > kLoopReadBytes) {
    std::lock_guard lock(large_mu_);
    large_collections_.insert(collection);
  }
  return doc;
}

Result<Document> Node::GetWith(const std::string& collection, const std::string& key, bool wait) {
  MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(collection));
  MERIDIAN_RETURN_IF_ERROR(ValidateKey(key));
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  const CollectionDef def = DefinitionOf(collection);
  const Policy policy = def.policy;
  std::optional<internal::ReadPool::Lease> reader =
      wait ? std::optional<internal::ReadPool::Lease>(readers_->Acquire()) : readers_->TryAcquire();
  if (!reader) return Status::Unavailable(kReadersBusy, "every read connection is in use");
  auto row = policy == Policy::kCrdt ? (*reader)->LoadCrdtDoc(collection, key) : (*reader)->LoadDoc(collection, key);
  if (!row.ok()) return row.status();
  if (!*row || !(*row)->value) {
    return Status::NotFound("not-found", "no document '" + key + "' in collection '" + collection + "'");
  }
  DocRow& r = **row;
  if (policy == Policy::kCrdt) r.ctx.Join(writer_->Committed().purged);
  Document doc{key, *r.value, VersionToken(r.ctx), r.hlc, r.dot.origin, false, "", 0};
  if (policy == Policy::kManual && r.state) {
    auto siblings = SiblingsJson(**reader, r, def.max_siblings, &doc.siblings_total);
    if (!siblings.ok()) return siblings.status();
    doc.siblings = std::move(siblings).value();
    doc.conflicted = !doc.siblings.empty();
  }
  return doc;
}

Result<DocPage> Node::List(const std::string& collection, const std::string& prefix, const std::string& after,
                           int limit) {
  MERIDIAN_RETURN_IF_ERROR(ValidateCollectionName(collection));
  if (limit < 1 || limit > 1000) {
    return Status::InvalidArgument("invalid-limit", "limit must be between 1 and 1000");
  }
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  const bool crdt = DefinitionOf(collection).policy == Policy::kCrdt;
  auto reader = readers_->Acquire();
  bool cut = false;  // the page ended at its byte limit
  auto rows = crdt ? reader->ListCrdtDocs(collection, prefix, after, limit + 1, &cut)
                   : reader->ListDocs(collection, prefix, after, limit + 1, &cut);
  if (!rows.ok()) return rows.status();
  DocPage page;
  const crdt::VersionVector purged = crdt ? writer_->Committed().purged : crdt::VersionVector();
  for (auto& [key, r] : *rows) {
    if (crdt) r.ctx.Join(purged);
    if (static_cast<int>(page.docs.size()) == limit) {
      page.next = page.docs.back().key;
      break;
    }
    page.docs.push_back(Document{key, *r.value, VersionToken(r.ctx), r.hlc, r.dot.origin, false, ""});
  }
  if (cut && !page.next && !page.docs.empty()) page.next = page.docs.back().key;
  return page;
}

Result<ChangePage> Node::LogSince(int64_t since, int limit) {
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  auto reader = readers_->Acquire();
  auto changes = reader->ChangesSince(since, limit);
  if (!changes.ok()) return changes.status();
  ChangePage page;
  page.next = changes->empty() ? since : changes->back().lsn;
  page.changes = std::move(changes).value();
  return page;
}

Result<FeedPage> Node::Feed(const std::string& cursor, int limit, int wait_ms, const std::atomic<bool>* give_up) {
  if (limit < 1 || limit > 10000) {
    return Status::InvalidArgument("invalid-limit", "limit must be between 1 and 10000");
  }
  auto seen = crdt::VersionVector::Decode(cursor);
  if (!seen.ok()) {
    return Status::InvalidArgument("invalid-cursor", "the cursor is malformed; pass back a 'next' value");
  }
  auto scanned = Scan(*seen, limit, wait_ms, give_up);
  if (!scanned.ok()) return scanned.status();
  FeedPage page;
  crdt::VersionVector next = std::move(seen).value();
  for (const Change& c : scanned->changes) next.Add(c.dot);
  page.next = next.Encode();
  page.changes = std::move(scanned->changes);
  return page;
}

Result<DigestInfo> Node::Digest() {
  if (closed_) return Status::Unavailable("shutting-down", "the region is shutting down");
  const TxnState committed = writer_->Committed();
  auto reader = readers_->Acquire();
  auto purged = reader->GetVectorMeta("purged");
  if (!purged.ok()) return purged.status();
  auto digests = reader->ComputeDigests(purged->value_or(crdt::VersionVector()));
  if (!digests.ok()) return digests.status();
  return DigestInfo{digests->all, digests->collections, committed.applied};
}

NodeStats Node::Stats() const {
  NodeStats s;
  s.writer = writer_->Stats();
  const TxnState committed = writer_->Committed();
  s.live_docs = committed.live_docs;
  s.conflicts = committed.conflicts;
  s.last_lsn = committed.last_lsn;
  s.applied = committed.applied;
  s.hlc = hlc_->Last();
  s.text_tombstones_collected = text_tombstones_collected_.load();
  s.purged = committed.purged;
  if (!closed_) {
    auto reader = readers_->Acquire();
    auto n = reader->CountEmptyCrdtDocs();
    s.empty_crdt_docs = n.ok() ? *n : -1;
  }
  return s;
}

FloorReport Node::Floor() {
  MaybePurge();
  const TxnState committed = writer_->Committed();
  return {committed.floor, committed.applied.Get(options_.region)};
}

crdt::Result<uint64_t> Node::HoldFloor(const crdt::VersionVector& base) { return stability_->Hold(base); }

void Node::RaiseFloor(uint64_t hold, const crdt::VersionVector& base) { stability_->Raise(hold, base); }

void Node::ReleaseFloor(uint64_t hold, int after_ms) { stability_->Release(hold, after_ms); }

crdt::VersionVector Node::Stable() { return stability_->Stable(Applied()); }

void Node::MaybePurge() {
  if (options_.purge_every_ms <= 0) return;
  // One region purges (the others would purge the same rows): the one with the smallest id.
  for (const auto& p : options_.peers) {
    if (p.id < options_.region) return;
  }
  const uint64_t now = hlc_->PhysicalMs();
  uint64_t last = last_purge_ms_.load();
  if (now < last + static_cast<uint64_t>(options_.purge_every_ms)) return;
  if (!last_purge_ms_.compare_exchange_strong(last, now)) return;
  (void)Purge();  // a failure is retried at the next turn
}

}  // namespace region
