/* lbt_core.c: the btlua.core Lua module: version facts, the libuv loop,
 * and every binding module (lbt_*.c) as a field: core.dec, core.store, ... */
#include "lbt_core.h"

#include <stdlib.h>
#include <time.h>

static const char LOOP_KEY = 'L'; /* registry: lightuserdata -> loop */

typedef struct owned_loop {
  uv_loop_t loop;
  int open;
} owned_loop;

static int owned_loop_gc(lua_State *L) {
  owned_loop *owned = (owned_loop *)lua_touserdata(L, 1);
  if (owned->open) {
    uv_run(&owned->loop, UV_RUN_DEFAULT); /* finish pending writes */
    uv_loop_close(&owned->loop);
    owned->open = 0;
  }
  return 0;
}

void bt_lua_set_loop(lua_State *L, uv_loop_t *loop) {
  lua_pushlightuserdata(L, (void *)&LOOP_KEY);
  lua_pushlightuserdata(L, loop);
  lua_rawset(L, LUA_REGISTRYINDEX);
}

uv_loop_t *bt_lua_loop(lua_State *L) {
  lua_pushlightuserdata(L, (void *)&LOOP_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  uv_loop_t *loop = (uv_loop_t *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (loop != NULL) return loop;
  /* Loaded into a stock interpreter: own a loop, closed with the state. */
  owned_loop *owned = (owned_loop *)lua_newuserdatauv(L, sizeof *owned, 0);
  owned->open = 0;
  if (uv_loop_init(&owned->loop) != 0) luaL_error(L, "cannot create event loop");
  owned->open = 1;
  lua_newtable(L);
  lua_pushcfunction(L, owned_loop_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  luaL_ref(L, LUA_REGISTRYINDEX); /* keep it alive until lua_close */
  bt_lua_set_loop(L, &owned->loop);
  return &owned->loop;
}

void bt_lua_open_host(lua_State *L, const char *home) {
  lua_pushstring(L, home);
  lua_setfield(L, LUA_REGISTRYINDEX, BT_HOME_KEY);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s", home, home,
                  lua_tostring(L, -1));
  lua_setfield(L, -3, "path");
  lua_pop(L, 1);
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_btlua_core);
  lua_setfield(L, -2, "btlua.core");
  lua_pop(L, 2);
}

/* core.cpu_count() -> number of CPUs libuv sees. */
static int core_cpu_count(lua_State *L) {
  uv_cpu_info_t *info;
  int count;
  if (uv_cpu_info(&info, &count) != 0) count = 1;
  else uv_free_cpu_info(info, count);
  lua_pushinteger(L, count > 0 ? count : 1);
  return 1;
}

/* core.hrtime() -> monotonic ns (libuv's clock), for wall times. */
static int core_hrtime(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime());
  return 1;
}

/* core.list_dir(path) -> sorted array of entry names (not "." or "..")
 * | nil, "path: message". Lists with libuv's scandir: no shell, no child
 * process. */
static int core_list_dir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  uv_fs_t req;
  int count = uv_fs_scandir(NULL, &req, path, 0, NULL);
  if (count < 0) {
    uv_fs_req_cleanup(&req);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, uv_strerror(count));
    return 2;
  }
  lua_createtable(L, count, 0);
  uv_dirent_t entry;
  int n = 0;
  while (uv_fs_scandir_next(&req, &entry) != UV_EOF) {
    lua_pushstring(L, entry.name);
    lua_rawseti(L, -2, ++n);
  }
  uv_fs_req_cleanup(&req);
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_remove(L, -2);
  lua_pushvalue(L, -2);
  lua_call(L, 1, 0);
  return 1;
}

/* core.thread_cpu_ns() -> this thread's CPU time (user + system) in ns:
 * a run's cost free of the time other processes took the CPU away. */
static int core_thread_cpu_ns(lua_State *L) {
  struct timespec now;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) != 0)
    return luaL_error(L, "thread_cpu_ns: clock_gettime failed");
  lua_pushnumber(L, (lua_Number)now.tv_sec * 1e9 + (lua_Number)now.tv_nsec);
  return 1;
}

static const luaL_Reg core_funcs[] = {
  {"cpu_count", core_cpu_count},
  {"list_dir", core_list_dir},
  {"hrtime", core_hrtime},
  {"thread_cpu_ns", core_thread_cpu_ns},
  {NULL, NULL},
};

int luaopen_btlua_core(lua_State *L) {
  luaL_newlib(L, core_funcs);
  lua_pushstring(L, BTLUA_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, BT_LUA_FLAVOUR);
  lua_setfield(L, -2, "lua_flavour");
  lua_pushstring(L, BTLUA_BUILD_TYPE);
  lua_setfield(L, -2, "build_type");
  lua_pushstring(L, uv_version_string());
  lua_setfield(L, -2, "uv_version");
  lua_getfield(L, LUA_REGISTRYINDEX, BT_HOME_KEY);
  lua_setfield(L, -2, "home");
  bt_lua_loop(L); /* the loop exists from the start */
#define BT_MODULE(name)                                                        \
  lua_pushcfunction(L, luaopen_btlua_##name);                                 \
  lua_call(L, 0, 1);                                                           \
  lua_setfield(L, -2, #name);
#include "lbt_modules.h"
#undef BT_MODULE
  return 1;
}
