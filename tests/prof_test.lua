-- prof_test.lua: btlua.core.prof: exact call counts and a consistent call
-- tree on a workload of known shape (recursion, tail call, pcall unwinding,
-- a coroutine yielding mid-call), accuracy on C spins of measured length,
-- the .btprof round trip and its refusal of damaged files, sampling and
-- memory modes, Lua-side zones.
local t = require "tap"
local core = require "btlua.core"
local prof = core.prof

local jit_build = type(rawget(_G, "jit")) == "table"
local this_file = debug.getinfo(1, "S").source:sub(2)

-- The workload. Line numbers matter: functions are found by line.
local function g(n) if n > 0 then return g(n - 1) + 0 end return 0 end
local function leaf() return 1 end
local function tail_caller(x) return leaf(x) end
local function f() for _ = 1, 3 do g(2) end local r = tail_caller(1) return r end
local function bad() error("boom") end
local function mid() bad() end
local function co_body(a) local x = coroutine.yield(a) leaf() return x end
local function workload()
  f()
  pcall(mid)
  local co = coroutine.create(co_body)
  coroutine.resume(co, 1)
  coroutine.resume(co, 2)
end

local function line_of(fn) return debug.getinfo(fn, "S").linedefined end

local function index_by(data)
  local by_line, by_name = {}, {}
  for i, fn in ipairs(data.functions) do
    if fn.source == this_file then by_line[fn.line] = i end
    if fn.source == "[C]" then by_name[fn.name] = i end
  end
  return by_line, by_name
end

