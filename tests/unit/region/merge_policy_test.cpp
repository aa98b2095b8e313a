// The merge and manual policies between in-process nodes, replicated by hand.
#include <chrono>
#include <thread>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "conflict/merge.h"
#include "region/node.h"
#include "tests/support/fake_clock.h"
#include "tests/support/printers.h"
#include "tests/support/process.h"

using nlohmann::json;
using region::Node;
using testsupport::TempDir;

namespace {

// Deliberately not commutative: {"log": the "log" strings of the live versions, joined in
// the order given}.
crdt::Result<std::optional<json>> Concat(const std::vector<conflict::Sibling>& siblings) {
  std::string log;
  for (const auto& s : siblings) {
    if (s.value) log += s.value->value("log", "");
  }
  return std::optional<json>(json{{"log", log}});
}

conflict::Registry TestRegistry() {
  conflict::Registry r;
  BOOST_REQUIRE(r.Register("concat", Concat).ok());
  BOOST_REQUIRE(r.Register("throws", [](const std::vector<conflict::Sibling>&) -> crdt::Result<std::optional<json>> {
                   throw std::runtime_error("thrown on purpose");
                 }).ok());
  BOOST_REQUIRE(r.Register("sleeps", [](const std::vector<conflict::Sibling>& s) {
                   std::this_thread::sleep_for(std::chrono::milliseconds(400));
                   return Concat(s);
                 }).ok());
  BOOST_REQUIRE(r.Register("number", [](const std::vector<conflict::Sibling>&) -> crdt::Result<std::optional<json>> {
                   return std::optional<json>(json(42));
                 }).ok());
  return r;
}

struct Cluster {
  TempDir dir;
  testsupport::FakeClock clock{1'700'000'000'000};
  conflict::Registry registry = TestRegistry();
  conflict::Registry builtins;  // what a region without the test callbacks knows
  std::vector<std::unique_ptr<Node>> nodes;

  explicit Cluster(int n, bool last_lacks_callbacks = false, int budget_ms = 100) {
    const char* names[] = {"us-east", "eu-west", "ap-south"};
    for (int i = 0; i < n; ++i) {
      region::NodeOptions o;
      o.region = *crdt::RegionId::Parse(names[i]);
      o.data_dir = dir.Sub(names[i]);
      o.read_connections = 2;
      o.clock = &clock;
      o.registry = last_lacks_callbacks && i == n - 1 ? &builtins : &registry;
      o.merge_budget_ms = budget_ms;
      auto node = Node::Open(o);
      BOOST_REQUIRE_MESSAGE(node.ok(), node.status().ToString());
      nodes.push_back(std::move(node).value());
    }
  }
  Node& operator[](int i) { return *nodes[static_cast<size_t>(i)]; }

  // `to` pulls everything `from` has.
  void Sync(int from, int to) {
    for (int i = 0; i < 100; ++i) {
      auto r = (*this)[from].Pull((*this)[to].region(), (*this)[to].Applied(), 1000, 0);
      BOOST_REQUIRE(r.ok());
      if (r->changes.empty()) return;
      auto applied = (*this)[to].ApplyRemote((*this)[from].region(), std::move(r->changes));
      BOOST_REQUIRE_MESSAGE(applied.ok(), applied.status().ToString());
      BOOST_REQUIRE_MESSAGE(applied->held.ok(), applied->held.ToString());
    }
  }
  void SyncAll() {
    for (int round = 0; round < 2; ++round) {
      for (size_t a = 0; a < nodes.size(); ++a) {
        for (size_t b = 0; b < nodes.size(); ++b) {
          if (a != b) Sync(static_cast<int>(a), static_cast<int>(b));
        }
      }
    }
  }

