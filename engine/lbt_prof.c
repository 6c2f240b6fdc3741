/* lbt_prof.c: btlua.core.prof: Lua function profiling by call/return hooks
 * (shadow stack per coroutine, keyed by function identity; the totals,
 * edges, calling-context tree and folded samples are the core
 * collector's, profcol.c),
 * statistical sampling (timer signal + one-shot hook, luaJIT_profile on
 * LuaJIT), a counting lua_Alloc with an RSS timeline, function keys
 * (profkey.c builds them) and the Lua API (lbt_prof.h). */
#define _GNU_SOURCE
#include "lbt_prof.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "lbt_limits.h"
#include "lbt_proffile.h"
#include "profcol.h"
#include "profkey.h"

#if LUA_VERSION_NUM < 502
#define BT_HOOK_TAILCALL (-1) /* LuaJIT reports tail calls as calls */
#define BT_LUAJIT_STACK 1     /* C functions get no return events */
/* Hooks do not fire inside compiled traces: cycles mode runs interpreted. */
#define jit_engine(L, on)                                                      \
  luaJIT_setmode(                                                              \
      (L), 0, LUAJIT_MODE_ENGINE | ((on) ? LUAJIT_MODE_ON : LUAJIT_MODE_OFF))
#define jit_flush(L)                                                           \
  luaJIT_setmode((L), 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_FLUSH)

/* Is the JIT on (jit.status())? So stop can restore what start found. */
static int jit_is_on(lua_State *L) {
  int on = 1;
  lua_getglobal(L, "jit");
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_getfield(L, -1, "status");
    if (lua_isfunction(L, -1) && lua_pcall(L, 0, 1, 0) == 0)
      on = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return on;
}
#else
#define BT_HOOK_TAILCALL LUA_HOOKTAILCALL
#define BT_LUAJIT_STACK 0
#define jit_engine(L, on) ((void)(L), (void)(on))
#define jit_flush(L) ((void)(L))
#define jit_is_on(L) ((void)(L), 0)
#endif

enum { MODE_NONE, MODE_CYCLES, MODE_SAMPLE, MODE_MEMORY };
static const char *const MODE_NAMES[] = {"none", "cycles", "sample", "memory",
                                         NULL};

#define SAMPLE_MAX_DEPTH 256
#define TIMELINE_MAX 4096      /* RSS points kept (decimated beyond) */

/* ---- profile state -------------------------------------------------- */

/* What the binding knows of a function (one prototype for Lua functions,
 * one lua_CFunction for C functions): its names and identity. Its totals
 * are the collector's (pr->col.fns, same index; profile ticks, hook cost
 * excluded). */
typedef struct fn_entry {
  int hidden; /* the profiler's own stop() */
  int is_c;
  int named;         /* the name came from a call site or a module field */
  int first_closure; /* its first closure's index in the funcs table */
  int name_tries;    /* > 0: no name yet; calls left to look for one */
  char *name, *source;
  char *key;   /* profkey.h: built at p:data() */
  int is_file; /* source is a file path */
  int line;
  const void *proto_source; /* identity of the prototype (with lines) */
  int proto_line, proto_last;
} fn_entry;

/* A shadow stack per lua_State (main thread or coroutine). Thread ticks =
 * profile ticks - paused, where paused sums the spans the coroutine was
 * suspended, so a frame that yields is not charged for the wait. */
typedef struct thread_state {
  lua_State *L;
  bt_profcol_stack stack; /* frame tags: Lua 5.4's CallInfo */
  uint64_t paused, paused_at, seg_start;
  int chained;
} thread_state;

typedef struct rss_point {
  uint64_t t_ns, rss;
} rss_point;

typedef struct lbt_prof {
  bt_prof *bp;
  int mode, zones, running, started, stopped;
  lua_State *L;  /* the thread hooked by start */
  int funcs_ref; /* registry table: index -> function (kept alive) */
  int names_ref; /* registry list of {table, prefix} (p:names), or NOREF */
  char *root;    /* prof.new{root=}: scenario directory for keys, or NULL */
  char *package_path; /* package.path at p:start (module names in keys) */
  int meta_ref;  /* the last meta table given to data/btprof, or NOREF */
  uint64_t interval_ns;
  uint64_t start_unix_ns;
  /* functions and edges */
  fn_entry *fns;
  size_t nfns, cap_fns;
  bt_profcol col; /* function totals, edges, calling contexts */
  bt_profcol_map by_pointer, by_proto, thread_map;
  thread_state *threads;
  size_t nthreads, cap_threads;
  int *chain; /* thread indices: who resumed whom */
  size_t nchain, cap_chain;
  thread_state *cur; /* thread of the last event */
  /* Calibrated hook cost per event, subtracted from every open frame and
   * zone (ticks); slow events (first sight of a function, a coroutine
   * switch) add their measured time. */
  uint64_t excl_call, excl_ret;
  int slow;
  int jit_was_on;    /* LuaJIT: the JIT was on at start (cycles turns it off) */
  uint64_t last_now; /* profile ticks of the last event (monotonic) */
  uint64_t events;
  /* sampling */
  timer_t timer;
  int timer_on;
  int jit_sampler; /* LuaJIT: this profiler owns luaJIT_profile_start */
  int jit_sampled; /* it did (jit_sampler is cleared at stop) */
  sigset_t jit_old_mask; /* its thread's signal mask before it */
  volatile sig_atomic_t pending, pending_zone, missed;
  volatile sig_atomic_t tick_zone; /* LuaJIT: the zone at its last tick */
  uint64_t zone_samples[BT_ZONE_COUNT];
  /* memory */
  lua_Alloc old_alloc;
  void *old_ud;
  int alloc_wrapped;
  int64_t lua_live, lua_peak;
  uint64_t outside_bytes; /* allocated with no profiled frame open */
  int in_hook; /* the profiler's own allocations are charged to nobody */
  pthread_t rss_thread;
  int rss_on;
  pthread_mutex_t rss_lock;
  pthread_cond_t rss_wake;
  int rss_stop;
  rss_point *timeline;
  size_t ntimeline, cap_timeline;
  uint64_t rss_every_ns;
} lbt_prof;

static _Thread_local lbt_prof *tls_prof; /* the running profiler */

static int prof_stop(lua_State *L);

/* ---- functions ------------------------------------------------------ */

static char *dup_text(const char *text) {
  size_t len = strlen(text);
  char *copy = (char *)malloc(len + 1);
  if (copy != NULL) memcpy(copy, text, len + 1);
  return copy;
}

/* A display name and source for the function of `ar` ("Sn" filled). */
static void describe(fn_entry *fn, const lua_Debug *ar) {
  const char *source = ar->source ? ar->source : "?";
  if (source[0] == '@' || source[0] == '=')
    source++;
  else
    source = "[string]";
  const char *name = ar->name;
  fn->name_tries = name == NULL && strcmp(ar->what, "main") != 0 ? 8 : 0;
  fn->named = name != NULL || strcmp(ar->what, "main") == 0;
  if (name == NULL) {
    if (strcmp(ar->what, "main") == 0)
      name = "main chunk";
    else if (strcmp(ar->what, "C") == 0)
      name = "?";
    else
      name = "<anonymous>";
  }
  fn->name = dup_text(name);
  fn->is_file = ar->source != NULL && ar->source[0] == '@';
  fn->source = dup_text(strcmp(ar->what, "C") == 0 ? "[C]" : source);
  fn->line = ar->linedefined > 0 ? ar->linedefined : 0;
}

/* Index of the function on top of L's stack (popped by the caller), whose
 * activation is `ar`; registers it on first sight (once per closure: keeps
 * it alive so its address is never reused, names it once). -1 on ENOMEM. */
static int fn_index_named(lbt_prof *pr, lua_State *L, lua_Debug *ar,
                          int may_name) {
  const void *ptr = lua_topointer(L, -1);
  int32_t idx = bt_profcol_map_get(&pr->by_pointer, (uint64_t)(uintptr_t)ptr);
  if (idx >= 0) return idx;
  lua_getinfo(L, may_name ? "Snu" : "Su", ar);
  if (!may_name) ar->name = NULL;
  uint64_t proto;
  int is_c = ar->what[0] == 'C';
  lua_CFunction cfn = lua_tocfunction(L, -1);
  if (is_c && cfn != NULL)
    proto = (uint64_t)(uintptr_t)cfn; /* C closures of one function merge */
  else if (is_c && ar->nups > 0)
    proto = 1; /* LuaJIT: the functions coroutine.wrap makes */
  else if (is_c)
    proto = (uint64_t)(uintptr_t)ptr; /* LuaJIT builtins: one object each */
  else
    proto = bt_profcol_mix64((uint64_t)(uintptr_t)ar->source ^
                  ((uint64_t)(unsigned)ar->linedefined << 40) ^
                  ((uint64_t)(unsigned)ar->lastlinedefined << 20));
  idx = bt_profcol_map_get(&pr->by_proto, proto);
  if (idx >= 0) {
    fn_entry *same = &pr->fns[idx];
    if (!is_c && (same->proto_source != ar->source ||
                  same->proto_line != ar->linedefined ||
                  same->proto_last != ar->lastlinedefined))
      idx = -1; /* a hash collision: a distinct prototype */
  }
  pr->slow = 1;
  if (idx < 0) {
    if (bt_profcol_grow((void **)&pr->fns, &pr->cap_fns, pr->nfns + 1,
                        sizeof(fn_entry)) ||
        bt_profcol_fn_new(&pr->col) != (int)pr->nfns)
      return -1;
    idx = (int32_t)pr->nfns++;
    fn_entry *fn = &pr->fns[idx];
    memset(fn, 0, sizeof *fn);
    describe(fn, ar);
    fn->proto_source = is_c ? NULL : ar->source;
    fn->is_c = is_c;
    fn->proto_line = ar->linedefined;
    fn->proto_last = ar->lastlinedefined;
    fn->hidden = cfn == prof_stop;
    if (bt_profcol_map_get(&pr->by_proto, proto) < 0) bt_profcol_map_put(&pr->by_proto, proto, idx);
  }
  bt_profcol_map_put(&pr->by_pointer, (uint64_t)(uintptr_t)ptr, idx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, pr->funcs_ref);
  lua_pushvalue(L, -2);
  int slot = (int)lua_rawlen(L, -2) + 1;
  lua_rawseti(L, -2, slot);
  lua_pop(L, 1);
  if (pr->fns[idx].first_closure == 0) pr->fns[idx].first_closure = slot;
  return idx;
}

