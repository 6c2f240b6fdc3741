/* t_sim.c: the bar loop of sim.h driven from C on hand-made bars: order
 * timing, marks and the equity curve, missing bars, exact bands, sizing
 * helpers and the exact text of the results files. */
#include <math.h>
#include <stdlib.h>

#include "sim.h"
#include "tap.h"
#include "tap_dec.h"

#define BARS 5
#define ASSETS 2
#define DAY INT64_C(86400000000000)
#define T0 INT64_C(1704067200000000000) /* 2024-01-01T00:00:00Z */

static int64_t times[BARS];
static bt_dec cols[ASSETS * BT_SIM_FIELDS][BARS];
static const bt_dec *col_ptrs[ASSETS * BT_SIM_FIELDS];
static const char *symbols[ASSETS] = {"AAA", "BBB"};
static bt_asset_class classes[ASSETS] = {BT_CLASS_EQUITY, BT_CLASS_EQUITY};

/* asset a, bar t: open, high, low, close, volume ("" = missing) */
static void set_bar(int a, int t, const char *o, const char *h, const char *l,
                    const char *c, const char *v) {
  const char *f[5] = {o, h, l, c, v};
  for (int i = 0; i < 5; i++)
    cols[a * BT_SIM_FIELDS + i][t] = *f[i] ? D(f[i]) : INT64_MIN;
}

static bt_sim_market market(void) {
  for (int t = 0; t < BARS; t++) times[t] = T0 + t * DAY;
  for (int i = 0; i < ASSETS * BT_SIM_FIELDS; i++) col_ptrs[i] = cols[i];
  set_bar(0, 0, "10", "11", "9", "10", "1000");
  set_bar(0, 1, "10.5", "12", "10", "11", "1000");
  set_bar(0, 2, "11", "13", "11", "12", "1000");
  set_bar(0, 3, "12", "12", "9", "9.5", "1000");
  set_bar(0, 4, "9", "10", "8", "9", "1000");
  set_bar(1, 0, "100", "100", "100", "100", "10");
  set_bar(1, 1, "", "", "", "", "");
  set_bar(1, 2, "101", "102", "99", "101", "10");
  set_bar(1, 3, "", "", "", "", "");
  set_bar(1, 4, "103", "103", "103", "103", "10");
  return (bt_sim_market){.asset_count = ASSETS, .bar_count = BARS,
                         .times = times, .columns = col_ptrs,
                         .classes = classes, .symbols = symbols,
                         .calendar = "24/7", .bar_ns = DAY};
}

/* Buys 100 AAA and 1 BBB on bar 0; sells AAA on bar 2. */
static int strategy(bt_sim *sim, void *userdata, bt_err *err) {
  int64_t id;
  int *seen_nan = userdata;
  if (sim->bar == 1 && isnan(sim->fields[BT_SIM_CLOSE][1])) (*seen_nan)++;
  if (sim->bar == 0) {
    bt_sim_order(sim, 0, D("100"), BT_ORDER_MARKET, 0, 0, &id, err);
    bt_sim_order(sim, 1, D("1"), BT_ORDER_MARKET, 0, 0, &id, err);
  }
  if (sim->bar == 2) {
    bt_sim_order(sim, 0, D("-100"), BT_ORDER_MARKET, 0, 0, &id, err);
    bt_sim_record(sim, "signal", 1.5);
  }
  return BT_OK;
}

