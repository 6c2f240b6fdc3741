/* synth.c: the synthetic OHLCV generator (seeded GBM in integer fixed
 * point; see synth.h). Values are in 10^-8 units (bt_dec); Q32 numbers are
 * value * 2^32 in an int64. Each asset draws from its own PRNG stream, so
 * an asset's bars depend only on (seed, asset index, sessions). */
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "store.h"

#define Q32_ONE (INT64_C(1) << 32)
#define CENT (BT_DEC_SCALE / 100) /* 10^-8 units per cent */
#define MIN_PRICE BT_DEC_SCALE    /* the path is floored at 1.00 */

/* ---- PRNG ---- */

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

void bt_rng_seed(bt_rng *rng, uint64_t seed) {
  uint64_t state = seed;
  for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&state);
}

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t bt_rng_next(bt_rng *rng) {
  uint64_t *s = rng->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

int64_t bt_rng_normal_q32(bt_rng *rng) {
  int64_t sum = 0;
  for (int i = 0; i < 3; i++) {
    uint64_t r = bt_rng_next(rng);
    sum += (int64_t)(r & 0xFFFF) + (int64_t)((r >> 16) & 0xFFFF) +
           (int64_t)((r >> 32) & 0xFFFF) + (int64_t)(r >> 48);
  }
  /* twelve uniforms on [0, 1) in 2^-16 steps: sum - 6 is ~N(0, 1) */
  return (sum - 6 * 65536) * 65536;
}

/* Uniform integer in [lo, hi). */
static int64_t rng_range(bt_rng *rng, int64_t lo, int64_t hi) {
  return lo + (int64_t)(bt_rng_next(rng) % (uint64_t)(hi - lo));
}

/* ---- fixed point ---- */

static inline int64_t mul_q32(int64_t a, int64_t b) {
  return (int64_t)(((bt_i128)a * b) >> 32);
}

/* exp(r) for a small Q32 r (|r| < 1), Taylor series to the 8th term. */
static int64_t exp_q32(int64_t r) {
  int64_t sum = Q32_ONE, term = Q32_ONE;
  for (int k = 1; k <= 8; k++) {
    term = mul_q32(term, r) / k;
    sum += term;
  }
  return sum;
}

static uint64_t isqrt64(uint64_t n) {
  uint64_t root = 0, bit = UINT64_C(1) << 62;
  while (bit > n) bit >>= 2;
  while (bit) {
    if (n >= root + bit) {
      n -= root + bit;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
    bit >>= 2;
  }
  return root;
}

/* ---- one asset ---- */

typedef struct asset_model {
  int64_t price;       /* the GBM path, 10^-8 units */
  int64_t sigma_q32;   /* per-bar volatility */
  int64_t drift_q32;   /* per-bar log drift (-sigma^2 / 2: no trend) */
  int64_t base_volume; /* whole units per bar */
} asset_model;

typedef struct bar_shape {
  int64_t bars_per_year, bars_per_day;
} bar_shape;

static asset_model model_for(bt_rng *rng, const bt_synth_params *p,
                             bar_shape shape) {
  asset_model m;
  int crypto = p->asset_class == BT_CLASS_CRYPTO;
  m.price = rng_range(rng, 2000, 50000) * CENT;
  int64_t vol_bp = crypto ? rng_range(rng, 4000, 10000)
                          : rng_range(rng, 1500, 6000);
  /* sigma_bar = vol / sqrt(bars_per_year); sqrt in Q16 */
  uint64_t sqrt_q16 = isqrt64((uint64_t)shape.bars_per_year << 32);
  m.sigma_q32 =
      (int64_t)(((bt_i128)vol_bp << 48) / ((bt_i128)10000 * sqrt_q16));
  m.drift_q32 = -mul_q32(m.sigma_q32, m.sigma_q32) / 2;
  int64_t per_day = rng_range(rng, 100000, 1000000);
  m.base_volume = per_day / shape.bars_per_day;
  if (m.base_volume < 10) m.base_volume = 10;
  return m;
}

static int64_t to_cents(int64_t price) {
  int64_t cents = (price + CENT / 2) / CENT * CENT;
  return cents < CENT ? CENT : cents;
}

static int64_t abs64(int64_t x) { return x < 0 ? -x : x; }

/* A wick below/above the body: |z| * sigma * price / 2, whole cents. */
static int64_t wick(bt_rng *rng, const asset_model *m) {
  int64_t scaled = mul_q32(m->price, m->sigma_q32);
  return mul_q32(scaled, abs64(bt_rng_normal_q32(rng))) / 2 / CENT * CENT;
}

static void generate_asset(bt_rng *rng, asset_model *m, bt_dec *cols[],
                           size_t sessions) {
  int64_t prev_close = to_cents(m->price);
  for (size_t i = 0; i < sessions; i++) {
    int64_t z = bt_rng_normal_q32(rng);
    int64_t r = m->drift_q32 + mul_q32(m->sigma_q32, z);
    m->price = (int64_t)(((bt_i128)m->price * exp_q32(r)) >> 32);
    if (m->price < MIN_PRICE) m->price = MIN_PRICE;
    int64_t open = prev_close, close = to_cents(m->price);
    int64_t high = (open > close ? open : close) + wick(rng, m);
    int64_t low = (open < close ? open : close) - wick(rng, m);
    if (low < CENT) low = CENT;
    /* volume: base * (1 + 2|z|) * uniform[0.5, 1.5) */
    int64_t shape_q32 = Q32_ONE + 2 * abs64(z);
    int64_t noise_q32 = Q32_ONE / 2 + (int64_t)(bt_rng_next(rng) >> 32);
    int64_t volume = mul_q32(mul_q32(m->base_volume, shape_q32), noise_q32);
    cols[BT_FIELD_OPEN][i] = open;
    cols[BT_FIELD_HIGH][i] = high;
    cols[BT_FIELD_LOW][i] = low;
    cols[BT_FIELD_CLOSE][i] = close;
    cols[BT_FIELD_VOLUME][i] = volume * BT_DEC_SCALE;
    prev_close = close;
  }
}

/* ---- parameters ---- */

static int check_params(const bt_synth_params *p, int64_t *step,
                        bt_err *err) {
  if (p->assets < 1 || p->assets > BT_SYNTH_MAX_ASSETS)
    return bt_err_set(err, BT_EINVAL,
                      "synthetic: assets must be 1..%d, not %d",
                      BT_SYNTH_MAX_ASSETS, p->assets);
  if ((unsigned)p->asset_class >= BT_CLASS_COUNT)
    return bt_err_set(err, BT_EINVAL, "synthetic: bad asset class");
  int rc = bt_calendar_check(p->calendar, err);
  if (rc == BT_OK) rc = bt_frequency_parse(p->frequency, step, err);
  if (rc != BT_OK) {
    bt_err_prefix(err, "synthetic");
    return rc;
  }
  if (bt_floor_div(p->end_ns, BT_NS_PER_DAY) <
      bt_floor_div(p->start_ns, BT_NS_PER_DAY))
    return bt_err_set(err, BT_EINVAL, "synthetic: end before start");
  return BT_OK;
}

static bar_shape shape_for(const bt_synth_params *p, int64_t step) {
  bar_shape shape;
  int64_t day_length = BT_NS_PER_DAY, days = 365;
  if (strcmp(p->calendar, "weekdays") == 0) days = 261;
  if (strcmp(p->calendar, "XNYS") == 0) {
    days = 252;
    day_length = (6 * 3600 + 1800) * BT_NS_PER_SEC;
  }
  shape.bars_per_day =
      step >= BT_NS_PER_DAY ? 1 : (day_length + step - 1) / step;
  shape.bars_per_year = days * shape.bars_per_day;
  return shape;
}

static void symbol_for(int index, int assets, char *buf) {
  snprintf(buf, 16, assets > 1000 ? "SYN%05d" : "SYN%03d", index);
}

int bt_synth_write(const bt_synth_params *p, const char *path, bt_err *err) {
  int64_t step;
  int rc = check_params(p, &step, err);
  if (rc != BT_OK) return rc;
  int64_t *sessions;
  size_t session_count;
  rc = bt_calendar_sessions(p->calendar, p->frequency, p->start_ns, p->end_ns,
                            &sessions, &session_count, err);
  if (rc != BT_OK) {
    bt_err_prefix(err, "synthetic");
    return rc;
  }
  char (*symbols)[16] = malloc((size_t)p->assets * sizeof *symbols);
  bt_store_asset *assets = malloc((size_t)p->assets * sizeof *assets);
  if (symbols == NULL || assets == NULL) {
    free(symbols);
    free(assets);
    free(sessions);
    return bt_err_set(err, BT_ENOMEM, "synthetic: out of memory");
  }
  for (int a = 0; a < p->assets; a++) {
    symbol_for(a, p->assets, symbols[a]);
    assets[a] = (bt_store_asset){symbols[a], p->asset_class, 2};
  }
  char frequency[BT_FREQUENCY_NAME_MAX];
  bt_frequency_name(step, frequency);
  bt_store_writer *w;
  rc = bt_store_writer_open(path, frequency, p->calendar, assets,
                            (size_t)p->assets, sessions, session_count, &w,
                            err);
  free(sessions);
  free(symbols);
  free(assets);
  if (rc != BT_OK) return rc;
  bar_shape shape = shape_for(p, step);
  for (int a = 0; a < p->assets; a++) {
    bt_rng rng;
    bt_rng_seed(&rng, p->seed ^ ((uint64_t)(a + 1) * UINT64_C(0xD1B54A32D192ED03)));
    asset_model m = model_for(&rng, p, shape);
    bt_dec *cols[BT_FIELD_COUNT];
    for (int f = 0; f < BT_FIELD_COUNT; f++)
      cols[f] = bt_store_writer_column(w, (size_t)a, (bt_field)f);
    generate_asset(&rng, &m, cols, session_count);
  }
  return bt_store_writer_commit(w, err);
}

/* "2024-01-31" for a midnight, else the ns count. */
static void day_text(int64_t ns, char *buf) {
  if (ns % BT_NS_PER_DAY == 0) {
    int y, m, d;
    bt_civil_from_days(ns / BT_NS_PER_DAY, &y, &m, &d);
    snprintf(buf, 32, "%04d-%02d-%02d", y, m, d);
  } else {
    snprintf(buf, 32, "%lld", (long long)ns);
  }
}

int bt_synth_cache_name(const bt_synth_params *p, char *buf, size_t size,
                        bt_err *err) {
  int64_t step;
  int rc = check_params(p, &step, err);
  if (rc != BT_OK) return rc;
  char frequency[BT_FREQUENCY_NAME_MAX], start[32], end[32];
  bt_frequency_name(step, frequency);
  day_text(p->start_ns, start);
  day_text(p->end_ns, end);
  const char *calendar = strcmp(p->calendar, "24/7") == 0 ? "24x7"
                                                          : p->calendar;
  /* Both versions in the name: builds that read different bundle formats
   * can share one cache directory without re-creating each other's files. */
  int len = snprintf(buf, size, "synth-v%d-b%d-%da-%s-%s-%s-%s-s%llu-%s.btb",
                     BT_SYNTH_VERSION, BT_STORE_VERSION, p->assets, frequency,
                     start, end,
                     calendar, (unsigned long long)p->seed,
                     bt_class_name(p->asset_class));
  if (len < 0 || (size_t)len >= size)
    return bt_err_set(err, BT_ERANGE, "synthetic: cache name too long");
  return BT_OK;
}
