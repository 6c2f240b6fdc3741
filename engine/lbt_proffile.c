/* lbt_proffile.c: the profile table (btlua.profile's schema) to and from
 * bt_profile, so Lua can write and read .btprof files: prof.encode,
 * prof.load, prof.merge (also reachable as core.proffile.*). */
#include "lbt_proffile.h"

#include <stdlib.h>
#include <string.h>

#include "proffile.h"
#include "profcol.h"

static char *dup_text(const char *text) {
  size_t len = strlen(text);
  char *copy = (char *)malloc(len + 1);
  if (copy != NULL) memcpy(copy, text, len + 1);
  return copy;
}


static void set_int(lua_State *L, const char *key, uint64_t value) {
  lua_pushinteger(L, (lua_Integer)value);
  lua_setfield(L, -2, key);
}

static void set_str(lua_State *L, const char *key, const char *value) {
  lua_pushstring(L, value);
  lua_setfield(L, -2, key);
}

static uint64_t field_u64(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  uint64_t value = 0;
  if (lua_type(L, -1) == LUA_TNUMBER) {
    if (lua_isinteger(L, -1)) {
      lua_Integer i = lua_tointeger(L, -1);
      value = i > 0 ? (uint64_t)i : 0;
    } else {
      lua_Number n = lua_tonumber(L, -1);
      value = n > 0 ? (uint64_t)n : 0;
    }
  }
  lua_pop(L, 1);
  return value;
}

static char *field_text(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  const char *text = lua_tostring(L, -1);
  char *copy = dup_text(text ? text : "");
  lua_pop(L, 1);
  return copy;
}

/* Appends one meta entry for the value on top (popped). */
static void meta_add(lua_State *L, bt_profile *pf, size_t *cap,
                     const char *key) {
  int type = lua_type(L, -1);
  if (type != LUA_TSTRING && type != LUA_TNUMBER && type != LUA_TBOOLEAN) {
    lua_pop(L, 1);
    return;
  }
  if (bt_profcol_grow((void **)&pf->meta, cap, pf->nmeta + 1,
                      sizeof(bt_pf_meta))) {
    lua_pop(L, 1);
    return;
  }
  bt_pf_meta *m = &pf->meta[pf->nmeta++];
  memset(m, 0, sizeof *m);
  m->key = dup_text(key);
  if (type == LUA_TBOOLEAN) {
    m->type = BT_PF_BOOL;
    m->integer = lua_toboolean(L, -1);
  } else if (type == LUA_TSTRING) {
    m->type = BT_PF_TEXT;
    m->text = dup_text(lua_tostring(L, -1));
  } else if (lua_isinteger(L, -1)) {
    m->type = BT_PF_INT;
    m->integer = (int64_t)lua_tointeger(L, -1);
  } else {
    m->type = BT_PF_REAL;
    m->real = (double)lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
}

/* Flattens the table at idx into meta entries "prefix.key". */
static void meta_flatten(lua_State *L, bt_profile *pf, size_t *cap, int idx,
                         const char *prefix, int depth) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    char key[256];
    if (lua_type(L, -2) == LUA_TSTRING)
      snprintf(key, sizeof key, "%s%s", prefix, lua_tostring(L, -2));
    else if (lua_type(L, -2) == LUA_TNUMBER)
      snprintf(key, sizeof key, "%s%.14g", prefix, (double)lua_tonumber(L, -2));
    else {
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, -1) == LUA_TTABLE && depth < 4) {
      char nested[260];
      snprintf(nested, sizeof nested, "%s.", key);
      meta_flatten(L, pf, cap, -1, nested, depth + 1);
      lua_pop(L, 1);
    } else {
      meta_add(L, pf, cap, key);
    }
  }
}

