/* t_store.c: bundles written and read back exactly; damaged, truncated,
 * wrong-version, wrong-magic and absurd-size files refused with a clear
 * message; the writer never leaves a temp file behind. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "calendar.h"
#include "store.h"
#include "synth.h"
#include "tap.h"

static char dir[64]; /* a scratch directory, in memory when possible */
static char path[256];

static const int64_t SESSIONS[3] = {INT64_C(1704067200000000000),
                                    INT64_C(1704153600000000000),
                                    INT64_C(1704240000000000000)};

/* Two assets, three sessions; asset 1 misses the middle bar. */
static int write_sample(const char *where) {
  bt_store_asset assets[2] = {{"AAPL", BT_CLASS_EQUITY, 2},
                              {"BTC/USDT", BT_CLASS_CRYPTO, 8}};
  bt_store_writer *w;
  bt_err err = {0};
  int rc = bt_store_writer_open(where, "daily", "", assets, 2, SESSIONS, 3,
                                &w, &err);
  if (rc) {
    diag("%s", err.msg);
    return rc;
  }
  for (int a = 0; a < 2; a++)
    for (int i = 0; i < 3; i++) {
      if (a == 1 && i == 1) continue;
      int64_t base = (a + 1) * INT64_C(10000000000) + i * 100;
      bt_store_writer_column(w, a, BT_FIELD_OPEN)[i] = base;
      bt_store_writer_column(w, a, BT_FIELD_HIGH)[i] = base + 50;
      bt_store_writer_column(w, a, BT_FIELD_LOW)[i] = base - 50;
      bt_store_writer_column(w, a, BT_FIELD_CLOSE)[i] = base + 12345678901;
      bt_store_writer_column(w, a, BT_FIELD_HIGH)[i] = base + 12345678901;
      bt_store_writer_column(w, a, BT_FIELD_VOLUME)[i] = i * BT_DEC_SCALE;
    }
  return bt_store_writer_commit(w, &err);
}

static int count_files(void) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void test_round_trip(void) {
  is_int(write_sample(path), 0, "writer commits");
  is_int(count_files(), 1, "only the bundle is left in the directory");
  bt_store *s;
  bt_err err = {0};
  if (!ok(bt_store_open_ex(path, BT_STORE_VERIFY, &s, &err) == 0,
          "opens and verifies")) {
    diag("%s", err.msg);
    return;
  }
  is_int(bt_store_asset_count(s), 2, "asset count");
  is_int(bt_store_session_count(s), 3, "session count");
  is_str(bt_store_frequency(s), "daily", "frequency");
  is_str(bt_store_calendar(s), "", "calendar from data");
  is_str(bt_store_symbol(s, 1), "BTC/USDT", "symbol");
  is_int(bt_store_asset_class(s, 1), BT_CLASS_CRYPTO, "asset class");
  is_int(bt_store_price_places(s, 1), 8, "price places");
  is_int(bt_store_bar_count(s, 0), 3, "bars of asset 0");
  is_int(bt_store_bar_count(s, 1), 2, "bars of asset 1 (one missing)");
  is_int(bt_store_find(s, "BTC/USDT"), 1, "find symbol");
  is_int(bt_store_find(s, "MSFT"), -1, "find absent symbol");
  is_int(bt_store_sessions(s)[2], SESSIONS[2], "session time");
  is_int(bt_store_session_find(s, SESSIONS[0] - 1), -1, "before the first");
  is_int(bt_store_session_find(s, SESSIONS[0]), 0, "at the first");
  is_int(bt_store_session_find(s, SESSIONS[1] + 1), 1, "inside the second");
  is_int(bt_store_session_find(s, INT64_MAX), 2, "after the last");
  is_int(bt_store_column(s, 1, BT_FIELD_CLOSE)[2],
         2 * INT64_C(10000000000) + 200 + 12345678901, "close exact");
  is_int(bt_store_column(s, 1, BT_FIELD_OPEN)[1], BT_BAR_MISSING,
         "missing bar marked");
  is_int(bt_store_column(s, 1, BT_FIELD_VOLUME)[1], BT_BAR_MISSING,
         "missing bar: every field");
  ok(bt_store_column(s, 2, BT_FIELD_OPEN) == NULL, "bad asset index -> NULL");
  ok((uintptr_t)bt_store_column(s, 0, BT_FIELD_OPEN) % 64 == 0,
     "columns are 64-byte aligned");
  bt_store_close(s);
}

