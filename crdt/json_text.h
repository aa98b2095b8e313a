// Strict JSON parsing for untrusted input (client bodies, peer payloads).
//
// Stricter than nlohmann::json::parse: duplicate object keys are an error (RFC 8259 leaves
// them undefined, and two regions must never read the same bytes differently), nesting
// deeper than `max_depth` is an error, and the parser never throws.
//
// Errors: InvalidArgument with reason "invalid-json", "duplicate-key" or "too-deep"; the
// message gives the byte offset.
#pragma once

#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "crdt/status.h"

namespace crdt {

inline constexpr int kDefaultMaxJsonDepth = 64;

Result<nlohmann::json> ParseJson(std::string_view text, int max_depth = kDefaultMaxJsonDepth);

// RFC 7396 JSON Merge Patch: `patch` applied to `target` (null when absent).
nlohmann::json ApplyMergePatch(const nlohmann::json& target, const nlohmann::json& patch);

}  // namespace crdt
