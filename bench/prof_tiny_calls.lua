-- prof_tiny_calls.lua: does a change that adds many tiny calls read as its
-- real cost in cycles mode? `before` sums inline, `after` calls a tiny
-- function per element. Prints the after/before ratio of the bare runs'
-- thread CPU time (the truth), and of the cycles profile's on-CPU run time
-- (meta.profile_ns: hook cost and off-CPU time removed; what btlua compare
-- judges by) and raw CPU time (hooks included). Medians of N rounds.
--   build/btlua bench/prof_tiny_calls.lua [N]
local core = require "btlua.core"
local prof = core.prof
local rounds = tonumber(arg and arg[1]) or 5

local function add(a, b) return a + b end
local function before()
  local s = 0
  for i = 1, 3e6 do s = s + i % 3 end
  return s
end
local function after()
  local s = 0
  for i = 1, 3e6 do s = add(s, i % 3) end
  return s
end

local function median(list)
  table.sort(list)
  return list[math.floor((#list + 1) / 2)]
end

local function cpu_of(fn) -- bare: the thread's CPU ns (a 'none' profiler)
  local p = prof.new { mode = "none", zones = false }
  p:start() fn() p:stop()
  return p:data().meta.cpu_ns
end
local function cycles_of(fn)
  local p = prof.new { mode = "cycles" }
  p:start() fn() p:stop()
  local meta = p:data().meta
  return meta.profile_ns, meta.cpu_ns
end

local bare, oncpu, raw = {}, {}, {}
for i = 1, rounds do
  bare[i] = cpu_of(after) / cpu_of(before)
  local on_a, raw_a = cycles_of(after)
  local on_b, raw_b = cycles_of(before)
  oncpu[i], raw[i] = on_a / on_b, raw_a / raw_b
end
print(string.format("after/before: bare CPU %.3f   cycles on-CPU (profile_ns) "
  .. "%.3f   cycles raw CPU %.3f   (medians of %d)", median(bare),
  median(oncpu), median(raw), rounds))
