// The parser of `multipass list --format=json`: every fixture, and the shapes
// the real CLI (or a broken one) may print.
#include "listing_parser.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fake_cli.h"

namespace multipass {
namespace {

using testing_support::fixture;

parsed_listing parse_fixture(const std::string& name) {
  return parse_listing(fixture(name));
}

uint32_t ip(const char* text) {
  uint32_t address = 0;
  EXPECT_TRUE(parse_ipv4(text, &address)) << text;
  return address;
}

std::vector<std::string> names(const inventory& inv) {
  std::vector<std::string> out;
  for (const vm& machine : inv.vms) out.push_back(machine.name);
  return out;
}

bool warned_about(const parsed_listing& result, const std::string& word) {
  return std::any_of(
      result.warnings.begin(), result.warnings.end(),
      [&](const std::string& w) { return w.find(word) != std::string::npos; });
}

// One entry in the released CLI's layout, with the given name/state/ipv4 JSON.
std::string listing_of(const std::vector<std::string>& entries) {
  std::string out = "{\"list\": [";
  for (size_t i = 0; i < entries.size(); ++i)
    out += (i ? "," : "") + entries[i];
  return out + "]}";
}

std::string entry(const std::string& name, const std::string& state = "Running",
                  const std::string& ipv4 = "[\"10.0.0.1\"]") {
  return "{\"ipv4\": " + ipv4 + ", \"name\": \"" + name +
         "\", \"release\": \"Ubuntu 24.04 LTS\", " + "\"state\": \"" + state +
         "\"}";
}

// The six instances of list-mixed.json, whatever the CLI version's layout.
void expect_mixed_fleet(const parsed_listing& result) {
  ASSERT_TRUE(result.error.empty()) << result.error;
  ASSERT_TRUE(result.inv);
  const inventory& inv = *result.inv;
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(names(inv),
            (std::vector<std::string>{"primary", "k8s-node-01", "calm-squirrel",
                                      "dev-box", "web-2", "old-builder-2"}));
  const vm* primary = inv.find("primary");
  ASSERT_NE(primary, nullptr);
  EXPECT_EQ(primary->state, vm_state::running);
  EXPECT_EQ(primary->ipv4, std::vector<uint32_t>{ip("10.110.24.87")});
  const vm* node = inv.find("k8s-node-01");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->ipv4,
            (std::vector<uint32_t>{ip("10.110.24.141"), ip("192.168.1.57"),
                                   ip("172.17.0.1")}));
  EXPECT_EQ(inv.find("calm-squirrel")->state, vm_state::stopped);
  EXPECT_EQ(inv.find("dev-box")->state, vm_state::suspended);
  EXPECT_EQ(inv.find("web-2")->state, vm_state::starting);
  EXPECT_EQ(inv.find("old-builder-2")->state, vm_state::deleted);
  EXPECT_TRUE(inv.find("web-2")->ipv4.empty());
  auto by_address = inv.by_address.find(ip("192.168.1.57"));
  ASSERT_NE(by_address, inv.by_address.end());
  EXPECT_EQ(inv.vms[by_address->second].name, "k8s-node-01");
}

TEST(listing_parser_test, every_listing_fixture_parses_cleanly) {
  DIR* dir = ::opendir(FIXTURES_DIR);
  ASSERT_NE(dir, nullptr);
  int seen = 0;
  while (dirent* file = ::readdir(dir)) {
    std::string name = file->d_name;
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".json") != 0)
      continue;
    if (name == "list-snapshots-empty.json")
      continue;  // a different command's shape
    parsed_listing result = parse_fixture(name);
    EXPECT_TRUE(result.error.empty()) << name << ": " << result.error;
    EXPECT_TRUE(result.warnings.empty())
        << name << ": " << result.warnings.front();
    ++seen;
  }
  ::closedir(dir);
  EXPECT_GE(seen, 8);
}

TEST(listing_parser_test, mixed_fleet_of_released_versions) {
  expect_mixed_fleet(parse_fixture("list-mixed.json"));
}

TEST(listing_parser_test, mixed_fleet_of_v1_8_to_v1_10) {
  expect_mixed_fleet(parse_fixture("list-mixed.v1.8-v1.10.json"));
}

TEST(listing_parser_test,
     mixed_fleet_of_unreleased_main_with_zone_and_other_key_order) {
  expect_mixed_fleet(parse_fixture("list-mixed.main-unreleased.json"));
}

