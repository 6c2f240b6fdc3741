-- sim_bench.lua: asset-bars per second through the whole bar loop for each
-- built-in strategy on synthetic bundles shaped like the three scenarios
-- (daily 50 x 2 years XNYS, hourly 20 x 6 months 24/7, minute 10 x 1 month
-- 24/7), profiler off; best of the repeats (CPU time). Compare with the C floor
-- (build/bench/sim_bench): same data (seed 3), same final values.
-- Run: build/btlua bench/sim_bench.lua [repeats] [shape ...]
local core = require "btlua.core"
local backtest = require "btlua.backtest"

local SHAPES = {
  { name = "daily", assets = 50, frequency = "daily", start = "2023-01-01",
    ["end"] = "2024-12-31", calendar = "XNYS" },
  { name = "hourly", assets = 20, frequency = "hourly", start = "2024-01-01",
    ["end"] = "2024-06-30", calendar = "24/7" },
  { name = "minute", assets = 10, frequency = "minute", start = "2024-01-01",
    ["end"] = "2024-01-31", calendar = "24/7" },
}
local STRATEGIES = { "sma_cross", "momentum", "mean_reversion" }

local repeats = tonumber(arg and arg[1]) or 5
local wanted = {}
for i = 2, arg and #arg or 0 do wanted[arg[i]] = true end

-- One run: seconds in sim:run (the bar loop), seconds in sim:results.
local function run_once(bundle, name)
  local strategy = backtest.load_strategy(name)
  local sim = core.sim.new(bundle, { capital = "100000" })
  local ctx, data = sim:context()
  ctx.params = backtest.merge_params(strategy.params, {})
  strategy.initialize(ctx, data)
  local t0 = os.clock() -- process CPU time: a busy machine disturbs it less
  sim:run(strategy.handle_data)
  local t1 = os.clock()
  local results = sim:results(name)
  local t2 = os.clock()
  return t1 - t0, t2 - t1, results
end

print(string.format("%s  (%s)", "btlua sim bench", core.lua_flavour))
print(string.format("%-8s %-15s %10s %14s %10s %12s %s", "shape", "strategy",
  "bars", "bars/s", "ns/bar", "results ms", "final_value"))
for _, shape in ipairs(SHAPES) do
  if not next(wanted) or wanted[shape.name] then
    local path = assert(core.store.synthetic {
      assets = shape.assets, frequency = shape.frequency, start = shape.start,
      ["end"] = shape["end"], calendar = shape.calendar, seed = 3 })
    local bundle = assert(core.store.open(path))
    for _, name in ipairs(STRATEGIES) do
      local best, best_out, results = math.huge, math.huge, nil
      for _ = 1, repeats do
        collectgarbage()
        local loop, out, r = run_once(bundle, name)
        if loop < best then best = loop end
        if out < best_out then best_out = out end
        results = r
      end
      print(string.format("%-8s %-15s %10d %14.0f %10.1f %12.1f %s",
        shape.name, name, results.bars, results.bars / best,
        best * 1e9 / results.bars, best_out * 1e3, results.final_value))
    end
  end
end
