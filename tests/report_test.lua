-- report_test.lua: the bottleneck report on a known profile: exactly the
-- zones and functions above 5% of wall time, each in the right category,
-- the share per category, ranked targets; `btlua report` writes the file.
local t = require "tap"
local lib = require "testlib"
local fx = require "compare_fixtures"
local report = require "btlua.report"

local C = "[C]"
local STRATEGY = "lua/btlua/strategies/mean_reversion.lua"

-- Wall time 1 s; zone self times sum to 930 ms (70 ms unattributed).
local profile = {
  meta = { scenario = "minute", version = "0.1.0", lua_flavour = "Lua 5.4",
           build_type = "Release", host = "ci-1", profiler = "cycles",
           wall_ns = 1e9 },
  zones = {
    { name = "load", count = 1, self_ns = 30e6, incl_ns = 30e6 },
    { name = "data", count = 9, self_ns = 80e6, incl_ns = 80e6 },
    { name = "indicators", count = 9, self_ns = 40e6, incl_ns = 40e6 },
    { name = "strategy", count = 9, self_ns = 600e6, incl_ns = 600e6 },
    { name = "blotter", count = 9, self_ns = 60e6, incl_ns = 60e6 },
    { name = "fills", count = 9, self_ns = 20e6, incl_ns = 20e6 },
    { name = "ledger", count = 9, self_ns = 50e6, incl_ns = 50e6 },
    { name = "metrics", count = 9, self_ns = 30e6, incl_ns = 30e6 },
    { name = "output", count = 1, self_ns = 20e6, incl_ns = 20e6 },
  },
  functions = {
    { name = "handle_data", source = STRATEGY, line = 30, self_ns = 250e6 },
    { name = "current", source = C, line = -1, self_ns = 120e6 },
    { name = "__mul", source = C, line = -1, self_ns = 90e6 },
    { name = "sma_update", source = STRATEGY, line = 12, self_ns = 60e6 },
    { name = "order_target_percent", source = C, line = -1, self_ns = 55e6 },
    { name = "write", source = C, line = -1, self_ns = 51e6 },
    { name = "portfolio_value", source = C, line = -1, self_ns = 50e6 },
    { name = "helper", source = STRATEGY, line = 50, self_ns = 49.9e6 },
    { name = "record", source = C, line = -1, self_ns = 30e6 },
  },
}

local cases = {
  { { name = "handle_data", source = STRATEGY }, "strategy Lua code" },
  { { name = "current", source = C }, "data access" },
  { { name = "history", source = C }, "data access" },
  { { name = "__mul", source = C }, "decimal arithmetic" },
  { { name = "dec.add", source = C }, "decimal arithmetic" },
  { { name = "sma_update", source = STRATEGY }, "indicators" },
  { { name = "order_target_percent", source = C }, "order simulation" },
  { { name = "cancel", source = C }, "order simulation" },
  { { name = "portfolio_value", source = C }, "ledger/metrics" },
  { { name = "record", source = C }, "ledger/metrics" },
  { { name = "write", source = C }, "I/O" },
  { { name = "summary", source = "/x/lua/btlua/report.lua" }, "I/O" },
  { { name = "load", source = "/x/lua/btlua/scenario.lua" }, "I/O" },
  { { name = "mystery", source = C }, "other" },
  { { name = "run", source = C }, "engine (see zones)" },
  { { name = "results", source = C }, "engine (see zones)" },
  { { name = "run", source = STRATEGY }, "strategy Lua code" },
  { { name = "x", source = "/opt/btlua/lua/btlua/strategies/s.lua" },
    "strategy Lua code" },
}
for _, case in ipairs(cases) do
  t.is(report.function_category(case[1]), case[2],
    case[1].name .. " is " .. case[2])
end

