#include "crdt/hlc.h"

#include <boost/test/unit_test.hpp>

#include "tests/support/printers.h"

using crdt::Hlc;
using crdt::HlcClock;

BOOST_AUTO_TEST_SUITE(hlc)

BOOST_AUTO_TEST_CASE(packing_orders_by_wall_then_logical) {
  const Hlc a = Hlc::FromParts(1000, 65535);
  const Hlc b = Hlc::FromParts(1001, 0);
  BOOST_TEST(a < b);
  BOOST_TEST(a.wall_ms() == 1000u);
  BOOST_TEST(a.logical() == 65535u);
  BOOST_TEST(Hlc::FromPacked(b.packed()) == b);
  // Fits SQLite's signed INTEGER for any wall time before the year 6429.
  BOOST_TEST(Hlc::FromParts((uint64_t{1} << 47) - 1, 65535).packed() < (uint64_t{1} << 63));
}

BOOST_AUTO_TEST_CASE(tick_follows_physical_time_and_resets_logical) {
  HlcClock c;
  BOOST_TEST(c.Tick(100)->packed() == Hlc::FromParts(100, 0).packed());
  BOOST_TEST(c.Tick(100)->packed() == Hlc::FromParts(100, 1).packed());
  BOOST_TEST(c.Tick(105)->packed() == Hlc::FromParts(105, 0).packed());
}

BOOST_AUTO_TEST_CASE(frozen_clock_counts_logically_and_never_wraps) {
  HlcClock c;
  Hlc prev;
  int issued = 0;
  for (;;) {
    auto s = c.Tick(5000);
    if (!s) break;
    BOOST_TEST_REQUIRE(*s > prev);
    prev = *s;
    ++issued;
  }
  // 0..65535 in one millisecond, then the clock refuses instead of wrapping.
  BOOST_TEST(issued == 65536);
  BOOST_TEST(c.last() == Hlc::FromParts(5000, 65535));
  BOOST_TEST(!c.Tick(5000).has_value());
  BOOST_TEST(c.last() == Hlc::FromParts(5000, 65535));  // unchanged by the refusal
  BOOST_TEST(*c.Tick(5001) == Hlc::FromParts(5001, 0));
}

BOOST_AUTO_TEST_CASE(physical_clock_stepping_back_never_lowers_stamps) {
  HlcClock c;
  const uint64_t now = 1'800'000'000'000;
  const Hlc before = *c.Tick(now);
  const uint64_t ten_minutes = 10 * 60 * 1000;
  Hlc prev = before;
  for (int i = 0; i < 1000; ++i) {
    const Hlc s = *c.Tick(now - ten_minutes + static_cast<uint64_t>(i));
    BOOST_TEST_REQUIRE(s > prev);
    BOOST_TEST_REQUIRE(s.wall_ms() == now);  // holds the high wall part until time catches up
    prev = s;
  }
}

BOOST_AUTO_TEST_CASE(restart_from_high_water_mark_stays_ahead) {
  HlcClock first;
  Hlc last;
  for (int i = 0; i < 100; ++i) last = *first.Tick(2'000'000);
  // Restart with the persisted mark and a physical clock ten minutes behind.
  HlcClock second(first.last());
  const Hlc next = *second.Tick(2'000'000 - 600'000);
  BOOST_TEST(next > last);
}

BOOST_AUTO_TEST_CASE(receive_of_remote_stamp_ahead_of_local_time_moves_clock_forward) {
  HlcClock c;
  (void)c.Tick(1000);
  const Hlc remote = Hlc::FromParts(1400, 7);
  const Hlc r = *c.Receive(remote, 1001);
  BOOST_TEST(r == Hlc::FromParts(1400, 8));
  // Later local events stay ahead of the remote stamp while physical time lags.
  const Hlc t = *c.Tick(1002);
  BOOST_TEST(t == Hlc::FromParts(1400, 9));
  BOOST_TEST(*c.Tick(1500) == Hlc::FromParts(1500, 0));
}

BOOST_AUTO_TEST_CASE(receive_rules_cover_every_case) {
  // l == l' == lm: max(c, cm) + 1
  HlcClock a(Hlc::FromParts(50, 3));
  BOOST_TEST(*a.Receive(Hlc::FromParts(50, 9), 10) == Hlc::FromParts(50, 10));
  // l == l' > lm: c + 1
  HlcClock b(Hlc::FromParts(50, 3));
  BOOST_TEST(*b.Receive(Hlc::FromParts(40, 9), 10) == Hlc::FromParts(50, 4));
  // physical time ahead of both: logical resets
  HlcClock c(Hlc::FromParts(50, 3));
  BOOST_TEST(*c.Receive(Hlc::FromParts(60, 9), 70) == Hlc::FromParts(70, 0));
}

BOOST_AUTO_TEST_CASE(receive_that_would_overflow_is_refused) {
  HlcClock c(Hlc::FromParts(50, 1));
  BOOST_TEST(!c.Receive(Hlc::FromParts(50, 65535), 10).has_value());
  BOOST_TEST(c.last() == Hlc::FromParts(50, 1));
}

BOOST_AUTO_TEST_SUITE_END()
