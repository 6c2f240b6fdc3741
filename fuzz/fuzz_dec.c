/* fuzz_dec.c: libFuzzer target for the decimal parsers (bt_dec_parse,
 * bt_dec_parse_round, bt_ingest_parse_dec). Oracle: whatever parses formats
 * back to text that parses to the same value, and arithmetic on parsed
 * values either succeeds or reports overflow (UBSan checks the rest). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dec.h"
#include "ingest.h"

static void check_round_trip(bt_dec v) {
  char text[64];
  int len = bt_dec_format(v, text);
  bt_dec back;
  if (len <= 0 || bt_dec_parse(text, (size_t)len, &back) != BT_OK ||
      back != v)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  bt_dec a = 0, b = 0, out;
  int ok_a = bt_dec_parse(text, size, &a) == BT_OK;
  if (ok_a) check_round_trip(a);
  int places;
  bt_dec c;
  if (bt_ingest_parse_dec(text, size, &c, &places) == BT_OK) {
    check_round_trip(c);
    if (places < 0 || places > 8) abort();
  }
  for (int mode = 0; mode < 6; mode++)
    if (bt_dec_parse_round(text, size, (bt_round)mode, &b) == BT_OK)
      check_round_trip(b);
  /* Split at the first '|' for binary operations. */
  const char *bar = memchr(text, '|', size);
  if (bar != NULL) {
    size_t left = (size_t)(bar - text);
    if (bt_dec_parse(text, left, &a) == BT_OK &&
        bt_dec_parse(bar + 1, size - left - 1, &b) == BT_OK) {
      bt_dec_add(a, b, &out);
      bt_dec_sub(a, b, &out);
      bt_dec_mul(a, b, &out);
      bt_dec_div(a, b, &out);
      bt_dec_mod(a, b, &out);
      bt_dec_sqrt(a, &out);
      bt_dec_neg(a, &out);
      bt_dec_abs(a, &out);
      bt_dec_mul_int(a, (int64_t)(b / BT_DEC_SCALE), &out);
      bt_dec_div_int(a, (int64_t)(b / BT_DEC_SCALE), &out);
      for (int mode = 0; mode < 6; mode++)
        bt_dec_quantize(a, (int)((uint64_t)b % 9), (bt_round)mode, &out);
      (void)bt_dec_to_double(a);
    }
  }
  return 0;
}
