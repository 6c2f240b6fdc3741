/* sim.h: the bar loop of a backtest. For each bar (session) t, in order:
 *   data        the current bar of every asset (missing bars marked)
 *   fills       open orders placed before t against bar t (blotter.h),
 *               booked into the ledger (ledger.h)
 *   ledger      positions marked at the close of every bar present
 *   indicators  every indicator takes the bar's value of every asset present
 *   strategy    the caller's on_bar callback (Lua's handle_data, or C)
 *   metrics     the portfolio value at the end of bar t (metrics.h)
 * Each stage is a profiler zone. Runnable from C alone (bench/sim_bench.c)
 * and from Lua (lbt_sim.c). Values published as doubles are converted from
 * exact decimals, so equal decimals give equal doubles and comparisons of
 * published values are comparisons of the decimals. */
#ifndef BT_SIM_H
#define BT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blotter.h"
#include "dec.h"
#include "indicators.h"
#include "ledger.h"
#include "metrics.h"
#include "prof.h"

/* Fields of a bar, in the store's column order. */
enum { BT_SIM_OPEN = 0, BT_SIM_HIGH, BT_SIM_LOW, BT_SIM_CLOSE,
       BT_SIM_VOLUME, BT_SIM_FIELDS };

/* The bars a run reads: borrowed, read-only, must outlive the sim. A
 * missing bar holds INT64_MIN (store.h BT_BAR_MISSING) in every field. */
typedef struct bt_sim_market {
  int32_t asset_count;
  int64_t bar_count;
  const int64_t *times;          /* bar_count, ns, bar open time */
  const bt_dec *const *columns;  /* [asset * BT_SIM_FIELDS + field] */
  const bt_asset_class *classes; /* asset_count (NULL: all equity) */
  const char *const *symbols;    /* asset_count */
  const char *calendar;          /* "XNYS", "weekdays", "24/7" */
  int64_t bar_ns;                /* bar length */
} bt_sim_market;

/* A market over an open store (borrowed: keep it open while the market is
 * used). The calendar is the store's; a store without one counts as "24/7"
 * when a session falls on a weekend, else "weekdays". Release with
 * bt_sim_market_free (frees the arrays, not the store). */
struct bt_store;
int bt_sim_market_from_store(const struct bt_store *store,
                             bt_sim_market *out, bt_err *err);
void bt_sim_market_free(bt_sim_market *market);

typedef enum bt_sim_benchmark {
  BT_BENCH_NONE = 0, BT_BENCH_ASSET, BT_BENCH_EQUAL_WEIGHT
} bt_sim_benchmark;

typedef struct bt_sim_config {
  bt_dec capital;
  bt_blotter_config blotter;
  bool allow_margin;
  /* Warm-up: the first `warmup` bars only feed the indicators (and the
   * history a strategy reads later): no fills, no marks, no on_bar, no
   * equity. The strategy and the metrics start at bar `warmup` (0-based);
   * 0 <= warmup < bar count. */
  int64_t warmup;
  /* Benchmark (computed once after the run, from the bars): none, one
   * asset bought and held, or the universe in equal parts. */
  bt_sim_benchmark benchmark;
  int32_t benchmark_asset; /* BT_BENCH_ASSET: 0-based */
  bt_prof *prof; /* NULL: no zones */
} bt_sim_config;

/* Indicator kinds: bt_ind_kind (indicators.h), plus bands and MACD. ATR
 * reads each bar's high, low and close (its field is ignored). */
#define BT_SIM_BANDS BT_IND_KIND_COUNT
#define BT_SIM_MACD (BT_IND_KIND_COUNT + 1)

/* Bands (Bollinger): over the last n values, mean m and population
 * deviation s. Published: [0] lower, [1] mean (the SMA, half-even), [2]
 * upper, where lower is m - k*s rounded UP to 10^-8 and upper is m + k*s
 * rounded DOWN, both from the exact sums: for any price x at 10^-8,
 * x < lower exactly when x < m - k*s in real numbers, and x > upper
 * exactly when x > m + k*s. */
typedef struct bt_sim_band {
  bt_dec *ring;   /* the last n values */
  bt_dec shift;   /* first value ever pushed: sums are of x - shift */
  bt_i128 sum, sum_sq;
  int64_t count;
} bt_sim_band;

typedef struct bt_sim_indicator {
  int kind;        /* bt_ind_kind, BT_SIM_BANDS or BT_SIM_MACD */
  int field;       /* BT_SIM_CLOSE, ... */
  int32_t period;  /* MACD: the slow period */
  int32_t fast, signal; /* MACD */
  bt_dec k;        /* bands */
  bt_u128 k_num, k_den; /* bands: k = k_num / k_den in lowest terms */
  int outputs;     /* 1, or 3 for bands and MACD */
  bt_ind *ind;     /* asset_count (bt_ind kinds); MACD: 3 per asset, the
                      fast, slow and signal EMAs of asset a at 3a..3a+2 */
  bt_sim_band *band; /* asset_count (bands) */
  bt_dec *values[3]; /* per asset, exact; valid where ready[asset] */
  double *doubles[3]; /* per asset; NaN until ready */
  uint8_t *ready;
} bt_sim_indicator;

