/*
 * coredns-multipass core: the C ABI.
 *
 * Conventions (they hold for every function below):
 *
 *  - One prefix, `multipass_`. Handles are opaque pointers created by a
 *    `_create` function and released by the matching NULL-safe `_destroy`.
 *  - Functions that can fail return `int`: MULTIPASS_OK (0) on success,
 *    MULTIPASS_ERROR (-1) on failure. When the caller passes a buffer
 *    `char *err, size_t err_cap` (err may be NULL), the reason is written there
 *    as a NUL-terminated string, cut to fit on a UTF-8 sequence boundary.
 *    There is no thread-local "last error": callers (goroutines) move
 *    between OS threads.
 *  - Structs that the caller fills or reads start with `size_t struct_size`,
 *    which the caller sets to sizeof(the struct) as its header declares it.
 *    The `_init_sized` functions fill defaults and set it.
 *  - Strings passed in are read during the call only; the core keeps no
 *    pointer to caller memory after a call returns.
 *  - No C++ exception ever crosses this boundary.
 *  - Thread safety is stated per function.
 *
 * How the ABI grows:
 *  - MULTIPASS_ABI_VERSION stays 1 while changes only add: new functions, new
 *    fields at the end of structs, new enum values. Each such change bumps
 *    MULTIPASS_ABI_REVISION, and the header marks what it added with
 *    "since revision N". Removing or changing anything bumps the version.
 *  - struct_size says which fields a caller knows: those that end within
 *    it. The library accepts any struct_size that reaches at least the end
 *    of the struct's revision-1 fields, and never reads or writes a byte
 *    past struct_size: an input field past it takes its default (the
 *    behaviour of the revision that lacked it, stated beside the field); an
 *    output field past it is not written. A struct_size larger than the
 *    library's own struct is accepted too (the bytes past it are ignored).
 *  - A field is added only at the end of a struct, and begins at or after
 *    the end of the struct as the previous revision declared it (its sizeof,
 *    tail padding included), so that an older caller's struct_size never
 *    covers it. Structs without struct_size (multipass_listing_stats_t,
 *    multipass_soa_t) sit inside others and never change.
 *  - A function whose arguments must change gets a new name; the old one
 *    stays and keeps its behaviour (multipass_resolver_zone, the `_init`
 *    functions without a size).
 *  - A library serves callers built against its own or any older revision.
 *    An embedder checks at start that multipass_abi_version() equals its
 *    MULTIPASS_ABI_VERSION and that multipass_abi_revision() is at least its
 *    MULTIPASS_ABI_REVISION: a newer library is fine, an older one lacks
 *    what the embedder calls. tests/abi/ runs a caller built against
 *    revision 3's header against a library whose every struct has grown.
 *
 * Two handles:
 *  - multipass_source_t runs `multipass list --format=json`, keeps the parsed
 *    VM inventory as an immutable snapshot, refreshes it in a background
 *    thread and on demand, and carries the log queue.
 *  - multipass_resolver_t answers DNS questions for a set of zones from a
 *    source's inventory. Several resolvers may share one source.
 */
#ifndef MULTIPASS_MULTIPASS_H_
#define MULTIPASS_MULTIPASS_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define MULTIPASS_API __declspec(dllexport)
#else
#define MULTIPASS_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a struct or a function changes or goes (see "How the ABI
 * grows"). */
#define MULTIPASS_ABI_VERSION 1
/* Bumped by every addition within MULTIPASS_ABI_VERSION. Revision 1 was
 * never released; revision 2 added the cheap listing (probe_ms, listing
 * statistics), multipass_source_set_intervals, multipass_source_event_fd,
 * MULTIPASS_REFUSED and multipass_abi_revision; revision 3 added
 * multipass_zone_check and the failure fields at the end of
 * multipass_source_stats_t; revision 4 added the `_init_sized` functions,
 * multipass_resolver_zone_names and multipass_source_units_finished, accepts
 * every struct from its revision-1 size on, and made
 * MULTIPASS_RESOLVE_WAITED read back the answer's wait_seq; revision 5 added
 * zone transfers (multipass_resolver_transfer, multipass_free), the
 * nameserver and state folder fields at the end of
 * multipass_resolver_options_t, and a serial per zone. */
