// ReadPool: a fixed set of read connections; a reader borrows one for the duration of a
// call and blocks while all are lent out. Thread-safe.
#pragma once

#include <condition_variable>
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
      if (store_) pool_.Return(std::move(store_));
    }
    Store* operator->() { return store_.get(); }
    Store& operator*() { return *store_; }

   private:
    ReadPool& pool_;
    std::unique_ptr<Store> store_;
  };

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
};

}  // namespace region::internal
