/* t_prof.c: the cycle clock's calibration, zone counting and nesting,
 * zones off, and the allocation accounting of prof.c. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prof.h"
#include "tap.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Median of n ticks-per-ns ratios measured over spins of `ns`. */
static double median_rate(uint64_t ns) {
  uint64_t rates[7];
  for (int i = 0; i < 7; i++) {
    uint64_t t0 = bt_prof_ticks(), n0 = bt_prof_now_ns();
    bt_prof_spin_ns(ns);
    uint64_t t1 = bt_prof_ticks(), n1 = bt_prof_now_ns();
    rates[i] = (uint64_t)((double)(t1 - t0) / (double)(n1 - n0) * 1e6);
  }
  qsort(rates, 7, sizeof rates[0], cmp_u64);
  return (double)rates[3] / 1e6;
}

static void test_clock(void) {
  double rate = bt_prof_ticks_per_ns();
  ok(rate > 0.01 && rate < 100.0, "ticks per ns is plausible (%g, %s)", rate,
     bt_prof_clock_name());
  double measured = median_rate(2000000);
  ok(measured / rate > 0.99 && measured / rate < 1.01,
     "calibrated rate matches a fresh measurement within 1%% (%g vs %g)",
     measured, rate);
  uint64_t a = bt_prof_ticks(), b = bt_prof_ticks();
  ok(b >= a, "ticks are monotonic");
  is_int((long long)bt_prof_ns_to_ticks(bt_prof_ticks_to_ns(1000000)),
         1000000, "ticks -> ns -> ticks round trip");
}

static void test_names(void) {
  const char *expected[] = {"load",  "data",   "indicators", "strategy",
                            "blotter", "fills", "ledger", "metrics",
                            "output"};
  int all = 1;
  for (int z = 0; z < BT_ZONE_COUNT; z++)
    if (strcmp(bt_prof_zone_name((bt_zone_id)z), expected[z]) != 0) all = 0;
  ok(all, "zone names in enum order");
  is_int(bt_prof_zone_find("fills"), BT_ZONE_FILLS, "zone_find");
  is_int(bt_prof_zone_find("nope"), -1, "zone_find unknown");
  ok(bt_prof_zone_name(BT_ZONE_COUNT) == NULL, "zone_name out of range");
}

/* Zone counts and the tree invariants, without relying on timing. */
static void test_zone_counts(void) {
  bt_prof *p = bt_prof_new(1);
  for (int i = 0; i < 100; i++) {
    bt_prof_zone_begin(p, BT_ZONE_STRATEGY);
    for (int j = 0; j < 3; j++) {
      bt_prof_zone_begin(p, BT_ZONE_DATA);
      bt_prof_zone_end(p, BT_ZONE_DATA);
    }
    bt_prof_zone_begin(p, BT_ZONE_STRATEGY); /* recursion */
    bt_prof_zone_end(p, BT_ZONE_STRATEGY);
    bt_prof_zone_end(p, BT_ZONE_STRATEGY);
  }
  const bt_prof_zone_stats *s = bt_prof_zone_stats_of(p, BT_ZONE_STRATEGY);
  const bt_prof_zone_stats *d = bt_prof_zone_stats_of(p, BT_ZONE_DATA);
  is_int((long long)s->count, 200, "strategy count includes recursion");
  is_int((long long)d->count, 300, "data count");
  ok(s->incl_ticks >= s->self_ticks, "strategy incl >= self");
  ok(s->incl_ticks >= d->incl_ticks, "strategy incl >= nested data incl");
  is_int(p->depth, 0, "stack empty at the end");
  is_int(p->mismatch, 0, "no mismatched ends");
  is_int(bt_prof_zone_current(p), -1, "no current zone");
  bt_prof_zone_begin(p, BT_ZONE_FILLS);
  is_int(bt_prof_zone_current(p), BT_ZONE_FILLS, "current zone while open");
  bt_prof_zone_end(p, BT_ZONE_LEDGER);
  is_int(p->mismatch, 1, "a mismatched end is counted");
  is_int((long long)bt_prof_zone_stats_of(p, BT_ZONE_FILLS)->count, 1,
         "and closes the open zone");
  bt_prof_free(p);
}

