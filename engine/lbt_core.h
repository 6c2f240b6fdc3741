/* lbt_core.h: what every binding file shares: the libuv loop of the host,
 * and the luaopen_* of each binding module (gathered into btlua.core). */
#ifndef BT_LBT_CORE_H
#define BT_LBT_CORE_H

#include <uv.h>

#include "compat.h"

/* The event loop of this lua_State: the host's, or one created on first use
 * when btlua.core is loaded into a stock interpreter. Never NULL. */
uv_loop_t *bt_lua_loop(lua_State *L);

/* Registers the host's loop (the host calls this before loading btlua). */
void bt_lua_set_loop(lua_State *L, uv_loop_t *loop);

/* Registry key of the btlua home directory (holds lua/ and scenarios/). */
#define BT_HOME_KEY "btlua.home"

/* Makes a fresh state a btlua host state, as the btlua command's own and
 * every runner worker's: registry BT_HOME_KEY = home, package.path starts
 * with HOME/lua/?.lua;HOME/lua/?/init.lua, and require "btlua.core" loads
 * the linked-in module (package.preload). The standard libraries must be
 * open already. */
void bt_lua_open_host(lua_State *L, const char *home);

int luaopen_btlua_core(lua_State *L);

/* The hidden child mode of the btlua command (`btlua --child`): runs one
 * job of btlua.core.runner described on fd 3 and writes its result there;
 * never returns (lbt_runner.c). */
int lbt_runner_child_main(void);
#define BT_MODULE(name) int luaopen_btlua_##name(lua_State *L);
#include "lbt_modules.h"
#undef BT_MODULE

#endif
