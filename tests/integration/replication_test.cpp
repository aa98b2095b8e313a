// Replication between real processes on loopback, with partitions through proxies.
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/URI.h>
#include <boost/test/unit_test.hpp>

#include "region/peer_auth.h"
#include "tests/integration/cluster.h"
#include "tests/integration/fixture.h"
#include "tests/support/seed.h"

using integration::Cluster;
using integration::Json;
using nlohmann::json;
using testsupport::PollUntil;

namespace {
const std::vector<std::string> kThree = {"us-east", "eu-west", "ap-south"};
constexpr auto kConverge = std::chrono::seconds(20);

std::string Doc(const std::string& key) { return "/v1/collections/items/docs/" + key; }
}  // namespace

BOOST_AUTO_TEST_SUITE(replication)

BOOST_AUTO_TEST_CASE(writes_at_every_region_reach_every_region) {
  Cluster c(kThree);
  for (size_t i = 0; i < c.size(); ++i) {
    for (int k = 0; k < 20; ++k) {
      const auto r = c.http(i).Put(Doc(c.name(i) + "-" + std::to_string(k)), "{\"k\":" + std::to_string(k) + "}");
      BOOST_TEST_REQUIRE(r.status == 201, r.body);
    }
  }
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  for (size_t i = 0; i < c.size(); ++i) {
    for (size_t j = 0; j < c.size(); ++j) {
      auto r = c.http(i).Get(Doc(c.name(j) + "-19"));
      BOOST_TEST(r.status == 200);
      BOOST_TEST(Json(r)["origin"] == c.name(j));
    }
  }
  // Convergence may come through a relay before every puller has had its first answer
  // (peers that started later were retried with back-off): the cluster view catches up.
  json cluster;
  const bool all_ok = PollUntil(
      [&] {
        cluster = Json(c.http(0).Get("/v1/cluster"));
        if (cluster["peers"].size() != 2u) return false;
        for (const auto& p : cluster["peers"]) {
          if (p["state"] != "ok" || p["lag_changes"] != 0 || !p["clock_offset_ms"].is_number()) return false;
        }
        return true;
      },
      kConverge);
  BOOST_TEST(all_ok, cluster.dump());
}

BOOST_AUTO_TEST_CASE(a_region_learns_a_third_regions_writes_through_a_relay) {
  Cluster c(kThree);
  c.Partition(0, 2);  // us-east and ap-south cannot talk; eu-west talks to both
  BOOST_TEST_REQUIRE(c.http(0).Put(Doc("relayed"), R"({"via":"eu-west"})").status == 201);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.http(2).Get(Doc("relayed")).status == 200; }, kConverge));
  BOOST_TEST(Json(c.http(2).Get(Doc("relayed")))["origin"] == "us-east");
}