static void test_zone_next(void) {
  bt_prof *p = bt_prof_new(1);
  bt_prof_zone_begin(p, BT_ZONE_STRATEGY);
  bt_prof_zone_begin(p, BT_ZONE_DATA);
  bt_prof_zone_next(p, BT_ZONE_DATA, BT_ZONE_FILLS);
  bt_prof_zone_next(p, BT_ZONE_FILLS, BT_ZONE_LEDGER);
  bt_prof_zone_end(p, BT_ZONE_LEDGER);
  bt_prof_zone_end(p, BT_ZONE_STRATEGY);
  is_int((long long)p->zone[BT_ZONE_DATA].count, 1, "next closes data");
  is_int((long long)p->zone[BT_ZONE_FILLS].count, 1, "fills opened and closed");
  is_int((long long)p->zone[BT_ZONE_LEDGER].count, 1, "ledger");
  const bt_prof_zone_stats *s = &p->zone[BT_ZONE_STRATEGY];
  ok(s->incl_ticks >= p->zone[BT_ZONE_DATA].incl_ticks +
                          p->zone[BT_ZONE_FILLS].incl_ticks +
                          p->zone[BT_ZONE_LEDGER].incl_ticks,
     "the parent covers its sequential children");
  is_int(p->depth + p->mismatch, 0, "balanced");
  bt_prof_free(p);
}

static void test_zones_off(void) {
  bt_prof *p = bt_prof_new(0);
  bt_prof_zone_begin(p, BT_ZONE_DATA);
  bt_prof_zone_end(p, BT_ZONE_DATA);
  is_int((long long)bt_prof_zone_stats_of(p, BT_ZONE_DATA)->count, 0,
         "zones off: nothing counted");
  bt_prof_zone_begin(NULL, BT_ZONE_DATA); /* must not crash */
  bt_prof_zone_end(NULL, BT_ZONE_DATA);
  ok(1, "NULL profiler accepted");
  bt_prof_free(p);
}

/* Spins n ns and returns how long it really took (more if preempted). */
static uint64_t spin(uint64_t ns) {
  uint64_t t0 = bt_prof_now_ns();
  bt_prof_spin_ns(ns);
  return bt_prof_now_ns() - t0;
}

/* Self/inclusive split of spins of measured length: outer spins 2+2 ms
 * itself around an inner zone of 2 ms; median ratios of 5 runs within 10%. */
static void test_zone_times(void) {
  uint64_t outer_ratio[5], inner_ratio[5];
  for (int r = 0; r < 5; r++) {
    bt_prof *p = bt_prof_new(1);
    bt_prof_zone_begin(p, BT_ZONE_METRICS);
    uint64_t outer = spin(2000000);
    bt_prof_zone_begin(p, BT_ZONE_LEDGER);
    uint64_t inner = spin(2000000);
    bt_prof_zone_end(p, BT_ZONE_LEDGER);
    outer += spin(2000000);
    bt_prof_zone_end(p, BT_ZONE_METRICS);
    outer_ratio[r] = (uint64_t)(1e6 * bt_prof_ticks_to_ns(
        bt_prof_zone_stats_of(p, BT_ZONE_METRICS)->self_ticks) / (double)outer);
    inner_ratio[r] = (uint64_t)(1e6 * bt_prof_ticks_to_ns(
        bt_prof_zone_stats_of(p, BT_ZONE_LEDGER)->incl_ticks) / (double)inner);
    bt_prof_free(p);
  }
  qsort(outer_ratio, 5, sizeof outer_ratio[0], cmp_u64);
  qsort(inner_ratio, 5, sizeof inner_ratio[0], cmp_u64);
  double ratio_outer = (double)outer_ratio[2] / 1e6;
  double ratio_inner = (double)inner_ratio[2] / 1e6;
  ok(ratio_outer > 0.9 && ratio_outer < 1.1, "outer self = its spins (%g)",
     ratio_outer);
  ok(ratio_inner > 0.9 && ratio_inner < 1.1, "inner incl = its spin (%g)",
     ratio_inner);
}

static void test_exclude(void) {
  bt_prof *p = bt_prof_new(1);
  bt_prof_zone_begin(p, BT_ZONE_STRATEGY);
  bt_prof_exclude(p, bt_prof_ns_to_ticks(1e9)); /* more than elapsed */
  bt_prof_zone_end(p, BT_ZONE_STRATEGY);
  ok(bt_prof_zone_stats_of(p, BT_ZONE_STRATEGY)->self_ticks == 0,
     "excluded ticks never make self time negative");
  bt_prof_free(p);
}

