// A source of inventories: runs the listings its refresh plan asks for,
// publishes snapshots, lets questions wait for a look, and owns the log
// queue.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "inventory.h"
#include "log_queue.h"
#include "multipass/multipass.h"
#include "serial_book.h"
#include "thread_cached.h"

namespace multipass {

class publish_observer;

struct source_options {
  // The defaults: those of multipass_source_options_init, the one place
  // they are written.
  source_options();
  // What a C caller gave (a struct of the current revision).
  explicit source_options(const multipass_source_options_t& c);

  std::string binary;
  std::string server_address;  // empty: inherit the environment
  // The cheap listing (`list --no-ipv4`) every probe; 0: none, full
  // listings every refresh and on misses.
  std::chrono::milliseconds probe;
  std::chrono::milliseconds refresh;  // longest time between full listings
  std::chrono::milliseconds timeout;
  std::chrono::milliseconds miss_wait;  // longest a question waits for a look
  std::chrono::milliseconds demand_interval;  // unit starts on demand
  uint64_t max_output_bytes;
  // For tests: runs right after each listing's end is recorded, before
  // what it printed is read. May throw (the unit then ends there).
  std::function<void()> listing_ended_hook;
};

// Thread-safe unless a method says otherwise.
class source {
 public:
  explicit source(source_options opts);
  ~source();  // stop()s
  source(const source&) = delete;
  source& operator=(const source&) = delete;

  // Starts the refresher thread (first unit at once). Idempotent.
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
  // True once a full listing has loaded (the plan's `loaded`, published
  // for readers that take no lock).
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // Units are numbered from 1 in the order they begin (and end). A
  // question waits for a *look*: the next unit that begins, which starts at
  // once (at most one unit start per demand_interval). A unit is a cheap
  // listing followed by a full one when it shows a change (a new instance,
  // for one), or a full listing; so a question for a name that is no
  // instance waits for one cheap listing. A full listing that follows a
  // cheap one takes the next number: the questions that came during the
  // cheap listing wait for it, not for a unit after it.
  //
  // Asks for a look for a question that waits its own way (the Go shim
  // parks goroutines; resolve waits with wait_refresh) and returns the
  // number of the unit to wait for, or 0 when none will come to wait for
  // (not started, stopped, or miss_wait 0; the look is still asked for when
  // running). `address_of`: the key of a Running VM the question wants the
  // address of; while that VM is new to lacking one, the look is a full
  // listing (see refresh_plan).
  uint64_t request_refresh(std::string_view address_of = {});
  // Blocks until unit `seq` has ended (with success or failure), the
  // source stops, or `timeout` passes; returns units_finished().
  uint64_t wait_refresh(uint64_t seq, std::chrono::milliseconds timeout) const;
  // Whether unit `seq` has ended. Takes no lock.
  bool finished(uint64_t seq) const { return units_finished() >= seq; }
  // The number of units ended so far. Takes no lock.
  uint64_t units_finished() const {
    return finished_seq_.load(std::memory_order_acquire);
  }
  // For a question answered at once for a known VM that serves no address
  // (Deleted; Stopped and the like asked again within the negative TTL, or
  // for a type other than A): asks for a look in the background (a cheap
  // listing, or a full one when the source runs no cheap listings), so that
  // a `multipass start` or a relaunch is seen soon. Never blocks on a
  // listing; takes the lock at most once per unit (a look already asked
  // for is enough); nothing when not running.
  void request_probe();
  // True once stop() has begun.
  bool stopped() const;

  // Changes probe, refresh and timeout (see source_options) from the next
  // unit on. Throws std::invalid_argument for values the options reject.
  void set_intervals(std::chrono::milliseconds probe,
                     std::chrono::milliseconds refresh,
                     std::chrono::milliseconds timeout);
  // A new descriptor that becomes readable when log lines are queued or a
  // unit ended, and reads end of file after stop() (see
  // multipass_source_event_fd); -1 when the pipe could not be made.
  int event_fd() const;

  // Runs one unit, a full listing, in the calling thread. Returns false
  // and sets *error when the listing could not be loaded (the old
  // inventory stays).
  bool refresh_now(std::string* error);

  // Has `observer` prepare for the current inventory now, and for every
  // later one before it is published (the resolvers' zone serials, off the
  // questions' threads). Kept while it lives.
  void observe(std::weak_ptr<const publish_observer> observer);
  // The zones' serials of every resolver over this source: shared by the
  // blocks and reloads that share the source.
  serial_book& serials() { return serials_; }

  void stats(multipass_source_stats_t* out) const;
  log_queue& logs() { return logs_; }
  const source_options& options() const { return opts_; }

 private:
  // Implementation-defined members (refresher thread, the plan, locks, the
  // published snapshot, statistics, the log).
  struct impl;
  source_options opts_;  // intervals: see impl, which set_intervals changes
  log_queue logs_;
  serial_book serials_;
  std::atomic<bool> ready_{false};
  std::atomic<uint64_t> finished_seq_{0};  // units ended (in begin order)
  std::unique_ptr<impl> impl_;
};

}  // namespace multipass
