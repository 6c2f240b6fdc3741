/* lbt_sim.c: core.sim: a backtest run (btlua.Sim) over a Bundle, and the
 * zipline-style strategy API: the ctx and data objects, orders, indicators,
 * history views (btlua.History), and the fast path: per-bar values kept in
 * preallocated Lua arrays (asset index 1..N) that C refreshes in place, so
 * a strategy reads data.close[i] or ctx.position[i] as a plain table read.
 *
 *   local sim = core.sim.new(bundle, {capital=, fill=, slippage=,
 *                                     commission=, stop_limit=,
 *                                     allow_margin=, prof=})
 *   local ctx, data = sim:context()
 *   strategy.initialize(ctx)
 *   sim:run(strategy.handle_data [, progress [, {on_order=, on_fill=}]])
 *   local results = sim:results(name)
 *
 * Numbers in: quantities and money are integers, decimal text or btlua.Dec
 * (a float raises); prices of limit/stop styles, percents and model
 * parameters may also be floats, converted explicitly to the nearest
 * 10^-8. Numbers out: doubles converted from the exact decimals (NaN for a
 * missing bar or an indicator that is not ready yet). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbt_core.h"
#include "lbt_limits.h"
#include "lbt_dec.h"
#include "lbt_store.h"
#include "sim.h"

#include "lbt_prof.h"

#define SIM_TYPE "btlua.Sim"
#define HISTORY_TYPE "btlua.History"

enum { PUB_DOUBLE, PUB_BOOL };

typedef struct pub {
  int kind;
  const void *src; /* asset_count doubles or bools, owned by the bt_sim */
} pub;

/* Stack slots of a running sim:run, from `base`. */
enum { SLOT_TRACEBACK = 1, SLOT_HANDLE, SLOT_PROGRESS, SLOT_CTX, SLOT_DATA,
       SLOT_PUBS, SLOT_POSITION, SLOT_PENDING, SLOT_ERROR, SLOT_ON_ORDER,
       SLOT_ON_FILL, SLOT_COUNT };

typedef struct lsim {
  bt_sim *sim;
  bt_sim_market market;
  bool has_context;
  double *position_d, *pending_d; /* asset_count: ctx.position, .pending */
  bt_dec *position_q, *pending_q;  /* the decimals they were made from */
  pub *pubs;
  int pub_count, pub_cap;
  lua_State *L; /* the running state, during sim:run */
  int base;     /* stack slot before SLOT_TRACEBACK, during sim:run */
  int64_t progress_every;
  int64_t rejections_seen;
  int64_t expirations_seen;
  bool callbacks;       /* on_order or on_fill given to sim:run */
  int64_t fills_seen;   /* fills already given to on_fill */
} lsim;

static lsim *check_sim(lua_State *L, int idx) {
  lsim *s = (lsim *)luaL_checkudata(L, idx, SIM_TYPE);
  if (s->sim == NULL) luaL_error(L, "simulation is closed");
  return s;
}

/* The sim of a ctx/data method: its first upvalue. */
static lsim *up_sim(lua_State *L) {
  return (lsim *)lua_touserdata(L, lua_upvalueindex(1));
}

/* What a sim keeps alive lives in a table that is its user value (so a
 * sim and its ctx/data, which point back at it, are collected together):
 * these are its slots. */
enum { ENV_BUNDLE = 1, ENV_CTX, ENV_DATA, ENV_PUBS, ENV_POSITION,
       ENV_PENDING, ENV_SYMBOLS, ENV_SELF, ENV_COUNT = ENV_SELF };

static void push_env(lua_State *L, int sim_idx) {
#if LUA_VERSION_NUM >= 504
  lua_getiuservalue(L, sim_idx, 1);
#else
  lua_getfenv(L, sim_idx);
#endif
}

/* Pushes slot `slot` of the sim at the absolute index sim_idx. */
static void push_slot(lua_State *L, int sim_idx, int slot) {
  push_env(L, sim_idx);
  lua_rawgeti(L, -1, slot);
  lua_remove(L, -2);
}

/* Pops the value on top into slot `slot`. */
static void set_slot(lua_State *L, int sim_idx, int slot) {
  push_env(L, sim_idx);
  lua_insert(L, -2);
  lua_rawseti(L, -2, slot);
  lua_pop(L, 1);
}

/* ---- arguments ---------------------------------------------------------- */

/* A decimal from an integer, text, Dec, or (explicitly converted) float. */
static bt_dec check_price(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER && !bt_isinteger(L, idx)) {
    bt_dec v;
    if (bt_dec_from_double(lua_tonumber(L, idx), &v) != BT_OK)
      luaL_argerror(L, idx, "number out of the decimal range");
    return v;
  }
  return bt_lua_checkdec(L, idx);
}

/* 0-based asset of an index 1..N or a symbol. */
static int32_t check_asset(lua_State *L, lsim *s, int idx) {
  int32_t n = s->market.asset_count;
  if (lua_type(L, idx) == LUA_TSTRING) {
    push_slot(L, lua_upvalueindex(1), ENV_SYMBOLS);
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    lua_Integer a = lua_isnil(L, -1) ? 0 : lua_tointeger(L, -1);
    lua_pop(L, 2);
    if (a == 0)
      luaL_argerror(L, idx, lua_pushfstring(L, "no asset '%s'",
                                            lua_tostring(L, idx)));
    return (int32_t)a - 1;
  }
  lua_Integer a = luaL_checkinteger(L, idx);
  if (a < 1 || a > n)
    luaL_argerror(L, idx, lua_pushfstring(L, "asset index %d out of 1..%d",
                                          (int)a, (int)n));
  return (int32_t)a - 1;
}

static const char *const FIELD_NAMES[] = {"open", "high", "low", "close",
                                          "volume", "price", NULL};

static int check_field(lua_State *L, int idx) {
  int f = luaL_checkoption(L, idx, "close", FIELD_NAMES);
  return f == 5 ? BT_SIM_CLOSE : f;
}

static void raise_err(lua_State *L, const bt_err *err, int rc) {
  luaL_error(L, "%s", err->msg[0] ? err->msg : bt_strerror(rc));
}

/* ---- configuration ------------------------------------------------------ */

/* Decimal field `name` of the table at idx, or `fallback` when absent. */
static bt_dec dec_field(lua_State *L, int idx, const char *what,
                        const char *name, bt_dec fallback) {
  lua_getfield(L, idx, name);
  bt_dec v = fallback;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) == LUA_TNUMBER && !bt_isinteger(L, -1)) {
      if (bt_dec_from_double(lua_tonumber(L, -1), &v) != BT_OK)
        luaL_error(L, "%s.%s: out of range", what, name);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
      if (bt_dec_parse(lua_tostring(L, -1), (size_t)-1, &v) != BT_OK)
        luaL_error(L, "%s.%s: not a decimal: '%s'", what, name,
                   lua_tostring(L, -1));
    } else {
      bt_dec *d = bt_lua_testdec(L, -1);
      if (d == NULL && !bt_isinteger(L, -1))
        luaL_error(L, "%s.%s: decimal expected, got %s", what, name,
                   luaL_typename(L, -1));
      v = d ? *d : bt_lua_checkdec(L, lua_gettop(L));
    }
  }
  lua_pop(L, 1);
  return v;
}

