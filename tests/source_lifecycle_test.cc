// Every way a VM comes up, against the stand-in playing a timeline: a
// question for a VM coming up waits for the look that sees it up; a VM
// without an address is looked at every probe while it is new to that
// state; full listings that fail back off while cheap listings keep names
// and states current. Assertions count runs in the stand-in's run log;
// times are only liveness bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_cli.h"
#include "resolver.h"
#include "source.h"
#include "source_logs.h"

namespace multipass {
namespace {

using namespace std::chrono_literals;
using testing_support::count_lines;
using testing_support::drain;
using testing_support::eventually;
using testing_support::fake_cli;
using testing_support::stats_of;

source_options lifecycle_options(std::chrono::milliseconds probe,
                                 std::chrono::milliseconds refresh) {
  source_options options;
  options.binary = fake_cli::binary();
  options.probe = probe;
  options.refresh = refresh;
  options.timeout = 20s;
  options.miss_wait = 20s;
  options.demand_interval = 20ms;
  return options;
}

struct lookup {
  int outcome;
  std::string address;  // the first one, dotted
};

lookup ask(const resolver& res, const std::string& name) {
  multipass_answer_t out{};
  out.struct_size = sizeof out;
  EXPECT_TRUE(res.resolve(name, 1, &out));
  lookup got{out.outcome, ""};
  if (out.count > 0) {
    for (int i = 0; i < 4; ++i)
      got.address += (i ? "." : "") + std::to_string(out.addresses[i]);
  }
  return got;
}

std::shared_ptr<resolver> resolver_over(std::shared_ptr<source> src) {
  resolver_options ropts;
  ropts.zones = {"vm.test"};
  return std::make_shared<resolver>(std::move(src), ropts);
}

vm_state state_of(const source& src, const std::string& key) {
  snapshot snap = src.current();  // keeps *v alive
  const vm* v = snap->find(key);
  return v ? v->state : vm_state::unknown;
}

std::string address_of(const source& src, const std::string& key) {
  snapshot snap = src.current();
  const vm* v = snap->find(key);
  if (!v || v->ipv4.empty()) return "";
  const uint32_t a = v->ipv4.front();
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) +
         "." + std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

std::vector<std::string> kinds_since(const fake_cli& cli, size_t mark) {
  std::vector<std::string> kinds;
  const auto runs = cli.runs();
  for (size_t i = mark; i < runs.size(); ++i)
    kinds.push_back(fake_cli::field(runs[i], "kind"));
  return kinds;
}

// `multipass start`, `restart` (a new address) and `resume`, each followed
// at once by a question: the inventory still holds the state before (no
// background listing for an hour), and the question gets the address.
TEST(source_lifecycle_test, start_restart_resume_answer_the_first_question) {
  struct transition {
    const char* before;  // the VM's line before the command
    const char* after;   // when the command returned
    const char* address;
  };
  const std::vector<transition> transitions = {
      {"Stopped", "Running 10.0.0.5", "10.0.0.5"},
      {"Restarting", "Running 10.0.0.6", "10.0.0.6"},
      {"Suspended", "Running 10.0.0.7", "10.0.0.7"},
  };
  for (const transition& t : transitions) {
    fake_cli cli;
    cli.set_timeline(std::string("0 other Running 10.0.0.1\n0 vm ") +
                     t.before + "\n");
    auto src = std::make_shared<source>(lifecycle_options(1h, 2h));
    src->start();
    ASSERT_TRUE(eventually([&] { return src->ready(); }));
    auto res = resolver_over(src);
    std::this_thread::sleep_for(30ms);  // past demand_interval
    const size_t mark = cli.run_count();
    cli.set_timeline(std::string("0 other Running 10.0.0.1\n0 vm ") + t.after +
                     "\n");
    const lookup got = ask(*res, "vm.vm.test");
    EXPECT_EQ(got.outcome, MULTIPASS_ANSWER) << t.before;
    EXPECT_EQ(got.address, t.address) << t.before;
    // One cheap listing saw the change, one full listing loaded it.
    EXPECT_EQ(kinds_since(cli, mark),
              (std::vector<std::string>{"probe", "full"}))
        << t.before;
    src->stop();
  }
}

// A Running VM whose address is not known yet ("N/A"): a question asks for
// a full listing at once (a cheap one cannot show an address) while the VM
// is new to lacking one; later only for a look at names and states.
TEST(source_lifecycle_test, a_question_for_a_new_vm_without_an_address_lists_fully) {
  fake_cli cli;
  cli.set_timeline("0 boot Running N/A\n");
  // refresh 1s: a VM is new to lacking an address for a second.
  auto src = std::make_shared<source>(lifecycle_options(900ms, 1s));
  src->start();
  ASSERT_TRUE(eventually([&] { return src->ready(); }));
  auto res = resolver_over(src);
  std::this_thread::sleep_for(30ms);
  size_t mark = cli.run_count();
  cli.set_timeline("0 boot Running 10.0.0.8\n");
  lookup got = ask(*res, "boot.vm.test");
  EXPECT_EQ(got.address, "10.0.0.8");
  // A full listing at once, no cheap listing first.
  EXPECT_EQ(kinds_since(cli, mark).at(0), "full");

  // Another VM that has lacked an address for longer than refresh: the
  // question waits for a cheap listing only.
  cli.set_timeline("0 boot Running 10.0.0.8\n0 stuck Running N/A\n");
  ASSERT_TRUE(eventually([&] { return src->current()->find("stuck"); }));
  std::this_thread::sleep_for(1200ms);  // no longer new to lacking one
  // Right after a unit that ended in a full listing, the next background
  // listing is a probe (900 ms) away, so the listings after the question
  // are its look's: on a loaded machine a full listing due anyway could
  // otherwise come first.
  ASSERT_TRUE(eventually([&] {
    const uint64_t ended = src->units_finished();
    return eventually([&] { return src->units_finished() > ended; }) &&
           fake_cli::field(cli.runs().back(), "kind") == "full";
  }));
  mark = cli.run_count();
  got = ask(*res, "stuck.vm.test");
  EXPECT_EQ(got.outcome, MULTIPASS_NODATA);
  const auto kinds = kinds_since(cli, mark);
  ASSERT_FALSE(kinds.empty());
  EXPECT_EQ(kinds.front(), "probe");
  src->stop();
}

// One VM never gets an address; another one starts beside it later: the
// newcomer is looked at every probe (not at the backoff the old one has
// reached), and its address is served once the listing shows it.
TEST(source_lifecycle_test, a_vm_that_never_gets_an_address_delays_no_other) {
  fake_cli cli;
  const std::string never = "0 never Running N/A\n0 late Stopped\n";
  cli.set_timeline(never);
  // refresh 2s: `never` is past its window after 2 s.
  auto src = std::make_shared<source>(lifecycle_options(200ms, 2s));
  src->start();
  ASSERT_TRUE(eventually([&] { return src->ready(); }));
  std::this_thread::sleep_for(2500ms);
  // `never` is old now: full listings come every second or two at most.
  size_t fulls = cli.run_count("full");
  std::this_thread::sleep_for(1000ms);
  EXPECT_LE(cli.run_count("full"), fulls + 1);
  // `late` starts: Running, no address yet; its address comes 1 s later.
  cli.set_timeline("0 never Running N/A\n0 late Running N/A\n"
                   "1 late Running 10.0.0.9\n");
  ASSERT_TRUE(eventually(
      [&] { return state_of(*src, "late") == vm_state::running; }));
  const size_t mark = cli.run_count();
  ASSERT_TRUE(eventually([&] { return address_of(*src, "late") == "10.0.0.9"; }));
  // While `late` is new to lacking an address, every look is a full
  // listing, at the probe's pace (`never` alone would leave cheap listings
  // between full ones refresh apart). Counted in listings, not seconds, so
  // that a slow machine shows the same: no cheap listing between, but
  // perhaps one that started as the address loaded.
  std::vector<std::string> kinds = cli.kinds();
  kinds.erase(kinds.begin(), kinds.begin() + static_cast<long>(mark));
  if (!kinds.empty() && kinds.back() == "probe") kinds.pop_back();
  EXPECT_FALSE(kinds.empty());
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "probe"), 0)
      << "listings while late was new: " << testing::PrintToString(kinds);
  src->stop();
}

