// Checkpointer: copies the writer's WAL into the database file on a thread of its own.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold, on the
// writer thread: every few thousand pages one commit also copies the whole WAL into the
// database file and fsyncs it, and every write queued behind it waits (10-25 ms here, the
// p99 of durable writes under load). The Checkpointer replaces it (sqlite3_wal_hook turns
// the automatic checkpoint off):
//   1. after a commit that leaves `pages` or more in the WAL, a background connection runs a
//      PASSIVE checkpoint, which never blocks the writer;
//   2. once that pass is done, the writer runs a short PASSIVE checkpoint of its own between
//      two transactions, copying only the frames committed during the pass, so that the WAL
//      is wholly in the database file and its next transaction starts the WAL over from the
//      beginning (a PASSIVE pass alone rarely catches up with a busy writer, and a WAL that
//      is never wholly copied grows without bound);
//   3. if the WAL still reaches 4 x `pages` (the background pass keeps failing or is slow),
//      the writer checkpoints by itself, as SQLite would.
// Durability is unchanged: commits are durable in the WAL before they are acknowledged; a
// checkpoint only moves committed pages, and fsyncs the database file before the WAL may be
// reused.
#pragma once

#include <atomic>
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
  struct Stats {
    uint64_t background = 0;  // passes by the background connection
    uint64_t catch_up = 0;    // short passes by the writer after one of those
    uint64_t forced = 0;      // passes by the writer because the WAL grew too large
    uint64_t failed = 0;      // passes that returned an error other than busy (retried later)
    int64_t wal_frames = 0;   // frames in the WAL after the newest commit
  };

  // Takes over the checkpoints of `writer` (a connection to `path` in WAL mode) until Stop:
  // opens the background connection (synchronous FULL when `sync`, else OFF) and starts its
  // thread.
  static crdt::Result<std::unique_ptr<Checkpointer>> Start(Db& writer, const std::string& path, int pages,
                                                           bool sync);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // On the writer thread, between two transactions: steps 2 and 3 above.
  void BetweenTransactions();
  // Gives the checkpoints back to SQLite (the writer's automatic checkpoint at `pages`) and
  // stops the thread. Call when the writer thread is done; idempotent.
  void Stop();
  Stats stats() const;

 private:
  Checkpointer(Db& writer, std::unique_ptr<Db> background, int pages);
  static int OnCommit(void* self, sqlite3* db, const char* name, int frames);
  void Run();
  bool WriterPass();

  // kIdle -> kRequested (a commit past the threshold) -> kRunning (the thread's pass) ->
  // kDone (the writer's catch-up next) -> kIdle; kIdle -> kWriter -> kIdle: a forced pass.
  enum Phase : int { kIdle, kRequested, kRunning, kDone, kWriter };

  Db& writer_;
  std::unique_ptr<Db> background_;
  const int pages_;
  std::atomic<int> phase_{kIdle};
  std::atomic<int64_t> frames_{0};
  std::atomic<uint64_t> background_passes_{0}, catch_up_{0}, forced_{0}, failed_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace region::internal