static void check_slippage(lua_State *L, int cfg, bt_slippage *out) {
  lua_getfield(L, cfg, "slippage");
  int idx = lua_gettop(L);
  *out = (bt_slippage){0};
  if (lua_isnil(L, idx) ||
      (lua_type(L, idx) == LUA_TSTRING && strcmp(lua_tostring(L, idx),
                                                 "none") == 0)) {
    lua_pop(L, 1);
    return;
  }
  const char *model = NULL;
  if (lua_type(L, idx) == LUA_TSTRING) {
    model = lua_tostring(L, idx);
    lua_newtable(L);
    lua_replace(L, idx);
  } else if (lua_istable(L, idx)) {
    lua_getfield(L, idx, "model");
    model = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  if (model && strcmp(model, "none") == 0) {
  } else if (model && strcmp(model, "fixed_bps") == 0) {
    out->model = BT_SLIPPAGE_FIXED_BPS;
    out->bps = dec_field(L, idx, "slippage", "bps", BT_DEC_SCALE * 5);
    out->volume_limit = dec_field(L, idx, "slippage", "volume_limit", 0);
  } else if (model && strcmp(model, "volume_share") == 0) {
    out->model = BT_SLIPPAGE_VOLUME_SHARE;
    out->volume_limit = dec_field(L, idx, "slippage", "volume_limit",
                                  BT_DEC_SCALE / 40);
    out->price_impact = dec_field(L, idx, "slippage", "price_impact",
                                  BT_DEC_SCALE / 10);
  } else {
    luaL_error(L, "slippage: unknown model '%s' (none, fixed_bps, "
                  "volume_share)", model ? model : "?");
  }
  if (out->volume_limit < 0 || out->bps < 0 || out->price_impact < 0)
    luaL_error(L, "slippage: parameters must be >= 0");
  lua_pop(L, 1);
}

static void check_commission(lua_State *L, int cfg, bt_commission *out) {
  lua_getfield(L, cfg, "commission");
  int idx = lua_gettop(L);
  *out = (bt_commission){0};
  const char *model = NULL;
  if (lua_type(L, idx) == LUA_TSTRING) model = lua_tostring(L, idx);
  else if (lua_istable(L, idx)) {
    lua_getfield(L, idx, "model");
    model = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  if (lua_isnil(L, idx) || (model && strcmp(model, "none") == 0)) {
  } else if (model && lua_istable(L, idx) && strcmp(model, "per_share") == 0) {
    out->model = BT_COMMISSION_PER_SHARE;
    out->cost = dec_field(L, idx, "commission", "cost", 0);
    out->min_per_order = dec_field(L, idx, "commission", "min_per_order", 0);
  } else if (model && lua_istable(L, idx) && strcmp(model, "per_trade") == 0) {
    out->model = BT_COMMISSION_PER_TRADE;
    out->cost = dec_field(L, idx, "commission", "cost", 0);
  } else if (model && lua_istable(L, idx) &&
             strcmp(model, "per_dollar") == 0) {
    out->model = BT_COMMISSION_PER_DOLLAR;
    out->rate = dec_field(L, idx, "commission", "rate", 0);
  } else {
    luaL_error(L, "commission: unknown model '%s' (none, or a table with "
                  "model = per_share, per_trade, per_dollar)",
               model ? model : "?");
  }
  if (out->cost < 0 || out->min_per_order < 0 || out->rate < 0)
    luaL_error(L, "commission: parameters must be >= 0");
  lua_pop(L, 1);
}

static void check_config(lua_State *L, int cfg, bt_sim_config *config) {
  *config = (bt_sim_config){0};
  luaL_checktype(L, cfg, LUA_TTABLE);
  config->capital = dec_field(L, cfg, "config", "capital", 0);
  if (config->capital <= 0) luaL_error(L, "capital: must be > 0");
  lua_getfield(L, cfg, "fill");
  const char *fill = luaL_optstring(L, -1, "next_open");
  if (strcmp(fill, "next_open") == 0) config->blotter.fill = BT_FILL_NEXT_OPEN;
  else if (strcmp(fill, "next_close") == 0)
    config->blotter.fill = BT_FILL_NEXT_CLOSE;
  else luaL_error(L, "fill: '%s' is not next_open or next_close", fill);
  lua_pop(L, 1);
  lua_getfield(L, cfg, "stop_limit");
  const char *stop_limit = luaL_optstring(L, -1, "same_bar");
  if (strcmp(stop_limit, "same_bar") == 0)
    config->blotter.stop_limit = BT_STOP_LIMIT_SAME_BAR;
  else if (strcmp(stop_limit, "next_bar") == 0)
    config->blotter.stop_limit = BT_STOP_LIMIT_NEXT_BAR;
  else luaL_error(L, "stop_limit: '%s' is not same_bar or next_bar",
                  stop_limit);
  lua_pop(L, 1);
  check_slippage(L, cfg, &config->blotter.slippage);
  check_commission(L, cfg, &config->blotter.commission);
  lua_getfield(L, cfg, "allow_margin");
  config->allow_margin = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, cfg, "warmup");
  if (!lua_isnil(L, -1)) {
    lua_Number warmup = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER || warmup != floor(warmup) ||
        warmup < 0 || warmup > 1e15)
      luaL_error(L, "warmup: must be an integer >= 0, got %s",
                 lua_tostring(L, -1) ? lua_tostring(L, -1)
                                     : luaL_typename(L, -1));
    config->warmup = (int64_t)warmup;
  }
  lua_pop(L, 1);
  lua_getfield(L, cfg, "prof");
  if (!lua_isnil(L, -1)) config->prof = bt_lua_checkprof(L, lua_gettop(L));
  lua_pop(L, 1);
}

/* config.benchmark: nil, "equal_weight" or a symbol of the market. */
static int check_benchmark(lua_State *L, int cfg, const bt_sim_market *market,
                           bt_sim_config *config, bt_err *err) {
  lua_getfield(L, cfg, "benchmark");
  int rc = BT_OK;
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *name = lua_tostring(L, -1);
    config->benchmark = BT_BENCH_ASSET;
    config->benchmark_asset = -1;
    for (int32_t a = 0; a < market->asset_count; a++)
      if (strcmp(market->symbols[a], name) == 0) config->benchmark_asset = a;
    if (strcmp(name, "equal_weight") == 0)
      config->benchmark = BT_BENCH_EQUAL_WEIGHT;
    else if (config->benchmark_asset < 0)
      rc = bt_err_set(err, BT_EINVAL, "benchmark: \"%s\" is neither an "
                      "asset of the data nor \"equal_weight\"", name);
  } else if (!lua_isnil(L, -1)) {
    rc = bt_err_set(err, BT_EINVAL, "benchmark: must be a symbol or "
                    "\"equal_weight\", got a %s", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return rc;
}

/* ---- core.sim.new ------------------------------------------------------- */

static int sim_new(lua_State *L) {
  bt_store *store = bt_lua_checkbundle(L, 1);
  bt_sim_config config;
  check_config(L, 2, &config);
  lsim *s = (lsim *)lua_newuserdatauv(L, sizeof *s, 1);
  memset(s, 0, sizeof *s);
  int self = lua_gettop(L);
  lua_createtable(L, ENV_COUNT, 0);
#if LUA_VERSION_NUM >= 504
  lua_setiuservalue(L, self, 1);
#else
  lua_setfenv(L, self);
#endif
  luaL_setmetatable(L, SIM_TYPE);
  bt_err err = {0};
  int rc = bt_sim_market_from_store(store, &s->market, &err);
  if (rc == BT_OK) rc = check_benchmark(L, 2, &s->market, &config, &err);
  if (rc == BT_OK) rc = bt_sim_new(&s->market, &config, &s->sim, &err);
  if (rc == BT_OK) {
    size_t n = (size_t)s->market.asset_count;
    s->position_d = calloc(n, sizeof(double));
    s->pending_d = calloc(n, sizeof(double));
    s->position_q = calloc(n, sizeof(bt_dec));
    s->pending_q = calloc(n, sizeof(bt_dec));
    if (!s->position_d || !s->pending_d || !s->position_q || !s->pending_q)
      rc = bt_err_set(&err, BT_ENOMEM, "sim: out of memory");
  }
  if (rc != BT_OK) {
    bt_sim_free(s->sim);
    s->sim = NULL;
    bt_sim_market_free(&s->market);
    raise_err(L, &err, rc);
  }
  lua_pushvalue(L, 1);
  bt_lua_bundle_pin(L, -1, +1);
  set_slot(L, self, ENV_BUNDLE);
  lua_createtable(L, 0, s->market.asset_count); /* symbol -> index */
  for (int32_t a = 0; a < s->market.asset_count; a++) {
    lua_pushinteger(L, a + 1);
    lua_setfield(L, -2, s->market.symbols[a]);
  }
  set_slot(L, self, ENV_SYMBOLS);
  lua_newtable(L);
  set_slot(L, self, ENV_PUBS);
  lua_createtable(L, 1, 0); /* user value of history views: the sim */
  lua_pushvalue(L, self);
  lua_rawseti(L, -2, 1);
  set_slot(L, self, ENV_SELF);
  return 1;
}

static int sim_gc(lua_State *L) {
  lsim *s = (lsim *)luaL_checkudata(L, 1, SIM_TYPE);
  free(s->position_d);
  free(s->pending_d);
  free(s->position_q);
  free(s->pending_q);
  s->position_d = s->pending_d = NULL;
  s->position_q = s->pending_q = NULL;
  if (s->sim == NULL) return 0;
  bt_sim_free(s->sim);
  s->sim = NULL;
  bt_sim_market_free(&s->market);
  free(s->pubs);
  s->pubs = NULL;
  push_slot(L, 1, ENV_BUNDLE);
  if (!lua_isnil(L, -1)) bt_lua_bundle_pin(L, -1, -1);
  lua_pop(L, 1);
  return 0;
}

/* ---- published arrays --------------------------------------------------- */

/* A new array of n values from src (NaN/false where there is none). */
static void push_array(lua_State *L, int32_t n, int kind, const void *src) {
  lua_createtable(L, n, 0);
  for (int32_t a = 0; a < n; a++) {
    if (kind == PUB_BOOL) lua_pushboolean(L, src && ((const bool *)src)[a]);
    else lua_pushnumber(L, src ? ((const double *)src)[a] : NAN);
    lua_rawseti(L, -2, a + 1);
  }
}

/* Pushes the array of src for a strategy: a table registered for
 * refreshing every bar (plain C API on both Lua 5.4 and LuaJIT).
 * sim_idx: absolute. */
static void push_published(lua_State *L, lsim *s, int sim_idx, int kind,
                           const void *src, bool has_values) {
  push_array(L, s->market.asset_count, kind, has_values ? src : NULL);
  if (s->pub_count == s->pub_cap) {
    int cap = s->pub_cap ? s->pub_cap * 2 : 8;
    pub *bigger = realloc(s->pubs, (size_t)cap * sizeof *bigger);
    if (bigger == NULL) luaL_error(L, "out of memory");
    s->pubs = bigger;
    s->pub_cap = cap;
  }
  s->pubs[s->pub_count++] = (pub){kind, src};
  push_slot(L, sim_idx, ENV_PUBS);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, s->pub_count);
  lua_pop(L, 1);
}

