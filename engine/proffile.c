/* proffile.c: .btprof encoding and decoding (layout in proffile.h): a
 * string table plus checksummed sections, read back with bounds checks on
 * every field so a truncated or corrupt file is refused, never trusted. */
#include "proffile.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned char MAGIC[8] = {'B', 'T', 'P',  'R',
                                       'O', 'F', '\r', '\n'};

/* ---- crc32 ---------------------------------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t crc = n;
    for (int bit = 0; bit < 8; bit++)
      crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    crc_table[n] = crc;
  }
}

static uint32_t crc_update(uint32_t crc, const unsigned char *data,
                           size_t len) {
  pthread_once(&crc_once, crc_init);
  crc = ~crc;
  for (size_t i = 0; i < len; i++)
    crc = crc_table[(crc ^ data[i]) & 0xffu] ^ (crc >> 8);
  return ~crc;
}

uint32_t bt_proffile_crc32(const unsigned char *data, size_t len) {
  return crc_update(0, data, len);
}

/* ---- freeing -------------------------------------------------------- */

static void free_pairs(bt_pf_pair *pairs, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(pairs[i].name);
  free(pairs);
}

void bt_profile_free(bt_profile *pf) {
  for (size_t i = 0; i < pf->nmeta; i++) {
    free(pf->meta[i].key);
    free(pf->meta[i].text);
  }
  free(pf->meta);
  for (size_t i = 0; i < pf->nfuncs; i++) {
    free(pf->funcs[i].name);
    free(pf->funcs[i].source);
  }
  free(pf->funcs);
  free(pf->edges);
  for (size_t i = 0; i < pf->nzones; i++)
    free(pf->zones[i].name);
  free(pf->zones);
  free_pairs(pf->memory.by_zone, pf->memory.nby_zone);
  free_pairs(pf->memory.by_function, pf->memory.nby_function);
  free(pf->memory.timeline);
  for (size_t i = 0; i < pf->nsamples; i++) {
    free(pf->samples[i].zone);
    free(pf->samples[i].stack);
  }
  free(pf->samples);
  for (size_t i = 0; i < pf->nruns; i++) {
    free_pairs(pf->runs[i].zones, pf->runs[i].nzones);
    free_pairs(pf->runs[i].functions, pf->runs[i].nfunctions);
    free_pairs(pf->runs[i].functions_cum, pf->runs[i].nfunctions_cum);
  }
  free(pf->runs);
  free(pf->tree);
  memset(pf, 0, sizeof *pf);
}

/* ---- writing -------------------------------------------------------- */

typedef struct buf {
  unsigned char *data;
  size_t len, cap;
  int failed;
} buf;

static void put_bytes(buf *b, const void *bytes, size_t n) {
  if (b->failed) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n)
      cap *= 2;
    unsigned char *bigger = (unsigned char *)realloc(b->data, cap);
    if (bigger == NULL) {
      b->failed = 1;
      return;
    }
    b->data = bigger;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, bytes, n);
  b->len += n;
}

static void put_u32(buf *b, uint32_t v) {
  unsigned char bytes[4];
  for (int i = 0; i < 4; i++)
    bytes[i] = (unsigned char)(v >> (8 * i));
  put_bytes(b, bytes, 4);
}

static void put_u64(buf *b, uint64_t v) {
  unsigned char bytes[8];
  for (int i = 0; i < 8; i++)
    bytes[i] = (unsigned char)(v >> (8 * i));
  put_bytes(b, bytes, 8);
}

static void put_f64(buf *b, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  put_u64(b, bits);
}

/* The string table: strings interned by content (open addressing). */
typedef struct strtab {
  const char **items;
  size_t count, cap;
  uint32_t *slots; /* index + 1; 0 empty */
  size_t nslots;
  int failed;
} strtab;