static int fn_index(lbt_prof *pr, lua_State *L, lua_Debug *ar) {
  return fn_index_named(pr, L, ar, 1);
}

/* Index of the function at stack level `level` of L, or -1. */
static int fn_at_level(lbt_prof *pr, lua_State *L, int level) {
  lua_Debug ar;
  if (!lua_getstack(L, level, &ar)) return -1;
  lua_getinfo(L, "f", &ar);
  int idx = fn_index(pr, L, &ar);
  lua_pop(L, 1);
  return idx;
}

/* ---- shadow stacks -------------------------------------------------- */

static uint64_t thread_ticks(const thread_state *ts, uint64_t now) {
  return now - ts->paused;
}

/* Closes the top frame of ts at thread time `at`. */
static void frame_close(lbt_prof *pr, thread_state *ts, uint64_t at) {
  bt_profcol_pop(&pr->col, &ts->stack, at, pr->bp->engine_ticks);
}

static void close_all(lbt_prof *pr, thread_state *ts, uint64_t at) {
  while (ts->stack.depth > 0)
    frame_close(pr, ts, at);
}

static thread_state *thread_find(lbt_prof *pr, lua_State *L) {
  int32_t idx = bt_profcol_map_get(&pr->thread_map, (uint64_t)(uintptr_t)L);
  if (idx >= 0) return &pr->threads[idx];
  if (bt_profcol_grow((void **)&pr->threads, &pr->cap_threads, pr->nthreads + 1,
           sizeof(thread_state)))
    return NULL;
  idx = (int32_t)pr->nthreads++;
  thread_state *ts = &pr->threads[idx];
  memset(ts, 0, sizeof *ts);
  ts->L = L;
  if (bt_profcol_map_put(&pr->thread_map, (uint64_t)(uintptr_t)L, idx) != 0) return NULL;
  pr->cur = NULL; /* threads may have moved */
  return ts;
}

/* Ends the running segment of the chain's top thread at `now`: it is
 * suspended (paused) and its run time is a callee of its resumer's top
 * frame. A coroutine that died of an error has its frames closed. */
static void chain_pop(lbt_prof *pr, uint64_t now) {
  thread_state *ts = &pr->threads[pr->chain[--pr->nchain]];
  ts->chained = 0;
  ts->paused_at = now;
  int status = lua_status(ts->L);
  if (status != LUA_OK && status != LUA_YIELD)
    close_all(pr, ts, thread_ticks(ts, now));
  if (pr->nchain > 0) {
    thread_state *resumer = &pr->threads[pr->chain[pr->nchain - 1]];
    if (resumer->stack.depth > 0)
      resumer->stack.frames[resumer->stack.depth - 1].child += now - ts->seg_start;
  }
}

/* The shadow stack for an event on L at profile time `now`, following
 * coroutine switches: a thread already in the chain means the ones above
 * it yielded or finished; a new one was resumed by the chain's top. */
static thread_state *thread_switch(lbt_prof *pr, lua_State *L, uint64_t now,
                                   int is_call) {
  if (pr->cur != NULL && pr->cur->L == L) return pr->cur;
  thread_state *ts = thread_find(pr, L);
  if (ts == NULL) return NULL;
  pr->slow = 1;
  int idx = (int)(ts - pr->threads);
  if (ts->chained) {
    while (pr->nchain > 0 && pr->chain[pr->nchain - 1] != idx)
      chain_pop(pr, now);
  } else {
    if (bt_profcol_grow((void **)&pr->chain, &pr->cap_chain, pr->nchain + 1, sizeof(int)))
      return NULL;
    lua_Debug ar;
    if (ts->stack.depth > 0 && is_call && !lua_getstack(L, 1, &ar)) {
      /* A fresh coroutine at an address a dead one used: drop the dead
       * one's frames where it stopped. */
      close_all(pr, ts, thread_ticks(ts, ts->paused_at));
    }
    if (ts->stack.depth == 0)
      ts->paused = 0; /* nothing open: start the thread clock afresh */
    else if (ts->paused_at != 0)
      ts->paused += now - ts->paused_at; /* it was suspended until now */
    ts->paused_at = 0;
    ts->chained = 1;
    ts->seg_start = now;
    pr->chain[pr->nchain++] = idx;
  }
  pr->cur = ts;
  return ts;
}

/* A new frame of fn on ts; a coroutine's first frame is called by its
 * resumer's top frame. */
static int push_frame(lbt_prof *pr, thread_state *ts, int fn, const void *ci,
                      uint64_t now) {
  const bt_profcol_frame *outer = NULL;
  if (ts->stack.depth == 0 && pr->nchain > 1) {
    thread_state *resumer = &pr->threads[pr->chain[pr->nchain - 2]];
    if (resumer->stack.depth > 0)
      outer = &resumer->stack.frames[resumer->stack.depth - 1];
  }
  return bt_profcol_push(&pr->col, &ts->stack, outer, fn, ci,
                         thread_ticks(ts, now), pr->bp->engine_ticks);
}

#if !BT_LUAJIT_STACK
/* Closes the newest frame whose CallInfo is ci and every frame above it;
 * nothing when no frame has it (an activation older than the profile). */
static void close_from_ci(lbt_prof *pr, thread_state *ts, const void *ci,
                          uint64_t at) {
  for (size_t k = ts->stack.depth; k-- > 0;) {
    if (ts->stack.frames[k].tag == ci) {
      while (ts->stack.depth > k)
        frame_close(pr, ts, at);
      return;
    }
  }
}
#endif

#if BT_LUAJIT_STACK
/* Closes frames above the newest frame of function fn; returns its depth
 * index or -1 when fn is not on the stack. */
static long find_frame(const thread_state *ts, int fn) {
  for (size_t k = ts->stack.depth; k-- > 0;)
    if (ts->stack.frames[k].fn == fn) return (long)k;
  return -1;
}
#endif

/* A function first seen without a name (tail call, called by pcall) gets
 * a few more chances from later call sites. */
static void name_again(fn_entry *fn, lua_State *L, lua_Debug *ar, int tail) {
  fn->name_tries--;
  if (tail) return;
  lua_getinfo(L, "n", ar);
  if (ar->name == NULL) return;
  char *name = dup_text(ar->name);
  if (name == NULL) return;
  free(fn->name);
  fn->name = name;
  fn->name_tries = 0;
  fn->named = 1;
}

#if BT_LUAJIT_STACK
/* LuaJIT: C functions and tail-replaced frames never report a return, so
 * before a call, frames above the real caller are closed. */
static int reconcile(lbt_prof *pr, thread_state *ts, lua_State *L,
                     uint64_t at) {
  if (ts->stack.depth == 0) return 0;
  int parent = fn_at_level(pr, L, 1);
  if (parent < 0 || ts->stack.frames[ts->stack.depth - 1].fn == parent) return 0;
  long k = find_frame(ts, parent);
  if (k < 0) return 0;
  int replaced = 0;
  while ((long)ts->stack.depth > k + 1) {
    replaced |= !pr->fns[ts->stack.frames[ts->stack.depth - 1].fn].is_c;
    frame_close(pr, ts, at);
  }
  return replaced;
}
#endif

static void on_call(lbt_prof *pr, thread_state *ts, lua_State *L, lua_Debug *ar,
                    uint64_t now, int tail) {
  uint64_t at = thread_ticks(ts, now);
#if BT_LUAJIT_STACK
  /* Frames closed here were replaced by a tail call (or were C functions
   * that returned); LuaJIT then names the callee after the caller's call
   * site, so no name is taken from this event. */
  int replaced = reconcile(pr, ts, L, at);
  const void *ci = NULL;
#else
  int replaced = tail;
  const void *ci = (const void *)ar->i_ci;
  /* A CallInfo in use again (not by a tail call): frames from it up died
   * in an error caught by a C-level lua_pcall. */
  if (!tail && ts->stack.depth > 0 && ts->stack.frames[ts->stack.depth - 1].tag == ci)
    close_from_ci(pr, ts, ci, at);
#endif
  lua_getinfo(L, "f", ar);
  int fn = fn_index_named(pr, L, ar, !replaced);
  lua_pop(L, 1);
  if (fn < 0) return;
  if (pr->fns[fn].name_tries > 0) name_again(&pr->fns[fn], L, ar, replaced);
  /* A tail call ends the calling frame: the callee is shown as called by
   * the frame below (as on LuaJIT, which cannot tell tail calls apart). */
  if (tail && ts->stack.depth > 0 && ts->stack.frames[ts->stack.depth - 1].tag == ci)
    frame_close(pr, ts, at); /* the frame the tail call replaced */
  push_frame(pr, ts, fn, ci, now);
}

/* A return closes the frame of the returning activation and every frame
 * above it (those were unwound by an error caught below). Lua 5.4 tells
 * activations apart by CallInfo (one per stack depth, public in
 * lua_Debug.i_ci), so no lookup is needed; LuaJIT matches the function. */
