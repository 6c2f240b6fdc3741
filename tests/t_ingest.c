/* t_ingest.c: exact decimal parsing of CSV fields, a round trip through a
 * bundle, and mutated CSVs (deterministic) that must either ingest or fail
 * with a "FILE:LINE: field: reason" message, never crash or read out of
 * bounds (run under ASan in the sanitizer build). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ingest.h"
#include "store.h"
#include "synth.h"
#include "tap.h"

static char dir[64]; /* a scratch directory, in memory when possible */

static void dec_is(const char *text, long long want, int want_places) {
  bt_dec v = 0;
  int places = -1;
  int rc = bt_ingest_parse_dec(text, strlen(text), &v, &places);
  ok(rc == 0 && v == want && places == want_places,
     "'%s' -> %lld (%d places)", text, want, want_places);
  if (rc || v != want || places != want_places)
    diag("rc %d value %lld places %d", rc, (long long)v, places);
}

static void dec_fails(const char *text, int want_rc) {
  bt_dec v;
  int places;
  is_int(bt_ingest_parse_dec(text, strlen(text), &v, &places), want_rc,
         "'%s' refused", text);
}

static void test_decimals(void) {
  dec_is("123.45678901", 12345678901LL, 8);
  dec_is("0.1", 10000000LL, 1);
  dec_is("-2.50", -250000000LL, 1);
  dec_is("+7", 700000000LL, 0);
  dec_is(" 42 ", 4200000000LL, 0);
  dec_is("1e3", 100000000000LL, 0);
  dec_is("1.5E-3", 150000LL, 4);
  dec_is("4.2e-05", 4200LL, 6);
  dec_is("0.000000010", 1LL, 8);
  dec_is("00012.5000000000000", 1250000000LL, 1);
  dec_is("92233720368.54775807", 9223372036854775807LL, 8);
  dec_is(".5", 50000000LL, 1);
  dec_is("5.", 500000000LL, 0);
  dec_is("0", 0, 0);
  dec_is("1234567890.12345678", 123456789012345678LL, 8);
  dec_is("-0.00000001", -1LL, 8);
  dec_is("000000000000000000001.5", 150000000LL, 1);
  dec_is("243.30", 24330000000LL, 1);
  dec_is("-0.0", 0, 0);
  dec_is("10.00000000", 1000000000LL, 0);
  dec_is("9999999999.99999999", 999999999999999999LL, 8);
  dec_is("0.00000100", 100LL, 6);
  dec_fails("", BT_EPARSE);
  dec_fails("abc", BT_EPARSE);
  dec_fails("1.2.3", BT_EPARSE);
  dec_fails("1e", BT_EPARSE);
  dec_fails("NaN", BT_EPARSE);
  dec_fails("1,5", BT_EPARSE);
  dec_fails("0.123456789", BT_ERANGE);
  dec_fails("123456789.123456789", BT_ERANGE);
  dec_fails("-", BT_EPARSE);
  dec_fails(".", BT_EPARSE);
  dec_fails("1e-9", BT_ERANGE);
  dec_fails("92233720368.54775808", BT_EOVERFLOW);
  dec_fails("1e30", BT_EOVERFLOW);
  dec_fails("99999999999999999999", BT_EOVERFLOW);
}

static void write_text(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  fwrite(text, 1, len, f);
  fclose(f);
}

static void test_round_trip(void) {
  char csv[300], out[300];
  snprintf(csv, sizeof csv, "%s/ETH.csv", dir);
  snprintf(out, sizeof out, "%s/eth.btb", dir);
  const char *text =
      "time,open,high,low,close,volume\n"
      "2024-01-01T00:00:00Z,2281.87,2297.18,2281.27,2295.51,10771.98000001\n"
      "2024-01-01T00:01:00+00:00,2295.51,2316.7,2292.7,2303.72,9797.0381\n";
  write_text(csv, text, strlen(text));
  bt_ingest_options opts = {.asset_class = BT_CLASS_CRYPTO};
  bt_ingest_stats stats;
  bt_err err = {0};
  if (!ok(bt_ingest(csv, out, &opts, &stats, &err) == 0, "ingest")) {
    diag("%s", err.msg);
    return;
  }
  is_str(stats.frequency, "minute", "minute inferred");
  bt_store *s;
  if (bt_store_open_ex(out, BT_STORE_VERIFY, &s, &err) != 0) {
    ok(0, "%s", err.msg);
    return;
  }
  is_str(bt_store_symbol(s, 0), "ETH", "symbol from the file name");
  is_int(bt_store_column(s, 0, BT_FIELD_VOLUME)[0], 1077198000001LL,
         "volume exact to 10^-8");
  is_int(bt_store_column(s, 0, BT_FIELD_HIGH)[1], 231670000000LL,
         "high exact");
  is_int(bt_store_sessions(s)[1], 1704067260LL * 1000000000LL,
         "second bar one minute later");
  bt_store_close(s);
}

