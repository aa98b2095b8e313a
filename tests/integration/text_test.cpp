// Collaborative text end to end: every sequential editing trace replayed through the REST
// API ends with exactly the expected text at both regions and after a restart, and the live
// WebSocket session carries operations both ways.
#include <filesystem>

#include <Poco/Buffer.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/WebSocket.h>
#include <Poco/URI.h>
#include <boost/test/unit_test.hpp>

#include "crdt/text.h"
#include "tests/integration/cluster.h"
#include "tests/integration/fixture.h"
#include "tests/support/traces.h"

using integration::Cluster;
using integration::Json;
using nlohmann::json;
using testsupport::PollUntil;

namespace {

constexpr auto kConverge = std::chrono::seconds(60);

std::string Body(testsupport::HttpClient& h, const std::string& key) {
  auto r = h.Get("/v1/collections/docs/docs/" + key);
  if (r.status != 200) return "<" + std::to_string(r.status) + ">";
  return Json(r)["value"].value("body", "");
}

// POST .../docs/{key}/ops with the operations given as JSON text.
testsupport::HttpResponse Ops(testsupport::HttpClient& h, const std::string& key, const std::string& ops) {
  return h.Send("POST", "/v1/collections/docs/docs/" + key + "/ops", R"({"ops":)" + ops + "}", "application/json");
}

void DefineDocs(Cluster& c) {
  auto r = c.http(0).Put("/v1/collections/docs", R"({"policy":"crdt","fields":{"title":"register","body":"text"}})");
  BOOST_TEST_REQUIRE(r.status < 300, r.body);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
}

// A WebSocket client of the live endpoint.
class LiveClient {
 public:
  LiveClient(const std::string& base_url, const std::string& key, const std::string& agent) {
    const Poco::URI uri(base_url);
    session_ = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET,
                                   "/v1/collections/docs/docs/" + key + "/live?field=body&agent=" + agent,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    Poco::Net::HTTPResponse response;
    ws_ = std::make_unique<Poco::Net::WebSocket>(*session_, request, response);
    ws_->setReceiveTimeout(Poco::Timespan(10, 0));
  }
  json Next() {
    Poco::Buffer<char> buffer(0);
    int flags = 0;
    const int n = ws_->receiveFrame(buffer, flags);
    BOOST_REQUIRE(n > 0);
    return json::parse(buffer.begin(), buffer.begin() + n);
  }
  // The next message of `type`, skipping others (presence, echoes).
  json Next(const std::string& type) {
    for (int i = 0; i < 100; ++i) {
      json m = Next();
      if (m["type"] == type) return m;
    }
    BOOST_FAIL("no " << type << " message");
    return {};
  }
  void Send(const json& message) {
    const std::string text = message.dump();
    ws_->sendFrame(text.data(), static_cast<int>(text.size()));
  }

 private:
  std::unique_ptr<Poco::Net::HTTPClientSession> session_;
  std::unique_ptr<Poco::Net::WebSocket> ws_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(text)

BOOST_AUTO_TEST_CASE(every_sequential_trace_through_the_api_ends_with_the_expected_text) {
  const std::string dir = std::string(MERIDIAN_TRACES_DIR) + "/sequential_traces";
  if (!std::filesystem::exists(dir)) {
    BOOST_TEST_MESSAGE("no traces at " << dir << ": skipped");
    return;
  }
  Cluster c({"us-east", "eu-west"}, {"--durability=normal"});
  DefineDocs(c);
  std::vector<std::pair<std::string, std::string>> expected;  // key, text
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".gz") continue;
    const auto loaded = testsupport::LoadTrace(entry.path().string());
    BOOST_REQUIRE_MESSAGE(loaded, "cannot read trace " << entry.path());
    const json& trace = *loaded;
    std::string key = entry.path().stem().stem().string();
    for (char& ch : key) ch = ch == '_' ? '-' : ch;
    const std::vector<json> edits = testsupport::TraceEdits(trace);
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < edits.size(); i += 5000) {
      json ops = json::array();
      for (size_t k = i; k < std::min(edits.size(), i + 5000); ++k) ops.push_back(edits[k]);
      auto r = Ops(c.http(0), key, ops.dump());
      BOOST_TEST_REQUIRE(r.status == (i == 0 ? 201 : 200), key << " batch " << i << ": " << r.body.substr(0, 300));
    }
    BOOST_TEST_MESSAGE(key << ": " << edits.size() << " edits through the API in "
                           << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                                    start)
                                  .count()
                           << " ms");
    BOOST_TEST(Body(c.http(0), key) == trace["endContent"].get<std::string>(), key);
    expected.emplace_back(key, trace["endContent"]);
  }
  BOOST_TEST_REQUIRE(expected.size() >= 8u);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  for (const auto& [key, text] : expected) BOOST_TEST(Body(c.http(1), key) == text, key << " at eu-west");
  // The texts load back from their snapshots after a restart.
  BOOST_TEST(c.proc(1).Terminate() == 0);
  c.Start(1);
  for (const auto& [key, text] : expected) BOOST_TEST(Body(c.http(1), key) == text, key << " after restart");
}