#define MULTIPASS_ABI_REVISION 5

#define MULTIPASS_OK 0
#define MULTIPASS_ERROR (-1)

/* Most IPv4 addresses one answer carries (`addresses all`). */
#define MULTIPASS_MAX_ADDRESSES 64
/* Room for a presentation-format domain name with its trailing dot and NUL. */
#define MULTIPASS_NAME_CAP 256

/* The ABI version the library was built with (MULTIPASS_ABI_VERSION).
 * Thread-safe. */
MULTIPASS_API int multipass_abi_version(void);

/* The ABI revision the library was built with (MULTIPASS_ABI_REVISION).
 * Since revision 2. Thread-safe. */
MULTIPASS_API int multipass_abi_revision(void);

/* The library's version string, e.g. "0.1.0". Static storage: MUST NOT be
 * freed. Thread-safe. */
MULTIPASS_API const char *multipass_version(void);

/* ------------------------------------------------------------------------ */
/* Source: the CLI, the inventory, the refresher, the log queue.            */
/* ------------------------------------------------------------------------ */

typedef struct multipass_source_t multipass_source_t;

typedef struct multipass_source_options_t {
  size_t struct_size;         /* sizeof(multipass_source_options_t) */
  const char *binary;         /* CLI path, or a name looked up in PATH at each
                                 run. NULL or "" means "multipass". */
  const char *server_address; /* NULL or "": the CLI inherits the environment.
                                 Otherwise MULTIPASS_SERVER_ADDRESS is set to it
                                 for the CLI. */
  uint32_t refresh_ms;        /* the longest time between two full listings
                                 (`list --format=json`, the only source of
                                 addresses). */
  uint32_t timeout_ms;        /* deadline of one CLI run; then the CLI's whole
                                 process group is killed. */
  uint32_t miss_wait_ms;      /* how long a question that waits for a look
                                 (see multipass_resolve: the next unit, see
                                 multipass_source_wait_refresh) may wait; 0
                                 never waits. */
  uint32_t demand_interval_ms; /* units that questions ask for start at
                                  most once per this interval. */
  uint64_t max_output_bytes;  /* cap on the CLI's stdout; more is a failure. */
  /* Since revision 2. Interval of the cheap listing (`list --format=json
   * --no-ipv4`: names and states, no session into any guest); a full
   * listing follows when it shows a change. 0: no cheap listing, full
   * listings every refresh_ms and on misses (a struct that ends before this
   * field gets 0). Must be shorter than refresh_ms. */
  uint32_t probe_ms;
#ifdef MULTIPASS_ABI_TEST_GROWTH
  /* Only in the library tests/abi builds, to grow every struct as a later
   * revision would; never define MULTIPASS_ABI_TEST_GROWTH elsewhere. */
  uint64_t abi_test_growth;
#endif
} multipass_source_options_t;

/* Fills the first struct_size bytes of *opts (pass sizeof *opts) with the
 * defaults, zeros past the library's own struct, and sets
 * opts->struct_size: binary "multipass", no server address, probe 5 s,
 * refresh 10 min, timeout 10 s, miss wait 2 s, demand interval 1 s, output
 * cap 16 MiB. The library's own defaults are these (this is the one place
 * they are written). Returns MULTIPASS_ERROR, writing nothing, when opts is
 * NULL or struct_size ends before the revision-1 fields. Since revision 4.
 * Thread-safe. */
MULTIPASS_API int multipass_source_options_init_sized(
    multipass_source_options_t *opts, size_t struct_size);

/* Revisions 1 to 3's form: multipass_source_options_init_sized with the size
 * of revision 3's struct, for embedders built against those headers. New
 * code passes its size instead. Thread-safe. */
MULTIPASS_API void multipass_source_options_init(multipass_source_options_t *opts);

