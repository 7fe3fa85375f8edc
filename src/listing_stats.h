// The source's statistics (multipass_source_stats_t): CLI runs, each kind of
// listing by result and duration, how long each kind has been failing, and
// the inventory served. Thread-safe: one mutex, held only to copy numbers.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "inventory.h"
#include "multipass/multipass.h"
#include "refresh_plan.h"

namespace multipass::detail {

class listing_stats {
 public:
  using clock = std::chrono::steady_clock;

  // `serial`: that of the empty inventory served before the first load.
  explicit listing_stats(uint32_t serial);
  listing_stats(const listing_stats&) = delete;
  listing_stats& operator=(const listing_stats&) = delete;

  // A CLI process was started.
  void cli_started();
  // A listing of `kind` ran from `begin` to `end`; `ok`: it listed. (A
  // cheap listing that an old CLI rejected is no listing: not counted.)
  void listed(listing_kind kind, bool ok, clock::time_point begin,
              clock::time_point end);
  // The inventory now served: its serial and VMs by state.
  void served(const inventory& inv);
  // Copies the counters into *out as far as out->struct_size reaches (0:
  // the whole struct), with `full_backoff_ms` (the plan's) and the failing
  // durations at `now`.
  void copy(multipass_source_stats_t* out, uint32_t full_backoff_ms,
            clock::time_point now) const;

 private:
  mutable std::mutex mu_;
  multipass_source_stats_t counters_{};
  // The end of the first failure of the current run of failures, by kind;
  // never while the last listing of the kind worked.
  clock::time_point full_failing_since_ = refresh_plan::never;
  clock::time_point probe_failing_since_ = refresh_plan::never;
};

}  // namespace multipass::detail
