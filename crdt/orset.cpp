#include "crdt/orset.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace crdt {

void ORSet::Add(const std::string& element, const Tag& tag, const std::vector<Tag>& observed) {
  auto& tags = elements_[element];
  for (const Tag& t : observed) tags.erase(t);
  tags.insert(tag);
}

void ORSet::Remove(const std::string& element, const std::vector<Tag>& observed) {
  auto it = elements_.find(element);
  if (it == elements_.end()) return;
  for (const Tag& t : observed) it->second.erase(t);
  if (it->second.empty()) elements_.erase(it);
}

void ORSet::RemoveObserved(const ORSet& observed) {
  for (const auto& [element, tags] : observed.elements_) Remove(element, {tags.begin(), tags.end()});
}

std::vector<Tag> ORSet::TagsOf(const std::string& element) const {
  auto it = elements_.find(element);
  return it == elements_.end() ? std::vector<Tag>() : std::vector<Tag>(it->second.begin(), it->second.end());
}

nlohmann::json ORSet::Value() const {
  std::vector<nlohmann::json> values;
  values.reserve(elements_.size());
  for (const auto& [element, _] : elements_) values.push_back(nlohmann::json::parse(element));
  std::sort(values.begin(), values.end());
  return nlohmann::json(std::move(values));
}

nlohmann::json ORSet::Encode() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [element, tags] : elements_) {
    nlohmann::json list = nlohmann::json::array();
    for (const Tag& t : tags) list.push_back(EncodeTag(t));
    out[element] = std::move(list);
  }
  return out;
}

Result<ORSet> ORSet::Decode(const nlohmann::json& j) {
  auto bad = Status::InvalidArgument("invalid-state", "malformed set state");
  if (!j.is_object()) return bad;
  ORSet s;
  for (const auto& [element, list] : j.items()) {
    if (!list.is_array() || list.empty() || !nlohmann::json::accept(element)) return bad;
    auto& tags = s.elements_[element];
    for (const auto& t : list) {
      auto tag = DecodeTag(t);
      if (!tag.ok()) return bad;
      tags.insert(*tag);
    }
  }
  return s;
}

}  // namespace crdt