static void refresh(lua_State *L, int table, int32_t n, const pub *p) {
  if (p->kind == PUB_BOOL) {
    const bool *src = p->src;
    for (int32_t a = 0; a < n; a++) {
      lua_pushboolean(L, src[a]);
      lua_rawseti(L, table, a + 1);
    }
    return;
  }
  const double *src = p->src;
  for (int32_t a = 0; a < n; a++) {
    lua_pushnumber(L, src[a]);
    lua_rawseti(L, table, a + 1);
  }
}

/* A quantity as Lua sees it: an integer when it is integral (so on Lua 5.4
 * ctx:order(i, -ctx.position[i]) passes an integer), else the nearest
 * double. */
static void push_quantity(lua_State *L, bt_dec q) {
  if (q % BT_DEC_SCALE == 0) lua_pushinteger(L, (lua_Integer)(q / BT_DEC_SCALE));
  else lua_pushnumber(L, bt_dec_to_double(q));
}

static void push_quantities(lua_State *L, int32_t n, const bt_dec *q) {
  lua_createtable(L, n, 0);
  for (int32_t a = 0; a < n; a++) {
    push_quantity(L, q[a]);
    lua_rawseti(L, -2, a + 1);
  }
}

/* After fills: ctx.position and ctx.pending from the ledger and blotter
 * (tables at the given stack slots). */
static void refresh_book(lua_State *L, lsim *s, int position, int pending) {
  const bt_ledger *l = &s->sim->ledger;
  const bt_blotter *b = &s->sim->blotter;
  for (int32_t a = 0; a < s->market.asset_count; a++) {
    if (l->positions[a].quantity == s->position_q[a] &&
        b->open_quantity[a] == s->pending_q[a])
      continue;
    s->position_q[a] = l->positions[a].quantity;
    s->pending_q[a] = b->open_quantity[a];
    double held = bt_dec_to_double(s->position_q[a]);
    double open = bt_dec_to_double(s->pending_q[a]);
    s->position_d[a] = held;
    s->pending_d[a] = open;
    push_quantity(L, s->position_q[a]);
    lua_rawseti(L, position, a + 1);
    push_quantity(L, s->pending_q[a]);
    lua_rawseti(L, pending, a + 1);
  }
}

/* After an order or a cancel: ctx.pending[asset] now. */
static void update_pending(lua_State *L, lsim *s, int32_t asset) {
  s->pending_q[asset] = s->sim->blotter.open_quantity[asset];
  s->pending_d[asset] = bt_dec_to_double(s->pending_q[asset]);
  push_slot(L, lua_upvalueindex(1), ENV_PENDING);
  push_quantity(L, s->pending_q[asset]);
  lua_rawseti(L, -2, asset + 1);
  lua_pop(L, 1);
}

/* ---- ctx: orders -------------------------------------------------------- */

static bt_dec last_price(lua_State *L, lsim *s, int32_t asset,
                         const char *what) {
  bt_dec p = s->sim->ledger.positions[asset].last_price;
  if (s->sim->bar < 0 || p <= 0)
    luaL_error(L, "%s: no price yet for %s", what, s->market.symbols[asset]);
  return p;
}

typedef struct order_style {
  bt_order_type type;
  bt_dec limit, stop;
  bt_dec trail_amount, trail_percent; /* trailing stop: one > 0 */
  bool day;                           /* time in force: day, else GTC */
  bt_dec take_profit, stop_loss;      /* bracket = {...}: 0 when absent */
} order_style;

static bt_dec style_price(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  bt_dec v = lua_isnil(L, -1) ? 0 : check_price(L, lua_gettop(L));
  lua_pop(L, 1);
  return v;
}

/* style at idx: nil (market) or {limit=, stop=, trail_amount=,
 * trail_percent=, tif = "gtc" | "day"}. */
static order_style check_style(lua_State *L, int idx) {
  order_style st = {BT_ORDER_MARKET, 0, 0, 0, 0, false, 0, 0};
  if (lua_isnoneornil(L, idx)) return st;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "bracket");
  if (!lua_isnil(L, -1)) {
    int bracket = lua_gettop(L);
    if (!lua_istable(L, bracket))
      luaL_error(L, "order: bracket must be a table {take_profit =, "
                    "stop_loss =}");
    st.take_profit = style_price(L, bracket, "take_profit");
    st.stop_loss = style_price(L, bracket, "stop_loss");
    if (st.take_profit <= 0 && st.stop_loss <= 0)
      luaL_error(L, "order: bracket needs take_profit or stop_loss > 0");
  }
  lua_pop(L, 1);
  st.limit = style_price(L, idx, "limit");
  st.stop = style_price(L, idx, "stop");
  st.trail_amount = style_price(L, idx, "trail_amount");
  st.trail_percent = style_price(L, idx, "trail_percent");
  lua_getfield(L, idx, "tif");
  const char *tif = luaL_optstring(L, -1, "gtc");
  if (strcmp(tif, "day") == 0) st.day = true;
  else if (strcmp(tif, "gtc") != 0)
    luaL_error(L, "order: tif '%s' is not gtc or day", tif);
  lua_pop(L, 1);
  bool trails = st.trail_amount != 0 || st.trail_percent != 0;
  if (trails && (st.limit != 0 || st.stop != 0 ||
                 (st.trail_amount != 0 && st.trail_percent != 0)))
    luaL_error(L, "order: a trailing stop takes trail_amount or "
                  "trail_percent alone (no limit or stop)");
  if (st.trail_amount < 0 || st.trail_percent < 0 ||
      st.trail_percent >= BT_DEC_SCALE)
    luaL_error(L, "order: trail_amount must be > 0, trail_percent in "
                  "(0, 1)");
  if (trails) st.type = BT_ORDER_STOP;
  else if (st.limit != 0 && st.stop != 0) st.type = BT_ORDER_STOP_LIMIT;
  else if (st.limit != 0) st.type = BT_ORDER_LIMIT;
  else if (st.stop != 0) st.type = BT_ORDER_STOP;
  return st;
}

/* The first stop of a trailing stop: from the last close, like each later
 * one (blotter.h). */
static bt_dec first_trail_stop(lua_State *L, lsim *s, int32_t asset,
                               bt_dec quantity, const order_style *st) {
  bt_dec ref = last_price(L, s, asset, "order"), stop;
  bool buy = quantity > 0;
  int rc;
  if (st->trail_amount > 0)
    rc = buy ? bt_dec_add(ref, st->trail_amount, &stop)
             : bt_dec_sub(ref, st->trail_amount, &stop);
  else
    rc = bt_dec_mul(ref, buy ? BT_DEC_SCALE + st->trail_percent
                             : BT_DEC_SCALE - st->trail_percent, &stop);
  if (rc != BT_OK || stop <= 0)
    luaL_error(L, "order: trailing stop %s below 0 at the last close",
               rc != BT_OK ? "out of range:" : "would be");
  return stop;
}

/* Places quantity on asset with the style at style_idx; pushes the order
 * id, or nil when the quantity rounds to nothing. */
static int place(lua_State *L, lsim *s, int32_t asset, bt_dec quantity,
                 int style_idx) {
  order_style st = check_style(L, style_idx);
  if (s->sim->bar < 0 || s->sim->done)
    return luaL_error(L, "order: only while the backtest runs");
  bool trails = st.trail_amount > 0 || st.trail_percent > 0;
  if (trails && quantity != 0)
    st.stop = first_trail_stop(L, s, asset, quantity, &st);
  int64_t id = 0;
  bt_err err = {0};
  int rc = bt_sim_order(s->sim, asset, quantity, st.type, st.limit, st.stop,
                        &id, &err);
  if (rc != BT_OK) raise_err(L, &err, rc);
  if (id == 0) {
    lua_pushnil(L);
    return 1;
  }
  if (trails) bt_blotter_set_trail(&s->sim->blotter, id, st.trail_amount,
                                   st.trail_percent);
  if (st.day) bt_blotter_set_day(&s->sim->blotter, id);
  if ((st.take_profit || st.stop_loss) &&
      bt_blotter_set_bracket(&s->sim->blotter, id, st.take_profit,
                             st.stop_loss) != BT_OK) {
    bt_sim_cancel(s->sim, id);
    return luaL_error(L, "order: bracket of a %s needs stop_loss %s "
                      "take_profit", quantity > 0 ? "buy" : "sell",
                      quantity > 0 ? "<" : ">");
  }
  update_pending(L, s, asset);
  lua_pushinteger(L, id);
  return 1;
}

