// Hybrid logical clocks (Kulkarni, Demirbas et al., "Logical Physical Clocks", 2014).
//
// An Hlc is 48 bits of wall-clock milliseconds and a 16-bit logical counter, packed into
// one uint64 as (wall_ms << 16) | logical so that integer order is HLC order. The packed
// value stays below 2^63 until the year 6429, so it fits SQLite's signed INTEGER.
//
// HlcClock is the pure state machine of the algorithm: the physical time is a parameter,
// never read here. Rules, with l/c the clock's wall and logical parts and pt the physical
// time passed in:
//   local or send event:  l' = max(l, pt); c' = (l' == l) ? c + 1 : 0
//   receive of (lm, cm):  l' = max(l, lm, pt);
//                         c' = l'==l==lm ? max(c, cm) + 1 : l'==l ? c + 1 : l'==lm ? cm + 1 : 0
// When c' would exceed 65535 the step returns nullopt and leaves the clock unchanged: the
// caller waits until its physical clock passes l and tries again (region::HybridClock does),
// so the counter never wraps. Restarting from a persisted high-water mark (the largest stamp
// ever issued or received) keeps stamps strictly increasing across restarts even when the
// physical clock has stepped back.
//
// Thread-safety: none; the owner serialises access.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace crdt {

class Hlc {
 public:
  static constexpr uint64_t kMaxWallMs = (uint64_t{1} << 48) - 1;
  static constexpr uint32_t kMaxLogical = 0xFFFF;

  constexpr Hlc() = default;
  static constexpr Hlc FromParts(uint64_t wall_ms, uint32_t logical) {
    return Hlc((wall_ms << 16) | (logical & kMaxLogical));
  }
  static constexpr Hlc FromPacked(uint64_t packed) { return Hlc(packed); }

  constexpr uint64_t wall_ms() const { return packed_ >> 16; }
  constexpr uint32_t logical() const { return static_cast<uint32_t>(packed_ & kMaxLogical); }
  constexpr uint64_t packed() const { return packed_; }
  constexpr bool is_zero() const { return packed_ == 0; }

  // "wall_ms.logical", e.g. "1764142002123.7".
  std::string ToString() const;

  friend constexpr auto operator<=>(Hlc, Hlc) = default;

 private:
  constexpr explicit Hlc(uint64_t packed) : packed_(packed) {}
  uint64_t packed_ = 0;
};

class HlcClock {
 public:
  // Starts after `high_water`: every stamp issued is strictly greater than it.
  explicit HlcClock(Hlc high_water = Hlc()) : last_(high_water) {}

  // Stamp for a local event at physical time `physical_ms`; nullopt on logical overflow.
  std::optional<Hlc> Tick(uint64_t physical_ms);

  // Merges a remote stamp; the returned stamp is greater than both `remote` and every
  // stamp issued before. nullopt on logical overflow (the clock is left unchanged).
  std::optional<Hlc> Receive(Hlc remote, uint64_t physical_ms);

  // Largest stamp issued or received; persist it to survive restarts.
  Hlc last() const { return last_; }

 private:
  Hlc last_;
};

}  // namespace crdt
