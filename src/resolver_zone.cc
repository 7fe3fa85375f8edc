// A zone as a whole: its records, for transfers, and its serial, which moves
// only when they do. The records come from the same rules as the answers to
// questions (resolver.cc): served_addresses, serves, the nameserver's name.
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "resolver.h"

namespace multipass {

namespace {

constexpr uint16_t type_a = 1;
constexpr uint16_t type_ns = 2;
constexpr uint16_t type_ptr = 12;

// "d.c.b.a.in-addr.arpa." of the address a.b.c.d (host order).
std::string reverse_name(uint32_t address) {
  char text[32];
  std::snprintf(text, sizeof text, "%u.%u.%u.%u.in-addr.arpa.",
                address & 0xff, (address >> 8) & 0xff, (address >> 16) & 0xff,
                address >> 24);
  return text;
}

// "<label>.<zone>." ("<label>." in the root); empty when longer than a
// domain name may be (255 octets on the wire).
std::string owner_name(std::string_view label, const std::string& zone) {
  std::string name(label);
  name += '.';
  if (!zone.empty()) name += zone + ".";
  return name.size() + 1 > 255 ? std::string() : name;
}

// A hash of one record; the zone's hash is the sum of its records' (free of
// order: a listing in another order is the same zone).
uint64_t record_hash(const zone_record& r) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto mix = [&h](const void* data, size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) {
      h ^= bytes[i];
      h *= 1099511628211ull;
    }
  };
  mix(r.owner.c_str(), r.owner.size() + 1);
  mix(&r.rrtype, sizeof r.rrtype);
  mix(&r.ttl, sizeof r.ttl);
  mix(&r.address, sizeof r.address);
  mix(r.target.c_str(), r.target.size() + 1);
  // splitmix64's finalizer, so that sums of similar records spread.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

// Whether two pointers share an owner (no counter touched).
template <typename A, typename B>
bool same_owner(const A& a, const B& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

}  // namespace

void resolver::records(
    int zone_index, const inventory& inv,
    const std::function<void(const zone_record&)>& each) const {
  const zone& z = zones_[zone_index];
  zone_record r;
  r.owner = z.origin;
  r.rrtype = type_ns;
  r.ttl = opts_.ttl;
  r.target = z.mname;
  each(r);
  r.target.clear();
  if (!z.ns_label.empty()) {
    r.owner = owner_name(z.ns_label, z.name);
    r.rrtype = type_a;
    r.address = opts_.nameserver_address;
    each(r);
  }
  if (z.reverse) {
    // A PTR per address served in the zone, by the first VM that serves it
    // (server_of), named in the first forward zone.
    if (first_forward_ < 0) return;
    const uint32_t mask = z.octets == 0 ? 0 : ~uint32_t{0} << (32 - 8 * z.octets);
    std::unordered_map<uint32_t, bool> named;
    r.rrtype = type_ptr;
    for (const vm& v : inv.vms) {
      if (!serves_addresses(v.state) || shadowed(first_forward_, v.key))
        continue;
      r.target = owner_name(v.key, zones_[first_forward_].name);
      if (r.target.empty()) continue;
      for (uint32_t address : v.ipv4) {
        if (!usable(address)) continue;
        if ((address & mask) == z.prefix && named.emplace(address, true).second) {
          r.owner = reverse_name(address);
          each(r);
        }
        if (!opts_.addresses_all) break;  // only the first usable one
      }
    }
    return;
  }
  r.rrtype = type_a;
  uint32_t addresses[MULTIPASS_MAX_ADDRESSES];
  for (const vm& v : inv.vms) {
    if (shadowed(zone_index, v.key)) continue;
    const uint32_t count =
        served_addresses(inv, v, addresses, MULTIPASS_MAX_ADDRESSES);
    if (count == 0) continue;
    for (int star = 0; star <= (opts_.wildcard ? 1 : 0); ++star) {
      r.owner = owner_name(star ? "*." + v.key : v.key, z.name);
      if (r.owner.empty()) continue;
      for (uint32_t i = 0; i < count; ++i) {
        r.address = addresses[i];
        each(r);
      }
    }
  }
}

bool resolver::transfer(
    int zone_index, multipass_soa_t* soa,
    const std::function<void(const zone_record&)>& each) const {
  if (zone_index < 0 || static_cast<size_t>(zone_index) >= zones_.size() ||
      !feed_->ready()) {
    return false;
  }
  const snapshot snap = feed_->current();
  multipass_answer_t numbers{};
  fill_soa(zone_index, snap, &numbers);
  *soa = numbers.soa;
  records(zone_index, *snap, each);
  return true;
}

std::vector<uint32_t> resolver::compute_serials(const inventory& inv,
                                                bool commit) const {
  std::vector<uint32_t> serials;
  serials.reserve(zones_.size());
  for (size_t i = 0; i < zones_.size(); ++i) {
    uint64_t hash = 0;
    records(static_cast<int>(i), inv,
            [&hash](const zone_record& r) { hash += record_hash(r); });
    const std::string file =
        opts_.state_dir.empty() ? std::string()
                                : opts_.state_dir + "/" + zones_[i].origin +
                                      "serial";
    serials.push_back(feed_->serials().serial_for(
        zones_[i].origin + " " + fingerprint_, file, hash, inv.serial,
        commit));
  }
  return serials;
}

void resolver::prepare(const snapshot& next) const {
  std::lock_guard<std::mutex> lock(serials_mu_);
  const auto table = serials_.load();
  if (same_owner(table->of, next)) return;
  auto fresh = std::make_shared<serial_table>();
  // Nothing is recorded for the empty inventory served before the first
  // load: a restart would number its content as a change.
  fresh->serials = compute_serials(*next, !next->before_first_load);
  fresh->of = next;
  fresh->of_serial = next->serial;
  fresh->before = table->of;
  fresh->serials_before = table->serials;
  serials_.store(std::move(fresh));
}

uint32_t resolver::serial_of(int zone_index, const snapshot& snap) const {
  const size_t i = static_cast<size_t>(zone_index);
  {
    const auto table = serials_.read();
    if (same_owner(table->of, snap)) return table->serials[i];
    if (same_owner(table->before, snap)) return table->serials_before[i];
    // An inventory older than both: what its serial would be, recorded
    // nowhere (a question that read it before two publications).
    if (!table->of.expired() &&
        !detail::serial_greater(snap->serial, table->of_serial)) {
      return compute_serials(*snap, false)[i];
    }
  }
  prepare(snap);
  return serial_of(zone_index, snap);
}

}  // namespace multipass
