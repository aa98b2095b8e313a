// Merge callbacks: application-defined resolution of concurrent versions of a document.
//
// Contract. A callback receives every concurrent version of a document (its siblings) in
// canonical order — ascending (hlc, origin), a total order every region agrees on — and
// returns the merged value: a JSON object (the document), or null (the document is deleted).
// Because the sibling set is the same on every region once they have the same writes, and
// the order is canonical, every region computes the same value whatever order versions
// arrived in, even for callbacks that are not commutative. Callbacks MUST be deterministic
// and pure: same input, same output, no clocks, no randomness, no I/O, no state kept between
// calls. A callback that throws, returns something other than an object or null, or is too
// deep, fails; the region then falls back to last-writer-wins for the visible value, keeps
// every version, and marks the conflict for an operator (region/ also enforces a time budget).
//
// Built-in callbacks (field by field over the top-level fields of the versions; a field a
// version lacks does not take part, and a deleted version takes part in no field):
//   union             array fields: the sorted union of the elements (JSON order);
//                     other fields: the newest version's value
//   max, min          number fields: the largest / smallest; other fields: the newest
//   deep-merge        objects merged key by key, recursively; conflicting leaves: the newest
//   prefer-region:ID  the newest version from region ID if there is one, else the newest
// Every built-in returns null only when every version is a delete.
//
// Thread-safety: Registry is safe for concurrent Find after set-up; callbacks are called
// from one thread at a time per region but must not rely on it.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/hlc.h"
#include "crdt/status.h"
#include "crdt/version_vector.h"

namespace conflict {

struct Sibling {
  crdt::Dot dot;
  crdt::Hlc hlc;
  crdt::VersionVector context;        // the versions its writer had seen
  std::optional<nlohmann::json> value;  // nullopt: a delete
};

// Sorts siblings into the canonical order: ascending (hlc, origin).
void SortCanonical(std::vector<Sibling>& siblings);

// The JSON form of siblings handed to callbacks (and plugins):
//   [{"version": "<origin>:<seq>", "value": <object> | null, "deleted": bool,
//     "hlc": {"wall_ms": n, "logical": n}, "origin": "<region>", "context": {"<region>": seq}}, ...]
nlohmann::json SiblingsJson(const std::vector<Sibling>& siblings);

// A callback returns the merged document, std::nullopt for "deleted", or an error.
using MergeCallback =
    std::function<crdt::Result<std::optional<nlohmann::json>>(const std::vector<Sibling>& siblings)>;

class Registry {
 public:
  // A registry with the built-ins.
  Registry();
  // InvalidArgument("invalid-callback") when the name is taken or malformed
  // (^[a-z][a-z0-9_-]{0,63}$; "prefer-region" is reserved).
  crdt::Status Register(const std::string& name, MergeCallback callback);
  // The callback for `name` ("prefer-region:<id>" included), or NotFound("unknown-callback").
  crdt::Result<MergeCallback> Find(const std::string& name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, MergeCallback> callbacks_;
};

// Runs a callback and checks its answer: never throws. Errors: reason "callback-failed"
// (with the callback's message or exception), "callback-invalid" (not an object or null,
// nested deeper than 64, strings that are not UTF-8).
crdt::Result<std::optional<nlohmann::json>> RunCallback(const MergeCallback& callback,
                                                        const std::vector<Sibling>& siblings);

// The newest version (last in canonical order): the last-writer-wins fallback.
const Sibling& Newest(const std::vector<Sibling>& siblings);

}  // namespace conflict
