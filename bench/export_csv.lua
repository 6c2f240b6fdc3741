-- export_csv.lua: writes a scenario's bars (its synthetic bundle, after any
-- --set overrides) as one CSV file, session-major and in asset order:
-- timestamp,symbol,open,high,low,close,volume (exact decimal text; missing
-- bars are left out). The plain-Python reference (bench/reference) reads it;
-- `btlua run --data FILE` can ingest it too.
-- Run: btlua bench/export_csv.lua SCENARIO_FILE OUT.csv [FIELD=V ...]
local core = require "btlua.core"
local scenario = require "btlua.scenario"

local file, out_path = arg and arg[1], arg and arg[2]
if not file or not out_path then
  io.stderr:write("usage: btlua bench/export_csv.lua SCENARIO_FILE OUT.csv "
    .. "[FIELD=V ...]\n")
  os.exit(2)
end
local sets = {}
for i = 3, #arg do sets[#sets + 1] = arg[i] end

local scn = assert(scenario.load(file))
scn = scenario.with_overrides(scn, { set = sets, params = {} })
assert(type(scn.data) == "table" and scn.data.synthetic,
  "export_csv: only scenarios with synthetic data")
local s = scn.data.synthetic
local path = assert(core.store.synthetic {
  assets = s.assets, frequency = s.frequency, start = s.start,
  ["end"] = s["end"], calendar = s.calendar, seed = s.seed,
})
local bundle = assert(core.store.open(path))
local symbols = bundle:symbols()
local assets, sessions = #symbols, bundle:session_count()

local tmp = out_path .. ".tmp"
local out = assert(io.open(tmp, "wb"))
out:write("timestamp,symbol,open,high,low,close,volume\n")
local rows, chunk = 0, {}
for i = 1, sessions do
  local stamp = core.store.format_time(bundle:session_time(i))
  for a = 1, assets do
    local o, h, l, c, v = bundle:bar(a, i)
    if o then
      chunk[#chunk + 1] = table.concat({ stamp, symbols[a], o, h, l, c, v },
        ",")
      rows = rows + 1
    end
  end
  if #chunk >= 4096 then
    out:write(table.concat(chunk, "\n"), "\n")
    chunk = {}
  end
end
if #chunk > 0 then out:write(table.concat(chunk, "\n"), "\n") end
assert(out:close())
assert(os.rename(tmp, out_path))
io.stdout:write(string.format("%s: %d bars, %d assets, %d sessions\n",
  out_path, rows, assets, sessions))
