-- scenario_test.lua: btlua.scenario checks every field (messages name the
-- file, line, scenario and field; exit status 2), the run command's flags
-- and usage errors, scenario discovery, and the three built-in scenarios
-- end to end at a reduced size.
local t = require "tap"
local lib = require "testlib"
local btlua = require "btlua"
local scenario = require "btlua.scenario"

local dir = lib.tmpdir()
local function esc(s) return (s:gsub("%p", "%%%0")) end

t.is(btlua.scenario, scenario, "require('btlua').scenario is btlua.scenario")

-- A scenario file with an inline strategy (no built-in needed).
local function scenario_text(fields)
  return "local btlua = require 'btlua'\nreturn btlua.scenario {\n"
    .. "  name = 'tiny',\n"
    .. "  data = { synthetic = { assets = 2, frequency = 'minute',\n"
    .. "    start = '2024-01-01', ['end'] = '2024-01-02', seed = 7 } },\n"
    .. (fields or "") .. "\n"
    .. "  capital = '100000',\n"
    .. "  strategy = { handle_data = function() end },\n}\n"
end

local good = dir .. "/good.lua"
lib.write(good, scenario_text())
local scn = assert(scenario.load(good))
t.is(scn.name, "tiny", "a scenario file loads")
t.is(scn.fill, "next_open", "fill defaults to next_open")
t.is(scn.slippage, "none", "slippage defaults to none")
t.is(scn.commission, "none", "commission defaults to none")
t.is(scn.data.synthetic.calendar, "24/7", "the calendar defaults to 24/7")
t.is(scn:data_shape(), "synthetic: 2 assets, minute, 2024-01-01..2024-01-02, "
  .. "24/7, seed 7", "data_shape describes the data")
t.is(scn.file, good, "the scenario knows its file")

-- Each bad field: exit 2, "btlua: FILE:LINE: scenario 'tiny': field ...".
local function bad(name, fields, line, message, replace)
  local path = dir .. "/" .. name .. ".lua"
  local text = scenario_text(fields)
  if replace then text = text:gsub(replace[1], replace[2]) end
  lib.write(path, text)
  local status, out, err = lib.run({ path })
  t.is(status, 2, name .. ": exit status 2")
  t.is(err, "btlua: " .. path .. ":" .. line .. ": scenario 'tiny': "
    .. message .. "\n", name .. ": the message names file, line, field")
end
bad("neg_capital", "", 7, "field 'capital': must be positive, got \"-5\"",
  { "'100000'", "'-5'" })
bad("float_capital", "", 7, "field 'capital': must be decimal text such as "
  .. "\"100000\", got 0.5",
  { "'100000'", "0.5" })
bad("end_first", "", 5, "field 'data.synthetic.end': end 2023-12-01 is "
  .. "before start 2024-01-01", { "'2024%-01%-02'", "'2023-12-01'" })
bad("unknown_strategy", "  strategy2 = 1,", 6, "field 'strategy2': unknown "
  .. "field (known: calendar, capital, commission, data, description, fill, "
  .. "name, params, slippage, strategy)")
bad("strategy_name", "", 8, "field 'strategy': unknown strategy \"nope\" "
  .. "(built-in: mean_reversion, momentum, sma_cross; or a .lua file path)",
  { "{ handle_data = function%(%) end }", "'nope'" })
bad("strategy_file", "", 8, "field 'strategy': no such strategy file "
  .. "\"missing.lua\"", { "{ handle_data = function%(%) end }",
  "'missing.lua'" })
bad("assets_type", "", 4, "field 'data.synthetic.assets': must be a positive "
  .. "integer, got \"ten\"", { "assets = 2", "assets = 'ten'" })
bad("frequency", "", 4, "field 'data.synthetic.frequency': must be daily, "
  .. "hourly, minute, Nmin or Nh, got \"weekly\"",
  { "'minute'", "'weekly'" })
bad("date", "", 5, "field 'data.synthetic.start': must be a date "
  .. "\"YYYY-MM-DD\" (optionally \"THH:MM[:SS]\"), got \"2024-13-01\"",
  { "'2024%-01%-01'", "'2024-13-01'" })
bad("fill", "  fill = 'tomorrow',", 6, "field 'fill': must be \"next_open\" "
  .. "or \"next_close\", got \"tomorrow\"")
bad("commission", "  commission = 'free',", 6, "field 'commission': unknown "
  .. "model \"free\" (known: none, per_dollar, per_share, per_trade)")
bad("calendar", "  calendar = 'LSE',", 6, "field 'calendar': must be "
  .. "\"24/7\", \"weekdays\" or \"XNYS\", got \"LSE\"")
bad("params", "  params = 3,", 6, "field 'params': must be a table, got 3")

local status, out, err = lib.run({ "-e", "require('btlua').scenario{ name = "
  .. "'x y' }" })
t.is(status, 2, "a bad name from -e: exit 2")
t.is(err, "btlua: (command line):1: scenario: field 'name': must be a name of "
  .. "letters, digits, _ - . (it names the output files), got \"x y\"\n",
  "names the field")