static void on_return(lbt_prof *pr, thread_state *ts, lua_State *L,
                      lua_Debug *ar, uint64_t now) {
#if !BT_LUAJIT_STACK
  (void)L;
  if (ts->stack.depth == 0) return;
  const void *ci = (const void *)ar->i_ci;
  uint64_t at = thread_ticks(ts, now);
  if (ts->stack.frames[ts->stack.depth - 1].tag == ci) {
    frame_close(pr, ts, at);
    return;
  }
  close_from_ci(pr, ts, ci, at);
#else
  lua_getinfo(L, "f", ar);
  int32_t fn =
      bt_profcol_map_get(&pr->by_pointer, (uint64_t)(uintptr_t)lua_topointer(L, -1));
  lua_pop(L, 1);
  if (fn < 0) return;
  long k = find_frame(ts, fn);
  if (k < 0) return;
  uint64_t at = thread_ticks(ts, now);
  while ((long)ts->stack.depth > k)
    frame_close(pr, ts, at);
#endif
}

static void cycles_hook(lua_State *L, lua_Debug *ar) {
  uint64_t t_in = bt_prof_ticks();
  lbt_prof *pr = tls_prof;
  if (pr == NULL || !pr->running ||
      (pr->mode != MODE_CYCLES && pr->mode != MODE_MEMORY)) {
    lua_sethook(L, NULL, 0, 0); /* a coroutine outliving the profiler */
    return;
  }
  uint64_t now = bt_prof_pticks_at(pr->bp, t_in);
  /* The calibrated cost can exceed a short gap between two events: never
   * let profile time run backwards (forgive the excess). */
  if ((int64_t)(now - pr->last_now) < 0 && pr->events > 0) {
    pr->bp->excluded = t_in - pr->last_now;
    now = pr->last_now;
  }
  pr->last_now = now;
  int is_call = ar->event == LUA_HOOKCALL || ar->event == BT_HOOK_TAILCALL;
  pr->slow = 0;
  pr->in_hook = 1;
  thread_state *ts = thread_switch(pr, L, now, is_call);
  if (ts != NULL) {
    if (is_call)
      on_call(pr, ts, L, ar, now, ar->event == BT_HOOK_TAILCALL);
    else if (ar->event == LUA_HOOKRET)
      on_return(pr, ts, L, ar, now);
  }
  pr->events++;
  pr->in_hook = 0;
  uint64_t cost = is_call ? pr->excl_call : pr->excl_ret;
  if (pr->slow) cost += bt_prof_ticks() - t_in;
  bt_prof_exclude(pr->bp, cost);
}

/* Closes every open frame (at stop): running threads now, suspended ones
 * where they stopped. */
static void close_everything(lbt_prof *pr, uint64_t now) {
  while (pr->nchain > 0)
    chain_pop(pr, now);
  for (size_t i = 0; i < pr->nthreads; i++) {
    thread_state *ts = &pr->threads[i];
    close_all(pr, ts, thread_ticks(ts, ts->paused_at ? ts->paused_at : now));
  }
}

/* ---- hook cost calibration ------------------------------------------ */

static pthread_once_t calib_once = PTHREAD_ONCE_INIT;
static uint64_t calib_call_ticks, calib_ret_ticks; /* per event */
static double calib_pair_ns; /* hook overhead per call pair, ns */

static void prof_init(lbt_prof *pr, int mode, int zones);
static void prof_release(lbt_prof *pr);

/* One run of runner(n) (at index 1 of L), in ticks; hooked by pr if any. */
static uint64_t time_calls(lua_State *L, lbt_prof *pr, int n) {
  lua_pushvalue(L, 1);
  lua_pushinteger(L, n);
  if (pr) lua_sethook(L, cycles_hook, LUA_MASKCALL | LUA_MASKRET, 0);
  uint64_t t0 = bt_prof_ticks();
  lua_call(L, 1, 0);
  uint64_t t1 = bt_prof_ticks();
  if (pr) lua_sethook(L, NULL, 0, 0);
  return t1 - t0;
}

/* The hook cost to subtract, from a loop calling an empty function f, run
 * bare (T0 per iteration) and hooked with nothing subtracted (T1): f then
 * shows A per call (hook work after the call event's clock read, VM
 * dispatch, the return hook before its read) and the loop B = T1 - A.
 * Subtracting A at each call event and B - T0 at each return makes f
 * report ~0 and the loop its bare time; together T1 - T0 per pair. */
static void calibrate_hooks(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return;
  luaL_openlibs(L);
  const char *code = "local function f() end\n"
                     "return function(n) for i = 1, n do f() end end";
  if (luaL_loadstring(L, code) != LUA_OK) {
    lua_close(L);
    return;
  }
  lua_call(L, 0, 1);
  jit_engine(L, 0);
  lbt_prof *saved = tls_prof;
  const int n = 20000;
  uint64_t bare = UINT64_MAX, hooked = UINT64_MAX, leaf = 0;
  for (int round = 0; round < 9; round++) {
    uint64_t t = time_calls(L, NULL, n);
    if (t < bare) bare = t;
    lbt_prof probe;
    prof_init(&probe, MODE_CYCLES, 0);
    probe.excl_call = probe.excl_ret = 0;
    lua_newtable(L);
    probe.funcs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    probe.L = L;
    probe.running = 1;
    tls_prof = &probe;
    time_calls(L, &probe, 1); /* registrations out of the timed run */
    for (size_t i = 0; i < probe.col.nfns; i++)
      probe.col.fns[i].self = 0;
    t = time_calls(L, &probe, n);
    tls_prof = saved;
    if (t < hooked) {
      hooked = t;
      for (size_t i = 0; i < probe.col.nfns; i++)
        if (probe.col.fns[i].ncalls == (uint64_t)n + 1)
          leaf = probe.col.fns[i].self;
    }
    luaL_unref(L, LUA_REGISTRYINDEX, probe.funcs_ref);
    prof_release(&probe);
  }
  double pair = hooked > bare ? (double)(hooked - bare) / n : 0.0;
  double call = (double)leaf / n;
  if (call > pair) call = pair;
  calib_call_ticks = (uint64_t)call;
  calib_ret_ticks = (uint64_t)(pair - call);
  calib_pair_ns = pair / bt_prof_ticks_per_ns();
  lua_close(L);
}

/* The hook calibration, measured once per command and handed to each
 * run's process (about 20 ms saved per process): three numbers. */
void lbt_prof_calibration(double out[3]) {
  pthread_once(&calib_once, calibrate_hooks);
  out[0] = (double)calib_call_ticks;
  out[1] = (double)calib_ret_ticks;
  out[2] = calib_pair_ns;
}

static const double *given_calibration;

static void take_given_calibration(void) {
  calib_call_ticks = (uint64_t)given_calibration[0];
  calib_ret_ticks = (uint64_t)given_calibration[1];
  calib_pair_ns = given_calibration[2];
}

void lbt_prof_give_calibration(const double given[3]) {
  if (!(given[2] > 0)) return; /* none measured: measure here */
  given_calibration = given;
  pthread_once(&calib_once, take_given_calibration);
}

/* ---- sampling ------------------------------------------------------- */

/* Records the Lua stack of L as one sample of weight `count`. */
static void sample_stack(lbt_prof *pr, lua_State *L, int zone, uint64_t count) {
  int32_t leaf_first[SAMPLE_MAX_DEPTH], stack[SAMPLE_MAX_DEPTH];
  size_t depth = 0;
  while (depth < SAMPLE_MAX_DEPTH) {
    int fn = fn_at_level(pr, L, (int)depth);
    if (fn < 0) break;
    leaf_first[depth++] = fn;
  }
  for (size_t i = 0; i < depth; i++)
    stack[i] = leaf_first[depth - 1 - i];
  bt_profcol_sample_add(&pr->col, stack, depth, zone, count);
}

static void sample_hook(lua_State *L, lua_Debug *ar) {
  uint64_t t_in = bt_prof_ticks();
  (void)ar;
  if (!lbt_limits_claim_hook(L)) lua_sethook(L, NULL, 0, 0);
  lbt_prof *pr = tls_prof;
  if (pr == NULL || pr->mode != MODE_SAMPLE || !pr->running) return;
  uint64_t count = 1 + (uint64_t)pr->missed;
  pr->missed = 0;
  sample_stack(pr, L, (int)pr->pending_zone, count);
  pr->pending = 0;
  bt_prof_exclude(pr->bp, bt_prof_ticks() - t_in);
}

/* SAMPLE_SIGNAL: time in engine zones is counted here; time in Lua arms a
 * one-shot count hook that records the stack (lua_sethook is signal-safe). */
static void sample_signal(int sig, siginfo_t *info, void *context) {
  (void)sig;
  lbt_limits_offer_escape(context); /* a tripped budget first */
  lbt_prof *pr = tls_prof;
  if (pr == NULL || pr->mode != MODE_SAMPLE || !pr->running ||
      pr->jit_sampler)
    return;
  /* CPU-time timers fire on scheduler ticks: expiries in between are
   * reported as overruns and count as samples of the same state. */
  int overrun = info != NULL && info->si_overrun > 0 ? info->si_overrun : 0;
  int zone = bt_prof_zone_current(pr->bp);
  if (zone >= 0 && zone != BT_ZONE_STRATEGY) {
    pr->zone_samples[zone] += 1u + (unsigned)overrun;
    pr->col.sample_total += 1u + (unsigned)overrun;
    return;
  }
  if (pr->pending) {
    pr->missed += 1 + overrun;
    return;
  }
  if (lbt_limits_claim_hook(pr->L)) return; /* the budget's hook first */
  pr->pending = 1;
  pr->missed = overrun;
  pr->pending_zone = zone;
  lua_sethook(pr->L, sample_hook, LUA_MASKCOUNT, 1);
}

static pthread_mutex_t jit_profiler_lock = PTHREAD_MUTEX_INITIALIZER;
static lbt_prof *jit_profiler_owner; /* LuaJIT has one sampler per process */

#if LUA_VERSION_NUM < 502
/* LuaJIT delivers a sample at the VM's next safe point, in Lua code: a tick
 * that fell in the engine (C, the bar loop) would be charged to the next
 * Lua function. So its SIGPROF handler is chained behind one that notes
 * the zone at the tick; a tick in an engine zone counts for that zone. */
static struct sigaction jit_tick_next; /* LuaJIT's own handler */