  // Every node writes {"log": letter} to the same key concurrently, in HLC order A, B, C.
  void ConcurrentWrites(const std::string& collection, const std::string& key) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      clock.Advance(5);
      const std::string body = json{{"log", std::string(1, static_cast<char>('A' + i))}}.dump();
      auto ack = nodes[i]->Put({collection, key, body, {}});
      BOOST_REQUIRE_MESSAGE(ack.ok(), ack.status().ToString());
    }
  }
};

json Value(Node& n, const std::string& collection, const std::string& key) {
  auto doc = n.Get(collection, key);
  BOOST_REQUIRE_MESSAGE(doc.ok(), doc.status().ToString());
  return json::parse(doc->value);
}

std::vector<region::ConflictRow> ConflictsOf(Node& n, const std::string& key) {
  region::ConflictQuery q;
  q.key = key;
  auto page = n.Conflicts(q);
  BOOST_REQUIRE(page.ok());
  return page->conflicts;
}

void Define(Node& n, const std::string& name, const std::string& def) {
  auto r = n.DefineCollection(name, def);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(merge_policy)

BOOST_AUTO_TEST_CASE(every_region_shows_the_callback_over_all_versions_in_canonical_order) {
  Cluster c(3);
  Define(c[0], "logs", R"({"policy":"merge","merge":"concat"})");
  c.SyncAll();
  c.ConcurrentWrites("logs", "k");
  // Different arrival orders at each region.
  c.Sync(2, 0);
  c.Sync(1, 0);
  c.Sync(0, 1);
  c.Sync(2, 1);
  c.Sync(1, 2);
  c.Sync(0, 2);
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT("region " << i) {
      BOOST_TEST(Value(c[i], "logs", "k") == json({{"log", "ABC"}}));
      const auto conflicts = ConflictsOf(c[i], "k");
      BOOST_REQUIRE(!conflicts.empty());
      for (const auto& row : conflicts) {
        BOOST_TEST(row.status == "auto");
        BOOST_TEST(json::parse(row.outcome).value("callback", "") == "concat");
      }
    }
  }
  BOOST_TEST(c[0].Digest()->digest == c[1].Digest()->digest);
  BOOST_TEST(c[1].Digest()->digest == c[2].Digest()->digest);
  // A later write has seen every version: it replaces them, and the callback is out of it.
  c.clock.Advance(5);
  BOOST_REQUIRE(c[1].Put({"logs", "k", R"({"log":"Z"})", {}}).ok());
  c.SyncAll();
  for (int i = 0; i < 3; ++i) BOOST_TEST(Value(c[i], "logs", "k") == json({{"log", "Z"}}));
}

BOOST_AUTO_TEST_CASE(a_failing_callback_falls_back_to_lww_and_asks_for_an_operator) {
  const std::pair<const char*, const char*> cases[] = {
      {"throws", "callback-failed: the callback threw: thrown on purpose"},
      {"number", "callback-invalid: the callback returned something other than an object or null"},
  };
  for (const auto& [callback, error] : cases) {
    BOOST_TEST_CONTEXT("callback " << callback) {
      Cluster c(2);
      Define(c[0], "logs", std::string(R"({"policy":"merge","merge":")") + callback + "\"}");
      c.SyncAll();
      c.ConcurrentWrites("logs", "k");
      c.SyncAll();
      for (int i = 0; i < 2; ++i) {
        BOOST_TEST(Value(c[i], "logs", "k") == json({{"log", "B"}}));  // the last writer
        const auto conflicts = ConflictsOf(c[i], "k");
        BOOST_REQUIRE(conflicts.size() == 1u);
        BOOST_TEST(conflicts[0].status == "needs-attention");
        const json outcome = json::parse(conflicts[0].outcome);
        BOOST_TEST(outcome.value("fallback", "") == "lww");
        const std::string seen = outcome.value("reason", "") + ": " + outcome.value("error", "");
        BOOST_TEST(seen.find(error) != std::string::npos, outcome.dump());
      }
      // Replication is not stalled: later writes flow both ways.
      c.clock.Advance(5);
      BOOST_REQUIRE(c[0].Put({"logs", "after", R"({"log":"x"})", {}}).ok());
      BOOST_REQUIRE(c[1].Put({"logs", "k", R"({"log":"fixed"})", {}}).ok());
      c.SyncAll();
      BOOST_TEST(Value(c[1], "logs", "after") == json({{"log", "x"}}));
      BOOST_TEST(Value(c[0], "logs", "k") == json({{"log", "fixed"}}));
      BOOST_TEST(ConflictsOf(c[0], "k")[0].status == "resolved");  // superseded by the write
    }
  }
}

