/* lbt_runner.c: btlua.core.runner: runs Lua jobs in parallel on the libuv
 * pool (runner.c). Each run of a job gets a fresh lua_State, created and
 * closed on the pool thread (states are never shared); only bytes cross
 * between states. Files are written atomically by the loop thread.
 *
 *   runner.run{ output_dir = DIR, parallel = N, module = "mod",
 *               progress = bool, catch_sigint = bool,
 *               budget = s (CPU per strategy callback call; 0 none; 10),
 *               memory_cap = bytes (Lua heap per state; 0 none; 1 GiB),
 *               jobs = { { label = S, arg = S,
 *                          runs = { { arg = S }, ... } } },
 *               on_done = function(report) end }
 *     -> reports, interrupted      |  nil, message (unusable output dir)
 *   Every run of every job is a unit on the pool (jobs in the given order,
 *   at most `parallel` units at once). Run i of a job calls, in a fresh
 *   state, require(mod).job_run(job.arg, run.arg) -> { name = bytes, ... };
 *   once all its runs are over (a failed run skips the rest), a last state
 *   calls
 *   require(mod).job_finish(job.arg, { bag_1, ... }) ->
 *   { files = { name = bytes }, value = bytes or nil }.
 *   report = { index, label, ok, error, cancelled, files = {names},
 *              value, seconds }.
 *   runner.progress(fraction): in a worker, publishes progress and raises
 *   "interrupted" once the run is interrupted; elsewhere does nothing.
 *   runner.cancelled() -> boolean; runner.worker() -> label, run, runs.
 *   runner.check_dir(dir) -> true | nil, message (makes it if missing).
 *   runner.isatty(fd) -> boolean; runner.realpath(path) -> path | nil, msg */
#include "lbt_core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lbt_limits.h"
#include "runner.h"

static const char WORKER_KEY = 'W'; /* registry: lightuserdata -> worker */

typedef struct bag_item {
  char *name;
  char *data;
  size_t size;
} bag_item;

/* The output of one run: name -> bytes. */
typedef struct bag {
  bag_item *items;
  size_t count;
} bag;

typedef struct run_spec {
  char *arg;
  size_t arg_size;
} run_spec;

struct batch;

/* One unit of runner work: run `run` of a job, or (run == nruns) its
 * finish. */
typedef struct unit {
  struct batch *batch;
  struct job_spec *spec;
  size_t run;
} unit;

/* A job: its runs go to the pool as separate units (so repeats and the
 * modes of --profiler all spread over the threads); once all are over, its
 * finish unit is queued ahead of the rest. Fields below `units` are touched
 * by the loop thread only, except bags[r] (written by run r's unit before
 * its done callback, read by the finish unit) and failed (atomic). */
typedef struct job_spec {
  size_t index;
  char *label;
  char *arg;
  size_t arg_size;
  run_spec *runs;
  size_t nruns;
  unit *units; /* nruns + 1 */
  bag *bags;   /* nruns */
  size_t runs_over;
  atomic_int failed;
  int cancelled;
  char *error;
  double seconds;
} job_spec;

/* Everything a run needs, copied out of the calling state; a userdata, so
 * an error while reading the options frees it (__gc). */
typedef struct batch {
  char *module;
  char *home;
  char *path;
  char *cpath;
  char *output_dir;
  job_spec *jobs;
  size_t njobs;
  bt_runner_t *runner;
  size_t memory_cap; /* bytes of Lua heap per worker state (0: none) */
  double budget;     /* s of CPU per strategy callback call (0: none) */
  lua_State *caller; /* for on_done (loop thread = caller's thread) */
  int on_done_ref;
  char *callback_error;
} batch;

/* What a worker state knows about its place in the job. */
typedef struct worker {
  bt_runner_job_t *job;
  size_t run_index, nruns;
  lbt_limits limits; /* memory cap and time budget (lbt_limits.c) */
} worker;

