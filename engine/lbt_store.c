/* lbt_store.c: core.store: bundles (btlua.Bundle userdata over a mmap'd
 * bt_store), the synthetic-data cache, calendars, time text, CSV ingest.
 * Indices seen from Lua are 1-based; times are integer ns UTC (whole
 * seconds are exact even as LuaJIT doubles). A bad file or bad parameter
 * value returns nil, message; a wrong argument type raises. */
#include "lbt_store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "calendar.h"
#include "ingest.h"
#include "lbt_core.h"
#include "synth.h"

typedef struct bundle_ud {
  bt_store *store; /* NULL once closed */
  int pins;        /* borrowers (the simulator); close refused while > 0 */
} bundle_ud;

static int push_fail(lua_State *L, const char *msg) {
  lua_pushnil(L);
  lua_pushstring(L, msg);
  return 2;
}

/* ---- btlua.Bundle ---- */

static bundle_ud *check_ud(lua_State *L, int idx) {
  return (bundle_ud *)luaL_checkudata(L, idx, BT_BUNDLE_TYPE);
}

bt_store *bt_lua_checkbundle(lua_State *L, int idx) {
  bundle_ud *ud = check_ud(L, idx);
  if (ud->store == NULL) luaL_error(L, "bundle is closed");
  return ud->store;
}

void bt_lua_bundle_pin(lua_State *L, int idx, int delta) {
  bundle_ud *ud = check_ud(L, idx);
  ud->pins += delta;
  if (ud->pins < 0) ud->pins = 0;
}

static int bundle_close(lua_State *L) {
  bundle_ud *ud = check_ud(L, 1);
  if (ud->pins > 0) return luaL_error(L, "bundle is in use by a simulation");
  bt_store_close(ud->store);
  ud->store = NULL;
  return 0;
}

static int bundle_gc(lua_State *L) {
  bundle_ud *ud = check_ud(L, 1);
  bt_store_close(ud->store);
  ud->store = NULL;
  return 0;
}

static int bundle_tostring(lua_State *L) {
  bundle_ud *ud = check_ud(L, 1);
  if (ud->store == NULL) {
    lua_pushliteral(L, "btlua.Bundle (closed)");
    return 1;
  }
  lua_pushfstring(L, "btlua.Bundle (%s: %d assets, %d %s sessions)",
                  bt_store_path(ud->store),
                  (int)bt_store_asset_count(ud->store),
                  (int)bt_store_session_count(ud->store),
                  bt_store_frequency(ud->store));
  return 1;
}

/* A 1-based index argument -> 0-based, checked against count. */
static size_t check_index(lua_State *L, int arg, size_t count,
                          const char *what) {
  lua_Integer i = luaL_checkinteger(L, arg);
  if (i < 1 || (lua_Integer)count < i)
    luaL_error(L, "%s index %d out of range 1..%d", what, (int)i, (int)count);
  return (size_t)(i - 1);
}

static size_t check_asset(lua_State *L, int arg, bt_store *s) {
  if (lua_type(L, arg) == LUA_TSTRING) {
    long a = bt_store_find(s, lua_tostring(L, arg));
    if (a < 0) luaL_error(L, "no asset '%s' in bundle", lua_tostring(L, arg));
    return (size_t)a;
  }
  return check_index(L, arg, bt_store_asset_count(s), "asset");
}

static int bundle_asset_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)bt_store_asset_count(bt_lua_checkbundle(L, 1)));
  return 1;
}

static int bundle_session_count(lua_State *L) {
  lua_pushinteger(L,
                  (lua_Integer)bt_store_session_count(bt_lua_checkbundle(L, 1)));
  return 1;
}

static int bundle_symbols(lua_State *L) {
  bt_store *s = bt_lua_checkbundle(L, 1);
  size_t n = bt_store_asset_count(s);
  lua_createtable(L, (int)n, 0);
  for (size_t a = 0; a < n; a++) {
    lua_pushstring(L, bt_store_symbol(s, a));
    lua_rawseti(L, -2, (int)a + 1);
  }
  return 1;
}

/* bundle:asset_index(symbol) -> 1-based index or nil */
static int bundle_asset_index(lua_State *L) {
  long a = bt_store_find(bt_lua_checkbundle(L, 1), luaL_checkstring(L, 2));
  if (a < 0) lua_pushnil(L);
  else lua_pushinteger(L, (lua_Integer)a + 1);
  return 1;
}