static bt_pf_pair *pairs_from(lua_State *L, int idx, size_t *n) {
  idx = lua_absindex(L, idx);
  size_t cap = 0;
  bt_pf_pair *pairs = NULL;
  *n = 0;
  if (lua_type(L, idx) != LUA_TTABLE) return NULL;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -1) == LUA_TNUMBER &&
        bt_profcol_grow((void **)&pairs, &cap, *n + 1, sizeof *pairs) == 0) {
      lua_pushvalue(L, -2);
      const char *name = lua_tostring(L, -1);
      lua_Number v = lua_tonumber(L, -2);
      pairs[*n].name = dup_text(name ? name : "");
      pairs[*n].value = v > 0 ? (uint64_t)v : 0;
      (*n)++;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  return pairs;
}

static void funcs_from(lua_State *L, int idx, bt_profile *pf) {
  size_t n = lua_rawlen(L, idx), cap_edges = 0;
  pf->funcs = (bt_pf_func *)calloc(n ? n : 1, sizeof *pf->funcs);
  if (pf->funcs == NULL) return;
  pf->nfuncs = n;
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, idx, (int)i + 1);
    int fn = lua_gettop(L);
    if (lua_type(L, fn) != LUA_TTABLE)
      luaL_error(L, "functions[%d] is not a table", (int)i + 1);
    bt_pf_func *f = &pf->funcs[i];
    f->name = field_text(L, fn, "name");
    f->source = field_text(L, fn, "source");
    f->key = field_text(L, fn, "key");
    f->zone_ns = field_u64(L, fn, "zone_ns");
    f->line = (int64_t)field_u64(L, fn, "line");
    f->ncalls = field_u64(L, fn, "ncalls");
    f->primcalls = field_u64(L, fn, "primcalls");
    f->self_ns = field_u64(L, fn, "self_ns");
    f->cum_ns = field_u64(L, fn, "cum_ns");
    f->alloc_bytes = field_u64(L, fn, "alloc_bytes");
    lua_getfield(L, fn, "callers");
    if (lua_type(L, -1) == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        lua_Number caller = lua_tonumber(L, -2);
        if (lua_type(L, -1) == LUA_TTABLE && caller >= 1 &&
            caller <= (lua_Number)n &&
            bt_profcol_grow((void **)&pf->edges, &cap_edges, pf->nedges + 1,
                 sizeof(bt_pf_edge)) == 0) {
          bt_pf_edge *e = &pf->edges[pf->nedges++];
          int at = lua_gettop(L);
          e->caller = (uint32_t)caller - 1;
          e->callee = (uint32_t)i;
          e->ncalls = field_u64(L, at, "ncalls");
          e->primcalls = field_u64(L, at, "primcalls");
          e->self_ns = field_u64(L, at, "self_ns");
          e->cum_ns = field_u64(L, at, "cum_ns");
        }
        lua_pop(L, 1);
      }
    }
    lua_settop(L, fn - 1);
  }
}

static void zones_from(lua_State *L, int idx, bt_profile *pf) {
  size_t n = lua_rawlen(L, idx);
  pf->zones = (bt_pf_zone *)calloc(n ? n : 1, sizeof *pf->zones);
  if (pf->zones == NULL) return;
  pf->nzones = n;
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, idx, (int)i + 1);
    int z = lua_gettop(L);
    if (lua_type(L, z) == LUA_TTABLE) {
      bt_pf_zone *zone = &pf->zones[i];
      zone->name = field_text(L, z, "name");
      zone->count = field_u64(L, z, "count");
      zone->self_ns = field_u64(L, z, "self_ns");
      zone->incl_ns = field_u64(L, z, "incl_ns");
      zone->alloc_bytes = field_u64(L, z, "alloc_bytes");
      zone->free_bytes = field_u64(L, z, "free_bytes");
    } else {
      pf->zones[i].name = dup_text("?");
    }
    lua_pop(L, 1);
  }
}

