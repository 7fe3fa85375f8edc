// The source against the stand-in CLI: loading, serving stale, recovering,
// the serial, on-demand refreshes, stopping, and what it logs.
#include "source.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <future>
#include <new>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <dirent.h>
#endif

#include "fake_cli.h"
#include "source_logs.h"
#include "listing_parser.h"

namespace multipass {
namespace {

using namespace std::chrono_literals;
using testing_support::eventually;
using testing_support::fake_cli;
using testing_support::count_lines;
using testing_support::drain;
using testing_support::stats_of;
using testing_support::listing;
using testing_support::look;
using testing_support::vm_json;

source_options test_options() {
  source_options options;
  options.binary = fake_cli::binary();
  // Background units only when a test wants them: no cheap listing, a full
  // one every hour.
  options.probe = 0ms;
  options.refresh = std::chrono::hours(1);
  options.timeout = 20s;
  options.miss_wait = 20s;
  options.demand_interval = 200ms;
  return options;
}

uint32_t ip(const char* text) {
  uint32_t address = 0;
  EXPECT_TRUE(parse_ipv4(text, &address));
  return address;
}

std::string dump(const std::vector<log_line>& lines) {
  std::string out;
  for (const auto& line : lines)
    out += std::to_string(line.level) + " " + line.text + "\n";
  return out;
}

uint32_t unix_now() {
  return static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

TEST(source_test, before_any_load_the_inventory_is_empty_not_null) {
  fake_cli cli;
  const uint32_t before = unix_now();
  source src(test_options());
  const uint32_t after = unix_now();
  snapshot now = src.current();
  ASSERT_TRUE(now);
  EXPECT_TRUE(now->vms.empty());
  EXPECT_FALSE(src.ready());
  EXPECT_GE(now->serial, before);  // the serial starts at the unix time
  EXPECT_LE(now->serial, after);
  EXPECT_EQ(cli.run_count(), 0u);  // nothing runs before start()
}

TEST(source_test, first_load_sets_ready_and_stats) {
  fake_cli cli;
  source src(test_options());
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  snapshot now = src.current();
  ASSERT_EQ(now->vms.size(), 8u);  // the demo fleet
  ASSERT_NE(now->find("primary"), nullptr);
  EXPECT_EQ(now->find("primary")->ipv4,
            std::vector<uint32_t>{ip("10.110.24.87")});
  auto stats = stats_of(src);
  EXPECT_EQ(stats.struct_size, sizeof stats);
  EXPECT_GE(stats.cli_runs, 1u);
  EXPECT_GE(stats.refreshes_ok, 1u);
  EXPECT_EQ(stats.refreshes_failed, 0u);
  EXPECT_GT(stats.last_success_unix_ms, 1600000000000);
  EXPECT_GT(stats.last_refresh_seconds, 0.0);
  EXPECT_EQ(stats.serial, now->serial);
  EXPECT_EQ(stats.instances[MULTIPASS_STATE_RUNNING], 5u);
  EXPECT_EQ(stats.instances[MULTIPASS_STATE_STOPPED], 1u);
  EXPECT_EQ(stats.instances[MULTIPASS_STATE_SUSPENDED], 1u);
  EXPECT_EQ(stats.instances[MULTIPASS_STATE_DELETED], 1u);
  src.stop();
  auto lines = drain(src);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_INFO, "loaded 8 instances from"),
            1u)
      << dump(lines);
}

TEST(source_test, cli_gets_the_server_address_and_list_arguments) {
  fake_cli cli;
  source_options options = test_options();
  options.server_address = "192.168.64.1:51001";
  source src(options);
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  auto runs = cli.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(fake_cli::field(runs[0], "server_address"), "192.168.64.1:51001");
  EXPECT_NE(runs[0].find("args=list --format=json"), std::string::npos);
}

TEST(source_test, failure_before_any_load_leaves_it_not_ready) {
  fake_cli cli;
  cli.set_mode("no-daemon");
  source src(test_options());
  std::string error;
  EXPECT_FALSE(src.refresh_now(&error));
  EXPECT_EQ(error,
            "multipass list failed (exit 2): list failed: cannot connect to "
            "the multipass socket");
  EXPECT_FALSE(src.ready());
  EXPECT_TRUE(src.current()->vms.empty());
  auto stats = stats_of(src);
  EXPECT_EQ(stats.cli_runs, 1u);
  EXPECT_EQ(stats.refreshes_failed, 1u);
  EXPECT_EQ(stats.last_success_unix_ms, 0);
}

TEST(source_test, failed_refresh_serves_the_last_good_inventory) {
  fake_cli cli;
  source src(test_options());
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  snapshot good = src.current();
  for (const char* mode :
       {"no-daemon", "garbage", "truncated", "empty", "bad-address"}) {
    cli.set_mode(mode);
    EXPECT_FALSE(src.refresh_now(&error)) << mode;
    EXPECT_FALSE(error.empty()) << mode;
    EXPECT_EQ(src.current(), good) << mode;
    EXPECT_TRUE(src.ready()) << mode;
  }
  cli.set_mode("ok");
  cli.set_fixture("list-snapshots-empty.json");
  EXPECT_FALSE(src.refresh_now(&error));
  EXPECT_EQ(src.current(), good);
  auto stats = stats_of(src);
  EXPECT_EQ(stats.refreshes_ok, 1u);
  EXPECT_EQ(stats.refreshes_failed, 6u);
  EXPECT_EQ(stats.instances[MULTIPASS_STATE_RUNNING], 5u);
}

TEST(source_test, timeout_and_missing_binary_are_failures_too) {
  fake_cli cli;
  source_options options = test_options();
  options.timeout = 300ms;
  source src(options);
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  cli.set_mode("hang");
  EXPECT_FALSE(src.refresh_now(&error));
  EXPECT_NE(error.find("timed out"), std::string::npos) << error;
  EXPECT_EQ(src.current()->vms.size(), 8u);

  source_options missing = test_options();
  missing.binary = cli.dir() + "/not-there";
  source absent(missing);
  EXPECT_FALSE(absent.refresh_now(&error));
  EXPECT_NE(error.find("not-there"), std::string::npos) << error;
  EXPECT_EQ(stats_of(absent).cli_runs, 0u);  // nothing was started
}

TEST(source_test, recovery_picks_up_a_changed_address_and_grows_the_serial) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("web", "Running", "10.0.0.1")}));
  source src(test_options());
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  const uint32_t first_serial = src.current()->serial;
  cli.set_mode("no-daemon");
  EXPECT_FALSE(src.refresh_now(&error));
  cli.set_mode("ok");
  cli.set_listing(listing({vm_json("web", "Running", "10.0.0.2")}));
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  snapshot now = src.current();
  EXPECT_EQ(now->find("web")->ipv4, std::vector<uint32_t>{ip("10.0.0.2")});
  EXPECT_GT(now->serial, first_serial);
  EXPECT_EQ(stats_of(src).serial, now->serial);
}

