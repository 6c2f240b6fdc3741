/* store.c: the OHLCV bundle file: open/verify (mmap, read-only) and the
 * atomic writer (temp file + rename). Layout and checksums: see store.h. */
#include "store.h"

#include "calendar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

#define HEADER_SIZE 128
#define ASSET_RECORD_SIZE 64
#define BYTE_ORDER_MARK UINT32_C(0x01020304)
#define COLUMN_ALIGN 64
#define MAX_ASSETS (UINT64_C(1) << 20)
#define MAX_SESSIONS (UINT64_C(1) << 40)
#define META_SEED UINT64_C(0x6274737472656d31) /* "btstrem1" */
#define DATA_SEED UINT64_C(0x6274737472646431)

typedef struct file_header {
  char magic[8];
  uint32_t version;
  uint32_t byte_order;
  uint32_t header_size;
  uint32_t asset_record_size;
  uint64_t file_size;
  uint64_t asset_count;
  uint64_t session_count;
  uint64_t assets_offset;
  uint64_t sessions_offset;
  uint64_t columns_offset;
  uint64_t meta_checksum;
  uint64_t data_checksum;
  char frequency[BT_STORE_NAME_MAX + 1];
  char calendar[BT_STORE_NAME_MAX + 1];
  uint64_t reserved;
} file_header;

typedef struct asset_record {
  char symbol[BT_STORE_SYMBOL_MAX + 1];
  uint32_t asset_class;
  int32_t price_places;
  uint64_t bar_count;
} asset_record;

_Static_assert(sizeof(file_header) == HEADER_SIZE, "header is 128 bytes");
_Static_assert(sizeof(asset_record) == ASSET_RECORD_SIZE, "record is 64");

struct bt_store {
  unsigned char *map; /* the whole file, PROT_READ */
  size_t size;
  const file_header *header;
  const asset_record *assets;
  const int64_t *sessions;
  const bt_dec *columns;
  char *path;
};

/* ---- hashing: XXH3 (libxxhash), 64 bits, seeded ---- */

uint64_t bt_store_hash(const void *data, size_t len, uint64_t seed) {
  /* The dispatching entry point picks the widest vector unit the CPU has
   * (AVX2: about 0.3 instructions a byte); every variant gives the same
   * value. */
#if defined(__x86_64__)
  return (uint64_t)XXH3_64bits_withSeed_dispatch(data, len,
                                                 (XXH64_hash_t)seed);
#else
  return (uint64_t)XXH3_64bits_withSeed(data, len, (XXH64_hash_t)seed);
#endif
}

/* ---- names ---- */

static const char *const FIELD_NAMES[BT_FIELD_COUNT] = {
    "open", "high", "low", "close", "volume"};

int bt_field_from_name(const char *name) {
  for (int f = 0; f < BT_FIELD_COUNT; f++)
    if (strcmp(name, FIELD_NAMES[f]) == 0) return f;
  return -1;
}

const char *bt_field_name(bt_field f) {
  return (unsigned)f < BT_FIELD_COUNT ? FIELD_NAMES[f] : "?";
}

/* ---- layout arithmetic (overflow-checked) ---- */

typedef struct layout {
  uint64_t assets_offset, sessions_offset, columns_offset, file_size;
} layout;

static int compute_layout(uint64_t asset_count, uint64_t session_count,
                          layout *out) {
  if (asset_count > MAX_ASSETS || session_count > MAX_SESSIONS) return -1;
  out->assets_offset = HEADER_SIZE;
  out->sessions_offset = HEADER_SIZE + asset_count * ASSET_RECORD_SIZE;
  uint64_t sessions_end = out->sessions_offset + session_count * 8;
  out->columns_offset =
      (sessions_end + COLUMN_ALIGN - 1) / COLUMN_ALIGN * COLUMN_ALIGN;
  uint64_t values, bytes;
  if (__builtin_mul_overflow(asset_count * BT_FIELD_COUNT, session_count,
                             &values) ||
      __builtin_mul_overflow(values, (uint64_t)8, &bytes) ||
      __builtin_add_overflow(bytes, out->columns_offset, &out->file_size))
    return -1;
  return 0;
}

