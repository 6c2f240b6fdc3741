/* lbt_dec.h: the btlua.Dec Lua type for other bindings: read a decimal
 * argument (Dec, integer or decimal text) and push a new Dec. */
#ifndef BT_LBT_DEC_H
#define BT_LBT_DEC_H

#include "compat.h"
#include "dec.h"

#define BT_DEC_TYPE "btlua.Dec" /* metatable name */

/* The bt_dec at idx: a Dec userdata, an integer (exact; on LuaJIT an
 * integral number within +-2^53) or decimal text ("12.5", "1e-3").
 * Raises an argument error for floats, other types, bad text or overflow. */
bt_dec bt_lua_checkdec(lua_State *L, int idx);

/* Pointer to the value of the Dec userdata at idx, or NULL if it is not one. */
bt_dec *bt_lua_testdec(lua_State *L, int idx);

/* Pushes a new Dec userdata holding v. [-0, +1] */
void bt_lua_pushdec(lua_State *L, bt_dec v);

#endif