// multipass main fails the whole full listing (`list failed: IP not
// available`) while a VM boots; the cheap listing still works.
TEST(source_lifecycle_test, failing_full_listings_back_off_while_names_stay_current) {
  fake_cli cli;
  const std::string fleet =
      "cli main\nbanner\n0 a Running 10.0.0.1\n0 b Running 10.0.0.2\n"
      "0 c Running 10.0.0.3\n";
  cli.set_timeline(fleet);
  auto src = std::make_shared<source>(lifecycle_options(100ms, 800ms));
  src->start();
  ASSERT_TRUE(eventually([&] { return src->ready(); }));
  drain(*src);
  // A VM boots: every full listing fails from now on.
  cli.set_timeline(fleet + "0 boot Running N/A\n");
  ASSERT_TRUE(eventually([&] {
    return stats_of(*src).full.failed >= 1;
  }));
  const size_t fulls = cli.run_count("full");
  const size_t probes = cli.run_count("probe");
  // Meanwhile questions for unknown names flood the source (1.5 s, and at
  // least five of the looks they wait for, however slow the machine): each
  // waits for a look, a cheap listing that shows nothing new: full listings
  // keep to their backoff (0.1, 0.2, 0.4, 0.8, 0.8 s ...), and never come
  // more than one a probe interval.
  auto res = resolver_over(src);
  const auto flood_start = std::chrono::steady_clock::now();
  for (int i = 0; std::chrono::steady_clock::now() - flood_start < 1500ms ||
                  cli.run_count("probe") - probes < 5;
       ++i)
    ask(*res, "nosuch-" + std::to_string(i) + ".vm.test");
  const double flood_s = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - flood_start)
                             .count();
  const size_t flood_fulls = cli.run_count("full") - fulls;
  // 0.1 + 0.2 + 0.4 + 0.8 = 1.5 s for the first four, then one a 0.8 s.
  EXPECT_LE(flood_fulls, static_cast<size_t>(5 + (flood_s - 1.5) / 0.8));
  EXPECT_LE(flood_fulls, static_cast<size_t>(flood_s / 0.1) + 1);
  // Without questions: backing off up to refresh (800 ms).
  const size_t quiet_fulls = cli.run_count("full");
  std::this_thread::sleep_for(1600ms);
  EXPECT_LE(cli.run_count("full"), quiet_fulls + 3);
  ASSERT_TRUE(eventually([&] { return stats_of(*src).full_backoff_ms == 800u; }));
  multipass_source_stats_t stats = stats_of(*src);
  EXPECT_GT(stats.full_failing_seconds, 1.0);
  EXPECT_EQ(stats.probe_failing_seconds, 0.0);

  // Meanwhile b is deleted (purged), c stopped, d launched: the cheap
  // listing applies it; a keeps its address.
  cli.set_timeline(
      "cli main\nbanner\n0 a Running 10.0.0.1\n0 c Stopped\n"
      "0 d Running 10.0.0.4\n0 boot Running N/A\n");
  ASSERT_TRUE(eventually([&] {
    return !src->current()->find("b") &&
           state_of(*src, "c") == vm_state::stopped &&
           src->current()->find("d");
  }));
  EXPECT_EQ(address_of(*src, "a"), "10.0.0.1");
  EXPECT_EQ(address_of(*src, "c"), "");
  EXPECT_EQ(address_of(*src, "d"), "");  // no full listing has shown it
  EXPECT_EQ(ask(*res, "b.vm.test").outcome, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(ask(*res, "c.vm.test").outcome, MULTIPASS_NODATA);
  EXPECT_EQ(ask(*res, "a.vm.test").address, "10.0.0.1");
  // A VM launched now and asked for at once: it exists, without an address
  // (the full listing its question may bring forward fails too).
  cli.set_timeline(
      "cli main\nbanner\n0 a Running 10.0.0.1\n0 c Stopped\n"
      "0 d Running 10.0.0.4\n0 e Running 10.0.0.5\n0 boot Running N/A\n");
  EXPECT_EQ(ask(*res, "e.vm.test").outcome, MULTIPASS_NODATA);

  // The boot ends: the next full listing works, and loads d's address.
  cli.set_timeline(
      "cli main\nbanner\n0 a Running 10.0.0.1\n0 c Stopped\n"
      "0 d Running 10.0.0.4\n0 e Running 10.0.0.5\n"
      "0 boot Running 10.0.0.9\n");
  ASSERT_TRUE(eventually([&] { return address_of(*src, "d") == "10.0.0.4"; }));
  // The counters follow the published inventory at the end of that unit of
  // work (a reader can come between the two).
  EXPECT_TRUE(eventually([&] {
    stats = stats_of(*src);
    return stats.full_failing_seconds == 0.0 && stats.full_backoff_ms == 0u;
  })) << "failing " << stats.full_failing_seconds << " s, backoff "
      << stats.full_backoff_ms << " ms";
  src->stop();
  // Two lines for the outage: a WARNING naming the error (not the
  // banner), an INFO when it works again.
  const auto lines = drain(*src);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_WARNING, ""), 1u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_WARNING,
                        "list failed: IP not available"),
            1u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_WARNING, "deprecated"), 0u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_ERROR, ""), 0u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_INFO, "works again"), 1u);
}

