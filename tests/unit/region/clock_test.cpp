#include "region/clock.h"

#include <boost/test/unit_test.hpp>

#include "tests/support/printers.h"

#include "tests/support/fake_clock.h"

using crdt::Hlc;
using region::HybridClock;
using testsupport::FakeClock;

BOOST_AUTO_TEST_SUITE(hybrid_clock)

BOOST_AUTO_TEST_CASE(frozen_clock_yields_200000_strictly_increasing_stamps) {
  FakeClock clock(1'800'000'000'000);
  HybridClock hlc(clock, Hlc());
  Hlc prev;
  for (int i = 0; i < 200'000; ++i) {
    auto s = hlc.Now();
    BOOST_TEST_REQUIRE(s.ok());
    BOOST_TEST_REQUIRE(*s > prev);
    prev = *s;
  }
  // 200,000 stamps need four milliseconds of 65,536; the clock waited instead of wrapping.
  BOOST_TEST(clock.sleeps() == 3);
  BOOST_TEST(prev.wall_ms() == 1'800'000'000'003u);
}

BOOST_AUTO_TEST_CASE(exhausted_counter_with_physical_time_far_behind_fails_instead_of_wrapping) {
  FakeClock clock(1000);
  // The HLC is 10 minutes ahead of physical time (for example after a restart).
  HybridClock hlc(clock, Hlc::FromParts(1000 + 600'000, 65535), /*max_wait_ms=*/1000);
  auto s = hlc.Now();
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.status().reason() == "clock-stalled");
  BOOST_TEST(hlc.Last() == Hlc::FromParts(601'000, 65535));
}

BOOST_AUTO_TEST_CASE(receive_moves_local_stamps_past_a_remote_stamp_from_the_future) {
  FakeClock clock(5000);
  HybridClock hlc(clock, Hlc());
  auto r = hlc.Receive(Hlc::FromParts(5300, 2));
  BOOST_TEST_REQUIRE(r.ok());
  BOOST_TEST(*r == Hlc::FromParts(5300, 3));
  BOOST_TEST(*hlc.Now() == Hlc::FromParts(5300, 4));
}

BOOST_AUTO_TEST_SUITE_END()
