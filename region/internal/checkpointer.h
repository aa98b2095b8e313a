// Checkpointer: copies the writer's WAL into the database file on a thread of its own.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold, on the
// writer thread: every few thousand pages one commit also copies the whole WAL into the
// database file and fsyncs it, and every write queued behind it waits (10-25 ms here, the
// p99 of durable writes under load). The Checkpointer replaces it (sqlite3_wal_hook turns
// the automatic checkpoint off):
//   1. after a commit that leaves `pages` or more in the WAL, a background connection runs
//      PASSIVE checkpoints, which never block the writer: one, then more while what the
//      writer committed during the previous one (left for the next) is more than
//      kFewFrames and still shrinks by a quarter from pass to pass (one pass that does not
//      may be a slow flush: two in a row end the round), so that little is left for step
//      2; under a write load heavier than the disk copies, the passes stop when the WAL
//      reaches kMaxPages x `pages`, and step 2 bounds it at the price of a longer pause.
//      With durability full, a pass syncs the database file every 512 KB it writes
//      (wal_vfs.h: else the writer's next commit waits for the flush of the whole pass);
//      with full or normal, once more at its end (SQLite only does after a pass that
//      reached the end of the WAL, rare under writes: the catch-up's fsync would flush
//      every pass's pages);
//   2. then the writer, between two transactions, copies what is left (the frames committed
//      during the last pass) and starts the WAL over (SQLITE_CHECKPOINT_RESTART), waiting at
//      most kRestartWait for readers still on the old frames (RESTART makes the writer's
//      next transaction start the WAL from its beginning). When the same reader holds on
//      past two waits (the copy stops at the same frame), the catch-ups that follow try
//      without waiting, and the next one that waits comes 1 ms later, doubled with every
//      further miss up to 50 ms: a long read costs the writer one 2 ms wait per 50 ms at
//      most, not one per batch (the WAL keeps growing meanwhile: a reader that holds its
//      snapshot for long keeps the WAL long, as with SQLite's own checkpoints). No commit
//      runs during this step: the writer's time in it is returned by BetweenTransactions
//      for the writer's metrics.
// A PASSIVE pass alone rarely catches up with a busy writer, and a WAL that is never wholly
// copied is never started over: it would grow without bound.
// Durability is unchanged: commits are durable in the WAL before they are acknowledged, and
// a checkpoint only copies committed pages. With durability on, a checkpoint fsyncs the
// database file before the WAL may be started over; with durability off (synchronous=OFF)
// nothing is fsynced, here as in the commits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "crdt/status.h"

struct sqlite3;

namespace region::internal {

class Db;

class Checkpointer {
 public:
  static constexpr std::chrono::microseconds kRestartWait{2000};
  // After a catch-up whose wait did not see the readers go, the next wait comes this much
  // later, doubled with every further miss, at most kMaxRetryPause.
  static constexpr std::chrono::milliseconds kFirstRetryPause{1};
  static constexpr std::chrono::milliseconds kMaxRetryPause{50};
  // Frames left after a background pass that are few enough for the writer's catch-up.
  static constexpr int64_t kFewFrames = 32;
  // The WAL size (in multiples of `pages`) at which the writer catches up whatever is left.
  static constexpr int64_t kMaxPages = 4;

  struct Stats {
    uint64_t background = 0;         // passes by the background connection
    uint64_t background_frames = 0;  // sum over those passes of the WAL frames found in the database
                                     // file after each (a pass counts earlier passes' frames too)
    uint64_t background_syncs = 0;   // fsyncs of the database file during (paced) and after those passes
    uint64_t catch_up = 0;           // the writer's passes after them
    uint64_t restarts = 0;           // catch-ups that started the WAL over
    uint64_t failed = 0;             // passes that returned an error other than busy (or whose
                                     // database file could not be synced)
    int64_t wal_frames = 0;          // frames in the WAL after the newest commit
  };

  // What the background connection syncs: nothing (durability off: synchronous=OFF), the
  // database file after each pass (commits that do not fsync: durability normal), or also
  // every 512 KB during a pass (commits that fsync and would wait behind a long flush:
  // durability full).
  enum class Sync { kOff, kAfterPasses, kPaced };

  // Takes over the checkpoints of `writer` (a connection to `path` in WAL mode) until Stop:
  // opens the background connection and starts its thread. An error (the connection or the
  // thread) leaves the writer as it was.
  static crdt::Result<std::unique_ptr<Checkpointer>> Start(Db& writer, const std::string& path, int pages,
                                                           Sync sync);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // On the writer thread, between two transactions: step 2 above when its turn has come.
  // Returns the time it took (zero when there was nothing to do).
  std::chrono::steady_clock::duration BetweenTransactions();
  // Gives the checkpoints back to SQLite (the automatic checkpoint the writer had before) and
  // stops the thread. Call when the writer thread is done; idempotent.
  void Stop();
  Stats stats() const;

 private:
  Checkpointer(Db& writer, std::unique_ptr<Db> background, int pages, int restore_pages, Sync sync);
  static int OnCommit(void* self, sqlite3* db, const char* name, int frames);
  void Run();

  // kIdle -> kRequested (a commit past the threshold) -> kRunning (the thread's passes) ->
  // kDone (the writer's catch-up next) -> kIdle.
  enum Phase : int { kIdle, kRequested, kRunning, kDone };

  Db& writer_;
  std::unique_ptr<Db> background_;
  const int pages_;
  const int restore_pages_;               // the writer's automatic checkpoint before Start
  const bool sync_;  // fsync the database file after each pass (kAfterPasses or kPaced)
  std::atomic<int> phase_{kIdle};
  // Writer thread only: waits in a row that did not see the readers go, and when the next
  // catch-up may wait for them again.
  int misses_in_row_ = 0;
  int stuck_at_ = -1;  // the frame the copy stopped at after the last wait that missed
  std::chrono::steady_clock::time_point next_patient_try_{};
  std::atomic<int64_t> frames_{0};
  std::atomic<uint64_t> background_passes_{0}, background_frames_{0}, background_syncs_{0}, paced_syncs_{0};
  std::atomic<uint64_t> catch_up_{0}, restarts_{0}, failed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace region::internal
