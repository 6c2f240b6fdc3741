-- prof_overhead.lua: profiler overhead side by side in one run: a Lua loop
-- calling small functions, and the minute scenario's shape (10 assets,
-- 1 month of minute bars, mean reversion), each under --profiler none,
-- zones only, cycles, sample (1 ms) and memory. Prints medians of N runs and
-- ratios to none (best of N rounds, interleaved: the least disturbed run
-- of each, as this runs on shared machines). Run:
-- build/btlua bench/prof_overhead.lua [N]
local core = require "btlua.core"
local prof = core.prof
local rounds = tonumber(arg and arg[1]) or 5

local function median(list)
  table.sort(list)
  return list[math.floor((#list + 1) / 2)]
end

-- Runs fn(p) under each mode `rounds` times (interleaved); returns medians.
local MODES = {
  { "none", nil },
  { "zones", { mode = "none", zones = true } },
  { "cycles", { mode = "cycles", zones = true } },
  { "sample", { mode = "sample", zones = true, interval_ms = 1 } },
  { "memory", { mode = "memory", zones = true, interval_ms = 10 } },
}

local function measure(fn)
  local times = {}
  for _ = 1, rounds do
    for _, mode in ipairs(MODES) do
      local p = mode[2] and prof.new(mode[2]) or nil
      collectgarbage()
      local t0 = core.hrtime()
      if p then p:start() end
      fn(p)
      if p then p:stop() end
      local elapsed = core.hrtime() - t0
      times[mode[1]] = times[mode[1]] or {}
      table.insert(times[mode[1]], elapsed)
    end
  end
  local out = {}
  for name, list in pairs(times) do table.sort(list) out[name] = list[1] end
  return out
end

local function report(title, medians)
  print(title)
  local base = medians.none
  for _, mode in ipairs(MODES) do
    local ns = medians[mode[1]]
    print(string.format("  %-8s %10.3f ms  x%.3f", mode[1], ns / 1e6, ns / base))
  end
end

-- 1. Small Lua functions (the cProfile worst case).
local function add(a, b) return a + b end
local function step(x) return add(x, 1) end
local function small_calls()
  local s = 0
  for i = 1, 300000 do s = step(s) + add(i, 0) * 0 end
  return s
end
local small = measure(small_calls)
report(string.format("small Lua functions (900k calls; %s, %d rounds)",
  core.lua_flavour, rounds), small)
-- Accuracy after calibration: the self times reported under cycles should
-- add up to the bare run's time (the hook cost is subtracted).
do
  local reported = {}
  for round = 1, rounds do
    local p = prof.new { mode = "cycles" }
    p:start()
    small_calls()
    p:stop()
    local sum = 0
    for _, fn in ipairs(p:data().functions) do sum = sum + fn.self_ns end
    reported[round] = sum
  end
  table.sort(reported)
  local sum = reported[1]
  print(string.format("  cycles: reported self total %.3f ms = x%.3f of the bare run",
    sum / 1e6, sum / small.none))
end

-- 2. The minute scenario's shape.
local ok, backtest = pcall(require, "btlua.backtest")
if ok and core.store and core.sim then
  local path = assert(core.store.synthetic { assets = 10, frequency = "minute",
    start = "2024-01-01", ["end"] = "2024-01-31", seed = 3, calendar = "24/7" })
  local bundle = assert(core.store.open(path))
  local function minute(p)
    return backtest.run { name = "minute", bundle = bundle,
      strategy = "mean_reversion", params = { window = 20, k = 2 },
      capital = "100000", prof = p }
  end
  report(string.format("minute scenario (10 assets x 1 month of minutes; %d rounds)",
    rounds), measure(minute))
else
  print("minute scenario: btlua.backtest/core.sim not available in this build")
end
