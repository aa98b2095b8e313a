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
    if (name != "policy" && name != "merge" && name != "fields" && name != "max_siblings") {
      return bad("unknown field '" + name + "' in collection definition (allowed: policy, merge, fields, max_siblings)");
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
  } else if (p == "merge") {
    out.policy = Policy::kMerge;
  } else if (p == "manual") {
    out.policy = Policy::kManual;
  } else {
    return bad("unknown policy '" + p + "' (one of lww, crdt, merge, manual)");
  }
  if (auto merge = def.find("merge"); merge != def.end()) {
    if (out.policy != Policy::kMerge) return bad("'merge' applies only to the merge policy");
    if (!merge->is_string() || merge->get<std::string>().empty()) return bad("'merge' names a callback");
    out.merge = merge->get<std::string>();
  } else if (out.policy == Policy::kMerge) {
    return bad("a merge collection needs 'merge': the name of its callback");
  }
  if (auto cap = def.find("max_siblings"); cap != def.end()) {
    if (out.policy != Policy::kMerge && out.policy != Policy::kManual) {
      return bad("'max_siblings' applies only to the merge and manual policies");
    }
    if (!cap->is_number_integer() || cap->get<int64_t>() < 1 || cap->get<int64_t>() > 1000) {
      return bad("'max_siblings' is an integer from 1 to 1000");
    }
    out.max_siblings = static_cast<int>(cap->get<int64_t>());
  }
  if (auto fields = def.find("fields"); fields != def.end()) {
    if (out.policy != Policy::kCrdt) return bad("'fields' applies only to the crdt policy");
    if (!fields->is_object()) return bad("'fields' maps field names to types");
    for (const auto& [name, type] : fields->items()) {
      if (name.empty() || name.size() > 256) return bad("field names are 1-256 bytes");
      auto t = type.is_string() ? crdt::ParseFieldType(type.get<std::string>()) : std::nullopt;
      if (!t) return bad("field '" + name + "': type must be counter, set, register, mvregister, map or text");
      out.fields[name] = *t;
    }
  }
  out.canonical = def.dump();
  return out;
}

}  // namespace region
