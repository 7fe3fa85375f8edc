// The source: runs the listings its refresh plan asks for (one CLI at a
// time, in a background thread or in refresh_now), publishes immutable
// snapshots, tells the questions waiting for a unit that it ended, and
// counts (listing_stats) and logs (listing_log) what the listings did.
#include "source.h"

#include <pthread.h>
#include <signal.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "listing_log.h"
#include "listing_merge.h"
#include "listing_parser.h"
#include "listing_stats.h"
#include "process_runner.h"
#include "refresh_plan.h"
#include "resolver.h"
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

uint32_t unix_seconds() {
  return static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
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

// Parses what `command` printed into *parsed. False, with the failure's kind
// and text for the log, when it failed or printed no listing.
bool read_listing(const run_result& run, const char* command,
                  parsed_listing* parsed, std::string* kind,
                  std::string* text) {
  if (!run.ok()) {
    *kind = listing_log::failure_kind(run);
    *text = describe_failure(run, command);
    return false;
  }
  *parsed = parse_listing(run.out.view());
  if (parsed->error.empty()) return true;
  *kind = "unusable output";  // parse errors differ only in their position
  *text = std::string(command) + " printed unusable output: " + parsed->error;
  return false;
}

// The text an old CLI prints for the cheap listing's flag.
constexpr const char* no_ipv4_rejected = "Unknown option 'no-ipv4'";

bool rejects_no_ipv4(const run_result& run) {
  return run.status == run_status::exited && run.exit_code == 1 &&
         run.err_line.find(no_ipv4_rejected) != std::string::npos;
}

// The keys of the Running VMs of `inv` without an address.
std::vector<std::string> unaddressed(const inventory& inv) {
  std::vector<std::string> keys;
  for (const vm& machine : inv.vms) {
    if (serves_addresses(machine.state) && machine.ipv4.empty())
      keys.push_back(machine.key);
  }
  return keys;
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

multipass_source_options_t c_defaults() {
  multipass_source_options_t c;
  multipass_source_options_init_sized(&c, sizeof c);
  return c;
}

}  // namespace
}  // namespace detail

source_options::source_options() : source_options(detail::c_defaults()) {}

source_options::source_options(const multipass_source_options_t& c)
    : binary(c.binary && *c.binary ? c.binary : "multipass"),
      server_address(c.server_address ? c.server_address : ""),
      probe(c.probe_ms),
      refresh(c.refresh_ms),
      timeout(c.timeout_ms),
      miss_wait(c.miss_wait_ms),
      demand_interval(c.demand_interval_ms),
      max_output_bytes(c.max_output_bytes) {}

struct source::impl {
  using unit = detail::refresh_plan::unit;
  using listing_kind = detail::listing_kind;

  impl(const source_options& options, log_queue& logs,
       std::atomic<bool>& ready_flag, std::atomic<uint64_t>& finished)
      : opts(options),
        ready(ready_flag),
        finished_seq(finished),
        log(logs, wake),
        published(empty_inventory()),
        stats(published.load()->serial),
        plan({options.probe, options.refresh, options.demand_interval}),
        timeout(options.timeout) {}

  static snapshot empty_inventory() {
    auto empty = std::make_shared<inventory>();
    empty->serial = detail::unix_seconds();
    empty->before_first_load = true;
    return empty;
  }

  void loop();
  // Begins the unit the plan says is due, if one still is, and runs it
  // (requires run_mu).
  void run_due_unit();
  // Runs unit `seq` (requires run_mu): its cheap listing and what follows
  // (a full listing that follows is numbered seq + 1), or its full listing.
  // Returns the full listing's result (true for a unit without one).
  bool run_unit(const unit& u, uint64_t seq, std::string* error);
  // The listings (require run_mu). cheap_listing fills *parsed and says
  // what follows it.
  detail::refresh_plan::after_cheap cheap_listing(const unit& u,
                                                  parsed_listing* parsed);
  bool full_listing(std::string* error);
  // Records a listing's end in the plan, then runs the test hook.
  void ended(listing_kind kind, detail::clock::time_point end);
  // Publishes the names and states of a cheap listing, with the addresses
  // that still apply (requires run_mu).
  void apply(parsed_listing parsed);
  // After a publish: the counters and the plan learn what is served.
  void served(const snapshot& inv);
  // Unit `seq` ended: tells the questions waiting for it.
  void end_unit(uint64_t seq);
  // Publishes `fresh` when its content differs; true when it did.
  bool publish(std::unique_ptr<inventory> fresh);
  snapshot current() const { return published.load(); }
  run_options make_run_options();

