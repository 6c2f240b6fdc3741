-- rock_smoke.lua: run by .ci/run with a plain lua5.4 or luajit against a
-- luarocks tree: require "btlua" and one backtest (synthetic data, a
-- built-in strategy). Prints the flavour, bars, fills and final value.
local btlua = require "btlua"
local backtest = require "btlua.backtest"
local path = assert(btlua.core.store.synthetic { assets = 2,
  frequency = "daily", start = "2024-01-02", ["end"] = "2024-06-28",
  calendar = "XNYS", seed = 1 })
local bundle = assert(btlua.core.store.open(path))
local r = backtest.run { name = "smoke", bundle = bundle,
  strategy = "sma_cross", params = { fast = 5, slow = 20 } }
print(btlua.lua_flavour, r.bars, r.fills, r.final_value)