-- Overrides: --param, --set, --data; each checked again.
local over = scenario.with_overrides(scn, { params = { "fast=40",
  "commission=per_share", "flag=true", "k=2.5" },
  set = { "data.synthetic.assets=5", "data.synthetic.end=2024-01-03" } })
t.is(over.params.fast, 40, "--param fast=40 is a number")
t.is(over.params.flag, true, "--param flag=true is a boolean")
t.is(over.params.k, 2.5, "--param k=2.5")
t.is(over.commission, "per_share", "--param commission=per_share sets the "
  .. "scenario's commission")
t.is(over.data.synthetic.assets, 5, "--set data.synthetic.assets=5")
t.is(over.data.synthetic["end"], "2024-01-03", "--set data.synthetic.end")
t.is(scn.data.synthetic.assets, 2, "the original scenario is unchanged")
t.is(scenario.with_overrides(scn, { data = "csv/dir" }).data, "csv/dir",
  "--data replaces the data")
local ok, e = pcall(scenario.with_overrides, scn, { set = { "capital=-1" } })
t.is(tostring(e), "scenario " .. good .. ": scenario 'tiny': field 'capital': "
  .. "must be positive, got -1", "an override is checked like the file")
ok, e = pcall(scenario.with_overrides, scn, { params = { "fast" } })
t.is(tostring(e), "scenario " .. good .. ": --param fast: expected KEY=VALUE",
  "--param without = is refused")
ok, e = pcall(scenario.with_overrides, scn, { set = { "capital.x=1" } })
t.is(tostring(e), "scenario " .. good .. ": --set capital.x=1: field "
  .. "'capital' is not a table", "--set into a non-table is refused")

t.is_deeply(scenario.decode(scenario.encode { a = { 1, 2, "x\n\"y" },
  b = true, c = 1.5, d = -3 }), { a = { 1, 2, "x\n\"y" }, b = true, c = 1.5,
  d = -3 }, "encode/decode round trip")

-- The command line: usage errors exit 2, --help documents every flag.
status, out = lib.run({ "run", "--help" })
t.is(status, 0, "run --help exits 0")
for _, flag in ipairs({ "--scenario", "--profiler", "--output-dir", "--jobs",
  "--repeat", "--data", "--param", "--set", "--list-scenarios",
  "--scenario-dir", "--quiet" }) do
  t.like(out, esc(flag), "--help documents " .. flag)
end
status, out, err = lib.run({ "run" })
t.is(status, 2, "run without a scenario: exit 2")
t.like(err, "no scenario given", "says so")
status, out, err = lib.run({ "run", "--scenario", "minute", "--jobs", "0" })
t.is(status, 2, "--jobs 0: exit 2")
t.like(err, "'0' is not a positive integer", "says why")
status, out, err = lib.run({ "run", "--scenario", "minute", "--profiler", "x" })
t.is(status, 2, "--profiler x: exit 2")
status, out, err = lib.run({ "run", "--bogus" })
t.is(status, 2, "an unknown flag: exit 2")
t.like(err, "unknown option '%-%-bogus'", "names the flag")
status, out, err = lib.run({ "run", "--scenario", "nosuch" })
t.is(status, 2, "an unknown scenario: exit 2")
t.like(err, "unknown scenario 'nosuch'", "names it")
status, out, err = lib.run({ "run", "--scenario", good, "--param", "x" })
t.is(status, 2, "a bad --param: exit 2")
t.like(err, "%-%-param x: expected KEY=VALUE", "says why")
lib.write(dir .. "/plain", "x")
status, out, err = lib.run({ "run", "--scenario", good, "--output-dir",
  dir .. "/plain/out" })
t.is(status, 2, "an output directory that cannot be made: exit 2")
t.is(err, "btlua run: output directory '" .. dir .. "/plain/out': cannot "
  .. "create: Not a directory\n", "before any work, naming it")

-- Discovery: scenario files are listed; a script that is not one is
-- skipped without running its side effects.
local sdir = dir .. "/scenarios"
os.execute("mkdir -p " .. lib.quote(sdir))
lib.write(sdir .. "/tiny.lua", scenario_text("  description = 'a tiny one',"))
lib.write(sdir .. "/script.lua", "io.open(" .. string.format("%q",
  dir .. "/side_effect") .. ", 'w'):write('x')\nos.execute('true')\n")
lib.write(sdir .. "/notes.txt", "not lua\n")
status, out = lib.run({ "run", "--list-scenarios", "--scenario-dir", sdir })
t.is(status, 0, "--list-scenarios exits 0")
t.like(out, "^NAME%s+DESCRIPTION%s+DATA%s+STRATEGY\n", "a header line")
t.like(out, "\ntiny%s+a tiny one%s+synthetic: 2 assets, minute, "
  .. "2024%-01%-01%.%.2024%-01%-02, 24/7, seed 7%s+inline table\n",
  "the scenario's name, description, data, strategy")
t.is(lib.exists(dir .. "/side_effect"), false,
  "a script that is not a scenario is skipped, its side effects not run")
t.unlike = t.unlike or function(s, p, name) return t.ok(not s:find(p), name) end
t.unlike(out, "script", "and it is not listed")

os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
