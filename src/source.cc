// The source: runs the CLI (one run at a time), publishes immutable
// snapshots, refreshes in a background thread and on demand, and logs into
// its bounded queue through a private spdlog logger.
#include "source.h"

#include <pthread.h>
#include <signal.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "listing_merge.h"
#include "listing_parser.h"
#include "listing_schedule.h"
#include "process_runner.h"
#include "wakeup_pipe.h"

namespace multipass {
namespace detail {
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Hands the heap's free pages back to the system after a unit of work.
// Parsing a listing builds a JSON document several times the size of the
// inventory it yields, and glibc's malloc keeps those pages resident once
// freed: about 4 MiB more for 10,000 VMs, for good. Elsewhere (macOS) the
// allocator gives large blocks back by itself.
void return_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

// A failure of a kind already logged (at ERROR, or at WARNING for a full
// listing failing while cheap ones work) less than this long ago (a CLI that
// flaps between working and failing) is logged at DEBUG, and so is its
// recovery: at most one such line per kind per quiet period.
constexpr std::chrono::minutes repeat_quiet{5};
constexpr size_t reported_kinds_max = 16;  // kinds remembered for that

// Pushes the bare message (no time, no level prefix) into the log queue and
// wakes the embedder.
class queue_sink final
    : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  queue_sink(log_queue& queue, wakeup_pipe& wake)
      : queue_(queue), wake_(wake) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    queue_.push(level_of(msg.level),
                std::string(msg.payload.data(), msg.payload.size()));
    wake_.notify();
  }
  void flush_() override {}

 private:
  static int level_of(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        return MULTIPASS_LOG_DEBUG;
      case spdlog::level::info:
        return MULTIPASS_LOG_INFO;
      case spdlog::level::warn:
        return MULTIPASS_LOG_WARNING;
      default:
        return MULTIPASS_LOG_ERROR;
    }
  }

  log_queue& queue_;
  wakeup_pipe& wake_;
};

int64_t unix_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint32_t unix_seconds() { return static_cast<uint32_t>(unix_ms() / 1000); }