BOOST_AUTO_TEST_CASE(a_callback_over_its_time_budget_falls_back_to_lww) {
  Cluster c(2, false, /*budget_ms=*/50);
  Define(c[0], "logs", R"({"policy":"merge","merge":"sleeps"})");
  c.SyncAll();
  c.ConcurrentWrites("logs", "k");
  const auto started = std::chrono::steady_clock::now();
  c.SyncAll();
  const auto took = std::chrono::steady_clock::now() - started;
  BOOST_TEST_MESSAGE("sync with a timed-out callback took "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  BOOST_TEST(Value(c[1], "logs", "k") == json({{"log", "B"}}));
  const auto conflicts = ConflictsOf(c[1], "k");
  BOOST_REQUIRE(conflicts.size() == 1u);
  BOOST_TEST(conflicts[0].status == "needs-attention");
  BOOST_TEST(json::parse(conflicts[0].outcome).value("error", "").find("50 ms") != std::string::npos,
             conflicts[0].outcome);
}

BOOST_AUTO_TEST_CASE(a_region_without_the_callback_falls_back_to_lww) {
  Cluster c(2, /*last_lacks_callbacks=*/true);
  Define(c[0], "logs", R"({"policy":"merge","merge":"concat"})");
  // The region that lacks it refuses to define such a collection itself ...
  auto refused = c[1].DefineCollection("other", R"({"policy":"merge","merge":"concat"})");
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.status().reason() == "unknown-callback");
  // ... but accepts the definition from a peer, and its conflicts then need an operator.
  c.SyncAll();
  c.ConcurrentWrites("logs", "k");
  c.SyncAll();
  BOOST_TEST(Value(c[0], "logs", "k") == json({{"log", "AB"}}));
  BOOST_TEST(Value(c[1], "logs", "k") == json({{"log", "B"}}));
  const auto conflicts = ConflictsOf(c[1], "k");
  BOOST_REQUIRE(conflicts.size() == 1u);
  BOOST_TEST(conflicts[0].status == "needs-attention");
  BOOST_TEST(json::parse(conflicts[0].outcome).value("error", "").find("concat") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(siblings_past_the_cap_are_kept_but_only_the_newest_merged) {
  Cluster c(3);
  Define(c[0], "logs", R"({"policy":"merge","merge":"concat","max_siblings":2})");
  c.SyncAll();
  c.ConcurrentWrites("logs", "k");
  c.SyncAll();
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT("region " << i) {
      BOOST_TEST(Value(c[i], "logs", "k") == json({{"log", "BC"}}));
      bool capped = false;
      for (const auto& row : ConflictsOf(c[i], "k")) {
        if (json::parse(row.outcome).contains("capped")) {
          capped = true;
          BOOST_TEST(row.status == "needs-attention");
        }
      }
      BOOST_TEST(capped);
    }
  }
}

BOOST_AUTO_TEST_CASE(manual_shows_siblings_until_a_write_that_saw_them_all) {
  Cluster c(2);
  Define(c[0], "cal", R"({"policy":"manual"})");
  c.SyncAll();
  c.ConcurrentWrites("cal", "k");
  c.SyncAll();
  for (int i = 0; i < 2; ++i) {
    auto doc = c[i].Get("cal", "k");
    BOOST_REQUIRE(doc.ok());
    BOOST_TEST(doc->conflicted);
    BOOST_TEST(json::parse(doc->value) == json({{"log", "B"}}));  // LWW's choice
    const json siblings = json::parse(doc->siblings);
    BOOST_REQUIRE(siblings.size() == 2u);
    BOOST_TEST(siblings[0]["value"] == json({{"log", "A"}}));
    BOOST_TEST(siblings[1]["value"] == json({{"log", "B"}}));
    BOOST_TEST(doc->siblings_total == 2);
    BOOST_TEST(ConflictsOf(c[i], "k")[0].status == "needs-attention");
  }
  // A blind write would silently drop a sibling: refused.
  auto blind = c[0].Put({"cal", "k", R"({"log":"blind"})", {}});
  BOOST_REQUIRE(!blind.ok());
  BOOST_TEST(blind.status().reason() == "conflicted");
  auto blind_patch = c[0].Patch({"cal", "k", R"({"log":"blind"})", {}});
  BOOST_TEST(blind_patch.status().reason() == "conflicted");
  // A stale If-Match is refused too.
  auto stale = c[0].Put({"cal", "k", R"({"log":"stale"})", std::string("us-east:1")});
  BOOST_TEST(!stale.ok());
  // If-Match naming the version read covers every sibling: it resolves them, everywhere.
  const std::string version = c[0].Get("cal", "k")->version;
  c.clock.Advance(5);
  auto resolved = c[0].Put({"cal", "k", R"({"log":"AB"})", version});
  BOOST_REQUIRE_MESSAGE(resolved.ok(), resolved.status().ToString());
  c.SyncAll();
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST_CONTEXT("region " << i) {
      auto doc = c[i].Get("cal", "k");
      BOOST_REQUIRE(doc.ok());
      BOOST_TEST(!doc->conflicted);
      BOOST_TEST(doc->siblings.empty());
      BOOST_TEST(json::parse(doc->value) == json({{"log", "AB"}}));
      for (const auto& row : ConflictsOf(c[i], "k")) BOOST_TEST(row.status == "resolved");
    }
  }
  // Without siblings, writes need no If-Match.
  BOOST_TEST(c[1].Put({"cal", "k", R"({"log":"next"})", {}}).ok());
}

