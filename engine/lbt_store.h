/* lbt_store.h: the btlua.Bundle Lua type for other bindings (the simulator
 * borrows the bt_store of a Bundle userdata). */
#ifndef BT_LBT_STORE_H
#define BT_LBT_STORE_H

#include "compat.h"
#include "store.h"

#define BT_BUNDLE_TYPE "btlua.Bundle" /* metatable name */

/* The open bt_store of the Bundle at idx; raises if it is not a Bundle or
 * was closed. The store lives as long as the userdata: a caller that keeps
 * the pointer must keep the userdata referenced (e.g. in its own uservalue
 * or the registry) and must not call :close() meanwhile. */
bt_store *bt_lua_checkbundle(lua_State *L, int idx);

/* Pins (delta +1) or unpins (-1) the Bundle at idx: while pinned, :close()
 * raises an error instead of unmapping the file under a borrower. */
void bt_lua_bundle_pin(lua_State *L, int idx, int delta);

#endif
