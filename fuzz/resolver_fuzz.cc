// libFuzzer target: arbitrary query names and types against the resolver
// over a fixed inventory. Input: 2 bytes qtype (big endian), 1 byte choosing
// the resolver's options, then the query name as CoreDNS hands it over
// (presentation format, any bytes). Checks that the decision is internally
// consistent and that neither the case of the name nor its trailing dot
// changes it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "inventory.h"
#include "listing_parser.h"
#include "multipass/multipass.h"
#include "resolver.h"

namespace {

using namespace multipass;

const char* const listing = R"({"list": [
  {"ipv4": ["10.110.24.87"], "name": "primary", "state": "Running"},
  {"ipv4": ["10.110.24.141", "192.168.1.57", "172.17.0.1"],
   "name": "K8s-Node-01", "state": "Running"},
  {"ipv4": [], "name": "calm-squirrel", "state": "Stopped"},
  {"ipv4": ["10.110.24.33"], "name": "draining",
   "state": "Delayed Shutdown"},
  {"ipv4": ["N/A"], "name": "ghost", "state": "Running"},
  {"ipv4": ["10.110.24.87"], "name": "twin", "state": "Running"},
  {"ipv4": ["10.110.24.9"], "name": "gone", "state": "Deleted"},
  {"ipv4": ["10.0.0.1"], "state": "Running", "name":
   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
]})";

// A source that never changes and never runs anything.
class fixed_feed final : public inventory_feed {
 public:
  fixed_feed() {
    parsed_listing parsed = parse_listing(listing);
    if (!parsed.error.empty() || parsed.inv->vms.size() != 8) {
      std::fprintf(stderr, "resolver_fuzz: bad fixture: %s\n",
                   parsed.error.c_str());
      std::abort();
    }
    parsed.inv->serial = 42;
    snap_ = snapshot(std::move(parsed.inv));
  }
  snapshot current() const override { return snap_; }
  bool ready() const override { return true; }

 private:
  snapshot snap_;
};

constexpr int configurations = 4;

std::unique_ptr<resolver> make_resolver(int configuration) {
  resolver_options opts;
  opts.zones = {"vm.test.", "Example.ORG", "24.110.10.in-addr.arpa",
                "10.in-addr.arpa.", "sub.vm.test"};
  opts.ttl = 30;
  opts.addresses_all = configuration & 1;
  opts.wildcard = configuration & 2;
  if (configuration == 3) opts.networks = {"10.110.24.0/24", "172.17.0.0/16"};
  return std::make_unique<resolver>(std::make_shared<fixed_feed>(), opts);
}

const resolver& resolver_for(int configuration) {
  static std::unique_ptr<resolver> all[configurations] = {
      make_resolver(0), make_resolver(1), make_resolver(2), make_resolver(3)};
  return *all[configuration % configurations];
}

[[noreturn]] void broken(const char* promise, std::string_view qname,
                         uint16_t qtype) {
  std::fprintf(stderr,
               "resolver_fuzz: %s (qname \"%.*s\", %zu bytes, type %u)\n",
               promise, static_cast<int>(qname.size()), qname.data(),
               qname.size(), qtype);
  std::abort();
}

// The negative TTL of a name the resolver remembers as missing counts down
// with the clock (and starts again when the memory runs out between two
// questions), so two questions a moment apart may carry different SOA TTLs;
// each is checked on its own (between 1 and negative_ttl) and left out here.
bool same_decision(const multipass_answer_t& a, const multipass_answer_t& b) {
  multipass_soa_t sa = a.soa, sb = b.soa;
  if (a.outcome == MULTIPASS_NODATA || a.outcome == MULTIPASS_NXDOMAIN)
    sa.ttl = sa.minimum = sb.ttl = sb.minimum = 0;
  return a.outcome == b.outcome && a.rcode == b.rcode && a.zone == b.zone &&
         a.rrtype == b.rrtype && a.ttl == b.ttl && a.count == b.count &&
         (a.rrtype != 1 ||
          std::memcmp(a.addresses, b.addresses, 4 * a.count) == 0) &&
         std::strcmp(a.target, b.target) == 0 &&
         std::memcmp(&sa, &sb, sizeof sa) == 0;
}

struct decision {
  bool ok;
  multipass_answer_t answer;
};

decision decide(const resolver& res, std::string_view qname, uint16_t qtype) {
  decision d{};
  d.answer.struct_size = sizeof d.answer;
  std::memset(d.answer.target, 0x7f, sizeof d.answer.target);  // must be set
  d.ok = res.resolve(qname, qtype, &d.answer);
  return d;
}

