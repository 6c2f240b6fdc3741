/* metrics.h: the equity curve of a backtest (one exact value per bar) and
 * the end-of-run statistics over it. Ratios are doubles computed in a fixed
 * order, so identical curves give bit-identical statistics in every build.
 *
 * Definitions (returns r_i = v_i / v_(i-1) - 1 with v_(-1) = capital; N bars;
 * P = periods per year, see bt_metrics_periods_per_year):
 *   total_return   v_end / capital - 1
 *   cagr           (v_end / capital)^(P / N) - 1
 *   volatility     stdev(r, ddof 1) * sqrt(P)
 *   sharpe         mean(r) / stdev(r, ddof 1) * sqrt(P)   (rf 0)
 *   sortino        mean(r) * P / (sqrt(mean(min(r, 0)^2)) * sqrt(P))
 *   max_drawdown   min over the curve (capital first) of v / peak - 1 (<= 0),
 *                  with the times of its peak, trough and recovery
 *   calmar         cagr / -max_drawdown
 *   win_rate       winning / closed round trips
 *   profit_factor  gross profit / gross loss of closed round trips
 *   exposure       share of bars ending with any open position
 *   turnover       traded notional / mean portfolio value
 * (the empyrical conventions). Undefined values are NaN (null in JSON). */
#ifndef BT_METRICS_H
#define BT_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "dec.h"

typedef struct bt_metrics {
  int64_t count, cap;
  int64_t *times;    /* ns, bar open time */
  bt_dec *values;    /* portfolio value at the bar's end */
  bt_dec *cash;      /* cash at the bar's end */
  uint8_t *invested; /* 1 when a position was open at the bar's end */
} bt_metrics;

/* expected: bars to reserve for (0 is fine: the curve grows). */
int bt_metrics_init(bt_metrics *metrics, int64_t expected);
void bt_metrics_free(bt_metrics *metrics);
int bt_metrics_record(bt_metrics *metrics, int64_t time, bt_dec value,
                      bt_dec cash, bool invested);

/* What the ledger knows about trades (ledger.h). */
typedef struct bt_metrics_trades {
  int64_t round_trips, winning_trips;
  bt_dec gross_profit, gross_loss; /* both >= 0 */
  bt_dec traded;                   /* sum of |fill notional| */
} bt_metrics_trades;

typedef struct bt_metrics_summary {
  int64_t bars;
  double periods_per_year;
  double total_return, cagr, volatility, sharpe, sortino;
  double max_drawdown;
  int64_t drawdown_peak, drawdown_trough; /* ns; 0 without a drawdown */
  int64_t drawdown_recovery;              /* ns; 0 when not recovered */
  double calmar;
  int64_t round_trips, winning_trips;
  double win_rate, profit_factor, exposure, turnover;
} bt_metrics_summary;

int bt_metrics_compute(const bt_metrics *metrics, bt_dec capital,
                       double periods_per_year,
                       const bt_metrics_trades *trades,
                       bt_metrics_summary *out);

/* Against a benchmark: r_i and b_i the per-bar simple returns of the
 * values and of the benchmark values (v_i / v_(i-1) - 1, from the capital
 * for both), P periods per year; means and (co)variances with ddof 1.
 * beta = cov(r, b) / var(b); alpha = (mean(r) - beta * mean(b)) * P;
 * tracking_error = stdev(r - b) * sqrt(P); information_ratio =
 * mean(r - b) / stdev(r - b) * sqrt(P); benchmark_return = b_last /
 * capital - 1. NaN where undefined (fewer than 2 bars, zero variance). */
typedef struct bt_metrics_relative {
  double benchmark_return, alpha, beta, information_ratio, tracking_error;
} bt_metrics_relative;

void bt_metrics_compute_relative(const bt_dec *values, const bt_dec *bench,
                                 int64_t count, bt_dec capital,
                                 double periods_per_year,
                                 bt_metrics_relative *out);

/* Periods per year for a calendar ("XNYS", "weekdays", "24/7") and a bar
 * length in ns: daily bars 252 (XNYS), 260 (weekdays), 365 (24/7);
 * intraday bars multiply those days by the bars in a day: a 390-minute
 * session for XNYS (a partial last bar counts), 1440 minutes otherwise. */
double bt_metrics_periods_per_year(const char *calendar, int64_t bar_ns);

/* The same, but bars of a day or longer are classified by the median gap
 * between the sessions `times` (count of them), so weekly or monthly data
 * stored as "daily" bars is not annualised as daily: a median gap under
 * 4.5 days is daily (the calendar's days, as above), up to 10 days weekly
 * (52), 25 to 35 days monthly (12), 85 to 95 quarterly (4), 360 to 370
 * yearly (1), any other 365.25 / gap in days. */
double bt_metrics_periods_per_year_of(const char *calendar, int64_t bar_ns,
                                      const int64_t *times, int64_t count);

#endif
