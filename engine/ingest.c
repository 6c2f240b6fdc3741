/* ingest.c: CSV -> bundle: a hand-written scanner over mmap'd files (no
 * copies of the text), exact decimal parsing, validation, union alignment
 * and the atomic bundle write. Rules and messages: see ingest.h. */
#include "ingest.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calendar.h"
#include "store.h"

/* ---- exact decimals ---- */

static const int64_t POW10[19] = {1,
                                  10,
                                  100,
                                  1000,
                                  10000,
                                  100000,
                                  1000000,
                                  10000000,
                                  100000000,
                                  1000000000,
                                  10000000000,
                                  100000000000,
                                  1000000000000,
                                  10000000000000,
                                  100000000000000,
                                  1000000000000000,
                                  10000000000000000,
                                  100000000000000000,
                                  1000000000000000000};

static int places_of(bt_dec v) {
  int64_t frac = v % BT_DEC_SCALE;
  if (frac == 0) return 0;
  int places = 8;
  while (frac % 10 == 0) {
    frac /= 10;
    places--;
  }
  return places;
}

/* Reads an exponent "e[+-]digits"; BT_EPARSE if malformed. */
static int read_exponent(const char **pp, const char *end, int *exponent) {
  const char *p = *pp + 1;
  int sign = 1, value = 0, digits = 0;
  if (p < end && (*p == '+' || *p == '-')) sign = *p++ == '-' ? -1 : 1;
  for (; p < end && *p >= '0' && *p <= '9'; p++, digits++)
    if (value < 1000) value = value * 10 + (*p - '0');
  if (digits == 0) return BT_EPARSE;
  *exponent = sign * value;
  *pp = p;
  return BT_OK;
}

/* Any length of digits (leading zeros, trailing fractional zeros). */
/* Scales mantissa * 10^-frac_digits * 10^exponent to 10^-8 units. */
static int scale_units(uint64_t mantissa, int frac_digits, int exponent,
                       int negative, bt_dec *out, int *places) {
  int shift = BT_DEC_PLACES + exponent - frac_digits;
  uint64_t units;
  if (mantissa == 0) {
    units = 0;
  } else if (shift >= 0) {
    if (shift > 18 || __builtin_mul_overflow(mantissa, (uint64_t)POW10[shift],
                                             &units))
      return BT_EOVERFLOW;
  } else {
    if (-shift > 18 || mantissa % (uint64_t)POW10[-shift] != 0)
      return BT_ERANGE;
    units = mantissa / (uint64_t)POW10[-shift];
  }
  if (units > (uint64_t)INT64_MAX) return BT_EOVERFLOW;
  *out = negative ? -(int64_t)units : (int64_t)units;
  *places = places_of(*out);
  return BT_OK;
}

static int parse_dec_slow(const char *text, size_t len, bt_dec *out,
                          int *places) {
  const char *p = text, *end = text + len;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
  int negative = 0;
  if (p < end && (*p == '-' || *p == '+')) negative = *p++ == '-';
  uint64_t mantissa = 0;
  int significant = 0, frac_digits = 0, digits = 0, dropped = 0;
  for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
    if (significant < 19) {
      mantissa = mantissa * 10 + (uint64_t)(*p - '0');
      significant += mantissa != 0;
    } else {
      return BT_EOVERFLOW;
    }
  }
  if (p < end && *p == '.') {
    for (p++; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
      if (significant < 19) {
        mantissa = mantissa * 10 + (uint64_t)(*p - '0');
        significant += mantissa != 0;
        frac_digits++;
      } else if (*p != '0') {
        dropped = 1; /* a non-zero digit past 19 significant ones */
      }
    }
  }
  if (digits == 0) return BT_EPARSE;
  int exponent = 0;
  if (p < end && (*p == 'e' || *p == 'E') &&
      read_exponent(&p, end, &exponent) != BT_OK)
    return BT_EPARSE;
  if (p != end) return BT_EPARSE;
  int rc = scale_units(mantissa, frac_digits, exponent, negative, out,
                       places);
  if (rc == BT_OK && dropped) return BT_ERANGE;
  return rc;
}

int bt_ingest_parse_dec(const char *text, size_t len, bt_dec *out,
                        int *places) {
  /* Fast path: [sign] up to 18 digits with at most 8 after an optional
   * point, no blanks: 18 digits cannot overflow a uint64, and the places
   * are those up to the last non-zero fractional digit. Anything else:
   * parse_dec_slow. */
  const char *p = text, *end = text + len;
  int negative = 0;
  if (p < end && (*p == '-' || *p == '+')) negative = *p++ == '-';
  uint64_t mantissa = 0;
  const char *digits_start = p;
  while (p < end && (unsigned)(*p - '0') < 10)
    mantissa = mantissa * 10 + (uint64_t)(*p++ - '0');
  int int_digits = (int)(p - digits_start), frac_digits = 0, last_nonzero = 0;
  if (p < end && *p == '.') {
    const char *frac_start = ++p;
    while (p < end && (unsigned)(*p - '0') < 10) {
      unsigned digit = (unsigned)(*p++ - '0');
      mantissa = mantissa * 10 + digit;
      if (digit != 0) last_nonzero = (int)(p - frac_start);
    }
    frac_digits = (int)(p - frac_start);
  }
  if (p != end || int_digits + frac_digits > 18 ||
      int_digits + frac_digits == 0 || frac_digits > BT_DEC_PLACES)
    return parse_dec_slow(text, len, out, places);
  uint64_t scale = (uint64_t)POW10[BT_DEC_PLACES - frac_digits];
  if (mantissa > (uint64_t)INT64_MAX / scale) /* the slow path says so */
    return parse_dec_slow(text, len, out, places);
  uint64_t units = mantissa * scale;
  *out = negative ? -(int64_t)units : (int64_t)units;
  *places = last_nonzero;
  return BT_OK;
}

