// MVRegister: a multi-value register, operation-based over causal, exactly-once delivery.
//
// State: the versions no later write has seen, each (tag, hlc, value).
// Merge rule (per operation):
//   Set(value, tag, hlc, observed)   drop the observed versions, add this one
//   Remove(observed)                 drop the observed versions
// Concurrent sets both stay (as siblings); each set removes only what its origin saw, so
// the result does not depend on delivery order. Two views:
//   multi-value: every sibling's value, sorted by JSON order;
//   LWW: the sibling with the largest (hlc, origin). A causally later set always has the
//   larger HLC (the receive rule), so the LWW view never lets an older write win.
//
// Thread-safety: value type.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/hlc.h"
#include "crdt/status.h"
#include "crdt/tag.h"

namespace crdt {

class MVRegister {
 public:
  struct Version {
    Tag tag;
    Hlc hlc;
    nlohmann::json value;
    friend bool operator==(const Version&, const Version&) = default;
  };

  void Set(nlohmann::json value, const Tag& tag, Hlc hlc, const std::vector<Tag>& observed);
  void Remove(const std::vector<Tag>& observed);
  void RemoveObserved(const MVRegister& observed);

  std::vector<Tag> Tags() const;
  bool empty() const { return versions_.empty(); }
  const std::vector<Version>& versions() const { return versions_; }
  // Precondition: !empty().
  const nlohmann::json& LwwValue() const;
  nlohmann::json Values() const;

  // [[tag, hlc, value], ...] sorted by tag
  nlohmann::json Encode() const;
  static Result<MVRegister> Decode(const nlohmann::json& j);
  friend bool operator==(const MVRegister&, const MVRegister&) = default;

 private:
  std::vector<Version> versions_;  // sorted by tag
};

}  // namespace crdt