static uint64_t meta_checksum(const unsigned char *map, uint64_t assets_bytes) {
  file_header header;
  memcpy(&header, map, sizeof header);
  header.meta_checksum = 0;
  uint64_t h = bt_store_hash(&header, sizeof header, META_SEED);
  return bt_store_hash(map + HEADER_SIZE, assets_bytes, h);
}

/* Over everything after the asset table: sessions, padding, columns. */
static uint64_t data_checksum(const unsigned char *map, const layout *lay) {
  return bt_store_hash(map + lay->sessions_offset,
                       lay->file_size - lay->sessions_offset, DATA_SEED);
}

static int has_nul(const char *text, size_t size) {
  return memchr(text, '\0', size) != NULL;
}

/* ---- open ---- */

/* Checks everything that open promises, in an order that never reads past
 * what the previous checks proved is inside the file. */
static int check_header(const char *path, const unsigned char *map,
                        size_t size, bt_err *err) {
  if (size < HEADER_SIZE)
    return bt_err_set(err, BT_EFORMAT,
                      "%s: not a btlua bundle (only %zu bytes)", path, size);
  const file_header *h = (const file_header *)map;
  if (memcmp(h->magic, BT_STORE_MAGIC, 8) != 0)
    return bt_err_set(err, BT_EFORMAT, "%s: not a btlua bundle (bad magic)",
                      path);
  if (h->byte_order != BYTE_ORDER_MARK)
    return bt_err_set(err, BT_EFORMAT,
                      "%s: bundle written with another byte order", path);
  if (h->version != BT_STORE_VERSION)
    return bt_err_set(err, BT_EFORMAT,
                      "%s: bundle format version %u, this btlua reads "
                      "version %d (re-create it)",
                      path, (unsigned)h->version, BT_STORE_VERSION);
  layout lay = {0, 0, 0, 0};
  if (h->header_size != HEADER_SIZE ||
      h->asset_record_size != ASSET_RECORD_SIZE ||
      compute_layout(h->asset_count, h->session_count, &lay) != 0 ||
      h->assets_offset != lay.assets_offset ||
      h->sessions_offset != lay.sessions_offset ||
      h->columns_offset != lay.columns_offset ||
      h->file_size != lay.file_size ||
      !has_nul(h->frequency, sizeof h->frequency) ||
      !has_nul(h->calendar, sizeof h->calendar))
    return bt_err_set(err, BT_EFORMAT, "%s: corrupt bundle header", path);
  if (h->file_size != size)
    return bt_err_set(err, BT_EFORMAT,
                      "%s: truncated or damaged bundle (%zu bytes, header "
                      "says %llu)",
                      path, size, (unsigned long long)h->file_size);
  if (meta_checksum(map, h->asset_count * ASSET_RECORD_SIZE) !=
      h->meta_checksum)
    return bt_err_set(err, BT_EFORMAT,
                      "%s: corrupt bundle (header checksum mismatch)", path);
  const asset_record *assets = (const asset_record *)(map + HEADER_SIZE);
  for (uint64_t a = 0; a < h->asset_count; a++)
    if (!has_nul(assets[a].symbol, sizeof assets[a].symbol) ||
        assets[a].asset_class >= BT_CLASS_COUNT ||
        assets[a].price_places < 0 || assets[a].price_places > 8)
      return bt_err_set(err, BT_EFORMAT,
                        "%s: corrupt bundle (asset %llu)", path,
                        (unsigned long long)a + 1);
  return BT_OK;
}

static int map_file(const char *path, unsigned char **map, size_t *size,
                    bt_err *err) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return bt_err_set(err, errno == ENOENT ? BT_ENOTFOUND : BT_EIO,
                      "%s: cannot open bundle: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return bt_err_set(err, BT_EIO, "%s: not a regular file", path);
  }
  *size = (size_t)st.st_size;
  *map = NULL;
  if (*size >= HEADER_SIZE) {
    void *m = mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      int e = errno;
      close(fd);
      return bt_err_set(err, BT_EIO, "%s: cannot map bundle: %s", path,
                        strerror(e));
    }
    *map = (unsigned char *)m;
  }
  close(fd);
  return BT_OK;
}