/* ---- rows of one asset ---- */

typedef struct series {
  char symbol[BT_STORE_SYMBOL_MAX + 1];
  int64_t *time;         /* ns UTC, strictly increasing */
  bt_dec *value[BT_FIELD_COUNT];
  uint64_t *origin;      /* file index << 32 | line, for messages */
  size_t count, capacity;
  int places;
} series;

static int series_grow(series *s) {
  size_t cap = s->capacity ? s->capacity * 2 : 1024;
  int64_t *time = realloc(s->time, cap * sizeof *time);
  if (time == NULL) return BT_ENOMEM;
  s->time = time;
  uint64_t *origin = realloc(s->origin, cap * sizeof *origin);
  if (origin == NULL) return BT_ENOMEM;
  s->origin = origin;
  for (int f = 0; f < BT_FIELD_COUNT; f++) {
    bt_dec *v = realloc(s->value[f], cap * sizeof *v);
    if (v == NULL) return BT_ENOMEM;
    s->value[f] = v;
  }
  s->capacity = cap;
  return BT_OK;
}

static void series_free(series *s) {
  free(s->time);
  free(s->origin);
  for (int f = 0; f < BT_FIELD_COUNT; f++) free(s->value[f]);
}

/* ---- the whole ingest ---- */

typedef struct ingest {
  const bt_ingest_options *opts;
  bt_ingest_stats *stats;
  bt_err *err;
  series *assets;
  size_t asset_count, asset_capacity;
  size_t *table; /* open addressing: asset index + 1, 0 = empty */
  size_t table_size;
  char **files;
  size_t file_count;
  size_t last_asset; /* cache for long files: rows come in runs */
} ingest;

static uint64_t hash_symbol(const char *s, size_t len) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3;
  return h;
}

static int table_rebuild(ingest *in) {
  size_t size = in->table_size ? in->table_size * 2 : 64;
  size_t *table = calloc(size, sizeof *table);
  if (table == NULL) return BT_ENOMEM;
  for (size_t a = 0; a < in->asset_count; a++) {
    const char *sym = in->assets[a].symbol;
    size_t slot = hash_symbol(sym, strlen(sym)) & (size - 1);
    while (table[slot]) slot = (slot + 1) & (size - 1);
    table[slot] = a + 1;
  }
  free(in->table);
  in->table = table;
  in->table_size = size;
  return BT_OK;
}

/* Index of the asset `symbol` (len bytes), created when new; -1 on OOM. */
/* Is `symbol` (len bytes) the symbol of asset a? */
static int symbol_is(const ingest *in, size_t a, const char *symbol,
                     size_t len) {
  const char *sym = in->assets[a].symbol;
  return memcmp(sym, symbol, len) == 0 && sym[len] == '\0';
}

static long find_asset(ingest *in, const char *symbol, size_t len) {
  if (in->asset_count) {
    /* Rows come in runs of one asset, or cycle through the assets in
     * order (a long file, session by session). */
    size_t next = in->last_asset + 1 == in->asset_count ? 0 : in->last_asset + 1;
    if (symbol_is(in, in->last_asset, symbol, len))
      return (long)in->last_asset;
    if (symbol_is(in, next, symbol, len)) {
      in->last_asset = next;
      return (long)next;
    }
  }
  if (in->asset_count * 2 >= in->table_size && table_rebuild(in) != BT_OK)
    return -1;
  size_t slot = hash_symbol(symbol, len) & (in->table_size - 1);
  for (; in->table[slot]; slot = (slot + 1) & (in->table_size - 1)) {
    if (symbol_is(in, in->table[slot] - 1, symbol, len)) {
      in->last_asset = in->table[slot] - 1;
      return (long)in->last_asset;
    }
  }
  if (in->asset_count == in->asset_capacity) {
    size_t cap = in->asset_capacity ? in->asset_capacity * 2 : 16;
    series *assets = realloc(in->assets, cap * sizeof *assets);
    if (assets == NULL) return -1;
    in->assets = assets;
    in->asset_capacity = cap;
  }
  series *s = &in->assets[in->asset_count];
  memset(s, 0, sizeof *s);
  memcpy(s->symbol, symbol, len);
  s->symbol[len] = '\0';
  in->table[slot] = ++in->asset_count;
  in->last_asset = in->asset_count - 1;
  return (long)in->last_asset;
}

/* ---- one CSV file ---- */

enum role {
  ROLE_IGNORE = -1,
  ROLE_OPEN = BT_FIELD_OPEN,
  ROLE_HIGH = BT_FIELD_HIGH,
  ROLE_LOW = BT_FIELD_LOW,
  ROLE_CLOSE = BT_FIELD_CLOSE,
  ROLE_VOLUME = BT_FIELD_VOLUME,
  ROLE_TIME,
  ROLE_SYMBOL,
  ROLE_CLOCK, /* a separate time-of-day column next to a date column */
  ROLE_COUNT
};

static const char *const ROLE_NAMES[ROLE_COUNT] = {
    "open", "high", "low", "close", "volume", "timestamp", "symbol", "time"};

