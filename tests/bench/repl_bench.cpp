// repl_bench: replication lag and catch-up between real regions on loopback.
//
//   build/tests/bench/repl_bench [--rate=1000] [--seconds=10] [--backlog=100000] [--durability=full]
//
// Three regions (us-east, eu-west, ap-south), each pulling from the other two.
// 1. Lag: a client writes to us-east at a steady --rate for --seconds; a watcher
//    long-polls eu-west's change feed. Lag of a write = the moment eu-west's feed shows it
//    minus the moment us-east acknowledged it (one clock: this process's).
//    Baseline in the same run: the round trip of GET /healthz on the same loopback.
// 2. Catch-up: eu-west is cut off (its links go through proxies), --backlog writes land on
//    us-east, the links heal, and the time until eu-west has applied them all gives the
//    catch-up rate in changes per second.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

int Flag(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(prefix, 0) == 0) return std::stoi(std::string(argv[i]).substr(prefix.size()));
  }
  return fallback;
}

// From /v1/cluster, which is cheap (the digest hashes the whole database).
uint64_t AppliedFrom(testsupport::HttpClient& client, const std::string& origin) {
  const json d = json::parse(client.Get("/v1/cluster").body, nullptr, false);
  if (!d.is_object() || !d["applied"].contains(origin)) return 0;
  return d["applied"][origin].get<uint64_t>();
}

}  // namespace

int main(int argc, char** argv) {
  const int rate = Flag(argc, argv, "rate", 1000);
  const int seconds = Flag(argc, argv, "seconds", 10);
  const int backlog = Flag(argc, argv, "backlog", 100000);
  std::vector<std::string> extra;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind("--durability=", 0) == 0) extra.push_back(argv[i]);
  }
  integration::Cluster cluster({"us-east", "eu-west", "ap-south"}, extra);
  std::cout << "repl_bench: 3 regions on loopback; lag at " << rate << " writes/s for " << seconds
            << " s; catch-up of " << backlog << " changes" << std::endl;

  // Baseline: loopback HTTP round trip.
  std::vector<double> rtt;
  {
    testsupport::HttpClient c(cluster.proc(1).url());
    for (int i = 0; i < 2000; ++i) {
      const auto t0 = Clock::now();
      c.Get("/healthz");
      rtt.push_back(Ms(Clock::now() - t0));
    }
  }

  // Lag.
  std::mutex mu;
  std::map<uint64_t, Clock::time_point> acked, seen;
  std::atomic<bool> stop{false};
  std::thread watcher([&] {
    testsupport::HttpClient feed(cluster.proc(1).url());
    std::string since = json::parse(feed.Get("/v1/changes?limit=1").body)["next"];
    // Skip to the end of the feed.
    while (true) {
      const json page = json::parse(feed.Get("/v1/changes?limit=1000&since=" + since).body);
      since = page["next"];
      if (page["changes"].empty()) break;
    }
    while (!stop) {
      const json page = json::parse(feed.Get("/v1/changes?limit=1000&wait_ms=500&since=" + since).body);
      const auto now = Clock::now();
      std::lock_guard lock(mu);
      for (const auto& c : page["changes"]) {
        if (c["origin"] == "us-east") seen.emplace(c["seq"].get<uint64_t>(), now);
      }
      since = page["next"];
    }
  });
  {
    testsupport::HttpClient writer(cluster.proc(0).url());
    const auto interval = std::chrono::nanoseconds(1'000'000'000LL / rate);
    auto next = Clock::now();
    for (int i = 0; i < rate * seconds; ++i) {
      std::this_thread::sleep_until(next);
      next += interval;
      const auto r = writer.Put("/v1/collections/lag/docs/k" + std::to_string(i % 1000), "{\"i\":" + std::to_string(i) + "}");
      const auto now = Clock::now();
      if (r.status != 200 && r.status != 201) continue;
      std::lock_guard lock(mu);
      acked.emplace(json::parse(r.body)["seq"].get<uint64_t>(), now);
    }
  }
  testsupport::PollUntil(
      [&] {
        std::lock_guard lock(mu);
        return seen.size() >= acked.size();
      },
      std::chrono::seconds(10));
  stop = true;
  watcher.join();
  std::vector<double> lag;
  FILE* dump = std::getenv("REPL_BENCH_DUMP") ? std::fopen(std::getenv("REPL_BENCH_DUMP"), "w") : nullptr;
  const auto origin = acked.empty() ? Clock::now() : acked.begin()->second;
  for (const auto& [seq, t] : acked) {
    auto it = seen.find(seq);
    if (it == seen.end()) continue;
    lag.push_back(Ms(it->second - t));
    if (dump) std::fprintf(dump, "%.3f %.3f\n", Ms(t - origin), lag.back());
  }
  if (dump) std::fclose(dump);

  // Catch-up.
  cluster.Isolate(1);
  const uint64_t before = AppliedFrom(cluster.http(1), "us-east");
  {
    std::vector<std::thread> loaders;
    std::atomic<int> next{0};
    for (int t = 0; t < 32; ++t) {
      loaders.emplace_back([&] {
        testsupport::HttpClient c(cluster.proc(0).url());
        for (int i = next++; i < backlog; i = next++) {
          c.Put("/v1/collections/backlog/docs/b" + std::to_string(i), R"({"payload":"0123456789abcdef0123456789abcdef"})");
        }
      });
    }
    for (auto& t : loaders) t.join();
  }
  const uint64_t target = AppliedFrom(cluster.http(0), "us-east");
  const uint64_t pending = target - AppliedFrom(cluster.http(1), "us-east");
  const uint64_t start_seq = target - pending;
  const auto heal = Clock::now();
  cluster.HealAll();
  // Reconnecting waits for the puller's back-off; the rate counts from the first change applied.
  Clock::time_point first{};
  testsupport::PollUntil(
      [&] {
        const uint64_t at = AppliedFrom(cluster.http(1), "us-east");
        if (at > start_seq && first == Clock::time_point{}) first = Clock::now();
        return at >= target;
      },
      std::chrono::seconds(300), std::chrono::milliseconds(2));
  const double reconnect_s = Ms(first - heal) / 1000.0;
  const double catchup_s = Ms(Clock::now() - first) / 1000.0;
  const bool converged = testsupport::PollUntil([&] { return cluster.Converged(); }, std::chrono::seconds(60));
  (void)before;

  std::printf("\n%-34s %10s %10s %10s\n", "", "p50 ms", "p99 ms", "max ms");
  std::printf("%-34s %10.3f %10.3f %10.3f\n", "loopback HTTP round trip (baseline)", Pct(rtt, 0.5), Pct(rtt, 0.99),
              Pct(rtt, 1.0));
  std::printf("%-34s %10.3f %10.3f %10.3f   (%zu of %zu writes seen)\n", "replication lag us-east -> eu-west",
              Pct(lag, 0.5), Pct(lag, 0.99), Pct(lag, 1.0), lag.size(), acked.size());
  std::printf("\ncatch-up: %llu changes applied by eu-west in %.2f s = %.0f changes/s after reconnecting in %.2f s "
              "(converged: %s)\n",
              static_cast<unsigned long long>(pending), catchup_s, pending / catchup_s, reconnect_s,
              converged ? "yes" : "NO");
  return 0;
}
