#include "region/writer.h"

#include "region/internal/checkpointer.h"
#include "region/internal/sqlite.h"
#include "region/threads.h"

#include <algorithm>
#include <chrono>
#include <climits>

#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace region {

using crdt::Status;

namespace {

// Process-private futex calls: cheaper than the shared futex std::future uses.
void FutexWait(std::atomic<uint32_t>& word, uint32_t expected) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void FutexWakeAll(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

struct Writer::Pending {
  Job job;
  bool durable = true;
  Status status;
  unsigned slot = 0;               // which wake word the caller sleeps on
  std::atomic<bool> done{false};   // set (release) once status is final
  // Submit: called with the status instead of waking a caller; the Pending is then freed.
  std::function<void(Status)> on_done;
};

Writer::Writer(std::unique_ptr<Store> store, TxnState initial, WriterOptions options, Finalizer finalizer,
               CommitListener on_commit)
    : store_(std::move(store)),
      options_(std::move(options)),
      finalizer_(std::move(finalizer)),
      on_commit_(std::move(on_commit)),
      committed_(std::move(initial)) {
  if (options_.checkpoint_pages > 0) {
    // Without it (it could not open its connection) SQLite checkpoints inside the commits,
    // as before: slower at the tail, just as safe.
    using CheckpointSync = internal::Checkpointer::Sync;
    const Durability d = store_->durability();
    auto c = internal::Checkpointer::Start(store_->db(), store_->path(), options_.checkpoint_pages,
                                           d == Durability::kOff      ? CheckpointSync::kOff
                                           : d == Durability::kNormal ? CheckpointSync::kAfterPasses
                                                                      : CheckpointSync::kPaced);
    if (c.ok()) checkpointer_ = std::move(c).value();
  }
  (void)CheckFiles();  // records what was opened
  thread_ = std::thread([this] {
    NameThread("writer");
    Loop();
  });
  completer_ = std::thread([this] {
    NameThread("commit-done");
    CompleteLoop();
  });
}

Writer::~Writer() { Stop(); }

Status Writer::Run(Job job, bool durable) {
  Pending pending;
  pending.job = std::move(job);
  pending.durable = durable;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status::Unavailable("shutting-down", "the region is shutting down");
    pending.slot = static_cast<unsigned>(open_batch_ & 1);
    queue_.push_back(&pending);
  }
  cv_.notify_one();
  std::atomic<uint32_t>& word = wake_[pending.slot];
  while (!pending.done.load(std::memory_order_acquire)) {
    // Read the word before the flag: a completion after this read changes the word, so
    // the wait below returns at once instead of missing the wake-up.
    const uint32_t seen = word.load(std::memory_order_acquire);
    if (pending.done.load(std::memory_order_acquire)) break;
    FutexWait(word, seen);
  }
  return pending.status;
}

void Writer::Submit(Job job, bool durable, std::function<void(Status)> done) {
  auto pending = std::make_unique<Pending>();
  pending->job = std::move(job);
  pending->durable = durable;
  pending->on_done = std::move(done);
  if (!pending->on_done) pending->on_done = [](Status) {};  // an empty one would look like Run's
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(pending.get());
      pending.release();  // owned by the queue, freed by Complete
    }
  }
  if (pending) {
    pending->on_done(Status::Unavailable("shutting-down", "the region is shutting down"));
    return;
  }
  cv_.notify_one();
}

void Writer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (checkpointer_) checkpointer_->Stop();
  {
    std::lock_guard lock(done_mu_);
    completer_stopping_ = true;
  }
  done_cv_.notify_one();
  if (completer_.joinable()) completer_.join();
}

TxnState Writer::Committed() const {
  std::lock_guard lock(mu_);
  return committed_;
}

Status Writer::CheckFiles() {
  {
    std::lock_guard lock(mu_);
    if (files_gone_) return *files_gone_;
  }
  auto id_of = [](const std::string& path) -> std::optional<FileId> {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  };
  const std::string& path = store_->path();
  const std::optional<FileId> db = id_of(path);
  const std::optional<FileId> wal = id_of(path + "-wal");
  if (!db_id_) db_id_ = db;
  if (!wal_id_) wal_id_ = wal;  // SQLite creates the log at the first write
  const char* which = db != db_id_ ? "database file" : (wal_id_ && wal != wal_id_) ? "log file" : nullptr;
  if (which == nullptr) return Status::Ok();
  Status gone(crdt::Code::kUnavailable, "database-gone",
              std::string("the ") + which + " of " + path +
                  " was removed or replaced while the region ran: writes are refused (they would be lost at the "
                  "next start). Stop the region, restore the files, then start it");
  std::lock_guard lock(mu_);
  files_gone_ = gone;
  return gone;
}

std::optional<Status> Writer::FilesGone() const {
  std::lock_guard lock(mu_);
  return files_gone_;
}

bool Writer::DiskFullWithin(std::chrono::milliseconds window) const {
  std::lock_guard lock(mu_);
  return disk_full_since_ && std::chrono::steady_clock::now() - *disk_full_since_ < window;
}

WriterStats Writer::Stats() const {
  WriterStats s;
  {
    std::lock_guard lock(mu_);
    s = stats_;
  }
  if (checkpointer_) {
    const auto c = checkpointer_->stats();
    s.checkpoints_background = c.background;
    s.checkpoints_catch_up = c.catch_up;
    s.wal_restarts = c.restarts;
    s.checkpoint_background_frames = c.background_frames;
    s.checkpoint_background_syncs = c.background_syncs;
    s.checkpoints_failed = c.failed;
    s.wal_frames = c.wal_frames;
  }
  return s;
}