#define MAX_COLUMNS 256

typedef struct csv_file {
  const char *path;
  uint32_t index;
  const char *data, *end;
  size_t size;
  signed char role[MAX_COLUMNS];
  int columns;
  long asset; /* the asset of a per-asset file; -1 for a long file */
  int time_kind; /* of the first row: 0 none yet, 1 epoch digits, 2 text */
  unsigned long time_line; /* the line that set time_kind */
  /* The last timestamp text and its value: in a long file the assets of a
   * session follow each other with the same text. */
  char last_time[48];
  size_t last_time_len; /* 0: none */
  int64_t last_time_ns;
} csv_file;

/* One field of the current row: [start, end) of its text, inside the
 * quotes of a quoted field ("" escapes are left as they are). */
typedef struct field {
  const char *start, *end;
} field;

/* Reports a bad row: an error, or (skip mode) a skipped row. Returns
 * BT_OK to continue, an error code to stop. */
static int bad_row(ingest *in, const char *path, unsigned long line,
                   const char *field_name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int bad_row(ingest *in, const char *path, unsigned long line,
                   const char *field_name, const char *fmt, ...) {
  char reason[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  if (!in->opts->skip_bad_rows || line == 0)
    return bt_err_set(in->err, BT_EINVAL, "%s:%lu: %s: %s", path, line,
                      field_name, reason);
  in->stats->skipped++;
  if (in->opts->on_skip) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s:%lu: %s: %s", path, line, field_name,
             reason);
    in->opts->on_skip(in->opts->on_skip_ud, msg);
  }
  return BT_OK;
}

/* Field text for a message: at most 40 bytes. */
static void quote_text(const field *f, char *buf, size_t size) {
  size_t len = (size_t)(f->end - f->start);
  if (len > 40) len = 40;
  if (len > size - 1) len = size - 1;
  memcpy(buf, f->start, len);
  buf[len] = '\0';
}

/* Where the first NUL byte or invalid UTF-8 sequence is; -1 if none. */
static long find_bad_byte(const unsigned char *p, size_t n, const char **why) {
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      uint64_t zero = (w - UINT64_C(0x0101010101010101)) & ~w &
                      UINT64_C(0x8080808080808080);
      if (((w & UINT64_C(0x8080808080808080)) | zero) == 0) {
        i += 8;
        continue;
      }
    }
    unsigned char c = p[i];
    if (c == 0) {
      *why = "NUL byte in the file";
      return (long)i;
    }
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t extra = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
                 : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
    int valid = extra > 0 && i + extra < n;
    for (size_t k = 1; valid && k <= extra; k++)
      valid = i + k < n && (p[i + k] & 0xC0) == 0x80;
    if (valid && extra == 2 && ((c == 0xE0 && p[i + 1] < 0xA0) ||
                                (c == 0xED && p[i + 1] > 0x9F)))
      valid = 0;
    if (valid && extra == 3 && ((c == 0xF0 && p[i + 1] < 0x90) ||
                                (c == 0xF4 && p[i + 1] > 0x8F)))
      valid = 0;
    if (!valid) {
      *why = "not valid UTF-8 (convert the file to UTF-8)";
      return (long)i;
    }
    i += extra + 1;
  }
  return -1;
}

static unsigned long line_of(const char *data, size_t offset) {
  unsigned long line = 1;
  for (size_t i = 0; i < offset; i++) line += data[i] == '\n';
  return line;
}

/* The bytes that end an unquoted field: ',', '\n', '\r'. */
static const unsigned char FIELD_END[256] = {['\n'] = 1, ['\r'] = 1,
                                             [','] = 1};

/* Scans one field starting at *pp; leaves *pp on the ',' / line end.
 * Handles quotes (counting newlines inside them into *line). Returns -1
 * for an unterminated quote. */
static int scan_field(const char **pp, const char *end, field *f,
                      unsigned long *line) {
  const char *p = *pp;
  if (p < end && *p == '"') {
    const char *start = ++p;
    for (;;) {
      if (p >= end) return -1;
      if (*p == '"') {
        if (p + 1 < end && p[1] == '"') {
          p += 2;
          continue;
        }
        break;
      }
      *line += *p == '\n';
      p++;
    }
    f->start = start;
    f->end = p++;
    while (p < end && *p != ',' && *p != '\n' && *p != '\r') p++;
    *pp = p;
    return 0;
  }
  f->start = p;
  while (p < end && !FIELD_END[(unsigned char)*p]) p++;
  f->end = p;
  *pp = p;
  return 0;
}

/* Moves past the line end at *pp (\n, \r\n or \r). */
static const char *skip_newline(const char *p, const char *end) {
  if (p < end && *p == '\r') p++;
  if (p < end && *p == '\n') p++;
  return p;
}

static int header_role(const field *f) {
  static const struct { const char *name; int role; } NAMES[] = {
      {"timestamp", ROLE_TIME}, {"datetime", ROLE_TIME}, {"date", ROLE_TIME},
      {"time", ROLE_TIME},      {"open", ROLE_OPEN},     {"high", ROLE_HIGH},
      {"low", ROLE_LOW},        {"close", ROLE_CLOSE},   {"volume", ROLE_VOLUME},
      {"symbol", ROLE_SYMBOL},
  };
  const char *s = f->start, *e = f->end;
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
  size_t len = (size_t)(e - s);
  for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
    if (strlen(NAMES[i].name) == len && strncasecmp(s, NAMES[i].name, len) == 0)
      return NAMES[i].role;
  return ROLE_IGNORE;
}

