// libFuzzer target: arbitrary bytes as the stdout of `multipass list
// --format=json`. Besides the sanitizers' checks, every inventory the parser
// accepts must keep the promises inventory.h and listing_parser.h make.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_set>

#include "inventory.h"
#include "listing_parser.h"

namespace {

[[noreturn]] void broken(const char* promise, const std::string& detail) {
  std::fprintf(stderr, "listing_parser_fuzz: %s: %s\n", promise,
               detail.c_str());
  std::abort();
}

void check(bool ok, const char* promise, const std::string& detail = {}) {
  if (!ok) broken(promise, detail);
}

bool is_lower(std::string_view key) {
  for (char c : key)
    if (c >= 'A' && c <= 'Z') return false;
  return true;
}

bool same_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace multipass;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  parsed_listing parsed = parse_listing(text);

  if (!parsed.error.empty()) {
    check(parsed.inv == nullptr, "a failed listing carries no inventory");
    return 0;
  }
  check(parsed.inv != nullptr, "an accepted listing has an inventory");
  const inventory& inv = *parsed.inv;

  std::unordered_set<std::string> keys;
  for (const vm& v : inv.vms) keys.insert(v.key);
  check(keys.size() == inv.vms.size(),
        "every VM has exactly one key (duplicates dropped)",
        std::to_string(keys.size()) + " keys, " +
            std::to_string(inv.vms.size()) + " VMs");
  std::unordered_set<uint32_t> addresses;
  for (size_t i = 0; i < inv.vms.size(); ++i) {
    const vm& v = inv.vms[i];
    const char* problem = dns_label_problem(v.name);
    check(problem == nullptr, "every name is a DNS label",
          v.name + ": " + (problem ? problem : ""));
    check(v.name.size() >= 1 && v.name.size() <= 63, "labels are 1..63 octets",
          v.name);
    check(is_lower(v.key), "keys are lower case", v.key);
    check(same_ignoring_case(v.key, v.name), "the key is the lower-cased name",
          v.key + " vs " + v.name);
    check(static_cast<int>(v.state) >= 0 &&
              static_cast<int>(v.state) < MULTIPASS_STATE_COUNT,
          "states are in range", v.name);
    check(inv.find(v.key) == &v, "find(key) returns the VM", v.key);
    for (uint32_t address : v.ipv4) {
      auto at = inv.by_address.find(address);
      check(at != inv.by_address.end(), "by_address knows every address",
            v.name);
      check(at->second <= i, "by_address points at the first VM listing it",
            v.name);
      addresses.insert(address);
    }
  }
  check(addresses.size() == inv.by_address.size(),
        "by_address holds only listed addresses");
  for (const auto& entry : inv.by_address) {
    check(entry.second < inv.vms.size(), "by_address indexes are in range");
    bool listed = false;
    for (uint32_t address : inv.vms[entry.second].ipv4)
      listed = listed || address == entry.first;
    check(listed, "by_address points at a VM that lists the address");
  }
  return 0;
}