/* Creates a source. Nothing runs until multipass_source_start. Returns NULL
 * and writes err on invalid options. Must be destroyed with
 * multipass_source_destroy. Thread-safe. */
MULTIPASS_API multipass_source_t *multipass_source_create(
    const multipass_source_options_t *opts, char *err, size_t err_cap);

/* Starts the background refresher; the first unit begins at once and
 * runs asynchronously (use multipass_source_ready to see when it loaded).
 * Starting a started source is a no-op. Not safe concurrently with
 * multipass_source_stop or multipass_source_destroy on the same source. */
MULTIPASS_API int multipass_source_start(multipass_source_t *src, char *err,
                                         size_t err_cap);

/* Stops the refresher: kills a CLI still running (its process group), reaps
 * it, joins the thread, wakes questions waiting for a unit and closes the
 * log queue (multipass_log_next then returns MULTIPASS_LOG_CLOSED once it is
 * empty). The inventory stays readable. Idempotent. Not safe concurrently with
 * multipass_source_start or multipass_source_destroy on the same source. */
MULTIPASS_API void multipass_source_stop(multipass_source_t *src);

/* Stops (as above) and releases the handle. NULL-safe. Resolvers created
 * from the source keep what they need alive and stay usable. */
MULTIPASS_API void multipass_source_destroy(multipass_source_t *src);

/* Changes the intervals of a source, started or not: probe_ms (0: no cheap
 * listing), refresh_ms and timeout_ms as in multipass_source_options_t, with
 * the same rules. A running source applies them from its next listing on;
 * a CLI already running keeps its deadline. So blocks and reloads that ask
 * the same daemon with other intervals share one source. Since revision 2.
 * Thread-safe. */
MULTIPASS_API int multipass_source_set_intervals(multipass_source_t *src,
                                                 uint32_t probe_ms,
                                                 uint32_t refresh_ms,
                                                 uint32_t timeout_ms,
                                                 char *err, size_t err_cap);

/* The wake-up path to the embedder: returns a new file descriptor, owned by
 * the caller (close it when done), non-blocking and close-on-exec, that
 * becomes readable when the source has something for the embedder: log
 * lines queued, a unit ended. Read and discard what is readable, then
 * ask with the calls that never block (multipass_log_next with wait_ms 0,
 * multipass_source_units_finished). Wake-ups coalesce: one
 * byte may stand for many events, and the core never blocks on a full pipe.
 * Once the source has stopped and its log queue is closed, reading gives end
 * of file. Returns -1 and writes err when no descriptor can be made. Since
 * revision 2. Thread-safe. */
MULTIPASS_API int multipass_source_event_fd(multipass_source_t *src, char *err,
                                            size_t err_cap);

/* Runs one unit now, a full listing, in the calling thread. Returns
 * MULTIPASS_OK when the listing loaded, else writes the reason. Meant for
 * tests and tools; a running refresher is not disturbed. Thread-safe. */
MULTIPASS_API int multipass_source_refresh(multipass_source_t *src, char *err,
                                           size_t err_cap);

/* 1 once a listing has loaded successfully (and for ever after, even while
 * later refreshes fail), else 0. Never runs the CLI. Thread-safe, lock-free. */
MULTIPASS_API int multipass_source_ready(const multipass_source_t *src);

/* A *unit* is one unit of work of the source: a full listing, or (with
 * probe_ms > 0) a cheap listing followed, only when it shows a change such
 * as a new instance, by a full listing. Units are numbered from 1 in the
 * order they begin, and end in that order. A question for a name that is
 * no instance thus waits for one cheap listing; one for a VM launched a
 * moment ago waits for the cheap and the full listing.
 *
 * Blocks until unit number `seq` (an answer's wait_seq) has ended, with
 * success or failure, or the source is stopped, or timeout_ms pass.
 * Writes the number of units ended so far to *finished (may be NULL).
 * Returns 1 when unit seq has ended, 0 when it has not (timeout),
 * MULTIPASS_ERROR when the source is stopped or src is NULL. Never runs the
 * CLI. Thread-safe. */
