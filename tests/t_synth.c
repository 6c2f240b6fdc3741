/* t_synth.c: synthetic bundles are byte-identical for the same parameters
 * (and equal to golden values, so every build agrees), differ by seed, obey
 * the OHLC rules at every bar, and the PRNG/normal behave. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "calendar.h"
#include "store.h"
#include "synth.h"
#include "tap.h"

static char dir[64]; /* a scratch directory, in memory when possible */

static unsigned char *read_all(const char *where, size_t *len) {
  FILE *f = fopen(where, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc(*len);
  if (fread(data, 1, *len, f) != *len) *len = 0;
  fclose(f);
  return data;
}

static bt_synth_params daily_params(uint64_t seed) {
  bt_synth_params p = {
      .assets = 5,
      .frequency = "daily",
      .start_ns = bt_days_from_civil(2020, 1, 1) * BT_NS_PER_DAY,
      .end_ns = bt_days_from_civil(2023, 12, 31) * BT_NS_PER_DAY,
      .calendar = "XNYS",
      .seed = seed,
      .asset_class = BT_CLASS_EQUITY,
  };
  return p;
}

static int write_to(const bt_synth_params *p, const char *name, char *path) {
  bt_err err = {0};
  snprintf(path, 300, "%s/%s", dir, name);
  int rc = bt_synth_write(p, path, &err);
  if (rc) diag("%s", err.msg);
  return rc;
}

static void test_determinism(void) {
  char a[300], b[300], c[300];
  bt_synth_params p = daily_params(42);
  is_int(write_to(&p, "a.btb", a), 0, "generate");
  is_int(write_to(&p, "b.btb", b), 0, "generate again");
  p.seed = 43;
  is_int(write_to(&p, "c.btb", c), 0, "generate with another seed");
  size_t la, lb, lc;
  unsigned char *da = read_all(a, &la), *db = read_all(b, &lb),
                *dc = read_all(c, &lc);
  ok(la == lb && memcmp(da, db, la) == 0, "same parameters: same bytes");
  ok(la == lc && memcmp(da + 4096, dc + 4096, la - 4096) != 0,
     "different seed: different values");
  free(da);
  free(db);
  free(dc);
}

static void test_bars(void) {
  char path[300];
  bt_synth_params p = daily_params(42);
  write_to(&p, "a.btb", path);
  bt_store *s;
  bt_err err = {0};
  if (!ok(bt_store_open_ex(path, BT_STORE_VERIFY, &s, &err) == 0,
          "opens and verifies")) {
    diag("%s", err.msg);
    return;
  }
  is_int(bt_store_session_count(s), 1006, "XNYS 2020-2023: 1006 sessions");
  is_int(bt_store_asset_count(s), 5, "5 assets");
  is_str(bt_store_symbol(s, 4), "SYN004", "symbols SYN000..");
  is_str(bt_store_calendar(s), "XNYS", "calendar recorded");
  is_str(bt_store_frequency(s), "daily", "frequency recorded");
  is_int(bt_store_price_places(s, 0), 2, "whole cents");
  long bad = 0, not_cents = 0, gaps = 0, zero_volume = 0;
  for (size_t a = 0; a < 5; a++) {
    const bt_dec *o = bt_store_column(s, a, BT_FIELD_OPEN);
    const bt_dec *h = bt_store_column(s, a, BT_FIELD_HIGH);
    const bt_dec *l = bt_store_column(s, a, BT_FIELD_LOW);
    const bt_dec *c = bt_store_column(s, a, BT_FIELD_CLOSE);
    const bt_dec *v = bt_store_column(s, a, BT_FIELD_VOLUME);
    for (size_t i = 0; i < 1006; i++) {
      bad += !(l[i] > 0 && l[i] <= bt_dec_min(o[i], c[i]) &&
               h[i] >= bt_dec_max(o[i], c[i]) && v[i] >= 0);
      not_cents += o[i] % 1000000 || h[i] % 1000000 || l[i] % 1000000 ||
                   c[i] % 1000000 || v[i] % BT_DEC_SCALE;
      gaps += i > 0 && o[i] != c[i - 1];
      zero_volume += v[i] == 0;
    }
  }
  is_int(bad, 0, "every bar obeys low <= min(o,c), high >= max(o,c), > 0");
  is_int(not_cents, 0, "whole-cent prices, whole volumes");
  is_int(gaps, 0, "open is the previous close");
  is_int(zero_volume, 0, "every bar has volume");
  /* Golden values: these pin the generator; every build must agree. */
  is_int(bt_store_column(s, 0, BT_FIELD_CLOSE)[0], 41713000000, "golden: first close");
  is_int(bt_store_column(s, 3, BT_FIELD_CLOSE)[1005], 2398000000,
         "golden: last close of SYN003");
  is_int(bt_store_column(s, 2, BT_FIELD_VOLUME)[500], 190796800000000,
         "golden: a volume");
  is_int((long long)bt_store_data_checksum(s), 9063207673904550118LL,
         "golden: data checksum");
  bt_store_close(s);
}

static void test_rng(void) {
  bt_rng rng;
  bt_rng_seed(&rng, 1);
  is_int((long long)bt_rng_next(&rng), -5480124913605472059LL,
         "golden: xoshiro256** first draw");
  double sum = 0, sum_sq = 0;
  long beyond_3 = 0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    double z = (double)bt_rng_normal_q32(&rng) / 4294967296.0;
    sum += z;
    sum_sq += z * z;
    beyond_3 += z > 3 || z < -3;
  }
  is_double(sum / n, 0, 0.01, "normal: mean ~ 0");
  is_double(sum_sq / n, 1, 0.02, "normal: variance ~ 1");
  ok(beyond_3 > 100 && beyond_3 < 1000, "normal: some 3-sigma tails (%ld)",
     beyond_3);
}

