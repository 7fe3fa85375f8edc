// The timing rules of the two kinds of listing, driven with made-up times:
// no process, no sleep.
#include "listing_schedule.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace multipass::detail {
namespace {

using namespace std::chrono_literals;
using tp = listing_schedule::time_point;

const tp t0 = tp() + std::chrono::hours(100);
constexpr tp never = listing_schedule::never;
constexpr demand_kind no_demand = demand_kind::none;

schedule_intervals probing() { return {5s, 60s, 1s}; }

TEST(listing_schedule_test, first_unit_is_a_full_listing_at_once) {
  listing_schedule s;
  auto plan = s.next(probing(), no_demand);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_LE(plan.at, t0);
}

TEST(listing_schedule_test, idle_with_probe_lists_cheaply_between_full_ones) {
  listing_schedule s;
  s.unit_started(t0);
  s.full_done(t0, true, never);
  auto plan = s.next(probing(), no_demand);
  EXPECT_EQ(plan.kind, listing_kind::cheap);
  EXPECT_EQ(plan.at, t0 + 5s);
  // Eleven cheap listings later the refresh interval has come round.
  tp now = t0;
  for (int i = 0; i < 11; ++i) {
    now += 5s;
    s.unit_started(now);
    s.cheap_done(now, true);
    plan = s.next(probing(), no_demand);
  }
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 60s);
}

TEST(listing_schedule_test, probe_zero_lists_fully_every_refresh) {
  listing_schedule s;
  schedule_intervals iv{0s, 5s, 1s};
  s.unit_started(t0);
  s.full_done(t0, true, t0);  // no address backoff without a probe
  auto plan = s.next(iv, no_demand);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 5s);
  // A demand: a full listing, rate limited from the last start.
  plan = s.next(iv, demand_kind::look);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 1s);
  // A failure keeps the pace: no backoff without cheap listings.
  s.full_done(t0, false, never);
  EXPECT_EQ(s.next(iv, no_demand).at, t0 + 5s);
  EXPECT_EQ(s.full_backoff(iv).count(), 0);
}

TEST(listing_schedule_test, demand_starts_a_cheap_listing_rate_limited) {
  listing_schedule s;
  s.unit_started(t0);
  s.full_done(t0, true, never);
  auto plan = s.next(probing(), demand_kind::look);
  EXPECT_EQ(plan.kind, listing_kind::cheap);
  EXPECT_EQ(plan.at, t0 + 1s);
  // A demand for an address: a full listing, rate limited the same way.
  plan = s.next(probing(), demand_kind::address);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 1s);
  // A full listing due anyway comes first.
  s.unit_started(t0 + 59s);
  s.cheap_done(t0 + 59s, true);
  plan = s.next(probing(), demand_kind::look);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 60s);
}

// The gaps between full listings while the youngest Running VM without an
// address has been so since `since`, listing whenever one is due.
std::vector<std::chrono::seconds> address_gaps(listing_schedule& s, tp since,
                                               tp from, int count) {
  const auto iv = probing();
  std::vector<std::chrono::seconds> gaps;
  tp now = from;
  for (int i = 0; i < count; ++i) {
    s.unit_started(now);
    s.full_done(now, true, since);
    const tp due = now + s.address_period(iv);
    // Cheap listings in between still come every probe.
    EXPECT_EQ(s.next(iv, no_demand).at, std::min(due, now + iv.probe));
    gaps.push_back(std::chrono::duration_cast<std::chrono::seconds>(due - now));
    now = due;
  }
  return gaps;
}

TEST(listing_schedule_test, missing_address_lists_fully_every_probe_for_a_minute) {
  listing_schedule s;
  // A minute at the probe interval, then after half the age, up to refresh.
  EXPECT_EQ(address_gaps(s, t0, t0, 16),
            (std::vector<std::chrono::seconds>{5s, 5s, 5s, 5s, 5s, 5s, 5s, 5s,
                                               5s, 5s, 5s, 5s, 30s, 45s, 60s,
                                               60s}));
  // The address arrived: back to every refresh, cheap listings between.
  tp now = t0 + 200s;
  s.full_done(now, true, never);
  EXPECT_EQ(s.address_period(probing()).count(), 0);
  EXPECT_EQ(s.next(probing(), no_demand).at, now + 5s);
  EXPECT_EQ(s.next(probing(), no_demand).kind, listing_kind::cheap);
}

TEST(listing_schedule_test, a_vm_that_never_gets_an_address_delays_no_other) {
  listing_schedule s;
  // One VM has lacked an address for ten minutes: listings are far apart.
  const tp old = t0 - 600s;
  EXPECT_EQ(address_gaps(s, old, t0, 2),
            (std::vector<std::chrono::seconds>{60s, 60s}));
  // Another one starts at t0 + 130 s (seen by a cheap listing, then a full
  // one): it is the youngest, so the probe interval again.
  const tp started = t0 + 130s;
  EXPECT_EQ(address_gaps(s, started, started, 3),
            (std::vector<std::chrono::seconds>{5s, 5s, 5s}));
}

