// The resolver: zones, names, records, rcode.
#include "resolver.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "source.h"

namespace multipass {

namespace {

constexpr uint16_t type_a = 1;
constexpr uint16_t type_ns = 2;
constexpr uint16_t type_soa = 6;
constexpr uint16_t type_ptr = 12;
constexpr uint16_t type_ixfr = 251;
constexpr uint16_t type_axfr = 252;
constexpr uint16_t type_any = 255;

constexpr int32_t rcode_noerror = 0;
constexpr int32_t rcode_servfail = 2;
constexpr int32_t rcode_nxdomain = 3;
constexpr int32_t rcode_refused = 5;

// Adapts a source to the feed the resolver reads.
class source_feed final : public inventory_feed {
 public:
  explicit source_feed(std::shared_ptr<source> src) : src_(std::move(src)) {
    if (!src_) throw std::invalid_argument("no source");
  }
  snapshot current() const override { return src_->current(); }
  snapshot_read read() const override { return src_->read(); }
  bool ready() const override { return src_->ready(); }
  uint64_t request_refresh(std::string_view address_of) override {
    return src_->request_refresh(address_of);
  }
  void wait_refresh(uint64_t seq, std::chrono::milliseconds timeout) override {
    src_->wait_refresh(seq, timeout);
  }
  bool finished(uint64_t seq) const override { return src_->finished(seq); }
  void request_probe() override { src_->request_probe(); }
  uint32_t miss_wait_ms() const override {
    return static_cast<uint32_t>(src_->options().miss_wait.count());
  }
  void observe(std::weak_ptr<const publish_observer> observer) override {
    src_->observe(std::move(observer));
  }
  serial_book& serials() override { return src_->serials(); }

