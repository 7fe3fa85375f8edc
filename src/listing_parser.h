// Parses the stdout of `multipass list --format=json` into an inventory.
//
// By key, never by position: unknown keys (such as main's `zone`) are
// ignored and key order does not matter. An entry is skipped, with a warning,
// when its name cannot be a DNS label (empty, over 63 octets, characters
// outside [A-Za-z0-9-], a leading or trailing hyphen), when its name repeats
// an earlier one (case-insensitively: the first is kept), or when a known key
// holds a value of the wrong type. `ipv4` strings that are not dotted-quad
// IPv4 addresses (such as "N/A") are left out silently. A state this build
// does not know becomes vm_state::unknown (with a warning).
//
// The whole listing fails (and the caller keeps its old inventory) when the
// text is not one JSON document, the root is not an object, or there is no
// `list` array (`list --snapshots` prints a different shape: that fails).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "inventory.h"

namespace multipass {

// One instance as the listing printed it: its raw name and state, before
// any check (an entry with a string "name" counts, usable or not).
struct listed_instance {
  std::string name;
  std::string state;
  bool operator==(const listed_instance& o) const {
    return name == o.name && state == o.state;
  }
  bool operator<(const listed_instance& o) const {
    return name != o.name ? name < o.name : state < o.state;
  }
};

struct parsed_listing {
  std::unique_ptr<inventory> inv;     // indexed; null when error is set
  // Every instance printed, sorted (the daemon's order is unspecified), so
  // that two listings compare as sets; empty when error is set.
  std::vector<listed_instance> listed;
  // Skipped entries and the like: at most 32 in full, then one line that
  // counts the rest per kind ("... and 119,968 more warnings: 119,968
  // duplicate names"). Duplicate names count like every other kind.
  std::vector<std::string> warnings;
  std::string error;  // why the listing as a whole failed (at most 512 octets)
};

parsed_listing parse_listing(std::string_view json);

// "Running" -> vm_state::running, ... ; anything unknown -> vm_state::unknown.
vm_state parse_state(std::string_view text, bool* known = nullptr);

// Strict dotted quad ("10.1.2.3"; no leading zeros, no spaces), host order.
bool parse_ipv4(std::string_view text, uint32_t* out);

// Why `name` cannot be a DNS label, or nullptr when it can.
const char* dns_label_problem(std::string_view name);

}  // namespace multipass
