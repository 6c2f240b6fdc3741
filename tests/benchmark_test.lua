-- benchmark_test.lua: the scenario field `benchmark` ("SYMBOL" or
-- "equal_weight"): its equity column, the relative metrics in the results
-- and refusals, on hand-made daily bars.
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

-- Buys 100 AAA on bar 1 (fills at 10.5), sells them on bar 3 (at 12).
local strategy = { handle_data = function(ctx, data)
  if data.bar == 1 then ctx:order(1, 100) end
  if data.bar == 3 then ctx:order(1, -100) end
end }

local function run(opts)
  opts.bundle, opts.strategy, opts.capital = bundle, strategy, "10000"
  return backtest.run(opts)
end

do
  local r = run { benchmark = "BBB" }
  t.is(r.files["equity.csv"], "time,cash,value,benchmark\n"
    .. "2024-01-01T00:00:00Z,10000,10000,10000\n"
    .. "2024-01-02T00:00:00Z,8950,10050,10000\n"
    .. "2024-01-03T00:00:00Z,8950,10150,10100\n"
    .. "2024-01-04T00:00:00Z,10150,10150,10100\n"
    .. "2024-01-05T00:00:00Z,10150,10150,10300\n",
    "BBB bought and held: 10000 * close / 100, its last close when missing")
  local m = cjson.decode(r.files["results.json"]).metrics
  t.is(m.benchmark, "BBB", "metrics.benchmark names it")
  t.is(m.benchmark_return, 0.03, "benchmark_return = 10300 / 10000 - 1")
  -- Values 10000 10050 10150 10150 10150 against 10000 10000 10100 10100
  -- 10300, P = 260 (weekdays: no weekend in the data); expected: the definitions evaluated in Python.
  t.like(r.files["results.json"], '\n    "alpha": 0%.726198726946,\n'
    .. '    "beta": 0%.0330477577698,\n'
    .. '    "information_ratio": %-4%.95981845348,\n'
    .. '    "tracking_error": 0%.155709335375\n  }',
    "alpha, beta, information ratio, tracking error (%.12g)")
  local keys = {}
  for key in r.files["results.json"]:gmatch('\n    "([%w_]+)":') do
    keys[#keys + 1] = key
  end
  t.is(table.concat(keys, ",", #keys - 5), "benchmark,benchmark_return,"
    .. "alpha,beta,information_ratio,tracking_error",
    "the benchmark keys close the metrics, in this order")
end

do
  local r = run { benchmark = "equal_weight" }
  local values = {}
  for v in r.files["equity.csv"]:gmatch(",([%d.]+)\n") do
    values[#values + 1] = v
  end
  t.is(table.concat(values, " "), "10000 10500 11050 9800 9650",
    "equal_weight: 5000 in each, each 5000 * close / first close")
end

do
  local plain = run {}
  t.is(plain.files["equity.csv"]:match("^[^\n]+"), "time,cash,value",
    "no benchmark: no column")
  t.is(plain.files["results.json"]:find("benchmark", 1, true), nil,
    "no benchmark: no benchmark keys")
  t.is(plain.metrics.alpha, nil, "no alpha without a benchmark")
  local ok, err = pcall(run, { benchmark = "ZZZ" })
  t.is(ok, false, "an unknown symbol refused")
  t.like(tostring(err), ': benchmark: "ZZZ" is neither an asset of the '
    .. 'data nor "equal_weight"$', "the message names benchmark")
end

do -- from the command line: the files
  local scn = dir .. "/bench.lua"
  testlib.write(scn, testlib.scenario_source("bench", "momentum")
    :gsub('strategy = "momentum",', 'strategy = "momentum",\n'
      .. '  benchmark = "equal_weight",'))
  local status, _, err = testlib.run { scn, "--profiler", "none",
    "--output-dir", dir .. "/out" }
  t.is(status, 0, "a scenario with a benchmark runs: " .. err)
  local json = cjson.decode(testlib.read(dir .. "/out/bench_results.json"))
  t.is(json.metrics.benchmark, "equal_weight", "S_results.json metrics")
  t.ok(type(json.metrics.beta) == "number", "beta computed")
  t.is(testlib.read(dir .. "/out/bench_equity.csv"):match("^[^\n]+"),
    "time,cash,value,benchmark", "S_equity.csv: the benchmark column")
end

t.done_testing()
