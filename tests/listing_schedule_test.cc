// The timing rules of the two kinds of listing, driven with made-up times:
// no process, no sleep.
#include "listing_schedule.h"

#include <gtest/gtest.h>

#include <chrono>

namespace multipass::detail {
namespace {

using namespace std::chrono_literals;
using tp = listing_schedule::time_point;

const tp t0 = tp() + std::chrono::hours(100);

schedule_intervals probing() { return {5s, 60s, 1s}; }

TEST(listing_schedule_test, first_unit_is_a_full_listing_at_once) {
  listing_schedule s;
  auto plan = s.next(probing(), false);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_LE(plan.at, t0);
}

TEST(listing_schedule_test, idle_with_probe_lists_cheaply_between_full_ones) {
  listing_schedule s;
  s.unit_started(t0);
  s.full_done(t0, true, false, probing());
  auto plan = s.next(probing(), false);
  EXPECT_EQ(plan.kind, listing_kind::cheap);
  EXPECT_EQ(plan.at, t0 + 5s);
  // Eleven cheap listings later the refresh interval has come round.
  tp now = t0;
  for (int i = 0; i < 11; ++i) {
    now += 5s;
    s.unit_started(now);
    s.cheap_done(now);
    plan = s.next(probing(), false);
  }
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 60s);
}

TEST(listing_schedule_test, probe_zero_lists_fully_every_refresh) {
  listing_schedule s;
  schedule_intervals iv{0s, 5s, 1s};
  s.unit_started(t0);
  s.full_done(t0, true, true, iv);  // no backoff without a probe
  auto plan = s.next(iv, false);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 5s);
  // A demand: a full listing, rate limited from the last start.
  plan = s.next(iv, true);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 1s);
}

TEST(listing_schedule_test, demand_starts_a_cheap_listing_rate_limited) {
  listing_schedule s;
  s.unit_started(t0);
  s.full_done(t0, true, false, probing());
  auto plan = s.next(probing(), true);
  EXPECT_EQ(plan.kind, listing_kind::cheap);
  EXPECT_EQ(plan.at, t0 + 1s);
  // A full listing due anyway comes first.
  s.unit_started(t0 + 59s);
  s.cheap_done(t0 + 59s);
  plan = s.next(probing(), true);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 60s);
}

TEST(listing_schedule_test, missing_address_backs_off_from_probe_to_refresh) {
  listing_schedule s;
  const auto iv = probing();
  tp now = t0;
  std::vector<std::chrono::milliseconds> gaps;
  for (int i = 0; i < 6; ++i) {
    s.unit_started(now);
    s.full_done(now, true, true, iv);
    gaps.push_back(s.backoff());
    auto plan = s.next(iv, false);
    // Cheap listings in between still come every probe.
    if (s.backoff() > iv.probe) {
      EXPECT_EQ(plan.kind, listing_kind::cheap);
    }
    now += s.backoff();
  }
  EXPECT_EQ(gaps, (std::vector<std::chrono::milliseconds>{
                      5s, 10s, 20s, 40s, 60s, 60s}));
  // The address arrived: back to every refresh.
  s.full_done(now, true, false, iv);
  EXPECT_EQ(s.backoff().count(), 0);
  EXPECT_EQ(s.next(iv, false).at, now + 5s);  // the next cheap listing
  // A failed full listing keeps the pace.
  s.full_done(now, true, true, iv);
  s.full_done(now, false, false, iv);
  EXPECT_EQ(s.backoff(), 5s);
}

TEST(listing_schedule_test, old_cli_lists_fully_every_probe_but_not_under_5s) {
  listing_schedule s;
  schedule_intervals iv{1s, 60s, 1s};
  s.unit_started(t0);
  s.full_done(t0, true, false, iv);
  s.flag_rejected(t0);
  EXPECT_FALSE(s.probing(iv));
  auto plan = s.next(iv, false);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 5s);
  iv.probe = 10s;
  EXPECT_EQ(s.next(iv, false).at, t0 + 10s);
  // Misses run full listings, rate limited.
  plan = s.next(iv, true);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 1s);
  EXPECT_FALSE(s.flag_retry_due(t0 + 59min));
  EXPECT_TRUE(s.flag_retry_due(t0 + 60min));
  s.flag_accepted();
  EXPECT_TRUE(s.probing(iv));
  EXPECT_EQ(s.next(iv, false).kind, listing_kind::cheap);
}

TEST(listing_schedule_test, new_intervals_apply_to_the_next_decision) {
  listing_schedule s;
  s.unit_started(t0);
  s.full_done(t0, true, false, probing());
  EXPECT_EQ(s.next({2s, 60s, 1s}, false).at, t0 + 2s);
  EXPECT_EQ(s.next({0s, 30s, 1s}, false).at, t0 + 30s);
  EXPECT_EQ(s.next({0s, 30s, 1s}, false).kind, listing_kind::full);
}

}  // namespace
}  // namespace multipass::detail
