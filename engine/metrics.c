/* metrics.c: the equity curve and the statistics of metrics.h. Every sum
 * runs in bar order so the doubles are the same in every build. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "prof.h" /* bt_mem_*: counted by the memory profiler */

int bt_metrics_init(bt_metrics *metrics, int64_t expected) {
  *metrics = (bt_metrics){0};
  if (expected <= 0) expected = 256;
  metrics->times = bt_mem_alloc((size_t)expected * sizeof *metrics->times);
  metrics->values = bt_mem_alloc((size_t)expected * sizeof *metrics->values);
  metrics->cash = bt_mem_alloc((size_t)expected * sizeof *metrics->cash);
  metrics->invested = bt_mem_alloc((size_t)expected);
  metrics->cap = expected;
  if (!metrics->times || !metrics->values || !metrics->cash ||
      !metrics->invested) {
    bt_metrics_free(metrics);
    return BT_ENOMEM;
  }
  return BT_OK;
}

void bt_metrics_free(bt_metrics *metrics) {
  bt_mem_free(metrics->times);
  bt_mem_free(metrics->values);
  bt_mem_free(metrics->cash);
  bt_mem_free(metrics->invested);
  *metrics = (bt_metrics){0};
}

static int resize(void **items, int64_t cap, size_t size) {
  void *bigger = bt_mem_realloc(*items, (size_t)cap * size);
  if (bigger == NULL) return BT_ENOMEM;
  *items = bigger;
  return BT_OK;
}

int bt_metrics_record(bt_metrics *metrics, int64_t time, bt_dec value,
                      bt_dec cash, bool invested) {
  if (metrics->count == metrics->cap) {
    int64_t cap = metrics->cap * 2;
    if (resize((void **)&metrics->times, cap, sizeof *metrics->times) ||
        resize((void **)&metrics->values, cap, sizeof *metrics->values) ||
        resize((void **)&metrics->cash, cap, sizeof *metrics->cash) ||
        resize((void **)&metrics->invested, cap, 1))
      return BT_ENOMEM;
    metrics->cap = cap;
  }
  int64_t i = metrics->count++;
  metrics->times[i] = time;
  metrics->values[i] = value;
  metrics->cash[i] = cash;
  metrics->invested[i] = invested ? 1 : 0;
  return BT_OK;
}

static double ratio(bt_dec a, bt_dec b) {
  return bt_dec_to_double(a) / bt_dec_to_double(b);
}

/* mean, stdev (ddof 1) and downside deviation of the returns. */
static void return_stats(const bt_metrics *metrics, bt_dec capital,
                         double *mean, double *stdev, double *downside) {
  int64_t n = metrics->count;
  double sum = 0, down = 0;
  bt_dec prev = capital;
  for (int64_t i = 0; i < n; i++) {
    double r = ratio(metrics->values[i], prev) - 1.0;
    sum += r;
    if (r < 0) down += r * r;
    prev = metrics->values[i];
  }
  *mean = n > 0 ? sum / (double)n : NAN;
  *downside = n > 0 ? sqrt(down / (double)n) : NAN;
  double squares = 0;
  prev = capital;
  for (int64_t i = 0; i < n; i++) {
    double d = ratio(metrics->values[i], prev) - 1.0 - *mean;
    squares += d * d;
    prev = metrics->values[i];
  }
  *stdev = n > 1 ? sqrt(squares / (double)(n - 1)) : NAN;
}

void bt_metrics_compute_relative(const bt_dec *values, const bt_dec *bench,
                                 int64_t count, bt_dec capital,
                                 double periods_per_year,
                                 bt_metrics_relative *out) {
  double P = periods_per_year, sum_r = 0, sum_b = 0;
  bt_dec prev_v = capital, prev_b = capital;
  for (int64_t i = 0; i < count; i++) {
    sum_r += ratio(values[i], prev_v) - 1.0;
    sum_b += ratio(bench[i], prev_b) - 1.0;
    prev_v = values[i];
    prev_b = bench[i];
  }
  double n = (double)count, mean_r = sum_r / n, mean_b = sum_b / n;
  double cov = 0, var_b = 0, var_d = 0, mean_d = mean_r - mean_b;
  prev_v = prev_b = capital;
  for (int64_t i = 0; i < count; i++) {
    double r = ratio(values[i], prev_v) - 1.0;
    double b = ratio(bench[i], prev_b) - 1.0;
    cov += (r - mean_r) * (b - mean_b);
    var_b += (b - mean_b) * (b - mean_b);
    var_d += (r - b - mean_d) * (r - b - mean_d);
    prev_v = values[i];
    prev_b = bench[i];
  }
  *out = (bt_metrics_relative){NAN, NAN, NAN, NAN, NAN};
  if (count > 0) out->benchmark_return = ratio(bench[count - 1], capital) - 1.0;
  if (count < 2) return;
  double te = sqrt(var_d / (n - 1));
  out->tracking_error = te * sqrt(P);
  out->information_ratio = te > 0 ? mean_d / te * sqrt(P) : NAN;
  if (var_b > 0) {
    out->beta = cov / var_b;
    out->alpha = (mean_r - out->beta * mean_b) * P;
  }
}

