/* lbt_limits.c: btlua.core.limits: the memory cap and the per-callback time
 * budget of worker states (see lbt_limits.h), and their Lua side:
 *   limits.enter(name) / limits.leave(): bracket a strategy callback called
 *     from Lua (initialize); the C bar loop brackets handle_data itself.
 *   limits.current() -> { budget = s, memory_cap = bytes, used = bytes }
 *     | nil outside a worker.
 *
 * The time budget: a POSIX timer on the thread's CPU clock sends
 * LIMITS_SIGNAL to the worker thread every tick; the handler counts ticks
 * spent inside one callback call and, past the budget, arms a count hook
 * (lua_sethook is async-signal-safe) that raises the error at the next
 * instruction. The profiler also installs hooks (one hook per state): its
 * hooks yield to the budget's (lbt_limits_claim_hook), and while tripped the
 * watchdog re-arms its hook every tick. (The sampler's timer and this one
 * both run on the thread's CPU clock and expire on the same scheduler tick:
 * without the claim the sampler's hook replaced the budget's every time.) A
 * run that trips is failing anyway, so its profile does not matter.
 *
 * LuaJIT runs no hooks inside compiled traces, so a compiled loop never
 * meets the hook. The escape: the runner enters Lua through
 * lbt_limits_pcall, which sigsetjmps first. When the budget has tripped
 * and LBT_LIMITS_GRACE more ticks passed inside the same call (the hook had
 * its chance), the handler looks at the interrupted program counter; if it
 * lies in an anonymous executable mapping (/proc/self/maps, read with
 * open/read and parsed here: async-signal-safe), the thread is running
 * trace machine code (LuaJIT's mcode areas), and siglongjmps back. (A
 * sampler's timer expires on the same scheduler tick; the kernel sets up
 * both handler frames at once. LIMITS_SIGNAL is numbered lower, so the
 * sampler's handler runs first and this one sees the interrupted code; as
 * a second line, btlua's sampler handler offers the escape too:
 * lbt_limits_offer_escape.)
 * Why that is safe: trace code is machine code LuaJIT generated from the
 * strategy's Lua; it takes no lock of libc or btlua (a C helper it calls,
 * malloc included, runs in file-backed code and is never escaped from),
 * and nothing between the pcall and the trace holds one either (the runner
 * holds no mutex across the call; btlua's C functions that call back into
 * Lua, the bar loop among them, take none; the sandbox gives no FFI). Only
 * the Lua state is left inconsistent, so it is abandoned: never called
 * into, never closed (leaked on purpose, with its heap and its event
 * loop's descriptors), its watchdog and profiler stopped without touching
 * it (lbt_prof_abandon). Limits: x86-64 and arm64 Linux only (arm64 is
 * untested; elsewhere a compiled loop still hangs); under --unsafe an
 * FFI callback stub is anonymous code too, and a C function that called it
 * could hold a lock; the process keeps the abandoned state's memory. */
#define _GNU_SOURCE
#include "lbt_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

_Thread_local lbt_limits *lbt_limits_current;
void (*lbt_limits_stuck)(const char *message);

/* Appends text to buf (size bytes, NUL-terminated): async-signal-safe. */
static size_t append_text(char *buf, size_t used, size_t size,
                          const char *text) {
  while (*text != '\0' && used + 1 < size) buf[used++] = *text++;
  buf[used] = '\0';
  return used;
}

/* The budget's message, built in the signal handler without snprintf. */
static void report_stuck(lbt_limits *lim) {
  char msg[256];
  size_t used = 0;
  used = append_text(msg, used, sizeof msg,
                     lim->tripped_callback ? lim->tripped_callback
                                           : "strategy");
  used = append_text(msg, used, sizeof msg,
                     ": exceeded the time budget of ");
  used = append_text(msg, used, sizeof msg, lim->budget_text);
  append_text(msg, used, sizeof msg, " s (--budget)");
  lbt_limits_stuck(msg);
}

/* SIGUSR2: numbered below SIGPROF and the sampler's real-time signal.
 * When the watchdog and a sampler expire on the same scheduler tick, Linux
 * sets up the lower-numbered signal's frame first, so the sampler's
 * handler runs first and returns, and this handler then sees the code the
 * thread was running (the escape from compiled LuaJIT code needs that:
 * with a higher number it saw the other handler's entry every tick). */
#define LIMITS_SIGNAL SIGUSR2
#define TICK_MIN_S 0.01
#define TICK_MAX_S 0.25

void lbt_limits_init(lbt_limits *lim, size_t cap, double budget) {
  memset(lim, 0, sizeof *lim);
  lim->cap = cap;
  lim->budget = budget > 0 ? budget : 0;
}

