/* What the plain-C tests share: CHECK, which counts a failed check and
 * prints it, and the files they set the stand-in CLI up with. Knows nothing
 * of the C ABI, so that a caller built against an older header can use it. */
#ifndef MULTIPASS_TESTS_C_CHECK_H_
#define MULTIPASS_TESTS_C_CHECK_H_

#include <stddef.h>
#include <stdio.h>

static int failures = 0;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
              #cond);                                                 \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

static int copy_file(const char *from, const char *to) {
  char buf[4096];
  size_t n;
  int ok = 1;
  FILE *in = fopen(from, "rb");
  FILE *out = in ? fopen(to, "wb") : NULL;
  if (!in || !out) ok = 0;
  while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) {
    if (fwrite(buf, 1, n, out) != n) ok = 0;
  }
  if (in) fclose(in);
  if (out && fclose(out) != 0) ok = 0;
  return ok;
}

/* Ends main: 1 after a failed check, else 0 and `name: all checks passed`. */
static int check_result(const char *name) {
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("%s: all checks passed\n", name);
  return 0;
}

#endif /* MULTIPASS_TESTS_C_CHECK_H_ */
