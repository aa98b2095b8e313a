// An example Meridian merge plugin: shopping carts.
//
// A cart is a document like
//   {"items": {"<sku>": <quantity>, ...}, "checked_out": false, "note": "..."}
// Regions accept cart writes concurrently; when two versions of a cart are concurrent, the
// callback `cart` merges them:
//   items        every SKU any version holds, with the largest quantity any version gives it
//                (an item removed in one version but kept in a concurrent one stays: the
//                classic cart trade-off — nothing a customer added is lost, a removal can
//                come back and is made again)
//   checked_out  true if any version checked out
//   other fields the newest version's (the versions arrive oldest first)
// Deleted versions take no part; if every version is a delete, the cart stays deleted.
//
// Build it like any shared library against conflict/plugin_abi.h, then start each region
// with --plugin=/path/to/libmeridian_cart_merge.so and define the collection with
//   PUT /v1/collections/carts {"policy": "merge", "merge": "cart"}
// Every region must load the same plugin: a collection whose callback a region lacks
// falls back to last-writer-wins there and marks the conflict for an operator.
//
// The callback is deterministic and pure, as callbacks must be: its answer depends only on
// the versions it is given (in the order given), it keeps no state, reads no clock and
// does no I/O. It never lets an exception cross the C boundary.
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "conflict/plugin_abi.h"

namespace {

using nlohmann::json;

json MergeCarts(const json& siblings) {
  if (!siblings.is_array()) throw std::runtime_error("siblings must be an array");
  json merged;  // null until a live version is seen
  json items = json::object();
  bool checked_out = false;
  for (const json& s : siblings) {
    if (s.at("deleted").get<bool>()) continue;
    const json& value = s.at("value");
    if (!value.is_object()) throw std::runtime_error("a cart must be a JSON object");
    merged = value;  // the newest live version so far supplies every other field
    if (auto it = value.find("items"); it != value.end()) {
      if (!it->is_object()) throw std::runtime_error("cart.items must be an object of SKU -> quantity");
      for (const auto& [sku, qty] : it->items()) {
        if (!qty.is_number()) throw std::runtime_error("quantity of " + sku + " is not a number");
        if (!items.contains(sku) || items[sku].get<double>() < qty.get<double>()) items[sku] = qty;
      }
    }
    if (auto it = value.find("checked_out"); it != value.end() && it->is_boolean() && it->get<bool>()) {
      checked_out = true;
    }
  }
  if (merged.is_null()) return merged;  // every version is a delete
  merged["items"] = std::move(items);
  merged["checked_out"] = checked_out;
  return merged;
}

void Cart(const char* siblings_json, size_t length, MeridianMergeResult* result, meridian_emit_fn emit,
          meridian_fail_fn fail) {
  try {
    const json merged = MergeCarts(json::parse(siblings_json, siblings_json + length));
    const std::string text = merged.dump();
    emit(result, text.data(), text.size());
  } catch (const std::exception& e) {
    fail(result, e.what());
  }
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int meridian_plugin_init(void* registrar,
                                                                            meridian_register_fn register_callback) {
  return register_callback(registrar, "cart", &Cart);
}
