// Clock: the injected source of physical time, and HybridClock, the region's HLC.
//
// Production uses SystemClock; tests and the simulation inject clocks they control, so
// every time-dependent rule (HLC overflow waits, skew checks, timeouts) is testable.
//
// HybridClock is thread-safe. It wraps crdt::HlcClock: on logical overflow it waits on the
// injected clock until physical time passes the HLC's wall part, for at most `max_wait`;
// past that the stamp fails with Unavailable("clock-stalled") instead of wrapping.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "crdt/hlc.h"
#include "crdt/status.h"

namespace region {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual uint64_t NowMs() = 0;
  // Blocks until NowMs() >= deadline_ms (a test clock may simply advance itself).
  virtual void SleepUntilMs(uint64_t deadline_ms) = 0;
};

class SystemClock final : public Clock {
 public:
  uint64_t NowMs() override;
  void SleepUntilMs(uint64_t deadline_ms) override;
};

// The system clock shifted by a fixed offset: how tests (and the --debug-clock-offset-ms
// flag) give one region a skewed clock without touching the machine's.
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(int64_t offset_ms) : offset_ms_(offset_ms) {}
  uint64_t NowMs() override { return static_cast<uint64_t>(static_cast<int64_t>(base_.NowMs()) + offset_ms_); }
  void SleepUntilMs(uint64_t deadline_ms) override {
    base_.SleepUntilMs(static_cast<uint64_t>(static_cast<int64_t>(deadline_ms) - offset_ms_));
  }

 private:
  SystemClock base_;
  int64_t offset_ms_;
};

class HybridClock {
 public:
  HybridClock(Clock& clock, crdt::Hlc high_water, uint64_t max_wait_ms = 1000)
      : clock_(clock), hlc_(high_water), max_wait_ms_(max_wait_ms) {}

  // A fresh stamp, strictly greater than every stamp issued or received before.
  crdt::Result<crdt::Hlc> Now();
  // Applies the receive rule for a remote stamp; returns the new local stamp.
  crdt::Result<crdt::Hlc> Receive(crdt::Hlc remote);
  crdt::Hlc Last() const;
  uint64_t PhysicalMs() { return clock_.NowMs(); }
  Clock& clock() { return clock_; }

 private:
  template <typename Step>
  crdt::Result<crdt::Hlc> Stamp(Step step);

  Clock& clock_;
  mutable std::mutex mu_;
  crdt::HlcClock hlc_;
  const uint64_t max_wait_ms_;
};

}  // namespace region
