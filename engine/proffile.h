/* proffile.h: the .btprof file: a decoded profile (bt_profile) and its
 * binary form. Little-endian, versioned, self-describing:
 *
 *   "BTPROF\r\n" u32 version u32 section_count
 *   section*: u32 tag ("STRS","META","FUNC","EDGE","ZONE","MEMO","SAMP",
 *             "RUNS","TREE","RCUM","FKEY","RCPU"), u32 0, u64 length,
 *             payload[length],
 *             u32 crc32(header and payload)
 *   the last section is "END!" with length 0.
 *
 * Strings live once in STRS and are referenced by index elsewhere. Unknown
 * sections are skipped, so newer writers stay readable. Times are ns. A
 * reader refuses a short, corrupt (checksum) or foreign file with a message
 * saying which. */
#ifndef BT_PROFFILE_H
#define BT_PROFFILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define BT_PROFFILE_VERSION 1
#define BT_PF_NONE UINT32_MAX /* "no function/zone" in indices */
/* The largest file bt_proffile_read accepts (1 GiB); larger is refused. */
#define BT_PROFFILE_MAX_BYTES (UINT64_C(1) << 30)

/* meta value types */
enum { BT_PF_TEXT = 's', BT_PF_INT = 'i', BT_PF_REAL = 'd', BT_PF_BOOL = 'b' };

/* One metadata entry. Nested tables are flattened: "params.window". */
typedef struct bt_pf_meta {
  char *key;
  int type;
  char *text;
  int64_t integer; /* also BT_PF_BOOL (0/1) */
  double real;
} bt_pf_meta;

/* key: the function's identity (profkey.h), section FKEY; in files that
 * predate FKEY the decoder gives the old "source:line(name)" label.
 * zone_ns: the part of self_ns spent in engine zones (FKEY; else 0). */
typedef struct bt_pf_func {
  char *name, *source, *key;
  int64_t line;
  uint64_t ncalls, primcalls, self_ns, cum_ns, alloc_bytes, zone_ns;
} bt_pf_func;

/* callee called by caller (0-based function indices). */
typedef struct bt_pf_edge {
  uint32_t caller, callee;
  uint64_t ncalls, primcalls, self_ns, cum_ns;
} bt_pf_edge;

typedef struct bt_pf_zone {
  char *name;
  uint64_t count, self_ns, incl_ns, alloc_bytes, free_bytes;
} bt_pf_zone;

typedef struct bt_pf_rss {
  uint64_t t_ns, rss;
} bt_pf_rss;

/* (name, value) pair, for per-run totals and memory by zone/function. */
typedef struct bt_pf_pair {
  char *name;
  uint64_t value;
} bt_pf_pair;

typedef struct bt_pf_memory {
  int present;
  uint64_t peak_rss, mean_rss, alloc_bytes, free_bytes, peak_lua_bytes;
  bt_pf_pair *by_zone; /* zone name -> bytes */
  size_t nby_zone;
  bt_pf_pair *by_function; /* name = decimal function index (0-based) */
  size_t nby_function;
  bt_pf_rss *timeline;
  size_t ntimeline;
} bt_pf_memory;

typedef struct bt_pf_sample {
  char *zone; /* NULL: none */
  uint64_t count;
  uint32_t depth;
  uint32_t *stack; /* function indices, root..leaf */
} bt_pf_sample;

/* A calling context (cycles mode): fn reached from the root by the path
 * through parent. Parents come before their children. */
typedef struct bt_pf_node {
  uint32_t parent; /* BT_PF_NONE: a root */
  uint32_t fn;
  uint64_t calls, self_ns;
} bt_pf_node;

typedef struct bt_pf_run {
  uint64_t wall_ns, total_ticks;
  uint64_t cpu_ns;     /* the thread's CPU time (section RCPU; else 0) */
  uint64_t profile_ns; /* the run in on-CPU profile time, profiler cost
                          removed (RCPU; else 0) */
  bt_pf_pair *zones; /* zone name -> incl ns */
  size_t nzones;
  bt_pf_pair *functions; /* function key -> self ns */
  size_t nfunctions;
  bt_pf_pair *functions_cum; /* -> cumulative ns (section RCUM; may be
                                empty in files that predate it) */
  size_t nfunctions_cum;
} bt_pf_run;

/* A whole profile. Every pointer is owned (bt_profile_free). */
typedef struct bt_profile {
  bt_pf_meta *meta;
  size_t nmeta;
  bt_pf_func *funcs;
  size_t nfuncs;
  bt_pf_edge *edges;
  size_t nedges;
  bt_pf_zone *zones;
  size_t nzones;
  bt_pf_memory memory;
  bt_pf_sample *samples;
  size_t nsamples;
  uint64_t sample_interval_ns;
  bt_pf_run *runs;
  size_t nruns;
  bt_pf_node *tree; /* may be empty */
  size_t ntree;
} bt_profile;

void bt_profile_free(bt_profile *pf);

/* Serializes pf into a malloc'd buffer (*out, *len). */
int bt_proffile_encode(const bt_profile *pf, unsigned char **out, size_t *len,
                       bt_err *err);

/* Parses len bytes into *pf (zeroed first; freed on failure). `name` (a
 * path, or NULL) prefixes error messages. BT_EFORMAT for a truncated,
 * corrupt or foreign file. */
int bt_proffile_decode(const unsigned char *data, size_t len, const char *name,
                       bt_profile *pf, bt_err *err);

/* File versions (the write goes through a temporary name + rename). */
int bt_proffile_write(const char *path, const bt_profile *pf, bt_err *err);
int bt_proffile_read(const char *path, bt_profile *pf, bt_err *err);

/* CRC-32 (IEEE) of a buffer. */
uint32_t bt_proffile_crc32(const unsigned char *data, size_t len);

#endif