/* An amount: an integer, decimal text, Dec, or a float that is integral
 * (exact, so no float is rounded into a decimal); other floats raise. */
static bt_dec check_amount(lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TNUMBER && !bt_isinteger(L, idx)) {
    lua_Number n = lua_tonumber(L, idx);
    if (n == floor(n) && fabs(n) <= 9.0e10)
      return (bt_dec)n * BT_DEC_SCALE;
  }
  return bt_lua_checkdec(L, idx);
}

/* ctx:order(asset, amount [, style]) -> id | nil */
static int ctx_order(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  return place(L, s, asset, check_amount(L, 3), 4);
}

static bt_dec value_quantity(lua_State *L, lsim *s, int32_t asset,
                             bt_dec value, const char *what) {
  bt_dec q;
  if (bt_sim_quantity_for_value(s->sim, asset, value,
                                last_price(L, s, asset, what), &q) != BT_OK)
    luaL_error(L, "%s: quantity out of range", what);
  return q;
}

static bt_dec portfolio_value(lua_State *L, lsim *s) {
  bt_dec v;
  if (bt_ledger_value(&s->sim->ledger, &v) != BT_OK)
    luaL_error(L, "portfolio value overflows");
  return v;
}

static bt_dec percent_value(lua_State *L, lsim *s, int idx) {
  bt_dec pct = check_price(L, idx), v;
  if (bt_dec_mul(portfolio_value(L, s), pct, &v) != BT_OK)
    luaL_error(L, "order_percent: value out of range");
  return v;
}

/* ctx:order_value(asset, value [, style]): value / price units, rounded
 * toward zero to the asset's places. */
static int ctx_order_value(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  bt_dec q = value_quantity(L, s, asset, bt_lua_checkdec(L, 3),
                            "order_value");
  return place(L, s, asset, q, 4);
}

/* ctx:order_percent(asset, percent [, style]): percent of the portfolio
 * value (0.1 = 10%). */
static int ctx_order_percent(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  bt_dec q = value_quantity(L, s, asset, percent_value(L, s, 3),
                            "order_percent");
  return place(L, s, asset, q, 4);
}

static int order_to(lua_State *L, lsim *s, int32_t asset, bt_dec target) {
  bt_dec q;
  if (bt_dec_sub(target, s->sim->ledger.positions[asset].quantity, &q) !=
      BT_OK)
    return luaL_error(L, "order_target: quantity out of range");
  return place(L, s, asset, q, 4);
}

/* ctx:order_target(asset, quantity [, style]): open orders not counted
 * (zipline's rule). */
static int ctx_order_target(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  return order_to(L, s, asset, check_amount(L, 3));
}

static int ctx_order_target_value(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  return order_to(L, s, asset,
                  value_quantity(L, s, asset, bt_lua_checkdec(L, 3),
                                 "order_target_value"));
}

static int ctx_order_target_percent(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  return order_to(L, s, asset,
                  value_quantity(L, s, asset, percent_value(L, s, 3),
                                 "order_target_percent"));
}

/* ctx:cancel(id) -> true | false, reason */
static int ctx_cancel(lua_State *L) {
  lsim *s = up_sim(L);
  int64_t id = (int64_t)luaL_checkinteger(L, 2);
  const bt_order *o = bt_blotter_order(&s->sim->blotter, id);
  int rc = bt_sim_cancel(s->sim, id);
  if (rc != BT_OK) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, rc == BT_ENOTFOUND ? "no such order" : "not open");
    return 2;
  }
  update_pending(L, s, o->asset);
  lua_pushboolean(L, 1);
  return 1;
}

/* ctx:get_order(id) -> {id=, asset=, status=, type=, amount=, filled=,
 * limit=, stop=, commission=, reason=} (decimals as Dec) or nil */
static void push_order(lua_State *L, lsim *s, const bt_order *o);

/* ctx:replace(id, {amount =, limit =, stop =}) -> true, or false and a
 * reason; changes apply from the order's next fill attempt. */
static int ctx_replace(lua_State *L) {
  lsim *s = up_sim(L);
  int64_t id = (int64_t)luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  bt_dec quantity = 0;
  lua_getfield(L, 3, "amount");
  if (!lua_isnil(L, -1)) {
    quantity = check_amount(L, lua_gettop(L));
    if (quantity == 0) luaL_error(L, "replace: amount must not be 0");
  }
  lua_pop(L, 1);
  bt_dec limit = style_price(L, 3, "limit"), stop = style_price(L, 3, "stop");
  if (quantity == 0 && limit == 0 && stop == 0)
    return luaL_error(L, "replace: give amount, limit or stop");
  int rc = bt_blotter_replace(&s->sim->blotter, id, quantity, limit, stop);
  if (rc != BT_OK) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, rc == BT_ENOTFOUND ? "no such order"
                      : rc == BT_ESTATE  ? "not open"
                      : rc == BT_EOVERFLOW ? "out of range"
                      : quantity != 0 && s->sim->blotter.orders[id - 1].parent
                          ? "a bracket's exit keeps its amount"
                          : "not a change this order can take");
    return 2;
  }
  update_pending(L, s, s->sim->blotter.orders[id - 1].asset);
  lua_pushboolean(L, 1);
  return 1;
}

static int ctx_get_order(lua_State *L) {
  lsim *s = up_sim(L);
  const bt_order *o = bt_blotter_order(&s->sim->blotter,
                                       (int64_t)luaL_checkinteger(L, 2));
  if (o == NULL) return 0;
  push_order(L, s, o);
  return 1;
}

/* The table of an order: id, asset, status, type, amount, filled,
 * commission, limit, stop, tif, reason. */
static void push_order(lua_State *L, lsim *s, const bt_order *o) {
  lua_createtable(L, 0, 11);
  lua_pushinteger(L, o->id);
  lua_setfield(L, -2, "id");
  lua_pushstring(L, s->market.symbols[o->asset]);
  lua_setfield(L, -2, "asset");
  lua_pushstring(L, bt_order_status_name(o->status));
  lua_setfield(L, -2, "status");
  lua_pushstring(L, bt_order_type_name(o->type));
  lua_setfield(L, -2, "type");
  bt_lua_pushdec(L, o->quantity);
  lua_setfield(L, -2, "amount");
  bt_lua_pushdec(L, o->filled);
  lua_setfield(L, -2, "filled");
  bt_lua_pushdec(L, o->commission);
  lua_setfield(L, -2, "commission");
  if (o->limit) {
    bt_lua_pushdec(L, o->limit);
    lua_setfield(L, -2, "limit");
  }
  if (o->stop) {
    bt_lua_pushdec(L, o->stop);
    lua_setfield(L, -2, "stop");
  }
  if (o->reason != NULL) {
    lua_pushstring(L, o->reason);
    lua_setfield(L, -2, "reason");
  }
  lua_pushstring(L, o->tif == BT_TIF_DAY ? "day" : "gtc");
  lua_setfield(L, -2, "tif");
  if (o->take_profit || o->stop_loss) { /* a bracket entry */
    lua_createtable(L, 0, 2);
    if (o->take_profit) {
      bt_lua_pushdec(L, o->take_profit);
      lua_setfield(L, -2, "take_profit");
    }
    if (o->stop_loss) {
      bt_lua_pushdec(L, o->stop_loss);
      lua_setfield(L, -2, "stop_loss");
    }
    lua_setfield(L, -2, "bracket");
  }
  if (o->parent) {
    lua_pushinteger(L, o->parent);
    lua_setfield(L, -2, "parent");
  }
  if (o->oco) {
    lua_pushinteger(L, o->oco);
    lua_setfield(L, -2, "oco");
  }
}

/* ctx:get_open_orders([asset]) -> list of open order ids, oldest first
 * (of one asset, or of all assets in asset order). */
static int ctx_get_open_orders(lua_State *L) {
  lsim *s = up_sim(L);
  const bt_blotter *b = &s->sim->blotter;
  int32_t first = 0, last = s->market.asset_count - 1;
  if (!lua_isnoneornil(L, 2)) first = last = check_asset(L, s, 2);
  lua_newtable(L);
  int n = 0;
  for (int32_t a = first; a <= last; a++)
    for (int32_t i = 0; i < b->open_len[a]; i++) {
      lua_pushinteger(L, (lua_Integer)b->open_ids[a][i]);
      lua_rawseti(L, -2, ++n);
    }
  return 1;
}

/* ctx:units(asset, value [, parts]) -> floor(value / (parts * price)) whole
 * units at the asset's current (last) close, exact. */
static int ctx_units(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  bt_dec value = bt_lua_checkdec(L, 3);
  lua_Integer parts = luaL_optinteger(L, 4, 1);
  int64_t units;
  if (parts < 1) return luaL_argerror(L, 4, "parts must be >= 1");
  if (bt_sim_units(value, (int64_t)parts, last_price(L, s, asset, "units"),
                   &units) != BT_OK)
    return luaL_error(L, "units: out of range");
  lua_pushinteger(L, (lua_Integer)units);
  return 1;
}

