// The resolver against every row of README.md's "What it answers",
// on inventories built here and handed over through a fake feed, plus a few
// cases over a real source.
#include "resolver.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "listing_parser.h"
#include "names.h"
#include "source.h"

// Counts heap allocations made by this thread while `counting` is set.
namespace {
thread_local bool counting = false;
thread_local int allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
// GCC cannot see that every pointer freed here came from the malloc above.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace multipass {
namespace {

constexpr uint16_t A = 1, NS = 2, SOA = 6, PTR = 12, MX = 15, TXT = 16,
                   AAAA = 28, ANY = 255;

struct vm_spec {
  std::string name;
  vm_state state;
  std::vector<std::string> ipv4;
};

snapshot make_inventory(std::initializer_list<vm_spec> specs,
                        uint32_t serial = 1) {
  auto inv = std::make_shared<inventory>();
  for (const vm_spec& spec : specs) {
    vm v;
    v.name = spec.name;
    v.key.resize(spec.name.size());
    detail::ascii_lower(spec.name, v.key.data());
    v.state = spec.state;
    for (const std::string& text : spec.ipv4) {
      uint32_t address = 0;
      if (!parse_ipv4(text, &address)) {
        throw std::invalid_argument("bad address " + text);
      }
      v.ipv4.push_back(address);
    }
    inv->vms.push_back(std::move(v));
  }
  inv->index();
  inv->serial = serial;
  return inv;
}

// tests/fixtures/list-mixed.json plus list-edge-cases.json, as the parser
// leaves them ("N/A" dropped), and an upper-case name.
snapshot fleet(uint32_t serial = 7) {
  return make_inventory(
      {
          {"primary", vm_state::running, {"10.110.24.87"}},
          {"k8s-node-01",
           vm_state::running,
           {"10.110.24.141", "192.168.1.57", "172.17.0.1"}},
          {"calm-squirrel", vm_state::stopped, {}},
          {"dev-box", vm_state::suspended, {}},
          {"web-2", vm_state::starting, {}},
          {"old-builder-2", vm_state::deleted, {}},
          {"ghost-vm", vm_state::running, {}},
          {"draining", vm_state::delayed_shutdown, {"10.110.24.33"}},
          {"rebooting", vm_state::restarting, {}},
          {"pausing", vm_state::suspending, {}},
          {"mystery", vm_state::unknown, {}},
          {"Build-Server", vm_state::running, {"10.110.24.200"}},
      },
      serial);
}

// Hands the resolver whatever inventory the test sets; a question that
// waits for a look may "load" the next inventory, as a unit would.
class fake_feed final : public inventory_feed {
 public:
  explicit fake_feed(snapshot snap, bool ready = true)
      : snap_(std::move(snap)), ready_(ready) {}

  snapshot current() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return snap_;
  }
  bool ready() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return ready_;
  }
  // Counts the looks asked for, answers the next unit's number (or 0 after
  // nothing_to_wait_for()); publishes nothing.
  uint64_t request_refresh(std::string_view address_of) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_;
    address_of_ = std::string(address_of);
    return wait_possible_ ? ++requested_ : 0;
  }
  // A blocking wait (a "miss"): the unit ends at once and publishes what
  // load_on_miss set, unless looks_hang().
  void wait_refresh(uint64_t, std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++misses_;
    if (hang_) return;
    if (next_) {
      snap_ = std::move(next_);
      ready_ = true;
    }
  }
  // Every unit asked for has ended, unless looks_hang() (unit 0 always).
  bool finished(uint64_t seq) const override {
    std::lock_guard<std::mutex> lock(mu_);
    return seq == 0 || (!hang_ && seq <= requested_);
  }
  uint32_t miss_wait_ms() const override { return 2000; }
  void request_probe() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++probes_;
  }
  int probes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return probes_;
  }

  // Publishes `snap` at once, as a background unit would.
  void publish(snapshot snap) {
    std::lock_guard<std::mutex> lock(mu_);
    snap_ = std::move(snap);
    ready_ = true;
  }
  void nothing_to_wait_for() {
    std::lock_guard<std::mutex> lock(mu_);
    wait_possible_ = false;
  }
  // No look ends from now on (a slow CLI): waits run out (or end early).
  void looks_hang(bool hang = true) {
    std::lock_guard<std::mutex> lock(mu_);
    hang_ = hang;
  }
  int requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  // The inventory the next blocking wait publishes.
  void load_on_miss(snapshot next) {
    std::lock_guard<std::mutex> lock(mu_);
    next_ = std::move(next);
  }
  // Blocking waits so far.
  int misses() const {
    std::lock_guard<std::mutex> lock(mu_);
    return misses_;
  }
  // The address_of of the last look asked for.
  std::string address_of() const {
    std::lock_guard<std::mutex> lock(mu_);
    return address_of_;
  }

 private:
  mutable std::mutex mu_;
  snapshot snap_;
  snapshot next_;
  bool ready_;
  int misses_ = 0;
  int requests_ = 0;
  int probes_ = 0;
  uint64_t requested_ = 0;
  bool wait_possible_ = true;
  bool hang_ = false;
  std::string address_of_;
};

resolver_options zones(std::initializer_list<const char*> names) {
  resolver_options opts;
  for (const char* name : names) opts.zones.emplace_back(name);
  return opts;
}

struct answer : multipass_answer_t {
  answer() {
    std::memset(static_cast<multipass_answer_t*>(this), 0xAB,
                sizeof(multipass_answer_t));
    struct_size = sizeof(multipass_answer_t);
  }
  std::vector<std::string> addresses_text() const {
    std::vector<std::string> out;
    for (uint32_t i = 0; i < count; ++i) {
      const uint8_t* a = addresses + 4 * i;
      out.push_back(std::to_string(a[0]) + "." + std::to_string(a[1]) + "." +
                    std::to_string(a[2]) + "." + std::to_string(a[3]));
    }
    return out;
  }
};

class resolver_test : public ::testing::Test {
 protected:
  void make(resolver_options opts, snapshot snap = fleet(),
            bool ready = true) {
    feed_ = std::make_shared<fake_feed>(std::move(snap), ready);
    res_ = std::make_unique<resolver>(feed_, std::move(opts));
  }
  answer ask(const std::string& name, uint16_t type,
             uint32_t flags = resolve_may_block) {
    answer out;
    EXPECT_TRUE(res_->resolve(name, type, &out, flags)) << name;
    return out;
  }
  // The question of a MULTIPASS_WAIT answer asked again after the wait,
  // with the same struct (as the C ABI says: it reads wait_seq back).
  answer ask_waited(const std::string& name, uint16_t type, answer wait) {
    EXPECT_TRUE(res_->resolve(name, type, &wait, resolve_waited)) << name;
    return wait;
  }
  void expect_a(const std::string& name, std::vector<std::string> addresses) {
    answer out = ask(name, A);
    EXPECT_EQ(out.outcome, MULTIPASS_ANSWER) << name;
    EXPECT_EQ(out.rcode, 0) << name;
    EXPECT_EQ(out.rrtype, A) << name;
    EXPECT_EQ(out.addresses_text(), addresses) << name;
  }
  void expect_outcome(const std::string& name, uint16_t type,
                      multipass_outcome outcome) {
    answer out = ask(name, type);
    EXPECT_EQ(out.outcome, outcome) << name << " type " << type;
    int rcode = outcome == MULTIPASS_NXDOMAIN   ? 3
                : outcome == MULTIPASS_SERVFAIL ? 2
                                                : 0;
    EXPECT_EQ(out.rcode, rcode) << name << " type " << type;
    if (outcome != MULTIPASS_ANSWER) {
      EXPECT_EQ(out.count, 0u) << name;
      EXPECT_EQ(out.rrtype, 0) << name;
    }
  }

