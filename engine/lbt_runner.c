/* lbt_runner.c: btlua.core.runner: runs Lua jobs in parallel, each run in
 * its own child process (runner.c starts and watches them with uv_spawn):
 * the child is this executable in its hidden child mode (`btlua --child`,
 * lbt_runner_child_main), which reads the run's description from fd 3, sets
 * its kernel limits (CPU, address space, no core file), runs the job in a
 * fresh lua_State and writes the run's bytes back on fd 3. The parent never
 * runs the job's code; it collects the bytes and writes the files
 * atomically (runner.c).
 *
 *   runner.run{ output_dir = DIR, parallel = N, module = "mod",
 *               progress = bool, catch_sigint = bool, lock = bool,
 *               budget = s (CPU per strategy callback call; 0 none; 10),
 *               memory_cap = bytes (Lua heap per state; 0 none; 1 GiB),
 *               timeout = s (wall and CPU time of one run; 0 none),
 *               jobs = { { label = S, arg = S,
 *                          runs = { { arg = S }, ... } } },
 *               on_done = function(report) end }
 *     -> reports, interrupted      |  nil, message (unusable output dir)
 *   Every run of every job is a child (jobs in the given order, at most
 *   `parallel` at once). Run i of a job calls, in a fresh state,
 *   require(mod).job_run(job.arg, run.arg) -> { name = bytes, ... };
 *   once all its runs are over (a failed run skips the rest), a last child
 *   calls
 *   require(mod).job_finish(job.arg, { bag_1, ... }) ->
 *   { files = { name = bytes }, value = bytes or nil }.
 *   report = { index, label, ok, error, cancelled, files = {names},
 *              value, seconds, log (the children's output, if any) }.
 *   runner.call{ module =, func =, arg = S, budget =, memory_cap =,
 *                timeout = } -> bytes | nil, message: func(arg) -> string
 *     in a child process (the same limits), for work on untrusted files
 *     (loading scenario files) that the caller must not run itself.
 *   runner.progress(fraction): in a worker, publishes progress and raises
 *   "interrupted" once the run is interrupted; elsewhere does nothing.
 *   runner.cancelled() -> boolean; runner.worker() -> label, run, runs.
 *   runner.check_dir(dir) -> true | nil, message (makes it if missing).
 *   runner.isatty(fd) -> boolean; runner.realpath(path) -> path | nil, msg
 *   runner.file_kind(path) -> "file" | "directory" | "link" | "other" | nil
 *     (lstat: a symbolic link is never followed)
 *   runner.address_space_limit: do children get RLIMIT_AS (not with
 *     AddressSanitizer or under valgrind)? */
#include "lbt_core.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif
/* AddressSanitizer reserves terabytes of shadow address space: no
 * RLIMIT_AS in a sanitizer build (the Lua heap's cap still applies). */
#if defined(__SANITIZE_ADDRESS__)
#define ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ADDRESS_SANITIZER 1
#endif
#endif
#ifndef ADDRESS_SANITIZER
#define ADDRESS_SANITIZER 0
#endif

#include "lbt_limits.h"
#include "prof.h"
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

/* A job: its runs are separate children (so repeats and the
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
  char *data_path; /* the run's data file (counted in its address space) */
  char *log; /* the children's stdout and stderr, in the order they ended */
  size_t log_size;
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
  double timeout;    /* s of wall (and CPU) time per child (0: none) */
  char *data_path;   /* runner.call: the data file (see job_spec) */
  char *call_func;   /* runner.call: the function and its argument */
  char *call_arg;
  size_t call_arg_size;
  char exe[4096];    /* this executable (the children's) */
  /* The clock rate and the hook calibration, measured once here and
   * handed to every child (see lbt_prof_give_calibration). */
  double clock[4];
  lua_State *caller; /* for on_done (loop thread = caller's thread) */
  int on_done_ref;
  char *callback_error;
} batch;

/* What a worker state knows about its place in the job. */
typedef struct worker {
  const char *label;
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
    free(spec->log);
    free(spec->data_path);
    free(b->jobs[i].label);
    free(b->jobs[i].arg);
  }
  free(b->jobs);
  free(b->module);
  free(b->home);
  free(b->path);
  free(b->cpath);
  free(b->output_dir);
  free(b->data_path);
  free(b->call_func);
  free(b->call_arg);
  free(b->callback_error);
  memset(b, 0, sizeof *b);
  return 0;
}

/* --- frames: what crosses the fd 3 socket ---
 * A frame is a sequence of fields, each an 8-byte little-endian length and
 * the bytes; the length UINT64_MAX is a nil field. */

typedef struct frame {
  char *data;
  size_t size, cap;
  int failed; /* out of memory */
} frame;

