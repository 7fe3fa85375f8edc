// The resolver: decides every DNS answer for a set of zones from a source's
// current inventory snapshot (README.md, "What it answers").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "inventory.h"
#include "miss_memory.h"
#include "multipass/multipass.h"
#include "names.h"
#include "serial_book.h"
#include "thread_cached.h"

namespace multipass {

class source;

// The newest snapshot for the span of one question (see thread_cached.h).
using snapshot_read = thread_cached<inventory>::read_guard;

// Told of every inventory a source is about to publish, before any question
// can read it (and, once, of the current one when it starts observing).
class publish_observer {
 public:
  virtual ~publish_observer() = default;
  virtual void prepare(const snapshot& next) const = 0;
};

// What the resolver needs from a source. `source` is adapted to it by
// resolver's constructor; tests hand the resolver inventories through it.
class inventory_feed {
 public:
  virtual ~inventory_feed() = default;
  // The newest snapshot; never null.
  virtual snapshot current() const = 0;
  // The same for one question, read without a lock or counter shared with
  // other questions (source::read); by default a counted current().
  virtual snapshot_read read() const { return snapshot_read(current()); }
  // True once a listing has loaded.
  virtual bool ready() const = 0;
  // Asks for a look (a unit that begins after this call) and returns its
  // number, 0 when none will come to wait for. `address_of`: the key of a
  // Running VM whose address the question wants (empty otherwise). See
  // source::request_refresh.
  virtual uint64_t request_refresh(std::string_view /*address_of*/) {
    return 0;
  }
  // Blocks until unit `seq` has ended, the source stops, or `timeout`
  // passes. See source::wait_refresh.
  virtual void wait_refresh(uint64_t /*seq*/,
                            std::chrono::milliseconds /*timeout*/) {}
  // Whether unit `seq` has ended (any seq > 0 has, for a feed that never
  // looks).
  virtual bool finished(uint64_t /*seq*/) const { return true; }
  // For a question answered at once for a known VM that serves no address
  // (Deleted, or asked again while remembered): asks for a look in the
  // background, never waits. See source::request_probe.
  virtual void request_probe() {}
  // The longest a question waits for a look (source_options::miss_wait).
  virtual uint32_t miss_wait_ms() const { return 0; }
  // Has `observer` prepared for every inventory before it is published
  // (source::observe); by default nothing: the resolver then prepares on
  // the first question that reads a new inventory.
  virtual void observe(std::weak_ptr<const publish_observer> /*observer*/) {}
  // The zones' serials (source::serials); by default the feed's own.
  virtual serial_book& serials() { return serials_; }

 private:
  serial_book serials_;
};

// How resolve() may wait; values match MULTIPASS_RESOLVE_* of the C ABI.
enum resolve_flags : uint32_t {
  resolve_may_block = 0,
  // Never block: where resolve would wait for a look, answer
  // MULTIPASS_WAIT with the unit to wait for (wait_seq) instead.
  resolve_no_wait = MULTIPASS_RESOLVE_NO_WAIT,
  // The caller has waited for unit out->wait_seq (the same answer struct
  // comes back): decide from the current snapshot, as after a wait.
  resolve_waited = MULTIPASS_RESOLVE_WAITED,
};

struct resolver_options {
  // The defaults: those of multipass_resolver_options_init_sized, the one
  // place they are written.
  resolver_options();