static void test_run(void) {
  bt_sim_market m = market();
  bt_sim_config config = {.capital = D("10000")};
  bt_sim *sim;
  bt_err err = {0};
  is_int(bt_sim_new(&m, &config, &sim, &err), BT_OK, "new");
  bt_sim_want_field(sim, BT_SIM_CLOSE);
  int seen_nan = 0;
  is_int(bt_sim_run(sim, strategy, &seen_nan, &err), BT_OK, "run");
  is_int(seen_nan, 1, "a missing bar's close is NaN");
  is_int(sim->asset_bars, 8, "asset-bars present: 5 + 3");
  is_int(sim->blotter.fill_count, 3, "three fills");
  is_str(S(sim->blotter.fills[0].price), "10.5", "AAA at bar 1's open");
  is_int(sim->blotter.fills[1].bar, 2, "BBB waits for its next bar (2)");
  is_str(S(sim->blotter.fills[1].price), "101", "at bar 2's open");
  is_str(S(sim->blotter.fills[2].price), "12", "AAA sold at bar 3's open");
  is_str(S(sim->metrics.values[0]), "10000", "bar 0 value");
  is_str(S(sim->metrics.values[1]), "10050",
         "bar 1: 8950 + 100 * 11 (BBB not yet bought)");
  is_str(S(sim->metrics.values[3]), "10150",
         "bar 3: 8950 - 101 + 1200 cash + BBB marked at 101");
  is_str(S(sim->metrics.values[4]), "10152", "bar 4: BBB marked at 103");
  is_int(bt_sim_run(sim, strategy, NULL, &err), BT_ESTATE, "run only once");

  char *json, *equity, *fills;
  size_t len;
  bt_sim_fills_csv(sim, &fills, &len);
  is_str(fills,
         "time,asset,side,quantity,price,commission\n"
         "2024-01-02T00:00:00Z,AAA,buy,100,10.5,0\n"
         "2024-01-03T00:00:00Z,BBB,buy,1,101,0\n"
         "2024-01-04T00:00:00Z,AAA,sell,100,12,0\n",
         "fills CSV");
  bt_sim_equity_csv(sim, &equity, &len);
  is_str(equity,
         "time,cash,value,signal\n"
         "2024-01-01T00:00:00Z,10000,10000,\n"
         "2024-01-02T00:00:00Z,8950,10050,\n"
         "2024-01-03T00:00:00Z,8849,10150,1.5\n"
         "2024-01-04T00:00:00Z,10049,10150,\n"
         "2024-01-05T00:00:00Z,10049,10152,\n",
         "equity CSV with the recorded column");
  bt_sim_results_json(sim, "hand", &json, &len);
  is_str(json,
         "{\n"
         "  \"scenario\": \"hand\",\n"
         "  \"bars\": 8,\n"
         "  \"sessions\": 5,\n"
         "  \"assets\": 2,\n"
         "  \"start\": \"2024-01-01T00:00:00Z\",\n"
         "  \"end\": \"2024-01-05T00:00:00Z\",\n"
         "  \"capital\": \"10000\",\n"
         "  \"final_value\": \"10152\",\n"
         "  \"cash\": \"10049\",\n"
         "  \"orders\": 3,\n"
         "  \"fills\": 3,\n"
         "  \"rejections\": 0,\n"
         "  \"positions\": [\n"
         "    {\"asset\": \"BBB\", \"quantity\": \"1\", \"cost_basis\": "
         "\"101\", \"last_price\": \"103\"}\n"
         "  ],\n"
         "  \"metrics\": {\n"
         "    \"total_return\": 0.0152,\n"
         "    \"cagr\": 2.00792818615,\n"
         "    \"volatility\": 0.0844507776779,\n"
         "    \"sharpe\": 13.0934542708,\n"
         "    \"sortino\": null,\n"
         "    \"max_drawdown\": 0,\n"
         "    \"max_drawdown_peak\": null,\n"
         "    \"max_drawdown_trough\": null,\n"
         "    \"max_drawdown_recovery\": null,\n"
         "    \"calmar\": null,\n"
         "    \"round_trips\": 1,\n"
         "    \"win_rate\": 1,\n"
         "    \"profit_factor\": null,\n"
         "    \"exposure\": 0.8,\n"
         "    \"turnover\": 0.232763058889,\n"
         "    \"periods_per_year\": 365,\n"
         "    \"realized_pnl\": \"150\",\n"
         "    \"unrealized_pnl\": \"2\",\n"
         "    \"commissions\": \"0\"\n"
         "  },\n"
         "  \"rejected_orders\": [],\n"
         "  \"digest\": \"fnv1a64:5ea42d70bacbba9a\"\n"
         "}\n",
         "results JSON, keys in order (metrics checked with Python; the "
         "digest is FNV-1a 64 over the fills CSV then the text from "
         "\",\\n  \\\"final_value\" to the end of metrics, checked with "
         "Python)");
  free(json);
  free(equity);
  free(fills);
  bt_sim_free(sim);
}