/* bundle:asset(i or symbol) -> {symbol=, asset_class=, price_places=,
 * bars=} */
static int bundle_asset(lua_State *L) {
  bt_store *s = bt_lua_checkbundle(L, 1);
  size_t a = check_asset(L, 2, s);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)a + 1);
  lua_setfield(L, -2, "index");
  lua_pushstring(L, bt_store_symbol(s, a));
  lua_setfield(L, -2, "symbol");
  lua_pushstring(L, bt_class_name(bt_store_asset_class(s, a)));
  lua_setfield(L, -2, "asset_class");
  lua_pushinteger(L, bt_store_price_places(s, a));
  lua_setfield(L, -2, "price_places");
  lua_pushinteger(L, (lua_Integer)bt_store_bar_count(s, a));
  lua_setfield(L, -2, "bars");
  return 1;
}

static int bundle_frequency(lua_State *L) {
  lua_pushstring(L, bt_store_frequency(bt_lua_checkbundle(L, 1)));
  return 1;
}

static int bundle_calendar(lua_State *L) {
  lua_pushstring(L, bt_store_calendar(bt_lua_checkbundle(L, 1)));
  return 1;
}

static int bundle_path(lua_State *L) {
  lua_pushstring(L, bt_store_path(bt_lua_checkbundle(L, 1)));
  return 1;
}

/* bundle:session_time(i) -> ns UTC (bar open time) */
static int bundle_session_time(lua_State *L) {
  bt_store *s = bt_lua_checkbundle(L, 1);
  size_t i = check_index(L, 2, bt_store_session_count(s), "session");
  lua_pushinteger(L, (lua_Integer)bt_store_sessions(s)[i]);
  return 1;
}

/* bundle:session_index(ns) -> index of the last session at or before ns
 * (0 when ns is before the first one) */
static int bundle_session_index(lua_State *L) {
  bt_store *s = bt_lua_checkbundle(L, 1);
  int64_t ns = (int64_t)luaL_checkinteger(L, 2);
  lua_pushinteger(L, (lua_Integer)bt_store_session_find(s, ns) + 1);
  return 1;
}

/* bundle:bar(asset, session) -> open, high, low, close, volume as decimal
 * text, or nil when the bar is missing. asset: index or symbol. */
static int bundle_bar(lua_State *L) {
  bt_store *s = bt_lua_checkbundle(L, 1);
  size_t a = check_asset(L, 2, s);
  size_t i = check_index(L, 3, bt_store_session_count(s), "session");
  if (bt_store_column(s, a, BT_FIELD_CLOSE)[i] == BT_BAR_MISSING) {
    lua_pushnil(L);
    return 1;
  }
  for (int f = 0; f < BT_FIELD_COUNT; f++) {
    char buf[BT_DEC_FMT_MAX];
    int len = bt_dec_format(bt_store_column(s, a, (bt_field)f)[i], buf);
    lua_pushlstring(L, buf, (size_t)len);
  }
  return BT_FIELD_COUNT;
}

/* bundle:verify() -> true | nil, msg (checksum of every byte, OHLC rules) */
static int bundle_verify(lua_State *L) {
  bt_err err = {0};
  if (bt_store_verify(bt_lua_checkbundle(L, 1), &err) != BT_OK)
    return push_fail(L, err.msg);
  lua_pushboolean(L, 1);
  return 1;
}

/* bundle:aggregate(frequency, out_path) -> true | nil, msg: writes this
 * bundle resampled to a coarser frequency (see bt_store_aggregate). */
static int bundle_aggregate(lua_State *L) {
  bt_store *s = bt_lua_checkbundle(L, 1);
  const char *frequency = luaL_checkstring(L, 2);
  const char *out = luaL_checkstring(L, 3);
  bt_err err = {0};
  if (bt_store_aggregate(s, frequency, out, &err) != BT_OK)
    return push_fail(L, err.msg);
  lua_pushboolean(L, 1);
  return 1;
}