int bt_store_open_ex(const char *path, int flags, bt_store **out,
                     bt_err *err) {
  *out = NULL;
  unsigned char *map = NULL;
  size_t size = 0;
  int rc = map_file(path, &map, &size, err);
  if (rc != BT_OK) return rc;
  rc = check_header(path, map, size, err);
  bt_store *s = rc == BT_OK ? calloc(1, sizeof *s) : NULL;
  char *path_copy = s ? strdup(path) : NULL;
  if (rc == BT_OK && path_copy == NULL) {
    free(s);
    rc = bt_err_set(err, BT_ENOMEM, "%s: out of memory", path);
  }
  if (rc != BT_OK) {
    if (map) munmap(map, size);
    return rc;
  }
  s->map = map;
  s->size = size;
  s->path = path_copy;
  s->header = (const file_header *)map;
  s->assets = (const asset_record *)(map + s->header->assets_offset);
  s->sessions = (const int64_t *)(map + s->header->sessions_offset);
  s->columns = (const bt_dec *)(map + s->header->columns_offset);
  if (flags & BT_STORE_VERIFY) {
    rc = bt_store_verify(s, err);
    if (rc != BT_OK) {
      bt_store_close(s);
      return rc;
    }
  }
  *out = s;
  return BT_OK;
}

int bt_store_open(const char *path, bt_store **out, bt_err *err) {
  return bt_store_open_ex(path, 0, out, err);
}

void bt_store_close(bt_store *s) {
  if (s == NULL) return;
  munmap(s->map, s->size);
  free(s->path);
  free(s);
}

/* ---- verify ---- */

/* NULL when bar i of the five columns is missing or consistent, else what
 * is wrong with it. */
static const char *bar_problem(const bt_dec *const col[BT_FIELD_COUNT],
                               size_t i) {
  bt_dec open = col[BT_FIELD_OPEN][i], high = col[BT_FIELD_HIGH][i];
  bt_dec low = col[BT_FIELD_LOW][i], close = col[BT_FIELD_CLOSE][i];
  bt_dec volume = col[BT_FIELD_VOLUME][i];
  int missing = (open == BT_BAR_MISSING) + (high == BT_BAR_MISSING) +
                (low == BT_BAR_MISSING) + (close == BT_BAR_MISSING) +
                (volume == BT_BAR_MISSING);
  if (missing == BT_FIELD_COUNT) return NULL;
  if (missing) return "partly missing bar";
  if (open <= 0 || high <= 0 || low <= 0 || close <= 0)
    return "price not positive";
  if (low > bt_dec_min(open, close)) return "low above min(open, close)";
  if (high < bt_dec_max(open, close)) return "high below max(open, close)";
  if (volume < 0) return "negative volume";
  return NULL;
}

/* 1 when every bar in [from, to) is present and consistent: the rules of
 * bar_problem without branches, so the compiler can vectorise it (a missing
 * bar fails it; bar_problem then decides). */
static int span_all_good(const bt_dec *const col[BT_FIELD_COUNT], size_t from,
                         size_t to) {
  const bt_dec *open = col[BT_FIELD_OPEN], *high = col[BT_FIELD_HIGH];
  const bt_dec *low = col[BT_FIELD_LOW], *close = col[BT_FIELD_CLOSE];
  const bt_dec *volume = col[BT_FIELD_VOLUME];
  int bad = 0;
  for (size_t i = from; i < to; i++)
    bad |= (open[i] <= 0) | (high[i] <= 0) | (low[i] <= 0) | (close[i] <= 0) |
           (low[i] > open[i]) | (low[i] > close[i]) | (high[i] < open[i]) |
           (high[i] < close[i]) | (volume[i] < 0);
  return !bad;
}

/* BT_OK when every bar of asset a is missing or consistent; spans of 1024
 * bars take the fast test, a span that fails it is looked at bar by bar. */
