/* profkey.h: the identity of a profiled function, built in this one place:
 * where it lives relative to its root plus the name the code calls it by,
 * "btlua.strategies.mean_reversion:handle_data", "[C]:string.rep",
 * "my_strategy.lua:<anonymous>". Never an absolute path, never a line
 * number, so editing lines above a function, running from another
 * directory or from an installed tree keeps every key. No Lua here. */
#ifndef BT_PROFKEY_H
#define BT_PROFKEY_H

#include <stddef.h>

/* The location of a Lua source file (`path` as in lua_Debug.source without
 * its '@'; relative paths resolve against the working directory):
 *   1. a module name when an absolute package.path template matches it
 *      ("/usr/share/lua/5.4/?.lua" makes ".../btlua/x.lua" "btlua.x";
 *      the longest matching template prefix wins; relative templates such
 *      as "./?.lua" are ignored, they depend on the working directory);
 *   2. else the path relative to `root` (the scenario's directory; NULL or
 *      "" for none) when the file is under it;
 *   3. else the file's name.
 * Writes at most size bytes (NUL included) to out; returns out. */
char *bt_profkey_location(const char *path, const char *package_path,
                          const char *root, char *out, size_t size);

/* The key "location:name" in a malloc'd string (NULL on ENOMEM); an
 * `ordinal` > 1 (the second function of that key in one file, by order
 * of definition) appends "#ordinal". */
char *bt_profkey_make(const char *location, const char *name, int ordinal);

/* The label files written before keys existed used as a key,
 * "source:line(name)" (C functions: line 0). Only the .btprof decoder
 * calls it, for such files. */
char *bt_profkey_legacy(const char *source, long long line, const char *name);

#endif
