// The inventory's lookup index and its hot records (inventory.h), checked
// against a linear scan, and the resolver's A answers read from them.
#include "inventory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "listing_parser.h"
#include "names.h"
#include "resolver.h"

namespace multipass {
namespace {

constexpr uint16_t A = 1, AAAA = 28, ANY = 255;
constexpr size_t cap = hot_vm::key_capacity;

uint32_t ip(const char* text) {
  uint32_t address = 0;
  EXPECT_TRUE(parse_ipv4(text, &address)) << text;
  return address;
}

vm make_vm(std::string key, vm_state state = vm_state::running,
           std::vector<uint32_t> ipv4 = {}) {
  vm v;
  v.name = key;
  v.key = std::move(key);
  v.state = state;
  v.ipv4 = std::move(ipv4);
  return v;
}

// The first VM whose key is `key`, by a linear scan: what find() promises.
const vm* scan(const inventory& inv, const std::string& key) {
  for (const vm& v : inv.vms) {
    if (v.key == key) return &v;
  }
  return nullptr;
}

// hot[i] holds what its comment says of vms[i].
void expect_hot_mirrors_vms(const inventory& inv) {
  ASSERT_EQ(inv.hot.size(), inv.vms.size());
  for (size_t i = 0; i < inv.vms.size(); ++i) {
    const vm& v = inv.vms[i];
    const hot_vm& h = inv.hot[i];
    EXPECT_EQ(&inv.hot_of(v), &h);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(&h) % 32, 0u) << "not aligned";
    EXPECT_EQ(h.state, v.state) << v.key;
    std::vector<uint32_t> servable;
    for (uint32_t address : v.ipv4) {
      if (!detail::host_only_address(address)) servable.push_back(address);
    }
    EXPECT_EQ(h.ipv4_count, std::min<size_t>(servable.size(), 255)) << v.key;
    EXPECT_EQ(h.first_ipv4, servable.empty() ? 0 : servable[0]) << v.key;
    EXPECT_EQ(h.key_size, std::min<size_t>(v.key.size(), 255)) << v.key;
    std::string inline_key(h.key, cap);
    std::string expected = v.key.substr(0, cap);
    expected.resize(cap, '\0');
    EXPECT_EQ(inline_key, expected) << v.key;
  }
}

TEST(inventory_test, empty_inventory_finds_nothing) {
  inventory inv;
  EXPECT_EQ(inv.find("a"), nullptr);  // not indexed yet
  EXPECT_TRUE(inv.index());
  EXPECT_EQ(inv.find("a"), nullptr);
  EXPECT_EQ(inv.find(""), nullptr);
  EXPECT_EQ(inv.locate("a"), inventory::npos);
  EXPECT_TRUE(inv.hot.empty());
}

TEST(inventory_test, keys_longer_than_the_inline_capacity) {
  const std::string prefix(cap, 'k');  // what all these keys share inline
  inventory inv;
  inv.vms.push_back(make_vm(prefix));                // exactly inline
  inv.vms.push_back(make_vm(prefix + "a"));          // one octet more
  inv.vms.push_back(make_vm(prefix + "b"));          // differs after inline
  inv.vms.push_back(make_vm(prefix + "-long-tail"));
  inv.vms.push_back(make_vm(std::string(63, 'z')));  // the longest label
  inv.vms.push_back(make_vm(prefix.substr(1)));      // one octet less
  ASSERT_TRUE(inv.index());
  expect_hot_mirrors_vms(inv);
  for (const vm& v : inv.vms) EXPECT_EQ(inv.find(v.key), &v) << v.key;

  // Absent keys that match a stored key inline, or in length, or neither.
  for (const std::string& absent :
       {prefix + "c", prefix + "ab", prefix + "-long-taiL",
        prefix + "-long-tai",
        prefix + "-long-tail-", std::string(62, 'z'), std::string(64, 'z'),
        prefix.substr(2), std::string(cap - 1, 'k') + "j",
        std::string(cap, 'k') + std::string(40, 'k'), std::string("k")}) {
    EXPECT_EQ(inv.find(absent), nullptr) << absent;
  }
}

// The key compare behind a slot whose hash matches (a real collision is
// too rare to arrange here, so has_key is asked directly).
TEST(inventory_test, has_key_compares_the_whole_key) {
  const std::string prefix(cap, 'k');
  inventory inv;
  inv.vms.push_back(make_vm(prefix + "-long-tail"));
  inv.vms.push_back(make_vm(prefix));
  inv.vms.push_back(make_vm("short"));
  ASSERT_TRUE(inv.index());
  EXPECT_TRUE(inv.has_key(0, prefix + "-long-tail"));
  EXPECT_FALSE(inv.has_key(0, prefix + "-long-taiL"));  // differs past inline
  EXPECT_FALSE(inv.has_key(0, prefix + "-long-tai"));
  EXPECT_FALSE(inv.has_key(0, "j" + prefix.substr(1) + "-long-tail"));
  EXPECT_FALSE(inv.has_key(0, prefix));
  EXPECT_TRUE(inv.has_key(1, prefix));
  EXPECT_FALSE(inv.has_key(1, prefix + "-long-tail"));
  EXPECT_FALSE(inv.has_key(1, prefix.substr(1)));
  EXPECT_FALSE(inv.has_key(1, prefix.substr(1) + "j"));
  EXPECT_TRUE(inv.has_key(2, "short"));
  EXPECT_FALSE(inv.has_key(2, "shor"));
  EXPECT_FALSE(inv.has_key(2, "shorT"));
  EXPECT_FALSE(inv.has_key(2, "short-"));
  EXPECT_FALSE(inv.has_key(2, ""));
}

TEST(inventory_test, keys_sharing_an_inline_prefix_differ_by_length) {
  inventory inv;
  std::string key;
  for (int n = 1; n <= 63; ++n) {
    key += static_cast<char>('a' + n % 26);
    inv.vms.push_back(make_vm(key, vm_state::running,
                              {0x0a000000u + static_cast<uint32_t>(n)}));
  }
  ASSERT_TRUE(inv.index());
  expect_hot_mirrors_vms(inv);
  key.clear();
  for (int n = 1; n <= 63; ++n) {
    key += static_cast<char>('a' + n % 26);
    const vm* v = inv.find(key);
    ASSERT_NE(v, nullptr) << key;
    EXPECT_EQ(v->key, key);
    EXPECT_EQ(inv.hot_of(*v).first_ipv4,
              0x0a000000u + static_cast<uint32_t>(n));
  }
  EXPECT_EQ(inv.find(key + "x"), nullptr);
}

TEST(inventory_test, duplicate_keys_find_the_first) {
  const std::string long_key = std::string(cap + 5, 'd');
  inventory inv;
  inv.vms.push_back(make_vm("web", vm_state::stopped, {ip("10.0.0.1")}));
  inv.vms.push_back(make_vm(long_key, vm_state::deleted));
  inv.vms.push_back(make_vm("web", vm_state::running, {ip("10.0.0.2")}));
  inv.vms.push_back(make_vm(long_key, vm_state::running, {ip("10.0.0.3")}));
  inv.vms.push_back(make_vm("db"));
  EXPECT_FALSE(inv.index());  // keys repeat
  expect_hot_mirrors_vms(inv);
  EXPECT_EQ(inv.find("web"), &inv.vms[0]);
  EXPECT_EQ(inv.hot_of(*inv.find("web")).state, vm_state::stopped);
  EXPECT_EQ(inv.find(long_key), &inv.vms[1]);
  EXPECT_EQ(inv.find("db"), &inv.vms[4]);
  EXPECT_EQ(inv.locate("db"), 4u);
}

TEST(inventory_test, reindexing_rebuilds_the_hot_records) {
  inventory inv;
  inv.vms.push_back(make_vm("one", vm_state::running, {ip("10.0.0.1")}));
  ASSERT_TRUE(inv.index());
  inv.vms.push_back(make_vm("two", vm_state::stopped, {}));
  inv.vms[0].ipv4 = {ip("10.0.0.9"), ip("10.0.0.1")};
  ASSERT_TRUE(inv.index());
  expect_hot_mirrors_vms(inv);
  EXPECT_EQ(inv.find("two"), &inv.vms[1]);
  EXPECT_EQ(inv.hot_of(inv.vms[0]).first_ipv4, ip("10.0.0.9"));
  EXPECT_EQ(inv.hot_of(inv.vms[0]).ipv4_count, 2);
}

TEST(inventory_test, address_counts_are_capped) {
  inventory inv;
  std::vector<uint32_t> many(300);
  for (size_t i = 0; i < many.size(); ++i) {
    many[i] = 0x0a000000u + static_cast<uint32_t>(i);
  }
  inv.vms.push_back(make_vm("many", vm_state::running, many));
  ASSERT_TRUE(inv.index());
  expect_hot_mirrors_vms(inv);
  EXPECT_EQ(inv.hot[0].ipv4_count, 255);
}

// The hot record holds the first address a client may be given: a guest
// that lists 127.0.0.1 (or another host-only address) first does not put it
// on the fast path.
TEST(inventory_test, the_hot_record_skips_host_only_addresses) {
  inventory inv;
  inv.vms.push_back(make_vm("sly", vm_state::running,
                            {ip("127.0.0.1"), ip("169.254.0.9"),
                             ip("10.110.24.9"), ip("0.0.0.0")}));
  inv.vms.push_back(make_vm("loopy", vm_state::running, {ip("127.0.0.1")}));
  ASSERT_TRUE(inv.index());
  expect_hot_mirrors_vms(inv);
  EXPECT_EQ(inv.hot[0].first_ipv4, ip("10.110.24.9"));
  EXPECT_EQ(inv.hot[0].ipv4_count, 1);
  EXPECT_EQ(inv.hot[1].ipv4_count, 0);
}

// Random keys from a small alphabet, many sharing long prefixes, with
// duplicates: find() agrees with a linear scan for present and absent keys.
TEST(inventory_test, find_agrees_with_a_linear_scan) {
  std::mt19937 rng(7);
  auto random_key = [&rng]() {
    static const char alphabet[] = "ab-";
    size_t size = 1 + rng() % 63;
    bool shared = rng() % 2 == 0;  // half start with the same 24 octets
    std::string key = shared ? std::string(24, 'a') : std::string();
    while (key.size() < size) key += alphabet[rng() % 2];
    key.resize(size);
    return key;
  };
  for (size_t count : {0u, 1u, 7u, 8u, 9u, 100u, 1000u}) {
    inventory inv;
    for (size_t i = 0; i < count; ++i) {
      // Now and then a duplicate of an earlier key.
      std::string key = i > 0 && rng() % 8 == 0
                            ? inv.vms[rng() % i].key
                            : random_key();
      inv.vms.push_back(make_vm(key, static_cast<vm_state>(rng() % 10)));
    }
    inv.index();
    expect_hot_mirrors_vms(inv);
    for (const vm& v : inv.vms) {
      EXPECT_EQ(inv.find(v.key), scan(inv, v.key)) << v.key;
    }
    for (int probe = 0; probe < 2000; ++probe) {
      std::string key = random_key();
      EXPECT_EQ(inv.find(key), scan(inv, key)) << key;
    }
  }
}

TEST(inventory_test, the_parser_builds_the_hot_records) {
  parsed_listing result = parse_listing(R"({"list": [
    {"name": "Primary", "state": "Running", "ipv4": ["10.0.0.7", "10.0.0.8"]},
    {"name": "primary", "state": "Stopped", "ipv4": []},
    {"name": "a-very-long-instance-name-indeed", "state": "Running",
     "ipv4": ["N/A", "10.0.0.9"]}
  ]})");
  ASSERT_TRUE(result.error.empty()) << result.error;
  const inventory& inv = *result.inv;
  ASSERT_EQ(inv.vms.size(), 2u);  // the repeated name is dropped
  expect_hot_mirrors_vms(inv);
  EXPECT_EQ(inv.find("primary"), &inv.vms[0]);
  EXPECT_EQ(inv.hot_of(inv.vms[0]).first_ipv4, ip("10.0.0.7"));
  const vm* long_one = inv.find("a-very-long-instance-name-indeed");
  ASSERT_NE(long_one, nullptr);
  EXPECT_EQ(inv.hot_of(*long_one).first_ipv4, ip("10.0.0.9"));
}