  std::vector<std::string> zones;     // forward and reverse zones, any case
  uint32_t ttl;                       // TTL of A, PTR and NS records
  uint32_t negative_ttl;              // SOA minimum and SOA TTL; also how
                                      // long a name stays confirmed missing
  bool addresses_all;                 // false: the first usable address only
  std::vector<std::string> networks;  // CIDRs; empty: every address outside
                                      // the host-only blocks is usable
  bool wildcard;                      // x.<vm>.Z answers like <vm>.Z
  // The zones' nameserver (see multipass_resolver_options_t): empty for
  // "ns1.<zone>" ("ns1.<first forward zone>" in a reverse zone).
  std::string nameserver;
  uint32_t nameserver_address = 0x7f000001;  // host order: 127.0.0.1
  std::string state_dir;  // empty: serials kept in memory only
};

// SOA timers for secondaries fed by NOTIFY (RFC 1996): a secondary that
// missed a NOTIFY asks for the SOA within refresh (5 minutes: BIND's
// shortest by default) and, while the primary does not answer, again every
// retry; it keeps serving the zone for expire (a week) without the primary:
// through a restart, a reboot, a laptop closed over a weekend.
constexpr uint32_t soa_refresh = 300;
constexpr uint32_t soa_retry = 60;
constexpr uint32_t soa_expire = 604800;

// One record of a zone (a transfer's content; the SOA is not among them).
struct zone_record {
  std::string owner;   // lower case, trailing dot
  uint16_t rrtype = 0; // 1 A, 2 NS, 12 PTR
  uint32_t ttl = 0;
  uint32_t address = 0;  // A, host order
  std::string target;    // NS, PTR
};

// Immutable after construction apart from its memory of missing names and
// its zones' serials (which lock): resolve() may run on any number of
// threads.
class resolver final : public publish_observer {
 public:
  // One configured zone.
  struct zone {
    std::string name;    // lower case, no trailing dot; "" is the root
    std::string origin;  // "<name>." ("." for the root)
    std::string mname;   // "ns1.<name>."
    std::string rname;   // "hostmaster.<name>."
    std::string ns_label;  // the nameserver's label below the zone, when
                           // its name is "<ns_label>.<name>."; else empty
    bool reverse = false;
    uint32_t prefix = 0;  // reverse zones: the address bits the zone fixes
    int octets = 0;       // reverse zones: how many octets it fixes (0..4)
  };

  // Throws std::invalid_argument for no zones, a bad zone, a bad network
  // or a bad nameserver.
  resolver(std::shared_ptr<source> src, resolver_options opts);
  resolver(std::shared_ptr<inventory_feed> feed, resolver_options opts);
  // A resolver whose zones' serials the source computes as it publishes
  // (off the questions' threads): what the C ABI creates.
  static std::shared_ptr<const resolver> create(
      std::shared_ptr<source> src, resolver_options opts);

  // Decides the answer to (qname, qtype) into *out; qname as asked (any
  // case, trailing dot optional, presentation format). Fills every field of
  // the v1 answer struct except struct_size and unused addresses / target
  // bytes. Returns false (and leaves *out untouched) only when qname is too
  // long to be a domain name. Only a forward name missing from the snapshot,
  // an address question for a VM that serves no address (yet), or a source
  // that has not loaded yet, waits (bounded) for a look; a name that such a
  // look left without an answer less than negative_ttl seconds ago is
  // answered at once (see resolve_forward). `flags` (resolve_flags) lets
  // the caller do that wait itself; a MULTIPASS_WAIT answer also fills
  // wait_seq and wait_ms, which needs the whole v1 answer struct, and so
  // does resolve_waited, which reads wait_seq back.
  bool resolve(std::string_view qname, uint16_t qtype, multipass_answer_t* out,
               uint32_t flags = resolve_may_block) const;

  const std::vector<zone>& zones() const { return zones_; }
  const resolver_options& options() const { return opts_; }

  // A zone's whole content from the newest snapshot (see
  // multipass_resolver_transfer): its SOA numbers into *soa and every other
  // record to `each`, in the inventory's order: the apex NS, the
  // nameserver's A, then per VM its A records (and "*.<vm>" with
  // wildcard), or in a reverse zone a PTR per address served in it. False
  // (nothing sent) before the first load or for a zone out of range.
  bool transfer(int zone_index, multipass_soa_t* soa,
                const std::function<void(const zone_record&)>& each) const;

  // publish_observer: computes the zones' serials for `next`.
  void prepare(const snapshot& next) const override;

