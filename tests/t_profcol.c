/* t_profcol.c: the collector on call sequences with given times: exact
 * function totals (cProfile's recursion rule), edges, the calling-context
 * tree, a coroutine's frames under its resumer, engine ticks inside self
 * time, a full tree; folded samples. */
#include "profcol.h"
#include "tap.h"

enum { A, B, C };

static void new_fns(bt_profcol *c, int n) {
  for (int i = 0; i < n; i++) bt_profcol_fn_new(c);
}

static void test_tree(void) {
  bt_profcol c;
  bt_profcol_init(&c);
  new_fns(&c, 3);
  bt_profcol_stack s = {0};
  bt_profcol_push(&c, &s, NULL, A, NULL, 0, 0);
  bt_profcol_push(&c, &s, NULL, B, NULL, 10, 0);
  bt_profcol_pop(&c, &s, 30, 0);
  bt_profcol_push(&c, &s, NULL, C, NULL, 35, 0);
  bt_profcol_push(&c, &s, NULL, B, NULL, 40, 0);
  bt_profcol_pop(&c, &s, 45, 0);
  bt_profcol_pop(&c, &s, 60, 0);
  bt_profcol_pop(&c, &s, 100, 0);
  is_int((long long)s.depth, 0, "stack empty");
  is_int((long long)c.fns[A].self, 55, "A self 100 - 20 - 25");
  is_int((long long)c.fns[A].cum, 100, "A cum");
  is_int((long long)c.fns[B].ncalls, 2, "B called twice");
  is_int((long long)c.fns[B].self, 25, "B self 20 + 5");
  is_int((long long)c.fns[C].self, 20, "C self 25 - 5");
  is_int((long long)c.fns[C].cum, 25, "C cum");
  is_int((long long)c.nedges, 3, "edges A>B A>C C>B");
  ok(c.edges[0].caller == A && c.edges[0].callee == B &&
         c.edges[0].self == 20 && c.edges[0].cum == 20,
     "A>B: 20 self, 20 cum");
  ok(c.edges[2].caller == C && c.edges[2].callee == B &&
         c.edges[2].ncalls == 1 && c.edges[2].self == 5,
     "C>B: 1 call, 5 self");
  is_int((long long)c.nnodes, 4, "tree: A, A/B, A/C, A/C/B");
  ok(c.nodes[0].parent == -1 && c.nodes[0].fn == A && c.nodes[0].self == 55,
     "root A, self 55");
  ok(c.nodes[1].parent == 0 && c.nodes[1].fn == B && c.nodes[1].self == 20,
     "A/B self 20");
  ok(c.nodes[2].parent == 0 && c.nodes[2].fn == C && c.nodes[2].self == 20,
     "A/C self 20");
  ok(c.nodes[3].parent == 2 && c.nodes[3].fn == B && c.nodes[3].self == 5 &&
         c.nodes[3].calls == 1,
     "A/C/B: 1 call, self 5 (B's two paths apart)");
  bt_profcol_stack_free(&s);
  bt_profcol_free(&c);
}

static void test_recursion(void) {
  bt_profcol c;
  bt_profcol_init(&c);
  new_fns(&c, 1);
  bt_profcol_stack s = {0};
  for (int i = 0; i < 3; i++) bt_profcol_push(&c, &s, NULL, A, NULL, 10 * i, 0);
  for (int i = 3; i < 6; i++) bt_profcol_pop(&c, &s, 10 * i, 0);
  ok(c.fns[A].ncalls == 3 && c.fns[A].primcalls == 1, "3 calls, 1 primitive");
  is_int((long long)c.fns[A].cum, 50, "cum from the outermost only");
  is_int((long long)c.fns[A].self, 50, "self adds up to the elapsed time");
  ok(c.nedges == 1 && c.edges[0].ncalls == 2 && c.edges[0].primcalls == 1 &&
         c.edges[0].cum == 30 && c.edges[0].self == 30,
     "A>A: 2 calls, 1 primitive, cum 30 (cProfile's rule per edge)");
  is_int((long long)c.nnodes, 3, "tree: A, A/A, A/A/A");
  bt_profcol_stack_free(&s);
  bt_profcol_free(&c);
}

