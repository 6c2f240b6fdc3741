/* sim.c: the bar loop of sim.h (data, fills, marks, indicators, strategy,
 * metrics per bar), exact Bollinger bands, order helpers, and the results
 * files (JSON with a fixed key order, equity and fill CSVs). */
#include "sim.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "store.h"

/* The bar loop's stages stay out of line, one function per engine zone, so
 * an instruction profile (callgrind, --profiler instructions) can charge
 * each zone its inclusive count: data load_bar, fills fill_orders, ledger
 * mark_positions, indicators update_indicator, metrics record_equity. */
#define BT_STAGE __attribute__((noinline))

#define MISSING BT_BAR_MISSING

static const bt_dec *column(const bt_sim *sim, int32_t asset, int field) {
  return sim->market.columns[asset * BT_SIM_FIELDS + field];
}

/* ---- markets ---------------------------------------------------------- */

static bool has_weekend(const int64_t *times, size_t count) {
  for (size_t i = 0; i < count; i++) {
    int64_t days = times[i] / BT_NS_PER_DAY;
    if (times[i] < 0 && times[i] % BT_NS_PER_DAY != 0) days--;
    int weekday = (int)(((days % 7) + 11) % 7); /* 1970-01-01: Thursday */
    if (weekday == 0 || weekday == 6) return true; /* Sunday, Saturday */
  }
  return false;
}

int bt_sim_market_from_store(const struct bt_store *store,
                             bt_sim_market *out, bt_err *err) {
  *out = (bt_sim_market){0};
  size_t assets = bt_store_asset_count(store);
  size_t bars = bt_store_session_count(store);
  int64_t bar_ns = 0;
  int rc = bt_frequency_parse(bt_store_frequency(store), &bar_ns, err);
  if (rc != BT_OK) return rc;
  const bt_dec **columns = bt_mem_calloc(assets * BT_SIM_FIELDS + 1, sizeof *columns);
  bt_asset_class *classes = bt_mem_calloc(assets + 1, sizeof *classes);
  const char **symbols = bt_mem_calloc(assets + 1, sizeof *symbols);
  if (!columns || !classes || !symbols) {
    bt_mem_free(columns);
    bt_mem_free(classes);
    bt_mem_free(symbols);
    return bt_err_set(err, BT_ENOMEM, "sim: out of memory");
  }
  for (size_t a = 0; a < assets; a++) {
    for (int f = 0; f < BT_SIM_FIELDS; f++)
      columns[a * BT_SIM_FIELDS + f] = bt_store_column(store, a, (bt_field)f);
    classes[a] = bt_store_asset_class(store, a);
    symbols[a] = bt_store_symbol(store, a);
  }
  const char *calendar = bt_store_calendar(store);
  if (calendar == NULL || *calendar == '\0')
    calendar = has_weekend(bt_store_sessions(store), bars) ? "24/7"
                                                           : "weekdays";
  *out = (bt_sim_market){.asset_count = (int32_t)assets,
                         .bar_count = (int64_t)bars,
                         .times = bt_store_sessions(store),
                         .columns = columns, .classes = classes,
                         .symbols = symbols, .calendar = calendar,
                         .bar_ns = bar_ns};
  return BT_OK;
}

void bt_sim_market_free(bt_sim_market *market) {
  bt_mem_free((void *)market->columns);
  bt_mem_free((void *)market->classes);
  bt_mem_free((void *)market->symbols);
  *market = (bt_sim_market){0};
}

/* ---- life cycle ------------------------------------------------------- */

int bt_sim_new(const bt_sim_market *market, const bt_sim_config *config,
               bt_sim **out, bt_err *err) {
  *out = NULL;
  if (market->asset_count <= 0 || market->bar_count <= 0)
    return bt_err_set(err, BT_EINVAL, "sim: no assets or no bars");
  if (config->capital <= 0)
    return bt_err_set(err, BT_EINVAL, "sim: capital must be > 0");
  if (config->benchmark == BT_BENCH_ASSET &&
      (config->benchmark_asset < 0 ||
       config->benchmark_asset >= market->asset_count))
    return bt_err_set(err, BT_EINVAL, "benchmark: no asset %d",
                      (int)config->benchmark_asset + 1);
  if (config->warmup < 0 || config->warmup >= market->bar_count)
    return bt_err_set(err, BT_EINVAL,
                      "warmup: must be >= 0 and below the %lld sessions, "
                      "got %lld", (long long)market->bar_count,
                      (long long)config->warmup);
  bt_sim *sim = bt_mem_calloc(1, sizeof *sim);
  if (sim == NULL) return bt_err_set(err, BT_ENOMEM, "sim: out of memory");
  sim->market = *market;
  sim->config = *config;
  sim->bar = -1;
  sim->periods_per_year = bt_metrics_periods_per_year_of(
      market->calendar, market->bar_ns, market->times, market->bar_count);
  int rc = bt_blotter_init(&sim->blotter, &config->blotter,
                           market->asset_count, market->classes);
  if (rc == BT_OK) rc = bt_ledger_init(&sim->ledger, config->capital,
                                       market->asset_count,
                                       config->allow_margin);
  if (rc == BT_OK) rc = bt_metrics_init(&sim->metrics, market->bar_count);
  sim->present = bt_mem_calloc((size_t)market->asset_count, sizeof *sim->present);
  if (rc == BT_OK && sim->present == NULL) rc = BT_ENOMEM;
  if (rc != BT_OK) {
    bt_sim_free(sim);
    return bt_err_set(err, rc, "sim: out of memory");
  }
  *out = sim;
  return BT_OK;
}

/* bt_ind entries of an indicator: one per asset, three for MACD. */
static int32_t ind_count(const bt_sim_indicator *ind, int32_t assets) {
  return ind->kind == BT_SIM_MACD ? 3 * assets : assets;
}

static void free_indicator(bt_sim_indicator *ind, int32_t assets) {
  for (int32_t a = 0; ind->ind && a < ind_count(ind, assets); a++)
    bt_ind_free(&ind->ind[a]);
  for (int32_t a = 0; ind->band && a < assets; a++) bt_mem_free(ind->band[a].ring);
  bt_mem_free(ind->ind);
  bt_mem_free(ind->band);
  for (int i = 0; i < 3; i++) {
    bt_mem_free(ind->values[i]);
    bt_mem_free(ind->doubles[i]);
  }
  bt_mem_free(ind->ready);
}