local analysis = report.analyse(profile)
local listed = {}
for _, item in ipairs(analysis.items) do
  listed[#listed + 1] = item.kind .. " " .. item.name .. ": " .. item.category
end
t.is_deeply(listed, {
  "zone strategy: strategy Lua code",
  "function handle_data (" .. STRATEGY .. ":30): strategy Lua code",
  "function current ([C]): data access",
  "function __mul ([C]): decimal arithmetic",
  "zone data: data access",
  "function sma_update (" .. STRATEGY .. ":12): indicators",
  "zone blotter: order simulation",
  "function order_target_percent ([C]): order simulation",
  "function write ([C]): I/O",
}, "exactly the items above 5% (5.00% and 4.99% are not), ranked")

local expected = table.concat({
  "# Bottleneck report",
  "",
  "Profiles from `fixture`. Listed: every zone or function whose self time "
    .. "is more than 5% of the scenario's wall time, with its category (rules "
    .. "in docs/compare.md). Zone and function times overlap: Lua functions "
    .. "run inside the strategy zone; in the category shares, functions "
    .. "called from strategy code are moved out of it.",
  "",
  "## minute",
  "",
  "Wall time 1.000 s; btlua 0.1.0; Lua 5.4; Release; host ci-1; profiler "
    .. "cycles; 1 run.",
  "",
  "### Time by category",
  "",
  "| category | time | share |",
  "|---|---|---|",
  "| data access | 200.000 ms | 20.00% |",
  "| strategy Lua code | 195.000 ms | 19.50% |",
  "| ledger/metrics | 160.000 ms | 16.00% |",
  "| order simulation | 135.000 ms | 13.50% |",
  "| indicators | 100.000 ms | 10.00% |",
  "| decimal arithmetic | 90.000 ms | 9.00% |",
  "| unattributed | 70.000 ms | 7.00% |",
  "| I/O | 50.000 ms | 5.00% |",
  "",
  "### Above 5% of wall time",
  "",
  "| kind | name | category | self time | share |",
  "|---|---|---|---|---|",
  "| zone | strategy | strategy Lua code | 600.000 ms | 60.00% |",
  "| function | `handle_data (" .. STRATEGY .. ":30)` | strategy Lua code "
    .. "| 250.000 ms | 25.00% |",
  "| function | `current ([C])` | data access | 120.000 ms | 12.00% |",
  "| function | `__mul ([C])` | decimal arithmetic | 90.000 ms | 9.00% |",
  "| zone | data | data access | 80.000 ms | 8.00% |",
  "| function | `sma_update (" .. STRATEGY .. ":12)` | indicators | "
    .. "60.000 ms | 6.00% |",
  "| zone | blotter | order simulation | 60.000 ms | 6.00% |",
  "| function | `order_target_percent ([C])` | order simulation | "
    .. "55.000 ms | 5.50% |",
  "| function | `write ([C])` | I/O | 51.000 ms | 5.10% |",
  "",
  "### Optimisation targets",
  "",
  "1. strategy (zone, strategy Lua code, 60.00% of wall time): hoist table "
    .. "lookups and closures out of handle_data, avoid allocating per bar; "
    .. "try the LuaJIT build.",
  "2. `handle_data (" .. STRATEGY .. ":30)` (function, strategy Lua code, "
    .. "25.00% of wall time): hoist table lookups and closures out of "
    .. "handle_data, avoid allocating per bar; try the LuaJIT build.",
  "3. `current ([C])` (function, data access, 12.00% of wall time): read "
    .. "each value once per bar; prefer the published per-bar arrays to one "
    .. "C call per asset and field.",
  "4. `__mul ([C])` (function, decimal arithmetic, 9.00% of wall time): "
    .. "keep money math in C; avoid building btlua.dec values per bar in Lua "
    .. "(each one allocates).",
  "5. data (zone, data access, 8.00% of wall time): read each value once "
    .. "per bar; prefer the published per-bar arrays to one C call per asset "
    .. "and field.",
  "6. `sma_update (" .. STRATEGY .. ":12)` (function, indicators, 6.00% of "
    .. "wall time): use the built-in O(1) rolling indicators instead of "
    .. "recomputing windows in Lua.",
  "7. blotter (zone, order simulation, 6.00% of wall time): place fewer "
    .. "orders (order_target_* only when the target changes); check open "
    .. "orders before adding more.",
  "8. `order_target_percent ([C])` (function, order simulation, 5.50% of "
    .. "wall time): place fewer orders (order_target_* only when the target "
    .. "changes); check open orders before adding more.",
  "9. `write ([C])` (function, I/O, 5.10% of wall time): write fewer "
    .. "output files or exports; cache bundles.",
  "",
}, "\n")
t.is(report.render({ analysis }, "fixture", 5), expected,
  "the whole report, exactly")

-- An engine driver (sim:run) is listed but is no target: its time is the
-- zones' time.
local engine_profile = {
  meta = { scenario = "daily", wall_ns = 100e6 },
  zones = { { name = "fills", count = 1, self_ns = 40e6, incl_ns = 40e6 },
            { name = "strategy", count = 1, self_ns = 50e6,
              incl_ns = 50e6 } },
  functions = {
    { name = "run", source = C, line = -1, self_ns = 40e6 },
    { name = "handle_data", source = STRATEGY, line = 30, self_ns = 45e6 },
  },
}
local engine_lines = {}
report.render_analysis(report.analyse(engine_profile), engine_lines)
local engine_text = table.concat(engine_lines, "\n")
t.like(engine_text, "\n| function | `run %(%[C%]%)` | engine %(see zones%) | "
  .. "40%.000 ms | 40%.00%% |\n", "sim:run is listed as the engine")
t.like(engine_text, "### Optimisation targets\n\n1%. strategy %(zone.-\n2%. "
  .. "`handle_data %(.-\n3%. fills %(zone, order simulation, 40%.00%% of "
  .. "wall time%)[^\n]*\n$", "and is no target")

local installed = report.analyse({ meta = { wall_ns = 10 }, functions = {
  { name = "f", source = "/opt/x/lua/btlua/strategies/s.lua", line = 3,
    self_ns = 9 } } })
t.is(installed.items[1].name, "f (lua/btlua/strategies/s.lua:3)",
  "btlua's own sources print from lua/btlua/ on")

-- A nested zone is never counted twice: the blotter zone (8 ms) ran
-- inside ctx:order, whose 10 ms of self time hold it (zone_ns).
local nested = report.analyse({ meta = { wall_ns = 100e6, profile_ns = 50e6 },
  zones = { { name = "strategy", count = 1, self_ns = 30e6, incl_ns = 38e6 },
            { name = "blotter", count = 1, self_ns = 8e6, incl_ns = 8e6 } },
  functions = { { name = "order", source = C, line = 0, self_ns = 10e6,
                  zone_ns = 8e6, key = "[C]:ctx:order" } } })
local shares = {}
for _, c in ipairs(nested.categories) do shares[c.name] = c.ns end
t.is_deeply(shares, { ["order simulation"] = 10e6,
  ["strategy Lua code"] = 28e6, unattributed = 12e6 },
  "nested zone: order simulation 8 + 2 ms, the run is profile_ns (50 ms)")
t.is(nested.total_ns, 50e6, "the total is the on-CPU run time")
local listed = {}
for _, item in ipairs(nested.items) do
  listed[#listed + 1] = item.name .. "=" .. math.floor(item.ns)
end
t.is(table.concat(listed, " "), "strategy=30000000 blotter=8000000",
  "items: ctx:order's own 2 ms (10 - 8 in blotter) is under the 5% line")

-- The command, on a fixture directory (profile stand-in loader).
local dir = lib.tmpdir()
fx.write_dir(dir .. "/run", "minute", profile, nil)
local command = require "btlua.cmd.report"
local out_file = dir .. "/profiling-results.md"
local saved = io.stdout
io.output("/dev/null")
local status = command({ dir .. "/run", "--output", out_file },
  { load_profile = fx.load_profile })
io.output(saved)
t.is(status, 0, "btlua report exits 0")
t.is(lib.read(out_file), (expected:gsub("`fixture`", "`" .. dir .. "/run`")),
  "btlua report writes the report")
local err_saved = io.stderr
io.stderr = io.open("/dev/null", "w")
t.is(command({ dir .. "/nowhere" }, { load_profile = fx.load_profile }), 2,
  "missing directory: exit 2")
t.is(command({ dir .. "/run", "--threshold", "0" },
  { load_profile = fx.load_profile }), 2, "bad threshold: exit 2")
t.is(command({ dir .. "/run", "--scenario", "daily" },
  { load_profile = fx.load_profile }), 2, "unknown scenario: exit 2")
io.stderr = err_saved

-- The btlua command on a real .btprof (core.prof.encode).
fx.write_real_dir(dir .. "/real", "minute", profile, nil)
local real_out = dir .. "/real.md"
local status_real, stdout = lib.run({ "report", dir .. "/real", "--output",
  real_out })
t.is(status_real, 0, "btlua report on a .btprof directory exits 0")
t.is(stdout, "report -> " .. real_out .. "\n", "and names the file")
t.is(lib.read(real_out), (expected:gsub("`fixture`", "`" .. dir .. "/real`")),
  "the report from the real file is the same")
status_real, stdout = lib.run({ "report", dir .. "/real/minute.btprof" })
t.is(stdout, (expected:gsub("`fixture`", "`" .. dir .. "/real/minute.btprof`")),
  "one .btprof file, report on stdout")

os.execute("rm -rf '" .. dir .. "'")
t.done_testing()
