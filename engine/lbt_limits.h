/* lbt_limits.h: limits of one worker lua_State (a scenario run): a memory
 * cap in its lua_Alloc and a time budget per strategy callback, enforced by
 * a CPU-time watchdog that arms a one-shot Lua hook (as the sampler does).
 *
 * The runner creates each worker state with lua_newstate(lbt_limits_alloc,
 * limits), then lbt_limits_start(limits, L) on the worker thread and
 * lbt_limits_stop before lua_close. Code that calls a strategy callback
 * brackets it with lbt_limits_enter(name) / lbt_limits_leave() (a thread-
 * local store each: cheap enough for every bar). Only time inside a
 * callback counts against the budget; the budget is per call.
 *
 * LuaJIT runs no hooks inside compiled traces, so the budget's hook cannot
 * stop a compiled loop. There the runner calls into Lua through
 * lbt_limits_pcall: when the budget has tripped and the hook has not fired
 * after LBT_LIMITS_GRACE more ticks while the thread is inside trace
 * machine code, the watchdog siglongjmps back to it (lbt_limits.c explains
 * why that is safe). The state is then corrupt: the runner must never call
 * into it or close it again (it leaks it on purpose); lbt_limits_pcall has
 * already stopped this thread's limits and profiler. */
#ifndef LBT_LIMITS_H
#define LBT_LIMITS_H

#include <setjmp.h>
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
  long ticks_tripped; /* watchdog ticks since the budget tripped */
  long ticks_stuck;   /* ... after which lbt_limits_stuck is called */
  char budget_text[32]; /* "%g" of budget, for the signal handler */
  /* the escape from compiled LuaJIT code (lbt_limits_pcall) */
  sigjmp_buf escape;
  volatile sig_atomic_t escape_armed; /* escape is a live frame's target */
  volatile sig_atomic_t escaped;      /* the state was left by it */
} lbt_limits;

#define LBT_LIMITS_GRACE 2 /* ticks the hook gets before an escape */
#define LBT_LIMITS_ESCAPED (-100) /* lbt_limits_pcall: the state is lost */

/* In a run's own process (lbt_runner_child_main): called from the watchdog
 * (a signal handler) when the budget tripped and the hook could not stop
 * the call within LBT_LIMITS_STUCK_S more seconds of CPU (time in C: a
 * pattern match, a finalizer, a coroutine the hook does not reach); must
 * be async-signal-safe and not return (it reports and ends the process). */
extern void (*lbt_limits_stuck)(const char *message);
#define LBT_LIMITS_STUCK_S 0.5

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

/* lua_pcall(L, nargs, nres, msgh) for a worker whose limits lim were
 * started on this thread (lbt_limits_start): the pcall status, or
 * LBT_LIMITS_ESCAPED when the watchdog escaped a compiled LuaJIT loop
 * (then lim->escaped, this thread's watchdog and profiler are stopped,
 * lbt_limits_current and the profiler's thread-local are cleared, and L
 * must never be touched again, not even by lua_close). Not nestable. */
int lbt_limits_pcall(lbt_limits *lim, lua_State *L, int nargs, int nres,
                     int msgh);
/* For btlua's other signal handlers that may interrupt compiled code on
 * the watchdog's tick (the kernel delivers both signals at once; the one
 * that runs first sees the other's handler as the interrupted code): the
 * escape of lbt_limits_pcall, taken when the watchdog would take it. Async-
 * signal-safe; returns unless it escapes. context: the ucontext_t. */
void lbt_limits_offer_escape(const void *context);
/* lbt_prof.c: stops the profiler running on this thread, if any, without
 * calling into its (abandoned) state; clears its thread-local. */
void lbt_prof_abandon(void);

/* lbt_prof.c: the hook calibration (call ticks, return ticks, ns per
 * pair), measured here once; and the same handed to a run's process. */
void lbt_prof_calibration(double out[3]);
void lbt_prof_give_calibration(const double given[3]);

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