/* Time column priority: timestamp > datetime > date > time. */
static int time_rank(const field *f) {
  const char *s = f->start;
  while (s < f->end && (*s == ' ' || *s == '\t')) s++;
  if (strncasecmp(s, "timestamp", 9) == 0) return 0;
  if (strncasecmp(s, "datetime", 8) == 0) return 1;
  if (strncasecmp(s, "date", 4) == 0) return 2;
  return 3;
}

static int read_header(ingest *in, csv_file *file, const char **pp) {
  const char *p = *pp, *end = file->end;
  unsigned long line = 1;
  int seen[ROLE_COUNT] = {0}, time_column = -1, best_rank = 99;
  int clock_column = -1; /* the first column named "time" */
  file->columns = 0;
  for (;;) {
    field f;
    if (scan_field(&p, end, &f, &line) != 0)
      return bad_row(in, file->path, 1, "header", "unterminated quoted field");
    if (file->columns == MAX_COLUMNS)
      return bad_row(in, file->path, 1, "header", "more than %d columns",
                     MAX_COLUMNS);
    int role = header_role(&f);
    if (role == ROLE_TIME) {
      int rank = time_rank(&f);
      if (rank == 3 && clock_column < 0) clock_column = file->columns;
      if (rank < best_rank) {
        if (time_column >= 0) file->role[time_column] = ROLE_IGNORE;
        best_rank = rank;
        time_column = file->columns;
      } else {
        role = ROLE_IGNORE;
      }
    } else if (role != ROLE_IGNORE && seen[role]) {
      role = ROLE_IGNORE; /* the first column of a name wins */
    }
    if (role != ROLE_IGNORE) seen[role] = 1;
    file->role[file->columns++] = (signed char)role;
    if (p < end && *p == ',') {
      p++;
      continue;
    }
    break;
  }
  *pp = skip_newline(p, end);
  if (best_rank == 2 && clock_column >= 0) /* "date" and "time" columns */
    file->role[clock_column] = ROLE_CLOCK;
  static const int REQUIRED[] = {ROLE_TIME, ROLE_OPEN, ROLE_HIGH, ROLE_LOW,
                                 ROLE_CLOSE};
  for (size_t i = 0; i < sizeof REQUIRED / sizeof REQUIRED[0]; i++)
    if (!seen[REQUIRED[i]])
      return bt_err_set(in->err, BT_EINVAL, "%s:1: header: no '%s' column%s",
                        file->path, ROLE_NAMES[REQUIRED[i]],
                        REQUIRED[i] == ROLE_TIME
                            ? " (timestamp, datetime, date or time)"
                            : "");
  return seen[ROLE_SYMBOL] ? 1 : 0;
}

/* The fields of one data row, by role. */
typedef struct row {
  field by_role[ROLE_COUNT];
  int present[ROLE_COUNT];
} row;

static int decimal_error(ingest *in, const csv_file *file, unsigned long line,
                         int role, const field *f, int rc) {
  char text[48];
  quote_text(f, text, sizeof text);
  const char *reason = rc == BT_ERANGE      ? "more than 8 decimal places"
                       : rc == BT_EOVERFLOW ? "out of range"
                                            : "not a decimal number";
  return bad_row(in, file->path, line, ROLE_NAMES[role], "%s '%s'", reason,
                 text);
}

static void format_dec(bt_dec v, char *buf) { bt_dec_format(v, buf); }

/* Checks a parsed row and appends it to its asset. */
static int store_row(ingest *in, const csv_file *file, unsigned long line,
                     long asset, int64_t time, const bt_dec v[], int places) {
  static const char *const PRICE[4] = {"open", "high", "low", "close"};
  char a[BT_DEC_FMT_MAX + 8], b[BT_DEC_FMT_MAX + 8];
  for (int f = 0; f < 4; f++)
    if (v[f] <= 0) {
      format_dec(v[f], a);
      return bad_row(in, file->path, line, PRICE[f], "not positive (%s)", a);
    }
  bt_dec body_low = bt_dec_min(v[BT_FIELD_OPEN], v[BT_FIELD_CLOSE]);
  bt_dec body_high = bt_dec_max(v[BT_FIELD_OPEN], v[BT_FIELD_CLOSE]);
  if (v[BT_FIELD_LOW] > body_low) {
    format_dec(v[BT_FIELD_LOW], a);
    format_dec(body_low, b);
    return bad_row(in, file->path, line, "low",
                   "%s above min(open, close) %s", a, b);
  }
  if (v[BT_FIELD_HIGH] < body_high) {
    format_dec(v[BT_FIELD_HIGH], a);
    format_dec(body_high, b);
    return bad_row(in, file->path, line, "high",
                   "%s below max(open, close) %s", a, b);
  }
  if (v[BT_FIELD_VOLUME] < 0) {
    format_dec(v[BT_FIELD_VOLUME], a);
    return bad_row(in, file->path, line, "volume", "negative (%s)", a);
  }
  series *s = &in->assets[asset];
  if (s->count && time <= s->time[s->count - 1]) {
    bt_time_format(s->time[s->count - 1], a);
    return bad_row(in, file->path, line, "timestamp",
                   "not after the previous %s row (%s)", s->symbol, a);
  }
  if (s->count == s->capacity && series_grow(s) != BT_OK)
    return bt_err_set(in->err, BT_ENOMEM, "%s: out of memory", file->path);
  size_t n = s->count++;
  s->time[n] = time;
  s->origin[n] = (uint64_t)file->index << 32 | (uint32_t)line;
  for (int f = 0; f < BT_FIELD_COUNT; f++) s->value[f][n] = v[f];
  if (places > s->places) s->places = places;
  in->stats->rows++;
  return BT_OK;
}

