/* fuzz_bundle.c: libFuzzer target for the bundle reader (bt_store_open_ex
 * with verification): any bytes either open or are refused with a
 * message; what opens is read in full (every column, symbol, session). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("x.btb", data, size);
  for (int flags = 0; flags <= BT_STORE_VERIFY; flags += BT_STORE_VERIFY) {
    bt_store *s = NULL;
    bt_err err = {0};
    if (bt_store_open_ex(path, flags, &s, &err) != BT_OK) {
      if (err.msg[0] == '\0') abort(); /* refused without a word */
      continue;
    }
    size_t sessions = bt_store_session_count(s);
    const int64_t *times = bt_store_sessions(s);
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < sessions; i++) sink += (uint64_t)times[i];
    if (sessions > 0) sink += (uint64_t)bt_store_session_find(s, times[sessions / 2]);
    for (size_t a = 0; a < bt_store_asset_count(s); a++) {
      sink += (uint64_t)bt_store_symbol(s, a)[0];
      sink += (uint64_t)bt_store_price_places(s, a);
      sink += bt_store_bar_count(s, a);
      for (int f = 0; f < BT_FIELD_COUNT; f++) {
        const bt_dec *col = bt_store_column(s, a, (bt_field)f);
        for (size_t i = 0; i < sessions; i++) sink += (uint64_t)col[i];
      }
    }
    sink += (uint64_t)(bt_store_frequency(s)[0] + bt_store_calendar(s)[0]);
    (void)sink;
    bt_store_close(s);
  }
  return 0;
}
