#include "crdt/version_vector.h"

#include <boost/test/unit_test.hpp>

#include "tests/support/printers.h"

using crdt::Dot;
using crdt::Order;
using crdt::RegionId;
using crdt::VersionVector;

namespace {
RegionId R(const char* id) { return *RegionId::Parse(id); }
}  // namespace

BOOST_AUTO_TEST_SUITE(version_vector)

BOOST_AUTO_TEST_CASE(region_ids_follow_the_pattern) {
  BOOST_TEST(RegionId::IsValid("us-east"));
  BOOST_TEST(RegionId::IsValid("a"));
  BOOST_TEST(RegionId::IsValid("a2345678901234567890123456789012"));
  BOOST_TEST(!RegionId::IsValid("a23456789012345678901234567890123"));
  BOOST_TEST(!RegionId::IsValid(""));
  BOOST_TEST(!RegionId::IsValid("1abc"));
  BOOST_TEST(!RegionId::IsValid("US-east"));
  BOOST_TEST(!RegionId::IsValid("us_east"));
  BOOST_TEST(!RegionId::Parse("us:east").ok());
}

BOOST_AUTO_TEST_CASE(contains_means_dot_is_in_causal_past) {
  VersionVector vv;
  vv.Advance(R("a"), 5);
  BOOST_TEST(vv.Contains({R("a"), 5}));
  BOOST_TEST(vv.Contains({R("a"), 1}));
  BOOST_TEST(!vv.Contains({R("a"), 6}));
  BOOST_TEST(!vv.Contains({R("b"), 1}));
}

BOOST_AUTO_TEST_CASE(advance_never_lowers_an_entry) {
  VersionVector vv;
  vv.Advance(R("a"), 5);
  vv.Advance(R("a"), 3);
  BOOST_TEST(vv.Get(R("a")) == 5u);
  vv.Advance(R("b"), 0);
  BOOST_TEST(vv.entries().size() == 1u);
}

BOOST_AUTO_TEST_CASE(compare_is_the_pointwise_partial_order) {
  VersionVector a, b;
  a.Advance(R("x"), 1);
  b.Advance(R("x"), 1);
  BOOST_TEST((a.Compare(b) == Order::kEqual));
  b.Advance(R("y"), 2);
  BOOST_TEST((a.Compare(b) == Order::kBefore));
  BOOST_TEST((b.Compare(a) == Order::kAfter));
  a.Advance(R("z"), 1);
  BOOST_TEST((a.Compare(b) == Order::kConcurrent));
  VersionVector joined = a;
  joined.Join(b);
  BOOST_TEST(a.LessOrEqual(joined));
  BOOST_TEST(b.LessOrEqual(joined));
}

BOOST_AUTO_TEST_CASE(encoding_is_canonical_and_round_trips) {
  VersionVector vv;
  vv.Advance(R("us-east"), 12);
  vv.Advance(R("eu-west"), 7);
  BOOST_TEST(vv.Encode() == "eu-west:7,us-east:12");
  auto back = VersionVector::Decode(vv.Encode());
  BOOST_TEST_REQUIRE(back.ok());
  BOOST_TEST((*back == vv));
  BOOST_TEST(VersionVector::Decode("").ok());
}

BOOST_AUTO_TEST_CASE(malformed_encodings_are_rejected) {
  for (const char* bad : {"a", "a:", ":1", "a:0", "a:1,", "b:1,a:1", "a:1,a:2", "A:1", "a:-1", "a:1x", ",a:1",
                          "a:99999999999999999999999"}) {
    BOOST_TEST_CONTEXT(bad) {
      auto r = VersionVector::Decode(bad);
      BOOST_TEST(!r.ok());
      // The message quotes the whole input, not what was left of it.
      BOOST_TEST(r.status().message().find("'" + std::string(bad) + "'") != std::string::npos, r.status().message());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
