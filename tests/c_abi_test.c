/* The C ABI from plain C99, linked to the shared library as an embedder
 * would: a source over the stand-in CLI, a resolver for vm.test, answers,
 * a log line, and clean teardown. Prints the first failed check and exits 1. */
#include <multipass/multipass.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "c_check.h"

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return 0;
  fputs(text, f);
  return fclose(f) == 0;
}

static multipass_answer_t ask(const multipass_resolver_t *res,
                              const char *name, uint16_t type) {
  multipass_answer_t out;
  memset(&out, 0, sizeof out);
  out.struct_size = sizeof out;
  CHECK(multipass_resolve(res, name, strlen(name), type, &out) ==
        MULTIPASS_OK);
  return out;
}

/* The same through multipass_resolve_flags, with a whole answer struct. */
static multipass_answer_t ask_flags(const multipass_resolver_t *res,
                                    const char *name, uint16_t type,
                                    uint32_t flags) {
  multipass_answer_t out;
  memset(&out, 0, sizeof out);
  out.struct_size = sizeof out;
  CHECK(multipass_resolve_flags(res, name, strlen(name), type, flags, &out) ==
        MULTIPASS_OK);
  return out;
}

int main(void) {
  char dir[] = "/tmp/c_abi_test.XXXXXX";
  char path[512];
  char err[256];
  multipass_source_options_t sopts;
  multipass_resolver_options_t ropts;
  multipass_source_t *src;
  multipass_resolver_t *res;
  multipass_answer_t a;
  multipass_log_entry_t entry;
  multipass_source_stats_t stats;
  const char *zones[] = {"Vm.Test.", "24.110.10.in-addr.arpa"};
  char origin[MULTIPASS_NAME_CAP], mname[MULTIPASS_NAME_CAP],
      rname[MULTIPASS_NAME_CAP];
  char long_zone[250]; /* 249 characters: over the 242 a zone may have */
  int rc, i, got_line = 0, event_fd;
  uint32_t serial;

  CHECK(multipass_abi_version() == MULTIPASS_ABI_VERSION);
  CHECK(multipass_abi_revision() == MULTIPASS_ABI_REVISION);
  CHECK(strcmp(multipass_version(), "") != 0);
  CHECK(strcmp(multipass_state_name(MULTIPASS_STATE_DELAYED_SHUTDOWN),
               "delayed_shutdown") == 0);
  CHECK(strcmp(multipass_state_name(99), "unknown") == 0);

  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(path, sizeof path, "%s/list.json", dir);
  CHECK(copy_file(FIXTURES_DIR "/list-mixed.json", path));
  setenv("MULTIPASS_FAKE_DIR", dir, 1);

  /* Invalid options are refused with a reason. */
  CHECK(multipass_source_options_init_sized(&sopts, sizeof sopts) ==
        MULTIPASS_OK);
  sopts.struct_size = offsetof(multipass_source_options_t, probe_ms) - 1;
  err[0] = '\0';
  CHECK(multipass_source_create(&sopts, err, sizeof err) == NULL);
  CHECK(err[0] != '\0');
  multipass_source_options_init_sized(&sopts, sizeof sopts);
  sopts.refresh_ms = 1000; /* not longer than the probe */
  err[0] = '\0';
  CHECK(multipass_source_create(&sopts, err, sizeof err) == NULL);
  CHECK(strstr(err, "probe_ms") != NULL);
  /* A caller from before probe_ms (revision 1) gets no cheap listing, so
   * its refresh of 1 s is fine. */
  sopts.struct_size = offsetof(multipass_source_options_t, probe_ms);
  sopts.binary = FAKE_MULTIPASS;
  src = multipass_source_create(&sopts, err, sizeof err);
  CHECK(src != NULL);
  CHECK(multipass_source_set_intervals(src, 1000, 1000, 100, err,
                                       sizeof err) == MULTIPASS_ERROR);
  CHECK(multipass_source_set_intervals(src, 0, 1000, 0, err, sizeof err) ==
        MULTIPASS_ERROR);
  CHECK(multipass_source_set_intervals(src, 500, 1000, 100, err,
                                       sizeof err) == MULTIPASS_OK);
  multipass_source_destroy(src);

  /* The defaults, for the caller's size (since revision 4). */
  {
    struct {
      multipass_source_options_t opts;
      unsigned char after[16];
    } wide;
    const size_t v1 = offsetof(multipass_source_options_t, probe_ms);
    /* Less than revision 1's fields: refused, nothing written. */
    memset(&wide, 0xAB, sizeof wide);
    CHECK(multipass_source_options_init_sized(&wide.opts, v1 - 1) ==
          MULTIPASS_ERROR);
    CHECK(wide.opts.struct_size == (size_t)0xABABABABABABABABull);
    CHECK(multipass_source_options_init_sized(NULL, sizeof sopts) ==
          MULTIPASS_ERROR);
    /* Revision 1's fields: probe_ms is not written, and create gives
     * the revision's behaviour (no cheap listing). */
    CHECK(multipass_source_options_init_sized(&wide.opts, v1) == MULTIPASS_OK);
    CHECK(wide.opts.struct_size == v1 && wide.opts.refresh_ms == 600000);
    CHECK(wide.opts.probe_ms == 0xABABABABu && wide.after[0] == 0xAB);
    /* Larger than the library's struct (a newer caller): zeros past it. */
    memset(&wide, 0xAB, sizeof wide);
    CHECK(multipass_source_options_init_sized(&wide.opts, sizeof wide) ==
          MULTIPASS_OK);
    CHECK(wide.opts.struct_size == sizeof wide && wide.opts.probe_ms == 5000);
    CHECK(wide.after[0] == 0 && wide.after[sizeof wide.after - 1] == 0);
    wide.opts.binary = FAKE_MULTIPASS;
    src = multipass_source_create(&wide.opts, err, sizeof err);
    CHECK(src != NULL);
    multipass_source_destroy(src);
    /* Revision 3's form writes revision 3's struct: this one. */
    memset(&sopts, 0xAB, sizeof sopts);
    multipass_source_options_init(&sopts);
    CHECK(sopts.struct_size == sizeof sopts && sopts.probe_ms == 5000);
  }
  multipass_source_options_init_sized(&sopts, sizeof sopts);
  CHECK(sopts.struct_size == sizeof sopts);
  CHECK(sopts.probe_ms == 5000 && sopts.refresh_ms == 600000);
  CHECK(sopts.timeout_ms == 10000);
  CHECK(sopts.miss_wait_ms == 2000 && sopts.demand_interval_ms == 1000);
  CHECK(sopts.max_output_bytes == 16u << 20);
  sopts.binary = FAKE_MULTIPASS;
  sopts.miss_wait_ms = 0;
  src = multipass_source_create(&sopts, err, sizeof err);
  if (!src) {
    fprintf(stderr, "multipass_source_create: %s\n", err);
    return 1;
  }
  CHECK(multipass_source_ready(src) == 0);

  multipass_resolver_options_init(&ropts); /* revision 3's form */
  CHECK(ropts.struct_size == offsetof(multipass_resolver_options_t, nameserver) &&
        ropts.ttl == 10);
  CHECK(multipass_resolver_options_init_sized(&ropts, 8) == MULTIPASS_ERROR);
  CHECK(multipass_resolver_options_init_sized(&ropts, sizeof ropts) ==
        MULTIPASS_OK);
  CHECK(ropts.struct_size == sizeof ropts);
  CHECK(ropts.ttl == 10 && ropts.negative_ttl == 5);
  CHECK(ropts.addresses_all == 0 && ropts.wildcard == 0);
  /* No zones: refused. */
  err[0] = '\0';
  CHECK(multipass_resolver_create(src, &ropts, err, sizeof err) == NULL);
  CHECK(err[0] != '\0');
  /* One zone checked alone, as multipass_resolver_create would take it
   * (since revision 3): what an embedder refuses while reading its
   * configuration. */
  CHECK(multipass_zone_check("VM.Test.", err, sizeof err) == MULTIPASS_OK);
  CHECK(err[0] == '\0');
  CHECK(multipass_zone_check("24.110.10.in-addr.arpa", NULL, 0) == MULTIPASS_OK);
  CHECK(multipass_zone_check("0-25.24.110.10.in-addr.arpa.", err, sizeof err) ==
        MULTIPASS_ERROR);
  CHECK(strstr(err, "decimal octets") && strstr(err, "0-25.24.110.10"));
  CHECK(multipass_zone_check("a\\b.test", err, sizeof err) == MULTIPASS_ERROR);
  CHECK(strstr(err, "invalid character") != NULL);
  memset(long_zone, 'a', sizeof long_zone - 1);
  long_zone[sizeof long_zone - 1] = '\0';
  for (i = 60; (size_t)i < sizeof long_zone - 1; i += 61) long_zone[i] = '.';
  CHECK(multipass_zone_check(long_zone, err, sizeof err) == MULTIPASS_ERROR);
  CHECK(strstr(err, "zone too long") != NULL);
  CHECK(multipass_zone_check(NULL, err, sizeof err) == MULTIPASS_ERROR);
  ropts.zones = zones;
  ropts.zone_count = 2;
  /* Every struct from revision 1's fields on is taken. */
  ropts.struct_size = offsetof(multipass_resolver_options_t, wildcard);
  CHECK(multipass_resolver_create(src, &ropts, err, sizeof err) == NULL);
  CHECK(strstr(err, "struct_size") != NULL);
  ropts.struct_size = offsetof(multipass_resolver_options_t, wildcard) +
                      sizeof ropts.wildcard;
  res = multipass_resolver_create(src, &ropts, err, sizeof err);
  CHECK(res != NULL);
  multipass_resolver_destroy(res);
  ropts.struct_size = sizeof ropts;
  res = multipass_resolver_create(src, &ropts, err, sizeof err);
  if (!res) {
    fprintf(stderr, "multipass_resolver_create: %s\n", err);
    return 1;
  }

  /* Before any listing: SERVFAIL in the zones, not mine outside. */
  a = ask(res, "primary.vm.test", 1);
  CHECK(a.outcome == MULTIPASS_SERVFAIL && a.rcode == 2);
  a = ask(res, "example.com.", 1);
  CHECK(a.outcome == MULTIPASS_NOT_MINE && a.zone == -1);

  rc = multipass_source_refresh(src, err, sizeof err);
  if (rc != MULTIPASS_OK) fprintf(stderr, "refresh: %s\n", err);
  CHECK(rc == MULTIPASS_OK);
  CHECK(multipass_source_ready(src) == 1);

  a = ask(res, "PrImArY.Vm.TeSt.", 1);
  CHECK(a.outcome == MULTIPASS_ANSWER && a.rcode == 0 && a.zone == 0);
  CHECK(a.rrtype == 1 && a.count == 1 && a.ttl == 10);
  CHECK(a.addresses[0] == 10 && a.addresses[1] == 110 &&
        a.addresses[2] == 24 && a.addresses[3] == 87);

  a = ask(res, "nosuch.vm.test", 1);
  CHECK(a.outcome == MULTIPASS_NXDOMAIN && a.rcode == 3 && a.count == 0);

  a = ask(res, "primary.vm.test", 28); /* AAAA */
  CHECK(a.outcome == MULTIPASS_NODATA && a.rcode == 0 && a.count == 0);
  a = ask(res, "calm-squirrel.vm.test", 1); /* stopped */
  CHECK(a.outcome == MULTIPASS_NODATA);

  a = ask(res, "vm.test", 6); /* SOA */
  CHECK(a.outcome == MULTIPASS_ANSWER && a.rrtype == 6 && a.count == 1);
  CHECK(a.soa.serial != 0 && a.soa.minimum == 5 && a.soa.ttl == 5);
  CHECK(a.soa.refresh > 0 && a.soa.retry > 0 && a.soa.expire > 0);
  serial = a.soa.serial;
  CHECK(multipass_resolver_zone(res, a.zone, origin, mname, rname) ==
        MULTIPASS_OK);
  CHECK(strcmp(origin, "vm.test.") == 0);
  CHECK(strcmp(mname, "ns1.vm.test.") == 0);
  CHECK(strcmp(rname, "hostmaster.vm.test.") == 0);
  CHECK(multipass_resolver_zone(res, 2, origin, mname, rname) ==
        MULTIPASS_ERROR);
  /* With capacities (since revision 4): "vm.test." needs 9 bytes. */
  memset(origin, 'x', sizeof origin);
  CHECK(multipass_resolver_zone_names(res, 0, origin, 9, NULL, 0, rname,
                                      sizeof rname) == MULTIPASS_OK);
  CHECK(strcmp(origin, "vm.test.") == 0 && origin[9] == 'x');
  CHECK(strcmp(rname, "hostmaster.vm.test.") == 0);
  memset(origin, 'x', sizeof origin);
  CHECK(multipass_resolver_zone_names(res, 0, origin, 8, mname, sizeof mname,
                                      rname, sizeof rname) == MULTIPASS_ERROR);
  CHECK(origin[0] == '\0' && mname[0] == '\0' && rname[0] == '\0');
  CHECK(origin[1] == 'x');
  CHECK(multipass_resolver_zone_names(res, 1, origin, sizeof origin, mname,
                                      sizeof mname, NULL, 0) == MULTIPASS_OK);
  CHECK(strcmp(mname, "ns1.vm.test.") == 0); /* the forward zone's */
  CHECK(multipass_resolver_zone_names(res, -1, origin, sizeof origin, NULL, 0,
                                      NULL, 0) == MULTIPASS_ERROR);

  a = ask(res, "vm.test", 252); /* AXFR */
  CHECK(a.outcome == MULTIPASS_REFUSED && a.rcode == 5 && a.count == 0);
  a = ask(res, "primary.vm.test", 251); /* IXFR */
  CHECK(a.outcome == MULTIPASS_REFUSED && a.rcode == 5);

  /* The zone as a whole (since revision 5): one block, freed at once. */
  {
    multipass_zone_t *zone = NULL;
    size_t i, found = 0;
    CHECK(multipass_resolver_transfer(res, 0, &zone, err, sizeof err) ==
          MULTIPASS_OK);
    CHECK(zone != NULL && zone->soa.serial == serial && zone->count >= 3);
    CHECK(zone->bytes > sizeof *zone);
    for (i = 0; zone && i < zone->count; ++i) {
      const multipass_record_t *r = &zone->records[i];
      if (strcmp(r->owner, "primary.vm.test.") == 0 && r->rrtype == 1 &&
          r->address[0] == 10 && r->address[3] == 87 && r->target == NULL)
        ++found;
    }
    CHECK(found == 1);
    CHECK(zone && strcmp(zone->records[0].target, "ns1.vm.test.") == 0);
    multipass_free(zone);
    CHECK(multipass_resolver_transfer(res, 9, &zone, err, sizeof err) ==
          MULTIPASS_ERROR);
    CHECK(zone == NULL && strcmp(err, "no such zone") == 0);
    multipass_free(NULL);
  }

  a = ask(res, "87.24.110.10.in-addr.arpa.", 12); /* PTR */
  CHECK(a.outcome == MULTIPASS_ANSWER && a.rrtype == 12 && a.zone == 1);
  CHECK(strcmp(a.target, "primary.vm.test.") == 0);

  /* Invalid arguments. */
  memset(&a, 0, sizeof a);
  a.struct_size = offsetof(multipass_answer_t, wait_seq) - 1;
  CHECK(multipass_resolve(res, "primary.vm.test", 15, 1, &a) ==
        MULTIPASS_ERROR);
  a.struct_size = sizeof a;
  CHECK(multipass_resolve(res, NULL, 3, 1, &a) == MULTIPASS_ERROR);
  CHECK(multipass_resolve(NULL, "x", 1, 1, &a) == MULTIPASS_ERROR);

  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  CHECK(multipass_source_stats(src, &stats) == MULTIPASS_OK);
  CHECK(stats.refreshes_ok == 1 && stats.cli_runs >= 1);
  CHECK(stats.instances[MULTIPASS_STATE_RUNNING] == 2);
  CHECK(stats.serial == serial);
  CHECK(stats.full.ok == 1 && stats.full.failed == 0 && stats.probe.ok == 0);
  {
    uint64_t in_buckets = 0;
    for (i = 0; i < MULTIPASS_DURATION_BUCKETS; ++i)
      in_buckets += stats.full.buckets[i];
    CHECK(in_buckets == 1 && stats.full.seconds_sum > 0);
  }
  /* Since revision 3: nothing failing. */
  CHECK(stats.full_failing_seconds == 0 && stats.probe_failing_seconds == 0 &&
        stats.full_backoff_ms == 0);
  /* A revision-2 caller's struct: the revision-3 fields stay untouched. */
  memset(&stats, 0xAB, sizeof stats);
  stats.struct_size = offsetof(multipass_source_stats_t, full_failing_seconds);
  CHECK(multipass_source_stats(src, &stats) == MULTIPASS_OK);
  CHECK(stats.full.ok == 1 && stats.full_backoff_ms == 0xABABABABu);
  /* A revision-1 caller's struct: the fields past it stay untouched. */
  memset(&stats, 0xAB, sizeof stats);
  stats.struct_size = offsetof(multipass_source_stats_t, full);
  CHECK(multipass_source_stats(src, &stats) == MULTIPASS_OK);
  CHECK(stats.refreshes_ok == 1 && stats.full.ok == 0xABABABABABABABABull);
  /* Revision 1's fields end with `instances`: a struct that ends there is
   * taken, one byte less is not. */
  stats.struct_size = offsetof(multipass_source_stats_t, instances) +
                      sizeof stats.instances;
  CHECK(multipass_source_stats(src, &stats) == MULTIPASS_OK);
  stats.struct_size -= 1;
  CHECK(multipass_source_stats(src, &stats) == MULTIPASS_ERROR);

  /* A failing CLI: the old inventory stays, the reason is reported and
   * logged. */
  snprintf(path, sizeof path, "%s/mode", dir);
  CHECK(write_file(path, "no-daemon\n"));
  err[0] = '\0';
  CHECK(multipass_source_refresh(src, err, sizeof err) == MULTIPASS_ERROR);
  CHECK(err[0] != '\0');
  a = ask(res, "primary.vm.test", 1);
  CHECK(a.outcome == MULTIPASS_ANSWER);

  memset(&entry, 0, sizeof entry);
  entry.struct_size = sizeof entry;
  for (i = 0; i < 100; ++i) {
    rc = multipass_log_next(src, 20, &entry);
    CHECK(rc != MULTIPASS_ERROR && rc != MULTIPASS_LOG_CLOSED);
    if (rc != MULTIPASS_LOG_ENTRY) break;
    got_line = 1;
    CHECK(entry.len == strlen(entry.text) && entry.len > 0);
    CHECK(entry.level >= MULTIPASS_LOG_DEBUG &&
          entry.level <= MULTIPASS_LOG_ERROR);
  }
  CHECK(got_line);
  entry.struct_size = 0;
  CHECK(multipass_log_next(src, 0, &entry) == MULTIPASS_ERROR);

  /* Stopped: the queue drains, then says closed; answers go on. */
  multipass_source_stop(src);
  entry.struct_size = sizeof entry;
  for (i = 0; i < 1000; ++i) {
    rc = multipass_log_next(src, 10, &entry);
    if (rc != MULTIPASS_LOG_ENTRY) break;
  }
  CHECK(rc == MULTIPASS_LOG_CLOSED);
  multipass_source_stop(src); /* idempotent */

  /* Teardown: the resolver outlives the source's handle. */
  multipass_source_destroy(src);
  a = ask(res, "primary.vm.test", 1);
  CHECK(a.outcome == MULTIPASS_ANSWER);
  multipass_resolver_destroy(res);
  multipass_resolver_destroy(NULL);
  multipass_source_destroy(NULL);

  /* The caller waits (MULTIPASS_RESOLVE_NO_WAIT), on a started source. */
  snprintf(path, sizeof path, "%s/mode", dir);
  CHECK(write_file(path, "ok\n"));
  multipass_source_options_init_sized(&sopts, sizeof sopts);
  sopts.binary = FAKE_MULTIPASS;
  sopts.refresh_ms = 60000;
  src = multipass_source_create(&sopts, err, sizeof err);
  CHECK(src != NULL);
  event_fd = multipass_source_event_fd(src, err, sizeof err);
  CHECK(event_fd >= 0);
  CHECK(multipass_source_start(src, err, sizeof err) == MULTIPASS_OK);
  res = multipass_resolver_create(src, &ropts, err, sizeof err);
  CHECK(res != NULL);
  {
    /* The first listing's log line and its end wake the embedder. */
    struct pollfd pfd = {event_fd, POLLIN, 0};
    char bytes[64];
    CHECK(poll(&pfd, 1, 10000) == 1);
    CHECK(read(event_fd, bytes, sizeof bytes) > 0);
    /* Non-blocking: nothing more to read is EAGAIN, not a wait. */
    while (read(event_fd, bytes, sizeof bytes) > 0) {
    }
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
  }
  for (i = 0; i < 1000 && !multipass_source_ready(src); ++i) {
    struct timespec tick = {0, 10000000}; /* 10 ms */
    nanosleep(&tick, NULL);
  }
  CHECK(multipass_source_ready(src) == 1);
  a = ask_flags(res, "primary.vm.test", 1, MULTIPASS_RESOLVE_NO_WAIT);
  CHECK(a.outcome == MULTIPASS_ANSWER && a.count == 1);
  a = ask_flags(res, "nosuch.vm.test", 1, MULTIPASS_RESOLVE_NO_WAIT);
  CHECK(a.outcome == MULTIPASS_WAIT && a.wait_seq > 0 && a.wait_ms == 2000);
  {
    uint64_t finished = 0, seq = a.wait_seq;
    CHECK(multipass_source_wait_refresh(src, seq, 5000, &finished) == 1);
    CHECK(finished >= seq);
    CHECK(multipass_source_units_finished(src) >= seq);
    CHECK(multipass_source_units_finished(NULL) == 0);
    /* Asked again with the same answer struct: it holds the unit waited
     * for, which has ended. */
    CHECK(multipass_resolve_flags(res, "nosuch.vm.test", 14, 1,
                                  MULTIPASS_RESOLVE_WAITED,
                                  &a) == MULTIPASS_OK);
    CHECK(a.outcome == MULTIPASS_NXDOMAIN && a.rcode == 3);
    /* Remembered as missing: no wait asked for any more. */
    a = ask_flags(res, "NOSUCH.vm.test", 1, MULTIPASS_RESOLVE_NO_WAIT);
    CHECK(a.outcome == MULTIPASS_NXDOMAIN);
    /* A unit that nothing asked for: the wait times out. */
    CHECK(multipass_source_wait_refresh(src, finished + 5, 50, NULL) == 0);
    /* Unknown flags, a v1 answer without the wait fields. */
    CHECK(multipass_resolve_flags(res, "x.vm.test", 9, 1, 4, &a) ==
          MULTIPASS_ERROR);
    a.struct_size = offsetof(multipass_answer_t, wait_seq);
    CHECK(multipass_resolve_flags(res, "x.vm.test", 9, 1,
                                  MULTIPASS_RESOLVE_NO_WAIT,
                                  &a) == MULTIPASS_ERROR);
    CHECK(multipass_resolve(res, "primary.vm.test", 15, 1, &a) ==
          MULTIPASS_OK);
    CHECK(a.outcome == MULTIPASS_ANSWER);
    /* Revision 1's answer for _flags ends with wait_ms (no tail padding);
     * the bytes past it are not written. */
    memset(&a, 0xAB, sizeof a);
    a.struct_size = offsetof(multipass_answer_t, wait_ms) + sizeof a.wait_ms;
    CHECK(multipass_resolve_flags(res, "nosuch-2.vm.test", 16, 1,
                                  MULTIPASS_RESOLVE_NO_WAIT,
                                  &a) == MULTIPASS_OK);
    CHECK(a.outcome == MULTIPASS_WAIT && a.wait_ms == 2000);
    CHECK(a.struct_size ==
          offsetof(multipass_answer_t, wait_ms) + sizeof a.wait_ms);
    if (sizeof a > a.struct_size) {
      CHECK(((unsigned char *)&a)[a.struct_size] == 0xAB);
    }
    /* Stopped: a wait returns at once with an error. */
    multipass_source_stop(src);
    CHECK(multipass_source_wait_refresh(src, finished + 5, 60000, NULL) ==
          MULTIPASS_ERROR);
    {
      /* Stopped: the wake-up descriptor reads end of file. */
      char bytes[64];
      ssize_t n;
      while ((n = read(event_fd, bytes, sizeof bytes)) > 0) {
      }
      CHECK(n == 0);
      close(event_fd);
    }
    CHECK(multipass_source_wait_refresh(NULL, 1, 0, NULL) == MULTIPASS_ERROR);
  }
  multipass_resolver_destroy(res);
  multipass_source_destroy(src);

  unlink(path);
  snprintf(path, sizeof path, "%s/list.json", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/runs.log", dir);
  unlink(path);
  rmdir(dir);

  return check_result("c_abi_test");
}
