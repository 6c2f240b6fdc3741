-- profkey_test.lua: function keys survive edits and moves: a strategy file
-- with six lines added above its functions, run from another directory,
-- and a module required from another tree keep every key; anonymous
-- functions in a table field are named after the field; the summary's
-- zones plus "(unattributed)" add up to the run.
local t = require "tap"
local lib = require "testlib"
local core = require "btlua.core"
local profile = require "btlua.profile"
local prof = core.prof

local STRATEGY = [[
local M = {}
local function helper(x) return x + 1 end
M.on_bar = function() return 2 end
function M.handle_data(ctx) return helper(1) + ctx.n end
return M
]]
local MODULE = [[
local mod = {}
function mod.work(n) local s = 0 for i = 1, n do s = s + i end return s end
return mod
]]

-- Runs the strategy file and the module of tree `dir` under a profiler
-- rooted at dir; returns { key = ncalls }.
local function keys_of(dir, padding)
  lib.write(dir .. "/strat.lua", padding .. STRATEGY)
  os.execute("mkdir -p " .. lib.quote(dir .. "/lib/keymod"))
  lib.write(dir .. "/lib/keymod/calc.lua", padding .. MODULE)
  local saved_path = package.path
  package.path = dir .. "/lib/?.lua;" .. saved_path
  package.loaded["keymod.calc"] = nil
  local p = prof.new { mode = "cycles", root = dir }
  local strategy = assert(loadfile(dir .. "/strat.lua"))()
  p:names(strategy, "")
  p:start()
  local calc = require "keymod.calc"
  for _ = 1, 3 do strategy.handle_data({ n = 1 }) end
  pcall(strategy.on_bar) -- no call-site name: named after its field
  calc.work(10)
  p:stop()
  package.path = saved_path
  package.loaded["keymod.calc"] = nil
  local keys = {}
  for _, fn in ipairs(p:data().functions) do
    if not fn.key:match("^%[C%]") then keys[fn.key] = fn.ncalls end
  end
  return keys, p
end

local first_dir, second_dir = lib.tmpdir(), lib.tmpdir()
local before = keys_of(first_dir, "")
local after, p = keys_of(second_dir, ("-- an edit above\n"):rep(6))
local want = { ["strat.lua:handle_data"] = 3, ["strat.lua:helper"] = 3,
  ["strat.lua:on_bar"] = 1, ["keymod.calc:work"] = 1,
  ["keymod.calc:main chunk"] = 1 }
local function pick(keys)
  local out = {}
  for key in pairs(want) do out[key] = keys[key] end
  return out
end
t.is_deeply(pick(before), want, "keys: file-relative, module, field names")
t.is_deeply(pick(after), want,
  "the same keys after six lines above and a move to another directory")
local lines_moved = true
for _, fn in ipairs(p:data().functions) do
  if fn.key == "strat.lua:handle_data" then lines_moved = fn.line == 10 end
end
t.ok(lines_moved, "lines stay as information (handle_data now at line 10)")
local absolute = false
for key in pairs(after) do absolute = absolute or key:find("/tmp/", 1, true) end
t.ok(not absolute, "no key holds an absolute path")

-- C functions: the name the code calls them by, qualified.
local q = prof.new { mode = "cycles" }
q:start()
local _ = string.rep("x", 3) .. math.sqrt(4)
q:stop()
local c_keys = {}
for _, fn in ipairs(q:data().functions) do c_keys[fn.key] = fn.ncalls end
t.is(c_keys["[C]:string.rep"], 1, "[C]:string.rep")
t.is(c_keys["[C]:math.sqrt"], 1, "[C]:math.sqrt")
local bytes = q:btprof()
local back = assert(prof.load(bytes))
local survived = false
for _, fn in ipairs(back.functions) do
  survived = survived or fn.key == "[C]:math.sqrt"
end
t.ok(survived, "keys survive the .btprof round trip")

-- The summary's zones and "(unattributed)" add up to the run.
local z = prof.new { mode = "cycles" }
z:start()
z:zone_begin("strategy")
for _ = 1, 2000 do string.rep("y", 10) end
z:zone_begin("blotter")
prof._spin_ns(200000)
z:zone_end("blotter")
z:zone_end("strategy")
prof._spin_ns(200000)
z:stop()
local data = z:data()
local summary = profile.summary(data)
local sum = 0
for zone_name, self in summary:gmatch("\n(%S+)%s+%d*%s+([%d.]+)%s+[%d.]+%s+[%d.]+%%") do
  if zone_name ~= "zone" then sum = sum + tonumber(self) end
end
t.like(summary, "\n%(unattributed%)%s+[%d.]+", "an (unattributed) row")
t.ok(math.abs(sum - data.meta.profile_ns / 1e9) < 4e-6,
  string.format("zones + (unattributed) = the run (%.6f s vs %.6f s)", sum,
    data.meta.profile_ns / 1e9))
t.ok(data.meta.cpu_ns > 0 and data.meta.wall_ns >= data.meta.profile_ns,
  "cpu_ns recorded; the run in profile time is within wall time")
t.done_testing()
