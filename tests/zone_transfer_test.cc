// A zone as a whole: its records (what a transfer sends) are what questions
// are answered with, name for name and type for type, and nothing else
// answers; its serial moves only when its content does, never backwards,
// and stays put across restarts with a state folder.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "listing_parser.h"
#include "multipass/multipass.h"
#include "names.h"
#include "resolver.h"
#include "source.h"

namespace multipass {
namespace {

constexpr uint16_t A = 1, NS = 2, SOA = 6, PTR = 12, AAAA = 28;

struct vm_spec {
  std::string name;
  vm_state state;
  std::vector<std::string> ipv4;
};

snapshot inventory_of(std::initializer_list<vm_spec> specs, uint32_t serial) {
  auto inv = std::make_shared<inventory>();
  for (const vm_spec& spec : specs) {
    vm v;
    v.name = spec.name;
    v.key.resize(spec.name.size());
    detail::ascii_lower(spec.name, v.key.data());
    v.state = spec.state;
    for (const std::string& text : spec.ipv4) {
      uint32_t address = 0;
      EXPECT_TRUE(parse_ipv4(text, &address)) << text;
      v.ipv4.push_back(address);
    }
    inv->vms.push_back(std::move(v));
  }
  inv->index();
  inv->serial = serial;
  return inv;
}

// Every way a VM shows, and names that collide with the nameserver's.
snapshot varied(uint32_t serial = 100) {
  return inventory_of(
      {
          {"primary", vm_state::running, {"10.110.24.87"}},
          {"k8s-node-01",
           vm_state::running,
           {"10.110.24.141", "192.168.1.57", "172.17.0.1", "127.0.0.1"}},
          {"calm-squirrel", vm_state::stopped, {}},
          {"web-2", vm_state::starting, {}},
          {"old-builder-2", vm_state::deleted, {}},
          {"ghost-vm", vm_state::running, {}},
          {"rebinder", vm_state::running, {"127.0.0.1", "10.110.24.90"}},
          {"draining", vm_state::delayed_shutdown, {"10.110.24.33"}},
          {"Build-Server", vm_state::running, {"10.110.24.200"}},
          {"ns1", vm_state::running, {"10.110.24.53"}},
          {"twin", vm_state::running, {"10.110.24.87"}},
      },
      serial);
}

// A feed that never waits: every question is answered from the snapshot.
class still_feed final : public inventory_feed {
 public:
  explicit still_feed(snapshot snap) : snap_(std::move(snap)) {}
  snapshot current() const override { return snap_; }
  bool ready() const override { return true; }
  void set(snapshot snap) { snap_ = std::move(snap); }