static char *copy_bytes(const char *data, size_t size) {
  char *copy = malloc(size + 1);
  if (copy == NULL) return NULL;
  memcpy(copy, data, size);
  copy[size] = '\0';
  return copy;
}

static void free_bag(bag *b) {
  for (size_t i = 0; i < b->count; i++) {
    free(b->items[i].name);
    free(b->items[i].data);
  }
  free(b->items);
  b->items = NULL;
  b->count = 0;
}

static int batch_gc(lua_State *L) {
  batch *b = (batch *)lua_touserdata(L, 1);
  for (size_t i = 0; i < b->njobs; i++) {
    job_spec *spec = &b->jobs[i];
    for (size_t r = 0; r < spec->nruns; r++) {
      free(spec->runs[r].arg);
      if (spec->bags != NULL) free_bag(&spec->bags[r]);
    }
    free(spec->runs);
    free(spec->units);
    free(spec->bags);
    free(spec->error);
    free(b->jobs[i].label);
    free(b->jobs[i].arg);
  }
  free(b->jobs);
  free(b->module);
  free(b->home);
  free(b->path);
  free(b->cpath);
  free(b->output_dir);
  free(b->callback_error);
  memset(b, 0, sizeof *b);
  return 0;
}

/* --- the worker side (pool thread) --- */

/* Message handler: "message\ntraceback"; a table error uses __tostring; a
 * message that carries a traceback (xpcall with debug.traceback inside the
 * job) is kept as it is. */
static int worker_traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
  }
  if (strstr(msg, "\nstack traceback:\n") != NULL) { /* has one already */
    lua_pushstring(L, msg);
    return 1;
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static int worker_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "btlua: unprotected error in a worker: %s\n",
          msg ? msg : "?");
  return 0; /* then abort() */
}

/* A worker state allocates through its limits (the memory cap); the time
 * budget's watchdog runs until close_worker_state. */
static lua_State *new_worker_state(const batch *b, worker *w) {
  lbt_limits_init(&w->limits, b->memory_cap, b->budget);
  lua_State *L = lua_newstate(lbt_limits_alloc, &w->limits);
  if (L == NULL) return NULL;
  lua_atpanic(L, worker_panic);
  luaL_openlibs(L);
  bt_lua_open_host(L, b->home);
  /* The caller's paths (they already hold the home's). */
  lua_getglobal(L, "package");
  lua_pushstring(L, b->path);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, b->cpath);
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
  lua_pushlightuserdata(L, (void *)&WORKER_KEY);
  lua_pushlightuserdata(L, w);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lbt_limits_start(&w->limits, L);
  return L;
}

static void close_worker_state(lua_State *L, worker *w) {
  /* A state the time budget escaped from (a compiled LuaJIT loop) stopped
   * in the middle of machine code: closing it could run anything (__gc),
   * so it is leaked on purpose, with its heap (lbt_limits.c). */
  if (w->limits.escaped) return;
  lbt_limits_stop(&w->limits);
  lua_close(L);
}

/* The job's error: a tripped limit's message when there is one (a memory
 * error says only "not enough memory"), else the Lua error. */
