// The source's two kinds of listing against the stand-in CLI: cheap
// listings between full ones, changes, misses, known non-running names,
// missing addresses, old CLIs, failures, and changed intervals. Assertions
// count runs in the stand-in's run log; times are only liveness bounds.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_cli.h"
#include "source_logs.h"
#include "listing_parser.h"
#include "resolver.h"
#include "source.h"

namespace multipass {
namespace {

using namespace std::chrono_literals;
using testing_support::eventually;
using testing_support::fake_cli;
using testing_support::count_lines;
using testing_support::drain;
using testing_support::listing;
using testing_support::look;
using testing_support::stats_of;
using testing_support::vm_json;

source_options probe_options(std::chrono::milliseconds probe) {
  source_options options;
  options.binary = fake_cli::binary();
  options.probe = probe;
  options.refresh = std::chrono::hours(1);
  options.timeout = 20s;
  options.miss_wait = 20s;
  options.demand_interval = 50ms;
  return options;
}

// A started source that has loaded its first listing.
std::shared_ptr<source> loaded_source(const source_options& options) {
  auto src = std::make_shared<source>(options);
  src->start();
  EXPECT_TRUE(eventually([&] { return src->ready(); }));
  return src;
}

// A resolver for vm.test over `src`.
resolver vm_test(std::shared_ptr<source> src) {
  resolver_options ropts;
  ropts.zones = {"vm.test"};
  return resolver(std::move(src), ropts);
}

vm_state state_of(const source& src, const std::string& key) {
  snapshot snap = src.current();  // keeps *v alive
  const vm* v = snap->find(key);
  return v ? v->state : vm_state::unknown;
}

TEST(source_probe_test, idle_runs_only_cheap_listings_between_full_ones) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  source src(probe_options(100ms));
  src.start();
  ASSERT_TRUE(eventually([&] { return cli.run_count("probe") >= 5; }));
  src.stop();
  EXPECT_EQ(cli.run_count("full"), 1u);
  multipass_source_stats_t stats{};
  stats.struct_size = sizeof stats;
  src.stats(&stats);
  EXPECT_EQ(stats.full.ok, 1u);
  EXPECT_EQ(stats.refreshes_ok, 1u);
  // Every cheap listing loaded but one that stop() may have cut short
  // (killed by the stop: no listing, counted neither way).
  EXPECT_LE(cli.run_count("probe") - (stats.probe.ok + stats.probe.failed), 1u);
  EXPECT_EQ(stats.probe.failed, 0u);
  EXPECT_EQ(stats.cli_runs, cli.run_count());
}

TEST(source_probe_test, launch_stop_delete_seen_by_the_cheap_listing) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  source src(probe_options(100ms));
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  ASSERT_EQ(cli.run_count("full"), 1u);
  // Launch: no question asked.
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1"),
                           vm_json("b", "Running", "10.0.0.2")}));
  // The cheap listing shows it at once, the full listing after it loads
  // its address.
  ASSERT_TRUE(eventually([&] { return stats_of(src).full.ok == 2; }));
  ASSERT_NE(src.current()->find("b"), nullptr);
  EXPECT_FALSE(src.current()->find("b")->ipv4.empty());
  EXPECT_EQ(cli.run_count("full"), 2u);
  // Stop, then delete: each served from its cheap listing, each followed
  // by one full listing.
  cli.set_listing(listing(
      {vm_json("a", "Running", "10.0.0.1"), vm_json("b", "Stopped", "")}));
  ASSERT_TRUE(
      eventually([&] { return state_of(src, "b") == vm_state::stopped; }));
  ASSERT_TRUE(eventually([&] { return stats_of(src).full.ok == 3; }));
  cli.set_listing(listing(
      {vm_json("a", "Running", "10.0.0.1"), vm_json("b", "Deleted", "")}));
  ASSERT_TRUE(
      eventually([&] { return state_of(src, "b") == vm_state::deleted; }));
  ASSERT_TRUE(eventually([&] { return stats_of(src).full.ok == 4; }));
  const size_t probes = cli.run_count("probe");
  ASSERT_TRUE(eventually([&] { return cli.run_count("probe") >= probes + 3; }));
  src.stop();
  EXPECT_EQ(cli.run_count("full"), 4u);  // one per change, none at idle
}

