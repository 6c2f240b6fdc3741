-- sim_test.lua: the Lua strategy API of core.sim / btlua.backtest on a tiny
-- hand-made bundle (CSV ingested): order timing, styles, sizing helpers,
-- data access (current, history views, missing bars), fast-path arrays,
-- indicators, record, errors, and the exact results files.
local t = require "tap"
local testlib = require "testlib"
local core = require "btlua.core"
local backtest = require "btlua.backtest"
local cjson = require "cjson"

local bundle, dir = testlib.bundle({
  "AAA,2024-01-01,10,11,9,10,1000",
  "BBB,2024-01-01,100,100,100,100,10",
  "AAA,2024-01-02,10.5,12,10,11,1000",
  "AAA,2024-01-03,11,13,11,12,1000",
  "BBB,2024-01-03,101,102,99,101,10",
  "AAA,2024-01-04,12,12,9,9.5,1000",
  "AAA,2024-01-05,9,10,8,9,2000",
  "BBB,2024-01-05,103,103,103,103,10",
})

-- Runs a table strategy; returns the results.
local function run(strategy, opts)
  opts = opts or {}
  opts.bundle, opts.strategy = bundle, strategy
  opts.capital = opts.capital or "10000"
  return backtest.run(opts)
end

-- Orders by bar: { [bar] = function(ctx, data) ... end }
local function scripted(steps, init)
  return {
    initialize = init,
    handle_data = function(ctx, data)
      local step = steps[data.bar]
      if step then step(ctx, data) end
    end,
  }
end

-- data access
do
  local seen = {}
  run(scripted({
    [1] = function(ctx, data)
      seen.assets = table.concat(ctx.assets, ",") .. "|" ..
        table.concat(data.assets, ",")
      seen.close1 = data.close[1]
      seen.now = data:now()
      seen.time = data.time
    end,
    [2] = function(_, data)
      seen.missing = data.close[2]
      seen.can_trade = { data:can_trade(1), data:can_trade("BBB") }
      seen.tradable = { data.tradable[1], data.tradable[2] }
      seen.current = data:current("AAA", "high")
      seen.current_missing = data:current(2, "close")
    end,
    [4] = function(_, data)
      local view = data:history(1, "close", 3)
      seen.len = #view
      seen.values = { view[1], view[2], view[3], view[4] }
      local sum = 0
      for _, v in view:values() do sum = sum + v end
      seen.sum = sum
      seen.dec = tostring(view:dec(3))
      local bbb = data:history("BBB", "close", 10)
      seen.bbb_len = #bbb
      seen.bbb2 = bbb[2]
      seen.volume = data.volume[1]
      seen.open = data:current(1, "open")
    end,
  }))
  t.is(seen.assets, "AAA,BBB|AAA,BBB", "ctx.assets and data.assets")
  t.is(seen.close1, 10, "data.close[1] on bar 1")
  t.is(seen.now, "2024-01-01T00:00:00Z", "data:now()")
  t.is(seen.time, 1704067200 * 1000000000, "data.time in ns")
  t.ok(seen.missing ~= seen.missing, "a missing bar's close is NaN")
  t.is_deeply(seen.can_trade, { true, false }, "data:can_trade")
  t.is_deeply(seen.tradable, { true, false }, "data.tradable array")
  t.is(seen.current, 12, "data:current(symbol, field)")
  t.ok(seen.current_missing ~= seen.current_missing, "current of missing: NaN")
  t.is(seen.len, 3, "#history view")
  t.is_deeply(seen.values, { 11, 12, 9.5 }, "history view oldest first, nil past the end")
  t.is(seen.sum, 32.5, "history view:values() iterates")
  t.is(seen.dec, "9.5", "history view:dec(i) is exact")
  t.is(seen.bbb_len, 4, "history shorter at the start (4 sessions so far)")
  t.ok(seen.bbb2 ~= seen.bbb2, "history shows missing bars as NaN")
  t.is(seen.volume, 1000, "data.volume subscribed mid-run is current")
  t.is(seen.open, 12, "data:current(asset, 'open')")
