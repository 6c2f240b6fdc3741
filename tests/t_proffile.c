/* t_proffile.c: .btprof encode/decode round trip, and refusal of every
 * truncation and of flipped bytes with a message naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proffile.h"
#include "tap.h"

static char *text(const char *s) {
  char *copy = malloc(strlen(s) + 1);
  strcpy(copy, s);
  return copy;
}

static void build(bt_profile *pf) {
  memset(pf, 0, sizeof *pf);
  pf->nmeta = 3;
  pf->meta = calloc(3, sizeof *pf->meta);
  pf->meta[0] = (bt_pf_meta){text("scenario"), BT_PF_TEXT, text("minute"), 0, 0};
  pf->meta[1] = (bt_pf_meta){text("params.window"), BT_PF_INT, NULL, 20, 0};
  pf->meta[2] = (bt_pf_meta){text("tsc_hz"), BT_PF_REAL, NULL, 0, 2.5e9};
  pf->nfuncs = 2;
  pf->funcs = calloc(2, sizeof *pf->funcs);
  pf->funcs[0] = (bt_pf_func){text("main"), text("a.lua"), text("a.lua:main"),
                              1, 1, 1, 100, 900, 0, 0};
  pf->funcs[1] = (bt_pf_func){text("g"), text("a.lua"), text("a.lua:g"),
                              7, 9, 3, 800, 800, 64, 30};
  pf->nedges = 2;
  pf->edges = calloc(2, sizeof *pf->edges);
  pf->edges[0] = (bt_pf_edge){0, 1, 3, 3, 500, 800};
  pf->edges[1] = (bt_pf_edge){1, 1, 6, 3, 300, 400};
  pf->nzones = 1;
  pf->zones = calloc(1, sizeof *pf->zones);
  pf->zones[0] = (bt_pf_zone){text("strategy"), 43200, 1000, 2000, 0, 0};
  pf->memory.present = 1;
  pf->memory.peak_rss = 1 << 20;
  pf->memory.ntimeline = 2;
  pf->memory.timeline = calloc(2, sizeof *pf->memory.timeline);
  pf->memory.timeline[1] = (bt_pf_rss){1000, 4096};
  pf->nsamples = 1;
  pf->samples = calloc(1, sizeof *pf->samples);
  pf->samples[0].zone = text("strategy");
  pf->samples[0].count = 5;
  pf->samples[0].depth = 2;
  pf->samples[0].stack = calloc(2, sizeof(uint32_t));
  pf->samples[0].stack[1] = 1;
  pf->sample_interval_ns = 1000000;
  pf->nruns = 1;
  pf->runs = calloc(1, sizeof *pf->runs);
  pf->runs[0].wall_ns = 12345;
  pf->runs[0].cpu_ns = 1500;
  pf->runs[0].profile_ns = 1400;
  pf->runs[0].nzones = 1;
  pf->runs[0].zones = calloc(1, sizeof(bt_pf_pair));
  pf->runs[0].zones[0] = (bt_pf_pair){text("strategy"), 2000};
  pf->runs[0].nfunctions_cum = 1;
  pf->runs[0].functions_cum = calloc(1, sizeof(bt_pf_pair));
  pf->runs[0].functions_cum[0] = (bt_pf_pair){text("s.lua:3(f)"), 7000};
  pf->ntree = 2;
  pf->tree = calloc(2, sizeof *pf->tree);
  pf->tree[0] = (bt_pf_node){BT_PF_NONE, 0, 1, 100};
  pf->tree[1] = (bt_pf_node){0, 1, 3, 800};
}

/* A copy of the encoded file with its section `tag` written twice and the
 * header's section count raised to match; *out_len its length. */
static unsigned char *repeat_section(const unsigned char *bytes, size_t len,
                                     const char *tag, size_t *out_len) {
  size_t at = 16;
  while (memcmp(bytes + at, tag, 4) != 0) {
    uint64_t n;
    memcpy(&n, bytes + at + 8, 8);
    at += 16 + (size_t)n + 4;
  }
  uint64_t n;
  memcpy(&n, bytes + at + 8, 8);
  size_t size = 16 + (size_t)n + 4;
  unsigned char *copy = malloc(len + size);
  memcpy(copy, bytes, at + size);
  memcpy(copy + at + size, bytes + at, len - at);
  uint32_t sections;
  memcpy(&sections, copy + 12, 4);
  sections++;
  memcpy(copy + 12, &sections, 4);
  *out_len = len + size;
  return copy;
}