static int check_asset_bars(const bt_store *s, size_t a, bt_err *err) {
  enum { SPAN = 1024 };
  const bt_dec *col[BT_FIELD_COUNT];
  for (int f = 0; f < BT_FIELD_COUNT; f++)
    col[f] = bt_store_column(s, a, (bt_field)f);
  size_t n = (size_t)s->header->session_count;
  for (size_t from = 0; from < n; from += SPAN) {
    size_t to = n - from < SPAN ? n : from + SPAN;
    if (span_all_good(col, from, to)) continue;
    for (size_t i = from; i < to; i++) {
      const char *problem = bar_problem(col, i);
      if (problem)
        return bt_err_set(err, BT_EFORMAT, "%s: %s, session %zu: %s",
                          s->path, s->assets[a].symbol, i + 1, problem);
    }
  }
  return BT_OK;
}

int bt_store_verify(const bt_store *s, bt_err *err) {
  const file_header *h = s->header;
  layout lay = {0, 0, 0, 0};
  compute_layout(h->asset_count, h->session_count, &lay);
  if (data_checksum(s->map, &lay) != h->data_checksum)
    return bt_err_set(err, BT_EFORMAT,
                      "%s: corrupt bundle (data checksum mismatch)", s->path);
  for (size_t i = 1; i < h->session_count; i++)
    if (s->sessions[i] <= s->sessions[i - 1])
      return bt_err_set(err, BT_EFORMAT,
                        "%s: corrupt bundle (session %zu not after the "
                        "previous one)",
                        s->path, i + 1);
  for (size_t a = 0; a < h->asset_count; a++)
    if (check_asset_bars(s, a, err) != BT_OK) return BT_EFORMAT;
  return BT_OK;
}

/* ---- accessors ---- */

const char *bt_store_path(const bt_store *s) { return s->path; }
size_t bt_store_asset_count(const bt_store *s) {
  return (size_t)s->header->asset_count;
}
size_t bt_store_session_count(const bt_store *s) {
  return (size_t)s->header->session_count;
}
const int64_t *bt_store_sessions(const bt_store *s) { return s->sessions; }

const bt_dec *bt_store_column(const bt_store *s, size_t asset, bt_field f) {
  if (asset >= s->header->asset_count || (unsigned)f >= BT_FIELD_COUNT)
    return NULL;
  return s->columns + (asset * BT_FIELD_COUNT + f) * s->header->session_count;
}

const char *bt_store_symbol(const bt_store *s, size_t asset) {
  return asset < s->header->asset_count ? s->assets[asset].symbol : NULL;
}
bt_asset_class bt_store_asset_class(const bt_store *s, size_t asset) {
  return asset < s->header->asset_count
             ? (bt_asset_class)s->assets[asset].asset_class
             : BT_CLASS_EQUITY;
}
int bt_store_price_places(const bt_store *s, size_t asset) {
  return asset < s->header->asset_count ? s->assets[asset].price_places : 0;
}
size_t bt_store_bar_count(const bt_store *s, size_t asset) {
  return asset < s->header->asset_count ? s->assets[asset].bar_count : 0;
}
long bt_store_session_find(const bt_store *s, int64_t ns) {
  size_t lo = 0, hi = s->header->session_count; /* answer in [lo-1, hi) */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->sessions[mid] <= ns) lo = mid + 1;
    else hi = mid;
  }
  return (long)lo - 1;
}

long bt_store_find(const bt_store *s, const char *symbol) {
  for (size_t a = 0; a < s->header->asset_count; a++)
    if (strcmp(s->assets[a].symbol, symbol) == 0) return (long)a;
  return -1;
}
const char *bt_store_frequency(const bt_store *s) {
  return s->header->frequency;
}
const char *bt_store_calendar(const bt_store *s) {
  return s->header->calendar;
}
uint64_t bt_store_data_checksum(const bt_store *s) {
  return s->header->data_checksum;
}
size_t bt_store_file_size(const bt_store *s) { return s->size; }

/* ---- writer ---- */

struct bt_store_writer {
  char *path, *temp_path;
  unsigned char *map;
  layout lay;
  uint64_t asset_count, session_count;
};

static void writer_free(bt_store_writer *w, int remove_temp) {
  if (w->map) munmap(w->map, w->lay.file_size);
  if (remove_temp && w->temp_path && w->temp_path[0]) unlink(w->temp_path);
  free(w->path);
  free(w->temp_path);
  free(w);
}

