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
// Pipelined fsync (WriterOptions::pipeline_fsync, with full durability and group commit):
// a batch commits without an fsync (synchronous=OFF: its WAL frames are written, not
// flushed) and the completion thread fdatasyncs the WAL, for every batch committed so far
// at once, before it acknowledges them; meanwhile the writer runs the next batch. Each
// acknowledged write is still durable. What changes is that other connections can read a
// batch between its commit and that fsync: reads must not show it yet, so the writer
// tracks two positions in the log, the committed one (PendingLsn: at least every change
// a read may find) and the visible one (every change up to it is durable), and readers
// wait with WaitVisible, or leave out what lies beyond VisibleLsn. Committed() is the
// state as of the visible position. A failed fsync stops the process: what the disk
// holds is then unknown, and only recovery from the WAL tells (as PostgreSQL does).
//
// Thread-safety: Run(), Committed(), the Lsn functions and WaitVisible may be called from
// any thread.
#pragma once

#include <atomic>
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
  // With durability kFull and max_batch > 1: fsync on the completion thread, overlapped
  // with the next batch (see the top of this file).
  bool pipeline_fsync = false;
  // Tests: runs on the completion thread just before each pipelined fsync.
  std::function<void()> before_wal_sync;
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
  // Batch size histogram: counts of batches with size <= kBatchBuckets[i].
  static constexpr int kBuckets = 8;
  static constexpr int kBatchBuckets[kBuckets] = {1, 2, 4, 8, 16, 64, 256, 1024};
  uint64_t batch_le[kBuckets] = {};
  // Transaction time, BEGIN to the end of COMMIT (its fsync included).
  SecondsHistogram commit_seconds;
  // WAL checkpoints (internal/checkpointer.h; all zero with SQLite's own checkpoints).
  uint64_t checkpoints_background = 0, checkpoints_catch_up = 0, wal_restarts = 0, checkpoints_failed = 0;
  uint64_t checkpoint_background_frames = 0;  // frames the background passes found copied
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

  // The newest state whose changes are all durable (with pipelined fsync) and announced.
  TxnState Committed() const;
  // Every change up to this log position is durable and may be read.
  int64_t VisibleLsn() const { return visible_lsn_.load(std::memory_order_acquire); }
  // No read can find a change beyond this position (set before each commit).
  int64_t PendingLsn() const { return pending_lsn_.load(std::memory_order_acquire); }
  // Blocks until VisibleLsn() >= lsn, or until no commit can bring it there (a batch that
  // would have rolled back, or the writer stopped).
  void WaitVisible(int64_t lsn);
  WriterStats Stats() const;

 private:
  struct Pending;
  void Loop();
  void RunBatch(std::vector<Pending*>& batch);
  void CompleteLoop();
  void SyncWal();
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
  std::thread thread_;

  // Batches handed from one thread to the next: committed ones to the sync thread (with
  // pipelined fsync), durable ones to the completion thread, which wakes their callers.
  struct Handoff {
    std::mutex mu;
    std::condition_variable cv;
    std::condition_variable drained_cv;
    std::vector<Pending*> batches;
    std::optional<TxnState> state;  // newest committed state among `batches`
    bool needs_sync = false;        // a batch among them committed without its fsync
    bool stopping = false;
    void Put(std::vector<Pending*>& from, std::optional<TxnState> newest, bool sync);
    // Blocks for batches; false once stopping and empty.
    bool Take(std::vector<Pending*>& into, std::optional<TxnState>& newest, bool& sync);
    // Blocks until the next thread has taken every batch (or stopping).
    void WaitDrained();
    void Stop();
  };
  void SyncLoop();
  bool pipeline_ = false;  // pipelined fsync in effect (the option, full durability, group commit)
  Handoff to_sync_;
  Handoff done_;
  std::thread syncer_;
  std::thread completer_;
  std::atomic<uint32_t> wake_[2] = {0, 0};  // bumped, then woken, when a batch's callers are done
  int wal_fd_ = -1;                      // the WAL file, for pipelined fsyncs (sync thread)
  std::atomic<int64_t> pending_lsn_{0};
  std::atomic<int64_t> visible_lsn_{0};
  mutable std::mutex visible_mu_;
  std::condition_variable visible_cv_;
  TxnState visible_;                     // Committed(); under visible_mu_
};

// A job's failure after it has written: turned into a storage error (if it is not one
// already) so that the whole batch rolls back, as the job contract requires.
inline crdt::Status StorageFailure(crdt::Status s) {
  if (s.ok() || s.reason() == "storage") return s;
  return crdt::Status(crdt::Code::kInternal, "storage", s.message());
}

}  // namespace region