/* Parses the fields of a row into values; -1 = row rejected (skip mode),
 * else a status. */

/* The time of field tf (line `line`): one format per file (epoch numbers
 * mixed with date text mean a broken export, refused), then parsed. A bad
 * time leaves *time alone and returns bad_row's status (BT_OK when bad
 * rows are skipped). */
static int read_time(ingest *in, csv_file *file, unsigned long line,
                     const field *tf, int64_t *time) {
  int kind = 1;
  for (const char *c = tf->start; c < tf->end; c++)
    if (!((*c >= '0' && *c <= '9') || (c == tf->start && *c == '-'))) kind = 2;
  if (file->time_kind == 0) {
    file->time_kind = kind;
    file->time_line = line;
  } else if (kind != file->time_kind) {
    return bad_row(in, file->path, line, "timestamp",
                   "%s, but line %lu has %s (one format per file)",
                   kind == 1 ? "epoch number" : "date text", file->time_line,
                   file->time_kind == 1 ? "an epoch number" : "date text");
  }
  if (bt_time_parse(tf->start, (size_t)(tf->end - tf->start), time) !=
      BT_OK) {
    char text[48];
    quote_text(tf, text, sizeof text);
    return bad_row(in, file->path, line, "timestamp",
                   "not a date/time '%s'", text);
  }
  return BT_OK;
}

static int parse_row(ingest *in, csv_file *file, unsigned long line,
                     const row *r) {
  static const int NEEDED[] = {ROLE_TIME, ROLE_OPEN, ROLE_HIGH, ROLE_LOW,
                               ROLE_CLOSE};
  for (size_t i = 0; i < sizeof NEEDED / sizeof NEEDED[0]; i++) {
    int role = NEEDED[i];
    if (!r->present[role] || r->by_role[role].start == r->by_role[role].end)
      return bad_row(in, file->path, line, ROLE_NAMES[role], "missing");
  }
  int64_t time;
  field joined = r->by_role[ROLE_TIME];
  const field *tf = &joined;
  char date_time[96];
  const field *clock = &r->by_role[ROLE_CLOCK];
  if (r->present[ROLE_CLOCK] && clock->start != clock->end) {
    size_t date_len = (size_t)(tf->end - tf->start);
    size_t clock_len = (size_t)(clock->end - clock->start);
    if (date_len + clock_len + 1 < sizeof date_time) {
      memcpy(date_time, tf->start, date_len);
      date_time[date_len] = 'T';
      memcpy(date_time + date_len + 1, clock->start, clock_len);
      joined.start = date_time;
      joined.end = date_time + date_len + 1 + clock_len;
    }
  }
  size_t time_len = (size_t)(tf->end - tf->start);
  if (time_len != 0 && time_len == file->last_time_len &&
      memcmp(tf->start, file->last_time, time_len) == 0) {
    time = file->last_time_ns; /* checked when it was first seen */
  } else {
    time = INT64_MIN; /* stays so when the row is bad (skipped or not) */
    int rc = read_time(in, file, line, tf, &time);
    if (rc != BT_OK || time == INT64_MIN) return rc;
    if (time_len < sizeof file->last_time) {
      memcpy(file->last_time, tf->start, time_len);
      file->last_time_len = time_len;
      file->last_time_ns = time;
    }
  }
  bt_dec v[BT_FIELD_COUNT];
  int places = 0;
  for (int f = 0; f < BT_FIELD_COUNT; f++) {
    const field *fd = &r->by_role[f];
    if (f == BT_FIELD_VOLUME && (!r->present[f] || fd->start == fd->end)) {
      v[f] = 0;
      continue;
    }
    int field_places;
    int rc = bt_ingest_parse_dec(fd->start, (size_t)(fd->end - fd->start),
                                 &v[f], &field_places);
    if (rc != BT_OK) return decimal_error(in, file, line, f, fd, rc);
    if (f != BT_FIELD_VOLUME && field_places > places) places = field_places;
  }
  long asset = file->asset;
  if (asset < 0) {
    const field *sf = &r->by_role[ROLE_SYMBOL];
    const char *s = sf->start, *e = sf->end;
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (!r->present[ROLE_SYMBOL] || s == e)
      return bad_row(in, file->path, line, "symbol", "missing");
    if (e - s > BT_STORE_SYMBOL_MAX || memchr(s, '"', (size_t)(e - s)))
      return bad_row(in, file->path, line, "symbol",
                     "longer than %d bytes or quoted", BT_STORE_SYMBOL_MAX);
    asset = find_asset(in, s, (size_t)(e - s));
    if (asset < 0)
      return bt_err_set(in->err, BT_ENOMEM, "%s: out of memory", file->path);
  }
  return store_row(in, file, line, asset, time, v, places);
}

