/* sim_bench.c: the C-only floor of the bar loop: the three built-in
 * strategies written directly in C against sim.h (no Lua), on synthetic
 * bundles shaped like the three scenarios. Prints asset-bars per second
 * (best of the repeats, process CPU time so that a busy machine disturbs
 * it less) and the final value, which must equal the Lua strategies'
 * (bench/sim_bench.lua prints both for comparison).
 * Usage: sim_bench [repeats] [shape ...]   shapes: daily hourly minute */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "sim.h"
#include "store.h"
#include "synth.h"

typedef struct shape {
  const char *name, *frequency, *start, *end, *calendar;
  int assets;
  bt_asset_class asset_class;
} shape;

static const shape SHAPES[] = {
  {"daily", "daily", "2023-01-01", "2024-12-31", "XNYS", 50, BT_CLASS_EQUITY},
  {"hourly", "hourly", "2024-01-01", "2024-06-30", "24/7", 20,
   BT_CLASS_CRYPTO},
  {"minute", "minute", "2024-01-01", "2024-01-31", "24/7", 10,
   BT_CLASS_CRYPTO},
};

/* Per-run state of a C strategy. */
typedef struct strat {
  int kind; /* 0 sma_cross, 1 momentum, 2 mean_reversion */
  int ind_a, ind_b;
  bt_dec *prev_a, *prev_b; /* sma_cross: previous fast and slow */
  uint8_t *prev_ready;
  int32_t count;
} strat;

static bt_dec value_of(const bt_sim *sim, int ind, int out, int32_t a,
                       bool *ready) {
  const bt_sim_indicator *x = &sim->indicators[ind];
  *ready = x->ready[a];
  return x->values[out][a];
}

static int enter(bt_sim *sim, int32_t a, strat *s, bt_err *err) {
  int64_t units, id;
  bt_dec close = bt_sim_value(sim, a, BT_SIM_CLOSE), q;
  if (bt_sim_units(sim->config.capital, s->count, close, &units) != BT_OK ||
      units <= 0)
    return BT_OK;
  bt_dec_from_int(units, &q);
  return bt_sim_order(sim, a, q, BT_ORDER_MARKET, 0, 0, &id, err);
}

static int leave(bt_sim *sim, int32_t a, bt_err *err) {
  int64_t id;
  return bt_sim_order(sim, a, -sim->ledger.positions[a].quantity,
                      BT_ORDER_MARKET, 0, 0, &id, err);
}

static int on_bar(bt_sim *sim, void *userdata, bt_err *err) {
  strat *s = userdata;
  int rc = BT_OK;
  for (int32_t a = 0; a < s->count && rc == BT_OK; a++) {
    if (!bt_sim_present(sim, a)) continue;
    bool ready_a, ready_b;
    bt_dec held = sim->ledger.positions[a].quantity;
    bool idle = sim->blotter.open_quantity[a] == 0;
    if (s->kind == 0) {
      bt_dec f = value_of(sim, s->ind_a, 0, a, &ready_a);
      bt_dec sl = value_of(sim, s->ind_b, 0, a, &ready_b);
      bool now = ready_a && ready_b, before = s->prev_ready[a];
      if (idle && now && before) {
        if (held == 0 && s->prev_a[a] <= s->prev_b[a] && f > sl)
          rc = enter(sim, a, s, err);
        else if (held > 0 && s->prev_a[a] >= s->prev_b[a] && f < sl)
          rc = leave(sim, a, err);
      }
      s->prev_a[a] = f;
      s->prev_b[a] = sl;
      s->prev_ready[a] = now;
    } else if (s->kind == 1) {
      bt_dec change = value_of(sim, s->ind_a, 0, a, &ready_a);
      bool rising = ready_a && change > 0;
      if (idle && held == 0 && rising) rc = enter(sim, a, s, err);
      else if (idle && held > 0 && !rising) rc = leave(sim, a, err);
    } else {
      bt_dec close = bt_sim_value(sim, a, BT_SIM_CLOSE);
      bt_dec lower = value_of(sim, s->ind_a, 0, a, &ready_a);
      bt_dec mean = value_of(sim, s->ind_a, 1, a, &ready_a);
      if (!idle || !ready_a) continue;
      if (held == 0 && close < lower) rc = enter(sim, a, s, err);
      else if (held > 0 && close > mean) rc = leave(sim, a, err);
    }
  }
  return rc;
}

static const char *STRATEGY_NAMES[] = {"sma_cross", "momentum",
                                       "mean_reversion"};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One run; returns seconds of bt_sim_run, final value in *value. */
