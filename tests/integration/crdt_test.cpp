// CRDT collections end to end: the ops API against one server, and counters and sets across
// three regions through partitions and a SIGKILL.
#include <atomic>
#include <mutex>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "tests/integration/cluster.h"
#include "tests/integration/fixture.h"

using integration::Cluster;
using integration::Json;
using integration::Server;
using nlohmann::json;
using testsupport::PollUntil;

namespace {

testsupport::HttpResponse Ops(testsupport::HttpClient& h, const std::string& key, const json& ops,
                              const testsupport::HttpClient::Headers& headers = {}) {
  return h.Send("POST", "/v1/collections/posts/docs/" + key + "/ops", json{{"ops", ops}}.dump(), "application/json",
                headers);
}

void DefinePosts(testsupport::HttpClient& h) {
  const auto r = h.Put("/v1/collections/posts",
                       R"({"policy":"crdt","fields":{"likes":"counter","tags":"set","title":"register"}})");
  BOOST_TEST_REQUIRE(r.status == 200, r.body);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(crdt_api)

BOOST_AUTO_TEST_CASE(ops_apply_atomically_and_read_back_as_plain_json) {
  Server s;
  auto& h = s.http();
  DefinePosts(h);
  auto r = Ops(h, "p1", {{{"op", "incr"}, {"path", "/likes"}, {"by", 5}},
                         {{"op", "add"}, {"path", "/tags"}, {"value", "b"}},
                         {{"op", "add"}, {"path", "/tags"}, {"value", "a"}},
                         {{"op", "set"}, {"path", "/title"}, {"value", "Hello"}},
                         {{"op", "set"}, {"path", "/meta/lang"}, {"value", "en"}}});
  BOOST_TEST_REQUIRE(r.status == 201, r.body);
  BOOST_TEST(Json(r)["value"]["likes"] == 5);
  auto got = Json(h.Get("/v1/collections/posts/docs/p1"));
  BOOST_TEST(got["value"] == json::parse(R"({"likes":5,"meta":{"lang":"en"},"tags":["a","b"],"title":"Hello"})"));
  // One bad operation refuses the whole request.
  auto bad = Ops(h, "p1", {{{"op", "incr"}, {"path", "/likes"}}, {{"op", "add"}, {"path", "/likes"}, {"value", 1}}});
  BOOST_TEST(bad.status == 409);
  BOOST_TEST(Json(bad)["type"] == "urn:meridian:problem:type-mismatch");
  BOOST_TEST(Json(h.Get("/v1/collections/posts/docs/p1"))["value"]["likes"] == 5);
  // The change feed carries the request as one change.
  auto feed = Json(h.Get("/v1/changes?limit=10"));
  BOOST_TEST(feed["changes"].back()["op"] == "ops");
  BOOST_TEST(feed["changes"].back()["ops"].size() == 5u);
}

BOOST_AUTO_TEST_CASE(idempotency_keys_make_retries_no_ops) {
  Server s;
  auto& h = s.http();
  DefinePosts(h);
  const json incr = {{{"op", "incr"}, {"path", "/likes"}}};
  auto first = Ops(h, "p", incr, {{"Idempotency-Key", "req-1"}});
  auto retry = Ops(h, "p", incr, {{"Idempotency-Key", "req-1"}});
  BOOST_TEST(first.status == 201);
  BOOST_TEST(retry.status == 201);  // the first answer, again
  BOOST_TEST(retry.body == first.body);
  BOOST_TEST(Json(h.Get("/v1/collections/posts/docs/p"))["value"]["likes"] == 1);
  auto reuse = Ops(h, "p", {{{"op", "incr"}, {"path", "/likes"}, {"by", 7}}}, {{"Idempotency-Key", "req-1"}});
  BOOST_TEST(reuse.status == 409);
  BOOST_TEST(Json(reuse)["type"] == "urn:meridian:problem:idempotency-key-reused");
  BOOST_TEST(Ops(h, "p", incr, {{"Idempotency-Key", "req-2"}}).status == 200);
  BOOST_TEST(Json(h.Get("/v1/collections/posts/docs/p"))["value"]["likes"] == 2);
}

BOOST_AUTO_TEST_CASE(bad_ops_requests_get_clear_answers) {
  Server s;
  auto& h = s.http();
  DefinePosts(h);
  const std::string path = "/v1/collections/posts/docs/p/ops";
  auto send = [&](const std::string& body) { return h.Send("POST", path, body, "application/json"); };
  BOOST_TEST(Json(send("{"))["type"] == "urn:meridian:problem:invalid-json");
  BOOST_TEST(Json(send("[]"))["type"] == "urn:meridian:problem:invalid-op");
  BOOST_TEST(Json(send(R"({"ops":[]})"))["type"] == "urn:meridian:problem:invalid-op");
  BOOST_TEST(Json(send(R"({"ops":[{"op":"zap","path":"/x"}]})"))["type"] == "urn:meridian:problem:invalid-op");
  BOOST_TEST(Json(send(R"({"ops":[{"op":"incr","path":"x"}]})"))["type"] == "urn:meridian:problem:invalid-op");
  BOOST_TEST(Json(send(R"({"ops":[{"op":"incr","path":"/likes","by":"1"}]})"))["type"] ==
             "urn:meridian:problem:invalid-op");
  BOOST_TEST(Json(send(R"({"ops":[{"op":"incr","path":"/likes","by":9223372036854775807}, {"op":"incr","path":"/likes"}]})"))["type"] ==
             "urn:meridian:problem:counter-overflow");
  BOOST_TEST(Json(send(R"({"ops":[{"op":"insert","path":"/body","index":1,"text":"x"}]})"))["type"] ==
             "urn:meridian:problem:text-index");
  BOOST_TEST(h.Send("POST", path, R"({"ops":[{"op":"incr","path":"/likes"}]})", "text/plain").status == 415);
  BOOST_TEST(h.Get("/v1/collections/posts/docs/p").status == 404);  // nothing was written
  // Policies are kept apart.
  BOOST_TEST(Json(h.Put("/v1/collections/posts/docs/p", "{}"))["type"] == "urn:meridian:problem:policy-mismatch");
  BOOST_TEST(Json(h.Send("POST", "/v1/collections/plain/docs/p/ops", R"({"ops":[{"op":"incr","path":"/n"}]})",
                         "application/json"))["type"] == "urn:meridian:problem:policy-mismatch");
  BOOST_TEST(Json(h.Put("/v1/collections/bad", R"({"policy":"crdt","fields":{"x":"blob"}})"))["type"] ==
             "urn:meridian:problem:invalid-definition");
  BOOST_TEST(h.Put("/v1/collections/plain/docs/p", "{}").status == 201);
  BOOST_TEST(Json(h.Put("/v1/collections/plain", R"({"policy":"crdt"})"))["type"] == "urn:meridian:problem:policy-change");
  // Once documents exist a declared field keeps its type (their operations would all fail),
  // while new fields may be declared.
  BOOST_TEST(h.Send("POST", path, R"({"ops":[{"op":"incr","path":"/likes"}]})", "application/json").status == 201);
  auto retyped = h.Put("/v1/collections/posts", R"({"policy":"crdt","fields":{"likes":"set","tags":"set"}})");
  BOOST_TEST(retyped.status == 409, retyped.body);
  BOOST_TEST(Json(retyped)["type"] == "urn:meridian:problem:field-type-change");
  BOOST_TEST(h.Put("/v1/collections/posts",
                   R"({"policy":"crdt","fields":{"likes":"counter","tags":"set","title":"register","n":"counter"}})")
                 .status == 200);
  BOOST_TEST(h.Send("POST", path, R"({"ops":[{"op":"incr","path":"/likes"}]})", "application/json").status == 200);
}

BOOST_AUTO_TEST_CASE(deleting_a_crdt_document_removes_what_was_seen) {
  Server s;
  auto& h = s.http();
  DefinePosts(h);
  BOOST_TEST_REQUIRE(Ops(h, "d", {{{"op", "incr"}, {"path", "/likes"}, {"by", 3}}}).status == 201);
  BOOST_TEST(h.Delete("/v1/collections/posts/docs/d").status == 200);
  BOOST_TEST(h.Get("/v1/collections/posts/docs/d").status == 404);
  BOOST_TEST(h.Delete("/v1/collections/posts/docs/d").status == 404);
  BOOST_TEST(Ops(h, "d", {{{"op", "incr"}, {"path", "/likes"}}}).status == 201);
  BOOST_TEST(Json(h.Get("/v1/collections/posts/docs/d"))["value"]["likes"] == 1);  // counts anew
}

BOOST_AUTO_TEST_CASE(counters_stay_exact_across_regions_through_a_partition_and_a_kill) {
  Cluster c({"us-east", "eu-west", "ap-south"});
  DefinePosts(c.http(0));
  BOOST_TEST_REQUIRE(PollUntil(
      [&] {
        for (size_t i = 0; i < c.size(); ++i) {
          if (Json(c.http(i).Get("/v1/collections/posts"))["policy"] != "crdt") return false;
        }
        return true;
      },
      std::chrono::seconds(20)));
  std::mutex mu;
  int64_t acked = 0;
  struct Pending {
    size_t region;
    std::string key;
    int by;
    std::string tag;
  };
  std::vector<Pending> unanswered;  // in flight when a region died: retried after restart
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (size_t i = 0; i < c.size(); ++i) {
    for (int t = 0; t < 2; ++t) {
      clients.emplace_back([&, i, t, url = c.proc(i).url()] {
        testsupport::HttpClient h(url, std::chrono::seconds(10));
        for (int n = 0; n < 100000 && !stop; ++n) {
          const int by = 1 + (n + t) % 5;
          const std::string key = c.name(i) + "-" + std::to_string(t) + "-" + std::to_string(n);
          // Each request carries an idempotency key, so an unanswered one can be retried.
          auto r = Ops(h, "hot", {{{"op", "incr"}, {"path", "/likes"}, {"by", by}},
                                  {{"op", "add"}, {"path", "/tags"}, {"value", "r" + std::to_string(i)}}},
                       {{"Idempotency-Key", key}});
          std::lock_guard lock(mu);
          if (r.status == 200 || r.status == 201) {
            acked += by;
          } else if (r.status == 0) {
            unanswered.push_back({i, key, by, "r" + std::to_string(i)});  // killed mid-request
            return;
          }
        }
      });
    }
  }
  auto wait_acked = [&](int64_t n) {
    PollUntil([&] { std::lock_guard lock(mu); return acked >= n; }, std::chrono::seconds(30), std::chrono::milliseconds(2));
  };
  wait_acked(300);
  c.Isolate(2);  // ap-south keeps counting alone
  wait_acked(900);
  c.Kill(1);     // eu-west dies mid-load
  wait_acked(1500);
  stop = true;
  for (auto& t : clients) t.join();
  c.Start(1);
  // Clients retry what got no answer, with the same key, where they sent it: a request that
  // had committed answers as before, one that had not is applied now. Either way once.
  for (const auto& p : unanswered) {
    auto r = Ops(c.http(p.region), "hot", {{{"op", "incr"}, {"path", "/likes"}, {"by", p.by}},
                                           {{"op", "add"}, {"path", "/tags"}, {"value", p.tag}}},
                 {{"Idempotency-Key", p.key}});
    BOOST_TEST_REQUIRE((r.status == 200 || r.status == 201), r.body);
    acked += p.by;
  }
  BOOST_TEST_MESSAGE(unanswered.size() << " requests retried after the kill");
  c.HealAll();
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, std::chrono::seconds(60)));
  for (size_t i = 0; i < c.size(); ++i) {
    const json v = Json(c.http(i).Get("/v1/collections/posts/docs/hot"))["value"];
    BOOST_TEST(v["likes"] == acked, c.name(i) << " counts " << v["likes"] << ", acknowledged " << acked);
    BOOST_TEST(v["tags"] == json({"r0", "r1", "r2"}));
  }
}