  const source_options& opts;  // intervals: see the plan and timeout
  std::atomic<bool>& ready;
  std::atomic<uint64_t>& finished_seq;  // written under mu
  wakeup_pipe wake;  // before log, whose lines notify it
  detail::listing_log log;  // used under run_mu

  // The inventory: read() by questions, load() by the rest.
  thread_cached<inventory> published;
  detail::listing_stats stats;

  std::mutex run_mu;  // one unit at a time; guards the listing state below
  std::atomic<bool> abort{false};  // raised by stop(): kills the CLI in flight

  std::mutex mu;  // guards the plan, timeout, the unit numbers, the flags
  std::condition_variable refresher_cv;   // the plan may have changed
  std::condition_variable unit_ended_cv;  // a unit ended, or stop()
  detail::refresh_plan plan;
  std::chrono::milliseconds timeout;
  bool started = false;
  bool stopped = false;
  uint64_t started_seq = 0;  // units begun
  // request_probe asked for a look for the next unit (cleared when a unit
  // begins): later ones need not take mu.
  std::atomic<bool> look_asked{false};
  std::thread thread;

  // Told of each inventory before it is published (source::observe).
  std::mutex observers_mu;
  std::vector<std::weak_ptr<const publish_observer>> observers;

  // Listing state, guarded by run_mu.
  std::vector<listed_instance> full_set;    // of the last full listing loaded
  std::vector<listed_instance> served_set;  // of what is published
  std::string rejected_identity;  // program_identity when --no-ipv4 failed
};

void source::impl::loop() {
  std::unique_lock<std::mutex> lock(mu);
  while (!stopped) {
    const auto due = plan.due();
    if (detail::clock::now() < due) {
      refresher_cv.wait_until(lock, due);
      continue;
    }
    lock.unlock();
    try {
      std::lock_guard<std::mutex> run(run_mu);
      run_due_unit();
    } catch (...) {
      // Out of memory or the like: keep the thread and the old inventory.
      // The plan has the listing's end: the next unit comes at its time.
    }
    detail::return_free_memory();
    lock.lock();
  }
}

void source::impl::run_due_unit() {
  unit u;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu);
    const auto now = detail::clock::now();
    if (stopped || now < plan.due()) return;  // refresh_now ran meanwhile
    u = plan.begin(now);
    seq = ++started_seq;
    look_asked.store(false, std::memory_order_relaxed);
  }
  run_unit(u, seq, nullptr);
}

bool source::impl::run_unit(const unit& u, uint64_t seq, std::string* error) {
  // However this unit ends, the questions waiting for it are told.
  struct finish_guard {
    impl& self;
    uint64_t& seq;
    ~finish_guard() { self.end_unit(seq); }
  } finish{*this, seq};

  bool ok = true;
  if (u.first == listing_kind::cheap) {
    if (u.asks_flag) log.asking_again(opts.binary);
    parsed_listing cheap;
    const auto after = cheap_listing(u, &cheap);
    if (after.apply) apply(std::move(cheap));
    if (after.full) {
      // The full listing begins after the questions that came during the
      // cheap one: it is their unit (numbered next), so that they wait for
      // it and not for a unit after it.
      {
        std::lock_guard<std::mutex> lock(mu);
        plan.full_follows();
        seq = ++started_seq;
        look_asked.store(false, std::memory_order_relaxed);
      }
      ok = full_listing(error);
    }
  } else {
    ok = full_listing(error);
  }
  // An old CLI is asked for the flag again when its binary changed.
  bool old_cli;
  {
    std::lock_guard<std::mutex> lock(mu);
    old_cli = plan.old_cli();
  }
  if (old_cli && program_identity(opts.binary) != rejected_identity) {
    std::lock_guard<std::mutex> lock(mu);
    plan.binary_changed();
  }
  return ok;
}

void source::impl::end_unit(uint64_t seq) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (seq > finished_seq.load(std::memory_order_relaxed))
      finished_seq.store(seq, std::memory_order_release);
  }
  unit_ended_cv.notify_all();
  wake.notify();
}

