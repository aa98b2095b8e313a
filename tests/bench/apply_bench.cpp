// apply_bench: the parts of catching up, in process: serving a pull (log scan), the wire
// encoding both ways, and applying remote changes, for a backlog of --changes puts.
//
//   build/tests/bench/apply_bench [--changes=100000] [--batch=5000]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "region/node.h"
#include "region/wire.h"
#include "tests/support/process.h"

namespace {
using Clock = std::chrono::steady_clock;
double Secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int Flag(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(prefix, 0) == 0) return std::stoi(std::string(argv[i]).substr(prefix.size()));
  }
  return fallback;
}

std::unique_ptr<region::Node> Open(const std::string& dir, const char* id, region::Durability d) {
  region::NodeOptions o;
  o.region = *crdt::RegionId::Parse(id);
  o.data_dir = dir;
  o.durability = d;
  auto n = region::Node::Open(o);
  if (!n.ok()) {
    std::cerr << n.status().ToString() << "\n";
    std::exit(1);
  }
  return std::move(n).value();
}
}  // namespace

int main(int argc, char** argv) {
  const int changes = Flag(argc, argv, "changes", 100000);
  const int batch = Flag(argc, argv, "batch", 5000);
  testsupport::TempDir dir("meridian-apply-bench");
  auto a = Open(dir.Sub("a"), "us-east", region::Durability::kOff);
  for (int i = 0; i < changes; ++i) {
    (void)a->Put({"backlog", "b" + std::to_string(i), R"({"payload":"0123456789abcdef0123456789abcdef"})", {}});
  }
  auto b = Open(dir.Sub("b"), "eu-west", region::Durability::kFull);
  double pull_s = 0, encode_s = 0, decode_s = 0, apply_s = 0;
  size_t bytes = 0, applied = 0;
  while (true) {
    auto t0 = Clock::now();
    auto r = a->Pull(b->region(), b->Applied(), batch, 0);
    auto t1 = Clock::now();
    if (!r.ok() || r->changes.empty()) break;
    const std::string wire = region::EncodePullResponse(*r);
    auto t2 = Clock::now();
    auto back = region::DecodePullResponse(wire);
    auto t3 = Clock::now();
    auto res = b->ApplyRemote(a->region(), std::move(back->changes));
    auto t4 = Clock::now();
    pull_s += Secs(t1 - t0);
    encode_s += Secs(t2 - t1);
    decode_s += Secs(t3 - t2);
    apply_s += Secs(t4 - t3);
    bytes += wire.size();
    applied += res->applied;
  }
  const double total = pull_s + encode_s + decode_s + apply_s;
  std::printf("apply_bench: %zu changes in batches of %d (%.1f MB on the wire)\n", applied, batch, bytes / 1e6);
  std::printf("  %-28s %8.3f s  %10.0f changes/s\n", "serve pull (log scan)", pull_s, applied / pull_s);
  std::printf("  %-28s %8.3f s  %10.0f changes/s\n", "encode", encode_s, applied / encode_s);
  std::printf("  %-28s %8.3f s  %10.0f changes/s\n", "decode", decode_s, applied / decode_s);
  std::printf("  %-28s %8.3f s  %10.0f changes/s\n", "apply (one txn per batch)", apply_s, applied / apply_s);
  std::printf("  %-28s %8.3f s  %10.0f changes/s\n", "all, one after another", total, applied / total);
  return 0;
}
