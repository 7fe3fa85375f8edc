// A cheap listing applied to the inventory while full listings fail
// (listing_merge.h): names and states from the cheap listing, addresses
// from the full one where they still apply.
#include "listing_merge.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "listing_parser.h"

namespace multipass::detail {
namespace {

// A listing as multipass prints it: (name, state, address or "") triples.
std::string listing(
    const std::vector<std::vector<std::string>>& vms) {
  std::string out = "{\"list\": [";
  for (size_t i = 0; i < vms.size(); ++i) {
    out += i ? "," : "";
    out += "{\"name\": \"" + vms[i][0] + "\", \"state\": \"" + vms[i][1] +
           "\", \"ipv4\": [" +
           (vms[i][2].empty() ? "" : "\"" + vms[i][2] + "\"") + "]}";
  }
  return out + "]}";
}

std::unique_ptr<inventory> parse(const std::string& json) {
  parsed_listing parsed = parse_listing(json);
  EXPECT_EQ(parsed.error, "");
  return std::move(parsed.inv);
}

std::string first_address(const inventory& inv, const std::string& key) {
  const vm* v = inv.find(key);
  if (!v) return "(gone)";
  if (v->ipv4.empty()) return "";
  return std::to_string(v->ipv4[0] >> 24) + "." +
         std::to_string(v->ipv4[0] & 255);
}

TEST(listing_merge_test, names_and_states_from_the_cheap_listing) {
  const auto full = parse(listing({{"up", "Running", "10.0.0.1"},
                                   {"stopping", "Running", "10.0.0.2"},
                                   {"gone", "Running", "10.0.0.3"},
                                   {"draining", "Running", "10.0.0.4"},
                                   {"deleted", "Stopped", ""}}));
  // --no-ipv4: every ipv4 empty.
  auto merged = apply_cheap_listing(
      *full, parse(listing({{"new", "Running", ""},
                            {"up", "Running", ""},
                            {"stopping", "Stopped", ""},
                            {"draining", "Delayed Shutdown", ""},
                            {"deleted", "Deleted", ""}})));
  EXPECT_EQ(first_address(*merged, "up"), "10.1");  // still running
  EXPECT_EQ(first_address(*merged, "draining"), "10.4");
  EXPECT_EQ(first_address(*merged, "stopping"), "");  // NODATA now
  EXPECT_EQ(first_address(*merged, "gone"), "(gone)");  // NXDOMAIN now
  EXPECT_EQ(first_address(*merged, "new"), "");  // waits for a full listing
  EXPECT_EQ(merged->find("deleted")->state, vm_state::deleted);
  // Indexed: the hot records and the address index follow.
  EXPECT_EQ(merged->hot_of(*merged->find("up")).ipv4_count, 1u);
  EXPECT_EQ(merged->hot_of(*merged->find("stopping")).ipv4_count, 0u);
  EXPECT_EQ(merged->by_address.size(), 2u);
  EXPECT_EQ(merged->vms.front().key, "new");  // the cheap listing's order
}

}  // namespace
}  // namespace multipass::detail
