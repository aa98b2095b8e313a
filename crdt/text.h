// Text: a sequence CRDT for collaborative plain text, operation-based.
//
// Algorithm: FugueMax (M. Weidner and M. Kleppmann, "The Art of the Fugue: Minimizing
// Interleaving in Collaborative Text Editing", arXiv:2305.00583, 2023), implemented in its
// list form, the YjsMod integration of J. Gentle (reference-crdts, diamond-types), which
// that paper proves equivalent to FugueMax.
//
// Identity. Every character has an id (origin, counter): the origin is the region that
// inserted it, the counter numbers, per origin and per Text, everything that origin did
// (each inserted character takes one counter, each delete operation takes one), 1, 2, 3,
// ... without gaps. Ids are assigned at the origin by Insert()/Delete() and carried by the
// operations, so every replica integrates exactly the same characters.
//
// Insert rule. A character inserted at visible index i records two origins, both fixed at
// its origin: left = the visible character at index i-1 (none at the start), right = the
// character that follows `left` in the full sequence, tombstones included (none at the
// end). On any replica it is placed between left and right; among concurrent characters
// placed between the same two, the scan of YjsMod decides (o = an existing character met
// while scanning rightwards from left, stopping at right):
//   o.left before our left       -> stop: insert here
//   o.left == our left:
//     o.right before our right   -> o may be our left sibling's subtree: remember this
//                                   place, keep scanning ("scanning")
//     o.right == our right       -> ties break by origin name: smaller origin first
//     o.right after our right    -> skip o; forget a remembered place
//   o.left after our left        -> o belongs to a subtree already passed: skip
// and the character goes at the remembered place if any, else where the scan stopped.
// Consequence (Fugue's non-interleaving): two runs typed concurrently at the same place,
// forwards or backwards, never interleave: one comes whole before the other.
// Delete rule. A delete names the ids it removes; a deleted character stays as a tombstone
// (it positions later inserts). Deleting twice is deleting once; if concurrent deletes hit
// the same character, the tombstone keeps the least delete id (origin name, counter).
// Both rules commute for concurrent operations, and re-applying an operation is a no-op,
// so replicas that applied the same operations hold equal states (Encode() is equal byte
// for byte) whatever the order: merge is commutative, associative and idempotent.
//
// Delivery. Apply() requires causal delivery: an operation is applied after every
// operation its origin had applied when making it (in particular each origin's operations
// in counter order). An operation whose counter is already covered is a duplicate and is
// ignored; one that skips a counter, or names an unknown character, is refused
// (FailedPrecondition "text-causality") without changing the state.
//
// Tombstone collection (CollectTombstones). Precondition on `stable`: every operation this
// replica will apply in future has all ids <= stable in its causal past (e.g. the pointwise
// minimum over every replica r of the context of the latest operation received from r,
// under causal delivery). Then a tombstone c whose insertion and deletion are <= stable is
// removed when (1) the character before c in the sequence is also such a tombstone, and (2)
// no character whose insertion is not <= stable names c as an origin. Why that is safe:
// future inserts have c's deletion in their past, so they never take c as left origin; they
// take it as right origin only when it follows a visible character, which (1) excludes
// forever (no character can later land between two stable tombstones); and the scan of a
// future insert only meets characters outside its causal past, whose origins (2) keeps.
// The text of deleted characters is always dropped (it is never needed again). Replicas that
// collected with different `stable` vectors encode differently until they collect with the
// same one; their visible values and future behaviour are the same.
//
// Limits: at most 2^27 ids per Text (sum over origins) -> ResourceExhausted "text-too-large".
// Costs: runs (not characters) are the unit: consecutive typing by one origin extends one
// run; memory is ~60 bytes per run + 4 bytes per id + the visible text.
//
// Snapshot encoding (canonical: equal states give equal JSON):
//   text    := {"origins": [region, ...], "counters": [n, ...], "runs": [r, ...], "text": s}
//   origins are sorted, counters[k] = highest counter used by origins[k];
//   runs    := flat integers, 9 per run in document order: o, c, n, lo, lc, ro, rc, do, dc
//              run = characters (origins[o-1], c) .. (origins[o-1], c+n-1), maximal;
//              (lo, lc) left origin of its first character, (ro, rc) right origin,
//              (do, dc) the delete that removed it; an origin index 0 means none (then 0).
//   s       := the UTF-8 text of the visible runs, concatenated in order.
// Operation encoding:
//   insert  := {"kind": "insert", "id": id, "left": id|null, "right": id|null, "text": s}
//   delete  := {"kind": "delete", "id": id, "spans": [[region, counter, length], ...]}
//   id      := [region, counter]       counters >= 1
//
// Thread-safety: value type; not safe for concurrent use (even reads reorganise the tree).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "crdt/internal/text_tree.h"
#include "crdt/status.h"
#include "crdt/version_vector.h"