static void test_bands(void) {
  bt_sim_market m = market();
  set_bar(0, 0, "10", "10", "10", "10", "1");
  set_bar(0, 1, "12", "12", "12", "12", "1");
  set_bar(0, 2, "14", "14", "14", "14", "1");
  set_bar(0, 3, "16", "16", "16", "16", "1");
  set_bar(0, 4, "13", "13", "13", "13", "1");
  bt_sim_config config = {.capital = D("10000")};
  bt_sim *sim;
  bt_err err = {0};
  bt_sim_new(&m, &config, &sim, &err);
  int bands, wide, sma;
  is_int(bt_sim_add_indicator(sim, BT_SIM_BANDS, BT_SIM_CLOSE, 4, D("2"),
                              &bands, &err),
         BT_OK, "bands(4, 2)");
  bt_sim_add_indicator(sim, BT_SIM_BANDS, BT_SIM_CLOSE, 2, D("1.5"), &wide,
                       &err);
  bt_sim_add_indicator(sim, BT_IND_SMA, BT_SIM_CLOSE, 3, 0, &sma, &err);
  is_int(bt_sim_add_indicator(sim, BT_SIM_BANDS, BT_SIM_CLOSE, 4, 0, &sma,
                              &err),
         BT_EINVAL, "bands need k > 0");
  bt_sim_run(sim, NULL, NULL, &err);
  bt_sim_indicator *b = &sim->indicators[bands];
  /* last 4: 12 14 16 13: mean 13.75, var (3.0625+0.0625+5.0625+0.5625)/4
   * = 2.1875, s = 1.47901994577..., 2s = 2.95803989154...
   * lower 10.79196010845... up -> 10.79196011; upper 16.70803989154...
   * down -> 16.70803989 */
  is_str(S(b->values[0][0]), "10.79196011", "lower band rounded up");
  is_str(S(b->values[1][0]), "13.75", "middle: the SMA");
  is_str(S(b->values[2][0]), "16.70803989", "upper band rounded down");
  is_double(b->doubles[0][0], 10.79196011, 0, "published double of lower");
  ok(isnan(b->doubles[0][1]), "BBB has 3 bars: not ready (NaN)");
  bt_sim_indicator *w = &sim->indicators[wide];
  /* last 2 of BBB: 101, 103: mean 102, s = 1, 1.5s = 1.5: exact edges */
  is_str(S(w->values[0][1]), "100.5", "exact lower edge stays exact");
  is_str(S(w->values[2][1]), "103.5", "exact upper edge stays exact");
  /* AAA last 2: 16, 13: mean 14.5, s 1.5, 1.5s = 2.25 */
  is_str(S(w->values[0][0]), "12.25", "AAA lower 14.5 - 2.25");
  is_str(S(sim->indicators[sma].values[0][0]), "14.33333333",
         "SMA(3) of 14 16 13, half-even");
  bt_sim_free(sim);
}

static void test_helpers(void) {
  int64_t units;
  bt_sim_units(D("100000"), 10, D("123.45"), &units);
  is_int(units, 81, "floor(100000 / 10 / 123.45) = 81");
  bt_sim_units(D("100000"), 4, D("125"), &units);
  is_int(units, 200, "exact quotient 200");
  bt_sim_units(D("100000"), 3, D("0.01"), &units);
  is_int(units, 3333333, "floor(100000/3/0.01), no rounding of 100000/3");
  is_int(bt_sim_units(D("1"), 1, 0, &units), BT_EINVAL, "price 0");
  bt_sim_market m = market();
  bt_sim_config config = {.capital = D("10000")};
  bt_sim *sim;
  bt_err err = {0};
  bt_sim_new(&m, &config, &sim, &err);
  bt_dec q;
  bt_sim_quantity_for_value(sim, 0, D("1000"), D("3"), &q);
  is_str(S(q), "333.33", "order_value: equity 2 places, toward zero");
  bt_sim_free(sim);
  char buf[40];
  bt_sim_format_time(T0 + 1500, buf);
  is_str(buf, "2024-01-01T00:00:00.000001500Z", "fractional seconds");
  bt_sim_format_time(T0 + 9 * 3600 * INT64_C(1000000000) + 30 * 60 *
                     INT64_C(1000000000), buf);
  is_str(buf, "2024-01-01T09:30:00Z", "ISO time");
  bt_sim_format_time(-1, buf);
  is_str(buf, "1969-12-31T23:59:59.999999999Z", "before the epoch");
  bt_sim_format_time(INT64_C(951782400000000000), buf);
  is_str(buf, "2000-02-29T00:00:00Z", "leap day 2000");
}

