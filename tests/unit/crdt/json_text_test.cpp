#include "crdt/json_text.h"

#include <string>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

using crdt::ApplyMergePatch;
using crdt::ParseJson;
using nlohmann::json;

BOOST_AUTO_TEST_SUITE(json_text)

BOOST_AUTO_TEST_CASE(parses_valid_json) {
  auto r = ParseJson(R"({"a":[1,2,{"b":null}],"c":"é","d":1.5e3,"e":true})");
  BOOST_TEST_REQUIRE(r.ok());
  BOOST_TEST((*r)["a"][2].contains("b"));
  BOOST_TEST((*r)["d"].get<double>() == 1500.0);
}

BOOST_AUTO_TEST_CASE(duplicate_keys_are_rejected_at_any_depth) {
  auto top = ParseJson(R"({"a":1,"a":2})");
  BOOST_TEST(!top.ok());
  BOOST_TEST(top.status().reason() == "duplicate-key");
  auto nested = ParseJson(R"({"x":[{"k":1,"j":2,"k":3}]})");
  BOOST_TEST(nested.status().reason() == "duplicate-key");
  BOOST_TEST(ParseJson(R"([{"k":1},{"k":2}])").ok());
}

BOOST_AUTO_TEST_CASE(nesting_beyond_the_limit_is_rejected) {
  std::string ok_depth = std::string(64, '[') + std::string(64, ']');
  BOOST_TEST(ParseJson(ok_depth).ok());
  std::string too_deep = std::string(65, '[') + std::string(65, ']');
  auto r = ParseJson(too_deep);
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.status().reason() == "too-deep");
  // Far deeper input fails fast, without recursion trouble.
  std::string abyss = std::string(1'000'000, '[');
  BOOST_TEST(ParseJson(abyss).status().reason() == "too-deep");
}

BOOST_AUTO_TEST_CASE(integers_beyond_64_bits_are_refused_not_rounded) {
  BOOST_TEST((*ParseJson("[18446744073709551615,-9223372036854775808,1e20,1.5]"))[0].get<uint64_t>() ==
             18446744073709551615ull);
  for (const char* big : {"18446744073709551616", "[99999999999999999999]", "{\"id\":-9223372036854775809}"}) {
    BOOST_TEST_CONTEXT(big) { BOOST_TEST(ParseJson(big).status().reason() == "number-out-of-range"); }
  }
}

BOOST_AUTO_TEST_CASE(malformed_input_is_an_error_not_an_exception) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "nul", "{\"a\" 1}", "\"\xff\"", "1 2", "{'a':1}"}) {
    BOOST_TEST_CONTEXT(bad) {
      auto r = ParseJson(bad);
      BOOST_TEST(!r.ok());
      BOOST_TEST(r.status().reason() == "invalid-json");
    }
  }
}

BOOST_AUTO_TEST_CASE(merge_patch_follows_rfc_7396_examples) {
  // The examples of RFC 7396 appendix A.
  struct Case { const char* target; const char* patch; const char* result; };
  const Case cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", "null", "null"},
      {R"({"a":"foo"})", R"("bar")", R"("bar")"},
      {R"({"e":null})", R"({"a":1})", R"({"a":1,"e":null})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.target << " + " << c.patch) {
      BOOST_TEST(ApplyMergePatch(json::parse(c.target), json::parse(c.patch)) == json::parse(c.result));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
