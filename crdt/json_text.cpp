#include "crdt/json_text.h"

#include <vector>

#include <nlohmann/json.hpp>

namespace crdt {
namespace {

using nlohmann::json;

// Builds the DOM directly from SAX events, refusing duplicate keys and deep nesting.
class StrictBuilder {
 public:
  explicit StrictBuilder(int max_depth) : max_depth_(max_depth) {}

  bool null() { return Put(json(nullptr)); }
  bool boolean(bool v) { return Put(json(v)); }
  bool number_integer(json::number_integer_t v) { return Put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return Put(json(v)); }
  bool number_float(json::number_float_t v, const std::string& text) {
    // An integer literal arrives here only when it does not fit in 64 bits: as a double it
    // would be stored rounded (99999999999999999999 as 1e+20). Refused instead.
    if (text.find_first_of(".eE") == std::string::npos) {
      return Fail("number-out-of-range", "the integer " + text.substr(0, 40) +
                                             " does not fit in 64 bits and would be rounded; send it as a string");
    }
    return Put(json(v));
  }
  bool string(std::string& v) { return Put(json(std::move(v))); }
  bool binary(json::binary_t&) { return Fail("invalid-json", "binary values are not JSON"); }

  bool start_object(std::size_t) { return Open(json::object()); }
  bool start_array(std::size_t) { return Open(json::array()); }
  bool end_object() { stack_.pop_back(); return true; }
  bool end_array() { stack_.pop_back(); return true; }

  bool key(std::string& k) {
    json& obj = *stack_.back();
    if (obj.contains(k)) {
      return Fail("duplicate-key", "duplicate object key \"" + k.substr(0, 100) + "\"");
    }
    pending_key_ = &obj[std::move(k)];
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    // Keep nlohmann's explanation, without its error id and without the offending bytes
    // (they may not be valid UTF-8, and they are the client's own input anyway).
    std::string what = ex.what();
    if (const auto id_end = what.find("] "); id_end != std::string::npos) what = what.substr(id_end + 2);
    if (const auto last = what.find("; last read"); last != std::string::npos) what = what.substr(0, last);
    return Fail("invalid-json", "invalid JSON at byte " + std::to_string(position) + ": " + what);
  }

  json take() { return std::move(root_); }
  const Status& status() const { return status_; }

 private:
  // Places a value where the grammar expects it: root, array element, or object member.
  json* Place(json&& v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    *pending_key_ = std::move(v);
    return pending_key_;
  }
  bool Put(json&& v) { Place(std::move(v)); return true; }
  bool Open(json&& container) {
    if (static_cast<int>(stack_.size()) >= max_depth_) {
      return Fail("too-deep", "JSON nesting deeper than " + std::to_string(max_depth_) + " levels");
    }
    stack_.push_back(Place(std::move(container)));
    return true;
  }
  bool Fail(std::string reason, std::string message) {
    if (status_.ok()) status_ = Status::InvalidArgument(std::move(reason), std::move(message));
    return false;
  }

  int max_depth_;
  json root_;
  std::vector<json*> stack_;
  json* pending_key_ = nullptr;
  Status status_;
};

}  // namespace

Result<json> ParseJson(std::string_view text, int max_depth) {
  StrictBuilder builder(max_depth);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("invalid-json", std::string("invalid JSON: ") + e.what());
  }
  if (!ok) {
    if (!builder.status().ok()) return builder.status();
    return Status::InvalidArgument("invalid-json", "invalid JSON");
  }
  return builder.take();
}

json ApplyMergePatch(const json& target, const json& patch) {
  if (!patch.is_object()) return patch;
  json out = target.is_object() ? target : json::object();
  for (const auto& [name, value] : patch.items()) {
    if (value.is_null()) {
      out.erase(name);
    } else {
      auto it = out.find(name);
      out[name] = ApplyMergePatch(it != out.end() ? *it : json(), value);
    }
  }
  return out;
}

}  // namespace crdt
