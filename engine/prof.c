/* prof.c: the cycle clock and its calibration, engine zones (count, self,
 * inclusive ticks) and allocation accounting of one profiled run. */
#include "prof.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

volatile int bt_prof_clock_kind_ = 0;

static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
static pthread_once_t calib_once = PTHREAD_ONCE_INIT;
static double ticks_per_ns = 1.0;

static const char *const ZONE_NAMES[BT_ZONE_COUNT] = {
  "load",  "data",   "indicators", "strategy", "blotter",
  "fills", "ledger", "metrics",    "output",
};

uint64_t bt_prof_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Is there a hardware counter that ticks at a constant rate? */
static int hardware_clock_usable(void) {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(0x80000000u, &eax, &ebx, &ecx, &edx) || eax < 0x80000007u)
    return 0;
  __get_cpuid(0x80000007u, &eax, &ebx, &ecx, &edx);
  return (edx >> 8) & 1u; /* invariant TSC */
#elif defined(__aarch64__)
  return 1;
#else
  return 0;
#endif
}

static void clock_choose(void) {
  const char *force = getenv("BTLUA_PROF_CLOCK");
  int hardware = hardware_clock_usable();
  if (force != NULL && strcmp(force, "clock_gettime") == 0) hardware = 0;
  bt_prof_clock_kind_ = hardware ? 1 : 2;
}

int bt_prof_clock_init_(void) {
  pthread_once(&clock_once, clock_choose);
  return bt_prof_clock_kind_;
}

const char *bt_prof_clock_name(void) {
  if (bt_prof_clock_init_() == 2) return "clock_gettime";
#if defined(__aarch64__)
  return "cntvct";
#else
  return "tsc";
#endif
}

/* One (ticks, ns) pair read as close together as possible: the ns read is
 * bracketed by two tick reads and the tightest of a few tries is kept. */
static void clock_pair(uint64_t *ticks, uint64_t *ns) {
  *ticks = bt_prof_ticks();
  *ns = bt_prof_now_ns();
  uint64_t best = UINT64_MAX;
  for (int i = 0; i < 5; i++) {
    uint64_t t0 = bt_prof_ticks();
    uint64_t now = bt_prof_now_ns();
    uint64_t t1 = bt_prof_ticks();
    if (t1 - t0 < best) {
      best = t1 - t0;
      *ticks = t0 + (t1 - t0) / 2;
      *ns = now;
    }
  }
}

static void clock_calibrate(void) {
  if (bt_prof_clock_init_() == 2) {
    ticks_per_ns = 1.0;
    return;
  }
#if defined(__aarch64__)
  uint64_t freq;
  __asm__ __volatile__("mrs %0, cntfrq_el0" : "=r"(freq));
  if (freq != 0) {
    ticks_per_ns = (double)freq / 1e9;
    return;
  }
#endif
  /* 10 ms of wall time gives the rate to about 1e-5. */
  uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
  clock_pair(&t0, &n0);
  do {
    clock_pair(&t1, &n1);
  } while (n1 - n0 < 10000000u);
  ticks_per_ns = (double)(t1 - t0) / (double)(n1 - n0);
  if (!(ticks_per_ns > 0.0)) ticks_per_ns = 1.0;
}

/* A rate measured by another process of the same run (the parent of a
 * run's process: the same machine and clock); 0 until given. */
static double given_ticks_per_ns;

double bt_prof_ticks_per_ns(void) {
  if (given_ticks_per_ns > 0) return given_ticks_per_ns;
  pthread_once(&calib_once, clock_calibrate);
  return ticks_per_ns;
}

void bt_prof_give_ticks_per_ns(double rate) {
  bt_prof_clock_init_();
  if (rate > 0) given_ticks_per_ns = rate;
}

double bt_prof_ticks_to_ns(uint64_t ticks) {
  return (double)ticks / bt_prof_ticks_per_ns();
}

uint64_t bt_prof_ns_to_ticks(double ns) {
  double ticks = ns * bt_prof_ticks_per_ns();
  return ticks <= 0.0 ? 0 : (uint64_t)(ticks + 0.5);
}

void bt_prof_spin_ns(uint64_t ns) {
  uint64_t end = bt_prof_now_ns() + ns;
  while (bt_prof_now_ns() < end) {
  }
}

/* ---- a run ---------------------------------------------------------- */

bt_prof *bt_prof_new(int zones) {
  bt_prof *p = (bt_prof *)calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  bt_prof_ticks_per_ns();
  p->zones_on = zones != 0;
  p->current = -1;
  p->offcpu_on = 1;
  p->check_every = bt_prof_ns_to_ticks(100000.0);
  return p;
}

