// Merge callbacks and manual resolution across real processes: plugins loaded in three
// regions, conflicting writes during a partition, heal, and what every region then shows.
#include <set>
#include <string>
#include <tuple>

#include <boost/test/unit_test.hpp>

#include "tests/integration/cluster.h"
#include "tests/integration/fixture.h"

using integration::Cluster;
using integration::Json;
using nlohmann::json;
using testsupport::PollUntil;

namespace {
const std::vector<std::string> kThree = {"us-east", "eu-west", "ap-south"};
constexpr auto kConverge = std::chrono::seconds(20);
const std::vector<std::string> kPlugins = {std::string("--plugin=") + CART_PLUGIN,
                                           std::string("--plugin=") + TEST_PLUGIN_OK, "--merge-budget-ms=200"};

void Define(Cluster& c, const std::string& name, const std::string& def) {
  auto r = c.http(0).Put("/v1/collections/" + name, def);
  BOOST_TEST_REQUIRE(r.status < 300, r.body);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
}

// Isolates every region, runs `write(i)` at each, heals and waits for convergence.
template <typename F>
void WriteApartThenHeal(Cluster& c, F write) {
  for (size_t i = 0; i < c.size(); ++i) c.Isolate(i);
  for (size_t i = 0; i < c.size(); ++i) write(i);
  c.HealAll();
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
}
}  // namespace

BOOST_AUTO_TEST_SUITE(merge)

