#include "crdt/tag.h"

#include <nlohmann/json.hpp>

namespace crdt {

nlohmann::json EncodeTag(const Tag& t) { return nlohmann::json::array({t.dot.origin.str(), t.dot.seq, t.index}); }

Result<Tag> DecodeTag(const nlohmann::json& j) {
  if (!j.is_array() || j.size() != 3 || !j[0].is_string() || !j[1].is_number_unsigned() ||
      !j[2].is_number_unsigned()) {
    return Status::InvalidArgument("invalid-tag", "a tag is [origin, seq, index]");
  }
  auto origin = RegionId::Parse(j[0].get<std::string>());
  if (!origin.ok()) return origin.status();
  return Tag{{std::move(origin).value(), j[1].get<uint64_t>()}, j[2].get<uint32_t>()};
}

}  // namespace crdt