static uint64_t hash_text(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static int strtab_rehash(strtab *t) {
  size_t nslots = t->nslots ? t->nslots * 2 : 256;
  uint32_t *slots = (uint32_t *)calloc(nslots, sizeof *slots);
  if (slots == NULL) return -1;
  for (size_t i = 0; i < t->count; i++) {
    size_t at = hash_text(t->items[i]) & (nslots - 1);
    while (slots[at])
      at = (at + 1) & (nslots - 1);
    slots[at] = (uint32_t)i + 1;
  }
  free(t->slots);
  t->slots = slots;
  t->nslots = nslots;
  return 0;
}

static uint32_t strtab_id(strtab *t, const char *s) {
  if (s == NULL) s = "";
  if (t->failed) return 0;
  if ((t->count + 1) * 2 > t->nslots && strtab_rehash(t) != 0) {
    t->failed = 1;
    return 0;
  }
  size_t at = hash_text(s) & (t->nslots - 1);
  for (; t->slots[at]; at = (at + 1) & (t->nslots - 1))
    if (strcmp(t->items[t->slots[at] - 1], s) == 0) return t->slots[at] - 1;
  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    const char **items = (const char **)realloc(t->items, cap * sizeof *items);
    if (items == NULL) {
      t->failed = 1;
      return 0;
    }
    t->items = items;
    t->cap = cap;
  }
  t->items[t->count] = s;
  t->slots[at] = (uint32_t)t->count + 1;
  return (uint32_t)t->count++;
}

static void put_pairs(buf *b, strtab *t, const bt_pf_pair *pairs, size_t n) {
  put_u32(b, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    put_u32(b, strtab_id(t, pairs[i].name));
    put_u64(b, pairs[i].value);
  }
}

static void encode_meta(buf *b, strtab *t, const bt_profile *pf) {
  put_u32(b, (uint32_t)pf->nmeta);
  for (size_t i = 0; i < pf->nmeta; i++) {
    const bt_pf_meta *m = &pf->meta[i];
    put_u32(b, strtab_id(t, m->key));
    put_u32(b, (uint32_t)m->type);
    if (m->type == BT_PF_TEXT)
      put_u64(b, strtab_id(t, m->text));
    else if (m->type == BT_PF_REAL)
      put_f64(b, m->real);
    else
      put_u64(b, (uint64_t)m->integer);
  }
}

static void encode_funcs(buf *b, strtab *t, const bt_profile *pf) {
  put_u32(b, (uint32_t)pf->nfuncs);
  for (size_t i = 0; i < pf->nfuncs; i++) {
    const bt_pf_func *f = &pf->funcs[i];
    put_u32(b, strtab_id(t, f->name));
    put_u32(b, strtab_id(t, f->source));
    put_u64(b, (uint64_t)f->line);
    put_u64(b, f->ncalls);
    put_u64(b, f->primcalls);
    put_u64(b, f->self_ns);
    put_u64(b, f->cum_ns);
    put_u64(b, f->alloc_bytes);
  }
}

static void encode_edges(buf *b, const bt_profile *pf) {
  put_u32(b, (uint32_t)pf->nedges);
  for (size_t i = 0; i < pf->nedges; i++) {
    const bt_pf_edge *e = &pf->edges[i];
    put_u32(b, e->caller);
    put_u32(b, e->callee);
    put_u64(b, e->ncalls);
    put_u64(b, e->primcalls);
    put_u64(b, e->self_ns);
    put_u64(b, e->cum_ns);
  }
}

static void encode_zones(buf *b, strtab *t, const bt_profile *pf) {
  put_u32(b, (uint32_t)pf->nzones);
  for (size_t i = 0; i < pf->nzones; i++) {
    const bt_pf_zone *z = &pf->zones[i];
    put_u32(b, strtab_id(t, z->name));
    put_u64(b, z->count);
    put_u64(b, z->self_ns);
    put_u64(b, z->incl_ns);
    put_u64(b, z->alloc_bytes);
    put_u64(b, z->free_bytes);
  }
}

static void encode_memory(buf *b, strtab *t, const bt_profile *pf) {
  const bt_pf_memory *m = &pf->memory;
  put_u64(b, m->peak_rss);
  put_u64(b, m->mean_rss);
  put_u64(b, m->alloc_bytes);
  put_u64(b, m->free_bytes);
  put_u64(b, m->peak_lua_bytes);
  put_pairs(b, t, m->by_zone, m->nby_zone);
  put_pairs(b, t, m->by_function, m->nby_function);
  put_u32(b, (uint32_t)m->ntimeline);
  for (size_t i = 0; i < m->ntimeline; i++) {
    put_u64(b, m->timeline[i].t_ns);
    put_u64(b, m->timeline[i].rss);
  }
}

