-- prof_preempt.lua: do function self times hold on a busy machine? A
-- ground-truth workload: `light` and `heavy` do the same loop, heavy three
-- times as long (true self-time ratio 3.0), called alternately. Profiled in
-- cycles mode with the off-CPU correction on (default) and off (plain TSC
-- wall, the old behaviour); prints the heavy/light ratio of each of N runs
-- and their median. Run it quiet, then with CPU hogs on every core:
--   build/btlua bench/prof_preempt.lua [N]
--   bench/with_hogs build/btlua bench/prof_preempt.lua [N]
local core = require "btlua.core"
local prof = core.prof
local rounds = tonumber(arg and arg[1]) or 5

-- The loop is inline in each (no callee takes their self time).
local function light()
  local s = 0
  for i = 1, 2000 do s = s + i % 7 end
  return s
end
local function heavy()
  local s = 0
  for i = 1, 6000 do s = s + i % 7 end
  return s
end
local function workload()
  for _ = 1, 4000 do light() heavy() end
end

local function ratio(offcpu)
  local p = prof.new { mode = "cycles", offcpu = offcpu }
  p:start()
  workload()
  p:stop()
  local self = {}
  for _, fn in ipairs(p:data().functions) do self[fn.name] = fn.self_ns end
  local meta = p:data().meta
  return self.heavy / self.light, meta.offcpu_ns / 1e6,
    meta.wall_ns / 1e6, meta.cpu_ns / 1e6
end

local unpack = table.unpack or unpack -- LuaJIT

local function median(list)
  local copy = { unpack(list) }
  table.sort(copy)
  return copy[math.floor((#copy + 1) / 2)]
end

local on, off = {}, {}
for i = 1, rounds do
  local r_on, removed, wall, cpu = ratio(true)
  local r_off = ratio(false)
  on[i], off[i] = r_on, r_off
  print(string.format("run %d: corrected %.3f (%.1f ms off-CPU removed; "
    .. "wall %.1f ms, cpu %.1f ms)   uncorrected %.3f", i, r_on, removed,
    wall, cpu, r_off))
end
print(string.format("median heavy/light (true 3.0): corrected %.3f "
  .. "[%.3f..%.3f]   uncorrected %.3f [%.3f..%.3f]", median(on),
  math.min(unpack(on)), math.max(unpack(on)), median(off),
  math.min(unpack(off)), math.max(unpack(off))))