TEST(listing_parser_test, empty_listings_give_an_empty_inventory) {
  for (const char* name :
       {"list-empty.json", "list-empty.main-unreleased.json"}) {
    parsed_listing result = parse_fixture(name);
    ASSERT_TRUE(result.error.empty()) << name << ": " << result.error;
    ASSERT_TRUE(result.inv);
    EXPECT_TRUE(result.inv->vms.empty());
    EXPECT_EQ(result.inv->find("primary"), nullptr);
  }
}

TEST(listing_parser_test, one_running) {
  parsed_listing result = parse_fixture("list-one-running.json");
  ASSERT_TRUE(result.inv);
  ASSERT_EQ(result.inv->vms.size(), 1u);
  EXPECT_EQ(result.inv->vms[0].name, "primary");
  EXPECT_EQ(result.inv->vms[0].ipv4, std::vector<uint32_t>{ip("10.110.24.87")});
}

TEST(listing_parser_test, edge_cases_fixture) {
  parsed_listing result = parse_fixture("list-edge-cases.json");
  ASSERT_TRUE(result.inv) << result.error;
  const inventory& inv = *result.inv;
  ASSERT_EQ(inv.vms.size(), 7u);
  const vm* ghost = inv.find("ghost-vm");
  ASSERT_NE(ghost, nullptr);
  EXPECT_EQ(ghost->state, vm_state::running);
  EXPECT_TRUE(ghost->ipv4.empty());  // "N/A" left out
  EXPECT_EQ(inv.find("draining")->state, vm_state::delayed_shutdown);
  EXPECT_EQ(inv.find("draining")->ipv4,
            std::vector<uint32_t>{ip("10.110.24.33")});
  EXPECT_EQ(inv.find("rebooting")->state, vm_state::restarting);
  EXPECT_EQ(inv.find("pausing")->state, vm_state::suspending);
  EXPECT_EQ(inv.find("mystery")->state, vm_state::unknown);
  EXPECT_EQ(inv.find("custom-img")->state, vm_state::stopped);
  EXPECT_EQ(inv.find("core-device")->state, vm_state::stopped);
}

TEST(listing_parser_test, demo_fleet_keys_are_lower_case) {
  parsed_listing result = parse_fixture("demo-fleet.json");
  ASSERT_TRUE(result.inv) << result.error;
  const vm* build = result.inv->find("build-box");
  ASSERT_NE(build, nullptr);
  EXPECT_EQ(build->name, "Build-Box");
  EXPECT_EQ(result.inv->find("Build-Box"),
            nullptr);  // lookups take lower-case keys
}

TEST(listing_parser_test, snapshots_listing_is_an_error) {
  parsed_listing result = parse_fixture("list-snapshots-empty.json");
  EXPECT_FALSE(result.inv);
  EXPECT_NE(result.error.find("\"list\""), std::string::npos) << result.error;
}

TEST(listing_parser_test,
     not_available_and_other_non_ipv4_strings_are_left_out) {
  parsed_listing result = parse_listing(listing_of(
      {entry("a", "Running",
             "[\"N/A\", \"10.1.2.3\", \"fe80::1\", \"\", \"10.1.2\", "
             "\"10.1.2.3.4\", \"256.1.1.1\", \"010.1.1.1\", \" 10.1.1.1\", "
             "\"10.1.1.1 \", \"10.1.1.x\", \"192.168.0.1\"]")}));
  ASSERT_TRUE(result.inv) << result.error;
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_EQ(result.inv->vms[0].ipv4,
            (std::vector<uint32_t>{ip("10.1.2.3"), ip("192.168.0.1")}));
}

TEST(listing_parser_test, ipv4_parser_is_strict) {
  uint32_t address = 0;
  EXPECT_TRUE(parse_ipv4("0.0.0.0", &address));
  EXPECT_EQ(address, 0u);
  EXPECT_TRUE(parse_ipv4("255.255.255.255", &address));
  EXPECT_EQ(address, 0xffffffffu);
  EXPECT_TRUE(parse_ipv4("10.110.24.87", &address));
  EXPECT_EQ(address, (10u << 24) | (110u << 16) | (24u << 8) | 87u);
  for (const char* bad :
       {"", "N/A", "1.2.3", "1.2.3.4.", ".1.2.3", "1..2.3", "1.2.3.256",
        "1.2.3.04", "1.2.3.1000", "+1.2.3.4", "1.2.3.4/24", "::ffff:1.2.3.4"}) {
    EXPECT_FALSE(parse_ipv4(bad, &address)) << bad;
  }
}