static void test_outer_and_engine(void) {
  bt_profcol c;
  bt_profcol_init(&c);
  new_fns(&c, 2);
  bt_profcol_stack main_stack = {0}, coroutine = {0};
  bt_profcol_push(&c, &main_stack, NULL, A, NULL, 0, 0);
  bt_profcol_push(&c, &coroutine, &main_stack.frames[0], B, NULL, 5, 0);
  bt_profcol_pop(&c, &coroutine, 9, 0);
  bt_profcol_pop(&c, &main_stack, 20, 0);
  ok(c.nedges == 1 && c.edges[0].caller == A && c.edges[0].callee == B,
     "a coroutine's first frame is called by its resumer's top frame");
  ok(c.nnodes == 2 && c.nodes[1].parent == 0, "and sits under it in the tree");
  /* engine ticks: 100 at A's call, 103 when B returns, 110 at A's end */
  bt_profcol_push(&c, &main_stack, NULL, A, NULL, 0, 100);
  bt_profcol_push(&c, &main_stack, NULL, B, NULL, 5, 100);
  bt_profcol_pop(&c, &main_stack, 9, 103);
  bt_profcol_pop(&c, &main_stack, 20, 110);
  is_int((long long)c.fns[B].engine, 3, "B: 3 engine ticks in its self time");
  is_int((long long)c.fns[A].engine, 7, "A: the other 7, not B's");
  bt_profcol_stack_free(&main_stack);
  bt_profcol_stack_free(&coroutine);
  bt_profcol_free(&c);
}

static void test_full_tree(void) {
  bt_profcol c;
  bt_profcol_init(&c);
  c.max_nodes = 1;
  new_fns(&c, 2);
  bt_profcol_stack s = {0};
  bt_profcol_push(&c, &s, NULL, A, NULL, 0, 0);
  bt_profcol_push(&c, &s, NULL, B, NULL, 1, 0);
  bt_profcol_pop(&c, &s, 4, 0);
  bt_profcol_pop(&c, &s, 10, 0);
  is_int((long long)c.nnodes, 1, "a full tree grows no more");
  is_int((long long)c.nodes[0].self, 10, "its time goes to the parent path");
  is_int((long long)c.fns[B].self, 3, "function totals stay exact");
  bt_profcol_stack_free(&s);
  bt_profcol_free(&c);
}

static void test_samples(void) {
  bt_profcol c;
  bt_profcol_init(&c);
  int32_t ab[] = {A, B}, a[] = {A};
  bt_profcol_sample_add(&c, ab, 2, -1, 2);
  bt_profcol_sample_add(&c, ab, 2, 3, 1); /* same stack, in zone 3 */
  bt_profcol_sample_add(&c, a, 1, -1, 1);
  bt_profcol_sample_add(&c, ab, 2, -1, 5);
  bt_profcol_sample_add(&c, NULL, 0, 2, 4); /* engine only */
  is_int((long long)c.nsamples, 4, "four distinct (stack, zone) pairs");
  ok(c.samples[0].count == 7 && c.samples[0].depth == 2 &&
         c.stack_pool[c.samples[0].first + 1] == B,
     "A;B outside zones: 2 + 5 samples, leaf B");
  ok(c.samples[1].zone == 3 && c.samples[1].count == 1, "A;B in zone 3: 1");
  ok(c.samples[3].depth == 0 && c.samples[3].count == 4, "no stack, zone 2: 4");
  is_int((long long)c.sample_total, 13, "13 samples in all");
  bt_profcol_free(&c);
}

static void test_map(void) {
  bt_profcol_map m = {0};
  int all = 1;
  for (int i = 1; i <= 1000; i++) bt_profcol_map_put(&m, (uint64_t)i * 7919u, i);
  for (int i = 1; i <= 1000; i++)
    all &= bt_profcol_map_get(&m, (uint64_t)i * 7919u) == i;
  ok(all, "map: 1000 keys back");
  is_int(bt_profcol_map_get(&m, 3), -1, "a missing key: -1");
  bt_profcol_map_free(&m);
}

int main(void) {
  test_tree();
  test_recursion();
  test_outer_and_engine();
  test_full_tree();
  test_samples();
  test_map();
  return done_testing();
}
