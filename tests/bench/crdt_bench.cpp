// crdt_bench: CRDT collections, measured three ways in one run.
//
//   build/tests/bench/crdt_bench [--seconds=5] [--connections=32]
//
// 1. Through the API (a fresh server): durable LWW PUTs (the baseline), counter increments
//    and set adds as POST .../ops, each on 1,000 documents, keep-alive connections.
// 2. In process: DocCrdt operations applied per second (the merge work a region does for
//    each replicated operation).
// 3. Metadata: bytes of encoded state per live set element after churn from three regions,
//    and the size of a counter incremented a million times from three regions.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/doc_crdt.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

int Flag(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(prefix, 0) == 0) return std::stoi(std::string(argv[i]).substr(prefix.size()));
  }
  return fallback;
}

template <typename Send>
double Rate(const std::string& url, int connections, int seconds, Send send) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&, t] {
      testsupport::HttpClient c(url);
      std::mt19937 rng(static_cast<unsigned>(t));
      while (!stop) {
        const int status = send(c, rng);
        if (status == 200 || status == 201) ok.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t before = ok.load();
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const uint64_t done = ok.load() - before;
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  for (auto& th : threads) th.join();
  return done / secs;
}

crdt::RegionId R(const char* id) { return *crdt::RegionId::Parse(id); }

}  // namespace

int main(int argc, char** argv) {
  const int seconds = Flag(argc, argv, "seconds", 5);
  const int connections = Flag(argc, argv, "connections", 32);

  // 1. API.
  testsupport::TempDir dir("meridian-crdt-bench");
  auto server = testsupport::ServerProcess::Start(
      {"--region=bench", "--data-dir=" + dir.Sub("data"), "--log-level=warning"}, dir.Sub("log"));
  {
    testsupport::HttpClient c(server->url());
    c.Put("/v1/collections/posts", R"({"policy":"crdt","fields":{"likes":"counter","tags":"set"}})");
  }
  const double put = Rate(server->url(), connections, seconds, [](testsupport::HttpClient& c, std::mt19937& rng) {
    return c.Put("/v1/collections/plain/docs/d" + std::to_string(rng() % 1000), R"({"likes":1})").status;
  });
  const double incr = Rate(server->url(), connections, seconds, [](testsupport::HttpClient& c, std::mt19937& rng) {
    return c.Send("POST", "/v1/collections/posts/docs/d" + std::to_string(rng() % 1000) + "/ops",
                  R"({"ops":[{"op":"incr","path":"/likes"}]})", "application/json")
        .status;
  });
  const double add = Rate(server->url(), connections, seconds, [](testsupport::HttpClient& c, std::mt19937& rng) {
    return c.Send("POST", "/v1/collections/posts/docs/d" + std::to_string(rng() % 1000) + "/ops",
                  "{\"ops\":[{\"op\":\"add\",\"path\":\"/tags\",\"value\":\"t" + std::to_string(rng() % 50) + "\"}]}",
                  "application/json")
        .status;
  });
  server->Terminate();

  // 2. In process.
  crdt::DocCrdt doc;
  const int n = 1'000'000;
  std::vector<crdt::CrdtOp> incrs, adds;
  for (int i = 0; i < n; ++i) {
    crdt::CrdtOp op;
    op.kind = crdt::CrdtOp::Kind::kIncr;
    op.path = {"likes"};
    op.by = 1;
    incrs.push_back(op);
    crdt::CrdtOp a;
    a.kind = crdt::CrdtOp::Kind::kAdd;
    a.path = {"tags"};
    a.value = "t" + std::to_string(i % 1000);
    adds.push_back(a);
  }
  const char* regions[] = {"a", "b", "c"};
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    (void)doc.Apply(incrs[static_cast<size_t>(i)], crdt::Tag{{R(regions[i % 3]), static_cast<uint64_t>(i + 1)}, 0},
                    crdt::Hlc::FromParts(static_cast<uint64_t>(i), 0));
  }
  const double incr_ops = n / std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    (void)doc.Apply(adds[static_cast<size_t>(i)], crdt::Tag{{R(regions[i % 3]), static_cast<uint64_t>(n + i + 1)}, 0},
                    crdt::Hlc::FromParts(static_cast<uint64_t>(i), 0));
  }
  const double add_ops = n / std::chrono::duration<double>(Clock::now() - t0).count();
  const size_t counter_bytes = doc.EncodeUnder({"likes"}).dump().size();

  // 3. Metadata after churn: three regions add and remove 10,000 elements at random; each
  // remove observes the element's tags at its origin.
  crdt::DocCrdt set;
  std::mt19937_64 rng(42);
  uint64_t seq = 0;
  for (int i = 0; i < 200'000; ++i) {
    const std::string e = std::to_string(rng() % 10'000);
    const json v = e;
    const auto origin = R(regions[rng() % 3]);
    crdt::CrdtOp op;
    op.path = {"s"};
    op.value = v;
    auto resolved = set.Resolve({{"op", rng() % 3 == 0 ? "remove" : "add"}, {"path", "/s"}, {"value", v}}, {}, origin);
    (void)set.Apply(*resolved, crdt::Tag{{origin, ++seq}, 0}, crdt::Hlc::FromParts(seq, 0));
  }
  const json value = set.Value({});
  const size_t live = value["s"].size();
  const size_t state_bytes = set.Encode().dump().size();
  size_t value_bytes = 0;
  for (const auto& e : value["s"]) value_bytes += e.dump().size();

  std::printf("crdt_bench: %d keep-alive connections, %d s per phase\n\n", connections, seconds);
  std::printf("%-44s %12s %8s\n", "through the API", "req/s", "vs PUT");
  std::printf("%-44s %12.0f %8s\n", "PUT (lww, durable)", put, "1.00");
  std::printf("%-44s %12.0f %8.2f\n", "ops: incr a counter (durable)", incr, incr / put);
  std::printf("%-44s %12.0f %8.2f\n", "ops: add to a set (durable)", add, add / put);
  std::printf("\n%-44s %12s\n", "in process (DocCrdt::Apply)", "ops/s");
  std::printf("%-44s %12.0f\n", "counter increments from 3 regions", incr_ops);
  std::printf("%-44s %12.0f\n", "set adds (1,000 elements, 3 regions)", add_ops);
  std::printf("\nmetadata: counter incremented 1,000,000 times from 3 regions: %zu bytes\n", counter_bytes);
  std::printf("metadata: set after 200,000 adds/removes from 3 regions: %zu live elements, %zu bytes of state, "
              "%.1f bytes per element (%.1f of them the element itself)\n",
              live, state_bytes, static_cast<double>(state_bytes) / live, static_cast<double>(value_bytes) / live);
  return 0;
}
