/* t_metrics.c: the statistics of metrics.h on a four-bar equity curve
 * worked out by hand, and the periods per year of each calendar. */
#include <math.h>
#include <stdlib.h>

#include "metrics.h"
#include "tap.h"
#include "tap_dec.h"

int main(void) {
  bt_metrics m;
  is_int(bt_metrics_init(&m, 2), BT_OK, "init (grows past 2)");
  /* capital 100; returns +10%, -10%, +10%, +10% */
  const char *values[] = {"110", "99", "108.9", "119.79"};
  const int invested[] = {1, 1, 0, 1};
  for (int i = 0; i < 4; i++)
    bt_metrics_record(&m, (i + 1) * 1000, D(values[i]), D("5"), invested[i]);
  is_int(m.count, 4, "four points");
  bt_metrics_trades trades = {.round_trips = 4, .winning_trips = 3,
                              .gross_profit = D("30"), .gross_loss = D("10"),
                              .traded = D("400")};
  bt_metrics_summary s;
  bt_metrics_compute(&m, D("100"), 252, &trades, &s);
  double eps = 1e-12, root = sqrt(252.0);
  is_double(s.total_return, 0.1979, eps, "total return 119.79/100 - 1");
  /* mean 0.05; deviations .05 -.15 .05 .05 -> 0.03 / 3 = 0.01: stdev 0.1 */
  is_double(s.volatility, 0.1 * root, eps, "volatility 0.1 * sqrt(252)");
  is_double(s.sharpe, 0.5 * root, 1e-9, "sharpe 0.05 / 0.1 * sqrt(252)");
  /* downside sqrt(0.01 / 4) = 0.05: 0.05 * 252 / (0.05 * sqrt(252)) */
  is_double(s.sortino, root, 1e-9, "sortino sqrt(252)");
  is_double(s.max_drawdown, -0.1, eps, "max drawdown 99/110 - 1");
  is_int(s.drawdown_peak, 1000, "peak at bar 1 (110)");
  is_int(s.drawdown_trough, 2000, "trough at bar 2 (99)");
  is_int(s.drawdown_recovery, 4000, "recovered at bar 4 (119.79 >= 110)");
  double cagr = pow(1.1979, 252.0 / 4.0) - 1.0;
  is_double(s.cagr / cagr, 1.0, 1e-12, "cagr 1.1979^(252/4) - 1");
  is_double(s.calmar / (cagr / 0.1), 1.0, 1e-12, "calmar cagr / 0.1");
  is_double(s.win_rate, 0.75, 0, "win rate 3/4");
  is_double(s.profit_factor, 3.0, 0, "profit factor 30/10");
  is_double(s.exposure, 0.75, 0, "exposure 3 of 4 bars");
  is_double(s.turnover, 400 / 109.4225, eps, "turnover 400 / mean value");
  bt_metrics_free(&m);

  bt_metrics_init(&m, 0);
  bt_metrics_record(&m, 1, D("100"), D("100"), false);
  bt_metrics_record(&m, 2, D("100"), D("100"), false);
  bt_metrics_compute(&m, D("100"), 365, NULL, &s);
  ok(isnan(s.sharpe), "flat curve: sharpe undefined (NaN)");
  ok(isnan(s.sortino), "no losses: sortino undefined");
  is_double(s.max_drawdown, 0, 0, "no drawdown");
  is_int(s.drawdown_peak, 0, "no drawdown dates");
  ok(isnan(s.win_rate) && isnan(s.profit_factor), "no round trips");
  bt_metrics_free(&m);

  const int64_t minute = INT64_C(60000000000);
  is_double(bt_metrics_periods_per_year("XNYS", 1440 * minute), 252, 0,
            "XNYS daily 252");
  is_double(bt_metrics_periods_per_year("weekdays", 1440 * minute), 260, 0,
            "weekdays daily 260");
  is_double(bt_metrics_periods_per_year("24/7", 1440 * minute), 365, 0,
            "24/7 daily 365");
  is_double(bt_metrics_periods_per_year("24/7", 60 * minute), 8760, 0,
            "24/7 hourly 365 * 24");
  is_double(bt_metrics_periods_per_year("24/7", minute), 525600, 0,
            "24/7 minute 365 * 1440");
  is_double(bt_metrics_periods_per_year("XNYS", 60 * minute), 252 * 7, 0,
            "XNYS hourly: 7 bars a session (last one 30 minutes)");
  is_double(bt_metrics_periods_per_year("XNYS", minute), 252 * 390, 0,
            "XNYS minute 252 * 390");
  return done_testing();
}