 private:
  std::shared_ptr<source> src_;
};

void set_outcome(multipass_answer_t* out, multipass_outcome outcome,
                 int32_t rcode) {
  out->outcome = outcome;
  out->rcode = rcode;
}

// "<a>.<b>." into out (MULTIPASS_NAME_CAP bytes); b may be empty (the root).
// False when the name would exceed 255 octets on the wire.
bool join_name(std::string_view a, std::string_view b, char* out) {
  size_t length = a.size() + 1 + (b.empty() ? 0 : b.size() + 1);
  // A presentation name with its trailing dot takes one octet less than
  // its wire form.
  if (length + 1 > 255 || length + 1 > MULTIPASS_NAME_CAP) return false;
  char* p = out;
  std::memcpy(p, a.data(), a.size());
  p += a.size();
  *p++ = '.';
  if (!b.empty()) {
    std::memcpy(p, b.data(), b.size());
    p += b.size();
    *p++ = '.';
  }
  *p = '\0';
  return true;
}

void copy_name(const std::string& name, char* out) {
  std::memcpy(out, name.c_str(), name.size() + 1);  // fits: checked at setup
}

}  // namespace

resolver_options::resolver_options() {
  multipass_resolver_options_t c;
  multipass_resolver_options_init_sized(&c, sizeof c);
  ttl = c.ttl;
  negative_ttl = c.negative_ttl;
  addresses_all = c.addresses_all != 0;
  wildcard = c.wildcard != 0;
}

resolver::resolver(std::shared_ptr<source> src, resolver_options opts)
    : resolver(std::make_shared<source_feed>(std::move(src)), std::move(opts)) {}

resolver::resolver(std::shared_ptr<inventory_feed> feed,
                   resolver_options opts)
    : feed_(std::move(feed)),
      opts_(std::move(opts)),
      missing_(std::chrono::seconds(opts_.negative_ttl)) {
  if (!feed_) throw std::invalid_argument("no source");
  if (opts_.zones.empty()) throw std::invalid_argument("no zones");
  for (const std::string& configured : opts_.zones) {
    zone z;
    z.name = detail::normalize_zone(configured);
    std::string dotted = z.name.empty() ? std::string() : z.name + ".";
    z.origin = z.name.empty() ? "." : dotted;
    z.rname = "hostmaster." + dotted;
    z.reverse = detail::is_reverse_zone(z.name);
    if (z.reverse) {
      std::string_view labels;
      detail::relative_to_zone(z.name, "in-addr.arpa", &labels);
      detail::parse_reverse_labels(labels, &z.prefix, &z.octets);
    } else if (first_forward_ < 0) {
      first_forward_ = static_cast<int>(zones_.size());
    }
    zones_.push_back(std::move(z));
  }
  for (const std::string& network : opts_.networks) {
    networks_.push_back(detail::parse_network(network));
  }
  if (opts_.nameserver.empty()) {
    // ns1.<zone>; a reverse zone's is its first forward zone's.
    for (zone& z : zones_) {
      const zone& named =
          z.reverse && first_forward_ >= 0 ? zones_[first_forward_] : z;
      z.mname = "ns1." + (named.name.empty() ? "" : named.name + ".");
      if (&named == &z) z.ns_label = "ns1";
    }
  } else {
    const std::string ns = detail::normalize_zone(opts_.nameserver);
    int best = -1;
    std::string_view relative;
    for (size_t i = 0; i < zones_.size(); ++i) {
      std::string_view candidate;
      if (detail::relative_to_zone(ns, zones_[i].name, &candidate) &&
          (best < 0 || zones_[i].name.size() > zones_[best].name.size())) {
        best = static_cast<int>(i);
        relative = candidate;
      }
    }
    if (best >= 0 && (relative.empty() ||
                      detail::last_label_offset(relative) != 0)) {
      throw std::invalid_argument("nameserver " + ns +
                                  " must be one label below the zone " +
                                  zones_[best].origin + " or outside it");
    }
    for (zone& z : zones_) z.mname = ns + ".";
    if (best >= 0) zones_[best].ns_label = std::string(relative);
  }
  // Every option and zone shapes some zone's content (a PTR names the
  // first forward zone).
  fingerprint_ = std::to_string(opts_.ttl) + "/" +
                 std::to_string(opts_.negative_ttl) + "/" +
                 (opts_.addresses_all ? "all" : "first") + "/" +
                 (opts_.wildcard ? "wildcard" : "exact") + "/" +
                 opts_.nameserver + "/" +
                 std::to_string(opts_.nameserver_address);
  for (const std::string& network : opts_.networks) {
    fingerprint_ += "/" + network;
  }
  for (const zone& z : zones_) fingerprint_ += "/" + z.origin;
}

std::shared_ptr<const resolver> resolver::create(std::shared_ptr<source> src,
                                                 resolver_options opts) {
  auto res = std::make_shared<const resolver>(std::move(src), std::move(opts));
  res->feed_->observe(res);
  return res;
}

bool resolver::resolve(std::string_view qname, uint16_t qtype,
                       multipass_answer_t* out, uint32_t flags) const {
  if (qname.size() > detail::max_name_chars) return false;
  char lowered[detail::max_name_chars];
  detail::ascii_lower(qname, lowered);
  std::string_view name =
      detail::strip_root(std::string_view(lowered, qname.size()));

  out->outcome = MULTIPASS_NOT_MINE;
  out->rcode = rcode_noerror;
  out->zone = -1;
  out->rrtype = 0;
  out->ttl = 0;
  out->count = 0;
  out->target[0] = '\0';
  out->soa = multipass_soa_t{};

  // The longest zone holding the name wins; the first of equals.
  int best = -1;
  std::string_view relative;
  for (size_t i = 0; i < zones_.size(); ++i) {
    std::string_view candidate;
    if (detail::relative_to_zone(name, zones_[i].name, &candidate) &&
        (best < 0 || zones_[i].name.size() > zones_[best].name.size())) {
      best = static_cast<int>(i);
      relative = candidate;
    }
  }
  if (best >= 0) resolve_in_zone(best, relative, qtype, flags, out);
  return true;
}

resolver::look resolver::await_look(uint32_t flags,
                                   std::string_view address_of,
                                   multipass_answer_t* out) const {
  uint64_t seq = 0;
  try {
    seq = feed_->request_refresh(address_of);
  } catch (...) {
    // A failure to ask counts as "no look will come".
  }
  if (seq == 0) return look::none;
  if (flags & resolve_no_wait) {
    // The caller waits its own way: say for which unit.
    set_outcome(out, MULTIPASS_WAIT, rcode_noerror);
    out->wait_seq = seq;
    out->wait_ms = feed_->miss_wait_ms();
    return look::waiting;
  }
  try {
    feed_->wait_refresh(seq, std::chrono::milliseconds(feed_->miss_wait_ms()));
    return feed_->finished(seq) ? look::ended : look::ran_out;
  } catch (...) {
    return look::ran_out;
  }
}

void resolver::resolve_in_zone(int zone_index, std::string_view relative,
                               uint16_t qtype, uint32_t flags,
                               multipass_answer_t* out) const {
  const zone& z = zones_[zone_index];
  out->zone = zone_index;
  if (qtype == type_axfr || qtype == type_ixfr) {
    // No zone transfers, whatever the inventory holds.
    set_outcome(out, MULTIPASS_REFUSED, rcode_refused);
    return;
  }

  // A caller that has waited says for which unit (the struct it gets back
  // still holds the wait_seq of its MULTIPASS_WAIT answer; 0 from a caller
  // of revision 3 or older, for which any wait counts).
  look asked = look::not_asked;
  if (flags & resolve_waited)
    asked = feed_->finished(out->wait_seq) ? look::ended : look::ran_out;

  // ready() before read(): a ready source has published its first load.
  if (!feed_->ready()) {
    if (asked == look::not_asked) {
      asked = await_look(flags, {}, out);
      if (asked == look::waiting) return;
    }
    if (!feed_->ready()) {
      fill_soa(zone_index, feed_->current(), out);
      set_outcome(out, MULTIPASS_SERVFAIL, rcode_servfail);
      return;
    }
  }
  const snapshot_read snap = feed_->read();
  fill_soa(zone_index, snap.get(), out);

  if (relative.empty() && (qtype == type_soa || qtype == type_ns)) {
    set_outcome(out, MULTIPASS_ANSWER, rcode_noerror);
    out->count = 1;
    if (qtype == type_soa) {
      out->rrtype = type_soa;
      out->ttl = out->soa.ttl;
    } else {
      out->rrtype = type_ns;
      out->ttl = opts_.ttl;
      copy_name(z.mname, out->target);
    }
    return;
  }
  if (!z.ns_label.empty() && relative == z.ns_label) {
    // The nameserver's own name: its address, whatever VM shares the label.
    set_outcome(out, MULTIPASS_NODATA, rcode_noerror);
    if (qtype == type_a || qtype == type_any) {
      set_outcome(out, MULTIPASS_ANSWER, rcode_noerror);
      out->rrtype = type_a;
      out->ttl = opts_.ttl;
      out->count = 1;
      const uint32_t a = opts_.nameserver_address;
      const uint8_t rdata[4] = {
          static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16),
          static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(a)};
      std::memcpy(out->addresses, rdata, sizeof rdata);
    }
    return;
  }
  if (z.reverse) {
    resolve_reverse(z, relative, qtype, *snap, out);
  } else if (relative.empty()) {
    set_outcome(out, MULTIPASS_NODATA, rcode_noerror);
  } else {
    resolve_forward(relative, qtype, snap.get(), flags, asked, out);
  }
}