BOOST_AUTO_TEST_CASE(live_sessions_carry_text_operations_both_ways_between_regions) {
  Cluster c({"us-east", "eu-west"});
  DefineDocs(c);
  auto r = Ops(c.http(0), "note", R"([{"op":"insert","path":"/body","index":0,"text":"hello"}])");
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  BOOST_TEST_REQUIRE(PollUntil([&] { return Body(c.http(1), "note") == "hello"; }, kConverge));

  // A browser-like replica attached to eu-west: snapshot, then its own edit.
  LiveClient live(c.proc(1).url(), "note", "web-test1");
  BOOST_TEST(live.Next("hello")["region"] == "eu-west");
  const json snapshot = live.Next("snapshot");
  BOOST_TEST(snapshot["value"] == "hello");
  auto replica = crdt::Text::Decode(snapshot["state"]);
  BOOST_REQUIRE(replica.ok());
  auto op = replica->Insert(*crdt::RegionId::Parse("web-test1"), 5, ", world");
  BOOST_REQUIRE(op.ok());
  const std::string base = snapshot["v"];
  live.Send({{"type", "ops"}, {"seq", 1}, {"base", base}, {"ops", json::array({crdt::EncodeTextOp(*op)})}});
  BOOST_TEST(live.Next("ack")["seq"] == 1);
  BOOST_TEST_REQUIRE(PollUntil([&] { return Body(c.http(0), "note") == "hello, world"; }, kConverge));

  // An edit at us-east reaches the session at eu-west as operations.
  r = Ops(c.http(0), "note", R"([{"op":"insert","path":"/body","index":0,"text":">> "}])");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
  for (int i = 0; i < 20 && replica->Value() != ">> hello, world"; ++i) {
    const json m = live.Next("ops");
    for (const auto& o : m["ops"]) {
      auto decoded = crdt::DecodeTextOp(o);
      BOOST_REQUIRE(decoded.ok());
      BOOST_REQUIRE(replica->Apply(*decoded).ok());  // echoes of its own op are duplicates
    }
  }
  BOOST_TEST(replica->Value() == ">> hello, world");

  // An operation whose causal past is missing is refused, and nothing changes; so is an
  // operation made by another agent than the session's.
  crdt::TextOp gap;
  gap.id = {*crdt::RegionId::Parse("web-test1"), 50};
  gap.text = "z";
  live.Send({{"type", "ops"}, {"seq", 2}, {"base", base}, {"ops", json::array({crdt::EncodeTextOp(gap)})}});
  const json refused = live.Next("error");
  BOOST_TEST(refused["seq"] == 2);
  BOOST_TEST(refused["problem"]["type"] == "urn:meridian:problem:text-causality");
  crdt::Text stranger;
  auto foreign = stranger.Insert(*crdt::RegionId::Parse("web-other"), 0, "a");
  live.Send({{"type", "ops"}, {"seq", 3}, {"base", base}, {"ops", json::array({crdt::EncodeTextOp(*foreign)})}});
  BOOST_TEST(live.Next("error")["problem"]["type"] == "urn:meridian:problem:invalid-op");
  // Operations without the state they were made on, or made on a state older than the
  // region's floor (here: nothing at all), are refused; the page then starts afresh.
  auto next = replica->Insert(*crdt::RegionId::Parse("web-test1"), 0, "!");
  BOOST_REQUIRE(next.ok());
  live.Send({{"type", "ops"}, {"seq", 4}, {"ops", json::array({crdt::EncodeTextOp(*next)})}});
  BOOST_TEST(live.Next("error")["problem"]["type"] == "urn:meridian:problem:invalid-op");
  live.Send({{"type", "ops"}, {"seq", 5}, {"base", ""}, {"ops", json::array({crdt::EncodeTextOp(*next)})}});
  BOOST_TEST(live.Next("error")["problem"]["type"] == "urn:meridian:problem:stale-base");
  BOOST_TEST(Body(c.http(1), "note") == ">> hello, world");
  // A plain GET on the live endpoint is told to upgrade.
  BOOST_TEST(c.http(1).Get("/v1/collections/docs/docs/note/live?agent=web-x").status == 426);
  BOOST_TEST(c.http(1).Get("/v1/collections/docs/docs/note/live?agent=us-east").status == 400);
  // SIGTERM with a session open still stops the region promptly and cleanly.
  BOOST_TEST(c.proc(1).Terminate(std::chrono::seconds(5)) == 0);
}

