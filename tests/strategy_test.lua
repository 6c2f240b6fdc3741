-- strategy_test.lua: the three built-in strategies against an independent
-- plain-Python reference (tests/reference/backtest_ref.py, exact integer
-- and fraction arithmetic, written from the rules): the same CSV data set
-- (synthetic bars written out as CSV, some rows dropped so assets miss
-- bars, then ingested) must give the same fills, cash and final value.
local t = require "tap"
local testlib = require "testlib"
local core = require "btlua.core"
local backtest = require "btlua.backtest"

local dir = testlib.tmpdir()

-- Writes the bundle's bars as a long CSV, dropping some rows (never at the
-- first session, so every asset appears in bundle order there).
local function write_csv(bundle, path)
  local lines = { "symbol,timestamp,open,high,low,close,volume" }
  local symbols = bundle:symbols()
  for s = 1, bundle:session_count() do
    local when = core.store.format_time(bundle:session_time(s))
    for a, sym in ipairs(symbols) do
      local dropped = s > 1 and ((a == 2 and s % 37 == 0)
        or (a == 3 and s >= 300 and s < 340) or (a == 4 and s % 11 == 5))
      local o, h, l, c, v = bundle:bar(a, s)
      if o and not dropped then
        lines[#lines + 1] = table.concat({ sym, when, o, h, l, c, v }, ",")
      end
    end
  end
  testlib.write(path, table.concat(lines, "\n") .. "\n")
end

local function reference(csv, strategy, capital, params)
  local words = { "python3", testlib.top .. "/tests/reference/backtest_ref.py",
                  csv, strategy, capital }
  for _, kv in ipairs(params) do words[#words + 1] = kv end
  for i, w in ipairs(words) do words[i] = testlib.quote(w) end
  local status, out, err = testlib.sh(table.concat(words, " "))
  if status ~= 0 then t.diag(err) end
  local fills = out:match("^(.-\n)final_value,")
  return fills, out:match("final_value,([^\n]+)"), out:match("\ncash,([^\n]+)"),
    tonumber(out:match("rejections,(%d+)"))
end

local function dataset(name, synth, frequency, capital)
  local path = assert(core.store.synthetic(synth))
  local source = assert(core.store.open(path))
  local csv = dir .. "/" .. name .. ".csv"
  write_csv(source, csv)
  local info = assert(core.store.ingest(csv, dir .. "/" .. name .. ".btb",
                                        { frequency = frequency }))
  local bundle = assert(core.store.open(dir .. "/" .. name .. ".btb"))
  return { name = name, csv = csv, bundle = bundle, capital = capital,
           sessions = info.sessions }
end

local sets = {
  dataset("hourly", { assets = 5, frequency = "hourly", start = "2024-01-01",
                      ["end"] = "2024-02-29", calendar = "24/7", seed = 11 },
          "hourly", "100000"),
  -- little capital per asset so that whole-unit sizing and cash matter
  dataset("daily", { assets = 6, frequency = "daily", start = "2021-01-01",
                     ["end"] = "2024-12-31", calendar = "XNYS", seed = 5 },
          "daily", "20000"),
}

local cases = {
  { "mean_reversion", { window = 20, k = 2 }, { "window=20", "k=2" } },
  { "mean_reversion", { window = 10, k = "1.5" }, { "window=10", "k=1.5" } },
  { "momentum", { lookback = 20 }, { "lookback=20" } },
  { "sma_cross", { fast = 50, slow = 200 }, { "fast=50", "slow=200" } },
  { "sma_cross", { fast = 5, slow = 20 }, { "fast=5", "slow=20" } },
}

local rejected, missing = 0, 0
for _, set in ipairs(sets) do
  for a = 1, set.bundle:asset_count() do
    missing = missing + set.sessions - set.bundle:asset(a).bars
  end
  for _, case in ipairs(cases) do
    local strategy, params, args = case[1], case[2], case[3]
    local label = set.name .. " " .. strategy .. " " .. table.concat(args, " ")
    local r = backtest.run { name = set.name, bundle = set.bundle,
                             strategy = strategy, params = params,
                             capital = set.capital }
    local fills, value, cash, rejections =
      reference(set.csv, strategy, set.capital, args)
    t.ok(r.fills >= 8, label .. ": trades (" .. r.fills .. " fills)")
    t.is(r.files["fills.csv"], fills, label .. ": same fills as the reference")
    t.is(r.final_value, value, label .. ": same final value")
    t.is(r.cash, cash, label .. ": same cash")
    t.is(r.rejections, rejections, label .. ": same rejections")
    rejected = rejected + r.rejections
  end
end
t.ok(rejected > 0, "the rejection rule is exercised (" .. rejected .. ")")
t.ok(missing > 0, "missing bars are exercised (" .. missing .. ")")

os.execute("rm -rf " .. testlib.quote(dir))
t.done_testing()