/* Weekly and monthly bars (stored as daily) are annualised by their
 * spacing: before, any bar of a day or more counted as daily (Sharpe of
 * weekly data inflated by about sqrt(5)). */
static double periods_for(const int64_t *gaps_days, const char *calendar) {
  bt_sim_market m = market();
  m.calendar = calendar;
  for (int t = 1; t < BARS; t++)
    times[t] = times[t - 1] + gaps_days[t - 1] * DAY;
  bt_sim_config config = {.capital = D("10000")};
  bt_sim *sim = NULL;
  bt_err err = {0};
  if (bt_sim_new(&m, &config, &sim, &err) != BT_OK) return -1;
  double periods = sim->periods_per_year;
  bt_sim_free(sim);
  return periods;
}

static void test_periods_per_year(void) {
  const int64_t daily[] = {1, 3, 1, 1}, weekly[] = {7, 7, 14, 7},
                monthly[] = {31, 29, 31, 30}, quarterly[] = {91, 91, 92, 90},
                fortnightly[] = {14, 14, 14, 14};
  is_double(periods_for(daily, "weekdays"), 260, 0, "daily weekdays: 260");
  is_double(periods_for(daily, "XNYS"), 252, 0, "daily XNYS: 252");
  is_double(periods_for(weekly, "weekdays"), 52, 0, "weekly bars: 52");
  is_double(periods_for(monthly, "weekdays"), 12, 0, "monthly bars: 12");
  is_double(periods_for(quarterly, "24/7"), 4, 0, "quarterly bars: 4");
  is_double(periods_for(fortnightly, "24/7"), 365.25 / 14, 1e-12,
            "every 14 days: 365.25 / 14");
}

/* Warm-up: orders on the first traded bar (2); records that bar's SMA. */
static int warm_strategy(bt_sim *sim, void *userdata, bt_err *err) {
  int64_t *first_bar = userdata;
  int64_t id;
  if (*first_bar < 0) {
    *first_bar = sim->bar;
    bt_sim_order(sim, 0, D("10"), BT_ORDER_MARKET, 0, 0, &id, err);
  }
  return bt_sim_record(sim, "sma2", sim->indicators[0].doubles[0][0]);
}

static void test_warmup(void) {
  bt_sim_market m = market();
  bt_sim *sim;
  bt_err err = {0};
  bt_sim_config too_long = {.capital = D("10000"), .warmup = BARS};
  is_int(bt_sim_new(&m, &too_long, &sim, &err), BT_EINVAL,
         "warmup = bars refused");
  is_str(err.msg, "warmup: must be >= 0 and below the 5 sessions, got 5",
         "the message names warmup");
  bt_sim_config config = {.capital = D("10000"), .warmup = 2};
  is_int(bt_sim_new(&m, &config, &sim, &err), BT_OK, "new with warmup 2");
  int index;
  is_int(bt_sim_add_indicator(sim, BT_IND_SMA, BT_SIM_CLOSE, 2, 0, &index,
                              &err), BT_OK, "SMA(2)");
  int64_t first_bar = -1;
  is_int(bt_sim_run(sim, warm_strategy, &first_bar, &err), BT_OK, "run");
  is_int(first_bar, 2, "the strategy starts at bar 2 (0-based)");
  is_int(sim->metrics.count, 3, "equity: bars 2..4");
  is_int(sim->asset_bars, 8, "asset-bars: the warm-up's count too");
  char *equity, *fills;
  size_t len;
  bt_sim_equity_csv(sim, &equity, &len);
  is_str(equity,
         "time,cash,value,sma2\n"
         "2024-01-03T00:00:00Z,10000,10000,11.5\n"
         "2024-01-04T00:00:00Z,9880,9975,10.75\n"
         "2024-01-05T00:00:00Z,9880,9970,9.25\n",
         "SMA(2) ready on the first traded bar; rows from bar 2");
  bt_sim_fills_csv(sim, &fills, &len);
  is_str(fills,
         "time,asset,side,quantity,price,commission\n"
         "2024-01-04T00:00:00Z,AAA,buy,10,12,0\n",
         "the order of bar 2 fills at bar 3's open");
  free(equity);
  free(fills);
  bt_sim_free(sim);
}