double seconds_between(clock::time_point from, clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Counts one listing of a kind: its result and its duration's bucket.
void count_listing(multipass_listing_stats_t& kind, bool ok, double seconds) {
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

// Throws for intervals a source cannot run with.
void check_intervals(milliseconds probe, milliseconds refresh,
                     milliseconds timeout) {
  if (refresh.count() <= 0)
    throw std::invalid_argument("refresh_ms must be positive");
  if (timeout.count() <= 0)
    throw std::invalid_argument("timeout_ms must be positive");
  if (probe.count() < 0 || (probe.count() > 0 && probe >= refresh))
    throw std::invalid_argument("probe_ms must be 0 or shorter than refresh_ms");
}

// Same names, states and addresses in the same order.
bool same_content(const inventory& a, const inventory& b) {
  if (a.vms.size() != b.vms.size()) return false;
  for (size_t i = 0; i < a.vms.size(); ++i) {
    const vm& x = a.vms[i];
    const vm& y = b.vms[i];
    if (x.state != y.state || x.name != y.name || x.ipv4 != y.ipv4)
      return false;
  }
  return true;
}

// What a failed run looks like to a person.
std::string describe_failure(const run_result& run, const char* command) {
  std::string text = std::string(command) + " failed";
  if (run.status == run_status::exited) {
    text += " (exit " + std::to_string(run.exit_code) + ")";
    if (!run.err_line.empty()) text += ": " + run.err_line;
    return text;
  }
  text += ": " + run.reason;
  if (!run.err_line.empty()) text += " (stderr: " + run.err_line + ")";
  return text;
}

// Failures of one kind are logged at ERROR once, then at DEBUG.
std::string failure_kind(const run_result& run) {
  std::string kind = std::to_string(static_cast<int>(run.status));
  if (run.status == run_status::exited)
    kind += " " + std::to_string(run.exit_code) + " " + run.err_line;
  if (run.status == run_status::killed)
    kind += " " + std::to_string(run.signal);
  return kind;
}

// Parses what `command` printed into *parsed. False, with the failure's kind
// and text for report_failure, when it failed or printed no listing.
bool read_listing(const run_result& run, const char* command,
                  parsed_listing* parsed, std::string* kind,
                  std::string* text) {
  if (!run.ok()) {
    *kind = failure_kind(run);
    *text = describe_failure(run, command);
    return false;
  }
  *parsed = parse_listing(run.out.view());
  if (parsed->error.empty()) return true;
  *kind = "unusable output";  // parse errors differ only in their position
  *text = std::string(command) + " printed unusable output: " + parsed->error;
  return false;
}

// Blocks the asynchronous signals in the calling thread while alive, so that
// threads created meanwhile start with them blocked and a Go host keeps
// receiving them on its own threads.
class async_signals_blocked {
 public:
  async_signals_blocked() {
    sigset_t set;
    sigfillset(&set);
    for (int sync : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT})
      sigdelset(&set, sync);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~async_signals_blocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  async_signals_blocked(const async_signals_blocked&) = delete;
  async_signals_blocked& operator=(const async_signals_blocked&) = delete;

 private:
  sigset_t old_;
};

// The text an old CLI prints for the cheap listing's flag.
constexpr const char* no_ipv4_rejected = "Unknown option 'no-ipv4'";

bool rejects_no_ipv4(const run_result& run) {
  return run.status == run_status::exited && run.exit_code == 1 &&
         run.err_line.find(no_ipv4_rejected) != std::string::npos;
}

// Running VMs without a usable address (booting, "N/A"), by key, with
// since when each has been so.
using unaddressed_vms = std::unordered_map<std::string, clock::time_point>;

// The Running VMs of `inv` without an address: those already in `since`
// keep their time, the others get `now`. Returns the youngest time, or
// listing_schedule::never when every Running VM has an address.
clock::time_point track_unaddressed(const inventory& inv, clock::time_point now,
                                    unaddressed_vms& since) {
  unaddressed_vms next;
  clock::time_point youngest = listing_schedule::never;
  for (const vm& machine : inv.vms) {
    if (!serves_addresses(machine.state) || !machine.ipv4.empty()) continue;
    auto before = since.find(machine.key);
    const clock::time_point at = before == since.end() ? now : before->second;
    next.emplace(machine.key, at);
    youngest = std::max(youngest, at);
  }
  since = std::move(next);
  return youngest;
}

// How long ago `since` was, in seconds; 0 for never.
double seconds_since(clock::time_point since, clock::time_point now) {
  return since == listing_schedule::never ? 0.0 : seconds_between(since, now);
}

}  // namespace
}  // namespace detail

struct source::impl {
  impl(const source_options& options, log_queue& logs,
       std::atomic<bool>& ready_flag)
      : opts(options),
        ready(ready_flag),
        log(std::make_shared<spdlog::logger>(
            "multipass", std::make_shared<detail::queue_sink>(logs, wake))),
        probe(options.probe),
        refresh_interval(options.refresh),
        timeout(options.timeout) {
    log->set_level(spdlog::level::debug);
    auto empty = std::make_shared<inventory>();
    empty->serial = detail::unix_seconds();
    counters.struct_size = sizeof counters;
    counters.serial = empty->serial;
    published.store(std::move(empty));
  }

  void loop();
  // One unit of work (requires run_mu): a full listing, or a cheap listing
  // followed by a full one when it saw a change (and the schedule lets it:
  // otherwise, or when the full one fails, the cheap listing is applied).
  // Numbered; misses wait for it by its number.
  bool run_unit(detail::listing_kind kind, std::string* error);
  // The listings themselves (require run_mu).
  enum class cheap_result { unchanged, changed, failed, rejected };
  cheap_result cheap_listing(parsed_listing* parsed);
  bool refresh(std::string* error);  // a full listing
  // Publishes the names and states of a cheap listing, with the addresses
  // that still apply (requires run_mu; nothing before the first load).
  void apply_cheap(parsed_listing parsed);
  // After a publish (requires run_mu): the counters of the inventory, and
  // the Running VMs without an address. Returns the youngest one's time.
  detail::clock::time_point note_inventory(detail::clock::time_point now);
  detail::schedule_intervals intervals() const {  // requires mu
    return {probe, refresh_interval, opts.demand_interval};
  }
  run_options make_run_options();
  // Publishes `fresh` when its content differs; true when it did.
  bool publish(std::unique_ptr<inventory> fresh);
  void report_success(const parsed_listing& parsed, const run_result& run,
                      bool changed);
  // `cheap_keeps_up`: a full listing failed while cheap listings work.
  void report_failure(const std::string& kind, const std::string& text,
                      bool cheap_keeps_up);