static void fail_with(lua_State *L, bt_runner_job_t *job) {
  char buf[256];
  lua_pushlightuserdata(L, (void *)&WORKER_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  worker *w = (worker *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  const char *limit = w ? lbt_limits_message(&w->limits, buf, sizeof buf)
                        : NULL;
  const char *msg = lua_tostring(L, -1);
  bt_runner_job_fail(job, BT_EINVAL, "%s", limit ? limit : msg ? msg : "?");
}

/* The job's error after the time budget escaped from its state (which
 * must not be touched): the same message as the budget's hook raises. */
static int fail_escaped(bt_runner_job_t *job, worker *w) {
  char buf[256];
  const char *limit = lbt_limits_message(&w->limits, buf, sizeof buf);
  bt_runner_job_fail(job, BT_EINVAL, "%s", limit ? limit : "?");
  return LBT_LIMITS_ESCAPED;
}

/* Calls require(module)[func] with the nargs values on top of the stack;
 * leaves one result. Returns 0, or fails the job with the error message and
 * its traceback and returns -1, or LBT_LIMITS_ESCAPED when the state was
 * abandoned (lbt_limits_pcall: do not touch L again). No runner lock is
 * held across these calls (runner.c calls work() unlocked). */
static int call_module(lua_State *L, bt_runner_job_t *job, const batch *b,
                       worker *w, const char *func, int nargs) {
  int base = lua_gettop(L) - nargs + 1; /* the first argument */
  lua_pushcfunction(L, worker_traceback);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, b->module);
  int status = lbt_limits_pcall(&w->limits, L, 1, 1, handler);
  if (status == LBT_LIMITS_ESCAPED) return fail_escaped(job, w);
  if (status != LUA_OK) {
    fail_with(L, job);
    return -1;
  }
  lua_getfield(L, -1, func);
  if (!lua_isfunction(L, -1)) {
    bt_runner_job_fail(job, BT_EINVAL, "module %s has no function %s",
                       b->module, func);
    return -1;
  }
  lua_replace(L, -2);  /* [args handler func] */
  lua_insert(L, base); /* [func args handler] */
  lua_insert(L, base); /* [handler func args] */
  status = lbt_limits_pcall(&w->limits, L, nargs, 1, base);
  if (status == LBT_LIMITS_ESCAPED) return fail_escaped(job, w);
  if (status != LUA_OK) {
    fail_with(L, job);
    return -1;
  }
  return 0;
}

/* Copies a table of name -> string at the top of L into a bag. */
static int table_to_bag(lua_State *L, int idx, bag *out, const char **why) {
  idx = lua_absindex(L, idx);
  size_t cap = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 2);
      *why = "file names and contents must be strings";
      return -1;
    }
    if (out->count == cap) {
      cap = cap ? cap * 2 : 16;
      bag_item *items = realloc(out->items, cap * sizeof *items);
      if (items == NULL) {
        lua_pop(L, 2);
        *why = "out of memory";
        return -1;
      }
      out->items = items;
    }
    size_t name_len, size;
    const char *name = lua_tolstring(L, -2, &name_len);
    const char *data = lua_tolstring(L, -1, &size);
    bag_item *item = &out->items[out->count];
    item->name = copy_bytes(name, name_len);
    item->data = copy_bytes(data, size);
    item->size = size;
    out->count++;
    if (item->name == NULL || item->data == NULL) {
      lua_pop(L, 2);
      *why = "out of memory";
      return -1;
    }
    lua_pop(L, 1);
  }
  return 0;
}

static void push_bag(lua_State *L, const bag *b) {
  lua_createtable(L, 0, (int)b->count);
  for (size_t i = 0; i < b->count; i++) {
    lua_pushlstring(L, b->items[i].data, b->items[i].size);
    lua_setfield(L, -2, b->items[i].name);
  }
}

static void push_spec_string(lua_State *L, const char *data, size_t size) {
  if (data == NULL) lua_pushnil(L);
  else lua_pushlstring(L, data, size);
}

/* One run in its own state: job_run(job_arg, run_arg) -> bag. */
static int do_run(bt_runner_job_t *job, const batch *b, job_spec *spec,
                  size_t index, bag *out) {
  worker w = {job, index, spec->nruns, {0}};
  lua_State *L = new_worker_state(b, &w);
  if (L == NULL) {
    bt_runner_job_fail(job, BT_ENOMEM, "cannot create a Lua state");
    return -1;
  }
  push_spec_string(L, spec->arg, spec->arg_size);
  push_spec_string(L, spec->runs[index].arg, spec->runs[index].arg_size);
  int status = call_module(L, job, b, &w, "job_run", 2);
  const char *why = NULL;
  if (status == LBT_LIMITS_ESCAPED) {
    /* L is lost: close_worker_state leaves it alone */
  } else if (status == 0 && !lua_istable(L, -1)) {
    bt_runner_job_fail(job, BT_EINVAL, "%s.job_run returned %s, not a table",
                       b->module, luaL_typename(L, -1));
    status = -1;
  } else if (status == 0 && table_to_bag(L, -1, out, &why) != 0) {
    bt_runner_job_fail(job, BT_EINVAL, "%s.job_run: %s", b->module, why);
    status = -1;
  }
  close_worker_state(L, &w);
  if (status != 0) atomic_store(&spec->failed, 1);
  return status;
}