/* ctx:record(name, number) */
static int ctx_record(lua_State *L) {
  lsim *s = up_sim(L);
  const char *name = luaL_checkstring(L, 2);
  double v;
  bt_dec *d = bt_lua_testdec(L, 3);
  v = d ? bt_dec_to_double(*d) : (double)luaL_checknumber(L, 3);
  if (bt_sim_record(s->sim, name, v) != BT_OK)
    return luaL_error(L, "record: only while the backtest runs");
  return 0;
}

static int ctx_cash(lua_State *L) {
  bt_lua_pushdec(L, up_sim(L)->sim->ledger.cash);
  return 1;
}

static int ctx_value(lua_State *L) {
  lsim *s = up_sim(L);
  bt_lua_pushdec(L, portfolio_value(L, s));
  return 1;
}

/* ---- ctx: indicators ---------------------------------------------------- */

static int add_indicator(lua_State *L, lsim *s, int kind, int period_idx,
                         bt_dec k, int field_idx) {
  lua_Integer period = luaL_checkinteger(L, period_idx);
  int field = check_field(L, field_idx);
  int index;
  bt_err err = {0};
  int rc = bt_sim_add_indicator(s->sim, kind, field, (int)period, k, &index,
                                &err);
  if (rc != BT_OK) raise_err(L, &err, rc);
  return index;
}

/* ctx:indicator(kind, n [, field]) -> array (NaN until ready) */
static int make_indicator(lua_State *L, int kind, int period_idx,
                          int field_idx) {
  lsim *s = up_sim(L);
  int index = add_indicator(L, s, kind, period_idx, 0, field_idx);
  push_published(L, s, lua_upvalueindex(1), PUB_DOUBLE,
                 s->sim->indicators[index].doubles[0], true);
  return 1;
}

static int ctx_indicator(lua_State *L) {
  const char *name = luaL_checkstring(L, 2);
  int kind = bt_ind_kind_from_name(name);
  if (kind < 0)
    return luaL_argerror(L, 2, lua_pushfstring(L, "unknown indicator '%s'",
                                               name));
  return make_indicator(L, kind, 3, 4);
}

#define INDICATOR_METHOD(name, kind)                                           \
  static int ctx_##name(lua_State *L) { return make_indicator(L, kind, 2, 3); }
INDICATOR_METHOD(sma, BT_IND_SMA)
INDICATOR_METHOD(ema, BT_IND_EMA)
INDICATOR_METHOD(stddev, BT_IND_STDDEV)
INDICATOR_METHOD(min, BT_IND_MIN)
INDICATOR_METHOD(max, BT_IND_MAX)
INDICATOR_METHOD(momentum, BT_IND_MOMENTUM)
INDICATOR_METHOD(rsi, BT_IND_RSI)

/* ctx:atr(n): Wilder's average true range (high, low, close). */
static int ctx_atr(lua_State *L) {
  lua_settop(L, 2);
  return make_indicator(L, BT_IND_ATR, 2, 3);
}

/* ctx:highest(n): the highest high of the last n bars; ctx:lowest(n): the
 * lowest low. */
static int ctx_highest(lua_State *L) {
  lua_settop(L, 2);
  lua_pushliteral(L, "high");
  return make_indicator(L, BT_IND_MAX, 2, 3);
}

static int ctx_lowest(lua_State *L) {
  lua_settop(L, 2);
  lua_pushliteral(L, "low");
  return make_indicator(L, BT_IND_MIN, 2, 3);
}

static const char *const BAND_NAMES[] = {"lower", "mean", "upper", NULL};
static const char *const MACD_NAMES[] = {"macd", "signal", "histogram", NULL};

/* bands.lower / .mean / .upper (macd.macd / .signal / .histogram): each
 * array is made and refreshed from its first use on (upvalues: sim,
 * indicator index). */
static int bands_index(lua_State *L) {
  lsim *s = up_sim(L);
  int index = (int)lua_tointeger(L, lua_upvalueindex(2));
  const char *key = lua_tostring(L, 2);
  const char *const *names = s->sim->indicators[index].kind == BT_SIM_MACD
                                 ? MACD_NAMES
                                 : BAND_NAMES;
  int which = -1;
  for (int i = 0; key && names[i]; i++)
    if (strcmp(key, names[i]) == 0) which = i;
  if (which < 0) return 0;
  push_published(L, s, lua_upvalueindex(1), PUB_DOUBLE,
                 s->sim->indicators[index].doubles[which], true);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

/* The table of a 3-output indicator: its arrays come from bands_index. */
static int push_outputs(lua_State *L, int index) {
  lua_createtable(L, 0, 3);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushinteger(L, index);
  lua_pushcclosure(L, bands_index, 2);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  return 1;
}

/* ctx:bands(n, k [, field]) -> {lower=, mean=, upper=} arrays: see sim.h
 * (x < lower and x > upper are the exact comparisons with m -+ k*s). Only
 * the arrays a strategy touches are refreshed. */
static int ctx_bands(lua_State *L) {
  lsim *s = up_sim(L);
  bt_dec k = check_price(L, 3);
  int index = add_indicator(L, s, BT_SIM_BANDS, 2, k, 4);
  return push_outputs(L, index);
}

/* ctx:macd([fast [, slow [, signal [, field]]]]) -> {macd=, signal=,
 * histogram=} arrays (defaults 12, 26, 9, close; see sim.h). */
static int ctx_macd(lua_State *L) {
  lsim *s = up_sim(L);
  lua_Integer fast = luaL_optinteger(L, 2, 12);
  lua_Integer slow = luaL_optinteger(L, 3, 26);
  lua_Integer signal = luaL_optinteger(L, 4, 9);
  int field = check_field(L, 5);
  int index;
  bt_err err = {0};
  int rc = bt_sim_add_macd(s->sim, field, (int)fast, (int)slow, (int)signal,
                           &index, &err);
  if (rc != BT_OK) raise_err(L, &err, rc);
  return push_outputs(L, index);
}

static const luaL_Reg CTX_METHODS[] = {
  {"order", ctx_order},
  {"order_value", ctx_order_value},
  {"order_percent", ctx_order_percent},
  {"order_target", ctx_order_target},
  {"order_target_value", ctx_order_target_value},
  {"order_target_percent", ctx_order_target_percent},
  {"cancel", ctx_cancel},
  {"replace", ctx_replace},
  {"get_order", ctx_get_order},
  {"get_open_orders", ctx_get_open_orders},
  {"units", ctx_units},
  {"record", ctx_record},
  {"cash", ctx_cash},
  {"value", ctx_value},
  {"indicator", ctx_indicator},
  {"sma", ctx_sma},
  {"ema", ctx_ema},
  {"stddev", ctx_stddev},
  {"min", ctx_min},
  {"max", ctx_max},
  {"momentum", ctx_momentum},
  {"rsi", ctx_rsi},
  {"atr", ctx_atr},
  {"highest", ctx_highest},
  {"lowest", ctx_lowest},
  {"macd", ctx_macd},
  {"bands", ctx_bands},
  {NULL, NULL},
};

/* ---- ctx.portfolio ------------------------------------------------------ */

static void push_positions(lua_State *L, lsim *s) {
  lua_newtable(L);
  for (int32_t a = 0; a < s->market.asset_count; a++) {
    const bt_position *p = &s->sim->ledger.positions[a];
    if (p->quantity == 0) continue;
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, bt_dec_to_double(p->quantity));
    lua_setfield(L, -2, "amount");
    bt_dec basis = 0;
    bt_dec_div(p->cost, p->quantity, &basis);
    lua_pushnumber(L, bt_dec_to_double(basis));
    lua_setfield(L, -2, "cost_basis");
    lua_pushnumber(L, bt_dec_to_double(p->last_price));
    lua_setfield(L, -2, "last_sale_price");
    lua_pushstring(L, s->market.symbols[a]);
    lua_setfield(L, -2, "asset");
    lua_setfield(L, -2, s->market.symbols[a]);
  }
}

/* portfolio.cash, .value (= .portfolio_value), .positions_value, .pnl,
 * .returns, .starting_cash, .positions (symbol -> {amount, cost_basis,
 * last_sale_price}): doubles computed on access. */
static int portfolio_index(lua_State *L) {
  lsim *s = up_sim(L);
  const char *key = luaL_checkstring(L, 2);
  const bt_ledger *l = &s->sim->ledger;
  bt_dec v = 0;
  if (strcmp(key, "cash") == 0) v = l->cash;
  else if (strcmp(key, "value") == 0 || strcmp(key, "portfolio_value") == 0)
    v = portfolio_value(L, s);
  else if (strcmp(key, "positions_value") == 0)
    bt_ledger_positions_value(l, &v);
  else if (strcmp(key, "starting_cash") == 0) v = l->capital;
  else if (strcmp(key, "pnl") == 0) v = portfolio_value(L, s) - l->capital;
  else if (strcmp(key, "returns") == 0) {
    lua_pushnumber(L, bt_dec_to_double(portfolio_value(L, s)) /
                          bt_dec_to_double(l->capital) - 1.0);
    return 1;
  } else if (strcmp(key, "positions") == 0) {
    push_positions(L, s);
    return 1;
  } else {
    return 0;
  }
  lua_pushnumber(L, bt_dec_to_double(v));
  return 1;
}

