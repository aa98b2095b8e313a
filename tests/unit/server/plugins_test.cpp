#include "server/plugins.h"

#include <boost/test/unit_test.hpp>

using conflict::Registry;
using conflict::Sibling;
using nlohmann::json;

namespace {

std::vector<Sibling> TwoVersions() {
  std::vector<Sibling> s(2);
  s[0].dot = {*crdt::RegionId::Parse("us-east"), 1};
  s[0].hlc = crdt::Hlc::FromParts(1000, 0);
  s[0].value = json{{"log", "a"}};
  s[1].dot = {*crdt::RegionId::Parse("eu-west"), 1};
  s[1].hlc = crdt::Hlc::FromParts(2000, 0);
  s[1].value = json{{"log", "b"}};
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(plugins)

BOOST_AUTO_TEST_CASE(a_plugin_registers_its_callbacks_and_they_run) {
  Registry registry;
  BOOST_REQUIRE(server::LoadPlugins({TEST_PLUGIN_OK}, registry).ok());
  auto concat = registry.Find("concat");
  BOOST_REQUIRE(concat.ok());
  auto merged = conflict::RunCallback(*concat, TwoVersions());
  BOOST_REQUIRE(merged.ok());
  BOOST_REQUIRE(merged->has_value());
  BOOST_TEST(merged->value().dump() == R"({"log":"ab","n":2})");

  auto all_deleted = TwoVersions();
  for (auto& s : all_deleted) s.value.reset();
  auto deleted = conflict::RunCallback(*concat, all_deleted);
  BOOST_REQUIRE(deleted.ok());
  BOOST_TEST(!deleted->has_value());
}

BOOST_AUTO_TEST_CASE(plugin_callback_failures_are_errors_not_crashes) {
  Registry registry;
  BOOST_REQUIRE(server::LoadPlugins({TEST_PLUGIN_OK}, registry).ok());
  const std::pair<const char*, const char*> cases[] = {
      {"fails", "callback-failed"},
      {"garbage", "callback-failed"},
      {"silent", "callback-failed"},
      {"array", "callback-invalid"},
  };
  for (const auto& [name, reason] : cases) {
    BOOST_TEST_CONTEXT("callback " << name) {
      auto cb = registry.Find(name);
      BOOST_REQUIRE(cb.ok());
      auto merged = conflict::RunCallback(*cb, TwoVersions());
      BOOST_REQUIRE(!merged.ok());
      BOOST_TEST(merged.status().reason() == reason);
    }
  }
  auto fails = conflict::RunCallback(*registry.Find("fails"), TwoVersions());
  BOOST_TEST(fails.status().message().find("deliberate failure") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_plugins_stop_start_up_with_a_clear_reason) {
  const std::pair<std::string, std::string> cases[] = {
      {TEST_PLUGIN_REFUSES, "refused to start"},
      {TEST_PLUGIN_NONE, "is not a Meridian plugin"},
      {"/nonexistent/libnothing.so", "cannot load plugin"},
  };
  for (const auto& [path, expect] : cases) {
    BOOST_TEST_CONTEXT("plugin " << path) {
      Registry registry;
      crdt::Status s = server::LoadPlugins({path}, registry);
      BOOST_REQUIRE(!s.ok());
      BOOST_TEST(s.reason() == "invalid-plugin");
      BOOST_TEST(s.message().find(expect) != std::string::npos, s.message());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_callback_name_cannot_be_registered_twice) {
  Registry registry;
  BOOST_REQUIRE(server::LoadPlugins({TEST_PLUGIN_OK}, registry).ok());
  crdt::Status again = server::LoadPlugins({TEST_PLUGIN_OK}, registry);
  BOOST_REQUIRE(!again.ok());
  BOOST_TEST(again.reason() == "invalid-plugin");
  BOOST_TEST(again.message().find("concat") != std::string::npos, again.message());
}

BOOST_AUTO_TEST_CASE(the_example_cart_plugin_merges_carts) {
  Registry registry;
  BOOST_REQUIRE(server::LoadPlugins({CART_PLUGIN}, registry).ok());
  auto cart = registry.Find("cart");
  BOOST_REQUIRE(cart.ok());
  auto s = TwoVersions();
  s[0].value = json::parse(R"({"owner":"ann","items":{"apple":2,"pear":1},"checked_out":false})");
  s[1].value = json::parse(R"({"owner":"ann b","items":{"apple":1,"fig":3},"checked_out":true})");
  auto merged = conflict::RunCallback(*cart, s);
  BOOST_REQUIRE(merged.ok());
  BOOST_REQUIRE(merged->has_value());
  BOOST_TEST(merged->value() ==
                 json::parse(R"({"owner":"ann b","items":{"apple":2,"fig":3,"pear":1},"checked_out":true})"),
             merged->value().dump());
}

BOOST_AUTO_TEST_SUITE_END()