int main(void) {
  bt_profile pf, back;
  bt_err err = {0};
  unsigned char *bytes;
  size_t len;
  build(&pf);
  is_int(bt_proffile_encode(&pf, &bytes, &len, &err), 0, "encode");
  is_int(bt_proffile_decode(bytes, len, "p.btprof", &back, &err), 0,
         "decode");
  is_str(back.meta[0].text, "minute", "meta text");
  is_str(back.meta[1].key, "params.window", "meta key");
  is_int(back.meta[1].integer, 20, "meta int");
  ok(back.meta[2].real == 2.5e9, "meta real");
  is_int((long long)back.nfuncs, 2, "two functions");
  is_str(back.funcs[1].name, "g", "function name");
  is_int((long long)back.funcs[1].primcalls, 3, "primcalls");
  is_str(back.funcs[1].key, "a.lua:g", "function key (section FKEY)");
  is_int((long long)back.funcs[1].zone_ns, 30, "zone ns (section FKEY)");
  is_int((long long)back.runs[0].cpu_ns, 1500, "run cpu ns (section RCPU)");
  is_int((long long)back.runs[0].profile_ns, 1400, "run profile ns (RCPU)");
  is_int((long long)back.edges[1].ncalls, 6, "edge calls");
  is_int((long long)back.zones[0].count, 43200, "zone count");
  is_int((long long)back.memory.timeline[1].rss, 4096, "timeline");
  is_int((long long)back.samples[0].stack[1], 1, "sample stack");
  is_str(back.samples[0].zone, "strategy", "sample zone");
  is_int((long long)back.runs[0].zones[0].value, 2000, "run zone");
  is_int((long long)back.runs[0].nfunctions_cum, 1, "run cum: one entry");
  is_str(back.runs[0].functions_cum[0].name, "s.lua:3(f)", "run cum: name");
  is_int((long long)back.runs[0].functions_cum[0].value, 7000,
         "run cum: ns (section RCUM)");
  is_int((long long)back.ntree, 2, "tree nodes");
  ok(back.tree[0].parent == BT_PF_NONE && back.tree[1].parent == 0 &&
         back.tree[1].calls == 3 && back.tree[1].self_ns == 800,
     "tree round trip");
  bt_profile_free(&back);

  int all_refused = 1, all_named = 1;
  for (size_t cut = 0; cut < len; cut++) {
    if (bt_proffile_decode(bytes, cut, "p.btprof", &back, &err) != BT_EFORMAT)
      all_refused = 0;
    if (strncmp(err.msg, "p.btprof: ", 10) != 0) all_named = 0;
  }
  ok(all_refused, "every truncation of %zu bytes refused", len);
  ok(all_named, "with the file named");
  bt_proffile_decode(bytes, len - 5, "p.btprof", &back, &err);
  ok(strstr(err.msg, "truncated .btprof file") != NULL, "says truncated: %s",
     err.msg);
  int flips_refused = 1;
  for (size_t at = 8; at < len; at++) {
    bytes[at] ^= 0x5a;
    if (bt_proffile_decode(bytes, len, "p.btprof", &back, &err) == 0) {
      flips_refused = 0;
      bt_profile_free(&back);
    }
    bytes[at] ^= 0x5a;
  }
  ok(flips_refused, "every flipped byte refused");
  const char *repeated[] = {"STRS", "META", "FUNC", "EDGE", "ZONE",
                            "MEMO", "SAMP", "RUNS", "TREE", "RCUM"};
  for (int i = 0; i < 10; i++) {
    size_t twice_len;
    unsigned char *twice = repeat_section(bytes, len, repeated[i], &twice_len);
    char want[96];
    snprintf(want, sizeof want,
             "p.btprof: corrupt .btprof file (section %s appears twice)",
             repeated[i]);
    is_int(bt_proffile_decode(twice, twice_len, "p.btprof", &back, &err),
           BT_EFORMAT, "section %s twice: refused", repeated[i]);
    is_str(err.msg, want, "section %s twice: says so", repeated[i]);
    free(twice);
  }
  bytes[0] = 'X';
  bt_proffile_decode(bytes, len, "p.btprof", &back, &err);
  is_str(err.msg, "p.btprof: not a .btprof file (bad magic)", "bad magic");
  bytes[0] = 'B';
  bytes[8] = 9;
  bt_proffile_decode(bytes, len, "p.btprof", &back, &err);
  is_str(err.msg,
         "p.btprof: unsupported .btprof version 9 (this btlua reads version 1)",
         "version");
  free(bytes);

  char path[] = "/tmp/t_proffile.XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  is_int(bt_proffile_write(path, &pf, &err), 0, "write file");
  is_int(bt_proffile_read(path, &back, &err), 0, "read file");
  is_int((long long)back.funcs[0].cum_ns, 900, "file round trip");
  bt_profile_free(&back);
  remove(path);
  bt_profile_free(&pf);
  return done_testing();
}
