#include "crdt/counter.h"

#include <limits>

#include <nlohmann/json.hpp>

namespace crdt {

namespace {
uint64_t Magnitude(int64_t by) {
  return by < 0 ? static_cast<uint64_t>(-(by + 1)) + 1 : static_cast<uint64_t>(by);
}
}  // namespace

Int128 Counter::value() const {
  Int128 v = 0;
  for (const auto& [_, e] : entries_) {
    v += static_cast<Int128>(e.total.inc - e.removed.inc) - static_cast<Int128>(e.total.dec - e.removed.dec);
  }
  return v;
}

bool Counter::removed_all() const {
  for (const auto& [_, e] : entries_) {
    if (e.total.ops != e.removed.ops) return false;
  }
  return true;
}

Status Counter::Increment(const RegionId& origin, uint64_t seq, int64_t by) {
  const Int128 next = value() + by;
  if (next > std::numeric_limits<int64_t>::max() || next < std::numeric_limits<int64_t>::min()) {
    return Status(Code::kOutOfRange, "counter-overflow", "the counter would leave the int64 range");
  }
  const auto it = entries_.find(origin);
  const uint64_t side = it == entries_.end() ? 0 : (by < 0 ? it->second.total.dec : it->second.total.inc);
  if (side > std::numeric_limits<uint64_t>::max() - Magnitude(by)) {
    return Status(Code::kOutOfRange, "counter-overflow", "the counter's history exceeds 2^64 in one direction");
  }
  Apply(origin, seq, by);
  return Status::Ok();
}

void Counter::Apply(const RegionId& origin, uint64_t seq, int64_t by) {
  Mark& t = entries_[origin].total;
  (by < 0 ? t.dec : t.inc) += Magnitude(by);
  ++t.ops;
  t.seq = std::max(t.seq, seq);
}

void Counter::Remove(const Counter& observed) {
  for (const auto& [origin, o] : observed.entries_) {
    Entry& e = entries_[origin];
    if (o.total.seq > e.removed.seq) e.removed = o.total;
  }
}

nlohmann::json Counter::Encode() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [origin, e] : entries_) {
    out[origin.str()] = nlohmann::json::array({e.total.inc, e.total.dec, e.total.ops, e.total.seq, e.removed.inc,
                                               e.removed.dec, e.removed.ops, e.removed.seq});
  }
  return out;
}

Result<Counter> Counter::Decode(const nlohmann::json& j) {
  auto bad = Status::InvalidArgument("invalid-state", "malformed counter state");
  if (!j.is_object()) return bad;
  Counter c;
  for (const auto& [k, v] : j.items()) {
    auto origin = RegionId::Parse(k);
    if (!origin.ok() || !v.is_array() || v.size() != 8) return bad;
    for (const auto& n : v) {
      if (!n.is_number_unsigned()) return bad;
    }
    auto u = [&](size_t i) { return v[i].get<uint64_t>(); };
    c.entries_[*origin] = Entry{{u(0), u(1), u(2), u(3)}, {u(4), u(5), u(6), u(7)}};
  }
  return c;
}

nlohmann::json CounterJson(Int128 value) {
  if (value <= std::numeric_limits<int64_t>::max() && value >= std::numeric_limits<int64_t>::min()) {
    return static_cast<int64_t>(value);
  }
  const bool negative = value < 0;
  UInt128 magnitude = negative ? static_cast<UInt128>(-(value + 1)) + 1 : static_cast<UInt128>(value);
  std::string digits;
  while (magnitude > 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  }
  return (negative ? "-" : "") + digits;
}

}  // namespace crdt
