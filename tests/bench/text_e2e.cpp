// End-to-end collaborative text: an editing trace sent to region A through the REST API in
// batches (POST .../ops with insert/delete edits), timed until region B shows the final
// text. Baseline in the same run: the same edits applied in process to one crdt::Text.
//
//   build/tests/bench/text_e2e [--trace=PATH] [--batch=5000]
#include <algorithm>
#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>

#include "crdt/text.h"
#include "tests/integration/cluster.h"
#include "tests/support/traces.h"

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(prefix, 0) == 0) return std::string(argv[i]).substr(prefix.size());
  }
  return fallback;
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  const std::string path =
      Flag(argc, argv, "trace", std::string(MERIDIAN_TRACES_DIR) + "/sequential_traces/automerge-paper.json.gz");
  const size_t batch = std::stoul(Flag(argc, argv, "batch", "5000"));
  const auto trace = testsupport::LoadTrace(path);
  if (!trace) {
    std::cerr << "text_e2e: cannot read trace " << path << "\n";
    return 1;
  }
  const std::string expected = (*trace)["endContent"];
  const std::vector<json> edits = testsupport::TraceEdits(*trace);
  std::cout << "text_e2e: " << path << ": " << edits.size() << " edits, batches of " << batch << std::endl;

  // Baseline: the same edits on one in-process Text.
  const auto b0 = Clock::now();
  crdt::Text local;
  const auto origin = *crdt::RegionId::Parse("us-east");
  for (const json& e : edits) {
    if (!local.ApplyClientEdit(origin, e).ok()) {
      std::cerr << "text_e2e: in-process replay failed\n";
      return 1;
    }
  }
  const double baseline_ms = Ms(Clock::now() - b0);
  if (local.Value() != expected) {
    std::cerr << "text_e2e: in-process replay does not give endContent\n";
    return 1;
  }

  integration::Cluster cluster({"us-east", "eu-west"});
  auto& a = cluster.http(0);
  auto& b = cluster.http(1);
  if (a.Put("/v1/collections/docs", R"({"policy":"crdt","fields":{"body":"text"}})").status >= 300) return 1;
  if (!testsupport::PollUntil([&] { return cluster.Converged(); }, std::chrono::seconds(20))) return 1;

  const auto t0 = Clock::now();
  for (size_t i = 0; i < edits.size(); i += batch) {
    json ops = json::array();
    for (size_t k = i; k < std::min(edits.size(), i + batch); ++k) ops.push_back(edits[k]);
    auto r = a.Send("POST", "/v1/collections/docs/docs/paper/ops", json{{"ops", ops}}.dump(), "application/json");
    if (r.status >= 300) {
      std::cerr << "text_e2e: batch at " << i << " refused: " << r.status << " " << r.body.substr(0, 300) << "\n";
      return 1;
    }
  }
  const double a_ms = Ms(Clock::now() - t0);
  const bool seen = testsupport::PollUntil(
      [&] {
        auto r = b.Get("/v1/collections/docs/docs/paper");
        if (r.status != 200) return false;
        const json doc = json::parse(r.body, nullptr, false);
        return doc.is_object() && doc["value"].value("body", "") == expected;
      },
      std::chrono::seconds(120), std::chrono::milliseconds(5));
  const double b_ms = Ms(Clock::now() - t0);
  if (!seen) {
    std::cerr << "text_e2e: region B never showed the final text\n";
    return 1;
  }
  // Keystrokes on the finished document: one insert per request, one after another.
  const auto keystrokes = [&](int count, std::vector<double>* ms) {
    ms->clear();
    for (int i = 0; i < count; ++i) {
      const auto k0 = Clock::now();
      auto r = a.Send("POST", "/v1/collections/docs/docs/paper/ops",
                      R"({"ops":[{"op":"insert","path":"/body","index":0,"text":"k"}]})", "application/json");
      ms->push_back(Ms(Clock::now() - k0));
      if (r.status != 200) return false;
    }
    std::sort(ms->begin(), ms->end());
    return true;
  };
  std::vector<double> keystroke_ms, collected_ms;
  if (!keystrokes(50, &keystroke_ms)) return 1;
  // Once both regions have everything, the tombstones are collected at the next whole
  // write; then the same keystrokes again.
  const auto collected = [&] {
    const std::string m = a.Get("/metrics").body;
    const std::string name = "\nmeridian_text_tombstones_collected_total ";
    const size_t at = m.find(name);
    return at == std::string::npos ? uint64_t{0} : std::stoull(m.substr(at + name.size()));
  };
  const auto c0 = Clock::now();
  std::vector<double> ignored;
  const bool gc = testsupport::PollUntil([&] { return keystrokes(1, &ignored) && collected() > 0; },
                                         std::chrono::seconds(60), std::chrono::milliseconds(20));
  const double gc_ms = Ms(Clock::now() - c0);
  if (!keystrokes(50, &collected_ms)) return 1;
  const double n = static_cast<double>(edits.size());
  std::printf("in-process replay (baseline)     %8.1f ms  %10.0f edits/s\n", baseline_ms, n / baseline_ms * 1000);
  std::printf("committed at A (through the API) %8.1f ms  %10.0f edits/s\n", a_ms, n / a_ms * 1000);
  std::printf("visible at B                     %8.1f ms  %10.0f edits/s  (%.3fx the in-process rate)\n", b_ms,
              n / b_ms * 1000, baseline_ms / b_ms);
  std::printf("one-character writes to the finished document (%zu bytes of text): p50 %.1f ms, p99 %.1f ms\n",
              expected.size(), keystroke_ms[keystroke_ms.size() / 2], keystroke_ms.back());
  if (!gc) {
    std::cerr << "text_e2e: region A never collected the tombstones\n";
    return 1;
  }
  std::printf("tombstones collected at A: %llu, %.0f ms after the last keystroke above\n",
              static_cast<unsigned long long>(collected()), gc_ms);
  std::printf("the same writes after collection: p50 %.1f ms, p99 %.1f ms\n", collected_ms[collected_ms.size() / 2],
              collected_ms.back());
  return 0;
}