BOOST_AUTO_TEST_CASE(manual_conflicts_resolve_through_the_conflict_api_and_replicate) {
  Cluster c(3);
  Define(c[0], "cal", R"({"policy":"manual","max_siblings":2})");
  c.SyncAll();
  c.ConcurrentWrites("cal", "k");
  c.SyncAll();
  auto doc = c[2].Get("cal", "k");
  BOOST_REQUIRE(doc.ok());
  BOOST_TEST(json::parse(doc->siblings).size() == 2u);  // capped: the newest two shown
  BOOST_TEST(doc->siblings_total == 3);
  const auto conflicts = ConflictsOf(c[2], "k");
  BOOST_REQUIRE(!conflicts.empty());
  c.clock.Advance(5);
  auto ack = c[2].ResolveConflict(conflicts.back().id, R"({"value":{"log":"merged by hand"}})");
  BOOST_REQUIRE_MESSAGE(ack.ok(), ack.status().ToString());
  c.SyncAll();
  for (int i = 0; i < 3; ++i) {
    BOOST_TEST_CONTEXT("region " << i) {
      auto d = c[i].Get("cal", "k");
      BOOST_REQUIRE(d.ok());
      BOOST_TEST(!d->conflicted);
      BOOST_TEST(json::parse(d->value) == json({{"log", "merged by hand"}}));
      for (const auto& row : ConflictsOf(c[i], "k")) BOOST_TEST(row.status == "resolved");
    }
  }
  BOOST_TEST(c[0].Digest()->digest == c[2].Digest()->digest);
}

BOOST_AUTO_TEST_SUITE_END()