MULTIPASS_API int multipass_source_wait_refresh(const multipass_source_t *src,
                                               uint64_t seq,
                                               uint32_t timeout_ms,
                                               uint64_t *finished);

/* The number of units the source has ended so far (0 for NULL): what an
 * embedder woken through multipass_source_event_fd reads to see which
 * waiting questions may go on. Never blocks, takes no lock. Since revision
 * 4. Thread-safe. */
MULTIPASS_API uint64_t multipass_source_units_finished(
    const multipass_source_t *src);

/* VM states, as indexes of multipass_source_stats_t.instances. */
enum multipass_vm_state {
  MULTIPASS_STATE_RUNNING = 0,
  MULTIPASS_STATE_STOPPED,
  MULTIPASS_STATE_DELETED,
  MULTIPASS_STATE_STARTING,
  MULTIPASS_STATE_RESTARTING,
  MULTIPASS_STATE_DELAYED_SHUTDOWN,
  MULTIPASS_STATE_SUSPENDING,
  MULTIPASS_STATE_SUSPENDED,
  MULTIPASS_STATE_UNKNOWN, /* "Unknown" and any state this build does not know */
  MULTIPASS_STATE_UNAVAILABLE,
  MULTIPASS_STATE_COUNT
};

/* The lower_snake name of a state ("running", "delayed_shutdown", ...);
 * static storage. "unknown" for an out-of-range value. Thread-safe. */
MULTIPASS_API const char *multipass_state_name(int state);

/* Buckets of the listing duration histogram: bucket i (0 <= i < 12) counts
 * listings that took at most 0.01 s * 2^i (10 ms .. 20.48 s); bucket 12
 * those that took longer. */
#define MULTIPASS_DURATION_BUCKETS 13

/* Counters of one kind of listing. Since revision 2. */
typedef struct multipass_listing_stats_t {
  uint64_t ok;          /* listings that loaded */
  uint64_t failed;      /* listings that failed (the old inventory stays) */
  double seconds_sum;   /* total duration of them all (run + parse) */
  uint64_t buckets[MULTIPASS_DURATION_BUCKETS]; /* by duration, see above;
                                                   not cumulative */
} multipass_listing_stats_t;

typedef struct multipass_source_stats_t {
  size_t struct_size;              /* sizeof(multipass_source_stats_t) */
  uint64_t cli_runs;               /* CLI processes started */
  uint64_t refreshes_ok;           /* full listings that loaded */
  uint64_t refreshes_failed;       /* full listings that failed */
  int64_t last_success_unix_ms;    /* 0 before the first success */
  double last_refresh_seconds;     /* duration of the last full listing */
  uint32_t serial;                 /* SOA serial; grows when the inventory changes */
  uint32_t instances[MULTIPASS_STATE_COUNT]; /* VMs in the inventory by state */
  /* Since revision 2. */
  multipass_listing_stats_t full;  /* `list --format=json` */
  multipass_listing_stats_t probe; /* `list --format=json --no-ipv4` */
  /* Since revision 3. */
  double full_failing_seconds;  /* how long full listings have been failing:
                                   since the end of the first of the
                                   failures in a row; 0 while the last one
                                   loaded */
  double probe_failing_seconds; /* the same for cheap listings */
  uint32_t full_backoff_ms;     /* while full listings fail and cheap ones
                                   work: the pause after the last failure
                                   before the next full listing (probe_ms,
                                   doubling with each failure, up to
                                   refresh_ms); 0 otherwise */
#ifdef MULTIPASS_ABI_TEST_GROWTH
  /* Only in the library tests/abi builds, to grow every struct as a later
   * revision would; never define MULTIPASS_ABI_TEST_GROWTH elsewhere. */
  uint64_t abi_test_growth;
#endif
} multipass_source_stats_t;

/* Copies the source's counters into *out, as far as out->struct_size
 * reaches (set by the caller; at least to the end of `instances`).
 * Thread-safe. */