static const luaL_Reg bundle_methods[] = {
    {"close", bundle_close},
    {"asset_count", bundle_asset_count},
    {"session_count", bundle_session_count},
    {"symbols", bundle_symbols},
    {"asset_index", bundle_asset_index},
    {"asset", bundle_asset},
    {"frequency", bundle_frequency},
    {"calendar", bundle_calendar},
    {"path", bundle_path},
    {"session_time", bundle_session_time},
    {"session_index", bundle_session_index},
    {"bar", bundle_bar},
    {"verify", bundle_verify},
    {"aggregate", bundle_aggregate},
    {NULL, NULL},
};

static const luaL_Reg bundle_meta[] = {
    {"__gc", bundle_gc},
    {"__close", bundle_gc},
    {"__tostring", bundle_tostring},
    {NULL, NULL},
};

/* store.open(path [, {verify = true}]) -> Bundle | nil, msg. Verifying
 * (the default) checks every byte's checksum; verify = false opens in
 * O(1) (header and asset table checked only). */
static int store_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  int flags = BT_STORE_VERIFY;
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "verify");
    if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) flags = 0;
    lua_pop(L, 1);
  }
  bundle_ud *ud = (bundle_ud *)lua_newuserdatauv(L, sizeof *ud, 0);
  ud->store = NULL;
  ud->pins = 0;
  luaL_setmetatable(L, BT_BUNDLE_TYPE);
  bt_err err = {0};
  if (bt_store_open_ex(path, flags, &ud->store, &err) != BT_OK)
    return push_fail(L, err.msg);
  return 1;
}

/* ---- synthetic data ---- */

/* A time parameter: decimal-free text ("2024-01-31", ISO) or integer ns. */
static int time_field(lua_State *L, int table, const char *key, int64_t *ns,
                      bt_err *err) {
  lua_getfield(L, table, key);
  int rc = BT_OK;
  if (lua_type(L, -1) == LUA_TSTRING) {
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    if (bt_time_parse(text, len, ns) != BT_OK)
      rc = bt_err_set(err, BT_EINVAL, "synthetic: %s: not a date '%s'", key,
                      text);
  } else if (bt_isinteger(L, -1)) {
    *ns = (int64_t)lua_tointeger(L, -1);
  } else {
    rc = bt_err_set(err, BT_EINVAL, "synthetic: %s: %s", key,
                    lua_isnil(L, -1) ? "missing (a date such as "
                                       "\"2024-01-31\")"
                                     : "expected a date text or ns integer");
  }
  lua_pop(L, 1);
  return rc;
}

static const char *string_field(lua_State *L, int table, const char *key,
                                const char *fallback) {
  lua_getfield(L, table, key);
  const char *value = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                     : fallback;
  lua_pop(L, 1); /* the string stays alive: it is in the table */
  return value;
}

/* Reads the parameter table at idx. Defaults: assets 10, frequency daily,
 * seed 1; calendar "24/7" for crypto else "XNYS"; asset_class "crypto"
 * for a 24/7 calendar else "equity". start and end are required. */
static int read_params(lua_State *L, int idx, bt_synth_params *p,
                       bt_err *err) {
  luaL_checktype(L, idx, LUA_TTABLE);
  memset(p, 0, sizeof *p);
  lua_getfield(L, idx, "assets");
  p->assets = lua_isnil(L, -1) ? 10 : (int)luaL_checkinteger(L, -1);
  lua_getfield(L, idx, "seed");
  p->seed = lua_isnil(L, -1) ? 1 : (uint64_t)luaL_checkinteger(L, -1);
  lua_pop(L, 2);
  p->frequency = string_field(L, idx, "frequency", "daily");
  const char *calendar = string_field(L, idx, "calendar", NULL);
  const char *class_name = string_field(L, idx, "asset_class", NULL);
  if (class_name == NULL)
    class_name = calendar && strcmp(calendar, "24/7") == 0 ? "crypto"
                                                            : "equity";
  int cls = bt_class_from_name(class_name);
  if (cls < 0)
    return bt_err_set(err, BT_EINVAL, "synthetic: unknown asset class '%s'",
                      class_name);
  p->asset_class = (bt_asset_class)cls;
  if (calendar == NULL) calendar = cls == BT_CLASS_CRYPTO ? "24/7" : "XNYS";
  p->calendar = calendar;
  int rc = time_field(L, idx, "start", &p->start_ns, err);
  if (rc == BT_OK) rc = time_field(L, idx, "end", &p->end_ns, err);
  return rc;
}

