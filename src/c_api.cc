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

#include "log_queue.h"
#include "multipass/multipass.h"
#include "names.h"
#include "resolver.h"
#include "source.h"

#ifndef MULTIPASS_VERSION_STRING
#error "MULTIPASS_VERSION_STRING must be defined by the build"
#endif

struct multipass_source_t {
  std::shared_ptr<multipass::source> rep;
};

struct multipass_resolver_t {
  std::unique_ptr<const multipass::resolver> rep;
};

namespace {

// Writes `message` into the caller's buffer, truncated and NUL-terminated.
void set_error(char* err, size_t err_cap, const char* message) noexcept {
  if (!err || err_cap == 0) return;
  size_t length = std::strlen(message);
  if (length >= err_cap) length = err_cap - 1;
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
  return defaults;
}

// multipass_resolve and multipass_resolve_flags: out->struct_size must be at
// least min_struct_size.
int resolve_into(const multipass_resolver_t* res, const char* qname,
                 size_t qname_len, uint16_t qtype, uint32_t flags,
                 size_t min_struct_size, multipass_answer_t* out) {
  return guarded(nullptr, 0, [&]() -> int {
    if (!res || !out || out->struct_size < min_struct_size ||
        (!qname && qname_len > 0)) {
      return MULTIPASS_ERROR;
    }
    std::string_view name(qname ? qname : "", qname_len);
    return res->rep->resolve(name, qtype, out, flags) ? MULTIPASS_OK
                                                      : MULTIPASS_ERROR;
  });
}

}  // namespace