BOOST_AUTO_TEST_CASE(an_open_session_holds_the_floor_only_as_far_back_as_its_page_has_seen) {
  Cluster c({"us-east", "eu-west"});
  DefineDocs(c);
  auto floor_at = [&](int region) { return Json(c.http(region).Get("/v1/cluster"))["floor"]; };
  LiveClient live(c.proc(0).url(), "pad", "web-hold1");
  const json snapshot = live.Next("snapshot");
  const auto write_elsewhere = [&] {
    auto r = Ops(c.http(1), "other", R"([{"op":"incr","path":"/n","by":1}])");
    BOOST_TEST_REQUIRE(r.status < 300, r.body);
  };
  // The page has confirmed nothing beyond its snapshot: us-east's floor stays there.
  for (int i = 0; i < 5; ++i) write_elsewhere();
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  const auto before = crdt::VersionVector::Decode(snapshot["v"].get<std::string>());
  BOOST_REQUIRE(before.ok());
  BOOST_TEST(floor_at(0).value("eu-west", uint64_t{0}) <= before->Get(*crdt::RegionId::Parse("eu-west")));
  // It is told how far the region has got, confirms it, and the floor follows.
  const json progress = live.Next("progress");
  live.Send({{"type", "seen"}, {"v", progress["v"]}});
  const auto told = crdt::VersionVector::Decode(progress["v"].get<std::string>());
  BOOST_REQUIRE(told.ok());
  const uint64_t target = told->Get(*crdt::RegionId::Parse("eu-west"));
  BOOST_TEST(target > before->Get(*crdt::RegionId::Parse("eu-west")));
  BOOST_TEST(PollUntil(
      [&] {
        write_elsewhere();  // the floor moves with commits
        return floor_at(0).value("eu-west", uint64_t{0}) >= target;
      },
      kConverge));
}

