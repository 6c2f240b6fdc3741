-- btlua-scm-1.rockspec: builds btlua.core with CMake and installs the btlua
-- Lua modules, for a stock Lua 5.4 (or LuaJIT) interpreter.
rockspec_format = "3.0"
package = "btlua"
version = "scm-1"
source = {
  url = "git+file:///dev/null", -- `luarocks make` builds the checkout itself
}
description = {
  summary = "A Lua-scriptable profiling engine for trading backtests",
  detailed = [[
btlua runs trading backtests (an exact-decimal order simulation over an
mmap'd OHLCV store) with strategies written in Lua, and profiles them:
engine zones, Lua functions, sampling and memory.]],
  license = "MIT",
}
-- Lua 5.4, or LuaJIT 2.1 through a 5.1 tree:
--   luarocks --lua-version=5.1 make LUA_INCDIR=/usr/include/luajit-2.1
-- (the build refuses PUC Lua 5.1-5.3 with that hint).
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
  "argparse",
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    BTLUA_INSTALL_LMOD = "$(LUADIR)",
    BTLUA_INSTALL_CMOD = "$(LIBDIR)",
    BTLUA_HOST = "OFF",
    BTLUA_TESTS = "OFF",
  },
}
