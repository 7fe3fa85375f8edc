// The C ABI (include/multipass/multipass.h) over the C++ core. The only
// extern "C" file: every body catches, so no exception crosses the boundary.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstddef>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <cstdlib>
#include <vector>

#include "listing_parser.h"
#include "log_queue.h"
#include "multipass/multipass.h"
#include "names.h"
#include "resolver.h"
#include "source.h"
#include "text_cut.h"

#ifndef MULTIPASS_VERSION_STRING
#error "MULTIPASS_VERSION_STRING must be defined by the build"
#endif

struct multipass_source_t {
  std::shared_ptr<multipass::source> rep;
};

struct multipass_resolver_t {
  std::shared_ptr<const multipass::resolver> rep;
};

namespace {

// Writes `message` into the caller's buffer, NUL-terminated, cut to fit on
// a UTF-8 boundary.
void set_error(char* err, size_t err_cap, const char* message) noexcept {
  if (!err || err_cap == 0) return;
  const size_t length = multipass::detail::utf8_prefix(message, err_cap - 1);
  std::memcpy(err, message, length);
  err[length] = '\0';
}

void clear_error(char* err, size_t err_cap) noexcept {
  if (err && err_cap > 0) err[0] = '\0';
}

// Runs `body` (returning int) and turns any exception into MULTIPASS_ERROR
// with its text in the caller's buffer.
template <typename Body>
int guarded(char* err, size_t err_cap, Body&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    set_error(err, err_cap, e.what());
  } catch (...) {
    set_error(err, err_cap, "unknown error");
  }
  return MULTIPASS_ERROR;
}

// Where the fields of a struct's revision 1 end (the least struct_size the
// library takes), and the sizeof of revision 3's structs, padding included
// (what the `_init` functions without a size write). Frozen: a later field
// begins at or after them (see "How the ABI grows").
#define MULTIPASS_END_OF(Struct, field) \
  (offsetof(Struct, field) + sizeof(Struct::field))
constexpr size_t round_up(size_t size, size_t alignment) {
  return (size + alignment - 1) / alignment * alignment;
}
constexpr size_t source_options_v1 =
    MULTIPASS_END_OF(multipass_source_options_t, max_output_bytes);
constexpr size_t source_options_v3 =
    round_up(MULTIPASS_END_OF(multipass_source_options_t, probe_ms),
             alignof(multipass_source_options_t));
constexpr size_t source_stats_v1 =
    MULTIPASS_END_OF(multipass_source_stats_t, instances);
constexpr size_t log_entry_v1 = MULTIPASS_END_OF(multipass_log_entry_t, text);
constexpr size_t resolver_options_v1 =
    MULTIPASS_END_OF(multipass_resolver_options_t, wildcard);
constexpr size_t resolver_options_v3 =
    round_up(resolver_options_v1, alignof(multipass_resolver_options_t));
// multipass_resolve needs no room for the wait fields, _flags does.
constexpr size_t answer_v1 = offsetof(multipass_answer_t, wait_seq);
constexpr size_t answer_v1_waits = MULTIPASS_END_OF(multipass_answer_t, wait_ms);
#undef MULTIPASS_END_OF
#ifdef MULTIPASS_ABI_TEST_GROWTH
// The growth that tests/abi makes follows the rule above.
static_assert(offsetof(multipass_source_options_t, abi_test_growth) >=
                  source_options_v3, "a field inside revision 3's struct");
static_assert(offsetof(multipass_resolver_options_t, abi_test_growth) >=
                  resolver_options_v3, "a field inside revision 3's struct");
#endif

// The caller's struct as this library knows it: the fields the caller's
// struct_size covers, the others as `defaults` has them. A struct shorter
// than min_size (the end of the struct's revision-1 fields) is refused.
template <typename Struct>
Struct known_fields(const Struct* in, size_t min_size, Struct defaults) {
  if (in->struct_size < min_size) {
    throw std::invalid_argument("struct_size too small");
  }
  std::memcpy(&defaults, in, std::min(in->struct_size, sizeof defaults));
  defaults.struct_size = sizeof defaults;
#ifdef MULTIPASS_ABI_TEST_GROWTH
  // A caller that predates the field never sets it: reading it would
  // have read past its struct.
  if (defaults.abi_test_growth != 0) {
    throw std::invalid_argument("read past struct_size");
  }
#endif
  return defaults;
}

