#include "region/collection_def.h"

#include <nlohmann/json.hpp>

#include "crdt/json_text.h"

namespace region {

using crdt::Result;
using crdt::Status;
using nlohmann::json;

const char* PolicyName(Policy p) {
  switch (p) {
    case Policy::kLww: return "lww";
    case Policy::kCrdt: return "crdt";
    case Policy::kMerge: return "merge";
    case Policy::kManual: return "manual";
  }
  return "lww";
}

Result<CollectionDef> CollectionDef::Parse(const std::string& text) {
  auto parsed = crdt::ParseJson(text);
  if (!parsed.ok()) return parsed.status();
  const json& def = *parsed;
  auto bad = [](std::string msg) { return Status::InvalidArgument("invalid-definition", std::move(msg)); };
  if (!def.is_object()) return bad("a collection definition must be a JSON object");
  for (const auto& [name, _] : def.items()) {
    if (name != "policy" && name != "merge" && name != "fields") {
      return bad("unknown field '" + name + "' in collection definition (allowed: policy, merge, fields)");
    }
  }
  const auto policy = def.find("policy");
  if (policy == def.end() || !policy->is_string()) return bad("'policy' is required: one of lww, crdt, merge, manual");
  CollectionDef out;
  const std::string p = policy->get<std::string>();
  if (p == "lww") {
    out.policy = Policy::kLww;
  } else if (p == "crdt") {
    out.policy = Policy::kCrdt;
  } else if (p == "merge" || p == "manual") {
    return Status::InvalidArgument("unsupported-policy", "policy '" + p + "' is not available in this version");
  } else {
    return bad("unknown policy '" + p + "' (one of lww, crdt, merge, manual)");
  }
  if (def.contains("merge")) return bad("'merge' applies only to the merge policy");
  if (auto fields = def.find("fields"); fields != def.end()) {
    if (out.policy != Policy::kCrdt) return bad("'fields' applies only to the crdt policy");
    if (!fields->is_object()) return bad("'fields' maps field names to types");
    for (const auto& [name, type] : fields->items()) {
      if (name.empty() || name.size() > 256) return bad("field names are 1-256 bytes");
      if (type == "text") {
        return Status::InvalidArgument("unsupported-policy", "field type 'text' is not available in this version");
      }
      auto t = type.is_string() ? crdt::ParseFieldType(type.get<std::string>()) : std::nullopt;
      if (!t) return bad("field '" + name + "': type must be counter, set, register, mvregister or map");
      out.fields[name] = *t;
    }
  }
  out.canonical = def.dump();
  return out;
}

}  // namespace region