  const source_options& opts;  // intervals: the members below
  std::atomic<bool>& ready;
  wakeup_pipe wake;  // before log, whose sink notifies it
  std::shared_ptr<spdlog::logger> log;

  // The inventory: read() by questions, load() by the rest.
  thread_cached<inventory> published;

  std::mutex run_mu;               // one CLI at a time; guards the report state
  std::atomic<bool> abort{false};  // raised by stop(): kills the CLI in flight

  // Scheduling, guarded by mu.
  std::mutex mu;
  std::condition_variable cv;
  detail::milliseconds probe, refresh_interval, timeout;  // set_intervals
  bool started = false;
  bool stopped = false;
  // What the questions waiting for a unit not yet started ask for.
  detail::demand_kind demand = detail::demand_kind::none;
  size_t miss_waiters = 0;    // threads waiting in refresh_for_miss
  uint64_t started_seq = 0;   // refreshes begun
  uint64_t finished_seq = 0;  // refreshes ended (they end in start order)
  detail::listing_schedule schedule;
  // Running VMs without an address, since when (for demands for one).
  detail::unaddressed_vms unaddressed;
  std::thread thread;
  // Rate limit of request_probe, in steady-clock milliseconds.
  std::atomic<int64_t> last_nudge_ms{0};

  mutable std::mutex counters_mu;
  multipass_source_stats_t counters{};
  // The end of the first failure of the current run of failures, by kind;
  // never while the last listing of the kind worked.
  detail::clock::time_point full_failing_since = detail::listing_schedule::never;
  detail::clock::time_point probe_failing_since =
      detail::listing_schedule::never;

  // Report state, guarded by run_mu.
  bool loaded = false;
  std::string failure;  // kind of the failure in progress; empty when fine
  detail::clock::time_point failing_since;
  bool announced = false;  // the failure in progress was logged at ERROR
  struct reported_kind {
    std::string kind;
    detail::clock::time_point at;  // last logged at ERROR
    uint64_t quiet = 0;            // failures of the kind since, at DEBUG
  };
  std::vector<reported_kind> reported;  // most recently reported last
  // The last loaded listing's warnings, all logged: a warning that comes
  // again in the next listing is not logged again.
  std::unordered_set<std::string> last_warnings;
  std::string last_stderr;

  // Cheap listing state, guarded by run_mu.
  bool full_listed = false;  // full_set holds a full listing's instances
  std::vector<listed_instance> full_set;  // of the last full listing loaded
  // Of the last cheap listing applied, when one was applied after it.
  bool cheap_applied = false;
  std::vector<listed_instance> applied_set;
  bool warned_old_cli = false;  // the WARNING about --no-ipv4 was logged
  bool cheap_ok = false;        // the last cheap listing worked
  std::string rejected_binary;  // program_identity when it was rejected
};

void source::impl::loop() {
  std::unique_lock<std::mutex> lock(mu);
  while (!stopped) {
    const auto plan = schedule.next(intervals(), demand);
    if (detail::clock::now() < plan.at) {
      cv.wait_until(lock, plan.at);
      continue;
    }
    lock.unlock();
    try {
      std::lock_guard<std::mutex> run(run_mu);
      run_unit(plan.kind, nullptr);
    } catch (...) {
      // Out of memory or the like: keep the thread (and the old inventory).
    }
    detail::return_free_memory();
    lock.lock();
  }
}

