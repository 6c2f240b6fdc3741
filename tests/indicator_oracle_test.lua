-- indicator_oracle_test.lua: RSI(14), ATR(14) and MACD(12, 26, 9) of the
-- engine against an independent implementation, the npm package
-- technicalindicators (tests/oracle/indicators.js), on 400 seeded bars.
-- Skips, saying what to install, when node or the package is missing.
local t = require "tap"
local lib = require "testlib"
local core = require "btlua.core"
local backtest = require "btlua.backtest"
local cjson = require "cjson"

local oracle = lib.top .. "/tests/oracle"
local module = oracle .. "/node_modules/technicalindicators/package.json"
if lib.sh("command -v node") ~= 0 or not lib.read(module) then
  io.write("1..0 # SKIP technicalindicators not installed: run "
    .. "`npm install --prefix tests/oracle` (needs node)\n")
  return
end

-- A seeded walk with 2-place prices: open, high, low, close per bar.
local dir = lib.tmpdir()
local seed = 12345
local function random() -- a small LCG: the same bars in every Lua
  seed = (seed * 1103515245 + 12345) % 2147483648
  return seed / 2147483648
end
local lines, bars = { "symbol,timestamp,open,high,low,close,volume" },
  { high = {}, low = {}, close = {} }
local close = 10000 -- cents
for day = 0, 399 do
  local open = close + math.floor((random() - 0.5) * 200)
  close = open + math.floor((random() - 0.5) * 400)
  if close < 100 then close = 100 + day end
  local high = math.max(open, close) + math.floor(random() * 150)
  local low = math.max(1, math.min(open, close) - math.floor(random() * 150))
  local function text(cents) return string.format("%d.%02d",
    math.floor(cents / 100),
    cents % 100) end
  lines[#lines + 1] = table.concat({ "AAA", os.date("!%Y-%m-%d",
    1672531200 + day * 86400), text(open), text(high), text(low),
    text(close), "1000" }, ",")
  bars.high[#bars.high + 1] = high / 100
  bars.low[#bars.low + 1] = low / 100
  bars.close[#bars.close + 1] = close / 100
end
lib.write(dir .. "/bars.csv", table.concat(lines, "\n") .. "\n")
assert(core.store.ingest(dir .. "/bars.csv", dir .. "/bars.btb",
  { frequency = "daily" }))

-- The engine's values, per bar (NaN before ready).
local got = { rsi = {}, atr = {}, macd = {}, signal = {}, histogram = {} }
backtest.run {
  bundle = assert(core.store.open(dir .. "/bars.btb")), capital = "100000",
  strategy = {
    initialize = function(ctx)
      ctx.r, ctx.a, ctx.m = ctx:rsi(14), ctx:atr(14), ctx:macd(12, 26, 9)
    end,
    handle_data = function(ctx)
      got.rsi[#got.rsi + 1] = ctx.r[1]
      got.atr[#got.atr + 1] = ctx.a[1]
      got.macd[#got.macd + 1] = ctx.m.macd[1]
      got.signal[#got.signal + 1] = ctx.m.signal[1]
      got.histogram[#got.histogram + 1] = ctx.m.histogram[1]
    end,
  },
}

lib.write(dir .. "/bars.json", cjson.encode(bars))
local status, out, err = lib.sh("NODE_PATH=" .. lib.quote(oracle
  .. "/node_modules") .. " node " .. lib.quote(oracle .. "/indicators.js")
  .. " < " .. lib.quote(dir .. "/bars.json"))
t.is(status, 0, "the oracle runs")
if status ~= 0 then t.diag(tostring(err)) end
local want = cjson.decode(out ~= "" and out or "{}")

-- Compares the engine's values with the oracle's, bar by bar: the oracle's
-- first value belongs to bar first_bar; the engine's are ready from bar
-- ready_bar (the oracle has none or nulls before).
local function compare(name, values, first_bar, ready_bar, tolerance, label)
  local worst, count, unready = 0, 0, 0
  for bar = 1, #got.rsi do
    local want_value = values[bar - first_bar + 1]
    local mine = got[name][bar]
    if bar < ready_bar then
      if mine == mine then unready = unready + 1 end
    elseif want_value ~= nil and want_value ~= cjson.null then
      count = count + 1
      local gap = math.abs(mine - want_value)
      if not (gap <= worst) then worst = gap end
    end
  end
  t.is(unready, 0, label .. ": not ready before bar " .. ready_bar)
  t.ok(count == #got.rsi - ready_bar + 1 and worst <= tolerance,
    string.format(
    "%s: %d bars agree within %g (largest difference %.3g)", label, count,
    tolerance, worst))
end

local macd, signal, histogram = {}, {}, {}
for i, v in ipairs(want.macd or {}) do
  macd[i], signal[i], histogram[i] = v.MACD, v.signal, v.histogram
end
-- technicalindicators rounds RSI to 2 places (so at most 0.005 apart)
compare("rsi", want.rsi or {}, 15, 15, 0.005 + 1e-6, "RSI(14)")
compare("atr", want.atr or {}, 15, 15, 1e-6, "ATR(14)")
compare("macd", macd, 26, 26, 1e-6, "MACD(12, 26, 9) line")
compare("signal", signal, 26, 34, 1e-6, "MACD signal")
compare("histogram", histogram, 26, 34, 1e-6, "MACD histogram")

os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