 private:
  // The zones' serials for one inventory, and for the one before it (which
  // questions that began before a publication still read).
  struct serial_table {
    std::weak_ptr<const inventory> of, before;
    uint32_t of_serial = 0;  // of->serial: which of two inventories is newer
    std::vector<uint32_t> serials, serials_before;
  };
  // Every record of zone `zone_index` in `inv` to `each` (see transfer).
  void records(int zone_index, const inventory& inv,
               const std::function<void(const zone_record&)>& each) const;
  // The serial of each zone in `inv`, recorded in the book when `commit`.
  std::vector<uint32_t> compute_serials(const inventory& inv,
                                        bool commit) const;
  // The serial of zone `zone_index` in `snap`: from the table prepared for
  // it (no lock), else prepared now (a feed that does not observe, or a
  // question that read an inventory the table has moved past).
  uint32_t serial_of(int zone_index, const snapshot& snap) const;
  // The addresses `v` serves (state, networks, first/all), at most `cap`,
  // into `out`; their number.
  uint32_t served_addresses(const inventory& snap, const vm& v, uint32_t* out,
                            uint32_t cap) const;
  // Whether the VM `key` is hidden at <key>.<zone> by the nameserver's name.
  bool shadowed(int zone_index, std::string_view key) const {
    return zone_index >= 0 && zones_[zone_index].ns_label == key;
  }

  // How a question's look went: the unit that begins after the question,
  // and ends before it is answered as missing.
  enum class look {
    not_asked,  // none yet
    waiting,    // MULTIPASS_WAIT answered: the caller waits its own way
    ended,      // the unit ended: the snapshot is the truth, remember a miss
    none,       // no unit will come (not running, or miss_wait 0): the
                // snapshot's answer, not remembered
    ran_out,    // the wait ended first (a slow CLI, a stop, a reload):
                // only what the snapshot settles, else SERVFAIL
  };
  void resolve_in_zone(int zone_index, std::string_view relative,
                       uint16_t qtype, uint32_t flags,
                       multipass_answer_t* out) const;
  void resolve_forward(std::string_view relative, uint16_t qtype,
                       const snapshot& seen, uint32_t flags, look asked,
                       multipass_answer_t* out) const;
  // Answers from `v`, one of snap's VMs, when the snapshot settles the
  // question: an address, NODATA for a type that has no records, NXDOMAIN
  // for a Deleted VM. False (nothing decided) for an address question for
  // a VM that serves no address: it may have one after a look.
  bool settle(const inventory& snap, const vm& v, uint16_t qtype,
              multipass_answer_t* out) const;
  // Asks the feed for a look in the background (never fails).
  void nudge() const;
  // Asks for a look (a unit that begins after the question) and, per
  // `flags`, answers MULTIPASS_WAIT with it (resolve_no_wait: the caller
  // waits) or waits here, up to miss_wait. `address_of`: see
  // inventory_feed::request_refresh.
  look await_look(uint32_t flags, std::string_view address_of,
                  multipass_answer_t* out) const;
  void resolve_reverse(const zone& z, std::string_view relative,
                       uint16_t qtype, const inventory& inv,
                       multipass_answer_t* out) const;

  // Whether `address` may be served: inside `networks` (every address
  // without them), and outside the host-only blocks
  // (detail::host_only_address) unless a network inside such a block
  // names it.
  bool usable(uint32_t address) const;
  // Whether `v` serves `address` (state, networks, first/all).
  bool serves(const vm& v, uint32_t address) const;
  // The VM that serves `address`, or nullptr.
  const vm* server_of(const inventory& inv, uint32_t address) const;
  // Whether some served address starts with the first `octets` octets of
  // `prefix`.
  bool serves_below(const inventory& inv, uint32_t prefix, int octets) const;
  void fill_soa(int zone_index, const snapshot& snap,
                multipass_answer_t* out) const;

  std::shared_ptr<inventory_feed> feed_;
  resolver_options opts_;
  std::vector<zone> zones_;
  std::vector<detail::ipv4_network> networks_;
  int first_forward_ = -1;  // index of the first forward zone
  // VM labels that a look left without an answer (missing, or a VM
  // without an address), for negative_ttl.
  mutable detail::miss_memory missing_;
  // What tells this view of a zone from another block's (its options and
  // zones): part of each zone's key in the serial book.
  std::string fingerprint_;
  mutable std::mutex serials_mu_;  // one prepare at a time
  mutable thread_cached<serial_table> serials_{
      std::make_shared<serial_table>()};
};

}  // namespace multipass
