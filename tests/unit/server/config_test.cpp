#include "server/config.h"

#include <fstream>

#include <boost/test/unit_test.hpp>

#include "server/metrics.h"
#include "server/problem.h"

using server::RawSettings;
using server::ResolveConfig;

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(flags_give_a_complete_config_with_defaults) {
  auto cfg = ResolveConfig({{"region", {"us-east"}}});
  BOOST_REQUIRE(cfg.ok());
  BOOST_TEST(cfg->region.str() == "us-east");
  BOOST_TEST(cfg->listen_host == "127.0.0.1");
  BOOST_TEST(cfg->listen_port == 7001);
  BOOST_TEST(cfg->data_dir == "data/us-east");
  BOOST_TEST(cfg->max_body_bytes == 16u * 1024 * 1024);
  BOOST_TEST((cfg->durability == region::Durability::kFull));
  BOOST_TEST(cfg->http_loops == 2);
  BOOST_TEST(cfg->http_threads == 128);
}

BOOST_AUTO_TEST_CASE(bad_settings_name_the_flag) {
  struct Case {
    RawSettings flags;
    std::string expect;
  };
  const Case cases[] = {
      {{}, "--region"},
      {{{"region", {"Bad"}}}, "--region"},
      {{{"region", {"a"}}, {"listen", {"nohost"}}}, "--listen"},
      {{{"region", {"a"}}, {"listen", {"h:99999"}}}, "--listen"},
      {{{"region", {"a"}}, {"peer", {"b"}}, {"cluster-secret-file", {"s"}}}, "--peer"},
      {{{"region", {"a"}}, {"peer", {"a=http://x:1"}}, {"cluster-secret-file", {"s"}}}, "--peer"},
      {{{"region", {"a"}}, {"peer", {"b=ftp://x"}}, {"cluster-secret-file", {"s"}}}, "--peer"},
      {{{"region", {"a"}}, {"peer", {"b=http://x:1", "b=http://y:2"}}, {"cluster-secret-file", {"s"}}}, "--peer"},
      {{{"region", {"a"}}, {"peer", {"b=http://127.0.0.1:abc"}}, {"cluster-secret-file", {"s"}}}, "--peer"},
      {{{"region", {"a"}}, {"peer", {"b=http://host:1/path"}}, {"cluster-secret-file", {"s"}}}, "--peer"},
      {{{"region", {"a"}}, {"durability", {"sometimes"}}}, "--durability"},
      {{{"region", {"a"}}, {"max-batch", {"0"}}}, "--max-batch"},
      {{{"region", {"a"}}, {"checkpoint-pages", {"-1"}}}, "--checkpoint-pages"},
      {{{"region", {"a"}}, {"max-body-bytes", {"12x"}}}, "--max-body-bytes"},
      {{{"region", {"a"}}, {"config", {"/nonexistent/file.json"}}}, "--config"},
      {{{"region", {"a"}}, {"peer", {"b=http://x:1"}}}, "--cluster-secret-file"},
      {{{"region", {"a"}}, {"max-clock-offset-ms", {"0"}}}, "--max-clock-offset-ms"},
      {{{"region", {"a"}}, {"merge-budget-ms", {"0"}}}, "--merge-budget-ms"},
      {{{"region", {"a"}}, {"merge-budget-ms", {"soon"}}}, "--merge-budget-ms"},
      {{{"region", {"a"}}, {"http-loops", {"0"}}}, "--http-loops"},
      {{{"region", {"a"}}, {"http-loops", {"many"}}}, "--http-loops"},
  };
  for (const auto& c : cases) {
    auto cfg = ResolveConfig(c.flags);
    BOOST_TEST_CONTEXT(c.expect) {
      BOOST_TEST(!cfg.ok());
      BOOST_TEST(cfg.status().message().find(c.expect) != std::string::npos, cfg.status().message());
    }
  }
}

