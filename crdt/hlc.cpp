#include "crdt/hlc.h"

#include <algorithm>

namespace crdt {

std::string Hlc::ToString() const {
  return std::to_string(wall_ms()) + "." + std::to_string(logical());
}

std::optional<Hlc> HlcClock::Tick(uint64_t physical_ms) {
  const uint64_t pt = std::min(physical_ms, Hlc::kMaxWallMs);
  const uint64_t l = last_.wall_ms();
  if (pt > l) {
    last_ = Hlc::FromParts(pt, 0);
    return last_;
  }
  if (last_.logical() == Hlc::kMaxLogical) return std::nullopt;
  last_ = Hlc::FromParts(l, last_.logical() + 1);
  return last_;
}

std::optional<Hlc> HlcClock::Receive(Hlc remote, uint64_t physical_ms) {
  const uint64_t pt = std::min(physical_ms, Hlc::kMaxWallMs);
  const uint64_t l = last_.wall_ms();
  const uint64_t lm = remote.wall_ms();
  const uint64_t next_l = std::max({l, lm, pt});
  uint64_t next_c = 0;
  if (next_l == l && next_l == lm) {
    next_c = uint64_t{std::max(last_.logical(), remote.logical())} + 1;
  } else if (next_l == l) {
    next_c = uint64_t{last_.logical()} + 1;
  } else if (next_l == lm) {
    next_c = uint64_t{remote.logical()} + 1;
  }
  if (next_c > Hlc::kMaxLogical) return std::nullopt;
  last_ = Hlc::FromParts(next_l, static_cast<uint32_t>(next_c));
  return last_;
}

}  // namespace crdt