static void jit_tick(int sig, siginfo_t *info, void *context) {
  lbt_prof *pr = jit_profiler_owner;
  if (pr != NULL) pr->tick_zone = bt_prof_zone_current(pr->bp);
  if (jit_tick_next.sa_flags & SA_SIGINFO)
    jit_tick_next.sa_sigaction(sig, info, context);
  else if (jit_tick_next.sa_handler != SIG_IGN &&
           jit_tick_next.sa_handler != SIG_DFL)
    jit_tick_next.sa_handler(sig);
}

/* Puts jit_tick in front of the handler luaJIT_profile_start installed
 * (luaJIT_profile_stop restores the one before it, removing both). */
static void jit_tick_install(void) {
  struct sigaction action;
  if (sigaction(SIGPROF, NULL, &jit_tick_next) != 0) return;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = jit_tick;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  action.sa_mask = jit_tick_next.sa_mask;
  sigaction(SIGPROF, &action, NULL);
}

static void jit_sample_cb(void *data, lua_State *L, int samples, int vmstate) {
  lbt_prof *pr = (lbt_prof *)data;
  (void)vmstate;
  if (!pr->running) return;
  int zone = pr->tick_zone;
  if (zone >= 0 && zone != BT_ZONE_STRATEGY) {
    pr->zone_samples[zone] += (uint64_t)samples;
    pr->col.sample_total += (uint64_t)samples;
    return;
  }
  sample_stack(pr, L, zone, (uint64_t)samples);
}
#endif

/* The portable sampler's signal: a real-time signal of its own, never
 * SIGPROF, which belongs to LuaJIT's sampler when one runs (its handler
 * would otherwise receive these ticks and touch another thread's state). */
#define SAMPLE_SIGNAL (SIGRTMIN + 5)

/* Makes sample_signal the SAMPLE_SIGNAL handler (process-wide; it ignores
 * threads whose profiler is not sampling with the timer). */
static int sample_signal_install(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = sample_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  return sigaction(SAMPLE_SIGNAL, &action, NULL);
}

/* The portable sampler: a CPU-time timer of this thread sends
 * SAMPLE_SIGNAL to this thread. */
static int timer_start(lbt_prof *pr, lua_State *L) {
  if (sample_signal_install() != 0)
    return luaL_error(L, "prof: sigaction: %s", strerror(errno));
  struct sigevent event;
  memset(&event, 0, sizeof event);
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = SAMPLE_SIGNAL;
  event._sigev_un._tid = (pid_t)syscall(SYS_gettid);
  if (timer_create(CLOCK_THREAD_CPUTIME_ID, &event, &pr->timer) != 0)
    return luaL_error(L, "prof: timer_create: %s", strerror(errno));
  struct itimerspec spec;
  spec.it_interval.tv_sec = (time_t)(pr->interval_ns / 1000000000u);
  spec.it_interval.tv_nsec = (long)(pr->interval_ns % 1000000000u);
  spec.it_value = spec.it_interval;
  pr->timer_on = 1;
  timer_settime(pr->timer, 0, &spec, NULL);
  return 0;
}

static int sampler_start(lbt_prof *pr, lua_State *L) {
#if LUA_VERSION_NUM < 502
  /* LuaJIT's own profiler keeps the JIT on, but there is one per process;
   * profilers running at the same time use the timer and a hook. */
  pthread_mutex_lock(&jit_profiler_lock);
  int busy = jit_profiler_owner != NULL;
  if (!busy) jit_profiler_owner = pr;
  pthread_mutex_unlock(&jit_profiler_lock);
  if (!busy) {
    /* luaJIT_profile_start arms ITIMER_PROF before it installs its SIGPROF
     * handler; a tick in between (seen under valgrind, where that window
     * is long) would kill the process with the default action: SIGPROF is
     * ignored first (LuaJIT restores that when it stops). ITIMER_PROF's
     * SIGPROF goes to any thread that does not block it, and LuaJIT's
     * handler changes the owner's state: the host blocks SIGPROF in every
     * thread (main.c) and only the owner's thread unblocks it. */
    pr->jit_sampler = 1;
    pr->jit_sampled = 1;
    signal(SIGPROF, SIG_IGN);
    sigset_t prof_set;
    sigemptyset(&prof_set);
    sigaddset(&prof_set, SIGPROF);
    pthread_sigmask(SIG_UNBLOCK, &prof_set, &pr->jit_old_mask);
    char mode[32];
    unsigned ms = (unsigned)(pr->interval_ns / 1000000u);
    snprintf(mode, sizeof mode, "i%u", ms ? ms : 1u);
    pr->tick_zone = -1;
    luaJIT_profile_start(L, mode, jit_sample_cb, pr);
    jit_tick_install();
    return 0;
  }
#else
  (void)jit_profiler_lock;
  (void)jit_profiler_owner;
#endif
  return timer_start(pr, L);
}

/* Stops the sampler's clocks (LuaJIT's sampler, the timer) without
 * touching the Lua state: shared by sampler_stop and lbt_prof_abandon. */
static void sampler_release(lbt_prof *pr) {
#if LUA_VERSION_NUM < 502
  pthread_mutex_lock(&jit_profiler_lock);
  if (jit_profiler_owner == pr) {
    luaJIT_profile_stop(pr->L);
    pthread_sigmask(SIG_SETMASK, &pr->jit_old_mask, NULL);
    jit_profiler_owner = NULL;
    pr->jit_sampler = 0;
  }
  pthread_mutex_unlock(&jit_profiler_lock);
#endif
  if (pr->timer_on) {
    timer_delete(pr->timer);
    pr->timer_on = 0;
  }
}

static void sampler_stop(lbt_prof *pr) {
  sampler_release(pr);
  if (pr->pending) lua_sethook(pr->L, NULL, 0, 0);
  pr->pending = 0;
}

/* ---- memory --------------------------------------------------------- */

/* The function charged for an allocation on ts: its top frame. LuaJIT
 * reports no return from a C function, so a C frame on top may have
 * returned already: when the running function is Lua, the newest Lua
 * frame is the one asking. (Reading the stack here is safe: the VM keeps
 * it consistent for any allocation, as the collector walks it.) */
static int alloc_owner(lbt_prof *pr, thread_state *ts) {
  int fn = ts->stack.frames[ts->stack.depth - 1].fn;
#if BT_LUAJIT_STACK
  lua_Debug ar;
  if (pr->fns[fn].is_c && lua_getstack(ts->L, 0, &ar) &&
      lua_getinfo(ts->L, "S", &ar) && ar.what[0] != 'C') {
    for (size_t k = ts->stack.depth; k-- > 0;)
      if (!pr->fns[ts->stack.frames[k].fn].is_c) return ts->stack.frames[k].fn;
  }
#else
  (void)pr;
#endif
  return fn;
}

/* The counting allocator: forwards to the state's own, notes the bytes on
 * the zones, and charges every byte handed out to the function on top of
 * the shadow stack (memory mode runs the call/return hooks). */
static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  lbt_prof *pr = (lbt_prof *)ud;
  void *block = pr->old_alloc(pr->old_ud, ptr, osize, nsize);
  if (block == NULL && nsize > 0) return NULL;
  size_t old = ptr ? osize : 0;
  size_t grown = nsize > old ? nsize - old : 0;
  size_t shrunk = old > nsize ? old - nsize : 0;
  bt_prof_mem_note(pr->bp, grown, shrunk);
  pr->lua_live += (int64_t)grown - (int64_t)shrunk;
  if (pr->lua_live > pr->lua_peak) pr->lua_peak = pr->lua_live;
  if (grown > 0 && pr->running && !pr->in_hook) {
    thread_state *ts = pr->cur;
    if (ts != NULL && ts->stack.depth > 0)
      pr->col.fns[alloc_owner(pr, ts)].alloc_bytes += grown;
    else
      pr->outside_bytes += grown;
  }
  return block;
}

/* Appends one RSS point (rss_lock held). */
static void rss_point_add(lbt_prof *pr) {
  uint64_t rss = bt_prof_rss_bytes();
  uint64_t t = bt_prof_now_ns() - pr->bp->wall_begin_ns;
  if (pr->ntimeline == TIMELINE_MAX) {
    for (size_t i = 0; i < TIMELINE_MAX / 2; i++) /* keep the peaks */
      pr->timeline[i] = pr->timeline[2 * i].rss >= pr->timeline[2 * i + 1].rss
                            ? pr->timeline[2 * i]
                            : pr->timeline[2 * i + 1];
    pr->ntimeline = TIMELINE_MAX / 2;
    pr->rss_every_ns *= 2;
  }
  if (bt_profcol_grow((void **)&pr->timeline, &pr->cap_timeline, pr->ntimeline + 1,
           sizeof(rss_point)) == 0)
    pr->timeline[pr->ntimeline++] = (rss_point){t, rss};
}

static void *rss_main(void *arg) {
  lbt_prof *pr = (lbt_prof *)arg;
  pthread_mutex_lock(&pr->rss_lock);
  while (!pr->rss_stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + pr->rss_every_ns;
    until.tv_sec += (time_t)(ns / 1000000000u);
    until.tv_nsec = (long)(ns % 1000000000u);
    pthread_cond_timedwait(&pr->rss_wake, &pr->rss_lock, &until);
    if (!pr->rss_stop) rss_point_add(pr);
  }
  pthread_mutex_unlock(&pr->rss_lock);
  return NULL;
}

static void memory_start(lbt_prof *pr, lua_State *L) {
  pr->old_alloc = lua_getallocf(L, &pr->old_ud);
  int kb = lua_gc(L, LUA_GCCOUNT, 0), bytes = lua_gc(L, LUA_GCCOUNTB, 0);
  pr->lua_live = (int64_t)kb * 1024 + bytes;
  pr->lua_peak = pr->lua_live;
  lua_setallocf(L, counting_alloc, pr);
  pr->alloc_wrapped = 1;
  bt_prof_mem_target_set(pr->bp); /* the engine's allocations on this thread */
  pr->rss_every_ns = pr->interval_ns;
  pr->rss_stop = 0;
  rss_point_add(pr); /* the start point; the thread adds the rest */
  if (pthread_create(&pr->rss_thread, NULL, rss_main, pr) == 0) pr->rss_on = 1;
}

