/* embedded.h: the host's Lua modules, compiled at build time (host/embed.c)
 * and linked into the btlua executable, so starting it parses no Lua. */
#ifndef BT_EMBEDDED_H
#define BT_EMBEDDED_H

#include <stddef.h>

#include <lua.h>

typedef struct bt_embedded_module {
  const char *name;           /* as `require` names it: "btlua.compare" */
  const unsigned char *chunk; /* bytecode of the host's Lua */
  size_t size;
} bt_embedded_module;

/* The generated table, ended by a NULL name. */
extern const bt_embedded_module bt_embedded_modules[];

/* Puts a loader for every embedded module into package.preload: a module
 * is loaded (its bytecode undumped and run) on its first `require` only.
 * Stack: unchanged. */
void bt_embedded_open(lua_State *L);

#endif