static void frame_put(frame *f, const void *bytes, size_t size) {
  if (f->failed) return;
  if (f->size + size > f->cap) {
    size_t cap = f->cap ? f->cap : 4096;
    while (cap < f->size + size) cap *= 2;
    char *grown = realloc(f->data, cap);
    if (grown == NULL) {
      f->failed = 1;
      return;
    }
    f->data = grown;
    f->cap = cap;
  }
  if (size) memcpy(f->data + f->size, bytes, size);
  f->size += size;
}

static void put_length(frame *f, uint64_t length) {
  unsigned char word[8];
  for (int i = 0; i < 8; i++) word[i] = (unsigned char)(length >> (8 * i));
  frame_put(f, word, 8);
}

static void put_field(frame *f, const char *bytes, size_t size) {
  if (bytes == NULL) {
    put_length(f, UINT64_MAX);
    return;
  }
  put_length(f, size);
  frame_put(f, bytes, size);
}

static void put_text(frame *f, const char *text) {
  put_field(f, text, text ? strlen(text) : 0);
}

static void put_number(frame *f, double value) {
  char text[64];
  snprintf(text, sizeof text, "%.17g", value);
  put_text(f, text);
}

static void put_bag(frame *f, const bag *b) {
  put_number(f, (double)b->count);
  for (size_t i = 0; i < b->count; i++) {
    put_text(f, b->items[i].name);
    put_field(f, b->items[i].data, b->items[i].size);
  }
}

typedef struct reader {
  const char *at, *end;
  int bad;
} reader;

/* The next field: its bytes (NULL for nil) and size; a malformed frame
 * sets r->bad and gives nil. */
static const char *get_field(reader *r, size_t *size) {
  *size = 0;
  if (r->bad || r->end - r->at < 8) {
    r->bad = 1;
    return NULL;
  }
  uint64_t length = 0;
  for (int i = 0; i < 8; i++)
    length |= (uint64_t)(unsigned char)r->at[i] << (8 * i);
  r->at += 8;
  if (length == UINT64_MAX) return NULL;
  if (length > (uint64_t)(r->end - r->at)) {
    r->bad = 1;
    return NULL;
  }
  const char *bytes = r->at;
  r->at += length;
  *size = (size_t)length;
  return bytes;
}

static char *get_text(reader *r) {
  size_t size;
  const char *bytes = get_field(r, &size);
  return bytes ? copy_bytes(bytes, size) : NULL;
}

static double get_number(reader *r) {
  char *text = get_text(r);
  double value = text ? strtod(text, NULL) : 0;
  free(text);
  return value;
}

/* Reads a bag; 0, or -1 on a malformed frame or no memory. */
static int get_bag(reader *r, bag *out) {
  double count = get_number(r);
  if (r->bad || count < 0 || count > 1e7) return -1;
  out->items = calloc((size_t)count + 1, sizeof *out->items);
  if (out->items == NULL) return -1;
  for (size_t i = 0; i < (size_t)count; i++) {
    size_t size;
    char *name = get_text(r);
    const char *data = get_field(r, &size);
    if (r->bad || name == NULL || data == NULL) {
      free(name);
      return -1;
    }
    out->items[i].name = name;
    out->items[i].data = copy_bytes(data, size);
    out->items[i].size = size;
    out->count = i + 1;
    if (out->items[i].data == NULL) return -1;
  }
  return 0;
}

/* --- the worker side (a child process) --- */

/* What a run hands back: files (a run's bag, or a finish's files), a
 * value (finish), or a failure. */
typedef struct result {
  int failed;
  char *error;
  bag files;
  char *value;
  size_t value_size;
} result;