static void encode_samples(buf *b, strtab *t, const bt_profile *pf) {
  put_u64(b, pf->sample_interval_ns);
  put_u32(b, (uint32_t)pf->nsamples);
  for (size_t i = 0; i < pf->nsamples; i++) {
    const bt_pf_sample *s = &pf->samples[i];
    put_u32(b, s->zone ? strtab_id(t, s->zone) : BT_PF_NONE);
    put_u64(b, s->count);
    put_u32(b, s->depth);
    for (uint32_t k = 0; k < s->depth; k++)
      put_u32(b, s->stack[k]);
  }
}

/* RCUM: each run's cumulative time per function, in the order of RUNS
 * (a section of its own, so readers that predate it skip it). */
static int encode_runs_cum(buf *b, strtab *t, const bt_profile *pf) {
  int any = 0;
  for (size_t i = 0; i < pf->nruns; i++) any |= pf->runs[i].nfunctions_cum > 0;
  if (!any) return 0;
  put_u32(b, (uint32_t)pf->nruns);
  for (size_t i = 0; i < pf->nruns; i++)
    put_pairs(b, t, pf->runs[i].functions_cum, pf->runs[i].nfunctions_cum);
  return 1;
}

static void encode_runs(buf *b, strtab *t, const bt_profile *pf) {
  put_u32(b, (uint32_t)pf->nruns);
  for (size_t i = 0; i < pf->nruns; i++) {
    const bt_pf_run *r = &pf->runs[i];
    put_u64(b, r->wall_ns);
    put_u64(b, r->total_ticks);
    put_pairs(b, t, r->zones, r->nzones);
    put_pairs(b, t, r->functions, r->nfunctions);
  }
}

/* A section; its checksum covers the 16-byte header and the payload. */
static void encode_tree(buf *b, const bt_profile *pf) {
  put_u32(b, (uint32_t)pf->ntree);
  for (size_t i = 0; i < pf->ntree; i++) {
    put_u32(b, pf->tree[i].parent);
    put_u32(b, pf->tree[i].fn);
    put_u64(b, pf->tree[i].calls);
    put_u64(b, pf->tree[i].self_ns);
  }
}

static void put_section(buf *out, const char tag[4], const buf *payload) {
  size_t header = out->len;
  put_bytes(out, tag, 4);
  put_u32(out, 0);
  put_u64(out, payload->len);
  put_bytes(out, payload->data, payload->len);
  uint32_t crc = 0;
  if (!out->failed) crc = crc_update(0, out->data + header, 16 + payload->len);
  put_u32(out, crc);
  if (payload->failed) out->failed = 1;
}

int bt_proffile_encode(const bt_profile *pf, unsigned char **out, size_t *len,
                       bt_err *err) {
  /* Sections are encoded first (interning strings), then STRS goes in
   * front of them. */
  strtab strings = {0};
  enum { NPARTS = 9, MEMO = 4, TREE = 7, RCUM = 8 };
  buf parts[NPARTS] = {{0}};
  static const char *const TAGS[NPARTS] = {"META", "FUNC", "EDGE",
                                           "ZONE", "MEMO", "SAMP",
                                           "RUNS", "TREE", "RCUM"};
  encode_meta(&parts[0], &strings, pf);
  encode_funcs(&parts[1], &strings, pf);
  encode_edges(&parts[2], pf);
  encode_zones(&parts[3], &strings, pf);
  if (pf->memory.present) encode_memory(&parts[4], &strings, pf);
  encode_samples(&parts[5], &strings, pf);
  encode_runs(&parts[6], &strings, pf);
  if (pf->ntree > 0) encode_tree(&parts[TREE], pf);
  int has_cum = encode_runs_cum(&parts[RCUM], &strings, pf);
  int present[NPARTS];
  uint32_t sections = 2; /* STRS and END! */
  for (int i = 0; i < NPARTS; i++) {
    present[i] = i == MEMO   ? pf->memory.present
                 : i == TREE ? pf->ntree > 0
                 : i == RCUM ? has_cum
                             : 1;
    sections += (uint32_t)present[i];
  }
  buf table = {0};
  put_u32(&table, (uint32_t)strings.count);
  for (size_t i = 0; i < strings.count; i++) {
    size_t n = strlen(strings.items[i]);
    put_u32(&table, (uint32_t)n);
    put_bytes(&table, strings.items[i], n);
  }
  buf file = {0};
  put_bytes(&file, MAGIC, sizeof MAGIC);
  put_u32(&file, BT_PROFFILE_VERSION);
  put_u32(&file, sections);
  put_section(&file, "STRS", &table);
  for (int i = 0; i < NPARTS; i++)
    if (present[i]) put_section(&file, TAGS[i], &parts[i]);
  buf none = {0};
  put_section(&file, "END!", &none);
  int failed = file.failed || strings.failed;
  for (int i = 0; i < NPARTS; i++)
    free(parts[i].data);
  free(table.data);
  free(strings.items);
  free(strings.slots);
  if (failed) {
    free(file.data);
    return bt_err_set(err, BT_ENOMEM, "btprof: out of memory while encoding");
  }
  *out = file.data;
  *len = file.len;
  return 0;
}

