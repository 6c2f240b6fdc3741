-- schedule_test.lua: warm-up (scenario field `warmup`: bars that feed the
-- indicators and history before the strategy and the metrics start) and
-- ctx:schedule(fn, rule) (every bar, day at open/close with offsets, the
-- k-th trading day of a week or month), on hand-made hourly bars.
local t = require "tap"
local testlib = require "testlib"
local core = require "btlua.core"
local backtest = require "btlua.backtest"
local schedule = require "btlua.schedule"
local cjson = require "cjson"

-- 7 trading days (Mon 2024-01-29 .. Tue 2024-02-06, weekdays), 4 hourly
-- bars a day (09:00 .. 12:00 UTC): bar n closes at 100 + n, opens at
-- 99.5 + n.
local DAYS = { "2024-01-29", "2024-01-30", "2024-01-31", "2024-02-01",
  "2024-02-02", "2024-02-05", "2024-02-06" }
local rows = {}
local n = 0
for _, day in ipairs(DAYS) do
  for hour = 9, 12 do
    n = n + 1
    rows[#rows + 1] = string.format("AAA,%sT%02d:00:00Z,%s,%d,%s,%d,1000",
      day, hour, tostring(99.5 + n), 101 + n, tostring(98.5 + n), 100 + n)
  end
end
local bundle = testlib.bundle(rows, "hourly")
t.is(bundle:session_count(), 28, "28 hourly bars")

local function run(strategy, opts)
  opts = opts or {}
  opts.bundle, opts.strategy = bundle, strategy
  opts.capital = opts.capital or "10000"
  return backtest.run(opts)
end