TEST(source_test, serial_changes_with_content_only) {
  fake_cli cli;
  cli.set_listing(listing(
      {vm_json("a", "Running", "10.0.0.1"), vm_json("b", "Stopped", "")}));
  source src(test_options());
  const uint32_t initial = src.current()->serial;
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  snapshot loaded = src.current();
  EXPECT_GT(loaded->serial, initial);  // empty -> two VMs is a change

  ASSERT_TRUE(src.refresh_now(&error)) << error;  // the same listing
  EXPECT_EQ(src.current(), loaded);
  EXPECT_EQ(src.current()->serial, loaded->serial);

  cli.set_mode("ok-warning");  // a warning on stderr is not a change
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  EXPECT_EQ(src.current()->serial, loaded->serial);

  uint32_t serial = loaded->serial;
  for (const auto& next : {listing({vm_json("a", "Running", "10.0.0.1"),
                                    vm_json("b", "Starting", "")}),
                           listing({vm_json("a", "Running", "10.0.0.9"),
                                    vm_json("b", "Starting", "")}),
                           listing({vm_json("a", "Running", "10.0.0.9"),
                                    vm_json("c", "Starting", "")}),
                           listing({vm_json("a", "Running", "10.0.0.9")})}) {
    cli.set_listing(next);
    ASSERT_TRUE(src.refresh_now(&error)) << error;
    EXPECT_GT(src.current()->serial, serial);  // state, address, name, count
    serial = src.current()->serial;
  }
}

TEST(source_test, background_refresher_follows_the_listing) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  source_options options = test_options();
  options.refresh = 100ms;
  source src(options);
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1"),
                           vm_json("late", "Running", "10.0.0.7")}));
  EXPECT_TRUE(
      eventually([&] { return src.current()->find("late") != nullptr; }));
  src.stop();
}

TEST(source_test, start_and_stop_are_idempotent) {
  fake_cli cli;
  source src(test_options());
  src.start();
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  src.stop();
  src.stop();
  std::string error;
  EXPECT_FALSE(src.refresh_now(&error));  // a stopped source runs no CLI
  src.start();                            // and does not start again
  EXPECT_EQ(src.request_refresh(), 0u);   // nothing to wait for
  EXPECT_EQ(cli.run_count(), 1u);
}