/* The last state: job_finish(job_arg, bags) -> { files =, value = }. */
static void do_finish(bt_runner_job_t *job, const batch *b,
                      const job_spec *spec, bag *bags) {
  worker w = {job, spec->nruns, spec->nruns, {0}};
  lua_State *L = new_worker_state(b, &w);
  if (L == NULL) {
    bt_runner_job_fail(job, BT_ENOMEM, "cannot create a Lua state");
    return;
  }
  push_spec_string(L, spec->arg, spec->arg_size);
  lua_createtable(L, (int)spec->nruns, 0);
  for (size_t r = 0; r < spec->nruns; r++) {
    push_bag(L, &bags[r]);
    lua_rawseti(L, -2, (int)r + 1);
    free_bag(&bags[r]);
  }
  if (call_module(L, job, b, &w, "job_finish", 2) == 0) {
    bag files = {NULL, 0};
    const char *why = NULL;
    if (!lua_istable(L, -1)) {
      bt_runner_job_fail(job, BT_EINVAL, "%s.job_finish returned %s",
                         b->module, luaL_typename(L, -1));
    } else {
      lua_getfield(L, -1, "files");
      if (lua_istable(L, -1) && table_to_bag(L, -1, &files, &why) == 0) {
        for (size_t i = 0; i < files.count; i++)
          if (bt_runner_job_add_file(job, files.items[i].name,
                                     files.items[i].data,
                                     files.items[i].size) != BT_OK) {
            bt_runner_job_fail(job, BT_EINVAL, "bad output file name '%s'",
                               files.items[i].name);
            break;
          }
      } else if (!lua_isnil(L, -1)) {
        bt_runner_job_fail(job, BT_EINVAL, "%s.job_finish: files: %s",
                           b->module, why ? why : "not a table");
      }
      lua_getfield(L, -2, "value");
      size_t size;
      const char *value = lua_tolstring(L, -1, &size);
      if (value != NULL) bt_runner_job_set_value(job, value, size);
    }
    free_bag(&files);
  }
  close_worker_state(L, &w);
}

static void work(bt_runner_job_t *job, void *arg) {
  const unit *u = arg;
  job_spec *spec = u->spec;
  if (u->run == spec->nruns) {
    do_finish(job, u->batch, spec, spec->bags);
  } else if (atomic_load(&spec->failed)) {
    /* another run failed: the job is lost, skip this one (no output) */
  } else if (bt_runner_job_cancelled(job)) {
    bt_runner_job_fail(job, BT_ESTATE, "interrupted");
  } else {
    do_run(job, u->batch, spec, u->run, &spec->bags[u->run]);
  }
}

/* --- the caller's side (loop thread) --- */

static void push_report(lua_State *L, const bt_runner_report *report) {
  lua_createtable(L, 0, 8);
  lua_pushinteger(L, (lua_Integer)report->index + 1);
  lua_setfield(L, -2, "index");
  lua_pushstring(L, report->label);
  lua_setfield(L, -2, "label");
  lua_pushboolean(L, report->status == 0);
  lua_setfield(L, -2, "ok");
  lua_pushboolean(L, report->cancelled);
  lua_setfield(L, -2, "cancelled");
  if (report->error != NULL) {
    lua_pushstring(L, report->error);
    lua_setfield(L, -2, "error");
  }
  lua_createtable(L, (int)report->nfiles, 0);
  for (size_t i = 0; i < report->nfiles; i++) {
    lua_pushstring(L, report->files[i]);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "files");
  if (report->value != NULL) {
    lua_pushlstring(L, report->value, report->value_size);
    lua_setfield(L, -2, "value");
  }
  lua_pushnumber(L, report->seconds);
  lua_setfield(L, -2, "seconds");
}