void bt_sim_free(bt_sim *sim) {
  if (sim == NULL) return;
  for (int i = 0; i < sim->indicator_count; i++)
    free_indicator(&sim->indicators[i], sim->market.asset_count);
  bt_mem_free(sim->indicators);
  for (int i = 0; i < sim->record_count; i++) {
    bt_mem_free(sim->record_names[i]);
    bt_mem_free(sim->records[i]);
  }
  bt_mem_free(sim->record_names);
  bt_mem_free(sim->records);
  bt_mem_free(sim->benchmark_values);
  for (int f = 0; f < BT_SIM_FIELDS; f++) bt_mem_free(sim->fields[f]);
  bt_mem_free(sim->present);
  bt_blotter_free(&sim->blotter);
  bt_ledger_free(&sim->ledger);
  bt_metrics_free(&sim->metrics);
  bt_mem_free(sim);
}

void bt_sim_want_field(bt_sim *sim, int field) {
  if (field < 0 || field >= BT_SIM_FIELDS || sim->field_wanted[field]) return;
  double *values = bt_mem_alloc((size_t)sim->market.asset_count * sizeof *values);
  if (values == NULL) return;
  for (int32_t a = 0; a < sim->market.asset_count; a++) {
    bt_dec v = sim->bar >= 0 ? column(sim, a, field)[sim->bar] : MISSING;
    values[a] = v == MISSING ? NAN : bt_dec_to_double(v);
  }
  sim->fields[field] = values;
  sim->field_wanted[field] = true;
}

/* ---- exact bands ------------------------------------------------------- */

typedef struct u256 {
  bt_u128 hi, lo;
} u256;

static u256 mul_u128(bt_u128 a, bt_u128 b) {
  uint64_t a0 = (uint64_t)a, a1 = (uint64_t)(a >> 64);
  uint64_t b0 = (uint64_t)b, b1 = (uint64_t)(b >> 64);
  bt_u128 p00 = (bt_u128)a0 * b0, p01 = (bt_u128)a0 * b1;
  bt_u128 p10 = (bt_u128)a1 * b0, p11 = (bt_u128)a1 * b1;
  bt_u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
  u256 r = {p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64),
            (mid << 64) | (uint64_t)p00};
  return r;
}

static bool u256_le(u256 a, u256 b) {
  return a.hi < b.hi || (a.hi == b.hi && a.lo <= b.lo);
}

/* k = kn / kd in lowest terms, from k's raw 10^-8 units. */
static void k_ratio(bt_dec k, bt_u128 *kn, bt_u128 *kd) {
  uint64_t a = (uint64_t)k, b = (uint64_t)BT_DEC_SCALE;
  while (b != 0) {
    uint64_t t = a % b;
    a = b;
    b = t;
  }
  *kn = (uint64_t)k / a;
  *kd = (uint64_t)BT_DEC_SCALE / a;
}

/* Is y <= (kn / kd) * sqrt(d)? (d >= 0) */
static bool within(bt_i128 y, bt_u128 kn, bt_u128 kd, bt_i128 d) {
  if (y <= 0) return true;
  bt_u128 lhs = kd * (bt_u128)y;
  return u256_le(mul_u128(lhs, lhs), mul_u128(kn * kn, (bt_u128)d));
}

/* n * m - total as i128 (sign +1) or total - n * m (sign -1). */
static bt_i128 gap(bt_i128 total, int64_t n, int64_t m, int sign) {
  bt_i128 nm = (bt_i128)n * m;
  return sign > 0 ? nm - total : total - nm;
}

/* lower: the least m with total - n*m <= T; upper: the greatest m with
 * n*m - total <= T, where T = k * sqrt(d) (so m - total/n compares with
 * k * sqrt(d) / n = k * s). */
static int64_t band_edge(bt_i128 total, int64_t n, bt_u128 kn, bt_u128 kd,
                         bt_i128 d, int sign) {
  long double t = (long double)kn / (long double)kd * sqrtl((long double)d);
  long double est = ((long double)total + (long double)sign * t) / n;
  int64_t m = (int64_t)(sign < 0 ? ceill(est) : floorl(est));
  if (sign < 0) {
    if (within(gap(total, n, m, -1), kn, kd, d)) {
      while (within(gap(total, n, m - 1, -1), kn, kd, d)) m--;
    } else {
      while (!within(gap(total, n, m, -1), kn, kd, d)) m++;
    }
  } else {
    if (within(gap(total, n, m, +1), kn, kd, d)) {
      while (within(gap(total, n, m + 1, +1), kn, kd, d)) m++;
    } else {
      while (!within(gap(total, n, m, +1), kn, kd, d)) m--;
    }
  }
  return m;
}

static bt_dec div_half_even(bt_i128 num, int64_t n) {
  bt_i128 q = num / n, r = num % n;
  bt_i128 twice = (r < 0 ? -r : r) * 2;
  if (twice > n || (twice == n && (q % 2) != 0)) q += num < 0 ? -1 : 1;
  return (bt_dec)q;
}

static void band_push(bt_sim_band *band, int32_t n, bt_dec x) {
  if (band->count == 0) band->shift = x;
  int32_t slot = (int32_t)(band->count % n);
  if (band->count >= n) {
    bt_i128 old = (bt_i128)band->ring[slot] - band->shift;
    band->sum -= old;
    band->sum_sq -= old * old;
  }
  band->ring[slot] = x;
  bt_i128 d = (bt_i128)x - band->shift;
  band->sum += d;
  band->sum_sq += d * d;
  band->count++;
}

/* sum / n rounded half-even, through int64 when the sum fits. */
static bt_dec mean_half_even(bt_i128 total, int64_t n) {
  if (total > -((bt_i128)1 << 62) && total < ((bt_i128)1 << 62)) {
    int64_t t = (int64_t)total, q = t / n, r = t % n;
    int64_t twice = (r < 0 ? -r : r) * 2;
    if (twice > n || (twice == n && (q % 2) != 0)) q += t < 0 ? -1 : 1;
    return q;
  }
  return div_half_even(total, n);
}