/* All data rows of a file. Blank lines are ignored. */
static int read_rows(ingest *in, csv_file *file, const char *p) {
  const char *end = file->end;
  unsigned long line = 1;
  while (p < end) {
    line++;
    if (*p == '\n' || *p == '\r') { /* blank line */
      p = skip_newline(p, end);
      continue;
    }
    row r;
    memset(r.present, 0, sizeof r.present);
    unsigned long row_line = line;
    int col = 0;
    for (;; col++) {
      field f;
      if (scan_field(&p, end, &f, &line) != 0)
        return bad_row(in, file->path, row_line, "text",
                       "unterminated quoted field");
      if (col < file->columns && file->role[col] != ROLE_IGNORE) {
        r.by_role[(int)file->role[col]] = f;
        r.present[(int)file->role[col]] = 1;
      }
      if (p < end && *p == ',') {
        p++;
        continue;
      }
      break;
    }
    p = skip_newline(p, end);
    int rc = col + 1 > file->columns
                 ? bad_row(in, file->path, row_line, "row",
                           "%d fields, but the header has %d", col + 1,
                           file->columns)
                 : parse_row(in, file, row_line, &r);
    if (rc != BT_OK) return rc;
  }
  return BT_OK;
}

/* Symbol of a per-asset file: the base name without ".csv". */
/* The symbol of a per-asset file: its name without ".csv". Returns -1 when
 * it does not fit (never cut: two long names would become one asset). */
static int symbol_from_path(const char *path, char *buf, size_t size) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t len = strlen(base);
  if (len > 4 && strcasecmp(base + len - 4, ".csv") == 0) len -= 4;
  if (len >= size) return -1;
  memcpy(buf, base, len);
  buf[len] = '\0';
  return 0;
}

static int read_file(ingest *in, uint32_t index) {
  csv_file file;
  memset(&file, 0, sizeof file);
  file.path = in->files[index];
  file.index = index;
  int fd = open(file.path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    return bt_err_set(in->err, BT_EIO, "%s: cannot open: %s", file.path,
                      strerror(e));
  }
  file.size = (size_t)st.st_size;
  in->stats->bytes += file.size;
  void *map = NULL;
  if (file.size > 0) {
    map = mmap(NULL, file.size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int e = errno;
      close(fd);
      return bt_err_set(in->err, BT_EIO, "%s: cannot map: %s", file.path,
                        strerror(e));
    }
    madvise(map, file.size, MADV_SEQUENTIAL);
  }
  close(fd);
  file.data = (const char *)map;
  file.end = map ? file.data + file.size : NULL; /* NULL + 0 is UB (fuzz) */
  int rc = BT_OK;
  const char *why = NULL;
  long bad = file.size ? find_bad_byte(map, file.size, &why) : -1;
  if (file.size == 0) {
    rc = bt_err_set(in->err, BT_EINVAL, "%s:1: header: empty file",
                    file.path);
  } else if (bad >= 0) {
    rc = bt_err_set(in->err, BT_EINVAL, "%s:%lu: text: %s", file.path,
                    line_of(file.data, (size_t)bad), why);
  } else {
    const char *p = file.data;
    if (file.size >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
    rc = read_header(in, &file, &p);
    if (rc == 0) { /* per-asset file */
      char symbol[BT_STORE_SYMBOL_MAX + 1];
      if (symbol_from_path(file.path, symbol, sizeof symbol) != 0) {
        rc = bt_err_set(in->err, BT_EINVAL, "%s: the symbol (the file name "
                        "without .csv) is longer than %d bytes", file.path,
                        BT_STORE_SYMBOL_MAX);
      } else {
        file.asset = find_asset(in, symbol, strlen(symbol));
        rc = file.asset < 0 ? bt_err_set(in->err, BT_ENOMEM, "out of memory")
                            : BT_OK;
      }
    } else if (rc == 1) {
      file.asset = -1;
      rc = BT_OK;
    }
    if (rc == BT_OK) rc = read_rows(in, &file, p);
  }
  if (map) munmap(map, file.size);
  in->stats->files++;
  return rc;
}

/* ---- inputs ---- */

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_file(ingest *in, const char *path) {
  char **files = realloc(in->files, (in->file_count + 1) * sizeof *files);
  if (files == NULL) return BT_ENOMEM;
  in->files = files;
  in->files[in->file_count] = strdup(path);
  if (in->files[in->file_count] == NULL) return BT_ENOMEM;
  in->file_count++;
  return BT_OK;
}

static int list_inputs(ingest *in, const char *src) {
  struct stat st;
  if (stat(src, &st) != 0)
    return bt_err_set(in->err, BT_ENOTFOUND, "%s: cannot open: %s", src,
                      strerror(errno));
  if (!S_ISDIR(st.st_mode)) return add_file(in, src);
  DIR *dir = opendir(src);
  if (dir == NULL)
    return bt_err_set(in->err, BT_EIO, "%s: cannot open: %s", src,
                      strerror(errno));
  struct dirent *entry;
  int rc = BT_OK;
  while (rc == BT_OK && (entry = readdir(dir)) != NULL) {
    size_t len = strlen(entry->d_name);
    if (len <= 4 || strcasecmp(entry->d_name + len - 4, ".csv") != 0 ||
        entry->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", src,
             src[strlen(src) - 1] == '/' ? "" : "/", entry->d_name);
    rc = add_file(in, path);
  }
  closedir(dir);
  if (rc != BT_OK) return bt_err_set(in->err, rc, "out of memory");
  if (in->file_count == 0)
    return bt_err_set(in->err, BT_ENOTFOUND, "%s: no .csv files", src);
  qsort(in->files, in->file_count, sizeof *in->files, compare_names);
  return BT_OK;
}

/* ---- sessions, frequency, alignment ---- */

static int compare_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int compare_series(const void *a, const void *b) {
  return strcmp(((const series *)a)->symbol, ((const series *)b)->symbol);
}

/* Merges two increasing arrays into out (increasing, no duplicates). */
static size_t merge_unique(const int64_t *a, size_t na, const int64_t *b,
                           size_t nb, int64_t *out) {
  size_t i = 0, j = 0, n = 0;
  while (i < na && j < nb) {
    if (a[i] < b[j]) out[n++] = a[i++];
    else if (b[j] < a[i]) out[n++] = b[j++];
    else {
      out[n++] = a[i++];
      j++;
    }
  }
  while (i < na) out[n++] = a[i++];
  while (j < nb) out[n++] = b[j++];
  return n;
}

#define MERGE_MAX_ASSETS 16 /* beyond this, sort the concatenation */

/* The union of all assets' timestamps (sorted, unique). Each asset's times
 * are already increasing: a few assets are merged in linear time, many
 * are concatenated and sorted. */
static int union_sessions(ingest *in, int64_t **out, size_t *count) {
  size_t total = 0;
  for (size_t a = 0; a < in->asset_count; a++) total += in->assets[a].count;
  int64_t *all = malloc(total * sizeof *all);
  int64_t *spare = malloc(total * sizeof *spare);
  if (all == NULL || spare == NULL) {
    free(all);
    free(spare);
    return BT_ENOMEM;
  }
  size_t n = in->assets[0].count;
  memcpy(all, in->assets[0].time, n * sizeof *all);
  if (in->asset_count <= MERGE_MAX_ASSETS) {
    for (size_t a = 1; a < in->asset_count; a++) {
      const series *s = &in->assets[a];
      if (s->count == n && memcmp(s->time, all, n * sizeof *all) == 0)
        continue; /* the common case: the same sessions */
      n = merge_unique(all, n, s->time, s->count, spare);
      int64_t *swap = all;
      all = spare;
      spare = swap;
    }
  } else {
    for (size_t a = 1; a < in->asset_count; a++) {
      memcpy(all + n, in->assets[a].time, in->assets[a].count * sizeof *all);
      n += in->assets[a].count;
    }
    qsort(all, n, sizeof *all, compare_i64);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (k == 0 || all[i] != all[k - 1]) all[k++] = all[i];
    n = k;
  }
  free(spare);
  *out = all;
  *count = n;
  return BT_OK;
}

/* Smallest spacing between consecutive rows of an asset (0 if none). */
static int64_t smallest_step(const ingest *in) {
  uint64_t step = 0; /* unsigned: times increase, the gap may exceed 2^63 */
  for (size_t a = 0; a < in->asset_count; a++) {
    const series *s = &in->assets[a];
    for (size_t i = 1; i < s->count; i++) {
      uint64_t d = (uint64_t)s->time[i] - (uint64_t)s->time[i - 1];
      if (step == 0 || d < step) step = d;
    }
  }
  return step > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)step;
}