/* Ends the RSS timeline thread (no Lua state involved). */
static void rss_thread_stop(lbt_prof *pr) {
  if (!pr->rss_on) return;
  pthread_mutex_lock(&pr->rss_lock);
  pr->rss_stop = 1;
  pthread_cond_signal(&pr->rss_wake);
  pthread_mutex_unlock(&pr->rss_lock);
  pthread_join(pr->rss_thread, NULL);
  pr->rss_on = 0;
}

static void memory_stop(lbt_prof *pr) {
  bt_prof_mem_target_set(NULL);
  if (pr->alloc_wrapped) {
    lua_setallocf(pr->L, pr->old_alloc, pr->old_ud);
    pr->alloc_wrapped = 0;
  }
  rss_thread_stop(pr);
  rss_point_add(pr); /* the end point */
}

/* ---- abandon: the time budget left this thread's state --------------- */

/* lbt_limits.h: the state of the profiler running on this thread was
 * abandoned in the middle of a compiled loop (lbt_limits.c). Stops its
 * timer, LuaJIT's sampler and the RSS thread; the state itself is only
 * touched by luaJIT_profile_stop (plain writes and frees of the JIT's own
 * traces and buffer; it calls Lua only for jit.attach handlers, which the
 * sandbox cannot reach). The profiler's memory is leaked with the state. */
void lbt_prof_abandon(void) {
  lbt_prof *pr = tls_prof;
  if (pr == NULL) return;
  tls_prof = NULL;
  pr->running = 0;
  if (pr->mode == MODE_SAMPLE) {
    sampler_release(pr);
    pr->pending = 0;
  } else if (pr->mode == MODE_MEMORY) {
    bt_prof_mem_target_set(NULL); /* the next job's allocations are its own */
    rss_thread_stop(pr);
  }
}

/* ---- the profiler object -------------------------------------------- */

static void prof_init(lbt_prof *pr, int mode, int zones) {
  memset(pr, 0, sizeof *pr);
  bt_profcol_init(&pr->col);
  pr->mode = mode;
  pr->zones = zones;
  pr->funcs_ref = LUA_NOREF;
  pr->names_ref = LUA_NOREF;
  pr->meta_ref = LUA_NOREF;
  pr->interval_ns = 1000000;
  if (mode == MODE_CYCLES || mode == MODE_MEMORY) { /* calibrated before */
    pr->excl_call = calib_call_ticks;
    pr->excl_ret = calib_ret_ticks;
  }
  pr->bp = bt_prof_new(zones);
  pthread_mutex_init(&pr->rss_lock, NULL);
  pthread_cond_init(&pr->rss_wake, NULL);
}

static void prof_release(lbt_prof *pr) {
  for (size_t i = 0; i < pr->nfns; i++) {
    free(pr->fns[i].name);
    free(pr->fns[i].source);
    free(pr->fns[i].key);
  }
  free(pr->root);
  free(pr->package_path);
  free(pr->fns);
  bt_profcol_free(&pr->col);
  for (size_t i = 0; i < pr->nthreads; i++)
    bt_profcol_stack_free(&pr->threads[i].stack);
  free(pr->threads);
  free(pr->chain);
  free(pr->timeline);
  bt_profcol_map_free(&pr->by_pointer);
  bt_profcol_map_free(&pr->by_proto);
  bt_profcol_map_free(&pr->thread_map);
  bt_prof_free(pr->bp);
  pthread_mutex_destroy(&pr->rss_lock);
  pthread_cond_destroy(&pr->rss_wake);
  memset(pr, 0, sizeof *pr);
}

static lbt_prof *check_prof(lua_State *L, int idx) {
  lbt_prof *pr = (lbt_prof *)luaL_checkudata(L, idx, BT_PROF_METATABLE);
  if (pr->bp == NULL) luaL_error(L, "prof: profiler already released");
  return pr;
}

bt_prof *bt_lua_checkprof(lua_State *L, int idx) {
  return check_prof(L, idx)->bp;
}

bt_prof *bt_lua_optprof(lua_State *L, int idx) {
  if (lua_isnoneornil(L, idx)) return NULL;
  lbt_prof *pr = check_prof(L, idx);
  if (pr->mode == MODE_NONE && !pr->zones) return NULL;
  return pr->bp;
}

lua_State *bt_prof_newstate(void) {
  lua_State *L = luaL_newstate();
  if (L != NULL) luaL_openlibs(L);
  return L;
}

static int opt_field_int(lua_State *L, int idx, const char *key, int def) {
  lua_getfield(L, idx, key);
  int value = lua_isnil(L, -1) ? def : (int)luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  return value;
}

/* prof.new{ mode=, interval_ms=, zones=, root=, offcpu= } -> Profiler;
 * root: the scenario's directory, for function keys of files outside
 * package.path; offcpu = false keeps off-CPU time in every time */
static int prof_new(lua_State *L) {
  int mode = MODE_CYCLES, zones = 1, interval_ms = 1;
  const char *root = NULL;
  int offcpu = 1;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "mode");
    mode = luaL_checkoption(L, -1, "cycles", MODE_NAMES);
    lua_pop(L, 1);
    lua_getfield(L, 1, "zones");
    if (!lua_isnil(L, -1)) zones = lua_toboolean(L, -1);
    lua_pop(L, 1);
    interval_ms = opt_field_int(L, 1, "interval_ms", 1);
    lua_getfield(L, 1, "offcpu");
    if (!lua_isnil(L, -1)) offcpu = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "root");
    root = luaL_optstring(L, -1, NULL);
    lua_pop(L, 1); /* the string stays alive: the options table holds it */
    if (interval_ms < 1 || interval_ms > 60000)
      return luaL_error(L, "prof.new: interval_ms must be 1..60000, not %d",
                        interval_ms);
  }
  if (mode == MODE_CYCLES || mode == MODE_MEMORY)
    pthread_once(&calib_once, calibrate_hooks);
  lbt_prof *pr = (lbt_prof *)lua_newuserdatauv(L, sizeof *pr, 0);
  prof_init(pr, mode, zones);
  pr->interval_ns = (uint64_t)interval_ms * 1000000u;
  luaL_setmetatable(L, BT_PROF_METATABLE);
  if (pr->bp != NULL) bt_prof_set_offcpu(pr->bp, offcpu);
  if (root != NULL) pr->root = dup_text(root);
  if (pr->bp == NULL || (root != NULL && pr->root == NULL))
    return luaL_error(L, "prof.new: out of memory");
  lua_newtable(L);
  pr->funcs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

static void stop_everything(lbt_prof *pr, uint64_t now) {
  if (pr->mode == MODE_CYCLES || pr->mode == MODE_MEMORY) {
    lua_sethook(pr->L, NULL, 0, 0);
    if (pr->jit_was_on) jit_engine(pr->L, 1);
    close_everything(pr, now);
  }
  if (pr->mode == MODE_SAMPLE)
    sampler_stop(pr);
  else if (pr->mode == MODE_MEMORY)
    memory_stop(pr);
  pr->running = 0;
  bt_prof_run_end(pr->bp);
  if (tls_prof == pr) tls_prof = NULL;
}