/* The worker's lua_Alloc: realloc/free, refusing growth past the cap (Lua
 * then collects garbage, retries, and raises "not enough memory"). */
void *lbt_limits_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  lbt_limits *lim = (lbt_limits *)ud;
  size_t old = ptr != NULL ? osize : 0; /* osize is a type tag for NULL */
  if (nsize == 0) {
    free(ptr);
    lim->used -= old;
    return NULL;
  }
  if (nsize > old && lim->cap > 0 && lim->used + (nsize - old) > lim->cap) {
    if (!lim->mem_tripped) lim->tripped_callback = lim->callback;
    lim->mem_tripped = 1;
    return NULL;
  }
  void *block = realloc(ptr, nsize);
  if (block == NULL) return NULL;
  lim->used = lim->used - old + nsize;
  return block;
}

/* "1 GiB", "64 MiB", "1000 bytes": the cap as given, in its largest unit. */
static void format_size(size_t bytes, char *buf, size_t size) {
  static const char *const UNITS[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  size_t value = bytes;
  while (unit < 4 && value >= 1024 && value % 1024 == 0) {
    value /= 1024;
    unit++;
  }
  snprintf(buf, size, "%zu %s", value, UNITS[unit]);
}

const char *lbt_limits_message(const lbt_limits *lim, char *buf,
                               size_t size) {
  const char *who = lim->tripped_callback;
  if (lim->tripped) {
    snprintf(buf, size, "%s: exceeded the time budget of %g s (--budget)",
             who ? who : "strategy", lim->budget);
    return buf;
  }
  if (lim->mem_tripped) {
    char cap[32];
    format_size(lim->cap, cap, sizeof cap);
    snprintf(buf, size, "%s%sexceeded the memory cap of %s (--memory-cap)",
             who ? who : "", who ? ": " : "", cap);
    return buf;
  }
  return NULL;
}

/* The count hook armed once the budget is spent: raises while a callback
 * runs (a pcall in the strategy meets it again 1000 instructions later);
 * outside callbacks (the error unwinding through btlua's own code) it
 * removes itself. */
static void budget_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lbt_limits *lim = lbt_limits_current;
  if (lim == NULL || !lim->tripped || lim->callback == NULL) {
    lua_sethook(L, NULL, 0, 0);
    return;
  }
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1000);
  char msg[200];
  lua_pushstring(L, lbt_limits_message(lim, msg, sizeof msg));
  lua_error(L);
}

int lbt_limits_claim_hook(lua_State *L) {
  lbt_limits *lim = lbt_limits_current;
  if (lim == NULL || !lim->tripped || lim->callback == NULL || lim->L != L)
    return 0;
  lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
  return 1;
}

/* --- the escape from compiled LuaJIT code (see the top) -------------- */

#if LUA_VERSION_NUM < 502 && defined(__linux__) &&                             \
    (defined(__x86_64__) || defined(__aarch64__))
#define ESCAPE_SUPPORTED 1

/* The program counter the signal interrupted. */
static uintptr_t interrupted_pc(const void *context) {
  const ucontext_t *uc = (const ucontext_t *)context;
#if defined(__x86_64__)
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#else
  return (uintptr_t)uc->uc_mcontext.pc;
#endif
}

/* A hexadecimal number at *p (advanced past it). */
static uintptr_t parse_hex(const char **p, const char *end) {
  uintptr_t value = 0;
  for (; *p < end; (*p)++) {
    char c = **p;
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
    if (digit < 0) break;
    value = value * 16 + (uintptr_t)digit;
  }
  return value;
}

/* Skips the spaces, then one field, at *p. */
static const char *skip_field(const char *p, const char *end) {
  while (p < end && *p == ' ') p++;
  while (p < end && *p != ' ') p++;
  return p;
}

/* Does the /proc/self/maps line [p, end) ("lo-hi perms offset dev inode
 * [path]") map pc anonymously (inode 0, no name) and executably? */
static int anonymous_code_line(const char *p, const char *end,
                               uintptr_t pc) {
  uintptr_t lo = parse_hex(&p, end);
  if (p >= end || *p != '-') return 0;
  p++;
  uintptr_t hi = parse_hex(&p, end);
  if (pc < lo || pc >= hi) return 0;
  if (end - p < 5 || p[0] != ' ' || p[3] != 'x') return 0; /* " r-xp" */
  p = skip_field(p, end);         /* perms */
  p = skip_field(p, end);         /* offset */
  p = skip_field(p, end);         /* device */
  while (p < end && *p == ' ') p++;
  if (p >= end || *p != '0') return 0; /* inode */
  p++;
  while (p < end && *p == ' ') p++;
  return p == end; /* no path, not [vdso] or [vsyscall] */
}