/* ---- data --------------------------------------------------------------- */

/* data:current(asset [, field]) -> number (NaN when the bar is missing) */
static int data_current(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  int field = check_field(L, 3);
  if (s->sim->bar < 0) return luaL_error(L, "current: no bar yet");
  bt_dec v = bt_sim_value(s->sim, asset, field);
  lua_pushnumber(L, v == BT_BAR_MISSING ? NAN : bt_dec_to_double(v));
  return 1;
}

/* data:current_dec(asset [, field]) -> Dec or nil: the exact value. */
static int data_current_dec(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  int field = check_field(L, 3);
  if (s->sim->bar < 0) return luaL_error(L, "current: no bar yet");
  bt_dec v = bt_sim_value(s->sim, asset, field);
  if (v == BT_BAR_MISSING) return 0;
  bt_lua_pushdec(L, v);
  return 1;
}

static int data_can_trade(lua_State *L) {
  lsim *s = up_sim(L);
  int32_t asset = check_asset(L, s, 2);
  lua_pushboolean(L, s->sim->bar >= 0 && bt_sim_present(s->sim, asset));
  return 1;
}

/* data:now() -> ISO-8601 text of the current bar's time */
static int data_now(lua_State *L) {
  lsim *s = up_sim(L);
  char buf[40];
  if (s->sim->bar < 0) return 0;
  bt_sim_format_time(s->sim->time, buf);
  lua_pushstring(L, buf);
  return 1;
}

typedef struct history {
  const bt_dec *values; /* oldest first */
  int64_t n;
} history;

/* data:history(asset, field, n) -> a view of the last n values up to the
 * current bar (fewer at the start): view[1] oldest, view[#view] current;
 * no copy is made. */
/* Pushes a view of the last n values (n clipped to the bars so far) of an
 * asset's field: no copy, the view reads the bundle. */
static void push_view(lua_State *L, lsim *s, int32_t asset, int field,
                      int64_t n) {
  int64_t end = s->sim->bar + 1;
  if (n > end) n = end;
  history *h = (history *)lua_newuserdatauv(L, sizeof *h, 1);
  h->values = s->market.columns[asset * BT_SIM_FIELDS + field] + (end - n);
  h->n = n;
  luaL_setmetatable(L, HISTORY_TYPE);
  push_slot(L, lua_upvalueindex(1), ENV_SELF);
#if LUA_VERSION_NUM >= 504
  lua_setiuservalue(L, -2, 1);
#else
  lua_setfenv(L, -2);
#endif
}

/* data:history(asset, field, n) -> view; data:history(assets, field, n)
 * with a list of assets -> a table: t[j] the view of assets[j], also
 * t[symbol] (zipline's data.history(assets, field, n)). */
static int data_history(lua_State *L) {
  lsim *s = up_sim(L);
  int field = check_field(L, 3);
  lua_Integer n = luaL_checkinteger(L, 4);
  if (n < 1) return luaL_argerror(L, 4, "n must be >= 1");
  if (s->sim->bar < 0) return luaL_error(L, "history: no bar yet");
  if (!lua_istable(L, 2)) {
    push_view(L, s, check_asset(L, s, 2), field, (int64_t)n);
    return 1;
  }
  int count = (int)lua_rawlen(L, 2);
  lua_createtable(L, count, count);
  int out = lua_gettop(L);
  for (int j = 1; j <= count; j++) {
    lua_rawgeti(L, 2, j);
    int32_t asset = check_asset(L, s, lua_gettop(L));
    lua_pop(L, 1);
    push_view(L, s, asset, field, (int64_t)n);
    lua_pushvalue(L, -1);
    lua_rawseti(L, out, j);
    lua_setfield(L, out, s->market.symbols[asset]);
  }
  return 1;
}

static const luaL_Reg DATA_METHODS[] = {
  {"current", data_current},
  {"current_dec", data_current_dec},
  {"can_trade", data_can_trade},
  {"history", data_history},
  {"now", data_now},
  {NULL, NULL},
};

/* data.open/high/low/close/volume/price (arrays of the current bar's
 * values) and data.tradable (booleans) appear on first use and are
 * refreshed every bar from then on; other keys are the methods. */
static int data_index(lua_State *L) {
  lsim *s = up_sim(L);
  const char *key = lua_tostring(L, 2);
  if (key == NULL) return 0;
  if (strcmp(key, "time") == 0 || strcmp(key, "bar") == 0) {
    /* computed on each read: nothing to store per bar */
    if (s->sim->bar < 0) lua_pushinteger(L, 0);
    else if (key[0] == 't') lua_pushinteger(L, (lua_Integer)s->sim->time);
    else lua_pushinteger(L, (lua_Integer)s->sim->bar + 1);
    return 1;
  }
  if (strcmp(key, "tradable") == 0) {
    push_published(L, s, lua_upvalueindex(1), PUB_BOOL, s->sim->present,
                   s->sim->bar >= 0);
  } else {
    int field = -1;
    for (int f = 0; FIELD_NAMES[f]; f++)
      if (strcmp(key, FIELD_NAMES[f]) == 0) field = f == 5 ? BT_SIM_CLOSE : f;
    if (field < 0) {
      lua_pushvalue(L, lua_upvalueindex(2)); /* methods */
      lua_getfield(L, -1, key);
      return 1;
    }
    bt_sim_want_field(s->sim, field);
    const double *src = s->sim->fields[field];
    if (src == NULL) return luaL_error(L, "out of memory");
    push_published(L, s, lua_upvalueindex(1), PUB_DOUBLE, src, true);
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);
  return 1;
}

/* ---- history views ------------------------------------------------------ */

static int history_values_next(lua_State *L) {
  history *h = (history *)luaL_checkudata(L, 1, HISTORY_TYPE);
  lua_Integer i = luaL_checkinteger(L, 2) + 1;
  if (i > h->n) return 0;
  bt_dec v = h->values[i - 1];
  lua_pushinteger(L, i);
  lua_pushnumber(L, v == BT_BAR_MISSING ? NAN : bt_dec_to_double(v));
  return 2;
}

/* for i, v in view:values() do ... end (ipairs also works on Lua 5.4) */
static int history_values(lua_State *L) {
  luaL_checkudata(L, 1, HISTORY_TYPE);
  lua_pushcfunction(L, history_values_next);
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 0);
  return 3;
}

/* view:dec(i) -> Dec (exact) or nil for a missing bar */
static int history_dec(lua_State *L) {
  history *h = (history *)luaL_checkudata(L, 1, HISTORY_TYPE);
  lua_Integer i = luaL_checkinteger(L, 2);
  if (i < 1 || i > h->n || h->values[i - 1] == BT_BAR_MISSING) return 0;
  bt_lua_pushdec(L, h->values[i - 1]);
  return 1;
}

static int history_index(lua_State *L) {
  history *h = (history *)luaL_checkudata(L, 1, HISTORY_TYPE);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    lua_Integer i = lua_tointeger(L, 2);
    if (i < 1 || i > h->n) return 0;
    bt_dec v = h->values[i - 1];
    lua_pushnumber(L, v == BT_BAR_MISSING ? NAN : bt_dec_to_double(v));
    return 1;
  }
  const char *key = lua_tostring(L, 2);
  if (key && strcmp(key, "values") == 0) lua_pushcfunction(L, history_values);
  else if (key && strcmp(key, "dec") == 0) lua_pushcfunction(L, history_dec);
  else lua_pushnil(L);
  return 1;
}

static int history_len(lua_State *L) {
  history *h = (history *)luaL_checkudata(L, 1, HISTORY_TYPE);
  lua_pushinteger(L, (lua_Integer)h->n);
  return 1;
}

static int history_tostring(lua_State *L) {
  history *h = (history *)luaL_checkudata(L, 1, HISTORY_TYPE);
  lua_pushfstring(L, "btlua.History (%d values)", (int)h->n);
  return 1;
}

/* ---- sim:context -------------------------------------------------------- */

static void push_assets(lua_State *L, lsim *s) {
  lua_createtable(L, s->market.asset_count, 0);
  for (int32_t a = 0; a < s->market.asset_count; a++) {
    lua_pushstring(L, s->market.symbols[a]);
    lua_rawseti(L, -2, a + 1);
  }
}

/* A table of functions with the sim as upvalue 1. */
static void push_methods(lua_State *L, int sim_idx, const luaL_Reg *fns) {
  lua_newtable(L);
  for (; fns->name; fns++) {
    lua_pushvalue(L, sim_idx);
    lua_pushcclosure(L, fns->func, 1);
    lua_setfield(L, -2, fns->name);
  }
}