void Writer::Loop() {
  std::vector<Pending*> batch;
  const size_t max_batch = static_cast<size_t>(std::max(1, options_.max_batch));
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      while (!queue_.empty() && batch.size() < max_batch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
      ++open_batch_;  // callers from now on sleep on the other word
    }
    RunBatch(batch);
    batch.clear();
  }
}

void Writer::RunBatch(std::vector<Pending*>& batch) {
  TxnState working;
  {
    std::lock_guard lock(mu_);
    working = committed_;
  }
  Durability sync = options_.durability;
  if (sync == Durability::kFull &&
      std::none_of(batch.begin(), batch.end(), [](const Pending* p) { return p->durable; })) {
    sync = Durability::kNormal;
  }
  const auto started = std::chrono::steady_clock::now();
  Status fatal = CheckFiles();
  if (fatal.ok()) fatal = store_->SetSynchronous(sync);
  if (fatal.ok()) fatal = store_->Begin();
  if (fatal.ok()) {
    WriteTxn txn(*store_, working);
    TxnState before;  // assigned, not constructed, per job: its vectors keep their storage
    for (Pending* p : batch) {
      // A job that fails wrote nothing (its contract), so neither does the state it advanced.
      before = working;
      try {
        p->status = p->job(txn);
      } catch (const std::exception& e) {
        // A job that throws may have written half its rows: the whole batch goes.
        p->status = Status(crdt::Code::kInternal, "storage", std::string("write failed: ") + e.what());
      }
      if (!p->status.ok() && p->status.reason() == "storage") {
        fatal = p->status;
        break;
      }
      if (!p->status.ok()) working = before;
    }
    if (fatal.ok()) fatal = finalizer_(txn);
    if (fatal.ok()) fatal = store_->Commit();
    if (!fatal.ok()) store_->Rollback();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const bool disk_full = internal::IsDiskFull(fatal);
  {
    std::lock_guard lock(mu_);
    ++stats_.batches;
    stats_.jobs += batch.size();
    for (int i = 0; i < WriterStats::kBuckets; ++i) {
      if (static_cast<int>(batch.size()) <= WriterStats::kBatchBuckets[i]) ++stats_.batch_le[i];
    }
    stats_.commit_seconds.Add(seconds);
    if (fatal.ok()) {
      committed_ = working;
      disk_full_since_.reset();
    } else {
      ++stats_.failed_batches;
      if (disk_full) {
        ++stats_.disk_full_batches;
        disk_full_since_ = std::chrono::steady_clock::now();
      }
    }
  }
  if (!fatal.ok()) {
    Status failed = fatal;  // database-gone says all it needs to
    if (disk_full) {
      // For the operator to fix, and the client to retry (Unavailable: 503).
      failed = Status(crdt::Code::kUnavailable, "disk-full",
                      "the disk is full: the write was rolled back (nothing of it was written); retry once space is "
                      "freed");
    } else if (fatal.reason() != "database-gone") {
      failed = Status(crdt::Code::kInternal, "storage", "the write was rolled back: " + fatal.message());
    }
    for (Pending* p : batch) p->status = failed;
  }
  // The completion thread announces the commit and wakes the callers; this thread moves on
  // to the next batch at once.
  {
    std::lock_guard lock(done_mu_);
    done_.insert(done_.end(), batch.begin(), batch.end());
    if (fatal.ok()) done_state_ = std::move(working);
  }
  done_cv_.notify_one();
  if (checkpointer_) {
    const auto stalled = checkpointer_->BetweenTransactions();
    if (stalled.count() > 0) {
      std::lock_guard lock(mu_);
      stats_.catch_up_seconds.Add(std::chrono::duration<double>(stalled).count());
    }
  }
}

void Writer::CompleteLoop() {
  std::vector<Pending*> finished;
  while (true) {
    std::optional<TxnState> state;
    {
      std::unique_lock lock(done_mu_);
      done_cv_.wait(lock, [this] { return completer_stopping_ || !done_.empty(); });
      if (done_.empty()) return;
      finished.swap(done_);
      state.swap(done_state_);
    }
    Complete(finished, state ? &*state : nullptr);
    finished.clear();
  }
}

void Writer::Complete(std::vector<Pending*>& batch, const TxnState* state) {
  if (state) on_commit_(*state);
  // A caller may return and free its Pending as soon as its flag is set: read the slots first.
  bool slots[2] = {false, false};
  for (const Pending* p : batch) {
    if (!p->on_done) slots[p->slot] = true;
  }
  for (Pending* p : batch) {
    if (p->on_done) {
      std::unique_ptr<Pending> owned(p);
      try {
        owned->on_done(owned->status);
      } catch (...) {
        // A callback must not throw; if one does, the rest of the batch is still answered.
      }
    } else {
      p->done.store(true, std::memory_order_release);
    }
  }
  // One system call wakes every caller of the batch instead of one call per caller.
  for (unsigned s = 0; s < 2; ++s) {
    if (!slots[s]) continue;
    wake_[s].fetch_add(1, std::memory_order_release);
    FutexWakeAll(wake_[s]);
  }
}

}  // namespace region