void source::impl::ended(listing_kind kind, detail::clock::time_point end) {
  {
    std::lock_guard<std::mutex> lock(mu);
    plan.ended(kind, end);
  }
  if (opts.listing_ended_hook) opts.listing_ended_hook();
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

detail::refresh_plan::after_cheap source::impl::cheap_listing(
    const unit& u, parsed_listing* parsed) {
  run_options run_opts = make_run_options();
  const auto begin = detail::clock::now();
  run_result run = run_process(
      opts.binary, {"list", "--format=json", "--no-ipv4"}, run_opts);
  const auto end = detail::clock::now();
  ended(listing_kind::cheap, end);
  if (run.started) stats.cli_started();
  if (run.status == run_status::aborted) return {};  // stopping

  detail::cheap_outcome outcome = detail::cheap_outcome::failed;
  std::string failure_kind, failure_text;
  if (detail::rejects_no_ipv4(run)) {
    outcome = detail::cheap_outcome::rejected;
  } else if (detail::read_listing(run, "multipass list --no-ipv4", parsed,
                                  &failure_kind, &failure_text)) {
    outcome = detail::cheap_outcome::listed;
  }
  const bool listed = outcome == detail::cheap_outcome::listed;
  const bool differs_from_full = listed && parsed->listed != full_set;
  const bool differs_from_served = listed && parsed->listed != served_set;
  detail::refresh_plan::after_cheap after;
  bool was_old, loaded;
  {
    std::lock_guard<std::mutex> lock(mu);
    was_old = plan.old_cli();
    after = plan.cheap_read(u, outcome, differs_from_full, differs_from_served);
    loaded = plan.loaded();
  }
  switch (outcome) {
    case detail::cheap_outcome::rejected:
      // A state, not a failure: counted as no listing at all.
      rejected_identity = program_identity(opts.binary);
      log.old_cli(opts.binary, run.err_line);
      break;
    case detail::cheap_outcome::failed:
      stats.listed(listing_kind::cheap, false, begin, end);
      log.failed(failure_kind, failure_text, loaded, false,
                 current()->vms.size());
      break;
    case detail::cheap_outcome::listed:
      stats.listed(listing_kind::cheap, true, begin, end);
      if (was_old) log.new_cli(opts.binary);
      break;
  }
  return after;
}

bool source::impl::full_listing(std::string* error) {
  run_options run_opts = make_run_options();
  const auto begin = detail::clock::now();
  run_result run =
      run_process(opts.binary, {"list", "--format=json"}, run_opts);
  const auto end = detail::clock::now();
  ended(listing_kind::full, end);
  if (run.started) stats.cli_started();

  std::string failure_text, failure_kind;
  parsed_listing parsed;
  const bool ok = detail::read_listing(run, "multipass list", &parsed,
                                       &failure_kind, &failure_text);
  if (!ok && error) *error = failure_text;
  if (run.status == run_status::aborted) return false;  // stopping
  if (!ok) {
    bool loaded, cheap_keeps_up;
    {
      std::lock_guard<std::mutex> lock(mu);
      plan.full_read(false);
      loaded = plan.loaded();
      cheap_keeps_up = plan.cheap_works();
    }
    stats.listed(listing_kind::full, false, begin, end);
    log.failed(failure_kind, failure_text, loaded, cheap_keeps_up,
               current()->vms.size());
    return false;
  }
  full_set = parsed.listed;
  served_set = std::move(parsed.listed);
  const bool changed = publish(std::move(parsed.inv));
  const snapshot now = current();
  stats.listed(listing_kind::full, true, begin, end);
  served(now);
  bool first;
  {
    std::lock_guard<std::mutex> lock(mu);
    first = !plan.loaded();
    plan.full_read(true);
  }
  ready.store(true, std::memory_order_release);  // after the counters
  log.loaded(first, opts.binary, parsed, run, *now, changed);
  return true;
}

void source::impl::apply(parsed_listing parsed) {
  served_set = std::move(parsed.listed);
  const snapshot before = current();
  if (!publish(detail::apply_cheap_listing(*before, std::move(parsed.inv))))
    return;
  const snapshot now = current();
  served(now);
  log.applied(*now);
}

void source::impl::served(const snapshot& inv) {
  stats.served(*inv);
  const std::vector<std::string> keys = detail::unaddressed(*inv);
  std::lock_guard<std::mutex> lock(mu);
  plan.served(keys, detail::clock::now());
}

bool source::impl::publish(std::unique_ptr<inventory> fresh) {
  snapshot old = published.load();
  if (detail::same_content(*old, *fresh)) return false;  // keep the serial
  fresh->serial = std::max(old->serial + 1, detail::unix_seconds());
  const snapshot next(std::move(fresh));
  std::lock_guard<std::mutex> lock(observers_mu);
  auto gone = [](const std::weak_ptr<const publish_observer>& o) {
    return o.expired();
  };
  observers.erase(std::remove_if(observers.begin(), observers.end(), gone),
                  observers.end());
  for (const auto& weak : observers) {
    if (const auto observer = weak.lock()) {
      try {
        observer->prepare(next);
      } catch (...) {
        // Out of memory: the observer prepares on its first question.
      }
    }
  }
  published.store(next);
  return true;
}

source::source(source_options opts) : opts_(std::move(opts)) {
  serials_.on_error = [this](const std::string& text) {
    logs_.push(MULTIPASS_LOG_WARNING, text);
    impl_->wake.notify();
  };
  if (opts_.binary.empty()) opts_.binary = "multipass";
  detail::check_intervals(opts_.probe, opts_.refresh, opts_.timeout);
  if (opts_.miss_wait.count() < 0)
    opts_.miss_wait = std::chrono::milliseconds(0);
  if (opts_.demand_interval.count() < 0)
    opts_.demand_interval = std::chrono::milliseconds(0);
  impl_ = std::make_unique<impl>(opts_, logs_, ready_, finished_seq_);
}

source::~source() { stop(); }

void source::start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->started || impl_->stopped) return;
  impl_->plan.start_now();  // the first unit (a full listing) at once
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
  impl_->refresher_cv.notify_all();
  impl_->unit_ended_cv.notify_all();  // waiting questions wake at once
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
    impl_->plan.set_intervals({probe, refresh, opts_.demand_interval});
    impl_->timeout = timeout;
  }
  impl_->refresher_cv.notify_all();
}