static void result_fail(result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void result_fail(result *r, const char *fmt, ...) {
  if (r->failed) return; /* the first failure is the cause */
  r->failed = 1;
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (len >= 0 && (r->error = malloc((size_t)len + 1)) != NULL) {
    va_start(ap, fmt);
    vsnprintf(r->error, (size_t)len + 1, fmt, ap);
    va_end(ap);
  }
}

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
 * budget's watchdog runs until the process ends. */
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

/* Does an error message say that memory ran out? */
static int out_of_memory(const char *msg) {
  return msg != NULL && (strstr(msg, "not enough memory") != NULL ||
                         strstr(msg, "out of memory") != NULL);
}

/* The run's error: a tripped limit's message when there is one (a memory
 * error says only "not enough memory"), else the Lua error. Memory that
 * ran out below the Lua heap's cap ran into the process's address space
 * limit, which the cap sets too. */
static void fail_with(lua_State *L, result *res, const worker *w) {
  char buf[256];
  const char *limit = lbt_limits_message(&w->limits, buf, sizeof buf);
  const char *msg = lua_tostring(L, -1);
  if (limit == NULL && out_of_memory(msg) && w->limits.cap > 0) {
    lbt_limits over = w->limits;
    over.mem_tripped = 1;
    limit = lbt_limits_message(&over, buf, sizeof buf);
  }
  result_fail(res, "%s", limit ? limit : msg ? msg : "?");
}

/* After the time budget escaped from its state (which must not be
 * touched): the same message as the budget's hook raises. */
static int fail_escaped(result *res, worker *w) {
  char buf[256];
  const char *limit = lbt_limits_message(&w->limits, buf, sizeof buf);
  result_fail(res, "%s", limit ? limit : "?");
  return LBT_LIMITS_ESCAPED;
}

/* Calls require(module)[func] with the nargs values on top of the stack;
 * leaves one result. Returns 0, or fails the run with the error message and
 * its traceback and returns -1, or LBT_LIMITS_ESCAPED when the state was
 * abandoned (lbt_limits_pcall: do not touch L again). */
static int call_module(lua_State *L, result *res, const batch *b, worker *w,
                       const char *func, int nargs) {
  int base = lua_gettop(L) - nargs + 1; /* the first argument */
  lua_pushcfunction(L, worker_traceback);
  int handler = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, b->module);
  int status = lbt_limits_pcall(&w->limits, L, 1, 1, handler);
  if (status == LBT_LIMITS_ESCAPED) return fail_escaped(res, w);
  if (status != LUA_OK) {
    fail_with(L, res, w);
    return -1;
  }
  lua_getfield(L, -1, func);
  if (!lua_isfunction(L, -1)) {
    result_fail(res, "module %s has no function %s", b->module, func);
    return -1;
  }
  lua_replace(L, -2);  /* [args handler func] */
  lua_insert(L, base); /* [func args handler] */
  lua_insert(L, base); /* [handler func args] */
  status = lbt_limits_pcall(&w->limits, L, nargs, 1, base);
  if (status == LBT_LIMITS_ESCAPED) return fail_escaped(res, w);
  if (status != LUA_OK) {
    fail_with(L, res, w);
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

/* The state of the child's one run, kept reachable until the process ends:
 * it is never closed (a finalizer could loop or crash after the run's
 * bytes are sent; the kernel takes the memory back). */
static lua_State *volatile child_state; /* volatile: a store the compiler
                                           must keep (nothing reads it) */

/* One run: job_run(job_arg, run_arg) -> bag. */
static void do_run(lua_State *L, result *res, const batch *b, worker *w,
                   const char *job_arg, size_t job_size, const char *run_arg,
                   size_t run_size) {
  push_spec_string(L, job_arg, job_size);
  push_spec_string(L, run_arg, run_size);
  int status = call_module(L, res, b, w, "job_run", 2);
  const char *why = NULL;
  if (status != 0) return;
  if (!lua_istable(L, -1))
    result_fail(res, "%s.job_run returned %s, not a table", b->module,
                luaL_typename(L, -1));
  else if (table_to_bag(L, -1, &res->files, &why) != 0)
    result_fail(res, "%s.job_run: %s", b->module, why);
}

/* The last run: job_finish(job_arg, bags) -> { files =, value = }. */
static void do_finish(lua_State *L, result *res, const batch *b, worker *w,
                      const char *job_arg, size_t job_size, bag *bags,
                      size_t nbags) {
  push_spec_string(L, job_arg, job_size);
  lua_createtable(L, (int)nbags, 0);
  for (size_t r = 0; r < nbags; r++) {
    push_bag(L, &bags[r]);
    lua_rawseti(L, -2, (int)r + 1);
    free_bag(&bags[r]);
  }
  if (call_module(L, res, b, w, "job_finish", 2) != 0) return;
  const char *why = NULL;
  if (!lua_istable(L, -1)) {
    result_fail(res, "%s.job_finish returned %s", b->module,
                luaL_typename(L, -1));
    return;
  }
  lua_getfield(L, -1, "files");
  if (lua_istable(L, -1)) {
    if (table_to_bag(L, -1, &res->files, &why) != 0)
      result_fail(res, "%s.job_finish: files: %s", b->module, why);
  } else if (!lua_isnil(L, -1)) {
    result_fail(res, "%s.job_finish: files: not a table", b->module);
  }
  lua_getfield(L, -2, "value");
  size_t size;
  const char *value = lua_tolstring(L, -1, &size);
  if (value != NULL) {
    res->value = copy_bytes(value, size);
    res->value_size = size;
  }
}

/* A call: func(arg) -> string (runner.call). */
static void do_call(lua_State *L, result *res, const batch *b, worker *w,
                    const char *func, const char *arg, size_t arg_size) {
  push_spec_string(L, arg, arg_size);
  if (call_module(L, res, b, w, func, 1) != 0) return;
  size_t size;
  const char *value = lua_tolstring(L, -1, &size);
  if (value == NULL) {
    result_fail(res, "%s.%s returned %s, not a string", b->module, func,
                luaL_typename(L, -1));
    return;
  }
  res->value = copy_bytes(value, size);
  res->value_size = size;
}

/* Writes all of [data, data+size) to fd. */
static int write_all(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    data += n;
    size -= (size_t)n;
  }
  return 0;
}

#define CHILD_FD 3
#define CHILD_INPUT_MAX ((size_t)1 << 31)
/* Address space a child may use beyond its Lua heap's cap and its data
 * (the executable, libraries, thread stacks, engine buffers). */
#define CHILD_AS_SLACK ((rlim_t)256 << 20)

/* The child's result frame: "ok" | "error", the message, the value, the
 * files. */
static void send_result(const result *res) {
  frame f = {0};
  put_text(&f, res->failed ? "error" : "ok");
  put_text(&f, res->failed ? (res->error ? res->error : "failed") : NULL);
  put_field(&f, res->value, res->value_size);
  put_bag(&f, &res->files);
  if (f.failed) {
    frame small = {0};
    put_text(&small, "error");
    put_text(&small, "out of memory sending the run's output");
    put_field(&small, NULL, 0);
    put_number(&small, 0);
    write_all(CHILD_FD, small.data, small.size);
    free(small.data);
  } else {
    write_all(CHILD_FD, f.data, f.size);
  }
  free(f.data);
}

/* lbt_limits_stuck in a child: the budget's message as the result frame,
 * with write() only (a signal handler), then the end of the process. */
static void send_stuck(const char *message) {
  static const char *const fields[] = {"error", NULL, NULL, "0"};
  for (int i = 0; i < 4; i++) {
    const char *text = i == 1 ? message : fields[i];
    unsigned char word[8];
    uint64_t length = text ? strlen(text) : UINT64_MAX;
    for (int k = 0; k < 8; k++) word[k] = (unsigned char)(length >> (8 * k));
    if (write(CHILD_FD, word, 8) != 8) break;
    if (text != NULL && write(CHILD_FD, text, strlen(text)) < 0) break;
  }
  _exit(1);
}

static char *read_input(size_t *size) {
  size_t cap = 65536, used = 0;
  char *data = malloc(cap);
  while (data != NULL) {
    if (used == cap) {
      char *grown = cap < CHILD_INPUT_MAX ? realloc(data, cap * 2) : NULL;
      if (grown == NULL) {
        free(data);
        return NULL;
      }
      data = grown;
      cap *= 2;
    }
    ssize_t n = read(CHILD_FD, data + used, cap - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      free(data);
      return NULL;
    }
    if (n == 0) break;
    used += (size_t)n;
  }
  *size = used;
  return data;
}

/* Kernel limits of the child, before any job code runs: no core file, CPU
 * seconds (SIGXCPU, then SIGKILL a second later), address space (the Lua
 * heap's cap plus the data file and some slack; not under valgrind, which
 * needs its own). */
static void set_limits(double cpu_seconds, size_t memory_cap,
                       size_t data_size) {
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  if (cpu_seconds > 0) {
    rlim_t soft = (rlim_t)cpu_seconds + (cpu_seconds > (rlim_t)cpu_seconds);
    struct rlimit cpu = {soft, soft + 1};
    setrlimit(RLIMIT_CPU, &cpu);
  }
  if (memory_cap > 0 && !RUNNING_ON_VALGRIND && !ADDRESS_SANITIZER) {
    rlim_t bytes = (rlim_t)memory_cap + (rlim_t)data_size + CHILD_AS_SLACK;
    struct rlimit as = {bytes, bytes};
    setrlimit(RLIMIT_AS, &as);
  }
}

/* The size of the file at path (the run's data), or 0. */
static size_t file_size(const char *path) {
  struct stat st;
  if (path == NULL || stat(path, &st) != 0) return 0;
  return (size_t)st.st_size;
}

/* The job frame (see child_input): kind ("run" | "finish" | "call"),
 * module, func, home, path, cpath, memory_cap, budget, timeout, data path,
 * label, run index, runs, job arg, run arg, then (finish) the bags. */
int lbt_runner_child_main(void) {
  dup2(1, 2); /* stdout and stderr: the one log pipe */
  /* The parent decides when a run stops (it kills its children on Ctrl-C,
   * SIGTERM or SIGHUP); a child whose parent died goes too. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) _exit(1);
  size_t size = 0;
  char *input = read_input(&size);
  if (input == NULL) return 1;
  reader r = {input, input + size, 0};
  batch b;
  memset(&b, 0, sizeof b);
  char *kind = get_text(&r);
  b.module = get_text(&r);
  char *func = get_text(&r);
  b.home = get_text(&r);
  b.path = get_text(&r);
  b.cpath = get_text(&r);
  b.memory_cap = (size_t)get_number(&r);
  b.budget = get_number(&r);
  b.timeout = get_number(&r);
  char *data_path = get_text(&r);
  char *label = get_text(&r);
  worker w;
  memset(&w, 0, sizeof w);
  w.label = label ? label : "";
  w.run_index = (size_t)get_number(&r);
  w.nruns = (size_t)get_number(&r);
  for (int i = 0; i < 4; i++) b.clock[i] = get_number(&r);
  bt_prof_give_ticks_per_ns(b.clock[0]);
  if (b.clock[1] > 0 || b.clock[2] > 0 || b.clock[3] > 0)
    lbt_prof_give_calibration(&b.clock[1]); /* else: measured if needed */
  size_t job_size, run_size;
  const char *job_arg = get_field(&r, &job_size);
  const char *run_arg = get_field(&r, &run_size);
  result res = {0};
  if (r.bad || kind == NULL || b.module == NULL || b.home == NULL) {
    result_fail(&res, "runner: a malformed job description");
    send_result(&res);
    _exit(1);
  }
#ifdef M_ARENA_MAX
  mallopt(M_ARENA_MAX, 2); /* each arena reserves address space */
#endif
  set_limits(b.timeout, b.memory_cap, file_size(data_path));
  lbt_limits_stuck = send_stuck;
  lua_State *L = new_worker_state(&b, &w);
  child_state = L;
  if (L == NULL) {
    result_fail(&res, "cannot create a Lua state");
  } else if (strcmp(kind, "finish") == 0) {
    size_t nbags = (size_t)get_number(&r);
    bag *bags = calloc(nbags + 1, sizeof *bags);
    for (size_t i = 0; bags != NULL && i < nbags && !r.bad; i++)
      if (get_bag(&r, &bags[i]) != 0) r.bad = 1;
    if (bags == NULL || r.bad) result_fail(&res, "runner: malformed bags");
    else do_finish(L, &res, &b, &w, job_arg, job_size, bags, nbags);
    free(bags);
  } else if (strcmp(kind, "call") == 0) {
    do_call(L, &res, &b, &w, func ? func : "", job_arg, job_size);
  } else {
    do_run(L, &res, &b, &w, job_arg, job_size, run_arg, run_size);
  }
  /* The budget's watchdog stops before the bytes go out. */
  if (!w.limits.escaped) lbt_limits_stop(&w.limits);
  send_result(&res);
  int status = res.failed ? 1 : 0;
  free_bag(&res.files);
  free(res.error);
  free(res.value);
  free(kind);
  free(func);
  free(data_path);
  free(label);
  free(input);
  fflush(stdout);
  _exit(status); /* no lua_close: see child_state */
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
  if (report->log != NULL && report->log_size > 0) {
    lua_pushlstring(L, report->log, report->log_size);
    lua_setfield(L, -2, "log");
  }
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
  report.log = spec->log;
  report.log_size = spec->log_size;
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

static void append_log(job_spec *spec, const char *log, size_t size) {
  if (log == NULL || size == 0 || spec->log_size >= BT_RUNNER_LOG_MAX) return;
  if (size > BT_RUNNER_LOG_MAX - spec->log_size)
    size = BT_RUNNER_LOG_MAX - spec->log_size;
  char *grown = realloc(spec->log, spec->log_size + size);
  if (grown == NULL) return;
  memcpy(grown + spec->log_size, log, size);
  spec->log = grown;
  spec->log_size += size;
}

/* --- the children (loop thread) --- */

static char *child_args[3]; /* exe, "--child", NULL: set per batch */

/* The job frame shared by every kind (see lbt_runner_child_main). */
static void put_job_head(frame *f, const batch *b, const char *kind,
                         const char *func, const char *data_path,
                         const char *label, size_t run, size_t nruns) {
  put_text(f, kind);
  put_text(f, b->module);
  put_text(f, func);
  put_text(f, b->home);
  put_text(f, b->path);
  put_text(f, b->cpath);
  put_number(f, (double)b->memory_cap);
  put_number(f, b->budget);
  put_number(f, b->timeout);
  put_text(f, data_path);
  put_text(f, label);
  put_number(f, (double)run);
  put_number(f, (double)nruns);
  for (int i = 0; i < 4; i++) put_number(f, b->clock[i]);
}

static void fill_child(const batch *b, frame *f, bt_runner_child *child) {
  child_args[0] = (char *)b->exe;
  child_args[1] = (char *)"--child";
  child_args[2] = NULL;
  child->file = b->exe;
  child->args = child_args;
  child->input = f->data;
  child->input_size = f->size;
  /* A little more than the CPU limit: SIGXCPU, with its clear message,
   * comes first for a child that computes; the deadline is for one that
   * waits. */
  child->deadline = b->timeout > 0 ? b->timeout + 1 : 0;
}

/* opts.child: the frame of a run or of a job's finish. */
static int unit_child(bt_runner_job_t *job, void *arg,
                      bt_runner_child *child) {
  unit *u = arg;
  batch *b = u->batch;
  job_spec *spec = u->spec;
  if (u->run < spec->nruns && atomic_load(&spec->failed)) {
    bt_runner_job_fail(job, BT_EINVAL, "skipped: another run failed");
    return -1;
  }
  int finish = u->run == spec->nruns;
  /* The finish merges the runs' bytes with btlua's own code only (the
   * bags are decoded as data, never run): on the pool, in a fresh state
   * of this process, which saves a process and two copies of the bytes. */
  if (finish) return BT_RUNNER_ON_POOL;
  frame f = {0};
  put_job_head(&f, b, finish ? "finish" : "run", NULL, spec->data_path,
               spec->label, u->run, spec->nruns);
  put_field(&f, spec->arg, spec->arg_size);
  if (finish) {
    put_field(&f, NULL, 0);
    put_number(&f, (double)spec->nruns);
    for (size_t r = 0; r < spec->nruns; r++) {
      put_bag(&f, &spec->bags[r]);
      free_bag(&spec->bags[r]);
    }
  } else {
    put_field(&f, spec->runs[u->run].arg, spec->runs[u->run].arg_size);
  }
  if (f.failed) {
    free(f.data);
    bt_runner_job_fail(job, BT_ENOMEM, "runner: out of memory");
    return -1;
  }
  fill_child(b, &f, child);
  return 0;
}

static const char *signal_name(int signum) {
  switch (signum) {
  case SIGSEGV: return "SIGSEGV";
  case SIGBUS: return "SIGBUS";
  case SIGABRT: return "SIGABRT";
  case SIGFPE: return "SIGFPE";
  case SIGILL: return "SIGILL";
  case SIGKILL: return "SIGKILL";
  case SIGTERM: return "SIGTERM";
  case SIGXCPU: return "SIGXCPU";
  case SIGPIPE: return "SIGPIPE";
  case SIGSYS: return "SIGSYS";
  default: return "a signal";
  }
}

/* Reads a child's result frame into status, message, value and files.
 * Returns 0, or -1 when the bytes are not a whole frame. */
static int read_result(const bt_runner_exit *how, result *res) {
  reader r = {how->output, how->output + how->output_size, 0};
  char *status = get_text(&r);
  size_t size;
  const char *error = get_field(&r, &size);
  if (error != NULL) res->error = copy_bytes(error, size);
  const char *value = get_field(&r, &size);
  if (value != NULL) {
    res->value = copy_bytes(value, size);
    res->value_size = size;
  }
  int bad = r.bad || status == NULL || get_bag(&r, &res->files) != 0 ||
            r.at != r.end;
  res->failed = status == NULL || strcmp(status, "ok") != 0;
  free(status);
  return bad ? -1 : 0;
}

/* Fails the job with how its child ended when it did not end well. Returns
 * 1 when it did (and the result frame counts). */
static int child_ended_well(bt_runner_job_t *job, const batch *b,
                            const bt_runner_exit *how, const result *res,
                            int frame_ok) {
  if (how->timed_out) {
    bt_runner_job_fail(job, BT_EINVAL, "killed after %g s of wall-clock "
                       "time (--timeout)", b->timeout);
  } else if (how->term_signal == SIGXCPU ||
             (how->term_signal == SIGKILL && b->timeout > 0 && !frame_ok)) {
    bt_runner_job_fail(job, BT_EINVAL, "killed after %g s of CPU "
                       "(--timeout)", b->timeout);
  } else if (how->too_much) {
    bt_runner_job_fail(job, BT_EINVAL, "killed: handed back more than %zu "
                       "bytes", (size_t)BT_RUNNER_OUTPUT_MAX);
  } else if (how->term_signal != 0) {
    bt_runner_job_fail(job, BT_EINVAL, "crashed: killed by %s (signal %d)",
                       signal_name(how->term_signal), how->term_signal);
  } else if (frame_ok && res->failed) {
    bt_runner_job_fail(job, BT_EINVAL, "%s", res->error ? res->error : "?");
  } else if (!frame_ok || how->exit_status != 0) {
    bt_runner_job_fail(job, BT_EINVAL, "the run's process ended with exit "
                       "status %d without a result", (int)how->exit_status);
  } else {
    return 1;
  }
  return 0;
}

static void free_result(result *res) {
  free_bag(&res->files);
  free(res->error);
  free(res->value);
}

/* The files and value of a result become the job's. */
static void hand_over(bt_runner_job_t *job, const result *res) {
  for (size_t i = 0; i < res->files.count; i++)
    if (bt_runner_job_add_file(job, res->files.items[i].name,
                               res->files.items[i].data,
                               res->files.items[i].size) != BT_OK) {
      bt_runner_job_fail(job, BT_EINVAL, "bad output file name '%s'",
                         res->files.items[i].name);
      break;
    }
  if (res->value != NULL)
    bt_runner_job_set_value(job, res->value, res->value_size);
}

/* opts.work: a job's finish on a pool thread (see unit_child). */
static void finish_work(bt_runner_job_t *job, void *arg) {
  unit *u = arg;
  job_spec *spec = u->spec;
  worker w;
  memset(&w, 0, sizeof w);
  w.label = spec->label;
  w.run_index = w.nruns = spec->nruns;
  result res = {0};
  lua_State *L = new_worker_state(u->batch, &w);
  if (L == NULL) {
    bt_runner_job_fail(job, BT_ENOMEM, "cannot create a Lua state");
    return;
  }
  do_finish(L, &res, u->batch, &w, spec->arg, spec->arg_size, spec->bags,
            spec->nruns);
  if (res.failed)
    bt_runner_job_fail(job, BT_EINVAL, "%s", res.error ? res.error : "?");
  else
    hand_over(job, &res);
  free_result(&res);
  if (w.limits.escaped) return; /* left on purpose (lbt_limits.c) */
  lbt_limits_stop(&w.limits);
  lua_close(L);
}

/* opts.collect: a run's bag is kept for the finish; a finish's files and
 * value become the job's. */
static void unit_collect(bt_runner_job_t *job, void *arg,
                         const bt_runner_exit *how) {
  unit *u = arg;
  job_spec *spec = u->spec;
  result res = {0};
  int frame_ok = read_result(how, &res) == 0;
  if (child_ended_well(job, u->batch, how, &res, frame_ok)) {
    if (u->run < spec->nruns) {
      spec->bags[u->run] = res.files;
      res.files.items = NULL;
      res.files.count = 0;
    } else {
      hand_over(job, &res);
    }
  }
  free_result(&res);
}

/* A unit is over (loop thread). After the last run of a job, its finish
 * is queued ahead of everything not yet started. */
static void done(void *ctx, const bt_runner_report *report) {
  batch *b = ctx;
  unit *u = report->arg;
  job_spec *spec = u->spec;
  spec->seconds += report->seconds;
  append_log(spec, report->log, report->log_size);
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
    spec->data_path = field_string(L, -1, "data", NULL, 0);
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

/* The options every child shares: timeout, and this executable. */
static void read_child_options(lua_State *L, batch *b) {
  lua_getfield(L, 1, "timeout"); /* s of wall and CPU time; 0 = none */
  b->timeout = lua_isnil(L, -1) ? 0 : (double)luaL_checknumber(L, -1);
  luaL_argcheck(L, b->timeout >= 0, 1, "'timeout' must be >= 0");
  lua_pop(L, 1);
  size_t size = sizeof b->exe;
  if (uv_exepath(b->exe, &size) != 0)
    luaL_error(L, "runner: cannot find this executable's path");
  b->clock[0] = bt_prof_ticks_per_ns();
  /* opts.calibrate = false: no run profiles call/return hooks (--profiler
   * none, sample): the hook calibration (about 250 M instructions) is
   * skipped and the children get zeros, which they do not take. */
  lua_getfield(L, 1, "calibrate");
  int calibrate = lua_isnil(L, -1) || lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (calibrate) lbt_prof_calibration(&b->clock[1]);
  else b->clock[1] = b->clock[2] = b->clock[3] = 0;
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
  read_child_options(L, b);
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
    .child = unit_child,
    .collect = unit_collect,
    .work = finish_work,
    .done = done,
    .ctx = b,
    .catch_sigint = field_bool(L, 1, "catch_sigint", 1),
    .lock = field_bool(L, 1, "lock", 0),
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

/* runner.progress(fraction): 0..1 of this run. A child is killed when
 * the run is interrupted, so there is nothing to raise; the progress line
 * shows which runs are running. */
static int runner_progress(lua_State *L) {
  luaL_checknumber(L, 1);
  return 0;
}

/* runner.cancelled() -> has the run been interrupted? (A child is killed
 * instead: always false.) */
static int runner_cancelled(lua_State *L) {
  lua_pushboolean(L, 0);
  return 1;
}

/* runner.worker() -> label, run index (1-based), runs; nil outside. */
static int runner_worker(lua_State *L) {
  worker *w = current_worker(L);
  if (w == NULL) return 0;
  lua_pushstring(L, w->label);
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

/* runner.file_kind(path) -> "file" | "directory" | "link" | "other" | nil
 * (lstat: a symbolic link is reported, never followed). */
static int runner_file_kind(lua_State *L) {
  struct stat st;
  if (lstat(luaL_checkstring(L, 1), &st) != 0) return 0;
  lua_pushstring(L, S_ISREG(st.st_mode)   ? "file"
                    : S_ISDIR(st.st_mode) ? "directory"
                    : S_ISLNK(st.st_mode) ? "link"
                                          : "other");
  return 1;
}

typedef struct call_state {
  batch *b;
  char *value;
  size_t value_size;
  char *error;
} call_state;

static int call_child(bt_runner_job_t *job, void *arg,
                      bt_runner_child *child) {
  call_state *call = arg;
  frame f = {0};
  put_job_head(&f, call->b, "call", call->b->call_func, call->b->data_path,
               "call", 0, 1);
  put_field(&f, call->b->call_arg, call->b->call_arg_size);
  put_field(&f, NULL, 0);
  if (f.failed) {
    free(f.data);
    bt_runner_job_fail(job, BT_ENOMEM, "runner: out of memory");
    return -1;
  }
  fill_child(call->b, &f, child);
  return 0;
}

static void call_collect(bt_runner_job_t *job, void *arg,
                         const bt_runner_exit *how) {
  call_state *call = arg;
  result res = {0};
  int frame_ok = read_result(how, &res) == 0;
  if (child_ended_well(job, call->b, how, &res, frame_ok) &&
      res.value != NULL)
    bt_runner_job_set_value(job, res.value, res.value_size);
  free_result(&res);
}

static void call_done(void *ctx, const bt_runner_report *report) {
  call_state *call = ctx;
  if (report->value != NULL) {
    call->value = copy_bytes(report->value, report->value_size);
    call->value_size = report->value_size;
  }
  const char *error = report->error;
  if (error != NULL) call->error = copy_bytes(error, strlen(error));
  if (report->log != NULL && report->log_size > 0)
    fwrite(report->log, 1, report->log_size, stderr);
}

/* runner.call{ module =, func =, arg =, budget =, memory_cap =, timeout =,
 * data = } -> bytes | nil, message: module.func(arg) in a child. */
static int runner_call(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  batch *b = (batch *)lua_newuserdatauv(L, sizeof *b, 0); /* 2 */
  memset(b, 0, sizeof *b);
  lua_newtable(L);
  lua_pushcfunction(L, batch_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  b->module = field_string(L, 1, "module", NULL, 1);
  b->call_func = field_string(L, 1, "func", NULL, 1);
  b->call_arg = field_string(L, 1, "arg", &b->call_arg_size, 0);
  b->data_path = field_string(L, 1, "data", NULL, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, BT_HOME_KEY);
  const char *home = lua_tostring(L, -1);
  b->home = copy_bytes(home ? home : ".", home ? strlen(home) : 1);
  lua_pop(L, 1);
  b->path = global_package_field(L, "path");
  b->cpath = global_package_field(L, "cpath");
  lua_getfield(L, 1, "memory_cap");
  b->memory_cap = lua_isnil(L, -1) ? LBT_LIMITS_CAP_DEFAULT
                                   : (size_t)luaL_checknumber(L, -1);
  lua_getfield(L, 1, "budget");
  b->budget = lua_isnil(L, -1) ? LBT_LIMITS_BUDGET_DEFAULT
                               : (double)luaL_checknumber(L, -1);
  lua_pop(L, 2);
  read_child_options(L, b);
  call_state call = {b, NULL, 0, NULL};
  bt_runner_opts opts = {
    .loop = bt_lua_loop(L), .output_dir = NULL, .parallel = 1,
    .child = call_child, .collect = call_collect, .done = call_done,
    .ctx = &call, .catch_sigint = 1,
  };
  bt_runner_t *runner = NULL;
  bt_err err = {0};
  if (bt_runner_new(&opts, &runner, &err) != BT_OK) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  bt_runner_add(runner, "call", &call);
  bt_runner_run(runner);
  bt_runner_free(runner);
  if (call.error != NULL || call.value == NULL) {
    lua_pushnil(L);
    lua_pushstring(L, call.error ? call.error : "no result");
  } else {
    lua_pushlstring(L, call.value, call.value_size);
  }
  free(call.value);
  free(call.error);
  return call.error != NULL || call.value == NULL ? 2 : 1;
}

static const luaL_Reg runner_funcs[] = {
  {"call", runner_call},
  {"file_kind", runner_file_kind},
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
  /* Does a run's process get an address space limit (not in a sanitizer
   * build, nor under valgrind)? */
  lua_pushboolean(L, !ADDRESS_SANITIZER);
  lua_setfield(L, -2, "address_space_limit");
  return 1;
}