bool source::impl::run_unit(detail::listing_kind kind, std::string* error) {
  if (abort.load(std::memory_order_acquire)) {
    if (error) *error = "the source is stopped";
    return false;
  }
  uint64_t seq;
  bool demanded;  // questions wait for this unit
  bool fallback, retry_due;  // full listings for an old CLI; an hour passed
  {
    std::lock_guard<std::mutex> lock(mu);
    seq = ++started_seq;
    demanded = demand != detail::demand_kind::none;
    demand = detail::demand_kind::none;  // this unit starts after them all
    const auto now = detail::clock::now();
    schedule.unit_started(now);
    fallback = kind == detail::listing_kind::full && probe.count() > 0 &&
               schedule.old_cli();
    retry_due = fallback && schedule.flag_retry_due(now);
  }
  // However this unit ends, the misses waiting for it are told.
  struct finish_guard {
    impl& self;
    uint64_t seq;
    ~finish_guard() {
      {
        std::lock_guard<std::mutex> lock(self.mu);
        self.finished_seq = seq;
      }
      self.cv.notify_all();
      self.wake.notify();
    }
  } finish{*this, seq};

  // An old CLI is asked for the flag again after an hour or an upgrade.
  if (fallback &&
      (retry_due || program_identity(opts.binary) != rejected_binary)) {
    log->debug("asking {} for list --no-ipv4 again", opts.binary);
    kind = detail::listing_kind::cheap;
  }
  if (kind == detail::listing_kind::cheap) {
    parsed_listing cheap;
    const cheap_result result = cheap_listing(&cheap);
    if (result == cheap_result::unchanged || result == cheap_result::failed)
      return result == cheap_result::unchanged;
    if (result == cheap_result::changed) {
      // While full listings back off, a question brings one forward only
      // for what the inventory does not show yet (a new name, a new state).
      const bool news =
          cheap.listed != (cheap_applied ? applied_set : full_set);
      bool full_may_follow;
      {
        std::lock_guard<std::mutex> lock(mu);
        full_may_follow = schedule.full_may_follow(
            detail::clock::now(), demanded && news, intervals());
      }
      const bool ok = full_may_follow && refresh(error);
      // Full listings failing: the cheap one keeps names and states honest.
      if (!ok) apply_cheap(std::move(cheap));
      return ok || !full_may_follow;
    }
  }
  return refresh(error);
}

run_options source::impl::make_run_options() {
  run_options run_opts;
  {
    std::lock_guard<std::mutex> lock(mu);
    run_opts.timeout = timeout;
  }
  run_opts.max_output_bytes = opts.max_output_bytes;
  run_opts.abort = &abort;
  if (!opts.server_address.empty()) {
    run_opts.env.emplace_back("MULTIPASS_SERVER_ADDRESS", opts.server_address);
  }
  return run_opts;
}

source::impl::cheap_result source::impl::cheap_listing(parsed_listing* parsed) {
  const auto begin = detail::clock::now();
  run_result run = run_process(
      opts.binary, {"list", "--format=json", "--no-ipv4"}, make_run_options());
  cheap_result result = cheap_result::failed;
  std::string failure_kind, failure_text;
  if (detail::rejects_no_ipv4(run)) {
    result = cheap_result::rejected;
  } else if (detail::read_listing(run, "multipass list --no-ipv4", parsed,
                                  &failure_kind, &failure_text)) {
    // A source in trouble (or never loaded) lists fully to recover: the
    // full listing logs the recovery and loads the addresses.
    result = full_listed && failure.empty() && parsed->listed == full_set
                 ? cheap_result::unchanged
                 : cheap_result::changed;
  } else if (run.status != run_status::aborted) {
    report_failure(failure_kind, failure_text, false);
  }
  const bool listed =
      result != cheap_result::failed && result != cheap_result::rejected;
  cheap_ok = listed;
  const auto end = detail::clock::now();
  bool was_old = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    was_old = schedule.old_cli();
    schedule.cheap_done(end, listed);
    if (result == cheap_result::rejected) {
      schedule.flag_rejected(end);
    } else if (schedule.old_cli()) {
      schedule.flag_accepted();
    }
  }
  if (result == cheap_result::rejected) {
    rejected_binary = program_identity(opts.binary);
    const auto level =
        warned_old_cli ? spdlog::level::debug : spdlog::level::warn;
    log->log(level,
             "{} does not know list --no-ipv4 (\"{}\"): an older multipass; "
             "falling back to full listings every probe interval (at least "
             "5 s); asking again after an upgrade or an hour",
             opts.binary, run.err_line);
    warned_old_cli = true;
  } else if (listed && was_old) {
    log->info("{} now takes list --no-ipv4: cheap listings resume",
              opts.binary);
  }
  {
    std::lock_guard<std::mutex> lock(counters_mu);
    if (run.started) ++counters.cli_runs;
    detail::count_listing(counters.probe, listed,
                          detail::seconds_between(begin, end));
    if (listed) {
      probe_failing_since = detail::listing_schedule::never;
    } else if (probe_failing_since == detail::listing_schedule::never) {
      probe_failing_since = end;
    }
  }
  return result;
}