BOOST_AUTO_TEST_CASE(concurrent_writes_during_a_partition_converge_after_heal_with_conflicts_logged) {
  Cluster c(kThree);
  BOOST_TEST_REQUIRE(c.http(0).Put(Doc("shared"), R"({"v":0,"a":0,"b":0})").status == 201);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  c.Isolate(0);
  c.Isolate(1);
  c.Isolate(2);
  // The same keys written everywhere while nobody can talk to anybody.
  for (size_t i = 0; i < c.size(); ++i) {
    BOOST_TEST_REQUIRE(c.http(i).Put(Doc("shared"), "{\"v\":\"" + c.name(i) + "\"}").status == 200);
    BOOST_TEST_REQUIRE(c.http(i).Patch(Doc("fields"), "{\"" + c.name(i) + "\":1}").status < 300);
    for (int k = 0; k < 10; ++k) {
      BOOST_TEST_REQUIRE(c.http(i).Put(Doc("hot-" + std::to_string(k)), "{\"w\":\"" + c.name(i) + "\"}").status < 300);
    }
  }
  BOOST_TEST(c.Digest(0) != c.Digest(1));
  c.HealAll();
  const auto start = std::chrono::steady_clock::now();
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  BOOST_TEST_MESSAGE("converged "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()
                     << " ms after heal");
  // Field-level patches all survive; whole-document puts resolve to one winner everywhere.
  const json fields = Json(c.http(0).Get(Doc("fields")))["value"];
  BOOST_TEST(fields == json({{"us-east", 1}, {"eu-west", 1}, {"ap-south", 1}}));
  const json shared = Json(c.http(1).Get(Doc("shared")))["value"];
  for (size_t i = 0; i < c.size(); ++i) BOOST_TEST(Json(c.http(i).Get(Doc("shared")))["value"] == shared);
  // Every region saw concurrent versions and kept the losers.
  for (size_t i = 0; i < c.size(); ++i) {
    auto conflicts = Json(c.http(i).Get("/v1/conflicts?key=shared"));
    BOOST_TEST_REQUIRE(conflicts["conflicts"].size() >= 1u);
    const json& first = conflicts["conflicts"][0];
    BOOST_TEST(first["detected_by"] == c.name(i));
    BOOST_TEST(first["policy"] == "lww");
    BOOST_TEST(first["versions"].size() >= 2u);
    for (const auto& v : first["versions"]) {
      BOOST_TEST(v["value"]["v"].is_string());  // complete values, not just ids
      BOOST_TEST(v["context"].is_object());
    }
  }
}

BOOST_AUTO_TEST_CASE(restoring_a_conflict_loser_replicates_and_wins_everywhere) {
  Cluster c({"us-east", "eu-west"});
  c.Partition(0, 1);
  BOOST_TEST_REQUIRE(c.http(0).Put(Doc("pick"), R"({"choice":"first"})").status == 201);
  BOOST_TEST_REQUIRE(c.http(1).Put(Doc("pick"), R"({"choice":"second"})").status == 201);
  c.HealAll();
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  auto conflicts = Json(c.http(0).Get("/v1/conflicts?collection=items&key=pick"));
  BOOST_TEST_REQUIRE(conflicts["conflicts"].size() == 1u);
  const json conflict = conflicts["conflicts"][0];
  const std::string winner = conflict["outcome"]["winner"];
  std::string loser;
  for (const auto& v : conflict["versions"]) {
    if (v["version"] != winner) loser = v["version"];
  }
  BOOST_TEST_REQUIRE(!loser.empty());
  const std::string id = std::to_string(conflict["id"].get<int>());
  BOOST_TEST(c.http(0).Send("POST", "/v1/conflicts/" + id + "/resolve", R"({"pick":1})", "application/json").status ==
             400);
  BOOST_TEST(c.http(0).Send("POST", "/v1/conflicts/" + id + "/resolve", R"({"choose":"nope:1"})", "application/json")
                 .status == 404);
  auto resolved = c.http(0).Send("POST", "/v1/conflicts/" + id + "/resolve", "{\"choose\":\"" + loser + "\"}",
                                 "application/json");
  BOOST_TEST_REQUIRE(resolved.status == 200, resolved.body);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  std::string loser_value;
  for (const auto& v : conflict["versions"]) {
    if (v["version"] == loser) loser_value = v["value"]["choice"];
  }
  for (size_t i = 0; i < c.size(); ++i) BOOST_TEST(Json(c.http(i).Get(Doc("pick")))["value"]["choice"] == loser_value);
  BOOST_TEST(Json(c.http(0).Get("/v1/conflicts/" + id))["status"] == "resolved");
  auto again = c.http(0).Send("POST", "/v1/conflicts/" + id + "/resolve", R"({"value":{"x":1}})", "application/json");
  BOOST_TEST(again.status == 409);
  BOOST_TEST(c.http(0).Send("POST", "/v1/conflicts/999999/resolve", R"({"value":{}})", "application/json").status == 404);
}

