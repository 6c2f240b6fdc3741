/* lbt_prof.h: the Lua side of the profiler (btlua.core.prof): a profiler
 * userdata "btlua.Profiler" owns one bt_prof (zones, clock, memory totals)
 * plus the Lua call/return hooks (mode "cycles"), the sampler ("sample"),
 * the counting lua_Alloc ("memory"). One per run; start, the run and stop
 * happen on one OS thread (the hooks find their profiler through a
 * thread-local pointer), and only one profiler runs per thread at a time.
 *
 * Lua API (core.prof):
 *   p = prof.new{ mode = "cycles"|"sample"|"memory"|"none",
 *                 interval_ms = 1, zones = true, root = DIR,
 *                 offcpu = true }
 *                      root: the scenario's directory (function keys);
 *                      offcpu = false: times are plain TSC wall time
 *   p:names(table, prefix)  functions in table are named prefix..field in
 *                      function keys ("ctx:" gives "ctx:order")
 *   p:start([thread])  hooks the given thread (default: the caller's);
 *                      coroutines created afterwards are followed too
 *   p:stop()           removes hooks/timers, closes open frames
 *   p:data([meta])     the profile table (schema in lua/btlua/profile.lua);
 *                      meta is remembered for later calls without it
 *   p:btprof([meta])   the .btprof bytes (= prof.encode(p:data(meta)))
 *   p:zone_begin(name) / p:zone_end(name)   Lua-side engine zones
 *   p:mode(), p:running()
 *   prof.encode(table) -> bytes       (runner: add `runs`, then encode)
 *   prof.merge({table_or_bytes, ...}) -> bytes   a scenario's runs as one
 *                     profile (btlua.profile.merge: runs of the first mode,
 *                     samples/memory from the other modes)
 *   prof.load(path_or_bytes [, name]) -> table | nil, msg (names the file)
 *   prof.zones        { "load", "data", ... } in bt_zone_id order
 *   prof.clock        "tsc" | "cntvct" | "clock_gettime"
 *   prof.ticks_per_ns()
 *   prof._spin_ns(n)  test helper: busy-waits n ns in C, returns the
 *                     thread CPU ns it took (less when preempted)
 *
 * Memory mode needs no special lua_State: p:start wraps the state's
 * allocator with lua_setallocf and p:stop restores it. */
#ifndef BT_LBT_PROF_H
#define BT_LBT_PROF_H

#include "lbt_core.h"
#include "prof.h"

#define BT_PROF_METATABLE "btlua.Profiler"

/* The bt_prof of the Profiler at idx (raises if it is not one). The sim
 * binding passes it to the bar loop for zones; it lives as long as the
 * userdata. */
bt_prof *bt_lua_checkprof(lua_State *L, int idx);

/* Same, or NULL when the value at idx is nil/none or a profiler in mode
 * "none" with zones off (so callers can pass it straight to the loop). */
bt_prof *bt_lua_optprof(lua_State *L, int idx);

/* A fresh lua_State (luaL_newstate + standard libraries). Kept for the
 * runner's convenience: memory mode works on any state, because p:start
 * installs the counting allocator with lua_setallocf. */
lua_State *bt_prof_newstate(void);

#endif
