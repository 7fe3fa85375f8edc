/* A caller built against revision 3's header, as that header was released
 * (multipass_revision_3.h), run against a library whose structs have all
 * grown by a trailing field (tests/abi/CMakeLists.txt). Every struct the
 * caller hands over sits right before 64 canary bytes: the library must
 * take each struct as revision 3 declared it, writing nothing and reading
 * nothing past its struct_size (the grown library refuses an input whose
 * new field is not 0, which the canary would make it). Prints the first
 * failed check and exits 1. */
#include "multipass_revision_3.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../c_check.h"

#define CANARY 0xA5
#define CANARY_BYTES 64

/* Each struct of the caller, followed by bytes the library must not touch. */
#define GUARDED(type)                       \
  struct {                                  \
    type value;                             \
    unsigned char canary[CANARY_BYTES];     \
  }

static int intact(const unsigned char *canary) {
  int i;
  for (i = 0; i < CANARY_BYTES; ++i) {
    if (canary[i] != CANARY) return 0;
  }
  return 1;
}

int main(void) {
  char dir[] = "/tmp/abi_old_caller_test.XXXXXX";
  char path[512];
  char err[256];
  char origin[MULTIPASS_NAME_CAP], mname[MULTIPASS_NAME_CAP],
      rname[MULTIPASS_NAME_CAP];
  const char *zones[] = {"vm.test"};
  GUARDED(multipass_source_options_t) sopts;
  GUARDED(multipass_resolver_options_t) ropts;
  GUARDED(multipass_answer_t) answer;
  GUARDED(multipass_source_stats_t) stats;
  GUARDED(multipass_log_entry_t) entry;
  multipass_source_t *src;
  multipass_resolver_t *res;
  int rc, lines = 0;

  /* A newer library of the same ABI version serves this caller. */
  CHECK(multipass_abi_version() == MULTIPASS_ABI_VERSION);
  CHECK(multipass_abi_revision() >= MULTIPASS_ABI_REVISION);

  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(path, sizeof path, "%s/list.json", dir);
  CHECK(copy_file(FIXTURES_DIR "/list-mixed.json", path));
  setenv("MULTIPASS_FAKE_DIR", dir, 1);

  /* Defaults: revision 3's struct, not a byte more. */
  memset(&sopts, CANARY, sizeof sopts);
  multipass_source_options_init(&sopts.value);
  CHECK(sopts.value.struct_size == sizeof sopts.value);
  CHECK(intact(sopts.canary));
  sopts.value.binary = FAKE_MULTIPASS;
  src = multipass_source_create(&sopts.value, err, sizeof err);
  if (!src) {
    fprintf(stderr, "multipass_source_create: %s\n", err);
    return 1;
  }
  CHECK(multipass_source_refresh(src, err, sizeof err) == MULTIPASS_OK);

  memset(&ropts, CANARY, sizeof ropts);
  multipass_resolver_options_init(&ropts.value);
  CHECK(ropts.value.struct_size == sizeof ropts.value);
  CHECK(intact(ropts.canary));
  ropts.value.zones = zones;
  ropts.value.zone_count = 1;
  res = multipass_resolver_create(src, &ropts.value, err, sizeof err);
  if (!res) {
    fprintf(stderr, "multipass_resolver_create: %s\n", err);
    return 1;
  }

  /* Answers, into revision 3's answer struct. */
  memset(&answer, CANARY, sizeof answer);
  answer.value.struct_size = sizeof answer.value;
  CHECK(multipass_resolve(res, "primary.vm.test", 15, 1, &answer.value) ==
        MULTIPASS_OK);
  CHECK(answer.value.outcome == MULTIPASS_ANSWER && answer.value.count == 1);
  CHECK(answer.value.addresses[0] == 10 && answer.value.addresses[3] == 87);
  CHECK(answer.value.struct_size == sizeof answer.value);
  CHECK(intact(answer.canary));
  memset(&answer, CANARY, sizeof answer);
  answer.value.struct_size = sizeof answer.value;
  CHECK(multipass_resolve_flags(res, "calm-squirrel.vm.test", 21, 28,
                                MULTIPASS_RESOLVE_NO_WAIT,
                                &answer.value) == MULTIPASS_OK);
  CHECK(answer.value.outcome == MULTIPASS_NODATA && answer.value.zone == 0);
  CHECK(intact(answer.canary));

  CHECK(multipass_resolver_zone(res, 0, origin, mname, rname) == MULTIPASS_OK);
  CHECK(strcmp(origin, "vm.test.") == 0 && strcmp(mname, "ns1.vm.test.") == 0);

  /* Counters and log lines, into revision 3's structs. */
  memset(&stats, CANARY, sizeof stats);
  stats.value.struct_size = sizeof stats.value;
  CHECK(multipass_source_stats(src, &stats.value) == MULTIPASS_OK);
  CHECK(stats.value.refreshes_ok == 1 && stats.value.full.ok == 1);
  CHECK(stats.value.instances[MULTIPASS_STATE_RUNNING] == 2);
  CHECK(stats.value.struct_size == sizeof stats.value);
  CHECK(intact(stats.canary));

  multipass_source_stop(src);
  memset(&entry, CANARY, sizeof entry);
  entry.value.struct_size = sizeof entry.value;
  while ((rc = multipass_log_next(src, 0, &entry.value)) ==
         MULTIPASS_LOG_ENTRY) {
    ++lines;
    CHECK(entry.value.len == strlen(entry.value.text));
    CHECK(intact(entry.canary));
  }
  CHECK(rc == MULTIPASS_LOG_CLOSED);
  CHECK(lines > 0); /* "loaded 6 instances from ..." */

  multipass_resolver_destroy(res);
  multipass_source_destroy(src);
  unlink(path);
  snprintf(path, sizeof path, "%s/runs.log", dir);
  unlink(path);
  rmdir(dir);

  return check_result("abi_old_caller_test");
}