void bt_prof_free(bt_prof *p) { free(p); }

void bt_prof_reset(bt_prof *p) {
  int zones = p->zones_on, offcpu = p->offcpu_on;
  uint64_t every = p->check_every;
  memset(p, 0, sizeof *p);
  p->zones_on = zones;
  p->offcpu_on = offcpu;
  p->check_every = every;
  p->current = -1;
}

void bt_prof_set_zones(bt_prof *p, int on) { p->zones_on = on != 0; }

void bt_prof_set_offcpu(bt_prof *p, int on) { p->offcpu_on = on != 0; }

uint64_t bt_prof_thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bt_prof_run_begin(bt_prof *p) {
  p->wall_begin_ns = bt_prof_now_ns();
  p->cpu_begin_ns = bt_prof_thread_cpu_ns();
  p->cpu_end_ns = 0;
  p->run_begin = bt_prof_ticks();
  p->run_end = 0;
  p->wall_end_ns = 0;
  p->check_cpu_ns = p->cpu_begin_ns;
  p->check_raw = p->offcpu_on ? p->run_begin : 0;
  p->excluded_begin = p->excluded;
  p->excluded_end = 0;
}

void bt_prof_run_end(bt_prof *p) {
  bt_prof_pticks(p); /* a last check: the tail of the run */
  p->check_raw = 0;
  p->run_end = bt_prof_ticks();
  p->wall_end_ns = bt_prof_now_ns();
  p->cpu_end_ns = bt_prof_thread_cpu_ns();
  p->excluded_end = p->excluded;
}

uint64_t bt_prof_run_profile_ticks(const bt_prof *p) {
  uint64_t run = bt_prof_run_ticks(p);
  uint64_t end = p->run_end != 0 ? p->excluded_end : p->excluded;
  uint64_t excluded = end - p->excluded_begin;
  return run > excluded ? run - excluded : 0;
}

/* Wall time since the last check beyond the CPU time the thread got in
 * it was spent off the CPU: it is excluded, i.e. charged to nothing. A
 * preemption shows as one long gap between two clock reads, and the first
 * read after it comes here (the gap exceeds check_every), so the gap is
 * removed from the interval that held it. */
void bt_prof_offcpu_check_(bt_prof *p, uint64_t raw) {
  uint64_t cpu = bt_prof_thread_cpu_ns();
  double wall_ns = bt_prof_ticks_to_ns(raw - p->check_raw);
  double cpu_ns = (double)(cpu - p->check_cpu_ns);
  if (cpu != 0 && wall_ns > cpu_ns) {
    uint64_t gap = bt_prof_ns_to_ticks(wall_ns - cpu_ns);
    p->excluded += gap;
    p->offcpu_ticks += gap;
  }
  p->check_raw = raw;
  p->check_cpu_ns = cpu;
}

uint64_t bt_prof_run_cpu_ns(const bt_prof *p) {
  uint64_t end = p->cpu_end_ns != 0 ? p->cpu_end_ns : bt_prof_thread_cpu_ns();
  return end > p->cpu_begin_ns ? end - p->cpu_begin_ns : 0;
}

uint64_t bt_prof_offcpu_ns(const bt_prof *p) {
  return (uint64_t)(bt_prof_ticks_to_ns(p->offcpu_ticks) + 0.5);
}

uint64_t bt_prof_run_ticks(const bt_prof *p) {
  uint64_t end = p->run_end != 0 ? p->run_end : bt_prof_ticks();
  return end - p->run_begin;
}

uint64_t bt_prof_run_wall_ns(const bt_prof *p) {
  uint64_t end = p->wall_end_ns != 0 ? p->wall_end_ns : bt_prof_now_ns();
  return end - p->wall_begin_ns;
}

/* ---- zones ---------------------------------------------------------- */

const char *bt_prof_zone_name(bt_zone_id z) {
  if ((int)z < 0 || z >= BT_ZONE_COUNT) return NULL;
  return ZONE_NAMES[z];
}

int bt_prof_zone_find(const char *name) {
  for (int z = 0; z < BT_ZONE_COUNT; z++)
    if (strcmp(ZONE_NAMES[z], name) == 0) return z;
  return -1;
}

static void zone_push_at(bt_prof *p, bt_zone_id z, uint64_t now) {
  int depth = p->depth++;
  if ((unsigned)z >= BT_ZONE_COUNT || depth >= BT_PROF_MAX_DEPTH) return;
  bt_prof_frame *frame = &p->frames[depth];
  frame->zone = z;
  frame->child = 0;
  p->open[z]++;
  p->current = (sig_atomic_t)z;
  frame->begin = now;
}