/* Reports a job to the caller: reports[index] and on_done. `finish` is
 * the runner's report of its finish unit, or NULL when the job ended
 * without one (a run failed or the run was interrupted). Stack of the
 * caller during the run: [.. reports]. */
static void report_spec(batch *b, job_spec *spec,
                        const bt_runner_report *finish) {
  lua_State *L = b->caller;
  bt_runner_report report = {0};
  if (finish != NULL) {
    report = *finish;
  } else {
    report.cancelled = spec->cancelled;
    report.status = spec->cancelled ? BT_ESTATE : BT_EINVAL;
    report.error = spec->cancelled ? "interrupted"
                   : spec->error   ? spec->error
                                   : "a run failed";
  }
  report.index = spec->index;
  report.label = spec->label;
  report.seconds = spec->seconds;
  push_report(L, &report);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, (int)report.index + 1);
  if (b->on_done_ref == LUA_NOREF || b->callback_error != NULL) {
    lua_pop(L, 1);
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, b->on_done_ref);
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    b->callback_error = copy_bytes(msg ? msg : "?", msg ? strlen(msg) : 1);
    lua_pop(L, 1);
  }
}

/* A unit is over (loop thread). After the last run of a job, its finish
 * is queued ahead of everything not yet started. */
static void done(void *ctx, const bt_runner_report *report) {
  batch *b = ctx;
  unit *u = report->arg;
  job_spec *spec = u->spec;
  spec->seconds += report->seconds;
  if (u->run == spec->nruns) {
    report_spec(b, spec, report);
    return;
  }
  if (report->cancelled) {
    spec->cancelled = 1;
  } else if (report->status != 0 && spec->error == NULL) {
    spec->error = copy_bytes(report->error, strlen(report->error));
    atomic_store(&spec->failed, 1);
  }
  if (++spec->runs_over < spec->nruns) return;
  if (spec->cancelled || atomic_load(&spec->failed)) {
    report_spec(b, spec, NULL);
  } else if (bt_runner_add_next(b->runner, spec->label,
                                &spec->units[spec->nruns]) != BT_OK) {
    spec->error = copy_bytes("cannot queue the finish", 23);
    report_spec(b, spec, NULL);
  }
}

static char *field_string(lua_State *L, int idx, const char *key,
                          size_t *size, int required) {
  lua_getfield(L, idx, key);
  if (lua_isnil(L, -1) && !required) {
    lua_pop(L, 1);
    if (size != NULL) *size = 0;
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "runner.run: field '%s' must be a string", key);
  size_t len;
  const char *text = lua_tolstring(L, -1, &len);
  char *copy = copy_bytes(text, len);
  lua_pop(L, 1);
  if (copy == NULL) luaL_error(L, "runner.run: out of memory");
  if (size != NULL) *size = len;
  return copy;
}

static int field_bool(lua_State *L, int idx, const char *key, int dflt) {
  lua_getfield(L, idx, key);
  int value = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return value;
}