-- cycles: exact counts ----------------------------------------------------
do
  local p = prof.new { mode = "cycles" }
  t.is(p:mode(), "cycles", "mode")
  p:start()
  workload()
  p:stop()
  t.ok(not p:running(), "stopped")
  local data = p:data()
  local by_line, by_c = index_by(data)
  local fns = data.functions
  local function fn(func) return fns[by_line[line_of(func)]] end
  local function calls(func) local e = fn(func) return e and e.ncalls, e and e.primcalls end
  t.is_deeply({ calls(f) }, { 1, 1 }, "f called once")
  t.is_deeply({ calls(g) }, { 9, 3 }, "g: 9 calls, 3 primitive (recursion)")
  local gi, fi = by_line[line_of(g)], by_line[line_of(f)]
  t.is_deeply({ fns[gi].callers[fi].ncalls, fns[gi].callers[fi].primcalls },
    { 3, 3 }, "f -> g: 3 calls")
  t.is_deeply({ fns[gi].callers[gi].ncalls, fns[gi].callers[gi].primcalls },
    { 6, 3 }, "g -> g: 6 calls, 3 primitive (cProfile's rule)")
  t.is_deeply({ calls(tail_caller) }, { 1, 1 }, "tail caller once")
  t.is_deeply({ calls(leaf) }, { 2, 2 }, "leaf: tail-called once + once in the coroutine")
  local wi = by_line[line_of(workload)]
  t.ok(fn(leaf).callers[wi] == nil and fn(leaf).callers[fi] ~= nil,
    "a tail call ends the caller: leaf is shown called by f")
  t.is_deeply({ calls(mid) }, { 1, 1 }, "mid once")
  t.is_deeply({ calls(bad) }, { 1, 1 }, "bad once")
  t.is(fns[by_c.pcall].ncalls, 1, "pcall once")
  t.is(fns[by_c.error].ncalls, 1, "error once")
  t.ok(fns[by_c.pcall].cum_ns >= fn(mid).cum_ns, "pcall cum covers the unwound frames")
  t.is(fns[by_c.resume].ncalls, 2, "resume twice")
  t.is(fns[by_c.yield].ncalls, 1, "yield once")
  t.is_deeply({ calls(co_body) }, { 1, 1 }, "coroutine body once")
  t.ok(fn(co_body).callers[by_c.resume] ~= nil, "coroutine body called by resume")
  t.ok(fns[by_c.yield].callers[by_line[line_of(co_body)]] ~= nil, "yield called by the body")
  t.is(fn(workload).ncalls, 1, "workload once")

  -- The tree: a caller's cum covers what it called; self <= cum.
  local sound, why = true, nil
  for i, callee in ipairs(fns) do
    if callee.self_ns < 0 or (callee.primcalls == callee.ncalls and callee.self_ns > callee.cum_ns) then
      sound, why = false, "self of " .. callee.name
    end
    for caller_index, edge in pairs(callee.callers) do
      if caller_index ~= i and fns[caller_index].cum_ns < edge.cum_ns then
        sound, why = false, fns[caller_index].name .. " -> " .. callee.name
      end
    end
  end
  t.ok(sound, "caller cum >= callee's cum from that caller; self <= cum " .. (why or ""))
  local sums = {}
  for _, callee in ipairs(fns) do
    for caller_index, edge in pairs(callee.callers) do
      sums[caller_index] = (sums[caller_index] or 0) + edge.cum_ns
    end
  end
  local covered = true
  for i, total in pairs(sums) do
    local recursive = fns[i].callers[i] ~= nil
    if not recursive and fns[i].cum_ns < total then covered = false end
  end
  t.ok(covered, "a caller's cum >= the sum over its callees from it")
  -- the calling-context tree agrees with the flat profile
  local tree_calls, tree_self = {}, {}
  for _, node in ipairs(data.tree) do
    tree_calls[node.fn] = (tree_calls[node.fn] or 0) + node.calls
    tree_self[node.fn] = (tree_self[node.fn] or 0) + node.self_ns
  end
  local agree = true
  for i, entry in ipairs(fns) do
    if (tree_calls[i] or 0) ~= entry.ncalls then agree = false end
    if math.abs((tree_self[i] or 0) - entry.self_ns) > #data.tree then agree = false end
  end
  t.ok(agree, "tree: calls and self per function add up to the flat profile")
  local paths = {}
  for i, node in ipairs(data.tree) do
    local names, at = {}, i
    while at > 0 do
      table.insert(names, 1, fns[data.tree[at].fn].line)
      at = data.tree[at].parent
    end
    paths[table.concat(names, ">")] = node.calls
  end
  local gl, fl, wl = line_of(g), line_of(f), line_of(workload)
  t.is(paths[wl .. ">" .. fl .. ">" .. gl], 3, "tree: workload>f>g 3 calls")
  t.is(paths[wl .. ">" .. fl .. ">" .. gl .. ">" .. gl .. ">" .. gl], 3,
    "tree: workload>f>g>g>g 3 calls (recursion as paths)")
  t.is(data.meta.profiler, "cycles", "meta.profiler")
  t.ok(data.meta.tsc_hz > 0 and data.meta.wall_ns > 0, "meta clock and wall")
  t.is(#data.zones, 9, "nine zones")
  t.is(data.zones[4].name, "strategy", "zone order")
  t.is(#data.runs, 1, "one run")
end

-- cycles: edge cases (dead coroutine, generator, deep recursion, start and
-- stop inside nested calls) ---------------------------------------------
do
  local function dies() coroutine.yield(1) error("inside") end
  local function gen(n) for i = 1, n do coroutine.yield(i) end end
  local function deep(n) if n == 0 then return 0 end return 1 + deep(n - 1) end
  local p = prof.new { mode = "cycles" }
  local function inner_start() p:start() end
  inner_start() -- starts two frames down; their returns are ignored
  local co = coroutine.create(dies)
  coroutine.resume(co)
  local ok_resume = coroutine.resume(co)
  local sum = 0
  for v in coroutine.wrap(function() gen(4) end) do sum = sum + v end
  deep(5000)
  local function inner_stop() p:stop() end
  inner_stop() -- stops with frames open: they are closed at stop
  local data = p:data()
  local by_line = index_by(data)
  local function calls(func)
    local e = data.functions[by_line[line_of(func)]]
    return e and e.ncalls, e and e.primcalls
  end
  t.is(ok_resume, false, "the coroutine died")
  t.is_deeply({ calls(dies) }, { 1, 1 }, "dead coroutine's body counted once")
  t.is_deeply({ calls(gen) }, { 1, 1 }, "generator body once")
  t.is(sum, 10, "generator ran")
  t.is_deeply({ calls(deep) }, { 5001, 1 }, "deep recursion: 5001 calls, 1 primitive")
  t.is_deeply({ calls(inner_stop) }, { 1, 1 }, "the stopping function counted")
  local open = false
  for _, fn in ipairs(data.functions) do
    if fn.cum_ns < 0 or fn.self_ns < 0 then open = true end
  end
  t.ok(not open, "every frame closed with sane times")
  local shown = false
  for _, fn in ipairs(data.functions) do
    if fn.source == "[C]" and fn.name == "stop" then shown = true end
  end
  t.ok(not shown, "the profiler's own stop() is hidden")
end

-- odd shapes: nested and failing coroutines, yield across pcall, C calling
-- Lua, metamethods, closures made in a loop (one entry per prototype)
do
  local function odd()
    local inner = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
    local outer = coroutine.wrap(function() for _ = 1, 3 do coroutine.yield(inner()) end end)
    for _ = 1, 3 do outer() end
    pcall(coroutine.wrap(function() error("x") end))
    local co = coroutine.create(function()
      pcall(function() coroutine.yield(1) error("after") end)
      return 2
    end)
    coroutine.resume(co)
    coroutine.resume(co)
    string.gsub("abcabc", "%w", function(c) return c:upper() end)
    local list = {}
    for i = 1, 50 do list[i] = (i * 7919) % 101 end
    table.sort(list, function(a, b) return a > b end)
    local obj = setmetatable({}, { __index = function(_, k) return k end })
    local _ = obj.x
    for i = 1, 100 do (function() return i end)() end
    for i = 1, 50 do coroutine.wrap(function() return i end)() end
  end
  local p = prof.new { mode = "cycles" }
  p:start()
  odd()
  odd()
  p:stop()
  local data = p:data()
  local loop_closures, wraps, sane = 0, 0, true
  for _, fn in ipairs(data.functions) do
    if fn.source == this_file and fn.ncalls == 200 then loop_closures = loop_closures + 1 end
    if fn.ncalls == fn.primcalls and fn.self_ns > fn.cum_ns then sane = false end
  end
  t.is(loop_closures, 1, "100 closures x 2 runs: one entry, 200 calls")
  t.ok(sane, "self <= cum everywhere")
  t.ok(prof.load(p:btprof()) ~= nil, "odd profile encodes")
end

-- accuracy: C spins of measured length ---------------------------------
do
  local truth = { outer = 0, inner = 0 }
  local function inner() truth.inner = truth.inner + prof._spin_ns(1e6) end
  local function outer()
    truth.outer = truth.outer + prof._spin_ns(2e6)
    inner()
  end
  local ratios_spin, ratios_inner, ratios_outer_self = {}, {}, {}
  for round = 1, 5 do
    truth.outer, truth.inner = 0, 0
    local p = prof.new { mode = "cycles" }
    p:start()
    for _ = 1, 3 do outer() end
    p:stop()
    local data = p:data()
    local by_line, by_c = index_by(data)
    local fns = data.functions
    ratios_spin[round] = fns[by_c._spin_ns].self_ns / (truth.outer + truth.inner)
    ratios_inner[round] = fns[by_line[line_of(inner)]].cum_ns / truth.inner
    ratios_outer_self[round] = fns[by_line[line_of(outer)]].self_ns
  end
  local function median(list)
    table.sort(list)
    return list[math.floor((#list + 1) / 2)]
  end
  local r_spin, r_inner = median(ratios_spin), median(ratios_inner)
  t.ok(r_spin > 0.9 and r_spin < 1.1, ("spin self within 10%% of measured (%.4f)"):format(r_spin))
  t.ok(r_inner > 0.9 and r_inner < 1.1, ("inner cum within 10%% (%.4f)"):format(r_inner))
  t.ok(median(ratios_outer_self) < 0.1 * 9e6,
    ("outer's own self is small (%d ns of ~9 ms)"):format(median(ratios_outer_self)))
end

-- .btprof round trip and damaged files ------------------------------------
do
  local p = prof.new { mode = "cycles" }
  p:start()
  workload()
  p:stop()
  local data = p:data { scenario = "minute", params = { window = 20, k = 2 } }
  local bytes = p:btprof { scenario = "minute", params = { window = 20, k = 2 } }
  t.like(bytes, "^BTPROF\r\n", "magic")
  local back, err = prof.load(bytes)
  t.ok(back, "decodes " .. tostring(err))
  t.is(back.meta.scenario, "minute", "meta.scenario")
  t.is(back.meta.params.window, 20, "meta.params.window")
  t.is(back.meta.profiler, "cycles", "meta.profiler")
  t.is(#back.functions, #data.functions, "same function count")
  local same = true
  for i, fn in ipairs(data.functions) do
    local other = back.functions[i]
    if other.name ~= fn.name or other.ncalls ~= fn.ncalls or other.self_ns ~= fn.self_ns
      or other.source ~= fn.source or other.line ~= fn.line then same = false end
    for caller, edge in pairs(fn.callers) do
      if not other.callers[caller] or other.callers[caller].ncalls ~= edge.ncalls then same = false end
    end
  end
  t.ok(same, "functions and call edges survive the round trip")
  t.is(back.zones[4].name, "strategy", "zones survive")
  t.is(#back.runs, 1, "runs survive")
  t.is(prof.encode(back), prof.encode(back), "encoding is deterministic for one table")

  local cut, msg = prof.load(bytes:sub(1, #bytes - 30), "x.btprof")
  t.is(cut, nil, "truncated file refused")
  t.like(msg, "^x%.btprof: truncated %.btprof file", "truncation named")
  local flipped = bytes:sub(1, 200) .. string.char((bytes:byte(201) + 1) % 256) .. bytes:sub(202)
  local bad, msg2 = prof.load(flipped, "y.btprof")
  t.is(bad, nil, "corrupt file refused")
  t.like(msg2, "^y%.btprof: corrupt %.btprof file %(checksum mismatch in section", "corruption named")
  local _, msg3 = prof.load("/nonexistent/z.btprof")
  t.like(msg3, "z%.btprof: cannot open", "missing file")
  local dir = os.tmpname()
  local file = io.open(dir, "wb") file:write("hello, not a profile") file:close()
  local _, msg4 = prof.load(dir)
  t.like(msg4, "not a %.btprof file", "foreign file")
  os.remove(dir)
end

-- zones driven from Lua ----------------------------------------------------
do
  local p = prof.new { mode = "none", zones = true }
  p:start()
  for _ = 1, 5 do
    p:zone_begin("strategy")
    p:zone_begin("data")
    p:zone_end("data")
    p:zone_end("strategy")
  end
  p:stop()
  local zones = p:data().zones
  t.is(zones[4].count, 5, "strategy zone count")
  t.is(zones[2].count, 5, "data zone count")
  t.ok(zones[4].incl_ns >= zones[2].incl_ns, "nesting")
  t.error_like(function() p:zone_begin("nope") end, "unknown zone name", "bad zone name")
end

-- sampling ------------------------------------------------------------------
do
  local function busy(n) local s = 0 for i = 1, n do s = s + i % 7 end return s end
  local p = prof.new { mode = "sample", interval_ms = 1 }
  p:start()
  local t0 = core.hrtime()
  -- 0.3 s of CPU (the sampler's clock), however loaded the machine is
  local c0 = os.clock()
  while os.clock() - c0 < 0.3 and core.hrtime() - t0 < 2e10 do busy(10000) end
  p:stop()
  local data = p:data()
  local total, in_busy = 0, 0
  local bl = line_of(busy)
  for _, s in ipairs(data.samples) do
    total = total + s.count
    local leaf_fn = data.functions[s.stack[#s.stack]]
    if leaf_fn and leaf_fn.line == bl then in_busy = in_busy + s.count end
  end
  t.ok(total > 0, "samples taken: " .. total)
  -- LuaJIT inlines busy() into the loop's trace: its samples land on the caller.
  t.ok(in_busy > 0 or jit_build, "busy() seen as a leaf (" .. in_busy .. " of " .. total .. ")")
  t.is(data.sample_interval_ns, 1000000, "interval recorded")
  t.is(data.meta.profiler, "sample", "meta.profiler")
  t.is(data.meta.samples, total, "meta.samples: the samples really taken")
  t.ok(data.meta.sample_rate_hz > 0, "their rate per CPU-second is recorded")
  t.is(data.meta.sample_timer, jit_build and "LuaJIT profiler (ITIMER_PROF)"
    or "thread CPU-time timer", "and the timer that took them")
  local back = prof.load(p:btprof())
  t.is(#back.samples, #data.samples, "samples survive the round trip")
end

-- sample: engine time while C code runs goes to the zone that ran (LuaJIT
-- delivers its samples later, in Lua code: the zone is noted at the tick).
do
  local p = prof.new { mode = "sample", interval_ms = 1 }
  p:start()
  p:zone_begin("fills")
  prof._spin_ns(6e7)
  p:zone_end("fills")
  p:stop()
  local in_fills, with_stack = 0, 0
  for _, s in ipairs(p:data().samples) do
    if #s.stack == 0 and s.zone == "fills" then in_fills = in_fills + s.count end
    if #s.stack > 0 then with_stack = with_stack + s.count end
  end
  -- At least 90% of the samples go to the zone (a tick or two around the
  -- zone's edges may land in Lua; were C time charged to Lua, most would).
  t.ok(in_fills > 0 and with_stack <= math.max(2, in_fills / 10),
    ("C time in a zone is the zone's: "
    .. "%d samples in fills, %d on Lua stacks"):format(in_fills, with_stack))
end

-- memory --------------------------------------------------------------------
-- Exact attribution: concat_n allocates n strings of 2000 + digits bytes
-- itself (the table is sized before), and string.rep's big buffers are
-- charged to string.rep, never to its caller.
do
  local n = 1000
  local keep = {}
  for i = 1, n do keep[i] = false end
  local a, b = ("a"):rep(1000), ("b"):rep(1000)
  local function concat_n()
    for i = 1, n do
      keep[i] = a .. b .. i
      if i % 100 == 0 then string.rep("y", 50000 + i) end -- distinct (LuaJIT interns)
    end
  end
  local p = prof.new { mode = "memory", interval_ms = 1 }
  p:start()
  concat_n()
  p:stop()
  local data = p:data()
  local mem = data.memory
  local content = 0 -- the bytes of the strings concat_n made
  for i = 1, n do content = content + #keep[i] end
  t.ok(mem.alloc_bytes >= content, "allocated bytes counted (" .. mem.alloc_bytes .. ")")
  t.ok(mem.peak_lua_bytes >= content, "peak Lua bytes")
  t.ok(#mem.timeline >= 1 and mem.peak_rss > 0, "RSS timeline")
  local by_key = {}
  for index, bytes in pairs(mem.by_function) do
    by_key[data.functions[index].key] = bytes
  end
  local own = by_key["prof_test:concat_n"] or 0 -- tests/ is on package.path
  t.ok(own >= content and own <= content * 1.05,
    ("concat_n charged its own %d bytes within 5%% (%d, %.4f)"):format(
      content, own, own / content))
  local rep = by_key["[C]:string.rep"] or 0
  t.ok(rep >= 10 * 50000 and rep <= 10 * 50600 * 2.2,
    ("string.rep charged its 10 x 50000-byte results (%d)"):format(rep))
  local back = prof.load(p:btprof())
  t.is(back.memory.alloc_bytes, mem.alloc_bytes, "memory survives the round trip")
  keep = nil
end

-- LuaJIT: cycles runs interpreted and leaves the JIT as it found it
if jit_build then
  local p = prof.new { mode = "cycles" }
  p:start()
  local during = jit.status()
  p:stop()
  t.is(during, false, "JIT off while cycles profiling")
  t.is(jit.status(), true, "JIT back on after")
  jit.off()
  local q = prof.new { mode = "cycles" }
  q:start()
  q:stop()
  t.is(jit.status(), false, "a JIT that was off stays off")
  jit.on()
end

t.error_like(function() prof.new { mode = "bogus" } end, "invalid option", "bad mode")
t.done_testing()