TEST(listing_parser_test,
     names_that_cannot_be_dns_labels_are_skipped_with_a_warning) {
  std::string label63(63, 'a');
  std::string label64(64, 'b');
  parsed_listing result = parse_listing(
      listing_of({entry(label63), entry(label64), entry(""),
                  entry("under_score"), entry("dot.ted"), entry("-lead"),
                  entry("trail-"), entry("caf\\u00e9"), entry("ok-1")}));
  ASSERT_TRUE(result.inv) << result.error;
  EXPECT_EQ(names(*result.inv), (std::vector<std::string>{label63, "ok-1"}));
  EXPECT_EQ(result.warnings.size(), 7u);
  EXPECT_TRUE(warned_about(result, "63"));
  EXPECT_TRUE(warned_about(result, "\"under_score\""));
  EXPECT_TRUE(warned_about(result, "\"dot.ted\""));
  EXPECT_TRUE(warned_about(result, "\"-lead\""));
  EXPECT_TRUE(warned_about(result, "\"trail-\""));
  EXPECT_TRUE(warned_about(result, "empty"));
}

TEST(listing_parser_test, dns_label_rules) {
  EXPECT_EQ(dns_label_problem("a"), nullptr);
  EXPECT_EQ(dns_label_problem("A1-b2"), nullptr);
  EXPECT_EQ(dns_label_problem("1abc"), nullptr);  // digits may lead a DNS label
  EXPECT_EQ(dns_label_problem(std::string(63, 'x')), nullptr);
  EXPECT_NE(dns_label_problem(std::string(64, 'x')), nullptr);
  EXPECT_NE(dns_label_problem(""), nullptr);
  EXPECT_NE(dns_label_problem("a b"), nullptr);
  EXPECT_NE(dns_label_problem("-a"), nullptr);
  EXPECT_NE(dns_label_problem("a-"), nullptr);
}

TEST(listing_parser_test, duplicate_names_keep_the_first) {
  parsed_listing result = parse_listing(listing_of(
      {entry("web", "Running", "[\"10.0.0.1\"]"),
       entry("db", "Running", "[\"10.0.0.2\"]"), entry("web", "Stopped", "[]"),
       entry("WEB", "Running", "[\"10.0.0.3\"]")}));
  ASSERT_TRUE(result.inv) << result.error;
  const inventory& inv = *result.inv;
  EXPECT_EQ(names(inv), (std::vector<std::string>{"web", "db"}));
  EXPECT_EQ(inv.find("web")->state, vm_state::running);
  EXPECT_EQ(inv.find("web")->ipv4, std::vector<uint32_t>{ip("10.0.0.1")});
  EXPECT_EQ(inv.find("db")->name, "db");  // the index still points right
  EXPECT_EQ(inv.by_address.count(ip("10.0.0.3")), 0u);
  EXPECT_EQ(result.warnings.size(), 2u);
  EXPECT_TRUE(warned_about(result, "\"WEB\""));
}

TEST(listing_parser_test, upper_case_names_get_lower_case_keys) {
  parsed_listing result = parse_listing(listing_of({entry("Primary-VM")}));
  ASSERT_TRUE(result.inv) << result.error;
  EXPECT_EQ(result.inv->vms[0].name, "Primary-VM");
  EXPECT_EQ(result.inv->vms[0].key, "primary-vm");
  EXPECT_NE(result.inv->find("primary-vm"), nullptr);
}

TEST(listing_parser_test, unknown_keys_and_key_order_do_not_matter) {
  parsed_listing result = parse_listing(
      "{\"extra\": {\"list\": 5}, \"list\": [{\"zone\": {\"name\": \"z\", "
      "\"list\": [1, {}]}, "
      "\"state\": \"Stopped\", \"future\": [[{\"ipv4\": 1}]], \"name\": \"b\", "
      "\"ipv4\": [], "
      "\"cpus\": 2, \"ok\": true, \"none\": null, \"load\": 1.5}], \"more\": "
      "\"x\"}");
  ASSERT_TRUE(result.inv) << result.error;
  EXPECT_TRUE(result.warnings.empty()) << result.warnings.front();
  ASSERT_EQ(result.inv->vms.size(), 1u);
  EXPECT_EQ(result.inv->vms[0].name, "b");
  EXPECT_EQ(result.inv->vms[0].state, vm_state::stopped);
}