TEST(source_test, a_look_picks_up_a_new_vm) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  source src(test_options());
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  ASSERT_EQ(src.current()->find("fresh"), nullptr);
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1"),
                           vm_json("fresh", "Running", "10.0.0.2")}));
  snapshot after = look(src);
  ASSERT_NE(after->find("fresh"), nullptr);
  EXPECT_EQ(after->find("fresh")->ipv4, std::vector<uint32_t>{ip("10.0.0.2")});
  src.stop();
}

// Issue 25: however many questions wait at once, they share the look and
// all see its result (no cap on waiters).
TEST(source_test, burst_of_misses_shares_a_couple_of_cli_runs) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  source_options options = test_options();
  options.demand_interval = 500ms;
  source src(options);
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  const size_t runs_before = cli.run_count();
  cli.set_mode("slow:0.3");
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1"),
                           vm_json("burst", "Running", "10.0.0.3")}));

  std::atomic<int> found{0}, ended{0};
  std::vector<std::thread> askers;
  for (int i = 0; i < 200; ++i) {
    askers.emplace_back([&] {
      const uint64_t seq = src.request_refresh();
      src.wait_refresh(seq, src.options().miss_wait);
      if (src.finished(seq)) ++ended;
      if (src.current()->find("burst")) ++found;
    });
  }
  for (auto& t : askers) t.join();
  EXPECT_EQ(ended.load(), 200);
  EXPECT_EQ(found.load(), 200);
  const size_t runs = cli.run_count() - runs_before;
  EXPECT_GE(runs, 1u);
  EXPECT_LE(runs, 4u);  // a unit or two, each a cheap and a full listing
  src.stop();
}

// A wait that runs out before the unit ends learns nothing from it.
TEST(source_test, a_wait_that_runs_out_leaves_its_unit_unfinished) {
  fake_cli cli;
  source src(test_options());
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  cli.set_mode("slow:2");
  const uint64_t seq = src.request_refresh();
  ASSERT_GT(seq, 0u);
  EXPECT_LT(src.wait_refresh(seq, 50ms), seq);
  EXPECT_FALSE(src.finished(seq));
  EXPECT_GE(src.wait_refresh(seq, 20s), seq);
  EXPECT_TRUE(src.finished(seq));
  EXPECT_EQ(src.units_finished(), seq);
  src.stop();
}

TEST(source_test, repeated_misses_for_an_absent_name_are_rate_limited) {
  fake_cli cli;
  source_options options = test_options();
  options.demand_interval = 1s;
  options.miss_wait = 50ms;
  source src(options);
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  const size_t runs_before = cli.run_count();
  // 100 misses within well under a second (each waits at most 50 ms).
  auto begin = std::chrono::steady_clock::now();
  int asked = 0;
  while (asked < 100 && std::chrono::steady_clock::now() - begin < 900ms) {
    look(src);
    ++asked;
  }
  const auto spent = std::chrono::steady_clock::now() - begin;
  src.stop();
  // At most one on-demand start per second: the first, plus one per
  // further second that the loop took (a liveness-style bound, not timing).
  const size_t allowed =
      2 + static_cast<size_t>(
              std::chrono::duration_cast<std::chrono::seconds>(spent).count());
  EXPECT_LE(cli.run_count() - runs_before, allowed);
}

TEST(source_test, miss_wait_zero_or_unstarted_has_nothing_to_wait_for) {
  fake_cli cli;
  source_options options = test_options();
  options.miss_wait = 0ms;
  source src(options);
  EXPECT_EQ(src.request_refresh(), 0u);  // not started: no CLI
  EXPECT_EQ(cli.run_count(), 0u);
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  EXPECT_EQ(src.request_refresh(), 0u);  // the look is asked for, though
  ASSERT_TRUE(eventually([&] { return cli.run_count() >= 2; }));
  src.stop();
}

// Issue 25: a throw after a listing (out of memory while reading it, say)
// never makes the next unit due at once: the plan has the listing's end
// before anything that can throw runs. Otherwise the refresher would run
// full listings (one guest session each) back to back.
TEST(source_test, a_throw_after_a_listing_does_not_bring_the_next_one_forward) {
  fake_cli cli;
  std::atomic<int> thrown{0};
  source_options options = test_options();
  options.listing_ended_hook = [&thrown] {
    ++thrown;
    throw std::bad_alloc();
  };
  source src(options);
  src.start();
  ASSERT_TRUE(eventually([&] { return thrown.load() >= 1; }));
  // A refresher in a tight loop would have listed again dozens of times by
  // now; the next unit is an hour away.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(cli.run_count(), 1u);
  EXPECT_EQ(thrown.load(), 1);
  EXPECT_EQ(src.units_finished(), 1u);  // the unit still ended
  src.stop();
}

