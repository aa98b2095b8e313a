#include "region/stability.h"

#include <algorithm>

namespace region {

using crdt::Status;
using crdt::VersionVector;

namespace {
constexpr size_t kMaxPending = 8;
}

Stability::Stability(crdt::RegionId self, std::vector<crdt::RegionId> peers, VersionVector promised)
    : self_(std::move(self)), promised_(std::move(promised)) {
  for (auto& p : peers) peers_[std::move(p)];
}

crdt::Result<uint64_t> Stability::Hold(const VersionVector& base) {
  std::lock_guard lock(mu_);
  if (!promised_.LessOrEqual(base)) {
    return Status::FailedPrecondition("stale-base", "the operations were made on a state (" + base.Encode() +
                                                        ") older than this region's floor (" + promised_.Encode() +
                                                        "); load the document again and redo them");
  }
  const uint64_t id = next_hold_++;
  holds_.emplace(id, HeldBase{base});
  return id;
}

void Stability::Raise(uint64_t hold, const VersionVector& base) {
  std::lock_guard lock(mu_);
  auto it = holds_.find(hold);
  if (it != holds_.end()) it->second.base.Join(base);
}

void Stability::Release(uint64_t hold, int after_ms) {
  std::lock_guard lock(mu_);
  auto it = holds_.find(hold);
  if (it == holds_.end()) return;
  if (after_ms <= 0) {
    holds_.erase(it);
  } else {
    it->second.until = std::chrono::steady_clock::now() + std::chrono::milliseconds(after_ms);
  }
}

VersionVector Stability::FloorLocked(const VersionVector& applied) {
  VersionVector floor = applied;
  const auto now = std::chrono::steady_clock::now();
  for (auto it = holds_.begin(); it != holds_.end();) {
    if (it->second.until <= now) {
      it = holds_.erase(it);
      continue;
    }
    floor.Meet(it->second.base);
    ++it;
  }
  floor.Join(promised_);  // holds cover the promise (Hold checked it), so this only
                          // guards against an applied vector rolled back
  return floor;
}

VersionVector Stability::Advance(const VersionVector& applied) {
  std::lock_guard lock(mu_);
  promised_ = FloorLocked(applied);
  return promised_;
}

void Stability::OnReport(const crdt::RegionId& peer, FloorReport report) {
  std::lock_guard lock(mu_);
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;  // not a configured peer: its floor is never relied on
  auto& pending = it->second.pending;
  if (!pending.empty() && report.floor.LessOrEqual(pending.back().floor) && report.seq >= pending.back().seq) return;
  // Full, or the same seq as the newest: the newest is replaced. The older ones are kept,
  // being the ones that become usable first.
  if (!pending.empty() && (pending.size() >= kMaxPending || report.seq <= pending.back().seq)) {
    report.floor.Join(pending.back().floor);
    report.seq = std::max(report.seq, pending.back().seq);
    pending.back() = std::move(report);
    return;
  }
  pending.push_back(std::move(report));
}

VersionVector Stability::Stable(const VersionVector& applied) {
  std::lock_guard lock(mu_);
  for (const auto& [origin, seq] : applied.entries()) {
    if (origin != self_ && !peers_.count(origin)) return {};
  }
  // This region's own part is what it has promised (and Hold checks against), not what it
  // could promise now: a base between the two would be accepted after the fact.
  VersionVector stable = promised_;
  for (auto& [id, peer] : peers_) {
    const uint64_t have = applied.Get(id);
    while (!peer.pending.empty() && peer.pending.front().seq <= have) {
      peer.floor.Join(peer.pending.front().floor);
      peer.usable = true;
      peer.pending.pop_front();
    }
    if (!peer.usable) return {};
    stable.Meet(peer.floor);
  }
  return stable;
}

VersionVector Stability::promised() const {
  std::lock_guard lock(mu_);
  return promised_;
}

}  // namespace region
