// ReadPool: a fixed set of read connections; a reader borrows one for the duration of a
// call and blocks while all are lent out. Thread-safe.
//
// The barrier (SetBarrier) runs when a lease ends, after the connection is back in the
// pool, unless the reader called Checked(): the Node makes it wait until every change a
// read may have found is durable (region/writer.h, pipelined fsync). Readers that check
// what they read themselves, more precisely, call Checked().
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "region/store.h"

namespace region::internal {

class ReadPool {
 public:
  class Lease {
   public:
    Lease(ReadPool& pool, std::unique_ptr<Store> store) : pool_(pool), store_(std::move(store)) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), store_(std::move(other.store_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (!store_) return;
      pool_.Return(std::move(store_));
      if (!checked_ && pool_.barrier_) pool_.barrier_();
    }
    // What this read returns is checked against the writer's visible position already.
    void Checked() { checked_ = true; }
    Store* operator->() { return store_.get(); }
    Store& operator*() { return *store_; }

   private:
    ReadPool& pool_;
    std::unique_ptr<Store> store_;
    bool checked_ = false;
  };

  // Set once, before the pool is used.
  void SetBarrier(std::function<void()> barrier) { barrier_ = std::move(barrier); }

  crdt::Status Open(const std::string& path, int count, Durability durability) {
    for (int i = 0; i < count; ++i) {
      auto s = Store::Open(path, /*writer=*/false, durability);
      if (!s.ok()) return s.status();
      free_.push_back(std::move(s).value());
    }
    return crdt::Status::Ok();
  }

  // A connection if one is free right now (callers that must not wait, such as event loops).
  std::optional<Lease> TryAcquire() {
    std::unique_lock lock(mu_);
    if (free_.empty()) return std::nullopt;
    auto store = std::move(free_.back());
    free_.pop_back();
    lock.unlock();
    return std::optional<Lease>(std::in_place, *this, std::move(store));
  }

  Lease Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !free_.empty(); });
    auto store = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(store));
  }

 private:
  void Return(std::unique_ptr<Store> store) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(std::move(store));
    }
    cv_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Store>> free_;
  std::function<void()> barrier_;
};

}  // namespace region::internal