MULTIPASS_API int multipass_source_stats(const multipass_source_t *src,
                                         multipass_source_stats_t *out);

/* ------------------------------------------------------------------------ */
/* Log queue: the core never calls back; the embedder drains.               */
/* ------------------------------------------------------------------------ */

enum multipass_log_level {
  MULTIPASS_LOG_DEBUG = 0,
  MULTIPASS_LOG_INFO = 1,
  MULTIPASS_LOG_WARNING = 2,
  MULTIPASS_LOG_ERROR = 3
};

/* Return values of multipass_log_next besides MULTIPASS_ERROR. */
#define MULTIPASS_LOG_EMPTY 0  /* nothing arrived within wait_ms */
#define MULTIPASS_LOG_ENTRY 1  /* *out holds one line */
#define MULTIPASS_LOG_CLOSED 2 /* the source stopped and the queue is empty */

typedef struct multipass_log_entry_t {
  size_t struct_size;        /* sizeof(multipass_log_entry_t) */
  int32_t level;             /* enum multipass_log_level */
  uint64_t dropped;          /* lines dropped because the queue was full,
                                since the previous entry returned */
  size_t len;                /* length of text, without the NUL */
  char text[1024];           /* the message, NUL-terminated: at most 1023
                                octets; a longer one is cut on a UTF-8
                                sequence boundary and ends in an ellipsis,
                                U+2026 */
#ifdef MULTIPASS_ABI_TEST_GROWTH
  /* Only in the library tests/abi builds, to grow every struct as a later
   * revision would; never define MULTIPASS_ABI_TEST_GROWTH elsewhere. */
  uint64_t abi_test_growth;
#endif
} multipass_log_entry_t;

/* Takes the oldest line from the source's bounded log queue (1024 lines;
 * when full, new lines are dropped and counted in `dropped`). Blocks up to
 * wait_ms for one. out->struct_size (set by the caller) must reach the end
 * of `text`. Safe to call from one thread while others log; meant for
 * exactly one drainer per source. */
MULTIPASS_API int multipass_log_next(multipass_source_t *src, uint32_t wait_ms,
                                     multipass_log_entry_t *out);

/* ------------------------------------------------------------------------ */
/* Resolver: zones, names, records, rcode.                                  */
/* ------------------------------------------------------------------------ */

typedef struct multipass_resolver_t multipass_resolver_t;

typedef struct multipass_resolver_options_t {
  size_t struct_size;             /* sizeof(multipass_resolver_options_t) */
  const char *const *zones;       /* forward zones ("vm.test." or "vm.test")
                                     and reverse zones ("24.110.10.in-addr.arpa.");
                                     any case. At least one. */
  size_t zone_count;
  uint32_t ttl;                   /* TTL of A, PTR and NS records */
  uint32_t negative_ttl;          /* SOA minimum and SOA TTL: how long a
                                     negative answer may be cached. A name
                                     asked again while remembered as missing
                                     gets what is left of that time (whole
                                     seconds rounded up, at least 1). */
  int32_t addresses_all;          /* 0: the first usable address; 1: all */
  const char *const *networks;    /* CIDRs; only addresses inside count. */
  size_t network_count;           /* 0: every IPv4 address counts */
  int32_t wildcard;               /* 1: x.<vm>.ZONE answers like <vm>.ZONE */
  /* Since revision 5 (a struct that ends before them gets the defaults,
   * which are revision 4's behaviour but for the nameserver's address).
   * The name of the zones' nameserver: SOA mname and NS target of every
   * zone. NULL or "": "ns1.<zone>" for a forward zone, "ns1.<first forward
   * zone>" for a reverse zone (its own "ns1.<zone>" without a forward
   * zone). A nameserver name inside a forward zone must be one label below
   * it; that name then answers A with nameserver_address (a VM of the same
   * name is not served there, nor by PTR). */
  const char *nameserver;
  /* The nameserver's IPv4 address (dotted quad). NULL or "": 127.0.0.1. */
  const char *nameserver_address;
  /* A folder where each zone's serial is kept across restarts, in a file
   * "<zone>serial" ("vm.test.serial") holding its serial and a hash of its
   * content. NULL or "": kept in memory only (for as long as the source
   * lives); a restart then starts each zone at the source's serial of its
   * first listing (the Unix time). */
  const char *state_dir;
#ifdef MULTIPASS_ABI_TEST_GROWTH
  /* Only in the library tests/abi builds, to grow every struct as a later
   * revision would; never define MULTIPASS_ABI_TEST_GROWTH elsewhere. */
  uint64_t abi_test_growth;
#endif
} multipass_resolver_options_t;