BOOST_AUTO_TEST_CASE(delete_and_concurrent_older_update_do_not_resurrect) {
  Cluster c({"us-east", "eu-west"});
  BOOST_TEST_REQUIRE(c.http(0).Put(Doc("gone"), R"({"v":1})").status == 201);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  c.Partition(0, 1);
  BOOST_TEST_REQUIRE(c.http(1).Patch(Doc("gone"), R"({"v":2})").status == 200);  // older
  std::this_thread::sleep_for(std::chrono::milliseconds(5));                     // distinct wall clocks
  BOOST_TEST_REQUIRE(c.http(0).Delete(Doc("gone")).status == 200);               // later
  c.HealAll();
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  BOOST_TEST(c.http(0).Get(Doc("gone")).status == 404);
  BOOST_TEST(c.http(1).Get(Doc("gone")).status == 404);
}

BOOST_AUTO_TEST_CASE(sigkill_of_a_region_under_load_loses_no_acknowledged_write_anywhere) {
  const auto plan = testsupport::Seeds("replication kill", 1);
  std::mt19937_64 rng(plan.first);
  Cluster c(kThree);
  std::mutex mu;
  std::map<std::string, int> acked;  // key -> value
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (size_t i = 0; i < c.size(); ++i) {
    for (int t = 0; t < 3; ++t) {
      writers.emplace_back([&, i, t, url = c.proc(i).url()] {
        testsupport::HttpClient client(url, std::chrono::seconds(10));
        for (int n = 0; n < 100000 && !stop; ++n) {
          const std::string key = c.name(i) + "-" + std::to_string(t) + "-" + std::to_string(n);
          const auto r = client.Put(Doc(key), "{\"n\":" + std::to_string(n) + "}");
          if (r.status == 201) {
            std::lock_guard lock(mu);
            acked[key] = n;
          } else if (r.status == 0) {
            return;  // this region was killed
          }
        }
      });
    }
  }
  PollUntil([&] { std::lock_guard lock(mu); return acked.size() > 300 + rng() % 300; }, std::chrono::seconds(30), std::chrono::milliseconds(1));
  c.Kill(1);  // eu-west dies mid-load; the others keep writing and pulling from it fail
  PollUntil([&] { std::lock_guard lock(mu); return acked.size() > 1500; }, std::chrono::seconds(30), std::chrono::milliseconds(5));
  stop = true;
  for (auto& w : writers) w.join();
  c.Start(1);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, std::chrono::seconds(60)));
  BOOST_TEST_MESSAGE(acked.size() << " acknowledged writes checked at every region");
  for (size_t i = 0; i < c.size(); ++i) {
    for (const auto& [key, n] : acked) {
      auto r = c.http(i).Get(Doc(key));
      BOOST_TEST_REQUIRE(r.status == 200, key << " missing at " << c.name(i));
      BOOST_TEST_REQUIRE(Json(r)["value"]["n"] == n);
    }
  }
}