BOOST_AUTO_TEST_CASE(config_file_is_read_and_flags_override_it) {
  const std::string path = "/tmp/meridian-config-test.json";
  {
    std::ofstream f(path);
    f << R"({"region":"eu-west","listen":"0.0.0.0:7100","peers":{"us-east":"http://127.0.0.1:7001/"},)"
      << R"("cluster_secret_file":"/tmp/secret",)"
      << R"("max_batch":64,"checkpoint_pages":0})";
  }
  auto cfg = ResolveConfig({{"config", {path}}, {"listen", {"127.0.0.1:7200"}}});
  BOOST_REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
  BOOST_TEST(cfg->region.str() == "eu-west");
  BOOST_TEST(cfg->listen_port == 7200);
  BOOST_TEST(cfg->max_batch == 64);
  BOOST_TEST(cfg->checkpoint_pages == 0);
  BOOST_REQUIRE(cfg->peers.size() == 1u);
  BOOST_TEST(cfg->peers[0].url == "http://127.0.0.1:7001");
  {
    std::ofstream f(path);
    f << R"({"region":"eu-west","colour":"blue"})";
  }
  BOOST_TEST(!ResolveConfig({{"config", {path}}}).ok());
  // Plugins: an array in the file, repeatable flags that replace it.
  {
    std::ofstream f(path);
    f << R"({"region":"eu-west","plugins":["/opt/a.so","/opt/b.so"],"merge_budget_ms":250,"web_root":"/srv/ui"})";
  }
  cfg = ResolveConfig({{"config", {path}}});
  BOOST_REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
  BOOST_TEST((cfg->plugins == std::vector<std::string>{"/opt/a.so", "/opt/b.so"}));
  BOOST_TEST(cfg->merge_budget_ms == 250);
  BOOST_TEST(cfg->web_root == "/srv/ui");
  cfg = ResolveConfig({{"config", {path}}, {"plugin", {"/opt/c.so"}}});
  BOOST_REQUIRE(cfg.ok());
  BOOST_TEST((cfg->plugins == std::vector<std::string>{"/opt/c.so"}));
  {
    std::ofstream f(path);
    f << R"({"region":"eu-west","plugins":"/opt/a.so"})";
  }
  BOOST_TEST(!ResolveConfig({{"config", {path}}}).ok());
  std::remove(path.c_str());
}

BOOST_AUTO_TEST_CASE(status_codes_map_to_http_once) {
  using crdt::Status;
  BOOST_TEST(server::HttpStatusFor(Status::InvalidArgument("invalid-json", "")) == 400);
  BOOST_TEST(server::HttpStatusFor(Status::NotFound("not-found", "")) == 404);
  BOOST_TEST(server::HttpStatusFor(Status::FailedPrecondition("version-mismatch", "")) == 412);
  BOOST_TEST(server::HttpStatusFor(Status(crdt::Code::kResourceExhausted, "payload-too-large", "")) == 413);
  BOOST_TEST(server::HttpStatusFor(Status::Unavailable("shutting-down", "")) == 503);
  BOOST_TEST(server::HttpStatusFor(Status::Internal("boom")) == 500);
  BOOST_TEST(server::HttpStatusFor(Status::InvalidArgument("upgrade-required", "")) == 426);
  BOOST_TEST(server::HttpStatusFor(Status::InvalidArgument("headers-too-large", "")) == 431);
  auto reply = server::ProblemReply(Status::Internal("SELECT secret FROM table"));
  BOOST_TEST(reply.body.find("SELECT") == std::string::npos);
  BOOST_TEST(reply.content_type == "application/problem+json");
}

BOOST_AUTO_TEST_CASE(latency_histograms_render_cumulative_buckets) {
  server::Metrics metrics({"doc"});
  for (double seconds : {0.0003, 0.003, 0.003, 0.3, 7.0}) metrics.Observe(0, "PUT", 201, seconds);
  const std::string text = metrics.Render(region::NodeStats{}, region::ClusterInfo{});
  for (const char* line : {"meridian_http_request_duration_seconds_bucket{route=\"doc\",le=\"0.0005\"} 1\n",
                           "meridian_http_request_duration_seconds_bucket{route=\"doc\",le=\"0.001\"} 1\n",
                           "meridian_http_request_duration_seconds_bucket{route=\"doc\",le=\"0.005\"} 3\n",
                           "meridian_http_request_duration_seconds_bucket{route=\"doc\",le=\"0.5\"} 4\n",
                           "meridian_http_request_duration_seconds_bucket{route=\"doc\",le=\"2.5\"} 4\n",
                           "meridian_http_request_duration_seconds_bucket{route=\"doc\",le=\"+Inf\"} 5\n",
                           "meridian_http_request_duration_seconds_count{route=\"doc\"} 5\n"}) {
    BOOST_TEST(text.find(line) != std::string::npos, line);
  }
}

BOOST_AUTO_TEST_SUITE_END()
