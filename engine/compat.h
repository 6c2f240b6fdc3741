/* compat.h: the one Lua 5.1/LuaJIT compatibility block for the bindings.
 * Bindings are written against the Lua 5.4 API; this maps the few calls
 * LuaJIT 2.1 (Lua 5.1 API, no integer subtype) lacks. */
#ifndef BT_COMPAT_H
#define BT_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#if LUA_VERSION_NUM < 502
#include <math.h>

#define BT_LUA_FLAVOUR LUAJIT_VERSION
#ifndef LUAJIT_VERSION
#include <luajit.h>
#endif

#define lua_rawlen(L, i) lua_objlen((L), (i))
#define luaL_len(L, i) ((lua_Integer)lua_objlen((L), (i)))
#define lua_absindex(L, i)                                                     \
  (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)

/* LuaJIT numbers are doubles: an "integer" is a double with no fraction
 * that fits in 2^53. */
static inline int bt_compat_isinteger(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TNUMBER) return 0;
  lua_Number n = lua_tonumber(L, idx);
  return n == floor(n) && n >= -9007199254740992.0 && n <= 9007199254740992.0;
}
#define lua_isinteger(L, i) bt_compat_isinteger((L), (i))

/* LuaJIT 2.1 already has luaL_setfuncs, luaL_newlib, luaL_testudata,
 * luaL_setmetatable and luaL_traceback. */

/* lua_newuserdatauv: LuaJIT has no user values beyond one environment. */
#define lua_newuserdatauv(L, sz, nuv) lua_newuserdata((L), (sz))
#define LUA_OK 0
#define lua_rawgetp(L, i, p) (lua_pushlightuserdata((L), (void *)(p)), lua_rawget((L), ((i) < 0 && (i) > LUA_REGISTRYINDEX) ? (i) - 1 : (i)))
#define lua_rawsetp(L, i, p) (lua_pushlightuserdata((L), (void *)(p)), lua_insert((L), -2), lua_rawset((L), ((i) < 0 && (i) > LUA_REGISTRYINDEX) ? (i) - 1 : (i)))

#else
#define BT_LUA_FLAVOUR LUA_RELEASE
#endif

/* Is the value at idx an integer (5.4: the integer subtype; LuaJIT: an
 * integral double)?  Decimal constructors use this to refuse floats. */
#define bt_isinteger(L, i) lua_isinteger((L), (i))

#endif