void resolver::resolve_forward(std::string_view relative, uint16_t qtype,
                               const snapshot& seen, uint32_t flags,
                               look asked,
                               multipass_answer_t* out) const {
  size_t label_offset = detail::last_label_offset(relative);
  if (label_offset != 0 && !opts_.wildcard) {
    set_outcome(out, MULTIPASS_NXDOMAIN, rcode_nxdomain);
    return;
  }
  std::string_view label = relative.substr(label_offset);
  if (shadowed(out->zone, label)) {
    // x.<nameserver>: nothing below the nameserver's name.
    set_outcome(out, MULTIPASS_NXDOMAIN, rcode_nxdomain);
    return;
  }

  // The snapshot first: a VM it holds with an address answers at once,
  // however recently its name was missing; a Deleted one is NXDOMAIN at
  // once (with a nudge for a look, so that a relaunch is seen soon), and a
  // type that has no records NODATA at once. A name the snapshot lacks, and
  // an address question for a VM that serves none (Stopped, Starting,
  // Suspended, ..., or Running without a usable address: it may be coming
  // up) wait for a look: the next unit, which begins after the question (a
  // cheap listing, and a full one when that shows a change, or when a
  // Running VM new to lacking an address needs one). When it has ended:
  // the address if there is one now, else NODATA (a VM) or NXDOMAIN (no
  // VM), and the name is remembered as missing for negative_ttl: asked
  // again meanwhile, it is answered at once, with the rest of that time as
  // its negative TTL, so that a cache in front forgets it at most a second
  // after we do (whole seconds, rounded up).
  // Repeated questions (a search list, retries, a flood for stopped VMs)
  // thus wait once per negative_ttl, and a name asked just before
  // `multipass launch` or `start` resolves within negative_ttl after it,
  // through a caching client too. A question whose wait ends before its
  // look (a slow CLI, a reload) learns nothing: it gets what the snapshot
  // settles, else SERVFAIL ("could not look", as CoreDNS's kubernetes
  // plugin answers before its first sync), and nothing is remembered. No
  // look coming at all (not running, miss_wait 0): the snapshot's answer,
  // not remembered.
  const vm* v = seen->find(label);
  if (v && settle(*seen, *v, qtype, out)) return;
  if (asked == look::not_asked) {
    const auto left =
        missing_.remaining(label, detail::miss_memory::clock::now());
    if (left.count() > 0) {
      if (v) nudge();
      // Whole seconds, rounded up: a cache never forgets before we do
      // (by at most a second later), and never below 1 s.
      const auto seconds = static_cast<uint32_t>((left.count() + 999) / 1000);
      out->soa.minimum = out->soa.ttl =
          std::min(std::max<uint32_t>(seconds, 1), opts_.negative_ttl);
      if (v) {
        set_outcome(out, MULTIPASS_NODATA, rcode_noerror);
      } else {
        set_outcome(out, MULTIPASS_NXDOMAIN, rcode_nxdomain);
      }
      return;
    }
    // A Running VM without an address gets one only from a full listing.
    const std::string_view address_of =
        v && serves_addresses(seen->hot_of(*v).state) ? label
                                                       : std::string_view();
    asked = await_look(flags, address_of, out);
    if (asked == look::waiting) return;
  }
  const snapshot snap = feed_->current();
  if (snap != seen) {
    fill_soa(out->zone, snap, out);
    v = snap->find(label);
    if (v && settle(*snap, *v, qtype, out)) return;
  }
  if (asked == look::ran_out) {
    set_outcome(out, MULTIPASS_SERVFAIL, rcode_servfail);
    return;
  }
  if (asked == look::ended) {
    try {
      missing_.remember(label, detail::miss_memory::clock::now());
    } catch (...) {
      // Out of memory: the next question for it waits again.
    }
  }
  if (v) {
    set_outcome(out, MULTIPASS_NODATA, rcode_noerror);
  } else {
    set_outcome(out, MULTIPASS_NXDOMAIN, rcode_nxdomain);
  }
}

