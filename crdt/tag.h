// Tag: the unique name of one CRDT operation: the dot of the change that carries it and the
// operation's index inside that change. Ordered (origin, seq, index).
//
// Text encoding (inside CRDT states and change bodies):  [origin, seq, index]
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "crdt/status.h"
#include "crdt/version_vector.h"

namespace crdt {

struct Tag {
  Dot dot;
  uint32_t index = 0;
  friend auto operator<=>(const Tag&, const Tag&) = default;
};

nlohmann::json EncodeTag(const Tag& tag);
Result<Tag> DecodeTag(const nlohmann::json& j);

}  // namespace crdt
