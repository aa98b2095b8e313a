// Merge-callback plugins for tests, built three ways (see tests/CMakeLists.txt):
//   MERIDIAN_TEST_PLUGIN_OK       registers the callbacks below
//   MERIDIAN_TEST_PLUGIN_REFUSES  meridian_plugin_init returns 7
//   (neither)                     exports no meridian_plugin_init at all
//
// Callbacks:
//   concat   deliberately NOT commutative: {"log": the "log" strings of the live versions
//            joined in the order given, "n": how many}; null when every version is a delete
//   fails    answers with fail("deliberate failure")
//   garbage  emits text that is not JSON
//   array    emits a JSON array (not a document)
//   silent   returns without answering
//   slow     answers like concat, but only after 1.5 s
#include <chrono>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "conflict/plugin_abi.h"

#define EXPORT extern "C" __attribute__((visibility("default")))

#if defined(MERIDIAN_TEST_PLUGIN_OK)
namespace {

using nlohmann::json;

void Emit(const json& value, MeridianMergeResult* result, meridian_emit_fn emit) {
  const std::string text = value.dump();
  emit(result, text.data(), text.size());
}

void Concat(const char* in, size_t length, MeridianMergeResult* result, meridian_emit_fn emit, meridian_fail_fn fail) {
  try {
    std::string log;
    int n = 0;
    for (const json& s : json::parse(in, in + length)) {
      if (s.at("deleted").get<bool>()) continue;
      log += s.at("value").value("log", std::string());
      ++n;
    }
    Emit(n == 0 ? json(nullptr) : json{{"log", log}, {"n", n}}, result, emit);
  } catch (const std::exception& e) {
    fail(result, e.what());
  }
}

void Fails(const char*, size_t, MeridianMergeResult* result, meridian_emit_fn, meridian_fail_fn fail) {
  fail(result, "deliberate failure");
}

void Garbage(const char*, size_t, MeridianMergeResult* result, meridian_emit_fn emit, meridian_fail_fn) {
  static const char kText[] = "{\"a\": ";
  emit(result, kText, sizeof(kText) - 1);
}

void Array(const char*, size_t, MeridianMergeResult* result, meridian_emit_fn emit, meridian_fail_fn) {
  static const char kText[] = "[1, 2]";
  emit(result, kText, sizeof(kText) - 1);
}

void Silent(const char*, size_t, MeridianMergeResult*, meridian_emit_fn, meridian_fail_fn) {}

void Slow(const char* in, size_t length, MeridianMergeResult* result, meridian_emit_fn emit, meridian_fail_fn fail) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Concat(in, length, result, emit, fail);
}

}  // namespace

EXPORT int meridian_plugin_init(void* registrar, meridian_register_fn reg) {
  const std::pair<const char*, meridian_merge_fn> callbacks[] = {
      {"concat", &Concat}, {"fails", &Fails},   {"garbage", &Garbage},
      {"array", &Array},   {"silent", &Silent}, {"slow", &Slow},
  };
  for (const auto& [name, fn] : callbacks) {
    if (int rc = reg(registrar, name, fn); rc != 0) return rc;
  }
  return 0;
}
#elif defined(MERIDIAN_TEST_PLUGIN_REFUSES)
EXPORT int meridian_plugin_init(void*, meridian_register_fn) { return 7; }
#else
EXPORT int meridian_not_a_plugin() { return 0; }
#endif