/* The edge from a double estimate when it is clearly away from a grid
 * point (error well under `slack` units); else the exact search. */
static int64_t fast_edge(double est, double slack, bt_i128 total, int64_t n,
                         bt_u128 kn, bt_u128 kd, bt_i128 d, int sign) {
  double edge = sign < 0 ? ceil(est) : floor(est);
  double gap_to_grid = sign < 0 ? edge - est : est - edge;
  if (gap_to_grid > slack && gap_to_grid < 1.0 - slack &&
      fabs(edge) < 9.0e15)
    return (int64_t)edge;
  return band_edge(total, n, kn, kd, d, sign);
}

/* lower, mean, upper of a full window; BT_EOVERFLOW out of range. */
static double i128_to_double(bt_i128 v) {
  if (v > INT64_MIN && v < INT64_MAX) return (double)(int64_t)v;
  return (double)v;
}

static int band_values(const bt_sim_band *band, int32_t n, bt_dec k,
                       bt_u128 kn, bt_u128 kd, bt_dec out[3]) {
  bt_i128 total = band->sum + (bt_i128)n * band->shift, d;
  if (__builtin_mul_overflow(band->sum_sq, (bt_i128)n, &d)) return BT_EOVERFLOW;
  d -= band->sum * band->sum;
  if (d < 0) d = 0;
  /* Doubles first: relative error a few 1e-16 of |total| and of T. */
  double t = (double)k / (double)BT_DEC_SCALE * sqrt(i128_to_double(d));
  double center = i128_to_double(total) / (double)n;
  double spread = t / (double)n;
  double slack = (fabs(center) + spread) * 1e-13 + 1e-6;
  out[0] = fast_edge(center - spread, slack, total, n, kn, kd, d, -1);
  out[1] = mean_half_even(total, n);
  out[2] = fast_edge(center + spread, slack, total, n, kn, kd, d, +1);
  return BT_OK;
}

/* ---- indicators -------------------------------------------------------- */

static int indicator_alloc(bt_sim_indicator *ind, int32_t assets) {
  for (int i = 0; i < ind->outputs; i++) {
    ind->values[i] = bt_mem_calloc((size_t)assets, sizeof *ind->values[i]);
    ind->doubles[i] = bt_mem_alloc((size_t)assets * sizeof *ind->doubles[i]);
    if (!ind->values[i] || !ind->doubles[i]) return BT_ENOMEM;
    for (int32_t a = 0; a < assets; a++) ind->doubles[i][a] = NAN;
  }
  ind->ready = bt_mem_calloc((size_t)assets, 1);
  if (ind->ready == NULL) return BT_ENOMEM;
  if (ind->kind == BT_SIM_BANDS) {
    ind->band = bt_mem_calloc((size_t)assets, sizeof *ind->band);
    if (ind->band == NULL) return BT_ENOMEM;
    for (int32_t a = 0; a < assets; a++) {
      ind->band[a].ring = bt_mem_alloc((size_t)ind->period * sizeof(bt_dec));
      if (ind->band[a].ring == NULL) return BT_ENOMEM;
    }
    return BT_OK;
  }
  int32_t count = ind_count(ind, assets);
  ind->ind = bt_mem_calloc((size_t)count, sizeof *ind->ind);
  if (ind->ind == NULL) return BT_ENOMEM;
  for (int32_t i = 0; i < count; i++) {
    int rc;
    if (ind->kind == BT_SIM_MACD) {
      int periods[3] = {ind->fast, ind->period, ind->signal};
      rc = bt_ind_init(&ind->ind[i], BT_IND_EMA, periods[i % 3]);
    } else {
      rc = bt_ind_init(&ind->ind[i], (bt_ind_kind)ind->kind, ind->period);
    }
    if (rc != BT_OK) return rc;
  }
  return BT_OK;
}

/* A free slot in sim->indicators. */
static bt_sim_indicator *new_indicator(bt_sim *sim, bt_err *err) {
  if (sim->indicator_count == sim->indicator_cap) {
    int cap = sim->indicator_cap ? sim->indicator_cap * 2 : 8;
    bt_sim_indicator *bigger =
        bt_mem_realloc(sim->indicators, (size_t)cap * sizeof *bigger);
    if (bigger == NULL) {
      bt_err_set(err, BT_ENOMEM, "out of memory");
      return NULL;
    }
    sim->indicators = bigger;
    sim->indicator_cap = cap;
  }
  return &sim->indicators[sim->indicator_count];
}

int bt_sim_add_macd(bt_sim *sim, int field, int fast, int slow, int signal,
                    int *out_index, bt_err *err) {
  if (field < 0 || field >= BT_SIM_FIELDS)
    return bt_err_set(err, BT_EINVAL, "indicator: unknown field %d", field);
  if (fast < 1 || slow <= fast || slow > BT_IND_MAX_PERIOD || signal < 1 ||
      signal > BT_IND_MAX_PERIOD)
    return bt_err_set(err, BT_EINVAL,
                      "indicator: macd needs 1 <= fast < slow <= %d and "
                      "signal in 1..%d, got %d, %d, %d",
                      BT_IND_MAX_PERIOD, BT_IND_MAX_PERIOD, fast, slow,
                      signal);
  bt_sim_indicator *ind = new_indicator(sim, err);
  if (ind == NULL) return BT_ENOMEM;
  *ind = (bt_sim_indicator){.kind = BT_SIM_MACD, .field = field,
                            .period = slow, .fast = fast, .signal = signal,
                            .outputs = 3};
  int rc = indicator_alloc(ind, sim->market.asset_count);
  if (rc != BT_OK) {
    free_indicator(ind, sim->market.asset_count);
    return bt_err_set(err, rc, "indicator: %s", bt_strerror(rc));
  }
  *out_index = sim->indicator_count++;
  return BT_OK;
}

