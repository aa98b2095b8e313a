// node_put: durable writes through region::Node in process, without HTTP, to separate the
// storage engine's cost from the server's.
//
//   build/tests/bench/node_put [--threads=64] [--seconds=3] [--max-batch=1024] [--durability=full]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "region/node.h"
#include "tests/support/process.h"

namespace {
bool Flag(const std::string& arg, const char* name, std::string* out) {
  const std::string prefix = std::string("--") + name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  *out = arg.substr(prefix.size());
  return true;
}
}  // namespace

int main(int argc, char** argv) {
  std::string threads_s = "64", seconds_s = "3", batch_s = "1024", durability = "full", writes_s = "0";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (!Flag(a, "threads", &threads_s) && !Flag(a, "seconds", &seconds_s) && !Flag(a, "max-batch", &batch_s) &&
        !Flag(a, "durability", &durability) && !Flag(a, "writes", &writes_s)) {
      std::cerr << "usage: node_put [--threads=64] [--seconds=3 | --writes=N] [--max-batch=1024] "
                   "[--durability=full|normal]\n";
      return 2;
    }
  }
  const int threads = std::stoi(threads_s);
  const uint64_t writes = std::stoull(writes_s);
  testsupport::TempDir dir("meridian-node-put");
  region::NodeOptions o;
  o.region = *crdt::RegionId::Parse("bench");
  o.data_dir = dir.path();
  o.max_batch = std::stoi(batch_s);
  o.durability = durability == "normal" ? region::Durability::kNormal : region::Durability::kFull;
  auto node = region::Node::Open(o);
  if (!node.ok()) {
    std::cerr << node.status().ToString() << "\n";
    return 1;
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  const std::string value = "{\"payload\":\"" + std::string(100, 'x') + "\"}";
  std::vector<std::thread> pool;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (uint64_t i = 0; !stop; ++i) {
        auto r = (*node)->Put({"bench", "t" + std::to_string(t) + "-" + std::to_string(i), value, {}});
        if (!r.ok()) {
          static std::atomic<int> shown{0};
          if (shown++ < 3) std::cerr << "write failed: " << r.status().ToString() << "\n";
          continue;
        }
        if (done.fetch_add(1, std::memory_order_relaxed) + 1 == writes) stop = true;
      }
    });
  }
  if (writes == 0) {
    std::this_thread::sleep_for(std::chrono::seconds(std::stoi(seconds_s)));
    stop = true;
  }
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto stats = (*node)->Stats().writer;
  std::printf("node_put: %d threads, durability=%s, max_batch=%s: %.0f writes/s, mean batch %.1f\n", threads,
              durability.c_str(), batch_s.c_str(), done / secs, stats.batches ? double(stats.jobs) / stats.batches : 0.0);
  return 0;
}