/* $BTLUA_CACHE, else $XDG_CACHE_HOME/btlua, else $HOME/.cache/btlua. */
static void push_cache_dir(lua_State *L) {
  const char *dir = getenv("BTLUA_CACHE");
  if (dir != NULL && dir[0] != '\0') {
    lua_pushstring(L, dir);
    return;
  }
  dir = getenv("XDG_CACHE_HOME");
  if (dir != NULL && dir[0] != '\0') {
    lua_pushfstring(L, "%s/btlua", dir);
    return;
  }
  dir = getenv("HOME");
  lua_pushfstring(L, "%s/.cache/btlua", dir && dir[0] ? dir : "/tmp");
}

/* mkdir -p; 0 ok. */
static int make_dirs(const char *path) {
  char buf[4096];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof buf) return -1;
  memcpy(buf, path, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    buf[i] = saved;
  }
  return 0;
}

/* A cached bundle is reused when it opens and verifies. */
static int cache_usable(const char *path) {
  bt_store *s;
  if (bt_store_open_ex(path, BT_STORE_VERIFY, &s, NULL) != BT_OK) return 0;
  bt_store_close(s);
  return 1;
}

/* store.synthetic(params) -> path, generated (boolean) | nil, msg.
 * The bundle is generated only when the cache has no valid copy. */
static int store_synthetic(lua_State *L) {
  bt_synth_params p;
  bt_err err = {0};
  char name[256];
  if (read_params(L, 1, &p, &err) != BT_OK ||
      bt_synth_cache_name(&p, name, sizeof name, &err) != BT_OK)
    return push_fail(L, err.msg);
  push_cache_dir(L);
  const char *dir = lua_tostring(L, -1);
  if (make_dirs(dir) != 0) {
    lua_pushfstring(L, "synthetic: cannot create cache directory %s: %s",
                    dir, strerror(errno));
    return push_fail(L, lua_tostring(L, -1));
  }
  const char *path = lua_pushfstring(L, "%s/%s", dir, name);
  if (cache_usable(path)) {
    lua_pushboolean(L, 0);
    return 2;
  }
  if (bt_synth_write(&p, path, &err) != BT_OK) return push_fail(L, err.msg);
  lua_pushboolean(L, 1);
  return 2;
}

/* store.synth_write(params, path) -> true | nil, msg (no cache). */
static int store_synth_write(lua_State *L) {
  bt_synth_params p;
  bt_err err = {0};
  const char *path = luaL_checkstring(L, 2);
  if (read_params(L, 1, &p, &err) != BT_OK ||
      bt_synth_write(&p, path, &err) != BT_OK)
    return push_fail(L, err.msg);
  lua_pushboolean(L, 1);
  return 1;
}

static int store_cache_dir(lua_State *L) {
  push_cache_dir(L);
  return 1;
}

/* ---- calendars and time text ---- */

static int64_t check_time(lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TSTRING) {
    size_t len;
    const char *text = lua_tolstring(L, arg, &len);
    int64_t ns;
    if (bt_time_parse(text, len, &ns) != BT_OK)
      luaL_argerror(L, arg, lua_pushfstring(L, "not a time '%s'", text));
    return ns;
  }
  return (int64_t)luaL_checkinteger(L, arg);
}

/* store.sessions(calendar, frequency, start, end) -> count, first, last
 * (ns; nil when there are none) | nil, msg */
static int store_sessions(lua_State *L) {
  const char *calendar = luaL_checkstring(L, 1);
  const char *frequency = luaL_checkstring(L, 2);
  int64_t start = check_time(L, 3), end = check_time(L, 4);
  int64_t *sessions;
  size_t count;
  bt_err err = {0};
  if (bt_calendar_sessions(calendar, frequency, start, end, &sessions, &count,
                           &err) != BT_OK)
    return push_fail(L, err.msg);
  lua_pushinteger(L, (lua_Integer)count);
  if (count == 0) {
    free(sessions);
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)sessions[0]);
  lua_pushinteger(L, (lua_Integer)sessions[count - 1]);
  free(sessions);
  return 3;
}

