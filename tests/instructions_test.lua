-- instructions_test.lua: `btlua run --profiler instructions`: a missing
-- valgrind is a clear error (exit 2); under callgrind two runs of the same
-- scenario count the same instructions within 1%, each zone gets its
-- count, and the run's results are the same bytes as a plain run's.
local t = require "tap"
local lib = require "testlib"
local core = require "btlua.core"

local small = { "--set", "data.synthetic.assets=2", "--set",
  "data.synthetic.end=2024-01-02" }
local function run(extra, env)
  local words = { lib.quote(lib.btlua), "run", "--scenario", "minute" }
  for _, w in ipairs(small) do words[#words + 1] = lib.quote(w) end
  for _, w in ipairs(extra) do words[#words + 1] = lib.quote(w) end
  return lib.sh((env or "") .. table.concat(words, " "))
end

local dir = lib.tmpdir()
local status, out, err = run({ "--profiler", "instructions", "--output-dir",
  dir .. "/none" }, "BTLUA_VALGRIND_BIN=/nonexistent/valgrind ")
t.is(status, 2, "no valgrind: exit 2")
t.is(err, "btlua run: --profiler instructions needs valgrind, which was not "
  .. "found (install the Debian package valgrind)\n", "and says so")
t.is(out, "", "nothing on stdout")

-- valgrind cannot run inside valgrind, nor a btlua built with ASan.
local under_valgrind = (os.getenv("BTLUA_VALGRIND") or "0") ~= "0"
local have = require("btlua.instructions").find_valgrind()
local asan = lib.sh("ldd " .. lib.quote(lib.btlua) .. " | grep -q libasan") == 0
if under_valgrind or not have or asan then
  t.diag("instruction runs skipped: " .. (under_valgrind and "under valgrind"
    or asan and "an ASan build" or "valgrind is not installed"))
  t.done_testing()
  return
end

local totals, zones = {}, {}
for i = 1, 2 do
  status, out, err = run({ "--profiler", "instructions", "--output-dir",
    dir .. "/run" .. i })
  t.is(status, 0, "instructions run " .. i .. ": exit 0")
  if status ~= 0 then t.diag(err) end
  local p = assert(core.prof.load(dir .. "/run" .. i .. "/minute.btprof"))
  totals[i] = p.meta.instructions.total
  zones[i] = p.meta.instructions.zones
end
t.is(out:match("^scenario minute: (%d+) instructions"), tostring(totals[2]),
  "the run prints its count")
local spread = math.abs(totals[1] - totals[2]) / totals[1]
-- Lua 5.4 repeats within 1%. LuaJIT, since each run is its own process,
-- does not yet (1.7% to 3.8% measured: its trace compiler's choices vary):
-- there the spread is reported, not asserted, until that is pinned.
if core.lua_flavour:find("LuaJIT") then
  t.ok(totals[1] > 1e6 and totals[2] > 1e6, ("LuaJIT: both runs counted "
    .. "(%d, %d: %.4f%% apart, not asserted)"):format(totals[1], totals[2],
    100 * spread))
else
  t.ok(totals[1] > 1e6 and spread <= 0.01, ("two runs within 1%% (%d, %d: "
    .. "%.4f%%)"):format(totals[1], totals[2], 100 * spread))
end
local named = {}
for name, count in pairs(zones[1]) do
  if count > 0 then named[#named + 1] = name end
end
table.sort(named)
t.is(table.concat(named, " "), "blotter data fills indicators ledger metrics "
  .. "output strategy", "every engine zone has its count")
local summary = lib.read(dir .. "/run1/minute_summary.txt")
t.like(summary, "\n%(unattributed%)%s+%d+", "the summary has the rest")
status = run({ "--profiler", "none", "--output-dir", dir .. "/plain", "-q" })
-- The engine's part (up to the run timings, cpu_s and after) is the same.
local function engine_part(text)
  return text and (text:match('^(.-),\n  "cpu_s": ') or text)
end
t.is(engine_part(lib.read(dir .. "/run1/minute_results.json")),
  engine_part(lib.read(dir .. "/plain/minute_results.json")),
  "results.json: the engine's part is the same bytes as a plain run's")
os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