/* p:start([thread]) */
static int prof_start(lua_State *L) {
  lbt_prof *pr = check_prof(L, 1);
  lua_State *target = lua_isnoneornil(L, 2) ? L : lua_tothread(L, 2);
  if (target == NULL) return luaL_argerror(L, 2, "thread expected");
  if (pr->started) return luaL_error(L, "prof: a profiler starts only once");
  if (tls_prof != NULL)
    return luaL_error(L, "prof: another profiler is running on this thread");
  pr->started = 1;
  pr->L = target;
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  lua_getfield(L, -1, "package");
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_getfield(L, -1, "path");
    if (lua_type(L, -1) == LUA_TSTRING)
      pr->package_path = dup_text(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  pr->start_unix_ns = (uint64_t)time(NULL) * 1000000000u;
  tls_prof = pr;
  pr->running = 1;
  bt_prof_run_begin(pr->bp);
  if (pr->mode == MODE_MEMORY) memory_start(pr, target);
  if (pr->mode == MODE_CYCLES || pr->mode == MODE_MEMORY) {
    /* memory: the shadow stack says who asked for each byte */
    pr->jit_was_on = jit_is_on(target);
    jit_flush(target);
    jit_engine(target, 0);
    lua_sethook(target, cycles_hook, LUA_MASKCALL | LUA_MASKRET, 0);
  } else if (pr->mode == MODE_SAMPLE) {
    sampler_start(pr, target);
  }
  return 0;
}

/* p:stop() */
static int prof_stop(lua_State *L) {
  lbt_prof *pr = check_prof(L, 1);
  if (!pr->running) return 0;
  uint64_t now = bt_prof_pticks(pr->bp);
  stop_everything(pr, now);
  return 0;
}

static int prof_gc(lua_State *L) {
  lbt_prof *pr = (lbt_prof *)luaL_checkudata(L, 1, BT_PROF_METATABLE);
  if (pr->bp == NULL) return 0;
  if (pr->running) stop_everything(pr, bt_prof_pticks(pr->bp));
  if (pr->funcs_ref != LUA_NOREF)
    luaL_unref(L, LUA_REGISTRYINDEX, pr->funcs_ref);
  if (pr->meta_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, pr->meta_ref);
  if (pr->names_ref != LUA_NOREF)
    luaL_unref(L, LUA_REGISTRYINDEX, pr->names_ref);
  prof_release(pr);
  return 0;
}

static int zone_arg(lua_State *L, int idx) {
  const char *name = luaL_checkstring(L, idx);
  int zone = bt_prof_zone_find(name);
  if (zone < 0) return luaL_argerror(L, idx, "unknown zone name");
  return zone;
}

static int prof_zone_begin(lua_State *L) {
  lbt_prof *pr = check_prof(L, 1);
  bt_prof_zone_begin(pr->bp, (bt_zone_id)zone_arg(L, 2));
  return 0;
}

static int prof_zone_end(lua_State *L) {
  lbt_prof *pr = check_prof(L, 1);
  bt_prof_zone_end(pr->bp, (bt_zone_id)zone_arg(L, 2));
  return 0;
}

/* p:names(table, prefix): the functions in table's string fields are
 * called prefix..field in function keys ("ctx:" gives "ctx:order"; ""
 * names a strategy's handle_data). The table is kept until p is freed. */
static int prof_names(lua_State *L) {
  lbt_prof *pr = check_prof(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checkstring(L, 3);
  if (pr->names_ref == LUA_NOREF) {
    lua_newtable(L);
    pr->names_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, pr->names_ref);
  int next = (int)lua_rawlen(L, -1) + 1;
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, next);
  lua_pushvalue(L, 3);
  lua_rawseti(L, -2, next + 1);
  return 0;
}

static int prof_mode(lua_State *L) {
  lua_pushstring(L, MODE_NAMES[check_prof(L, 1)->mode]);
  return 1;
}

static int prof_running(lua_State *L) {
  lua_pushboolean(L, check_prof(L, 1)->running);
  return 1;
}

/* ---- p:data(): the profile table ------------------------------------ */

static void set_num(lua_State *L, const char *key, double value) {
  lua_pushnumber(L, value);
  lua_setfield(L, -2, key);
}

static void set_int(lua_State *L, const char *key, uint64_t value) {
  lua_pushinteger(L, (lua_Integer)value);
  lua_setfield(L, -2, key);
}

static void set_str(lua_State *L, const char *key, const char *value) {
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}

static uint64_t to_ns(uint64_t ticks) {
  return (uint64_t)(bt_prof_ticks_to_ns(ticks) + 0.5);
}

static void cpu_model(char *out, size_t size) {
  snprintf(out, size, "unknown");
  FILE *file = fopen("/proc/cpuinfo", "r");
  if (file == NULL) return;
  char line[512];
  while (fgets(line, sizeof line, file)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *colon = strchr(line, ':');
      if (colon) {
        colon += colon[1] == ' ' ? 2 : 1;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(out, size, "%s", colon);
      }
      break;
    }
  }
  fclose(file);
}

static void push_meta(lua_State *L, lbt_prof *pr, int user_meta) {
  lua_newtable(L);
  char text[256];
  set_str(L, "version", BTLUA_VERSION);
  set_str(L, "lua_flavour", BT_LUA_FLAVOUR);
  set_str(L, "build_type", BTLUA_BUILD_TYPE);
  struct utsname name;
  set_str(L, "host", uname(&name) == 0 ? name.nodename : "unknown");
  cpu_model(text, sizeof text);
  set_str(L, "cpu", text);
  set_str(L, "clock", bt_prof_clock_name());
  set_num(L, "tsc_hz", bt_prof_ticks_per_ns() * 1e9);
  time_t start = (time_t)(pr->start_unix_ns / 1000000000u);
  struct tm tm;
  gmtime_r(&start, &tm);
  strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  set_str(L, "start_time", text);
  set_int(L, "wall_ns", pr->started ? bt_prof_run_wall_ns(pr->bp) : 0);
  set_int(L, "cpu_ns", pr->started ? bt_prof_run_cpu_ns(pr->bp) : 0);
  set_int(L, "offcpu_ns", bt_prof_offcpu_ns(pr->bp));
  set_int(L, "profile_ns",
          pr->started ? to_ns(bt_prof_run_profile_ticks(pr->bp)) : 0);
  set_str(L, "time_clock", pr->bp->offcpu_on ? "tsc-oncpu" : "tsc-wall");
  set_int(L, "total_ticks", pr->started ? bt_prof_run_ticks(pr->bp) : 0);
  set_str(L, "profiler", MODE_NAMES[pr->mode]);
  set_int(L, "run", 1);
  set_int(L, "hook_events", pr->events);
  set_num(L, "hook_pair_ns", calib_pair_ns);
  set_int(L, "hook_call_ticks", pr->excl_call);
  set_int(L, "hook_return_ticks", pr->excl_ret);
  set_int(L, "zone_mismatch", (uint64_t)pr->bp->mismatch);
  if (pr->mode == MODE_SAMPLE) { /* what the sampler really did */
    uint64_t cpu = pr->started ? bt_prof_run_cpu_ns(pr->bp) : 0;
    set_int(L, "samples", pr->col.sample_total);
    set_num(L, "sample_rate_hz",
            cpu ? (double)pr->col.sample_total / ((double)cpu / 1e9) : 0.0);
    set_str(L, "sample_timer", pr->jit_sampler || pr->jit_sampled
                                   ? "LuaJIT profiler (ITIMER_PROF)"
                                   : "thread CPU-time timer");
  }
  lua_newtable(L);
  lua_setfield(L, -2, "params");
  if (user_meta) { /* the caller's fields win */
    lua_pushnil(L);
    while (lua_next(L, user_meta)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, -4);
    }
  }
}

/* Functions that never got a name from a call site (called from C, by a
 * tail call, by pcall) are named after the field that holds them in a
 * loaded module (handle_data, format, ...), as luaL_traceback does. */
static void resolve_names(lua_State *L, lbt_prof *pr) {
  int unnamed = 0;
  for (size_t i = 0; i < pr->nfns; i++)
    if (!pr->fns[i].named) unnamed++;
  if (unnamed == 0 || pr->funcs_ref == LUA_NOREF) return;
  int top = lua_gettop(L);
  lua_newtable(L); /* function -> field name */
  int names = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -1) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
          if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1)) {
            lua_pushvalue(L, -1);
            lua_rawget(L, names);
            int known = !lua_isnil(L, -1);
            lua_pop(L, 1);
            if (!known) {
              lua_pushvalue(L, -2);
              lua_rawset(L, names); /* pops the value */
              continue;
            }
          }
          lua_pop(L, 1);
        }
      }
      lua_pop(L, 1);
    }
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, pr->funcs_ref);
  for (size_t i = 0; i < pr->nfns; i++) {
    fn_entry *fn = &pr->fns[i];
    if (fn->named) continue;
    if (fn->first_closure == 0) continue;
    lua_rawgeti(L, -1, fn->first_closure);
    lua_rawget(L, names);
    const char *name = lua_tostring(L, -1);
    char *copy = name ? dup_text(name) : NULL;
    if (copy) {
      free(fn->name);
      fn->name = copy;
      fn->name_tries = 0;
      fn->named = 1;
    }
    lua_pop(L, 1);
  }
  lua_settop(L, top);
}


/* ---- function keys -------------------------------------------------- */

/* Of two names for one function, the shorter wins, then the smaller: the
 * choice does not depend on table traversal order (string hash seeds). */
static int better_name(const char *candidate, const char *current) {
  size_t a = strlen(candidate), b = strlen(current);
  return a != b ? a < b : strcmp(candidate, current) < 0;
}

/* names[f] = prefix..field for every function field f of the table at tbl
 * (absolute index), unless names has a better name for f already. */
static void names_from(lua_State *L, int tbl, const char *prefix, int names) {
  lua_pushnil(L);
  while (lua_next(L, tbl)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1)) {
      lua_pushfstring(L, "%s%s", prefix, lua_tostring(L, -2));
      lua_pushvalue(L, -2);
      lua_rawget(L, names); /* key value name current */
      const char *current = lua_tostring(L, -1);
      int take = current == NULL || better_name(lua_tostring(L, -2), current);
      lua_pop(L, 1);
      if (take) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, names); /* names[value] = name */
      } else {
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
}

/* names_from for the tables held in the module table at tbl, one level
 * down: "btlua.core.sim.new". */
