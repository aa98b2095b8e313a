// DocCrdt: the JSON document CRDT of `crdt` collections, operation-based over causal,
// exactly-once delivery (the change feed provides both).
//
// A document is a set of entries keyed by path (["cart", "items"]); an entry holds the
// state of one field type: a Counter (counter.h), an ORSet (orset.h), an MVRegister
// (mvregister.h, shown with its LWW view as "register" or all values as "mvregister") or a
// Text (text.h, a sequence CRDT shown as a string).
// Maps are implicit: a path with entries below it is an object. Each operation names the
// entry it acts on:
//   incr(path, by)            Counter::Increment
//   add/remove(path, value)   ORSet::Add / Remove, with the tags the origin observed
//   set(path, value)          MVRegister::Set, superseding the versions the origin observed
//   text(path, text_op)       Text::Apply (insert or delete, ids assigned at the origin:
//                             by the region for index edits, by a browser replica for
//                             operations it made itself)
//   unset(path)               removes, under path, everything the origin observed
//   clear                     removes everything the origin observed (document delete)
// A text is never removed by unset or clear: its characters are deleted by text operations
// the origin issues beside them (Local does), so a concurrent insert survives, and the
// tombstones stay to position later inserts. An empty text is not shown in the value.
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
// an object (entries below the path) before a counter, a set, a register, then a text. Apply()
// reports the clash so that the region records it in its conflict log.
//
// Text encoding (canonical):
//   doc   := {"entries": [[path, typed], ...]}   sorted by path
//   path  := [segment, ...]
//   typed := {"counter": counter} | {"set": orset} | {"register": mvregister} | {"text": text}
//            (one or more keys)
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
#include "crdt/text.h"

namespace crdt {

using Path = std::vector<std::string>;

enum class FieldType { kCounter, kSet, kRegister, kMVRegister, kMap, kText };
const char* FieldTypeName(FieldType t);
std::optional<FieldType> ParseFieldType(const std::string& name);

// One operation as it travels in a change, with what its origin observed.
struct CrdtOp {
  enum class Kind { kIncr, kAdd, kRemove, kSet, kUnset, kClear, kText };
  Kind kind = Kind::kSet;
  Path path;
  int64_t by = 0;                 // kIncr
  nlohmann::json value;           // kAdd, kRemove, kSet
  std::vector<Tag> observed;      // kAdd, kRemove, kSet: tags the origin had seen
  nlohmann::json observed_state;  // kUnset, kClear: the origin's entries under path, encoded
  TextOp text;                    // kText
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

  // At the origin: resolves a client operation and applies it here, returning the
  // operations to log in order. Text edits ({"op":"insert","path","index","text"},
  // {"op":"delete","path","index","count"}) take ids from this state; {"op":"text","path",
  // "text": <text op>} carries an operation a browser replica made (its origin must start
  // with "web-"); an unset or a document delete (client_op null) also deletes the text it
  // covers. On error the state may be partly changed: the caller discards it.
  Result<std::vector<CrdtOp>> Local(const nlohmann::json* client_op, const std::map<std::string, FieldType>& declared,
                                    const RegionId& origin, const Dot& dot, uint32_t* next_index, Hlc hlc);

  // The text at `path`, if there is one.
  const Text* TextAt(const Path& path) const;
  // Every text's path and version (Text::version), in path order.
  using TextVersions = std::vector<std::pair<Path, VersionVector>>;
  TextVersions Texts() const;
  // Collects the tombstones of each named text with the stable vector given for it (its
  // precondition is Text::CollectTombstones'); paths without a text are skipped. Returns
  // the characters removed.
  uint64_t CollectTextTombstones(const TextVersions& stable);
  // No state at all (a removed counter's marks are state).
  bool empty() const { return entries_.empty(); }
  // The plain JSON value: counters as numbers, sets as sorted arrays, registers as their
  // value (mvregister: sorted array of concurrent values), maps as objects.
  nlohmann::json Value(const std::map<std::string, FieldType>& declared) const;

  nlohmann::json Encode() const;
  // Encode().dump(), with texts written directly (Text::EncodeText).
  std::string EncodeText() const;
  static Result<DocCrdt> Decode(const nlohmann::json& j);
  friend bool operator==(const DocCrdt&, const DocCrdt&) = default;

  // Encoded entries under `prefix` (all of them for an empty prefix).
  // with_text=false leaves texts out (what unset and clear observe: texts are deleted by
  // text operations, not by observation).
  nlohmann::json EncodeUnder(const Path& prefix, bool with_text = true) const;
  size_t entries() const { return entries_.size(); }

 private:
  struct Typed {
    std::optional<Counter> counter;
    std::optional<ORSet> set;
    std::optional<MVRegister> reg;
    std::optional<Text> text;
    bool empty() const { return !counter && !set && !reg && !text; }
    int kinds() const { return (counter ? 1 : 0) + (set ? 1 : 0) + (reg ? 1 : 0) + (text ? 1 : 0); }
    friend bool operator==(const Typed& a, const Typed& b) {
      return a.counter == b.counter && a.set == b.set && a.reg == b.reg && a.text.has_value() == b.text.has_value() &&
             (!a.text || a.text->Encode() == b.text->Encode());
    }
  };
  void RemoveObserved(const Path& prefix, const DocCrdt& observed);
  void Prune(const Path& path);
  bool HasBelow(const Path& path) const;
  bool HasAbove(const Path& path) const;
  static Result<Typed> DecodeTyped(const nlohmann::json& j);
  static Typed WithoutText(const Typed& t);
  static nlohmann::json EncodeTyped(const Typed& t);

  std::map<Path, Typed> entries_;
};

}  // namespace crdt
