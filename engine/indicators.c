/* indicators.c: O(1)-update rolling SMA/EMA/stddev/min/max/momentum and
 * Wilder's RSI/ATR over exact bt_dec values (128-bit running sums,
 * half-even results). */
#include "indicators.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "prof.h" /* bt_mem_*: counted by the memory profiler */

static const char *const KIND_NAMES[BT_IND_KIND_COUNT] = {
    "sma", "ema", "stddev", "min", "max", "momentum", "rsi", "atr",
};

int bt_ind_kind_from_name(const char *name) {
  if (name == NULL) return -1;
  for (int i = 0; i < BT_IND_KIND_COUNT; i++)
    if (strcmp(name, KIND_NAMES[i]) == 0) return i;
  return -1;
}

const char *bt_ind_kind_name(bt_ind_kind kind) {
  return (unsigned)kind < BT_IND_KIND_COUNT ? KIND_NAMES[kind] : "?";
}

int bt_ind_init(bt_ind *ind, bt_ind_kind kind, int period) {
  memset(ind, 0, sizeof *ind);
  if ((unsigned)kind >= BT_IND_KIND_COUNT) return BT_EINVAL;
  if (period < 1 || period > BT_IND_MAX_PERIOD) return BT_EINVAL;
  ind->kind = kind;
  ind->period = period;
  ind->capacity = kind == BT_IND_MOMENTUM || kind == BT_IND_RSI ||
                          kind == BT_IND_ATR
                      ? period + 1
                      : period;
  if (kind == BT_IND_SMA || kind == BT_IND_STDDEV || kind == BT_IND_MOMENTUM) {
    ind->ring = (bt_dec *)bt_mem_calloc((size_t)ind->capacity, sizeof *ind->ring);
    if (ind->ring == NULL) return BT_ENOMEM;
  } else if (kind == BT_IND_MIN || kind == BT_IND_MAX) {
    ind->deque = bt_mem_calloc((size_t)period, sizeof *ind->deque);
    if (ind->deque == NULL) return BT_ENOMEM;
  }
  return BT_OK;
}

void bt_ind_free(bt_ind *ind) {
  bt_mem_free(ind->ring);
  bt_mem_free(ind->deque);
  ind->ring = NULL;
  ind->deque = NULL;
}

void bt_ind_reset(bt_ind *ind) {
  ind->status = BT_OK;
  ind->count = 0;
  ind->slot = 0;
  ind->sum = ind->sum_sq = 0;
  ind->shift = ind->ema = ind->avg_loss = 0;
  ind->deque_head = ind->deque_len = 0;
}

/* sum / n rounded half-even (n > 0). */
static int mean_of(bt_i128 sum, int64_t n, bt_dec *out) {
  bt_dec_acc acc = {sum};
  return bt_dec_acc_mean(&acc, n, out);
}

static int push_stddev(bt_ind *ind, bt_dec value, bt_dec old, bool full) {
  if (ind->count == 0) ind->shift = value;
  bt_i128 d = (bt_i128)value - ind->shift, d_sq;
  if (__builtin_mul_overflow(d, d, &d_sq) ||
      __builtin_add_overflow(ind->sum_sq, d_sq, &ind->sum_sq))
    return BT_EOVERFLOW;
  ind->sum += d;
  if (full) { /* the old square was added once, so it fits */
    bt_i128 d_old = (bt_i128)old - ind->shift;
    ind->sum -= d_old;
    ind->sum_sq -= d_old * d_old;
  }
  return BT_OK;
}

/* Monotonic deque: the front is the min (max) of the window. Entries the
 * new value dominates can never be the answer again and are dropped. */
static void push_extreme(bt_ind *ind, bt_dec value) {
  int32_t cap = ind->period, head = ind->deque_head, len = ind->deque_len;
  bool is_min = ind->kind == BT_IND_MIN;
  while (len > 0) {
    int32_t back = head + len - 1;
    if (back >= cap) back -= cap;
    bt_dec last = ind->deque[back].value;
    if (is_min ? last < value : last > value) break;
    len--;
  }
  if (len > 0 && ind->deque[head].number <= ind->count - ind->period) {
    if (++head == cap) head = 0;
    len--;
  }
  int32_t tail = head + len;
  if (tail >= cap) tail -= cap;
  ind->deque[tail].number = ind->count;
  ind->deque[tail].value = value;
  ind->deque_head = head;
  ind->deque_len = len + 1;
}

static int push_ema(bt_ind *ind, bt_dec value) {
  int64_t n = ind->period;
  if (ind->count < n) {
    ind->sum += value;
    return ind->count == n - 1 ? mean_of(ind->sum, n, &ind->ema) : BT_OK;
  }
  bt_i128 numerator = 2 * (bt_i128)value + (bt_i128)(n - 1) * ind->ema;
  return mean_of(numerator, n + 1, &ind->ema); /* always fits: a mean */
}


/* Wilder's smoothing of avg with x (>= 0): the first n values are summed
 * into *seed and averaged at the n-th; then (avg*(n-1) + x) / n. `k` is
 * the number of x so far, this one included. */
static int wilder(bt_i128 *seed, bt_dec *avg, bt_i128 x, int64_t k,
                  int64_t n) {
  if (k <= n) {
    *seed += x;
    return k == n ? bt_dec_ratio(*seed, (uint64_t)n, avg) : BT_OK;
  }
  return bt_dec_ratio((bt_i128)*avg * (n - 1) + x, (uint64_t)n, avg);
}

