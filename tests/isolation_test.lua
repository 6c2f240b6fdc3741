-- isolation_test.lua: each run of a scenario is its own process: runaways
-- of every kind end within their limit (plus a margin) with exit status 1
-- and a message naming the scenario and the limit, a crash is reported
-- with its signal, and the other scenarios of the same run finish and
-- write; the output directory is locked, staged, never followed through a
-- symbolic link, and SIGTERM leaves no temporary file and no partial
-- scenario.
local t = require "tap"
local testlib = require "testlib"
local core = require "btlua.core"

local q = testlib.quote
local dir = testlib.tmpdir()
local out = dir .. "/out"

local function write_scenario(name, strategy_body, scenario_prefix)
  testlib.write(dir .. "/" .. name .. "_strategy.lua", strategy_body)
  testlib.write(dir .. "/" .. name .. ".lua", (scenario_prefix or "")
    .. testlib.scenario_source(name, name .. "_strategy.lua"))
  return dir .. "/" .. name .. ".lua"
end

local function each_bar(body)
  return "return { handle_data = function(ctx, data)\n" .. body
    .. "\nend }\n"
end

local ok = write_scenario("ok", each_bar(""))
local co = write_scenario("co", each_bar([[
  coroutine.wrap(function() local n = 0 while true do n = n + 1 end end)()]]))
local pattern = write_scenario("pattern", each_bar([[
  return string.rep("a", 100000):find(".-.-.-.-b")]]))
local top = write_scenario("top", "local n = 0\nwhile true do n = n + 1 end\n")
local gc = write_scenario("gc", each_bar([[
  for _ = 1, 100 do
    local mt = { __gc = function() local n = 0 while true do n = n + 1 end end }
    if newproxy then getmetatable(newproxy(true)).__gc = mt.__gc
    else setmetatable({}, mt) end
    local junk = {}
    for i = 1, 10000 do junk[i] = { i } end
  end]]))
local scn_loop = write_scenario("scnloop", each_bar(""),
  "local n = 0\nwhile true do n = n + 1 end\n")
local stdin = write_scenario("stdin", each_bar([[
  local line = io.read("l")
  if line ~= nil then error("stdin gave " .. line) end]]))
os.execute("mkfifo " .. q(dir .. "/fifo"))
local fifo = write_scenario("fifo", each_bar("local f = io.open("
  .. string.format("%q", dir .. "/fifo") .. ") if f then f:read('a') end"))
local spin = write_scenario("spin", each_bar("while true do end"))
local segv = write_scenario("segv", each_bar(
  "io.popen('kill -SEGV $PPID'):close() while true do end"))
local orders = write_scenario("orders", each_bar([[
  for _ = 1, 1e7 do ctx:order(1, 1, { limit = 0.0001 }) end]]))

local function now() return core.hrtime() / 1e9 end