static int choose_frequency(ingest *in, int64_t *step) {
  if (in->opts->frequency && in->opts->frequency[0]) {
    int rc = bt_frequency_parse(in->opts->frequency, step, in->err);
    if (rc != BT_OK) return rc;
  } else {
    *step = smallest_step(in);
    if (*step == 0 || *step >= 20 * BT_NS_PER_HOUR) *step = BT_NS_PER_DAY;
    else if (*step < BT_NS_PER_SEC)
      *step = BT_NS_PER_SEC; /* sub-second data: named by whole seconds */
  }
  bt_frequency_name(*step, in->stats->frequency);
  return BT_OK;
}

/* Key of a timestamp for matching a calendar session: daily bars match by
 * UTC date, intraday bars exactly. */
static int64_t match_key(int64_t t, int daily) {
  return daily ? bt_floor_div(t, BT_NS_PER_DAY) : t;
}

/* With a calendar the bundle holds every session between the first and
 * the last bar; data missing more than this many sessions per row is
 * refused as a likely wrong timestamp (it would make a huge bundle). */
#define SESSIONS_PER_ROW_MAX 100

/* With a calendar: drops (skip mode) or refuses rows that are not
 * sessions; returns the calendar's sessions over the data's days. */
static int calendar_sessions(ingest *in, int64_t step, int64_t **out,
                             size_t *count) {
  int64_t first = INT64_MAX, last = INT64_MIN;
  uint64_t last_origin = 0;
  for (size_t a = 0; a < in->asset_count; a++) {
    const series *s = &in->assets[a];
    if (s->count == 0) continue;
    if (s->time[0] < first) first = s->time[0];
    if (s->time[s->count - 1] > last) {
      last = s->time[s->count - 1];
      last_origin = s->origin[s->count - 1];
    }
  }
  size_t span;
  int rc = bt_calendar_count(in->opts->calendar, in->stats->frequency, first,
                             last, &span, in->err);
  if (rc == BT_ERANGE ||
      (rc == BT_OK && span > SESSIONS_PER_ROW_MAX * in->stats->rows + 100000)) {
    char from[40], to[40], sessions[40] = "too many";
    bt_time_format(first, from);
    bt_time_format(last, to);
    if (rc == BT_OK) snprintf(sessions, sizeof sessions, "%zu", span);
    return bt_err_set(in->err, BT_EINVAL,
                      "%s:%lu: timestamp: the data spans %s to %s: %s %s "
                      "sessions of %s for %zu rows, nearly all missing (a "
                      "wrong timestamp?)",
                      in->files[last_origin >> 32],
                      (unsigned long)(uint32_t)last_origin, from, to,
                      sessions, in->stats->frequency, in->opts->calendar,
                      (size_t)in->stats->rows);
  }
  if (rc == BT_OK)
    rc = bt_calendar_sessions(in->opts->calendar, in->stats->frequency,
                              first, last, out, count, in->err);
  if (rc != BT_OK) return rc;
  int daily = step >= BT_NS_PER_DAY;
  for (size_t a = 0; a < in->asset_count; a++) {
    series *s = &in->assets[a];
    size_t j = 0, kept = 0;
    for (size_t i = 0; i < s->count; i++) {
      int64_t key = match_key(s->time[i], daily);
      while (j < *count && match_key((*out)[j], daily) < key) j++;
      if (j < *count && match_key((*out)[j], daily) == key) {
        s->time[kept] = (*out)[j];
        s->origin[kept] = s->origin[i];
        for (int f = 0; f < BT_FIELD_COUNT; f++)
          s->value[f][kept] = s->value[f][i];
        kept++;
        continue;
      }
      char when[40];
      bt_time_format(s->time[i], when);
      uint64_t origin = s->origin[i];
      in->stats->rows--;
      rc = bad_row(in, in->files[origin >> 32], (unsigned long)(uint32_t)origin,
                   "timestamp", "not a %s session of %s (%s)",
                   in->stats->frequency, in->opts->calendar, when);
      if (rc != BT_OK) {
        free(*out);
        *out = NULL;
        return rc;
      }
    }
    s->count = kept;
  }
  return BT_OK;
}