bool resolver::settle(const inventory& snap, const vm& v, uint16_t qtype,
                      multipass_answer_t* out) const {
  // The common case (the first address, no `networks`) reads the VM's hot
  // record only; the others walk vm::ipv4.
  const hot_vm& hot = snap.hot_of(v);
  if (hot.state == vm_state::deleted) {
    nudge();
    set_outcome(out, MULTIPASS_NXDOMAIN, rcode_nxdomain);
    return true;
  }
  set_outcome(out, MULTIPASS_NODATA, rcode_noerror);
  if (qtype != type_a && qtype != type_any) {
    if (!serves_addresses(hot.state)) nudge();
    return true;
  }
  uint32_t addresses[MULTIPASS_MAX_ADDRESSES];
  const uint32_t count =
      served_addresses(snap, v, addresses, MULTIPASS_MAX_ADDRESSES);
  if (count == 0) return false;
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* rdata = out->addresses + 4 * i;
    rdata[0] = static_cast<uint8_t>(addresses[i] >> 24);
    rdata[1] = static_cast<uint8_t>(addresses[i] >> 16);
    rdata[2] = static_cast<uint8_t>(addresses[i] >> 8);
    rdata[3] = static_cast<uint8_t>(addresses[i]);
  }
  set_outcome(out, MULTIPASS_ANSWER, rcode_noerror);
  out->rrtype = type_a;
  out->ttl = opts_.ttl;
  out->count = count;
  return true;
}

uint32_t resolver::served_addresses(const inventory& snap, const vm& v,
                                    uint32_t* out, uint32_t cap) const {
  // The common case (the first address, no `networks`) reads the VM's hot
  // record only; the others walk vm::ipv4.
  const hot_vm& hot = snap.hot_of(v);
  if (!serves_addresses(hot.state) || cap == 0) return 0;
  if (!opts_.addresses_all && networks_.empty()) {
    if (hot.ipv4_count == 0) return 0;
    out[0] = hot.first_ipv4;
    return 1;
  }
  uint32_t count = 0;
  for (uint32_t address : v.ipv4) {
    if (!usable(address)) continue;
    out[count++] = address;
    if (!opts_.addresses_all || count == cap) break;
  }
  return count;
}

