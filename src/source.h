// A source of inventories: runs the CLI, publishes snapshots, refreshes them
// in the background and on demand, and owns the log queue.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "inventory.h"
#include "log_queue.h"
#include "multipass/multipass.h"
#include "thread_cached.h"

namespace spdlog {
class logger;
}

namespace multipass {

struct source_options {
  std::string binary = "multipass";
  std::string server_address;  // empty: inherit the environment
  // The cheap listing (`list --no-ipv4`) every probe; 0: none, full
  // listings every refresh and on misses.
  std::chrono::milliseconds probe{0};
  std::chrono::milliseconds refresh{5000};  // longest time between full listings
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds miss_wait{2000};
  std::chrono::milliseconds demand_interval{1000};
  uint64_t max_output_bytes = 16u << 20;
  // At most this many threads wait in refresh_for_miss at once; more misses
  // return at once (they still ask for the refresh).
  size_t max_miss_waiters = 16;
};

// Thread-safe unless a method says otherwise.
class source {
 public:
  explicit source(source_options opts);
  ~source();  // stop()s
  source(const source&) = delete;
  source& operator=(const source&) = delete;

  // Starts the refresher thread (first refresh at once). Idempotent.
  // Not concurrent with stop().
  void start();
  // Stops the refresher: kills an in-flight CLI, joins, wakes waiters,
  // closes the log queue. Idempotent. Not concurrent with start().
  void stop();

  // The current inventory (never null: empty before the first load), as a
  // counted reference for a caller that keeps it: takes a mutex that the
  // refresher holds only to swap a pointer.
  snapshot current() const;
  // The current inventory for the span of one question: touches only the
  // calling thread's own memory, no lock or counter shared with other
  // questions (see thread_cached.h); the refresher never waits for it.
  thread_cached<inventory>::read_guard read() const;
  // True once a listing has loaded.
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // A "refresh" below is one unit of work: a full listing, or a cheap
  // listing followed by a full listing when the cheap one shows a change
  // (an instance the last full listing lacked, for one). So a miss for a
  // name that is no instance ends after the cheap listing alone.
  //
  // For a name the snapshot `seen` lacked, or a VM it holds that serves no
  // address yet: asks for a refresh that starts no earlier than now
  // (rate-limited to one start per demand_interval), waits up to miss_wait
  // for it, and returns the newest snapshot. Returns at once (with
  // current()) when miss_wait is 0, the source is stopped, or
  // max_miss_waiters threads already wait. `address_of`: the key of a
  // Running VM the question wants the address of; while that VM is new to
  // lacking one (listing_schedule::new_for) the refresh is a full
  // listing (at most one a probe interval while full listings fail).
  snapshot refresh_for_miss(const snapshot& seen,
                            std::string_view address_of = {});

  // The two halves of refresh_for_miss, for an embedder that waits its own
  // way (the Go shim parks goroutines instead of OS threads):
  // request_refresh asks for a refresh that starts no earlier than now and
  // returns its sequence number, or 0 when there is nothing to wait for
  // (not started, stopped, or miss_wait 0; the refresh is still asked for
  // when started). wait_refresh blocks until refresh `seq` has finished
  // (with success or failure), the source stops, or `timeout` passes, and
  // returns the number of refreshes finished so far.
  uint64_t request_refresh(std::string_view address_of = {});
  uint64_t wait_refresh(uint64_t seq, std::chrono::milliseconds timeout) const;
  // For a question answered at once for a known VM that serves no address
  // (Deleted; Stopped and the like asked again within the negative TTL, or
  // for a type other than A): asks for a listing in the background, so that
  // a `multipass start` or a relaunch is seen soon: a cheap one (a full one
  // follows when it shows a change), or a full one when the source runs no
  // cheap listings (probe 0, an old CLI), as a miss would. Never blocks on
  // a listing; at most one per demand_interval; nothing when not running.
  void request_probe();
  // True once stop() has begun.
  bool stopped() const;

  // Changes probe, refresh and timeout (see source_options) from the next
  // listing on. Throws std::invalid_argument for values the options reject.
  void set_intervals(std::chrono::milliseconds probe,
                     std::chrono::milliseconds refresh,
                     std::chrono::milliseconds timeout);
  // A new descriptor that becomes readable when log lines are queued or a
  // refresh finished, and reads end of file after stop() (see
  // multipass_source_event_fd); -1 when the pipe could not be made.
  int event_fd() const;

  // Runs one refresh in the calling thread. Returns false and sets *error
  // when the listing could not be loaded (the old inventory stays).
  bool refresh_now(std::string* error);

  void stats(multipass_source_stats_t* out) const;
  log_queue& logs() { return logs_; }
  const source_options& options() const { return opts_; }

 private:
  // Implementation-defined members (refresher thread, cv, mutex, counters,
  // the published snapshot, the spdlog logger writing into logs_).
  struct impl;
  source_options opts_;  // intervals: see impl, which set_intervals changes
  log_queue logs_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<impl> impl_;
};

}  // namespace multipass