-- ---- warm-up --------------------------------------------------------------
do
  local seen = {}
  local r = run({
    initialize = function(ctx)
      seen.sma = ctx:sma(5)
    end,
    handle_data = function(ctx, data)
      if not seen.bar then
        seen.bar = data.bar
        seen.now = data:now()
        seen.sma5 = seen.sma[1]
        local view = data:history(1, "close", 5)
        seen.history = { #view, view[1], view[5] }
        ctx:order(1, 10)
      end
      ctx:record("bar", data.bar)
    end,
  }, { warmup = 4 })
  t.is(seen.bar, 5, "warmup = 4: handle_data first sees bar 5")
  t.is(seen.now, "2024-01-30T09:00:00Z", "the first traded bar's time")
  t.is(seen.sma5, 103, "SMA(5) ready on the first traded bar: (101..105)/5")
  t.is_deeply(seen.history, { 5, 101, 105 },
    "history reaches back into the warm-up bars")
  local lines = {}
  for line in r.files["equity.csv"]:gmatch("[^\n]+") do
    lines[#lines + 1] = line
  end
  t.is(#lines, 1 + 24, "equity.csv: a row per traded bar (28 - 4)")
  t.is(lines[1], "time,cash,value,bar", "equity.csv header")
  t.is(lines[2], "2024-01-30T09:00:00Z,10000,10000,5",
    "first row: bar 5, the capital")
  t.is(lines[3], "2024-01-30T10:00:00Z,8945,10005,6",
    "bar 6: the order of bar 5 filled at bar 6's open 105.5")
  t.is(lines[25], "2024-02-06T12:00:00Z,8945,10225,28", "last row")
  t.is(r.files["fills.csv"], "time,asset,side,quantity,price,commission\n"
    .. "2024-01-30T10:00:00Z,AAA,buy,10,105.5,0\n", "one fill, at bar 6")
  t.is(r.bars, 28, "bars counts the warm-up's asset-bars too")
  t.is(tostring(r.final_value), "10225", "final value")
  local json = cjson.decode(r.files["results.json"])
  t.is(json.metrics.total_return, 0.0225, "total return from the capital")
  t.is(json.metrics.exposure, 0.958333333333, "exposure: 23 of the 24 traded bars")
end

do -- warm-up 0 is the default: the same files as no warm-up at all
  local strategy = { handle_data = function(ctx, data)
    if data.bar == 2 then ctx:order(1, 3) end
  end }
  local a, b = run(strategy), run(strategy, { warmup = 0 })
  t.is(a.files["equity.csv"], b.files["equity.csv"], "warmup = 0: same equity")
  t.is(a.files["results.json"], b.files["results.json"],
    "warmup = 0: same results")
end

do -- bad warm-ups
  local strategy = { handle_data = function() end }
  local ok, err = pcall(run, strategy, { warmup = 28 })
  t.is(ok, false, "warmup = sessions refused")
  t.like(tostring(err),
    ": warmup: must be >= 0 and below the 28 sessions, got 28$",
    "the message names warmup and the sessions")
  ok, err = pcall(run, strategy, { warmup = 1.5 })
  t.like(tostring(err), ": warmup: must be an integer >= 0, got 1%.5$",
    "a fractional warmup refused")
end

-- ---- schedule -----------------------------------------------------------
-- Runs the rules; returns, per rule, the bars its function ran on.
local function fired(rules, opts)
  local bars = {}
  for i = 1, #rules do bars[i] = {} end
  run({
    initialize = function(ctx)
      for i, rule in ipairs(rules) do
        ctx:schedule(function(_, data)
          bars[i][#bars[i] + 1] = data.bar
        end, rule)
      end
    end,
    handle_data = function() end,
  }, opts)
  return bars
end

do
  local got = fired {
    { every = "day" },
    { every = "day", at = "open", offset_minutes = 90 },
    { every = "day", at = "close" },
    { every = "day", at = "close", offset_minutes = 60 },
    { every = "day", at = "open", offset_minutes = 181 },
    { every = "week", day = 1 },
    { every = "week", day = -1, at = "close" },
    { every = "week", day = 5 },
    { every = "month", day = 1 },
    { every = "month", day = -1, at = "close" },
    { every = "month", day = 2, at = "open", offset_minutes = 60 },
  }
  t.is_deeply(got[1], { 1, 5, 9, 13, 17, 21, 25 }, "daily at the open")
  t.is_deeply(got[2], { 3, 7, 11, 15, 19, 23, 27 },
    "open + 90 min: the first bar at or after 10:30 (11:00)")
  t.is_deeply(got[3], { 4, 8, 12, 16, 20, 24, 28 }, "daily at the close")
  t.is_deeply(got[4], { 3, 7, 11, 15, 19, 23, 27 },
    "close - 60 min: the last bar at or before 11:00")
  t.is_deeply(got[5], {}, "an offset past the day's last bar never fires")
  t.is_deeply(got[6], { 1, 21 }, "first trading day of each week (Mondays)")
  t.is_deeply(got[7], { 20, 28 },
    "last trading day of each week at the close (Fri 2, Tue 6)")
  t.is_deeply(got[8], { 17 }, "5th trading day: only the full week has one")
  t.is_deeply(got[9], { 1, 13 },
    "first trading day of each month (Jan 29 in the data, Feb 1)")
  t.is_deeply(got[10], { 12, 28 }, "last trading day of each month, close")
  t.is_deeply(got[11], { 6, 18 }, "2nd trading day of each month, 10:00")
end

do -- every bar; order: handle_data, then the scheduled in their order
  local log = {}
  run({
    initialize = function(ctx)
      ctx:schedule(function(_, data)
        log[#log + 1] = "a" .. data.bar end, { every = "bar" })
      ctx:schedule(function(_, data)
        log[#log + 1] = "b" .. data.bar end, { every = "day", at = "close" })
    end,
    handle_data = function(_, data)
      if data.bar <= 4 then log[#log + 1] = "h" .. data.bar end
    end,
  })
  t.is(table.concat(log, " ", 1, 9), "h1 a1 h2 a2 h3 a3 h4 a4 b4",
    "handle_data first, then the rules in the order scheduled")
  t.is(#log, 4 + 28 + 7, "every = bar ran on each of the 28 bars")
end

do -- with a warm-up: rules fire on traded bars only
  local got = fired({ { every = "day" }, { every = "week", day = 1 } },
    { warmup = 10 })
  t.is_deeply(got[1], { 13, 17, 21, 25 }, "warm-up days are skipped")
  t.is_deeply(got[2], { 21 }, "the week that began in the warm-up is skipped")
end

do -- scheduled functions can trade; fills are exact
  local r = run({
    initialize = function(ctx)
      ctx:schedule(function(c) c:order(1, 2) end,
        { every = "week", day = 1, at = "close" })
    end,
    handle_data = function() end,
  })
  t.is(r.files["fills.csv"], "time,asset,side,quantity,price,commission\n"
    .. "2024-01-30T09:00:00Z,AAA,buy,2,104.5,0\n"
    .. "2024-02-06T09:00:00Z,AAA,buy,2,124.5,0\n",
    "orders placed Monday at the close fill at the next bar's open")
end

do -- bad rules: raised from ctx:schedule, naming the field
  local function refused(rule)
    local ok, err = pcall(run, {
      initialize = function(ctx) ctx:schedule(function() end, rule) end,
      handle_data = function() end,
    })
    assert(not ok)
    return tostring(err)
  end
  t.is(refused { every = "hour" }, "schedule: rule.every: must be \"bar\", "
    .. "\"day\", \"week\" or \"month\", got \"hour\"", "every checked")
  t.is(refused { every = "day", at = "noon" },
    "schedule: rule.at: must be \"open\" or \"close\", got \"noon\"",
    "at checked")
  t.is(refused { every = "day", offset_minutes = -5 },
    "schedule: rule.offset_minutes: must be an integer >= 0, got -5",
    "offset_minutes checked")
  t.is(refused { every = "week", day = 0 }, "schedule: rule.day: must be a "
    .. "nonzero integer (1 the first trading day, -1 the last), got 0",
    "day checked")
  t.is(refused { every = "day", day = 2 },
    "schedule: rule.day: not with every = \"day\", got 2", "day not daily")
  t.is(refused { every = "bar", at = "open" },
    "schedule: rule.at: not with every = \"bar\", got \"open\"",
    "bar takes no at")
  t.is(refused { every = "day", minutes = 5 }, "schedule: rule.minutes: "
    .. "unknown field (known: at, day, every, offset_minutes), got 5",
    "unknown fields refused")
  t.is(refused "daily", "schedule: rule must be a table like { every = "
    .. "\"day\" }, got string", "a rule is a table")
  local ok, err = pcall(run, { handle_data = function(ctx)
    ctx:schedule(function() end, { every = "day" })
  end })
  t.is(ok, false, "ctx:schedule outside initialize refused")
  t.like(tostring(err), "schedule: call ctx:schedule in initialize",
    "outside initialize: the message says where to call it")
end

do -- the plan itself, from times alone
  local times = {}
  for i = 1, 28 do times[i] = bundle:session_time(i) end
  t.is(schedule.plan(schedule.check { every = "bar" }, times), true,
    "every bar: no list")
  t.is_deeply(schedule.plan(schedule.check { every = "month", day = -2 },
    times), { 5, 21 }, "2nd-last trading day of each month")
end

t.done_testing()