end

-- market orders: next_open and next_close; fast-path position/pending
do
  local seen = {}
  local r = run(scripted({
    [1] = function(ctx)
      seen.id = ctx:order(1, 100)
      seen.pending = ctx.pending[1]
      seen.position = ctx.position[1]
      seen.none = ctx:order("AAA", "0.001")
    end,
    [2] = function(ctx)
      seen.position2 = ctx.position[1]
      seen.pending2 = ctx.pending[1]
      seen.status = ctx:get_order(seen.id).status
      seen.cash = tostring(ctx:cash())
      seen.value = ctx.portfolio.value
      seen.positions = ctx.portfolio.positions.AAA.amount
    end,
  }))
  t.is(seen.id, 1, "ctx:order returns the order id")
  t.is(seen.pending, 100, "ctx.pending updated at once")
  t.is(seen.position, 0, "position unchanged until the fill")
  t.is(seen.none, nil, "a quantity that rounds to 0 places nothing")
  t.is(seen.position2, 100, "filled at the next bar, before handle_data")
  t.is(seen.pending2, 0, "nothing pending after the fill")
  t.is(seen.status, "filled", "get_order status")
  t.is(seen.cash, "8950", "cash 10000 - 100 * 10.5 (bar 2 open)")
  t.is(seen.value, 10050, "portfolio.value marked at the close 11")
  t.is(seen.positions, 100, "portfolio.positions[symbol].amount")
  t.like(r.files["fills.csv"], "2024%-01%-02T00:00:00Z,AAA,buy,100,10.5,0",
         "next_open fill logged")
  local close = run(scripted({ [1] = function(ctx) ctx:order(1, 100) end }),
                    { fill = "next_close" })
  t.like(close.files["fills.csv"], "AAA,buy,100,11,0", "next_close: bar 2 close")
  t.is(close.final_value, "9800", "final value 8900 + 100 * 9")
end