static void memory_from(lua_State *L, int idx, bt_profile *pf) {
  bt_pf_memory *m = &pf->memory;
  m->present = 1;
  m->peak_rss = field_u64(L, idx, "peak_rss");
  m->mean_rss = field_u64(L, idx, "mean_rss");
  m->alloc_bytes = field_u64(L, idx, "alloc_bytes");
  m->free_bytes = field_u64(L, idx, "free_bytes");
  m->peak_lua_bytes = field_u64(L, idx, "peak_lua_bytes");
  lua_getfield(L, idx, "by_zone");
  m->by_zone = pairs_from(L, -1, &m->nby_zone);
  lua_pop(L, 1);
  lua_getfield(L, idx, "by_function");
  m->by_function = pairs_from(L, -1, &m->nby_function);
  lua_pop(L, 1);
  lua_getfield(L, idx, "timeline");
  if (lua_type(L, -1) == LUA_TTABLE) {
    size_t n = lua_rawlen(L, -1);
    m->timeline = (bt_pf_rss *)calloc(n ? n : 1, sizeof *m->timeline);
    for (size_t i = 0; m->timeline && i < n; i++) {
      lua_rawgeti(L, -1, (int)i + 1);
      if (lua_type(L, -1) == LUA_TTABLE) {
        m->timeline[m->ntimeline].t_ns = field_u64(L, -1, "t_ns");
        m->timeline[m->ntimeline++].rss = field_u64(L, -1, "rss");
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

static void samples_from(lua_State *L, int idx, bt_profile *pf) {
  size_t n = lua_rawlen(L, idx);
  pf->samples = (bt_pf_sample *)calloc(n ? n : 1, sizeof *pf->samples);
  if (pf->samples == NULL) return;
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, idx, (int)i + 1);
    int s = lua_gettop(L);
    if (lua_type(L, s) == LUA_TTABLE) {
      bt_pf_sample *sample = &pf->samples[pf->nsamples++];
      lua_getfield(L, s, "zone");
      if (lua_type(L, -1) == LUA_TSTRING)
        sample->zone = dup_text(lua_tostring(L, -1));
      lua_pop(L, 1);
      sample->count = field_u64(L, s, "count");
      lua_getfield(L, s, "stack");
      size_t depth = lua_type(L, -1) == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
      sample->stack = (uint32_t *)calloc(depth ? depth : 1, sizeof(uint32_t));
      for (size_t k = 0; sample->stack && k < depth; k++) {
        lua_rawgeti(L, -1, (int)k + 1);
        lua_Number fn = lua_tonumber(L, -1);
        sample->stack[sample->depth++] =
            fn >= 1 && fn <= (lua_Number)pf->nfuncs ? (uint32_t)fn - 1 : 0;
        lua_pop(L, 1);
      }
    }
    lua_settop(L, s - 1);
  }
}

static void runs_from(lua_State *L, int idx, bt_profile *pf) {
  size_t n = lua_rawlen(L, idx);
  pf->runs = (bt_pf_run *)calloc(n ? n : 1, sizeof *pf->runs);
  if (pf->runs == NULL) return;
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, idx, (int)i + 1);
    int r = lua_gettop(L);
    if (lua_type(L, r) == LUA_TTABLE) {
      bt_pf_run *run = &pf->runs[pf->nruns++];
      run->wall_ns = field_u64(L, r, "wall_ns");
      run->total_ticks = field_u64(L, r, "total_ticks");
      run->cpu_ns = field_u64(L, r, "cpu_ns");
      run->profile_ns = field_u64(L, r, "profile_ns");
      lua_getfield(L, r, "zones");
      run->zones = pairs_from(L, -1, &run->nzones);
      lua_getfield(L, r, "functions");
      run->functions = pairs_from(L, -1, &run->nfunctions);
      lua_getfield(L, r, "functions_cum");
      run->functions_cum = pairs_from(L, -1, &run->nfunctions_cum);
    }
    lua_settop(L, r - 1);
  }
}

static void tree_from(lua_State *L, int idx, bt_profile *pf) {
  size_t n = lua_rawlen(L, idx);
  pf->tree = (bt_pf_node *)calloc(n ? n : 1, sizeof *pf->tree);
  if (pf->tree == NULL) return;
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, idx, (int)i + 1);
    int at = lua_gettop(L);
    if (lua_type(L, at) == LUA_TTABLE) {
      uint64_t parent = field_u64(L, at, "parent");
      uint64_t fn = field_u64(L, at, "fn");
      bt_pf_node *node = &pf->tree[pf->ntree++];
      node->parent = parent >= 1 && parent <= i ? (uint32_t)parent - 1
                                                : BT_PF_NONE;
      node->fn = fn >= 1 && fn <= pf->nfuncs ? (uint32_t)fn - 1 : 0;
      node->calls = field_u64(L, at, "calls");
      node->self_ns = field_u64(L, at, "self_ns");
    }
    lua_settop(L, at - 1);
  }
}