void resolver::nudge() const {
  try {
    feed_->request_probe();
  } catch (...) {
    // Only a hint.
  }
}

void resolver::resolve_reverse(const zone& z, std::string_view relative,
                               uint16_t qtype, const inventory& inv,
                               multipass_answer_t* out) const {
  uint32_t below = 0;
  int below_octets = 0;
  if (!detail::parse_reverse_labels(relative, &below, &below_octets) ||
      z.octets + below_octets > 4) {
    set_outcome(out, MULTIPASS_NXDOMAIN, rcode_nxdomain);
    return;
  }
  int octets = z.octets + below_octets;
  uint32_t prefix = z.prefix;
  if (below_octets > 0) prefix |= below >> (8 * z.octets);

  if (octets < 4) {
    // The apex exists; a partial name exists when served addresses lie
    // below it (an empty non-terminal).
    if (relative.empty() || serves_below(inv, prefix, octets)) {
      set_outcome(out, MULTIPASS_NODATA, rcode_noerror);
    } else {
      set_outcome(out, MULTIPASS_NXDOMAIN, rcode_nxdomain);
    }
    return;
  }

  // The name exists when a VM serves the address and its PTR target fits.
  const vm* v = first_forward_ < 0 ? nullptr : server_of(inv, prefix);
  if (v && !join_name(v->key, zones_[first_forward_].name, out->target)) {
    v = nullptr;
  }
  if (!v || (qtype != type_ptr && qtype != type_any)) {
    out->target[0] = '\0';
    if (v || relative.empty()) {
      set_outcome(out, MULTIPASS_NODATA, rcode_noerror);
    } else {
      set_outcome(out, MULTIPASS_NXDOMAIN, rcode_nxdomain);
    }
    return;
  }
  set_outcome(out, MULTIPASS_ANSWER, rcode_noerror);
  out->rrtype = type_ptr;
  out->ttl = opts_.ttl;
  out->count = 1;
}

bool resolver::usable(uint32_t address) const {
  const bool host_only = detail::host_only_address(address);
  if (networks_.empty()) return !host_only;
  for (const detail::ipv4_network& net : networks_) {
    // A host-only address only inside a network that names its block.
    if (net.contains(address) &&
        (!host_only || detail::inside_host_only_block(net)))
      return true;
  }
  return false;
}

bool resolver::serves(const vm& v, uint32_t address) const {
  // A VM the nameserver's name hides has no name for its PTR to give.
  if (!serves_addresses(v.state) || shadowed(first_forward_, v.key))
    return false;
  for (uint32_t candidate : v.ipv4) {
    if (!usable(candidate)) continue;
    if (candidate == address) return true;
    if (!opts_.addresses_all) return false;  // only the first usable one
  }
  return false;
}

const vm* resolver::server_of(const inventory& inv, uint32_t address) const {
  auto it = inv.by_address.find(address);
  if (it == inv.by_address.end()) return nullptr;  // no VM lists it
  const vm& first = inv.vms[it->second];
  if (serves(first, address)) return &first;
  // Rare: the first VM listing the address does not serve it (a later
  // address of its, outside `networks`...); another VM may.
  for (const vm& v : inv.vms) {
    if (serves(v, address)) return &v;
  }
  return nullptr;
}

bool resolver::serves_below(const inventory& inv, uint32_t prefix,
                            int octets) const {
  uint32_t mask = octets == 0 ? 0 : ~uint32_t{0} << (32 - 8 * octets);
  for (const vm& v : inv.vms) {
    if (!serves_addresses(v.state) || shadowed(first_forward_, v.key))
      continue;
    for (uint32_t address : v.ipv4) {
      if (!usable(address)) continue;
      if ((address & mask) == prefix) return true;
      if (!opts_.addresses_all) break;
    }
  }
  return false;
}

void resolver::fill_soa(int zone_index, const snapshot& snap,
                        multipass_answer_t* out) const {
  out->soa.serial = serial_of(zone_index, snap);
  out->soa.refresh = soa_refresh;
  out->soa.retry = soa_retry;
  out->soa.expire = soa_expire;
  out->soa.minimum = opts_.negative_ttl;
  out->soa.ttl = opts_.negative_ttl;
}

}  // namespace multipass