// Hands `full` to the caller as far as its struct_size reaches; the bytes
// past it are not the library's to write.
template <typename Struct>
void write_known(Struct* out, const Struct& full) {
  const size_t struct_size = out->struct_size;
  std::memcpy(out, &full, std::min(struct_size, sizeof full));
  out->struct_size = struct_size;
}

// Fills the caller's struct with `defaults` as far as struct_size reaches,
// zeros past the library's own struct, and sets struct_size.
template <typename Struct>
int init_known(Struct* out, size_t struct_size, size_t min_size,
               const Struct& defaults) {
  if (!out || struct_size < min_size) return MULTIPASS_ERROR;
  if (struct_size > sizeof defaults) std::memset(out, 0, struct_size);
  std::memcpy(out, &defaults, std::min(struct_size, sizeof defaults));
  out->struct_size = struct_size;
  return MULTIPASS_OK;
}

// A struct whose every byte is zero and whose struct_size is the library's.
template <typename Struct>
Struct zeroed() {
  Struct s;
  std::memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;
  return s;
}

// An output struct as the library fills it. The test build's growth field
// carries a value, so that a caller's struct shows whether it was written.
template <typename Struct>
Struct output() {
  Struct s = zeroed<Struct>();
#ifdef MULTIPASS_ABI_TEST_GROWTH
  s.abi_test_growth = ~uint64_t{0};
#endif
  return s;
}

multipass_source_options_t source_defaults() {
  multipass_source_options_t opts = zeroed<multipass_source_options_t>();
  opts.binary = "multipass";
  opts.server_address = nullptr;
  opts.refresh_ms = 600000;
  opts.timeout_ms = 10000;
  opts.miss_wait_ms = 2000;
  opts.demand_interval_ms = 1000;
  opts.max_output_bytes = 16u << 20;
  opts.probe_ms = 5000;
  return opts;
}

multipass_resolver_options_t resolver_defaults() {
  multipass_resolver_options_t opts = zeroed<multipass_resolver_options_t>();
  opts.zones = nullptr;
  opts.zone_count = 0;
  opts.ttl = 10;
  opts.negative_ttl = 5;
  opts.addresses_all = 0;
  opts.networks = nullptr;
  opts.network_count = 0;
  opts.wildcard = 0;
  opts.nameserver = nullptr;
  opts.nameserver_address = nullptr;
  opts.state_dir = nullptr;
  return opts;
}

// Fills *out (a block the caller frees with multipass_free) with zone
// `zone`'s content.
void transfer_zone(const multipass::resolver& res, int32_t zone,
                   multipass_zone_t** out) {
  std::vector<multipass::zone_record> records;
  multipass_soa_t soa{};
  if (!res.transfer(zone, &soa, [&records](const multipass::zone_record& r) {
        records.push_back(r);
      })) {
    throw std::invalid_argument(
        zone < 0 || static_cast<size_t>(zone) >= res.zones().size()
            ? "no such zone"
            : "no listing has loaded yet");
  }
  size_t names = 0;
  for (const multipass::zone_record& r : records) {
    names += r.owner.size() + 1 + (r.target.empty() ? 0 : r.target.size() + 1);
  }
  const size_t head = round_up(sizeof(multipass_zone_t),
                               alignof(multipass_record_t));
  const size_t bytes = head + records.size() * sizeof(multipass_record_t) +
                       names;
  auto* block = static_cast<char*>(std::malloc(bytes));
  if (!block) throw std::bad_alloc();
  auto* zone_out = reinterpret_cast<multipass_zone_t*>(block);
  zone_out->soa = soa;
  zone_out->count = records.size();
  zone_out->records = reinterpret_cast<multipass_record_t*>(block + head);
  zone_out->bytes = bytes;
  char* text = block + head + records.size() * sizeof(multipass_record_t);
  auto put = [&text](const std::string& name) {
    const char* at = text;
    std::memcpy(text, name.c_str(), name.size() + 1);
    text += name.size() + 1;
    return at;
  };
  for (size_t i = 0; i < records.size(); ++i) {
    const multipass::zone_record& r = records[i];
    multipass_record_t& rec = zone_out->records[i];
    rec.owner = put(r.owner);
    rec.target = r.target.empty() ? nullptr : put(r.target);
    rec.ttl = r.ttl;
    rec.rrtype = r.rrtype;
    rec.address[0] = static_cast<uint8_t>(r.address >> 24);
    rec.address[1] = static_cast<uint8_t>(r.address >> 16);
    rec.address[2] = static_cast<uint8_t>(r.address >> 8);
    rec.address[3] = static_cast<uint8_t>(r.address);
  }
  *out = zone_out;
}