-- styles, cancel, rejection, sizing helpers
do
  local seen = {}
  local r = run(scripted({
    [1] = function(ctx)
      seen.limit = ctx:order(1, 10, { limit = 9.5 })   -- never touched? low 10
      seen.stop = ctx:order(1, 10, { stop = "11.5" })  -- high 12 on bar 2
      seen.big = ctx:order(2, 1000)                    -- cannot be paid
      seen.units = ctx:units(1, ctx.capital_base, 3)   -- floor(10000/3/10)
      seen.value_id = ctx:order_value(1, "1000")       -- 1000/10 = 100
      seen.open_aaa = ctx:get_open_orders(1)
      seen.open_all = ctx:get_open_orders()
    end,
    [2] = function(ctx)
      local o = ctx:get_order(seen.stop)
      seen.stop_status = o.status
      seen.limit_status = ctx:get_order(seen.limit).status
      seen.cancel = { ctx:cancel(seen.limit) }
      seen.cancel2 = { ctx:cancel(seen.limit) }
      seen.target = ctx:order_target(1, 50)            -- 110 held -> -60
      seen.percent = ctx:order_percent(1, 0.1)          -- 10% of value / 11
    end,
    [3] = function(ctx)
      local o = ctx:get_order(seen.big)
      seen.big_status, seen.reason = o.status, o.reason
    end,
  }))
  t.is(seen.units, 333, "ctx:units: floor(10000 / 3 / 10)")
  t.is_deeply(seen.open_aaa, { 1, 2, 4 }, "get_open_orders(asset)")
  t.is_deeply(seen.open_all, { 1, 2, 4, 3 }, "get_open_orders() in asset order")
  t.is(seen.stop_status, "filled", "stop touched on bar 2: filled")
  t.is(seen.limit_status, "open", "limit 9.5 not touched (low 10)")
  t.is_deeply(seen.cancel, { true }, "cancel an open order")
  t.is_deeply(seen.cancel2, { false, "not open" }, "cancel twice")
  t.is(seen.big_status, "rejected", "a buy the cash cannot cover")
  -- bar 2: cash 10000 - 115 - 1050 = 8835; bar 3 (AAA first): + 660
  -- - 91.31 * 11 = 8490.59 when BBB's order comes up
  t.is(seen.reason, "insufficient cash: needs 101000, cash 8490.59",
       "rejection reason (at bar 3's open)")
  t.is(r.rejections, 1, "one rejection")
  local fills = {}
  for line in r.files["fills.csv"]:gmatch("[^\n]+") do fills[#fills + 1] = line end
  t.is_deeply(fills, {
    "time,asset,side,quantity,price,commission",
    "2024-01-02T00:00:00Z,AAA,buy,10,11.5,0",
    "2024-01-02T00:00:00Z,AAA,buy,100,10.5,0",
    "2024-01-03T00:00:00Z,AAA,sell,60,11,0",
    "2024-01-03T00:00:00Z,AAA,buy,91.31,11,0",
  }, "fills: stop at 11.5, value order, target, percent (10% of 10045 / 11,"
     .. " 2 places toward zero)")
end

-- target orders, portfolio, the fill list
do
  local seen = {}
  local r = run(scripted({
    [1] = function(ctx) ctx:order_target_value(1, "2000") end, -- 200 at 10
    [2] = function(ctx)
      seen.cash = ctx.portfolio.cash
      seen.value = tostring(ctx:value())
      seen.pnl = ctx.portfolio.pnl
      seen.basis = ctx.portfolio.positions.AAA.cost_basis
      ctx:order_target_percent(1, 0.5)       -- 50% of 10100 / 11 -> 459.09
    end,
    [3] = function(ctx) ctx:order_target(1, 0) end,
  }))
  t.is(seen.cash, 7900, "portfolio.cash 10000 - 200 * 10.5")
  t.is(seen.value, "10100", "ctx:value(): 7900 + 200 * 11, exact")
  t.is(seen.pnl, 100, "portfolio.pnl")
  t.is(seen.basis, 10.5, "portfolio.positions[s].cost_basis per unit")
  local fills = r.sim:fills()
  t.is(#fills, 3, "sim:fills()")
  t.is_deeply({ fills[2].side, fills[2].quantity, fills[2].price },
              { "buy", "259.09", "11" }, "target percent buys up to 459.09")
  t.is_deeply({ fills[3].side, fills[3].quantity, fills[3].price },
              { "sell", "459.09", "12" }, "target 0 sells everything")
end

-- allow_margin: short sales go through
do
  local r = run(scripted({ [1] = function(ctx) ctx:order(1, -10) end }),
                { allow_margin = true })
  t.is(r.rejections, 0, "a short sale with allow_margin")
  t.is(r.cash, "10105", "cash 10000 + 10 * 10.5")
  t.is(r.final_value, "10015", "value 10105 - 10 * 9")
  local no = run(scripted({ [1] = function(ctx) ctx:order(1, -10) end }))
  t.is(no.rejections, 1, "and rejected without it")
end

-- slippage and commission models from Lua (exact to 1e-8)
do
  local r = run(scripted({ [1] = function(ctx) ctx:order(1, 10) end }), {
    slippage = { model = "fixed_bps", bps = 5 },
    commission = { model = "per_dollar", rate = "0.0015" },
  })
  t.like(r.files["fills.csv"], "AAA,buy,10,10.50525,0.15757875\n",
         "fixed_bps 5 on 10.5, per_dollar 0.0015 of 105.0525")
  local v = run(scripted({ [1] = function(ctx) ctx:order(1, 60) end }), {
    slippage = { model = "volume_share", volume_limit = 0.025 },
    commission = { model = "per_share", cost = "0.01", min_per_order = 1 },
  })
  local rows = {}
  for line in v.files["fills.csv"]:gmatch("[^\n]+") do rows[#rows + 1] = line end
  t.is_deeply(rows, {
    "time,asset,side,quantity,price,commission",
    "2024-01-02T00:00:00Z,AAA,buy,25,10.50065625,1",
    "2024-01-03T00:00:00Z,AAA,buy,25,11.0006875,0",
    "2024-01-04T00:00:00Z,AAA,buy,10,12.00012,0",
  }, "volume_share: 25 + 25 + 10 across three bars, impact, per_share min")
end

-- indicators and record
do
  local seen = {}
  local r = run({
    initialize = function(ctx)
      ctx.sma = ctx:sma(2)
      ctx.mom = ctx:indicator("momentum", 1)
      ctx.band = ctx:bands(2, 1)
    end,
    handle_data = function(ctx, data)
      if data.bar == 1 then seen.before = ctx.sma[1] end
      if data.bar == 3 then
        seen.sma = ctx.sma[1]
        seen.mom = ctx.mom[1]
        seen.lower, seen.upper = ctx.band.lower[1], ctx.band.upper[1]
        seen.bbb = ctx.sma[2]
      end
      ctx:record("close_aaa", data.close[1])
    end,
  })
  t.ok(seen.before ~= seen.before, "SMA is NaN until ready")
  t.is(seen.sma, 11.5, "SMA(2) of 11, 12")
  t.is(seen.mom, 1, "momentum(1): 12 - 11")
  t.is(seen.lower, 11, "bands(2, 1): 11.5 - 0.5")
  t.is(seen.upper, 12, "bands(2, 1): 11.5 + 0.5")
  t.is(seen.bbb, 100.5, "BBB SMA over its own bars (100, 101)")
  t.is(r.files["equity.csv"],
       "time,cash,value,close_aaa\n" ..
       "2024-01-01T00:00:00Z,10000,10000,10\n" ..
       "2024-01-02T00:00:00Z,10000,10000,11\n" ..
       "2024-01-03T00:00:00Z,10000,10000,12\n" ..
       "2024-01-04T00:00:00Z,10000,10000,9.5\n" ..
       "2024-01-05T00:00:00Z,10000,10000,9\n", "equity.csv with a recorded column")
end

-- results: deterministic files, JSON keys
do
  local a = run("mean_reversion", { params = { window = 2, k = "0.5" } })
  local b = run("mean_reversion", { params = { window = 2, k = "0.5" } })
  for _, name in ipairs { "results.json", "equity.csv", "fills.csv" } do
    t.is(a.files[name], b.files[name], name .. " identical on a second run")
  end
  local p = core.prof.new { mode = "cycles" }
  local c = run("mean_reversion", { params = { window = 2, k = "0.5" }, prof = p })
  t.is(c.files["results.json"], a.files["results.json"],
       "results.json identical with the profiler on")
  local zones = {}
  for _, z in ipairs(p:data().zones or {}) do zones[z.name] = z.count end
  t.is(zones.strategy, 5, "the strategy zone was entered once per bar")
  local doc = cjson.decode(a.files["results.json"])
  t.is(doc.scenario, "backtest", "scenario key")
  t.is(doc.bars, 8, "bars = asset-bars present")
  t.is(doc.final_value, a.final_value, "final_value as decimal text")
  t.is(type(doc.metrics.total_return), "number", "metrics object")
  local first = a.files["results.json"]:match('^{\n  "(%w+)"')
  t.is(first, "scenario", "keys in fixed order")
end

-- strategy loading, params, errors
do
  local path = dir .. "/mine.lua"
  testlib.write(path, "return { params = { n = 1, m = 2 }, initialize = " ..
    "function(ctx) ctx:record_me() end, handle_data = function() end }\n")
  local strategy = backtest.load_strategy(path)
  t.is(strategy.params.n, 1, "load_strategy(path)")
  t.is(backtest.load_strategy("momentum").name, "momentum", "built-in name")
  t.is_deeply(backtest.merge_params({ n = 1, m = 2 }, { m = 3 }), { n = 1, m = 3 },
              "params: defaults overridden")
  t.error_like(function() backtest.load_strategy(dir .. "/none.lua") end,
               "strategy: cannot load", "missing strategy file")
  t.error_like(function()
    run({ handle_data = function(_, data)
      if data.bar == 3 then error("boom at bar 3") end
    end })
  end, "boom at bar 3", "handle_data errors propagate")
  t.error_like(function()
    run({ handle_data = function(ctx) ctx:order(1, 1.5) end })
  end, "decimal expected", "a float quantity raises")
  t.error_like(function() run(scripted({}), { fill = "later" }) end,
               "fill: 'later' is not next_open or next_close", "bad fill")
  t.error_like(function() run(scripted({}), { slippage = { model = "x" } }) end,
               "slippage: unknown model 'x'", "bad slippage model")
  t.error_like(function() run(scripted({}), { capital = "0" }) end,
               "capital: must be > 0", "bad capital")
  t.error_like(function()
    run({ handle_data = function(ctx) ctx:order("ZZZ", 1) end })
  end, "no asset 'ZZZ'", "unknown symbol")
end

-- closing a position with ctx:order(i, -ctx.position[i]): integral
-- positions are integers (Lua 5.4), and integral floats are amounts
do
  local seen = {}
  local results = run(scripted({
    [1] = function(ctx) ctx:order(1, 10) end,
    [2] = function(ctx)
      seen.type = math.type and math.type(ctx.position[1]) or "integer"
      seen.pending = ctx.pending[1]
      ctx:order(1, -ctx.position[1])
    end,
    [3] = function(ctx)
      seen.closed = ctx.position[1]
      ctx:order(1, 4.0) -- an integral float
      ctx:order_target(1, 2.0)
    end,
  }))
  t.is(seen.type, "integer", "an integral position is an integer")
  t.is(seen.pending, 0, "pending 0 after the fill")
  t.is(seen.closed, 0, "position closed by ctx:order(i, -ctx.position[i])")
  t.is(results.fills, 4, "four fills: 10, -10, 4, 2")
  t.error_like(function()
    run({ handle_data = function(ctx) ctx:order(1, 2.5) end })
  end, "decimal expected", "a float with a fraction still raises")
end

-- short selling and the conservative stop-limit through the config
do
  local sold = run(scripted({ [1] = function(ctx) ctx:order(1, -5) end }),
    { allow_margin = true })
  t.is(sold.fills, 1, "allow_margin: a short sale fills")
  t.is(sold.rejections, 0, "allow_margin: no rejection")
  local refused = run(scripted({ [1] = function(ctx) ctx:order(1, -5) end }))
  t.is(refused.rejections, 1, "without allow_margin: rejected")
  -- bar 2 (10.5/12/10/11) touches stop 11.5; limit 12 reachable there
  local function stop_limit(mode)
    local r = run(scripted({ [1] = function(ctx)
      ctx:order(1, 1, { stop = "11.5", limit = "12" })
    end }), { stop_limit = mode })
    return r.sim:fills()[1]
  end
  t.is(tostring(stop_limit(nil).price), "11.5",
       "stop_limit same_bar (default): fills on the trigger bar at the stop")
  t.is(tostring(stop_limit("next_bar").price), "11",
       "stop_limit next_bar: fills on the next bar at its open")
  t.error_like(function() run(scripted({}), { stop_limit = "later" }) end,
               "stop_limit: 'later' is not same_bar or next_bar",
               "bad stop_limit")
end

-- order life cycle: on_fill / on_order callbacks, day orders, trailing stops
do
  local events = {}
  local strategy = scripted({
    [1] = function(ctx)
      ctx:order(1, 10)
      ctx:order(1, 5, { limit = "9.5", tif = "day" })
    end,
    [2] = function(ctx)
      local id = ctx:order(1, 1, { limit = 1 })
      ctx:cancel(id)
    end,
  })
  local handle = strategy.handle_data
  strategy.handle_data = function(ctx, data)
    if data.bar <= 3 then events[#events + 1] = "bar " .. data.bar end
    handle(ctx, data)
  end
  strategy.on_fill = function(_, f)
    events[#events + 1] = string.format("fill %d:%s %s@%s", f.order, f.asset,
      tostring(f.quantity), tostring(f.price))
  end
  strategy.on_order = function(_, o)
    events[#events + 1] = "order " .. o.id .. ":" .. o.status .. ":" .. o.tif
  end
  local results = run(strategy)
  t.is_deeply(events, { "bar 1", "fill 1:AAA 10@10.5",
    "order 1:filled:gtc", "bar 2", "order 3:cancelled:gtc",
    "order 2:expired:day", "bar 3" }, "on_fill, then on_order for each "
    .. "change (fill, cancel, the day order's expiry), before handle_data")
  t.is(results.fills, 1, "one fill")
end

do
  local function trailing(style)
    local r = run(scripted({
      [1] = function(ctx) ctx:order(1, 10) end,
      [2] = function(ctx) ctx:order(1, -10, style) end,
    }))
    local fills = r.sim:fills()
    return fills[2] and fills[2].price, r
  end
  t.is(trailing({ trail_amount = 1 }), "11",
       "trailing stop 1: stop 10, then 11 after close 12, fills at 11")
  t.is(trailing({ trail_percent = "0.1" }), "10.8",
       "trailing stop 10%: 9.9, then 10.8 after close 12, fills at 10.8")
  t.error_like(function() trailing({ trail_amount = 1, limit = 5 }) end,
    "a trailing stop takes trail_amount or trail_percent alone",
    "no trailing stop with a limit")
  t.error_like(function() trailing({ tif = "week" }) end,
    "tif 'week' is not gtc or day", "bad tif")
end

-- RSI, ATR (Wilder), rolling high/low and MACD, hand-computed on AAA
-- (closes 10, 11, 12, 9.5, 9): exact values at 10^-8
do
  local got = {}
  local function f8(v) return v == v and string.format("%.8f", v) or "nan" end
  run({
    initialize = function(ctx)
      ctx.r = ctx:rsi(2)
      ctx.a = ctx:atr(2)
      ctx.h = ctx:highest(2)
      ctx.l = ctx:lowest(2)
      ctx.m = ctx:macd(2, 3, 2)
      ctx.ri = ctx:indicator("rsi", 2)
    end,
    handle_data = function(ctx, data)
      got[data.bar] = table.concat({ f8(ctx.r[1]), f8(ctx.a[1]), f8(ctx.h[1]),
        f8(ctx.l[1]), f8(ctx.m.macd[1]), f8(ctx.m.signal[1]),
        f8(ctx.m.histogram[1]), f8(ctx.ri[1]) }, " ")
    end,
  })
  t.is(got[2], "nan nan 12.00000000 9.00000000 nan nan nan nan",
       "bar 2: highest high 12, lowest low 9; the rest not ready")
  t.is(got[3], "100.00000000 2.00000000 13.00000000 10.00000000 nan nan nan "
    .. "100.00000000", "bar 3: RSI 100 (no loss), ATR (2 + 2) / 2")
  t.is(got[4], "28.57142857 2.50000000 13.00000000 9.00000000 -0.08333333 "
    .. "0.20833334 -0.29166667 28.57142857", "bar 4: RSI 100 * 0.5 / 1.75, "
    .. "ATR (2 + 3) / 2, MACD 10.16666667 - 10.25, signal (0.5 - 0.08333333)"
    .. " / 2 half-even")
  t.is(got[5], "22.22222222 2.25000000 12.00000000 8.00000000 -0.23611111 "
    .. "-0.08796296 -0.14814815 22.22222222", "bar 5")
  t.error_like(function()
    run({ initialize = function(ctx) ctx:macd(5, 3) end,
          handle_data = function() end })
  end, "macd needs 1 <= fast < slow", "macd: fast < slow")
end

-- a finished run is garbage once its results are dropped
do
  local weak = setmetatable({}, { __mode = "v" })
  weak[1] = run("momentum").sim
  collectgarbage()
  collectgarbage()
  t.is(weak[1], nil, "the Sim (with its ctx and data) is collected")
end

-- progress
do
  local calls = {}
  run(scripted({}), { progress = function(done, total)
    calls[#calls + 1] = done .. "/" .. total
  end })
  t.is(calls[#calls], "5/5", "progress reaches bars_total")
end

os.execute("rm -rf " .. testlib.quote(dir))
t.done_testing()
