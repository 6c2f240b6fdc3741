/* dec.h: exact fixed-point decimals for prices, quantities and cash.
 * A bt_dec is a signed 64-bit count of 10^-8 units (1 = 0.00000001).
 * Products and quotients round half-even at 10^-8; every operation that can
 * fail returns a BT_E* status and never wraps or truncates silently. */
#ifndef BT_DEC_H
#define BT_DEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef int64_t bt_dec;
/* 128-bit intermediates (GCC/Clang); __extension__ keeps -Wpedantic quiet. */
__extension__ typedef __int128 bt_i128;
__extension__ typedef unsigned __int128 bt_u128;

#define BT_DEC_PLACES 8
#define BT_DEC_SCALE INT64_C(100000000) /* 10^8 raw units per 1 */
#define BT_DEC_MAX INT64_MAX
#define BT_DEC_MIN INT64_MIN
#define BT_DEC_FMT_MAX 32 /* enough for any bt_dec as text, with NUL */

typedef enum bt_round {
  BT_ROUND_HALF_EVEN = 0,
  BT_ROUND_HALF_UP, /* ties away from zero */
  BT_ROUND_DOWN,    /* toward zero */
  BT_ROUND_UP,      /* away from zero */
  BT_ROUND_FLOOR,   /* toward -inf */
  BT_ROUND_CEILING, /* toward +inf */
} bt_round;

/* Rounding mode from its name ("half_even", ...); -1 when unknown. */
int bt_round_from_name(const char *name);
const char *bt_round_name(bt_round mode);

/* Parse text: optional sign, digits, optional fraction, optional exponent
 * ("1.5e-3"). len may be (size_t)-1 for NUL-terminated text. More than 8
 * fractional digits (after the exponent) is BT_EPARSE unless round_extra,
 * then rounded with mode. BT_EOVERFLOW when the value does not fit. */
int bt_dec_parse(const char *text, size_t len, bt_dec *out);
int bt_dec_parse_round(const char *text, size_t len, bt_round mode,
                       bt_dec *out);

/* Canonical text ("-12.5", "0", "3"): no trailing fractional zeros.
 * Returns the length written; buf must hold BT_DEC_FMT_MAX bytes. */
int bt_dec_format(bt_dec value, char *buf);
/* Exactly `places` (0..8) fractional digits, rounding half-even. */
int bt_dec_format_places(bt_dec value, int places, char *buf);

int bt_dec_from_int(int64_t units, bt_dec *out); /* 12 -> 12.00000000 */
/* Integer part toward zero; *out_exact tells whether the fraction was 0. */
int64_t bt_dec_to_int(bt_dec value, bool *out_exact);
int bt_dec_from_double(double x, bt_dec *out); /* half-even, explicit only */
double bt_dec_to_double(bt_dec value);         /* nearest double */

static inline int bt_dec_add(bt_dec a, bt_dec b, bt_dec *out) {
  return __builtin_add_overflow(a, b, out) ? BT_EOVERFLOW : BT_OK;
}
static inline int bt_dec_sub(bt_dec a, bt_dec b, bt_dec *out) {
  return __builtin_sub_overflow(a, b, out) ? BT_EOVERFLOW : BT_OK;
}
int bt_dec_mul(bt_dec a, bt_dec b, bt_dec *out);
int bt_dec_div(bt_dec a, bt_dec b, bt_dec *out);
/* Remainder with the sign of a (Lua's % floors: the binding adjusts). */
int bt_dec_mod(bt_dec a, bt_dec b, bt_dec *out);
int bt_dec_neg(bt_dec a, bt_dec *out);
int bt_dec_abs(bt_dec a, bt_dec *out);
static inline int bt_dec_cmp(bt_dec a, bt_dec b) { return (a > b) - (a < b); }
static inline bt_dec bt_dec_min(bt_dec a, bt_dec b) { return a < b ? a : b; }
static inline bt_dec bt_dec_max(bt_dec a, bt_dec b) { return a > b ? a : b; }
/* Multiply by an integer count (quantity * price where quantity is whole). */
int bt_dec_mul_int(bt_dec a, int64_t n, bt_dec *out);
/* Divide by an integer count (a mean), rounding half-even. */
int bt_dec_div_int(bt_dec a, int64_t n, bt_dec *out);
/* Round to `places` (0..8) fractional digits with mode. */
int bt_dec_quantize(bt_dec a, int places, bt_round mode, bt_dec *out);
/* Square root, half-even at 10^-8; BT_EINVAL for a negative argument. */
int bt_dec_sqrt(bt_dec a, bt_dec *out);

/* A 128-bit accumulator for long sums of raw values (sums of millions of
 * prices cannot overflow; only the final conversion can). */
typedef struct bt_dec_acc {
  bt_i128 sum; /* raw 10^-8 units */
} bt_dec_acc;

static inline void bt_dec_acc_init(bt_dec_acc *acc) { acc->sum = 0; }
static inline void bt_dec_acc_add(bt_dec_acc *acc, bt_dec v) { acc->sum += v; }
static inline void bt_dec_acc_sub(bt_dec_acc *acc, bt_dec v) { acc->sum -= v; }
int bt_dec_acc_get(const bt_dec_acc *acc, bt_dec *out);
/* sum / n rounded half-even (the exact mean of n values). */
int bt_dec_acc_mean(const bt_dec_acc *acc, int64_t n, bt_dec *out);

/* num / den in raw units, rounded half-even; den > 0. The one home of
 * the exact ratio (a * b / c, sums over counts): BT_EOVERFLOW when the
 * quotient is outside bt_dec. */
int bt_dec_ratio(bt_i128 num, uint64_t den, bt_dec *out);

/* Per-asset-class rounding: equity 2 half_up, crypto 8 down, forex 5
 * half_even, future 2 half_up, index 2 half_even. */
typedef enum bt_asset_class {
  BT_CLASS_EQUITY = 0,
  BT_CLASS_CRYPTO,
  BT_CLASS_FOREX,
  BT_CLASS_FUTURE,
  BT_CLASS_INDEX,
  BT_CLASS_COUNT
} bt_asset_class;

typedef struct bt_rounding {
  int places;
  bt_round mode;
} bt_rounding;

bt_rounding bt_class_rounding(bt_asset_class cls);
int bt_class_from_name(const char *name); /* -1 when unknown */
const char *bt_class_name(bt_asset_class cls);

#endif