/* store.parse_time(text) -> ns | nil, msg */
static int store_parse_time(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  int64_t ns;
  if (bt_time_parse(text, len, &ns) != BT_OK) {
    lua_pushfstring(L, "not a time '%s'", text);
    return push_fail(L, lua_tostring(L, -1));
  }
  lua_pushinteger(L, (lua_Integer)ns);
  return 1;
}

/* store.format_time(ns) -> "2024-01-02T14:30:00Z" */
static int store_format_time(lua_State *L) {
  char buf[48];
  int len = bt_time_format((int64_t)luaL_checkinteger(L, 1), buf);
  lua_pushlstring(L, buf, (size_t)len);
  return 1;
}

/* ---- ingest ---- */

typedef struct skip_log {
  lua_State *L;
  int table; /* absolute index of the messages table */
  int count;
} skip_log;

#define MAX_SKIP_MESSAGES 100

static void log_skip(void *ud, const char *msg) {
  skip_log *log = (skip_log *)ud;
  if (log->count >= MAX_SKIP_MESSAGES) return;
  lua_pushstring(log->L, msg);
  lua_rawseti(log->L, log->table, ++log->count);
}

static void set_size(lua_State *L, const char *key, size_t value) {
  lua_pushinteger(L, (lua_Integer)value);
  lua_setfield(L, -2, key);
}

/* Reads the ingest options table at idx (may be none/nil). Raises for a
 * bad on_bad_row; returns an error message for an unknown class. */
static const char *read_ingest_options(lua_State *L, int idx,
                                       bt_ingest_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->asset_class = BT_CLASS_EQUITY;
  if (lua_isnoneornil(L, idx)) return NULL;
  luaL_checktype(L, idx, LUA_TTABLE);
  opts->frequency = string_field(L, idx, "frequency", NULL);
  opts->calendar = string_field(L, idx, "calendar", NULL);
  const char *on_bad = string_field(L, idx, "on_bad_row", "error");
  if (strcmp(on_bad, "skip") == 0) opts->skip_bad_rows = 1;
  else if (strcmp(on_bad, "error") != 0)
    luaL_error(L, "on_bad_row must be \"error\" or \"skip\", not \"%s\"",
               on_bad);
  const char *class_name = string_field(L, idx, "asset_class", "equity");
  int cls = bt_class_from_name(class_name);
  if (cls < 0) return lua_pushfstring(L, "unknown asset class '%s'", class_name);
  opts->asset_class = (bt_asset_class)cls;
  return NULL;
}

/* store.ingest(src, out [, {frequency=, calendar=, on_bad_row="error"|
 * "skip", asset_class=}]) -> {rows=, skipped=, assets=, sessions=,
 * files=, bytes=, frequency=, messages={...}} | nil, msg */
static int store_ingest(lua_State *L) {
  const char *src = luaL_checkstring(L, 1);
  const char *out = luaL_checkstring(L, 2);
  bt_ingest_options opts;
  const char *bad = read_ingest_options(L, 3, &opts);
  if (bad != NULL) return push_fail(L, bad);
  lua_newtable(L);
  skip_log log = {L, lua_gettop(L), 0};
  opts.on_skip = log_skip;
  opts.on_skip_ud = &log;
  bt_ingest_stats stats;
  bt_err err = {0};
  if (bt_ingest(src, out, &opts, &stats, &err) != BT_OK)
    return push_fail(L, err.msg);
  lua_createtable(L, 0, 8);
  set_size(L, "rows", stats.rows);
  set_size(L, "skipped", stats.skipped);
  set_size(L, "assets", stats.assets);
  set_size(L, "sessions", stats.sessions);
  set_size(L, "files", stats.files);
  set_size(L, "bytes", stats.bytes);
  lua_pushstring(L, stats.frequency);
  lua_setfield(L, -2, "frequency");
  lua_pushvalue(L, log.table);
  lua_setfield(L, -2, "messages");
  return 1;
}

/* Adds a file's identity (name, size, mtime) to a running hash. */
static uint64_t hash_file_identity(const char *path, const struct stat *st,
                                   uint64_t h) {
  int64_t facts[3] = {(int64_t)st->st_size, (int64_t)st->st_mtim.tv_sec,
                      (int64_t)st->st_mtim.tv_nsec};
  h = bt_store_hash(path, strlen(path), h);
  return bt_store_hash(facts, sizeof facts, h);
}

