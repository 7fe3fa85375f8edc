// Query-name helpers.
#include "names.h"

#include <stdexcept>

#include "listing_parser.h"

namespace multipass::detail {

namespace {

constexpr std::string_view reverse_suffix = "in-addr.arpa";

// A label we accept in a configured zone.
bool valid_zone_char(char c) {
  return c > ' ' && c < 0x7f && c != '\\' && c != '.';
}

// See host_only_address.
constexpr ipv4_network host_only_blocks[] = {
    {0x00000000u, 0xff000000u},  // 0.0.0.0/8
    {0x7f000000u, 0xff000000u},  // 127.0.0.0/8
    {0xa9fe0000u, 0xffff0000u},  // 169.254.0.0/16
    {0xe0000000u, 0xf0000000u},  // 224.0.0.0/4
    {0xf0000000u, 0xf0000000u},  // 240.0.0.0/4
};

}  // namespace

void ascii_lower(std::string_view in, char* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  }
}

bool is_escaped(std::string_view name, size_t pos) {
  size_t backslashes = 0;
  while (pos > 0 && name[pos - 1] == '\\') {
    ++backslashes;
    --pos;
  }
  return backslashes % 2 == 1;
}

std::string_view strip_root(std::string_view name) {
  if (!name.empty() && name.back() == '.' &&
      !is_escaped(name, name.size() - 1)) {
    name.remove_suffix(1);
  }
  return name;
}

bool relative_to_zone(std::string_view name, std::string_view zone,
                      std::string_view* relative) {
  if (zone.empty()) {  // the root holds every name
    *relative = name;
    return true;
  }
  if (name.size() == zone.size()) {
    if (name != zone) return false;
    *relative = std::string_view();
    return true;
  }
  if (name.size() < zone.size() + 2) return false;  // needs "x." in front
  size_t dot = name.size() - zone.size() - 1;
  if (name[dot] != '.' || is_escaped(name, dot)) return false;
  if (name.substr(dot + 1) != zone) return false;
  *relative = name.substr(0, dot);
  return true;
}

size_t last_label_offset(std::string_view name) {
  for (size_t i = name.size(); i-- > 0;) {
    if (name[i] == '.' && !is_escaped(name, i)) return i + 1;
  }
  return 0;
}

bool parse_octet(std::string_view label, uint8_t* out) {
  if (label.empty() || label.size() > 3) return false;
  if (label.size() > 1 && label[0] == '0') return false;
  unsigned value = 0;
  for (char c : label) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 255) return false;
  *out = static_cast<uint8_t>(value);
  return true;
}

bool parse_reverse_labels(std::string_view labels, uint32_t* prefix,
                          int* octets) {
  *prefix = 0;
  *octets = 0;
  if (labels.empty()) return true;
  // Labels come least significant first: walk them from the right.
  uint32_t value = 0;
  int count = 0;
  size_t end = labels.size();
  while (true) {
    size_t start = last_label_offset(labels.substr(0, end));
    uint8_t octet = 0;
    if (count == 4 || !parse_octet(labels.substr(start, end - start), &octet)) {
      return false;
    }
    value |= static_cast<uint32_t>(octet) << (24 - 8 * count);
    ++count;
    if (start == 0) break;
    end = start - 1;
  }
  *prefix = value;
  *octets = count;
  return true;
}

bool is_reverse_zone(std::string_view zone) {
  if (zone == reverse_suffix) return true;
  return zone.size() > reverse_suffix.size() &&
         zone.substr(zone.size() - reverse_suffix.size()) == reverse_suffix &&
         zone[zone.size() - reverse_suffix.size() - 1] == '.';
}

std::string normalize_zone(std::string_view zone) {
  std::string_view bare = zone;
  if (!bare.empty() && bare.back() == '.') bare.remove_suffix(1);
  if (zone.empty()) throw std::invalid_argument("empty zone");
  // "hostmaster." (11) + zone + "." must stay within 254 characters, the
  // longest presentation name of 255 wire octets with its trailing dot.
  if (bare.size() > 242) {
    throw std::invalid_argument("zone too long: " + std::string(zone));
  }
  std::string out(bare.size(), '\0');
  ascii_lower(bare, out.data());
  size_t label_start = 0;
  for (size_t i = 0; i <= out.size(); ++i) {
    if (i < out.size() && out[i] != '.') {
      if (!valid_zone_char(out[i])) {
        throw std::invalid_argument("invalid character in zone: " +
                                    std::string(zone));
      }
      continue;
    }
    size_t length = i - label_start;
    if (!out.empty() && length == 0) {
      throw std::invalid_argument("empty label in zone: " + std::string(zone));
    }
    if (length > 63) {
      throw std::invalid_argument("label longer than 63 octets in zone: " +
                                  std::string(zone));
    }
    label_start = i + 1;
  }
  if (is_reverse_zone(out)) {
    uint32_t prefix = 0;
    int octets = 0;
    std::string_view labels;
    relative_to_zone(out, reverse_suffix, &labels);
    if (!parse_reverse_labels(labels, &prefix, &octets)) {
      throw std::invalid_argument(
          "reverse zone labels must be decimal octets (at most four): " +
          std::string(zone));
    }
  }
  return out;
}

ipv4_network parse_network(std::string_view cidr) {
  std::string_view address = cidr;
  int bits = 32;
  size_t slash = cidr.find('/');
  if (slash != std::string_view::npos) {
    address = cidr.substr(0, slash);
    std::string_view length = cidr.substr(slash + 1);
    if (length.empty() || length.size() > 2 ||
        (length.size() == 2 && length[0] == '0')) {
      throw std::invalid_argument("invalid prefix length in network: " +
                                  std::string(cidr));
    }
    bits = 0;
    for (char c : length) {
      if (c < '0' || c > '9') {
        throw std::invalid_argument("invalid prefix length in network: " +
                                    std::string(cidr));
      }
      bits = bits * 10 + (c - '0');
    }
    if (bits > 32) {
      throw std::invalid_argument("prefix length over 32 in network: " +
                                  std::string(cidr));
    }
  }
  ipv4_network net;
  if (!multipass::parse_ipv4(address, &net.base)) {
    throw std::invalid_argument("invalid IPv4 network: " + std::string(cidr));
  }
  net.mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  if ((net.base & ~net.mask) != 0) {
    throw std::invalid_argument("host bits set in network: " +
                                std::string(cidr));
  }
  return net;
}

bool host_only_address(uint32_t address) {
  for (const ipv4_network& block : host_only_blocks) {
    if (block.contains(address)) return true;
  }
  return false;
}

bool inside_host_only_block(const ipv4_network& net) {
  for (const ipv4_network& block : host_only_blocks) {
    if ((net.mask & block.mask) == block.mask && block.contains(net.base))
      return true;
  }
  return false;
}

}  // namespace multipass::detail