// A feed that always serves one loaded snapshot.
class fixed_feed final : public inventory_feed {
 public:
  explicit fixed_feed(snapshot snap) : snap_(std::move(snap)) {}
  snapshot current() const override { return snap_; }
  bool ready() const override { return true; }

 private:
  snapshot snap_;
};

class resolver_addresses_test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto inv = std::make_shared<inventory>();
    inv->vms.push_back(make_vm(
        "multi", vm_state::running,
        {ip("10.0.0.1"), ip("192.168.0.5"), ip("172.16.0.9"),
         ip("192.168.0.6")}));
    inv->vms.push_back(make_vm("bare", vm_state::running, {}));
    inv->vms.push_back(make_vm("zero", vm_state::running, {ip("0.0.0.0")}));
    inv->vms.push_back(make_vm("stopped", vm_state::stopped, {ip("10.0.0.2")}));
    inv->vms.push_back(make_vm("draining", vm_state::delayed_shutdown,
                               {ip("10.0.0.3")}));
    inv->vms.push_back(make_vm("gone", vm_state::deleted, {ip("10.0.0.4")}));
    inv->vms.push_back(make_vm("dup", vm_state::stopped, {ip("10.0.0.5")}));
    inv->vms.push_back(make_vm("dup", vm_state::running, {ip("10.0.0.6")}));
    inv->vms.push_back(make_vm(std::string(40, 'l'), vm_state::running,
                               {ip("10.0.0.7"), ip("192.168.0.7")}));
    inv->vms.push_back(make_vm(std::string(39, 'l') + "m", vm_state::running,
                               {ip("10.0.0.8")}));
    inv->index();
    snap_ = inv;
  }

  // The addresses of the answer to `name`.vm.test, as dotted strings; the
  // outcome in *outcome.
  std::vector<std::string> ask(const resolver_options& opts,
                               const std::string& name, uint16_t qtype,
                               int32_t* outcome) {
    resolver res(std::make_shared<fixed_feed>(snap_), opts);
    multipass_answer_t answer{};
    answer.struct_size = sizeof answer;
    EXPECT_TRUE(res.resolve(name + ".vm.test.", qtype, &answer));
    *outcome = answer.outcome;
    std::vector<std::string> out;
    for (uint32_t i = 0; i < answer.count && answer.rrtype == A; ++i) {
      const uint8_t* a = answer.addresses + 4 * i;
      out.push_back(std::to_string(a[0]) + "." + std::to_string(a[1]) + "." +
                    std::to_string(a[2]) + "." + std::to_string(a[3]));
    }
    return out;
  }

  static resolver_options options(std::vector<std::string> networks = {},
                                  bool all = false) {
    resolver_options opts;
    opts.zones = {"vm.test"};
    opts.networks = std::move(networks);
    opts.addresses_all = all;
    return opts;
  }

  snapshot snap_;
};