static void write_bytes(const char *where, const unsigned char *data,
                        size_t len) {
  FILE *f = fopen(where, "wb");
  fwrite(data, 1, len, f);
  fclose(f);
}

static unsigned char *read_all(const char *where, size_t *len) {
  FILE *f = fopen(where, "rb");
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc(*len);
  if (fread(data, 1, *len, f) != *len) *len = 0;
  fclose(f);
  return data;
}

/* Opens `where` (optionally verifying) and expects a refusal. */
static void refused(const char *where, int flags, const char *want,
                    const char *name) {
  bt_store *s = NULL;
  bt_err err = {0};
  int rc = bt_store_open_ex(where, flags, &s, &err);
  ok(rc != 0 && s == NULL, "%s: refused", name);
  char expected[600];
  snprintf(expected, sizeof expected, "%s: %s", where, want);
  is_str(err.msg, expected, "%s: message", name);
  if (s) bt_store_close(s);
}

static void test_damage(void) {
  size_t len;
  unsigned char *good = read_all(path, &len);
  unsigned char *bad = malloc(len);
  char other[300];
  snprintf(other, sizeof other, "%s/bad.btb", dir);

  write_bytes(other, good, 100);
  refused(other, 0, "not a btlua bundle (only 100 bytes)", "cut header");
  write_bytes(other, good, len - 8);
  refused(other, 0, "truncated or damaged bundle (552 bytes, header says "
          "560)", "cut columns");
  memcpy(bad, good, len);
  bad[0] = 'X';
  write_bytes(other, bad, len);
  refused(other, 0, "not a btlua bundle (bad magic)", "wrong magic");
  memcpy(bad, good, len);
  bad[8] = 1; /* version 1: the hand-written hash of earlier releases */
  write_bytes(other, bad, len);
  refused(other, 0, "bundle format version 1, this btlua reads version 2 "
          "(re-create it)", "wrong version");
  memcpy(bad, good, len);
  bad[32 + 7] = 0x40; /* file_size: huge */
  write_bytes(other, bad, len);
  refused(other, 0, "corrupt bundle header", "huge declared file size");
  memcpy(bad, good, len);
  bad[40 + 6] = 0x7f; /* asset_count: huge */
  write_bytes(other, bad, len);
  refused(other, 0, "corrupt bundle header", "huge declared asset count");
  memcpy(bad, good, len);
  bad[128 + 1] ^= 1; /* a symbol byte */
  write_bytes(other, bad, len);
  refused(other, 0, "corrupt bundle (header checksum mismatch)",
          "flipped byte in the asset table");
  memcpy(bad, good, len);
  bad[88] ^= 1; /* frequency text */
  write_bytes(other, bad, len);
  refused(other, 0, "corrupt bundle (header checksum mismatch)",
          "flipped byte in the header");
  memcpy(bad, good, len);
  bad[len - 20] ^= 0x10; /* a column byte */
  write_bytes(other, bad, len);
  refused(other, BT_STORE_VERIFY, "corrupt bundle (data checksum mismatch)",
          "flipped byte in a column (verified open)");
  bt_store *s;
  bt_err err = {0};
  ok(bt_store_open(other, &s, &err) == 0,
     "a column byte is only checked by verify (open stays O(1))");
  is_int(bt_store_verify(s, &err), BT_EFORMAT, "verify finds it");
  bt_store_close(s);
  write_bytes(other, good, 0);
  refused(other, 0, "not a btlua bundle (only 0 bytes)", "empty file");
  snprintf(other, sizeof other, "%s/absent.btb", dir);
  refused(other, 0, "cannot open bundle: No such file or directory",
          "absent file");
  free(good);
  free(bad);
}


/* Every truncation and every single-bit flip of the header and asset table
 * is refused (and, under ASan, never read out of bounds). */
