// Test support: the editing traces in shared/traces (josephg/editing-traces), gzipped JSON
// with "txns" of "patches" [position, deleted, inserted] and the expected "endContent".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace testsupport {

// The trace at `path`, or nullopt when the file is missing or is not gzipped JSON.
std::optional<nlohmann::json> LoadTrace(const std::string& path);

// A sequential trace's patches as text edits of the ops API on the field `path`: for each
// patch, {"op":"delete","path","index","count"} if it deletes, then
// {"op":"insert","path","index","text"} if it inserts, in order.
std::vector<nlohmann::json> TraceEdits(const nlohmann::json& trace, const std::string& path = "/body");

}  // namespace testsupport
