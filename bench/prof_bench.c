/* prof_bench.c: the cost of the profiler's C pieces: one clock read
 * (bt_prof_ticks vs clock_gettime), a zone begin/end pair with zones on,
 * off and with no profiler, and the .btprof encode/decode speed.
 * Prints ns per operation (best of 7 rounds). Run: build/bench/prof_bench */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proffile.h"
#include "prof.h"

#define ROUNDS 7

static volatile uint64_t sink;

typedef void (*bench_fn)(bt_prof *p, long n);

static void read_ticks(bt_prof *p, long n) {
  (void)p;
  for (long i = 0; i < n; i++) sink += bt_prof_ticks();
}

static void read_clock_gettime(bt_prof *p, long n) {
  (void)p;
  for (long i = 0; i < n; i++) sink += bt_prof_now_ns();
}

static void zone_pairs(bt_prof *p, long n) {
  for (long i = 0; i < n; i++) {
    bt_prof_zone_begin(p, BT_ZONE_DATA);
    sink += (uint64_t)i;
    bt_prof_zone_end(p, BT_ZONE_DATA);
  }
}

/* Three sequential stages per iteration, as the bar loop does. */
static void stages_begin_end(bt_prof *p, long n) {
  for (long i = 0; i < n; i++) {
    bt_prof_zone_begin(p, BT_ZONE_DATA);
    bt_prof_zone_end(p, BT_ZONE_DATA);
    bt_prof_zone_begin(p, BT_ZONE_FILLS);
    bt_prof_zone_end(p, BT_ZONE_FILLS);
    bt_prof_zone_begin(p, BT_ZONE_LEDGER);
    bt_prof_zone_end(p, BT_ZONE_LEDGER);
  }
}

static void stages_next(bt_prof *p, long n) {
  for (long i = 0; i < n; i++) {
    bt_prof_zone_begin(p, BT_ZONE_DATA);
    bt_prof_zone_next(p, BT_ZONE_DATA, BT_ZONE_FILLS);
    bt_prof_zone_next(p, BT_ZONE_FILLS, BT_ZONE_LEDGER);
    bt_prof_zone_end(p, BT_ZONE_LEDGER);
  }
}

static void bare_loop(bt_prof *p, long n) {
  (void)p;
  for (long i = 0; i < n; i++) sink += (uint64_t)i;
}

/* Best ns per iteration over ROUNDS rounds of n iterations. */
static double best_ns(bench_fn fn, bt_prof *p, long n) {
  double best = 1e30;
  for (int r = 0; r < ROUNDS; r++) {
    uint64_t t0 = bt_prof_now_ns();
    fn(p, n);
    double ns = (double)(bt_prof_now_ns() - t0) / (double)n;
    if (ns < best) best = ns;
  }
  return best;
}

/* A profile of `nfuncs` functions with edges and samples, for file speed. */
static void fake_profile(bt_profile *pf, size_t nfuncs) {
  memset(pf, 0, sizeof *pf);
  pf->nfuncs = nfuncs;
  pf->funcs = calloc(nfuncs, sizeof *pf->funcs);
  pf->nedges = nfuncs;
  pf->edges = calloc(nfuncs, sizeof *pf->edges);
  for (size_t i = 0; i < nfuncs; i++) {
    char name[32];
    snprintf(name, sizeof name, "fn%zu", i);
    pf->funcs[i].name = strdup(name);
    pf->funcs[i].source = strdup("strategies/mean_reversion.lua");
    pf->funcs[i].line = (int64_t)i;
    pf->funcs[i].ncalls = 43200;
    pf->edges[i] = (bt_pf_edge){(uint32_t)(i / 2), (uint32_t)i, 43200, 43200,
                                1000, 2000};
  }
}

int main(void) {
  long n = 10000000;
  printf("clock: %s, %.4f ticks/ns\n", bt_prof_clock_name(),
         bt_prof_ticks_per_ns());
  double loop = best_ns(bare_loop, NULL, n);
  printf("bt_prof_ticks()          %6.2f ns\n", best_ns(read_ticks, NULL, n));
  printf("clock_gettime(RAW)       %6.2f ns\n",
         best_ns(read_clock_gettime, NULL, n));
  bt_prof *on = bt_prof_new(1), *off = bt_prof_new(0);
  printf("zone pair, zones on      %6.2f ns\n",
         best_ns(zone_pairs, on, n) - loop);
  printf("zone pair, zones off     %6.2f ns\n",
         best_ns(zone_pairs, off, n) - loop);
  printf("zone pair, no profiler   %6.2f ns\n",
         best_ns(zone_pairs, NULL, n) - loop);
  printf("3 stages, begin/end       %6.2f ns\n",
         best_ns(stages_begin_end, on, n / 4));
  printf("3 stages, zone_next       %6.2f ns\n", best_ns(stages_next, on, n / 4));
  bt_prof_free(on);
  bt_prof_free(off);

  bt_profile pf, back;
  fake_profile(&pf, 20000);
  unsigned char *bytes = NULL;
  size_t len = 0;
  bt_err err;
  uint64_t t0 = bt_prof_now_ns();
  bt_proffile_encode(&pf, &bytes, &len, &err);
  uint64_t t1 = bt_prof_now_ns();
  bt_proffile_decode(bytes, len, "bench", &back, &err);
  uint64_t t2 = bt_prof_now_ns();
  printf(".btprof of 20000 functions: %zu bytes, encode %.2f ms, decode "
         "%.2f ms\n",
         len, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);
  free(bytes);
  bt_profile_free(&back);
  bt_profile_free(&pf);
  return 0;
}
