/* dec.c: exact fixed-point decimal arithmetic (int64 raw units of 10^-8):
 * parse/format, mul/div with half-even rounding, quantize, sqrt, rounding. */
#include "dec.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef bt_u128 u128;

#define SCALE_U UINT64_C(100000000)
#define HALF_SCALE UINT64_C(50000000)
/* Largest magnitude of a non-negative / negative bt_dec (2^63-1, 2^63). */
#define MAG_POS ((uint64_t)INT64_MAX)
#define MAG_NEG ((uint64_t)INT64_MAX + 1)

static const uint64_t POW10[20] = {
    UINT64_C(1),
    UINT64_C(10),
    UINT64_C(100),
    UINT64_C(1000),
    UINT64_C(10000),
    UINT64_C(100000),
    UINT64_C(1000000),
    UINT64_C(10000000),
    UINT64_C(100000000),
    UINT64_C(1000000000),
    UINT64_C(10000000000),
    UINT64_C(100000000000),
    UINT64_C(1000000000000),
    UINT64_C(10000000000000),
    UINT64_C(100000000000000),
    UINT64_C(1000000000000000),
    UINT64_C(10000000000000000),
    UINT64_C(100000000000000000),
    UINT64_C(1000000000000000000),
    UINT64_C(10000000000000000000),
};

/* ---- rounding ---------------------------------------------------------- */

static const char *const ROUND_NAMES[] = {
    "half_even", "half_up", "down", "up", "floor", "ceiling",
};

int bt_round_from_name(const char *name) {
  if (name == NULL) return -1;
  for (int i = 0; i < (int)(sizeof ROUND_NAMES / sizeof *ROUND_NAMES); i++)
    if (strcmp(name, ROUND_NAMES[i]) == 0) return i;
  return -1;
}

const char *bt_round_name(bt_round mode) {
  if ((unsigned)mode >= sizeof ROUND_NAMES / sizeof *ROUND_NAMES) return "?";
  return ROUND_NAMES[mode];
}

/* Should a truncated magnitude q be bumped by one, given the discarded part
 * compared to half a unit (cmp_half: -1 below, 0 exactly, 1 above), whether
 * anything was discarded at all, and the sign of the exact value? */
static inline int round_bump(bt_round mode, int negative, int inexact,
                             int cmp_half, uint64_t q) {
  if (!inexact) return 0;
  switch (mode) {
  case BT_ROUND_HALF_EVEN:
    return cmp_half > 0 || (cmp_half == 0 && (q & 1));
  case BT_ROUND_HALF_UP:
    return cmp_half >= 0;
  case BT_ROUND_DOWN:
    return 0;
  case BT_ROUND_UP:
    return 1;
  case BT_ROUND_FLOOR:
    return negative;
  case BT_ROUND_CEILING:
    return !negative;
  }
  return 0;
}

/* Signed result from a magnitude; BT_EOVERFLOW when it does not fit. */
static inline int from_mag(uint64_t mag, int negative, bt_dec *out) {
  if (negative) {
    if (mag > MAG_NEG) return BT_EOVERFLOW;
    *out = (bt_dec)(0 - mag); /* two's complement; mag == 2^63 gives MIN */
  } else {
    if (mag > MAG_POS) return BT_EOVERFLOW;
    *out = (bt_dec)mag;
  }
  return BT_OK;
}

static inline uint64_t mag_of(bt_dec v) {
  return v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
}

/* ---- parse ------------------------------------------------------------- */

/* The syntax of one decimal text, found by scan_syntax. */
typedef struct dec_text {
  const char *digits; /* first mantissa character (digit or '.') */
  const char *end;    /* one past the last mantissa character */
  int negative;
  int64_t int_digits; /* digits before the point */
  int64_t exponent;   /* clamped to +-10^9 */
} dec_text;

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