/* Is pc inside an anonymous executable mapping of this process? Only
 * open, read and close (async-signal-safe); a line longer than the buffer
 * names a file, so it is skipped. */
static int in_anonymous_code(uintptr_t pc) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[2048];
  size_t len = 0;
  int skipping = 0, found = 0;
  while (!found) {
    ssize_t n = read(fd, buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    size_t line = 0;
    for (size_t i = 0; i < len && !found; i++) {
      if (buf[i] != '\n') continue;
      if (!skipping) found = anonymous_code_line(buf + line, buf + i, pc);
      skipping = 0;
      line = i + 1;
    }
    for (size_t i = line; i < len; i++) buf[i - line] = buf[i];
    len -= line;
    if (len == sizeof buf) { /* no end of line in sight */
      skipping = 1;
      len = 0;
    }
  }
  close(fd);
  return found;
}

/* Once the budget tripped and the hook had its grace: if the signal
 * interrupted trace code, leaves the state for good (back to
 * lbt_limits_pcall); else returns. */
static void maybe_escape(lbt_limits *lim, const void *context) {
  if (!lim->tripped || lim->callback == NULL || !lim->escape_armed ||
      lim->ticks_tripped <= LBT_LIMITS_GRACE || context == NULL)
    return;
  int saved_errno = errno;
  int in_trace = in_anonymous_code(interrupted_pc(context));
  errno = saved_errno;
  if (!in_trace) return;
  lim->escape_armed = 0;
  lim->escaped = 1;
  lim->callback = NULL; /* from now on the handler ignores the state */
  lim->L = NULL;
  siglongjmp(lim->escape, 1);
}
#else
#define ESCAPE_SUPPORTED 0
#endif

void lbt_limits_offer_escape(const void *context) {
#if ESCAPE_SUPPORTED
  lbt_limits *lim = lbt_limits_current;
  if (lim != NULL && lim->L != NULL) maybe_escape(lim, context);
#else
  (void)context;
#endif
}

#if ESCAPE_SUPPORTED
/* Abandoned states, kept until exit on purpose: the list keeps them (and
 * through them every block their heap points to) reachable, so that a
 * memory checker (tests/memcheck, BTLUA_VALGRIND=1) sees memory retained
 * by design rather than lost. Never walked, never freed. */
typedef struct abandoned {
  lua_State *L;
  struct abandoned *next;
} abandoned;
static abandoned *abandoned_states;
static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;

static void keep_abandoned(lua_State *L) {
  abandoned *node = malloc(sizeof *node);
  if (node == NULL) return; /* then it is merely lost: it was leaked anyway */
  node->L = L;
  pthread_mutex_lock(&abandoned_lock);
  node->next = abandoned_states;
  abandoned_states = node;
  pthread_mutex_unlock(&abandoned_lock);
}
#endif

int lbt_limits_pcall(lbt_limits *lim, lua_State *L, int nargs, int nres,
                     int msgh) {
#if ESCAPE_SUPPORTED
  if (sigsetjmp(lim->escape, 1) != 0) { /* escape(): the state is lost */
    lbt_limits_stop(lim);
    lbt_prof_abandon();
    keep_abandoned(L);
    return LBT_LIMITS_ESCAPED;
  }
  lim->escape_armed = 1;
#endif
  int status = lua_pcall(L, nargs, nres, msgh);
  lim->escape_armed = 0;
  return status;
}

/* The watchdog tick (on the worker thread: SIGEV_THREAD_ID). */
static void limits_signal(int sig, siginfo_t *info, void *context) {
  (void)sig;
  (void)context;
  lbt_limits *lim = lbt_limits_current;
  if (lim == NULL || lim->L == NULL) return;
  const char *callback = lim->callback;
  if (callback == NULL) {
    lim->ticks = 0;
    return;
  }
  if (lim->tripped) { /* re-arm: a profiler hook may have replaced ours */
    lua_sethook(lim->L, budget_hook, LUA_MASKCOUNT, 1);
    lim->ticks_tripped++;
    if (lbt_limits_stuck != NULL && lim->ticks_tripped > lim->ticks_stuck)
      report_stuck(lim);
#if ESCAPE_SUPPORTED
    maybe_escape(lim, context);
#endif
    return;
  }
  sig_atomic_t calls = lim->calls;
  if (calls != lim->seen_calls) { /* a new call since the last tick */
    lim->seen_calls = calls;
    lim->ticks = 0;
  }
  lim->ticks += 1 + (info != NULL && info->si_overrun > 0 ? info->si_overrun
                                                           : 0);
  if (lim->ticks >= lim->ticks_budget) {
    lim->tripped_callback = callback;
    lim->ticks_tripped = 0;
    lim->tripped = 1;
    lua_sethook(lim->L, budget_hook, LUA_MASKCOUNT, 1);
  }
}

