// The timing rules of the two kinds of listing (see listing_schedule.h).
#include "listing_schedule.h"

#include <algorithm>

namespace multipass::detail {

using std::chrono::milliseconds;

constexpr milliseconds listing_schedule::fallback_floor;
constexpr std::chrono::hours listing_schedule::flag_retry;
constexpr milliseconds listing_schedule::min_period;
constexpr std::chrono::seconds listing_schedule::address_window;
constexpr listing_schedule::time_point listing_schedule::never;

milliseconds listing_schedule::full_backoff(
    const schedule_intervals& iv) const {
  if (full_failures_ == 0 || !probing(iv)) return milliseconds(0);
  const milliseconds refresh = std::max(iv.refresh, min_period);
  milliseconds pause = std::max(iv.probe, min_period);
  for (unsigned i = 1; i < full_failures_ && pause < refresh; ++i) pause *= 2;
  return std::min(pause, refresh);
}

milliseconds listing_schedule::new_for(const schedule_intervals& iv) {
  return std::min<milliseconds>(std::max(iv.refresh, min_period),
                                address_window);
}

milliseconds listing_schedule::address_period(
    const schedule_intervals& iv) const {
  if (unaddressed_since_ == never || iv.probe.count() <= 0 ||
      last_full_ == never)
    return milliseconds(0);
  const milliseconds refresh = std::max(iv.refresh, min_period);
  const milliseconds probe = std::max(iv.probe, min_period);
  const auto age =
      std::chrono::duration_cast<milliseconds>(last_full_ - unaddressed_since_);
  if (age < new_for(iv)) return std::min(probe, refresh);
  // Past the window: look again after half its age, so that the looks
  // thin out with time, never further apart than refresh.
  return std::min(refresh, std::max(probe, age / 2));
}

listing_schedule::plan listing_schedule::next(const schedule_intervals& iv,
                                              demand_kind demand) const {
  if (last_full_ == never) return {time_point::min(), listing_kind::full};
  const milliseconds refresh = std::max(iv.refresh, min_period);
  milliseconds full_period = refresh;
  if (iv.probe.count() > 0) {
    if (old_cli_) {
      full_period = std::min(refresh, std::max(iv.probe, fallback_floor));
    } else if (full_failures_ > 0) {
      full_period = full_backoff(iv);
    } else if (unaddressed_since_ != never) {
      full_period = address_period(iv);
    }
  }
  const time_point full_due = last_full_ + full_period;
  time_point due = full_due;
  if (probing(iv)) {
    due = std::min(due, last_listing_ + std::max(iv.probe, min_period));
  }
  if (demand != demand_kind::none) {
    const time_point allowed = last_unit_start_ == never
                                   ? time_point::min()
                                   : last_unit_start_ + iv.demand_interval;
    due = std::min(due, allowed);
  }
  bool full = !probing(iv) || full_due <= due;
  if (demand == demand_kind::address && !full) {
    // An address comes only with a full listing; while they fail, at most
    // one a probe after the last.
    full = full_failures_ == 0 || due >= last_full_ + iv.probe;
  }
  return {due, full ? listing_kind::full : listing_kind::cheap};
}

bool listing_schedule::full_may_follow(time_point now, bool demanded,
                                       const schedule_intervals& iv) const {
  if (full_failures_ == 0) return true;
  // Backing off: the background brings the next full listing when the
  // backoff has passed; a demand, a probe after the last one.
  return demanded && now >= last_full_ + iv.probe;
}

void listing_schedule::cheap_done(time_point now, bool ok) {
  last_listing_ = now;
  // The daemon itself fails: no full listing is to blame.
  if (!ok) full_failures_ = 0;
}

void listing_schedule::full_done(time_point now, bool ok,
                                 time_point unaddressed_since) {
  last_full_ = now;
  last_listing_ = now;
  if (!ok) {
    if (full_failures_ < 64) ++full_failures_;
    return;  // keep what the last listing that worked said of addresses
  }
  full_failures_ = 0;
  unaddressed_since_ = unaddressed_since;
}

}  // namespace multipass::detail