// multipass_resolve and multipass_resolve_flags: out->struct_size must be at
// least min_struct_size. A caller with the library's whole struct (or a
// larger one) gets the answer written in place; an older, smaller one a copy
// of the fields it knows.
int resolve_into(const multipass_resolver_t* res, const char* qname,
                 size_t qname_len, uint16_t qtype, uint32_t flags,
                 size_t min_struct_size, multipass_answer_t* out) {
  return guarded(nullptr, 0, [&]() -> int {
    if (!res || !out || out->struct_size < min_struct_size ||
        (!qname && qname_len > 0)) {
      return MULTIPASS_ERROR;
    }
    std::string_view name(qname ? qname : "", qname_len);
    if (out->struct_size >= sizeof *out) {
      return res->rep->resolve(name, qtype, out, flags) ? MULTIPASS_OK
                                                        : MULTIPASS_ERROR;
    }
    // The fields the caller knows go in too (wait_seq, read back with
    // MULTIPASS_RESOLVE_WAITED).
    multipass_answer_t whole = output<multipass_answer_t>();
    std::memcpy(&whole, out, out->struct_size);
    whole.struct_size = sizeof whole;
    if (!res->rep->resolve(name, qtype, &whole, flags)) return MULTIPASS_ERROR;
    write_known(out, whole);
    return MULTIPASS_OK;
  });
}

}  // namespace