bool source::impl::refresh(std::string* error) {
  const auto begin = detail::clock::now();
  run_result run =
      run_process(opts.binary, {"list", "--format=json"}, make_run_options());

  std::string failure_text, failure_kind;
  parsed_listing parsed;
  const bool ok = detail::read_listing(run, "multipass list", &parsed,
                                       &failure_kind, &failure_text);
  if (ok) {
    full_set = std::move(parsed.listed);
    full_listed = true;
    cheap_applied = false;
    bool changed = publish(std::move(parsed.inv));
    report_success(parsed, run, changed);
  } else if (run.status != run_status::aborted) {
    bool probing;
    {
      std::lock_guard<std::mutex> lock(mu);
      probing = schedule.probing(intervals());
    }
    report_failure(failure_kind, failure_text, probing && cheap_ok);
  }

  const auto end = detail::clock::now();
  const auto unaddressed_since =
      ok ? note_inventory(end) : detail::listing_schedule::never;
  {
    std::lock_guard<std::mutex> lock(mu);
    schedule.full_done(end, ok, unaddressed_since);
  }
  {
    std::lock_guard<std::mutex> lock(counters_mu);
    if (run.started) ++counters.cli_runs;
    if (ok) {
      ++counters.refreshes_ok;
      counters.last_success_unix_ms = detail::unix_ms();
      full_failing_since = detail::listing_schedule::never;
    } else {
      ++counters.refreshes_failed;
      if (full_failing_since == detail::listing_schedule::never)
        full_failing_since = end;
    }
    counters.last_refresh_seconds = detail::seconds_between(begin, end);
    detail::count_listing(counters.full, ok, counters.last_refresh_seconds);
  }
  if (ok)
    ready.store(
        true,
        std::memory_order_release);  // after the counters: ready implies stats
  if (!ok && error) *error = failure_text;
  return ok;
}

void source::impl::apply_cheap(parsed_listing parsed) {
  if (!loaded || !parsed.inv) return;
  applied_set = std::move(parsed.listed);
  cheap_applied = true;
  snapshot now = published.load();
  if (!publish(detail::apply_cheap_listing(*now, std::move(parsed.inv))))
    return;
  note_inventory(detail::clock::now());
  now = published.load();
  log->debug(
      "names and states from list --no-ipv4 applied while full listings "
      "fail: {} instances, serial {}",
      now->vms.size(), now->serial);
}

detail::clock::time_point source::impl::note_inventory(
    detail::clock::time_point now) {
  snapshot inv = published.load();
  {
    std::lock_guard<std::mutex> lock(counters_mu);
    counters.serial = inv->serial;
    std::fill(std::begin(counters.instances), std::end(counters.instances), 0u);
    for (const vm& machine : inv->vms)
      ++counters.instances[static_cast<int>(machine.state)];
  }
  std::lock_guard<std::mutex> lock(mu);
  return detail::track_unaddressed(*inv, now, unaddressed);
}

bool source::impl::publish(std::unique_ptr<inventory> fresh) {
  snapshot old = published.load();
  if (detail::same_content(*old, *fresh)) return false;  // keep the serial
  fresh->serial = std::max(old->serial + 1, detail::unix_seconds());
  published.store(snapshot(std::move(fresh)));
  return true;
}