static int write_bundle(ingest *in, const char *out, const int64_t *sessions,
                        size_t session_count) {
  bt_store_asset *assets = calloc(in->asset_count, sizeof *assets);
  if (assets == NULL) return bt_err_set(in->err, BT_ENOMEM, "out of memory");
  for (size_t a = 0; a < in->asset_count; a++)
    assets[a] = (bt_store_asset){in->assets[a].symbol, in->opts->asset_class,
                                 in->assets[a].places};
  const char *calendar = in->opts->calendar ? in->opts->calendar : "";
  bt_store_writer *w;
  int rc = bt_store_writer_open(out, in->stats->frequency, calendar, assets,
                                in->asset_count, sessions, session_count, &w,
                                in->err);
  free(assets);
  if (rc != BT_OK) return rc;
  for (size_t a = 0; a < in->asset_count; a++) {
    const series *s = &in->assets[a];
    bt_dec *cols[BT_FIELD_COUNT];
    for (int f = 0; f < BT_FIELD_COUNT; f++)
      cols[f] = bt_store_writer_column(w, a, (bt_field)f);
    size_t j = 0;
    for (size_t i = 0; i < s->count; i++) {
      while (sessions[j] < s->time[i]) j++; /* s->time is a subset */
      for (int f = 0; f < BT_FIELD_COUNT; f++) cols[f][j] = s->value[f][i];
    }
  }
  return bt_store_writer_commit(w, in->err);
}

/* Drops assets left without rows (every row skipped). */
static void drop_empty_assets(ingest *in) {
  size_t kept = 0;
  for (size_t a = 0; a < in->asset_count; a++) {
    if (in->assets[a].count == 0) {
      series_free(&in->assets[a]);
      continue;
    }
    in->assets[kept++] = in->assets[a];
  }
  in->asset_count = kept;
}

static int finish(ingest *in, const char *src, const char *out) {
  if (in->stats->rows == 0)
    return bt_err_set(in->err, BT_EINVAL, "%s: no data rows", src);
  qsort(in->assets, in->asset_count, sizeof *in->assets, compare_series);
  int64_t step;
  int rc = choose_frequency(in, &step);
  if (rc != BT_OK) return rc;
  int64_t *sessions = NULL;
  size_t count = 0;
  drop_empty_assets(in);
  if (in->opts->calendar && in->opts->calendar[0]) {
    rc = calendar_sessions(in, step, &sessions, &count);
    drop_empty_assets(in);
  } else if ((rc = union_sessions(in, &sessions, &count)) != BT_OK)
    rc = bt_err_set(in->err, rc, "out of memory");
  if (rc == BT_OK && in->stats->rows == 0)
    rc = bt_err_set(in->err, BT_EINVAL, "%s: no data rows", src);
  in->stats->assets = in->asset_count;
  in->stats->sessions = count;
  if (rc == BT_OK) rc = write_bundle(in, out, sessions, count);
  free(sessions);
  return rc;
}

int bt_ingest(const char *src, const char *out, const bt_ingest_options *opts,
              bt_ingest_stats *stats, bt_err *err) {
  memset(stats, 0, sizeof *stats);
  ingest in;
  memset(&in, 0, sizeof in);
  in.opts = opts;
  in.stats = stats;
  in.err = err;
  int rc = BT_OK;
  if (opts->calendar && opts->calendar[0])
    rc = bt_calendar_check(opts->calendar, err);
  if (rc == BT_OK) rc = list_inputs(&in, src);
  for (size_t i = 0; rc == BT_OK && i < in.file_count; i++)
    rc = read_file(&in, (uint32_t)i);
  if (rc == BT_OK) rc = finish(&in, src, out);
  for (size_t a = 0; a < in.asset_count; a++) series_free(&in.assets[a]);
  free(in.assets);
  free(in.table);
  for (size_t i = 0; i < in.file_count; i++) free(in.files[i]);
  free(in.files);
  return rc;
}