/* Mutates a valid CSV many times (deterministically); every result must be
 * a bundle or a message that starts with the file's path and a line. */
static void test_mutations(void) {
  char csv[300], out[300], prefix[320];
  snprintf(csv, sizeof csv, "%s/M.csv", dir);
  snprintf(out, sizeof out, "%s/m.btb", dir);
  snprintf(prefix, sizeof prefix, "%s:", csv);
  const char *base =
      "Date,Symbol,Open,High,Low,Close,Volume\r\n"
      "2024-01-02,AAA,\"10.5\",11,10,10.75,100\r\n"
      "2024-01-03,AAA,10.75,11.25,10.5,11,200\r\n"
      "2024-01-03,BBB,20,21,19.5,20.5,300\r\n"
      "2024-01-04,BBB,20.5,22,20,21.75,400\r\n";
  size_t len = strlen(base);
  char text[512];
  const char alphabet[] = "0123456789.,-\"\r\nZTe:+ x\xc3\xa9\0";
  bt_rng rng;
  bt_rng_seed(&rng, 99);
  int good = 0, bad = 0, weird = 0;
  for (int round = 0; round < 3000; round++) {
    memcpy(text, base, len);
    size_t n = len;
    int edits = 1 + (int)(bt_rng_next(&rng) % 4);
    for (int e = 0; e < edits; e++) {
      size_t at = (size_t)(bt_rng_next(&rng) % n);
      uint64_t kind = bt_rng_next(&rng) % 3;
      char c = alphabet[bt_rng_next(&rng) % (sizeof alphabet - 1)];
      if (kind == 0) {
        text[at] = c;
      } else if (kind == 1 && n + 1 < sizeof text) {
        memmove(text + at + 1, text + at, n - at);
        text[at] = c;
        n++;
      } else if (n > 1) {
        memmove(text + at, text + at + 1, n - at - 1);
        n--;
      }
    }
    if (bt_rng_next(&rng) % 5 == 0) n = (size_t)(bt_rng_next(&rng) % n);
    write_text(csv, text, n);
    bt_ingest_options opts = {.skip_bad_rows = (int)(round % 2)};
    bt_ingest_stats stats;
    bt_err err = {0};
    if (bt_ingest(csv, out, &opts, &stats, &err) == 0) {
      bt_store *s;
      if (bt_store_open_ex(out, BT_STORE_VERIFY, &s, &err) == 0) {
        good++;
        bt_store_close(s);
      } else {
        weird++;
        diag("written but not valid: %s", err.msg);
      }
    } else if (strncmp(err.msg, prefix, strlen(prefix)) == 0) {
      bad++;
    } else {
      weird++;
      diag("message without FILE:LINE: %s", err.msg);
    }
  }
  ok(weird == 0, "3000 mutated CSVs: %d ingested (and verify), %d refused "
     "with FILE:LINE, %d otherwise", good, bad, weird);
  ok(good > 100 && bad > 100, "both outcomes happen");
}


