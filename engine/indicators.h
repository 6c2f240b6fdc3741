/* indicators.h: rolling indicators over bt_dec values with O(1) updates
 * (min/max O(1) amortized): SMA, EMA, population stddev, min, max, momentum,
 * RSI and ATR (Wilder).
 *
 * Usage: bt_ind_init(&ind, BT_IND_SMA, 20); then per bar bt_ind_push(&ind,
 * close) and, when bt_ind_ready(&ind), bt_ind_value(&ind, &out);
 * bt_ind_free(&ind) at the end. A bt_ind is a plain struct (embed arrays of
 * them); only its window is allocated.
 *
 * Semantics (all results in raw 10^-8 units, exact):
 *   SMA(n)      mean of the last n values, rounded half-even.
 *   EMA(n)      seeded with SMA(n) of the first n values (TA-Lib); then
 *               ema = round_half_even((2*x + (n-1)*ema) / (n+1)), i.e. the
 *               exact rational alpha = 2/(n+1) with ONE half-even rounding of
 *               the new value per bar (alpha itself is never rounded).
 *   STDDEV(n)   population deviation (ddof 0) of the last n values:
 *               sqrt(n*S2 - S1^2) / n from exact 128-bit sums of (x - k) and
 *               (x - k)^2 (k = the first value since reset), rounded
 *               half-even. Exact while n * sum((x-k)^2) < 2^127 (e.g. any
 *               window of 1000 prices within +-10^9 of k); beyond that the
 *               push reports BT_EOVERFLOW.
 *   MIN(n)/MAX(n)  of the last n values (monotonic deque).
 *   MOMENTUM(n) x[t] - x[t-n]: ready once n+1 values exist (it needs x[t-n]);
 *               RSI and ATR too; every other kind once n values exist.
 *   RSI(n)      Wilder: changes d = x[t] - x[t-1], gain max(d, 0), loss
 *               max(-d, 0); the first average gain (loss) is the mean of
 *               the first n, then avg = round_half_even((avg*(n-1) + g)/n)
 *               (one rounding per bar, as EMA). RSI = 100 * gain / (gain +
 *               loss) rounded half-even; 100 when the average loss is 0,
 *               0 when the average gain is 0 (technicalindicators' rule).
 *   ATR(n)      Wilder's average of the true range tr = max(high - low,
 *               |high - close[t-1]|, |low - close[t-1]|), from the second
 *               bar on (the first has no previous close), smoothed like
 *               RSI's averages. Takes whole bars: bt_ind_push_bar. 
 *
 * Missing bars: the caller decides. Not pushing a value skips the bar, and
 * the window is then the last n values pushed (the TA-Lib convention over a
 * series with gaps dropped); calling bt_ind_reset instead restarts the
 * indicator so a gap empties the window. */
#ifndef BT_INDICATORS_H
#define BT_INDICATORS_H

#include <stdbool.h>
#include <stdint.h>

#include "dec.h"

typedef enum bt_ind_kind {
  BT_IND_SMA = 0,
  BT_IND_EMA,
  BT_IND_STDDEV,
  BT_IND_MIN,
  BT_IND_MAX,
  BT_IND_MOMENTUM,
  BT_IND_RSI,
  BT_IND_ATR,
  BT_IND_KIND_COUNT
} bt_ind_kind;

#define BT_IND_MAX_PERIOD 1000000 /* largest window, in values */

typedef struct bt_ind {
  bt_ind_kind kind;
  int status;       /* BT_OK, or BT_EOVERFLOW (sticky until reset) */
  int32_t period;   /* n */
  int32_t capacity; /* ring size: n, or n + 1 for momentum */
  int64_t count;    /* values pushed since init or reset */
  bt_dec *ring;     /* value number i lives in ring[i % capacity] (SMA,
                       STDDEV, MOMENTUM; NULL for the others) */
  int32_t slot;     /* count % capacity: where the next value goes */
  bt_i128 sum;      /* SMA/EMA seed: sum of x; STDDEV: sum of x - shift;
                       RSI seed: sum of gains; ATR seed: sum of tr */
  bt_i128 sum_sq;   /* STDDEV: sum of (x - shift)^2; RSI seed: losses */
  bt_dec shift;     /* STDDEV: first value since reset; RSI, ATR: the
                       previous value (close) */
  bt_dec ema;       /* EMA: current value once ready; RSI: average gain;
                       ATR: the average true range */
  bt_dec avg_loss;  /* RSI: average loss (>= 0) */
  struct bt_ind_entry {
    int64_t number; /* value number (0 = first pushed since reset) */
    bt_dec value;
  } * deque; /* MIN/MAX: ring of n entries, values monotonic */
  int32_t deque_head, deque_len;
} bt_ind;

/* Prepares ind for kind over `period` values (1..BT_IND_MAX_PERIOD).
 * BT_EINVAL for a bad kind or period, BT_ENOMEM. */
int bt_ind_init(bt_ind *ind, bt_ind_kind kind, int period);
/* Frees the window; ind may be re-initialised afterwards. */
void bt_ind_free(bt_ind *ind);
/* Forgets every value (after a gap, or between runs). */
void bt_ind_reset(bt_ind *ind);

/* Adds the newest value. BT_EOVERFLOW when an exact running sum no longer
 * fits (STDDEV outside its documented range); the indicator then stays
 * failed until reset. */
int bt_ind_push(bt_ind *ind, bt_dec value);

/* Adds the newest bar (ATR; BT_EINVAL for other kinds, and bt_ind_push is
 * BT_EINVAL for ATR). */
int bt_ind_push_bar(bt_ind *ind, bt_dec high, bt_dec low, bt_dec close);

/* Has the indicator seen enough values to have a value? */
static inline bool bt_ind_ready(const bt_ind *ind) {
  return ind->count >= (int64_t)ind->capacity;
}

/* The current value. BT_ESTATE before ready, BT_EOVERFLOW when the exact
 * result does not fit a bt_dec (momentum of extreme values) or after a
 * failed push. */
int bt_ind_value(const bt_ind *ind, bt_dec *out);

/* "sma", "ema", "stddev", "min", "max", "momentum", "rsi", "atr"; -1 when
 * unknown. */
int bt_ind_kind_from_name(const char *name);
const char *bt_ind_kind_name(bt_ind_kind kind);

#endif