typedef struct bt_sim bt_sim;

/* on_bar: the strategy; a negative return stops the run with that status
 * (the callback fills err). */
typedef int (*bt_sim_bar_fn)(bt_sim *sim, void *userdata, bt_err *err);

struct bt_sim {
  bt_sim_market market;
  bt_sim_config config;
  bt_blotter blotter;
  bt_ledger ledger;
  bt_metrics metrics;
  double periods_per_year;
  int64_t bar;          /* current bar index; -1 before the run */
  int64_t time;         /* ns of the current bar */
  int64_t asset_bars;   /* bars present, processed so far */
  int64_t fills_this_bar;
  bool *present;        /* asset_count: current bar present */
  bool field_wanted[BT_SIM_FIELDS];
  double *fields[BT_SIM_FIELDS]; /* per asset doubles of the current bar
                                    (NaN when missing), wanted fields only */
  bt_sim_indicator *indicators;
  int indicator_count, indicator_cap;
  /* ctx:record columns: names and bar_count doubles each (NaN unset) */
  char **record_names;
  double **records;
  int record_count, record_cap;
  /* With a benchmark: its value at the end of each traded bar (as
   * metrics.values): sum over its assets a of capital * c_a / (n * c0_a),
   * rounded half-even at 10^-8 per asset, where n is the number of assets
   * (1 for one asset), c0_a the asset's first close from the first
   * traded bar on, c_a its last close so far (c_a / c0_a = 1 before its
   * first bar). */
  bt_dec *benchmark_values;
  bool done;
};

int bt_sim_new(const bt_sim_market *market, const bt_sim_config *config,
               bt_sim **out, bt_err *err);
void bt_sim_free(bt_sim *sim);

/* Asks for per-bar doubles of a field (sim->fields[field]). */
void bt_sim_want_field(bt_sim *sim, int field);

/* Adds an indicator over `field` of every asset; *out_index to read it.
 * kind: bt_ind_kind or BT_SIM_BANDS (then k > 0). */
int bt_sim_add_indicator(bt_sim *sim, int kind, int field, int period,
                         bt_dec k, int *out_index, bt_err *err);

/* Adds MACD(fast, slow, signal) over `field` of every asset: [0] the MACD
 * line EMA(fast) - EMA(slow) (exact), [1] the signal, EMA(signal) of the
 * MACD line from the bar the slow EMA is ready, [2] the histogram
 * macd - signal; ready with the signal. EMAs as indicators.h (SMA seed,
 * one half-even rounding per bar). 1 <= fast < slow, signal >= 1. */
int bt_sim_add_macd(bt_sim *sim, int field, int fast, int slow, int signal,
                    int *out_index, bt_err *err);

/* Runs every bar. BT_ESTATE when already run. */
int bt_sim_run(bt_sim *sim, bt_sim_bar_fn on_bar, void *userdata,
               bt_err *err);

/* During on_bar: the current bar of an asset (NULL when missing). */
static inline bool bt_sim_present(const bt_sim *sim, int32_t asset) {
  return sim->present[asset];
}
static inline bt_dec bt_sim_value(const bt_sim *sim, int32_t asset,
                                  int field) {
  return sim->market.columns[asset * BT_SIM_FIELDS + field][sim->bar];
}

/* Places an order now (eligible from the next bar); *out_id 0 when the
 * quantity rounds to nothing. */
int bt_sim_order(bt_sim *sim, int32_t asset, bt_dec quantity,
                 bt_order_type type, bt_dec limit, bt_dec stop,
                 int64_t *out_id, bt_err *err);
int bt_sim_cancel(bt_sim *sim, int64_t id);

/* floor(value / (parts * price)) whole units, exact; price > 0. */
int bt_sim_units(bt_dec value, int64_t parts, bt_dec price, int64_t *out);
/* value / price rounded toward zero to the asset's quantity places. */
int bt_sim_quantity_for_value(const bt_sim *sim, int32_t asset, bt_dec value,
                              bt_dec price, bt_dec *out);

/* Records a named value for the current bar (a column of S_equity.csv,
 * whose rows start after the warm-up). */
int bt_sim_record(bt_sim *sim, const char *name, double value);

/* Results text (malloc'd, NUL-terminated, *out_len bytes): the JSON of
 * DESIGN.md "Results" with keys in a fixed order, the equity curve CSV
 * (time,cash,value[,recorded...]) and the fill log CSV
 * (time,asset,side,quantity,price,commission). Times are ISO-8601 UTC. */
int bt_sim_results_json(const bt_sim *sim, const char *scenario, char **out,
                        size_t *out_len);
int bt_sim_equity_csv(const bt_sim *sim, char **out, size_t *out_len);
int bt_sim_fills_csv(const bt_sim *sim, char **out, size_t *out_len);

/* The final portfolio value (after the last bar). */
int bt_sim_final_value(const bt_sim *sim, bt_dec *out);

/* ISO-8601 UTC text of a time in ns ("2024-01-02T09:30:00Z", fractional
 * seconds only when present); buf holds 40 bytes. The same text as
 * bt_time_format (calendar.h), which writes it. */
void bt_sim_format_time(int64_t ns, char *buf);

#endif
