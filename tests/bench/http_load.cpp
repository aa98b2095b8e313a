// http_load: throughput and latency of one region over HTTP, measured in one run so that
// every number has its baseline beside it (this machine is shared and noisy).
//
//   build/tests/bench/http_load [--seconds=5] [--connections=32] [--value-bytes=100] [--server-arg=FLAG ...]
//
// MERIDIAN_BINARY=path runs another build of the server (to compare two builds).
//
// Phases, each against a fresh server started here with its own data directory:
//   healthz        GET /healthz: the HTTP ceiling of this machine
//   put-group      durable PUTs (synchronous=FULL), group commit on (the default)
//   put-single     durable PUTs with --max-batch=1: one transaction (one fsync) per write
// Every connection is a keep-alive POCO client on its own thread; each PUT writes a new key.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int seconds = 5;
  int connections = 32;
  int value_bytes = 100;
  std::vector<std::string> server_args;  // passed to every server the benchmark starts
};

struct PhaseResult {
  std::string name;
  double seconds = 0;
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::vector<double> latencies_ms;
  double rate() const { return ok / seconds; }
  double Percentile(double p) const {
    if (latencies_ms.empty()) return 0;
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(p * latencies_ms.size()))];
  }
};

// Runs `connections` threads issuing requests back to back for `seconds` (after a short
// warm-up that is not counted).
template <typename Request>
PhaseResult RunPhase(const std::string& name, const std::string& url, const Options& opt, Request request) {
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<std::vector<double>> lat(static_cast<size_t>(opt.connections));
  std::vector<uint64_t> errors(static_cast<size_t>(opt.connections), 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < opt.connections; ++t) {
    threads.emplace_back([&, t] {
      testsupport::HttpClient client(url, std::chrono::seconds(30));
      auto& mine = lat[static_cast<size_t>(t)];
      mine.reserve(200000);
      for (uint64_t i = 0; !stop; ++i) {
        const auto start = Clock::now();
        const int status = request(client, t, i);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        if (!measuring) continue;
        if (status >= 200 && status < 300) {
          mine.push_back(ms);
        } else {
          ++errors[static_cast<size_t>(t)];
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(opt.seconds));
  measuring = false;
  const auto end = Clock::now();
  stop = true;
  for (auto& th : threads) th.join();
  PhaseResult r;
  r.name = name;
  r.seconds = std::chrono::duration<double>(end - start).count();
  for (size_t t = 0; t < lat.size(); ++t) {
    r.ok += lat[t].size();
    r.errors += errors[t];
    r.latencies_ms.insert(r.latencies_ms.end(), lat[t].begin(), lat[t].end());
  }
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  return r;
}

// What the server saw of a put phase (warm-up included), from its /metrics.
std::string ServerSide(testsupport::HttpClient& client) {
  const std::string m = client.Get("/metrics").body;
  auto value = [&](const std::string& name) {
    const auto at = m.find("\n" + name + " ");
    return at == std::string::npos ? 0.0 : std::stod(m.substr(at + name.size() + 2));
  };
  const double batches = value("meridian_commit_batch_size_count");
  const double slow = batches - value("meridian_commit_duration_seconds_bucket{le=\"0.01\"}");
  const double slow_catch_ups = value("meridian_wal_catch_up_duration_seconds_count") -
                                value("meridian_wal_catch_up_duration_seconds_bucket{le=\"0.01\"}");
  const double puts = value("meridian_http_request_duration_seconds_count{route=\"doc\"}");
  const double fast = value("meridian_http_request_duration_seconds_bucket{route=\"doc\",le=\"0.01\"}");
  char buf[128];
  std::snprintf(buf, sizeof buf, "%10.1f %10.2f %8.0f %8.0f",
                batches > 0 ? value("meridian_commit_batch_size_sum") / batches : 0.0, puts > 0 ? 100.0 * fast / puts : 0.0,
                slow, slow_catch_ups);
  return buf;
}

PhaseResult PutPhase(const std::string& name, const std::string& data_dir, const std::vector<std::string>& extra,
                     const Options& opt, std::string* batch) {
  std::vector<std::string> args = {"--region=bench", "--data-dir=" + data_dir, "--log-level=warning"};
  args.insert(args.end(), opt.server_args.begin(), opt.server_args.end());
  args.insert(args.end(), extra.begin(), extra.end());
  auto server = testsupport::ServerProcess::Start(args, data_dir + "-log");
  const std::string value = "{\"payload\":\"" + std::string(static_cast<size_t>(opt.value_bytes), 'x') + "\"}";
  PhaseResult r = RunPhase(name, server->url(), opt, [&](testsupport::HttpClient& c, int t, uint64_t i) {
    return c.Put("/v1/collections/bench/docs/t" + std::to_string(t) + "-" + std::to_string(i), value).status;
  });
  testsupport::HttpClient probe(server->url());
  *batch = ServerSide(probe);
  server->Terminate();
  return r;
}

bool ParseFlag(const std::string& arg, const char* name, int* out) {
  const std::string prefix = std::string("--") + name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  *out = std::stoi(arg.substr(prefix.size()));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--server-arg=", 0) == 0) {
      opt.server_args.push_back(a.substr(13));
      continue;
    }
    if (!ParseFlag(a, "seconds", &opt.seconds) && !ParseFlag(a, "connections", &opt.connections) &&
        !ParseFlag(a, "value-bytes", &opt.value_bytes)) {
      std::cerr << "usage: http_load [--seconds=5] [--connections=32] [--value-bytes=100] [--server-arg=FLAG ...]\n"
                   "  --server-arg: a flag for every server started (e.g. --server-arg=--http-loops=1)\n";
      return 2;
    }
  }
  testsupport::TempDir dir("meridian-bench");
  std::cout << "http_load: " << opt.connections << " keep-alive connections, " << opt.seconds
            << " s per phase, " << opt.value_bytes << "-byte values, data in " << dir.path() << "\n"
            << std::flush;

  std::vector<std::pair<PhaseResult, std::string>> results;
  {
    std::vector<std::string> args = {"--region=bench", "--data-dir=" + dir.Sub("healthz"), "--log-level=warning"};
    args.insert(args.end(), opt.server_args.begin(), opt.server_args.end());
    auto server = testsupport::ServerProcess::Start(args, dir.Sub("healthz-log"));
    results.emplace_back(RunPhase("healthz", server->url(), opt,
                                  [](testsupport::HttpClient& c, int, uint64_t) { return c.Get("/healthz").status; }),
                         "         -          -        -        -");
    server->Terminate();
  }
  std::string batch;
  results.emplace_back(PutPhase("put-group", dir.Sub("group"), {}, opt, &batch), batch);
  results.emplace_back(PutPhase("put-single", dir.Sub("single"), {"--max-batch=1"}, opt, &batch), batch);

  // Server-side columns: mean writes per commit, the share of PUTs the server answered
  // within 10 ms of reading them, commits (BEGIN to COMMIT) that took over 10 ms, and the
  // writer's checkpoint catch-ups that took over 10 ms (no commit runs during one).
  std::printf("\n%-12s %10s %9s %9s %9s %8s %10s %10s %8s %8s\n", "phase", "req/s", "p50 ms", "p99 ms", "max ms",
              "errors", "mean batch", "srv<=10ms%", ">10ms tx", ">10ms cu");
  for (const auto& [r, b] : results) {
    std::printf("%-12s %10.0f %9.2f %9.2f %9.2f %8llu %10s\n", r.name.c_str(), r.rate(), r.Percentile(0.50),
                r.Percentile(0.99), r.latencies_ms.empty() ? 0.0 : r.latencies_ms.back(),
                static_cast<unsigned long long>(r.errors), b.c_str());
  }
  const double ceiling = results[0].first.rate();
  const double group = results[1].first.rate();
  const double single = results[2].first.rate();
  std::printf("\nput-group / healthz     = %.2f  (target >= 0.50)\n", group / ceiling);
  std::printf("put-group / put-single  = %.1fx (target >= 10x)\n", group / single);
  std::printf("put-group p99           = %.2f ms (target <= 10 ms)\n", results[1].first.Percentile(0.99));
  return 0;
}
