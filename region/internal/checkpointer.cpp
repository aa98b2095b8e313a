#include "region/internal/checkpointer.h"

#include <sqlite3.h>

#include <algorithm>
#include <climits>
#include <system_error>

#include "region/internal/sqlite.h"
#include "region/internal/wal_vfs.h"
#include "region/threads.h"

namespace region::internal {
namespace {

// Another connection in the way (retried later). SQLITE_LOCKED is not: on these connections
// it would mean a transaction or statement of their own left open, a bug to count.
bool Busy(int rc) { return (rc & 0xff) == SQLITE_BUSY; }

// The writer's busy handler during a catch-up: retries every 100 us until the deadline.
int WaitUntil(void* deadline, int) {
  if (std::chrono::steady_clock::now() >= *static_cast<std::chrono::steady_clock::time_point*>(deadline)) return 0;
  std::this_thread::sleep_for(std::chrono::microseconds(100));
  return 1;
}

}  // namespace

crdt::Result<std::unique_ptr<Checkpointer>> Checkpointer::Start(Db& writer, const std::string& path, int pages,
                                                                 Sync sync) {
  // With kPaced, its writes to the database file are paced with syncs (wal_vfs.h); with
  // either, a failed fsync of the database file stops the process.
  auto background = Db::Open(path, sync == Sync::kPaced ? PacedSyncVfsName() : CheckedSyncVfsName());
  if (!background.ok()) return background.status();
  // A connection that has not read the schema yet does not know the database is in WAL
  // mode: its checkpoints would do nothing (and say SQLITE_OK).
  MERIDIAN_RETURN_IF_ERROR(
      (*background)->Exec(sync != Sync::kOff ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=OFF;"));
  MERIDIAN_RETURN_IF_ERROR((*background)->Exec("SELECT 1 FROM sqlite_schema LIMIT 1;"));
  // The writer's automatic checkpoint, to give back at Stop.
  int restore = 1000;
  {
    auto q = writer.Prepare("PRAGMA wal_autocheckpoint;");
    if (!q.ok()) return q.status();
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (*row) restore = static_cast<int>(q->Int(0));
  }
  std::unique_ptr<Checkpointer> c(new Checkpointer(writer, std::move(background).value(), pages, restore, sync));
  try {
    c->thread_ = std::thread([raw = c.get()] {
      NameThread("checkpointer");
      raw->Run();
    });
  } catch (const std::system_error& e) {
    c->stopped_ = true;  // nothing to give back: the hook is not installed yet
    return crdt::Status(crdt::Code::kUnavailable, "storage",
                        std::string("cannot start the checkpoint thread: ") + e.what());
  }
  sqlite3_wal_hook(writer.raw(), &Checkpointer::OnCommit, c.get());  // the automatic checkpoint is off
  return c;
}

Checkpointer::Checkpointer(Db& writer, std::unique_ptr<Db> background, int pages, int restore_pages, Sync sync)
    : writer_(writer),
      background_(std::move(background)),
      pages_(pages),
      restore_pages_(restore_pages),
      sync_(sync != Sync::kOff) {}

Checkpointer::~Checkpointer() { Stop(); }

void Checkpointer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  sqlite3_wal_autocheckpoint(writer_.raw(), restore_pages_);  // replaces the hook
  background_.reset();
}

int Checkpointer::OnCommit(void* self, sqlite3*, const char*, int frames) {
  auto* c = static_cast<Checkpointer*>(self);
  c->frames_.store(frames, std::memory_order_relaxed);
  if (frames >= c->pages_) {
    int idle = kIdle;
    if (c->phase_.compare_exchange_strong(idle, kRequested)) {
      {
        std::lock_guard lock(c->mu_);  // pairs with the wait: the request cannot be missed
      }
      c->cv_.notify_one();
    }
  }
  return SQLITE_OK;
}

void Checkpointer::Run() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || phase_.load() == kRequested; });
      if (stopping_) return;
    }
    phase_.store(kRunning);
    bool ok = false;
    int64_t left_before = INT64_MAX;
    int stalls = 0;
    while (true) {
      int log = 0, copied = 0;
      const int rc =
          sqlite3_wal_checkpoint_v2(background_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
      if (rc != SQLITE_OK || log < 0) {
        // Busy: the WAL was being started over at that moment; the next commit past the
        // threshold asks again. (A log of -1: the connection was not in WAL mode.)
        if (rc == SQLITE_OK || !Busy(rc)) failed_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      ok = true;
      // SQLite fsyncs the database file only after a pass that copied the WAL to its end,
      // which a pass under writes rarely does (the writer appends meanwhile): the pages of
      // every pass were left to the fsync in the writer's catch-up, 15-40 ms after a round
      // of 4000 frames on an 800 MB database here. Flushed now, on this thread, the
      // catch-up only flushes the few pages it copies itself. (A failed fsync ends the
      // process: wal_vfs.cpp.) Even when the pass reached the end and SQLite synced, the
      // fsync is cheap: nothing is left to write.
      bool synced = true;
      if (sync_) {
        synced = SyncDatabaseFile(background_->raw()) == SQLITE_OK;
        if (synced) background_syncs_.fetch_add(1, std::memory_order_relaxed);
      }
      paced_syncs_.store(PacedSyncs(background_->raw()), std::memory_order_relaxed);
      // Counted after its syncs, so that a pass seen in the stats has them counted too.
      background_frames_.fetch_add(static_cast<uint64_t>(std::max(copied, 0)), std::memory_order_relaxed);
      background_passes_.fetch_add(1, std::memory_order_release);
      if (!synced) {
        // The database file could not be found on the connection (a failed fsync stops the
        // process in the VFS, wal_vfs.h): the catch-up's checkpoint fsyncs what is left.
        failed_.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      // What the writer committed during this pass is left for the next one. Another pass
      // while that is still shrinking well, so that the writer's catch-up is short.
      const int64_t frames = frames_.load(std::memory_order_relaxed);
      const int64_t left = frames - copied;
      if (left <= kFewFrames || frames >= kMaxPages * pages_) break;
      // One pass that shrank the rest by less than a quarter may be a slow flush; two in a
      // row, and the passes are no longer gaining on the writer. Measured against the rest
      // before a stall, so that a pass that only gets back there is no progress.
      stalls = left > left_before - left_before / 4 ? stalls + 1 : 0;
      if (stalls == 2) break;
      if (stalls == 0) left_before = left;
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    phase_.store(ok ? kDone : kIdle);
  }
}

std::chrono::steady_clock::duration Checkpointer::BetweenTransactions() {
  if (phase_.load() != kDone) return {};
  const auto started = std::chrono::steady_clock::now();
  // Copies what the background passes left (nothing to copy, nothing to fsync, when they
  // got it all), then waits a moment for readers of the old frames so as to start the WAL
  // over; after a miss, it only tries without waiting until the next patient try is due.
  const bool patient = started >= next_patient_try_;
  auto deadline = patient ? started + kRestartWait : started;
  sqlite3_busy_handler(writer_.raw(), &WaitUntil, &deadline);
  int log = 0, copied = 0;
  const int rc = sqlite3_wal_checkpoint_v2(writer_.raw(), nullptr, SQLITE_CHECKPOINT_RESTART, &log, &copied);
  sqlite3_busy_timeout(writer_.raw(), Db::kBusyTimeoutMs);  // replaces the handler
  catch_up_.fetch_add(1, std::memory_order_relaxed);
  if (rc == SQLITE_OK) {
    restarts_.fetch_add(1, std::memory_order_relaxed);
    misses_in_row_ = 0;
    stuck_at_ = -1;
    next_patient_try_ = {};
  } else {
    if (!Busy(rc)) failed_.fetch_add(1, std::memory_order_relaxed);
    if (patient && copied == stuck_at_) {
      // A reader holds the same old snapshot as at the previous wait (the copy stops at the
      // same frame): a long read. The next wait only after a pause that doubles with every
      // such miss (1 ms up to kMaxRetryPause), so that it costs the writer one 2 ms wait per
      // 50 ms at most, not one per batch; tries without a wait go on meanwhile and catch
      // the moment it is done.
      const auto pause = std::min<std::chrono::steady_clock::duration>(
          kFirstRetryPause * (int64_t{1} << std::min(misses_in_row_, 20)), kMaxRetryPause);
      ++misses_in_row_;
      next_patient_try_ = std::chrono::steady_clock::now() + pause;
    } else if (patient) {
      // Readers that moved on since (short reads, one of them descheduled for a moment):
      // the next catch-up waits again.
      stuck_at_ = copied;
      misses_in_row_ = 0;
    }
  }
  phase_.store(kIdle);
  return std::chrono::steady_clock::now() - started;
}

Checkpointer::Stats Checkpointer::stats() const {
  Stats s;
  s.background = background_passes_.load(std::memory_order_acquire);
  s.background_frames = background_frames_.load(std::memory_order_relaxed);
  s.background_syncs =
      background_syncs_.load(std::memory_order_relaxed) + paced_syncs_.load(std::memory_order_relaxed);
  s.catch_up = catch_up_.load(std::memory_order_relaxed);
  s.restarts = restarts_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.wal_frames = frames_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace region::internal