using strings = std::vector<std::string>;

TEST_F(resolver_addresses_test, first_address_without_networks) {
  int32_t outcome = 0;
  EXPECT_EQ(ask(options(), "multi", A, &outcome), strings{"10.0.0.1"});
  EXPECT_EQ(outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(ask(options(), "MULTI", ANY, &outcome), strings{"10.0.0.1"});
  EXPECT_EQ(outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(ask(options(), "draining", A, &outcome), strings{"10.0.0.3"});
  EXPECT_EQ(outcome, MULTIPASS_ANSWER);
  // 0.0.0.0 is host-only: served only where `networks` names its block.
  EXPECT_TRUE(ask(options(), "zero", A, &outcome).empty());
  EXPECT_EQ(outcome, MULTIPASS_NODATA);
  EXPECT_EQ(ask(options(), std::string(40, 'l'), A, &outcome),
            strings{"10.0.0.7"});
  EXPECT_EQ(ask(options(), std::string(39, 'l') + "m", A, &outcome),
            strings{"10.0.0.8"});
  EXPECT_TRUE(ask(options(), std::string(41, 'l'), A, &outcome).empty());
  EXPECT_EQ(outcome, MULTIPASS_NXDOMAIN);
}

TEST_F(resolver_addresses_test, first_address_inside_networks) {
  int32_t outcome = 0;
  EXPECT_EQ(ask(options({"192.168.0.0/16"}), "multi", A, &outcome),
            strings{"192.168.0.5"});
  EXPECT_EQ(ask(options({"172.16.0.0/12", "192.168.0.0/16"}), "multi", A,
                &outcome),
            strings{"192.168.0.5"});  // the CLI's order, not the networks'
  EXPECT_EQ(ask(options({"172.16.0.0/12"}), "multi", A, &outcome),
            strings{"172.16.0.9"});
  EXPECT_EQ(ask(options({"10.0.0.0/8"}), "multi", A, &outcome),
            strings{"10.0.0.1"});
  EXPECT_EQ(ask(options({"192.168.0.0/16"}), std::string(40, 'l'), A,
                &outcome),
            strings{"192.168.0.7"});
  EXPECT_TRUE(ask(options({"192.168.0.0/16"}), "zero", A, &outcome).empty());
  EXPECT_EQ(outcome, MULTIPASS_NODATA);
  EXPECT_EQ(ask(options({"0.0.0.0/8"}), "zero", A, &outcome),
            strings{"0.0.0.0"});
  EXPECT_EQ(outcome, MULTIPASS_ANSWER);
}

TEST_F(resolver_addresses_test, all_addresses) {
  int32_t outcome = 0;
  EXPECT_EQ(ask(options({}, true), "multi", A, &outcome),
            (strings{"10.0.0.1", "192.168.0.5", "172.16.0.9", "192.168.0.6"}));
  EXPECT_EQ(outcome, MULTIPASS_ANSWER);
  EXPECT_EQ(ask(options({"192.168.0.0/16"}, true), "multi", A, &outcome),
            (strings{"192.168.0.5", "192.168.0.6"}));
  EXPECT_TRUE(ask(options({}, true), "zero", A, &outcome).empty());
  EXPECT_EQ(ask(options({"0.0.0.0/8"}, true), "zero", A, &outcome),
            strings{"0.0.0.0"});
}

TEST_F(resolver_addresses_test, no_usable_address_is_nodata) {
  for (bool all : {false, true}) {
    int32_t outcome = 0;
    EXPECT_TRUE(ask(options({}, all), "bare", A, &outcome).empty());
    EXPECT_EQ(outcome, MULTIPASS_NODATA) << all;
    EXPECT_TRUE(ask(options({"10.9.0.0/16"}, all), "multi", A, &outcome)
                    .empty());
    EXPECT_EQ(outcome, MULTIPASS_NODATA) << all;
    EXPECT_TRUE(ask(options({}, all), "stopped", A, &outcome).empty());
    EXPECT_EQ(outcome, MULTIPASS_NODATA) << all;
    EXPECT_TRUE(ask(options({}, all), "multi", AAAA, &outcome).empty());
    EXPECT_EQ(outcome, MULTIPASS_NODATA) << all;
    EXPECT_TRUE(ask(options({}, all), "gone", A, &outcome).empty());
    EXPECT_EQ(outcome, MULTIPASS_NXDOMAIN) << all;
  }
}

TEST_F(resolver_addresses_test, duplicate_names_answer_from_the_first) {
  for (bool all : {false, true}) {
    int32_t outcome = 0;
    EXPECT_TRUE(ask(options({}, all), "dup", A, &outcome).empty());
    EXPECT_EQ(outcome, MULTIPASS_NODATA) << all;  // the first is stopped
  }
}

}  // namespace
}  // namespace multipass