/* The profile table at idx as a bt_profile (freed by the caller). */
static void profile_from_table(lua_State *L, int idx, bt_profile *pf) {
  memset(pf, 0, sizeof *pf);
  size_t cap_meta = 0;
  lua_getfield(L, idx, "meta");
  if (lua_type(L, -1) == LUA_TTABLE) meta_flatten(L, pf, &cap_meta, -1, "", 0);
  lua_pop(L, 1);
  lua_getfield(L, idx, "functions");
  if (lua_type(L, -1) == LUA_TTABLE) funcs_from(L, lua_gettop(L), pf);
  lua_pop(L, 1);
  lua_getfield(L, idx, "zones");
  if (lua_type(L, -1) == LUA_TTABLE) zones_from(L, lua_gettop(L), pf);
  lua_pop(L, 1);
  lua_getfield(L, idx, "memory");
  if (lua_type(L, -1) == LUA_TTABLE) memory_from(L, lua_gettop(L), pf);
  lua_pop(L, 1);
  lua_getfield(L, idx, "samples");
  if (lua_type(L, -1) == LUA_TTABLE) samples_from(L, lua_gettop(L), pf);
  lua_pop(L, 1);
  pf->sample_interval_ns = field_u64(L, idx, "sample_interval_ns");
  lua_getfield(L, idx, "runs");
  if (lua_type(L, -1) == LUA_TTABLE) runs_from(L, lua_gettop(L), pf);
  lua_pop(L, 1);
  lua_getfield(L, idx, "tree");
  if (lua_type(L, -1) == LUA_TTABLE) tree_from(L, lua_gettop(L), pf);
  lua_pop(L, 1);
}

/* Sets t[key] = value on the table on top, descending into "a.b" keys. */
static void meta_set(lua_State *L, const char *key) {
  const char *dot = strchr(key, '.');
  if (dot == NULL) {
    lua_setfield(L, -2, key);
    return;
  }
  lua_pushlstring(L, key, (size_t)(dot - key));
  lua_pushvalue(L, -1);
  lua_rawget(L, -4);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, -2);
    lua_rawset(L, -6);
  }
  lua_remove(L, -2); /* t value sub */
  lua_insert(L, -2); /* t sub value */
  meta_set(L, dot + 1);
  lua_pop(L, 1);
}

static void push_pairs(lua_State *L, const bt_pf_pair *pairs, size_t n) {
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)pairs[i].value);
    lua_setfield(L, -2, pairs[i].name);
  }
}

static void push_profile_funcs(lua_State *L, const bt_profile *pf) {
  lua_createtable(L, (int)pf->nfuncs, 0);
  for (size_t i = 0; i < pf->nfuncs; i++) {
    const bt_pf_func *f = &pf->funcs[i];
    lua_createtable(L, 0, 9);
    set_str(L, "name", f->name);
    set_str(L, "source", f->source);
    set_str(L, "key", f->key);
    set_int(L, "line", (uint64_t)f->line);
    if (f->zone_ns) set_int(L, "zone_ns", f->zone_ns);
    set_int(L, "ncalls", f->ncalls);
    set_int(L, "primcalls", f->primcalls);
    set_int(L, "self_ns", f->self_ns);
    set_int(L, "cum_ns", f->cum_ns);
    if (f->alloc_bytes) set_int(L, "alloc_bytes", f->alloc_bytes);
    lua_newtable(L);
    lua_setfield(L, -2, "callers");
    lua_rawseti(L, -2, (int)i + 1);
  }
  for (size_t i = 0; i < pf->nedges; i++) {
    const bt_pf_edge *e = &pf->edges[i];
    lua_rawgeti(L, -1, (int)e->callee + 1);
    lua_getfield(L, -1, "callers");
    lua_createtable(L, 0, 4);
    set_int(L, "ncalls", e->ncalls);
    set_int(L, "primcalls", e->primcalls);
    set_int(L, "self_ns", e->self_ns);
    set_int(L, "cum_ns", e->cum_ns);
    lua_rawseti(L, -2, (int)e->caller + 1);
    lua_pop(L, 2);
  }
}

