/* prof.h: the cycle clock (TSC / cntvct / clock_gettime), engine zones with
 * count, self and inclusive time, and allocation accounting. No Lua here;
 * the Lua hooks and sampler live in lbt_prof.c. One bt_prof per run
 * (scenario job): never shared across threads. */
#ifndef BT_PROF_H
#define BT_PROF_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/* The engine stages. Report names: bt_prof_zone_name(). */
typedef enum {
  BT_ZONE_LOAD,
  BT_ZONE_DATA,
  BT_ZONE_INDICATORS,
  BT_ZONE_STRATEGY,
  BT_ZONE_BLOTTER,
  BT_ZONE_FILLS,
  BT_ZONE_LEDGER,
  BT_ZONE_METRICS,
  BT_ZONE_OUTPUT,
  BT_ZONE_COUNT
} bt_zone_id;

#define BT_PROF_MAX_DEPTH 64 /* deeper zone nesting is counted, not timed */

/* Totals of one zone. Ticks: bt_prof_ticks() units; bytes: allocations
 * noted (bt_prof_mem_note) while this zone was the innermost open one. */
typedef struct bt_prof_zone_stats {
  uint64_t count;      /* completed begin/end pairs */
  uint64_t self_ticks; /* time not inside a nested zone */
  uint64_t incl_ticks; /* outermost instance only, so recursion is not
                          counted twice */
  uint64_t alloc_bytes;
  uint64_t free_bytes;
} bt_prof_zone_stats;

/* One open zone on the stack. Times are "profile ticks": raw ticks minus
 * the profiler's own excluded ticks (see bt_prof_exclude). */
typedef struct bt_prof_frame {
  bt_zone_id zone;
  uint64_t begin; /* profile ticks at begin */
  uint64_t child; /* profile ticks spent in nested zones */
} bt_prof_frame;

/* Memory totals. Bytes; the Lua allocator and engine allocators report
 * through bt_prof_mem_note. */
typedef struct bt_prof_mem {
  uint64_t alloc_bytes; /* total allocated (growth of reallocs included) */
  uint64_t free_bytes;  /* total freed (shrinks of reallocs included) */
  int64_t live_bytes;   /* alloc - free */
  int64_t peak_bytes;   /* max of live_bytes */
  uint64_t alloc_count;
} bt_prof_mem;

/* The fields are private to prof.c; they are in the header only so that
 * the zone calls can be inlined. Use the functions below. */
struct bt_prof {
  int zones_on;  /* 0: zone_begin/end return at once, no clock read */
  int depth;     /* open zones (may exceed BT_PROF_MAX_DEPTH) */
  int mismatch;  /* zone_end calls that did not match the open zone */
  volatile sig_atomic_t current; /* innermost open zone, or -1 (read by the
                                    sampler's signal handler) */
  uint64_t excluded; /* raw ticks spent in profiler hooks, subtracted */
  int open[BT_ZONE_COUNT]; /* open instances per zone */
  bt_prof_frame frames[BT_PROF_MAX_DEPTH];
  bt_prof_zone_stats zone[BT_ZONE_COUNT];
  bt_prof_mem mem;
  uint64_t run_begin, run_end; /* raw ticks; run_end 0 while running */
  uint64_t wall_begin_ns, wall_end_ns; /* CLOCK_MONOTONIC_RAW */
  uint64_t cpu_begin_ns, cpu_end_ns;   /* this thread's CPU time (user+sys) */
  uint64_t excluded_begin, excluded_end; /* `excluded` at run begin/end */
  /* Off-CPU correction (bt_prof_pticks_at): at most every check_every
   * ticks the thread's CPU clock is read; wall ticks beyond the CPU time
   * since the last check (the thread was preempted or blocked) are added
   * to `excluded`, so they are charged to no zone and no function. */
  int offcpu_on;         /* 1 by default (bt_prof_set_offcpu) */
  uint64_t check_every;  /* ticks between checks (100 us) */
  uint64_t check_raw;    /* raw ticks at the last check; 0: not running */
  uint64_t check_cpu_ns; /* thread CPU ns at the last check */
  uint64_t offcpu_ticks; /* total removed */
  uint64_t engine_ticks; /* self ticks of closed zones other than strategy
                            (the C work Lua functions wait for) */
};
typedef struct bt_prof bt_prof;