int bt_sim_add_indicator(bt_sim *sim, int kind, int field, int period,
                         bt_dec k, int *out_index, bt_err *err) {
  if (kind < 0 || kind > BT_SIM_BANDS)
    return bt_err_set(err, BT_EINVAL, "indicator: unknown kind %d", kind);
  if (field < 0 || field >= BT_SIM_FIELDS)
    return bt_err_set(err, BT_EINVAL, "indicator: unknown field %d", field);
  if (period < 1 || period > BT_IND_MAX_PERIOD)
    return bt_err_set(err, BT_EINVAL,
                      "indicator: period %d outside 1..%d", period,
                      BT_IND_MAX_PERIOD);
  if (kind == BT_SIM_BANDS && k <= 0)
    return bt_err_set(err, BT_EINVAL, "indicator: bands need k > 0");
  bt_u128 k_num = 0, k_den = 1;
  if (kind == BT_SIM_BANDS) k_ratio(k, &k_num, &k_den);
  if (k_num > ((bt_u128)1 << 63))
    return bt_err_set(err, BT_ERANGE, "indicator: bands k too large");
  bt_sim_indicator *ind = new_indicator(sim, err);
  if (ind == NULL) return BT_ENOMEM;
  *ind = (bt_sim_indicator){.kind = kind, .field = field, .period = period,
                            .k = k, .k_num = k_num, .k_den = k_den,
                            .outputs = kind == BT_SIM_BANDS ? 3 : 1};
  int rc = indicator_alloc(ind, sim->market.asset_count);
  if (rc != BT_OK) {
    free_indicator(ind, sim->market.asset_count);
    return bt_err_set(err, rc, "indicator: %s", bt_strerror(rc));
  }
  *out_index = sim->indicator_count++;
  return BT_OK;
}

static void set_output(bt_sim_indicator *ind, int32_t asset, int i,
                       bt_dec v) {
  ind->values[i][asset] = v;
  ind->doubles[i][asset] = bt_dec_to_double(v);
}

/* MACD of asset a after x: its three EMAs, then the outputs when ready. */
static void update_macd(bt_sim_indicator *ind, int32_t a, bt_dec x) {
  bt_ind *fast = &ind->ind[3 * a], *slow = fast + 1, *signal = fast + 2;
  bt_dec f, s, line, sig, hist;
  if (bt_ind_push(fast, x) != BT_OK || bt_ind_push(slow, x) != BT_OK ||
      !bt_ind_ready(slow) || bt_ind_value(fast, &f) != BT_OK ||
      bt_ind_value(slow, &s) != BT_OK || bt_dec_sub(f, s, &line) != BT_OK ||
      bt_ind_push(signal, line) != BT_OK || !bt_ind_ready(signal) ||
      bt_ind_value(signal, &sig) != BT_OK ||
      bt_dec_sub(line, sig, &hist) != BT_OK)
    return;
  ind->ready[a] = 1;
  set_output(ind, a, 0, line);
  set_output(ind, a, 1, sig);
  set_output(ind, a, 2, hist);
}

static void update_band(bt_sim_indicator *ind, int32_t a, bt_dec x) {
  band_push(&ind->band[a], ind->period, x);
  bt_dec out[3];
  if (ind->band[a].count < ind->period ||
      band_values(&ind->band[a], ind->period, ind->k, ind->k_num, ind->k_den,
                  out) != BT_OK)
    return;
  ind->ready[a] = 1;
  for (int i = 0; i < 3; i++) set_output(ind, a, i, out[i]);
}

/* A bt_ind indicator of asset a after its push (status `pushed`). */
static void publish_ind(bt_sim_indicator *ind, int32_t a, int pushed) {
  bt_dec v;
  if (pushed != BT_OK || !bt_ind_ready(&ind->ind[a]) ||
      bt_ind_value(&ind->ind[a], &v) != BT_OK) {
    ind->ready[a] = 0;
    ind->doubles[0][a] = NAN;
    return;
  }
  ind->ready[a] = 1;
  set_output(ind, a, 0, v);
}

/* One loop per kind of indicator: no kind test per asset. */
BT_STAGE static void update_indicator(bt_sim *sim, bt_sim_indicator *ind) {
  int32_t assets = sim->market.asset_count;
  int64_t t = sim->bar;
  const bt_dec *const *columns = sim->market.columns;
  int kind = ind->kind, field = ind->field;
  if (kind == BT_SIM_BANDS) {
    for (int32_t a = 0; a < assets; a++)
      if (sim->present[a]) update_band(ind, a, column(sim, a, field)[t]);
  } else if (kind == BT_SIM_MACD) {
    for (int32_t a = 0; a < assets; a++)
      if (sim->present[a]) update_macd(ind, a, column(sim, a, field)[t]);
  } else if (kind == BT_IND_ATR) {
    for (int32_t a = 0; a < assets; a++) {
      if (!sim->present[a]) continue;
      const bt_dec *const *bar = columns + a * BT_SIM_FIELDS;
      publish_ind(ind, a,
                  bt_ind_push_bar(&ind->ind[a], bar[BT_SIM_HIGH][t],
                                  bar[BT_SIM_LOW][t], bar[BT_SIM_CLOSE][t]));
    }
  } else {
    for (int32_t a = 0; a < assets; a++)
      if (sim->present[a])
        publish_ind(ind, a,
                    bt_ind_push(&ind->ind[a], column(sim, a, field)[t]));
  }
}

/* ---- the bar loop ------------------------------------------------------ */

BT_STAGE static void load_bar(bt_sim *sim) {
  int32_t assets = sim->market.asset_count;
  int64_t t = sim->bar;
  for (int32_t a = 0; a < assets; a++) {
    bool present = column(sim, a, BT_SIM_CLOSE)[t] != MISSING;
    sim->present[a] = present;
    sim->asset_bars += present;
  }
  for (int f = 0; f < BT_SIM_FIELDS; f++) {
    if (!sim->field_wanted[f]) continue;
    double *out = sim->fields[f];
    for (int32_t a = 0; a < assets; a++) {
      bt_dec v = column(sim, a, f)[t];
      out[a] = v == MISSING ? NAN : bt_dec_to_double(v);
    }
  }
}