std::string flip_case(std::string_view name, bool upper) {
  std::string out(name);
  for (char& c : out) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint16_t qtype = static_cast<uint16_t>(data[0] << 8 | data[1]);
  const resolver& res = resolver_for(data[2]);
  const std::string_view qname(reinterpret_cast<const char*>(data + 3),
                               size - 3);
  const size_t zone_count = res.zones().size();

  decision d = decide(res, qname, qtype);
  const multipass_answer_t& a = d.answer;
  if (!d.ok) {
    // Only a name that cannot be a domain name is refused.
    if (qname.size() <= 255) broken("refused a short name", qname, qtype);
    return 0;
  }
  if (std::memchr(a.target, '\0', sizeof a.target) == nullptr)
    broken("target is not NUL-terminated", qname, qtype);

  switch (a.outcome) {
    case MULTIPASS_NOT_MINE:
      if (a.zone != -1 || a.count != 0 || a.rrtype != 0)
        broken("NOT_MINE with a zone or records", qname, qtype);
      break;
    case MULTIPASS_ANSWER:
      if (a.rcode != 0 || a.count == 0)
        broken("ANSWER without records or NOERROR", qname, qtype);
      if (a.rrtype == 1) {
        if (qtype != 1 && qtype != 255)
          broken("A records for another type", qname, qtype);
        if (a.count > MULTIPASS_MAX_ADDRESSES)
          broken("too many addresses", qname, qtype);
        if (!res.options().addresses_all && a.count != 1)
          broken("several addresses without `addresses all`", qname, qtype);
      } else if (a.rrtype == 12 || a.rrtype == 2) {
        size_t n = std::strlen(a.target);
        if (a.count != 1 || n == 0 || a.target[n - 1] != '.')
          broken("a PTR/NS answer without a dotted target", qname, qtype);
      } else if (a.rrtype != 6 || a.count != 1) {
        broken("an answer of an unexpected type", qname, qtype);
      }
      break;
    case MULTIPASS_NODATA:
      if (a.rcode != 0 || a.count != 0 || a.rrtype != 0)
        broken("NODATA with records or an error rcode", qname, qtype);
      break;
    case MULTIPASS_NXDOMAIN:
      if (a.rcode != 3 || a.count != 0 || a.rrtype != 0)
        broken("NXDOMAIN with records or without rcode 3", qname, qtype);
      break;
    case MULTIPASS_REFUSED:
      if ((qtype != 251 && qtype != 252) || a.rcode != 5 || a.count != 0 ||
          a.rrtype != 0)
        broken("REFUSED for a question that is no zone transfer, or with "
               "records",
               qname, qtype);
      break;
    default:
      broken(
          "an outcome other than NOT_MINE/ANSWER/NODATA/NXDOMAIN/REFUSED from "
          "a ready source",
          qname, qtype);
  }
  if ((qtype == 251 || qtype == 252) && a.outcome != MULTIPASS_NOT_MINE &&
      a.outcome != MULTIPASS_REFUSED)
    broken("a zone transfer in a zone not REFUSED", qname, qtype);
  if (a.outcome != MULTIPASS_NOT_MINE && a.outcome != MULTIPASS_REFUSED) {
    if (a.zone < 0 || static_cast<size_t>(a.zone) >= zone_count)
      broken("zone index out of range", qname, qtype);
    if (a.soa.serial != 42)
      broken("the SOA serial is not the inventory's", qname, qtype);
  }
  if ((a.outcome == MULTIPASS_NODATA || a.outcome == MULTIPASS_NXDOMAIN) &&
      (a.soa.minimum < 1 || a.soa.minimum > res.options().negative_ttl ||
       a.soa.ttl != a.soa.minimum))
    broken("a negative TTL outside 1..negative_ttl", qname, qtype);

  // DNS 0x20: the case of the name asked never changes the decision.
  for (bool upper : {true, false}) {
    decision other = decide(res, flip_case(qname, upper), qtype);
    if (!other.ok || !same_decision(a, other.answer))
      broken(upper ? "upper-casing the name changed the answer"
                   : "lower-casing the name changed the answer",
             qname, qtype);
  }
  // The trailing dot is optional. (Not after a backslash, which would
  // escape the added dot, and not for the root alone.)
  if (!qname.empty() && qname.back() != '.' && qname.back() != '\\') {
    std::string dotted(qname);
    dotted += '.';
    decision other = decide(res, dotted, qtype);
    if (other.ok && !same_decision(a, other.answer))
      broken("a trailing dot changed the answer", qname, qtype);
  }
  return 0;
}
