/* lbt_limits.h: limits of one worker lua_State (a scenario run): a memory
 * cap in its lua_Alloc and a time budget per strategy callback, enforced by
 * a CPU-time watchdog that arms a one-shot Lua hook (as the sampler does).
 *
 * The runner creates each worker state with lua_newstate(lbt_limits_alloc,
 * limits), then lbt_limits_start(limits, L) on the worker thread and
 * lbt_limits_stop before lua_close. Code that calls a strategy callback
 * brackets it with lbt_limits_enter(name) / lbt_limits_leave() (a thread-
 * local store each: cheap enough for every bar). Only time inside a
 * callback counts against the budget; the budget is per call. */
#ifndef LBT_LIMITS_H
#define LBT_LIMITS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lbt_core.h"

#define LBT_LIMITS_BUDGET_DEFAULT 10.0                /* s of CPU per call */
#define LBT_LIMITS_CAP_DEFAULT ((size_t)1 << 30)       /* bytes: 1 GiB */

typedef struct lbt_limits {
  /* memory: bytes of this state's Lua heap, the cap (0 = none) */
  size_t used, cap;
  int mem_tripped; /* an allocation was refused by the cap */
  /* time: seconds per callback call (0 = none) */
  double budget;
  volatile sig_atomic_t calls;  /* callback entries so far */
  const char *volatile callback; /* the callback running, or NULL */
  /* watchdog (touched by the signal handler on this thread only) */
  lua_State *L;
  timer_t timer;
  int timer_on;
  sig_atomic_t seen_calls;
  long ticks, ticks_budget; /* watchdog ticks inside the same call */
  volatile sig_atomic_t tripped;
  const char *tripped_callback;
} lbt_limits;

/* The limits of the state running on this thread (NULL outside workers). */
extern _Thread_local lbt_limits *lbt_limits_current;

void lbt_limits_init(lbt_limits *lim, size_t cap, double budget);
void *lbt_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
int lbt_limits_start(lbt_limits *lim, lua_State *L);
void lbt_limits_stop(lbt_limits *lim);
/* The message for a run that tripped a limit ("handle_data: exceeded the
 * time budget of 10 s (--budget)"), or NULL. */
const char *lbt_limits_message(const lbt_limits *lim, char *buf, size_t size);

static inline void lbt_limits_enter(const char *callback) {
  lbt_limits *lim = lbt_limits_current;
  if (lim != NULL) {
    lim->calls++;
    lim->callback = callback;
  }
}

static inline void lbt_limits_leave(void) {
  lbt_limits *lim = lbt_limits_current;
  if (lim != NULL) lim->callback = NULL;
}

/* One hook per state: a profiler hook that is about to (re)arm or clear the
 * hook of L calls this first. Once the budget has tripped it installs the
 * budget's hook instead and returns 1 (the profiler must not replace it);
 * otherwise 0. Async-signal-safe. */
int lbt_limits_claim_hook(lua_State *L);

/* Has a limit tripped in this thread's state? (A strategy that catches the
 * error with pcall is stopped when its callback returns.) */
static inline int lbt_limits_tripped(void) {
  lbt_limits *lim = lbt_limits_current;
  return lim != NULL && (lim->tripped || lim->mem_tripped);
}

#endif
