// What the source lists next and when: the pure timing rules of the two
// kinds of listing, kept apart from processes and locks so that tests can
// drive them with made-up times.
//
// A unit of work starts with a cheap listing (`list --format=json
// --no-ipv4`: names and states) or a full listing (`list --format=json`:
// addresses too). A cheap listing whose (name, state) set differs from the
// last full listing's is followed at once, in the same unit, by a full
// listing; the source does that, not this class. The rules:
//  - the first unit is a full listing, at once;
//  - probe > 0 and the CLI takes --no-ipv4: a cheap listing every probe
//    after the last listing of either kind, a full listing at least every
//    refresh; while a Running VM lacks a usable address, full listings
//    every probe, doubling up to refresh;
//  - probe > 0 but the CLI rejected --no-ipv4 (an old CLI): full listings
//    every probe, never more often than every fallback_floor;
//  - probe 0: full listings every refresh (the behaviour before cheap
//    listings existed);
//  - a demand (a question for a name the inventory lacks) starts a unit at
//    once, at most one unit start per demand_interval; the unit is the kind
//    the mode starts with (a full listing if one is due anyway).
#pragma once

#include <chrono>

namespace multipass::detail {

enum class listing_kind { cheap, full };

struct schedule_intervals {
  std::chrono::milliseconds probe{0};
  std::chrono::milliseconds refresh{60000};
  std::chrono::milliseconds demand_interval{1000};
};

class listing_schedule {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  // An old CLI's full listings come at most this often.
  static constexpr std::chrono::milliseconds fallback_floor{5000};
  // An old CLI is asked for --no-ipv4 again after this long.
  static constexpr std::chrono::hours flag_retry{1};
  // No period of the background schedule is shorter.
  static constexpr std::chrono::milliseconds min_period{100};

  struct plan {
    time_point at;      // when the next unit is due (may be in the past)
    listing_kind kind;  // what it starts with
  };

  // The next unit, given the intervals in force and whether a demand waits.
  plan next(const schedule_intervals& iv, bool demand) const;

  // Whether the mode runs cheap listings.
  bool probing(const schedule_intervals& iv) const {
    return iv.probe.count() > 0 && !old_cli_;
  }

  // The next unit is a full listing, at once (a refresher starting).
  void full_now() { last_full_ = never; }
  // A unit started at `now` (for the demand rate limit).
  void unit_started(time_point now) { last_unit_start_ = now; }
  // A cheap listing ended at `now`, whatever its result.
  void cheap_done(time_point now) { last_listing_ = now; }
  // A full listing ended at `now`. `unaddressed` (meaningful when ok): a
  // Running VM without a usable address is listed.
  void full_done(time_point now, bool ok, bool unaddressed,
                 const schedule_intervals& iv);

  // The CLI rejected --no-ipv4 at `now`: full listings only, until
  // flag_accepted (after a retry).
  void flag_rejected(time_point now) {
    old_cli_ = true;
    rejected_at_ = now;
  }
  void flag_accepted() { old_cli_ = false; }
  bool old_cli() const { return old_cli_; }
  // An hour has passed since the rejection: ask again.
  bool flag_retry_due(time_point now) const {
    return old_cli_ && now - rejected_at_ >= flag_retry;
  }

  // The current pause between full listings while a Running VM lacks an
  // address (0: none lacks one).
  std::chrono::milliseconds backoff() const { return backoff_; }

 private:
  static constexpr time_point never = time_point::min();

  time_point last_full_ = never;        // end of the last full listing
  time_point last_listing_ = never;     // end of the last listing, any kind
  time_point last_unit_start_ = never;  // start of the last unit
  time_point rejected_at_ = never;
  bool old_cli_ = false;
  std::chrono::milliseconds backoff_{0};
};

}  // namespace multipass::detail