BT_STAGE static int fill_orders(bt_sim *sim, bt_err *err) {
  sim->fills_this_bar = 0;
  if (sim->blotter.open_total == 0) return BT_OK;
  for (int32_t a = 0; a < sim->market.asset_count; a++) {
    if (!sim->present[a] || sim->blotter.open_len[a] == 0) continue;
    int64_t t = sim->bar;
    bt_bar bar = {column(sim, a, BT_SIM_OPEN)[t], column(sim, a, BT_SIM_HIGH)[t],
                  column(sim, a, BT_SIM_LOW)[t], column(sim, a, BT_SIM_CLOSE)[t],
                  column(sim, a, BT_SIM_VOLUME)[t]};
    int rc = bt_blotter_fill_asset(&sim->blotter, &sim->ledger, a, &bar, t,
                                   sim->time);
    if (rc < 0)
      return bt_err_set(err, rc, "fills: %s at bar %lld",
                        bt_strerror(rc), (long long)t + 1);
    sim->fills_this_bar += rc;
  }
  return BT_OK;
}

BT_STAGE static void mark_positions(bt_sim *sim) {
  for (int32_t a = 0; a < sim->market.asset_count; a++)
    if (sim->present[a])
      bt_ledger_mark(&sim->ledger, a, column(sim, a, BT_SIM_CLOSE)[sim->bar]);
}

BT_STAGE static int record_equity(bt_sim *sim, bt_err *err) {
  bt_dec value = sim->ledger.cash;
  int rc = sim->ledger.open_positions > 0
               ? bt_ledger_value(&sim->ledger, &value)
               : BT_OK;
  if (rc == BT_OK)
    rc = bt_metrics_record(&sim->metrics, sim->time, value, sim->ledger.cash,
                           sim->ledger.open_positions > 0);
  if (rc != BT_OK)
    return bt_err_set(err, rc, "metrics: %s at bar %lld", bt_strerror(rc),
                      (long long)sim->bar + 1);
  return BT_OK;
}

/* capital * close / (parts * first) rounded half-even at 10^-8. */
static int bench_share(bt_dec capital, bt_dec close, bt_dec first,
                       int32_t parts, bt_dec *out) {
  bt_i128 num = (bt_i128)capital * close;
  bt_i128 den = (bt_i128)first * parts;
  bt_i128 q = num / den, r = num % den; /* all > 0 */
  if (2 * r > den || (2 * r == den && (q & 1))) q++;
  if (q > INT64_MAX) return BT_EOVERFLOW;
  *out = (bt_dec)q;
  return BT_OK;
}

/* sim->benchmark_values, once after the run (sim.h). */
static int compute_benchmark(bt_sim *sim, bt_err *err) {
  const bt_sim_config *c = &sim->config;
  int32_t from = 0, to = sim->market.asset_count, parts = to;
  if (c->benchmark == BT_BENCH_ASSET) {
    from = c->benchmark_asset;
    to = from + 1;
    parts = 1;
  }
  int64_t n = sim->metrics.count;
  sim->benchmark_values = bt_mem_calloc((size_t)n + 1, sizeof(bt_dec));
  if (sim->benchmark_values == NULL)
    return bt_err_set(err, BT_ENOMEM, "benchmark: out of memory");
  for (int32_t a = from; a < to; a++) {
    const bt_dec *close = column(sim, a, BT_SIM_CLOSE);
    bt_dec first = MISSING, last = MISSING;
    for (int64_t i = 0; i < n; i++) {
      bt_dec v = close[c->warmup + i];
      if (v != MISSING) {
        last = v;
        if (first == MISSING) first = v;
      }
      bt_dec share = 0;
      int rc = first == MISSING
                   ? bench_share(c->capital, 1, 1, parts, &share)
                   : bench_share(c->capital, last, first, parts, &share);
      if (rc == BT_OK)
        rc = bt_dec_add(sim->benchmark_values[i], share,
                        &sim->benchmark_values[i]);
      if (rc != BT_OK)
        return bt_err_set(err, rc, "benchmark: %s", bt_strerror(rc));
    }
  }
  return BT_OK;
}

/* The warm-up bars: data and indicators only (its own loop, so that the
 * main loop below carries no test for it). */
static void warm_up(bt_sim *sim) {
  bt_prof *prof = sim->config.prof;
  for (int64_t t = 0; t < sim->config.warmup; t++) {
    sim->bar = t;
    sim->time = sim->market.times[t];
    bt_prof_zone_begin(prof, BT_ZONE_DATA);
    load_bar(sim);
    bt_prof_zone_next(prof, BT_ZONE_DATA, BT_ZONE_INDICATORS);
    for (int i = 0; i < sim->indicator_count; i++)
      update_indicator(sim, &sim->indicators[i]);
    bt_prof_zone_end(prof, BT_ZONE_INDICATORS);
  }
}

int bt_sim_run(bt_sim *sim, bt_sim_bar_fn on_bar, void *userdata,
               bt_err *err) {
  if (sim->done) return bt_err_set(err, BT_ESTATE, "sim: already run");
  bt_prof *prof = sim->config.prof;
  int rc = BT_OK;
  warm_up(sim);
  for (int64_t t = sim->config.warmup;
       t < sim->market.bar_count && rc == BT_OK; t++) {
    sim->bar = t;
    sim->time = sim->market.times[t];
    /* The stages follow each other: one clock read between two zones. */
    bt_prof_zone_begin(prof, BT_ZONE_DATA);
    load_bar(sim);
    bt_prof_zone_next(prof, BT_ZONE_DATA, BT_ZONE_FILLS);
    rc = fill_orders(sim, err);
    if (rc != BT_OK) {
      bt_prof_zone_end(prof, BT_ZONE_FILLS);
      break;
    }
    bt_prof_zone_next(prof, BT_ZONE_FILLS, BT_ZONE_LEDGER);
    mark_positions(sim);
    bt_prof_zone_next(prof, BT_ZONE_LEDGER, BT_ZONE_INDICATORS);
    for (int i = 0; i < sim->indicator_count; i++)
      update_indicator(sim, &sim->indicators[i]);
    if (on_bar != NULL) {
      bt_prof_zone_next(prof, BT_ZONE_INDICATORS, BT_ZONE_STRATEGY);
      rc = on_bar(sim, userdata, err);
      if (rc != BT_OK) {
        bt_prof_zone_end(prof, BT_ZONE_STRATEGY);
        break;
      }
      bt_prof_zone_next(prof, BT_ZONE_STRATEGY, BT_ZONE_METRICS);
    } else {
      bt_prof_zone_next(prof, BT_ZONE_INDICATORS, BT_ZONE_METRICS);
    }
    rc = record_equity(sim, err);
    bt_prof_zone_end(prof, BT_ZONE_METRICS);
  }
  sim->done = true;
  if (rc == BT_OK && sim->config.benchmark != BT_BENCH_NONE)
    rc = compute_benchmark(sim, err);
  return rc;
}