/* ---- reading -------------------------------------------------------- */

typedef struct reader {
  const unsigned char *data;
  size_t len, pos;
  int bad; /* ran past the end or saw a bad index */
  char **strings;
  size_t nstrings;
} reader;

static uint64_t get_n(reader *r, int n) {
  if (r->bad || r->len - r->pos < (size_t)n) {
    r->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v |= (uint64_t)r->data[r->pos + i] << (8 * i);
  r->pos += (size_t)n;
  return v;
}

static uint32_t get_u32(reader *r) {
  return (uint32_t)get_n(r, 4);
}
static uint64_t get_u64(reader *r) {
  return get_n(r, 8);
}

static double get_f64(reader *r) {
  uint64_t bits = get_u64(r);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* A copy of string `id` of the table (NULL and r->bad on a bad id). */
static char *get_str(reader *r) {
  uint32_t id = get_u32(r);
  if (r->bad || id >= r->nstrings) {
    r->bad = 1;
    return NULL;
  }
  size_t n = strlen(r->strings[id]);
  char *copy = (char *)malloc(n + 1);
  if (copy == NULL) {
    r->bad = 1;
    return NULL;
  }
  memcpy(copy, r->strings[id], n + 1);
  return copy;
}

/* Room for `count` items of at least `min_bytes` encoded bytes each, so a
 * corrupt count cannot make us allocate more than the file could hold. */
static void *get_array(reader *r, uint32_t count, size_t min_bytes,
                       size_t item_size) {
  if (r->bad) return NULL;
  if ((uint64_t)count * min_bytes > r->len - r->pos) {
    r->bad = 1;
    return NULL;
  }
  void *items = calloc(count ? count : 1, item_size);
  if (items == NULL) r->bad = 1;
  return items;
}

static void read_strings(reader *r) {
  uint32_t count = get_u32(r);
  r->strings = (char **)get_array(r, count, 4, sizeof(char *));
  if (r->strings == NULL) return;
  r->nstrings = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    uint32_t n = get_u32(r);
    if (r->bad || n > r->len - r->pos) {
      r->bad = 1;
      return;
    }
    r->strings[i] = (char *)malloc((size_t)n + 1);
    if (r->strings[i] == NULL) {
      r->bad = 1;
      return;
    }
    memcpy(r->strings[i], r->data + r->pos, n);
    r->strings[i][n] = '\0';
    r->pos += n;
  }
}

static bt_pf_pair *read_pairs(reader *r, size_t *n) {
  uint32_t count = get_u32(r);
  bt_pf_pair *pairs = (bt_pf_pair *)get_array(r, count, 12, sizeof *pairs);
  if (pairs == NULL) return NULL;
  *n = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    pairs[i].name = get_str(r);
    pairs[i].value = get_u64(r);
  }
  return pairs;
}

static void read_meta(reader *r, bt_profile *pf) {
  uint32_t count = get_u32(r);
  pf->meta = (bt_pf_meta *)get_array(r, count, 16, sizeof *pf->meta);
  if (pf->meta == NULL) return;
  pf->nmeta = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    bt_pf_meta *m = &pf->meta[i];
    m->key = get_str(r);
    m->type = (int)get_u32(r);
    if (m->type == BT_PF_TEXT) {
      uint32_t id = (uint32_t)get_u64(r);
      if (id >= r->nstrings)
        r->bad = 1;
      else
        m->text = strdup(r->strings[id]);
    } else if (m->type == BT_PF_REAL) {
      m->real = get_f64(r);
    } else if (m->type == BT_PF_INT || m->type == BT_PF_BOOL) {
      m->integer = (int64_t)get_u64(r);
    } else {
      r->bad = 1;
    }
  }
}

