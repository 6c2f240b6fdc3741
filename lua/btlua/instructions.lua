-- btlua.instructions: `btlua run --profiler instructions`: each scenario
-- runs once under valgrind's callgrind (a child btlua with no profiler), so
-- the profile holds instruction counts: noise-free and repeatable, for CI.
-- The whole run and each engine zone (the inclusive count of the stage
-- function that is that zone, engine/sim.c); Lua functions are not split
-- (they all run inside the interpreter's loop). Writes S.btprof (meta.
-- instructions), S_summary.txt, S.callgrind (callgrind's own file, for
-- KCachegrind) and the run's results files.
local core = require "btlua.core"
local util = require "btlua.util"

local instructions = {}

-- Engine zones and the functions whose inclusive counts are the zone
-- (engine/sim.c keeps them out of line). strategy is on_bar (lbt_sim.c)
-- minus the blotter calls made inside it.
instructions.zone_functions = {
  data = { "load_bar" }, fills = { "fill_orders" },
  ledger = { "mark_positions" }, indicators = { "update_indicator" },
  strategy = { "on_bar" }, blotter = { "bt_sim_order", "bt_sim_cancel" },
  metrics = { "record_equity" },
  output = { "bt_sim_results_json", "bt_sim_equity_csv", "bt_sim_fills_csv" },
}
local ZONE_ORDER = { "data", "fills", "ledger", "indicators", "strategy",
  "blotter", "metrics", "output" }

-- What pins a run's instruction count: no progress line (it follows the
-- clock), one job, and Lua's string hashes seeded the same way (LuaJIT and
-- Lua 5.4 seed from addresses, which valgrind keeps fixed, and time: see
-- docs/profiler.md for the measured spread).
local PINNED_ENV = "LUA_INIT= LUA_INIT_5_4= "

local function quote(text)
  return "'" .. tostring(text):gsub("'", "'\\''") .. "'"
end

local function executable(path)
  local status = os.execute("test -x " .. quote(path))
  return status == true or status == 0 -- Lua 5.4 | LuaJIT
end

-- valgrind's path: $BTLUA_VALGRIND_BIN, else the one on PATH; nil if none.
function instructions.find_valgrind()
  local given = os.getenv("BTLUA_VALGRIND_BIN")
  if given and given ~= "" then return executable(given) and given or nil end
  local pipe = io.popen("command -v valgrind 2>/dev/null")
  local found = pipe and pipe:read("*l")
  if pipe then pipe:close() end
  return found ~= "" and found or nil
end

-- The run flags of `words` a child gets: all but the scenario, profiler,
-- output, jobs and repeat choices (the child runs one scenario once).
local DROPPED = { ["-s"] = true, ["--scenario"] = true, ["-p"] = true,
  ["--profiler"] = true, ["-o"] = true, ["--output-dir"] = true,
  ["-j"] = true, ["--jobs"] = true, ["-n"] = true, ["--repeat"] = true }