static void test_params(void) {
  bt_synth_params p = daily_params(3);
  bt_err err = {0};
  char name[200];
  is_int(bt_synth_cache_name(&p, name, sizeof name, &err), 0, "cache name");
  is_str(name, "synth-v1-b2-5a-daily-2020-01-01-2023-12-31-XNYS-s3-equity.btb",
         "cache name has every parameter");
  p.calendar = "24/7";
  p.frequency = "1m";
  p.asset_class = BT_CLASS_CRYPTO;
  bt_synth_cache_name(&p, name, sizeof name, &err);
  is_str(name, "synth-v1-b2-5a-minute-2020-01-01-2023-12-31-24x7-s3-crypto.btb",
         "frequency canonical, 24/7 spelled 24x7");
  p.assets = 0;
  char path[300];
  is_int(write_to(&p, "bad.btb", path), BT_EINVAL, "0 assets refused");
  bt_synth_write(&p, path, &err);
  is_str(err.msg, "synthetic: assets must be 1..10000, not 0",
         "assets message");
  p.assets = 2;
  p.calendar = "moon";
  bt_synth_write(&p, path, &err);
  is_str(err.msg, "synthetic: unknown calendar 'moon' (expected 24/7, "
         "weekdays or XNYS)", "calendar message");
}

static void test_minute(void) {
  bt_synth_params p = {.assets = 3, .frequency = "minute",
                       .start_ns = bt_days_from_civil(2024, 1, 1) *
                                   BT_NS_PER_DAY,
                       .end_ns = bt_days_from_civil(2024, 1, 31) *
                                 BT_NS_PER_DAY,
                       .calendar = "24/7", .seed = 3,
                       .asset_class = BT_CLASS_CRYPTO};
  char path[300];
  is_int(write_to(&p, "m.btb", path), 0, "minute bundle");
  bt_store *s;
  bt_err err = {0};
  if (bt_store_open_ex(path, BT_STORE_VERIFY, &s, &err) != 0) {
    ok(0, "%s", err.msg);
    return;
  }
  is_int(bt_store_session_count(s), 44640, "44,640 minute sessions");
  is_int(bt_store_asset_class(s, 0), BT_CLASS_CRYPTO, "crypto class");
  const bt_dec *c = bt_store_column(s, 1, BT_FIELD_CLOSE);
  long moved = 0;
  for (size_t i = 1; i < 44640; i++) moved += c[i] != c[i - 1];
  ok(moved > 20000, "prices move most minutes (%ld of 44639)", moved);
  bt_store_close(s);
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/btlua-t_synth.XXXXXX",
           access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  if (mkdtemp(dir) == NULL) return 1;
  test_determinism();
  test_bars();
  test_rng();
  test_params();
  test_minute();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) diag("could not remove %s", dir);
  return done_testing();
}