/* Many assets with different dates: the union is sorted and unique. */
static void test_many_assets(void) {
  char csv[300], out[300];
  snprintf(csv, sizeof csv, "%s/many.csv", dir);
  snprintf(out, sizeof out, "%s/many.btb", dir);
  FILE *f = fopen(csv, "w");
  fputs("date,symbol,open,high,low,close\n", f);
  /* asset k trades on days k, k+2, k+4, ... of January (k = 0..19) */
  for (int k = 0; k < 20; k++)
    for (int day = 1 + k; day <= 31; day += 2)
      fprintf(f, "2024-01-%02d,S%02d,1,1,1,1\n", day, k);
  fclose(f);
  bt_ingest_options opts = {0};
  bt_ingest_stats stats;
  bt_err err = {0};
  if (!ok(bt_ingest(csv, out, &opts, &stats, &err) == 0, "20 assets")) {
    diag("%s", err.msg);
    return;
  }
  is_int(stats.sessions, 31, "union of 20 assets' dates: 31 days");
  bt_store *s;
  bt_store_open(out, &s, &err);
  is_int(bt_store_bar_count(s, 0), 16, "S00 trades 16 days");
  is_int(bt_store_bar_count(s, 19), 6, "S19 trades 6 days");
  is_int(bt_store_column(s, 19, BT_FIELD_CLOSE)[18], BT_BAR_MISSING,
         "S19 misses Jan 19");
  is_int(bt_store_column(s, 19, BT_FIELD_CLOSE)[19], BT_DEC_SCALE,
         "S19 trades Jan 20");
  bt_store_close(s);
}

/* A long file session by session: the assets of a session share the
 * timestamp text (read once), the symbols cycle (found without a lookup),
 * and one session breaks the cycle and the format. */
static void test_session_major(void) {
  char csv[300], out[300];
  snprintf(csv, sizeof csv, "%s/sessions.csv", dir);
  snprintf(out, sizeof out, "%s/sessions.btb", dir);
  FILE *f = fopen(csv, "w");
  fputs("timestamp,symbol,open,high,low,close,volume\n"
        "2024-01-02T09:30:00Z,AAA,1,2,1,2,10\n"
        "2024-01-02T09:30:00Z,BBB,3,4,3,4,20\n"
        "2024-01-02T09:30:00Z,CCC,5,6,5,6,30\n"
        "2024-01-02T09:31:00Z,CCC,5.5,6,5,6,31\n"
        "2024-01-02T09:31:00Z,AAA,1.5,2,1,2,11\n"
        "2024-01-02T09:32:00Z,BBB,3.25,4,3,4,21\n", f);
  fclose(f);
  bt_ingest_options opts = {0};
  bt_ingest_stats stats;
  bt_err err = {0};
  if (!ok(bt_ingest(csv, out, &opts, &stats, &err) == 0, "session-major")) {
    diag("%s", err.msg);
    return;
  }
  is_int(stats.sessions, 3, "session-major: 3 sessions");
  bt_store *s;
  bt_store_open(out, &s, &err);
  is_str(bt_store_symbol(s, 2), "CCC", "session-major: third symbol");
  is_int(bt_store_column(s, 2, BT_FIELD_OPEN)[1], 550000000,
         "CCC's second open (out of the cycle)");
  is_int(bt_store_column(s, 0, BT_FIELD_VOLUME)[1], 1100000000,
         "AAA's second volume");
  is_int(bt_store_column(s, 1, BT_FIELD_OPEN)[2], 325000000,
         "BBB's third open");
  is_int(bt_store_column(s, 1, BT_FIELD_OPEN)[1], BT_BAR_MISSING,
         "BBB misses 09:31");
  is_int(bt_store_sessions(s)[2] - bt_store_sessions(s)[0],
         120 * INT64_C(1000000000), "sessions two minutes apart");
  bt_store_close(s);
  f = fopen(csv, "a");
  fputs("1704188040,AAA,1,2,1,2,12\n", f);
  fclose(f);
  is_int(bt_ingest(csv, out, &opts, &stats, &err), BT_EINVAL,
         "an epoch after date text: refused");
  ok(strstr(err.msg, "sessions.csv:8: timestamp: epoch number, but line 2 "
                     "has date text (one format per file)") != NULL,
     "the message names line 8 and line 2: %s", err.msg);
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/btlua-t_ingest.XXXXXX",
           access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  if (mkdtemp(dir) == NULL) return 1;
  test_decimals();
  test_round_trip();
  test_mutations();
  test_many_assets();
  test_session_major();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) diag("could not remove %s", dir);
  return done_testing();
}
