// Writer: the one thread that writes a region's database, with group commit.
//
// Callers hand in jobs and block until the transaction holding their job has committed
// durably (or failed). The thread takes every queued job (up to max_batch), runs them in
// one SQLite transaction, commits once and only then answers all of them: each write is as
// durable as with one transaction per write, and one fsync serves the whole batch.
//
// Waking the callers of a batch costs a system call, so a second thread does it while the
// writer starts the next batch. Callers sleep on one of two futex words, by the parity of
// the batch that was open when they queued (the next one the writer takes), so that one
// wake-all call per batch wakes its callers and, nearly always, no caller of the next
// batch; a caller woken early just sleeps again.
//
// Job contract: a job validates before it writes, so a job that returns an error other
// than a storage error has written nothing; a storage error fails the whole batch, which
// rolls back and answers every job in it with that error (never a half-applied write).
// Jobs advance the in-memory mirror (TxnState) only through WriteTxn; it is published when
// the batch commits and discarded when it rolls back.
//
// Thread-safety: Run() and Committed() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "crdt/status.h"
#include "crdt/version_vector.h"
#include "region/store.h"

namespace region {

namespace internal {
class Checkpointer;
}

// What the database holds, mirrored in memory and advanced by transactions.
struct TxnState {
  int64_t last_lsn = 0;          // log position of the newest change
  uint64_t local_seq = 0;        // seq of the newest change this region originated
  crdt::VersionVector applied;   // highest contiguous seq per origin, this region included
  int64_t live_docs = 0;
  int64_t conflicts = 0;         // rows in the conflict log
  uint64_t definitions = 0;      // bumped by every change to a collection definition
  uint64_t persisted_hwm = 0;    // HLC high-water mark as stored in meta
  uint64_t persisted_seq = 0;    // local_seq as stored in applied
  crdt::VersionVector floor;     // the floor this region promises (region/stability.h), as stored
  crdt::VersionVector purged;    // dots dropped from crdt documents' contexts (Node::Purge)
};

// A job's view of the open transaction.
class WriteTxn {
 public:
  WriteTxn(Store& store, TxnState& state) : store_(store), state_(state) {}
  Store& store() { return store_; }
  const TxnState& state() const { return state_; }
  int64_t NextLsn() { return ++state_.last_lsn; }
  uint64_t NextLocalSeq() { return ++state_.local_seq; }
  void MarkApplied(const crdt::Dot& dot) { state_.applied.Add(dot); }
  void AddLiveDocs(int64_t delta) { state_.live_docs += delta; }
  void AddConflict() { ++state_.conflicts; }
  void MarkDefinitionsChanged() { ++state_.definitions; }
  void SetFloor(crdt::VersionVector floor) { state_.floor = std::move(floor); }
  void AddPurged(const crdt::VersionVector& purged) { state_.purged.Join(purged); }
  // Records what the finalizer stored, so that it stores only what changed.
  void NotePersisted(uint64_t hwm, uint64_t seq) {
    state_.persisted_hwm = hwm;
    state_.persisted_seq = seq;
  }

 private:
  Store& store_;
  TxnState& state_;
};

struct WriterOptions {
  int max_batch = 1024;          // 1 turns group commit off: one transaction per job
  // How durable commits are: kFull fsyncs every commit that holds a durable job. Batches of
  // only non-durable jobs (replicated changes, which their origin still holds) commit with
  // synchronous=NORMAL: atomic and consistent, but the last ones may roll back on power
  // loss, together with the applied vector, so they are simply pulled again.
  Durability durability = Durability::kFull;
  // Checkpoint the WAL on a thread of its own once it holds this many pages (see
  // internal/checkpointer.h); 0: SQLite's automatic checkpoint inside the commit.
  int checkpoint_pages = 0;
};

// Counts of events that took <= kBounds[i] seconds, their number and their sum.
struct SecondsHistogram {
  static constexpr int kCount = 10;
  static constexpr double kBounds[kCount] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};
  uint64_t le[kCount] = {};
  uint64_t count = 0;
  uint64_t micros_sum = 0;
  void Add(double seconds) {
    for (int i = 0; i < kCount; ++i) {
      if (seconds <= kBounds[i]) ++le[i];
    }
    ++count;
    micros_sum += static_cast<uint64_t>(seconds * 1e6);
  }
};

