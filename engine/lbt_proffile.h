/* lbt_proffile.h: .btprof files from Lua: the profile table <-> bytes.
 * Registered in core.prof (encode, load, merge) and core.proffile. */
#ifndef BT_LBT_PROFFILE_H
#define BT_LBT_PROFFILE_H

#include "lbt_core.h"

/* prof.encode(profile_table) -> .btprof bytes. */
int bt_lua_prof_encode(lua_State *L);

/* prof.load(path_or_bytes [, name]) -> profile table | nil, message. Text
 * starting with the .btprof magic is taken as the bytes themselves. */
int bt_lua_prof_load(lua_State *L);

/* prof.merge({table_or_bytes, ...}) -> .btprof bytes (btlua.profile.merge). */
int bt_lua_prof_merge(lua_State *L);

#endif