// Issue 25: the cheap listing that shows a VM stopped or deleted is served
// at once, before the full listing that follows it (which here takes an
// hour: a guest session each, an hour apiece).
TEST(source_probe_test, a_vm_that_leaves_running_stops_being_served_at_the_cheap_listing) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1"),
                           vm_json("b", "Running", "10.0.0.2"),
                           vm_json("c", "Running", "10.0.0.3")}));
  source_options options = probe_options(100ms);
  options.timeout = 2h;
  auto src = loaded_source(options);
  resolver res = vm_test(src);
  cli.set_guest_delay_ms(3600e3);
  const uint64_t loaded = stats_of(*src).full.ok;
  cli.set_listing(listing({vm_json("a", "Stopped", ""),
                           vm_json("b", "Deleted", ""),
                           vm_json("c", "Running", "10.0.0.3")}));
  ASSERT_TRUE(eventually([&] {
    return state_of(*src, "a") == vm_state::stopped &&
           state_of(*src, "b") == vm_state::deleted;
  }));
  // The full listing the change brought has begun, and will not end.
  ASSERT_TRUE(eventually([&] { return cli.run_count("full") == 2; }));
  EXPECT_EQ(stats_of(*src).full.ok, loaded);
  multipass_answer_t out{};
  out.struct_size = sizeof out;
  // Deleted: NXDOMAIN at once. Stopped: no address any more (its address
  // question waits for a look, as it may be starting: here one that comes
  // after the full listing); its other questions NODATA at once.
  ASSERT_TRUE(res.resolve("b.vm.test", 1, &out, resolve_no_wait));
  EXPECT_EQ(out.outcome, MULTIPASS_NXDOMAIN);
  ASSERT_TRUE(res.resolve("a.vm.test", 1, &out, resolve_no_wait));
  EXPECT_EQ(out.outcome, MULTIPASS_WAIT);
  ASSERT_TRUE(res.resolve("a.vm.test", 28, &out, resolve_no_wait));
  EXPECT_EQ(out.outcome, MULTIPASS_NODATA);
  // The VM still running keeps its address.
  ASSERT_TRUE(res.resolve("c.vm.test", 1, &out, resolve_no_wait));
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.addresses[3], 3);
  src->stop();
}

TEST(source_probe_test, burst_of_unknown_names_runs_no_full_listing) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  source_options options = probe_options(30min);
  options.demand_interval = 20ms;
  source src(options);
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  for (int i = 0; i < 20; ++i) {
    snapshot got = look(src);
    EXPECT_EQ(got->find("nosuch"), nullptr);
  }
  src.stop();
  EXPECT_EQ(cli.run_count("full"), 1u);
  EXPECT_GE(cli.run_count("probe"), 1u);  // the misses' cheap listings
  EXPECT_LE(cli.run_count("probe"), 20u);
}

TEST(source_probe_test, just_launched_vm_answers_its_first_question) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  auto src = loaded_source(probe_options(30min));
  resolver res = vm_test(src);
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1"),
                           vm_json("fresh", "Running", "10.0.0.7")}));
  multipass_answer_t out{};
  out.struct_size = sizeof out;
  ASSERT_TRUE(res.resolve("fresh.vm.test", 1, &out));
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.addresses[3], 7);
  // One cheap listing, then one full listing.
  EXPECT_EQ(cli.run_count("probe"), 1u);
  EXPECT_EQ(cli.run_count("full"), 2u);
  // The same through the no-wait path: WAIT, then the answer.
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1"),
                           vm_json("fresh", "Running", "10.0.0.7"),
                           vm_json("fresher", "Running", "10.0.0.8")}));
  std::this_thread::sleep_for(60ms);  // past demand_interval
  ASSERT_TRUE(res.resolve("fresher.vm.test", 1, &out, resolve_no_wait));
  ASSERT_EQ(out.outcome, MULTIPASS_WAIT);
  EXPECT_GE(src->wait_refresh(out.wait_seq, 20s), out.wait_seq);
  ASSERT_TRUE(res.resolve("fresher.vm.test", 1, &out, resolve_waited));
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  src->stop();
}