static int scan_syntax(const char *text, size_t len, dec_text *t) {
  const char *p = text, *end = text + len;
  t->negative = 0;
  if (p < end && (*p == '+' || *p == '-')) t->negative = *p++ == '-';
  t->digits = p;
  int64_t ndigits = 0;
  while (p < end && is_digit(*p))
    p++, ndigits++;
  t->int_digits = ndigits;
  if (p < end && *p == '.') {
    p++;
    while (p < end && is_digit(*p))
      p++, ndigits++;
  }
  if (ndigits == 0) return BT_EPARSE;
  t->end = p;
  t->exponent = 0;
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    int exp_negative = 0;
    if (p < end && (*p == '+' || *p == '-')) exp_negative = *p++ == '-';
    if (p == end || !is_digit(*p)) return BT_EPARSE;
    int64_t exponent = 0;
    while (p < end && is_digit(*p)) {
      if (exponent < INT64_C(1000000000)) exponent = exponent * 10 + (*p - '0');
      p++;
    }
    t->exponent = exp_negative ? -exponent : exponent;
  }
  return p == end ? BT_OK : BT_EPARSE;
}

/* Digits whose place (in 10^-8 units) is >= 0 build the magnitude; the first
 * digit below decides the half; any later nonzero digit is sticky. */
static int parse_digits(const dec_text *t, int rounding, bt_round mode,
                        bt_dec *out) {
  uint64_t limit = t->negative ? MAG_NEG : MAG_POS;
  uint64_t mag = 0;
  int64_t place = t->int_digits - 1 + t->exponent + BT_DEC_PLACES;
  int half_digit = -1, sticky = 0;
  for (const char *p = t->digits; p < t->end; p++) {
    if (*p == '.') continue;
    int digit = *p - '0';
    if (place >= 0) {
      if (mag > (limit - (uint64_t)digit) / 10) return BT_EOVERFLOW;
      mag = mag * 10 + (uint64_t)digit;
    } else if (place == -1) {
      half_digit = digit;
    } else if (digit != 0) {
      sticky = 1;
    }
    place--;
  }
  if (place >= 0 && mag != 0) { /* last digit sits above the 10^-8 place */
    if (place + 1 > 19 || mag > limit / POW10[place + 1]) return BT_EOVERFLOW;
    mag *= POW10[place + 1];
  }
  if (place < -2 && half_digit < 0) half_digit = 0; /* all below -1 */
  int inexact = half_digit > 0 || sticky;
  if (inexact && !rounding) return BT_EPARSE;
  int cmp_half = half_digit > 5 ? 1 : half_digit < 5 ? -1 : sticky ? 1 : 0;
  mag += (uint64_t)round_bump(mode, t->negative, inexact, cmp_half, mag);
  return from_mag(mag, t->negative, out);
}

static int parse_text(const char *text, size_t len, int rounding, bt_round mode,
                      bt_dec *out) {
  if (text == NULL) return BT_EPARSE;
  if (len == (size_t)-1) len = strlen(text);
  dec_text t;
  int status = scan_syntax(text, len, &t);
  if (status != BT_OK) return status;
  return parse_digits(&t, rounding, mode, out);
}

int bt_dec_parse(const char *text, size_t len, bt_dec *out) {
  return parse_text(text, len, 0, BT_ROUND_HALF_EVEN, out);
}

int bt_dec_parse_round(const char *text, size_t len, bt_round mode,
                       bt_dec *out) {
  if ((unsigned)mode > BT_ROUND_CEILING) return BT_EINVAL;
  return parse_text(text, len, 1, mode, out);
}

/* ---- format ------------------------------------------------------------ */

/* Writes sign, integer part and exactly `places` fraction digits of
 * magnitude `mag` (already rounded to `places`) into buf. */
/* "00" "01" ... "99": two digits per division when formatting. */
static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* Writes the `count` low decimal digits of v (zero-padded) ending just
 * before `end`; returns the new start. */