extern "C" {

int multipass_abi_version(void) { return MULTIPASS_ABI_VERSION; }

int multipass_abi_revision(void) { return MULTIPASS_ABI_REVISION; }

const char* multipass_version(void) { return MULTIPASS_VERSION_STRING; }

int multipass_source_options_init_sized(multipass_source_options_t* opts,
                                        size_t struct_size) {
  return init_known(opts, struct_size, source_options_v1, source_defaults());
}

void multipass_source_options_init(multipass_source_options_t* opts) {
  init_known(opts, source_options_v3, source_options_v1, source_defaults());
}

multipass_source_t* multipass_source_create(
    const multipass_source_options_t* opts, char* err, size_t err_cap) {
  clear_error(err, err_cap);
  multipass_source_t* created = nullptr;
  guarded(err, err_cap, [&]() -> int {
    if (!opts) throw std::invalid_argument("no options");
    // A caller that predates probe_ms gets no cheap listing, as it had.
    multipass_source_options_t old_defaults = source_defaults();
    old_defaults.probe_ms = 0;
    const multipass_source_options_t in =
        known_fields(opts, source_options_v1, old_defaults);
    if (in.max_output_bytes == 0) {
      throw std::invalid_argument("max_output_bytes must be positive");
    }
    multipass::source_options o(in);
    auto handle = std::make_unique<multipass_source_t>();
    handle->rep = std::make_shared<multipass::source>(std::move(o));
    created = handle.release();
    return MULTIPASS_OK;
  });
  return created;
}

int multipass_source_set_intervals(multipass_source_t* src, uint32_t probe_ms,
                                   uint32_t refresh_ms, uint32_t timeout_ms,
                                   char* err, size_t err_cap) {
  clear_error(err, err_cap);
  return guarded(err, err_cap, [&]() -> int {
    if (!src) throw std::invalid_argument("no source");
    src->rep->set_intervals(std::chrono::milliseconds(probe_ms),
                            std::chrono::milliseconds(refresh_ms),
                            std::chrono::milliseconds(timeout_ms));
    return MULTIPASS_OK;
  });
}

int multipass_source_event_fd(multipass_source_t* src, char* err,
                              size_t err_cap) {
  clear_error(err, err_cap);
  int fd = -1;
  guarded(err, err_cap, [&]() -> int {
    if (!src) throw std::invalid_argument("no source");
    fd = src->rep->event_fd();
    if (fd < 0) throw std::runtime_error("cannot make the wake-up pipe");
    return MULTIPASS_OK;
  });
  return fd;
}

int multipass_source_start(multipass_source_t* src, char* err,
                           size_t err_cap) {
  clear_error(err, err_cap);
  return guarded(err, err_cap, [&]() -> int {
    if (!src) throw std::invalid_argument("no source");
    src->rep->start();
    return MULTIPASS_OK;
  });
}

void multipass_source_stop(multipass_source_t* src) {
  guarded(nullptr, 0, [&]() -> int {
    if (src) src->rep->stop();
    return MULTIPASS_OK;
  });
}

void multipass_source_destroy(multipass_source_t* src) {
  if (!src) return;
  multipass_source_stop(src);
  // Resolvers may still hold the source; they keep it alive.
  delete src;
}

int multipass_source_refresh(multipass_source_t* src, char* err,
                             size_t err_cap) {
  clear_error(err, err_cap);
  return guarded(err, err_cap, [&]() -> int {
    if (!src) throw std::invalid_argument("no source");
    std::string error;
    if (src->rep->refresh_now(&error)) return MULTIPASS_OK;
    set_error(err, err_cap, error.empty() ? "refresh failed" : error.c_str());
    return MULTIPASS_ERROR;
  });
}

int multipass_source_ready(const multipass_source_t* src) {
  return src && src->rep->ready() ? 1 : 0;
}

uint64_t multipass_source_units_finished(const multipass_source_t* src) {
  return src ? src->rep->units_finished() : 0;
}

int multipass_source_wait_refresh(const multipass_source_t* src, uint64_t seq,
                                  uint32_t timeout_ms, uint64_t* finished) {
  return guarded(nullptr, 0, [&]() -> int {
    if (!src) return MULTIPASS_ERROR;
    uint64_t done =
        src->rep->wait_refresh(seq, std::chrono::milliseconds(timeout_ms));
    if (finished) *finished = done;
    if (done >= seq) return 1;
    return src->rep->stopped() ? MULTIPASS_ERROR : 0;
  });
}

const char* multipass_state_name(int state) {
  static const char* const names[MULTIPASS_STATE_COUNT] = {
      "running",          "stopped",    "deleted",   "starting",
      "restarting",       "delayed_shutdown", "suspending", "suspended",
      "unknown",          "unavailable"};
  if (state < 0 || state >= MULTIPASS_STATE_COUNT) return "unknown";
  return names[state];
}

int multipass_source_stats(const multipass_source_t* src,
                           multipass_source_stats_t* out) {
  return guarded(nullptr, 0, [&]() -> int {
    if (!src || !out || out->struct_size < source_stats_v1) {
      return MULTIPASS_ERROR;
    }
    multipass_source_stats_t all = output<multipass_source_stats_t>();
    src->rep->stats(&all);
    write_known(out, all);
    return MULTIPASS_OK;
  });
}

int multipass_log_next(multipass_source_t* src, uint32_t wait_ms,
                       multipass_log_entry_t* out) {
  return guarded(nullptr, 0, [&]() -> int {
    if (!src || !out || out->struct_size < log_entry_v1) {
      return MULTIPASS_ERROR;
    }
    multipass::log_line line;
    switch (src->rep->logs().pop(std::chrono::milliseconds(wait_ms), &line)) {
      case multipass::log_queue::pop_result::empty:
        return MULTIPASS_LOG_EMPTY;
      case multipass::log_queue::pop_result::closed:
        return MULTIPASS_LOG_CLOSED;
      case multipass::log_queue::pop_result::line:
        break;
    }
    multipass_log_entry_t entry = output<multipass_log_entry_t>();
    entry.level = line.level;
    entry.dropped = line.dropped;
    // The queue cut the line to fit (on a UTF-8 boundary): no cut here.
    static_assert(multipass::log_queue::max_line_bytes < sizeof entry.text);
    const size_t length = line.text.size();
    std::memcpy(entry.text, line.text.data(), length);
    entry.text[length] = '\0';
    entry.len = length;
    write_known(out, entry);
    return MULTIPASS_LOG_ENTRY;
  });
}

int multipass_resolver_options_init_sized(multipass_resolver_options_t* opts,
                                          size_t struct_size) {
  return init_known(opts, struct_size, resolver_options_v1,
                    resolver_defaults());
}

void multipass_resolver_options_init(multipass_resolver_options_t* opts) {
  init_known(opts, resolver_options_v3, resolver_options_v1,
             resolver_defaults());
}

multipass_resolver_t* multipass_resolver_create(
    multipass_source_t* src, const multipass_resolver_options_t* opts,
    char* err, size_t err_cap) {
  clear_error(err, err_cap);
  multipass_resolver_t* created = nullptr;
  guarded(err, err_cap, [&]() -> int {
    if (!src) throw std::invalid_argument("no source");
    if (!opts) throw std::invalid_argument("no options");
    const multipass_resolver_options_t in =
        known_fields(opts, resolver_options_v1, resolver_defaults());
    if (in.zone_count == 0 || !in.zones) {
      throw std::invalid_argument("at least one zone is required");
    }
    if (in.network_count > 0 && !in.networks) {
      throw std::invalid_argument("network_count set but networks is NULL");
    }
    multipass::resolver_options o;
    for (size_t i = 0; i < in.zone_count; ++i) {
      if (!in.zones[i]) throw std::invalid_argument("NULL zone");
      o.zones.emplace_back(in.zones[i]);
    }
    for (size_t i = 0; i < in.network_count; ++i) {
      if (!in.networks[i]) throw std::invalid_argument("NULL network");
      o.networks.emplace_back(in.networks[i]);
    }
    o.ttl = in.ttl;
    o.negative_ttl = in.negative_ttl;
    o.addresses_all = in.addresses_all != 0;
    o.wildcard = in.wildcard != 0;
    if (in.nameserver) o.nameserver = in.nameserver;
    if (in.nameserver_address && *in.nameserver_address &&
        !multipass::parse_ipv4(in.nameserver_address,
                               &o.nameserver_address)) {
      throw std::invalid_argument(std::string("nameserver address must be an "
                                              "IPv4 address: ") +
                                  in.nameserver_address);
    }
    if (in.state_dir) o.state_dir = in.state_dir;
    auto handle = std::make_unique<multipass_resolver_t>();
    handle->rep = multipass::resolver::create(src->rep, std::move(o));
    created = handle.release();
    return MULTIPASS_OK;
  });
  return created;
}

void multipass_resolver_destroy(multipass_resolver_t* res) { delete res; }

int multipass_resolver_zone_names(const multipass_resolver_t* res,
                                  int32_t zone, char* origin,
                                  size_t origin_cap, char* mname,
                                  size_t mname_cap, char* rname,
                                  size_t rname_cap) {
  return guarded(nullptr, 0, [&]() -> int {
    if (!res || zone < 0 ||
        static_cast<size_t>(zone) >= res->rep->zones().size()) {
      return MULTIPASS_ERROR;
    }
    const multipass::resolver::zone& z = res->rep->zones()[zone];
    const struct {
      char* buffer;
      size_t cap;
      const std::string& name;
    } names[] = {{origin, origin_cap, z.origin},
                 {mname, mname_cap, z.mname},
                 {rname, rname_cap, z.rname}};
    const bool fit = std::all_of(
        std::begin(names), std::end(names),
        [](const auto& n) { return !n.buffer || n.name.size() < n.cap; });
    for (const auto& n : names) {
      if (!n.buffer || n.cap == 0) continue;
      if (fit) {
        std::memcpy(n.buffer, n.name.c_str(), n.name.size() + 1);
      } else {
        n.buffer[0] = '\0';
      }
    }
    return fit ? MULTIPASS_OK : MULTIPASS_ERROR;
  });
}

int multipass_resolver_zone(const multipass_resolver_t* res, int32_t zone,
                            char* origin, char* mname, char* rname) {
  return multipass_resolver_zone_names(res, zone, origin, MULTIPASS_NAME_CAP,
                                       mname, MULTIPASS_NAME_CAP, rname,
                                       MULTIPASS_NAME_CAP);
}

int multipass_resolve(const multipass_resolver_t* res, const char* qname,
                      size_t qname_len, uint16_t qtype,
                      multipass_answer_t* out) {
  return resolve_into(res, qname, qname_len, qtype, 0, answer_v1, out);
}

int multipass_resolve_flags(const multipass_resolver_t* res, const char* qname,
                            size_t qname_len, uint16_t qtype, uint32_t flags,
                            multipass_answer_t* out) {
  if (flags & ~(MULTIPASS_RESOLVE_NO_WAIT | MULTIPASS_RESOLVE_WAITED))
    return MULTIPASS_ERROR;
  return resolve_into(res, qname, qname_len, qtype, flags, answer_v1_waits,
                      out);
}

int multipass_resolver_transfer(const multipass_resolver_t* res, int32_t zone,
                                multipass_zone_t** out, char* err,
                                size_t err_cap) {
  clear_error(err, err_cap);
  if (out) *out = nullptr;
  return guarded(err, err_cap, [&]() -> int {
    if (!res || !out) throw std::invalid_argument("no resolver or no out");
    transfer_zone(*res->rep, zone, out);
    return MULTIPASS_OK;
  });
}

void multipass_free(void* p) { std::free(p); }

int multipass_zone_check(const char* zone, char* err, size_t err_cap) {
  clear_error(err, err_cap);
  return guarded(err, err_cap, [&]() -> int {
    if (!zone) throw std::invalid_argument("no zone");
    multipass::detail::normalize_zone(zone);
    return MULTIPASS_OK;
  });
}

}  // extern "C"
