-- bracket_test.lua: ctx:order(..., {bracket = {take_profit =, stop_loss =}})
-- and ctx:replace(id, {limit =, stop =, amount =}) through the Lua API, on
-- hand-made daily bars: exact fills, statuses and refusals.
local t = require "tap"
local testlib = require "testlib"
local core = require "btlua.core"
local backtest = require "btlua.backtest"

local bundle = testlib.bundle({
  "AAA,2024-01-01,10,11,9,10,1000",
  "AAA,2024-01-02,10.5,12,10,11,1000",
  "AAA,2024-01-03,11,13,11,12,1000",
  "AAA,2024-01-04,12,12,9,9.5,1000",
  "AAA,2024-01-05,9,10,8,9,2000",
})

local function run(steps)
  return backtest.run { bundle = bundle, capital = "10000", strategy = {
    handle_data = function(ctx, data)
      if steps[data.bar] then steps[data.bar](ctx, data) end
    end } }
end

local HEADER = "time,asset,side,quantity,price,commission\n"

do
  local seen = {}
  local r = run {
    [1] = function(ctx)
      seen.id = ctx:order(1, 100, { bracket = { take_profit = 12.5,
        stop_loss = "9.5" } })
      seen.entry = ctx:get_order(seen.id)
    end,
    [3] = function(ctx)
      seen.sl, seen.tp = ctx:get_order(2), ctx:get_order(3)
      seen.position = ctx.position[1]
    end,
  }
  t.is(tostring(seen.entry.bracket.take_profit), "12.5", "entry: bracket")
  t.is(tostring(seen.entry.bracket.stop_loss), "9.5", "stop_loss")
  t.is(r.files["fills.csv"], HEADER
    .. "2024-01-02T00:00:00Z,AAA,buy,100,10.5,0\n"
    .. "2024-01-03T00:00:00Z,AAA,sell,100,12.5,0\n",
    "entry at bar 2's open; take-profit at max(open 11, 12.5) on bar 3")
  t.is(seen.sl.type .. " " .. seen.sl.status .. " " .. tostring(seen.sl.stop)
    .. " " .. tostring(seen.sl.amount) .. " " .. seen.sl.parent .. " "
    .. seen.sl.oco, "stop cancelled 9.5 -100 1 3",
    "the stop-loss: cancelled by the take-profit's fill")
  t.is(seen.tp.type .. " " .. seen.tp.status .. " " .. tostring(seen.tp.limit),
    "limit filled 12.5", "the take-profit filled")
  t.is(seen.position, 0, "flat again")
  t.is(r.final_value, "10200", "10000 + 100 * (12.5 - 10.5)")
end

do -- the stop-loss side: bar 4 falls to 9
  local r = run { [2] = function(ctx)
    ctx:order(1, 10, { bracket = { take_profit = 20, stop_loss = 10 } })
  end }
  t.is(r.files["fills.csv"], HEADER
    .. "2024-01-03T00:00:00Z,AAA,buy,10,11,0\n"
    .. "2024-01-04T00:00:00Z,AAA,sell,10,10,0\n",
    "stop-loss touched on bar 4: min(open 12, stop 10)")
end

do -- replace
  local seen = {}
  local r = run {
    [1] = function(ctx) seen.id = ctx:order(1, 10, { limit = 5 }) end,
    [2] = function(ctx)
      seen.ok = ctx:replace(seen.id, { limit = 11, amount = 20 })
      seen.pending = ctx.pending[1]
      seen.bad = { ctx:replace(seen.id, { stop = 1 }) }
      seen.missing = { ctx:replace(99, { limit = 1 }) }
      seen.empty = { pcall(ctx.replace, ctx, seen.id, {}) }
    end,
    [4] = function(ctx) seen.done = { ctx:replace(seen.id, { limit = 1 }) } end,
  }
  t.is(seen.ok, true, "replace: true")
  t.is(seen.pending, 20, "ctx.pending follows the new amount")
  t.is(r.files["fills.csv"], HEADER
    .. "2024-01-03T00:00:00Z,AAA,buy,20,11,0\n",
    "the same order fills 20 at the new limit 11 on bar 3")
  t.is_deeply(seen.bad, { false, "not a change this order can take" },
    "a limit order has no stop")
  t.is_deeply(seen.missing, { false, "no such order" }, "unknown id")
  t.is(seen.empty[1], false, "nothing to change raises")
  t.like(tostring(seen.empty[2]), "replace: give amount, limit or stop$",
    "the message says what to give")
  t.is_deeply(seen.done, { false, "not open" }, "a filled order")
end

do -- bad brackets
  local ok, err = pcall(run, { [1] = function(ctx)
    ctx:order(1, 10, { bracket = { take_profit = 9, stop_loss = 10 } })
  end })
  t.is(ok, false, "a buy with take_profit below stop_loss refused")
  t.like(tostring(err), "order: bracket of a buy needs stop_loss < "
    .. "take_profit", "the message names both")
  ok, err = pcall(run, { [1] = function(ctx)
    ctx:order(1, 10, { bracket = {} })
  end })
  t.like(tostring(err), "order: bracket needs take_profit or stop_loss > 0",
    "an empty bracket refused")
end

t.done_testing()