static void names_in_fields(lua_State *L, int tbl, const char *module,
                            int names) {
  lua_pushnil(L);
  while (lua_next(L, tbl)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      lua_pushfstring(L, "%s.%s.", module, lua_tostring(L, -2));
      names_from(L, lua_gettop(L) - 1, lua_tostring(L, -1), names);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

/* names_from for a p:names table at tbl and its methods: a metatable's
 * __index table, or an __index function ("prefix__index") and the tables
 * among its upvalues (the sim's data object keeps its methods there); at
 * depth 0 also the tables in its fields, one level down. */
static void names_given(lua_State *L, int tbl, const char *prefix, int names,
                        int depth) {
  names_from(L, tbl, prefix, names);
  if (depth == 0) { /* tables in its fields: "ctx:portfolio.__index" */
    lua_pushnil(L);
    while (lua_next(L, tbl)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
        lua_pushfstring(L, "%s%s.", prefix, lua_tostring(L, -2));
        names_given(L, lua_gettop(L) - 1, lua_tostring(L, -1), names, 1);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  if (!lua_getmetatable(L, tbl)) return;
  lua_getfield(L, -1, "__index");
  int index = lua_gettop(L);
  if (lua_type(L, index) == LUA_TTABLE) {
    names_from(L, index, prefix, names);
  } else if (lua_isfunction(L, index)) {
    lua_pushfstring(L, "%s__index", prefix);
    lua_pushvalue(L, index);
    lua_pushvalue(L, -2);
    lua_rawset(L, names);
    lua_pop(L, 1);
    for (int n = 1; lua_getupvalue(L, index, n) != NULL; n++) {
      if (lua_type(L, -1) == LUA_TTABLE)
        names_from(L, lua_gettop(L), prefix, names);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 2);
}

/* Qualified names of the functions the run could reach by name, in a new
 * table on the stack: p:names tables ("ctx:order"), loaded modules
 * ("string.rep", "print" for _G) and the methods of btlua's userdata
 * types ("sim:run" from metatable "btlua.Sim"). p:names wins. */
static void push_known_names(lua_State *L, lbt_prof *pr) {
  lua_newtable(L);
  int modules = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
  int loaded = lua_gettop(L);
  lua_pushnil(L);
  while (lua_type(L, loaded) == LUA_TTABLE && lua_next(L, loaded)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      const char *module = lua_tostring(L, -2);
      int is_global = strcmp(module, "_G") == 0;
      lua_pushfstring(L, "%s.", module);
      names_from(L, lua_gettop(L) - 1, is_global ? "" : lua_tostring(L, -1),
                 modules);
      lua_pop(L, 1);
      if (!is_global) names_in_fields(L, lua_gettop(L), module, modules);
    }
    lua_pop(L, 1);
  }
  lua_settop(L, modules);
  lua_pushnil(L);
  while (lua_next(L, LUA_REGISTRYINDEX)) {
    const char *type = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
    if (strncmp(type, "btlua.", 6) == 0 && lua_type(L, -1) == LUA_TTABLE) {
      const char *last = strrchr(type, '.') + 1;
      char prefix[64];
      size_t n = 0;
      for (; last[n] && n + 2 < sizeof prefix; n++)
        prefix[n] = (char)(last[n] >= 'A' && last[n] <= 'Z' ? last[n] + 32
                                                            : last[n]);
      prefix[n + 1] = '\0';
      prefix[n] = '.'; /* metamethods: "history.__index" */
      names_from(L, lua_gettop(L), prefix, modules);
      lua_getfield(L, -1, "__index");
      prefix[n] = ':'; /* methods: "sim:run" */
      if (lua_type(L, -1) == LUA_TTABLE)
        names_from(L, lua_gettop(L), prefix, modules);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  if (pr->names_ref == LUA_NOREF) return;
  lua_newtable(L);
  int given = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, pr->names_ref);
  for (int i = 1; i <= (int)lua_rawlen(L, -1); i += 2) {
    lua_rawgeti(L, -1, i);
    lua_rawgeti(L, -2, i + 1);
    names_given(L, lua_gettop(L) - 1, lua_tostring(L, -1), given, 0);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  lua_pushnil(L); /* the given names over the modules' */
  while (lua_next(L, given)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, modules);
  }
  lua_settop(L, modules);
}

/* The name a key uses for fn: its qualified name when known (a Lua
 * function drops the module part its location already says), else the
 * call-site name, else "<anonymous>" / "main chunk" / "?". */
static const char *key_name(const fn_entry *fn, const char *qualified,
                            const char *location) {
  if (qualified != NULL && fn->is_c) return qualified;
  if (qualified != NULL) {
    size_t len = strlen(location);
    if (strncmp(qualified, location, len) == 0 && qualified[len] == '.')
      return qualified + len + 1;
    return qualified;
  }
  return fn->name ? fn->name : "?";
}

static int by_key_then_line(const void *a, const void *b, void *fns_arg) {
  const fn_entry *fns = (const fn_entry *)fns_arg;
  const fn_entry *x = &fns[*(const int *)a], *y = &fns[*(const int *)b];
  int order = strcmp(x->key, y->key);
  if (order != 0) return order;
  if (x->line != y->line) return x->line < y->line ? -1 : 1;
  return *(const int *)a - *(const int *)b;
}

/* Functions of one key in one profile (two anonymous functions of a file)
 * are told apart by order of definition: "name#2". */
static void number_duplicates(lbt_prof *pr) {
  int *order = (int *)malloc((pr->nfns + 1) * sizeof *order);
  if (order == NULL) return;
  for (size_t i = 0; i < pr->nfns; i++) order[i] = (int)i;
  qsort_r(order, pr->nfns, sizeof *order, by_key_then_line, pr->fns);
  for (size_t i = 1, run = 1; i < pr->nfns; i++) {
    fn_entry *fn = &pr->fns[order[i]];
    run = strcmp(fn->key, pr->fns[order[i - 1]].key) == 0 ? run + 1 : 1;
    if (run < 2) continue;
    char *numbered = (char *)malloc(strlen(fn->key) + 16);
    if (numbered == NULL) continue;
    sprintf(numbered, "%s#%zu", fn->key, run);
    free(fn->key);
    fn->key = numbered;
  }
  free(order);
}

/* Builds every function's key (profkey.h), once, at the first p:data(). */
static void build_keys(lua_State *L, lbt_prof *pr) {
  int missing = 0; /* functions first seen since the last build */
  for (size_t i = 0; i < pr->nfns; i++) missing |= pr->fns[i].key == NULL;
  if (!missing) return;
  int top = lua_gettop(L);
  push_known_names(L, pr);
  int names = lua_gettop(L);
  const char *path = pr->package_path;
  lua_rawgeti(L, LUA_REGISTRYINDEX, pr->funcs_ref);
  int funcs = lua_gettop(L);
  for (size_t i = 0; i < pr->nfns; i++) {
    fn_entry *fn = &pr->fns[i];
    char location[PATH_MAX];
    if (fn->is_c || !fn->is_file)
      snprintf(location, sizeof location, "%s", fn->source ? fn->source : "?");
    else
      bt_profkey_location(fn->source, path, pr->root, location,
                          sizeof location);
    lua_rawgeti(L, funcs, fn->first_closure);
    lua_rawget(L, names);
    const char *qualified = lua_tostring(L, -1);
    free(fn->key);
    fn->key = bt_profkey_make(location, key_name(fn, qualified, location), 1);
    lua_pop(L, 1);
    if (fn->key == NULL) fn->key = dup_text("?");
  }
  lua_settop(L, top);
  number_duplicates(pr);
}

/* Function indices in the table: hidden entries dropped, 1-based. */
static int *visible_index(lbt_prof *pr) {
  int *remap = (int *)malloc((pr->nfns + 1) * sizeof *remap);
  if (remap == NULL) return NULL;
  int next = 1;
  for (size_t i = 0; i < pr->nfns; i++)
    remap[i] = pr->fns[i].hidden ? 0 : next++;
  return remap;
}

static void push_functions(lua_State *L, lbt_prof *pr, const int *remap) {
  lua_newtable(L);
  for (size_t i = 0; i < pr->nfns; i++) {
    const fn_entry *fn = &pr->fns[i];
    const bt_profcol_fn *total = &pr->col.fns[i];
    if (!remap[i]) continue;
    lua_newtable(L);
    set_str(L, "name", fn->name ? fn->name : "?");
    set_str(L, "source", fn->source ? fn->source : "?");
    set_str(L, "key", fn->key ? fn->key : "?");
    set_int(L, "line", (uint64_t)fn->line);
    set_int(L, "ncalls", total->ncalls);
    set_int(L, "primcalls", total->primcalls);
    set_int(L, "self_ns", to_ns(total->self));
    set_int(L, "cum_ns", to_ns(total->cum));
    set_int(L, "zone_ns", to_ns(total->engine));
    if (pr->mode == MODE_MEMORY) set_int(L, "alloc_bytes", total->alloc_bytes);
    lua_newtable(L);
    lua_setfield(L, -2, "callers");
    lua_rawseti(L, -2, remap[i]);
  }
  for (size_t i = 0; i < pr->col.nedges; i++) {
    const bt_profcol_edge *e = &pr->col.edges[i];
    if (!remap[e->caller] || !remap[e->callee]) continue;
    lua_rawgeti(L, -1, remap[e->callee]);
    lua_getfield(L, -1, "callers");
    lua_newtable(L);
    set_int(L, "ncalls", e->ncalls);
    set_int(L, "primcalls", e->primcalls);
    set_int(L, "self_ns", to_ns(e->self));
    set_int(L, "cum_ns", to_ns(e->cum));
    lua_rawseti(L, -2, remap[e->caller]);
    lua_pop(L, 2);
  }
}

static void push_zones(lua_State *L, lbt_prof *pr) {
  lua_newtable(L);
  for (int z = 0; z < BT_ZONE_COUNT; z++) {
    const bt_prof_zone_stats *s = bt_prof_zone_stats_of(pr->bp, (bt_zone_id)z);
    lua_newtable(L);
    set_str(L, "name", bt_prof_zone_name((bt_zone_id)z));
    set_int(L, "count", s->count);
    set_int(L, "self_ns", to_ns(s->self_ticks));
    set_int(L, "incl_ns", to_ns(s->incl_ticks));
    if (pr->mode == MODE_MEMORY) {
      set_int(L, "alloc_bytes", s->alloc_bytes);
      set_int(L, "free_bytes", s->free_bytes);
    }
    lua_rawseti(L, -2, z + 1);
  }
}

static void push_memory(lua_State *L, lbt_prof *pr, const int *remap) {
  const bt_prof_mem *mem = bt_prof_mem_stats(pr->bp);
  /* The RSS thread may still be appending: work on a snapshot. */
  pthread_mutex_lock(&pr->rss_lock);
  size_t count = pr->ntimeline;
  rss_point *timeline =
      (rss_point *)malloc((count ? count : 1) * sizeof *timeline);
  if (timeline != NULL && count)
    memcpy(timeline, pr->timeline, count * sizeof *timeline);
  pthread_mutex_unlock(&pr->rss_lock);
  if (timeline == NULL) count = 0;
  lua_newtable(L);
  uint64_t peak = 0, sum = 0;
  for (size_t i = 0; i < count; i++) {
    if (timeline[i].rss > peak) peak = timeline[i].rss;
    sum += timeline[i].rss;
  }
  set_int(L, "peak_rss", peak);
  set_int(L, "mean_rss", count ? sum / count : 0);
  set_int(L, "alloc_bytes", mem->alloc_bytes);
  set_int(L, "free_bytes", mem->free_bytes);
  set_int(L, "peak_lua_bytes", (uint64_t)pr->lua_peak);
  set_int(L, "outside_bytes", pr->outside_bytes);
  lua_newtable(L);
  for (int z = 0; z < BT_ZONE_COUNT; z++)
    set_int(L, bt_prof_zone_name((bt_zone_id)z), pr->bp->zone[z].alloc_bytes);
  lua_setfield(L, -2, "by_zone");
  lua_newtable(L);
  for (size_t i = 0; i < pr->nfns; i++) {
    if (!remap[i] || pr->col.fns[i].alloc_bytes == 0) continue;
    lua_pushinteger(L, (lua_Integer)pr->col.fns[i].alloc_bytes);
    lua_rawseti(L, -2, remap[i]);
  }
  lua_setfield(L, -2, "by_function");
  lua_createtable(L, (int)count, 0);
  for (size_t i = 0; i < count; i++) {
    lua_createtable(L, 0, 2);
    set_int(L, "t_ns", timeline[i].t_ns);
    set_int(L, "rss", timeline[i].rss);
    lua_rawseti(L, -2, (int)i + 1);
  }
  free(timeline);
  lua_setfield(L, -2, "timeline");
}

static void push_samples(lua_State *L, lbt_prof *pr, const int *remap) {
  lua_newtable(L);
  int n = 0;
  for (size_t i = 0; i < pr->col.nsamples; i++) {
    const bt_profcol_sample *s = &pr->col.samples[i];
    lua_newtable(L);
    lua_newtable(L);
    int depth = 0;
    for (size_t k = 0; k < s->depth; k++) {
      int fn = pr->col.stack_pool[s->first + k];
      if (!remap[fn]) continue;
      lua_pushinteger(L, remap[fn]);
      lua_rawseti(L, -2, ++depth);
    }
    lua_setfield(L, -2, "stack");
    if (s->zone >= 0)
      set_str(L, "zone", bt_prof_zone_name((bt_zone_id)s->zone));
    set_int(L, "count", s->count);
    lua_rawseti(L, -2, ++n);
  }
  for (int z = 0; z < BT_ZONE_COUNT; z++) {
    if (pr->zone_samples[z] == 0) continue;
    lua_newtable(L);
    lua_newtable(L);
    lua_setfield(L, -2, "stack");
    set_str(L, "zone", bt_prof_zone_name((bt_zone_id)z));
    set_int(L, "count", pr->zone_samples[z]);
    lua_rawseti(L, -2, ++n);
  }
}

/* tree: the calling contexts, parents before children: { parent = index
 * (0 for a root), fn = function index, calls, self_ns }. A hidden
 * function's node is folded into its parent. */
static void push_tree(lua_State *L, lbt_prof *pr, const int *remap) {
  int *index = (int *)malloc(pr->col.nnodes * sizeof *index);
  lua_createtable(L, (int)pr->col.nnodes, 0);
  if (index == NULL) return;
  int next = 0;
  for (size_t i = 0; i < pr->col.nnodes; i++) {
    const bt_profcol_node *node = &pr->col.nodes[i];
    int parent = node->parent >= 0 ? index[node->parent] : 0;
    if (!remap[node->fn]) {
      index[i] = parent;
      continue;
    }
    index[i] = ++next;
    lua_createtable(L, 0, 4);
    set_int(L, "parent", (uint64_t)parent);
    set_int(L, "fn", (uint64_t)remap[node->fn]);
    set_int(L, "calls", node->calls);
    set_int(L, "self_ns", to_ns(node->self));
    lua_rawseti(L, -2, next);
  }
  free(index);
}

/* { [key] = ns }: self (cum = 0) or cumulative time of each visible
 * function; entries sharing a key add up. */
static void push_run_functions(lua_State *L, lbt_prof *pr, const int *remap,
                               int cum) {
  lua_newtable(L);
  for (size_t i = 0; i < pr->nfns; i++) {
    const fn_entry *fn = &pr->fns[i];
    if (!remap[i]) continue;
    lua_pushstring(L, fn->key ? fn->key : "?");
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    lua_Integer before = lua_isnil(L, -1) ? 0 : lua_tointeger(L, -1);
    lua_pop(L, 1);
    const bt_profcol_fn *total = &pr->col.fns[i];
    lua_pushinteger(L, before + (lua_Integer)to_ns(cum ? total->cum
                                                       : total->self));
    lua_rawset(L, -3);
  }
}

static void push_runs(lua_State *L, lbt_prof *pr, const int *remap) {
  lua_newtable(L);
  lua_newtable(L);
  set_int(L, "wall_ns", pr->started ? bt_prof_run_wall_ns(pr->bp) : 0);
  set_int(L, "cpu_ns", pr->started ? bt_prof_run_cpu_ns(pr->bp) : 0);
  set_int(L, "profile_ns",
          pr->started ? to_ns(bt_prof_run_profile_ticks(pr->bp)) : 0);
  set_int(L, "total_ticks", pr->started ? bt_prof_run_ticks(pr->bp) : 0);
  lua_newtable(L);
  for (int z = 0; z < BT_ZONE_COUNT; z++)
    set_int(L, bt_prof_zone_name((bt_zone_id)z),
            to_ns(pr->bp->zone[z].incl_ticks));
  lua_setfield(L, -2, "zones");
  push_run_functions(L, pr, remap, 0);
  lua_setfield(L, -2, "functions");
  push_run_functions(L, pr, remap, 1);
  lua_setfield(L, -2, "functions_cum");
  lua_rawseti(L, -2, 1);
}

/* p:data([meta]) -> the profile table */
static int prof_data(lua_State *L) {
  lbt_prof *pr = check_prof(L, 1);
  int user_meta = 0;
  lua_settop(L, 2);
  if (!lua_isnil(L, 2)) {
    /* remembered, so later p:data() calls (reports) keep the scenario */
    luaL_checktype(L, 2, LUA_TTABLE);
    if (pr->meta_ref != LUA_NOREF)
      luaL_unref(L, LUA_REGISTRYINDEX, pr->meta_ref);
    lua_pushvalue(L, 2);
    pr->meta_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    user_meta = 2;
  } else if (pr->meta_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, pr->meta_ref);
    lua_replace(L, 2);
    user_meta = 2;
  }
  resolve_names(L, pr);
  build_keys(L, pr);
  int *remap = visible_index(pr);
  if (remap == NULL) return luaL_error(L, "prof: out of memory");
  lua_newtable(L);
  push_meta(L, pr, user_meta);
  lua_setfield(L, -2, "meta");
  push_functions(L, pr, remap);
  lua_setfield(L, -2, "functions");
  push_zones(L, pr);
  lua_setfield(L, -2, "zones");
  if (pr->mode == MODE_MEMORY) {
    push_memory(L, pr, remap);
    lua_setfield(L, -2, "memory");
  }
  push_samples(L, pr, remap);
  lua_setfield(L, -2, "samples");
  if (pr->col.nnodes > 0) {
    push_tree(L, pr, remap);
    lua_setfield(L, -2, "tree");
  }
  set_int(L, "sample_interval_ns",
          pr->mode == MODE_SAMPLE ? pr->interval_ns : 0);
  push_runs(L, pr, remap);
  lua_setfield(L, -2, "runs");
  free(remap);
  return 1;
}

/* p:btprof([meta]) -> bytes */
static int prof_btprof(lua_State *L) {
  lua_settop(L, 2);
  prof_data(L);
  lua_replace(L, 1);
  lua_settop(L, 1);
  return bt_lua_prof_encode(L);
}

static int prof_tostring(lua_State *L) {
  lbt_prof *pr = (lbt_prof *)luaL_checkudata(L, 1, BT_PROF_METATABLE);
  lua_pushfstring(L, "btlua.Profiler (%s, %s)", MODE_NAMES[pr->mode],
                  pr->running ? "running" : "stopped");
  return 1;
}

/* prof._spin_ns(n) -> the thread CPU ns the n ns of wall-clock spinning
 * took (n on a quiet machine, less when preempted): the truth the
 * profile's on-CPU times are checked against. */
static int prof_spin_ns(lua_State *L) {
  lua_Number ns = luaL_checknumber(L, 1);
  uint64_t cpu0 = bt_prof_thread_cpu_ns();
  bt_prof_spin_ns(ns > 0 ? (uint64_t)ns : 0);
  lua_pushinteger(L, (lua_Integer)(bt_prof_thread_cpu_ns() - cpu0));
  return 1;
}

static int prof_ticks_per_ns(lua_State *L) {
  lua_pushnumber(L, bt_prof_ticks_per_ns());
  return 1;
}

static const luaL_Reg prof_methods[] = {
    {"start", prof_start},
    {"stop", prof_stop},
    {"data", prof_data},
    {"btprof", prof_btprof},
    {"zone_begin", prof_zone_begin},
    {"zone_end", prof_zone_end},
    {"names", prof_names},
    {"mode", prof_mode},
    {"running", prof_running},
    {NULL, NULL},
};

static const luaL_Reg prof_meta[] = {
    {"__gc", prof_gc},
    {"__tostring", prof_tostring},
    {NULL, NULL},
};

static const luaL_Reg prof_funcs[] = {
    {"new", prof_new},
    {"encode", bt_lua_prof_encode},
    {"merge", bt_lua_prof_merge},
    {"load", bt_lua_prof_load},
    {"ticks_per_ns", prof_ticks_per_ns},
    {"_spin_ns", prof_spin_ns},
    {NULL, NULL},
};

int luaopen_btlua_prof(lua_State *L) {
  luaL_newmetatable(L, BT_PROF_METATABLE);
  luaL_setfuncs(L, prof_meta, 0);
  luaL_newlib(L, prof_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, prof_funcs);
  lua_newtable(L);
  for (int z = 0; z < BT_ZONE_COUNT; z++) {
    lua_pushstring(L, bt_prof_zone_name((bt_zone_id)z));
    lua_rawseti(L, -2, z + 1);
  }
  lua_setfield(L, -2, "zones");
  lua_pushstring(L, bt_prof_clock_name());
  lua_setfield(L, -2, "clock");
  return 1;
}