TEST(listing_parser_test, states_map_by_name_and_unknown_ones_warn) {
  struct {
    const char* text;
    vm_state state;
  } cases[] = {
      {"Running", vm_state::running},
      {"Stopped", vm_state::stopped},
      {"Deleted", vm_state::deleted},
      {"Starting", vm_state::starting},
      {"Restarting", vm_state::restarting},
      {"Delayed Shutdown", vm_state::delayed_shutdown},
      {"Suspending", vm_state::suspending},
      {"Suspended", vm_state::suspended},
      {"Unknown", vm_state::unknown},
      {"Unavailable", vm_state::unavailable},
  };
  for (const auto& c : cases) {
    bool known = false;
    EXPECT_EQ(parse_state(c.text, &known), c.state) << c.text;
    EXPECT_TRUE(known) << c.text;
  }
  parsed_listing result = parse_listing(
      listing_of({entry("x", "Hibernating"), entry("y", "running")}));
  ASSERT_TRUE(result.inv) << result.error;
  EXPECT_EQ(result.inv->vms.size(), 2u);
  EXPECT_EQ(result.inv->vms[0].state, vm_state::unknown);
  EXPECT_EQ(result.inv->vms[1].state,
            vm_state::unknown);  // the CLI's case is exact
  EXPECT_TRUE(warned_about(result, "Hibernating"));
}

TEST(listing_parser_test, wrong_types_skip_the_entry_not_the_listing) {
  parsed_listing result = parse_listing(
      "{\"list\": [{\"name\": 7, \"state\": \"Running\", \"ipv4\": []},"
      " {\"name\": \"s\", \"state\": [\"Running\"], \"ipv4\": []},"
      " {\"name\": \"i\", \"state\": \"Running\", \"ipv4\": \"10.0.0.1\"},"
      " {\"name\": \"j\", \"state\": \"Running\", \"ipv4\": [1, \"10.0.0.2\"]},"
      " {\"state\": \"Running\", \"ipv4\": []},"
      " \"not an object\", [1, 2], null,"
      " {\"name\": \"good\", \"state\": \"Running\", \"ipv4\": "
      "[\"10.0.0.3\"]}]}");
  ASSERT_TRUE(result.inv) << result.error;
  EXPECT_EQ(names(*result.inv), std::vector<std::string>{"good"});
  EXPECT_EQ(result.warnings.size(), 8u);
  EXPECT_TRUE(warned_about(result, "\"s\""));
  EXPECT_TRUE(warned_about(result, "\"i\""));
  EXPECT_TRUE(warned_about(result, "\"j\""));
  EXPECT_TRUE(warned_about(result, "no \"name\""));
  EXPECT_TRUE(warned_about(result, "not an object"));
}

TEST(listing_parser_test, missing_state_and_ipv4_are_tolerated) {
  parsed_listing result = parse_listing("{\"list\": [{\"name\": \"bare\"}]}");
  ASSERT_TRUE(result.inv) << result.error;
  ASSERT_EQ(result.inv->vms.size(), 1u);
  EXPECT_EQ(result.inv->vms[0].state, vm_state::unknown);
  EXPECT_TRUE(result.inv->vms[0].ipv4.empty());
}

TEST(listing_parser_test, many_bad_entries_give_a_bounded_number_of_warnings) {
  std::vector<std::string> entries;
  for (int i = 0; i < 500; ++i)
    entries.push_back(entry("bad_" + std::to_string(i)));
  parsed_listing result = parse_listing(listing_of(entries));
  ASSERT_TRUE(result.inv) << result.error;
  EXPECT_TRUE(result.inv->vms.empty());
  ASSERT_EQ(result.warnings.size(), 33u);
  EXPECT_EQ(result.warnings.back(),
            "... and 468 more warnings: 468 names that cannot be DNS labels");
}

TEST(listing_parser_test,
     duplicate_names_in_another_case_are_bounded_and_summarised) {
  const size_t names = 120000;
  parsed_listing result =
      parse_listing(testing_support::listing_with_case_duplicates(names));
  ASSERT_TRUE(result.inv) << result.error;
  // The first spelling of every name is kept, and every one is indexed.
  const inventory& inv = *result.inv;
  ASSERT_EQ(inv.vms.size(), names);
  for (size_t i = 0; i < names; ++i) {
    const std::string name = "vm-" + std::to_string(i);
    ASSERT_EQ(inv.vms[i].name, name);
    ASSERT_EQ(inv.find(name), &inv.vms[i]) << name;
  }
  EXPECT_EQ(inv.by_address.size(), names);
  // 32 duplicates in full, the other 119,968 counted in one line.
  ASSERT_EQ(result.warnings.size(), 33u);
  EXPECT_EQ(result.warnings[0],
            "skipped instance \"VM-0\": its name repeats \"vm-0\"");
  EXPECT_EQ(result.warnings[31],
            "skipped instance \"VM-31\": its name repeats \"vm-31\"");
  EXPECT_EQ(result.warnings[32],
            "... and 119,968 more warnings: 119,968 duplicate names");
}