static char *put_digits_back(char *end, uint64_t v, int count) {
  for (; count >= 2; count -= 2, v /= 100) {
    end -= 2;
    memcpy(end, DIGIT_PAIRS + (v % 100) * 2, 2);
  }
  if (count) *--end = (char)('0' + v % 10);
  return end;
}

/* Digits of v (at least one). */
static int digit_count(uint64_t v) {
  int n = 1;
  while (v >= 10000) v /= 10000, n += 4;
  while (v >= 10) v /= 10, n++;
  return n;
}

static int write_fixed(int negative, uint64_t mag, int places, char *buf) {
  char tmp[BT_DEC_FMT_MAX];
  char *end = tmp + sizeof tmp, *p = end;
  uint64_t int_part = mag / SCALE_U, frac = mag % SCALE_U;
  if (places > 0) {
    p = put_digits_back(p, frac / POW10[BT_DEC_PLACES - places], places);
    *--p = '.';
  }
  p = put_digits_back(p, int_part, digit_count(int_part));
  int len = 0;
  if (negative && mag != 0) buf[len++] = '-';
  memcpy(buf + len, p, (size_t)(end - p));
  len += (int)(end - p);
  buf[len] = '\0';
  return len;
}

int bt_dec_format(bt_dec value, char *buf) {
  uint64_t mag = mag_of(value);
  uint64_t frac = mag % SCALE_U;
  int places = 0;
  if (frac != 0) { /* places up to the last non-zero digit */
    places = BT_DEC_PLACES;
    if (frac % 10000 == 0) frac /= 10000, places -= 4;
    if (frac % 100 == 0) frac /= 100, places -= 2;
    if (frac % 10 == 0) places -= 1;
  }
  return write_fixed(value < 0, mag, places, buf);
}

int bt_dec_format_places(bt_dec value, int places, char *buf) {
  if (places < 0 || places > BT_DEC_PLACES) {
    buf[0] = '\0';
    return BT_EINVAL;
  }
  uint64_t unit = POW10[BT_DEC_PLACES - places];
  uint64_t mag = mag_of(value), rest = mag % unit;
  mag -= rest; /* at most 2^63 + 10^8: still fits in uint64 */
  int cmp_half = rest * 2 > unit ? 1 : rest * 2 < unit ? -1 : 0;
  if (round_bump(BT_ROUND_HALF_EVEN, value < 0, rest != 0, cmp_half,
                 mag / unit))
    mag += unit;
  return write_fixed(value < 0, mag, places, buf);
}

/* ---- integers and doubles ---------------------------------------------- */

int bt_dec_from_int(int64_t units, bt_dec *out) {
  return __builtin_mul_overflow(units, BT_DEC_SCALE, out) ? BT_EOVERFLOW
                                                          : BT_OK;
}

int64_t bt_dec_to_int(bt_dec value, bool *out_exact) {
  if (out_exact != NULL) *out_exact = value % BT_DEC_SCALE == 0;
  return value / BT_DEC_SCALE;
}

/* x = m * 2^e exactly (|m| < 2^53); raw = x * 10^8 rounded half-even. */
int bt_dec_from_double(double x, bt_dec *out) {
  if (isnan(x)) return BT_EINVAL;
  if (isinf(x)) return BT_EOVERFLOW;
  if (x == 0) {
    *out = 0;
    return BT_OK;
  }
  int exp2;
  double frac = frexp(fabs(x), &exp2); /* 0.5 <= frac < 1 */
  uint64_t m = (uint64_t)ldexp(frac, 53);
  int shift = exp2 - 53;
  u128 n = (u128)m * SCALE_U; /* < 2^80 */
  int negative = x < 0;
  if (shift >= 0) return BT_EOVERFLOW; /* |x| >= 2^53: raw >= 2^79 */
  int right = -shift;
  if (right > 100) { /* |x| * 10^8 < 2^80 / 2^101: rounds to zero */
    *out = 0;
    return BT_OK;
  }
  u128 q = n >> right, rest = n - (q << right), half = (u128)1 << (right - 1);
  if (q >> 64) return BT_EOVERFLOW;
  uint64_t mag = (uint64_t)q;
  int cmp_half = rest > half ? 1 : rest < half ? -1 : 0;
  mag += (uint64_t)round_bump(BT_ROUND_HALF_EVEN, negative, rest != 0, cmp_half,
                              mag);
  return from_mag(mag, negative, out);
}

