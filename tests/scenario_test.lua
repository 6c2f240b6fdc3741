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

-- Each bad field: exit 2, "btlua run: FILE:LINE: scenario 'tiny': field ...".
local function bad(name, fields, line, message, replace)
  local path = dir .. "/" .. name .. ".lua"
  local text = scenario_text(fields)
  if replace then text = text:gsub(replace[1], replace[2]) end
  lib.write(path, text)
  local status, out, err = lib.run({ path })
  t.is(status, 2, name .. ": exit status 2")
  t.is(err, "btlua run: " .. path .. ":" .. line .. ": scenario 'tiny': "
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
  .. "field (known: allow_margin, benchmark, calendar, capital, commission, data, "
  .. "description, fill, name, params, slippage, stop_limit, strategy, "
  .. "warmup)")
bad("margin", "  allow_margin = 'yes',", 6, "field 'allow_margin': must be "
  .. "true or false, got \"yes\"")
bad("warmup", "  warmup = 2.5,", 6, "field 'warmup': must be an integer "
  .. ">= 0 (bars before the strategy starts), got 2.5")
bad("benchmark", "  benchmark = 5,", 6, "field 'benchmark': must be an "
  .. "asset's symbol or \"equal_weight\", got 5")
bad("stop_limit", "  stop_limit = 'later',", 6, "field 'stop_limit': must be "
  .. "\"same_bar\" or \"next_bar\", got \"later\"")
bad("commission_cost", "  commission = { model = 'per_share', cost = 'x' },",
  6, "field 'commission.cost': must be a number >= 0 or decimal text such "
  .. "as \"0.005\", got \"x\"")
bad("commission_param", "  commission = { model = 'per_trade', rate = 1 },",
  6, "field 'commission.rate': unknown parameter of per_trade (known: cost)")
bad("slippage_model", "  slippage = 'fixed',", 6, "field 'slippage': unknown "
  .. "model \"fixed\" (known: fixed_bps, none, volume_share)")
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
t.is_deeply(over.commission, { model = "per_share", cost = "0.001",
  min_per_order = "0" }, "--param commission=per_share sets the scenario's "
  .. "commission, with the model's defaults")
t.is_deeply(scenario.with_overrides(scn, { set = { "commission.model=per_share",
  "commission.cost=0.005" } }).commission, { model = "per_share",
  cost = 0.005, min_per_order = "0" }, "--set commission.model=per_share "
  .. "--set commission.cost=0.005")
t.is_deeply(scenario.with_overrides(scn, { params = { "slippage=fixed_bps" },
  set = { "slippage.bps=2.5" } }).slippage, { model = "fixed_bps", bps = 2.5,
  volume_limit = "0" }, "--set applies after --param")
local over_margin = scenario.with_overrides(scn, { params = {
  "allow_margin=true", "stop_limit=next_bar" } })
t.is(over_margin.allow_margin, true, "--param allow_margin=true")
t.is(over_margin.stop_limit, "next_bar", "--param stop_limit=next_bar")
t.is(scn.allow_margin, false, "allow_margin defaults to false")
t.is(scn.stop_limit, "same_bar", "stop_limit defaults to same_bar")
t.is(scn.warmup, 0, "warmup defaults to 0")
t.is(scenario.with_overrides(scn, { params = { "warmup=30" } }).warmup, 30,
  "--param warmup=30")
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

-- An existing directory that cannot be written to (even by root: sysfs).
status, out, err = lib.run({ "run", "--scenario", good, "--output-dir",
  "/sys/kernel" })
t.is(status, 2, "an output directory that cannot be written: exit 2")
t.is(err, "btlua run: output directory '/sys/kernel': not writable: "
  .. "Permission denied\n", "before any work, naming it and why")

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

-- --- the three scenarios end to end, at a reduced size ---

local cjson = require "cjson"
local core = require "btlua.core"

-- Each scenario's own code path, fewer assets and bars (--set).
local SMALL = {
  daily = { "--set", "data.synthetic.assets=2",
            "--set", "data.synthetic.end=2023-12-29" },
  hourly = { "--set", "data.synthetic.assets=2",
             "--set", "data.synthetic.end=2024-01-12" },
  minute = { "--set", "data.synthetic.assets=2",
             "--set", "data.synthetic.end=2024-01-01T08:00" },
}
local FILES = { ".btprof", "_summary.txt", "_memory.txt", ".callgrind",
  ".folded", "_flame.svg", "_results.json", "_equity.csv", "_fills.csv" }

