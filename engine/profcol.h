/* profcol.h: the profiler's collector, no Lua: per-function totals
 * (calls counted like cProfile, self and cumulative ticks, engine-zone
 * ticks, bytes), caller -> callee edges, the calling-context tree and the
 * shadow stacks that feed them. A binding maps its functions to indices
 * (bt_profcol_fn_new) and reports calls and returns with times it reads;
 * lbt_prof.c is the Lua one. Ticks are whatever clock the caller uses,
 * as long as one stack uses one clock. */
#ifndef BT_PROFCOL_H
#define BT_PROFCOL_H

#include <stddef.h>
#include <stdint.h>

/* A uint64 -> int32 map (open addressing; key 0 is never stored). */
typedef struct bt_profcol_map {
  uint64_t *keys;
  int32_t *vals;
  size_t cap, count; /* cap: a power of two */
} bt_profcol_map;

int32_t bt_profcol_map_get(const bt_profcol_map *m, uint64_t key); /* -1 */
int bt_profcol_map_put(bt_profcol_map *m, uint64_t key, int32_t val);
void bt_profcol_map_free(bt_profcol_map *m);
uint64_t bt_profcol_mix64(uint64_t x);

/* Grows the malloc'd array *items (*cap items of `size` bytes) to hold at
 * least `need` items; 0 ok, -1 on ENOMEM (the array is unchanged). */
int bt_profcol_grow(void **items, size_t *cap, size_t need, size_t size);

/* One function's totals. A call is primitive when the function was not
 * already active (cProfile's rule); cum counts outermost activations. */
typedef struct bt_profcol_fn {
  uint64_t ncalls, primcalls;
  uint64_t self, cum;   /* ticks */
  uint64_t engine;      /* ticks of self spent in engine zones */
  uint64_t alloc_bytes; /* bytes allocated while it was on top */
  int active;           /* open frames on any stack */
} bt_profcol_fn;

/* callee called by caller, counted like cProfile's subentries. */
typedef struct bt_profcol_edge {
  int caller, callee;
  uint64_t ncalls, primcalls, self, cum;
  int active;
} bt_profcol_edge;

/* A calling context: fn reached from a root by the path through parent
 * (-1: a root). Parents come before their children. */
typedef struct bt_profcol_node {
  int parent, fn;
  uint64_t calls;
  uint64_t self; /* ticks */
} bt_profcol_node;

/* An open activation. tag: the binding's own identity of it (Lua 5.4:
 * its CallInfo), never read here. */
typedef struct bt_profcol_frame {
  int fn, edge, node; /* edge/node -1: none */
  const void *tag;
  uint64_t begin, child;               /* ticks; child: in callees */
  uint64_t engine_mark, engine_child;  /* engine ticks at the call; in callees */
} bt_profcol_frame;

/* A shadow stack (one per thread of execution, e.g. a coroutine). */
typedef struct bt_profcol_stack {
  bt_profcol_frame *frames;
  size_t depth, cap;
} bt_profcol_stack;

/* Samples of one stack (function indices root..leaf, at first..first+depth
 * of the stack pool) in one engine zone (-1: none). */
typedef struct bt_profcol_sample {
  uint64_t hash;
  int zone;
  uint64_t count;
  size_t first, depth;
} bt_profcol_sample;

#define BT_PROFCOL_NODES_MAX 1000000 /* beyond: time goes to the parent */

typedef struct bt_profcol {
  bt_profcol_fn *fns;
  size_t nfns, cap_fns;
  bt_profcol_edge *edges;
  size_t nedges, cap_edges;
  bt_profcol_node *nodes;
  size_t nnodes, cap_nodes, max_nodes;
  bt_profcol_map edge_map, node_map;
  bt_profcol_sample *samples; /* distinct (stack, zone) pairs */
  size_t nsamples, cap_samples;
  int32_t *stack_pool;
  size_t npool, cap_pool;
  bt_profcol_map sample_map;
  uint64_t sample_total; /* every sample counted, with or without a stack */
} bt_profcol;

void bt_profcol_init(bt_profcol *c); /* empty; max_nodes NODES_MAX */
void bt_profcol_free(bt_profcol *c);
void bt_profcol_stack_free(bt_profcol_stack *s);

/* A new function (all totals 0): its index, or -1 on ENOMEM. */
int bt_profcol_fn_new(bt_profcol *c);

/* Opens a frame of fn on stack at `at` (ticks). Its caller is the top
 * frame of stack, or, when stack is empty, `outer` (the frame that resumed
 * this stack, e.g. a coroutine's resumer; NULL: a root). engine: the
 * caller's engine-tick counter now. 0 ok, -1 on ENOMEM (nothing opened). */
int bt_profcol_push(bt_profcol *c, bt_profcol_stack *stack,
                    const bt_profcol_frame *outer, int fn, const void *tag,
                    uint64_t at, uint64_t engine);

/* Closes the top frame of stack at `at`: its self time (elapsed minus
 * callees, never negative), cumulative time for its outermost activation,
 * the engine ticks inside its self time; the elapsed time becomes the
 * caller's callee time. The stack must not be empty. */
void bt_profcol_pop(bt_profcol *c, bt_profcol_stack *stack, uint64_t at,
                    uint64_t engine);

/* Adds `count` samples of `stack` (depth function indices, root..leaf) in
 * zone (-1: none); equal (stack, zone) pairs share one entry. Samples
 * dropped for lack of memory still count in sample_total. */
void bt_profcol_sample_add(bt_profcol *c, const int32_t *stack, size_t depth,
                           int zone, uint64_t count);

#endif