/* ---- clock ---------------------------------------------------------- */

/* The clock source in use: "tsc", "cntvct" or "clock_gettime". */
const char *bt_prof_clock_name(void);

/* Ticks since an arbitrary origin: rdtsc when the TSC is invariant
 * (CPUID 0x80000007 EDX bit 8), cntvct_el0 on arm64, else
 * CLOCK_MONOTONIC_RAW in ns. Monotonic per thread; about 11 ns. */
static inline uint64_t bt_prof_ticks(void);

/* Ticks per nanosecond, calibrated once against CLOCK_MONOTONIC_RAW
 * (thread-safe, ~10 ms on first call). 1.0 for the clock_gettime source. */
double bt_prof_ticks_per_ns(void);

/* Conversions with the calibrated rate. */
double bt_prof_ticks_to_ns(uint64_t ticks);
uint64_t bt_prof_ns_to_ticks(double ns);

/* CLOCK_MONOTONIC_RAW in ns. */
uint64_t bt_prof_now_ns(void);

/* Busy-waits for ns nanoseconds measured on CLOCK_MONOTONIC_RAW (for
 * calibration tests and the accuracy check). */
void bt_prof_spin_ns(uint64_t ns);

/* ---- a run ---------------------------------------------------------- */

/* New profiler, all counters zero, zones on if zones != 0. NULL on ENOMEM.
 * Calibrates the clock on first use. */
bt_prof *bt_prof_new(int zones);
void bt_prof_free(bt_prof *p);
/* Zero every counter (for a repeat run); keeps zones_on. */
void bt_prof_reset(bt_prof *p);
void bt_prof_set_zones(bt_prof *p, int on);

/* Marks the start/end of the measured run (wall and ticks). */
void bt_prof_run_begin(bt_prof *p);
void bt_prof_run_end(bt_prof *p);
/* Duration of the run (to now while running), raw ticks and wall ns. */
uint64_t bt_prof_run_ticks(const bt_prof *p);
uint64_t bt_prof_run_wall_ns(const bt_prof *p);
/* CPU time of the thread that ran bt_prof_run_begin (user+system, from
 * CLOCK_THREAD_CPUTIME_ID), ns: to now while running (call it from that
 * thread), to run_end after. */
uint64_t bt_prof_run_cpu_ns(const bt_prof *p);
/* The run in profile ticks (raw ticks minus everything excluded while it
 * ran): what zones, functions and "(unattributed)" add up to. */
uint64_t bt_prof_run_profile_ticks(const bt_prof *p);
/* The ns removed from every time as off-CPU (see bt_prof.offcpu_on). */
uint64_t bt_prof_offcpu_ns(const bt_prof *p);
/* Off-CPU correction on (default) or off (times are plain TSC wall). */
void bt_prof_set_offcpu(bt_prof *p, int on);
/* This thread's CPU time, ns (CLOCK_THREAD_CPUTIME_ID; 0 if unknown). */
uint64_t bt_prof_thread_cpu_ns(void);

/* ---- zones ---------------------------------------------------------- */

/* "load", "data", "indicators", "strategy", "blotter", "fills", "ledger",
 * "metrics", "output"; NULL for an invalid id. */
const char *bt_prof_zone_name(bt_zone_id z);
/* The id of a zone name, or -1. */
int bt_prof_zone_find(const char *name);

void bt_prof_offcpu_check_(bt_prof *p, uint64_t raw);

/* Profile ticks at raw tick `raw`: raw ticks minus ticks excluded (the
 * profiler's own overhead and, when off-CPU correction is on, the time
 * the thread was not running). Monotonic only between two exclusions;
 * callers clamp negative intervals to 0. */
static inline uint64_t bt_prof_pticks_at(bt_prof *p, uint64_t raw) {
  if (__builtin_expect(p->check_raw != 0 && raw - p->check_raw >
                                                p->check_every, 0))
    bt_prof_offcpu_check_(p, raw);
  return raw - p->excluded;
}

/* Profile ticks now. */
static inline uint64_t bt_prof_pticks(bt_prof *p) {
  return bt_prof_pticks_at(p, bt_prof_ticks());
}