/* Exact below 2^53 raw units (one IEEE division). Beyond, where the raw
 * value is exact in an x87 long double (64-bit mantissa), one long double
 * division then rounding to double is correct unless the long double lands
 * exactly halfway between two doubles (low 11 mantissa bits 0x400); that
 * rare case, and platforms without such a long double, use strtod. So do
 * low bits 0 (1 in 2048 on hardware, where the answer would be right): an
 * emulator without 80-bit arithmetic (valgrind computes long double as
 * double) always lands there, and its double-rounded quotient can be off. */
double bt_dec_to_double(bt_dec value) {
  const int64_t exact = INT64_C(1) << 53;
  if (value > -exact && value < exact) return (double)value / 1e8;
#if defined(__x86_64__) && LDBL_MANT_DIG == 64
  long double q = (long double)value / 1e8L;
  uint64_t mantissa;
  memcpy(&mantissa, &q, sizeof mantissa); /* x87: explicit 64-bit mantissa */
  if ((mantissa & 0x7ff) != 0x400 && (mantissa & 0x7ff) != 0)
    return (double)q;
#endif
  char buf[BT_DEC_FMT_MAX];
  bt_dec_format(value, buf);
  return strtod(buf, NULL);
}

/* ---- multiply and divide ----------------------------------------------- */

#if !defined(__x86_64__) || defined(BT_DEC_NO_DIVQ)
/* q = mag / 10^8 rounded half-even, for mag < 2^90 (callers check). */
static inline uint64_t div_scale_round(u128 mag) {
  uint64_t high = (uint64_t)(mag >> 32); /* < 2^58 */
  uint64_t low = (uint64_t)mag & UINT64_C(0xffffffff);
  uint64_t q_high = high / SCALE_U, r_high = high % SCALE_U;
  uint64_t mid = (r_high << 32) | low; /* < 10^8 * 2^32 < 2^59 */
  uint64_t q_low = mid / SCALE_U, rest = mid % SCALE_U;
  uint64_t q = (q_high << 32) + q_low;
  if (rest > HALF_SCALE || (rest == HALF_SCALE && (q & 1))) q++;
  return q;
}
#endif

/* (high:low) / d for high < d: one hardware 128/64 division on x86-64. */
static inline uint64_t div_128_64(uint64_t high, uint64_t low, uint64_t d,
                                  uint64_t *rest) {
#if defined(__x86_64__)
  uint64_t q, r;
  __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(low), "d"(high), "rm"(d) : "cc");
  *rest = r;
  return q;
#else
  u128 n = ((u128)high << 64) | low;
  u128 q = n / d;
  *rest = (uint64_t)(n - q * d);
  return (uint64_t)q;
#endif
}

int bt_dec_mul(bt_dec a, bt_dec b, bt_dec *out) {
  int64_t small;
  if (!__builtin_mul_overflow(a, b, &small)) {
    /* 64-bit path: |a*b| < 2^63, one division by a constant. */
    int64_t q = small / BT_DEC_SCALE, rest = small % BT_DEC_SCALE;
    int64_t twice = rest * 2;
    if (twice > BT_DEC_SCALE || (twice == BT_DEC_SCALE && (q & 1)))
      q++;
    else if (twice < -BT_DEC_SCALE || (twice == -BT_DEC_SCALE && (q & 1)))
      q--;
    *out = q;
    return BT_OK;
  }
  int negative = (a < 0) != (b < 0);
  u128 mag = (u128)mag_of(a) * mag_of(b);
  if (mag >> 90) return BT_EOVERFLOW; /* quotient >= 2^90 / 10^8 > 2^63 */
#if defined(__x86_64__) && !defined(BT_DEC_NO_DIVQ)
  uint64_t rest,
      q = div_128_64((uint64_t)(mag >> 64), (uint64_t)mag, SCALE_U, &rest);
  if (rest > HALF_SCALE || (rest == HALF_SCALE && (q & 1))) q++;
  return from_mag(q, negative, out);
#else
  return from_mag(div_scale_round(mag), negative, out);
#endif
}