 private:
  snapshot snap_;
};

resolver_options options(std::initializer_list<const char*> zones) {
  resolver_options opts;
  for (const char* zone : zones) opts.zones.emplace_back(zone);
  return opts;
}

// (owner, type) -> the record data as text, of a zone's transfer.
using rrsets = std::map<std::pair<std::string, uint16_t>, std::set<std::string>>;

std::string address_text(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) +
         "." + std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

rrsets transferred(const resolver& res, int zone, multipass_soa_t* soa) {
  rrsets out;
  EXPECT_TRUE(res.transfer(zone, soa, [&out](const zone_record& r) {
    out[{r.owner, r.rrtype}].insert(r.rrtype == A ? address_text(r.address)
                                                  : r.target);
  }));
  return out;
}

// The records a question is answered with, as rrsets holds them.
std::set<std::string> answered(const resolver& res, const std::string& name,
                               uint16_t type, multipass_answer_t* out) {
  std::memset(out, 0, sizeof *out);
  out->struct_size = sizeof *out;
  EXPECT_TRUE(res.resolve(name, type, out));
  std::set<std::string> data;
  if (out->outcome != MULTIPASS_ANSWER || out->rrtype != type) return data;
  for (uint32_t i = 0; i < out->count; ++i) {
    if (type == A) {
      const uint8_t* b = out->addresses + 4 * i;
      data.insert(address_text(uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 |
                               uint32_t{b[2]} << 8 | b[3]));
    } else if (type != SOA) {
      data.insert(out->target);
    }
  }
  return data;
}

// Every (name, type) of the transfer answers the same when asked, the SOA
// serial of the answers is the transfer's, and every other name a question
// could reach (each VM, each address's reverse name, the nameserver, the
// wildcard names) has no records.
void expect_transfer_is_the_answers(const resolver& res, const inventory& inv) {
  for (size_t z = 0; z < res.zones().size(); ++z) {
    SCOPED_TRACE(res.zones()[z].origin);
    multipass_soa_t soa{};
    const rrsets zone = transferred(res, static_cast<int>(z), &soa);
    multipass_answer_t out;
    for (const auto& [key, data] : zone) {
      EXPECT_EQ(answered(res, key.first, key.second, &out), data)
          << key.first << " type " << key.second;
      EXPECT_EQ(out.soa.serial, soa.serial);
    }
    answered(res, res.zones()[z].origin, SOA, &out);
    EXPECT_EQ(out.soa.serial, soa.serial);
    std::vector<std::string> names = {"ns1." + res.zones()[z].origin,
                                      "nosuch." + res.zones()[z].origin};
    for (const vm& v : inv.vms) {
      names.push_back(v.key + "." + res.zones()[z].origin);
      names.push_back("x." + v.key + "." + res.zones()[z].origin);
      names.push_back("*." + v.key + "." + res.zones()[z].origin);
      for (uint32_t a : v.ipv4) {
        names.push_back(std::to_string(a & 255) + "." +
                        std::to_string((a >> 8) & 255) + "." +
                        std::to_string((a >> 16) & 255) + "." +
                        std::to_string(a >> 24) + ".in-addr.arpa.");
      }
    }
    for (const std::string& name : names) {
      for (uint16_t type : {A, PTR, NS, AAAA}) {
        const std::set<std::string> data = answered(res, name, type, &out);
        if (out.zone != static_cast<int32_t>(z)) continue;
        auto it = zone.find({name, type});
        if (it == zone.end() && name.compare(0, 2, "x.") == 0) {
          it = zone.find({"*." + name.substr(2), type});  // a wildcard's
        }
        EXPECT_EQ(data, it == zone.end() ? std::set<std::string>() : it->second)
            << name << " type " << type;
      }
    }
  }
}

TEST(zone_transfer_test, the_records_are_the_answers_whatever_the_options) {
  std::vector<resolver_options> all;
  all.push_back(options({"vm.test", "24.110.10.in-addr.arpa"}));
  all.push_back(options({"vm.test", "110.10.in-addr.arpa", "10.in-addr.arpa"}));
  all.back().addresses_all = true;
  all.push_back(options({"vm.test", "24.110.10.in-addr.arpa"}));
  all.back().networks = {"10.110.24.0/24", "127.0.0.0/8"};
  all.back().addresses_all = true;
  all.push_back(options({"vm.test", "1.168.192.in-addr.arpa"}));
  all.back().wildcard = true;
  all.back().addresses_all = true;
  all.push_back(options({"vm.test", "lab.vm.test", "24.110.10.in-addr.arpa"}));
  all.back().nameserver = "dns.vm.test";
  all.back().nameserver_address = 0x0a6e1801;
  all.push_back(options({"vm.test", "24.110.10.in-addr.arpa"}));
  all.back().nameserver = "ns.example.net";
  all.push_back(options({"24.110.10.in-addr.arpa"}));
  for (const resolver_options& opts : all) {
    const snapshot inv = varied();
    resolver res(std::make_shared<still_feed>(inv), opts);
    expect_transfer_is_the_answers(res, *inv);
  }
}

TEST(zone_transfer_test, a_zone_holds_its_ns_the_nameservers_address_and_the_served_vms) {
  resolver res(std::make_shared<still_feed>(varied()),
               options({"vm.test", "24.110.10.in-addr.arpa"}));
  multipass_soa_t soa{};
  const rrsets forward = transferred(res, 0, &soa);
  EXPECT_EQ(soa.refresh, soa_refresh);
  EXPECT_EQ(soa.retry, soa_retry);
  EXPECT_EQ(soa.expire, soa_expire);
  EXPECT_EQ(soa.minimum, 5u);
  const rrsets expected = {
      {{"vm.test.", NS}, {"ns1.vm.test."}},
      {{"ns1.vm.test.", A}, {"127.0.0.1"}},  // not the VM named ns1
      {{"primary.vm.test.", A}, {"10.110.24.87"}},
      {{"k8s-node-01.vm.test.", A}, {"10.110.24.141"}},
      {{"rebinder.vm.test.", A}, {"10.110.24.90"}},  // 127.0.0.1 never
      {{"draining.vm.test.", A}, {"10.110.24.33"}},
      {{"build-server.vm.test.", A}, {"10.110.24.200"}},
      {{"twin.vm.test.", A}, {"10.110.24.87"}},
  };
  EXPECT_EQ(forward, expected);
  const rrsets reverse = transferred(res, 1, &soa);
  const rrsets expected_reverse = {
      {{"24.110.10.in-addr.arpa.", NS}, {"ns1.vm.test."}},
      {{"87.24.110.10.in-addr.arpa.", PTR}, {"primary.vm.test."}},  // first
      {{"141.24.110.10.in-addr.arpa.", PTR}, {"k8s-node-01.vm.test."}},
      {{"90.24.110.10.in-addr.arpa.", PTR}, {"rebinder.vm.test."}},
      {{"33.24.110.10.in-addr.arpa.", PTR}, {"draining.vm.test."}},
      {{"200.24.110.10.in-addr.arpa.", PTR}, {"build-server.vm.test."}},
  };
  EXPECT_EQ(reverse, expected_reverse);
}

TEST(zone_transfer_test, a_nameserver_inside_a_zone_is_one_label_below_it) {
  auto feed = std::make_shared<still_feed>(varied());
  resolver_options opts = options({"vm.test"});
  opts.nameserver = "a.b.vm.test";
  EXPECT_THROW(resolver(feed, opts), std::invalid_argument);
  opts.nameserver = "vm.test";
  EXPECT_THROW(resolver(feed, opts), std::invalid_argument);
  opts.nameserver = "Primary.VM.test.";  // hides the VM primary
  opts.nameserver_address = 0x0a000001;
  resolver res(feed, opts);
  EXPECT_EQ(res.zones()[0].mname, "primary.vm.test.");
  multipass_answer_t out;
  EXPECT_EQ(answered(res, "primary.vm.test", A, &out),
            std::set<std::string>{"10.0.0.1"});
}

TEST(zone_transfer_test, no_transfer_before_the_first_load_or_for_no_zone) {
  class unready final : public inventory_feed {
    snapshot current() const override { return std::make_shared<inventory>(); }
    bool ready() const override { return false; }
  };
  resolver res(std::make_shared<unready>(), options({"vm.test"}));
  multipass_soa_t soa{};
  EXPECT_FALSE(res.transfer(0, &soa, [](const zone_record&) {}));
  resolver loaded(std::make_shared<still_feed>(varied()), options({"vm.test"}));
  EXPECT_FALSE(loaded.transfer(1, &soa, [](const zone_record&) {}));
  EXPECT_FALSE(loaded.transfer(-1, &soa, [](const zone_record&) {}));
}

uint32_t serial(const resolver& res, int zone) {
  multipass_soa_t soa{};
  EXPECT_TRUE(res.transfer(zone, &soa, [](const zone_record&) {}));
  return soa.serial;
}

TEST(zone_transfer_test, a_serial_moves_only_with_its_zones_content) {
  auto feed = std::make_shared<still_feed>(varied(100));
  resolver res(feed, options({"vm.test", "24.110.10.in-addr.arpa"}));
  EXPECT_EQ(serial(res, 0), 100u);
  EXPECT_EQ(serial(res, 1), 100u);
  // A new listing with the same content (in another order too): no move.
  feed->set(inventory_of({{"primary", vm_state::running, {"10.110.24.87"}},
                          {"k8s-node-01", vm_state::running, {"10.110.24.141"}},
                          {"rebinder", vm_state::running, {"10.110.24.90"}},
                          {"draining", vm_state::delayed_shutdown, {"10.110.24.33"}},
                          {"Build-Server", vm_state::running, {"10.110.24.200"}},
                          {"twin", vm_state::running, {"10.110.24.87"}},
                          {"web-2", vm_state::stopped, {}}},
                         150));
  EXPECT_EQ(serial(res, 0), 100u);
  EXPECT_EQ(serial(res, 1), 100u);
  // Only the forward zone changes (a VM whose address is in no reverse
  // zone of the block): only its serial moves, to the inventory's.
  feed->set(inventory_of({{"primary", vm_state::running, {"10.110.24.87"}},
                          {"k8s-node-01", vm_state::running, {"10.110.24.141"}},
                          {"rebinder", vm_state::running, {"10.110.24.90"}},
                          {"draining", vm_state::delayed_shutdown, {"10.110.24.33"}},
                          {"Build-Server", vm_state::running, {"10.110.24.200"}},
                          {"twin", vm_state::running, {"10.110.24.87"}},
                          {"bridged", vm_state::running, {"192.168.1.7"}}},
                         160));
  EXPECT_EQ(serial(res, 0), 160u);
  EXPECT_EQ(serial(res, 1), 100u);
  // A change faster than the inventory's serial: one more, never less.
  feed->set(inventory_of({{"primary", vm_state::running, {"10.110.24.87"}}}, 120));
  EXPECT_EQ(serial(res, 0), 161u);
  EXPECT_EQ(serial(res, 1), 120u);  // the inventory's, past 100 + 1
}

TEST(zone_transfer_test, serial_arithmetic_is_rfc_1982) {
  EXPECT_TRUE(detail::serial_greater(2, 1));
  EXPECT_FALSE(detail::serial_greater(1, 2));
  EXPECT_TRUE(detail::serial_greater(0, 0xffffffffu));  // wraps
  EXPECT_FALSE(detail::serial_greater(5, 5));
  serial_book book;
  EXPECT_EQ(book.serial_for("z", "", 1, 0xfffffffeu, true), 0xfffffffeu);
  // A floor behind the last serial: one more, across the wrap.
  EXPECT_EQ(book.serial_for("z", "", 2, 0xfffffff0u, true), 0xffffffffu);
  EXPECT_EQ(book.serial_for("z", "", 3, 0xfffffff0u, true), 0u);
  EXPECT_EQ(book.serial_for("z", "", 4, 0, true), 1u);
  // A floor past it (3 comes after 1): the floor.
  EXPECT_EQ(book.serial_for("z", "", 5, 3, true), 3u);
  // The same content: the same serial; with commit false nothing recorded.
  EXPECT_EQ(book.serial_for("z", "", 5, 9, true), 3u);
  EXPECT_EQ(book.serial_for("z", "", 6, 9, false), 9u);
  EXPECT_EQ(book.serial_for("z", "", 5, 9, true), 3u);
}

class state_dir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/zone_transfer_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(state_dir, a_restart_with_the_same_content_keeps_the_serial) {
  resolver_options opts = options({"vm.test", "24.110.10.in-addr.arpa"});
  opts.state_dir = dir_;
  {
    // The first run: serials from the inventory, then a change.
    auto feed = std::make_shared<still_feed>(varied(1000));
    resolver res(feed, opts);
    EXPECT_EQ(serial(res, 0), 1000u);
    feed->set(varied(1005));
    EXPECT_EQ(serial(res, 0), 1000u);
    feed->set(inventory_of({{"primary", vm_state::running, {"10.110.24.87"}}}, 1010));
    EXPECT_EQ(serial(res, 0), 1010u);
    EXPECT_EQ(serial(res, 1), 1010u);
  }
  std::ifstream file(dir_ + "/vm.test.serial");
  uint32_t kept = 0;
  file >> kept;
  EXPECT_EQ(kept, 1010u);
  {
    // A restart (a new book) with the same content, later: the same serial.
    auto feed = std::make_shared<still_feed>(
        inventory_of({{"primary", vm_state::running, {"10.110.24.87"}}}, 2000));
    resolver res(feed, opts);
    EXPECT_EQ(serial(res, 0), 1010u);
    EXPECT_EQ(serial(res, 1), 1010u);
  }
  {
    // Another content after the restart: on from there, never below.
    auto feed = std::make_shared<still_feed>(varied(900));  // a clock behind
    resolver res(feed, opts);
    EXPECT_EQ(serial(res, 0), 1011u);
  }
}

TEST_F(state_dir, a_link_in_place_of_the_state_file_is_never_followed) {
  const std::string target = dir_ + "/elsewhere";
  { std::ofstream(target) << "keep\n"; }
  ASSERT_EQ(symlink(target.c_str(), (dir_ + "/vm.test.serial").c_str()), 0);
  ASSERT_EQ(symlink(target.c_str(), (dir_ + "/vm.test.serial.tmp").c_str()), 0);
  resolver_options opts = options({"vm.test"});
  opts.state_dir = dir_;
  auto feed = std::make_shared<still_feed>(varied(1000));
  std::vector<std::string> told;
  feed->serials().on_error = [&told](const std::string& t) { told.push_back(t); };
  resolver res(feed, opts);
  EXPECT_EQ(serial(res, 0), 1000u);
  std::ifstream kept(target);
  std::string text;
  std::getline(kept, text);
  EXPECT_EQ(text, "keep");  // neither read through nor written through
  ASSERT_FALSE(told.empty());
  EXPECT_NE(told[0].find("vm.test.serial"), std::string::npos) << told[0];
}

// Questions on several threads while listings that change the zone are
// published: each thread's serials never go back, and a transfer's serial
// is one its records were published with.
TEST(zone_transfer_test, serials_never_go_back_while_the_source_publishes) {
  const std::string dir = "/tmp/zone_transfer_test_flap." + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  setenv("MULTIPASS_FAKE_DIR", dir.c_str(), 1);
  auto write = [&dir](int i) {
    std::ofstream(dir + "/list.json.tmp")
        << "{\n    \"list\": [\n        {\n            \"ipv4\": [\n"
           "                \"10.110.24." << (i % 2 ? 9 : 8) << "\"\n            ],\n"
           "            \"name\": \"flapper\",\n            \"release\": \"Ubuntu 24.04 LTS\",\n"
           "            \"state\": \"Running\"\n        }\n    ]\n}\n";
    std::filesystem::rename(dir + "/list.json.tmp", dir + "/list.json");
  };
  write(0);
  source_options opts;
  opts.binary = FAKE_MULTIPASS;
  auto src = std::make_shared<source>(opts);
  std::string error;
  ASSERT_TRUE(src->refresh_now(&error)) << error;
  resolver_options ropts = options({"vm.test", "24.110.10.in-addr.arpa"});
  const std::shared_ptr<const resolver> res = resolver::create(src, ropts);
  std::atomic<bool> done{false};
  std::atomic<int> backwards{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      uint32_t last = 0;
      multipass_answer_t out;
      while (!done.load()) {
        std::memset(&out, 0, sizeof out);
        out.struct_size = sizeof out;
        res->resolve("vm.test", SOA, &out);
        if (last && detail::serial_greater(last, out.soa.serial)) ++backwards;
        last = out.soa.serial;
        multipass_soa_t soa{};
        res->transfer(1, &soa, [](const zone_record&) {});
      }
    });
  }
  for (int i = 1; i <= 8; ++i) {
    write(i);
    ASSERT_TRUE(src->refresh_now(&error)) << error;
  }
  done = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_EQ(serial(*res, 0), serial(*res, 1));  // both moved together here
  unsetenv("MULTIPASS_FAKE_DIR");
  std::filesystem::remove_all(dir);
}

