/* store.h: the OHLCV bundle: one versioned, self-describing columnar file,
 * opened with mmap, read-only, O(1) in the number of bars, shareable by any
 * number of threads at once (nothing in a bt_store changes after open).
 *
 * File layout (native little-endian; all offsets from the file start):
 *   header   128 bytes: magic "BTLUABND", version, byte-order mark, sizes,
 *            frequency, calendar, offsets, two checksums (see below)
 *   assets   asset_count records of 64 bytes: symbol (NUL-padded, <= 47
 *            bytes), asset class, price places, bars present
 *   sessions session_count int64: ns UTC, bar open time, strictly increasing
 *   columns  at a 64-byte boundary: for asset a and field f (open, high, low,
 *            close, volume) session_count bt_dec values (10^-8 units) at
 *            columns_offset + (a * 5 + f) * session_count * 8
 * A missing bar (the asset did not trade that session) holds BT_BAR_MISSING
 * in every field.
 *
 * Checksums (XXH3, 64 bits, from libxxhash: bt_store_hash; format
 * version 2. Version 1 used a hand-written hash and is refused with a
 * message saying to re-create the bundle):
 *   meta_checksum over the header (itself zeroed; data_checksum included)
 *   and the asset table: checked by every bt_store_open, so a damaged
 *   header or table is always refused, and open stays O(assets), well
 *   under 1 ms at any size.
 *   data_checksum over every byte after the asset table (sessions, the
 *   alignment padding, columns): checked by bt_store_verify
 *   (or bt_store_open_ex with BT_STORE_VERIFY), which also checks that the
 *   sessions increase and every present bar obeys the OHLC rules. The Lua
 *   binding verifies by default; C callers that opened the file themselves
 *   moments ago (synth cache, benchmarks) may skip it.
 * Sizes are checked against the real file size with overflow-safe
 * arithmetic before anything past the header is read. */
#ifndef BT_STORE_H
#define BT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "dec.h"
#include "err.h"

#define BT_STORE_MAGIC "BTLUABND"
#define BT_STORE_VERSION 2
#define BT_STORE_SYMBOL_MAX 47 /* bytes of a symbol, without the NUL */
#define BT_STORE_NAME_MAX 15   /* bytes of frequency / calendar names */

typedef struct bt_store bt_store; /* opaque, read-only after open */

typedef enum bt_field {
  BT_FIELD_OPEN = 0,
  BT_FIELD_HIGH,
  BT_FIELD_LOW,
  BT_FIELD_CLOSE,
  BT_FIELD_VOLUME,
  BT_FIELD_COUNT
} bt_field;

#define BT_BAR_MISSING INT64_MIN /* every field of a missing bar holds this */

/* Field from its name ("open", ..., "volume"); -1 when unknown. */
int bt_field_from_name(const char *name);
const char *bt_field_name(bt_field f);

enum { BT_STORE_VERIFY = 1 }; /* bt_store_open_ex flags */

/* Opens and maps a bundle; checks magic, version, byte order, sizes against
 * the file and the header/table checksum. Messages name the file. */
int bt_store_open(const char *path, bt_store **out, bt_err *err);
int bt_store_open_ex(const char *path, int flags, bt_store **out,
                     bt_err *err);
/* Full check: data checksum, increasing sessions, OHLC rules of present
 * bars. O(file size). */
int bt_store_verify(const bt_store *s, bt_err *err);
void bt_store_close(bt_store *s);

const char *bt_store_path(const bt_store *s);
size_t bt_store_asset_count(const bt_store *s);
size_t bt_store_session_count(const bt_store *s);
const int64_t *bt_store_sessions(const bt_store *s); /* ns UTC, increasing */
/* session_count values, contiguous, read-only (NULL for a bad index). */
const bt_dec *bt_store_column(const bt_store *s, size_t asset, bt_field f);
const char *bt_store_symbol(const bt_store *s, size_t asset);
bt_asset_class bt_store_asset_class(const bt_store *s, size_t asset);
/* Decimal places of the asset's prices in the data (2 for whole cents). */
int bt_store_price_places(const bt_store *s, size_t asset);
/* Number of sessions where the asset has a bar (not missing). */
size_t bt_store_bar_count(const bt_store *s, size_t asset);
/* Index of the last session at or before ns; -1 when ns is before the
 * first session. O(log sessions). */
long bt_store_session_find(const bt_store *s, int64_t ns);
/* Asset index of a symbol; -1 when absent. O(assets). */
long bt_store_find(const bt_store *s, const char *symbol);
const char *bt_store_frequency(const bt_store *s); /* "daily", "5min", ... */
const char *bt_store_calendar(const bt_store *s);  /* "XNYS" or "" */
uint64_t bt_store_data_checksum(const bt_store *s);
size_t bt_store_file_size(const bt_store *s);

/* One asset of a bundle being written. */
typedef struct bt_store_asset {
  const char *symbol;
  bt_asset_class asset_class;
  int price_places;
} bt_store_asset;

/* A writer maps a temporary file next to `path`, lets the caller fill the
 * columns in place (every value starts as BT_BAR_MISSING), and on commit
 * computes the checksums and renames the file into place, so a reader never
 * sees half a bundle. abort (or a failed commit) removes the temp file. */
typedef struct bt_store_writer bt_store_writer;

int bt_store_writer_open(const char *path, const char *frequency,
                         const char *calendar, const bt_store_asset *assets,
                         size_t asset_count, const int64_t *sessions,
                         size_t session_count, bt_store_writer **out,
                         bt_err *err);
/* Writable column of session_count values. */
bt_dec *bt_store_writer_column(bt_store_writer *w, size_t asset, bt_field f);
int bt_store_writer_commit(bt_store_writer *w, bt_err *err); /* frees w */
void bt_store_writer_abort(bt_store_writer *w);              /* frees w */

/* Writes to `out` the bundle `s` resampled to a coarser frequency ("5min",
 * "hourly", "daily", ...): bars are grouped in buckets of that length
 * anchored at each UTC day's first session (so XNYS hourly buckets start
 * 09:30, 10:30, ...; daily: one bucket per UTC day, stamped with its first
 * session); open = first open, high = max, low = min, close = last close,
 * volume = sum over the asset's bars in the bucket; a bucket where the
 * asset has no bar is missing. BT_EINVAL when the frequency is not a
 * multiple of the bundle's. */
int bt_store_aggregate(const bt_store *s, const char *frequency,
                       const char *out, bt_err *err);

/* The 64-bit hash used for the checksums (XXH3, seeded, any length). */
uint64_t bt_store_hash(const void *data, size_t len, uint64_t seed);

#endif
