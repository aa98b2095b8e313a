#include "region/wire.h"

#include <nlohmann/json.hpp>

namespace region {

using crdt::Result;
using crdt::Status;
using nlohmann::json;

std::string EncodePullResponse(const PullResponse& r) {
  json changes = json::array();
  for (const Change& c : r.changes) {
    changes.push_back(json::array({c.dot.origin.str(), c.dot.seq, c.hlc.packed(), c.collection, c.key,
                                   static_cast<int>(c.kind), c.ctx.Encode(), c.body}));
  }
  json out = {{"region", r.region.str()},
              {"now_ms", r.now_ms},
              {"applied", r.applied.Encode()},
              {"more", r.more},
              {"changes", std::move(changes)}};
  return out.dump();
}

namespace {
Status Bad(const std::string& what) {
  return Status::InvalidArgument("invalid-pull-response", "malformed pull response: " + what);
}

Result<Change> DecodeChange(const json& e) {
  if (!e.is_array() || e.size() != 8) return Bad("change is not an 8-element array");
  if (!e[0].is_string() || !e[1].is_number_unsigned() || !e[2].is_number_unsigned() || !e[3].is_string() ||
      !e[4].is_string() || !e[5].is_number_integer() || !e[6].is_string() || !e[7].is_string()) {
    return Bad("change field of the wrong type");
  }
  Change c;
  auto origin = crdt::RegionId::Parse(e[0].get<std::string>());
  if (!origin.ok()) return Bad("origin");
  c.dot = {std::move(origin).value(), e[1].get<uint64_t>()};
  if (c.dot.seq == 0) return Bad("seq 0");
  c.hlc = crdt::Hlc::FromPacked(e[2].get<uint64_t>());
  c.collection = e[3].get<std::string>();
  c.key = e[4].get<std::string>();
  const int kind = e[5].get<int>();
  if (kind < static_cast<int>(ChangeKind::kPut) || kind > static_cast<int>(ChangeKind::kPurge)) return Bad("kind");
  c.kind = static_cast<ChangeKind>(kind);
  auto ctx = crdt::VersionVector::Decode(e[6].get<std::string>());
  if (!ctx.ok()) return Bad("context");
  c.ctx = std::move(ctx).value();
  c.body = e[7].get<std::string>();
  return c;
}
}  // namespace

Result<PullResponse> DecodePullResponse(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Bad("not a JSON object");
  PullResponse r;
  auto region = j.find("region");
  auto now = j.find("now_ms");
  auto applied = j.find("applied");
  auto more = j.find("more");
  auto changes = j.find("changes");
  if (region == j.end() || !region->is_string() || now == j.end() || !now->is_number_unsigned() ||
      applied == j.end() || !applied->is_string() || more == j.end() || !more->is_boolean() ||
      changes == j.end() || !changes->is_array()) {
    return Bad("missing or mistyped field");
  }
  auto id = crdt::RegionId::Parse(region->get<std::string>());
  if (!id.ok()) return Bad("region");
  r.region = std::move(id).value();
  r.now_ms = now->get<uint64_t>();
  auto vv = crdt::VersionVector::Decode(applied->get<std::string>());
  if (!vv.ok()) return Bad("applied vector");
  r.applied = std::move(vv).value();
  r.more = more->get<bool>();
  r.changes.reserve(changes->size());
  for (const auto& e : *changes) {
    auto c = DecodeChange(e);
    if (!c.ok()) return c.status();
    r.changes.push_back(std::move(c).value());
  }
  return r;
}

}  // namespace region
