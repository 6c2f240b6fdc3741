/* profcol.c: the profiler's collector (see profcol.h): function totals,
 * edges and the calling-context tree from calls and returns. */
#include "profcol.h"

#include <stdlib.h>
#include <string.h>

uint64_t bt_profcol_mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

int32_t bt_profcol_map_get(const bt_profcol_map *m, uint64_t key) {
  if (m->cap == 0) return -1;
  size_t mask = m->cap - 1;
  for (size_t i = bt_profcol_mix64(key) & mask;; i = (i + 1) & mask) {
    if (m->keys[i] == key) return m->vals[i];
    if (m->keys[i] == 0) return -1;
  }
}

static int map_grow(bt_profcol_map *m) {
  bt_profcol_map bigger = {0};
  bigger.cap = m->cap ? m->cap * 2 : 64;
  bigger.keys = (uint64_t *)calloc(bigger.cap, sizeof *bigger.keys);
  bigger.vals = (int32_t *)calloc(bigger.cap, sizeof *bigger.vals);
  if (bigger.keys == NULL || bigger.vals == NULL) {
    free(bigger.keys);
    free(bigger.vals);
    return -1;
  }
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i] != 0) bt_profcol_map_put(&bigger, m->keys[i], m->vals[i]);
  free(m->keys);
  free(m->vals);
  *m = bigger;
  return 0;
}

int bt_profcol_map_put(bt_profcol_map *m, uint64_t key, int32_t val) {
  if ((m->count + 1) * 2 > m->cap && map_grow(m) != 0) return -1;
  size_t mask = m->cap - 1;
  size_t i = bt_profcol_mix64(key) & mask;
  while (m->keys[i] != 0 && m->keys[i] != key)
    i = (i + 1) & mask;
  if (m->keys[i] == 0) m->count++;
  m->keys[i] = key;
  m->vals[i] = val;
  return 0;
}

