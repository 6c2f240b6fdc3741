-- btlua.backtest: runs one backtest: a strategy (zipline's initialize /
-- handle_data) over a bundle, through the C bar loop of core.sim.
--
--   local results = backtest.run {
--     name = "minute", bundle = <Bundle>, strategy = "mean_reversion"
--       | "path/to/file.lua" | { params =, initialize =, handle_data = },
--     params = { ... }, capital = "100000", fill = "next_open",
--     slippage = "none" | { model = "fixed_bps", bps =, volume_limit = }
--       | { model = "volume_share", volume_limit = 0.025, price_impact = 0.1 },
--     commission = "none" | { model = "per_share", cost =, min_per_order = }
--       | { model = "per_trade", cost = } | { model = "per_dollar", rate = },
--     stop_limit = "same_bar" | "next_bar", allow_margin = false,
--     warmup = 0 (bars that only feed indicators and history),
--     benchmark = nil | "SYMBOL" | "equal_weight",
--     prof = <core.prof object>,
--     progress = function(bars_done, bars_total) end,
--     sandbox = nil | policy (a strategy file runs in btlua.sandbox),
--   }
--   results: { scenario, bars, sessions, final_value, cash, orders, fills,
--              rejections, metrics = {...}, files = { ["results.json"],
--              ["equity.csv"], ["fills.csv"] } }
local core = require "btlua.core"
local schedule = require "btlua.schedule"
local limits = core.limits

local backtest = {}

local BUILTIN = { sma_cross = true, momentum = true, mean_reversion = true }
backtest.builtin = { "sma_cross", "momentum", "mean_reversion" }

local function check_strategy(strategy, where)
  if type(strategy) ~= "table" then
    error("strategy " .. where .. ": must return a table, got "
      .. type(strategy), 0)
  end
  if type(strategy.handle_data) ~= "function" then
    error("strategy " .. where .. ": handle_data(ctx, data) is missing", 0)
  end
  for _, name in ipairs { "initialize", "on_order", "on_fill" } do
    if strategy[name] ~= nil and type(strategy[name]) ~= "function" then
      error("strategy " .. where .. ": " .. name .. " must be a function", 0)
    end
  end
  return strategy
end

-- load_strategy(spec) -> table: a table as is; a built-in name
-- ("sma_cross", "momentum", "mean_reversion", or any module name under
-- btlua.strategies); else a path to a Lua file returning the table, run in
-- btlua.sandbox under `policy` when one is given (see btlua.sandbox).
function backtest.load_strategy(spec, policy)
  if type(spec) == "table" then return check_strategy(spec, "table") end
  if type(spec) ~= "string" then
    error("strategy: a name, a file path or a table expected, got "
      .. type(spec), 0)
  end
  -- A built-in name: btlua's own file only (never the working directory
  -- or a C module of that name on package.cpath).
  local builtin = spec:match("^[%w_]+$")
    and require("btlua.sandbox").builtin_strategy_path(spec)
  if builtin then
    local name = "btlua.strategies." .. spec
    if package.searchpath(name, package.path) == builtin then
      return check_strategy(require(name), spec)
    end
    local chunk, err = loadfile(builtin, "t")
    if not chunk then error("strategy " .. spec .. ": " .. err, 0) end
    return check_strategy(chunk(name, builtin), spec)
  end
  if BUILTIN[spec] then error("strategy " .. spec .. ": not installed", 0) end
  local chunk, err
  if policy then -- sandboxed: the strategy's own directory is a root too
    local dirs = { spec:match("^(.*)/[^/]*$") or "." }
    for _, dir in ipairs(policy.dirs or {}) do dirs[#dirs + 1] = dir end
    chunk, err = require("btlua.sandbox").loadfile(spec,
      { dirs = dirs, output_dir = policy.output_dir })
  else
    chunk, err = loadfile(spec)
  end
  if not chunk then error("strategy: cannot load " .. spec .. ": " .. err, 0) end
  -- The file's top-level code counts against the time budget too.
  limits.enter("the strategy file's top-level code")
  local ok, strategy = pcall(chunk)
  limits.leave(true)
  if not ok then error(strategy, 0) end
  return check_strategy(strategy, spec)
end

-- Defaults of the strategy overridden by the given params.
function backtest.merge_params(defaults, overrides)
  local params = {}
  for k, v in pairs(defaults or {}) do params[k] = v end
  for k, v in pairs(overrides or {}) do params[k] = v end
  return params
end

local function simulate(opts, strategy)
  local sim = core.sim.new(opts.bundle, {
    capital = opts.capital or "100000",
    fill = opts.fill, slippage = opts.slippage, commission = opts.commission,
    stop_limit = opts.stop_limit, allow_margin = opts.allow_margin,
    warmup = opts.warmup, benchmark = opts.benchmark, prof = opts.prof,
  })
  local ctx, data = sim:context()
  if opts.prof then -- function keys: "ctx:order", "data:current"
    opts.prof:names(ctx, "ctx:")
    opts.prof:names(data, "data:")
    opts.prof:names(strategy, "")
  end
  ctx.params = backtest.merge_params(strategy.params, opts.params)
  local scheduled = {}
  ctx.schedule = function(_, fn, rule)
    if type(fn) ~= "function" then
      error("schedule: fn must be a function, got " .. type(fn), 2)
    end
    scheduled[#scheduled + 1] = { fn = fn, rule = schedule.check(rule) }
  end
  if strategy.initialize then
    limits.enter("initialize") -- the time budget counts this call
    strategy.initialize(ctx, data)
    limits.leave()
  end
  ctx.schedule = function()
    error("schedule: call ctx:schedule in initialize", 2)
  end
  local handle_data = strategy.handle_data
  if #scheduled > 0 then -- else nothing is added to the bar loop
    local times = {}
    for i = 1, opts.bundle:session_count() do
      times[i] = opts.bundle:session_time(i)
    end
    handle_data = schedule.wrap(handle_data, scheduled, times)
  end
  local callbacks
  if strategy.on_order or strategy.on_fill then
    callbacks = { on_order = strategy.on_order, on_fill = strategy.on_fill }
  end
  sim:run(handle_data, opts.progress, callbacks)
  return sim, sim:results(opts.name or "backtest")
end

-- The profiler (if any, and not already running) covers initialize, the
-- bar loop and the results; it is stopped even when the strategy fails.
function backtest.run(opts)
  assert(type(opts) == "table", "backtest.run: options table expected")
  local strategy = backtest.load_strategy(opts.strategy, opts.sandbox)
  local prof = opts.prof
  local started = prof ~= nil and not prof:running()
  if started then prof:start() end
  local ok, sim, results = pcall(simulate, opts, strategy)
  limits.leave(true) -- also when initialize raised
  if started then prof:stop() end
  if not ok then error(sim, 0) end
  results.strategy = strategy.name or
    (type(opts.strategy) == "string" and opts.strategy) or "table"
  results.sim = sim
  return results
end

return backtest
