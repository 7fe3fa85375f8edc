// What the source lists next and when: the pure timing rules of the two
// kinds of listing, kept apart from processes and locks so that tests can
// drive them with made-up times.
//
// A unit of work starts with a cheap listing (`list --format=json
// --no-ipv4`: names and states) or a full listing (`list --format=json`:
// addresses too). A cheap listing whose (name, state) set differs from the
// last full listing's is followed, in the same unit, by a full listing when
// full_may_follow says so; the source does that, not this class. The rules:
//  - the first unit is a full listing, at once;
//  - probe > 0 and the CLI takes --no-ipv4: a cheap listing every probe
//    after the last listing of either kind, a full listing at least every
//    refresh; while a Running VM lacks a usable address, full listings
//    every probe for as long as the youngest such VM is new to that state
//    (new_for: refresh, at most address_window), then after half its age,
//    up to refresh: a VM that never gets an address delays no other;
//  - while full listings fail and cheap listings work: full listings every
//    probe, doubling up to refresh; a cheap listing that shows what the
//    inventory lacks brings one forward only for a demand, and only a probe
//    after the last (so at most one per probe interval whatever the query
//    load); a demand for an address likewise. A failing cheap
//    listing ends that backoff (the daemon itself is in trouble: the next
//    cheap listing that works is followed by a full one at once);
//  - probe > 0 but the CLI rejected --no-ipv4 (an old CLI): full listings
//    every probe, never more often than every fallback_floor;
//  - probe 0: full listings every refresh (the behaviour before cheap
//    listings existed);
//  - a demand (a question that waits for a look) starts a unit at once, at
//    most one unit start per demand_interval; the unit is the kind the mode
//    starts with (a full listing if one is due anyway), or a full listing
//    for a demand for an address (a question for a VM that lacks one) when
//    full listings are not backing off, or the last one is a probe old.
#pragma once

#include <chrono>

namespace multipass::detail {

enum class listing_kind { cheap, full };

// What a question that waits asks for.
enum class demand_kind {
  none,
  look,     // a look at names and states (a name the inventory lacks, a VM
            // that is not running)
  address,  // an address (a Running VM that lacks one, new to that state)
};

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
  // A Running VM without an address is looked at every probe while it is
  // new to that state: for refresh, at most this long.
  static constexpr std::chrono::seconds address_window{60};
  static std::chrono::milliseconds new_for(const schedule_intervals& iv);
  // The value of a time that never was.
  static constexpr time_point never = time_point::min();

  struct plan {
    time_point at;      // when the next unit is due (may be in the past)
    listing_kind kind;  // what it starts with
  };

  // The next unit, given the intervals in force and the demand that waits.
  plan next(const schedule_intervals& iv, demand_kind demand) const;

  // Whether the mode runs cheap listings.
  bool probing(const schedule_intervals& iv) const {
    return iv.probe.count() > 0 && !old_cli_;
  }
  // Whether a full listing may follow, at `now`, a cheap listing that
  // showed a change; `demanded`: the unit serves a demand and the cheap
  // listing shows what the inventory lacks.
  bool full_may_follow(time_point now, bool demanded,
                       const schedule_intervals& iv) const;

  // The next unit is a full listing, at once (a refresher starting).
  void full_now() { last_full_ = never; }
  // A unit started at `now` (for the demand rate limit).
  void unit_started(time_point now) { last_unit_start_ = now; }
  // A cheap listing ended at `now`; `ok`: it listed.
  void cheap_done(time_point now, bool ok);
  // A full listing ended at `now`. `unaddressed_since` (meaningful when
  // ok): since when the youngest Running VM without a usable address has
  // been so, or `never` when every Running VM has one.
  void full_done(time_point now, bool ok, time_point unaddressed_since);

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

  // Full listings that failed in a row while cheap listings worked (or
  // before a cheap one ran).
  unsigned full_failures() const { return full_failures_; }
  // The pause after the last failed full listing before the next one
  // (probe, doubling, up to refresh); 0 when none is backing off.
  std::chrono::milliseconds full_backoff(const schedule_intervals& iv) const;
  // The pause between full listings that a Running VM without an address
  // asks for (0 when every Running VM has one).
  std::chrono::milliseconds address_period(
      const schedule_intervals& iv) const;

 private:
  time_point last_full_ = never;        // end of the last full listing
  time_point last_listing_ = never;     // end of the last listing, any kind
  time_point last_unit_start_ = never;  // start of the last unit
  time_point rejected_at_ = never;
  time_point unaddressed_since_ = never;
  bool old_cli_ = false;
  unsigned full_failures_ = 0;
};

}  // namespace multipass::detail