BOOST_AUTO_TEST_CASE(a_concurrent_add_survives_a_remove_made_during_a_partition) {
  Cluster c({"us-east", "eu-west"});
  DefinePosts(c.http(0));
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, std::chrono::seconds(20)));
  BOOST_TEST_REQUIRE(Ops(c.http(0), "s", {{{"op", "add"}, {"path", "/tags"}, {"value", "x"}}}).status == 201);
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, std::chrono::seconds(20)));
  c.Partition(0, 1);
  BOOST_TEST(Ops(c.http(0), "s", {{{"op", "remove"}, {"path", "/tags"}, {"value", "x"}}}).status == 200);
  BOOST_TEST(Ops(c.http(1), "s", {{{"op", "add"}, {"path", "/tags"}, {"value", "x"}}}).status == 200);
  c.HealAll();
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, std::chrono::seconds(20)));
  for (size_t i = 0; i < c.size(); ++i) {
    BOOST_TEST(Json(c.http(i).Get("/v1/collections/posts/docs/s"))["value"]["tags"] == json({"x"}));
  }
}

int64_t DeletedRows(testsupport::HttpClient& h) {
  const std::string body = h.Get("/metrics").body;
  const std::string name = "\nmeridian_crdt_deleted_documents ";
  const size_t at = body.find(name);
  return at == std::string::npos ? -1 : std::stoll(body.substr(at + name.size()));
}

