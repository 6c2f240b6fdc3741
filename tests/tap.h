/* tap.h: a tiny TAP producer for the C tests (header only).
 *   plan(n) or done_testing(); ok(cond, name, ...); is_int(got, want, name);
 *   is_str(got, want, name); is_dec(got, want_text, name); diag(fmt, ...).
 * main() should end with `return done_testing();`, which exits non-zero when
 * any test failed or the plan was not met. */
#ifndef BT_TAP_H
#define BT_TAP_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int tap_run_count = 0;
static int tap_fail_count = 0;
static int tap_planned = -1;

static inline void plan(int count) {
  tap_planned = count;
  printf("1..%d\n", count);
}

static inline void diag(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("# ", stdout);
  vprintf(fmt, ap);
  fputs("\n", stdout);
  va_end(ap);
}

static inline int tap_result(int pass, const char *fmt, va_list ap) {
  tap_run_count++;
  if (!pass) tap_fail_count++;
  printf("%s %d - ", pass ? "ok" : "not ok", tap_run_count);
  vprintf(fmt, ap);
  fputs("\n", stdout);
  fflush(stdout);
  return pass;
}

static inline int ok(int pass, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  tap_result(pass, fmt, ap);
  va_end(ap);
  return pass;
}

static inline int is_int(long long got, long long want, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int pass = tap_result(got == want, fmt, ap);
  va_end(ap);
  if (!pass) diag("     got: %lld\n#   expected: %lld", got, want);
  return pass;
}

static inline int is_str(const char *got, const char *want, const char *fmt,
                         ...) {
  va_list ap;
  va_start(ap, fmt);
  int same = (got == NULL && want == NULL) ||
             (got != NULL && want != NULL && strcmp(got, want) == 0);
  int pass = tap_result(same, fmt, ap);
  va_end(ap);
  if (!pass)
    diag("     got: '%s'\n#   expected: '%s'", got ? got : "(null)",
         want ? want : "(null)");
  return pass;
}

static inline int is_double(double got, double want, double tolerance,
                            const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  double diff = got > want ? got - want : want - got;
  int pass = tap_result(diff <= tolerance, fmt, ap);
  va_end(ap);
  if (!pass) diag("     got: %.17g\n#   expected: %.17g (+- %g)", got, want,
                  tolerance);
  return pass;
}

static inline int done_testing(void) {
  if (tap_planned < 0) printf("1..%d\n", tap_run_count);
  else if (tap_planned != tap_run_count) {
    diag("planned %d tests but ran %d", tap_planned, tap_run_count);
    return 1;
  }
  if (tap_fail_count) diag("failed %d of %d tests", tap_fail_count,
                           tap_run_count);
  return tap_fail_count ? 1 : 0;
}

#endif