void bt_profcol_map_free(bt_profcol_map *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

int bt_profcol_grow(void **items, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t next = *cap ? *cap * 2 : 16;
  while (next < need)
    next *= 2;
  void *bigger = realloc(*items, next * size);
  if (bigger == NULL) return -1;
  *items = bigger;
  *cap = next;
  return 0;
}

void bt_profcol_init(bt_profcol *c) {
  memset(c, 0, sizeof *c);
  c->max_nodes = BT_PROFCOL_NODES_MAX;
}

void bt_profcol_free(bt_profcol *c) {
  free(c->fns);
  free(c->edges);
  free(c->nodes);
  bt_profcol_map_free(&c->edge_map);
  bt_profcol_map_free(&c->node_map);
  free(c->samples);
  free(c->stack_pool);
  bt_profcol_map_free(&c->sample_map);
  memset(c, 0, sizeof *c);
}

void bt_profcol_stack_free(bt_profcol_stack *s) {
  free(s->frames);
  memset(s, 0, sizeof *s);
}

int bt_profcol_fn_new(bt_profcol *c) {
  if (bt_profcol_grow((void **)&c->fns, &c->cap_fns, c->nfns + 1,
                      sizeof(bt_profcol_fn)))
    return -1;
  memset(&c->fns[c->nfns], 0, sizeof c->fns[0]);
  return (int)c->nfns++;
}

static uint64_t pair_key(int a, int b) {
  return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
}

static int edge_index(bt_profcol *c, int caller, int callee) {
  uint64_t key = pair_key(caller, callee);
  int32_t idx = bt_profcol_map_get(&c->edge_map, key);
  if (idx >= 0) return idx;
  if (bt_profcol_grow((void **)&c->edges, &c->cap_edges, c->nedges + 1,
                      sizeof(bt_profcol_edge)))
    return -1;
  idx = (int32_t)c->nedges;
  if (bt_profcol_map_put(&c->edge_map, key, idx) != 0) return -1;
  c->nedges++;
  bt_profcol_edge *edge = &c->edges[idx];
  memset(edge, 0, sizeof *edge);
  edge->caller = caller;
  edge->callee = callee;
  return idx;
}

/* The node of fn called in context `parent`; the parent itself when the
 * tree is full or memory is short. */
static int node_index(bt_profcol *c, int parent, int fn) {
  uint64_t key = pair_key(parent, fn);
  int32_t idx = bt_profcol_map_get(&c->node_map, key);
  if (idx >= 0) return idx;
  if (c->nnodes >= c->max_nodes ||
      bt_profcol_grow((void **)&c->nodes, &c->cap_nodes, c->nnodes + 1,
                      sizeof(bt_profcol_node)))
    return parent;
  idx = (int32_t)c->nnodes;
  if (bt_profcol_map_put(&c->node_map, key, idx) != 0) return parent;
  c->nnodes++;
  c->nodes[idx] = (bt_profcol_node){parent, fn, 0, 0};
  return idx;
}

int bt_profcol_push(bt_profcol *c, bt_profcol_stack *stack,
                    const bt_profcol_frame *outer, int fn, const void *tag,
                    uint64_t at, uint64_t engine) {
  const bt_profcol_frame *caller_frame =
      stack->depth > 0 ? &stack->frames[stack->depth - 1] : outer;
  int caller = caller_frame ? caller_frame->fn : -1;
  int parent = caller_frame ? caller_frame->node : -1;
  if (bt_profcol_grow((void **)&stack->frames, &stack->cap, stack->depth + 1,
                      sizeof(bt_profcol_frame)))
    return -1;
  int edge = caller >= 0 ? edge_index(c, caller, fn) : -1;
  int node = node_index(c, parent, fn);
  bt_profcol_frame *frame = &stack->frames[stack->depth++];
  *frame = (bt_profcol_frame){fn, edge, node, tag, at, 0, engine, 0};
  if (node >= 0) c->nodes[node].calls++;
  bt_profcol_fn *entry = &c->fns[fn];
  entry->ncalls++;
  if (entry->active++ == 0) entry->primcalls++;
  if (edge >= 0) {
    bt_profcol_edge *e = &c->edges[edge];
    e->ncalls++;
    if (e->active++ == 0) e->primcalls++;
  }
  return 0;
}

void bt_profcol_pop(bt_profcol *c, bt_profcol_stack *stack, uint64_t at,
                    uint64_t engine) {
  bt_profcol_frame *frame = &stack->frames[--stack->depth];
  int64_t delta = (int64_t)(at - frame->begin);
  uint64_t elapsed = delta > 0 ? (uint64_t)delta : 0;
  uint64_t self = elapsed > frame->child ? elapsed - frame->child : 0;
  uint64_t in_engine = engine - frame->engine_mark;
  uint64_t engine_self = in_engine > frame->engine_child
                             ? in_engine - frame->engine_child
                             : 0;
  bt_profcol_fn *fn = &c->fns[frame->fn];
  fn->self += self;
  fn->engine += engine_self < self ? engine_self : self;
  if (frame->node >= 0) c->nodes[frame->node].self += self;
  if (--fn->active == 0) fn->cum += elapsed;
  if (frame->edge >= 0) {
    bt_profcol_edge *edge = &c->edges[frame->edge];
    edge->self += self;
    if (--edge->active == 0) edge->cum += elapsed;
  }
  if (stack->depth > 0) {
    stack->frames[stack->depth - 1].child += elapsed;
    stack->frames[stack->depth - 1].engine_child += in_engine;
  }
}

static uint64_t hash_stack(const int32_t *stack, size_t depth, int zone) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)(zone + 2);
  for (size_t i = 0; i < depth; i++)
    h = bt_profcol_mix64(h ^ (uint64_t)stack[i]) + i;
  return h ? h : 1;
}

void bt_profcol_sample_add(bt_profcol *c, const int32_t *stack, size_t depth,
                           int zone, uint64_t count) {
  c->sample_total += count;
  uint64_t h = hash_stack(stack, depth, zone);
  for (;; h = h + 1 ? h + 1 : 1) { /* probe past hash collisions */
    int32_t idx = bt_profcol_map_get(&c->sample_map, h);
    if (idx < 0) break;
    bt_profcol_sample *s = &c->samples[idx];
    if (s->depth == depth && s->zone == zone &&
        memcmp(&c->stack_pool[s->first], stack, depth * sizeof *stack) == 0) {
      s->count += count;
      return;
    }
  }
  if (bt_profcol_grow((void **)&c->samples, &c->cap_samples, c->nsamples + 1,
                      sizeof(bt_profcol_sample)) ||
      bt_profcol_grow((void **)&c->stack_pool, &c->cap_pool,
                      c->npool + depth + 1, sizeof(int32_t)))
    return;
  bt_profcol_sample *s = &c->samples[c->nsamples];
  *s = (bt_profcol_sample){h, zone, count, c->npool, depth};
  if (depth) memcpy(&c->stack_pool[c->npool], stack, depth * sizeof *stack);
  if (bt_profcol_map_put(&c->sample_map, h, (int32_t)c->nsamples) != 0) return;
  c->npool += depth;
  c->nsamples++;
}