local function run_btlua(words)
  local status, out, err = lib.run(words)
  if status ~= 0 then t.diag("btlua " .. table.concat(words, " ") .. "\n"
    .. tostring(err)) end
  return status, out, err
end

local function words(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, word in ipairs(list) do out[#out + 1] = word end
  end
  return out
end

local function csv_ok(text)
  local columns, rows = nil, 0
  for line in text:gmatch("([^\n]*)\n") do
    local count = select(2, line:gsub(",", ",")) + 1
    columns = columns or count
    if count ~= columns then return false end
    rows = rows + 1
  end
  return rows >= 1 and text:sub(-1) == "\n"
end

local function check_outputs(out_dir, name)
  for _, suffix in ipairs(FILES) do
    local text = lib.read(out_dir .. "/" .. name .. suffix)
    t.ok(text and #text > 0, name .. suffix .. " is written, not empty")
  end
  local results = cjson.decode(lib.read(out_dir .. "/" .. name
    .. "_results.json") or "null")
  t.is(type(results), "table", name .. "_results.json parses")
  if type(results) == "table" then
    t.is(results.scenario, name, "its scenario is " .. name)
    t.ok(math.type == nil or math.type(results.bars) == "integer"
      or results.bars == math.floor(results.bars), "bars is an integer")
    t.like(results.final_value or "", "^%-?%d+%.?%d*$",
      "final_value is decimal text")
    t.is(type(results.metrics), "table", "metrics is an object")
  end
  t.ok(csv_ok(lib.read(out_dir .. "/" .. name .. "_equity.csv") or ""),
    name .. "_equity.csv is CSV with a constant column count")
  t.ok(csv_ok(lib.read(out_dir .. "/" .. name .. "_fills.csv") or ""),
    name .. "_fills.csv is CSV with a constant column count")
  local profile = core.prof.load(out_dir .. "/" .. name .. ".btprof")
  t.is(type(profile), "table", name .. ".btprof loads")
  local folded = lib.read(out_dir .. "/" .. name .. ".folded") or ""
  t.like(folded, "^[^\n]+ %d+\n", name .. ".folded is stack count lines")
  t.like(lib.read(out_dir .. "/" .. name .. "_flame.svg") or "", "<svg",
    name .. "_flame.svg is SVG")
  t.like(lib.read(out_dir .. "/" .. name .. ".callgrind") or "",
    "\nevents: ", name .. ".callgrind has an events line")
  t.is(lib.read(out_dir .. "/.tmp") or "", "", "no temporary file")
end

local runs = lib.tmpdir()
for _, name in ipairs({ "daily", "hourly", "minute" }) do
  local out_dir = runs .. "/" .. name
  local status, out, err = run_btlua(words({ lib.top .. "/scenarios/" .. name
    .. ".lua", "--output-dir", out_dir, "--jobs", "1" }, SMALL[name]))
  t.is(status, 0, name .. ".lua at a reduced size exits 0")
  t.like(out, "scenario " .. name .. ": %d+ asset%-bars in ", "says what ran")
  t.like(out, "\noutput: " .. esc(out_dir) .. "/ %(", "says where it went")
  t.is(err, "", "nothing on stderr (not a terminal: no progress line)")
  check_outputs(out_dir, name)
end

-- S_results.json is byte-identical across --jobs, profilers and repeats,
-- apart from the run timings that follow the engine's part (cpu_s, wall_s,
-- runs); the engine's part ends with the results digest.
local function engine_part(text)
  return text and (text:match('^(.-),\n  "cpu_s": ') or text)
end
local function timings(text)
  local decoded = cjson.decode(text or "null") or {}
  return decoded
end
local reference = engine_part(lib.read(runs .. "/minute/minute_results.json"))
t.like(reference, '\n  "digest": "fnv1a64:%x+"$',
  "the engine's part ends with the results digest")
local variants = {
  { "jobs2", { "--jobs", "2", "--scenario", "hourly" } },
  { "none", { "--profiler", "none" } },
  { "sample", { "--profiler", "sample" } },
  { "memory", { "--profiler", "memory" } },
  { "all", { "--profiler", "all" } },
  { "repeat", { "--repeat", "3" } },
}
for _, variant in ipairs(variants) do
  local out_dir = runs .. "/" .. variant[1]
  local status = run_btlua(words({ "run", "--scenario", "minute",
    "--output-dir", out_dir }, variant[2], SMALL.minute))
  t.is(status, 0, variant[1] .. ": exits 0")
  local text = lib.read(out_dir .. "/minute_results.json")
  t.is(engine_part(text), reference,
    variant[1] .. ": minute_results.json is byte-identical")
  local decoded = timings(text)
  local expected_runs = ({ all = 3, ["repeat"] = 3 })[variant[1]] or 1
  t.is(type(decoded.runs) == "table" and #decoded.runs, expected_runs,
    variant[1] .. ": every run's timings are listed")
  t.ok(type(decoded.cpu_s) == "number" and decoded.cpu_s > 0
    and type(decoded.wall_s) == "number" and decoded.wall_s > 0,
    variant[1] .. ": cpu_s and wall_s are positive numbers")
end
-- The three shipped scenarios at full size, pinned: their defaults and the
-- engine's semantics may not drift without this test saying so.
local PINNED = {
  daily = { fills = 71, final_value = "94825.34",
            digest = "fnv1a64:c33964a31ded7239" },
  hourly = { fills = 8899, final_value = "91818.04",
             digest = "fnv1a64:c9eff51a06d9b7a9" },
  minute = { fills = 16627, final_value = "96117.77",
             digest = "fnv1a64:cc6b0311b70512ad" },
}
if lib.valgrind then
  -- tests/memcheck runs the full scenarios under valgrind already.
  t.diag("under valgrind: the full-size pinned runs are skipped")
else
  local out_dir = runs .. "/full"
  local status = run_btlua({ "run", "--scenario", "all", "--profiler", "none",
    "--output-dir", out_dir })
  t.is(status, 0, "the three shipped scenarios at full size: exit 0")
  for _, name in ipairs({ "daily", "hourly", "minute" }) do
    local r = cjson.decode(lib.read(out_dir .. "/" .. name .. "_results.json")
      or "null") or {}
    t.is_deeply({ fills = r.fills, final_value = r.final_value,
      digest = r.digest }, PINNED[name],
      name .. ": fills, final value and results digest as pinned")
  end
end

t.is(lib.exists(runs .. "/none/minute.btprof"), false,
  "--profiler none writes no profile")
check_outputs(runs .. "/all", "minute")
local merged = core.prof.load(runs .. "/repeat/minute.btprof") or {}
t.is(#(merged.runs or {}), 3, "--repeat 3 keeps three runs' timings")

-- A strategy that raises on bar 100 fails with its scenario's name, file
-- and line while the other scenarios of the same `all` run finish.
local sdir2 = runs .. "/more"
os.execute("mkdir -p " .. lib.quote(sdir2))
lib.write(sdir2 .. "/boom_strategy.lua", [[
local bars = 0
return {
  handle_data = function(ctx, data)
    bars = bars + 1
    if bars == 100 then error("bar 100 boom") end
  end,
}
]])
lib.write(sdir2 .. "/boom.lua", [[
local btlua = require "btlua"
return btlua.scenario {
  name = "boom",
  data = { synthetic = { assets = 1, frequency = "minute",
                         start = "2024-01-01", ["end"] = "2024-01-31" } },
  capital = "100000",
  strategy = "boom_strategy.lua",
}
]])
local out_dir = runs .. "/allrun"
os.execute("mkdir -p " .. lib.quote(out_dir))
lib.write(out_dir .. "/boom_results.json", "earlier\n")
local status, out, err = lib.run({ "run", "--scenario", "all",
  "--scenario-dir", sdir2, "--output-dir", out_dir, "--jobs", "2",
  "--set", "data.synthetic.assets=1", "--set", "data.synthetic.end=2024-01-02" })
t.is(status, 1, "a failed scenario makes the exit status 1")
t.like(err, "scenario boom: " .. esc(sdir2) .. "/boom_strategy%.lua:5: bar 100 "
  .. "boom\nstack traceback:\n", "names the scenario, file and line, traceback")
t.is(lib.read(out_dir .. "/boom_results.json"), "earlier\n",
  "the failed scenario's earlier file is untouched")
t.is(lib.exists(out_dir .. "/boom.btprof"), false, "no file of the failure")
for _, name in ipairs({ "daily", "hourly", "minute" }) do
  t.ok(lib.exists(out_dir .. "/" .. name .. "_results.json"),
    "the others complete: " .. name .. "_results.json")
end

-- Ctrl-C during a run: exit 130, earlier files intact, nothing partial.
lib.write(sdir2 .. "/stop_strategy.lua", [[
local runner = require("btlua.core").runner
local bars = 0
return {
  handle_data = function(ctx, data)
    bars = bars + 1
    if bars == 100 then
      io.popen("kill -INT $(ps -o ppid= -p $PPID)"):close()
      local waited = 0
      while not runner.cancelled() and waited < 2000 do
        local until_clock = os.clock() + 0.005
        repeat until os.clock() >= until_clock
        waited = waited + 1
      end
    end
  end,
}
]])
lib.write(sdir2 .. "/stop.lua", (lib.read(sdir2 .. "/boom.lua")
  :gsub("boom", "stop")))
out_dir = runs .. "/stopped"
os.execute("mkdir -p " .. lib.quote(out_dir))
lib.write(out_dir .. "/stop_results.json", "earlier\n")
-- (--unsafe: the strategy signals its parent through io.popen)
status, out, err = lib.run({ sdir2 .. "/stop.lua", "--output-dir", out_dir,
  "--set", "data.synthetic.end=2024-01-02", "--unsafe" })
t.is(status, 130, "Ctrl-C: exit status 130")
t.like(err, "interrupted", "says it was interrupted")
t.is(lib.read(out_dir .. "/stop_results.json"), "earlier\n",
  "Ctrl-C: the earlier file is untouched")
local pipe = io.popen("ls -A " .. lib.quote(out_dir))
t.is(pipe:read("*a"), "stop_results.json\n", "Ctrl-C: no other file, "
  .. "no temporary file")
pipe:close()

-- --param must name a parameter the strategy knows.
status, out, err = lib.run({ "run", "--scenario", "minute", "--param",
  "windw=3", "--output-dir", runs .. "/never" })
t.is(status, 2, "an unknown --param: exit 2")
t.is(err, "btlua run: scenario minute: unknown parameter 'windw' of strategy "
  .. "mean_reversion (known: k, window)\n", "names it and the known ones")
t.is(lib.exists(runs .. "/never/minute_results.json"), false, "before work")

-- --data: a CSV directory is ingested once (cached) and runs the scenario;
-- the cached bundle given directly gives the same results.
local csv_dir = runs .. "/csv"
os.execute("mkdir -p " .. lib.quote(csv_dir))
for asset = 1, 2 do
  local lines = { "date,open,high,low,close,volume" }
  for day = 0, 299 do
    local base = 100 + asset * 10 + 8 * math.sin(day / (6 + asset))
    local open = string.format("%.2f", base)
    local close = string.format("%.2f", base + math.cos(day) )
    local high = string.format("%.2f", math.max(open, close) + 0.5)
    local low = string.format("%.2f", math.min(open, close) - 0.5)
    lines[#lines + 1] = table.concat({ os.date("!%Y-%m-%d", 1672617600
      + day * 86400), open, high, low, close, tostring(1000 + day) }, ",")
  end
  lib.write(csv_dir .. "/AS" .. asset .. ".csv", table.concat(lines, "\n")
    .. "\n")
end
status, out, err = run_btlua({ lib.top .. "/scenarios/daily.lua", "--data",
  csv_dir, "--output-dir", runs .. "/csv_out", "--profiler", "none" })
t.is(status, 0, "--data CSV_DIR: exit 0")
local from_csv = lib.read(runs .. "/csv_out/daily_results.json") or "null"
local parsed = cjson.decode(from_csv)
t.is(parsed and parsed.assets, 2, "the scenario ran on the CSV's 2 assets")
t.is(parsed and parsed.sessions, 300, "and its 300 sessions")
local cached = core.store.ingest_cached(csv_dir)
status = run_btlua({ "run", "--scenario", "daily", "--data", cached,
  "--output-dir", runs .. "/bundle_out", "--profiler", "none" })
t.is(status, 0, "--data BUNDLE: exit 0")
t.is(engine_part(lib.read(runs .. "/bundle_out/daily_results.json")),
  engine_part(from_csv),
  "the cached bundle gives byte-identical results")
status, out, err = lib.run({ "run", "--scenario", "daily", "--data",
  runs .. "/nothing_here", "--output-dir", runs .. "/never" })
t.is(status, 2, "--data of a missing path: exit 2")
t.like(err, "^btlua run: %-%-data " .. esc(runs) .. "/nothing_here: ",
  "names the path")

-- The command line sets commission and slippage (--param, --set): checked
-- before anything runs, then applied exactly.
status, out, err = run_btlua({ lib.top .. "/scenarios/daily.lua", "--data",
  csv_dir, "--output-dir", runs .. "/per_share", "--profiler", "none",
  "--param", "commission=per_share" })
t.is(status, 0, "--param commission=per_share: exit 0")
local fills = lib.read(runs .. "/per_share/daily_fills.csv") or ""
local quantity, commission = fills:match("\n[^,]*,[^,]*,[^,]*,([^,]*),[^,]*,"
  .. "([^,\n]*)\n")
t.is(commission, tostring(btlua.dec(quantity or "0") * btlua.dec("0.001")),
  "per_share's default cost 0.001 per unit on the first fill")
status, out, err = run_btlua({ lib.top .. "/scenarios/daily.lua", "--data",
  csv_dir, "--output-dir", runs .. "/per_trade", "--profiler", "none",
  "--set", "commission.model=per_trade", "--set", "commission.cost=2.5" })
t.is(status, 0, "--set commission.model=per_trade: exit 0")
t.like(lib.read(runs .. "/per_trade/daily_fills.csv") or "", ",2%.5\n",
  "commission 2.5 per order")
status, out, err = lib.run({ lib.top .. "/scenarios/daily.lua", "--data",
  csv_dir, "--output-dir", runs .. "/never", "--param", "fast=abc" })
t.is(status, 2, "--param fast=abc: exit 2 before any run")
t.is(err, "btlua run: scenario daily: parameter 'fast' of strategy sma_cross "
  .. "must be an integer from 1 to 1000000, got \"abc\"\n",
  "names the parameter, the expected type and the value")
status, out, err = lib.run({ lib.top .. "/scenarios/minute.lua",
  "--output-dir", runs .. "/never", "--param", "k=-1" })
t.is(status, 2, "--param k=-1: exit 2")
t.like(err, "parameter 'k' of strategy mean_reversion must be a number > 0, "
  .. "got %-1", "names it")
t.is(lib.exists(runs .. "/never"), false, "no work started")

-- data = "PATH" in a scenario file: CSV (a file or a directory, from the
-- file's directory) or a bundle; allow_margin as a field.
local short = runs .. "/short.lua"
lib.write(short, "local btlua = require 'btlua'\nreturn btlua.scenario {\n"
  .. "  name = 'short', data = 'csv', capital = '100000',\n"
  .. "  strategy = { handle_data = function(ctx, data)\n"
  .. "    if data.bar == 1 then ctx:order(1, -5) end end },\n}\n")
status, out, err = run_btlua({ short, "--output-dir", runs .. "/short_out",
  "--profiler", "none" })
t.is(status, 0, "data = 'csv' (a CSV directory beside the file): exit 0")
local shorted = cjson.decode(lib.read(runs .. "/short_out/short_results.json")
  or "null")
t.is(shorted and shorted.sessions, 300, "ran on the CSV's 300 sessions")
t.is(shorted and shorted.rejections, 1, "a short sale without margin: "
  .. "rejected")
status, out, err = run_btlua({ short, "--output-dir", runs .. "/short_out",
  "--profiler", "none", "--param", "allow_margin=true" })
shorted = cjson.decode(lib.read(runs .. "/short_out/short_results.json")
  or "null")
t.is(shorted and shorted.rejections, 0, "--param allow_margin=true: the "
  .. "short sale fills")
t.is(shorted and shorted.positions[1].quantity, "-5", "short 5")
status, out, err = lib.run({ short, "--output-dir", runs .. "/never",
  "--set", "data=nowhere" })
t.is(status, 2, "data = a missing path: exit 2")
t.like(err, "scenario short: data: nowhere", "names the scenario and path")

os.execute("rm -rf " .. lib.quote(runs))
os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