static void read_runs(lua_State *L, job_spec *spec) {
  lua_getfield(L, -1, "runs");
  if (!lua_istable(L, -1))
    luaL_error(L, "runner.run: job '%s': 'runs' must be a table", spec->label);
  size_t nruns = (size_t)lua_rawlen(L, -1);
  if (nruns == 0)
    luaL_error(L, "runner.run: job '%s' has no runs", spec->label);
  spec->runs = calloc(nruns, sizeof *spec->runs);
  if (spec->runs == NULL) luaL_error(L, "runner.run: out of memory");
  for (size_t r = 0; r < nruns; r++) {
    lua_rawgeti(L, -1, (int)r + 1);
    if (!lua_istable(L, -1))
      luaL_error(L, "runner.run: job '%s': run %d is not a table", spec->label,
                 (int)r + 1);
    spec->runs[r].arg = field_string(L, -1, "arg", &spec->runs[r].arg_size, 0);
    spec->nruns = r + 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static void read_jobs(lua_State *L, int opts, batch *b) {
  lua_getfield(L, opts, "jobs");
  luaL_argcheck(L, lua_istable(L, -1), 1, "'jobs' must be a table");
  size_t njobs = (size_t)lua_rawlen(L, -1);
  b->jobs = calloc(njobs ? njobs : 1, sizeof *b->jobs);
  if (b->jobs == NULL) luaL_error(L, "runner.run: out of memory");
  for (size_t i = 0; i < njobs; i++) {
    lua_rawgeti(L, -1, (int)i + 1);
    luaL_argcheck(L, lua_istable(L, -1), 1, "each job must be a table");
    job_spec *spec = &b->jobs[i];
    b->njobs = i + 1;
    spec->label = field_string(L, -1, "label", NULL, 1);
    spec->arg = field_string(L, -1, "arg", &spec->arg_size, 0);
    read_runs(L, spec);
    spec->index = i;
    atomic_init(&spec->failed, 0);
    spec->units = calloc(spec->nruns + 1, sizeof *spec->units);
    spec->bags = calloc(spec->nruns, sizeof *spec->bags);
    if (spec->units == NULL || spec->bags == NULL)
      luaL_error(L, "runner.run: out of memory");
    for (size_t r = 0; r <= spec->nruns; r++) {
      spec->units[r].batch = b;
      spec->units[r].spec = spec;
      spec->units[r].run = r;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static char *global_package_field(lua_State *L, const char *key) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, key);
  const char *text = lua_tostring(L, -1);
  char *copy = copy_bytes(text ? text : "", text ? strlen(text) : 0);
  lua_pop(L, 2);
  if (copy == NULL) luaL_error(L, "runner.run: out of memory");
  return copy;
}

/* runner.run(opts) -> reports, interrupted | nil, message */
static int runner_run(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  batch *b = (batch *)lua_newuserdatauv(L, sizeof *b, 0); /* 2 */
  memset(b, 0, sizeof *b);
  b->on_done_ref = LUA_NOREF;
  lua_newtable(L);
  lua_pushcfunction(L, batch_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  b->module = field_string(L, 1, "module", NULL, 1);
  b->output_dir = field_string(L, 1, "output_dir", NULL, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, BT_HOME_KEY);
  const char *home = lua_tostring(L, -1);
  b->home = copy_bytes(home ? home : ".", home ? strlen(home) : 1);
  lua_pop(L, 1);
  b->path = global_package_field(L, "path");
  b->cpath = global_package_field(L, "cpath");
  read_jobs(L, 1, b);
  lua_getfield(L, 1, "memory_cap"); /* bytes; 0 = none */
  lua_Number cap = lua_isnil(L, -1) ? (lua_Number)LBT_LIMITS_CAP_DEFAULT
                                    : luaL_checknumber(L, -1);
  luaL_argcheck(L, cap >= 0 && cap < 9.2e18, 1, "'memory_cap' out of range");
  b->memory_cap = (size_t)cap;
  lua_getfield(L, 1, "budget"); /* s per callback call; 0 = none */
  b->budget = lua_isnil(L, -1) ? LBT_LIMITS_BUDGET_DEFAULT
                               : (double)luaL_checknumber(L, -1);
  luaL_argcheck(L, b->budget >= 0, 1, "'budget' must be >= 0");
  lua_pop(L, 2);
  lua_getfield(L, 1, "parallel");
  lua_Integer parallel = lua_isnil(L, -1) ? 1 : luaL_checkinteger(L, -1);
  lua_pop(L, 1);
  luaL_argcheck(L, parallel >= 1 && parallel <= 1024, 1,
                "'parallel' must be 1..1024");
  lua_getfield(L, 1, "on_done");
  if (!lua_isnil(L, -1)) {
    luaL_checktype(L, -1, LUA_TFUNCTION);
    b->on_done_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  } else {
    lua_pop(L, 1);
  }
  b->caller = L;

  bt_runner_opts opts = {
    .loop = bt_lua_loop(L),
    .output_dir = b->output_dir,
    .parallel = (unsigned)parallel,
    .work = work,
    .done = done,
    .ctx = b,
    .catch_sigint = field_bool(L, 1, "catch_sigint", 1),
    .progress = field_bool(L, 1, "progress", 0),
  };
  bt_runner_t *runner = NULL;
  bt_err err = {0};
  if (bt_runner_new(&opts, &runner, &err) != BT_OK) {
    luaL_unref(L, LUA_REGISTRYINDEX, b->on_done_ref);
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  b->runner = runner;
  for (size_t i = 0; i < b->njobs; i++)
    for (size_t r = 0; r < b->jobs[i].nruns; r++)
      bt_runner_add(runner, b->jobs[i].label, &b->jobs[i].units[r]);
  lua_createtable(L, (int)b->njobs, 0); /* 3: reports */
  bt_runner_run(runner);
  int interrupted = bt_runner_interrupted(runner);
  bt_runner_free(runner);
  luaL_unref(L, LUA_REGISTRYINDEX, b->on_done_ref);
  if (b->callback_error != NULL) {
    lua_pushstring(L, b->callback_error);
    return lua_error(L);
  }
  lua_pushboolean(L, interrupted);
  return 2;
}

static worker *current_worker(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&WORKER_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  worker *w = (worker *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return w;
}

/* runner.progress(fraction): 0..1 of this run. */
static int runner_progress(lua_State *L) {
  double fraction = (double)luaL_checknumber(L, 1);
  worker *w = current_worker(L);
  if (w == NULL) return 0;
  if (bt_runner_job_cancelled(w->job)) return luaL_error(L, "interrupted");
  if (fraction < 0) fraction = 0;
  if (fraction > 1) fraction = 1;
  bt_runner_job_progress(w->job, fraction);
  return 0;
}

/* runner.cancelled() -> has the run been interrupted? */
static int runner_cancelled(lua_State *L) {
  worker *w = current_worker(L);
  lua_pushboolean(L, w != NULL && bt_runner_job_cancelled(w->job));
  return 1;
}

/* runner.worker() -> label, run index (1-based), runs; nil outside. */
static int runner_worker(lua_State *L) {
  worker *w = current_worker(L);
  if (w == NULL) return 0;
  lua_pushstring(L, bt_runner_job_label(w->job));
  lua_pushinteger(L, (lua_Integer)w->run_index + 1);
  lua_pushinteger(L, (lua_Integer)w->nruns);
  return 3;
}

/* runner.check_dir(dir) -> true | nil, message (made if missing). */
static int runner_check_dir(lua_State *L) {
  bt_err err = {0};
  if (bt_runner_check_dir(luaL_checkstring(L, 1), &err) != BT_OK) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* runner.isatty(fd) -> is the descriptor a terminal (for progress)? */
static int runner_isatty(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  lua_pushboolean(L, uv_guess_handle(fd) == UV_TTY);
  return 1;
}

/* runner.realpath(path) -> absolute path | nil, message. */
static int runner_realpath(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uv_fs_t req;
  int rc = uv_fs_realpath(bt_lua_loop(L), &req, path, NULL);
  if (rc < 0) {
    uv_fs_req_cleanup(&req);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, uv_strerror(rc));
    return 2;
  }
  lua_pushstring(L, (const char *)req.ptr);
  uv_fs_req_cleanup(&req);
  return 1;
}

static const luaL_Reg runner_funcs[] = {
  {"isatty", runner_isatty},
  {"realpath", runner_realpath},
  {"run", runner_run},
  {"progress", runner_progress},
  {"cancelled", runner_cancelled},
  {"worker", runner_worker},
  {"check_dir", runner_check_dir},
  {NULL, NULL},
};

int luaopen_btlua_runner(lua_State *L) {
  luaL_newlib(L, runner_funcs);
  return 1;
}
