// ORSet: an add-wins observed-remove set, operation-based over causal, exactly-once delivery.
//
// Elements are JSON values, identified by their canonical text. State: element -> the tags
// of the adds that are still live.
// Merge rule (per operation):
//   Add(e, tag, observed)     tags(e) = (tags(e) \ observed) ∪ {tag}
//   Remove(e, observed)       tags(e) = tags(e) \ observed      (e is gone when empty)
// where `observed` is the tags of e at the operation's origin when it was made. A remove
// deletes only the adds it observed, so an add concurrent with it survives: add wins.
// Operations on different elements commute; on one element, concurrent operations commute
// because each only removes tags from its own causal past, which causal delivery has
// already applied everywhere. No tombstones: a removed tag is forgotten at once.
//
// Thread-safety: value type.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "crdt/status.h"
#include "crdt/tag.h"

namespace crdt {

class ORSet {
 public:
  void Add(const std::string& element, const Tag& tag, const std::vector<Tag>& observed);
  void Remove(const std::string& element, const std::vector<Tag>& observed);
  // Removes every tag of `observed` (a whole-set delete made elsewhere).
  void RemoveObserved(const ORSet& observed);

  std::vector<Tag> TagsOf(const std::string& element) const;
  bool empty() const { return elements_.empty(); }
  size_t size() const { return elements_.size(); }
  // The elements as a JSON array, sorted by JSON order (so equal sets render equally).
  nlohmann::json Value() const;

  // {"<canonical element>": [tag, ...], ...}
  nlohmann::json Encode() const;
  static Result<ORSet> Decode(const nlohmann::json& j);
  friend bool operator==(const ORSet&, const ORSet&) = default;

 private:
  std::map<std::string, std::set<Tag>> elements_;
};

}  // namespace crdt
