// Query-name helpers: case folding, zone suffixes, label splitting, reverse
// names and IPv4 networks. Names are in presentation format as miekg/dns
// hands them over (escapes such as `\.` possible), without the trailing dot
// unless a function says otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace multipass::detail {

// Longest query name (presentation format, escapes included) we accept:
// 255 wire octets can take up to four characters each when escaped.
constexpr size_t max_name_chars = 1024;

// Copies `in` into `out` (room for in.size() bytes) with ASCII A-Z folded to
// a-z; other bytes unchanged (DNS 0x20 matching is ASCII-only).
void ascii_lower(std::string_view in, char* out);

// True when the character at `pos` is preceded by an odd number of
// backslashes, i.e. escaped.
bool is_escaped(std::string_view name, size_t pos);

// `name` without its trailing unescaped dot ("a.b." -> "a.b", "." -> "").
std::string_view strip_root(std::string_view name);

// When `name` lies at or below `zone` (both lower-case, no trailing dot;
// the empty zone is the root), sets *relative to the labels below the zone
// ("" at the apex) and returns true. Only label boundaries count: "xvm.test"
// is not below "vm.test".
bool relative_to_zone(std::string_view name, std::string_view zone,
                      std::string_view* relative);

// Offset of the rightmost label of `name` (just after its last unescaped
// dot), 0 when `name` is a single label.
size_t last_label_offset(std::string_view name);

// A decimal octet label as reverse names spell it: "0".."255", no sign, no
// leading zero. Returns false otherwise.
bool parse_octet(std::string_view label, uint8_t* out);

// Parses the labels of a reverse name below "in-addr.arpa" ("c.b.a", most
// significant octet last) into *prefix (host order, left-aligned: a.b.c.0)
// and *octets (0..4). Returns false for anything but 0..4 octet labels.
bool parse_reverse_labels(std::string_view labels, uint32_t* prefix,
                          int* octets);

// True when `zone` (normalised) is "in-addr.arpa" or below it.
bool is_reverse_zone(std::string_view zone);

// A zone as configured ("Vm.Test.", "vm.test", "." for the root) in lower
// case without the trailing dot. Throws std::invalid_argument for empty
// labels, labels over 63 octets, names too long to carry "hostmaster." in
// front, characters other than printable ASCII, backslashes, and reverse
// zones whose labels are not decimal octets.
std::string normalize_zone(std::string_view zone);

// An IPv4 network in host byte order.
struct ipv4_network {
  uint32_t base = 0;
  uint32_t mask = 0;
  bool contains(uint32_t address) const { return (address & mask) == base; }
};

// "10.110.24.0/24" or a bare address (a /32). Host bits must be zero.
// Throws std::invalid_argument otherwise.
ipv4_network parse_network(std::string_view cidr);

// Whether `address` (host order) lies in a block that names the asking host
// or no host at all: 0.0.0.0/8 (this network), 127.0.0.0/8 (loopback),
// 169.254.0.0/16 (link-local), 224.0.0.0/4 (multicast) and 240.0.0.0/4
// (reserved, with the broadcast address). A guest can report any of them
// (with `addresses all` the addresses come from inside it): an answer with
// 127.0.0.1 would aim a VM's name at the host's own services.
bool host_only_address(uint32_t address);

// Whether all of `net` lies inside one of those blocks: a configured network
// that names such a block on purpose (`networks 169.254.0.0/16`), not one
// that merely covers it (`networks 0.0.0.0/0`).
bool inside_host_only_block(const ipv4_network& net);

}  // namespace multipass::detail
