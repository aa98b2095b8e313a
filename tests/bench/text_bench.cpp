// text_bench: crdt::Text on a real editing trace, in process, against Yjs on the same trace.
//
//   build/tests/bench/text_bench [--trace=FILE.json.gz] [--runs=5]
//
// Default trace: shared/traces/sequential_traces/automerge-paper.json.gz (259,778 edits).
// 1. Local replay: every patch as Text::Insert/Delete at one origin (what the origin region
//    does for client edits). Median time over --runs; memory = bytes allocated through
//    operator new, counted by this binary's global operator new/delete: the peak during the
//    replay and what the finished document keeps (both above the level before the replay).
// 2. Remote replay: the ops of 1 applied to a fresh replica (what every other region does).
// 3. Snapshot: Encode() time and size (JSON text), and load = parse + Text::Decode().
// 4. Tombstone collection with everything stable: runs and snapshot size after.
// 5. Yjs: `node --expose-gc tests/bench/yjs_replay.mjs <trace> <runs>` (heap delta from
//    process.memoryUsage()); skipped with a hint when tests/bench/node_modules is missing.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/doc_crdt.h"
#include "crdt/text.h"
#include "tests/support/traces.h"

namespace {

// Allocation accounting: a header before each block remembers its size.
std::atomic<size_t> g_live{0};
std::atomic<size_t> g_peak{0};
constexpr size_t kHeader = 16;

void* Allocate(size_t n) {
  auto* p = static_cast<char*>(std::malloc(n + kHeader));
  if (p == nullptr) throw std::bad_alloc();
  *reinterpret_cast<size_t*>(p) = n;
  const size_t live = g_live.fetch_add(n, std::memory_order_relaxed) + n;
  size_t peak = g_peak.load(std::memory_order_relaxed);
  while (live > peak && !g_peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
  return p + kHeader;
}

void Release(void* q) {
  if (q == nullptr) return;
  char* p = static_cast<char*>(q) - kHeader;
  g_live.fetch_sub(*reinterpret_cast<size_t*>(p), std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

void* operator new(size_t n) { return Allocate(n); }
void* operator new[](size_t n) { return Allocate(n); }
void operator delete(void* p) noexcept { Release(p); }
void operator delete[](void* p) noexcept { Release(p); }
void operator delete(void* p, size_t) noexcept { Release(p); }
void operator delete[](void* p, size_t) noexcept { Release(p); }

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double Mb(size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

std::string Flag(int argc, char** argv, const char* name, const std::string& fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind(prefix, 0) == 0) return std::string(argv[i]).substr(prefix.size());
  }
  return fallback;
}

double Median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

struct Patch {
  uint64_t pos, del;
  std::string ins;
};

struct Trace {
  std::vector<Patch> patches;
  std::string end;
};

Trace Load(const std::string& path) {
  const auto loaded = testsupport::LoadTrace(path);
  if (!loaded) {
    std::cerr << "cannot read trace " << path << "\n";
    std::exit(1);
  }
  const json& j = *loaded;
  Trace t;
  for (const json& txn : j["txns"]) {
    for (const json& p : txn["patches"]) t.patches.push_back({p[0], p[1], p[2]});
  }
  t.end = j["endContent"];
  return t;
}

void RunYjs(const std::string& trace, int runs, double our_ms, size_t our_bytes) {
  const std::filesystem::path dir = std::filesystem::path(MERIDIAN_SOURCE_DIR) / "tests" / "bench";
  if (!std::filesystem::exists(dir / "node_modules" / "yjs")) {
    std::cout << "yjs: skipped, not installed; run: npm install --prefix " << dir.string() << "\n";
    return;
  }
  const std::string cmd = "node --expose-gc " + (dir / "yjs_replay.mjs").string() + " '" + trace + "' " +
                          std::to_string(runs);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) {
    std::cout << "yjs: cannot run node\n";
    return;
  }
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int rc = pclose(pipe);
  const json j = json::parse(out, nullptr, false);
  if (rc != 0 || j.is_discarded()) {
    std::cout << "yjs: failed (exit " << rc << "): " << out << "\n";
    return;
  }
  const double yjs_ms = j["time_ms"].get<double>();
  const double yjs_bytes = j["heap_bytes"].get<double>();
  std::printf("yjs %s: replay %.1f ms (median of %d), heap kept %.2f MB, encoded %.1f KB\n",
              j.value("version", "").c_str(), yjs_ms, runs, yjs_bytes / (1024.0 * 1024.0),
              j["encoded_bytes"].get<double>() / 1024.0);
  std::printf("ratio yjs/text: time %.1fx, memory %.1fx\n", yjs_ms / our_ms, yjs_bytes / static_cast<double>(our_bytes));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string trace_path =
      Flag(argc, argv, "trace", std::string(MERIDIAN_TRACES_DIR) + "/sequential_traces/automerge-paper.json.gz");
  const int runs = std::max(1, std::stoi(Flag(argc, argv, "runs", "5")));
  const Trace trace = Load(trace_path);
  const crdt::RegionId origin = *crdt::RegionId::Parse("us-east");
  std::cout << "trace " << trace_path << ": " << trace.patches.size() << " patches\n";

  std::vector<double> local_ms, remote_ms;
  size_t peak = 0, kept = 0;
  std::vector<crdt::TextOp> ops;
  ops.reserve(trace.patches.size() + 16);
  crdt::Text doc;
  for (int r = 0; r < runs; ++r) {
    const bool record = r == 0;
    const size_t base = g_live.load();
    g_peak.store(base);
    auto t = std::make_unique<crdt::Text>();
    const auto start = Clock::now();
    for (const Patch& p : trace.patches) {
      if (p.del > 0) {
        auto op = t->Delete(origin, p.pos, p.del);
        if (record) ops.push_back(std::move(op).value());
      }
      if (!p.ins.empty()) {
        auto op = t->Insert(origin, p.pos, p.ins);
        if (record) ops.push_back(std::move(op).value());
      }
    }
    local_ms.push_back(Ms(Clock::now() - start));
    if (!record) {  // the recorded ops would count as the document's memory
      peak = g_peak.load() - base;
      kept = g_live.load() - base;
    }
    if (t->Value() != trace.end) {
      std::cerr << "local replay does not reach endContent\n";
      return 1;
    }
    if (record) doc = *t;
  }
  if (runs == 1) peak = kept = 0;
  for (int r = 0; r < runs; ++r) {
    crdt::Text t;
    const auto start = Clock::now();
    for (const crdt::TextOp& op : ops) {
      if (!t.Apply(op).ok()) return 1;
    }
    remote_ms.push_back(Ms(Clock::now() - start));
    if (t.Value() != trace.end) return 1;
  }
  const double local = Median(local_ms);
  std::printf("text local replay: %.1f ms (median of %d), memory peak %.2f MB, kept %.2f MB (operator new bytes), "
              "%zu runs, %llu tombstones\n",
              local, runs, Mb(peak), Mb(kept), doc.run_count(), static_cast<unsigned long long>(doc.tombstone_count()));
  std::printf("text remote replay (%zu ops): %.1f ms (median of %d)\n", ops.size(), Median(remote_ms), runs);

  auto start = Clock::now();
  const std::string snapshot = doc.Encode().dump();
  const double encode_ms = Ms(Clock::now() - start);
  start = Clock::now();
  const json parsed = json::parse(snapshot);
  const double parse_ms = Ms(Clock::now() - start);
  start = Clock::now();
  auto loaded = crdt::Text::Decode(parsed);
  const double decode_ms = Ms(Clock::now() - start);
  if (!loaded.ok() || loaded->Value() != trace.end) return 1;
  std::printf("snapshot: %.1f KB, encode+dump %.1f ms, load %.1f ms (parse %.1f + Decode %.1f)\n",
              snapshot.size() / 1024.0, encode_ms, parse_ms + decode_ms, parse_ms, decode_ms);

  // As the region stores it: the document state, written and read without JSON numbers.
  crdt::DocCrdt holder;
  {
    const json ins = {{"op", "insert"}, {"path", "/body"}, {"index", 0u}, {"text", "x"}};
    uint32_t index = 0;
    if (!holder.Local(&ins, {}, *crdt::RegionId::Parse("us-east"), {*crdt::RegionId::Parse("us-east"), 1}, &index,
                      crdt::Hlc()).ok()) {
      return 1;
    }
  }
  const std::string state = [&] {
    // The trace's text in place of the one-character text.
    std::string s = holder.EncodeText();
    const std::string one = holder.TextAt({"body"})->EncodeText();
    return s.replace(s.find(one), one.size(), doc.EncodeText());
  }();
  std::vector<double> write_ms, read_ms;
  for (int i = 0; i < runs; ++i) {
    start = Clock::now();
    auto back = crdt::DocCrdt::Decode(json::parse(state));
    read_ms.push_back(Ms(Clock::now() - start));
    if (!back.ok() || back->TextAt({"body"})->Value() != trace.end) return 1;
    start = Clock::now();
    const std::string again = back->EncodeText();
    write_ms.push_back(Ms(Clock::now() - start));
    if (again != state) return 1;
  }
  std::printf("document state as stored: %.1f KB, written in %.1f ms, loaded in %.1f ms (medians of %d)\n",
              state.size() / 1024.0, Median(write_ms), Median(read_ms), runs);

  start = Clock::now();
  const uint64_t removed = doc.CollectTombstones(doc.version());
  const double gc_ms = Ms(Clock::now() - start);
  std::printf("collect (all stable): %llu tombstones removed in %.1f ms, %zu runs left, snapshot %.1f KB\n",
              static_cast<unsigned long long>(removed), gc_ms, doc.run_count(), doc.Encode().dump().size() / 1024.0);

  RunYjs(trace_path, runs, local, kept);
  return 0;
}