void source::impl::report_success(const parsed_listing& parsed,
                                  const run_result& run, bool changed) {
  snapshot now = published.load();
  if (!loaded) {
    log->info("loaded {} instances from {}", now->vms.size(), opts.binary);
  } else if (!failure.empty()) {
    char lasted[32];
    std::snprintf(lasted, sizeof lasted, "%.1f",
                  detail::seconds_between(failing_since, detail::clock::now()));
    log->log(announced ? spdlog::level::info : spdlog::level::debug,
             "multipass list works again after {} s of failures; {} instances "
             "listed",
             lasted, now->vms.size());
  } else if (changed) {
    log->debug("inventory changed: {} instances, serial {}", now->vms.size(),
               now->serial);
  }
  loaded = true;
  failure.clear();
  std::unordered_set<std::string> warnings;
  warnings.reserve(parsed.warnings.size());
  for (const std::string& warning : parsed.warnings) {
    const bool first_in_listing = warnings.insert(warning).second;
    if (first_in_listing && last_warnings.count(warning) == 0)
      log->warn("{}", warning);
  }
  last_warnings = std::move(warnings);
  if (run.err_line != last_stderr) {
    if (!run.err_line.empty())
      log->debug("multipass list wrote to stderr: {}", run.err_line);
    last_stderr = run.err_line;
  }
}

void source::impl::report_failure(const std::string& kind,
                                  const std::string& failure_text,
                                  bool cheap_keeps_up) {
  if (kind == failure) {
    log->debug("{} (again)", failure_text);
    return;
  }
  const auto now_time = detail::clock::now();
  if (failure.empty()) {
    failing_since = now_time;
    announced = false;
  }
  failure = kind;
  auto seen =
      std::find_if(reported.begin(), reported.end(),
                   [&](const reported_kind& r) { return r.kind == kind; });
  if (seen != reported.end() && now_time - seen->at < detail::repeat_quiet) {
    ++seen->quiet;
    log->debug("{} (again; reported {:.0f} s ago)", failure_text,
               detail::seconds_between(seen->at, now_time));
    return;
  }
  std::string since;
  if (seen != reported.end()) {
    if (seen->quiet > 0) {
      since = "; it failed this way " + std::to_string(seen->quiet) +
              " more times since it was last reported";
    }
    reported.erase(seen);
  } else if (reported.size() >= detail::reported_kinds_max) {
    reported.erase(reported.begin());
  }
  reported.push_back({kind, now_time, 0});
  announced = true;
  snapshot now = published.load();
  if (loaded && cheap_keeps_up) {
    // Names and states stay current: a warning, not an error.
    log->warn(
        "{}; names and states stay current through list --no-ipv4, "
        "addresses are those of the last listing that worked; full listings "
        "back off, every probe interval doubling up to the refresh "
        "interval{}",
        failure_text, since);
  } else if (loaded) {
    log->error("{}; serving the last good inventory of {} instances{}",
               failure_text, now->vms.size(), since);
  } else {
    log->error("{}; no inventory has loaded yet{}", failure_text, since);
  }
}

source::source(source_options opts) : opts_(std::move(opts)) {
  if (opts_.binary.empty()) opts_.binary = "multipass";
  detail::check_intervals(opts_.probe, opts_.refresh, opts_.timeout);
  if (opts_.miss_wait.count() < 0)
    opts_.miss_wait = std::chrono::milliseconds(0);
  if (opts_.demand_interval.count() < 0)
    opts_.demand_interval = std::chrono::milliseconds(0);
  impl_ = std::make_unique<impl>(opts_, logs_, ready_);
}

source::~source() { stop(); }

void source::start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->started || impl_->stopped) return;
  impl_->schedule.full_now();  // the first listing at once
  detail::async_signals_blocked blocked;  // inherited by the new thread
  impl_->thread = std::thread([this] { impl_->loop(); });
  impl_->started = true;
}

void source::stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    thread = std::move(impl_->thread);
  }
  impl_->abort.store(true, std::memory_order_release);
  impl_->cv.notify_all();
  if (thread.joinable()) thread.join();
  {
    // A refresh_now() in another thread has been aborted; wait for it to reap.
    std::lock_guard<std::mutex> run(impl_->run_mu);
  }
  logs_.close();
  impl_->wake.close_writer();  // the embedder reads end of file
}