static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static int handler_status;

static void install_handler(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = limits_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  handler_status = sigaction(LIMITS_SIGNAL, &action, NULL);
}

/* Makes lim the limits of this thread's state L and starts the watchdog.
 * Returns 0, or -1 with errno (then only the memory cap applies). */
int lbt_limits_start(lbt_limits *lim, lua_State *L) {
  lim->L = L;
  lbt_limits_current = lim;
  if (lim->budget <= 0) return 0;
  pthread_once(&handler_once, install_handler);
  if (handler_status != 0) return -1;
  double tick = lim->budget / 20;
  if (tick < TICK_MIN_S) tick = TICK_MIN_S;
  if (tick > TICK_MAX_S) tick = TICK_MAX_S;
  lim->ticks_budget = (long)ceil(lim->budget / tick);
  lim->ticks_stuck = (long)ceil(LBT_LIMITS_STUCK_S / tick);
  snprintf(lim->budget_text, sizeof lim->budget_text, "%g", lim->budget);
  struct sigevent event;
  memset(&event, 0, sizeof event);
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = LIMITS_SIGNAL;
  event._sigev_un._tid = (pid_t)syscall(SYS_gettid);
  if (timer_create(CLOCK_THREAD_CPUTIME_ID, &event, &lim->timer) != 0)
    return -1;
  struct itimerspec spec;
  spec.it_interval.tv_sec = (time_t)tick;
  spec.it_interval.tv_nsec = (long)((tick - (double)(time_t)tick) * 1e9);
  spec.it_value = spec.it_interval;
  lim->timer_on = 1;
  return timer_settime(lim->timer, 0, &spec, NULL);
}

void lbt_limits_stop(lbt_limits *lim) {
  if (lim->timer_on) {
    timer_delete(lim->timer);
    lim->timer_on = 0;
  }
  lim->callback = NULL;
  if (lbt_limits_current == lim) lbt_limits_current = NULL;
  lim->L = NULL;
}

/* --- Lua side -------------------------------------------------------- */

/* Names given from Lua are copied here (the watchdog reads the pointer). */
static _Thread_local char lua_callback_name[64];

/* limits.enter(name): a strategy callback starts. */
static int limits_enter(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  if (lbt_limits_current == NULL) return 0;
  lbt_limits_current->callback = NULL;
  /* A new call from Lua starts with a fresh budget (loading several
   * scenario files in one process: one that looped fails alone). */
  lbt_limits_current->tripped = 0;
  lbt_limits_current->ticks = 0;
  snprintf(lua_callback_name, sizeof lua_callback_name, "%s", name);
  lbt_limits_enter(lua_callback_name);
  return 0;
}

/* limits.leave([quiet]): the callback returned (or raised); raises the
 * limit's message if one tripped (the strategy caught the error), unless
 * quiet. */
static int limits_leave(lua_State *L) {
  lbt_limits_leave();
  lbt_limits *lim = lbt_limits_current;
  char msg[256];
  if (!lua_toboolean(L, 1) && lim != NULL &&
      lbt_limits_message(lim, msg, sizeof msg) != NULL) {
    lua_pushstring(L, msg);
    return lua_error(L);
  }
  return 0;
}

/* limits.current() -> { budget, memory_cap, used } | nil */
static int limits_current(lua_State *L) {
  lbt_limits *lim = lbt_limits_current;
  if (lim == NULL) return 0;
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, lim->budget);
  lua_setfield(L, -2, "budget");
  lua_pushnumber(L, (lua_Number)lim->cap);
  lua_setfield(L, -2, "memory_cap");
  lua_pushnumber(L, (lua_Number)lim->used);
  lua_setfield(L, -2, "used");
  return 1;
}

static const luaL_Reg limits_funcs[] = {
  {"enter", limits_enter},
  {"leave", limits_leave},
  {"current", limits_current},
  {NULL, NULL},
};

int luaopen_btlua_limits(lua_State *L) {
  luaL_newlib(L, limits_funcs);
  lua_pushnumber(L, LBT_LIMITS_BUDGET_DEFAULT);
  lua_setfield(L, -2, "default_budget");
  lua_pushnumber(L, (lua_Number)LBT_LIMITS_CAP_DEFAULT);
  lua_setfield(L, -2, "default_memory_cap");
  return 1;
}
