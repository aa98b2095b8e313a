// Replication between regions: peers, the transport that reaches them, and what a region
// reports about each peer.
//
// Each region pulls from every peer: "here is my applied vector, send what I lack". The
// peer answers from its change log in its own apply order, which is causal, so changes
// arrive with their causes and a region learns C's changes from B as well as from C.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "crdt/status.h"
#include "crdt/version_vector.h"
#include "region/stability.h"
#include "region/wire.h"

namespace region {

struct PeerConfig {
  crdt::RegionId id;
  std::string url;  // base URL, e.g. http://127.0.0.1:7002
};

// How a region reaches its peers. The HTTP transport is the production one; tests and
// the simulation supply their own.
class Transport {
 public:
  virtual ~Transport() = default;
  // Asks `peer` for the changes `have` lacks, at most `limit`, waiting up to `wait_ms` for
  // one to appear, telling it this region's floor. Errors: Unavailable (unreachable, timed out), Unauthenticated (secret
  // rejected), Gone (the peer compacted history this region still needs).
  virtual crdt::Result<PullResponse> Pull(const PeerConfig& peer, const crdt::VersionVector& have,
                                          const FloorReport& floor, int limit, int wait_ms) = 0;
  // Aborts requests in flight and makes later ones fail fast (shutdown).
  virtual void Cancel() = 0;
};

// What applying a batch of remote changes did.
struct ApplyResult {
  size_t applied = 0;
  size_t duplicates = 0;
  size_t conflicts = 0;
  // Ok when the whole batch was applied or skipped as duplicates. Otherwise why the rest
  // was held back (not applied, not dropped): "clock-skew" (stamped too far ahead of this
  // region's clock), "gap" or "causal" (a change arrived before one it depends on).
  crdt::Status held;
  crdt::Hlc held_hlc;  // the stamp of the held-back change
};

// One peer as this region sees it (GET /v1/cluster, /metrics).
struct PeerStatus {
  crdt::RegionId id;
  std::string url;
  std::string state = "connecting";  // connecting, ok, unreachable, unauthorized, skewed, gone
  uint64_t lag_changes = 0;          // changes the peer has that this region has not applied
  uint64_t lag_ms = 0;               // age of the oldest of them (0 when caught up)
  uint64_t outbound_lag_changes = 0; // changes this region has that the peer had not, at its last pull
  uint64_t last_contact_ms = 0;      // wall clock of the last answer from the peer (0: never)
  int64_t clock_offset_ms = 0;       // peer clock minus this region's clock, estimated
  int64_t clock_offset_max_ms = 0;   // at most this much: the peer read its clock after we
                                     // sent the request (a slow answer cannot fake a skew)
  bool clock_offset_known = false;
  std::string last_error;
  uint64_t pulls = 0;
  uint64_t changes_applied = 0;
};

}  // namespace region
