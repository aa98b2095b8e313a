#include "region/internal/checkpointer.h"

#include <sqlite3.h>

#include "region/internal/sqlite.h"
#include "region/threads.h"

namespace region::internal {

crdt::Result<std::unique_ptr<Checkpointer>> Checkpointer::Start(Db& writer, const std::string& path, int pages,
                                                                 bool sync) {
  auto background = Db::Open(path);
  if (!background.ok()) return background.status();
  MERIDIAN_RETURN_IF_ERROR((*background)->Exec(sync ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=OFF;"));
  std::unique_ptr<Checkpointer> c(new Checkpointer(writer, std::move(background).value(), pages));
  sqlite3_wal_hook(writer.raw(), &Checkpointer::OnCommit, c.get());  // the automatic checkpoint is off
  c->thread_ = std::thread([raw = c.get()] {
    NameThread("checkpointer");
    raw->Run();
  });
  return c;
}

Checkpointer::Checkpointer(Db& writer, std::unique_ptr<Db> background, int pages)
    : writer_(writer), background_(std::move(background)), pages_(pages) {}

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
  sqlite3_wal_autocheckpoint(writer_.raw(), pages_);  // replaces the hook
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
    int log = 0, copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(background_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc == SQLITE_OK) {
      background_passes_.fetch_add(1, std::memory_order_relaxed);
      phase_.store(kDone);
    } else {
      // SQLITE_BUSY: the WAL was being started over at that moment; the next commit past
      // the threshold asks again.
      if (rc != SQLITE_BUSY) failed_.fetch_add(1, std::memory_order_relaxed);
      phase_.store(kIdle);
    }
  }
}

bool Checkpointer::WriterPass() {
  int log = 0, copied = 0;
  const int rc = sqlite3_wal_checkpoint_v2(writer_.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) failed_.fetch_add(1, std::memory_order_relaxed);
  return rc == SQLITE_OK;
}

void Checkpointer::BetweenTransactions() {
  if (phase_.load() == kDone) {
    if (WriterPass()) catch_up_.fetch_add(1, std::memory_order_relaxed);
    phase_.store(kIdle);
    return;
  }
  // The background pass is not keeping up: the writer checkpoints itself, with the thread
  // kept out of the way (one checkpoint at a time).
  int idle = kIdle;
  if (frames_.load(std::memory_order_relaxed) >= 4 * static_cast<int64_t>(pages_) &&
      phase_.compare_exchange_strong(idle, kWriter)) {
    if (WriterPass()) forced_.fetch_add(1, std::memory_order_relaxed);
    phase_.store(kIdle);
  }
}

Checkpointer::Stats Checkpointer::stats() const {
  Stats s;
  s.background = background_passes_.load(std::memory_order_relaxed);
  s.catch_up = catch_up_.load(std::memory_order_relaxed);
  s.forced = forced_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.wal_frames = frames_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace region::internal