TEST(zone_transfer_test, ten_thousand_vms_in_one_call_through_the_c_abi) {
  // The stand-in's fleet of 10,000, through a real source.
  const std::string dir = "/tmp/zone_transfer_test_fleet." + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::string json = "{\n    \"list\": [\n";
  for (int i = 0; i < 10000; ++i) {
    json += std::string(i ? ",\n" : "") + "        {\n            \"ipv4\": [\n                \"10." +
            std::to_string(100 + i / 65536) + "." + std::to_string((i / 256) % 256) + "." +
            std::to_string(i % 256) + "\"\n            ],\n            \"name\": \"vm-" +
            std::to_string(i) + "\",\n            \"release\": \"Ubuntu 24.04 LTS\",\n"
            "            \"state\": \"Running\"\n        }";
  }
  json += "\n    ]\n}\n";
  { std::ofstream(dir + "/list.json") << json; }
  setenv("MULTIPASS_FAKE_DIR", dir.c_str(), 1);
  multipass_source_options_t sopts;
  multipass_source_options_init_sized(&sopts, sizeof sopts);
  sopts.binary = FAKE_MULTIPASS;
  char err[256];
  multipass_source_t* src = multipass_source_create(&sopts, err, sizeof err);
  ASSERT_NE(src, nullptr) << err;
  ASSERT_EQ(multipass_source_refresh(src, err, sizeof err), MULTIPASS_OK) << err;
  multipass_resolver_options_t ropts;
  multipass_resolver_options_init_sized(&ropts, sizeof ropts);
  const char* zones[] = {"vm.test", "100.10.in-addr.arpa"};
  ropts.zones = zones;
  ropts.zone_count = 2;
  multipass_resolver_t* res = multipass_resolver_create(src, &ropts, err, sizeof err);
  ASSERT_NE(res, nullptr) << err;
  multipass_zone_t* zone = nullptr;
  ASSERT_EQ(multipass_resolver_transfer(res, 0, &zone, err, sizeof err), MULTIPASS_OK) << err;
  ASSERT_EQ(zone->count, 10002u);  // NS, the nameserver's A, a VM each
  EXPECT_LT(zone->bytes, 10002u * 80);
  EXPECT_STREQ(zone->records[0].owner, "vm.test.");
  EXPECT_STREQ(zone->records[0].target, "ns1.vm.test.");
  EXPECT_EQ(zone->records[2].rrtype, A);
  EXPECT_STREQ(zone->records[2].owner, "vm-0.vm.test.");
  EXPECT_EQ(zone->records[2].target, nullptr);
  multipass_answer_t out;
  std::memset(&out, 0, sizeof out);
  out.struct_size = sizeof out;
  ASSERT_EQ(multipass_resolve(res, "vm.test", 7, SOA, &out), MULTIPASS_OK);
  EXPECT_EQ(out.soa.serial, zone->soa.serial);
  multipass_free(zone);
  ASSERT_EQ(multipass_resolver_transfer(res, 1, &zone, err, sizeof err), MULTIPASS_OK) << err;
  EXPECT_EQ(zone->count, 10001u);  // NS, a PTR each
  multipass_free(zone);
  EXPECT_EQ(multipass_resolver_transfer(res, 2, &zone, err, sizeof err), MULTIPASS_ERROR);
  EXPECT_EQ(zone, nullptr);
  EXPECT_STREQ(err, "no such zone");
  multipass_free(nullptr);
  multipass_resolver_destroy(res);
  multipass_source_destroy(src);
  unsetenv("MULTIPASS_FAKE_DIR");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace multipass