static void drawdown(const bt_metrics *metrics, bt_dec capital,
                     bt_metrics_summary *out) {
  int64_t n = metrics->count;
  bt_dec peak = capital;
  int64_t peak_time = n > 0 ? metrics->times[0] : 0;
  int64_t trough_index = -1;
  bt_dec worst_peak = capital;
  out->max_drawdown = 0;
  out->drawdown_peak = out->drawdown_trough = out->drawdown_recovery = 0;
  for (int64_t i = 0; i < n; i++) {
    bt_dec v = metrics->values[i];
    if (v > peak) {
      peak = v;
      peak_time = metrics->times[i];
      continue;
    }
    double dd = ratio(v, peak) - 1.0;
    if (dd < out->max_drawdown) {
      out->max_drawdown = dd;
      out->drawdown_peak = peak_time;
      out->drawdown_trough = metrics->times[i];
      trough_index = i;
      worst_peak = peak;
    }
  }
  for (int64_t i = trough_index + 1; trough_index >= 0 && i < n; i++) {
    if (metrics->values[i] >= worst_peak) {
      out->drawdown_recovery = metrics->times[i];
      break;
    }
  }
}

int bt_metrics_compute(const bt_metrics *metrics, bt_dec capital,
                       double periods_per_year,
                       const bt_metrics_trades *trades,
                       bt_metrics_summary *out) {
  memset(out, 0, sizeof *out);
  int64_t n = metrics->count;
  double P = periods_per_year;
  out->bars = n;
  out->periods_per_year = P;
  bt_dec last = n > 0 ? metrics->values[n - 1] : capital;
  out->total_return = ratio(last, capital) - 1.0;
  out->cagr = n > 0 && last > 0
                  ? pow(ratio(last, capital), P / (double)n) - 1.0
                  : (n > 0 ? -1.0 : NAN);
  double mean, stdev, downside;
  return_stats(metrics, capital, &mean, &stdev, &downside);
  out->volatility = stdev * sqrt(P);
  out->sharpe = stdev > 0 ? mean / stdev * sqrt(P) : NAN;
  out->sortino = downside > 0 ? mean * P / (downside * sqrt(P)) : NAN;
  drawdown(metrics, capital, out);
  out->calmar = out->max_drawdown < 0 ? out->cagr / -out->max_drawdown : NAN;
  out->round_trips = trades ? trades->round_trips : 0;
  out->winning_trips = trades ? trades->winning_trips : 0;
  out->win_rate = out->round_trips > 0 ? (double)out->winning_trips /
                                             (double)out->round_trips
                                       : NAN;
  out->profit_factor = trades && trades->gross_loss > 0
                           ? ratio(trades->gross_profit, trades->gross_loss)
                           : NAN;
  int64_t invested = 0;
  double value_sum = 0;
  for (int64_t i = 0; i < n; i++) {
    invested += metrics->invested[i];
    value_sum += bt_dec_to_double(metrics->values[i]);
  }
  out->exposure = n > 0 ? (double)invested / (double)n : NAN;
  double mean_value = n > 0 ? value_sum / (double)n : NAN;
  out->turnover = trades && mean_value > 0
                      ? bt_dec_to_double(trades->traded) / mean_value
                      : NAN;
  return BT_OK;
}

double bt_metrics_periods_per_year(const char *calendar, int64_t bar_ns) {
  const int64_t minute = INT64_C(60000000000), day = 1440 * minute;
  bool xnys = calendar && strcmp(calendar, "XNYS") == 0;
  bool weekdays = calendar && strcmp(calendar, "weekdays") == 0;
  double days = xnys ? 252.0 : weekdays ? 260.0 : 365.0;
  if (bar_ns <= 0) return days;
  if (bar_ns >= day) return days * (double)day / (double)bar_ns;
  int64_t session = xnys ? 390 * minute : day;
  int64_t bars = (session + bar_ns - 1) / bar_ns;
  return days * (double)bars;
}

static int compare_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* The median gap between consecutive sessions, ns (0: fewer than 2). */
static int64_t median_gap(const int64_t *times, int64_t count) {
  if (times == NULL || count < 2) return 0;
  int64_t *gaps = bt_mem_alloc((size_t)(count - 1) * sizeof *gaps);
  if (gaps == NULL) return 0;
  for (int64_t i = 1; i < count; i++) gaps[i - 1] = times[i] - times[i - 1];
  qsort(gaps, (size_t)(count - 1), sizeof *gaps, compare_i64);
  int64_t median = gaps[(count - 1) / 2];
  bt_mem_free(gaps);
  return median;
}

double bt_metrics_periods_per_year_of(const char *calendar, int64_t bar_ns,
                                      const int64_t *times, int64_t count) {
  const int64_t day = INT64_C(86400000000000);
  double daily = bt_metrics_periods_per_year(calendar, bar_ns);
  if (bar_ns < day) return daily;
  double days = (double)median_gap(times, count) / (double)day;
  if (days < 4.5) return daily; /* daily sessions, weekends and holidays */
  if (days <= 10) return 52;    /* weekly */
  if (days >= 25 && days <= 35) return 12;   /* monthly */
  if (days >= 85 && days <= 95) return 4;    /* quarterly */
  if (days >= 360 && days <= 370) return 1;  /* yearly */
  return 365.25 / days;
}