static void read_funcs(reader *r, bt_profile *pf) {
  uint32_t count = get_u32(r);
  pf->funcs = (bt_pf_func *)get_array(r, count, 56, sizeof *pf->funcs);
  if (pf->funcs == NULL) return;
  pf->nfuncs = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    bt_pf_func *f = &pf->funcs[i];
    f->name = get_str(r);
    f->source = get_str(r);
    f->line = (int64_t)get_u64(r);
    f->ncalls = get_u64(r);
    f->primcalls = get_u64(r);
    f->self_ns = get_u64(r);
    f->cum_ns = get_u64(r);
    f->alloc_bytes = get_u64(r);
  }
}

static void read_edges(reader *r, bt_profile *pf) {
  uint32_t count = get_u32(r);
  pf->edges = (bt_pf_edge *)get_array(r, count, 40, sizeof *pf->edges);
  if (pf->edges == NULL) return;
  pf->nedges = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    bt_pf_edge *e = &pf->edges[i];
    e->caller = get_u32(r);
    e->callee = get_u32(r);
    e->ncalls = get_u64(r);
    e->primcalls = get_u64(r);
    e->self_ns = get_u64(r);
    e->cum_ns = get_u64(r);
  }
}

static void read_zones(reader *r, bt_profile *pf) {
  uint32_t count = get_u32(r);
  pf->zones = (bt_pf_zone *)get_array(r, count, 44, sizeof *pf->zones);
  if (pf->zones == NULL) return;
  pf->nzones = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    bt_pf_zone *z = &pf->zones[i];
    z->name = get_str(r);
    z->count = get_u64(r);
    z->self_ns = get_u64(r);
    z->incl_ns = get_u64(r);
    z->alloc_bytes = get_u64(r);
    z->free_bytes = get_u64(r);
  }
}

static void read_memory(reader *r, bt_profile *pf) {
  bt_pf_memory *m = &pf->memory;
  m->present = 1;
  m->peak_rss = get_u64(r);
  m->mean_rss = get_u64(r);
  m->alloc_bytes = get_u64(r);
  m->free_bytes = get_u64(r);
  m->peak_lua_bytes = get_u64(r);
  m->by_zone = read_pairs(r, &m->nby_zone);
  m->by_function = read_pairs(r, &m->nby_function);
  uint32_t count = get_u32(r);
  m->timeline = (bt_pf_rss *)get_array(r, count, 16, sizeof *m->timeline);
  if (m->timeline == NULL) return;
  m->ntimeline = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    m->timeline[i].t_ns = get_u64(r);
    m->timeline[i].rss = get_u64(r);
  }
}

static void read_samples(reader *r, bt_profile *pf) {
  pf->sample_interval_ns = get_u64(r);
  uint32_t count = get_u32(r);
  pf->samples = (bt_pf_sample *)get_array(r, count, 16, sizeof *pf->samples);
  if (pf->samples == NULL) return;
  pf->nsamples = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    bt_pf_sample *s = &pf->samples[i];
    size_t at = r->pos;
    uint32_t zone = get_u32(r);
    if (zone != BT_PF_NONE) {
      r->pos = at;
      s->zone = get_str(r);
    }
    s->count = get_u64(r);
    s->depth = get_u32(r);
    s->stack = (uint32_t *)get_array(r, s->depth, 4, sizeof *s->stack);
    for (uint32_t k = 0; k < s->depth && !r->bad; k++)
      s->stack[k] = get_u32(r);
  }
}

static void read_runs(reader *r, bt_profile *pf) {
  uint32_t count = get_u32(r);
  pf->runs = (bt_pf_run *)get_array(r, count, 24, sizeof *pf->runs);
  if (pf->runs == NULL) return;
  pf->nruns = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    bt_pf_run *run = &pf->runs[i];
    run->wall_ns = get_u64(r);
    run->total_ticks = get_u64(r);
    run->zones = read_pairs(r, &run->nzones);
    run->functions = read_pairs(r, &run->nfunctions);
  }
}

/* After RUNS: one pairs list per run. */
static void read_runs_cum(reader *r, bt_profile *pf) {
  uint32_t count = get_u32(r);
  if (count != pf->nruns) {
    r->bad = 1;
    return;
  }
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    bt_pf_run *run = &pf->runs[i];
    run->functions_cum = read_pairs(r, &run->nfunctions_cum);
  }
}

