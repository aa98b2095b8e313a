#include "crdt/mvregister.h"

#include <algorithm>

namespace crdt {

void MVRegister::Remove(const std::vector<Tag>& observed) {
  versions_.erase(std::remove_if(versions_.begin(), versions_.end(),
                                 [&](const Version& v) {
                                   return std::find(observed.begin(), observed.end(), v.tag) != observed.end();
                                 }),
                  versions_.end());
}

void MVRegister::Set(nlohmann::json value, const Tag& tag, Hlc hlc, const std::vector<Tag>& observed) {
  Remove(observed);
  Version v{tag, hlc, std::move(value)};
  auto at = std::lower_bound(versions_.begin(), versions_.end(), v,
                             [](const Version& a, const Version& b) { return a.tag < b.tag; });
  versions_.insert(at, std::move(v));
}

void MVRegister::RemoveObserved(const MVRegister& observed) { Remove(observed.Tags()); }

std::vector<Tag> MVRegister::Tags() const {
  std::vector<Tag> out;
  for (const auto& v : versions_) out.push_back(v.tag);
  return out;
}

const nlohmann::json& MVRegister::LwwValue() const {
  return std::max_element(versions_.begin(), versions_.end(),
                          [](const Version& a, const Version& b) {
                            if (a.hlc != b.hlc) return a.hlc < b.hlc;
                            return a.tag.dot.origin < b.tag.dot.origin;
                          })
      ->value;
}

nlohmann::json MVRegister::Values() const {
  std::vector<nlohmann::json> values;
  for (const auto& v : versions_) values.push_back(v.value);
  std::sort(values.begin(), values.end());
  return nlohmann::json(std::move(values));
}

nlohmann::json MVRegister::Encode() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& v : versions_) out.push_back(nlohmann::json::array({EncodeTag(v.tag), v.hlc.packed(), v.value}));
  return out;
}

Result<MVRegister> MVRegister::Decode(const nlohmann::json& j) {
  auto bad = Status::InvalidArgument("invalid-state", "malformed register state");
  if (!j.is_array()) return bad;
  MVRegister r;
  for (const auto& e : j) {
    if (!e.is_array() || e.size() != 3 || !e[1].is_number_unsigned()) return bad;
    auto tag = DecodeTag(e[0]);
    if (!tag.ok()) return bad;
    r.versions_.push_back({*tag, Hlc::FromPacked(e[1].get<uint64_t>()), e[2]});
  }
  return r;
}

}  // namespace crdt
