-- limits_test.lua: strategy isolation: a runaway loop trips the time budget
-- (--budget), unbounded allocation trips the memory cap (--memory-cap);
-- each fails only its own scenario (exit status 1, the others' files are
-- written), with every profiler mode; decimal overflow in an order is a
-- clear error for its scenario.
local t = require "tap"
local testlib = require "testlib"

local q = testlib.quote

local dir = testlib.tmpdir()

local function write_scenario(name, strategy_body)
  testlib.write(dir .. "/" .. name .. "_strategy.lua", strategy_body)
  testlib.write(dir .. "/" .. name .. ".lua",
    testlib.scenario_source(name, name .. "_strategy.lua"))
  return dir .. "/" .. name .. ".lua"
end

-- A loop LuaJIT compiles (it runs no hooks inside traces: the watchdog
-- escapes from the machine code, lbt_limits.c); Lua 5.4 meets the hook.
local spin = "while true do n = n + 1 end"

local loop = write_scenario("loop", [[
return {
  handle_data = function(ctx, data)
    local n, t = 0, {}
    ]] .. spin .. [[

  end,
}
]])
local swallow = write_scenario("swallow", [[
return {
  handle_data = function(ctx, data)
    for _ = 1, 1000 do
      pcall(function() local n, t = 0, {} ]] .. spin .. [[ end)
    end
  end,
}
]])
local init_loop = write_scenario("init_loop", [[
return {
  initialize = function(ctx)
    local n, t = 0, {}
    ]] .. spin .. [[

  end,
  handle_data = function() end,
}
]])
local hog = write_scenario("hog", [[
return {
  handle_data = function(ctx, data)
    local t = {}
    while true do t[#t + 1] = string.rep("x", 64) .. #t end
  end,
}
]])
local loop2 = write_scenario("loop2", [[
return {
  handle_data = function(ctx, data)
    local n, t = 0, { 1, 2, 3 }
    while true do n = n + t[n % 3 + 1] end
  end,
}
]])
local fine = write_scenario("fine", [[
return {
  handle_data = function(ctx, data)
    local t = {}
    for i = 1, 1000 do t[i] = i end
  end,
}
]])
local overflow = write_scenario("overflow", [[
return {
  handle_data = function(ctx, data) ctx:order(1, "1000000000000") end,
}
]])
local overflow_fill = write_scenario("overflow_fill", [[
return {
  handle_data = function(ctx, data) ctx:order(1, "90000000000") end,
}
]])

local function run(scenarios, flags)
  local args = { "run" }
  for _, file in ipairs(scenarios) do
    args[#args + 1] = "--scenario"
    args[#args + 1] = file
  end
  for _, flag in ipairs(flags) do args[#args + 1] = flag end
  return testlib.run(args)
end

local function lines_sorted(text)
  local lines = {}
  for line in text:gmatch("[^\n]+") do
    if not line:find("^%s") and not line:find("^stack traceback") then
      lines[#lines + 1] = line
    end
  end
  table.sort(lines)
  return table.concat(lines, "\n")
end


-- The budget: exit 1, the loop's scenario named with its callback, the
-- other scenario's results written, under every profiler mode (on LuaJIT
-- "cycles" turns the JIT off; the others leave the loop compiled).
for _, mode in ipairs { "none", "cycles", "sample", "memory" } do
  local out = dir .. "/out_" .. mode
  local status, _, stderr = run({ loop, fine },
    { "--budget", "0.3", "--profiler", mode, "-q", "-o", out })
  t.is(status, 1, "budget (" .. mode .. "): exit status 1")
  t.is(lines_sorted(stderr), "scenario loop: handle_data: exceeded the "
    .. "time budget of 0.3 s (--budget)", "budget (" .. mode .. "): message")
  t.ok(testlib.exists(out .. "/fine_results.json")
    and not testlib.exists(out .. "/loop_results.json"),
    "budget (" .. mode .. "): the other scenario finished")
end

local status, stderr
status, _, stderr = run({ swallow }, { "--budget", "0.3", "-q", "-o",
  dir .. "/out_swallow", "--profiler", "none" })
t.is(status, 1, "a strategy that catches the budget error is stopped anyway")
t.is(lines_sorted(stderr), "scenario swallow: handle_data: exceeded the "
  .. "time budget of 0.3 s (--budget)", "  and named")

for _, mode in ipairs { "cycles", "none" } do
  status, _, stderr = run({ init_loop }, { "--budget", "0.3", "-q", "-o",
    dir .. "/out_init_" .. mode, "--profiler", mode })
  t.is(status, 1, "initialize (" .. mode .. "): exit status 1")
  t.is(lines_sorted(stderr), "scenario init_loop: initialize: exceeded the "
    .. "time budget of 0.3 s (--budget)", "initialize (" .. mode
    .. ") is budgeted too")
end

-- Two runaways at once on two threads (each thread's watchdog stops its
-- own state).
status, _, stderr = run({ loop, loop2, fine }, { "--budget", "0.3", "-q",
  "--jobs", "2", "-o", dir .. "/out_two", "--profiler", "none" })
t.is(status, 1, "two runaways: exit status 1")
t.is(lines_sorted(stderr), "scenario loop2: handle_data: exceeded the time "
  .. "budget of 0.3 s (--budget)\nscenario loop: handle_data: exceeded the "
  .. "time budget of 0.3 s (--budget)", "two runaways: both named")
t.ok(testlib.exists(dir .. "/out_two/fine_results.json"),
  "two runaways: the other scenario finished")

-- The memory cap (budget off, so only the cap can stop it).
status, _, stderr = run({ hog, fine }, { "--memory-cap", "32M", "--budget",
  "0", "-q", "-o", dir .. "/out_hog", "--profiler", "memory" })
t.is(status, 1, "memory cap: exit status 1")
t.is(lines_sorted(stderr), "scenario hog: handle_data: exceeded the memory "
  .. "cap of 32 MiB (--memory-cap)", "memory cap: message")
t.ok(testlib.exists(dir .. "/out_hog/fine_results.json"),
  "memory cap: the other scenario finished")

-- Defaults: generous enough for a real scenario.
status = run({ fine }, { "-q", "-o", dir .. "/out_fine" })
t.is(status, 0, "defaults: a normal scenario runs")

-- Flags.
status, _, stderr = run({ fine }, { "--budget=-1" })
t.like(stderr, "'%-1' is not a number of seconds >= 0", "--budget checked")
status, _, stderr = run({ fine }, { "--memory-cap", "lots" })
t.like(stderr, "'lots' is not a size", "--memory-cap checked")

-- Decimal overflow in an order (10^12 units; 9 * 10^10 units at about
-- 100): a clear error for that scenario, never a wrapped value.
status, _, stderr = run({ overflow, fine }, { "-q", "-o", dir .. "/out_ovf",
  "--profiler", "none" })
t.is(status, 1, "overflow: exit status 1")
t.like(stderr, "^scenario overflow: [^\n]*overflow_strategy%.lua:2: bad "
  .. "argument #2 to 'order' %(decimal overflow in '1000000000000'%)\n",
  "overflow: the quantity is refused")
t.ok(testlib.exists(dir .. "/out_ovf/fine_results.json"),
  "overflow: the other scenario finished")
status, _, stderr = run({ overflow_fill }, { "-q", "-o", dir .. "/out_ovf2",
  "--profiler", "none" })
t.is(status, 1, "overflow in the fill: exit status 1")
t.like(stderr, "^scenario overflow_fill: [^\n]*fills: decimal overflow at "
  .. "bar 2\n", "overflow in the fill: a clear error")

os.execute("rm -rf " .. q(dir))
t.done_testing()
