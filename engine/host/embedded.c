/* embedded.c: package.preload loaders for the host's embedded Lua modules
 * (embedded.h). */
#include "embedded.h"

#include <lauxlib.h>

/* preload loader: upvalue 1 = index into bt_embedded_modules. Runs the
 * module's chunk with the arguments `require` gives a loader (name, extra)
 * and returns what it returns. */
static int load_module(lua_State *L) {
  const bt_embedded_module *m =
      &bt_embedded_modules[lua_tointeger(L, lua_upvalueindex(1))];
  int nargs = lua_gettop(L);
  if (luaL_loadbufferx(L, (const char *)m->chunk, m->size, m->name, "b") !=
      LUA_OK)
    return lua_error(L);
  lua_insert(L, 1);
  lua_call(L, nargs, 1);
  return 1;
}

void bt_embedded_open(lua_State *L) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  for (int i = 0; bt_embedded_modules[i].name != NULL; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, load_module, 1);
    lua_setfield(L, -2, bt_embedded_modules[i].name);
  }
  lua_pop(L, 2);
}
