/* tap_dec.h: decimal helpers for the C tests: D("1.5") parses a literal
 * (aborting on a typo in the test itself), S(v) formats for is_str. */
#ifndef BT_TAP_DEC_H
#define BT_TAP_DEC_H

#include <stdlib.h>

#include "dec.h"

static inline bt_dec D(const char *text) {
  bt_dec v = 0;
  if (bt_dec_parse(text, (size_t)-1, &v) != BT_OK) abort();
  return v;
}

/* Formats into one of 8 rotating buffers, so a call can hold a few. */
static inline const char *S(bt_dec v) {
  static char bufs[8][BT_DEC_FMT_MAX];
  static int next = 0;
  char *buf = bufs[next++ % 8];
  bt_dec_format(v, buf);
  return buf;
}

#endif