/* Magnitude n / d rounded with mode (d > 0); BT_EOVERFLOW past limit. */
static inline int div_round(u128 n, uint64_t d, bt_round mode, int negative,
                            bt_dec *out) {
  uint64_t high = (uint64_t)(n >> 64), low = (uint64_t)n, q, rest;
  if (high == 0) {
    q = low / d;
    rest = low % d;
  } else {
    if (high >= d) return BT_EOVERFLOW; /* quotient >= 2^64 */
    q = div_128_64(high, low, d, &rest);
  }
  uint64_t other = d - rest; /* compare rest with d/2 without overflow */
  int cmp_half = rest > other ? 1 : rest < other ? -1 : 0;
  if (round_bump(mode, negative, rest != 0, cmp_half, q)) {
    if (q == UINT64_MAX) return BT_EOVERFLOW;
    q++;
  }
  return from_mag(q, negative, out);
}

int bt_dec_div(bt_dec a, bt_dec b, bt_dec *out) {
  if (b == 0) return BT_EDIVZERO;
  int negative = (a < 0) != (b < 0);
  u128 n = (u128)mag_of(a) * SCALE_U;
  return div_round(n, mag_of(b), BT_ROUND_HALF_EVEN, negative, out);
}

int bt_dec_mod(bt_dec a, bt_dec b, bt_dec *out) {
  if (b == 0) return BT_EDIVZERO;
  *out = b == -1 ? 0 : a % b; /* INT64_MIN % -1 traps in C */
  return BT_OK;
}

int bt_dec_neg(bt_dec a, bt_dec *out) {
  if (a == BT_DEC_MIN) return BT_EOVERFLOW;
  *out = -a;
  return BT_OK;
}

int bt_dec_abs(bt_dec a, bt_dec *out) {
  if (a == BT_DEC_MIN) return BT_EOVERFLOW;
  *out = a < 0 ? -a : a;
  return BT_OK;
}

int bt_dec_mul_int(bt_dec a, int64_t n, bt_dec *out) {
  return __builtin_mul_overflow(a, n, out) ? BT_EOVERFLOW : BT_OK;
}

int bt_dec_div_int(bt_dec a, int64_t n, bt_dec *out) {
  if (n == 0) return BT_EDIVZERO;
  int negative = (a < 0) != (n < 0);
  return div_round(mag_of(a), mag_of(n), BT_ROUND_HALF_EVEN, negative, out);
}

/* Rounds a to a multiple of unit; inlined per constant unit so that the
 * division becomes a multiply (a hardware divide costs ~4x more). */
static inline __attribute__((always_inline)) int
quantize_unit(bt_dec a, uint64_t unit, bt_round mode, bt_dec *out) {
  uint64_t mag = mag_of(a), q = mag / unit, rest = mag % unit;
  int cmp_half = rest * 2 > unit ? 1 : rest * 2 < unit ? -1 : 0;
  q += (uint64_t)round_bump(mode, a < 0, rest != 0, cmp_half, q);
  if (q > UINT64_MAX / unit) return BT_EOVERFLOW;
  return from_mag(q * unit, a < 0, out);
}