/* Function indices must point into the function table. */
static void read_tree(reader *r, bt_profile *pf) {
  uint32_t count = get_u32(r);
  pf->tree = (bt_pf_node *)get_array(r, count, 24, sizeof *pf->tree);
  if (pf->tree == NULL) return;
  pf->ntree = count;
  for (uint32_t i = 0; i < count && !r->bad; i++) {
    bt_pf_node *node = &pf->tree[i];
    node->parent = get_u32(r);
    node->fn = get_u32(r);
    node->calls = get_u64(r);
    node->self_ns = get_u64(r);
    if (node->parent != BT_PF_NONE && node->parent >= i) r->bad = 1;
  }
}

static int indices_valid(const bt_profile *pf) {
  for (size_t i = 0; i < pf->nedges; i++)
    if (pf->edges[i].caller >= pf->nfuncs || pf->edges[i].callee >= pf->nfuncs)
      return 0;
  for (size_t i = 0; i < pf->nsamples; i++)
    for (uint32_t k = 0; k < pf->samples[i].depth; k++)
      if (pf->samples[i].stack[k] >= pf->nfuncs) return 0;
  for (size_t i = 0; i < pf->ntree; i++)
    if (pf->tree[i].fn >= pf->nfuncs) return 0;
  return 1;
}

static void free_strings(reader *r) {
  for (size_t i = 0; i < r->nstrings; i++)
    free(r->strings[i]);
  free(r->strings);
}

/* The sections this reader knows, in the order a writer puts them; STRS
 * (first) fills the reader's string table, the others fill the profile.
 * Unknown tags are skipped; a known one appearing twice is refused (its
 * first reading would otherwise be lost). */
static const struct {
  const char *tag;
  void (*read)(reader *r, bt_profile *pf);
} SECTIONS[] = {
    {"STRS", NULL},          {"META", read_meta},     {"FUNC", read_funcs},
    {"EDGE", read_edges},    {"ZONE", read_zones},    {"MEMO", read_memory},
    {"SAMP", read_samples},  {"RUNS", read_runs},     {"TREE", read_tree},
    {"RCUM", read_runs_cum},
};

/* The index of `tag` in SECTIONS, or -1 for an unknown section. */
static int section_kind(const char *tag) {
  for (size_t i = 0; i < sizeof SECTIONS / sizeof SECTIONS[0]; i++)
    if (strcmp(tag, SECTIONS[i].tag) == 0) return (int)i;
  return -1;
}

static int decode_sections(reader *file, bt_profile *pf, const char *name,
                           uint32_t sections, bt_err *err) {
  reader body = {0};
  uint32_t seen_kinds = 0; /* a known section may appear once */
  for (uint32_t seen = 1;; seen++) {
    if (file->len - file->pos < 16)
      return bt_err_set(err, BT_EFORMAT,
                        "%s: truncated .btprof file (ends at byte %zu before "
                        "its end marker)",
                        name, file->len);
    char tag[5] = {0};
    size_t header = file->pos;
    memcpy(tag, file->data + file->pos, 4);
    file->pos += 4;
    uint32_t reserved = get_u32(file);
    uint64_t length = get_u64(file);
    if (length > file->len - file->pos || file->len - file->pos - length < 4)
      return bt_err_set(err, BT_EFORMAT,
                        "%s: truncated .btprof file (section %s needs %llu "
                        "bytes, %zu left)",
                        name, tag, (unsigned long long)length + 4,
                        file->len - file->pos);
    const unsigned char *payload = file->data + file->pos;
    file->pos += (size_t)length;
    uint32_t crc = get_u32(file);
    if (crc != crc_update(0, file->data + header, 16 + (size_t)length) ||
        reserved != 0)
      return bt_err_set(err, BT_EFORMAT,
                        "%s: corrupt .btprof file (checksum mismatch in "
                        "section %s)",
                        name, tag);

    if (strcmp(tag, "END!") == 0) {
      if (seen != sections)
        return bt_err_set(err, BT_EFORMAT,
                          "%s: corrupt .btprof file (%u sections, header "
                          "says %u)",
                          name, seen, sections);
      return 0;
    }
    int kind = section_kind(tag);
    if (kind >= 0) {
      if (seen_kinds & (1u << kind))
        return bt_err_set(err, BT_EFORMAT,
                          "%s: corrupt .btprof file (section %s appears "
                          "twice)",
                          name, tag);
      seen_kinds |= 1u << kind;
    }
    body = *file;
    body.data = payload;
    body.len = (size_t)length;
    body.pos = 0;
    if (kind == 0) {
      read_strings(&body);
      file->strings = body.strings;
      file->nstrings = body.nstrings;
    } else if (kind > 0) {
      SECTIONS[kind].read(&body, pf);
    }
    if (body.bad)
      return bt_err_set(err, BT_EFORMAT,
                        "%s: corrupt .btprof file (bad data in section %s)",
                        name, tag);
  }
}