  std::shared_ptr<fake_feed> feed_;
  std::unique_ptr<resolver> res_;
};

// --- <vm>.Z A --------------------------------------------------------------

TEST_F(resolver_test, running_vm_answers_its_address) {
  resolver_options opts = zones({"vm.test"});
  opts.ttl = 33;
  make(opts);
  answer out = ask("primary.vm.test.", A);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.rcode, 0);
  EXPECT_EQ(out.zone, 0);
  EXPECT_EQ(out.rrtype, A);
  EXPECT_EQ(out.ttl, 33u);
  EXPECT_EQ(out.addresses_text(), std::vector<std::string>{"10.110.24.87"});
  EXPECT_EQ(feed_->misses(), 0);  // a known name never waits
}

TEST_F(resolver_test, delayed_shutdown_vm_answers) {
  make(zones({"vm.test"}));
  expect_a("draining.vm.test", {"10.110.24.33"});
}

TEST_F(resolver_test, name_without_trailing_dot_answers) {
  make(zones({"vm.test."}));
  expect_a("primary.vm.test", {"10.110.24.87"});
  expect_a("primary.vm.test.", {"10.110.24.87"});
}

TEST_F(resolver_test, any_answers_the_address) {
  make(zones({"vm.test"}));
  answer out = ask("primary.vm.test", ANY);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.rrtype, A);
  EXPECT_EQ(out.addresses_text(), std::vector<std::string>{"10.110.24.87"});
}

TEST_F(resolver_test, first_address_by_default) {
  make(zones({"vm.test"}));
  expect_a("k8s-node-01.vm.test", {"10.110.24.141"});
}

TEST_F(resolver_test, all_addresses_in_cli_order) {
  resolver_options opts = zones({"vm.test"});
  opts.addresses_all = true;
  make(opts);
  expect_a("k8s-node-01.vm.test",
           {"10.110.24.141", "192.168.1.57", "172.17.0.1"});
  expect_a("primary.vm.test", {"10.110.24.87"});
}

TEST_F(resolver_test, networks_pick_the_first_address_inside) {
  resolver_options opts = zones({"vm.test"});
  opts.networks = {"192.168.0.0/16"};
  make(opts);
  expect_a("k8s-node-01.vm.test", {"192.168.1.57"});
}

TEST_F(resolver_test, networks_filter_all_addresses) {
  resolver_options opts = zones({"vm.test"});
  opts.networks = {"172.16.0.0/12", "10.110.24.0/24"};
  opts.addresses_all = true;
  make(opts);
  expect_a("k8s-node-01.vm.test", {"10.110.24.141", "172.17.0.1"});
}

TEST_F(resolver_test, networks_with_nothing_inside_give_nodata) {
  for (bool all : {false, true}) {
    resolver_options opts = zones({"vm.test"});
    opts.networks = {"192.168.0.0/16"};
    opts.addresses_all = all;
    make(opts);
    expect_outcome("primary.vm.test", A, MULTIPASS_NODATA);
  }
}

TEST_F(resolver_test, single_address_network) {
  resolver_options opts = zones({"vm.test"});
  opts.networks = {"172.17.0.1"};
  make(opts);
  expect_a("k8s-node-01.vm.test", {"172.17.0.1"});
}

// --- addresses that aim at the host (issue 28) ------------------------------

// A guest reports what its interfaces hold: with one that put 127.0.0.1 (or
// another host-only address) first, and one that reports nothing else.
snapshot guests_aiming_at_the_host() {
  return make_inventory({
      {"sly", vm_state::running,
       {"127.0.0.1", "0.0.0.0", "169.254.1.1", "224.0.0.251",
        "255.255.255.255", "240.0.0.7", "10.110.24.9", "127.0.0.53"}},
      {"loopy", vm_state::running, {"127.0.0.1", "169.254.169.254"}},
  });
}

