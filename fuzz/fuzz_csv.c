/* fuzz_csv.c: libFuzzer target for the CSV ingest (bt_ingest): the input
 * is one CSV file; the first byte picks the options (skip bad rows, an
 * asset class, a calendar). Oracle: an ingest that succeeds writes a
 * bundle that opens and verifies; one that fails writes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "ingest.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned mode = data[0];
  const char *csv = fuzz_file("x.csv", data + 1, size - 1);
  char out[160];
  snprintf(out, sizeof out, "%s/x.btb", fuzz_dir());
  unlink(out);
  static const char *const CALENDARS[4] = {NULL, "24/7", "weekdays", "XNYS"};
  bt_ingest_options opts = {
    .skip_bad_rows = (int)(mode & 1),
    .asset_class = (bt_asset_class)((mode >> 1) & 1),
    .calendar = CALENDARS[(mode >> 2) & 3],
  };
  bt_ingest_stats stats;
  bt_err err = {0};
  int rc = bt_ingest(csv, out, &opts, &stats, &err);
  if (rc == BT_OK) {
    bt_store *s = NULL;
    bt_err open_err = {0};
    if (bt_store_open_ex(out, BT_STORE_VERIFY, &s, &open_err) != BT_OK)
      abort(); /* ingest wrote a bundle it cannot read back */
    bt_store_close(s);
  } else if (access(out, F_OK) == 0) {
    abort(); /* a failed ingest left a file */
  }
  return 0;
}