namespace crdt {

struct TextId {
  RegionId origin;
  uint64_t counter = 0;
  friend auto operator<=>(const TextId&, const TextId&) = default;
};

// Characters (origin, counter) .. (origin, counter + length - 1).
struct TextSpan {
  RegionId origin;
  uint64_t counter = 0;
  uint64_t length = 0;
  friend bool operator==(const TextSpan&, const TextSpan&) = default;
};

// One replicated edit. A client request with several edits becomes a vector of these,
// applied in order.
struct TextOp {
  enum class Kind { kInsert, kDelete };
  Kind kind = Kind::kInsert;
  TextId id;                    // insert: id of the first character; delete: the op's id
  std::optional<TextId> left;   // insert: left origin (none: start of the text)
  std::optional<TextId> right;  // insert: right origin (none: end of the text)
  std::string text;             // insert: UTF-8, non-empty
  std::vector<TextSpan> spans;  // delete: the characters it removes
  friend bool operator==(const TextOp&, const TextOp&) = default;
};

nlohmann::json EncodeTextOp(const TextOp& op);
// InvalidArgument("invalid-text-op") on malformed input.
Result<TextOp> DecodeTextOp(const nlohmann::json& j);
nlohmann::json EncodeTextOps(const std::vector<TextOp>& ops);
Result<std::vector<TextOp>> DecodeTextOps(const nlohmann::json& j);

class Text {
 public:
  // Local edits at `origin` (this replica's region): applied here, returned to replicate.
  // Positions and counts are in Unicode code points.
  // InvalidArgument "invalid-utf8" / "empty-edit"; OutOfRange "text-index" when the range
  // is outside the text; ResourceExhausted "text-too-large".
  Result<TextOp> Insert(const RegionId& origin, uint64_t index, std::string_view utf8);
  Result<TextOp> Delete(const RegionId& origin, uint64_t index, uint64_t count);
  // A client edit {"op":"insert","index":i,"text":s} or {"op":"delete","index":i,"count":n}
  // (other keys ignored) made at `origin`; InvalidArgument "invalid-text-edit" if malformed.
  Result<TextOp> ApplyClientEdit(const RegionId& origin, const nlohmann::json& edit);

  // Integrates an operation made here or elsewhere (see Delivery above). On error the state
  // is unchanged. Duplicates are no-ops (Ok).
  Status Apply(const TextOp& op);
  // Applies in order; stops at the first error (the earlier operations stay applied).
  Status ApplyAll(const std::vector<TextOp>& ops);

  std::string Value() const;
  uint64_t size() const { return tree_.visible_size(); }
  // Highest counter applied per origin: the causal context of this replica's state.
  VersionVector version() const;

  // Removes collectable tombstones (see the header comment for the precondition on
  // `stable`) and drops the text of deleted characters. Returns the characters removed.
  uint64_t CollectTombstones(const VersionVector& stable);

  nlohmann::json Encode() const;
  // Encode().dump(), written directly (a long text's snapshot has hundreds of thousands of
  // numbers: building them as JSON values first costs more than everything else).
  std::string EncodeText() const;
  // InvalidArgument "invalid-text-state" (or ResourceExhausted) on malformed input.
  static Result<Text> Decode(const nlohmann::json& j);

  // Introspection for tests and benchmarks.
  size_t run_count() const { return tree_.run_count(); }
  uint64_t tombstone_count() const { return tree_.total_size() - tree_.visible_size(); }

 private:
  struct Agent {
    RegionId name;
    std::vector<uint32_t> index;  // index[c - 1] = run holding (name, c); kNil: none/removed
  };
  using CharRef = internal::CharRef;
  struct Place {  // a character: its run and offset
    uint32_t run = internal::kNil;
    uint32_t offset = 0;
  };

  struct Parts {
    std::vector<std::string> origins;
    std::vector<uint64_t> counters;
    std::vector<uint64_t> runs;
    std::string text;
  };
  void EncodeParts(Parts* parts) const;
  std::optional<uint32_t> FindAgent(const RegionId& name) const;
  uint32_t InternAgent(const RegionId& name);
  uint64_t Version(std::optional<uint32_t> agent) const;
  Result<CharRef> Resolve(const TextId& id) const;
  Place Locate(CharRef c) const;
  Result<uint32_t> PositionOf(CharRef c);
  bool AgentLess(uint32_t a, uint32_t b) const { return agents_[a].name < agents_[b].name; }
  bool DeleteLess(CharRef a, CharRef b) const;
  TextId ToId(CharRef c) const { return {agents_[c.agent].name, c.counter}; }
  Status CheckBudget(uint64_t more) const;

  Status ApplyInsert(const TextOp& op);
  Status ApplyDelete(const TextOp& op);
  Result<Place> Integrate(const RegionId& name, CharRef left, CharRef right);
  void PlaceAfter(Place after, uint32_t agent, uint32_t counter, CharRef left, CharRef right,
                  std::string_view utf8, uint32_t length);
  uint32_t Split(uint32_t x, uint32_t k);
  void MarkDeleted(uint32_t x, uint32_t offset, uint32_t count, CharRef by);
  void Reindex(uint32_t x);
  uint32_t RunBytes(const internal::Run& r) const;

  internal::TextTree tree_;
  std::vector<Agent> agents_;  // interned in first-seen order (names compared for ordering)
  std::string arena_;          // UTF-8 text of runs; Run::text indexes it
  uint32_t tail_ = internal::kNil;  // the run whose text ends the arena (can grow in place)
  uint64_t ids_ = 0;                // ids used, all origins
};

}  // namespace crdt