struct WriterStats {
  uint64_t batches = 0;
  uint64_t jobs = 0;
  uint64_t failed_batches = 0;
  uint64_t disk_full_batches = 0;  // of which rolled back because the disk was full
  // Batch size histogram: counts of batches with size <= kBatchBuckets[i].
  static constexpr int kBuckets = 8;
  static constexpr int kBatchBuckets[kBuckets] = {1, 2, 4, 8, 16, 64, 256, 1024};
  uint64_t batch_le[kBuckets] = {};
  // Transaction time, BEGIN to the end of COMMIT (its fsync included).
  SecondsHistogram commit_seconds;
  // WAL checkpoints (internal/checkpointer.h; all zero with SQLite's own checkpoints).
  uint64_t checkpoints_background = 0, checkpoints_catch_up = 0, wal_restarts = 0, checkpoints_failed = 0;
  uint64_t checkpoint_background_frames = 0;  // frames the background passes found copied
  uint64_t checkpoint_background_syncs = 0;   // fsyncs of the database file during and after them
  // The writer's time in catch-ups (no commit runs meanwhile).
  SecondsHistogram catch_up_seconds;
  int64_t wal_frames = 0;
};

class Writer {
 public:
  using Job = std::function<crdt::Status(WriteTxn&)>;
  // Runs inside every transaction after its jobs, before commit (persist the HLC, ...).
  using Finalizer = std::function<crdt::Status(WriteTxn&)>;
  // Runs after commits, with the newest committed state, on the completion thread.
  using CommitListener = std::function<void(const TxnState&)>;

  Writer(std::unique_ptr<Store> store, TxnState initial, WriterOptions options, Finalizer finalizer,
         CommitListener on_commit);
  ~Writer();

  // Runs `job` in the next batch and blocks until it is committed (durably, when `durable`
  // and the writer's durability is full) or failed. Unavailable("shutting-down") after Stop().
  crdt::Status Run(Job job, bool durable = true);

  // Runs `job` in the next batch without waiting: `done` gets the same status Run would
  // return, on the writer's completion thread (or at once, on the caller's thread, when
  // the writer is stopping). `done` must be quick and must not call Run.
  void Submit(Job job, bool durable, std::function<void(crdt::Status)> done);

  // Finishes every queued job, then stops the thread. Idempotent.
  void Stop();

  // The newest committed state.
  TxnState Committed() const;
  WriterStats Stats() const;
  // True when a batch was rolled back for a full disk within `window` (and none has
  // committed since).
  bool DiskFullWithin(std::chrono::milliseconds window) const;
  // Set for good once the database or log file was removed or replaced under the running
  // region: every write is refused with it (they would be lost at the next start).
  std::optional<crdt::Status> FilesGone() const;

 private:
  struct Pending;
  void Loop();
  void RunBatch(std::vector<Pending*>& batch);
  void CompleteLoop();
  void Complete(std::vector<Pending*>& batch, const TxnState* state);

  std::unique_ptr<Store> store_;
  std::unique_ptr<internal::Checkpointer> checkpointer_;  // null: SQLite checkpoints
  const WriterOptions options_;
  Finalizer finalizer_;
  CommitListener on_commit_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;
  uint64_t open_batch_ = 0;  // counts batches taken; its parity picks a new caller's wake word
  bool stopping_ = false;
  TxnState committed_;
  WriterStats stats_;
  std::optional<std::chrono::steady_clock::time_point> disk_full_since_;  // newest disk-full rollback
  std::optional<crdt::Status> files_gone_;

  // The files' identities (device, inode) as opened, to tell them being removed or replaced.
  struct FileId {
    uint64_t dev = 0, ino = 0;
    bool operator==(const FileId&) const = default;
  };
  crdt::Status CheckFiles();  // on the writer thread, before each batch
  std::optional<FileId> db_id_, wal_id_;
  std::thread thread_;

  // Finished batches whose callers are still to be woken, and the thread that wakes them.
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::vector<Pending*> done_;
  std::optional<TxnState> done_state_;  // newest committed state among done_
  bool completer_stopping_ = false;
  std::thread completer_;
  std::atomic<uint32_t> wake_[2] = {0, 0};  // bumped, then woken, when a batch's callers are done
};

// A job's failure after it has written: turned into a storage error (if it is not one
// already) so that the whole batch rolls back, as the job contract requires.
inline crdt::Status StorageFailure(crdt::Status s) {
  if (s.ok() || s.reason() == "storage") return s;
  return crdt::Status(crdt::Code::kInternal, "storage", s.message());
}

}  // namespace region