TEST(listing_schedule_test, a_short_refresh_shortens_what_counts_as_new) {
  listing_schedule s;
  const schedule_intervals iv{1s, 10s, 1s};
  EXPECT_EQ(listing_schedule::new_for(iv), 10s);
  EXPECT_EQ(listing_schedule::new_for(probing()), 60s);
  s.full_done(t0 + 9s, true, t0);
  EXPECT_EQ(s.address_period(iv), 1s);
  s.full_done(t0 + 10s, true, t0);
  EXPECT_EQ(s.address_period(iv), 5s);  // half its age
  s.full_done(t0 + 30s, true, t0);
  EXPECT_EQ(s.address_period(iv), 10s);  // never beyond refresh
}

TEST(listing_schedule_test, failing_full_listings_back_off_while_cheap_ones_work) {
  listing_schedule s;
  const auto iv = probing();
  s.unit_started(t0);
  s.full_done(t0, true, never);
  // Full listings fail from t0 + 10 s on; cheap ones keep working.
  tp now = t0 + 10s;
  std::vector<std::chrono::seconds> gaps;
  for (int i = 0; i < 7; ++i) {
    s.unit_started(now);
    s.full_done(now, false, never);
    EXPECT_EQ(s.full_failures(), static_cast<unsigned>(i + 1));
    const auto plan = s.next(iv, no_demand);
    // Cheap listings every probe meanwhile; a change they show brings no
    // full listing forward in the background.
    EXPECT_EQ(plan.at, now + 5s);
    EXPECT_FALSE(s.full_may_follow(now + 5s, false, iv));
    gaps.push_back(
        std::chrono::duration_cast<std::chrono::seconds>(s.full_backoff(iv)));
    now += s.full_backoff(iv);
  }
  EXPECT_EQ(gaps, (std::vector<std::chrono::seconds>{5s, 10s, 20s, 40s, 60s,
                                                     60s, 60s}));
  // A demand brings one forward, but only a probe after the last one.
  const tp last = now - 60s;
  EXPECT_FALSE(s.full_may_follow(last + 4s, true, iv));
  EXPECT_TRUE(s.full_may_follow(last + 5s, true, iv));
  // So does a demand for an address.
  s.unit_started(last + 1s);
  EXPECT_EQ(s.next(iv, demand_kind::address).kind, listing_kind::cheap);
  s.unit_started(last + 5s);
  EXPECT_EQ(s.next(iv, demand_kind::address).kind, listing_kind::full);
  // A full listing works again: no backoff, a change brings one at once.
  s.full_done(now, true, never);
  EXPECT_EQ(s.full_backoff(iv).count(), 0);
  EXPECT_TRUE(s.full_may_follow(now, false, iv));
}

TEST(listing_schedule_test, a_failing_cheap_listing_ends_the_full_backoff) {
  listing_schedule s;
  const auto iv = probing();
  s.unit_started(t0);
  s.full_done(t0, false, never);
  s.full_done(t0 + 5s, false, never);
  EXPECT_EQ(s.full_backoff(iv), 10s);
  // The daemon itself is unreachable: no full listing is to blame. The
  // next cheap listing that works is followed by a full one at once.
  s.cheap_done(t0 + 6s, false);
  EXPECT_EQ(s.full_failures(), 0u);
  EXPECT_TRUE(s.full_may_follow(t0 + 7s, false, iv));
  EXPECT_EQ(s.next(iv, no_demand).at, t0 + 11s);  // the next cheap listing
}

TEST(listing_schedule_test, old_cli_lists_fully_every_probe_but_not_under_5s) {
  listing_schedule s;
  schedule_intervals iv{1s, 60s, 1s};
  s.unit_started(t0);
  s.full_done(t0, true, never);
  s.flag_rejected(t0);
  EXPECT_FALSE(s.probing(iv));
  auto plan = s.next(iv, no_demand);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 5s);
  iv.probe = 10s;
  EXPECT_EQ(s.next(iv, no_demand).at, t0 + 10s);
  // Misses run full listings, rate limited.
  plan = s.next(iv, demand_kind::look);
  EXPECT_EQ(plan.kind, listing_kind::full);
  EXPECT_EQ(plan.at, t0 + 1s);
  EXPECT_FALSE(s.flag_retry_due(t0 + 59min));
  EXPECT_TRUE(s.flag_retry_due(t0 + 60min));
  s.flag_accepted();
  EXPECT_TRUE(s.probing(iv));
  EXPECT_EQ(s.next(iv, no_demand).kind, listing_kind::cheap);
}

TEST(listing_schedule_test, new_intervals_apply_to_the_next_decision) {
  listing_schedule s;
  s.unit_started(t0);
  s.full_done(t0, true, never);
  EXPECT_EQ(s.next({2s, 60s, 1s}, no_demand).at, t0 + 2s);
  EXPECT_EQ(s.next({0s, 30s, 1s}, no_demand).at, t0 + 30s);
  EXPECT_EQ(s.next({0s, 30s, 1s}, no_demand).kind, listing_kind::full);
}

}  // namespace
}  // namespace multipass::detail