/* A key for the CSV input src: the name, size and mtime of src or of each
 * *.csv file in the directory src (summed, so listing order does not
 * matter). 0 when src cannot be read. */
static uint64_t source_key(const char *src) {
  struct stat st;
  if (stat(src, &st) != 0) return 0;
  if (!S_ISDIR(st.st_mode)) return hash_file_identity(src, &st, 1);
  DIR *dir = opendir(src);
  if (dir == NULL) return 0;
  uint64_t key = 2;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    char path[4096 + 512];
    snprintf(path, sizeof path, "%s/%s", src, entry->d_name);
    size_t len = strlen(entry->d_name);
    if (entry->d_name[0] != '.' && len > 4 &&
        strcasecmp(entry->d_name + len - 4, ".csv") == 0 &&
        stat(path, &st) == 0)
      key += hash_file_identity(entry->d_name, &st, 3);
  }
  closedir(dir);
  return key;
}

/* store.ingest_cached(src [, options]) -> bundle path, ingested (boolean)
 * | nil, msg. Like ingest, into the cache directory, keyed by the real
 * path, size and mtime of every input file, the options and the format
 * version; a valid cached bundle is reused. */
static int store_ingest_cached(lua_State *L) {
  const char *src = luaL_checkstring(L, 1);
  bt_ingest_options opts;
  const char *bad = read_ingest_options(L, 2, &opts);
  if (bad != NULL) return push_fail(L, bad);
  char real[4096];
  if (realpath(src, real) == NULL) {
    lua_pushfstring(L, "%s: cannot open: %s", src, strerror(errno));
    return push_fail(L, lua_tostring(L, -1));
  }
  uint64_t key = source_key(real);
  const char *parts[3] = {opts.frequency, opts.calendar,
                          bt_class_name(opts.asset_class)};
  for (int i = 0; i < 3; i++)
    if (parts[i]) key = bt_store_hash(parts[i], strlen(parts[i]), key + i);
  key = bt_store_hash(real, strlen(real), key + opts.skip_bad_rows +
                                              (uint64_t)BT_STORE_VERSION * 16);
  const char *base = strrchr(real, '/');
  base = base && base[1] ? base + 1 : "data";
  push_cache_dir(L);
  const char *dir = lua_tostring(L, -1);
  if (make_dirs(dir) != 0) {
    lua_pushfstring(L, "cannot create cache directory %s: %s", dir,
                    strerror(errno));
    return push_fail(L, lua_tostring(L, -1));
  }
  char name[128];
  snprintf(name, sizeof name, "ingest-%.40s-%016llx.btb", base,
           (unsigned long long)key);
  const char *path = lua_pushfstring(L, "%s/%s", dir, name);
  if (cache_usable(path)) {
    lua_pushboolean(L, 0);
    return 2;
  }
  bt_ingest_stats stats;
  bt_err err = {0};
  if (bt_ingest(src, path, &opts, &stats, &err) != BT_OK)
    return push_fail(L, err.msg);
  lua_pushboolean(L, 1);
  return 2;
}

static const luaL_Reg store_funcs[] = {
    {"open", store_open},
    {"synthetic", store_synthetic},
    {"synth_write", store_synth_write},
    {"cache_dir", store_cache_dir},
    {"sessions", store_sessions},
    {"parse_time", store_parse_time},
    {"format_time", store_format_time},
    {"ingest", store_ingest},
    {"ingest_cached", store_ingest_cached},
    {NULL, NULL},
};

int luaopen_btlua_store(lua_State *L) {
  if (luaL_newmetatable(L, BT_BUNDLE_TYPE)) {
    luaL_setfuncs(L, bundle_meta, 0);
    luaL_newlib(L, bundle_methods);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, BT_BUNDLE_TYPE);
    lua_setfield(L, -2, "__name");
  }
  lua_pop(L, 1);
  luaL_newlib(L, store_funcs);
  lua_pushinteger(L, BT_STORE_VERSION);
  lua_setfield(L, -2, "format_version");
  lua_pushinteger(L, BT_SYNTH_VERSION);
  lua_setfield(L, -2, "synth_version");
  return 1;
}
