// Counter: a PN-counter of int64, operation-based over causal, exactly-once delivery.
//
// State, for each origin region r, two marks on r's own history of operations on this
// counter (r's operations arrive in their order, so each mark is a prefix):
//   total_r    = (inc, dec, ops, seq): everything r added, up to its operation `seq`
//   removed_r  = (inc, dec, ops, seq): the prefix of that history a removal has observed
// Value = Σ_r (total.inc − removed.inc) − (total.dec − removed.dec).
// Merge rule (per operation):
//   Increment(r, seq, by)   total_r += by (as inc or dec); total_r.ops += 1; total_r.seq = seq
//   Remove(observed)        for each r: if observed.total_r.seq > removed_r.seq,
//                           removed_r = observed.total_r
// Increments commute (addition). A removal names prefixes of each region's history, and the
// same prefix has the same totals everywhere, so taking the longest prefix is commutative,
// associative and idempotent: two deletes that saw the same increments remove them once.
// An increment concurrent with a removal lies beyond the prefix it saw and survives
// (update beats delete). The state has a fixed size per region; nothing grows with the
// number of operations.
// Overflow is an error, never a wrap: an increment that would take the origin's value
// outside int64 is refused there. Concurrent increments from several regions can still
// sum past int64 at a receiver; the value is kept exactly (128-bit) and reported as such.
//
// Thread-safety: value type.
#pragma once

#include <cstdint>
#include <map>

#include <nlohmann/json_fwd.hpp>

#include "crdt/status.h"
#include "crdt/version_vector.h"

namespace crdt {

// 128-bit arithmetic for exact counter sums (a GCC/Clang extension).
__extension__ typedef __int128 Int128;
__extension__ typedef unsigned __int128 UInt128;

class Counter {
 public:
  // At the origin: OutOfRange("counter-overflow") when the value would leave int64 (or a
  // region's history would pass 2^64 in one direction).
  Status Increment(const RegionId& origin, uint64_t seq, int64_t by);
  // At a receiver: the origin already checked, and a region's marks only sum that region's
  // checked operations.
  void Apply(const RegionId& origin, uint64_t seq, int64_t by);
  void Remove(const Counter& observed);

  Int128 value() const;
  // Every operation has been removed (the marks stay: a later removal must not count
  // anything twice, so they are part of the state for good: two per region).
  bool removed_all() const;

  // {"<region>": [inc, dec, ops, seq, removed_inc, removed_dec, removed_ops, removed_seq], ...}
  nlohmann::json Encode() const;
  static Result<Counter> Decode(const nlohmann::json& j);
  friend bool operator==(const Counter&, const Counter&) = default;

 private:
  struct Mark {
    uint64_t inc = 0, dec = 0, ops = 0, seq = 0;
    friend bool operator==(const Mark&, const Mark&) = default;
  };
  struct Entry {
    Mark total, removed;
    friend bool operator==(const Entry&, const Entry&) = default;
  };
  std::map<RegionId, Entry> entries_;
};

// The JSON rendering of a counter value: a number when it fits int64, else its exact
// decimal digits as a string.
nlohmann::json CounterJson(Int128 value);

}  // namespace crdt