int bt_proffile_decode(const unsigned char *data, size_t len, const char *name,
                       bt_profile *pf, bt_err *err) {
  memset(pf, 0, sizeof *pf);
  if (name == NULL) name = "profile";
  if (len < 16 || memcmp(data, MAGIC, sizeof MAGIC) != 0) {
    if (len < 16 && len > 0 && memcmp(data, MAGIC, len < 8 ? len : 8) == 0)
      return bt_err_set(err, BT_EFORMAT,
                        "%s: truncated .btprof file (%zu bytes)", name, len);
    return bt_err_set(err, BT_EFORMAT, "%s: not a .btprof file (bad magic)",
                      name);
  }
  reader file = {data, len, 8, 0, NULL, 0};
  uint32_t version = get_u32(&file);
  uint32_t sections = get_u32(&file);
  if (version != BT_PROFFILE_VERSION)
    return bt_err_set(err, BT_EFORMAT,
                      "%s: unsupported .btprof version %u (this btlua reads "
                      "version %d)",
                      name, version, BT_PROFFILE_VERSION);
  int status = decode_sections(&file, pf, name, sections, err);
  free_strings(&file);
  if (status == 0 && !indices_valid(pf))
    status = bt_err_set(err, BT_EFORMAT,
                        "%s: corrupt .btprof file (function index out of "
                        "range)",
                        name);
  if (status != 0) bt_profile_free(pf);
  return status;
}

int bt_proffile_write(const char *path, const bt_profile *pf, bt_err *err) {
  unsigned char *data;
  size_t len;
  int status = bt_proffile_encode(pf, &data, &len, err);
  if (status != 0) return status;
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >=
      (int)sizeof tmp) {
    free(data);
    return bt_err_set(err, BT_EINVAL, "%s: path too long", path);
  }
  FILE *file = fopen(tmp, "wb");
  int ok = file != NULL && fwrite(data, 1, len, file) == len;
  if (file != NULL && fclose(file) != 0) ok = 0;
  free(data);
  if (!ok || rename(tmp, path) != 0) {
    remove(tmp);
    return bt_err_set(err, BT_EIO, "%s: cannot write profile", path);
  }
  return 0;
}

/* A profile is read whole; a file (or a device) larger than this is not
 * one, and reading it could exhaust memory. */
#define BT_PROFFILE_READ_MAX ((size_t)256 << 20)

int bt_proffile_read(const char *path, bt_profile *pf, bt_err *err) {
  memset(pf, 0, sizeof *pf);
  FILE *file = fopen(path, "rb");
  if (file == NULL)
    return bt_err_set(err, BT_EIO, "%s: cannot open profile", path);
  size_t cap = 65536, len = 0;
  unsigned char *data = (unsigned char *)malloc(cap);
  size_t got;
  while (data != NULL && (got = fread(data + len, 1, cap - len, file)) > 0) {
    len += got;
    if (len == cap && cap >= BT_PROFFILE_READ_MAX) { /* /dev/zero, ... */
      free(data);
      fclose(file);
      return bt_err_set(err, BT_EINVAL, "%s: larger than %d MiB: not a "
                        "profile", path, (int)(BT_PROFFILE_READ_MAX >> 20));
    }
    if (len == cap) {
      unsigned char *bigger = (unsigned char *)realloc(data, cap * 2);
      if (bigger == NULL) {
        free(data);
        data = NULL;
        break;
      }
      data = bigger;
      cap *= 2;
    }
  }
  int failed = ferror(file);
  fclose(file);
  if (data == NULL)
    return bt_err_set(err, BT_ENOMEM, "%s: out of memory", path);
  if (failed) {
    free(data);
    return bt_err_set(err, BT_EIO, "%s: read error", path);
  }
  int status = bt_proffile_decode(data, len, path, pf, err);
  free(data);
  return status;
}