static int check_writer_args(const char *path, const char *frequency,
                             const char *calendar,
                             const bt_store_asset *assets, size_t asset_count,
                             const int64_t *sessions, size_t session_count,
                             bt_err *err) {
  if (strlen(frequency) > BT_STORE_NAME_MAX ||
      strlen(calendar) > BT_STORE_NAME_MAX)
    return bt_err_set(err, BT_EINVAL, "%s: frequency or calendar name too "
                      "long", path);
  for (size_t a = 0; a < asset_count; a++) {
    if (strlen(assets[a].symbol) > BT_STORE_SYMBOL_MAX)
      return bt_err_set(err, BT_EINVAL,
                        "%s: symbol '%s' longer than %d bytes", path,
                        assets[a].symbol, BT_STORE_SYMBOL_MAX);
    if ((unsigned)assets[a].asset_class >= BT_CLASS_COUNT ||
        assets[a].price_places < 0 || assets[a].price_places > 8)
      return bt_err_set(err, BT_EINVAL, "%s: bad class or places for '%s'",
                        path, assets[a].symbol);
  }
  for (size_t i = 1; i < session_count; i++)
    if (sessions[i] <= sessions[i - 1])
      return bt_err_set(err, BT_EINVAL,
                        "%s: sessions must increase (session %zu)", path,
                        i + 1);
  return BT_OK;
}

/* Creates the temp file at full size (disk space reserved, so filling the
 * mapping cannot fault on a full disk) and maps it. */
static int writer_map(bt_store_writer *w, bt_err *err) {
  int fd = mkstemp(w->temp_path);
  if (fd < 0) {
    w->temp_path[0] = '\0'; /* nothing to remove */
    return bt_err_set(err, BT_EIO, "%s: cannot create bundle: %s", w->path,
                      strerror(errno));
  }
  int rc = posix_fallocate(fd, 0, (off_t)w->lay.file_size);
  if (rc == EINVAL || rc == EOPNOTSUPP)
    rc = ftruncate(fd, (off_t)w->lay.file_size) == 0 ? 0 : errno;
  if (rc == 0 && fchmod(fd, 0644) != 0) rc = errno;
  void *m = MAP_FAILED;
  if (rc == 0) {
    /* MAP_POPULATE: one pass of page setup instead of a fault per page */
    m = mmap(NULL, w->lay.file_size, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_POPULATE, fd, 0);
    if (m == MAP_FAILED) rc = errno;
  }
  close(fd);
  if (rc != 0)
    return bt_err_set(err, BT_EIO, "%s: cannot write bundle: %s", w->path,
                      strerror(rc));
  w->map = (unsigned char *)m;
  return BT_OK;
}

static void writer_fill(bt_store_writer *w, const char *frequency,
                        const char *calendar, const bt_store_asset *assets,
                        const int64_t *sessions) {
  file_header *h = (file_header *)w->map;
  memset(h, 0, sizeof *h);
  memcpy(h->magic, BT_STORE_MAGIC, 8);
  h->version = BT_STORE_VERSION;
  h->byte_order = BYTE_ORDER_MARK;
  h->header_size = HEADER_SIZE;
  h->asset_record_size = ASSET_RECORD_SIZE;
  h->file_size = w->lay.file_size;
  h->asset_count = w->asset_count;
  h->session_count = w->session_count;
  h->assets_offset = w->lay.assets_offset;
  h->sessions_offset = w->lay.sessions_offset;
  h->columns_offset = w->lay.columns_offset;
  strcpy(h->frequency, frequency);
  strcpy(h->calendar, calendar);
  asset_record *records = (asset_record *)(w->map + w->lay.assets_offset);
  for (uint64_t a = 0; a < w->asset_count; a++) {
    memset(&records[a], 0, sizeof records[a]);
    strcpy(records[a].symbol, assets[a].symbol);
    records[a].asset_class = (uint32_t)assets[a].asset_class;
    records[a].price_places = assets[a].price_places;
  }
  if (w->session_count)
    memcpy(w->map + w->lay.sessions_offset, sessions, w->session_count * 8);
  bt_dec *columns = (bt_dec *)(w->map + w->lay.columns_offset);
  uint64_t values = w->asset_count * BT_FIELD_COUNT * w->session_count;
  for (uint64_t i = 0; i < values; i++) columns[i] = BT_BAR_MISSING;
}

