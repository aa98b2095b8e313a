// DocCrdt: the JSON document CRDT of `crdt` collections, operation-based over causal,
// exactly-once delivery (the change feed provides both).
//
// A document is a set of entries keyed by path (["cart", "items"]); an entry holds the
// state of one field type: a Counter (counter.h), an ORSet (orset.h) or an MVRegister
// (mvregister.h, shown with its LWW view as "register" or all values as "mvregister").
// Maps are implicit: a path with entries below it is an object. Each operation names the
// entry it acts on:
//   incr(path, by)            Counter::Increment
//   add/remove(path, value)   ORSet::Add / Remove, with the tags the origin observed
//   set(path, value)          MVRegister::Set, superseding the versions the origin observed
//   unset(path)               removes, under path, everything the origin observed
//   clear                     removes everything the origin observed (document delete)
// Each rule is commutative for concurrent operations and removes only observed state, so
// every region converges to the same entries whatever the delivery order, and an update
// concurrent with an unset or a delete survives it (update beats delete). Removed set
// elements and register versions are forgotten at once: causal delivery means nothing they
// observed can arrive later, so they leave no tombstones. A counter keeps two marks per
// region for good (see counter.h). Metadata is bounded: a tag per live set element, two
// marks per region per counter, a version per concurrent register write.
//
// Type clashes. A region never writes a field with an operation of another type than the
// one it holds. Concurrent first writes in two regions can still give one path two types;
// both states are kept (nothing is lost) and the value shows one, by a fixed precedence:
// an object (entries below the path) before a counter, a set, then a register. Apply()
// reports the clash so that the region records it in its conflict log.
//
// Text encoding (canonical):
//   doc   := {"entries": [[path, typed], ...]}   sorted by path
//   path  := [segment, ...]
//   typed := {"counter": counter} | {"set": orset} | {"register": mvregister} (one or more keys)
//
// Thread-safety: value type.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/counter.h"
#include "crdt/hlc.h"
#include "crdt/mvregister.h"
#include "crdt/orset.h"
#include "crdt/status.h"
#include "crdt/tag.h"

namespace crdt {

using Path = std::vector<std::string>;

enum class FieldType { kCounter, kSet, kRegister, kMVRegister, kMap };
const char* FieldTypeName(FieldType t);
std::optional<FieldType> ParseFieldType(const std::string& name);

// One operation as it travels in a change, with what its origin observed.
struct CrdtOp {
  enum class Kind { kIncr, kAdd, kRemove, kSet, kUnset, kClear };
  Kind kind = Kind::kSet;
  Path path;
  int64_t by = 0;                 // kIncr
  nlohmann::json value;           // kAdd, kRemove, kSet
  std::vector<Tag> observed;      // kAdd, kRemove, kSet: tags the origin had seen
  nlohmann::json observed_state;  // kUnset, kClear: the origin's entries under path, encoded
};

nlohmann::json EncodeOp(const CrdtOp& op);
Result<CrdtOp> DecodeOp(const nlohmann::json& j);

class DocCrdt {
 public:
  // Applies an operation made elsewhere (or here). `tag` names it, `hlc` stamps it.
  // Returns true when the operation gave a path a second type (a clash to record).
  Result<bool> Apply(const CrdtOp& op, const Tag& tag, Hlc hlc);

  // At the origin: turns a client operation into the operation to log and replicate
  // (fills in what this state observes), or refuses it (InvalidArgument, OutOfRange
  // "counter-overflow", FailedPrecondition "type-mismatch"). `declared` gives the types
  // of top-level fields from the collection definition.
  Result<CrdtOp> Resolve(const nlohmann::json& client_op, const std::map<std::string, FieldType>& declared,
                         const RegionId& origin) const;

  // No state at all (a removed counter's marks are state).
  bool empty() const { return entries_.empty(); }
  // The plain JSON value: counters as numbers, sets as sorted arrays, registers as their
  // value (mvregister: sorted array of concurrent values), maps as objects.
  nlohmann::json Value(const std::map<std::string, FieldType>& declared) const;

  nlohmann::json Encode() const;
  static Result<DocCrdt> Decode(const nlohmann::json& j);
  friend bool operator==(const DocCrdt&, const DocCrdt&) = default;

  // Encoded entries under `prefix` (all of them for an empty prefix).
  nlohmann::json EncodeUnder(const Path& prefix) const;
  size_t entries() const { return entries_.size(); }

 private:
  struct Typed {
    std::optional<Counter> counter;
    std::optional<ORSet> set;
    std::optional<MVRegister> reg;
    bool empty() const { return !counter && !set && !reg; }
    int kinds() const { return (counter ? 1 : 0) + (set ? 1 : 0) + (reg ? 1 : 0); }
    friend bool operator==(const Typed&, const Typed&) = default;
  };
  void RemoveObserved(const Path& prefix, const DocCrdt& observed);
  void Prune(const Path& path);
  bool HasBelow(const Path& path) const;
  bool HasAbove(const Path& path) const;
  static Result<Typed> DecodeTyped(const nlohmann::json& j);
  static nlohmann::json EncodeTyped(const Typed& t);

  std::map<Path, Typed> entries_;
};

}  // namespace crdt