static void push_profile_memory(lua_State *L, const bt_pf_memory *m) {
  lua_newtable(L);
  set_int(L, "peak_rss", m->peak_rss);
  set_int(L, "mean_rss", m->mean_rss);
  set_int(L, "alloc_bytes", m->alloc_bytes);
  set_int(L, "free_bytes", m->free_bytes);
  set_int(L, "peak_lua_bytes", m->peak_lua_bytes);
  push_pairs(L, m->by_zone, m->nby_zone);
  lua_setfield(L, -2, "by_zone");
  lua_newtable(L);
  for (size_t i = 0; i < m->nby_function; i++) {
    lua_pushinteger(L, (lua_Integer)m->by_function[i].value);
    lua_rawseti(L, -2, atoi(m->by_function[i].name));
  }
  lua_setfield(L, -2, "by_function");
  lua_createtable(L, (int)m->ntimeline, 0);
  for (size_t i = 0; i < m->ntimeline; i++) {
    lua_createtable(L, 0, 2);
    set_int(L, "t_ns", m->timeline[i].t_ns);
    set_int(L, "rss", m->timeline[i].rss);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "timeline");
}

static void push_profile(lua_State *L, const bt_profile *pf) {
  lua_newtable(L);
  lua_newtable(L);
  for (size_t i = 0; i < pf->nmeta; i++) {
    const bt_pf_meta *m = &pf->meta[i];
    if (m->type == BT_PF_TEXT)
      lua_pushstring(L, m->text);
    else if (m->type == BT_PF_BOOL)
      lua_pushboolean(L, (int)m->integer);
    else if (m->type == BT_PF_INT)
      lua_pushinteger(L, (lua_Integer)m->integer);
    else
      lua_pushnumber(L, m->real);
    meta_set(L, m->key);
  }
  lua_setfield(L, -2, "meta");
  push_profile_funcs(L, pf);
  lua_setfield(L, -2, "functions");
  lua_createtable(L, (int)pf->nzones, 0);
  for (size_t i = 0; i < pf->nzones; i++) {
    const bt_pf_zone *z = &pf->zones[i];
    lua_createtable(L, 0, 6);
    set_str(L, "name", z->name);
    set_int(L, "count", z->count);
    set_int(L, "self_ns", z->self_ns);
    set_int(L, "incl_ns", z->incl_ns);
    if (z->alloc_bytes || z->free_bytes) {
      set_int(L, "alloc_bytes", z->alloc_bytes);
      set_int(L, "free_bytes", z->free_bytes);
    }
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "zones");
  if (pf->memory.present) {
    push_profile_memory(L, &pf->memory);
    lua_setfield(L, -2, "memory");
  }
  lua_createtable(L, (int)pf->nsamples, 0);
  for (size_t i = 0; i < pf->nsamples; i++) {
    const bt_pf_sample *s = &pf->samples[i];
    lua_createtable(L, 0, 3);
    lua_createtable(L, (int)s->depth, 0);
    for (uint32_t k = 0; k < s->depth; k++) {
      lua_pushinteger(L, (lua_Integer)s->stack[k] + 1);
      lua_rawseti(L, -2, (int)k + 1);
    }
    lua_setfield(L, -2, "stack");
    if (s->zone) set_str(L, "zone", s->zone);
    set_int(L, "count", s->count);
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "samples");
  set_int(L, "sample_interval_ns", pf->sample_interval_ns);
  lua_createtable(L, (int)pf->nruns, 0);
  for (size_t i = 0; i < pf->nruns; i++) {
    const bt_pf_run *r = &pf->runs[i];
    lua_createtable(L, 0, 4);
    set_int(L, "wall_ns", r->wall_ns);
    set_int(L, "total_ticks", r->total_ticks);
    if (r->cpu_ns) set_int(L, "cpu_ns", r->cpu_ns);
    if (r->profile_ns) set_int(L, "profile_ns", r->profile_ns);
    push_pairs(L, r->zones, r->nzones);
    lua_setfield(L, -2, "zones");
    push_pairs(L, r->functions, r->nfunctions);
    lua_setfield(L, -2, "functions");
    if (r->nfunctions_cum > 0) {
      push_pairs(L, r->functions_cum, r->nfunctions_cum);
      lua_setfield(L, -2, "functions_cum");
    }
    lua_rawseti(L, -2, (int)i + 1);
  }
  lua_setfield(L, -2, "runs");
  if (pf->ntree > 0) {
    lua_createtable(L, (int)pf->ntree, 0);
    for (size_t i = 0; i < pf->ntree; i++) {
      const bt_pf_node *node = &pf->tree[i];
      lua_createtable(L, 0, 4);
      set_int(L, "parent",
              node->parent == BT_PF_NONE ? 0 : (uint64_t)node->parent + 1);
      set_int(L, "fn", (uint64_t)node->fn + 1);
      set_int(L, "calls", node->calls);
      set_int(L, "self_ns", node->self_ns);
      lua_rawseti(L, -2, (int)i + 1);
    }
    lua_setfield(L, -2, "tree");
  }
}