TEST(source_probe_test, deleted_name_answers_without_waiting_for_a_listing) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1"),
                           vm_json("gone", "Deleted", ""),
                           vm_json("idle", "Stopped", "")}));
  source_options options = probe_options(30min);
  options.miss_wait = 1h;
  options.timeout = 1h;
  auto src = loaded_source(options);
  resolver res = vm_test(src);
  // Every listing from now on hangs: an answer that waited for one would
  // never come.
  cli.set_mode("hang");
  const size_t runs = cli.run_count();
  multipass_answer_t out{};
  out.struct_size = sizeof out;
  ASSERT_TRUE(res.resolve("gone.vm.test", 1, &out, resolve_no_wait));
  EXPECT_EQ(out.outcome, MULTIPASS_NXDOMAIN);  // no MULTIPASS_WAIT
  ASSERT_TRUE(res.resolve("gone.vm.test", 1, &out));
  EXPECT_EQ(out.outcome, MULTIPASS_NXDOMAIN);
  // A Stopped VM's address question waits for a look (it may be starting);
  // its other questions do not.
  ASSERT_TRUE(res.resolve("idle.vm.test", 28, &out));
  EXPECT_EQ(out.outcome, MULTIPASS_NODATA);
  // The question asked for a cheap listing in the background, which is
  // still hanging: the answers above came before it ended.
  ASSERT_TRUE(eventually([&] { return cli.run_count() > runs; }));
  EXPECT_EQ(cli.field(cli.runs().back(), "kind"), "probe");
  EXPECT_EQ(cli.run_count(), runs + 1);
  src->stop();
}

TEST(source_probe_test, missing_address_lists_fully_backing_off) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("boot", "Running", "N/A")}));
  source src(probe_options(100ms));
  src.start();
  // No set change, yet full listings follow: 0, +0.1, +0.3, +0.7 s ...
  ASSERT_TRUE(eventually([&] { return cli.run_count("full") >= 4; }));
  cli.set_listing(listing({vm_json("boot", "Running", "10.0.0.5")}));
  ASSERT_TRUE(eventually([&] {
    snapshot snap = src.current();  // keeps *v alive
    const vm* v = snap->find("boot");
    return v && !v->ipv4.empty();
  }));
  // Addressed: back to cheap listings only (refresh is an hour).
  const size_t fulls = cli.run_count("full");
  const size_t probes = cli.run_count("probe");
  ASSERT_TRUE(eventually([&] { return cli.run_count("probe") >= probes + 5; }));
  src.stop();
  EXPECT_LE(cli.run_count("full"), fulls + 1);  // one may have been due
}

TEST(source_probe_test, old_cli_falls_back_warns_once_and_retries_on_upgrade) {
  fake_cli cli;
  // A private copy of the stand-in, so that the test can "upgrade" it.
  const std::string binary = cli.dir() + "/multipass";
  const std::string script = testing_support::read_text(fake_cli::binary());
  testing_support::write_text(binary, script);
  ASSERT_EQ(::chmod(binary.c_str(), 0755), 0);
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  cli.set_old_cli(true);
  source_options options = probe_options(100ms);
  options.binary = binary;
  source src(options);
  src.start();
  ASSERT_TRUE(eventually([&] { return cli.run_count("probe") >= 1; }));
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  // A miss runs a full listing (rate limited), not a cheap one.
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1"),
                           vm_json("b", "Running", "10.0.0.2")}));
  std::this_thread::sleep_for(60ms);
  snapshot got = look(src);
  EXPECT_NE(got->find("b"), nullptr);
  EXPECT_EQ(cli.run_count("probe"), 1u);  // not asked again: same binary
  auto lines = drain(src);
  // Issue 25: a state, not a failure: one INFO line, no failure counted.
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_INFO, "--no-ipv4"), 1u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_INFO, "full listings instead"),
            1u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_WARNING, ""), 0u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_ERROR, ""), 0u);
  multipass_source_stats_t stats = stats_of(src);
  EXPECT_EQ(stats.probe.failed, 0u);
  EXPECT_EQ(stats.probe.ok, 0u);
  EXPECT_EQ(stats.probe_failing_seconds, 0.0);
  EXPECT_EQ(stats.full.failed, 0u);
  // The upgrade: a changed binary that takes the flag.
  cli.set_old_cli(false);
  testing_support::write_text(binary, script + "\n# upgraded\n");
  ASSERT_EQ(::chmod(binary.c_str(), 0755), 0);
  // The next fallback full listing (within 5 s) asks for the flag again.
  ASSERT_TRUE(eventually([&] { return cli.run_count("probe") >= 3; }));
  src.stop();
  lines = drain(src);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_WARNING, ""), 0u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_INFO, "cheap listings resume"),
            1u);
  EXPECT_EQ(stats_of(src).probe.failed, 0u);
}