local function child_flags(words)
  local kept, skip = {}, false
  for _, word in ipairs(words) do
    local option = word:match("^(%-%-?[%w-]+)=")
    if skip then
      skip = false
    elseif DROPPED[word] then
      skip = true
    elseif not (option and DROPPED[option]) and word ~= "-q"
        and word ~= "--quiet" then
      kept[#kept + 1] = word
    end
  end
  return kept
end

-- { total = Ir, functions = { [name] = inclusive Ir } } from a callgrind
-- file (callgrind_annotate --inclusive=yes).
function instructions.parse(callgrind_file)
  -- From / : in a source tree it also lists per-file parts of a function.
  local pipe = io.popen("cd / && callgrind_annotate --inclusive=yes "
    .. "--auto=no --threshold=100 " .. quote(callgrind_file) .. " 2>&1")
  local text = pipe:read("*a")
  pipe:close()
  local counts = { functions = {} }
  local in_functions = false
  for line in text:gmatch("[^\n]+") do
    if line:find("file:function", 1, true) then
      in_functions = true
    end
    local number, rest = line:match("^%s*([%d,]+)%s+%b()%s+(.*)$")
    if number then
      local value = tonumber((number:gsub(",", "")))
      if rest:find("PROGRAM TOTALS", 1, true) then
        counts.total = value
      elseif in_functions then
        -- "file:name [object]": recursion levels ("name'2") are inside the
        -- outermost entry already; "name.constprop.0" is name; code of a
        -- function inlined from a header is listed again as a part (less
        -- than the function's own line, which holds it): the largest wins.
        local name = rest:match(":([^%s:]+)%s") or rest:match(":([^%s:]+)$")
        if name and not name:find("'", 1, true) then
          name = name:match("^([^.]+)")
          counts.functions[name] = math.max(counts.functions[name] or 0, value)
        end
      end
    end
  end
  return counts
end

-- Instructions per zone from the function counts.
function instructions.zones(counts)
  local zones = {}
  for zone, names in pairs(instructions.zone_functions) do
    local sum = 0
    for _, name in ipairs(names) do sum = sum + (counts.functions[name] or 0) end
    zones[zone] = sum
  end
  zones.strategy = math.max(zones.strategy - zones.blotter, 0)
  return zones
end

local function summary(name, counts, zones, seconds)
  local out = { string.format("btlua profile: scenario %s (profiler "
    .. "instructions)", name),
    string.format("instructions: %d (callgrind Ir, the whole process)   "
      .. "valgrind run: %.1f s", counts.total or 0, seconds),
    "", "Zones (instructions, inclusive of the stage function)", "",
    string.format("%-14s %16s %8s", "zone", "instructions", "% run") }
  local zoned = 0
  for _, zone in ipairs(ZONE_ORDER) do
    zoned = zoned + zones[zone]
    out[#out + 1] = string.format("%-14s %16d %7.2f%%", zone, zones[zone],
      100 * zones[zone] / math.max(counts.total or 1, 1))
  end
  local rest = math.max((counts.total or 0) - zoned, 0)
  out[#out + 1] = string.format("%-14s %16d %7.2f%%", "(unattributed)", rest,
    100 * rest / math.max(counts.total or 1, 1))
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

local read = require("btlua.util").read_file

-- One scenario under callgrind; writes its files into args.output_dir.
-- Returns true, or nil and a message.
local function run_one(entry, args, words, valgrind)
  local name = entry.scenario.name
  local out = args.output_dir
  local work = out .. "/." .. name .. ".instructions"
  os.execute("rm -rf " .. quote(work) .. " && mkdir -p " .. quote(work))
  -- The command and the processes it starts (each run is a child
  -- process): one callgrind file each, summed.
  local exe = core.runner.realpath("/proc/self/exe")
  local command = { PINNED_ENV .. quote(valgrind), "--tool=callgrind",
    "--callgrind-out-file=" .. quote(work .. "/callgrind.out.%p"),
    "--dump-instr=no", "--trace-children=yes", quote(exe), "run", "--scenario",
    quote(entry.file), "--profiler", "none", "--output-dir", quote(work),
    "--jobs", "1", "--quiet" }
  for _, word in ipairs(child_flags(words)) do command[#command + 1] = quote(word) end
  local started = core.hrtime()
  local pipe = io.popen(table.concat(command, " ") .. " 2>&1")
  local log = pipe:read("*a")
  local ok = pipe:close()
  local seconds = (core.hrtime() - started) / 1e9
  local counts, callgrind_text = instructions.parse_all(work)
  if not ok or not callgrind_text then
    os.execute("rm -rf " .. quote(work))
    return nil, "scenario " .. name .. ": the run under valgrind failed:\n"
      .. log
  end
  local zones = instructions.zones(counts)
  local profile = { meta = { scenario = name, profiler = "instructions",
      instructions = { total = counts.total or 0, zones = zones },
      valgrind_s = seconds, version = "callgrind", run = 1 },
    functions = {}, zones = {}, samples = {}, runs = {} }
  local files = {
    [name .. ".btprof"] = core.prof.encode(profile),
    [name .. "_summary.txt"] = summary(name, counts, zones, seconds),
    [name .. ".callgrind"] = callgrind_text,
  }
  for _, suffix in ipairs({ "_results.json", "_equity.csv", "_fills.csv" }) do
    files[name .. suffix] = read(work .. "/" .. name .. suffix)
  end
  os.execute("rm -rf " .. quote(work))
  for file, text in pairs(files) do
    local done, err = util.write_atomically(out .. "/" .. file, text)
    if not done then return nil, err end
  end
  if not args.quiet then
    io.stdout:write(string.format("scenario %s: %d instructions (valgrind "
      .. "callgrind, %.1f s)\n", name, counts.total or 0, seconds))
  end
  return true
end

-- The counts of every callgrind.out.PID in dir, summed (total and each
-- function), and the text of the largest file (the run's own process: the
-- S.callgrind for KCachegrind); nil when there is none.
function instructions.parse_all(dir)
  local names = core.list_dir(dir) or {}
  local sum, largest, largest_total = { total = 0, functions = {} }, nil, -1
  for _, name in ipairs(names) do
    if name:match("^callgrind%.out%.%d+$") then
      local path = dir .. "/" .. name
      local counts = instructions.parse(path)
      sum.total = sum.total + (counts.total or 0)
      for fn, value in pairs(counts.functions) do
        sum.functions[fn] = (sum.functions[fn] or 0) + value
      end
      if (counts.total or 0) > largest_total then
        largest, largest_total = path, counts.total or 0
      end
    end
  end
  if not largest then return sum, nil end
  return sum, read(largest)
end

-- run(chosen, args, words) -> exit status: every chosen scenario, one
-- after the other (valgrind runs are long; they share the machine).
function instructions.run(chosen, args, words)
  local valgrind = instructions.find_valgrind()
  if not valgrind then
    io.stderr:write("btlua run: --profiler instructions needs valgrind, "
      .. "which was not found (install the Debian package valgrind)\n")
    return util.EXIT_BAD_INPUT
  end
  local exe = core.runner.realpath("/proc/self/exe")
  local asan = os.execute("ldd " .. quote(exe) .. " 2>/dev/null | grep -q "
    .. "libasan")
  if asan == true or asan == 0 then -- Lua 5.4 | LuaJIT
    io.stderr:write("btlua run: --profiler instructions cannot run an ASan "
      .. "build under valgrind (build without -DBTLUA_SANITIZE=ON)\n")
    return util.EXIT_BAD_INPUT
  end
  local ok, err = core.runner.check_dir(args.output_dir)
  if not ok then return util.fail("run", err) end
  for _, entry in ipairs(chosen) do
    local done, message = run_one(entry, args, words, valgrind)
    if not done then
      io.stderr:write("btlua run: ", message, "\n")
      return util.EXIT_FAILED
    end
  end
  return util.EXIT_OK
end

return instructions
