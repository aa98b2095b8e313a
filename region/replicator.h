// Replicator: one puller thread per peer, keeping this region caught up with the others.
//
// Each puller asks its peer for what this region's applied vector lacks, long-polling so
// that a change reaches it about one round trip after it commits at the peer, applies the
// answer (one transaction per batch, with the applied vector), and asks again. Failures
// back off exponentially with jitter (50 ms up to 2 s) and recover by themselves: a peer
// that is down for hours is simply retried; nothing is lost because the applied vector
// says exactly where to resume. Changes held back (clock skew, missing causes) are asked
// for again after a pause.
//
// Thread-safety: Start/Stop from one thread; Status() from any.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "region/clock.h"
#include "region/replication.h"
#include "region/stability.h"

namespace region {

struct ReplicatorOptions {
  int pull_limit = 5000;       // changes per pull
  int wait_ms = 2000;          // long-poll duration
  int backoff_min_ms = 50;
  int backoff_max_ms = 2000;
  int held_retry_ms = 200;     // pause after a batch was held back
};

struct ReplicatorHooks {
  std::function<crdt::VersionVector()> applied;
  std::function<FloorReport()> floor;  // sent with every pull (region/stability.h)
  std::function<crdt::Result<ApplyResult>(const crdt::RegionId& from, std::vector<Change> changes)> apply;
  std::function<void()> on_status;  // a peer's status (clock offset, state) changed
};

class Replicator {
 public:
  Replicator(std::vector<PeerConfig> peers, Transport& transport, Clock& clock, ReplicatorHooks hooks,
             ReplicatorOptions options = {});
  ~Replicator();

  void Start();
  // Cancels requests in flight and joins the pullers.
  void Stop();

  std::vector<PeerStatus> Status() const;

 private:
  struct Puller;
  void Run(Puller& p);
  void RecordAnswer(Puller& p, const PullResponse& r, uint64_t sent, uint64_t received);
  // Returns whether the batch was held back (or failed).
  bool RecordApply(Puller& p, const crdt::Result<ApplyResult>& applied);
  bool SleepFor(int ms);  // false when stopping

  Transport& transport_;
  Clock& clock_;
  ReplicatorHooks hooks_;
  ReplicatorOptions options_;
  std::vector<std::unique_ptr<Puller>> pullers_;
  // Held by a puller that is catching up (its last answer said "more"): bulk transfers go
  // one at a time, so two peers never both send this region the same backlog.
  std::mutex bulk_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

}  // namespace region
