/* store_bench.c: the store's figures: CSV ingest throughput (MB/s, 1e6
 * rows), bundle open time (plain and verified), synthetic generation rate
 * (bars/s), and RSS while reading a bundle versus its size (mmap: only the
 * touched pages count). Usage: store_bench [ROWS] [DIR] (default 1000000,
 * /tmp). Prints one "name: value" line per figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "calendar.h"
#include "ingest.h"
#include "store.h"
#include "synth.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of this process (user + system): steadier than wall time on
 * a busy machine. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Current resident set size in kB (VmRSS). */
static long rss_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kb;
}

/* A minute-bar CSV like an exchange export: ISO times, 2-8 decimals. */
static size_t write_csv(const char *path, long rows, int epoch_ms) {
  FILE *f = fopen(path, "w");
  if (f == NULL) return 0;
  fputs(epoch_ms ? "timestamp,symbol,open,high,low,close,volume\n"
                 : "timestamp,open,high,low,close,volume\n",
        f);
  int64_t t = bt_days_from_civil(2020, 1, 1) * 1440; /* minutes */
  uint64_t state = 12345;
  long price = 4200000; /* cents */
  for (long i = 0; i < rows; i++, t++) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    long move = (long)(state >> 58) - 32;
    long open = price, close = price + move;
    if (close < 100) close = 100 + (long)(state >> 60);
    long high = (open > close ? open : close) + (long)((state >> 20) & 63);
    long low = (open < close ? open : close) - (long)((state >> 30) & 63);
    price = close;
    if (epoch_ms) {
      fprintf(f, "%lld000,%s,", (long long)t * 60,
              i % 2 ? "ETH/USDT" : "BTC/USDT");
    } else {
      int64_t sec = t * 60, day = sec / 86400, rest = sec % 86400;
      int y, m, d;
      bt_civil_from_days(day, &y, &m, &d);
      fprintf(f, "%04d-%02d-%02dT%02d:%02d:00Z,", y, m, d, (int)(rest / 3600),
              (int)(rest / 60 % 60));
    }
    fprintf(f, "%ld.%02ld,%ld.%02ld,%ld.%02ld,%ld.%02ld,%lu.%06lu\n",
            open / 100, open % 100, high / 100, high % 100, low / 100,
            low % 100, close / 100, close % 100,
            (unsigned long)((state >> 40) & 1023),
            (unsigned long)((state >> 8) % 1000000));
  }
  long size = ftell(f);
  fclose(f);
  return (size_t)size;
}

static void bench_ingest(const char *dir, long rows, int epoch_ms) {
  char csv[512], out[512];
  snprintf(csv, sizeof csv, "%s/store_bench_%s.csv", dir,
           epoch_ms ? "long" : "iso");
  snprintf(out, sizeof out, "%s/store_bench_ingest.btb", dir);
  size_t bytes = write_csv(csv, rows, epoch_ms);
  bt_ingest_options opts = {0};
  bt_ingest_stats stats;
  bt_err err = {0};
  double best = 1e30, best_cpu = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now_s(), c0 = cpu_s();
    if (bt_ingest(csv, out, &opts, &stats, &err) != BT_OK) {
      printf("ingest failed: %s\n", err.msg);
      return;
    }
    double elapsed = now_s() - t0, cpu = cpu_s() - c0;
    if (elapsed < best) best = elapsed;
    if (cpu < best_cpu) best_cpu = cpu;
  }
  printf("ingest_%s: %ld rows, %.1f MB in %.3f s = %.0f MB/s wall, %.0f MB/s "
         "per CPU second (%.2f Mrows/s; %zu assets, %zu sessions; best of "
         "5, CSV in page cache, bundle write included)\n",
         epoch_ms ? "long_epoch_ms" : "iso", rows, (double)bytes / 1e6, best,
         (double)bytes / 1e6 / best, (double)bytes / 1e6 / best_cpu,
         (double)rows / 1e6 / best, stats.assets, stats.sessions);
  unlink(csv);
  unlink(out);
}

static void bench_synth_and_open(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/store_bench_synth.btb", dir);
  bt_synth_params p = {.assets = 10, .frequency = "minute",
                       .start_ns = bt_days_from_civil(2023, 1, 1) *
                                   BT_NS_PER_DAY,
                       .end_ns = bt_days_from_civil(2023, 12, 31) *
                                 BT_NS_PER_DAY,
                       .calendar = "24/7", .seed = 1,
                       .asset_class = BT_CLASS_CRYPTO};
  bt_err err = {0};
  double t0 = now_s();
  if (bt_synth_write(&p, path, &err) != BT_OK) {
    printf("synth failed: %s\n", err.msg);
    return;
  }
  double elapsed = now_s() - t0;
  double bars = 10.0 * 525600;
  printf("synth: %.0f bars in %.3f s = %.1f M bars/s (including the write)\n",
         bars, elapsed, bars / 1e6 / elapsed);

  const int opens = 2000;
  bt_store *s;
  t0 = now_s();
  for (int i = 0; i < opens; i++) {
    bt_store_open(path, &s, &err);
    bt_store_close(s);
  }
  double open_us = (now_s() - t0) / opens * 1e6;
  bt_store_open(path, &s, &err);
  size_t file_size = bt_store_file_size(s);
  printf("open: %.1f us per open+close of a %.0f MB bundle (checks header "
         "and asset table)\n",
         open_us, (double)file_size / 1e6);
  long rss_before = rss_kb();
  const bt_dec *close = bt_store_column(s, 0, BT_FIELD_CLOSE);
  size_t n = bt_store_session_count(s);
  bt_dec_acc acc;
  bt_dec_acc_init(&acc);
  for (size_t i = 0; i < n; i++) bt_dec_acc_add(&acc, close[i]);
  long rss_one = rss_kb();
  bt_dec mean = 0;
  bt_dec_acc_mean(&acc, (int64_t)n, &mean);
  char mean_text[BT_DEC_FMT_MAX];
  bt_dec_format(mean, mean_text);
  t0 = now_s();
  int verified = bt_store_verify(s, &err) == BT_OK;
  double verify_ms = (now_s() - t0) * 1e3;
  long rss_all = rss_kb();
  printf("verify: %.1f ms for %.0f MB (%.1f GB/s) %s\n", verify_ms,
         (double)file_size / 1e6, (double)file_size / 1e6 / verify_ms,
         verified ? "ok" : err.msg);
  printf("rss: +%.1f MB after reading one column (%.1f MB of data, mean "
         "close %s), +%.1f MB after touching all %.0f MB; no copy is made\n",
         (double)(rss_one - rss_before) / 1024, (double)n * 8 / 1e6,
         mean_text,
         (double)(rss_all - rss_before) / 1024, (double)file_size / 1e6);
  bt_store_close(s);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  printf("peak_rss: %.1f MB (whole process)\n",
         (double)usage.ru_maxrss / 1024);
  unlink(path);
}

int main(int argc, char **argv) {
  long rows = argc > 1 ? atol(argv[1]) : 1000000;
  const char *dir = argc > 2 ? argv[2] : "/tmp";
  bench_ingest(dir, rows, 0);
  bench_ingest(dir, rows, 1);
  bench_synth_and_open(dir);
  return 0;
}