int bt_dec_quantize(bt_dec a, int places, bt_round mode, bt_dec *out) {
  if ((unsigned)mode > BT_ROUND_CEILING) return BT_EINVAL;
  switch (places) {
  case 0:
    return quantize_unit(a, POW10[8], mode, out);
  case 1:
    return quantize_unit(a, POW10[7], mode, out);
  case 2:
    return quantize_unit(a, POW10[6], mode, out);
  case 3:
    return quantize_unit(a, POW10[5], mode, out);
  case 4:
    return quantize_unit(a, POW10[4], mode, out);
  case 5:
    return quantize_unit(a, POW10[3], mode, out);
  case 6:
    return quantize_unit(a, POW10[2], mode, out);
  case 7:
    return quantize_unit(a, POW10[1], mode, out);
  case 8:
    *out = a;
    return BT_OK;
  default:
    return BT_EINVAL;
  }
}

/* floor(sqrt(n)) for n < 2^126: a double estimate, then exact correction. */
static uint64_t isqrt128(u128 n) {
  uint64_t s = (uint64_t)sqrt((double)n);
  while ((u128)s * s > n)
    s--;
  while ((u128)(s + 1) * (s + 1) <= n)
    s++;
  return s;
}

int bt_dec_sqrt(bt_dec a, bt_dec *out) {
  if (a < 0) return BT_EINVAL;
  /* sqrt(a * 10^-8) * 10^8 = sqrt(a * 10^8); no exact tie is possible for
   * an integer radicand, so round up iff n - s^2 > s. */
  u128 n = (u128)(uint64_t)a * SCALE_U;
  uint64_t s = isqrt128(n);
  if (n - (u128)s * s > s) s++;
  *out = (bt_dec)s;
  return BT_OK;
}

/* ---- accumulator ------------------------------------------------------- */

int bt_dec_acc_get(const bt_dec_acc *acc, bt_dec *out) {
  if (acc->sum > INT64_MAX || acc->sum < INT64_MIN) return BT_EOVERFLOW;
  *out = (bt_dec)acc->sum;
  return BT_OK;
}

int bt_dec_acc_mean(const bt_dec_acc *acc, int64_t n, bt_dec *out) {
  if (n == 0) return BT_EDIVZERO;
  int negative = (acc->sum < 0) != (n < 0);
  u128 mag = acc->sum < 0 ? -(u128)acc->sum : (u128)acc->sum;
  return div_round(mag, mag_of(n), BT_ROUND_HALF_EVEN, negative, out);
}

int bt_dec_ratio(bt_i128 num, uint64_t den, bt_dec *out) {
  if (den == 0) return BT_EDIVZERO;
  u128 mag = num < 0 ? -(u128)num : (u128)num;
  return div_round(mag, den, BT_ROUND_HALF_EVEN, num < 0, out);
}

/* ---- asset classes ----------------------------------------------------- */

static const struct {
  const char *name;
  bt_rounding rounding;
} CLASSES[BT_CLASS_COUNT] = {
    [BT_CLASS_EQUITY] = {"equity", {2, BT_ROUND_HALF_UP}},
    [BT_CLASS_CRYPTO] = {"crypto", {8, BT_ROUND_DOWN}},
    [BT_CLASS_FOREX] = {"forex", {5, BT_ROUND_HALF_EVEN}},
    [BT_CLASS_FUTURE] = {"future", {2, BT_ROUND_HALF_UP}},
    [BT_CLASS_INDEX] = {"index", {2, BT_ROUND_HALF_EVEN}},
};

bt_rounding bt_class_rounding(bt_asset_class cls) {
  if ((unsigned)cls >= BT_CLASS_COUNT) cls = BT_CLASS_EQUITY;
  return CLASSES[cls].rounding;
}

int bt_class_from_name(const char *name) {
  if (name == NULL) return -1;
  for (int i = 0; i < BT_CLASS_COUNT; i++)
    if (strcmp(name, CLASSES[i].name) == 0) return i;
  return -1;
}

const char *bt_class_name(bt_asset_class cls) {
  if ((unsigned)cls >= BT_CLASS_COUNT) return "?";
  return CLASSES[cls].name;
}
