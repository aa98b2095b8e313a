// Stability: which changes every region has applied and every operation still to come
// will have in its causal past (causal stability), so that metadata kept only to place
// concurrent operations (text tombstones) can be dropped.
//
// Floors. A region promises a floor F: every operation it originates from now on has F in
// its causal past. Its own writes are made on its state, so F <= its applied vector. Text
// operations made by browser replicas carry `base`, the vector of what the browser had
// seen; they are accepted only when base covers every floor already promised, and while
// one is in flight (or a live session may still send one) its base holds the floor down
// (Hold). So F = min(applied, held bases), and the promise only grows.
//
// The floor is advanced inside the region's write transactions and stored with them, so a
// restarted region promises at least what it promised before (and no more than its pages
// had seen). Reports. Each pull a region sends carries its committed floor and its own seq
// as of that commit (FloorReport). The region pulled from can rely on a report once it has applied the
// reporter's changes up to that seq: older ones may predate the floor, later ones are made
// after it. Stable = min(own floor, each peer's newest usable report). Nothing is stable
// while a configured peer has not reported, or while the applied vector names an origin
// that is not a configured peer (a region whose floor nobody hears).
//
// Not covered (docs/ARCHITECTURE.md): a region joining after others collected (membership
// is the static peer list), and a power loss that rolls back replicated batches a floor
// had counted (they commit with synchronous=NORMAL).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <vector>

#include "crdt/status.h"
#include "crdt/version_vector.h"

namespace region {

struct FloorReport {
  crdt::VersionVector floor;
  uint64_t seq = 0;  // the reporting region's own seq when it computed the floor
};

class Stability {
 public:
  // `promised` is the floor stored at the last commit (or, before any was, the applied vector).
  Stability(crdt::RegionId self, std::vector<crdt::RegionId> peers, crdt::VersionVector promised);

  // Holds the floor at or below `base` until Release(). FailedPrecondition("stale-base")
  // when `base` does not cover the floor already promised.
  crdt::Result<uint64_t> Hold(const crdt::VersionVector& base);
  // Raises a hold to include `base` (never lowers it).
  void Raise(uint64_t hold, const crdt::VersionVector& base);
  // Releases a hold now, or after `after_ms` (a page that reconnects within that time can
  // still send what it made before).
  void Release(uint64_t hold, int after_ms = 0);

  // Computes the floor from this region's committed applied vector and promises it (the
  // caller stores it in the transaction that reports will read it from).
  crdt::VersionVector Advance(const crdt::VersionVector& applied);
  // A peer's report, from its pull request.
  void OnReport(const crdt::RegionId& peer, FloorReport report);
  // The causally stable vector, given this region's applied vector (empty: nothing).
  crdt::VersionVector Stable(const crdt::VersionVector& applied);
  crdt::VersionVector promised() const;

 private:
  crdt::VersionVector FloorLocked(const crdt::VersionVector& applied);

  struct Peer {
    bool usable = false;
    crdt::VersionVector floor;            // newest usable report
    std::deque<FloorReport> pending;      // reports waiting for their seq to be applied
  };
  const crdt::RegionId self_;
  mutable std::mutex mu_;
  struct HeldBase {
    crdt::VersionVector base;
    std::chrono::steady_clock::time_point until = std::chrono::steady_clock::time_point::max();
  };
  std::map<uint64_t, HeldBase> holds_;
  uint64_t next_hold_ = 1;
  crdt::VersionVector promised_;
  std::map<crdt::RegionId, Peer> peers_;
};

}  // namespace region
