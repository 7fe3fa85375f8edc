// The refresh plan driven with made-up times: no process, no sleep, no lock.
// Listings take no time here: a unit begins and its listings end at once.
#include "refresh_plan.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace multipass::detail {
namespace {

using namespace std::chrono_literals;
using tp = refresh_plan::time_point;
using keys = std::vector<std::string>;

const tp t0 = tp() + std::chrono::hours(100);
constexpr listing_kind cheap = listing_kind::cheap;
constexpr listing_kind full = listing_kind::full;

plan_intervals probing() { return {5s, 60s, 1s}; }

// A unit that is one full listing at `at`, which loads (serving `unaddressed`
// Running VMs without an address) or fails.
void full_unit(refresh_plan& s, tp at, bool ok, const keys& unaddressed = {}) {
  s.begin_full(at);
  s.ended(full, at);
  s.full_read(ok);
  if (ok) s.served(unaddressed, at);
}

// The unit due begins at `at`; its cheap listing ends at once with
// `outcome`. Returns what follows.
refresh_plan::after_cheap cheap_unit(refresh_plan& s, tp at,
                                     cheap_outcome outcome,
                                     bool differs = false) {
  const auto u = s.begin(at);
  EXPECT_EQ(u.first, cheap);
  s.ended(cheap, at);
  return s.cheap_read(u, outcome, differs, differs);
}

TEST(refresh_plan_test, first_unit_is_a_full_listing_at_once) {
  refresh_plan s(probing());
  EXPECT_LE(s.due(), t0);
  EXPECT_EQ(s.begin(t0).first, full);
  EXPECT_FALSE(s.loaded());
  s.ended(full, t0);
  s.full_read(true);
  EXPECT_TRUE(s.loaded());
}

TEST(refresh_plan_test, idle_with_probe_lists_cheaply_between_full_ones) {
  refresh_plan s(probing());
  full_unit(s, t0, true);
  EXPECT_EQ(s.due(), t0 + 5s);
  // Eleven cheap listings later the refresh interval has come round.
  tp now = t0;
  for (int i = 0; i < 11; ++i) {
    now += 5s;
    ASSERT_EQ(s.due(), now);
    const auto after = cheap_unit(s, now, cheap_outcome::listed);
    EXPECT_FALSE(after.full);  // nothing changed
    EXPECT_FALSE(after.apply);
  }
  EXPECT_EQ(s.due(), t0 + 60s);
  EXPECT_EQ(s.begin(t0 + 60s).first, full);
}

TEST(refresh_plan_test, probe_zero_lists_fully_every_refresh) {
  refresh_plan s({0s, 5s, 1s});
  full_unit(s, t0, true, {"boot"});  // no address backoff without a probe
  EXPECT_EQ(s.due(), t0 + 5s);
  // A demand: a full listing, rate limited from the last start.
  EXPECT_TRUE(s.ask({}, t0));
  EXPECT_EQ(s.due(), t0 + 1s);
  EXPECT_EQ(s.begin(t0 + 1s).first, full);
  // A failure keeps the pace: no backoff without cheap listings.
  s.ended(full, t0 + 1s);
  s.full_read(false);
  EXPECT_EQ(s.due(), t0 + 6s);
  EXPECT_EQ(s.full_backoff().count(), 0);
}

TEST(refresh_plan_test, a_question_starts_a_cheap_listing_rate_limited) {
  refresh_plan s(probing());
  full_unit(s, t0, true, {"boot"});
  EXPECT_TRUE(s.ask("nosuch", t0));
  EXPECT_FALSE(s.ask("other", t0));  // the demand did not grow
  EXPECT_EQ(s.due(), t0 + 1s);
  auto u = s.begin(t0 + 1s);
  EXPECT_EQ(u.first, cheap);
  EXPECT_TRUE(u.demanded);
  EXPECT_EQ(s.demand(), demand_kind::none);  // consumed by the unit
  // A question for a Running VM new to lacking an address: a full
  // listing, rate limited the same way.
  s.ended(cheap, t0 + 1s);
  s.cheap_read(u, cheap_outcome::listed, false, false);
  EXPECT_TRUE(s.ask("boot", t0 + 1s));
  EXPECT_EQ(s.demand(), demand_kind::address);
  EXPECT_EQ(s.due(), t0 + 2s);
  EXPECT_EQ(s.begin(t0 + 2s).first, full);
  // A full listing due anyway comes first.
  refresh_plan idle(probing());
  full_unit(idle, t0, true);
  idle.begin(t0 + 59s);
  idle.ended(cheap, t0 + 59s);
  idle.ask("nosuch", t0 + 59s);
  EXPECT_EQ(idle.due(), t0 + 60s);
  EXPECT_EQ(idle.begin(t0 + 60s).first, full);
}

// Issue 25: the kind was chosen before the demand was read. Here the
// refresher sees a unit due for a question (a look: a cheap listing), and a
// question for the address of a VM new to lacking one arrives before the
// unit begins: beginning it picks the full listing, and takes both demands.
TEST(refresh_plan_test, beginning_a_unit_takes_the_demand_and_picks_its_kind_at_once) {
  for (bool address_question : {false, true}) {
    refresh_plan s(probing());
    full_unit(s, t0, true, {"boot"});
    s.ask("nosuch", t0 + 1s);
    ASSERT_EQ(s.due(), t0 + 1s);
    if (address_question) s.ask("boot", t0 + 1s);
    const auto u = s.begin(t0 + 1s);
    EXPECT_EQ(u.first, address_question ? full : cheap);
    EXPECT_TRUE(u.demanded);
    EXPECT_EQ(s.demand(), demand_kind::none);
  }
}

// The gaps between full listings while Running VM `vm` lacks an address
// (since the last full listing before `from`), listing whenever one is due.
std::vector<std::chrono::seconds> address_gaps(refresh_plan& s, tp from,
                                               int count,
                                               const keys& unaddressed) {
  std::vector<std::chrono::seconds> gaps;
  tp now = from;
  for (int i = 0; i < count; ++i) {
    full_unit(s, now, true, unaddressed);
    const tp due = now + s.address_period();
    // Cheap listings in between still come every probe.
    EXPECT_EQ(s.due(), std::min(due, now + 5s));
    gaps.push_back(std::chrono::duration_cast<std::chrono::seconds>(due - now));
    now = due;
  }
  return gaps;
}

TEST(refresh_plan_test, missing_address_lists_fully_every_probe_for_a_minute) {
  refresh_plan s(probing());
  // A minute at the probe interval, then after half the age, up to refresh.
  EXPECT_EQ(address_gaps(s, t0, 16, {"boot"}),
            (std::vector<std::chrono::seconds>{5s, 5s, 5s, 5s, 5s, 5s, 5s, 5s,
                                               5s, 5s, 5s, 5s, 30s, 45s, 60s,
                                               60s}));
  // The address arrived: back to every refresh, cheap listings between.
  const tp now = t0 + 200s;
  full_unit(s, now, true);
  EXPECT_EQ(s.address_period().count(), 0);
  EXPECT_EQ(s.due(), now + 5s);
  EXPECT_EQ(s.begin(now + 5s).first, cheap);
}

TEST(refresh_plan_test, a_vm_that_never_gets_an_address_delays_no_other) {
  refresh_plan s(probing());
  // One VM has lacked an address for ten minutes: listings are far apart.
  s.served({"never"}, t0 - 600s);
  EXPECT_EQ(address_gaps(s, t0, 2, {"never"}),
            (std::vector<std::chrono::seconds>{60s, 60s}));
  // Another one starts at t0 + 130 s (seen by a cheap listing, then a full
  // one): it is the youngest, so the probe interval again.
  EXPECT_EQ(address_gaps(s, t0 + 130s, 3, {"never", "late"}),
            (std::vector<std::chrono::seconds>{5s, 5s, 5s}));
}

TEST(refresh_plan_test, a_short_refresh_shortens_what_counts_as_new) {
  const plan_intervals iv{1s, 10s, 1s};
  refresh_plan s(iv);
  EXPECT_EQ(refresh_plan::new_for(iv), 10s);
  EXPECT_EQ(refresh_plan::new_for(probing()), 60s);
  EXPECT_EQ(refresh_plan::new_for({5s, 600s, 1s}), 60s);
  s.served({"boot"}, t0);
  full_unit(s, t0 + 9s, true, {"boot"});
  EXPECT_EQ(s.address_period(), 1s);
  full_unit(s, t0 + 10s, true, {"boot"});
  EXPECT_EQ(s.address_period(), 5s);  // half its age
  full_unit(s, t0 + 30s, true, {"boot"});
  EXPECT_EQ(s.address_period(), 10s);  // never beyond refresh
  // A question for it is no longer worth a full listing.
  s.ask("boot", t0 + 30s);
  EXPECT_EQ(s.demand(), demand_kind::look);
}

TEST(refresh_plan_test, failing_full_listings_back_off_while_cheap_ones_work) {
  refresh_plan s(probing());
  full_unit(s, t0, true);
  // Full listings fail from t0 + 10 s on; cheap ones keep working.
  tp now = t0 + 10s;
  std::vector<std::chrono::seconds> gaps;
  for (int i = 0; i < 7; ++i) {
    full_unit(s, now, false);
    EXPECT_EQ(s.full_failures(), static_cast<unsigned>(i + 1));
    // Cheap listings every probe meanwhile; a change one shows is applied,
    // and brings no full listing forward in the background.
    EXPECT_EQ(s.due(), now + 5s);
    const refresh_plan::unit background{cheap, false, false};
    s.ended(cheap, now + 1s);
    const auto after =
        s.cheap_read(background, cheap_outcome::listed, true, true);
    EXPECT_TRUE(after.apply);
    EXPECT_FALSE(after.full);
    EXPECT_TRUE(s.cheap_works());
    gaps.push_back(
        std::chrono::duration_cast<std::chrono::seconds>(s.full_backoff()));
    now += s.full_backoff();
  }
  EXPECT_EQ(gaps, (std::vector<std::chrono::seconds>{5s, 10s, 20s, 40s, 60s,
                                                     60s, 60s}));
  // A question brings one forward for what is not served yet, but only a
  // probe after the last one.
  const tp last = now - 60s;
  s.ask("fresh", last + 4s);
  auto u = s.begin(last + 4s);
  s.ended(cheap, last + 4s);
  EXPECT_FALSE(s.cheap_read(u, cheap_outcome::listed, true, true).full);
  s.ask("fresh", last + 5s);
  u = s.begin(last + 5s);
  s.ended(cheap, last + 5s);
  EXPECT_FALSE(s.cheap_read(u, cheap_outcome::listed, true, false).full)
      << "nothing new to serve";
  s.ask("fresh", last + 6s);
  u = s.begin(last + 6s);
  s.ended(cheap, last + 6s);
  EXPECT_TRUE(s.cheap_read(u, cheap_outcome::listed, true, true).full);
  // A full listing works again: no backoff, a change brings one at once.
  full_unit(s, now, true);
  EXPECT_EQ(s.full_backoff().count(), 0);
  EXPECT_TRUE(cheap_unit(s, now + 5s, cheap_outcome::listed, true).full);
}

TEST(refresh_plan_test, a_question_for_an_address_while_full_listings_fail) {
  refresh_plan s(probing());
  full_unit(s, t0, true, {"boot"});
  full_unit(s, t0 + 10s, false, {});
  full_unit(s, t0 + 15s, false, {});  // backing off: 10 s
  s.ask("boot", t0 + 16s);
  ASSERT_EQ(s.demand(), demand_kind::address);
  EXPECT_EQ(s.due(), t0 + 16s);
  EXPECT_EQ(s.begin(t0 + 16s).first, cheap) << "less than a probe after";
  s.ended(cheap, t0 + 16s);
  s.ask("boot", t0 + 20s);
  EXPECT_EQ(s.begin(t0 + 20s).first, full) << "a probe after the last one";
}

TEST(refresh_plan_test, a_failing_cheap_listing_ends_the_full_backoff) {
  refresh_plan s(probing());
  full_unit(s, t0, true);
  full_unit(s, t0 + 5s, false);
  full_unit(s, t0 + 10s, false);
  EXPECT_EQ(s.full_backoff(), 10s);
  // The daemon itself is unreachable: no full listing is to blame.
  const auto after = cheap_unit(s, t0 + 15s, cheap_outcome::failed);
  EXPECT_FALSE(after.full);
  EXPECT_FALSE(after.apply);
  EXPECT_EQ(s.full_failures(), 0u);
  EXPECT_FALSE(s.cheap_works());
  // The next cheap listing that works is followed by a full one at once,
  // even when it shows nothing new: the source was in trouble.
  EXPECT_EQ(s.due(), t0 + 20s);
  EXPECT_TRUE(cheap_unit(s, t0 + 20s, cheap_outcome::listed).full);
}

TEST(refresh_plan_test, what_follows_a_cheap_listing) {
  refresh_plan s(probing());
  // Before anything loaded: a full listing follows, nothing is applied.
  s.begin(t0);
  s.ended(full, t0);
  s.full_read(false);
  s.ask("x", t0 + 5s);
  auto u = s.begin(t0 + 5s);
  s.ended(cheap, t0 + 5s);
  auto after = s.cheap_read(u, cheap_outcome::listed, true, true);
  EXPECT_TRUE(after.full);
  EXPECT_FALSE(after.apply);
  s.ended(full, t0 + 5s);
  s.full_read(true);
  // Unchanged: nothing follows.
  after = cheap_unit(s, t0 + 10s, cheap_outcome::listed, false);
  EXPECT_FALSE(after.full);
  EXPECT_FALSE(after.apply);
  // A VM stopped or deleted, or a new one: the cheap listing is applied at
  // once (issue 25: the stop is served before any full listing), and a
  // full listing follows for the addresses.
  after = cheap_unit(s, t0 + 15s, cheap_outcome::listed, true);
  EXPECT_TRUE(after.apply);
  EXPECT_TRUE(after.full);
}

// Issue 25: an old CLI is a state, not a failure.
TEST(refresh_plan_test, old_cli_lists_fully_every_probe_but_not_under_5s) {
  refresh_plan s({1s, 60s, 1s});
  full_unit(s, t0, true);
  // The cheap listing is rejected: full listings from now on, the first in
  // the same unit.
  const auto after = cheap_unit(s, t0 + 1s, cheap_outcome::rejected);
  EXPECT_TRUE(after.full);
  EXPECT_FALSE(after.apply);
  EXPECT_TRUE(s.old_cli());
  EXPECT_FALSE(s.probing());
  EXPECT_EQ(s.full_failures(), 0u);
  EXPECT_EQ(s.full_backoff().count(), 0);
  s.ended(full, t0 + 1s);
  s.full_read(true);
  EXPECT_EQ(s.due(), t0 + 6s);
  EXPECT_EQ(s.begin(t0 + 6s).first, full);
  s.ended(full, t0 + 6s);
  s.set_intervals({10s, 60s, 1s});
  EXPECT_EQ(s.due(), t0 + 16s);
  // Questions run full listings, rate limited.
  s.ask("x", t0 + 7s);
  EXPECT_EQ(s.due(), t0 + 7s);
  auto u = s.begin(t0 + 7s);
  EXPECT_EQ(u.first, full);
  EXPECT_FALSE(u.asks_flag);
  s.ended(full, t0 + 7s);
  // An hour after the rejection, the flag is asked for again.
  u = s.begin(t0 + 1s + 60min);
  EXPECT_EQ(u.first, cheap);
  EXPECT_TRUE(u.asks_flag);
  s.ended(cheap, t0 + 1s + 60min);
  EXPECT_TRUE(s.cheap_read(u, cheap_outcome::rejected, false, false).full);
  EXPECT_TRUE(s.old_cli());
  // An upgrade (a changed binary): at the next unit.
  s.ended(full, t0 + 61min);
  s.binary_changed();
  u = s.begin(t0 + 62min);
  EXPECT_TRUE(u.asks_flag);
  s.ended(cheap, t0 + 62min);
  EXPECT_FALSE(s.cheap_read(u, cheap_outcome::listed, false, false).full);
  EXPECT_FALSE(s.old_cli());
  EXPECT_TRUE(s.probing());
}

TEST(refresh_plan_test, new_intervals_apply_to_the_next_decision) {
  refresh_plan s(probing());
  full_unit(s, t0, true);
  s.set_intervals({2s, 60s, 1s});
  EXPECT_EQ(s.due(), t0 + 2s);
  s.set_intervals({0s, 30s, 1s});
  EXPECT_EQ(s.due(), t0 + 30s);
  EXPECT_EQ(s.begin(t0 + 30s).first, full);
}

// Issue 25: a listing's end is recorded before what it printed is read;
// should reading it fail (a throw), the next unit still comes at its time,
// not at once.
TEST(refresh_plan_test, a_listing_whose_result_never_came_is_no_reason_to_list_again) {
  refresh_plan s(probing());
  full_unit(s, t0, true);
  full_unit(s, t0 + 5s, false);  // backing off: the next full one at +5 s
  s.begin(t0 + 10s);
  s.ended(full, t0 + 10s);  // ... and nothing more
  EXPECT_EQ(s.due(), t0 + 15s);
  refresh_plan first(probing());
  first.begin(t0);
  first.ended(full, t0);  // the very first listing, result unknown
  EXPECT_EQ(first.due(), t0 + 5s);
}

}  // namespace
}  // namespace multipass::detail
