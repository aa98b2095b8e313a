// CollectionDef: a collection's definition, parsed and validated.
//
//   definition := {"policy": "lww" | "crdt" | "merge" | "manual",
//                  ["fields": {"<top-level field>": "counter"|"set"|"register"|"mvregister"|"map"}],
//                  ["merge": "<callback>"]}
// `fields` applies to crdt collections; a collection never defined behaves as lww.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "crdt/doc_crdt.h"
#include "crdt/status.h"

namespace region {

enum class Policy { kLww, kCrdt, kMerge, kManual };
const char* PolicyName(Policy p);

struct CollectionDef {
  Policy policy = Policy::kLww;
  std::map<std::string, crdt::FieldType> fields;
  std::string merge;
  std::string canonical;  // the definition as canonical JSON text

  // InvalidArgument("invalid-definition" | "unsupported-policy") with the reason.
  static crdt::Result<CollectionDef> Parse(const std::string& text);
};

using CollectionDefs = std::map<std::string, CollectionDef>;

}  // namespace region
