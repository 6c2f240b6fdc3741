/* t_indicators.c: every rolling indicator equals a naive recomputation over
 * its window at every bar of long seeded random series (with exact ties). */
#include "indicators.h"
#include "tap.h"

#include <stdlib.h>

typedef bt_i128 i128;

static uint64_t rng_state;
static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* num / den rounded half-even, by plain long arithmetic (den != 0). */
static i128 naive_div(i128 num, i128 den, int *tie) {
  if (den < 0) num = -num, den = -den;
  int negative = num < 0;
  i128 mag = negative ? -num : num, q = mag / den, r = mag - q * den;
  *tie = 2 * r == den;
  if (2 * r > den || (2 * r == den && (q % 2) == 1)) q++;
  return negative ? -q : q;
}

/* Floor square root by bisection. */
static i128 naive_isqrt(i128 x) {
  i128 lo = 0, hi = (i128)1 << 62;
  while (lo < hi) {
    i128 mid = (lo + hi + 1) / 2;
    if (mid * mid <= x)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

typedef struct naive_stats {
  long ties;
} naive_stats;

/* Expected value of kind over series[t-n+1 .. t] (momentum: t-n .. t). */
static int naive_value(bt_ind_kind kind, const bt_dec *series, long t, int n,
                       i128 *ema, naive_stats *stats, bt_dec *out) {
  int tie = 0;
  switch (kind) {
  case BT_IND_SMA: {
    i128 sum = 0;
    for (long i = t - n + 1; i <= t; i++)
      sum += series[i];
    *out = (bt_dec)naive_div(sum, n, &tie);
    break;
  }
  case BT_IND_EMA: {
    if (t == n - 1) {
      i128 sum = 0;
      for (long i = 0; i < n; i++)
        sum += series[i];
      *ema = naive_div(sum, n, &tie);
    } else {
      /* ema + alpha (x - ema) with alpha = 2/(n+1), exact, one rounding */
      i128 x = series[t];
      *ema = naive_div(*ema * (n + 1) + 2 * (x - *ema), n + 1, &tie);
    }
    *out = (bt_dec)*ema;
    break;
  }
  case BT_IND_STDDEV: {
    i128 s1 = 0, s2 = 0;
    for (long i = t - n + 1; i <= t; i++) {
      s1 += series[i];
      s2 += (i128)series[i] * series[i];
    }
    i128 d = n * s2 - s1 * s1; /* n^2 * variance in raw^2 units */
    i128 s = naive_isqrt(d / ((i128)n * n));
    /* sqrt(d)/n vs s + 1/2  <=>  4d vs n^2 (2s+1)^2 */
    i128 lhs = 4 * d, rhs = (i128)n * n * (2 * s + 1) * (2 * s + 1);
    tie = lhs == rhs;
    if (lhs > rhs || (tie && s % 2 == 1)) s++;
    *out = (bt_dec)s;
    break;
  }
  case BT_IND_MIN:
  case BT_IND_MAX: {
    bt_dec best = series[t];
    for (long i = t - n + 1; i < t; i++) {
      if (series[i] == best) tie = 1;
      if (kind == BT_IND_MIN ? series[i] < best : series[i] > best)
        best = series[i], tie = 0;
    }
    *out = best;
    break;
  }
  case BT_IND_MOMENTUM:
    *out = series[t] - series[t - n];
    break;
  case BT_IND_RSI: {
    /* ema[0], ema[1]: Wilder's average gain and loss, one rounding each */
    i128 gain = 0, loss = 0;
    for (long i = t == n ? 1 : t; i <= t; i++) {
      i128 d = (i128)series[i] - series[i - 1];
      gain += d > 0 ? d : 0;
      loss += d < 0 ? -d : 0;
    }
    if (t > n) gain += ema[0] * (n - 1), loss += ema[1] * (n - 1);
    ema[0] = naive_div(gain, n, &tie);
    ema[1] = naive_div(loss, n, &tie);
    if (ema[1] == 0) *out = 100 * BT_DEC_SCALE;
    else if (ema[0] == 0) *out = 0;
    else *out = (bt_dec)naive_div(100 * BT_DEC_SCALE * ema[0],
                                  ema[0] + ema[1], &tie);
    break;
  }
  default:
    return BT_EINVAL;
  }
  stats->ties += tie;
  return BT_OK;
}

/* Pushes the series and compares every ready value with the naive one. */
static void check_series(bt_ind_kind kind, int n, const bt_dec *series,
                         long len, const char *label) {
  bt_ind ind;
  if (bt_ind_init(&ind, kind, n) != BT_OK) {
    ok(0, "init %s(%d)", bt_ind_kind_name(kind), n);
    return;
  }
  long need = kind == BT_IND_MOMENTUM || kind == BT_IND_RSI ? n + 1 : n;
  long bad = 0, values = 0;
  i128 ema[2] = {0, 0};
  naive_stats stats = {0};
  for (long t = 0; t < len; t++) {
    int status = bt_ind_push(&ind, series[t]);
    bt_dec got = 0, want = 0;
    int got_status = bt_ind_value(&ind, &got);
    if (status != BT_OK || bt_ind_ready(&ind) != (t + 1 >= need)) {
      bad++;
      continue;
    }
    if (t + 1 < need) {
      if (got_status != BT_ESTATE) bad++;
      continue;
    }
    naive_value(kind, series, t, n, ema, &stats, &want);
    values++;
    if (got_status != BT_OK || got != want) {
      if (bad++ < 3)
        diag("%s(%d) %s bar %ld: got %lld (status %d), want %lld",
             bt_ind_kind_name(kind), n, label, t, (long long)got, got_status,
             (long long)want);
    }
  }
  ok(bad == 0 && values == len - need + 1,
     "%s(%d) equals the naive value at all %ld bars of %s (%ld exact ties)",
     bt_ind_kind_name(kind), n, values, label, stats.ties);
  bt_ind_free(&ind);
}

static void test_known_values(void) {
  bt_ind ind;
  bt_dec v = 0;
  bt_ind_init(&ind, BT_IND_STDDEV, 8);
  const int classic[] = {2, 4, 4, 4, 5, 5, 7, 9};
  for (int i = 0; i < 8; i++) {
    is_int(bt_ind_value(&ind, &v), BT_ESTATE, "stddev not ready at %d", i);
    bt_ind_push(&ind, (bt_dec)classic[i] * BT_DEC_SCALE);
  }
  is_int(bt_ind_value(&ind, &v), BT_OK, "stddev ready after 8 values");
  is_int(v, 2 * BT_DEC_SCALE, "population stddev of 2,4,4,4,5,5,7,9 is 2");
  bt_ind_free(&ind);

  bt_ind_init(&ind, BT_IND_SMA, 3);
  bt_ind_push(&ind, 1 * BT_DEC_SCALE);
  bt_ind_push(&ind, 2 * BT_DEC_SCALE);
  ok(!bt_ind_ready(&ind), "SMA(3) not ready after 2 values");
  bt_ind_push(&ind, 4 * BT_DEC_SCALE);
  bt_ind_value(&ind, &v);
  is_int(v, 233333333, "SMA(3) of 1,2,4 is 2.33333333");
  bt_ind_reset(&ind);
  ok(!bt_ind_ready(&ind), "reset empties the window");
  bt_ind_free(&ind);

  bt_ind_init(&ind, BT_IND_EMA, 3); /* alpha = 1/2 */
  const int prices[] = {1, 2, 3, 4, 10};
  for (int i = 0; i < 5; i++)
    bt_ind_push(&ind, (bt_dec)prices[i] * BT_DEC_SCALE);
  bt_ind_value(&ind, &v);
  is_int(v, 650000000, "EMA(3): seed 2, then 3, then 6.5");
  bt_ind_free(&ind);

  bt_ind_init(&ind, BT_IND_EMA, 2); /* alpha = 2/3 */
  bt_ind_push(&ind, 0);
  bt_ind_push(&ind, 1);
  bt_ind_push(&ind, 0); /* (2*0 + 1*ema)/3 with ema = round(0.5) = 0 */
  bt_ind_push(&ind, 2); /* (4 + 0)/3 = 1.33 -> 1 */
  bt_ind_value(&ind, &v);
  is_int(v, 1, "EMA(2) rounds the new value half-even once per bar");
  bt_ind_free(&ind);

  bt_ind_init(&ind, BT_IND_MOMENTUM, 2);
  bt_ind_push(&ind, 5);
  bt_ind_push(&ind, 7);
  ok(!bt_ind_ready(&ind), "momentum(2) needs 3 values");
  bt_ind_push(&ind, 11);
  bt_ind_value(&ind, &v);
  is_int(v, 6, "momentum(2) = x[t] - x[t-2]");
  bt_ind_reset(&ind);
  bt_ind_push(&ind, BT_DEC_MIN);
  bt_ind_push(&ind, 0);
  bt_ind_push(&ind, BT_DEC_MAX);
  is_int(bt_ind_value(&ind, &v), BT_EOVERFLOW, "momentum overflow reported");
  bt_ind_free(&ind);

  bt_ind_init(&ind, BT_IND_STDDEV, 2);
  bt_ind_push(&ind, BT_DEC_MIN);
  is_int(bt_ind_push(&ind, BT_DEC_MAX), BT_EOVERFLOW,
         "stddev out of its exact range is reported");
  is_int(bt_ind_value(&ind, &v), BT_EOVERFLOW, "and stays failed");
  bt_ind_reset(&ind);
  bt_ind_push(&ind, BT_DEC_MAX);
  bt_ind_push(&ind, BT_DEC_MAX - 2);
  bt_ind_value(&ind, &v);
  is_int(v, 1, "stddev near MAX (shifted sums)");
  bt_ind_free(&ind);

  is_int(bt_ind_init(&ind, BT_IND_SMA, 0), BT_EINVAL, "period 0 refused");
  is_int(bt_ind_init(&ind, (bt_ind_kind)99, 5), BT_EINVAL, "bad kind");
  is_int(bt_ind_kind_from_name("stddev"), BT_IND_STDDEV, "kind by name");
  is_int(bt_ind_kind_from_name("wma"), -1, "unknown kind");
}

/* Wilder's RSI and ATR on hand-checked series (the expected values from
 * exact fractions with one half-even rounding per average and per RSI). */
static void test_wilder(void) {
  bt_ind ind;
  bt_dec v = 0;
  const bt_dec closes[] = {1000000000, 1100000000, 1050000000, 1200000000,
                           1100000000, 1150000000, 1325000000, 1275000000};
  const bt_dec rsi3[] = {8333333300, 5555555500, 6444444386, 8265582607,
                         6777777751};
  bt_ind_init(&ind, BT_IND_RSI, 3);
  for (int i = 0; i < 8; i++) {
    bt_ind_push(&ind, closes[i]);
    if (i < 3) {
      is_int(bt_ind_value(&ind, &v), BT_ESTATE, "RSI(3) not ready at %d", i);
      continue;
    }
    bt_ind_value(&ind, &v);
    is_int(v, rsi3[i - 3], "RSI(3) after value %d", i + 1);
  }
  is_int(bt_ind_push_bar(&ind, 1, 1, 1), BT_EINVAL, "push_bar: ATR only");
  bt_ind_free(&ind);

  bt_ind_init(&ind, BT_IND_RSI, 2);
  for (int i = 0; i < 3; i++) bt_ind_push(&ind, (10 - i) * BT_DEC_SCALE);
  bt_ind_value(&ind, &v);
  is_int(v, 0, "RSI with no gain: 0");
  bt_ind_free(&ind);

  /* high, low, close; tr from bar 2: 2, 2, 3, 2 */
  const bt_dec bars[][3] = {{11, 9, 10}, {12, 10, 11}, {13, 11, 12},
                            {12, 9, 9}, {10, 8, 9}};
  const bt_dec atr2[] = {200000000, 250000000, 225000000};
  bt_ind_init(&ind, BT_IND_ATR, 2);
  is_int(bt_ind_push(&ind, 1), BT_EINVAL, "ATR takes bars, not values");
  for (int i = 0; i < 5; i++) {
    bt_ind_push_bar(&ind, bars[i][0] * BT_DEC_SCALE,
                    bars[i][1] * BT_DEC_SCALE, bars[i][2] * BT_DEC_SCALE);
    if (i < 2) {
      ok(!bt_ind_ready(&ind), "ATR(2) not ready after bar %d", i + 1);
      continue;
    }
    bt_ind_value(&ind, &v);
    is_int(v, atr2[i - 2], "ATR(2) after bar %d", i + 1);
  }
  bt_ind_free(&ind);
  is_str(bt_ind_kind_name(BT_IND_RSI), "rsi", "kind name rsi");
  is_int(bt_ind_kind_from_name("atr"), BT_IND_ATR, "kind atr by name");
}

int main(void) {
  test_known_values();
  test_wilder();
  /* Prices: a random walk around 100.00000000 with 8-place steps, some
   * bars repeating the previous value (exact ties for min/max). */
  long len = 100000;
  bt_dec *prices = malloc((size_t)len * sizeof *prices);
  rng_state = 42;
  bt_dec price = 100 * BT_DEC_SCALE;
  for (long t = 0; t < len; t++) {
    uint64_t r = rng_next();
    if (r % 5 != 0) price += (bt_dec)((r >> 8) % 200000001) - 100000000;
    if (price < BT_DEC_SCALE) price = BT_DEC_SCALE;
    prices[t] = price;
  }
  /* Small raw values 0..7: ties in every rounding, every window. */
  long small_len = 20000;
  bt_dec *small = malloc((size_t)small_len * sizeof *small);
  for (long t = 0; t < small_len; t++)
    small[t] = (bt_dec)(rng_next() % 8) - 3;

  const int periods[] = {1, 2, 3, 4, 7, 20, 50};
  for (int kind = 0; kind < BT_IND_KIND_COUNT; kind++) {
    if (kind == BT_IND_ATR) continue; /* takes bars: test_wilder */
    for (size_t p = 0; p < sizeof periods / sizeof *periods; p++) {
      check_series((bt_ind_kind)kind, periods[p], prices, len, "prices");
      check_series((bt_ind_kind)kind, periods[p], small, small_len, "small");
    }
  }
  free(prices);
  free(small);
  return done_testing();
}
