// Merge callbacks: the built-ins, the registry, and how RunCallback treats bad callbacks.
#include "conflict/merge.h"

#include <algorithm>
#include <random>
#include <stdexcept>

#include <boost/test/unit_test.hpp>

#include "tests/support/printers.h"
#include "tests/support/seed.h"

using conflict::Registry;
using conflict::RunCallback;
using conflict::Sibling;
using crdt::Hlc;
using crdt::RegionId;
using nlohmann::json;

namespace {

Sibling S(const char* origin, uint64_t wall, std::optional<json> value) {
  return Sibling{{*RegionId::Parse(origin), wall}, Hlc::FromParts(wall, 0), {}, std::move(value)};
}

std::optional<json> Merge(const std::string& name, std::vector<Sibling> siblings) {
  conflict::SortCanonical(siblings);
  Registry registry;
  auto cb = registry.Find(name);
  BOOST_REQUIRE_MESSAGE(cb.ok(), cb.status().ToString());
  auto out = RunCallback(*cb, siblings);
  BOOST_REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  return *out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(merge_callbacks)

BOOST_AUTO_TEST_CASE(union_takes_the_sorted_union_of_array_fields) {
  auto out = Merge("union", {S("b", 2, json{{"tags", {"z", "a"}}, {"title", "new"}}),
                             S("a", 1, json{{"tags", {"m", "a", 3}}, {"title", "old"}, {"only_a", 1}})});
  BOOST_REQUIRE(out);
  BOOST_TEST(out->dump() == R"({"only_a":1,"tags":[3,"a","m","z"],"title":"new"})");
}

BOOST_AUTO_TEST_CASE(max_and_min_pick_extremes_of_number_fields) {
  std::vector<Sibling> s = {S("a", 1, json{{"n", 5}, {"s", "x"}}), S("b", 3, json{{"n", -2.5}, {"s", "y"}}),
                            S("c", 2, json{{"n", 7}})};
  BOOST_TEST(Merge("max", s)->dump() == R"({"n":7,"s":"y"})");
  BOOST_TEST(Merge("min", s)->dump() == R"({"n":-2.5,"s":"y"})");
  // A field that is a number in one version and not in another: the newest wins it.
  BOOST_TEST(Merge("max", {S("a", 1, json{{"n", 9}}), S("b", 2, json{{"n", "nine"}})})->dump() == R"({"n":"nine"})");
}

BOOST_AUTO_TEST_CASE(deep_merge_merges_objects_key_by_key_with_newest_leaves) {
  auto out = Merge("deep-merge", {S("a", 1, json::parse(R"({"p":{"x":1,"q":{"y":1}},"k":"old"})")),
                                  S("b", 2, json::parse(R"({"p":{"z":2,"q":{"y":2}},"k":"new"})"))});
  BOOST_TEST(out->dump() == R"({"k":"new","p":{"q":{"y":2},"x":1,"z":2}})");
}

BOOST_AUTO_TEST_CASE(prefer_region_takes_that_regions_newest_version_else_the_newest) {
  std::vector<Sibling> s = {S("eu-west", 1, json{{"v", "eu1"}}), S("eu-west", 2, json{{"v", "eu2"}}),
                            S("us-east", 3, json{{"v", "us"}})};
  BOOST_TEST(Merge("prefer-region:eu-west", s)->dump() == R"({"v":"eu2"})");
  BOOST_TEST(Merge("prefer-region:ap-south", s)->dump() == R"({"v":"us"})");
  // Its preferred region deleted: the delete is its version.
  BOOST_TEST(!Merge("prefer-region:eu-west", {S("eu-west", 2, std::nullopt), S("us-east", 3, json{{"v", 1}})}));
}

BOOST_AUTO_TEST_CASE(deletes_take_no_part_unless_every_version_is_a_delete) {
  for (const char* name : {"union", "max", "min", "deep-merge"}) {
    BOOST_TEST_CONTEXT(name) {
      BOOST_TEST(Merge(name, {S("a", 1, json{{"n", 1}}), S("b", 2, std::nullopt)})->dump() == R"({"n":1})");
      BOOST_TEST(!Merge(name, {S("a", 1, std::nullopt), S("b", 2, std::nullopt)}));
    }
  }
}

BOOST_AUTO_TEST_CASE(builtins_do_not_depend_on_the_order_versions_arrive_in) {
  const uint64_t seed = testsupport::Seeds("builtins_order", 1).first;
  std::mt19937_64 rng(seed);
  const char* origins[] = {"a", "b", "c", "d"};
  for (int round = 0; round < 300; ++round) {
    std::vector<Sibling> s;
    for (int i = 0; i < 4; ++i) {
      json v = json::object();
      if (rng() % 4 == 0) {
        s.push_back(S(origins[i], 1 + rng() % 3, std::nullopt));
        continue;
      }
      v["n"] = static_cast<int>(rng() % 10);
      v["tags"] = json::array({static_cast<int>(rng() % 5), static_cast<int>(rng() % 5)});
      v["o"] = {{std::string(1, static_cast<char>('a' + rng() % 3)), static_cast<int>(rng() % 3)}};
      s.push_back(S(origins[i], 1 + rng() % 3, v));  // equal hlcs: the origin breaks ties
    }
    for (const char* name : {"union", "max", "min", "deep-merge", "prefer-region:b"}) {
      auto first = Merge(name, s);
      std::shuffle(s.begin(), s.end(), rng);
      auto second = Merge(name, s);
      BOOST_TEST((first == second), "seed " << seed << " round " << round << " callback " << name);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_registry_checks_names) {
  Registry r;
  auto ok = [](const std::vector<Sibling>&) -> crdt::Result<std::optional<json>> { return std::optional<json>(); };
  BOOST_TEST(r.Register("cart", ok).ok());
  BOOST_TEST(r.Register("cart", ok).reason() == "invalid-callback");           // taken
  BOOST_TEST(r.Register("union", ok).reason() == "invalid-callback");          // a built-in
  BOOST_TEST(r.Register("Cart", ok).reason() == "invalid-callback");           // upper case
  BOOST_TEST(r.Register("", ok).reason() == "invalid-callback");
  BOOST_TEST(r.Register("prefer-region", ok).reason() == "invalid-callback");  // reserved
  BOOST_TEST(r.Register(std::string(65, 'a'), ok).reason() == "invalid-callback");
  BOOST_TEST(r.Find("cart").ok());
  BOOST_TEST(r.Find("nope").status().reason() == "unknown-callback");
  BOOST_TEST(r.Find("prefer-region:").status().reason() == "unknown-callback");
  BOOST_TEST(r.Find("prefer-region:Not A Region").status().reason() == "unknown-callback");
  const auto names = r.Names();
  BOOST_TEST((std::find(names.begin(), names.end(), "cart") != names.end()));
}

BOOST_AUTO_TEST_CASE(run_callback_turns_every_misbehaviour_into_an_error) {
  const std::vector<Sibling> s = {S("a", 1, json{{"v", 1}}), S("b", 2, json{{"v", 2}})};
  using R = crdt::Result<std::optional<json>>;
  auto throws = [](const std::vector<Sibling>&) -> R { throw std::runtime_error("boom"); };
  auto throws_int = [](const std::vector<Sibling>&) -> R { throw 42; };
  auto errs = [](const std::vector<Sibling>&) -> R { return crdt::Status::Internal("no can do"); };
  auto array = [](const std::vector<Sibling>&) -> R { return std::optional<json>(json::array({1})); };
  auto number = [](const std::vector<Sibling>&) -> R { return std::optional<json>(json(3)); };
  auto deep = [](const std::vector<Sibling>&) -> R {
    json v = 1;
    for (int i = 0; i < 70; ++i) v = json{{"x", v}};
    return std::optional<json>(v);
  };
  auto bad_utf8 = [](const std::vector<Sibling>&) -> R { return std::optional<json>(json{{"s", "\xff\xfe"}}); };

  auto out = RunCallback(throws, s);
  BOOST_TEST(out.status().reason() == "callback-failed");
  BOOST_TEST(out.status().message().find("boom") != std::string::npos);
  BOOST_TEST(RunCallback(throws_int, s).status().reason() == "callback-failed");
  out = RunCallback(errs, s);
  BOOST_TEST(out.status().reason() == "callback-failed");
  BOOST_TEST(out.status().message().find("no can do") != std::string::npos);
  BOOST_TEST(RunCallback(array, s).status().reason() == "callback-invalid");
  BOOST_TEST(RunCallback(number, s).status().reason() == "callback-invalid");
  BOOST_TEST(RunCallback(deep, s).status().reason() == "callback-invalid");
  BOOST_TEST(RunCallback(bad_utf8, s).status().reason() == "callback-invalid");
}

BOOST_AUTO_TEST_CASE(siblings_json_is_the_documented_shape) {
  std::vector<Sibling> s = {S("b", 2, std::nullopt), S("a", 1, json{{"v", 1}})};
  s[0].context.Advance(*RegionId::Parse("a"), 1);
  conflict::SortCanonical(s);
  BOOST_TEST(conflict::SiblingsJson(s).dump() ==
             R"([{"context":{},"deleted":false,"hlc":{"logical":0,"wall_ms":1},"origin":"a","value":{"v":1},"version":"a:1"},)"
             R"({"context":{"a":1},"deleted":true,"hlc":{"logical":0,"wall_ms":2},"origin":"b","value":null,"version":"b:2"}])");
}

BOOST_AUTO_TEST_SUITE_END()