/* prof.encode(profile_table) -> .btprof bytes */
int bt_lua_prof_encode(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  bt_profile pf;
  profile_from_table(L, 1, &pf);
  unsigned char *bytes;
  size_t len;
  bt_err err = {0};
  int status = bt_proffile_encode(&pf, &bytes, &len, &err);
  bt_profile_free(&pf);
  if (status != 0) return luaL_error(L, "%s", err.msg);
  lua_pushlstring(L, (const char *)bytes, len);
  free(bytes);
  return 1;
}

/* prof.load(path_or_bytes [, name]) -> profile table | nil, message. Text
 * that starts with the .btprof magic is taken as the bytes themselves. */
int bt_lua_prof_load(lua_State *L) {
  size_t len;
  const char *arg = luaL_checklstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, NULL);
  bt_profile pf;
  bt_err err = {0};
  int status;
  if (len >= 8 && memcmp(arg, "BTPROF\r\n", 8) == 0)
    status = bt_proffile_decode((const unsigned char *)arg, len,
                                name ? name : "profile", &pf, &err);
  else
    status = bt_proffile_read(arg, &pf, &err);
  if (status != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  push_profile(L, &pf);
  bt_profile_free(&pf);
  return 1;
}

/* prof.merge({profile, ...}) -> .btprof bytes: a scenario's runs (tables
 * or .btprof bytes) as one profile, by btlua.profile.merge (see there). */
int bt_lua_prof_merge(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = (int)lua_rawlen(L, 1);
  if (n < 1) return luaL_argerror(L, 1, "a list of profiles");
  lua_settop(L, 1);
  lua_getglobal(L, "require");
  lua_pushstring(L, "btlua.profile");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "merge"); /* 3 */
  lua_createtable(L, n, 0);     /* 4: the tables */
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    if (lua_type(L, -1) == LUA_TSTRING) {
      lua_pushcfunction(L, bt_lua_prof_load);
      lua_insert(L, -2);
      lua_call(L, 1, 2);
      if (lua_isnil(L, -2))
        return luaL_error(L, "prof.merge: %s", lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    if (lua_type(L, -1) != LUA_TTABLE)
      return luaL_error(L, "prof.merge: item %d is not a profile", i);
    lua_rawseti(L, 4, i);
  }
  lua_call(L, 1, 1);
  lua_replace(L, 1);
  lua_settop(L, 1);
  return bt_lua_prof_encode(L);
}

static const luaL_Reg proffile_funcs[] = {
    {"encode", bt_lua_prof_encode},
    {"load", bt_lua_prof_load},
    {"merge", bt_lua_prof_merge},
    {NULL, NULL},
};

int luaopen_btlua_proffile(lua_State *L) {
  luaL_newlib(L, proffile_funcs);
  return 1;
}
