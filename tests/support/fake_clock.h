// Test support: a physical clock that moves only when told to (or when someone sleeps on it).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "region/clock.h"

namespace testsupport {

class FakeClock final : public region::Clock {
 public:
  explicit FakeClock(uint64_t start_ms) : now_(start_ms) {}
  uint64_t NowMs() override { return now_.load(); }
  // Sleeping on a frozen clock advances it to the deadline: time passes only for the sleeper.
  void SleepUntilMs(uint64_t deadline_ms) override {
    ++sleeps_;
    uint64_t cur = now_.load();
    while (cur < deadline_ms && !now_.compare_exchange_weak(cur, deadline_ms)) {
    }
  }
  void Set(uint64_t ms) { now_ = ms; }
  void Advance(int64_t delta_ms) { now_ += static_cast<uint64_t>(delta_ms); }
  int sleeps() const { return sleeps_.load(); }

 private:
  std::atomic<uint64_t> now_;
  std::atomic<int> sleeps_{0};
};

}  // namespace testsupport
