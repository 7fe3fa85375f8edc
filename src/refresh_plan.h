// The refresh plan: every decision about what the source lists and when, as
// one state machine with no process, lock or clock of its own, so that tests
// drive it with made-up times. The source tells it what happened (a question
// wants a look, a listing ended, what it printed, what is now served) and
// does what it says (docs/architecture.md, "The refresh plan", draws it).
//
// Words: the refresher runs one *unit* (of work) at a time. A unit starts
// with a *cheap listing* (`list --format=json --no-ipv4`: names and states,
// no session into any guest) or a *full listing* (`list --format=json`:
// addresses too, one SSH session into every running guest); a cheap listing
// may be followed, in the same unit, by a full one.
//
// The rules:
//  - the first unit is a full listing, at once;
//  - probe > 0 and the CLI takes --no-ipv4 (probing): a cheap listing every
//    probe after the last listing of either kind, a full listing at least
//    every refresh; while a Running VM lacks a usable address, full listings
//    every probe for as long as the youngest such VM is new to that state
//    (new_for: refresh, at most address_window), then after half its age, up
//    to refresh: a VM that never gets an address delays no other;
//  - a cheap listing that differs from what is served is applied at once
//    (names and states, with the addresses that still apply): a VM that
//    leaves Running stops being served then, before any full listing. One
//    that differs from the last full listing, or one after trouble (a
//    listing failed since the last full listing that loaded, or none has),
//    is followed by a full listing, unless full listings back off;
//  - full listings fail while cheap listings work: full listings every
//    probe, doubling up to refresh; a cheap listing brings one forward only
//    for a unit that questions wait for, when it shows what is not served
//    yet, and only a probe after the last full listing (at most one a probe
//    interval whatever the query load); a demand for an address likewise. A
//    failing cheap listing ends that backoff (the daemon itself is in
//    trouble: the next cheap listing that works is followed by a full one);
//  - a CLI that rejects --no-ipv4 (an old CLI: a state, not a failure): full
//    listings every probe but at least fallback_floor apart (every refresh
//    when that is shorter), and one for each demand; the flag is asked for
//    again after flag_retry or when the binary changed;
//  - probe 0: full listings every refresh (no cheap listing);
//  - a question that waits (or a nudge) is a demand: the next unit starts at
//    once, at most one unit start per demand_interval; it starts with the
//    mode's kind (a full listing if one is due anyway), or a full listing
//    for a demand for an address (a Running VM new to lacking one) unless
//    full listings back off and the last one is less than a probe old.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace multipass::detail {

enum class listing_kind { cheap, full };

// What the questions waiting for the next unit ask for.
enum class demand_kind {
  none,
  look,     // names and states: a name the inventory lacks, a VM that is
            // not running, a nudge
  address,  // an address: a Running VM new to lacking one
};

struct plan_intervals {
  std::chrono::milliseconds probe{0};  // cheap listings; 0: none
  std::chrono::milliseconds refresh{600000};  // longest between full listings
  std::chrono::milliseconds demand_interval{1000};  // unit starts on demand
};

// What a cheap listing came to, as the source read it.
enum class cheap_outcome {
  listed,    // names and states
  failed,    // the CLI failed, or printed no listing
  rejected,  // "Unknown option 'no-ipv4'": a CLI older than the flag
};

class refresh_plan {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  // An old CLI's full listings come at most this often.
  static constexpr std::chrono::milliseconds fallback_floor{5000};
  // An old CLI is asked for --no-ipv4 again after this long.
  static constexpr std::chrono::hours flag_retry{1};
  // No period of the background plan is shorter.
  static constexpr std::chrono::milliseconds min_period{100};
  // A Running VM without an address is looked at every probe while it is
  // new to that state: for refresh, at most this long.
  static constexpr std::chrono::seconds address_window{60};
  // The value of a time that never was.
  static constexpr time_point never = time_point::min();

  // A unit, as decided when it began.
  struct unit {
    listing_kind first = listing_kind::full;  // the listing it starts with
    bool demanded = false;  // questions wait for it (or a nudge asked)
    bool asks_flag = false;  // its cheap listing asks an old CLI again
  };
  // What follows a cheap listing, in the same unit.
  struct after_cheap {
    bool apply = false;  // publish its names and states now
    bool full = false;   // then run a full listing
  };

