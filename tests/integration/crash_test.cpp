// SIGKILL in the middle of a concurrent write load: after restart every acknowledged write
// is there with its value, and no write is half-applied (document and change-log entry
// exist together or not at all).
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "tests/integration/fixture.h"
#include "tests/support/seed.h"

using integration::Json;
using integration::Server;
using nlohmann::json;

namespace {

struct Outcome {
  std::mutex mu;
  std::map<std::string, int> acked;      // key -> value acknowledged
  std::map<std::string, int> uncertain;  // sent, no answer (in flight at the kill)
  std::map<std::string, int> patched;    // "p<thread>" -> highest acknowledged patch value
};

void Load(const std::string& url, int thread, int round, std::atomic<bool>& stop, Outcome& out) {
  testsupport::HttpClient client(url, std::chrono::seconds(10));
  for (int i = 0; i < 100000 && !stop; ++i) {
    const std::string key = "r" + std::to_string(round) + "-t" + std::to_string(thread) + "-" + std::to_string(i);
    const int value = i * 7 + thread;
    auto r = client.Put("/v1/collections/crash/docs/" + key, "{\"v\":" + std::to_string(value) + "}");
    std::lock_guard lock(out.mu);
    if (r.status == 201) {
      out.acked[key] = value;
    } else if (r.status == 0) {
      out.uncertain[key] = value;
      return;  // the server is gone
    }
    if (i % 5 == 0) {
      // Field-level writes to one document per thread: the acked value only grows.
      const std::string pkey = "p" + std::to_string(thread);
      auto p = client.Patch("/v1/collections/crash/docs/" + pkey, "{\"n\":" + std::to_string(round * 100000 + i) + "}");
      if (p.status == 200 || p.status == 201) out.patched[pkey] = round * 100000 + i;
      if (p.status == 0) return;
    }
  }
}

// Every acknowledged write is there with its value (a patched field at least as new).
void ExpectAcknowledged(testsupport::HttpClient& h, const Outcome& out) {
  for (const auto& [key, value] : out.acked) {
    auto r = h.Get("/v1/collections/crash/docs/" + key);
    BOOST_TEST_REQUIRE(r.status == 200, "acknowledged write lost: " + key);
    BOOST_TEST_REQUIRE(Json(r)["value"]["v"] == value);
  }
  for (const auto& [key, n] : out.patched) {
    auto r = h.Get("/v1/collections/crash/docs/" + key);
    BOOST_TEST_REQUIRE(r.status == 200);
    BOOST_TEST_REQUIRE(Json(r)["value"]["n"].get<int>() >= n);
  }
}

// The environment that preloads the failure library into a server (ASan must not object to
// a library loaded before it).
std::vector<std::string> Preloaded(std::vector<std::string> env) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  env.push_back(std::string("LD_PRELOAD=") + FAIL_FSYNC_LIBRARY);
  env.push_back(std::string("ASAN_OPTIONS=") + (asan ? std::string(asan) + ":" : "") + "verify_asan_link_order=0");
  return env;
}

// Restarts a server (which has created its database) with the failure library preloaded.
void RestartPreloaded(Server& s, const std::vector<std::string>& env) {
  BOOST_REQUIRE(s.proc->Terminate() == 0);
  s.Start(Preloaded(env));
}

// Writes from four threads until the server exits (at most 30 s); returns its exit status.
int LoadUntilExit(Server& s, Outcome& out) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(Load, s.proc->url(), t, 0, std::ref(stop), std::ref(out));
  const int status = s.proc->WaitForExit(std::chrono::seconds(30));
  stop = true;
  for (auto& th : threads) th.join();
  return status;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crash)

BOOST_AUTO_TEST_CASE(sigkill_under_concurrent_load_loses_no_acknowledged_write) {
  const auto plan = testsupport::Seeds("crash", 1);
  std::mt19937_64 rng(plan.first);
  // Checkpoints every few pages: the kills land in background checkpoints and catch-ups too.
  Server s({"--checkpoint-pages=8"});
  Outcome out;
  const int kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) threads.emplace_back(Load, s.proc->url(), t, round, std::ref(stop), std::ref(out));
    // Kill at a random moment once the load is well under way.
    const size_t target = out.acked.size() + 300 + rng() % 700;
    testsupport::PollUntil(
        [&] {
          std::lock_guard lock(out.mu);
          return out.acked.size() >= target;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(1));
    s.proc->Kill();
    stop = true;
    for (auto& th : threads) th.join();
    s.Start();  // same data directory
  }

  auto& h = s.http();
  BOOST_TEST_MESSAGE("acknowledged " << out.acked.size() << " writes, " << out.uncertain.size() << " in flight at kills");
  BOOST_TEST(out.acked.size() >= 1500u);
  ExpectAcknowledged(h, out);
  // In-flight writes are all-or-nothing: a document exists exactly when its change is logged.
  std::map<std::string, json> logged;
  std::string since;
  for (int i = 0; i < 10000; ++i) {
    const json page = Json(h.Get("/v1/changes?since=" + since + "&limit=1000"));
    for (const auto& c : page["changes"]) {
      if (c["op"] == "put") logged[c["key"]] = c["value"];
    }
    if (page["changes"].empty()) break;
    since = page["next"];
  }
  for (const auto& [key, value] : out.uncertain) {
    auto r = h.Get("/v1/collections/crash/docs/" + key);
    BOOST_TEST_REQUIRE((r.status == 200 || r.status == 404));
    BOOST_TEST_REQUIRE((r.status == 200) == (logged.count(key) == 1), key);
    if (r.status == 200) BOOST_TEST_REQUIRE(Json(r)["value"]["v"] == value);
  }
  size_t live = 0;
  std::string after;
  while (true) {
    const json page = Json(h.Get("/v1/collections/crash/docs?prefix=r&limit=1000" + (after.empty() ? "" : "&after=" + after)));
    for (const auto& d : page["docs"]) {
      ++live;
      BOOST_TEST_REQUIRE(logged.count(d["key"]) == 1u);
      BOOST_TEST_REQUIRE(logged[d["key"]] == d["value"]);
    }
    if (page["next"].is_null()) break;
    after = page["next"];
  }
  BOOST_TEST(live == logged.size());
}