void bt_prof_zone_push_(bt_prof *p, bt_zone_id z);
void bt_prof_zone_pop_(bt_prof *p, bt_zone_id z);

/* Open zone z (nested). Near-zero cost when p == NULL or zones are off. */
static inline void bt_prof_zone_begin(bt_prof *p, bt_zone_id z) {
  if (__builtin_expect(p != NULL && p->zones_on, 0)) bt_prof_zone_push_(p, z);
}

/* Close zone z, which must be the innermost open zone. */
static inline void bt_prof_zone_end(bt_prof *p, bt_zone_id z) {
  if (__builtin_expect(p != NULL && p->zones_on, 0)) bt_prof_zone_pop_(p, z);
}

void bt_prof_zone_next_(bt_prof *p, bt_zone_id from, bt_zone_id to);

/* Close zone `from` and open `to` with one clock read: for sequential
 * stages (data -> fills -> ledger ...) it halves the cost of zoning. */
static inline void bt_prof_zone_next(bt_prof *p, bt_zone_id from,
                                     bt_zone_id to) {
  if (__builtin_expect(p != NULL && p->zones_on, 0))
    bt_prof_zone_next_(p, from, to);
}

/* The innermost open zone, or -1 (async-signal-safe). */
static inline int bt_prof_zone_current(const bt_prof *p) {
  return p == NULL ? -1 : (int)p->current;
}

/* Totals of zone z (ticks; convert with bt_prof_ticks_to_ns). */
const bt_prof_zone_stats *bt_prof_zone_stats_of(const bt_prof *p,
                                                bt_zone_id z);

/* Ticks spent in profiler machinery (hooks): they are subtracted from every
 * zone open at the time. The Lua hooks call this with their own cost. */
static inline void bt_prof_exclude(bt_prof *p, uint64_t ticks) {
  p->excluded += ticks;
}

/* ---- memory --------------------------------------------------------- */

/* Notes an allocation change: `grown` bytes allocated and `shrunk` bytes
 * freed (a realloc reports both sides), attributed to the current zone. */
void bt_prof_mem_note(bt_prof *p, size_t grown, size_t shrunk);
const bt_prof_mem *bt_prof_mem_stats(const bt_prof *p);

/* Counting engine allocators: malloc, calloc, realloc and free that note
 * the bytes (as the allocator reserved them: malloc_usable_size) on the
 * profiler set for this thread by bt_prof_mem_target_set, attributed to
 * its current zone; with none set they cost a thread-local load. Blocks
 * are plain malloc blocks: either side may free them. The engine's
 * modules (sim, blotter, ledger, metrics, indicators) allocate with them. */
void bt_prof_mem_target_set(bt_prof *p); /* NULL: stop counting */
void *bt_mem_alloc(size_t size);
void *bt_mem_calloc(size_t count, size_t size);
void *bt_mem_realloc(void *block, size_t size);
void bt_mem_free(void *block);

/* Resident set size of this process now, bytes (0 if unknown). */
uint64_t bt_prof_rss_bytes(void);
/* Peak resident set size of this process, bytes (getrusage maxrss). */
uint64_t bt_prof_peak_rss_bytes(void);

/* ---- inline clock --------------------------------------------------- */

/* 0: not yet chosen; 1: TSC/cntvct; 2: clock_gettime. Set once by
 * bt_prof_clock_init_ (any thread; idempotent). */
extern volatile int bt_prof_clock_kind_;
int bt_prof_clock_init_(void);

/* Takes the clock rate (bt_prof_ticks_per_ns) measured by the parent of a
 * run's process instead of measuring it again (10 ms per process); call
 * before any profiling, on the same machine and clock choice. */
void bt_prof_give_ticks_per_ns(double rate);

static inline uint64_t bt_prof_ticks(void) {
  int kind = bt_prof_clock_kind_;
  if (__builtin_expect(kind == 0, 0)) kind = bt_prof_clock_init_();
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_expect(kind == 1, 1)) return __rdtsc();
#elif defined(__aarch64__)
  if (__builtin_expect(kind == 1, 1)) {
    uint64_t value;
    __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(value));
    return value;
  }
#endif
  return bt_prof_now_ns();
}

#endif
