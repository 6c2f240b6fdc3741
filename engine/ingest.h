/* ingest.h: CSV -> bundle. One CSV per asset (symbol = file name without
 * .csv) or long CSVs with a symbol column; a directory means every *.csv in
 * it. Headers match case-insensitively: timestamp|datetime|date|time, open,
 * high, low, close, volume (optional: 0 when absent), symbol; other columns
 * are ignored; separate "date" and "time" columns are joined (date T time).
 * Timestamps: see bt_time_parse. Decimals are parsed exactly
 * (at most 8 fractional digits; an exponent is allowed). Quoted fields,
 * CRLF and a UTF-8 BOM are accepted; NUL bytes and invalid UTF-8 are not.
 *
 * Every bad row is reported as "FILE:LINE: field: reason" (field is one of
 * timestamp, open, high, low, close, volume, symbol, header, text). Rules:
 * prices > 0, low <= min(open, close), high >= max(open, close),
 * volume >= 0, timestamps strictly increasing per asset, and with a named
 * calendar every timestamp a session of it (daily: the same UTC date).
 * By default the first bad row fails the ingest and nothing is written at
 * `out`; with skip_bad_rows each is skipped, counted and passed to on_skip.
 *
 * Sessions are the union of all assets' timestamps (a missing bar where an
 * asset has none), or the calendar's sessions from the first to the last
 * day of data. Assets are ordered by symbol; price_places is the most
 * fractional digits seen in the asset's prices. The frequency, when not
 * given, is the smallest spacing between an asset's rows (20 h or more is
 * "daily"). */
#ifndef BT_INGEST_H
#define BT_INGEST_H

#include <stddef.h>

#include "dec.h"
#include "err.h"

typedef struct bt_ingest_options {
  const char *frequency; /* NULL: inferred from the data */
  const char *calendar;  /* NULL or "": sessions are the timestamps present */
  int skip_bad_rows;     /* 0: the first bad row is an error */
  bt_asset_class asset_class;
  void (*on_skip)(void *ud, const char *msg); /* each skipped row, or NULL */
  void *on_skip_ud;
} bt_ingest_options;

typedef struct bt_ingest_stats {
  size_t rows;    /* rows stored as bars */
  size_t skipped; /* bad rows skipped */
  size_t assets, sessions, files;
  size_t bytes; /* CSV bytes read */
  char frequency[16];
} bt_ingest_stats;

int bt_ingest(const char *src, const char *out, const bt_ingest_options *opts,
              bt_ingest_stats *stats, bt_err *err);

/* Exact decimal text -> bt_dec: [sign] digits [. digits] [e[sign]digits],
 * blanks around allowed. *places gets the fractional digits the value
 * needs (0..8). BT_EPARSE not a number, BT_ERANGE more than 8 places,
 * BT_EOVERFLOW too large. Exposed for tests and benchmarks. */
int bt_ingest_parse_dec(const char *text, size_t len, bt_dec *out,
                        int *places);

#endif