// When the daemon itself fails (the cheap listing too), that is an error,
// and the first cheap listing that works again is followed by a full one.
TEST(source_lifecycle_test, a_daemon_outage_recovers_with_a_full_listing_at_once) {
  fake_cli cli;
  cli.set_timeline("0 a Running 10.0.0.1\n");
  auto src = std::make_shared<source>(lifecycle_options(100ms, 1h));
  src->start();
  ASSERT_TRUE(eventually([&] { return src->ready(); }));
  drain(*src);
  cli.set_mode("no-daemon");
  ASSERT_TRUE(eventually([&] { return stats_of(*src).probe.failed >= 3; }));
  EXPECT_GT(stats_of(*src).probe_failing_seconds, 0.0);
  cli.set_timeline("0 a Running 10.0.0.11\n0 b Running 10.0.0.2\n");
  cli.set_mode("ok");
  ASSERT_TRUE(eventually([&] { return address_of(*src, "b") == "10.0.0.2"; }));
  EXPECT_EQ(address_of(*src, "a"), "10.0.0.11");
  EXPECT_EQ(stats_of(*src).probe_failing_seconds, 0.0);
  src->stop();
  const auto lines = drain(*src);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_ERROR, "cannot connect"), 1u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_INFO, "works again"), 1u);
}

}  // namespace
}  // namespace multipass