  explicit refresh_plan(const plan_intervals& iv = {}) : iv_(iv) {}

  void set_intervals(const plan_intervals& iv) { iv_ = iv; }
  const plan_intervals& intervals() const { return iv_; }

  // --- questions
  // A question wants a look (a nudge too: `address_of` empty); for an
  // address question, `address_of` is the key of the Running VM it wants
  // the address of. True when the demand grew: the next unit may now be
  // due sooner (the refresher should decide again).
  bool ask(std::string_view address_of, time_point now);
  demand_kind demand() const { return demand_; }

  // --- the refresher
  // The next unit is a full listing, at once (a refresher starting).
  void start_now() { last_full_ = never; }
  // When the next unit is due (it may be in the past).
  time_point due() const;
  // Begins the next unit (call when due() <= now): consumes the demand and
  // picks its first listing, in one step.
  unit begin(time_point now);
  // Begins a unit that is one full listing, due or not (refresh_now).
  unit begin_full(time_point now);
  // A listing ended at `now`. Recorded before what it printed is read, so
  // that whatever happens next, the next unit comes at its time.
  void ended(listing_kind kind, time_point now);
  // A full listing follows the cheap one in the same unit: it serves every
  // look asked for meanwhile (their demand is consumed), so the source
  // numbers it as a unit of its own, which those questions wait for.
  void full_follows() { demand_ = demand_kind::none; }
  // What the cheap listing of unit `u` came to, and what follows it.
  // `differs_from_full`: its (name, state) set differs from the last full
  // listing that loaded; `differs_from_served`: from what is published
  // (that full listing, or a cheap listing applied since). Both matter only
  // for `listed`.
  after_cheap cheap_read(const unit& u, cheap_outcome outcome,
                         bool differs_from_full, bool differs_from_served);
  // What the full listing came to: it loaded, or not.
  void full_read(bool ok);
  // An inventory was published: `unaddressed` holds the keys of its
  // Running VMs without an address (since `now` for those not already so).
  void served(const std::vector<std::string>& unaddressed, time_point now);
  // An old CLI's binary has changed (an upgrade): the next unit asks for
  // --no-ipv4 again.
  void binary_changed() { binary_changed_ = old_cli_; }

  // --- state
  // A full listing has loaded (ever).
  bool loaded() const { return loaded_; }
  // The mode runs cheap listings.
  bool probing() const { return iv_.probe.count() > 0 && !old_cli_; }
  bool old_cli() const { return old_cli_; }
  // Probing, and the last cheap listing listed: names and states are
  // current even while full listings fail.
  bool cheap_works() const { return probing() && cheap_listed_; }
  // Full listings that failed in a row since the last one that loaded
  // (reset by a failing cheap listing).
  unsigned full_failures() const { return full_failures_; }
  // The pause after the last failed full listing before the next one
  // (probe, doubling, up to refresh) while probing; 0 otherwise.
  std::chrono::milliseconds full_backoff() const;
  // The pause between full listings that a Running VM without an address
  // asks for (0 when every Running VM has one).
  std::chrono::milliseconds address_period() const;
  // How long a Running VM counts as new to lacking an address.
  static std::chrono::milliseconds new_for(const plan_intervals& iv);

 private:
  // When a full listing is due.
  time_point full_due() const;
  // The first listing of a unit that begins at `now`.
  listing_kind kind_at(time_point now) const;
  unit start(listing_kind first, time_point now);
  bool full_may_follow(bool for_news) const;

  plan_intervals iv_;
  demand_kind demand_ = demand_kind::none;
  time_point last_full_ = never;        // end of the last full listing
  time_point last_listing_ = never;     // end of the last listing, any kind
  time_point last_unit_start_ = never;  // start of the last unit
  bool loaded_ = false;                 // a full listing has loaded
  // A listing failed since the last full listing that loaded.
  bool trouble_ = false;
  bool cheap_listed_ = false;  // the last cheap listing listed
  unsigned full_failures_ = 0;
  // The old-CLI state: since when, and whether the binary changed since.
  bool old_cli_ = false;
  time_point rejected_at_ = never;
  bool binary_changed_ = false;
  // Running VMs without an address in what is served, by key: since when.
  std::unordered_map<std::string, time_point> unaddressed_;
  time_point unaddressed_since_ = never;  // the youngest of them; never: none
};

}  // namespace multipass::detail