extern "C" {

int multipass_abi_version(void) { return MULTIPASS_ABI_VERSION; }

int multipass_abi_revision(void) { return MULTIPASS_ABI_REVISION; }

const char* multipass_version(void) { return MULTIPASS_VERSION_STRING; }

void multipass_source_options_init(multipass_source_options_t* opts) {
  if (!opts) return;
  std::memset(opts, 0, sizeof *opts);
  opts->struct_size = sizeof *opts;
  opts->binary = "multipass";
  opts->server_address = nullptr;
  opts->refresh_ms = 600000;
  opts->timeout_ms = 10000;
  opts->miss_wait_ms = 2000;
  opts->demand_interval_ms = 1000;
  opts->max_output_bytes = 16u << 20;
  opts->probe_ms = 5000;
}

multipass_source_t* multipass_source_create(
    const multipass_source_options_t* opts, char* err, size_t err_cap) {
  clear_error(err, err_cap);
  multipass_source_t* created = nullptr;
  guarded(err, err_cap, [&]() -> int {
    if (!opts) throw std::invalid_argument("no options");
    // A caller that predates probe_ms gets no cheap listing, as it had.
    multipass_source_options_t old_defaults;
    multipass_source_options_init(&old_defaults);
    old_defaults.probe_ms = 0;
    const multipass_source_options_t in = known_fields(
        opts, offsetof(multipass_source_options_t, probe_ms), old_defaults);
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
    if (!src || !out ||
        out->struct_size < offsetof(multipass_source_stats_t, full)) {
      return MULTIPASS_ERROR;
    }
    multipass_source_stats_t all;
    std::memset(&all, 0, sizeof all);
    all.struct_size = sizeof all;
    src->rep->stats(&all);
    const size_t struct_size = out->struct_size;
    std::memcpy(out, &all, std::min(struct_size, sizeof all));
    out->struct_size = struct_size;
    return MULTIPASS_OK;
  });
}

int multipass_log_next(multipass_source_t* src, uint32_t wait_ms,
                       multipass_log_entry_t* out) {
  return guarded(nullptr, 0, [&]() -> int {
    if (!src || !out || out->struct_size < sizeof(multipass_log_entry_t)) {
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
    out->level = line.level;
    out->dropped = line.dropped;
    size_t length = line.text.size();
    if (length >= sizeof out->text) length = sizeof out->text - 1;
    std::memcpy(out->text, line.text.data(), length);
    out->text[length] = '\0';
    out->len = length;
    return MULTIPASS_LOG_ENTRY;
  });
}

void multipass_resolver_options_init(multipass_resolver_options_t* opts) {
  if (!opts) return;
  std::memset(opts, 0, sizeof *opts);
  opts->struct_size = sizeof *opts;
  opts->zones = nullptr;
  opts->zone_count = 0;
  opts->ttl = 10;
  opts->negative_ttl = 5;
  opts->addresses_all = 0;
  opts->networks = nullptr;
  opts->network_count = 0;
  opts->wildcard = 0;
}

multipass_resolver_t* multipass_resolver_create(
    multipass_source_t* src, const multipass_resolver_options_t* opts,
    char* err, size_t err_cap) {
  clear_error(err, err_cap);
  multipass_resolver_t* created = nullptr;
  guarded(err, err_cap, [&]() -> int {
    if (!src) throw std::invalid_argument("no source");
    if (!opts) throw std::invalid_argument("no options");
    if (opts->struct_size < sizeof(multipass_resolver_options_t)) {
      throw std::invalid_argument(
          "multipass_resolver_options_t.struct_size too small");
    }
    if (opts->zone_count == 0 || !opts->zones) {
      throw std::invalid_argument("at least one zone is required");
    }
    if (opts->network_count > 0 && !opts->networks) {
      throw std::invalid_argument("network_count set but networks is NULL");
    }
    multipass::resolver_options o;
    for (size_t i = 0; i < opts->zone_count; ++i) {
      if (!opts->zones[i]) throw std::invalid_argument("NULL zone");
      o.zones.emplace_back(opts->zones[i]);
    }
    for (size_t i = 0; i < opts->network_count; ++i) {
      if (!opts->networks[i]) throw std::invalid_argument("NULL network");
      o.networks.emplace_back(opts->networks[i]);
    }
    o.ttl = opts->ttl;
    o.negative_ttl = opts->negative_ttl;
    o.addresses_all = opts->addresses_all != 0;
    o.wildcard = opts->wildcard != 0;
    auto handle = std::make_unique<multipass_resolver_t>();
    handle->rep = std::make_unique<multipass::resolver>(src->rep, std::move(o));
    created = handle.release();
    return MULTIPASS_OK;
  });
  return created;
}

void multipass_resolver_destroy(multipass_resolver_t* res) { delete res; }

int multipass_resolver_zone(const multipass_resolver_t* res, int32_t zone,
                            char* origin, char* mname, char* rname) {
  return guarded(nullptr, 0, [&]() -> int {
    if (!res || zone < 0 ||
        static_cast<size_t>(zone) >= res->rep->zones().size()) {
      return MULTIPASS_ERROR;
    }
    const multipass::resolver::zone& z = res->rep->zones()[zone];
    // Each name fits MULTIPASS_NAME_CAP: normalize_zone bounds the zone.
    if (origin) std::memcpy(origin, z.origin.c_str(), z.origin.size() + 1);
    if (mname) std::memcpy(mname, z.mname.c_str(), z.mname.size() + 1);
    if (rname) std::memcpy(rname, z.rname.c_str(), z.rname.size() + 1);
    return MULTIPASS_OK;
  });
}

int multipass_resolve(const multipass_resolver_t* res, const char* qname,
                      size_t qname_len, uint16_t qtype,
                      multipass_answer_t* out) {
  // A caller of multipass_resolve needs no room for the wait fields.
  return resolve_into(res, qname, qname_len, qtype, 0,
                      offsetof(multipass_answer_t, wait_seq), out);
}

int multipass_resolve_flags(const multipass_resolver_t* res, const char* qname,
                            size_t qname_len, uint16_t qtype, uint32_t flags,
                            multipass_answer_t* out) {
  if (flags & ~(MULTIPASS_RESOLVE_NO_WAIT | MULTIPASS_RESOLVE_WAITED))
    return MULTIPASS_ERROR;
  return resolve_into(res, qname, qname_len, qtype, flags,
                      sizeof(multipass_answer_t), out);
}

int multipass_zone_check(const char* zone, char* err, size_t err_cap) {
  clear_error(err, err_cap);
  return guarded(err, err_cap, [&]() -> int {
    if (!zone) throw std::invalid_argument("no zone");
    multipass::detail::normalize_zone(zone);
    return MULTIPASS_OK;
  });
}

}  // extern "C"