BOOST_AUTO_TEST_CASE(the_cart_plugin_merges_carts_written_apart_during_a_partition) {
  Cluster c(kThree, kPlugins);
  Define(c, "carts", R"({"policy":"merge","merge":"cart"})");
  BOOST_TEST_REQUIRE(c.http(0).Put("/v1/collections/carts/docs/ann", R"({"items":{"tea":1},"note":"base"})").status == 201);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  const std::string carts[] = {
      R"({"items":{"tea":1,"milk":2},"note":"us"})",
      R"({"items":{"tea":3},"note":"eu"})",
      R"({"items":{"tea":1,"jam":1},"note":"ap","checked_out":true})",
  };
  WriteApartThenHeal(c, [&](size_t i) {
    BOOST_TEST_REQUIRE(c.http(i).Put("/v1/collections/carts/docs/ann", carts[i]).status == 200);
  });
  const json expected = json::parse(R"({"items":{"tea":3,"milk":2,"jam":1},"checked_out":true})");
  std::string note;
  for (size_t i = 0; i < c.size(); ++i) {
    BOOST_TEST_CONTEXT("region " << c.name(i)) {
      const json doc = Json(c.http(i).Get("/v1/collections/carts/docs/ann"));
      BOOST_TEST(doc["value"]["items"] == expected["items"]);
      BOOST_TEST(doc["value"]["checked_out"] == true);
      if (i == 0) note = doc["value"]["note"];
      BOOST_TEST(doc["value"]["note"] == note);  // the newest version's, the same everywhere
      const json conflicts = Json(c.http(i).Get("/v1/conflicts?collection=carts&key=ann"));
      BOOST_TEST_REQUIRE(!conflicts["conflicts"].empty());
      for (const auto& row : conflicts["conflicts"]) {
        BOOST_TEST(row["policy"] == "merge");
        BOOST_TEST(row["status"] == "auto");
        BOOST_TEST(row["outcome"]["callback"] == "cart");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(failing_callbacks_fall_back_to_lww_flag_the_conflict_and_never_stall_replication) {
  Cluster c(kThree, kPlugins);
  const char* callbacks[] = {"fails", "garbage", "array", "silent", "slow"};
  for (const char* cb : callbacks) Define(c, cb, std::string(R"({"policy":"merge","merge":")") + cb + "\"}");
  WriteApartThenHeal(c, [&](size_t i) {
    for (const char* cb : callbacks) {
      const auto r = c.http(i).Put(std::string("/v1/collections/") + cb + "/docs/k", "{\"log\":\"" + c.name(i) + "\"}");
      BOOST_TEST_REQUIRE(r.status == 201, r.body);
    }
  });
  for (const char* cb : callbacks) {
    BOOST_TEST_CONTEXT("callback " << cb) {
      const json shown = Json(c.http(0).Get(std::string("/v1/collections/") + cb + "/docs/k"))["value"];
      for (size_t i = 0; i < c.size(); ++i) {
        BOOST_TEST(Json(c.http(i).Get(std::string("/v1/collections/") + cb + "/docs/k"))["value"] == shown);
        const json conflicts = Json(c.http(i).Get(std::string("/v1/conflicts?status=needs-attention&collection=") + cb));
        BOOST_TEST_REQUIRE(!conflicts["conflicts"].empty());
        BOOST_TEST(conflicts["conflicts"][0]["outcome"]["fallback"] == "lww");
        BOOST_TEST(!conflicts["conflicts"][0]["outcome"]["error"].get<std::string>().empty());
      }
      BOOST_TEST(shown["log"] == "ap-south");  // the last writer (written last, apart)
    }
  }
  // Replication keeps flowing after the failures.
  BOOST_TEST_REQUIRE(c.http(2).Put("/v1/collections/fails/docs/later", R"({"log":"later"})").status == 201);
  BOOST_TEST(PollUntil([&] { return c.http(0).Get("/v1/collections/fails/docs/later").status == 200; }, kConverge));
}

BOOST_AUTO_TEST_CASE(manual_conflicts_are_shown_refuse_blind_writes_and_resolve_end_to_end) {
  Cluster c({"us-east", "eu-west"});
  Define(c, "cal", R"({"policy":"manual"})");
  WriteApartThenHeal(c, [&](size_t i) {
    BOOST_TEST_REQUIRE(c.http(i).Put("/v1/collections/cal/docs/mon", "{\"slot\":\"" + c.name(i) + "\"}").status == 201);
    BOOST_TEST_REQUIRE(c.http(i).Put("/v1/collections/cal/docs/tue", "{\"slot\":\"" + c.name(i) + "\"}").status == 201);
  });
  auto read = c.http(0).Get("/v1/collections/cal/docs/mon");
  const json doc = Json(read);
  BOOST_TEST(doc["conflicted"] == true);
  BOOST_TEST_REQUIRE(doc["siblings"].size() == 2u);
  BOOST_TEST(doc["siblings_total"] == 2);
  // Both versions, in canonical order: ascending hlc, then origin (the two writes may share
  // a millisecond, and then eu-west sorts first).
  const json& a = doc["siblings"][0];
  const json& b = doc["siblings"][1];
  BOOST_TEST((std::set<std::string>{a["value"]["slot"], b["value"]["slot"]} ==
              std::set<std::string>{"us-east", "eu-west"}));
  const auto key = [](const json& v) {
    return std::make_tuple(v["hlc"]["wall_ms"].get<uint64_t>(), v["hlc"]["logical"].get<uint64_t>(),
                           v["origin"].get<std::string>());
  };
  BOOST_TEST((key(a) < key(b)), doc["siblings"].dump());

  auto blind = c.http(0).Put("/v1/collections/cal/docs/mon", R"({"slot":"blind"})");
  BOOST_TEST(blind.status == 409);
  BOOST_TEST(Json(blind)["type"] == "urn:meridian:problem:conflicted");
  // "Any version" names none: it does not resolve siblings the client never saw.
  auto any = c.http(0).Put("/v1/collections/cal/docs/mon", R"({"slot":"blind"})", {{"If-Match", "*"}});
  BOOST_TEST(any.status == 409, any.body);
  // A weak tag never matches for a write (RFC 9110: If-Match compares strongly).
  auto weak = c.http(0).Put("/v1/collections/cal/docs/mon", R"({"slot":"weak"})", {{"If-Match", "W/" + read.header("etag")}});
  BOOST_TEST(weak.status == 412, weak.body);

  auto resolved = c.http(0).Put("/v1/collections/cal/docs/mon", R"({"slot":"both"})", {{"If-Match", read.header("etag")}});
  BOOST_TEST_REQUIRE(resolved.status == 200, resolved.body);

  const json conflicts = Json(c.http(1).Get("/v1/conflicts?collection=cal&key=tue"));
  BOOST_TEST_REQUIRE(!conflicts["conflicts"].empty());
  const std::string id = std::to_string(conflicts["conflicts"][0]["id"].get<int64_t>());
  auto by_api = c.http(1).Send("POST", "/v1/conflicts/" + id + "/resolve", R"({"value":{"slot":"none"}})",
                               "application/json");
  BOOST_TEST_REQUIRE(by_api.status < 300, by_api.body);

  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  for (size_t i = 0; i < c.size(); ++i) {
    BOOST_TEST_CONTEXT("region " << c.name(i)) {
      const json mon = Json(c.http(i).Get("/v1/collections/cal/docs/mon"));
      BOOST_TEST(mon["conflicted"] == false);
      BOOST_TEST(!mon.contains("siblings"));
      BOOST_TEST(mon["value"]["slot"] == "both");
      const json tue = Json(c.http(i).Get("/v1/collections/cal/docs/tue"));
      BOOST_TEST(tue["conflicted"] == false);
      BOOST_TEST(tue["value"]["slot"] == "none");
      BOOST_TEST(Json(c.http(i).Get("/v1/conflicts?collection=cal&status=needs-attention"))["conflicts"].empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_region_refuses_to_start_with_a_bad_plugin) {
  testsupport::TempDir dir;
  BOOST_CHECK_EXCEPTION(testsupport::ServerProcess::Start({"--region=us-east", "--data-dir=" + dir.Sub("d"),
                                                           std::string("--plugin=") + TEST_PLUGIN_REFUSES},
                                                          dir.Sub("log"), std::chrono::seconds(10)),
                        std::runtime_error, [](const std::runtime_error& e) {
                          BOOST_TEST_MESSAGE(e.what());
                          return std::string(e.what()).find("refused to start") != std::string::npos;
                        });
}

BOOST_AUTO_TEST_SUITE_END()
