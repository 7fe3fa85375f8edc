// The timing rules of the two kinds of listing (see listing_schedule.h).
#include "listing_schedule.h"

#include <algorithm>

namespace multipass::detail {

using std::chrono::milliseconds;

constexpr milliseconds listing_schedule::fallback_floor;
constexpr std::chrono::hours listing_schedule::flag_retry;
constexpr milliseconds listing_schedule::min_period;

listing_schedule::plan listing_schedule::next(const schedule_intervals& iv,
                                              bool demand) const {
  if (last_full_ == never) return {time_point::min(), listing_kind::full};
  const milliseconds refresh = std::max(iv.refresh, min_period);
  milliseconds full_period = refresh;
  if (iv.probe.count() > 0) {
    if (old_cli_) {
      full_period = std::min(refresh, std::max(iv.probe, fallback_floor));
    } else if (backoff_.count() > 0) {
      full_period = std::min(refresh, std::max(backoff_, min_period));
    }
  }
  const time_point full_due = last_full_ + full_period;
  time_point due = full_due;
  if (probing(iv)) {
    due = std::min(due, last_listing_ + std::max(iv.probe, min_period));
  }
  if (demand) {
    const time_point allowed = last_unit_start_ == never
                                   ? time_point::min()
                                   : last_unit_start_ + iv.demand_interval;
    due = std::min(due, allowed);
  }
  const bool full = !probing(iv) || full_due <= due;
  return {due, full ? listing_kind::full : listing_kind::cheap};
}

void listing_schedule::full_done(time_point now, bool ok, bool unaddressed,
                                 const schedule_intervals& iv) {
  last_full_ = now;
  last_listing_ = now;
  if (!ok) return;  // keep the pace until a listing says otherwise
  if (!unaddressed || iv.probe.count() <= 0) {
    backoff_ = milliseconds(0);
  } else if (backoff_.count() == 0) {
    backoff_ = iv.probe;
  } else {
    backoff_ = std::min(backoff_ * 2, iv.refresh);
  }
}

}  // namespace multipass::detail