static void make_ctx(lua_State *L, lsim *s, int sim_idx) {
  lua_createtable(L, 0, 8);
  push_assets(L, s);
  lua_setfield(L, -2, "assets");
  bt_lua_pushdec(L, s->sim->config.capital);
  lua_setfield(L, -2, "capital_base");
  /* position / pending: tables refreshed where they change */
  push_quantities(L, s->market.asset_count, s->position_q);
  lua_pushvalue(L, -1);
  set_slot(L, sim_idx, ENV_POSITION);
  lua_setfield(L, -2, "position");
  push_quantities(L, s->market.asset_count, s->pending_q);
  lua_pushvalue(L, -1);
  set_slot(L, sim_idx, ENV_PENDING);
  lua_setfield(L, -2, "pending");
  lua_newtable(L); /* portfolio proxy */
  lua_newtable(L);
  lua_pushvalue(L, sim_idx);
  lua_pushcclosure(L, portfolio_index, 1);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "portfolio");
  lua_newtable(L); /* metatable: methods */
  push_methods(L, sim_idx, CTX_METHODS);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
}

static void make_data(lua_State *L, lsim *s, int sim_idx) {
  lua_createtable(L, 0, 8);
  push_assets(L, s);
  lua_setfield(L, -2, "assets");
  lua_newtable(L); /* metatable */
  lua_pushvalue(L, sim_idx);
  push_methods(L, sim_idx, DATA_METHODS);
  lua_pushcclosure(L, data_index, 2);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, -2);
}

/* sim:context() -> ctx, data (the same tables on every call) */
static int sim_context(lua_State *L) {
  lsim *s = check_sim(L, 1);
  if (!s->has_context) {
    make_ctx(L, s, 1);
    set_slot(L, 1, ENV_CTX);
    make_data(L, s, 1);
    set_slot(L, 1, ENV_DATA);
    s->has_context = true;
  }
  push_slot(L, 1, ENV_CTX);
  push_slot(L, 1, ENV_DATA);
  return 2;
}

/* ---- sim:run ------------------------------------------------------------ */

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = lua_pushfstring(L, "(error object is a %s value)",
                                         luaL_typename(L, 1));
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Calls the function at the top with nargs arguments below it; on error
 * keeps the message in SLOT_ERROR and returns BT_EINVAL. */
static int protected_call(lsim *s, int nargs, bt_err *err) {
  lua_State *L = s->L;
  if (lua_pcall(L, nargs, 0, s->base + SLOT_TRACEBACK) == LUA_OK) return BT_OK;
  lua_replace(L, s->base + SLOT_ERROR);
  return bt_err_set(err, BT_EINVAL, "strategy error");
}

/* A fill for on_fill: order, asset, quantity (signed), price, commission
 * (Dec) and time (ns). */
static void push_fill(lua_State *L, lsim *s, const bt_fill *f) {
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, (lua_Integer)f->order_id);
  lua_setfield(L, -2, "order");
  lua_pushstring(L, s->market.symbols[f->asset]);
  lua_setfield(L, -2, "asset");
  bt_lua_pushdec(L, f->quantity);
  lua_setfield(L, -2, "quantity");
  bt_lua_pushdec(L, f->price);
  lua_setfield(L, -2, "price");
  bt_lua_pushdec(L, f->commission);
  lua_setfield(L, -2, "commission");
  lua_pushinteger(L, (lua_Integer)f->time);
  lua_setfield(L, -2, "time");
}

/* Pushes callback slot `slot` and ctx, for call_back. */
static void push_call(lsim *s, int slot) {
  lua_pushvalue(s->L, s->base + slot);
  lua_pushvalue(s->L, s->base + SLOT_CTX);
}

/* Calls the callback pushed by push_call with ctx and the value above. */
static int call_back(lsim *s, const char *name, bt_err *err) {
  lbt_limits_enter(name);
  int rc = protected_call(s, 2, err);
  lbt_limits_leave();
  if (rc == BT_OK && lbt_limits_tripped())
    rc = bt_err_set(err, BT_EINVAL, "stopped by a limit (lbt_limits.c)");
  return rc;
}

/* Before handle_data: on_fill(ctx, fill) for each new fill, then
 * on_order(ctx, order) for each order whose status changed since the last
 * call (filled, partially filled, cancelled, rejected, expired), in the
 * order of the changes. Changes the callbacks make come next bar. */
static int run_callbacks(lsim *s, bt_err *err) {
  lua_State *L = s->L;
  bt_blotter *b = &s->sim->blotter;
  bool on_fill = !lua_isnil(L, s->base + SLOT_ON_FILL);
  for (; s->fills_seen < b->fill_count && on_fill; s->fills_seen++) {
    push_call(s, SLOT_ON_FILL);
    push_fill(L, s, &b->fills[s->fills_seen]);
    int rc = call_back(s, "on_fill", err);
    if (rc != BT_OK) return rc;
  }
  s->fills_seen = b->fill_count;
  int64_t count = b->event_count;
  int rc = BT_OK;
  for (int64_t i = 0; i < count && rc == BT_OK; i++) {
    if (lua_isnil(L, s->base + SLOT_ON_ORDER)) break;
    push_call(s, SLOT_ON_ORDER);
    push_order(L, s, bt_blotter_order(b, b->events[i]));
    rc = call_back(s, "on_order", err);
  }
  if (count > 0) {
    memmove(b->events, b->events + count,
            (size_t)(b->event_count - count) * sizeof *b->events);
    b->event_count -= count;
  }
  return rc;
}

static int on_bar(bt_sim *sim, void *userdata, bt_err *err) {
  lsim *s = userdata;
  lua_State *L = s->L;
  int base = s->base, data = base + SLOT_DATA, pubs = base + SLOT_PUBS;
  int32_t n = s->market.asset_count;
  for (int j = 0; j < s->pub_count; j++) {
    lua_rawgeti(L, pubs, j + 1);
    refresh(L, lua_gettop(L), n, &s->pubs[j]);
    lua_pop(L, 1);
  }
  if (sim->fills_this_bar > 0 ||
      sim->blotter.rejections != s->rejections_seen ||
      sim->blotter.expirations != s->expirations_seen) {
    refresh_book(L, s, base + SLOT_POSITION, base + SLOT_PENDING);
    s->rejections_seen = sim->blotter.rejections;
    s->expirations_seen = sim->blotter.expirations;
  }
  if (s->callbacks) {
    int rc = run_callbacks(s, err);
    if (rc != BT_OK) return rc;
  }
  lua_pushvalue(L, base + SLOT_HANDLE);
  lua_pushvalue(L, base + SLOT_CTX);
  lua_pushvalue(L, data);
  lbt_limits_enter("handle_data"); /* the time budget counts this call */
  int rc = protected_call(s, 2, err);
  lbt_limits_leave();
  if (rc == BT_OK && lbt_limits_tripped()) /* the strategy caught it */
    rc = bt_err_set(err, BT_EINVAL, "stopped by a limit (lbt_limits.c)");
  if (rc != BT_OK) return rc;
  int64_t done = sim->bar + 1;
  if (!lua_isnil(L, base + SLOT_PROGRESS) &&
      (done % s->progress_every == 0 || done == sim->market.bar_count)) {
    lua_pushvalue(L, base + SLOT_PROGRESS);
    lua_pushinteger(L, (lua_Integer)done);
    lua_pushinteger(L, (lua_Integer)sim->market.bar_count);
    rc = protected_call(s, 2, err);
  }
  return rc;
}

/* Pushes callbacks.name (a function or nil) of the table at idx. */
static void push_callback(lua_State *L, int idx, const char *name) {
  if (lua_isnil(L, idx)) {
    lua_pushnil(L);
    return;
  }
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
    luaL_error(L, "sim:run: %s must be a function", name);
}

/* sim:run(handle_data [, progress [, callbacks]]): progress(bars_done,
 * bars_total) is called about every 1% of the sessions; callbacks =
 * {on_order =, on_fill =} (see run_callbacks). Errors of handle_data
 * propagate with their traceback. */
