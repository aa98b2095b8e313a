#include "region/clock.h"

#include <thread>

namespace region {

uint64_t SystemClock::NowMs() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

void SystemClock::SleepUntilMs(uint64_t deadline_ms) {
  for (uint64_t now = NowMs(); now < deadline_ms; now = NowMs()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

template <typename Step>
crdt::Result<crdt::Hlc> HybridClock::Stamp(Step step) {
  std::unique_lock lock(mu_);
  const uint64_t start = clock_.NowMs();
  while (true) {
    const uint64_t now = clock_.NowMs();
    if (auto stamp = step(now)) return *stamp;
    // Logical counter exhausted for this millisecond: wait for the physical clock to pass
    // the HLC's wall part rather than wrap.
    const uint64_t target = hlc_.last().wall_ms() + 1;
    if (target > start + max_wait_ms_) {
      return crdt::Status::Unavailable(
          "clock-stalled", "HLC logical counter exhausted and the physical clock is " +
                               std::to_string(target - now) + " ms behind the HLC");
    }
    clock_.SleepUntilMs(target);
  }
}

crdt::Result<crdt::Hlc> HybridClock::Now() {
  return Stamp([this](uint64_t now) { return hlc_.Tick(now); });
}

crdt::Result<crdt::Hlc> HybridClock::Receive(crdt::Hlc remote) {
  return Stamp([this, remote](uint64_t now) { return hlc_.Receive(remote, now); });
}

crdt::Hlc HybridClock::Last() const {
  std::lock_guard lock(mu_);
  return hlc_.last();
}

}  // namespace region
