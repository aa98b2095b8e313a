// CollectionDef: a collection's definition, parsed and validated.
//
//   definition := {"policy": "lww" | "crdt" | "merge" | "manual",
//                  ["fields": {"<top-level field>": "counter"|"set"|"register"|"mvregister"|"map"}],
//                  ["merge": "<callback>"], ["max_siblings": 1..1000]}
// `fields` applies to crdt collections, `merge` (required) to merge collections,
// `max_siblings` (default 16) to merge and manual collections. A collection never defined
// behaves as lww.
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
  std::string merge;      // the callback of a merge collection
  int max_siblings = 16;  // merge/manual: siblings shown or merged at most (newest first)
  std::string canonical;  // the definition as canonical JSON text

  // InvalidArgument("invalid-definition" | "unsupported-policy") with the reason.
  static crdt::Result<CollectionDef> Parse(const std::string& text);
};

using CollectionDefs = std::map<std::string, CollectionDef>;

}  // namespace region
