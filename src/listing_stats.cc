// The source's statistics (see listing_stats.h).
#include "listing_stats.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace multipass::detail {
namespace {

double seconds_between(listing_stats::clock::time_point from,
                       listing_stats::clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// How long ago `since` was, in seconds; 0 for never.
double seconds_since(listing_stats::clock::time_point since,
                     listing_stats::clock::time_point now) {
  return since == refresh_plan::never ? 0.0 : seconds_between(since, now);
}

// Counts one listing of a kind: its result and its duration's bucket.
void count(multipass_listing_stats_t& kind, bool ok, double seconds) {
  ++(ok ? kind.ok : kind.failed);
  kind.seconds_sum += seconds;
  int bucket = 0;
  double bound = 0.01;
  while (bucket < MULTIPASS_DURATION_BUCKETS - 1 && seconds > bound) {
    ++bucket;
    bound *= 2;
  }
  ++kind.buckets[bucket];
}

// Keeps the start of a run of failures.
void note(listing_stats::clock::time_point* failing_since, bool ok,
          listing_stats::clock::time_point end) {
  if (ok) {
    *failing_since = refresh_plan::never;
  } else if (*failing_since == refresh_plan::never) {
    *failing_since = end;
  }
}

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

listing_stats::listing_stats(uint32_t serial) {
  counters_.struct_size = sizeof counters_;
  counters_.serial = serial;
}

void listing_stats::cli_started() {
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.cli_runs;
}

void listing_stats::listed(listing_kind kind, bool ok, clock::time_point begin,
                           clock::time_point end) {
  const double seconds = seconds_between(begin, end);
  std::lock_guard<std::mutex> lock(mu_);
  if (kind == listing_kind::cheap) {
    count(counters_.probe, ok, seconds);
    note(&probe_failing_since_, ok, end);
    return;
  }
  count(counters_.full, ok, seconds);
  note(&full_failing_since_, ok, end);
  ++(ok ? counters_.refreshes_ok : counters_.refreshes_failed);
  if (ok) counters_.last_success_unix_ms = unix_ms();
  counters_.last_refresh_seconds = seconds;
}

void listing_stats::served(const inventory& inv) {
  uint32_t instances[MULTIPASS_STATE_COUNT] = {};
  for (const vm& machine : inv.vms)
    ++instances[static_cast<int>(machine.state)];
  std::lock_guard<std::mutex> lock(mu_);
  counters_.serial = inv.serial;
  std::copy(std::begin(instances), std::end(instances),
            std::begin(counters_.instances));
}

void listing_stats::copy(multipass_source_stats_t* out,
                         uint32_t full_backoff_ms,
                         clock::time_point now) const {
  multipass_source_stats_t copy;
  {
    std::lock_guard<std::mutex> lock(mu_);
    copy = counters_;
    copy.full_failing_seconds = seconds_since(full_failing_since_, now);
    copy.probe_failing_seconds = seconds_since(probe_failing_since_, now);
  }
  copy.full_backoff_ms = full_backoff_ms;
  const size_t size = out->struct_size == 0
                          ? sizeof copy
                          : std::min(out->struct_size, sizeof copy);
  copy.struct_size = out->struct_size == 0 ? sizeof copy : out->struct_size;
  std::memcpy(out, &copy, size);
}

}  // namespace multipass::detail