TEST(source_probe_test, failing_cheap_listing_serves_stale_with_one_error) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  source src(probe_options(100ms));
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  drain(src);
  cli.set_mode("no-daemon");
  const size_t probes = cli.run_count("probe");
  ASSERT_TRUE(eventually([&] { return cli.run_count("probe") >= probes + 4; }));
  EXPECT_NE(src.current()->find("a"), nullptr);  // stale, still served
  const size_t fulls = cli.run_count("full");
  cli.set_mode("ok");
  // Recovery: a full listing logs it once.
  ASSERT_TRUE(eventually([&] { return cli.run_count("full") > fulls; }));
  ASSERT_TRUE(eventually([&] {
    return cli.run_count("probe") >= probes + 8;
  }));
  src.stop();
  auto lines = drain(src);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_ERROR, ""), 1u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_ERROR, "cannot connect"), 1u);
  EXPECT_EQ(count_lines(lines, MULTIPASS_LOG_INFO, "works again"), 1u);
  multipass_source_stats_t stats{};
  stats.struct_size = sizeof stats;
  src.stats(&stats);
  EXPECT_GE(stats.probe.failed, 4u);
}

TEST(source_probe_test, probe_zero_never_lists_cheaply) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  source_options options = probe_options(0ms);
  options.refresh = 100ms;
  source src(options);
  src.start();
  ASSERT_TRUE(eventually([&] { return cli.run_count("full") >= 4; }));
  std::this_thread::sleep_for(60ms);
  look(src);            // a full listing
  src.request_probe();  // a full listing too
  src.stop();
  EXPECT_EQ(cli.run_count("probe"), 0u);
}

// Without cheap listings, a question for a known non-running name still
// looks again in the background, with a (rate-limited) full listing: a
// Deleted VM relaunched is seen without waiting for the next refresh.
TEST(source_probe_test, without_cheap_listings_a_nudge_runs_a_full_listing) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Deleted", "")}));
  source src(probe_options(0ms));  // refresh: an hour
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  src.request_probe();
  ASSERT_TRUE(
      eventually([&] { return state_of(src, "a") == vm_state::running; }));
  src.stop();
  EXPECT_EQ(cli.run_count("probe"), 0u);
  EXPECT_EQ(cli.run_count("full"), 2u);
}

TEST(source_probe_test, set_intervals_takes_effect) {
  fake_cli cli;
  cli.set_listing(listing({vm_json("a", "Running", "10.0.0.1")}));
  source src(probe_options(0ms));
  src.start();
  ASSERT_TRUE(eventually([&] { return src.ready(); }));
  EXPECT_EQ(cli.run_count("probe"), 0u);
  src.set_intervals(100ms, 1h, 20s);
  ASSERT_TRUE(eventually([&] { return cli.run_count("probe") >= 3; }));
  EXPECT_EQ(cli.run_count("full"), 1u);
  src.set_intervals(0ms, 100ms, 20s);
  const size_t fulls = cli.run_count("full");
  ASSERT_TRUE(eventually([&] { return cli.run_count("full") >= fulls + 3; }));
  EXPECT_THROW(src.set_intervals(2s, 1s, 20s), std::invalid_argument);
  src.stop();
}

}  // namespace
}  // namespace multipass