BOOST_AUTO_TEST_CASE(a_failed_fsync_of_the_database_file_stops_the_server_and_loses_no_acknowledged_write) {
  // After a failed fsync Linux may drop the dirty pages and report the error only once, while
  // SQLite may already count them as copied out of the WAL: the server must stop rather than
  // go on and start the WAL over. A preloaded library makes one fsync of the database file
  // fail, after the first 20 (some checkpoints have copied pages and restarted the WAL by
  // then). It cannot drop pages, so what tells a server that stops from one that goes on is
  // its exit; the restart then checks that recovery after the abort loses nothing.
  for (const std::string durability : {"full", "normal"}) {
    BOOST_TEST_CONTEXT("--durability=" << durability) {
      Server s({"--checkpoint-pages=8", "--durability=" + durability});  // creates the database
      RestartPreloaded(s, {"MERIDIAN_FAIL_FSYNC_SUFFIX=/meridian.db", "MERIDIAN_FAIL_FSYNC_AFTER=20",
                           "MERIDIAN_FAIL_FSYNC_TIMES=1"});
      Outcome out;
      const int status = LoadUntilExit(s, out);
      BOOST_TEST_REQUIRE(status == 128 + SIGABRT,
                         "the server went on after a failed fsync (exit status " << status << ")");
      BOOST_TEST(s.proc->Stderr().find("fsync of the database file") != std::string::npos);
      BOOST_TEST_MESSAGE("--durability=" << durability << ": acknowledged " << out.acked.size()
                                         << " writes before the failed fsync");
      BOOST_TEST(out.acked.size() > 0u);

      s.Start();  // a working disk again: recovery copies the WAL into the database file
      ExpectAcknowledged(s.http(), out);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_failed_fsync_of_the_log_in_a_commit_stops_the_server_and_loses_no_acknowledged_write) {
  // The commit's frames are written, their fsync fails: whether they are durable is unknown
  // (the restart's recovery may find them). The server must not answer "rolled back" and
  // go on giving their sequence numbers to other writes: it stops. No checkpoints run here,
  // so every fsync of the log is a commit's.
  Server s({"--checkpoint-pages=1000000"});
  RestartPreloaded(s, {"MERIDIAN_FAIL_FSYNC_SUFFIX=/meridian.db-wal", "MERIDIAN_FAIL_FSYNC_AFTER=20",
                       "MERIDIAN_FAIL_FSYNC_TIMES=1"});
  Outcome out;
  const int status = LoadUntilExit(s, out);
  BOOST_TEST_REQUIRE(status == 128 + SIGABRT, "the server went on after a failed commit fsync (exit " << status << ")");
  BOOST_TEST(s.proc->Stderr().find("a commit failed with an I/O error") != std::string::npos);
  BOOST_TEST(out.acked.size() > 0u);
  s.Start();
  ExpectAcknowledged(s.http(), out);
}

BOOST_AUTO_TEST_CASE(a_full_disk_refuses_writes_with_503_keeps_reads_and_loses_nothing) {
  Server s({"--checkpoint-pages=1000000"});
  // The 11th to 15th writes to the log fail with ENOSPC, then the disk has room again.
  RestartPreloaded(s, {"MERIDIAN_FAIL_WRITE_SUFFIX=/meridian.db-wal", "MERIDIAN_FAIL_WRITE_AFTER=10",
                       "MERIDIAN_FAIL_WRITE_TIMES=5"});
  auto& h = s.http();
  std::map<std::string, int> acked;
  std::vector<std::string> refused;
  bool not_ready = false;
  for (int i = 0; i < 40; ++i) {
    const std::string key = "k" + std::to_string(i);
    auto r = h.Put("/v1/collections/full/docs/" + key, "{\"v\":" + std::to_string(i) + "}");
    if (r.status == 201) {
      acked[key] = i;
      continue;
    }
    BOOST_TEST(r.status == 503, key << ": " << r.body);
    BOOST_TEST(Json(r)["type"] == "urn:meridian:problem:disk-full", r.body);
    BOOST_TEST(r.header("retry-after") == "1");
    refused.push_back(key);
    not_ready = not_ready || h.Get("/readyz").status == 503;
    if (!acked.empty()) BOOST_TEST(h.Get("/v1/collections/full/docs/" + acked.begin()->first).status == 200);
  }
  BOOST_TEST(refused.size() >= 1u);
  BOOST_TEST(not_ready, "/readyz said ready while writes failed for a full disk");
  BOOST_TEST(h.Get("/readyz").status == 200);  // writes have committed since
  BOOST_TEST(h.Get("/metrics").body.find("meridian_commit_disk_full_total 0") == std::string::npos);
  s.Restart();
  for (const auto& [key, v] : acked) {
    auto r = s.http().Get("/v1/collections/full/docs/" + key);
    BOOST_TEST_REQUIRE(r.status == 200, "acknowledged write lost: " << key);
    BOOST_TEST(Json(r)["value"]["v"] == v);
  }
  for (const auto& key : refused) {
    BOOST_TEST(s.http().Get("/v1/collections/full/docs/" + key).status == 404, "refused write present: " << key);
  }
}

BOOST_AUTO_TEST_SUITE_END()