TEST(source_test, stop_during_a_hang_kills_the_cli_group_promptly) {
  fake_cli cli;
  cli.set_mode("hang-child");
  source_options options = test_options();
  options.timeout = std::chrono::hours(1);
  source src(options);
  src.start();
  ASSERT_TRUE(eventually([&] { return cli.child_pid() > 0; }));
  pid_t leader = std::stoi(fake_cli::field(cli.runs().at(0), "pid"));
  pid_t child = cli.child_pid();
  auto stopping = std::async(std::launch::async, [&] { src.stop(); });
  ASSERT_EQ(stopping.wait_for(30s), std::future_status::ready) << "stop() hung";
  EXPECT_TRUE(testing_support::process_gone(leader));
  EXPECT_TRUE(
      eventually([&] { return testing_support::process_gone(child); }, 10s));
  EXPECT_FALSE(src.ready());
}

TEST(source_test, stop_wakes_waiting_misses) {
  fake_cli cli;
  source_options options = test_options();
  options.timeout = std::chrono::hours(1);
  options.miss_wait = std::chrono::hours(1);
  source src(options);
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  cli.set_mode("hang");
  src.start();  // its first unit hangs
  ASSERT_TRUE(eventually([&] { return cli.run_count() == 2; }));
  std::vector<std::future<bool>> waiters;
  for (int i = 0; i < 5; ++i) {
    waiters.push_back(std::async(std::launch::async, [&] {
      const uint64_t seq = src.request_refresh();
      src.wait_refresh(seq, options.miss_wait);
      return src.finished(seq);
    }));
  }
  std::this_thread::sleep_for(50ms);
  src.stop();
  for (auto& waiter : waiters) {
    ASSERT_EQ(waiter.wait_for(30s), std::future_status::ready)
        << "a waiter was not woken";
    EXPECT_FALSE(waiter.get());  // woken by the stop, not by a look
  }
}

TEST(source_test, stop_closes_the_log_queue) {
  fake_cli cli;
  source src(test_options());
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  src.stop();
  log_line line;
  while (src.logs().pop(0ms, &line) == log_queue::pop_result::line) {
  }
  EXPECT_EQ(src.logs().pop(0ms, &line), log_queue::pop_result::closed);
}

TEST(source_test, logs_first_failure_once_and_recovery_once) {
  fake_cli cli;
  source src(test_options());
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  cli.set_mode("no-daemon");
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(src.refresh_now(&error));
  cli.set_mode("ok");
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  auto lines = drain(src);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_INFO, "loaded 8 instances from"),
            1u)
      << dump(lines);
  EXPECT_EQ(
      count_lines(
          lines, MULTIPASS_LOG_ERROR,
          "multipass list failed (exit 2): list failed: cannot connect to the "
          "multipass socket; serving the last good inventory of 8 instances"),
      1u)
      << dump(lines);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_ERROR, ""), 1u) << dump(lines);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_DEBUG, "cannot connect"), 2u)
      << dump(lines);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_INFO, "works again"), 1u)
      << dump(lines);
}

TEST(source_test, a_different_failure_is_logged_at_error_again) {
  fake_cli cli;
  source src(test_options());
  std::string error;
  cli.set_mode("no-daemon");
  EXPECT_FALSE(src.refresh_now(&error));
  cli.set_mode("no-auth");
  EXPECT_FALSE(src.refresh_now(&error));
  EXPECT_FALSE(src.refresh_now(&error));
  auto lines = drain(src);
  EXPECT_EQ(
      count_lines(lines, MULTIPASS_LOG_ERROR, "no inventory has loaded yet"),
      2u)
      << dump(lines);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_ERROR, "not authenticated"), 1u)
      << dump(lines);
}

TEST(source_test, unusable_output_is_one_kind_of_failure_wherever_it_breaks) {
  fake_cli cli;
  source src(test_options());
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  cli.set_mode("truncated");
  EXPECT_FALSE(src.refresh_now(&error));
  cli.set_fixture("list-mixed.json");  // cut at another byte
  EXPECT_FALSE(src.refresh_now(&error));
  EXPECT_NE(error.find("unusable output"), std::string::npos) << error;
  auto lines = drain(src);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_ERROR, "unusable output"), 1u)
      << dump(lines);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_DEBUG, "unusable output"), 1u)
      << dump(lines);
}