/* Fills the first struct_size bytes of *opts (pass sizeof *opts) with the
 * defaults, as multipass_source_options_init_sized does: no zones, ttl 10,
 * negative_ttl 5, first address, no networks, no wildcard, the default
 * nameserver, no state folder. Since revision 4.
 * Thread-safe. */
MULTIPASS_API int multipass_resolver_options_init_sized(
    multipass_resolver_options_t *opts, size_t struct_size);

/* Revisions 1 to 3's form, with the size of revision 3's struct (see
 * multipass_source_options_init). Thread-safe. */
MULTIPASS_API void multipass_resolver_options_init(
    multipass_resolver_options_t *opts);

/* Creates a resolver over src's inventory. Returns NULL and writes err for
 * invalid zones or networks. Must be destroyed with
 * multipass_resolver_destroy. Thread-safe. */
MULTIPASS_API multipass_resolver_t *multipass_resolver_create(
    multipass_source_t *src, const multipass_resolver_options_t *opts,
    char *err, size_t err_cap);

/* NULL-safe. Not safe while another thread resolves with it. */
MULTIPASS_API void multipass_resolver_destroy(multipass_resolver_t *res);

/* The SOA names of zone `zone` (index into options.zones), in lower case with
 * a trailing dot: the zone itself (into origin), the primary server
 * ("ns1.<zone>", mname) and the mailbox ("hostmaster.<zone>", rname). Each
 * buffer holds its capacity in bytes, NUL included; MULTIPASS_NAME_CAP is
 * always enough. A NULL buffer is skipped. Returns MULTIPASS_ERROR for a
 * zone out of range, or when a name does not fit its buffer: then every
 * buffer with room gets "". Since revision 4. Thread-safe. */
MULTIPASS_API int multipass_resolver_zone_names(
    const multipass_resolver_t *res, int32_t zone, char *origin,
    size_t origin_cap, char *mname, size_t mname_cap, char *rname,
    size_t rname_cap);

/* Revisions 1 to 3's form: multipass_resolver_zone_names with
 * MULTIPASS_NAME_CAP bytes in each buffer. Thread-safe. */
MULTIPASS_API int multipass_resolver_zone(const multipass_resolver_t *res,
                                          int32_t zone, char *origin,
                                          char *mname, char *rname);

/* What the plugin should do with a question. */
enum multipass_outcome {
  MULTIPASS_NOT_MINE = 0, /* outside every zone: hand to the next plugin */
  MULTIPASS_ANSWER = 1,   /* NOERROR, records in the answer section */
  MULTIPASS_NODATA = 2,   /* NOERROR, no answer, the zone's SOA in authority */
  MULTIPASS_NXDOMAIN = 3, /* NXDOMAIN, the zone's SOA in authority */
  MULTIPASS_SERVFAIL = 4, /* no listing has loaded yet, or the question's
                             wait ran out before its look ended and the
                             snapshot does not settle it */
  MULTIPASS_WAIT = 5,     /* only with MULTIPASS_RESOLVE_NO_WAIT: no answer
                             yet, see multipass_resolve_flags */
  MULTIPASS_REFUSED = 6   /* REFUSED: a zone transfer (AXFR, IXFR) asked as a
                             question: an embedder serves transfers with
                             multipass_resolver_transfer. Since revision 2. */
};