TEST(listing_parser_test, every_kind_of_warning_counts_against_the_cap) {
  std::vector<std::string> entries;
  for (int i = 0; i < 20; ++i)
    entries.push_back(entry("bad_" + std::to_string(i)));
  for (int i = 0; i < 10; ++i)
    entries.push_back(entry("odd-" + std::to_string(i), "Hibernating"));
  entries.push_back("42");
  entries.push_back("{\"state\": \"Running\"}");
  entries.push_back(entry("typed", "Running", "\"10.0.0.1\""));
  for (int i = 0; i < 10; ++i) {
    entries.push_back(entry("web-" + std::to_string(i)));
    entries.push_back(entry("Web-" + std::to_string(i)));
  }
  parsed_listing result = parse_listing(listing_of(entries));
  ASSERT_TRUE(result.inv) << result.error;
  EXPECT_EQ(result.inv->vms.size(), 20u);  // odd-* and web-*
  ASSERT_EQ(result.warnings.size(), 33u);
  // In listing order: 20 bad names, 10 unknown states, then 2 of the 3
  // entries that are not usable; duplicates are found after the listing.
  EXPECT_EQ(result.warnings[31],
            "skipped instance #32: it has no \"name\"");
  EXPECT_EQ(result.warnings[32],
            "... and 11 more warnings: 1 entry with a value of the wrong "
            "type, 10 duplicate names");
}

TEST(listing_parser_test, unterminated_huge_string_is_a_short_error) {
  const std::string text =
      "{\"list\": [{\"name\": \"" + std::string(15u << 20, 'a');
  parsed_listing result = parse_listing(text);
  EXPECT_FALSE(result.inv);
  EXPECT_TRUE(result.warnings.empty());
  EXPECT_LE(result.error.size(), 512u);
  EXPECT_EQ(result.error.rfind("not valid JSON: ", 0), 0u) << result.error;
  EXPECT_NE(result.error.find("missing closing quote"), std::string::npos)
      << result.error;
  EXPECT_EQ(result.error.substr(result.error.size() - 3), "\xE2\x80\xA6");
}

TEST(listing_parser_test, long_names_are_cut_in_warnings) {
  const std::string name(300, 'x');
  parsed_listing result = parse_listing(listing_of({entry(name)}));
  ASSERT_EQ(result.warnings.size(), 1u);
  const std::string shown = "\"" + name.substr(0, 77) + "\xE2\x80\xA6\"";
  EXPECT_NE(result.warnings[0].find(shown), std::string::npos)
      << result.warnings[0];
}

TEST(listing_parser_test, broken_output_is_an_error) {
  std::string whole = fixture("list-mixed.json");
  struct {
    std::string text;
    const char* why;
  } cases[] = {
      {"", "empty"},
      {"\n  \n", "empty"},
      {"hello, world\nthis is not JSON\n", "JSON"},
      {whole.substr(0, whole.size() / 2), "JSON"},
      {whole.substr(0, whole.size() - 3), "JSON"},
      {whole + "{}", "JSON"},
      {"[]", "object"},
      {"\"list\"", "object"},
      {"42", "object"},
      {"{}", "\"list\""},
      {"{\"list\": {}}", "\"list\""},
      {"{\"list\": null}", "\"list\""},
      {"{\"List\": []}", "\"list\""},
  };
  for (const auto& c : cases) {
    parsed_listing result = parse_listing(c.text);
    EXPECT_FALSE(result.inv) << c.text;
    EXPECT_NE(result.error.find(c.why), std::string::npos)
        << "input: " << c.text.substr(0, 40) << " error: " << result.error;
  }
}

TEST(listing_parser_test, large_listing_is_complete) {
  std::vector<std::string> entries;
  for (int i = 0; i < 10000; ++i) {
    entries.push_back(entry("vm-" + std::to_string(i), "Running",
                            "[\"10.0." + std::to_string(i / 256) + "." +
                                std::to_string(i % 256) + "\"]"));
  }
  parsed_listing result = parse_listing(listing_of(entries));
  ASSERT_TRUE(result.inv) << result.error;
  EXPECT_EQ(result.inv->vms.size(), 10000u);
  for (const vm& v : result.inv->vms)
    ASSERT_EQ(result.inv->find(v.key), &v) << v.key;  // every key indexed
  EXPECT_EQ(result.inv->by_address.size(), 10000u);
  const vm* last = result.inv->find("vm-9999");
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->ipv4, std::vector<uint32_t>{ip("10.0.39.15")});
}

}  // namespace
}  // namespace multipass