TEST(source_test, parse_warnings_are_logged_once_per_change) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("good", "Running", "10.0.0.1"),
                           vm_json("bad_name", "Running", "10.0.0.2")}));
  source src(test_options());
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  auto lines = drain(src);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_WARNING, "bad_name"), 1u)
      << dump(lines);
  EXPECT_EQ(src.current()->vms.size(), 1u);

  cli.set_listing(listing({vm_json("good", "Running", "10.0.0.1")}));
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  cli.set_listing(listing({vm_json("good", "Running", "10.0.0.1"),
                           vm_json("bad_name", "Running", "10.0.0.2")}));
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  lines = drain(src);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_WARNING, "bad_name"), 1u)
      << dump(lines);
}

TEST(source_test, a_listing_of_duplicate_names_logs_a_few_dozen_lines) {
  fake_cli cli;
  cli.set_listing(testing_support::listing_with_case_duplicates(120000));
  source src(test_options());
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  EXPECT_EQ(src.current()->vms.size(), 120000u);
  auto lines = drain(src);
  // "loaded", 32 duplicates in full, one line for the rest.
  ASSERT_EQ(lines.size(), 34u) << dump(lines);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_WARNING, "its name repeats"),
            32u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_WARNING,
                        "... and 119,968 more warnings: 119,968 duplicate "
                        "names"),
            1u)
      << dump(lines);
  for (const auto& line : lines) EXPECT_EQ(line.dropped, 0u);
  // The same listing again: nothing new to say.
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  EXPECT_EQ(drain(src).size(), 0u);
}

TEST(source_test, an_unterminated_huge_string_is_one_short_error_line) {
  fake_cli cli;
  cli.set_listing("{\"list\": [{\"name\": \"" +
                  std::string(15u << 20, 'a'));
  source src(test_options());
  std::string error;
  EXPECT_FALSE(src.refresh_now(&error));
  EXPECT_NE(error.find("unusable output"), std::string::npos) << error;
  EXPECT_LE(error.size(), log_queue::max_line_bytes);
  auto lines = drain(src);
  ASSERT_EQ(lines.size(), 1u) << dump(lines);
  EXPECT_EQ(lines[0].level, MULTIPASS_LOG_ERROR);
  EXPECT_NE(lines[0].text.find("missing closing quote"), std::string::npos)
      << lines[0].text;
  EXPECT_LE(lines[0].text.size(), log_queue::max_line_bytes);
}

TEST(source_test, log_messages_carry_no_prefix) {
  fake_cli cli;
  source src(test_options());
  std::string error;
  ASSERT_TRUE(src.refresh_now(&error)) << error;
  auto lines = drain(src);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].text.rfind("loaded 8 instances from ", 0), 0u)
      << lines[0].text;
}

#if defined(__linux__)
// The SigBlk mask of every thread of this process.
std::vector<unsigned long long> thread_masks() {
  std::vector<unsigned long long> masks;
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return masks;
  while (dirent* task = ::readdir(dir)) {
    if (task->d_name[0] == '.') continue;
    std::string status = testing_support::read_text(
        std::string("/proc/self/task/") + task->d_name + "/status");
    size_t at = status.find("SigBlk:");
    if (at != std::string::npos)
      masks.push_back(std::stoull(status.substr(at + 7), nullptr, 16));
  }
  ::closedir(dir);
  return masks;
}

TEST(source_test,
     refresher_thread_blocks_async_signals_and_the_caller_keeps_its_mask) {
  fake_cli cli;
  source src(test_options());
  sigset_t mine;
  pthread_sigmask(SIG_SETMASK, nullptr, &mine);
  src.start();
  sigset_t after;
  pthread_sigmask(SIG_SETMASK, nullptr, &after);
  EXPECT_EQ(sigismember(&after, SIGTERM), sigismember(&mine, SIGTERM));
  EXPECT_EQ(sigismember(&after, SIGINT), sigismember(&mine, SIGINT));
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  const unsigned long long wanted =
      (1ull << (SIGTERM - 1)) | (1ull << (SIGINT - 1)) |
      (1ull << (SIGCHLD - 1)) | (1ull << (SIGHUP - 1));
  bool found = false;
  for (unsigned long long mask : thread_masks())
    found = found || (mask & wanted) == wanted;
  EXPECT_TRUE(found) << "no thread blocks SIGTERM, SIGINT, SIGCHLD and SIGHUP";
  src.stop();
}
#endif

}  // namespace
}  // namespace multipass