void source::set_intervals(std::chrono::milliseconds probe,
                           std::chrono::milliseconds refresh,
                           std::chrono::milliseconds timeout) {
  detail::check_intervals(probe, refresh, timeout);
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->probe = probe;
    impl_->refresh_interval = refresh;
    impl_->timeout = timeout;
  }
  impl_->cv.notify_all();
}

int source::event_fd() const { return impl_->wake.reader(); }

snapshot source::current() const { return impl_->published.load(); }

thread_cached<inventory>::read_guard source::read() const {
  return impl_->published.read();
}

uint64_t source::request_refresh(std::string_view address_of) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->started || impl_->stopped) return 0;
  if (impl_->demand == detail::demand_kind::none)
    impl_->demand = detail::demand_kind::look;
  if (!address_of.empty()) {
    // An address comes only with a full listing: worth one while the VM is
    // new to its state, not for one that has lacked an address for long.
    auto it = impl_->unaddressed.find(std::string(address_of));
    if (it != impl_->unaddressed.end() &&
        detail::clock::now() - it->second <
            detail::listing_schedule::new_for(impl_->intervals()))
      impl_->demand = detail::demand_kind::address;
  }
  impl_->cv.notify_all();
  if (opts_.miss_wait.count() <= 0) return 0;
  return impl_->started_seq + 1;  // a refresh that starts from now on
}

uint64_t source::wait_refresh(uint64_t seq,
                              std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout, [&] {
    return impl_->stopped || impl_->finished_seq >= seq;
  });
  return impl_->finished_seq;
}

void source::request_probe() {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          detail::clock::now().time_since_epoch())
                          .count();
  int64_t last = impl_->last_nudge_ms.load(std::memory_order_relaxed);
  if (last != 0 && now - last < opts_.demand_interval.count()) return;
  if (!impl_->last_nudge_ms.compare_exchange_strong(last, now)) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->started || impl_->stopped) return;
  // A unit of the mode's kind: a full listing without cheap ones.
  if (impl_->demand == detail::demand_kind::none)
    impl_->demand = detail::demand_kind::look;
  impl_->cv.notify_all();
}

bool source::stopped() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stopped;
}

snapshot source::refresh_for_miss(const snapshot& seen,
                                  std::string_view address_of) {
  snapshot now = current();
  if (now != seen) return now;
  const uint64_t need = request_refresh(address_of);
  if (need == 0) return current();
  std::unique_lock<std::mutex> lock(impl_->mu);
  // Each waiter holds a thread of the embedder (a cgo call parks an OS
  // thread): past max_miss_waiters a flood of unknown names is answered at
  // once from the current snapshot, while the refresh it asked for still runs.
  if (impl_->miss_waiters < opts_.max_miss_waiters) {
    ++impl_->miss_waiters;
    impl_->cv.wait_for(lock, opts_.miss_wait, [&] {
      return impl_->stopped || impl_->finished_seq >= need;
    });
    --impl_->miss_waiters;
  }
  lock.unlock();
  return current();
}

bool source::refresh_now(std::string* error) {
  std::lock_guard<std::mutex> run(impl_->run_mu);
  return impl_->run_unit(detail::listing_kind::full, error);
}

void source::stats(multipass_source_stats_t* out) const {
  multipass_source_stats_t copy;
  const auto now = detail::clock::now();
  uint32_t backoff_ms;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    backoff_ms = static_cast<uint32_t>(
        impl_->schedule.full_backoff(impl_->intervals()).count());
  }
  {
    std::lock_guard<std::mutex> lock(impl_->counters_mu);
    copy = impl_->counters;
    copy.full_backoff_ms = backoff_ms;
    copy.full_failing_seconds =
        detail::seconds_since(impl_->full_failing_since, now);
    copy.probe_failing_seconds =
        detail::seconds_since(impl_->probe_failing_since, now);
  }
  size_t size = out->struct_size == 0 ? sizeof copy
                                      : std::min(out->struct_size, sizeof copy);
  copy.struct_size = out->struct_size == 0 ? sizeof copy : out->struct_size;
  std::memcpy(out, &copy, size);
}

}  // namespace multipass
