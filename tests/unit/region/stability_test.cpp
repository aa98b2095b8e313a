// Stability: floors, holds and peer reports (region/stability.h).
#include <thread>

#include <boost/test/unit_test.hpp>

#include "region/stability.h"
#include "tests/support/printers.h"

using crdt::RegionId;
using crdt::VersionVector;
using region::FloorReport;
using region::Stability;

namespace {

RegionId R(const char* id) { return *RegionId::Parse(id); }

VersionVector V(const char* text) { return *VersionVector::Decode(text); }

}  // namespace

BOOST_AUTO_TEST_SUITE(stability)

BOOST_AUTO_TEST_CASE(nothing_is_stable_until_every_peer_has_reported_and_been_caught_up_with) {
  Stability s(R("a"), {R("b"), R("c")}, {});
  const VersionVector applied = V("a:5,b:5,c:5");
  s.Advance(V("a:5,b:5,c:7"));  // this region's own promise
  BOOST_TEST(s.Stable(applied).empty());
  s.OnReport(R("b"), {V("a:4,b:5,c:3"), 5});
  BOOST_TEST(s.Stable(applied).empty());  // c has not reported
  // c's floor counts only once its changes up to the seq it reported at are applied here:
  // older ones may have been made before it had seen the floor.
  s.OnReport(R("c"), {V("a:3,b:2,c:7"), 7});
  BOOST_TEST(s.Stable(applied).empty());
  BOOST_TEST(s.Stable(V("a:5,b:5,c:7")) == V("a:3,b:2,c:3"));
  // A region that is not a configured peer has an unknown floor: nothing is stable.
  BOOST_TEST(s.Stable(V("a:5,b:5,c:7,d:1")).empty());
  // Reports from strangers are ignored.
  s.OnReport(R("d"), {V("a:9"), 1});
  BOOST_TEST(s.Stable(V("a:5,b:5,c:7")) == V("a:3,b:2,c:3"));
}

BOOST_AUTO_TEST_CASE(old_reports_are_kept_until_usable_while_new_ones_keep_arriving) {
  Stability s(R("a"), {R("b")}, {});
  s.Advance(V("a:1,b:100"));
  // b keeps reporting, each time with more of its own changes than a has applied.
  for (uint64_t seq = 10; seq <= 100; seq += 10) {
    s.OnReport(R("b"), {V(("a:1,b:" + std::to_string(seq - 5)).c_str()), seq});
  }
  // a catches up with the first report's seq: that report is usable.
  BOOST_TEST(s.Stable(V("a:1,b:10")) == V("a:1,b:5"));
  BOOST_TEST(s.Stable(V("a:1,b:100")) == V("a:1,b:95"));
}

BOOST_AUTO_TEST_CASE(the_region_counts_only_what_it_has_promised) {
  Stability s(R("a"), {R("b")}, V("a:2"));
  s.OnReport(R("b"), {V("a:10,b:10"), 1});
  // Applied a:10, but promised only a:2 (and nothing of b): a base in between could still
  // be accepted.
  BOOST_TEST(s.Stable(V("a:10,b:10")) == V("a:2"));
  BOOST_TEST_REQUIRE(s.Hold(V("a:5,b:10")).ok());
  BOOST_TEST(s.Stable(V("a:10,b:10")) == V("a:2"));
  BOOST_TEST(s.Advance(V("a:10,b:10")) == V("a:5,b:10"));
  BOOST_TEST(s.Stable(V("a:10,b:10")) == V("a:5,b:10"));
}

BOOST_AUTO_TEST_CASE(a_hold_keeps_the_floor_at_what_a_page_has_seen_and_stale_bases_are_refused) {
  Stability s(R("a"), {}, V("a:2"));
  auto hold = s.Hold(V("a:3"));
  BOOST_TEST_REQUIRE(hold.ok());
  BOOST_TEST(s.Advance(V("a:10")) == V("a:3"));
  BOOST_TEST(s.Hold(V("a:2")).status().reason() == "stale-base");
  s.Raise(*hold, V("a:6"));
  BOOST_TEST(s.Advance(V("a:10")) == V("a:6"));
  BOOST_TEST(s.Hold(V("a:5")).status().reason() == "stale-base");
  // Released after a grace time: held until then.
  s.Release(*hold, 200);
  BOOST_TEST(s.Advance(V("a:10")) == V("a:6"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (s.Advance(V("a:10")) != V("a:10") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  BOOST_TEST(s.Advance(V("a:10")) == V("a:10"));
  // The promise never goes back, even if the applied vector does (a rolled-back batch).
  BOOST_TEST(s.Advance(V("a:8")) == V("a:10"));
  BOOST_TEST(s.Hold(V("a:9")).status().reason() == "stale-base");
}

BOOST_AUTO_TEST_SUITE_END()