BOOST_AUTO_TEST_CASE(deleted_documents_are_purged_once_every_region_has_seen_the_delete) {
  Cluster c({"us-east", "eu-west", "ap-south"}, {"--purge-every-ms=200"});
  DefinePosts(c.http(0));
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, std::chrono::seconds(20)));
  for (int i = 0; i < 20; ++i) {
    const std::string key = "p" + std::to_string(i);
    BOOST_TEST_REQUIRE(Ops(c.http(i % 3), key, {{{"op", "add"}, {"path", "/tags"}, {"value", i}}}).status == 201);
    BOOST_TEST_REQUIRE(Ops(c.http(i % 3), key, {{{"op", "set"}, {"path", "/title"}, {"value", "t"}}}).status == 200);
  }
  BOOST_TEST_REQUIRE(PollUntil([&] { return c.Converged(); }, std::chrono::seconds(20)));
  // Half are deleted; one region is cut off meanwhile, so nothing can be purged until it
  // has seen the deletes.
  c.Partition(0, 2);
  c.Partition(1, 2);
  for (int i = 0; i < 10; ++i) {
    BOOST_TEST_REQUIRE(c.http(i % 2).Delete("/v1/collections/posts/docs/p" + std::to_string(i)).status == 200);
  }
  BOOST_TEST_REQUIRE(PollUntil([&] { return DeletedRows(c.http(0)) == 10 && DeletedRows(c.http(1)) == 10; },
                               std::chrono::seconds(20)));
  // A document deleted at ap-south while cut off and written concurrently elsewhere comes back
  // (update beats delete), and is not purged.
  BOOST_TEST_REQUIRE(c.http(2).Delete("/v1/collections/posts/docs/p15").status == 200);
  BOOST_TEST_REQUIRE(Ops(c.http(0), "p15", {{{"op", "add"}, {"path", "/tags"}, {"value", "late"}}}).status == 200);
  BOOST_TEST(DeletedRows(c.http(0)) == 10);  // the rows stay while ap-south has not seen them
  c.HealAll();
  BOOST_TEST(PollUntil(
      [&] {
        for (size_t i = 0; i < c.size(); ++i) {
          if (DeletedRows(c.http(i)) != 0) return false;
        }
        return c.Converged();
      },
      std::chrono::seconds(30)));
  for (size_t i = 0; i < c.size(); ++i) {
    BOOST_TEST(c.http(i).Get("/v1/collections/posts/docs/p3").status == 404);
    BOOST_TEST(Json(c.http(i).Get("/v1/collections/posts/docs/p15"))["value"]["tags"] == json({"late"}));
  }
  // A purged document can be written again, everywhere alike.
  BOOST_TEST_REQUIRE(Ops(c.http(1), "p3", {{{"op", "add"}, {"path", "/tags"}, {"value", "again"}}}).status == 201);
  BOOST_TEST(PollUntil([&] { return c.Converged(); }, std::chrono::seconds(20)));
  const std::string version = Json(c.http(0).Get("/v1/collections/posts/docs/p3"))["version"];
  for (size_t i = 0; i < c.size(); ++i) {
    auto doc = Json(c.http(i).Get("/v1/collections/posts/docs/p3"));
    BOOST_TEST(doc["value"]["tags"] == json({"again"}));
    BOOST_TEST(doc["version"] == version);  // the same version token at every region
  }
}

BOOST_AUTO_TEST_SUITE_END()
