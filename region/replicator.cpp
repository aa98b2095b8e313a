#include "region/replicator.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <random>

#include "region/threads.h"

namespace region {

struct Replicator::Puller {
  PeerConfig peer;
  PeerStatus status;
  crdt::VersionVector peer_applied;  // the peer's applied vector at its last answer
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
    p->thread = std::thread([this, raw] {
      NameThread("puller");
      Run(*raw);
    });
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

void Replicator::RecordAnswer(Puller& p, const PullResponse& r, uint64_t sent, uint64_t received) {
  const crdt::VersionVector have = hooks_.applied();
  std::lock_guard lock(mu_);
  ++p.status.pulls;
  p.status.state = "ok";  // an apply that holds changes back says otherwise right after
  p.status.last_error.clear();
  p.status.last_contact_ms = received;
  // The peer read its clock when it answered, about half a short exchange before we got
  // the answer; a long-poll's wait is on the peer's side, so `received` is the anchor.
  p.status.clock_offset_ms = static_cast<int64_t>(r.now_ms) - static_cast<int64_t>(received);
  p.status.clock_offset_max_ms = static_cast<int64_t>(r.now_ms) - static_cast<int64_t>(sent);
  p.status.clock_offset_known = true;
  p.peer_applied = r.applied;
  p.status.lag_changes = LagChanges(r.applied, have);
  const uint64_t oldest = r.changes.empty() ? 0 : r.changes.front().hlc.wall_ms();
  p.status.lag_ms = p.status.lag_changes == 0 || oldest == 0 || received <= oldest ? 0 : received - oldest;
}

bool Replicator::RecordApply(Puller& p, const crdt::Result<ApplyResult>& applied) {
  const crdt::VersionVector have = hooks_.applied();
  std::lock_guard lock(mu_);
  p.status.lag_changes = LagChanges(p.peer_applied, have);
  if (p.status.lag_changes == 0) p.status.lag_ms = 0;
  if (!applied.ok()) {
    p.status.state = "unreachable";
    p.status.last_error = applied.status().message();
    return true;
  }
  p.status.changes_applied += applied->applied;
  const bool held = !applied->held.ok();
  p.status.state = held && applied->held.reason() == "clock-skew" ? "skewed" : "ok";
  p.status.last_error = held ? applied->held.message() : "";
  return held;
}

void Replicator::Run(Puller& p) {
  std::mt19937 jitter(std::random_device{}());
  int backoff = options_.backoff_min_ms;
  bool bulk = false;  // the last answer said the peer has more for us
  std::unique_lock<std::mutex> bulk_lock(bulk_mu_, std::defer_lock);
  // While catching up, the apply of one batch runs beside the pull of the next.
  std::future<crdt::Result<ApplyResult>> inflight;
  crdt::VersionVector expected;  // the applied vector once `inflight` has finished
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    if (bulk && !bulk_lock.owns_lock()) bulk_lock.lock();
    const crdt::VersionVector have = inflight.valid() ? expected : hooks_.applied();
    const uint64_t sent = clock_.NowMs();
    const FloorReport floor = hooks_.floor ? hooks_.floor() : FloorReport{};
    auto response = transport_.Pull(p.peer, have, floor, options_.pull_limit, options_.wait_ms);
    const uint64_t received = clock_.NowMs();
    // An earlier batch that stopped short makes this answer start past a gap: drop it.
    const bool earlier_held = inflight.valid() && RecordApply(p, inflight.get());
    if (!response.ok()) {
      bulk = false;
      if (bulk_lock.owns_lock()) bulk_lock.unlock();
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
        p.status.state = StateFor(response.status());
        p.status.last_error = response.status().message();
      }
      if (hooks_.on_status) hooks_.on_status();
      const int sleep = backoff / 2 + static_cast<int>(jitter() % static_cast<unsigned>(backoff / 2 + 1));
      backoff = std::min(backoff * 2, options_.backoff_max_ms);
      if (!SleepFor(sleep)) break;
      continue;
    }
    backoff = options_.backoff_min_ms;
    PullResponse& r = *response;
    RecordAnswer(p, r, sent, received);
    bulk = r.more && !earlier_held;
    bool held = earlier_held;
    if (!earlier_held && !r.changes.empty()) {
      if (bulk) {
        expected = have;
        for (const Change& c : r.changes) expected.Add(c.dot);
        inflight = std::async(std::launch::async, [this, id = p.peer.id, changes = std::move(r.changes)]() mutable {
          return hooks_.apply(id, std::move(changes));
        });
      } else {
        held = RecordApply(p, hooks_.apply(p.peer.id, std::move(r.changes)));
      }
    }
    if (!bulk && bulk_lock.owns_lock()) bulk_lock.unlock();
    if (hooks_.on_status) hooks_.on_status();
    if (held && !SleepFor(options_.held_retry_ms)) break;
  }
  if (inflight.valid()) inflight.wait();
}

}  // namespace region
