/* dec_bench.c: ns per bt_dec add, mul, div, quantize, parse and format in a
 * dependent chain (each result feeds the next), median of several runs.
 *   build/bench/dec_bench [RUNS]   prints "op ns_per_op" lines */
#include "dec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID,
                &ts); /* CPU time: robust to a busy machine */
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile bt_dec sink; /* keeps every chain's result alive */
static volatile int sink_status;

/* Each bench runs `n` dependent operations and returns the elapsed ns. */
typedef double (*bench_fn)(long n);

static double bench_add(long n) {
  bt_dec x = 10000000000, c[4] = {123456789, -23456789, 98765432, -198765432};
  int status = 0;
  double start = now_ns();
  for (long i = 0; i < n; i++)
    status |= bt_dec_add(x, c[i & 3], &x);
  double elapsed = now_ns() - start;
  sink = x, sink_status = status;
  return elapsed;
}

/* x stays near 100 (raw 1e10): x * c fits 64 bits. */
static double bench_mul64(long n) {
  bt_dec x = 10000000000, c[2] = {100000001, 99999999};
  int status = 0;
  double start = now_ns();
  for (long i = 0; i < n; i++)
    status |= bt_dec_mul(x, c[i & 1], &x);
  double elapsed = now_ns() - start;
  sink = x, sink_status = status;
  return elapsed;
}

/* x stays near 50,000 (raw 5e12): x * c needs the 128-bit path. */
static double bench_mul128(long n) {
  bt_dec x = 5000000000000, c[2] = {100000001, 99999999};
  int status = 0;
  double start = now_ns();
  for (long i = 0; i < n; i++)
    status |= bt_dec_mul(x, c[i & 1], &x);
  double elapsed = now_ns() - start;
  sink = x, sink_status = status;
  return elapsed;
}

/* x near 100: x * 10^8 fits 64 bits (one 64-bit division). */
static double bench_div64(long n) {
  bt_dec x = 10000000000, c[2] = {100000001, 99999999};
  int status = 0;
  double start = now_ns();
  for (long i = 0; i < n; i++)
    status |= bt_dec_div(x, c[i & 1], &x);
  double elapsed = now_ns() - start;
  sink = x, sink_status = status;
  return elapsed;
}

/* x near 50,000: x * 10^8 needs 128 bits (one 128/64 division). */
static double bench_div128(long n) {
  bt_dec x = 5000000000000, c[2] = {100000001, 99999999};
  int status = 0;
  double start = now_ns();
  for (long i = 0; i < n; i++)
    status |= bt_dec_div(x, c[i & 1], &x);
  double elapsed = now_ns() - start;
  sink = x, sink_status = status;
  return elapsed;
}

/* quantize(x + delta, 2, half_even): the add is part of the chain. */
static double bench_quantize(long n) {
  bt_dec x = 10000000000, delta[2] = {123456789, -122456789};
  int status = 0;
  double start = now_ns();
  for (long i = 0; i < n; i++) {
    status |= bt_dec_add(x, delta[i & 1], &x);
    status |= bt_dec_quantize(x, 2, BT_ROUND_HALF_EVEN, &x);
  }
  double elapsed = now_ns() - start;
  sink = x, sink_status = status;
  return elapsed;
}

/* format then parse back: the text round trip of a price. */
static double bench_format_parse(long n) {
  bt_dec x = 12345678901;
  char buf[BT_DEC_FMT_MAX];
  int status = 0;
  double start = now_ns();
  for (long i = 0; i < n; i++) {
    int len = bt_dec_format(x + (i & 7), buf);
    status |= bt_dec_parse(buf, (size_t)len, &x);
  }
  double elapsed = now_ns() - start;
  sink = x, sink_status = status;
  return elapsed;
}

/* Parse alone: CSV-like price texts (throughput; reported per text). */
static double bench_parse(long n) {
  static const char *const texts[8] = {
      "123.45678901", "0.5",    "45123.12",   "7",
      "-12.5",        "100.00", "0.00012345", "98765.4321"};
  size_t lens[8];
  for (int i = 0; i < 8; i++)
    lens[i] = strlen(texts[i]);
  bt_dec sum = 0, v = 0;
  int status = 0;
  double start = now_ns();
  for (long i = 0; i < n; i++) {
    status |= bt_dec_parse(texts[i & 7], lens[i & 7], &v);
    sum += v;
  }
  double elapsed = now_ns() - start;
  sink = sum, sink_status = status;
  return elapsed;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 5;
  if (runs < 1 || runs > 100) runs = 5;
  static const struct {
    const char *name;
    bench_fn fn;
    long n;
  } benches[] = {
      {"add", bench_add, 200000000},
      {"mul", bench_mul64, 50000000},
      {"mul128", bench_mul128, 50000000},
      {"div", bench_div64, 50000000},
      {"div128", bench_div128, 50000000},
      {"quantize", bench_quantize, 50000000},
      {"format+parse", bench_format_parse, 10000000},
      {"parse", bench_parse, 20000000},
  };
  for (size_t b = 0; b < sizeof benches / sizeof *benches; b++) {
    double per_op[100];
    for (int r = 0; r < runs; r++)
      per_op[r] = benches[b].fn(benches[b].n) / (double)benches[b].n;
    qsort(per_op, (size_t)runs, sizeof per_op[0], cmp_double);
    printf("%-14s %8.2f ns/op  (median of %d; min %.2f, max %.2f)\n",
           benches[b].name, per_op[runs / 2], runs, per_op[0],
           per_op[runs - 1]);
  }
  return sink_status != 0;
}
