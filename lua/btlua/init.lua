-- btlua: the module users require. Loads the C core and exposes the
-- version, the decimal type, data, simulation, profiler and report APIs.
local core = require "btlua.core"

local btlua = {
  version = core.version,
  lua_flavour = core.lua_flavour,
  build_type = core.build_type,
  core = core,
}

-- Lua-side modules load on first use, so `require "btlua"` stays cheap and
-- a module that is not needed is never loaded.
local lazy = {
  scenario = "btlua.scenario",
  compare = "btlua.compare",
  report = "btlua.report",
  stats = "btlua.stats",
  profile = "btlua.profile",
}

return setmetatable(btlua, {
  __index = function(t, key)
    local modname = lazy[key]
    local value
    if modname then
      value = require(modname)
    else
      value = core[key]
    end
    if value ~= nil then rawset(t, key, value) end
    return value
  end,
})