/* ---- orders ------------------------------------------------------------ */

int bt_sim_order(bt_sim *sim, int32_t asset, bt_dec quantity,
                 bt_order_type type, bt_dec limit, bt_dec stop,
                 int64_t *out_id, bt_err *err) {
  bt_prof_zone_begin(sim->config.prof, BT_ZONE_BLOTTER);
  int rc = bt_blotter_place(&sim->blotter, asset, quantity, type, limit, stop,
                            sim->bar, sim->time, out_id, err);
  bt_prof_zone_end(sim->config.prof, BT_ZONE_BLOTTER);
  return rc;
}

int bt_sim_cancel(bt_sim *sim, int64_t id) {
  return bt_blotter_cancel(&sim->blotter, id, sim->time);
}

int bt_sim_units(bt_dec value, int64_t parts, bt_dec price, int64_t *out) {
  if (price <= 0 || parts <= 0) return BT_EINVAL;
  int64_t small;
  if (value >= 0 && !__builtin_mul_overflow(parts, price, &small)) {
    *out = value / small; /* floor: both >= 0 */
    return BT_OK;
  }
  bt_i128 den = (bt_i128)parts * price;
  bt_i128 q = (bt_i128)value / den;
  if ((bt_i128)value % den != 0 && value < 0) q -= 1; /* floor */
  if (q > INT64_MAX || q < INT64_MIN) return BT_EOVERFLOW;
  *out = (int64_t)q;
  return BT_OK;
}

int bt_sim_quantity_for_value(const bt_sim *sim, int32_t asset, bt_dec value,
                              bt_dec price, bt_dec *out) {
  if (price <= 0) return BT_EINVAL;
  bt_i128 q = (bt_i128)value * BT_DEC_SCALE / price; /* toward zero */
  if (q > INT64_MAX || q < INT64_MIN) return BT_EOVERFLOW;
  bt_rounding r = sim->blotter.rounding[asset];
  return bt_dec_quantize((bt_dec)q, r.places, BT_ROUND_DOWN, out);
}

int bt_sim_record(bt_sim *sim, const char *name, double value) {
  if (sim->bar < 0) return BT_ESTATE;
  int i = 0;
  while (i < sim->record_count && strcmp(sim->record_names[i], name) != 0) i++;
  if (i == sim->record_count) {
    if (sim->record_count == sim->record_cap) {
      int cap = sim->record_cap ? sim->record_cap * 2 : 4;
      char **names = bt_mem_realloc(sim->record_names, (size_t)cap * sizeof *names);
      if (names == NULL) return BT_ENOMEM;
      sim->record_names = names;
      double **cols = bt_mem_realloc(sim->records, (size_t)cap * sizeof *cols);
      if (cols == NULL) return BT_ENOMEM;
      sim->records = cols;
      sim->record_cap = cap;
    }
    double *col = bt_mem_alloc((size_t)sim->market.bar_count * sizeof *col);
    char *copy = strdup(name);
    if (col == NULL || copy == NULL) {
      bt_mem_free(col);
      bt_mem_free(copy);
      return BT_ENOMEM;
    }
    for (int64_t t = 0; t < sim->market.bar_count; t++) col[t] = NAN;
    sim->record_names[i] = copy;
    sim->records[i] = col;
    sim->record_count++;
  }
  sim->records[i][sim->metrics.count] = value; /* this bar's equity row */
  return BT_OK;
}

int bt_sim_final_value(const bt_sim *sim, bt_dec *out) {
  return bt_ledger_value(&sim->ledger, out);
}

/* ---- results text ------------------------------------------------------ */

typedef struct text {
  char *data;
  size_t len, cap;
  int status;
} text;