/* Benchmarks over test_run's strategy (values 10000, 10050, 10150, 10150,
 * 10152). Expected metrics: the definitions of metrics.h evaluated in
 * Python (doubles) on the same values. */
static void test_benchmark(void) {
  bt_sim_market m = market();
  bt_err err = {0};
  struct {
    bt_sim_benchmark kind;
    const char *header, *values[5];
    double rel[5]; /* benchmark_return, alpha, beta, ir, te */
  } cases[2] = {
      {BT_BENCH_ASSET, "time,cash,value,benchmark,signal\n",
       {"10000", "11000", "12000", "9500", "9000"},
       {-0.09999999999999998, 1.235218907312174, 0.02531572428335411,
        2.6511079187309323, 2.3461237891674225}},
      {BT_BENCH_EQUAL_WEIGHT, "",
       {"10000", "10500", "11050", "9800", "9650"},
       {-0.03500000000000003, 1.1945510974665956, 0.04670037242535598,
        2.449082608617651, 1.2278917632577258}},
  };
  for (int c = 0; c < 2; c++) {
    bt_sim_config config = {.capital = D("10000"),
                            .benchmark = cases[c].kind,
                            .benchmark_asset = 0};
    bt_sim *sim;
    is_int(bt_sim_new(&m, &config, &sim, &err), BT_OK, "new, benchmark");
    bt_sim_want_field(sim, BT_SIM_CLOSE);
    int seen_nan = 0;
    is_int(bt_sim_run(sim, strategy, &seen_nan, &err), BT_OK, "run");
    for (int b = 0; b < 5; b++)
      is_str(S(sim->benchmark_values[b]), cases[c].values[b],
             "benchmark value per bar (BBB missing: its last close)");
    bt_metrics_relative rel;
    bt_metrics_compute_relative(sim->metrics.values, sim->benchmark_values,
                                5, config.capital, 365, &rel);
    is_double(sim->periods_per_year, 365, 0, "P = 365 (24/7 daily)");
    is_double(rel.benchmark_return, cases[c].rel[0], 1e-15, "return");
    is_double(rel.alpha, cases[c].rel[1], 1e-12, "alpha");
    is_double(rel.beta, cases[c].rel[2], 1e-14, "beta");
    is_double(rel.information_ratio, cases[c].rel[3], 1e-12, "IR");
    is_double(rel.tracking_error, cases[c].rel[4], 1e-12, "tracking error");
    if (c == 0) {
      char *equity;
      size_t len;
      bt_sim_equity_csv(sim, &equity, &len);
      is_str(equity,
             "time,cash,value,benchmark,signal\n"
             "2024-01-01T00:00:00Z,10000,10000,10000,\n"
             "2024-01-02T00:00:00Z,8950,10050,11000,\n"
             "2024-01-03T00:00:00Z,8849,10150,12000,1.5\n"
             "2024-01-04T00:00:00Z,10049,10150,9500,\n"
             "2024-01-05T00:00:00Z,10049,10152,9000,\n",
             "equity CSV: the benchmark column after value");
      free(equity);
    }
    bt_sim_free(sim);
  }
  bt_sim_config bad = {.capital = D("10000"), .benchmark = BT_BENCH_ASSET,
                       .benchmark_asset = 2};
  bt_sim *sim;
  is_int(bt_sim_new(&m, &bad, &sim, &err), BT_EINVAL, "no asset 3");
  is_str(err.msg, "benchmark: no asset 3", "the message names benchmark");
}

int main(void) {
  test_run();
  test_warmup();
  test_benchmark();
  test_periods_per_year();
  test_bands();
  test_helpers();
  return done_testing();
}
