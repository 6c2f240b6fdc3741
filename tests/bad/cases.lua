-- tests/bad/cases.lua: the bad-input corpus, run by tests/bad_input_test.lua.
-- Each case runs `btlua ARGS...` in a fresh directory holding copies of
-- tests/bad/csv/ and tests/bad/scenario/ (so messages name csv/x.csv), an
-- empty out/ (where any output would go) and whatever its `make` writes.
--   name   = unique id;  args = the btlua words ({out} = the out/ dir)
--   make   = function(dir, base) writes generated fixtures into dir (base
--            holds good.btb and good.btprof, made once by the runner)
--   status = expected exit status (2 for bad input; 0 for a control)
--   stderr = the exact standard error, or like = { patterns... } that the
--            standard error must match (for argparse usage noise)
-- Every status-2 case must also leave out/ without files, and print no
-- traceback. Controls (status 0) must write their output.
local cases = {}

local function add(case) cases[#cases + 1] = case end

local function ingest(file)
  return { "ingest", "csv/" .. file, "--out", "{out}/x.btb" }
end

local function run_file(file)
  return { "run", "--scenario", "scenario/" .. file, "--profiler", "none",
    "-q", "-o", "{out}/profiles" }
end

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local bytes = f:read("*a")
  f:close()
  return bytes
end

-- Writes base/NAME with bytes [1, n) of it replaced by `patch` at offset
-- (0-based), or truncated to `size` bytes.
local function mutate(from, to, edit)
  return function(dir, base)
    local bytes = read(base .. "/" .. from)
    write(dir .. "/" .. to, edit(bytes))
  end
end

local function patch(offset, text)
  return function(bytes)
    return bytes:sub(1, offset) .. text .. bytes:sub(offset + #text + 1)
  end
end

local function u64(n) -- little-endian, n < 2^53
  local out = {}
  for i = 1, 8 do
    out[i] = string.char(math.floor(n % 256))
    n = math.floor(n / 256)
  end
  return table.concat(out)
end

local HEADER = "date,open,high,low,close,volume\n"

-- --- CSV (btlua ingest) ---------------------------------------------------

add { name = "csv empty file", args = ingest("empty.csv"), status = 2,
  stderr = "csv/empty.csv:1: header: empty file\n" }
add { name = "csv header only", args = ingest("header_only.csv"), status = 2,
  stderr = "csv/header_only.csv: no data rows\n" }
add { name = "csv missing column", args = ingest("missing_column.csv"),
  status = 2, stderr = "csv/missing_column.csv:1: header: no 'low' column\n" }
add { name = "csv extra column", args = ingest("extra_column.csv"),
  status = 2,
  stderr = "csv/extra_column.csv:3: row: 7 fields, but the header has 6\n" }
add { name = "csv non-numeric field", args = ingest("non_numeric.csv"),
  status = 2,
  stderr = "csv/non_numeric.csv:2: open: not a decimal number 'abc'\n" }
add { name = "csv NaN", args = ingest("nan.csv"), status = 2,
  stderr = "csv/nan.csv:2: close: not a decimal number 'NaN'\n" }
add { name = "csv inf", args = ingest("inf.csv"), status = 2,
  stderr = "csv/inf.csv:2: high: not a decimal number 'inf'\n" }
add { name = "csv negative price", args = ingest("negative_price.csv"),
  status = 2, stderr = "csv/negative_price.csv:2: open: not positive (-10)\n" }
add { name = "csv zero price", args = ingest("zero_price.csv"), status = 2,
  stderr = "csv/zero_price.csv:2: open: not positive (0)\n" }
add { name = "csv high below low", args = ingest("high_below_low.csv"),
  status = 2,
  stderr = "csv/high_below_low.csv:2: high: 8 below max(open, close) 10.5\n" }
add { name = "csv low above open", args = ingest("low_above_open.csv"),
  status = 2, like = { "^csv/low_above_open%.csv:2: low: " } }
add { name = "csv duplicate timestamp", args = ingest("duplicate_time.csv"),
  status = 2, stderr = "csv/duplicate_time.csv:3: timestamp: not after the "
    .. "previous duplicate_time row (2024-01-02T00:00:00Z)\n" }
add { name = "csv unsorted timestamps", args = ingest("unsorted_time.csv"),
  status = 2, stderr = "csv/unsorted_time.csv:3: timestamp: not after the "
    .. "previous unsorted_time row (2024-01-03T00:00:00Z)\n" }
add { name = "csv mixed timestamp formats",
  args = ingest("mixed_time_formats.csv"), status = 2,
  stderr = "csv/mixed_time_formats.csv:3: timestamp: epoch number, but line "
    .. "2 has date text (one format per file)\n" }
add { name = "csv timestamp far past the rest (calendar)",
  args = { "ingest", "csv/sparse_time.csv", "--calendar", "24/7", "--out",
    "{out}/x.btb" }, status = 2,
  stderr = "csv/sparse_time.csv:4: timestamp: the data spans "
    .. "2024-01-02T00:00:00Z to 2034-01-03T00:00:00Z: 5263200 minute "
    .. "sessions of 24/7 for 3 rows, nearly all missing (a wrong "
    .. "timestamp?)\n" }
add { name = "csv bad date", args = ingest("bad_date.csv"), status = 2,
  stderr = "csv/bad_date.csv:2: timestamp: not a date/time '2024-13-45'\n" }
add { name = "csv too many decimal places", args = ingest("too_many_places.csv"),
  status = 2, stderr = "csv/too_many_places.csv:2: open: more than 8 decimal "
    .. "places '10.123456789'\n" }
add { name = "csv decimal out of range", args = ingest("out_of_range.csv"),
  status = 2,
  stderr = "csv/out_of_range.csv:2: open: out of range '99999999999.5'\n" }
add { name = "csv unterminated quote", args = ingest("unterminated_quote.csv"),
  status = 2,
  stderr = "csv/unterminated_quote.csv:2: text: unterminated quoted field\n" }
add { name = "csv negative volume", args = ingest("negative_volume.csv"),
  status = 2, stderr = "csv/negative_volume.csv:2: volume: negative (-5)\n" }
add { name = "csv empty field", args = ingest("empty_field.csv"), status = 2,
  stderr = "csv/empty_field.csv:2: open: missing\n" }
add { name = "csv BOM inside a field", args = ingest("bom_inside.csv"),
  status = 2, like = { "^csv/bom_inside%.csv:2: open: " } }
add { name = "csv missing file", args = ingest("no_such_file.csv"),
  status = 2,
  stderr = "csv/no_such_file.csv: cannot open: No such file or directory\n" }
add { name = "csv embedded NUL",
  make = function(dir)
    write(dir .. "/nul.csv", HEADER .. "2024-01-02,10,11,9,10.5,100\n"
      .. "2024-01-03,10,11\0,9,10.5,100\n")
  end,
  args = { "ingest", "nul.csv", "--out", "{out}/x.btb" }, status = 2,
  stderr = "nul.csv:3: text: NUL byte in the file\n" }
add { name = "csv non-UTF-8",
  make = function(dir)
    write(dir .. "/latin1.csv", "date,open,high,low,close,volume,note\n"
      .. "2024-01-02,10,11,9,10.5,100,caf\233\n")
  end,
  args = { "ingest", "latin1.csv", "--out", "{out}/x.btb" }, status = 2,
  stderr = "latin1.csv:2: text: not valid UTF-8 (convert the file to UTF-8)\n" }
add { name = "csv 10 MB line",
  make = function(dir)
    write(dir .. "/long_line.csv", HEADER .. "2024-01-02,10,11,9,10.5,"
      .. string.rep("7", 10 * 1024 * 1024) .. "\n")
  end,
  args = { "ingest", "long_line.csv", "--out", "{out}/x.btb" }, status = 2,
  stderr = "long_line.csv:2: volume: out of range '"
    .. string.rep("7", 40) .. "'\n" }
add { name = "csv bad row through run --data",
  args = { "run", "--scenario", "daily", "--data", "csv/high_below_low.csv",
    "--profiler", "none", "-q", "-o", "{out}/profiles" }, status = 2,
  stderr = "btlua run: --data csv/high_below_low.csv: "
    .. "csv/high_below_low.csv:2: high: "
    .. "8 below max(open, close) 10.5\n" }
add { name = "csv with a BOM is fine (control)", args = ingest("bom_ok.csv"),
  status = 0, stderr = "", creates = "x.btb" }
add { name = "csv with CRLF is fine (control)", args = ingest("crlf_ok.csv"),
  status = 0, stderr = "", creates = "x.btb" }

-- --- bundles (btlua run --data BUNDLE) -------------------------------------

local function run_bundle(file)
  return { "run", "--scenario", "daily", "--data", file, "--profiler", "none",
    "-q", "-o", "{out}/profiles" }
end

local function bundle_case(name, edit, message)
  add { name = "bundle " .. name, make = mutate("good.btb", "b.btb", edit),
    args = run_bundle("b.btb"), status = 2,
    stderr = "btlua run: --data b.btb: b.btb: " .. message .. "\n" }
end

bundle_case("truncated", function(b) return b:sub(1, 200) end,
  "truncated or damaged bundle (200 bytes, header says 376)")
bundle_case("header only", function(b) return b:sub(1, 60) end,
  "not a btlua bundle (only 60 bytes)")
bundle_case("empty file", function() return "" end,
  "not a btlua bundle (only 0 bytes)")
bundle_case("flipped data byte", function(b)
  return b:sub(1, 300) .. string.char((b:byte(301) + 128) % 256)
    .. b:sub(302)
end, "corrupt bundle (data checksum mismatch)")
bundle_case("wrong version", patch(8, "\9"),
  "bundle format version 9, this btlua reads version 2 (re-create it)")
bundle_case("wrong magic", patch(0, "NOTABNDL"),
  "not a btlua bundle (bad magic)")
bundle_case("huge session count", patch(0x28, u64(2 ^ 52)),
  "corrupt bundle header")
bundle_case("huge asset count", patch(0x20, u64(2 ^ 40)),
  "corrupt bundle header")

-- --- .btprof (btlua export) ------------------------------------------------

local function btprof_case(name, edit, message)
  add { name = "btprof " .. name, make = mutate("good.btprof", "p.btprof", edit),
    args = { "export", "p.btprof", "--format", "folded", "-o",
      "{out}/p.folded" },
    status = 2,
    stderr = message and ("btlua export: p.btprof: " .. message .. "\n") }
end

btprof_case("empty file", function() return "" end,
  "not a .btprof file (bad magic)")
btprof_case("wrong magic", patch(0, "XXPROF\r\n"),
  "not a .btprof file (bad magic)")
btprof_case("wrong version", patch(8, "\7"),
  "unsupported .btprof version 7 (this btlua reads version 1)")
btprof_case("truncated", function(b) return b:sub(1, 40) end,
  nil)
btprof_case("huge section count", patch(12, "\0\0\0\128"),
  "corrupt .btprof file (12 sections, header says 2147483648)")
btprof_case("huge section size", patch(0x18, u64(2 ^ 52)),
  nil)
btprof_case("flipped byte", function(b)
  local at = math.floor(#b / 2)
  return b:sub(1, at) .. string.char((b:byte(at + 1) + 128) % 256)
    .. b:sub(at + 2)
end, nil)
add { name = "btprof a device", args = { "export", "/dev/zero", "--format",
  "folded", "-o", "{out}/p.folded" }, status = 2,
  stderr = "btlua export: /dev/zero: not a regular file\n" }
add { name = "btprof report of a device", args = { "report", "/dev/zero" },
  status = 2, like = { "^btlua report: /dev/zero" } }
-- Messages that depend on the profile's size are checked by pattern.
for _, case in ipairs(cases) do
  if case.name == "btprof truncated" then
    case.stderr = nil
    case.like = { "^btlua export: p%.btprof: truncated %.btprof file "
      .. "%(section STRS needs %d+ bytes, %d+ left%)\n$" }
  elseif case.name == "btprof huge section size" then
    case.stderr = nil
    case.like = { "^btlua export: p%.btprof: truncated %.btprof file "
      .. "%(section STRS needs 4503599627370%d+ bytes, %d+ left%)\n$" }
  elseif case.name == "btprof flipped byte" then
    case.stderr = nil
    case.like = { "^btlua export: p%.btprof: corrupt %.btprof file %(" }
  end
end
add { name = "btprof missing file",
  args = { "export", "none.btprof", "--format", "folded" }, status = 2,
  like = { "^btlua export: none%.btprof: " } }

-- --- scenario files (btlua run --scenario FILE) ---------------------------

add { name = "scenario syntax error", args = run_file("syntax_error.lua"),
  status = 2, like = { "^btlua run: scenario/syntax_error%.lua:3: "
    .. "unexpected symbol near '?<eof>'?\n$" } } -- LuaJIT quotes <eof>
add { name = "scenario missing field", args = run_file("missing_data.lua"),
  status = 2, stderr = "btlua run: scenario/missing_data.lua: scenario "
    .. "'missing_data': field 'data': is required\n" }
add { name = "scenario wrong type", args = run_file("capital_wrong_type.lua"),
  status = 2, stderr = "btlua run: scenario/capital_wrong_type.lua:6: "
    .. "scenario 'capital_wrong_type': field 'capital': must be decimal text "
    .. "such as \"100000\", got a table\n" }
add { name = "scenario unknown strategy",
  args = run_file("unknown_strategy.lua"), status = 2,
  stderr = "btlua run: scenario/unknown_strategy.lua:7: scenario "
    .. "'unknown_strategy': field 'strategy': unknown strategy "
    .. "\"no_such_strategy\" (built-in: mean_reversion, momentum, sma_cross; "
    .. "or a .lua file path)\n" }
add { name = "scenario negative capital",
  args = run_file("negative_capital.lua"), status = 2,
  stderr = "btlua run: scenario/negative_capital.lua:6: scenario "
    .. "'negative_capital': field 'capital': must be positive, got "
    .. "\"-100000\"\n" }
add { name = "scenario end before start",
  args = run_file("end_before_start.lua"), status = 2,
  stderr = "btlua run: scenario/end_before_start.lua:5: scenario "
    .. "'end_before_start': field 'data.synthetic.end': end 2024-02-01 is "
    .. "before start 2024-03-01\n" }
add { name = "scenario unknown field", args = run_file("unknown_field.lua"),
  status = 2, like = { "^btlua run: scenario/unknown_field%.lua:8: scenario "
    .. "'unknown_field': field 'leverage': unknown field %(known: " } }
add { name = "scenario bad frequency", args = run_file("bad_frequency.lua"),
  status = 2, stderr = "btlua run: scenario/bad_frequency.lua:4: scenario "
    .. "'bad_frequency': field 'data.synthetic.frequency': must be daily, "
    .. "hourly, minute, Nmin or Nh, got \"weekly\"\n" }
add { name = "scenario params not a table",
  args = run_file("params_not_table.lua"), status = 2,
  stderr = "btlua run: scenario/params_not_table.lua:8: scenario "
    .. "'params_not_table': field 'params': must be a table, got 20\n" }
add { name = "scenario strategy file syntax error",
  args = run_file("strategy_syntax_error.lua"), status = 2,
  stderr = "btlua run: scenario strategy_syntax_error: strategy: cannot "
    .. "load scenario/broken_strategy.lua: "
    .. "scenario/broken_strategy.lua:3: unexpected symbol near 'then'\n" }
add { name = "scenario not a scenario", args = run_file("not_a_scenario.lua"),
  status = 2, stderr = "btlua run: scenario/not_a_scenario.lua: does not "
    .. "return a btlua.scenario{...}\n" }
add { name = "scenario raises", args = run_file("raises.lua"), status = 2,
  stderr = "btlua run: scenario/raises.lua:2: the scenario file fails\n" }
add { name = "scenario missing file", args = run_file("no_such.lua"),
  status = 2, stderr = "btlua run: cannot open scenario file "
    .. "scenario/no_such.lua\n" }

-- --- command line ----------------------------------------------------------

add { name = "cli unknown host option", args = { "--bogus" }, status = 2,
  like = { "^btlua: unknown option '%-%-bogus'\nusage: btlua " } }
add { name = "cli unknown command word", args = { "frobnicate" }, status = 2,
  stderr = "btlua: unknown command 'frobnicate' (btlua help lists the "
    .. "commands)\n" }
add { name = "cli mistyped command", args = { "runn" }, status = 2,
  stderr = "btlua: unknown command 'runn' (did you mean 'run'? btlua help "
    .. "lists the commands)\n" }
add { name = "cli swapped letters", args = { "comapre" }, status = 2,
  stderr = "btlua: unknown command 'comapre' (did you mean 'compare'? btlua "
    .. "help lists the commands)\n" }
add { name = "cli missing script file", args = { "nothere.lua" }, status = 2,
  stderr = "btlua: cannot open nothere.lua\n" }
add { name = "cli run unknown flag",
  args = { "run", "--scenario", "daily", "--bogus" }, status = 2,
  like = { "\nbtlua run: unknown option '%-%-bogus'\n$" } }
add { name = "cli run missing value", args = { "run", "--scenario" },
  status = 2,
  like = { "\nbtlua run: option '%-%-scenario' requires an argument\n$" } }
add { name = "cli run --jobs 0",
  args = { "run", "--scenario", "daily", "--jobs", "0" }, status = 2,
  like = { "\nbtlua run: '0' is not a positive integer\n$" } }
add { name = "cli run --repeat abc",
  args = { "run", "--scenario", "daily", "--repeat", "abc" }, status = 2,
  like = { "\nbtlua run: 'abc' is not a positive integer\n$" } }
add { name = "cli run bad --profiler",
  args = { "run", "--scenario", "daily", "--profiler", "fast" }, status = 2,
  like = { "\nbtlua run: argument for option '%-%-profiler' must be one of" } }
add { name = "cli run unknown scenario",
  args = { "run", "--scenario", "weekly" }, status = 2,
  stderr = "btlua run: unknown scenario 'weekly' (known: daily, hourly, "
    .. "minute; or a .lua file)\n" }
add { name = "cli run --param without =",
  args = { "run", "--scenario", "daily", "--param", "fast" }, status = 2,
  like = { "^btlua run: scenario .-scenarios/daily%.lua: %-%-param fast: "
    .. "expected KEY=VALUE\n$" } }
add { name = "cli run --set bad number",
  args = { "run", "--scenario", "daily", "--set",
    "data.synthetic.assets=-3" }, status = 2,
  like = { "field 'data%.synthetic%.assets': must be a positive integer, "
    .. "got %-3\n$" } }
add { name = "cli run output dir is a file",
  make = function(dir) write(dir .. "/out/file", "x") end,
  args = { "run", "--scenario", "daily", "-o", "{out}/file/sub" }, status = 2,
  like = { "^btlua run: output directory '.-/out/file/sub': " },
  keep = { "file" } }
add { name = "cli export unknown format",
  args = { "export", "p.btprof", "--format", "pdf" }, status = 2,
  stderr = "btlua export: unknown format 'pdf' (callgrind, folded, "
    .. "speedscope, trace, svg, summary, memory)\n" }
add { name = "cli ingest missing --out", args = { "ingest", "csv/good.csv" },
  status = 2, like = { "\nbtlua ingest: missing option '%-%-out'\n$" } }
add { name = "cli compare missing dir",
  args = { "compare", "nowhere", "nowhere2" }, status = 2,
  stderr = "btlua compare: nowhere: not a readable directory\n" }
add { name = "cli -e without chunk", args = { "-e" }, status = 2,
  stderr = "btlua: '-e' needs an argument\n" }

return cases
