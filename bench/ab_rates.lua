-- ab_rates.lua: measures how far `btlua ab` can be trusted on this machine
-- with CPU-bound processes competing for every core: how often identical
-- code is called significant (false alarms), how often a 30% slowdown of
-- one Lua function is found (and named), and that different results always
-- fail the gate; with --profiler instructions available, the same for a 3%
-- slowdown on instruction counts. A benchmark, never a test.
--   build/btlua bench/ab_rates.lua [--identical N] [--slow N]
--     [--different N] [--instructions N] [--rounds R] [--load K]
--     [--repeat K]   (K runs per process, the fastest counts: btlua ab --repeat)
-- Prints one line per measurement with its counts and trial numbers.

local script = arg and arg[0]
if type(script) ~= "string" or not script:match("ab_rates%.lua$") then
  return nil
end

local cjson = require "cjson"

local options = { identical = 20, slow = 10, different = 3,
                  instructions = 5, rounds = 10, load = 0, ["repeat"] = 1 }
local words = { ... }
local i = 1
while i <= #words do
  local key = words[i]:match("^%-%-(%a+)$")
  local value = tonumber(words[i + 1])
  if not key or options[key] == nil or not value then
    io.stderr:write("usage: btlua bench/ab_rates.lua [--identical N] "
      .. "[--slow N] [--different N] [--instructions N] [--rounds R] "
      .. "[--load K] [--repeat K]\n")
    os.exit(2)
  end
  options[key] = value
  i = i + 2
end

local function quote(text)
  return "'" .. tostring(text):gsub("'", "'\\''") .. "'"
end

local function capture(command)
  local pipe = assert(io.popen(command))
  local text = pipe:read("*a")
  pipe:close()
  return text
end

local btlua = arg[-1]
local here = script:match("^(.*)/[^/]*$") or "."
local scenario_dir = here .. "/gate"
local cpus = tonumber(capture("nproc")) or 2
if options.load == 0 then options.load = cpus end
local scratch = capture("mktemp -d /tmp/btlua-ab-rates.XXXXXX"):gsub("%s+$", "")

-- The competing load: K busy shell loops, stopped at the end.
local loaders = {}
local function start_load()
  for _ = 1, options.load do
    local pid = capture("sh -c 'while :; do :; done' >/dev/null 2>&1 & "
      .. "echo $!"):gsub("%s+$", "")
    loaders[#loaders + 1] = pid
  end
end
local function stop_load()
  for _, pid in ipairs(loaders) do os.execute("kill " .. pid) end
  loaders = {}
end

local BASE_WORK = 800

local function side(extra)
  return btlua .. " --scenario-dir " .. scenario_dir .. " " .. extra
end

-- One `btlua ab` trial; returns its exit status and the decoded JSON.
local function trial(name, before, after, profiler, rounds)
  local out = scratch .. "/" .. name
  local json = out .. ".json"
  local command = table.concat({ quote(btlua), "ab", "--before",
    quote(before), "--after", quote(after), "--scenario", "gate",
    "--rounds", tostring(rounds), "--repeat", tostring(options["repeat"]),
    "--profiler", profiler, "--output-dir",
    quote(out), "--json", quote(json), "-q", ">/dev/null 2>&1" }, " ")
  local first, _, code = os.execute(command)
  local status = type(first) == "number" and math.floor(first / 256) or code
  local file = io.open(json, "rb")
  local doc = file and cjson.decode(file:read("*a")) or {}
  if file then file:close() end
  os.execute("rm -rf " .. quote(out))
  return status, (doc.scenarios or {})[1] or {}
end

local function percent(count, total)
  return total > 0 and string.format("%.0f%%", count / total * 100) or "-"
end

local started = os.time()
io.write(string.format("btlua ab rates: %s, %d CPUs, %d busy loops competing, "
  .. "%d rounds per trial, --repeat %d, load average before: %s\n", btlua, cpus,
  options.load, options.rounds, options["repeat"], capture("cut -d' ' -f1 /proc/loadavg")
  :gsub("%s+$", "")))
io.stdout:flush()
start_load()
local ok, err = pcall(function()
  -- 1. Identical code against itself.
  local base = side("--param work=" .. BASE_WORK)
  local alarms, function_alarms = 0, 0
  for n = 1, options.identical do
    local _, verdict = trial("same-" .. n, base, base, "cycles",
      options.rounds)
    if verdict.verdict ~= "no change" then alarms = alarms + 1 end
    if #(verdict.functions or {}) > 0 then
      function_alarms = function_alarms + 1
    end
  end
  io.write(string.format("identical code: significant in %d of %d trials "
    .. "(%s); some function flagged in %d of %d\n", alarms,
    options.identical, percent(alarms, options.identical), function_alarms,
    options.identical))
  io.stdout:flush()
  -- 2. score() 30% slower (work x 1.3).
  local slow = side("--param work=" .. math.floor(BASE_WORK * 1.3))
  local found, named = 0, 0
  for n = 1, options.slow do
    local _, verdict = trial("slow-" .. n, base, slow, "cycles",
      options.rounds)
    if verdict.verdict == "slower" then found = found + 1 end
    if (verdict.line or ""):find(" score +", 1, true) then
      named = named + 1
    end
  end
  io.write(string.format("score() 30%% slower: found (verdict slower) in %d "
    .. "of %d trials (%s); score named in the verdict line in %d of %d\n", found,
    options.slow, percent(found, options.slow), named, options.slow))
  io.stdout:flush()
  -- 3. Different results (another lookback): the gate must fail.
  local other = side("--param work=" .. BASE_WORK .. " --param lookback=10")
  local failed = 0
  for n = 1, options.different do
    local status, verdict = trial("diff-" .. n, base, other, "none", 2)
    if status == 1 and verdict.verdict == "different results" then
      failed = failed + 1
    end
  end
  io.write(string.format("different results: the gate failed (exit 1) in %d "
    .. "of %d trials\n", failed, options.different))
  -- 4. Instruction counts, when this btlua has them.
  if not capture(quote(btlua) .. " run --help"):find("instructions", 1, true) then
    io.write("instructions: not measured (this btlua has no --profiler "
      .. "instructions)\n")
    return
  end
  local three = side("--param work=" .. math.floor(BASE_WORK * 1.03 + 0.5))
  local same_hits, slow_hits = 0, 0
  for n = 1, options.instructions do
    local _, verdict = trial("isame-" .. n, base, base, "instructions", 1)
    if verdict.verdict ~= "no change" then same_hits = same_hits + 1 end
    _, verdict = trial("islow-" .. n, base, three, "instructions", 1)
    if verdict.verdict == "slower" then slow_hits = slow_hits + 1 end
  end
  io.write(string.format("instructions: identical significant in %d of %d; "
    .. "score() 3%% slower found in %d of %d\n", same_hits,
    options.instructions, slow_hits, options.instructions))
end)
stop_load()
os.execute("rm -rf " .. quote(scratch))
if not ok then
  io.stderr:write("ab_rates: ", tostring(err), "\n")
  os.exit(1)
end
io.write(string.format("elapsed: %d s\n", os.time() - started))