static double run_once(const bt_sim_market *market, int kind, bt_dec *value,
                       int64_t *bars) {
  bt_sim_config config = {.capital = 100000 * BT_DEC_SCALE};
  bt_sim *sim;
  bt_err err = {0};
  if (bt_sim_new(market, &config, &sim, &err) != BT_OK) {
    fprintf(stderr, "sim: %s\n", err.msg);
    exit(1);
  }
  strat s = {.kind = kind, .count = market->asset_count};
  s.prev_a = calloc((size_t)s.count, sizeof *s.prev_a);
  s.prev_b = calloc((size_t)s.count, sizeof *s.prev_b);
  s.prev_ready = calloc((size_t)s.count, 1);
  if (kind == 0) {
    bt_sim_add_indicator(sim, BT_IND_SMA, BT_SIM_CLOSE, 50, 0, &s.ind_a, &err);
    bt_sim_add_indicator(sim, BT_IND_SMA, BT_SIM_CLOSE, 200, 0, &s.ind_b,
                         &err);
  } else if (kind == 1) {
    bt_sim_add_indicator(sim, BT_IND_MOMENTUM, BT_SIM_CLOSE, 20, 0, &s.ind_a,
                         &err);
  } else {
    bt_sim_add_indicator(sim, BT_SIM_BANDS, BT_SIM_CLOSE, 20,
                         2 * BT_DEC_SCALE, &s.ind_a, &err);
  }
  double t0 = now_s();
  if (bt_sim_run(sim, on_bar, &s, &err) != BT_OK) {
    fprintf(stderr, "run: %s\n", err.msg);
    exit(1);
  }
  double seconds = now_s() - t0;
  bt_sim_final_value(sim, value);
  *bars = sim->asset_bars;
  free(s.prev_a);
  free(s.prev_b);
  free(s.prev_ready);
  bt_sim_free(sim);
  return seconds;
}

static bt_store *open_shape(const shape *sh) {
  char path[512];
  bt_synth_params p = {.assets = sh->assets, .frequency = sh->frequency,
                       .calendar = sh->calendar, .seed = 3,
                       .asset_class = sh->asset_class};
  bt_err err = {0};
  if (bt_time_parse(sh->start, strlen(sh->start), &p.start_ns) != BT_OK ||
      bt_time_parse(sh->end, strlen(sh->end), &p.end_ns) != BT_OK) {
    fprintf(stderr, "bad date\n");
    exit(1);
  }
  char name[256];
  bt_synth_cache_name(&p, name, sizeof name, &err);
  snprintf(path, sizeof path, "/tmp/btlua-bench-%s", name);
  bt_store *store = NULL;
  if (bt_store_open(path, &store, &err) != BT_OK) {
    if (bt_synth_write(&p, path, &err) != BT_OK ||
        bt_store_open(path, &store, &err) != BT_OK) {
      fprintf(stderr, "%s\n", err.msg);
      exit(1);
    }
  }
  return store;
}

int main(int argc, char **argv) {
  int repeats = argc > 1 ? atoi(argv[1]) : 5;
  if (repeats < 1) repeats = 1;
  printf("%-8s %-15s %10s %14s %10s %s\n", "shape", "strategy", "bars",
         "bars/s", "ns/bar", "final_value");
  for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
    const shape *sh = &SHAPES[i];
    bool wanted = argc <= 2;
    for (int k = 2; k < argc; k++) wanted |= strcmp(argv[k], sh->name) == 0;
    if (!wanted) continue;
    bt_store *store = open_shape(sh);
    bt_sim_market market;
    bt_err err = {0};
    if (bt_sim_market_from_store(store, &market, &err) != BT_OK) {
      fprintf(stderr, "%s\n", err.msg);
      return 1;
    }
    for (int kind = 0; kind < 3; kind++) {
      double best = INFINITY;
      bt_dec value = 0;
      int64_t bars = 0;
      for (int r = 0; r < repeats; r++) {
        double s = run_once(&market, kind, &value, &bars);
        if (s < best) best = s;
      }
      char text[BT_DEC_FMT_MAX];
      bt_dec_format(value, text);
      printf("%-8s %-15s %10lld %14.0f %10.1f %s\n", sh->name,
             STRATEGY_NAMES[kind], (long long)bars, (double)bars / best,
             best * 1e9 / (double)bars, text);
    }
    bt_sim_market_free(&market);
    bt_store_close(store);
  }
  return 0;
}