/* A zone's SOA numbers. The serial is the zone's own (since revision 5):
 * it moves only when the zone's content does, never backwards (RFC 1982),
 * and with a state folder stays put across restarts. */
typedef struct multipass_soa_t {
  uint32_t serial, refresh, retry, expire, minimum;
  uint32_t ttl; /* TTL of the SOA record itself */
} multipass_soa_t;

typedef struct multipass_answer_t {
  size_t struct_size; /* sizeof(multipass_answer_t), set by the caller */
  int32_t outcome;    /* enum multipass_outcome */
  int32_t rcode;      /* DNS rcode to send: 0, 2 (SERVFAIL), 3 (NXDOMAIN) or
                         5 (REFUSED) */
  int32_t zone;       /* index of the matched zone, -1 when not mine */
  uint16_t rrtype;    /* type of the answer records: 1 A, 2 NS, 6 SOA,
                         12 PTR; 0 when the answer section is empty */
  uint32_t ttl;       /* TTL of the answer records */
  uint32_t count;     /* answer records (A: addresses in `addresses`) */
  uint8_t addresses[4 * MULTIPASS_MAX_ADDRESSES]; /* A rdata, network order */
  char target[MULTIPASS_NAME_CAP]; /* PTR / NS target, NUL-terminated */
  multipass_soa_t soa; /* the matched zone's SOA numbers; used for the
                          authority section of NODATA / NXDOMAIN and for an
                          apex SOA answer */
  /* Set only with outcome MULTIPASS_WAIT (multipass_resolve_flags), and
   * wait_seq read back with MULTIPASS_RESOLVE_WAITED; a caller of
   * multipass_resolve may pass a struct that ends before them. */
  uint64_t wait_seq; /* the unit to wait for */
  uint32_t wait_ms;  /* the longest to wait for it (the source's miss_wait_ms) */
#ifdef MULTIPASS_ABI_TEST_GROWTH
  /* Only in the library tests/abi builds, to grow every struct as a later
   * revision would; never define MULTIPASS_ABI_TEST_GROWTH elsewhere. */
  uint64_t abi_test_growth;
#endif
} multipass_answer_t;

/* Answers a question: qname as asked (any case, with or without the trailing
 * dot, not NUL-terminated, qname_len bytes), qtype a DNS type code. Decides
 * from the current snapshot; only a question of any type for a name that the
 * inventory lacks, an A question for a VM that serves no address, and any
 * question before the first listing has loaded may wait, up to the source's
 * miss_wait_ms, for a look: the next unit, which begins after the question
 * (at most one unit start per demand_interval_ms). It is answered
 * as missing (NXDOMAIN, NODATA), and remembered so for the negative TTL,
 * only once that unit has ended; a question whose wait runs out first (a
 * slow CLI) gets what the snapshot settles, else MULTIPASS_SERVFAIL, and is
 * not remembered. Returns MULTIPASS_ERROR only for invalid arguments.
 * Thread-safe: any number of threads may resolve (and wait) at once while
 * the source refreshes; a question for a name the inventory settles takes
 * no lock shared with other questions (apart from a thread's first question
 * after the inventory changed, which takes a mutex held only for a pointer
 * swap), and a refresh never waits for one. */
MULTIPASS_API int multipass_resolve(const multipass_resolver_t *res,
                                    const char *qname, size_t qname_len,
                                    uint16_t qtype, multipass_answer_t *out);

/* Flags of multipass_resolve_flags. */
#define MULTIPASS_RESOLVE_NO_WAIT 1u
#define MULTIPASS_RESOLVE_WAITED 2u

