// Region identity, dots and version vectors.
//
// RegionId: a validated region name, ^[a-z][a-z0-9-]{0,31}$.
// Dot: (origin region, seq) names one change; each region numbers the changes it
//   originates 1, 2, 3, ... without gaps.
// VersionVector: origin -> highest seq, kept sorted by origin with no zero entries, so two
//   equal vectors are equal member by member and encode to the same bytes.
//   Partial order: a <= b iff a[o] <= b[o] for every origin o.
//   Contains(dot) iff vv[dot.origin] >= dot.seq (the dot is in the vector's causal past).
//
// Text encoding (used in the store and on the wire):
//   vector  := "" | entry ("," entry)*      entries sorted by origin, seq > 0
//   entry   := region ":" seq               e.g. "eu-west:7,us-east:12"
//
// Thread-safety: values; copy freely.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crdt/status.h"

namespace crdt {

class RegionId {
 public:
  RegionId() = default;
  static bool IsValid(std::string_view id);
  // InvalidArgument("invalid-region") when `id` does not match the pattern.
  static Result<RegionId> Parse(std::string_view id);

  const std::string& str() const { return id_; }
  bool empty() const { return id_.empty(); }
  friend auto operator<=>(const RegionId&, const RegionId&) = default;

 private:
  explicit RegionId(std::string id) : id_(std::move(id)) {}
  std::string id_;
};

struct Dot {
  RegionId origin;
  uint64_t seq = 0;
  friend auto operator<=>(const Dot&, const Dot&) = default;
  std::string ToString() const { return origin.str() + ":" + std::to_string(seq); }
};

enum class Order { kEqual, kBefore, kAfter, kConcurrent };

class VersionVector {
 public:
  using Entry = std::pair<RegionId, uint64_t>;

  uint64_t Get(const RegionId& origin) const;
  // Raises origin's entry to at least `seq`.
  void Advance(const RegionId& origin, uint64_t seq);
  void Add(const Dot& dot) { Advance(dot.origin, dot.seq); }
  // Pointwise maximum.
  void Join(const VersionVector& other);
  // Pointwise minimum (an origin missing from either side drops out).
  void Meet(const VersionVector& other);

  bool Contains(const Dot& dot) const { return Get(dot.origin) >= dot.seq; }
  // True when every entry of *this is <= the matching entry of `other`.
  bool LessOrEqual(const VersionVector& other) const;
  Order Compare(const VersionVector& other) const;

  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  uint64_t Sum() const;

  std::string Encode() const;
  // InvalidArgument("invalid-vector") on malformed text.
  static Result<VersionVector> Decode(std::string_view text);

  friend bool operator==(const VersionVector&, const VersionVector&) = default;

 private:
  std::vector<Entry> entries_;  // sorted by origin; seq > 0
};

}  // namespace crdt
