/* synth.h: deterministic synthetic OHLCV bundles (seeded geometric Brownian
 * motion). Integer arithmetic only (xoshiro256** seeded by splitmix64,
 * Irwin-Hall normals, a fixed-point exp), so the same parameters give the
 * same bytes in every build and on every platform. */
#ifndef BT_SYNTH_H
#define BT_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "dec.h"
#include "err.h"

/* Bumped whenever the generated values change; part of the cache key. */
#define BT_SYNTH_VERSION 1
#define BT_SYNTH_MAX_ASSETS 10000

typedef struct bt_synth_params {
  int assets;            /* 1..BT_SYNTH_MAX_ASSETS */
  const char *frequency; /* "daily", "hourly", "minute", "Nmin", "Nh" */
  int64_t start_ns;      /* the UTC day of start_ns is the first day */
  int64_t end_ns;        /* the UTC day of end_ns is the last day */
  const char *calendar;  /* "24/7", "weekdays", "XNYS" */
  uint64_t seed;
  bt_asset_class asset_class;
} bt_synth_params;

/* Generates the bundle at path (temp file + rename).
 * Symbols are "SYN000", "SYN001", ... (five digits past 1000 assets);
 * prices are whole cents (price_places 2) starting between 20 and 500,
 * annual volatility 15-60% (crypto 40-100%); every bar has
 * low <= min(open, close), high >= max(open, close), low >= 0.01; open is
 * the previous close; volumes are whole units that grow with |return|. */
int bt_synth_write(const bt_synth_params *p, const char *path, bt_err *err);

/* The cache file name for these parameters (all of them and the generator
 * version), e.g. "synth-v1-10a-minute-2024-01-01-2024-01-31-24x7-s3-crypto
 * .btb" (no directory). BT_EINVAL when a parameter is invalid. */
int bt_synth_cache_name(const bt_synth_params *p, char *buf, size_t size,
                        bt_err *err);

/* The PRNG, exposed for tests: splitmix64 step and xoshiro256**. */
typedef struct bt_rng {
  uint64_t s[4];
} bt_rng;
void bt_rng_seed(bt_rng *rng, uint64_t seed);
uint64_t bt_rng_next(bt_rng *rng);
/* A standard normal deviate in Q32 fixed point (value * 2^32), from the sum
 * of twelve 16-bit uniforms (Irwin-Hall: mean 0, variance 1, |z| < 6). */
int64_t bt_rng_normal_q32(bt_rng *rng);

#endif
