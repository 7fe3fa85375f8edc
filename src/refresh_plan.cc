// The refresh plan (see refresh_plan.h).
#include "refresh_plan.h"

#include <algorithm>
#include <utility>

namespace multipass::detail {

using std::chrono::milliseconds;

constexpr milliseconds refresh_plan::fallback_floor;
constexpr std::chrono::hours refresh_plan::flag_retry;
constexpr milliseconds refresh_plan::min_period;
constexpr std::chrono::seconds refresh_plan::address_window;
constexpr refresh_plan::time_point refresh_plan::never;

milliseconds refresh_plan::new_for(const plan_intervals& iv) {
  return std::min<milliseconds>(std::max(iv.refresh, min_period),
                                address_window);
}

milliseconds refresh_plan::full_backoff() const {
  if (full_failures_ == 0 || !probing()) return milliseconds(0);
  const milliseconds refresh = std::max(iv_.refresh, min_period);
  milliseconds pause = std::max(iv_.probe, min_period);
  for (unsigned i = 1; i < full_failures_ && pause < refresh; ++i) pause *= 2;
  return std::min(pause, refresh);
}

milliseconds refresh_plan::address_period() const {
  if (unaddressed_since_ == never || iv_.probe.count() <= 0 ||
      last_full_ == never)
    return milliseconds(0);
  const milliseconds refresh = std::max(iv_.refresh, min_period);
  const milliseconds probe = std::max(iv_.probe, min_period);
  const auto age =
      std::chrono::duration_cast<milliseconds>(last_full_ - unaddressed_since_);
  if (age < new_for(iv_)) return std::min(probe, refresh);
  // Past the window: look again after half its age, so that the looks
  // thin out with time, never further apart than refresh.
  return std::min(refresh, std::max(probe, age / 2));
}

refresh_plan::time_point refresh_plan::full_due() const {
  const milliseconds refresh = std::max(iv_.refresh, min_period);
  milliseconds period = refresh;
  if (iv_.probe.count() > 0) {
    if (old_cli_) {
      period = std::min(refresh, std::max(iv_.probe, fallback_floor));
    } else if (full_failures_ > 0) {
      period = full_backoff();
    } else if (unaddressed_since_ != never) {
      period = address_period();
    }
  }
  return last_full_ + period;
}

refresh_plan::time_point refresh_plan::due() const {
  if (last_full_ == never) return time_point::min();
  time_point due = full_due();
  if (probing()) {
    due = std::min(due, last_listing_ + std::max(iv_.probe, min_period));
  }
  if (demand_ != demand_kind::none) {
    const time_point allowed = last_unit_start_ == never
                                   ? time_point::min()
                                   : last_unit_start_ + iv_.demand_interval;
    due = std::min(due, allowed);
  }
  return due;
}

listing_kind refresh_plan::kind_at(time_point now) const {
  if (last_full_ == never || !probing() || full_due() <= now)
    return listing_kind::full;
  // An address comes only with a full listing; while they fail, at most
  // one a probe after the last.
  if (demand_ == demand_kind::address &&
      (full_failures_ == 0 || now >= last_full_ + iv_.probe))
    return listing_kind::full;
  return listing_kind::cheap;
}

bool refresh_plan::ask(std::string_view address_of, time_point now) {
  demand_kind want = demand_kind::look;
  if (!address_of.empty()) {
    // An address comes only with a full listing: worth one while the VM is
    // new to lacking one, not for one that has lacked an address for long.
    auto it = unaddressed_.find(std::string(address_of));
    if (it != unaddressed_.end() && now - it->second < new_for(iv_))
      want = demand_kind::address;
  }
  if (static_cast<int>(want) <= static_cast<int>(demand_)) return false;
  demand_ = want;
  return true;
}

refresh_plan::unit refresh_plan::start(listing_kind first, time_point now) {
  unit u{first, demand_ != demand_kind::none};
  demand_ = demand_kind::none;  // this unit starts after every question
  last_unit_start_ = now;
  return u;
}

refresh_plan::unit refresh_plan::begin(time_point now) {
  const listing_kind kind = kind_at(now);
  // An old CLI is asked for the flag again after an hour or an upgrade.
  if (kind == listing_kind::full && old_cli_ && iv_.probe.count() > 0 &&
      (binary_changed_ || now - rejected_at_ >= flag_retry)) {
    binary_changed_ = false;
    unit u = start(listing_kind::cheap, now);
    u.asks_flag = true;
    return u;
  }
  return start(kind, now);
}

refresh_plan::unit refresh_plan::begin_full(time_point now) {
  return start(listing_kind::full, now);
}

void refresh_plan::ended(listing_kind kind, time_point now) {
  last_listing_ = now;
  if (kind == listing_kind::full) last_full_ = now;
}

bool refresh_plan::full_may_follow(bool for_news) const {
  if (full_failures_ == 0) return true;
  // Backing off: the background brings the next full listing when the
  // backoff has passed; a question for what is not served yet, a probe
  // after the last one.
  return for_news && last_listing_ >= last_full_ + iv_.probe;
}

refresh_plan::after_cheap refresh_plan::cheap_read(const unit& u,
                                                   cheap_outcome outcome,
                                                   bool differs_from_full,
                                                   bool differs_from_served) {
  after_cheap after;
  switch (outcome) {
    case cheap_outcome::failed:
      // The daemon itself fails: no full listing is to blame.
      cheap_listed_ = false;
      full_failures_ = 0;
      trouble_ = true;
      return after;
    case cheap_outcome::rejected:
      // Full listings from now on; this unit's look is a full listing.
      cheap_listed_ = false;
      old_cli_ = true;
      rejected_at_ = last_listing_;
      binary_changed_ = false;
      after.full = true;
      return after;
    case cheap_outcome::listed:
      break;
  }
  cheap_listed_ = true;
  old_cli_ = false;
  after.apply = loaded_ && differs_from_served;
  if (!loaded_ || trouble_ || differs_from_full)
    after.full = full_may_follow(u.demanded && differs_from_served);
  return after;
}

void refresh_plan::full_read(bool ok) {
  if (ok) {
    loaded_ = true;
    trouble_ = false;
    full_failures_ = 0;
    return;
  }
  trouble_ = true;
  if (full_failures_ < 64) ++full_failures_;
}

void refresh_plan::served(const std::vector<std::string>& unaddressed,
                          time_point now) {
  std::unordered_map<std::string, time_point> next;
  time_point youngest = never;
  for (const std::string& key : unaddressed) {
    auto before = unaddressed_.find(key);
    const time_point at = before == unaddressed_.end() ? now : before->second;
    next.emplace(key, at);
    youngest = std::max(youngest, at);
  }
  unaddressed_ = std::move(next);
  unaddressed_since_ = youngest;
}

}  // namespace multipass::detail
