#include "region/internal/callback_runner.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace region::internal {

using crdt::Result;
using crdt::Status;

namespace {
struct Call {
  conflict::MergeCallback callback;
  std::vector<conflict::Sibling> siblings;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool abandoned = false;  // the caller stopped waiting
  Result<std::optional<nlohmann::json>> result = Status::Internal("not run");
};
// Callbacks abandoned after their budget that have not returned yet. Past the limit a new
// call fails at once instead of starting another thread a stuck callback may never give back.
std::atomic<int> abandoned{0};
constexpr int kMaxAbandoned = 16;
}  // namespace

int AbandonedCallbacks() { return abandoned.load(); }

Result<std::optional<nlohmann::json>> RunWithBudget(const conflict::MergeCallback& callback,
                                                    const std::vector<conflict::Sibling>& siblings,
                                                    std::chrono::milliseconds budget) {
  if (abandoned.load() >= kMaxAbandoned) {
    return Status(crdt::Code::kDeadlineExceeded, "callback-timeout",
                  std::to_string(kMaxAbandoned) + " earlier calls overran their budget and are still running");
  }
  auto call = std::make_shared<Call>();
  call->callback = callback;
  call->siblings = siblings;
  std::thread worker([call] {
    auto result = conflict::RunCallback(call->callback, call->siblings);
    std::lock_guard lock(call->mu);
    call->result = std::move(result);
    call->done = true;
    if (call->abandoned) abandoned.fetch_sub(1);
    call->cv.notify_one();
  });
  std::unique_lock lock(call->mu);
  if (call->cv.wait_for(lock, budget, [&] { return call->done; })) {
    lock.unlock();
    worker.join();
    return std::move(call->result);
  }
  call->abandoned = true;
  abandoned.fetch_add(1);
  lock.unlock();
  worker.detach();  // it owns what it uses (the shared call) and ends on its own
  return Status(crdt::Code::kDeadlineExceeded, "callback-timeout",
                "the callback did not answer within " + std::to_string(budget.count()) + " ms");
}

}  // namespace region::internal