int bt_store_writer_open(const char *path, const char *frequency,
                         const char *calendar, const bt_store_asset *assets,
                         size_t asset_count, const int64_t *sessions,
                         size_t session_count, bt_store_writer **out,
                         bt_err *err) {
  *out = NULL;
  int rc = check_writer_args(path, frequency, calendar, assets, asset_count,
                             sessions, session_count, err);
  if (rc != BT_OK) return rc;
  bt_store_writer *w = calloc(1, sizeof *w);
  if (w == NULL) return bt_err_set(err, BT_ENOMEM, "%s: out of memory", path);
  w->asset_count = asset_count;
  w->session_count = session_count;
  if (compute_layout(asset_count, session_count, &w->lay) != 0) {
    free(w);
    return bt_err_set(err, BT_ERANGE, "%s: bundle too large", path);
  }
  size_t path_len = strlen(path);
  w->path = strdup(path);
  w->temp_path = malloc(path_len + sizeof ".tmp.XXXXXX");
  if (w->path == NULL || w->temp_path == NULL) {
    writer_free(w, 0);
    return bt_err_set(err, BT_ENOMEM, "%s: out of memory", path);
  }
  memcpy(w->temp_path, path, path_len);
  memcpy(w->temp_path + path_len, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
  rc = writer_map(w, err);
  if (rc != BT_OK) {
    writer_free(w, 1);
    return rc;
  }
  writer_fill(w, frequency, calendar, assets, sessions);
  *out = w;
  return BT_OK;
}

bt_dec *bt_store_writer_column(bt_store_writer *w, size_t asset, bt_field f) {
  if (asset >= w->asset_count || (unsigned)f >= BT_FIELD_COUNT) return NULL;
  bt_dec *columns = (bt_dec *)(w->map + w->lay.columns_offset);
  return columns + (asset * BT_FIELD_COUNT + f) * w->session_count;
}

int bt_store_writer_commit(bt_store_writer *w, bt_err *err) {
  file_header *h = (file_header *)w->map;
  asset_record *records = (asset_record *)(w->map + w->lay.assets_offset);
  for (uint64_t a = 0; a < w->asset_count; a++) {
    const bt_dec *close = bt_store_writer_column(w, a, BT_FIELD_CLOSE);
    uint64_t present = 0;
    for (uint64_t i = 0; i < w->session_count; i++)
      present += close[i] != BT_BAR_MISSING;
    records[a].bar_count = present;
  }
  h->data_checksum = data_checksum(w->map, &w->lay);
  h->meta_checksum = meta_checksum(w->map, w->asset_count * ASSET_RECORD_SIZE);
  int rc = munmap(w->map, w->lay.file_size);
  w->map = NULL;
  if (rc != 0 || rename(w->temp_path, w->path) != 0) {
    rc = bt_err_set(err, BT_EIO, "%s: cannot write bundle: %s", w->path,
                    strerror(errno));
    writer_free(w, 1);
    return rc;
  }
  writer_free(w, 0);
  return BT_OK;
}

void bt_store_writer_abort(bt_store_writer *w) {
  if (w != NULL) writer_free(w, 1);
}

/* ---- aggregation ---- */

/* Bucket start of each source session (see bt_store_aggregate); returns the
 * number of distinct buckets, written (increasing) to `starts`. */
static size_t assign_buckets(const int64_t *sessions, size_t count,
                             int64_t step, size_t *bucket_of,
                             int64_t *starts) {
  size_t buckets = 0;
  int64_t day = INT64_MIN, anchor = 0;
  for (size_t i = 0; i < count; i++) {
    int64_t t = sessions[i];
    int64_t this_day = bt_floor_div(t, BT_NS_PER_DAY);
    if (this_day != day) {
      day = this_day;
      anchor = t; /* the day's first session */
    }
    int64_t start = step >= BT_NS_PER_DAY
                        ? anchor
                        : anchor + bt_floor_div(t - anchor, step) * step;
    if (buckets == 0 || starts[buckets - 1] != start) starts[buckets++] = start;
    bucket_of[i] = buckets - 1;
  }
  return buckets;
}

static int aggregate_asset(const bt_store *s, size_t a, const size_t *bucket_of,
                           bt_store_writer *w, bt_err *err) {
  const bt_dec *in[BT_FIELD_COUNT];
  bt_dec *out[BT_FIELD_COUNT];
  for (int f = 0; f < BT_FIELD_COUNT; f++) {
    in[f] = bt_store_column(s, a, (bt_field)f);
    out[f] = bt_store_writer_column(w, a, (bt_field)f);
  }
  for (size_t i = 0; i < s->header->session_count; i++) {
    if (in[BT_FIELD_CLOSE][i] == BT_BAR_MISSING) continue;
    size_t b = bucket_of[i];
    if (out[BT_FIELD_CLOSE][b] == BT_BAR_MISSING) {
      for (int f = 0; f < BT_FIELD_COUNT; f++) out[f][b] = in[f][i];
      continue;
    }
    out[BT_FIELD_HIGH][b] = bt_dec_max(out[BT_FIELD_HIGH][b],
                                       in[BT_FIELD_HIGH][i]);
    out[BT_FIELD_LOW][b] = bt_dec_min(out[BT_FIELD_LOW][b], in[BT_FIELD_LOW][i]);
    out[BT_FIELD_CLOSE][b] = in[BT_FIELD_CLOSE][i];
    if (bt_dec_add(out[BT_FIELD_VOLUME][b], in[BT_FIELD_VOLUME][i],
                   &out[BT_FIELD_VOLUME][b]) != BT_OK)
      return bt_err_set(err, BT_EOVERFLOW, "%s: %s: volume sum overflows",
                        s->path, s->assets[a].symbol);
  }
  return BT_OK;
}

int bt_store_aggregate(const bt_store *s, const char *frequency,
                       const char *out, bt_err *err) {
  int64_t step, source_step;
  int rc = bt_frequency_parse(frequency, &step, err);
  if (rc != BT_OK) return rc;
  if (bt_frequency_parse(bt_store_frequency(s), &source_step, NULL) != BT_OK ||
      step < source_step || step % source_step != 0 ||
      (step < BT_NS_PER_DAY && BT_NS_PER_DAY % step != 0))
    return bt_err_set(err, BT_EINVAL,
                      "%s: cannot aggregate %s bars to '%s' (a multiple "
                      "that divides a day, or daily)",
                      s->path, bt_store_frequency(s), frequency);
  size_t count = s->header->session_count, assets = s->header->asset_count;
  size_t *bucket_of = malloc((count ? count : 1) * sizeof *bucket_of);
  int64_t *starts = malloc((count ? count : 1) * sizeof *starts);
  bt_store_asset *info = malloc((assets ? assets : 1) * sizeof *info);
  if (bucket_of == NULL || starts == NULL || info == NULL) {
    rc = bt_err_set(err, BT_ENOMEM, "%s: out of memory", out);
    goto done;
  }
  size_t buckets = assign_buckets(s->sessions, count, step, bucket_of, starts);
  for (size_t a = 0; a < assets; a++)
    info[a] = (bt_store_asset){s->assets[a].symbol,
                               (bt_asset_class)s->assets[a].asset_class,
                               s->assets[a].price_places};
  char name[BT_FREQUENCY_NAME_MAX];
  bt_frequency_name(step, name);
  bt_store_writer *w;
  rc = bt_store_writer_open(out, name, bt_store_calendar(s), info, assets,
                            starts, buckets, &w, err);
  if (rc != BT_OK) goto done;
  for (size_t a = 0; a < assets && rc == BT_OK; a++)
    rc = aggregate_asset(s, a, bucket_of, w, err);
  if (rc == BT_OK) rc = bt_store_writer_commit(w, err);
  else bt_store_writer_abort(w);
done:
  free(bucket_of);
  free(starts);
  free(info);
  return rc;
}