static void test_every_damage(void) {
  size_t len;
  unsigned char *good = read_all(path, &len);
  unsigned char *bad = malloc(len);
  char other[300];
  snprintf(other, sizeof other, "%s/every.btb", dir);
  int accepted = 0;
  for (size_t cut = 0; cut < len; cut++) {
    write_bytes(other, good, cut);
    bt_store *s = NULL;
    if (bt_store_open(other, &s, NULL) == 0) {
      accepted++;
      bt_store_close(s);
    }
  }
  is_int(accepted, 0, "all %zu truncations refused", len);
  accepted = 0;
  size_t meta_end = 128 + 2 * 64;
  for (size_t at = 0; at < meta_end; at++)
    for (int bit = 0; bit < 8; bit++) {
      memcpy(bad, good, len);
      bad[at] ^= (unsigned char)(1 << bit);
      write_bytes(other, bad, len);
      bt_store *s = NULL;
      if (bt_store_open(other, &s, NULL) == 0) {
        accepted++;
        bt_store_close(s);
      }
    }
  is_int(accepted, 0, "all %zu bit flips in header and asset table refused",
         meta_end * 8);
  accepted = 0;
  for (size_t at = meta_end; at < len; at++) {
    memcpy(bad, good, len);
    bad[at] ^= 0x01;
    write_bytes(other, bad, len);
    bt_store *s = NULL;
    if (bt_store_open_ex(other, BT_STORE_VERIFY, &s, NULL) == 0) {
      accepted++;
      bt_store_close(s);
    }
  }
  is_int(accepted, 0, "all %zu bit flips after the table refused by a "
         "verified open", len - meta_end);
  free(good);
  free(bad);
}


/* Minute XNYS bars resampled to hourly and daily equal a naive
 * recomputation over each bucket. */
static void test_aggregate(void) {
  char minute[300], hourly[300], daily[300];
  snprintf(minute, sizeof minute, "%s/minute.btb", dir);
  snprintf(hourly, sizeof hourly, "%s/hourly.btb", dir);
  snprintf(daily, sizeof daily, "%s/daily.btb", dir);
  bt_synth_params p = {.assets = 2, .frequency = "minute",
                       .start_ns = bt_days_from_civil(2024, 3, 8) *
                                   BT_NS_PER_DAY,
                       .end_ns = bt_days_from_civil(2024, 3, 11) *
                                 BT_NS_PER_DAY,
                       .calendar = "XNYS", .seed = 5};
  bt_err err = {0};
  bt_store *m, *h, *d;
  if (bt_synth_write(&p, minute, &err) || bt_store_open(minute, &m, &err) ||
      bt_store_aggregate(m, "hourly", hourly, &err) ||
      bt_store_aggregate(m, "daily", daily, &err) ||
      bt_store_open_ex(hourly, BT_STORE_VERIFY, &h, &err) ||
      bt_store_open_ex(daily, BT_STORE_VERIFY, &d, &err)) {
    ok(0, "aggregate: %s", err.msg);
    return;
  }
  is_int(bt_store_session_count(m), 780, "two XNYS days of minutes");
  is_int(bt_store_session_count(h), 14, "7 hourly buckets a day");
  is_str(bt_store_frequency(h), "hourly", "frequency name");
  is_str(bt_store_calendar(h), "XNYS", "calendar kept");
  char text[40];
  bt_time_format(bt_store_sessions(h)[6], text);
  is_str(text, "2024-03-08T20:30:00Z", "last hourly bucket 15:30 EST");
  bt_time_format(bt_store_sessions(h)[7], text);
  is_str(text, "2024-03-11T13:30:00Z", "first bucket after DST 09:30 EDT");
  is_int(bt_store_session_count(d), 2, "two daily bars");
  bt_time_format(bt_store_sessions(d)[1], text);
  is_str(text, "2024-03-11T13:30:00Z", "daily bar stamped at the open");
  long mismatches = 0;
  for (size_t a = 0; a < 2; a++)
    for (size_t b = 0; b < 14; b++) {
      size_t first = (b / 7) * 390 + (b % 7) * 60;
      size_t last = b % 7 == 6 ? first + 29 : first + 59;
      bt_dec hi = INT64_MIN, lo = INT64_MAX, vol = 0;
      for (size_t i = first; i <= last; i++) {
        hi = bt_dec_max(hi, bt_store_column(m, a, BT_FIELD_HIGH)[i]);
        lo = bt_dec_min(lo, bt_store_column(m, a, BT_FIELD_LOW)[i]);
        vol += bt_store_column(m, a, BT_FIELD_VOLUME)[i];
      }
      mismatches +=
          bt_store_column(h, a, BT_FIELD_OPEN)[b] !=
              bt_store_column(m, a, BT_FIELD_OPEN)[first] ||
          bt_store_column(h, a, BT_FIELD_CLOSE)[b] !=
              bt_store_column(m, a, BT_FIELD_CLOSE)[last] ||
          bt_store_column(h, a, BT_FIELD_HIGH)[b] != hi ||
          bt_store_column(h, a, BT_FIELD_LOW)[b] != lo ||
          bt_store_column(h, a, BT_FIELD_VOLUME)[b] != vol;
    }
  is_int(mismatches, 0, "every hourly bar = naive recomputation");
  is_int(bt_store_column(d, 1, BT_FIELD_CLOSE)[1],
         bt_store_column(m, 1, BT_FIELD_CLOSE)[779], "daily close = last");
  is_int(bt_store_aggregate(h, "7min", daily, &err), BT_EINVAL,
         "7min from hourly refused");
  bt_store_close(m);
  bt_store_close(h);
  bt_store_close(d);
  /* a missing bar stays missing; a bucket with one bar takes it */
  bt_store *sample;
  char weekly[300];
  snprintf(weekly, sizeof weekly, "%s/agg.btb", dir);
  bt_store_open(path, &sample, &err);
  is_int(bt_store_aggregate(sample, "daily", weekly, &err), 0,
         "daily to daily");
  bt_store_open(weekly, &d, &err);
  is_int(bt_store_column(d, 1, BT_FIELD_OPEN)[1], BT_BAR_MISSING,
         "missing bar kept");
  bt_store_close(d);
  bt_store_close(sample);
}

