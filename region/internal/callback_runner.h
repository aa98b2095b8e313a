// Runs merge callbacks with a time budget.
//
// Each call runs on a thread of its own while the caller waits up to the budget. A callback
// that overruns is abandoned: its thread finishes in the background and its answer is
// dropped, and the call fails with DeadlineExceeded("callback-timeout"). A C++ callback
// cannot be interrupted, so a callback that never returns keeps its thread; that is the
// price of not stalling replication; at most 16 such threads are kept, and past that calls
// fail at once with "callback-timeout" until some return. Thread-safe.
#pragma once

#include <chrono>
#include <vector>

#include "conflict/merge.h"

namespace region::internal {

crdt::Result<std::optional<nlohmann::json>> RunWithBudget(const conflict::MergeCallback& callback,
                                                          const std::vector<conflict::Sibling>& siblings,
                                                          std::chrono::milliseconds budget);

// How many abandoned calls are still running (for tests and metrics).
int AbandonedCallbacks();

}  // namespace region::internal