local function run(files, extra)
  os.execute("rm -rf " .. q(out))
  local args = { "run", "--profiler", "none", "-q", "-o", out, "--jobs", "2" }
  for _, file in ipairs(files) do
    args[#args + 1] = "--scenario"
    args[#args + 1] = file
  end
  for _, word in ipairs(extra) do args[#args + 1] = word end
  local started = now()
  local status, stdout, stderr, cpu = testlib.run(args)
  return status, stderr, now() - started, stdout, cpu
end

local function lines_of(text)
  local lines = {}
  for line in (text or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
  table.sort(lines)
  return lines
end

-- The budget (1 s of CPU per call): loops the hook cannot reach.
local margin = testlib.valgrind and 60 or 2
-- Limits of CPU time are checked against the CPU time used (wall time
-- grows with the load of the machine; it is only shown).
local status, stderr, seconds, _, cpu = run({ co, pattern, top, gc,
  scn_loop, stdin, ok }, { "--budget", "1" })
t.is(status, 1, "runaways: exit status 1")
local budget = ": exceeded the time budget of 1 s (--budget)"
local gc_line = "scenario gc: handle_data" .. budget -- a finalizer looping
-- during handle_data (Lua 5.4) trips the budget; at the end it never runs
local runaways = {}
for _, line in ipairs(lines_of(stderr)) do
  if line ~= gc_line then runaways[#runaways + 1] = line end
end
t.is_deeply(runaways, {
  "scenario co: handle_data" .. budget,
  "scenario file " .. scn_loop .. ": the scenario file's top-level code"
    .. budget,
  "scenario pattern: handle_data" .. budget,
  "scenario top: the strategy file's top-level code" .. budget,
}, "a coroutine, a pattern in C, a strategy's and a scenario's top-level "
  .. "loop: each named with the budget")
t.ok(cpu and cpu < 20 + margin, string.format(
  "they all end: %s s of CPU (%.1f s wall)", tostring(cpu), seconds))
t.ok(testlib.exists(out .. "/ok_results.json"), "the other scenario wrote")
t.ok(testlib.exists(out .. "/stdin_results.json"),
  "stdin is /dev/null: a read ends at once")
t.ok(testlib.exists(out .. "/gc_results.json")
  or (stderr or ""):find("scenario gc:", 1, true) ~= nil,
  "a looping finalizer never hangs the run")
t.is(testlib.exists(out .. "/co_results.json"), false, "nothing of co")

-- --list-scenarios with a looping scenario file: ends, lists the others.
status, stderr, seconds, cpu = (function()
  local started = now()
  local s, o, e, c = testlib.run({ "run", "--list-scenarios",
    "--scenario-dir", dir, "--budget", "1" })
  return s, o .. e, now() - started, c
end)()
t.is(status, 0, "--list-scenarios: exit 0")
t.like(stderr, "\nok ", "lists the scenarios that load")
t.ok(cpu and cpu < 10 + margin, string.format(
  "and ends: %s s of CPU (%.1f s wall)", tostring(cpu), seconds))

-- One runaway: its limit (CPU seconds: wall time depends on the load of
-- the machine) plus a generous margin.
status, stderr, seconds, _, cpu = run({ co }, { "--budget", "1" })
t.is(stderr, "scenario co: handle_data" .. budget .. "\n", "co alone")
t.ok(cpu and cpu < 1 + 2 + margin, string.format(
  "ends within its limit and a margin: %s s of CPU (%.1f s wall)",
  tostring(cpu), seconds))

-- The wall-clock deadline (--timeout): a loop without a budget (the
-- deadline also ends a process blocked in C, which CPU limits never see).
status, stderr, seconds = run({ fifo, spin, ok }, { "--timeout", "2",
  "--budget", "0" })
t.is(status, 1, "--timeout: exit status 1")
local killed = {}
for _, line in ipairs(lines_of(stderr)) do
  if line:match("^scenario ") then killed[#killed + 1] = line end
end
t.is(#killed, 2, "two scenarios fail")
-- A FIFO (a read that would block) is refused before it is opened.
t.like(killed[1], "^scenario fifo: .*reading " .. dir:gsub("%p", "%%%0")
  .. "/fifo: outside the scenario directory and the output directory, or "
  .. "not a regular file is not allowed", "fifo: refused by the sandbox")
t.like(killed[2], "^scenario spin: killed after 2 s of ", "spin: named, limit")
t.ok(seconds < 2 + 5 + margin, "they end within the limit (" .. seconds .. " s)")
t.ok(testlib.exists(out .. "/ok_results.json"), "the other scenario wrote")

-- A crash and the memory cap (everything the process allocates: the
-- address space limit, which a sanitizer build and valgrind cannot have).
local memory = core.runner.address_space_limit and not testlib.valgrind
status, stderr = run(memory and { segv, orders, ok } or { segv, ok },
  { "--memory-cap", "32M", "--unsafe" })
t.is(status, 1, "crash and memory: exit status 1")
-- (AddressSanitizer catches the signal itself and exits with status 1.)
local expected = { core.runner.address_space_limit
  and "scenario segv: crashed: killed by SIGSEGV (signal 11)"
  or "scenario segv: the run's process ended with exit status 1 without a "
    .. "result" }
if memory then
  table.insert(expected, 1, "scenario orders: exceeded the memory cap of "
    .. "32 MiB (--memory-cap)")
end
t.is_deeply(lines_of(stderr), expected,
  "the crash names its signal, the cap its size")
t.ok(testlib.exists(out .. "/ok_results.json"), "the other scenario wrote")

-- Output integrity. A rename that fails puts the earlier files back.
os.execute("rm -rf " .. q(out) .. "; mkdir -p " .. q(out .. "/ok_results.json"))
testlib.write(out .. "/ok_equity.csv", "earlier\n")
status, _, stderr = testlib.run({ "run", "--scenario", ok, "--profiler",
  "none", "-q", "-o", out })
t.is(status, 1, "a failed rename: exit 1")
t.like(stderr, "^scenario ok: cannot rename ", "says so")
t.is(testlib.read(out .. "/ok_equity.csv"), "earlier\n",
  "the earlier file is back")
t.is(testlib.exists(out .. "/ok_fills.csv"), false, "no file of the failed run")

-- A symbolic link in the output directory is replaced, never followed.
os.execute("rm -rf " .. q(out) .. "; mkdir -p " .. q(out)
  .. "; ln -s " .. q(dir .. "/elsewhere.csv") .. " " .. q(out .. "/ok_fills.csv"))
status = testlib.run({ "run", "--scenario", ok, "--profiler", "none", "-q",
  "-o", out })
t.is(status, 0, "over a dangling link: exit 0")
t.is(testlib.exists(dir .. "/elsewhere.csv"), false, "nothing written through it")
t.is(core.runner.file_kind(out .. "/ok_fills.csv"), "file", "a plain file now")

-- The lock: a second run waits for the first, saying so.
os.execute("rm -rf " .. q(out) .. "; mkdir -p " .. q(out))
-- (Held long enough for a btlua under valgrind to reach the lock.)
local hold = testlib.valgrind and 30 or 2
local sh = "(flock " .. q(out) .. " sleep " .. hold .. " &) ; sleep 0.5; "
  .. q(testlib.btlua) .. " run --scenario " .. q(ok) .. " --profiler none -q"
  .. " -o " .. q(out)
local code, _, err = testlib.sh(sh)
t.is(code, 0, "a locked output directory: the run waits, then runs")
t.like(err, "is in use by another btlua run: waiting for it to finish",
  "and says why it waits")

-- SIGTERM at random times: no temporary file, no partial scenario.
local files_per_scenario = 3 -- --profiler none: results, equity, fills
local bad = 0
for try = 1, 10 do
  os.execute("rm -rf " .. q(out) .. "; mkdir -p " .. q(out))
  os.execute(q(testlib.btlua) .. " run --scenario " .. q(ok) .. " --scenario "
    .. "daily --scenario hourly --profiler none -q -o " .. q(out)
    .. " >/dev/null 2>&1 & pid=$!; sleep 0." .. (try * 7 % 10) .. "$(( "
    .. try .. " % 3 ))"
    .. "; kill -TERM $pid 2>/dev/null; wait $pid")
  local pipe = io.popen("ls -A " .. q(out))
  local counts, hidden = {}, 0
  for name in pipe:lines() do
    if name:sub(1, 1) == "." then hidden = hidden + 1 end
    local scn = name:match("^([%w]+)_")
    if scn then counts[scn] = (counts[scn] or 0) + 1 end
  end
  pipe:close()
  local wrong = hidden
  for _, count in pairs(counts) do
    if count ~= files_per_scenario then wrong = wrong + 1 end
  end
  if wrong > 0 then
    local listing = io.popen("ls -A " .. q(out))
    t.diag("try " .. try .. ": " .. listing:read("*a"):gsub("\n", " "))
    listing:close()
  end
  bad = bad + wrong
end
t.is(bad, 0, "SIGTERM in 10 timed tries: no temporary file, no partial "
  .. "scenario")

os.execute("rm -rf " .. q(dir))
t.done_testing()