static void put(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(text *t, const char *fmt, ...) {
  if (t->status != BT_OK) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->status = BT_EINVAL;
      return;
    }
    if ((size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap * 2 + (size_t)n + 64;
    char *bigger = bt_mem_realloc(t->data, cap);
    if (bigger == NULL) {
      t->status = BT_ENOMEM;
      return;
    }
    t->data = bigger;
    t->cap = cap;
  }
}

static int text_init(text *t, size_t cap) {
  t->data = bt_mem_alloc(cap);
  t->len = 0;
  t->cap = cap;
  t->status = t->data ? BT_OK : BT_ENOMEM;
  if (t->data) t->data[0] = '\0';
  return t->status;
}

static int text_done(text *t, char **out, size_t *out_len) {
  if (t->status != BT_OK) {
    bt_mem_free(t->data);
    *out = NULL;
    return t->status;
  }
  *out = t->data;
  if (out_len) *out_len = t->len;
  return BT_OK;
}

void bt_sim_format_time(int64_t ns, char *buf) { bt_time_format(ns, buf); }

/* Appends len bytes (the fast path of the CSV writers). */
static void put_bytes(text *t, const char *bytes, size_t len) {
  if (t->status != BT_OK) return;
  if (t->len + len + 1 > t->cap) {
    size_t cap = (t->cap + len + 1) * 2;
    char *bigger = bt_mem_realloc(t->data, cap);
    if (bigger == NULL) {
      t->status = BT_ENOMEM;
      return;
    }
    t->data = bigger;
    t->cap = cap;
  }
  memcpy(t->data + t->len, bytes, len);
  t->len += len;
  t->data[t->len] = '\0';
}

static void put_cstr(text *t, const char *s) { put_bytes(t, s, strlen(s)); }

static void put_dec_raw(text *t, bt_dec v) {
  char buf[BT_DEC_FMT_MAX];
  int len = bt_dec_format(v, buf);
  put_bytes(t, buf, (size_t)len);
}

static void put_time_raw(text *t, int64_t ns) {
  char buf[40];
  bt_sim_format_time(ns, buf);
  put_cstr(t, buf);
}

static void put_dec(text *t, bt_dec v) {
  char buf[BT_DEC_FMT_MAX];
  bt_dec_format(v, buf);
  put(t, "\"%s\"", buf);
}

static void put_double(text *t, double v) {
  if (isfinite(v)) put(t, "%.12g", v);
  else put(t, "null");
}

static void put_time(text *t, int64_t ns) {
  char buf[40];
  if (ns == 0) {
    put(t, "null");
    return;
  }
  bt_sim_format_time(ns, buf);
  put(t, "\"%s\"", buf);
}

/* A JSON string: symbols and reasons are plain ASCII, but escape anyway. */
static void put_string(text *t, const char *s) {
  put(t, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') put(t, "\\%c", c);
    else if (c < 0x20) put(t, "\\u%04x", c);
    else put(t, "%c", c);
  }
  put(t, "\"");
}

static bt_dec acc_value(const bt_dec_acc *acc) {
  bt_dec v;
  return bt_dec_acc_get(acc, &v) == BT_OK ? v : BT_DEC_MAX;
}

/* Benchmark metrics (metrics.h bt_metrics_compute_relative). */
static void put_relative(text *t, const bt_sim *sim) {
  bt_metrics_relative rel;
  bt_metrics_compute_relative(sim->metrics.values, sim->benchmark_values,
                              sim->metrics.count, sim->config.capital,
                              sim->periods_per_year, &rel);
  put(t, ",\n    \"benchmark\": ");
  put_string(t, sim->config.benchmark == BT_BENCH_ASSET
                    ? sim->market.symbols[sim->config.benchmark_asset]
                    : "equal_weight");
  put(t, ",\n    \"benchmark_return\": ");
  put_double(t, rel.benchmark_return);
  put(t, ",\n    \"alpha\": ");
  put_double(t, rel.alpha);
  put(t, ",\n    \"beta\": ");
  put_double(t, rel.beta);
  put(t, ",\n    \"information_ratio\": ");
  put_double(t, rel.information_ratio);
  put(t, ",\n    \"tracking_error\": ");
  put_double(t, rel.tracking_error);
}

static void put_metrics(text *t, const bt_sim *sim) {
  const bt_ledger *l = &sim->ledger;
  bt_metrics_trades trades = {
      .round_trips = l->round_trips, .winning_trips = l->winning_trips,
      .gross_profit = acc_value(&l->gross_profit),
      .gross_loss = acc_value(&l->gross_loss),
      .traded = acc_value(&l->traded)};
  bt_metrics_summary s;
  bt_metrics_compute(&sim->metrics, sim->config.capital,
                     sim->periods_per_year, &trades, &s);
  bt_dec unrealized = 0;
  bt_ledger_unrealized(l, &unrealized);
  put(t, "{\n    \"total_return\": ");
  put_double(t, s.total_return);
  put(t, ",\n    \"cagr\": ");
  put_double(t, s.cagr);
  put(t, ",\n    \"volatility\": ");
  put_double(t, s.volatility);
  put(t, ",\n    \"sharpe\": ");
  put_double(t, s.sharpe);
  put(t, ",\n    \"sortino\": ");
  put_double(t, s.sortino);
  put(t, ",\n    \"max_drawdown\": ");
  put_double(t, s.max_drawdown);
  put(t, ",\n    \"max_drawdown_peak\": ");
  put_time(t, s.drawdown_peak);
  put(t, ",\n    \"max_drawdown_trough\": ");
  put_time(t, s.drawdown_trough);
  put(t, ",\n    \"max_drawdown_recovery\": ");
  put_time(t, s.drawdown_recovery);
  put(t, ",\n    \"calmar\": ");
  put_double(t, s.calmar);
  put(t, ",\n    \"round_trips\": %lld", (long long)s.round_trips);
  put(t, ",\n    \"win_rate\": ");
  put_double(t, s.win_rate);
  put(t, ",\n    \"profit_factor\": ");
  put_double(t, s.profit_factor);
  put(t, ",\n    \"exposure\": ");
  put_double(t, s.exposure);
  put(t, ",\n    \"turnover\": ");
  put_double(t, s.turnover);
  put(t, ",\n    \"periods_per_year\": ");
  put_double(t, s.periods_per_year);
  put(t, ",\n    \"realized_pnl\": ");
  put_dec(t, l->realized);
  put(t, ",\n    \"unrealized_pnl\": ");
  put_dec(t, unrealized);
  put(t, ",\n    \"commissions\": ");
  put_dec(t, l->commissions);
  if (sim->benchmark_values != NULL) put_relative(t, sim);
  put(t, "\n  }");
}

static void put_positions(text *t, const bt_sim *sim) {
  put(t, "[");
  int first = 1;
  for (int32_t a = 0; a < sim->market.asset_count; a++) {
    const bt_position *p = &sim->ledger.positions[a];
    if (p->quantity == 0) continue;
    put(t, first ? "\n    {\"asset\": " : ",\n    {\"asset\": ");
    first = 0;
    put_string(t, sim->market.symbols[a]);
    put(t, ", \"quantity\": ");
    put_dec(t, p->quantity);
    bt_dec basis = 0; /* per unit, like zipline's cost_basis */
    bt_dec_div(p->cost, p->quantity, &basis);
    put(t, ", \"cost_basis\": ");
    put_dec(t, basis);
    put(t, ", \"last_price\": ");
    put_dec(t, p->last_price);
    put(t, "}");
  }
  put(t, first ? "]" : "\n  ]");
}

#define REJECTIONS_LISTED 100

static void put_rejections(text *t, const bt_sim *sim) {
  put(t, "[");
  int listed = 0;
  for (int64_t i = 0; i < sim->blotter.order_count; i++) {
    const bt_order *o = &sim->blotter.orders[i];
    if (o->status != BT_ORDER_REJECTED) continue;
    if (listed == REJECTIONS_LISTED) break;
    put(t, listed ? ",\n    {\"order\": %lld, \"time\": "
                  : "\n    {\"order\": %lld, \"time\": ",
        (long long)o->id);
    listed++;
    put_time(t, o->done_time);
    put(t, ", \"asset\": ");
    put_string(t, sim->market.symbols[o->asset]);
    put(t, ", \"quantity\": ");
    put_dec(t, o->quantity - o->filled);
    put(t, ", \"reason\": ");
    put_string(t, o->reason ? o->reason : "");
    put(t, "}");
  }
  put(t, listed ? "\n  ]" : "]");
}

/* FNV-1a, 64 bits: the results digest is a hash of exact texts, the same
 * in every build (no floating point, no pointer values). */
#define DIGEST_OFFSET 0xcbf29ce484222325ULL
#define DIGEST_PRIME 0x100000001b3ULL

static uint64_t digest_bytes(uint64_t hash, const char *bytes, size_t len) {
  for (size_t i = 0; i < len; i++) {
    hash ^= (unsigned char)bytes[i];
    hash *= DIGEST_PRIME;
  }
  return hash;
}

/* The results digest: FNV-1a 64 over the fill log as S_fills.csv writes it,
 * then the results text from "final_value" through the metrics object (final
 * value, cash, orders, fills, rejections, positions, metrics: exact decimal
 * and %.12g texts). Equal digests mean the same trades and the same numbers. */
static int results_digest(const bt_sim *sim, const char *results,
                          size_t from, size_t to, uint64_t *out) {
  char *fills = NULL;
  size_t fills_len = 0;
  int rc = bt_sim_fills_csv(sim, &fills, &fills_len);
  if (rc != BT_OK) return rc;
  uint64_t hash = digest_bytes(DIGEST_OFFSET, fills, fills_len);
  bt_mem_free(fills);
  *out = digest_bytes(hash, results + from, to - from);
  return BT_OK;
}

int bt_sim_results_json(const bt_sim *sim, const char *scenario, char **out,
                        size_t *out_len) {
  text t;
  if (text_init(&t, 4096) != BT_OK) return BT_ENOMEM;
  const bt_sim_market *m = &sim->market;
  bt_dec value = 0;
  int rc = bt_sim_final_value(sim, &value);
  if (rc != BT_OK) {
    bt_mem_free(t.data);
    return rc;
  }
  put(&t, "{\n  \"scenario\": ");
  put_string(&t, scenario ? scenario : "");
  put(&t, ",\n  \"bars\": %lld", (long long)sim->asset_bars);
  put(&t, ",\n  \"sessions\": %lld", (long long)m->bar_count);
  put(&t, ",\n  \"assets\": %d", (int)m->asset_count);
  put(&t, ",\n  \"start\": ");
  put_time(&t, m->times[0]);
  put(&t, ",\n  \"end\": ");
  put_time(&t, m->times[m->bar_count - 1]);
  put(&t, ",\n  \"capital\": ");
  put_dec(&t, sim->config.capital);
  size_t digest_from = t.len;
  put(&t, ",\n  \"final_value\": ");
  put_dec(&t, value);
  put(&t, ",\n  \"cash\": ");
  put_dec(&t, sim->ledger.cash);
  put(&t, ",\n  \"orders\": %lld", (long long)sim->blotter.order_count);
  put(&t, ",\n  \"fills\": %lld", (long long)sim->blotter.fill_count);
  put(&t, ",\n  \"rejections\": %lld", (long long)sim->blotter.rejections);
  put(&t, ",\n  \"positions\": ");
  put_positions(&t, sim);
  put(&t, ",\n  \"metrics\": ");
  put_metrics(&t, sim);
  uint64_t digest = 0;
  if (t.status == BT_OK)
    t.status = results_digest(sim, t.data, digest_from, t.len, &digest);
  put(&t, ",\n  \"rejected_orders\": ");
  put_rejections(&t, sim);
  put(&t, ",\n  \"digest\": \"fnv1a64:%016llx\"", (unsigned long long)digest);
  put(&t, "\n}\n");
  return text_done(&t, out, out_len);
}

int bt_sim_equity_csv(const bt_sim *sim, char **out, size_t *out_len) {
  text t;
  const bt_metrics *m = &sim->metrics;
  if (text_init(&t, (size_t)m->count * 64 + 256) != BT_OK) return BT_ENOMEM;
  put(&t, "time,cash,value");
  const bt_dec *bench = sim->benchmark_values;
  if (bench != NULL) put(&t, ",benchmark");
  for (int i = 0; i < sim->record_count; i++)
    put(&t, ",%s", sim->record_names[i]);
  put(&t, "\n");
  for (int64_t b = 0; b < m->count && t.status == BT_OK; b++) {
    put_time_raw(&t, m->times[b]);
    put_bytes(&t, ",", 1);
    put_dec_raw(&t, m->cash[b]);
    put_bytes(&t, ",", 1);
    put_dec_raw(&t, m->values[b]);
    if (bench != NULL) {
      put_bytes(&t, ",", 1);
      put_dec_raw(&t, bench[b]);
    }
    for (int i = 0; i < sim->record_count; i++) {
      double v = sim->records[i][b];
      if (isfinite(v)) put(&t, ",%.12g", v);
      else put_bytes(&t, ",", 1);
    }
    put_bytes(&t, "\n", 1);
  }
  return text_done(&t, out, out_len);
}

int bt_sim_fills_csv(const bt_sim *sim, char **out, size_t *out_len) {
  text t;
  const bt_blotter *b = &sim->blotter;
  if (text_init(&t, (size_t)b->fill_count * 96 + 128) != BT_OK)
    return BT_ENOMEM;
  put(&t, "time,asset,side,quantity,price,commission\n");
  for (int64_t i = 0; i < b->fill_count && t.status == BT_OK; i++) {
    const bt_fill *f = &b->fills[i];
    put_time_raw(&t, f->time);
    put_bytes(&t, ",", 1);
    put_cstr(&t, sim->market.symbols[f->asset]);
    put_cstr(&t, f->quantity > 0 ? ",buy," : ",sell,");
    put_dec_raw(&t, f->quantity < 0 ? -f->quantity : f->quantity);
    put_bytes(&t, ",", 1);
    put_dec_raw(&t, f->price);
    put_bytes(&t, ",", 1);
    put_dec_raw(&t, f->commission);
    put_bytes(&t, "\n", 1);
  }
  return text_done(&t, out, out_len);
}
