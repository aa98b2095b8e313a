#include "crdt/version_vector.h"

#include <algorithm>
#include <charconv>

namespace crdt {

bool RegionId::IsValid(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  if (id[0] < 'a' || id[0] > 'z') return false;
  return std::all_of(id.begin(), id.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
  });
}

Result<RegionId> RegionId::Parse(std::string_view id) {
  if (!IsValid(id)) {
    return Status::InvalidArgument(
        "invalid-region", "region id '" + std::string(id.substr(0, 64)) +
                              "' must match ^[a-z][a-z0-9-]{0,31}$");
  }
  return RegionId(std::string(id));
}

namespace {
auto FindEntry(std::vector<VersionVector::Entry>& entries, const RegionId& origin) {
  return std::lower_bound(entries.begin(), entries.end(), origin,
                          [](const VersionVector::Entry& e, const RegionId& o) { return e.first < o; });
}
}  // namespace

uint64_t VersionVector::Get(const RegionId& origin) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), origin,
                             [](const Entry& e, const RegionId& o) { return e.first < o; });
  return (it != entries_.end() && it->first == origin) ? it->second : 0;
}

void VersionVector::Advance(const RegionId& origin, uint64_t seq) {
  if (seq == 0) return;
  auto it = FindEntry(entries_, origin);
  if (it != entries_.end() && it->first == origin) {
    it->second = std::max(it->second, seq);
  } else {
    entries_.insert(it, Entry(origin, seq));
  }
}

void VersionVector::Join(const VersionVector& other) {
  for (const auto& [origin, seq] : other.entries_) Advance(origin, seq);
}

void VersionVector::Meet(const VersionVector& other) {
  std::vector<Entry> out;
  for (const auto& [origin, seq] : entries_) {
    const uint64_t m = std::min(seq, other.Get(origin));
    if (m > 0) out.emplace_back(origin, m);
  }
  entries_ = std::move(out);
}

bool VersionVector::LessOrEqual(const VersionVector& other) const {
  return std::all_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return e.second <= other.Get(e.first); });
}

Order VersionVector::Compare(const VersionVector& other) const {
  const bool le = LessOrEqual(other);
  const bool ge = other.LessOrEqual(*this);
  if (le && ge) return Order::kEqual;
  if (le) return Order::kBefore;
  if (ge) return Order::kAfter;
  return Order::kConcurrent;
}

uint64_t VersionVector::Sum() const {
  uint64_t total = 0;
  for (const auto& e : entries_) total += e.second;
  return total;
}

std::string VersionVector::Encode() const {
  std::string out;
  for (const auto& [origin, seq] : entries_) {
    if (!out.empty()) out += ',';
    out += origin.str();
    out += ':';
    out += std::to_string(seq);
  }
  return out;
}

Result<VersionVector> VersionVector::Decode(std::string_view text) {
  VersionVector vv;
  const std::string_view whole = text;  // `text` is consumed below
  auto bad = [whole] {
    return Status::InvalidArgument("invalid-vector",
                                   "malformed version vector '" + std::string(whole.substr(0, 200)) + "'");
  };
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty()) return bad();
    const size_t colon = entry.find(':');
    if (colon == std::string_view::npos) return bad();
    auto origin = RegionId::Parse(entry.substr(0, colon));
    if (!origin.ok()) return bad();
    uint64_t seq = 0;
    std::string_view digits = entry.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
    if (ec != std::errc() || ptr != digits.data() + digits.size() || seq == 0) return bad();
    if (!vv.entries_.empty() && !(vv.entries_.back().first < *origin)) return bad();
    vv.entries_.emplace_back(std::move(origin).value(), seq);
  }
  return vv;
}

}  // namespace crdt