/* multipass_resolve for a caller that does the waiting itself, so that a
 * question waiting for a look holds none of its threads (the Go shim parks
 * a goroutine). With MULTIPASS_RESOLVE_NO_WAIT it never blocks: where
 * multipass_resolve would wait, it asks for the look and answers outcome
 * MULTIPASS_WAIT with wait_seq and wait_ms; the caller then waits up to
 * wait_ms for unit wait_seq to end (multipass_source_units_finished read
 * by one thread woken through multipass_source_event_fd serves every
 * question waiting on the source) and asks the same question again with
 * MULTIPASS_RESOLVE_WAITED and the same answer struct, which never waits:
 * since revision 4 it reads wait_seq back and answers as multipass_resolve
 * does after its wait: as missing only when unit wait_seq has ended, else
 * what the snapshot settles or MULTIPASS_SERVFAIL (a caller that stopped
 * waiting early, at a reload, gets that too). A wait_seq of 0 counts as
 * ended (revision 3 did not read it). flags 0 is multipass_resolve.
 * out->struct_size must reach the end of wait_ms. Thread-safe, as
 * multipass_resolve. */
MULTIPASS_API int multipass_resolve_flags(const multipass_resolver_t *res,
                                          const char *qname, size_t qname_len,
                                          uint16_t qtype, uint32_t flags,
                                          multipass_answer_t *out);

/* ------------------------------------------------------------------------ */
/* Zone transfers (since revision 5).                                       */
/* ------------------------------------------------------------------------ */

/* One record of a zone. Never changes: a later revision that needs more
 * adds a function. */
typedef struct multipass_record_t {
  const char *owner;  /* the owner name, lower case, with its trailing dot */
  const char *target; /* NS and PTR: the target name; NULL otherwise */
  uint32_t ttl;
  uint16_t rrtype;    /* 1 A, 2 NS, 12 PTR */
  uint8_t address[4]; /* A: the address, network order */
} multipass_record_t;

/* A zone's content at one moment: one block of memory, allocated by the
 * library and freed by the caller with multipass_free. Never changes (see
 * multipass_record_t). */
typedef struct multipass_zone_t {
  multipass_soa_t soa;         /* the zone's SOA numbers, serial included */
  size_t count;                /* records, the SOA not among them */
  multipass_record_t *records; /* count records, inside this block; the
                                  names they point to too */
  size_t bytes;                /* the size of the whole block */
} multipass_zone_t;

/* The whole content of zone `zone` (an index into options.zones) from one
 * snapshot of the inventory, in one call: the SOA numbers and every other
 * record a question is answered with: the apex NS, the nameserver's A when
 * its name lies in the zone, an A per address each VM serves (the
 * resolver's own rules: state, `addresses`, `networks`, the host-only
 * blocks, names that fit), with `wildcard` also "*.<vm>.ZONE", and in a
 * reverse zone a PTR per address served in it. The serial is that of the
 * zone's answers for the same snapshot. Never waits for a look: before the
 * first load it fails. On success *out is a malloc()ed block (free it with
 * multipass_free; its size grows with the inventory: about 48 bytes and a
 * name per record). Returns MULTIPASS_ERROR, with *out NULL and the reason
 * in err, for a zone out of range, no listing loaded yet, or out of memory.
 * Thread-safe; takes no lock that questions take, apart from the serial
 * book's at most once per inventory published. */
MULTIPASS_API int multipass_resolver_transfer(const multipass_resolver_t *res,
                                              int32_t zone,
                                              multipass_zone_t **out,
                                              char *err, size_t err_cap);

/* Frees memory the library allocated for the caller (multipass_zone_t).
 * NULL-safe. Since revision 5. Thread-safe. */
MULTIPASS_API void multipass_free(void *p);

/* Checks one zone as multipass_resolver_create takes it (an entry of
 * multipass_resolver_options_t.zones), without a source: returns MULTIPASS_OK,
 * or MULTIPASS_ERROR with the reason in err, such as "reverse zone labels
 * must be decimal octets (at most four): 0-25.24.110.10.in-addr.arpa". So an
 * embedder refuses a bad zone while it reads its configuration, where it can
 * say where the zone was written. Since revision 3. Thread-safe. */
MULTIPASS_API int multipass_zone_check(const char *zone, char *err,
                                       size_t err_cap);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MULTIPASS_MULTIPASS_H_ */