static void test_memory(void) {
  bt_prof *p = bt_prof_new(1);
  bt_prof_mem_target_set(p);
  void *a = bt_mem_alloc(1000);
  size_t a_size = malloc_usable_size(a);
  bt_prof_zone_begin(p, BT_ZONE_BLOTTER);
  void *b = bt_mem_calloc(50, 10);
  size_t b_size = malloc_usable_size(b);
  bt_mem_free(a);
  bt_prof_zone_end(p, BT_ZONE_BLOTTER);
  const bt_prof_mem *m = bt_prof_mem_stats(p);
  ok(a_size >= 1000 && b_size >= 500, "usable sizes cover the request");
  is_int((long long)m->alloc_bytes, (long long)(a_size + b_size),
         "alloc bytes");
  is_int((long long)m->free_bytes, (long long)a_size, "free bytes");
  is_int((long long)m->peak_bytes, (long long)(a_size + b_size),
         "peak bytes");
  is_int((long long)m->live_bytes, (long long)b_size, "live bytes");
  is_int((long long)m->alloc_count, 2, "alloc count");
  is_int((long long)p->zone[BT_ZONE_BLOTTER].alloc_bytes, (long long)b_size,
         "blotter zone alloc");
  is_int((long long)p->zone[BT_ZONE_BLOTTER].free_bytes, (long long)a_size,
         "blotter zone free");
  /* realloc notes the growth only; a shrink notes the difference freed */
  b = bt_mem_realloc(b, 100000);
  size_t grown = malloc_usable_size(b);
  is_int((long long)m->alloc_bytes, (long long)(a_size + grown),
         "realloc: growth noted");
  b = bt_mem_realloc(b, 0);
  ok(b == NULL, "realloc to 0 frees");
  is_int((long long)m->live_bytes, 0, "nothing live");
  /* with no target nothing is noted */
  bt_prof_mem_target_set(NULL);
  void *c = bt_mem_alloc(64);
  bt_mem_free(c);
  is_int((long long)m->alloc_count, 3, "no target: not counted");
  ok(bt_prof_rss_bytes() > 0, "rss readable");
  ok(bt_prof_peak_rss_bytes() >= bt_prof_rss_bytes() / 2, "peak rss");
  bt_prof_free(p);
}

/* Off-CPU correction: 50 ms asleep inside a zone (the thread is surely
 * off the CPU) is removed from the zone, the run's profile time and
 * nothing else; with the correction off it stays. */
static void test_offcpu(void) {
  bt_prof *p = bt_prof_new(1);
  bt_prof_run_begin(p);
  bt_prof_zone_begin(p, BT_ZONE_LOAD);
  struct timespec nap = {0, 50000000};
  nanosleep(&nap, NULL);
  bt_prof_zone_end(p, BT_ZONE_LOAD);
  bt_prof_run_end(p);
  double self_ms = bt_prof_ticks_to_ns(p->zone[BT_ZONE_LOAD].self_ticks) / 1e6;
  double removed_ms = (double)bt_prof_offcpu_ns(p) / 1e6;
  ok(self_ms < 10.0, "50 ms asleep: the zone keeps its on-CPU time only "
     "(%.3f ms)", self_ms);
  ok(removed_ms > 45.0, "and the sleep is counted as off-CPU (%.3f ms)",
     removed_ms);
  ok(bt_prof_ticks_to_ns(bt_prof_run_profile_ticks(p)) / 1e6 < 10.0,
     "the run's profile time excludes it");
  ok(bt_prof_run_wall_ns(p) >= 50000000u, "wall time keeps it");
  ok(bt_prof_run_cpu_ns(p) < 10000000u, "the thread's CPU time is small (%llu ns)",
     (unsigned long long)bt_prof_run_cpu_ns(p));
  bt_prof_reset(p);
  bt_prof_set_offcpu(p, 0);
  bt_prof_run_begin(p);
  bt_prof_zone_begin(p, BT_ZONE_LOAD);
  nanosleep(&nap, NULL);
  bt_prof_zone_end(p, BT_ZONE_LOAD);
  bt_prof_run_end(p);
  self_ms = bt_prof_ticks_to_ns(p->zone[BT_ZONE_LOAD].self_ticks) / 1e6;
  ok(self_ms >= 50.0, "correction off: the zone holds the sleep (%.3f ms)",
     self_ms);
  is_int((long long)bt_prof_offcpu_ns(p), 0, "and nothing is removed");
  bt_prof_free(p);
}

int main(void) {
  test_clock();
  test_names();
  test_zone_counts();
  test_zone_next();
  test_zones_off();
  test_zone_times();
  test_exclude();
  test_memory();
  test_offcpu();
  return done_testing();
}
