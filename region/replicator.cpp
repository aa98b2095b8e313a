#include "region/replicator.h"

#include <algorithm>
#include <chrono>
#include <random>

namespace region {

struct Replicator::Puller {
  PeerConfig peer;
  PeerStatus status;
  std::thread thread;
};

Replicator::Replicator(std::vector<PeerConfig> peers, Transport& transport, Clock& clock, ReplicatorHooks hooks,
                       ReplicatorOptions options)
    : transport_(transport), clock_(clock), hooks_(std::move(hooks)), options_(options) {
  for (auto& p : peers) {
    auto puller = std::make_unique<Puller>();
    puller->status.id = p.id;
    puller->status.url = p.url;
    puller->peer = std::move(p);
    pullers_.push_back(std::move(puller));
  }
}

Replicator::~Replicator() { Stop(); }

void Replicator::Start() {
  for (auto& p : pullers_) {
    Puller* raw = p.get();
    p->thread = std::thread([this, raw] { Run(*raw); });
  }
}

void Replicator::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  transport_.Cancel();
  for (auto& p : pullers_) {
    if (p->thread.joinable()) p->thread.join();
  }
}

std::vector<PeerStatus> Replicator::Status() const {
  std::lock_guard lock(mu_);
  std::vector<PeerStatus> out;
  for (const auto& p : pullers_) out.push_back(p->status);
  return out;
}

bool Replicator::SleepFor(int ms) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
}

namespace {
uint64_t LagChanges(const crdt::VersionVector& theirs, const crdt::VersionVector& mine) {
  uint64_t lag = 0;
  for (const auto& [origin, seq] : theirs.entries()) {
    const uint64_t have = mine.Get(origin);
    if (seq > have) lag += seq - have;
  }
  return lag;
}

const char* StateFor(const crdt::Status& s) {
  switch (s.code()) {
    case crdt::Code::kUnauthenticated: return "unauthorized";
    case crdt::Code::kGone: return "gone";
    default: return "unreachable";
  }
}
}  // namespace

void Replicator::Run(Puller& p) {
  std::mt19937 jitter(std::random_device{}());
  int backoff = options_.backoff_min_ms;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    const crdt::VersionVector have = hooks_.applied();
    auto response = transport_.Pull(p.peer, have, options_.pull_limit, options_.wait_ms);
    const uint64_t received = clock_.NowMs();
    if (!response.ok()) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        p.status.state = StateFor(response.status());
        p.status.last_error = response.status().message();
      }
      if (hooks_.on_status) hooks_.on_status();
      const int sleep = backoff / 2 + static_cast<int>(jitter() % static_cast<unsigned>(backoff / 2 + 1));
      backoff = std::min(backoff * 2, options_.backoff_max_ms);
      if (!SleepFor(sleep)) return;
      continue;
    }
    backoff = options_.backoff_min_ms;
    PullResponse& r = *response;
    // The peer read its clock when it answered, about half a short exchange before we got
    // the answer; a long-poll's wait is on the peer's side, so `received` is the better anchor.
    const int64_t offset = static_cast<int64_t>(r.now_ms) - static_cast<int64_t>(received);
    const uint64_t oldest_wall = r.changes.empty() ? 0 : r.changes.front().hlc.wall_ms();
    const size_t count = r.changes.size();
    crdt::Result<ApplyResult> applied = count ? hooks_.apply(p.peer.id, std::move(r.changes)) : ApplyResult{};
    const crdt::VersionVector now_have = hooks_.applied();
    bool held = false;
    {
      std::lock_guard lock(mu_);
      ++p.status.pulls;
      p.status.last_contact_ms = received;
      p.status.clock_offset_ms = offset;
      p.status.clock_offset_known = true;
      p.status.lag_changes = LagChanges(r.applied, now_have);
      if (!applied.ok()) {
        p.status.state = "unreachable";
        p.status.last_error = applied.status().message();
        held = true;
      } else {
        p.status.changes_applied += applied->applied;
        held = !applied->held.ok();
        p.status.state = held && applied->held.reason() == "clock-skew" ? "skewed" : "ok";
        p.status.last_error = held ? applied->held.message() : "";
      }
      const uint64_t now = clock_.NowMs();
      p.status.lag_ms = p.status.lag_changes == 0 ? 0 : (oldest_wall && now > oldest_wall ? now - oldest_wall : 0);
    }
    if (hooks_.on_status) hooks_.on_status();
    if (held && !SleepFor(options_.held_retry_ms)) return;
  }
}

}  // namespace region