static int push_rsi(bt_ind *ind, bt_dec value) {
  if (ind->count == 0) {
    ind->shift = value;
    return BT_OK;
  }
  bt_i128 change = (bt_i128)value - ind->shift;
  ind->shift = value;
  int64_t k = ind->count, n = ind->period;
  int rc = wilder(&ind->sum, &ind->ema, change > 0 ? change : 0, k, n);
  if (rc == BT_OK)
    rc = wilder(&ind->sum_sq, &ind->avg_loss, change < 0 ? -change : 0, k, n);
  return rc;
}

static bt_i128 i128_abs(bt_i128 v) { return v < 0 ? -v : v; }

int bt_ind_push_bar(bt_ind *ind, bt_dec high, bt_dec low, bt_dec close) {
  if (ind->kind != BT_IND_ATR) return BT_EINVAL;
  if (ind->status != BT_OK) return ind->status;
  int status = BT_OK;
  if (ind->count > 0) {
    bt_i128 range = (bt_i128)high - low;
    bt_i128 up = i128_abs((bt_i128)high - ind->shift);
    bt_i128 down = i128_abs((bt_i128)low - ind->shift);
    bt_i128 tr = range > up ? range : up;
    if (down > tr) tr = down;
    status = wilder(&ind->sum, &ind->ema, tr, ind->count, ind->period);
  }
  ind->shift = close;
  ind->count++;
  ind->status = status;
  return status;
}

static int rsi_value(const bt_ind *ind, bt_dec *out) {
  bt_dec gain = ind->ema, loss = ind->avg_loss;
  if (loss == 0) *out = 100 * BT_DEC_SCALE;
  else if (gain == 0) *out = 0;
  else return bt_dec_ratio((bt_i128)100 * BT_DEC_SCALE * gain,
                            (uint64_t)gain + (uint64_t)loss, out);
  return BT_OK;
}

int bt_ind_push(bt_ind *ind, bt_dec value) {
  if (ind->kind == BT_IND_ATR) return BT_EINVAL;
  if (ind->status != BT_OK) return ind->status;
  bt_dec old = 0;
  bool full = ind->count >= ind->capacity;
  if (ind->ring != NULL) {
    old = ind->ring[ind->slot];
    ind->ring[ind->slot] = value;
    if (++ind->slot == ind->capacity) ind->slot = 0;
  }
  int status = BT_OK;
  switch (ind->kind) {
  case BT_IND_SMA:
    ind->sum += (bt_i128)value - (full ? old : 0);
    break;
  case BT_IND_EMA:
    status = push_ema(ind, value);
    break;
  case BT_IND_STDDEV:
    status = push_stddev(ind, value, old, full);
    break;
  case BT_IND_MIN:
  case BT_IND_MAX:
    push_extreme(ind, value);
    break;
  case BT_IND_RSI:
    status = push_rsi(ind, value);
    break;
  default:
    break; /* momentum reads its ring */
  }
  ind->count++;
  ind->status = status;
  return status;
}

/* floor(sqrt(m)) for m < 2^126. */
static uint64_t isqrt_u128(bt_u128 m) {
  uint64_t s = (uint64_t)sqrt((double)m);
  while ((bt_u128)s * s > m)
    s--;
  while ((bt_u128)(s + 1) * (s + 1) <= m)
    s++;
  return s;
}

/* round_half_even(sqrt(D) / n) with D = n*S2 - S1^2 >= 0. With m = D / n^2
 * (floor), r = D mod n^2 and s = isqrt(m): sqrt(D)/n vs s + 1/2 compares
 * e + r/n^2 with 1/4 where e = m - s^2 - s (an integer, -s <= e <= s). */
static int stddev_value(const bt_ind *ind, bt_dec *out) {
  bt_i128 n = ind->period, n_s2, s1_sq, d;
  if (__builtin_mul_overflow(n, ind->sum_sq, &n_s2) ||
      __builtin_mul_overflow(ind->sum, ind->sum, &s1_sq) ||
      __builtin_sub_overflow(n_s2, s1_sq, &d))
    return BT_EOVERFLOW;
  if (d < 0) d = 0; /* impossible for exact sums; keeps sqrt defined */
  bt_u128 n_sq = (bt_u128)(n * n), m = (bt_u128)d / n_sq;
  bt_u128 r = (bt_u128)d - m * n_sq;
  if (m >> 126) return BT_EOVERFLOW;
  uint64_t s = isqrt_u128(m);
  bt_i128 e = (bt_i128)(m - (bt_u128)s * s) - (bt_i128)s;
  int cmp_half = e > 0 ? 1 : e < 0 ? -1 : (4 * r > n_sq) - (4 * r < n_sq);
  if (cmp_half > 0 || (cmp_half == 0 && (s & 1))) s++;
  if (s > (uint64_t)INT64_MAX) return BT_EOVERFLOW;
  *out = (bt_dec)s;
  return BT_OK;
}

int bt_ind_value(const bt_ind *ind, bt_dec *out) {
  if (ind->status != BT_OK) return ind->status;
  if (!bt_ind_ready(ind)) return BT_ESTATE;
  switch (ind->kind) {
  case BT_IND_SMA:
    return mean_of(ind->sum, ind->period, out);
  case BT_IND_EMA:
    *out = ind->ema;
    return BT_OK;
  case BT_IND_STDDEV:
    return stddev_value(ind, out);
  case BT_IND_MIN:
  case BT_IND_MAX:
    *out = ind->deque[ind->deque_head].value;
    return BT_OK;
  case BT_IND_MOMENTUM: {
    /* slot holds the oldest value (x[t-n]); the newest is just before it */
    int32_t newest = ind->slot == 0 ? ind->capacity - 1 : ind->slot - 1;
    return bt_dec_sub(ind->ring[newest], ind->ring[ind->slot], out);
  }
  case BT_IND_RSI:
    return rsi_value(ind, out);
  case BT_IND_ATR:
    *out = ind->ema;
    return BT_OK;
  default:
    return BT_EINVAL;
  }
}