BOOST_AUTO_TEST_CASE(replication_endpoints_refuse_unsigned_stale_or_tampered_requests) {
  Cluster c({"us-east", "eu-west"});
  BOOST_TEST_REQUIRE(c.http(0).Put(Doc("secret"), R"({"v":1})").status == 201);
  const std::string target = "/v1/replication/pull?have=&limit=10&wait_ms=0";
  auto& h = c.http(0);
  auto unsigned_r = h.Get(target);
  BOOST_TEST(unsigned_r.status == 401);
  BOOST_TEST(Json(unsigned_r)["type"] == "urn:meridian:problem:unsigned");
  const auto id = *crdt::RegionId::Parse("eu-west");
  const auto now = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  const std::string secret = "integration-test-cluster-secret";
  auto wrong_secret = h.Get(target, {{"Authorization", region::SignPeerRequest("another-secret-entirely", id, "GET", target, "", now)}});
  BOOST_TEST(wrong_secret.status == 401);
  BOOST_TEST(Json(wrong_secret)["type"] == "urn:meridian:problem:bad-signature");
  auto stale = h.Get(target, {{"Authorization", region::SignPeerRequest(secret, id, "GET", target, "", now - 600'000)}});
  BOOST_TEST(stale.status == 401);
  BOOST_TEST(Json(stale)["type"] == "urn:meridian:problem:stale-signature");
  // A valid signature for one request does not authorise another.
  const std::string tampered = "/v1/replication/pull?have=&limit=9999&wait_ms=0";
  auto reused = h.Get(tampered, {{"Authorization", region::SignPeerRequest(secret, id, "GET", target, "", now)}});
  BOOST_TEST(reused.status == 401);
  auto good = h.Get(target, {{"Authorization", region::SignPeerRequest(secret, id, "GET", target, "", now)}});
  BOOST_TEST_REQUIRE(good.status == 200, good.body);
  BOOST_TEST(Json(good)["changes"].size() == 1u);
  // Large answers travel compressed when the puller accepts gzip.
  for (int i = 0; i < 300; ++i) {
    BOOST_TEST_REQUIRE(h.Put(Doc("bulk-" + std::to_string(i)), R"({"text":"a fairly repetitive payload"})").status == 201);
  }
  const std::string bulk = "/v1/replication/pull?have=&limit=1000&wait_ms=0";
  auto gz = h.Get(bulk, {{"Authorization", region::SignPeerRequest(secret, id, "GET", bulk, "", now)},
                         {"Accept-Encoding", "gzip"}});
  BOOST_TEST(gz.status == 200);
  BOOST_TEST(gz.header("content-encoding") == "gzip");
  BOOST_TEST(gz.body.size() < 300u * 40);
}

BOOST_AUTO_TEST_CASE(changes_from_a_clock_far_ahead_are_held_back_and_that_region_refuses_writes) {
  Cluster c({"us-east", "eu-west", "ap-south"});
  c.Kill(2);
  c.Start(2, {"--debug-clock-offset-ms=3000"});  // ap-south's clock runs 3 s ahead
  // Before ap-south has measured its peers' clocks it still accepts a write, stamped 3 s ahead.
  // Its peers' first long-polls take seconds to answer (nothing to send), so it has no
  // measurement of their clocks yet.
  auto early = c.http(2).Put(Doc("future"), R"({"from":"ap-south"})");
  BOOST_TEST_REQUIRE(early.status == 201, early.body);
  {
    // The others see ap-south as skewed and hold the change back instead of applying it...
    BOOST_TEST_REQUIRE(PollUntil(
        [&] {
          const json cluster = Json(c.http(0).Get("/v1/cluster"));  // named: the loop must not outlive it
          for (const auto& p : cluster["peers"]) {
            if (p["region"] == "ap-south" && p["state"] == "skewed") return true;
          }
          return false;
        },
        std::chrono::seconds(10)));
    BOOST_TEST(c.http(0).Get(Doc("future")).status == 404);
    // ...and apply it once their own clocks have caught up with its stamp: never dropped.
    BOOST_TEST(PollUntil([&] { return c.http(0).Get(Doc("future")).status == 200; }, std::chrono::seconds(10)));
  }
  // ap-south finds itself ahead of both peers and refuses writes until its clock is fixed.
  BOOST_TEST_REQUIRE(PollUntil([&] { return Json(c.http(2).Get("/v1/cluster"))["refusing_writes"] == true; },
                               std::chrono::seconds(10)));
  auto refused = c.http(2).Put(Doc("refused"), "{}");
  BOOST_TEST(refused.status == 503);
  BOOST_TEST(Json(refused)["type"] == "urn:meridian:problem:clock-skew");
  BOOST_TEST(c.http(0).Put(Doc("fine"), "{}").status == 201);
  // Fixed clock: writes come back.
  c.Kill(2);
  c.Start(2);
  BOOST_TEST(PollUntil([&] { return c.http(2).Put(Doc("after-fix"), "{}").status == 201; }, std::chrono::seconds(10)));
}

BOOST_AUTO_TEST_SUITE_END()