static void test_writer_errors(void) {
  char where[300];
  snprintf(where, sizeof where, "%s/abort.btb", dir);
  bt_store_asset asset = {"X", BT_CLASS_EQUITY, 2};
  bt_store_writer *w;
  bt_err err = {0};
  is_int(bt_store_writer_open(where, "daily", "", &asset, 1, SESSIONS, 3, &w,
                              &err), 0, "writer opens");
  int before = count_files();
  bt_store_writer_abort(w);
  is_int(count_files(), before - 1, "abort removes the temp file");
  ok(access(where, F_OK) != 0, "abort writes nothing at the path");
  int64_t unordered[2] = {5, 5};
  is_int(bt_store_writer_open(where, "daily", "", &asset, 1, unordered, 2, &w,
                              &err), BT_EINVAL, "sessions must increase");
  bt_store_asset long_symbol = {
      "A_SYMBOL_THAT_IS_FAR_TOO_LONG_FOR_THE_BUNDLE_FORMAT", 0, 2};
  is_int(bt_store_writer_open(where, "daily", "", &long_symbol, 1, SESSIONS,
                              3, &w, &err), BT_EINVAL, "long symbol refused");
  snprintf(where, sizeof where, "/nonexistent-dir/x.btb");
  is_int(bt_store_writer_open(where, "daily", "", &asset, 1, SESSIONS, 3, &w,
                              &err), BT_EIO, "unwritable directory");
  is_str(err.msg, "/nonexistent-dir/x.btb: cannot create bundle: No such "
         "file or directory", "unwritable directory message");
}

static void test_hash(void) {
  const char *text = "The quick brown fox jumps over the lazy dog";
  uint64_t h1 = bt_store_hash(text, strlen(text), 0);
  uint64_t h2 = bt_store_hash(text, strlen(text), 1);
  ok(h1 != h2, "seed changes the hash");
  char copy[64];
  strcpy(copy, text);
  copy[10] ^= 1;
  ok(bt_store_hash(copy, strlen(copy), 0) != h1, "one bit changes the hash");
  is_int((long long)(bt_store_hash("", 0, 0) == bt_store_hash("", 0, 0)), 1,
         "hash is a function");
  /* XXH3's published value for the empty input, seed 0. */
  ok(bt_store_hash("", 0, 0) == UINT64_C(0x2D06800538D394C2),
     "XXH3 of the empty input");
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/btlua-t_store.XXXXXX",
           access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  if (mkdtemp(dir) == NULL) return 1;
  snprintf(path, sizeof path, "%s/sample.btb", dir);
  test_round_trip();
  test_damage();
  test_every_damage();
  test_aggregate();
  test_writer_errors();
  test_hash();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) diag("could not remove %s", dir);
  return done_testing();
}