static int sim_run(lua_State *L) {
  lsim *s = check_sim(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  if (s->sim->done || s->L != NULL)
    return luaL_error(L, "sim:run: a simulation runs once");
  lua_settop(L, 4);
  sim_context(L); /* creates ctx and data if needed */
  lua_settop(L, 4);
  int base = lua_gettop(L); /* slots from base + 1, in SLOT_* order */
  lua_pushcfunction(L, traceback);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  push_slot(L, 1, ENV_CTX);
  push_slot(L, 1, ENV_DATA);
  push_slot(L, 1, ENV_PUBS);
  push_slot(L, 1, ENV_POSITION);
  push_slot(L, 1, ENV_PENDING);
  lua_pushnil(L); /* SLOT_ERROR */
  push_callback(L, 4, "on_order");
  push_callback(L, 4, "on_fill");
  s->callbacks = !lua_isnil(L, -1) || !lua_isnil(L, -2);
  s->sim->blotter.log_events = !lua_isnil(L, -2);
  luaL_checkstack(L, 32, "sim:run");
  s->L = L;
  s->base = base;
  s->progress_every = s->market.bar_count / 100;
  if (s->progress_every < 1) s->progress_every = 1;
  bt_err err = {0};
  int rc = bt_sim_run(s->sim, on_bar, s, &err);
  s->L = NULL;
  if (rc != BT_OK) {
    if (!lua_isnil(L, base + SLOT_ERROR)) {
      lua_pushvalue(L, base + SLOT_ERROR);
      return lua_error(L);
    }
    raise_err(L, &err, rc);
  }
  return 0;
}

/* ---- sim:results -------------------------------------------------------- */

static void set_number(lua_State *L, const char *key, double v) {
  if (isfinite(v)) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
  }
}

static void push_metrics(lua_State *L, lsim *s) {
  const bt_ledger *l = &s->sim->ledger;
  bt_metrics_trades trades = {.round_trips = l->round_trips,
                              .winning_trips = l->winning_trips};
  bt_dec_acc_get(&l->gross_profit, &trades.gross_profit);
  bt_dec_acc_get(&l->gross_loss, &trades.gross_loss);
  bt_dec_acc_get(&l->traded, &trades.traded);
  bt_metrics_summary m;
  bt_metrics_compute(&s->sim->metrics, s->sim->config.capital,
                     s->sim->periods_per_year, &trades, &m);
  lua_createtable(L, 0, 16);
  set_number(L, "total_return", m.total_return);
  set_number(L, "cagr", m.cagr);
  set_number(L, "volatility", m.volatility);
  set_number(L, "sharpe", m.sharpe);
  set_number(L, "sortino", m.sortino);
  set_number(L, "max_drawdown", m.max_drawdown);
  set_number(L, "calmar", m.calmar);
  set_number(L, "win_rate", m.win_rate);
  set_number(L, "profit_factor", m.profit_factor);
  set_number(L, "exposure", m.exposure);
  set_number(L, "turnover", m.turnover);
  set_number(L, "periods_per_year", m.periods_per_year);
  lua_pushinteger(L, (lua_Integer)m.round_trips);
  lua_setfield(L, -2, "round_trips");
  char buf[40];
  const int64_t times[3] = {m.drawdown_peak, m.drawdown_trough,
                            m.drawdown_recovery};
  const char *names[3] = {"max_drawdown_peak", "max_drawdown_trough",
                          "max_drawdown_recovery"};
  for (int i = 0; i < 3; i++) {
    if (times[i] == 0) continue;
    bt_sim_format_time(times[i], buf);
    lua_pushstring(L, buf);
    lua_setfield(L, -2, names[i]);
  }
  if (s->sim->benchmark_values != NULL) {
    bt_metrics_relative rel;
    bt_metrics_compute_relative(s->sim->metrics.values,
                                s->sim->benchmark_values,
                                s->sim->metrics.count, s->sim->config.capital,
                                s->sim->periods_per_year, &rel);
    set_number(L, "benchmark_return", rel.benchmark_return);
    set_number(L, "alpha", rel.alpha);
    set_number(L, "beta", rel.beta);
    set_number(L, "information_ratio", rel.information_ratio);
    set_number(L, "tracking_error", rel.tracking_error);
  }
}

typedef int (*text_fn)(const bt_sim *, char **, size_t *);

static void push_text(lua_State *L, int rc, char *text, size_t len,
                      const char *name) {
  if (rc != BT_OK) luaL_error(L, "%s: %s", name, bt_strerror(rc));
  lua_pushlstring(L, text, len);
  free(text);
  lua_setfield(L, -2, name);
}

static void push_dec_text(lua_State *L, bt_dec v, const char *key) {
  char buf[BT_DEC_FMT_MAX];
  bt_dec_format(v, buf);
  lua_pushstring(L, buf);
  lua_setfield(L, -2, key);
}

/* sim:results(name) -> {scenario=, bars=, sessions=, final_value=, cash=
 * (decimal text), orders=, fills=, rejections=, metrics={...}, files={
 * ["results.json"]=, ["equity.csv"]=, ["fills.csv"]=}} */
static int sim_results(lua_State *L) {
  lsim *s = check_sim(L, 1);
  const char *name = luaL_optstring(L, 2, "");
  bt_sim *sim = s->sim;
  if (!sim->done) return luaL_error(L, "sim:results: run the simulation first");
  bt_prof_zone_begin(sim->config.prof, BT_ZONE_OUTPUT);
  char *json = NULL, *equity = NULL, *fills = NULL;
  size_t json_len = 0, equity_len = 0, fills_len = 0;
  int rc_json = bt_sim_results_json(sim, name, &json, &json_len);
  int rc_equity = bt_sim_equity_csv(sim, &equity, &equity_len);
  int rc_fills = bt_sim_fills_csv(sim, &fills, &fills_len);
  bt_prof_zone_end(sim->config.prof, BT_ZONE_OUTPUT);
  bt_dec value = 0;
  bt_sim_final_value(sim, &value);
  lua_createtable(L, 0, 12);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "scenario");
  lua_pushinteger(L, (lua_Integer)sim->asset_bars);
  lua_setfield(L, -2, "bars");
  lua_pushinteger(L, (lua_Integer)sim->market.bar_count);
  lua_setfield(L, -2, "sessions");
  push_dec_text(L, value, "final_value");
  push_dec_text(L, sim->ledger.cash, "cash");
  lua_pushinteger(L, (lua_Integer)sim->blotter.order_count);
  lua_setfield(L, -2, "orders");
  lua_pushinteger(L, (lua_Integer)sim->blotter.fill_count);
  lua_setfield(L, -2, "fills");
  lua_pushinteger(L, (lua_Integer)sim->blotter.rejections);
  lua_setfield(L, -2, "rejections");
  push_metrics(L, s);
  lua_setfield(L, -2, "metrics");
  lua_createtable(L, 0, 3);
  push_text(L, rc_json, json, json_len, "results.json");
  push_text(L, rc_equity, equity, equity_len, "equity.csv");
  push_text(L, rc_fills, fills, fills_len, "fills.csv");
  lua_setfield(L, -2, "files");
  return 1;
}

/* sim:fills() -> list of {time=, asset=, side=, quantity=, price=,
 * commission=} (decimals as text, time ns) */
static int sim_fills(lua_State *L) {
  lsim *s = check_sim(L, 1);
  const bt_blotter *b = &s->sim->blotter;
  lua_createtable(L, (int)b->fill_count, 0);
  for (int64_t i = 0; i < b->fill_count; i++) {
    const bt_fill *f = &b->fills[i];
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, (lua_Integer)f->time);
    lua_setfield(L, -2, "time");
    lua_pushstring(L, s->market.symbols[f->asset]);
    lua_setfield(L, -2, "asset");
    lua_pushstring(L, f->quantity > 0 ? "buy" : "sell");
    lua_setfield(L, -2, "side");
    push_dec_text(L, f->quantity < 0 ? -f->quantity : f->quantity,
                  "quantity");
    push_dec_text(L, f->price, "price");
    push_dec_text(L, f->commission, "commission");
    lua_pushinteger(L, (lua_Integer)f->order_id);
    lua_setfield(L, -2, "order");
    lua_rawseti(L, -2, (int)i + 1);
  }
  return 1;
}

static int sim_tostring(lua_State *L) {
  lsim *s = (lsim *)luaL_checkudata(L, 1, SIM_TYPE);
  if (s->sim == NULL) lua_pushliteral(L, "btlua.Sim (closed)");
  else lua_pushfstring(L, "btlua.Sim (%d assets, %d bars)",
                       (int)s->market.asset_count,
                       (int)s->market.bar_count);
  return 1;
}

static const luaL_Reg SIM_METHODS[] = {
  {"context", sim_context},
  {"run", sim_run},
  {"results", sim_results},
  {"fills", sim_fills},
  {NULL, NULL},
};

static const luaL_Reg SIM_META[] = {
  {"__gc", sim_gc},
  {"__tostring", sim_tostring},
  {NULL, NULL},
};

static const luaL_Reg HISTORY_META[] = {
  {"__index", history_index},
  {"__len", history_len},
  {"__tostring", history_tostring},
  {NULL, NULL},
};

static const luaL_Reg SIM_FUNCS[] = {
  {"new", sim_new},
  {NULL, NULL},
};

int luaopen_btlua_sim(lua_State *L) {
  luaL_newmetatable(L, SIM_TYPE);
  luaL_setfuncs(L, SIM_META, 0);
  luaL_newlib(L, SIM_METHODS);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newmetatable(L, HISTORY_TYPE);
  luaL_setfuncs(L, HISTORY_META, 0);
  lua_pop(L, 1);
  luaL_newlib(L, SIM_FUNCS);
  return 1;
}