int source::event_fd() const { return impl_->wake.reader(); }

void source::observe(std::weak_ptr<const publish_observer> observer) {
  std::lock_guard<std::mutex> lock(impl_->observers_mu);
  if (const auto alive = observer.lock()) alive->prepare(current());
  impl_->observers.push_back(std::move(observer));
}

snapshot source::current() const { return impl_->current(); }

thread_cached<inventory>::read_guard source::read() const {
  return impl_->published.read();
}

uint64_t source::request_refresh(std::string_view address_of) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->started || impl_->stopped) return 0;
  if (impl_->plan.ask(address_of, detail::clock::now()))
    impl_->refresher_cv.notify_all();
  if (opts_.miss_wait.count() <= 0) return 0;
  return impl_->started_seq + 1;  // the next unit to begin
}

uint64_t source::wait_refresh(uint64_t seq,
                              std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->unit_ended_cv.wait_for(
      lock, timeout, [&] { return impl_->stopped || finished(seq); });
  return units_finished();
}

void source::request_probe() {
  if (impl_->look_asked.exchange(true, std::memory_order_acq_rel)) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->started || impl_->stopped) return;
  if (impl_->plan.ask({}, detail::clock::now()))
    impl_->refresher_cv.notify_all();
}

bool source::stopped() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stopped;
}

bool source::refresh_now(std::string* error) {
  std::lock_guard<std::mutex> run(impl_->run_mu);
  impl::unit u;
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->abort.load(std::memory_order_acquire)) {
      if (error) *error = "the source is stopped";
      return false;
    }
    u = impl_->plan.begin_full(detail::clock::now());
    seq = ++impl_->started_seq;
    impl_->look_asked.store(false, std::memory_order_relaxed);
  }
  return impl_->run_unit(u, seq, error);
}

void source::stats(multipass_source_stats_t* out) const {
  uint32_t backoff_ms;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    backoff_ms = static_cast<uint32_t>(impl_->plan.full_backoff().count());
  }
  impl_->stats.copy(out, backoff_ms, detail::clock::now());
}

}  // namespace multipass