void bt_prof_zone_push_(bt_prof *p, bt_zone_id z) {
  zone_push_at(p, z, bt_prof_pticks(p));
}

static void zone_pop_at(bt_prof *p, bt_zone_id z, uint64_t now) {
  if (p->depth == 0) {
    p->mismatch++;
    return;
  }
  int depth = --p->depth;
  if (depth >= BT_PROF_MAX_DEPTH) return;
  bt_prof_frame *frame = &p->frames[depth];
  if (frame->zone != z) p->mismatch++;
  z = frame->zone; /* close what is open, so the stack stays sound */
  int64_t delta = (int64_t)(now - frame->begin); /* < 0 after exclusion */
  uint64_t elapsed = delta > 0 ? (uint64_t)delta : 0;
  bt_prof_zone_stats *stats = &p->zone[z];
  stats->count++;
  uint64_t self = elapsed > frame->child ? elapsed - frame->child : 0;
  stats->self_ticks += self;
  if (z != BT_ZONE_STRATEGY) p->engine_ticks += self;
  if (--p->open[z] == 0) stats->incl_ticks += elapsed;
  if (depth > 0) {
    p->frames[depth - 1].child += elapsed;
    p->current = (sig_atomic_t)p->frames[depth - 1].zone;
  } else {
    p->current = -1;
  }
}

void bt_prof_zone_pop_(bt_prof *p, bt_zone_id z) {
  zone_pop_at(p, z, bt_prof_pticks(p));
}

void bt_prof_zone_next_(bt_prof *p, bt_zone_id from, bt_zone_id to) {
  uint64_t now = bt_prof_pticks(p);
  zone_pop_at(p, from, now);
  zone_push_at(p, to, now);
}

const bt_prof_zone_stats *bt_prof_zone_stats_of(const bt_prof *p,
                                                bt_zone_id z) {
  if ((unsigned)z >= BT_ZONE_COUNT) return NULL;
  return &p->zone[z];
}

/* ---- memory --------------------------------------------------------- */

void bt_prof_mem_note(bt_prof *p, size_t grown, size_t shrunk) {
  bt_prof_mem *mem = &p->mem;
  mem->alloc_bytes += grown;
  mem->free_bytes += shrunk;
  if (grown > 0) mem->alloc_count++;
  mem->live_bytes += (int64_t)grown - (int64_t)shrunk;
  if (mem->live_bytes > mem->peak_bytes) mem->peak_bytes = mem->live_bytes;
  int z = (int)p->current;
  if (z >= 0 && z < BT_ZONE_COUNT) {
    p->zone[z].alloc_bytes += grown;
    p->zone[z].free_bytes += shrunk;
  }
}

const bt_prof_mem *bt_prof_mem_stats(const bt_prof *p) { return &p->mem; }


static _Thread_local bt_prof *mem_target;

void bt_prof_mem_target_set(bt_prof *p) { mem_target = p; }

void *bt_mem_alloc(size_t size) {
  void *block = malloc(size);
  bt_prof *p = mem_target;
  if (p != NULL && block != NULL)
    bt_prof_mem_note(p, malloc_usable_size(block), 0);
  return block;
}

void *bt_mem_calloc(size_t count, size_t size) {
  void *block = calloc(count, size);
  bt_prof *p = mem_target;
  if (p != NULL && block != NULL)
    bt_prof_mem_note(p, malloc_usable_size(block), 0);
  return block;
}

void *bt_mem_realloc(void *block, size_t size) {
  if (size == 0) { /* realloc(block, 0) is implementation-defined */
    bt_mem_free(block);
    return NULL;
  }
  bt_prof *p = mem_target;
  if (p == NULL) return realloc(block, size);
  size_t old = block != NULL ? malloc_usable_size(block) : 0;
  void *moved = realloc(block, size);
  if (moved == NULL) return NULL; /* block is untouched */
  size_t now = malloc_usable_size(moved);
  bt_prof_mem_note(p, now > old ? now - old : 0, old > now ? old - now : 0);
  return moved;
}

void bt_mem_free(void *block) {
  bt_prof *p = mem_target;
  if (p != NULL && block != NULL)
    bt_prof_mem_note(p, 0, malloc_usable_size(block));
  free(block);
}

uint64_t bt_prof_rss_bytes(void) {
  FILE *file = fopen("/proc/self/statm", "r");
  if (file == NULL) return 0;
  unsigned long long size = 0, resident = 0;
  int got = fscanf(file, "%llu %llu", &size, &resident);
  fclose(file);
  if (got != 2) return 0;
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t bt_prof_peak_rss_bytes(void) {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return (uint64_t)usage.ru_maxrss * 1024u;
}