BOOST_AUTO_TEST_CASE(a_region_killed_and_restarted_still_takes_what_its_pages_made_before) {
  Cluster c({"us-east", "eu-west"});
  DefineDocs(c);
  auto r = Ops(c.http(0), "log", R"([{"op":"insert","path":"/body","index":0,"text":"abc"}])");
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  crdt::Text replica;
  std::string base;
  {
    LiveClient live(c.proc(0).url(), "log", "web-crash1");
    const json snapshot = live.Next("snapshot");
    base = snapshot["v"];
    auto loaded = crdt::Text::Decode(snapshot["state"]);
    BOOST_REQUIRE(loaded.ok());
    replica = std::move(loaded).value();
    // The region moves on (writes from the other region), committing floors as it goes.
    for (int i = 0; i < 5; ++i) {
      auto w = Ops(c.http(1), "other", R"([{"op":"incr","path":"/n","by":1}])");
      BOOST_TEST_REQUIRE(w.status < 300, w.body);
    }
    BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
    c.Kill(0);  // SIGKILL while the page is attached
  }
  c.Start(0);
  // The page reconnects with an edit made on its old state: the restarted region promised
  // no more than the page had seen, so it takes it.
  LiveClient again(c.proc(0).url(), "log", "web-crash1");
  again.Next("snapshot");
  auto op = replica.Insert(*crdt::RegionId::Parse("web-crash1"), 3, "!");
  BOOST_REQUIRE(op.ok());
  again.Send({{"type", "ops"}, {"seq", 1}, {"base", base}, {"ops", json::array({crdt::EncodeTextOp(*op)})}});
  BOOST_TEST(again.Next("ack")["seq"] == 1);
  BOOST_TEST_REQUIRE(PollUntil([&] { return Body(c.http(1), "log") == "abc!"; }, kConverge));
  // What is older than the floor it had promised is still refused after the restart.
  auto older = replica.Insert(*crdt::RegionId::Parse("web-crash1"), 0, "?");
  BOOST_REQUIRE(older.ok());
  again.Send({{"type", "ops"}, {"seq", 2}, {"base", ""}, {"ops", json::array({crdt::EncodeTextOp(*older)})}});
  BOOST_TEST(again.Next("error")["problem"]["type"] == "urn:meridian:problem:stale-base");
}

uint64_t TombstonesCollected(testsupport::HttpClient& h) {
  const std::string body = h.Get("/metrics").body;
  const std::string name = "\nmeridian_text_tombstones_collected_total ";
  const size_t at = body.find(name);
  return at == std::string::npos ? 0 : std::stoull(body.substr(at + name.size()));
}

BOOST_AUTO_TEST_CASE(text_tombstones_are_collected_once_every_region_has_seen_them) {
  Cluster c({"us-east", "eu-west", "ap-south"});
  DefineDocs(c);
  const auto send = [&](int region, const json& ops) {
    return Ops(c.http(region), "memo", ops.dump());
  };
  // 4,000 characters, 3,000 of them deleted: tombstones no future operation can need once
  // all three regions have them.
  auto r = send(0, json::array({{{"op", "insert"}, {"path", "/body"}, {"index", 0}, {"text", std::string(4000, 'x')}},
                                {{"op", "delete"}, {"path", "/body"}, {"index", 500}, {"count", 3000}}}));
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  // Typing goes on at every region; each write may collect what has become stable.
  int writes = 0;
  const bool collected = PollUntil(
      [&] {
        const int region = writes % 3;
        auto w = send(region, json::array({{{"op", "insert"}, {"path", "/body"}, {"index", 0}, {"text", "a"}}}));
        BOOST_TEST_REQUIRE(w.status == 200, w.body);
        ++writes;
        for (int i = 0; i < 3; ++i) {
          if (TombstonesCollected(c.http(i)) < 2999) return false;
        }
        return true;
      },
      kConverge);
  BOOST_TEST_MESSAGE("tombstones collected at every region after " << writes << " writes");
  BOOST_TEST_REQUIRE(collected);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  const std::string expected = std::string(writes, 'a') + std::string(1000, 'x');
  for (int i = 0; i < 3; ++i) BOOST_TEST(Body(c.http(i), "memo") == expected, "region " << i);
  // A page attached now loads the collected state, and its edit reaches every region.
  LiveClient live(c.proc(2).url(), "memo", "web-late1");
  const json snapshot = live.Next("snapshot");
  auto replica = crdt::Text::Decode(snapshot["state"]);
  BOOST_REQUIRE(replica.ok());
  BOOST_TEST(replica->Value() == expected);
  BOOST_TEST(replica->tombstone_count() < 10u);
  auto op = replica->Insert(*crdt::RegionId::Parse("web-late1"), 700, "!");
  BOOST_REQUIRE(op.ok());
  live.Send({{"type", "ops"}, {"seq", 1}, {"base", snapshot["v"]}, {"ops", json::array({crdt::EncodeTextOp(*op)})}});
  BOOST_TEST(live.Next("ack")["seq"] == 1);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, kConverge));
  for (int i = 0; i < 3; ++i) BOOST_TEST(Body(c.http(i), "memo") == replica->Value(), "region " << i);
}

BOOST_AUTO_TEST_SUITE_END()