TEST_F(resolver_test, host_only_addresses_are_never_served_by_default) {
  for (bool all : {false, true}) {
    resolver_options opts = zones({"vm.test", "in-addr.arpa"});
    opts.addresses_all = all;
    make(opts, guests_aiming_at_the_host());
    expect_a("sly.vm.test", {"10.110.24.9"});  // the first servable one
    expect_outcome("loopy.vm.test", A, MULTIPASS_NODATA);
    expect_outcome("1.0.0.127.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
    expect_outcome("254.169.254.169.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
    expect_outcome("9.24.110.10.in-addr.arpa", PTR, MULTIPASS_ANSWER);
  }
}

TEST_F(resolver_test, a_network_that_merely_covers_a_host_only_block_does_not_name_it) {
  resolver_options opts = zones({"vm.test"});
  opts.networks = {"0.0.0.0/0"};
  opts.addresses_all = true;
  make(opts, guests_aiming_at_the_host());
  expect_a("sly.vm.test", {"10.110.24.9"});
  expect_outcome("loopy.vm.test", A, MULTIPASS_NODATA);
}

TEST_F(resolver_test, a_network_inside_a_host_only_block_serves_it) {
  resolver_options opts = zones({"vm.test", "in-addr.arpa"});
  opts.networks = {"169.254.0.0/16", "10.0.0.0/8"};
  opts.addresses_all = true;
  make(opts, guests_aiming_at_the_host());
  expect_a("sly.vm.test", {"169.254.1.1", "10.110.24.9"});
  expect_a("loopy.vm.test", {"169.254.169.254"});
  expect_outcome("254.169.254.169.in-addr.arpa", PTR, MULTIPASS_ANSWER);
  expect_outcome("1.0.0.127.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
  opts.networks = {"127.0.0.53/32"};
  opts.addresses_all = false;
  make(opts, guests_aiming_at_the_host());
  expect_a("sly.vm.test", {"127.0.0.53"});
}

TEST_F(resolver_test, a_listing_whose_guest_reports_loopback_never_answers_it) {
  parsed_listing parsed = parse_listing(R"({"list": [
    {"name": "sly", "state": "Running", "ipv4": ["127.0.0.1", "10.110.24.9"]},
    {"name": "loopy", "state": "Running", "ipv4": ["127.0.0.1"]}]})");
  ASSERT_TRUE(parsed.error.empty()) << parsed.error;
  parsed.inv->serial = 1;
  make(zones({"vm.test"}), snapshot(std::move(parsed.inv)));
  expect_a("sly.vm.test", {"10.110.24.9"});
  expect_outcome("loopy.vm.test", A, MULTIPASS_NODATA);
}

// --- <vm>.Z other types ----------------------------------------------------

TEST_F(resolver_test, other_types_at_a_vm_give_nodata_with_soa) {
  resolver_options opts = zones({"vm.test"});
  opts.negative_ttl = 4;
  make(opts, fleet(99));
  for (uint16_t type : {AAAA, MX, TXT, NS, SOA, PTR, uint16_t{65}}) {
    answer out = ask("primary.vm.test", type);
    EXPECT_EQ(out.outcome, MULTIPASS_NODATA) << type;
    EXPECT_EQ(out.rcode, 0) << type;
    EXPECT_EQ(out.zone, 0) << type;
    EXPECT_EQ(out.count, 0u) << type;
    EXPECT_EQ(out.soa.serial, 99u) << type;
    EXPECT_EQ(out.soa.minimum, 4u) << type;
  }
  EXPECT_EQ(feed_->misses(), 0);
}

// --- <vm>.Z, VM known but not serving -------------------------------------

TEST_F(resolver_test, vms_not_running_give_nodata) {
  make(zones({"vm.test"}));
  for (const char* name : {"calm-squirrel", "dev-box", "web-2", "rebooting",
                           "pausing", "mystery"}) {
    expect_outcome(std::string(name) + ".vm.test", A, MULTIPASS_NODATA);
  }
  // Each may be coming up: its first question waited for a look (a cheap
  // one: no address is asked for), the next ones within negative_ttl not.
  EXPECT_EQ(feed_->misses(), 6);
  EXPECT_EQ(feed_->address_of(), "");
  expect_outcome("calm-squirrel.vm.test", A, MULTIPASS_NODATA);
  EXPECT_EQ(feed_->misses(), 6);
}

TEST_F(resolver_test, a_running_vm_without_an_address_asks_for_one) {
  make(zones({"vm.test"}));
  feed_->load_on_miss(make_inventory(
      {{"ghost-vm", vm_state::running, {"10.110.24.5"}}}, 8));
  expect_a("ghost-vm.vm.test", {"10.110.24.5"});
  EXPECT_EQ(feed_->address_of(), "ghost-vm");  // a full listing, if new
  // The same without blocking: MULTIPASS_WAIT, then the answer.
  make(zones({"vm.test"}));
  answer wait = ask("Ghost-VM.vm.test", A, resolve_no_wait);
  EXPECT_EQ(wait.outcome, MULTIPASS_WAIT);
  EXPECT_EQ(feed_->address_of(), "ghost-vm");
  feed_->publish(make_inventory(
      {{"ghost-vm", vm_state::running, {"10.110.24.5"}}}, 8));
  answer after = ask_waited("Ghost-VM.vm.test", A, wait);
  EXPECT_EQ(after.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(after.addresses_text(), std::vector<std::string>{"10.110.24.5"});
}

TEST_F(resolver_test, only_address_questions_wait_for_a_vm_coming_up) {
  make(zones({"vm.test"}));
  for (uint16_t type : {AAAA, MX, TXT}) {
    expect_outcome("calm-squirrel.vm.test", type, MULTIPASS_NODATA);
    expect_outcome("ghost-vm.vm.test", type, MULTIPASS_NODATA);
  }
  EXPECT_EQ(feed_->misses(), 0);
  EXPECT_EQ(ask("calm-squirrel.vm.test", AAAA).soa.minimum, 5u);
}

TEST_F(resolver_test, running_vm_without_an_address_gives_nodata) {
  make(zones({"vm.test"}));
  expect_outcome("ghost-vm.vm.test", A, MULTIPASS_NODATA);
}

TEST_F(resolver_test, stopped_vm_with_a_stale_address_gives_nodata) {
  make(zones({"vm.test"}),
       make_inventory({{"old", vm_state::stopped, {"10.0.0.9"}}}));
  expect_outcome("old.vm.test", A, MULTIPASS_NODATA);
}

// --- <unknown>.Z -----------------------------------------------------------

TEST_F(resolver_test, unknown_name_waits_once_then_nxdomain) {
  make(zones({"vm.test"}));
  for (uint16_t type : {A, AAAA, TXT}) {
    answer out = ask("nosuch.vm.test", type);
    EXPECT_EQ(out.outcome, MULTIPASS_NXDOMAIN);
    EXPECT_EQ(out.rcode, 3);
    EXPECT_EQ(out.zone, 0);
    EXPECT_EQ(out.soa.serial, 7u);
    EXPECT_EQ(out.soa.minimum, 5u);
  }
  // The first question waited; the refresh left the name missing, so the
  // others (within negative_ttl) did not wait again.
  EXPECT_EQ(feed_->misses(), 1);
}

// --- <unknown>.Z asked again: the memory of missing names -------------------

TEST_F(resolver_test, missing_name_asked_again_does_not_wait) {
  make(zones({"vm.test"}));
  for (int i = 0; i < 10; ++i) {
    expect_outcome("nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  }
  EXPECT_EQ(feed_->misses(), 1);
  // In any case (DNS 0x20) and any type.
  expect_outcome("NoSuch.VM.test.", AAAA, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 1);
  // Another missing name waits for a refresh of its own.
  expect_outcome("other.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 2);
  expect_outcome("other.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 2);
}

TEST_F(resolver_test, missing_name_remembered_carries_the_current_soa) {
  make(zones({"vm.test"}));
  expect_outcome("nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  // A background refresh changed the inventory: a VM got an address.
  feed_->publish(make_inventory({{"ghost-vm", vm_state::running, {"10.110.24.9"}}}, 42));
  answer out = ask("nosuch.vm.test", A);
  EXPECT_EQ(out.outcome, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(out.soa.serial, 42u);
  EXPECT_EQ(feed_->misses(), 1);
}

TEST_F(resolver_test, missing_name_that_appears_answers_at_once) {
  make(zones({"vm.test"}));
  expect_outcome("fresh.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 1);
  // Launched meanwhile and picked up by a background refresh.
  feed_->publish(make_inventory(
      {{"fresh", vm_state::running, {"10.110.24.9"}}}, 8));
  expect_a("fresh.vm.test", {"10.110.24.9"});
  EXPECT_EQ(feed_->misses(), 1);
}

TEST_F(resolver_test, remembered_missing_name_counts_its_negative_ttl_down) {
  resolver_options opts = zones({"vm.test"});
  opts.negative_ttl = 3;
  make(opts);
  // A missing name, and a Stopped VM (it may be starting): each waits once.
  const std::vector<std::pair<std::string, multipass_outcome>> names = {
      {"gone.vm.test", MULTIPASS_NXDOMAIN},
      {"calm-squirrel.vm.test", MULTIPASS_NODATA}};
  for (const auto& [name, outcome] : names) {
    answer first = ask(name, A);
    EXPECT_EQ(first.outcome, outcome);
    EXPECT_EQ(first.soa.minimum, 3u);  // a fresh miss: the full negative TTL
    EXPECT_EQ(first.soa.ttl, 3u);
  }
  EXPECT_EQ(feed_->probes(), 0);  // the waits asked for the looks
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  for (const auto& [name, outcome] : names) {
    answer later = ask(name, A);
    EXPECT_EQ(later.outcome, outcome);
    // The time it is still remembered, whole seconds rounded up, at least 1.
    EXPECT_GE(later.soa.minimum, 1u);
    EXPECT_LE(later.soa.minimum, 2u);
    EXPECT_EQ(later.soa.ttl, later.soa.minimum);
  }
  EXPECT_EQ(feed_->misses(), 2);  // answered from the memory
  EXPECT_EQ(feed_->probes(), 1);  // the known VM nudged a cheap listing
  // Other negative answers keep the full TTL.
  EXPECT_EQ(ask("dev-box.vm.test", A).soa.minimum, 3u);
  // Started meanwhile and loaded by a background listing: the address at
  // once, memory or not.
  feed_->publish(make_inventory(
      {{"calm-squirrel", vm_state::running, {"10.110.24.77"}}}, 8));
  expect_a("calm-squirrel.vm.test", {"10.110.24.77"});
}

TEST_F(resolver_test, missing_name_waits_again_after_negative_ttl) {
  resolver_options opts = zones({"vm.test"});
  opts.negative_ttl = 1;
  make(opts);
  expect_outcome("fresh.vm.test", A, MULTIPASS_NXDOMAIN);
  expect_outcome("fresh.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 1);
  // Launched, but no refresh has listed it yet: after the window the next
  // question asks for one and gets the VM.
  feed_->load_on_miss(make_inventory(
      {{"fresh", vm_state::running, {"10.110.24.9"}}}, 8));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  expect_a("fresh.vm.test", {"10.110.24.9"});
  EXPECT_EQ(feed_->misses(), 2);
}

TEST_F(resolver_test, zero_negative_ttl_remembers_nothing) {
  resolver_options opts = zones({"vm.test"});
  opts.negative_ttl = 0;
  make(opts);
  for (int i = 0; i < 3; ++i) {
    expect_outcome("nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  }
  EXPECT_EQ(feed_->misses(), 3);
}

TEST_F(resolver_test, missing_vm_label_is_remembered_below_it_too) {
  resolver_options opts = zones({"vm.test"});
  opts.wildcard = true;
  make(opts);
  expect_outcome("x.nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  expect_outcome("nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  expect_outcome("y.NOSUCH.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 1);
}

TEST_F(resolver_test, known_names_never_touch_the_memory_of_missing_names) {
  make(zones({"vm.test", "in-addr.arpa"}));
  expect_a("primary.vm.test", {"10.110.24.87"});
  expect_outcome("calm-squirrel.vm.test", AAAA, MULTIPASS_NODATA);
  expect_outcome("1.24.110.10.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
  expect_outcome("x.primary.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 0);
  // A deleted VM is known: NXDOMAIN at once, no wait.
  expect_outcome("old-builder-2.vm.test", A, MULTIPASS_NXDOMAIN);
  expect_outcome("old-builder-2.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 0);
}

TEST_F(resolver_test, deleted_vm_gives_nxdomain_without_waiting) {
  make(zones({"vm.test"}));
  answer out = ask("old-builder-2.vm.test", A);
  EXPECT_EQ(out.outcome, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(out.soa.minimum, 5u);  // a full negative TTL: it is listed
  EXPECT_EQ(feed_->misses(), 0);
  EXPECT_EQ(feed_->requests(), 0);
  EXPECT_EQ(feed_->probes(), 1);  // a cheap listing in the background
  // The same without blocking: no MULTIPASS_WAIT either.
  answer quick = ask("old-builder-2.vm.test", A, resolve_no_wait);
  EXPECT_EQ(quick.outcome, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->requests(), 0);
}

TEST_F(resolver_test, known_non_running_names_ask_for_a_cheap_listing) {
  make(zones({"vm.test"}));
  // Stopped, a question that does not wait: a nudge in the background.
  expect_outcome("calm-squirrel.vm.test", AAAA, MULTIPASS_NODATA);
  EXPECT_EQ(feed_->probes(), 1);
  expect_a("primary.vm.test", {"10.110.24.87"});  // running: no nudge
  EXPECT_EQ(feed_->probes(), 1);
  EXPECT_EQ(feed_->misses(), 0);
}

// `multipass launch fresh`, or `multipass start calm-squirrel` (the
// inventory still says Stopped), then at once a question: the look it waits
// for loads the address.
TEST_F(resolver_test, vm_launched_a_moment_ago_answers_after_the_refresh) {
  for (const char* name : {"fresh", "calm-squirrel"}) {
    make(zones({"vm.test"}));
    feed_->load_on_miss(make_inventory(
        {{name, vm_state::running, {"10.110.24.9"}}}, 8));
    answer out = ask(std::string(name) + ".vm.test", A);
    EXPECT_EQ(out.outcome, MULTIPASS_ANSWER) << name;
    EXPECT_EQ(out.addresses_text(), std::vector<std::string>{"10.110.24.9"});
    EXPECT_EQ(out.soa.serial, 8u);  // the refreshed inventory's
    EXPECT_EQ(feed_->misses(), 1);
  }
}

TEST_F(resolver_test, deleted_vm_relaunched_answers_after_the_listing) {
  make(zones({"vm.test"}));
  expect_outcome("old-builder-2.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->probes(), 1);
  // The cheap listing it asked for saw the relaunch; a full one loaded it.
  feed_->publish(make_inventory(
      {{"old-builder-2", vm_state::running, {"10.110.24.10"}}}, 8));
  expect_a("old-builder-2.vm.test", {"10.110.24.10"});
}

// --- x.<vm>.Z --------------------------------------------------------------

TEST_F(resolver_test, name_below_a_vm_gives_nxdomain) {
  make(zones({"vm.test"}));
  expect_outcome("x.primary.vm.test", A, MULTIPASS_NXDOMAIN);
  expect_outcome("a.b.primary.vm.test", AAAA, MULTIPASS_NXDOMAIN);
}

TEST_F(resolver_test, wildcard_answers_below_a_vm) {
  resolver_options opts = zones({"vm.test"});
  opts.wildcard = true;
  make(opts);
  expect_a("x.primary.vm.test", {"10.110.24.87"});
  expect_a("a.B.primary.vm.test.", {"10.110.24.87"});
  expect_outcome("x.primary.vm.test", AAAA, MULTIPASS_NODATA);
  expect_outcome("x.calm-squirrel.vm.test", A, MULTIPASS_NODATA);
  expect_outcome("x.nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  expect_outcome("x.old-builder-2.vm.test", A, MULTIPASS_NXDOMAIN);
}

TEST_F(resolver_test, escaped_dot_is_part_of_the_label) {
  resolver_options opts = zones({"vm.test"});
  opts.wildcard = true;
  make(opts);
  // One label "a.primary", not "a" below "primary".
  expect_outcome("a\\.primary.vm.test", A, MULTIPASS_NXDOMAIN);
  // An escaped dot does not end the zone's label either.
  expect_outcome("primary.vm\\.test", A, MULTIPASS_NOT_MINE);
}

// --- case ------------------------------------------------------------------

TEST_F(resolver_test, mixed_case_names_match) {
  make(zones({"VM.Test"}));
  expect_a("PrImArY.Vm.TeSt", {"10.110.24.87"});
  expect_a("PRIMARY.VM.TEST.", {"10.110.24.87"});
  EXPECT_EQ(feed_->misses(), 0);
}

TEST_F(resolver_test, upper_case_vm_names_match_any_case) {
  make(zones({"vm.test"}));
  expect_a("build-server.vm.test", {"10.110.24.200"});
  expect_a("Build-Server.vm.test", {"10.110.24.200"});
  expect_a("BUILD-SERVER.VM.TEST", {"10.110.24.200"});
}

// --- apex ------------------------------------------------------------------

TEST_F(resolver_test, apex_soa) {
  resolver_options opts = zones({"vm.test"});
  opts.negative_ttl = 6;
  make(opts, fleet(1234));
  answer out = ask("Vm.Test.", SOA);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.rcode, 0);
  EXPECT_EQ(out.zone, 0);
  EXPECT_EQ(out.rrtype, SOA);
  EXPECT_EQ(out.count, 1u);
  EXPECT_EQ(out.ttl, 6u);
  EXPECT_EQ(out.soa.serial, 1234u);
  EXPECT_EQ(out.soa.refresh, soa_refresh);
  EXPECT_EQ(out.soa.retry, soa_retry);
  EXPECT_EQ(out.soa.expire, soa_expire);
  EXPECT_EQ(out.soa.minimum, 6u);
  EXPECT_EQ(out.soa.ttl, 6u);
}

TEST_F(resolver_test, apex_ns) {
  resolver_options opts = zones({"vm.test"});
  opts.ttl = 20;
  make(opts);
  answer out = ask("vm.test", NS);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.rrtype, NS);
  EXPECT_EQ(out.count, 1u);
  EXPECT_EQ(out.ttl, 20u);
  EXPECT_STREQ(out.target, "ns1.vm.test.");
}

TEST_F(resolver_test, apex_other_types_give_nodata) {
  make(zones({"vm.test"}));
  for (uint16_t type : {A, AAAA, MX, TXT, PTR, ANY}) {
    answer out = ask("vm.test.", type);
    EXPECT_EQ(out.outcome, MULTIPASS_NODATA) << type;
    EXPECT_EQ(out.zone, 0) << type;
    EXPECT_EQ(out.soa.serial, 7u) << type;
  }
  EXPECT_EQ(feed_->misses(), 0);
}

TEST_F(resolver_test, zone_names_for_the_soa) {
  make(zones({"VM.Test.", "."}));
  ASSERT_EQ(res_->zones().size(), 2u);
  EXPECT_EQ(res_->zones()[0].origin, "vm.test.");
  EXPECT_EQ(res_->zones()[0].mname, "ns1.vm.test.");
  EXPECT_EQ(res_->zones()[0].rname, "hostmaster.vm.test.");
  EXPECT_EQ(res_->zones()[1].origin, ".");
  EXPECT_EQ(res_->zones()[1].mname, "ns1.");
}

// --- not mine --------------------------------------------------------------

TEST_F(resolver_test, names_outside_every_zone_are_not_mine) {
  make(zones({"vm.test"}));
  for (const char* name : {"example.com", "xvm.test", "primary.xvm.test",
                           "test", "vm.test.example", "primary", ".", ""}) {
    answer out = ask(name, A);
    EXPECT_EQ(out.outcome, MULTIPASS_NOT_MINE) << name;
    EXPECT_EQ(out.zone, -1) << name;
    EXPECT_EQ(out.rcode, 0) << name;
    EXPECT_EQ(out.count, 0u) << name;
  }
  EXPECT_EQ(feed_->misses(), 0);
}

TEST_F(resolver_test, longest_zone_wins) {
  make(zones({"test", "vm.test", "internal"}));
  answer out = ask("primary.vm.test", A);
  EXPECT_EQ(out.zone, 1);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  out = ask("primary.test", A);
  EXPECT_EQ(out.zone, 0);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  out = ask("vm.test", SOA);  // the apex of the longer zone
  EXPECT_EQ(out.zone, 1);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  out = ask("primary.internal", A);
  EXPECT_EQ(out.zone, 2);
}

TEST_F(resolver_test, root_zone_holds_every_name) {
  make(zones({"."}));
  expect_a("primary.", {"10.110.24.87"});
  expect_outcome("primary.vm.test", A, MULTIPASS_NXDOMAIN);
  answer out = ask(".", SOA);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.zone, 0);
}

// --- reverse ---------------------------------------------------------------

TEST_F(resolver_test, ptr_for_a_served_address) {
  resolver_options opts = zones({"vm.test", "24.110.10.in-addr.arpa"});
  opts.ttl = 15;
  make(opts);
  answer out = ask("87.24.110.10.in-addr.arpa.", PTR);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.zone, 1);
  EXPECT_EQ(out.rrtype, PTR);
  EXPECT_EQ(out.count, 1u);
  EXPECT_EQ(out.ttl, 15u);
  EXPECT_STREQ(out.target, "primary.vm.test.");
  out = ask("33.24.110.10.IN-ADDR.ARPA", PTR);
  EXPECT_STREQ(out.target, "draining.vm.test.");
  out = ask("200.24.110.10.in-addr.arpa", PTR);
  EXPECT_STREQ(out.target, "build-server.vm.test.");  // the lower-case key
  EXPECT_EQ(feed_->misses(), 0);
}

TEST_F(resolver_test, ptr_target_uses_the_first_forward_zone) {
  make(zones({"10.in-addr.arpa", "vm.internal", "vm.test"}));
  answer out = ask("87.24.110.10.in-addr.arpa", PTR);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.zone, 0);
  EXPECT_STREQ(out.target, "primary.vm.internal.");
}

TEST_F(resolver_test, ptr_for_an_address_no_vm_serves_gives_nxdomain) {
  make(zones({"vm.test", "10.in-addr.arpa"}));
  expect_outcome("1.24.110.10.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
  expect_outcome("1.24.110.10.in-addr.arpa", A, MULTIPASS_NXDOMAIN);
}

TEST_F(resolver_test, ptr_only_for_addresses_the_forward_side_serves) {
  // First address only: k8s-node-01's second and third are not served.
  make(zones({"vm.test", "in-addr.arpa"}));
  expect_outcome("141.24.110.10.in-addr.arpa", PTR, MULTIPASS_ANSWER);
  expect_outcome("57.1.168.192.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
  expect_outcome("1.0.17.172.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);

  resolver_options all = zones({"vm.test", "in-addr.arpa"});
  all.addresses_all = true;
  make(all);
  answer out = ask("57.1.168.192.in-addr.arpa", PTR);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_STREQ(out.target, "k8s-node-01.vm.test.");

  resolver_options inside = zones({"vm.test", "in-addr.arpa"});
  inside.networks = {"192.168.0.0/16"};
  make(inside);
  expect_outcome("57.1.168.192.in-addr.arpa", PTR, MULTIPASS_ANSWER);
  expect_outcome("141.24.110.10.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
}

TEST_F(resolver_test, ptr_not_for_vms_that_do_not_serve) {
  make(zones({"vm.test", "in-addr.arpa"}),
       make_inventory({{"old", vm_state::stopped, {"10.0.0.9"}},
                       {"gone", vm_state::deleted, {"10.0.0.8"}}}));
  expect_outcome("9.0.0.10.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
  expect_outcome("8.0.0.10.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
}

TEST_F(resolver_test, ptr_for_a_shared_address_names_a_vm_serving_it) {
  resolver_options opts = zones({"vm.test", "in-addr.arpa"});
  opts.addresses_all = true;
  make(opts, make_inventory({
                 {"stopped-one", vm_state::stopped, {"172.17.0.1"}},
                 {"a", vm_state::running, {"10.0.0.1", "172.17.0.1"}},
                 {"b", vm_state::running, {"10.0.0.2", "172.17.0.1"}},
             }));
  answer out = ask("1.0.17.172.in-addr.arpa", PTR);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_STREQ(out.target, "a.vm.test.");
}

TEST_F(resolver_test, other_types_at_a_served_address_give_nodata) {
  make(zones({"vm.test", "24.110.10.in-addr.arpa"}));
  for (uint16_t type : {A, AAAA, TXT, NS}) {
    expect_outcome("87.24.110.10.in-addr.arpa", type, MULTIPASS_NODATA);
  }
}

TEST_F(resolver_test, partial_reverse_names_above_served_addresses) {
  make(zones({"vm.test", "10.in-addr.arpa"}));
  expect_outcome("24.110.10.in-addr.arpa", PTR, MULTIPASS_NODATA);
  expect_outcome("110.10.in-addr.arpa", NS, MULTIPASS_NODATA);
  expect_outcome("25.110.10.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
  expect_outcome("111.10.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
}

TEST_F(resolver_test, malformed_reverse_names_give_nxdomain) {
  make(zones({"vm.test", "10.in-addr.arpa"}));
  for (const char* name :
       {"x.24.110.10.in-addr.arpa", "087.24.110.10.in-addr.arpa",
        "256.24.110.10.in-addr.arpa", "1.87.24.110.10.in-addr.arpa",
        "-1.24.110.10.in-addr.arpa"}) {
    expect_outcome(name, PTR, MULTIPASS_NXDOMAIN);
  }
}

TEST_F(resolver_test, reverse_apex) {
  make(zones({"vm.test", "24.110.10.in-addr.arpa"}));
  answer out = ask("24.110.10.in-addr.arpa.", SOA);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.rrtype, SOA);
  EXPECT_EQ(out.zone, 1);
  out = ask("24.110.10.in-addr.arpa", NS);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  // The nameserver of the forward zone serves the reverse one too.
  EXPECT_STREQ(out.target, "ns1.vm.test.");
  expect_outcome("24.110.10.in-addr.arpa", PTR, MULTIPASS_NODATA);
}

TEST_F(resolver_test, ptr_without_a_forward_zone_gives_nxdomain) {
  make(zones({"24.110.10.in-addr.arpa"}));
  expect_outcome("87.24.110.10.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
}

TEST_F(resolver_test, ptr_target_over_255_octets_gives_nxdomain) {
  std::string label(60, 'z');
  // 193 octets: 63 + 1 + 193 + 1 + the root's 1 > 255.
  std::string zone = label + "." + label + "." + label + ".abcdefghij";
  std::string vm_name(63, 'v');
  make(zones({zone.c_str(), "in-addr.arpa"}),
       make_inventory({{vm_name, vm_state::running, {"10.0.0.1"}},
                       {"short", vm_state::running, {"10.0.0.2"}}}));
  expect_outcome("1.0.0.10.in-addr.arpa", PTR, MULTIPASS_NXDOMAIN);
  answer out = ask("2.0.0.10.in-addr.arpa", PTR);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(std::string(out.target), "short." + zone + ".");
}

// --- before the first load -------------------------------------------------

TEST_F(resolver_test, servfail_before_the_first_load) {
  make(zones({"vm.test", "in-addr.arpa"}), std::make_shared<inventory>(),
       false);
  for (const char* name :
       {"primary.vm.test", "vm.test", "87.24.110.10.in-addr.arpa"}) {
    answer out = ask(name, A);
    EXPECT_EQ(out.outcome, MULTIPASS_SERVFAIL) << name;
    EXPECT_EQ(out.rcode, 2) << name;
    EXPECT_EQ(out.count, 0u) << name;
  }
  EXPECT_EQ(feed_->misses(), 3);  // each waited once for the first load
  EXPECT_EQ(ask("example.com", A).outcome, MULTIPASS_NOT_MINE);
  EXPECT_EQ(feed_->misses(), 3);
}

TEST_F(resolver_test, first_load_during_the_wait_answers) {
  make(zones({"vm.test"}), std::make_shared<inventory>(), false);
  feed_->load_on_miss(fleet());
  expect_a("primary.vm.test", {"10.110.24.87"});
  EXPECT_EQ(feed_->misses(), 1);
  expect_outcome("nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 2);
}

TEST_F(resolver_test, unknown_name_before_the_first_load_waits_only_once) {
  make(zones({"vm.test"}), std::make_shared<inventory>(), false);
  feed_->load_on_miss(fleet());
  expect_outcome("nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 1);
}

// --- the caller waits (resolve_no_wait, then resolve_waited) ----------------

TEST_F(resolver_test, no_wait_unknown_name_asks_the_caller_to_wait) {
  make(zones({"vm.test"}));
  answer out = ask("nosuch.vm.test", A, resolve_no_wait);
  EXPECT_EQ(out.outcome, MULTIPASS_WAIT);
  EXPECT_EQ(out.wait_seq, 1u);
  EXPECT_EQ(out.wait_ms, 2000u);
  EXPECT_EQ(feed_->requests(), 1);
  EXPECT_EQ(feed_->misses(), 0);  // it never blocked
  // Asked again after the wait: still missing, so NXDOMAIN, remembered.
  out = ask_waited("nosuch.vm.test", A, out);
  EXPECT_EQ(out.outcome, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(out.rcode, 3);
  EXPECT_EQ(out.soa.serial, 7u);
  for (uint32_t flags : {resolve_no_wait, resolve_may_block}) {
    EXPECT_EQ(ask("NoSuch.vm.test", AAAA, flags).outcome, MULTIPASS_NXDOMAIN);
  }
  EXPECT_EQ(feed_->requests(), 1);
  EXPECT_EQ(feed_->misses(), 0);
}

TEST_F(resolver_test, no_wait_vm_launched_during_the_wait_answers) {
  make(zones({"vm.test"}));
  answer wait = ask("fresh.vm.test", A, resolve_no_wait);
  EXPECT_EQ(wait.outcome, MULTIPASS_WAIT);
  feed_->publish(make_inventory(
      {{"fresh", vm_state::running, {"10.110.24.9"}}}, 8));  // the unit
  answer out = ask_waited("fresh.vm.test", A, wait);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.addresses_text(), std::vector<std::string>{"10.110.24.9"});
  EXPECT_EQ(out.soa.serial, 8u);
}

TEST_F(resolver_test, no_wait_never_defers_what_needs_no_refresh) {
  make(zones({"vm.test", "in-addr.arpa"}));
  EXPECT_EQ(ask("primary.vm.test", A, resolve_no_wait).outcome,
            MULTIPASS_ANSWER);
  EXPECT_EQ(ask("primary.vm.test", AAAA, resolve_no_wait).outcome,
            MULTIPASS_NODATA);
  EXPECT_EQ(ask("x.primary.vm.test", A, resolve_no_wait).outcome,
            MULTIPASS_NXDOMAIN);
  EXPECT_EQ(ask("1.24.110.10.in-addr.arpa", PTR, resolve_no_wait).outcome,
            MULTIPASS_NXDOMAIN);
  EXPECT_EQ(ask("vm.test", SOA, resolve_no_wait).outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(ask("example.com", A, resolve_no_wait).outcome,
            MULTIPASS_NOT_MINE);
  EXPECT_EQ(feed_->requests(), 0);
}

TEST_F(resolver_test, no_wait_with_nothing_to_wait_for_answers_at_once) {
  make(zones({"vm.test"}));
  feed_->nothing_to_wait_for();  // stopped source, or miss_wait 0
  EXPECT_EQ(ask("nosuch.vm.test", A, resolve_no_wait).outcome,
            MULTIPASS_NXDOMAIN);
  EXPECT_EQ(ask("nosuch.vm.test", A, resolve_no_wait).outcome,
            MULTIPASS_NXDOMAIN);
  // No look ended: nothing is remembered, each asks for one again.
  EXPECT_EQ(feed_->requests(), 2);
}

// Issue 25: a question whose wait runs out before its look ends (a slow
// CLI) is not answered as missing and not remembered: SERVFAIL ("could not
// look"), unless the snapshot settles it.
TEST_F(resolver_test, a_wait_that_runs_out_is_servfail_and_not_remembered) {
  make(zones({"vm.test"}));
  feed_->looks_hang();
  expect_outcome("nosuch.vm.test", A, MULTIPASS_SERVFAIL);
  expect_outcome("calm-squirrel.vm.test", A, MULTIPASS_SERVFAIL);
  EXPECT_EQ(feed_->misses(), 2);
  // Not remembered: asked again, each waits again.
  expect_outcome("nosuch.vm.test", A, MULTIPASS_SERVFAIL);
  EXPECT_EQ(feed_->misses(), 3);
  // What needs no look answers as ever.
  expect_a("primary.vm.test", {"10.110.24.87"});
  expect_outcome("calm-squirrel.vm.test", AAAA, MULTIPASS_NODATA);
  expect_outcome("old-builder-2.vm.test", A, MULTIPASS_NXDOMAIN);
  // A unit that ends later: the name waits once more, and is missing then.
  feed_->looks_hang(false);
  expect_outcome("nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  expect_outcome("nosuch.vm.test", A, MULTIPASS_NXDOMAIN);
  EXPECT_EQ(feed_->misses(), 4);
}

// The same for a caller that waits its own way: it asks again with the
// struct of its MULTIPASS_WAIT answer, whose unit has not ended (its wait
// ran out, or ended early at a reload).
TEST_F(resolver_test, no_wait_asked_again_before_its_unit_ended) {
  make(zones({"vm.test"}));
  feed_->looks_hang();
  answer wait = ask("nosuch.vm.test", A, resolve_no_wait);
  ASSERT_EQ(wait.outcome, MULTIPASS_WAIT);
  EXPECT_EQ(ask_waited("nosuch.vm.test", A, wait).outcome, MULTIPASS_SERVFAIL);
  // A VM the snapshot shows meanwhile answers.
  wait = ask("fresh.vm.test", A, resolve_no_wait);
  ASSERT_EQ(wait.outcome, MULTIPASS_WAIT);
  feed_->publish(make_inventory(
      {{"fresh", vm_state::running, {"10.110.24.9"}}}, 8));
  answer out = ask_waited("fresh.vm.test", A, wait);
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  // Not remembered: the next question asks for a look again.
  feed_->looks_hang(false);
  EXPECT_EQ(ask("nosuch.vm.test", A, resolve_no_wait).outcome, MULTIPASS_WAIT);
  EXPECT_EQ(feed_->requests(), 3);
}

// A caller of revision 3 did not pass wait_seq back (0): any wait counts.
TEST_F(resolver_test, waited_without_a_unit_number_counts_as_looked) {
  make(zones({"vm.test"}));
  feed_->looks_hang();
  answer out;
  out.wait_seq = 0;
  ASSERT_TRUE(res_->resolve("nosuch.vm.test", A, &out, resolve_waited));
  EXPECT_EQ(out.outcome, MULTIPASS_NXDOMAIN);
  expect_outcome("nosuch.vm.test", A, MULTIPASS_NXDOMAIN);  // remembered
  EXPECT_EQ(feed_->misses(), 0);
}

TEST_F(resolver_test, no_wait_before_the_first_load) {
  make(zones({"vm.test"}), std::make_shared<inventory>(), false);
  EXPECT_EQ(ask("primary.vm.test", A, resolve_no_wait).outcome,
            MULTIPASS_WAIT);
  EXPECT_EQ(ask("vm.test", SOA, resolve_no_wait).outcome, MULTIPASS_WAIT);
  // The wait ran out with nothing loaded.
  feed_->looks_hang();
  EXPECT_EQ(ask_waited("primary.vm.test", A,
                       ask("primary.vm.test", A, resolve_no_wait))
                .outcome,
            MULTIPASS_SERVFAIL);
  feed_->looks_hang(false);
  feed_->publish(fleet());
  expect_a("primary.vm.test", {"10.110.24.87"});
  EXPECT_EQ(feed_->misses(), 0);
}

// --- arguments -------------------------------------------------------------

TEST_F(resolver_test, invalid_options_are_rejected) {
  auto feed = std::make_shared<fake_feed>(fleet());
  auto build = [&](resolver_options opts) {
    resolver r(feed, std::move(opts));
  };
  EXPECT_THROW(build(resolver_options{}), std::invalid_argument);
  for (const char* zone :
       {"", "a..b", "..", "vm test", "vm\\.test", "x.in-addr.arpa",
        "1.2.3.4.5.in-addr.arpa", "010.in-addr.arpa"}) {
    EXPECT_THROW(build(zones({zone})), std::invalid_argument) << zone;
  }
  EXPECT_THROW(build(zones({(std::string(64, 'a') + ".test").c_str()})),
               std::invalid_argument);
  for (const char* network : {"10.0.0.0/33", "10.0.0.1/24", "10.0.0/24",
                              "example", "10.0.0.0/", "300.0.0.0/8"}) {
    resolver_options opts = zones({"vm.test"});
    opts.networks = {network};
    EXPECT_THROW(build(opts), std::invalid_argument) << network;
  }
  EXPECT_NO_THROW(build(zones({"vm.test", ".", "10.in-addr.arpa",
                               "in-addr.arpa", "4.3.2.1.in-addr.arpa"})));
}

TEST_F(resolver_test, questions_allocate_nothing) {
  resolver_options opts = zones({"vm.test", "in-addr.arpa"});
  opts.addresses_all = true;
  make(opts);
  answer out;
  // The first question for a missing name, or a VM without an address,
  // remembers it (and may allocate); asking again answers from that memory
  // without allocating.
  res_->resolve("nosuch.vm.test", A, &out);
  res_->resolve("calm-squirrel.vm.test", A, &out);
  counting = true;
  allocations = 0;
  res_->resolve("K8S-Node-01.vm.test.", A, &out);
  res_->resolve("primary.vm.test", AAAA, &out);
  res_->resolve("calm-squirrel.vm.test", A, &out);
  res_->resolve("nosuch.vm.test", A, &out);
  res_->resolve("141.24.110.10.in-addr.arpa", PTR, &out);
  res_->resolve("vm.test", SOA, &out);
  res_->resolve("example.com", A, &out);
  counting = false;
  EXPECT_EQ(allocations, 0);
  // The counter works: this allocates.
  counting = true;
  auto probe = std::make_unique<int>(1);
  counting = false;
  EXPECT_EQ(allocations, 1);
}

TEST_F(resolver_test, overlong_names_are_refused) {
  make(zones({"vm.test"}));
  answer out;
  std::string name(2000, 'a');
  EXPECT_FALSE(res_->resolve(name + ".vm.test", A, &out));
}

// --- over a real source ----------------------------------------------------

class scratch_dir {
 public:
  scratch_dir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "resolver_test.XXXXXX")
            .string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp");
    path_ = pattern;
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(resolver_source_test, servfail_until_a_listing_loads_then_answers) {
  scratch_dir dir;
  std::filesystem::copy_file(
      std::filesystem::path(FIXTURES_DIR) / "list-mixed.json",
      dir.path() / "list.json");
  {
    std::ofstream mode(dir.path() / "mode");
    mode << "no-daemon\n";
  }
  ASSERT_EQ(setenv("MULTIPASS_FAKE_DIR", dir.path().c_str(), 1), 0);

  source_options sopts;
  sopts.binary = FAKE_MULTIPASS;
  sopts.probe = std::chrono::milliseconds(0);
  sopts.miss_wait = std::chrono::milliseconds(0);
  auto src = std::make_shared<source>(sopts);
  resolver res(src, zones({"vm.test"}));

  answer out;
  ASSERT_TRUE(res.resolve("primary.vm.test", A, &out));
  EXPECT_EQ(out.outcome, MULTIPASS_SERVFAIL);
  std::string error;
  EXPECT_FALSE(src->refresh_now(&error));
  ASSERT_TRUE(res.resolve("primary.vm.test", A, &out));
  EXPECT_EQ(out.outcome, MULTIPASS_SERVFAIL);

  std::filesystem::remove(dir.path() / "mode");
  ASSERT_TRUE(src->refresh_now(&error)) << error;
  ASSERT_TRUE(res.resolve("PRIMARY.vm.test.", A, &out));
  EXPECT_EQ(out.outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(out.addresses_text(), std::vector<std::string>{"10.110.24.87"});
  EXPECT_NE(out.soa.serial, 0u);
  ASSERT_TRUE(res.resolve("web-2.vm.test", A, &out));
  EXPECT_EQ(out.outcome, MULTIPASS_NODATA);
  ASSERT_TRUE(res.resolve("old-builder-2.vm.test", A, &out));
  EXPECT_EQ(out.outcome, MULTIPASS_NXDOMAIN);
  unsetenv("MULTIPASS_FAKE_DIR");
}

TEST(resolver_source_test, concurrent_questions_while_the_source_refreshes) {
  scratch_dir dir;
  std::filesystem::copy_file(
      std::filesystem::path(FIXTURES_DIR) / "list-mixed.json",
      dir.path() / "list.json");
  ASSERT_EQ(setenv("MULTIPASS_FAKE_DIR", dir.path().c_str(), 1), 0);

  source_options sopts;
  sopts.binary = FAKE_MULTIPASS;
  sopts.probe = std::chrono::milliseconds(0);
  sopts.refresh = std::chrono::milliseconds(5);
  sopts.demand_interval = std::chrono::milliseconds(5);
  sopts.miss_wait = std::chrono::milliseconds(2000);
  auto src = std::make_shared<source>(sopts);
  src->start();
  resolver_options opts = zones({"vm.test", "in-addr.arpa"});
  opts.addresses_all = true;
  resolver res(src, opts);

  // The first question waits for the first load.
  answer first;
  ASSERT_TRUE(res.resolve("primary.vm.test", A, &first));
  ASSERT_EQ(first.outcome, MULTIPASS_ANSWER);

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&res, &wrong, t] {
      for (int i = 0; i < 3000; ++i) {
        answer out;
        bool ok = res.resolve("K8S-node-01.vm.test", A, &out) &&
                  out.outcome == MULTIPASS_ANSWER && out.count == 3 &&
                  out.addresses[3] == 141;
        ok = ok && res.resolve("141.24.110.10.in-addr.arpa", PTR, &out) &&
             out.outcome == MULTIPASS_ANSWER &&
             std::string(out.target) == "k8s-node-01.vm.test.";
        if (i % 300 == t) {  // a few misses, each waiting for a refresh
          ok = ok && res.resolve("nosuch.vm.test", A, &out) &&
               out.outcome == MULTIPASS_NXDOMAIN;
        }
        if (!ok) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  src->stop();
  EXPECT_EQ(wrong.load(), 0);
  answer after;
  ASSERT_TRUE(res.resolve("primary.vm.test", A, &after));
  EXPECT_EQ(after.outcome, MULTIPASS_ANSWER);  // the inventory stays
  unsetenv("MULTIPASS_FAKE_DIR");
}

}  // namespace
}  // namespace multipass
