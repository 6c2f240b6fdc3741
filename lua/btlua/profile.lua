-- btlua.profile: loads .btprof files and turns a profile table into the
-- reports and exports: summary (pstats-like), memory, callgrind, folded
-- stacks, speedscope JSON, Chrome trace events and a flame graph SVG.
--
-- The profile table (core.prof: p:data(), prof.load):
--   meta      scenario, params, version, lua_flavour, build_type, host, cpu,
--             tsc_hz, start_time, wall_ns, total_ticks, bars,
--             results_digest, profiler, run, cpu_s and wall_s (the
--             run's thread CPU and wall time, s), cpu_s_runs (every
--             merged run's cpu_s, as text), ab_order (btlua ab's merge);
--             cpu_ns (the run thread's CPU time, user+system), offcpu_ns
--             (wall time the thread was off the CPU, removed from every
--             time), profile_ns (the run in profile time: what zones +
--             "(unattributed)" add up to), time_clock ("tsc-oncpu": TSC
--             with off-CPU gaps removed)
--   functions { key, name, source, line, ncalls, primcalls, self_ns, cum_ns,
--               zone_ns (the part of self_ns in engine zones),
--               callers = { [caller_index] = { ncalls, primcalls, self_ns,
--               cum_ns } } }; key is the function's identity
--               ("btlua.strategies.mean_reversion:handle_data",
--               "[C]:string.rep"; engine/profkey.h), name/source/line are
--               information
--   zones     { name, count, self_ns, incl_ns }
--   memory    (memory mode) peak_rss, mean_rss, alloc_bytes, free_bytes,
--             peak_lua_bytes, by_zone, by_function, timeline {t_ns, rss}
--   samples   { stack = {indices root..leaf}, zone, count },
--             sample_interval_ns
--   tree      (cycles) calling contexts, parents first: { parent = index
--             (0: a root), fn = function index, calls, self_ns }
--   runs      { wall_ns, cpu_ns, profile_ns, total_ticks,
--               zones = {name = incl_ns},
--               functions = {[key] = self_ns} } per repeat
--
-- Stacks for folded/flame/speedscope: a `sample` profile folds its samples
-- (weight = sample count; engine-zone samples become a "[zone]" frame). A
-- `cycles` profile records its calling-context tree (every distinct call
-- path, its calls and self time), so its stacks are exact, in ns (paths
-- deeper than 128 frames are cut there). A profile with neither (an older
-- file) gets stacks rebuilt from the call graph: a callee's self time split
-- over its callers in proportion to the time each spent in it (as
-- gprof2dot/flameprof do for cProfile data).
local profile = {}

local core = require "btlua.core"

local floor, max = math.floor, math.max
local format, concat = string.format, table.concat

-- profile.load(path_or_bytes) -> profile table | nil, message (a missing,
-- foreign, truncated or corrupt file; the message names the file).
function profile.load(path)
  local data, err = core.prof.load(path)
  if not data then return nil, err end
  return data
end

-- "source:line(name)": the pstats label (information, not identity: the
-- identity is fn.key).
function profile.label(fn)
  return format("%s:%d(%s)", fn.source, fn.line, fn.name)
end
local label = profile.label

local function round(x) return floor(x + 0.5) end

-- Every report takes the profile table or a running/stopped Profiler
-- (then its p:data(), with the meta last given to it).
local function as_table(p)
  if type(p) == "userdata" then return p:data() end
  return p
end

local function total_calls(p)
  local calls, prim = 0, 0
  for _, fn in ipairs(p.functions or {}) do
    calls, prim = calls + (fn.ncalls or 0), prim + (fn.primcalls or 0)
  end
  return calls, prim
end

-- Does the profile hold call counts (cycles) / samples (sample)? A merged
-- `--profiler all` profile holds both.
local function has_calls(p)
  for _, fn in ipairs(p.functions or {}) do
    if (fn.ncalls or 0) > 0 then return true end
  end
  return false
end

local function has_samples(p)
  return #(p.samples or {}) > 0
end

local function wall_ns(p)
  return (p.meta or {}).wall_ns or 0
end

-- Per function (index): self and inclusive sample counts, and the total.
local function sample_counts(p)
  local self, incl, total = {}, {}, 0
  for _, s in ipairs(p.samples or {}) do
    total = total + s.count
    local seen = {}
    for depth, index in ipairs(s.stack) do
      if not seen[index] then
        seen[index] = true
        incl[index] = (incl[index] or 0) + s.count
      end
      if depth == #s.stack then self[index] = (self[index] or 0) + s.count end
    end
  end
  return self, incl, total
end
profile.sample_counts = sample_counts

-- Summary ---------------------------------------------------------------------

local function header_lines(p, out)
  local meta = p.meta or {}
  local calls, prim = total_calls(p)
  out[#out + 1] = format("btlua profile: scenario %s (profiler %s)",
    tostring(meta.scenario or "?"), tostring(meta.profiler or "?"))
  local line = format("wall time: %.6f s", wall_ns(p) / 1e9)
  if meta.cpu_ns then
    line = line .. format("   cpu time: %.6f s", meta.cpu_ns / 1e9)
  end
  if meta.profiler == "cycles" then
    line = line .. format("   total calls: %d", calls)
    if prim ~= calls then line = line .. format(" (%d primitive)", prim) end
  end
  if meta.bars then
    line = line .. format("   bars: %s", tostring(meta.bars))
  end
  out[#out + 1] = line
  out[#out + 1] = format("btlua %s, %s, %s build; %s; clock %.3f GHz",
    tostring(meta.version or "?"), tostring(meta.lua_flavour or "?"),
    tostring(meta.build_type or "?"), tostring(meta.cpu or "?"),
    (meta.tsc_hz or 0) / 1e9)
  if meta.time_clock == "tsc-oncpu" then
    out[#out + 1] = format("times: on-CPU (%s ticks with the %.6f s the "
      .. "thread was off the CPU removed, and the profiler's own cost); "
      .. "wall time: CLOCK_MONOTONIC_RAW; cpu time: the thread's user+system",
      tostring(meta.clock or "?"), (meta.offcpu_ns or 0) / 1e9)
  elseif meta.time_clock then
    out[#out + 1] = format("times: %s", tostring(meta.time_clock))
  end
  out[#out + 1] = ""
end

local function calls_cell(fn)
  if fn.primcalls ~= fn.ncalls then
    return format("%d/%d", fn.ncalls, fn.primcalls)
  end
  return format("%d", fn.ncalls)
end

local function function_table(p, out, top)
  local order = {}
  for i, fn in ipairs(p.functions or {}) do
    if (fn.ncalls or 0) > 0 then order[#order + 1] = i end
  end
  local fns = p.functions
  table.sort(order, function(a, b)
    local x, y = fns[a], fns[b]
    if x.cum_ns ~= y.cum_ns then return x.cum_ns > y.cum_ns end
    if x.self_ns ~= y.self_ns then return x.self_ns > y.self_ns end
    return a < b
  end)
  out[#out + 1] = format("Ordered by: cumulative time (top %d of %d functions; "
    .. "times in seconds)", math.min(top, #order), #order)
  out[#out + 1] = ""
  out[#out + 1] = format("%12s %11s %11s %11s %11s %s", "ncalls", "tottime",
    "percall", "cumtime", "percall", "filename:lineno(function)")
  for rank = 1, math.min(top, #order) do
    local fn = fns[order[rank]]
    out[#out + 1] = format("%12s %11.6f %11.6f %11.6f %11.6f %s",
      calls_cell(fn), fn.self_ns / 1e9, fn.self_ns / 1e9 / fn.ncalls,
      fn.cum_ns / 1e9, fn.cum_ns / 1e9 / max(fn.primcalls, 1), label(fn))
  end
end

local function sample_table(p, out, top)
  local self, incl, total = sample_counts(p)
  local order = {}
  for index in pairs(incl) do order[#order + 1] = index end
  table.sort(order, function(a, b)
    if incl[a] ~= incl[b] then return incl[a] > incl[b] end
    local x, y = self[a] or 0, self[b] or 0
    if x ~= y then return x > y end
    return a < b
  end)
  local interval = p.sample_interval_ns or 0
  out[#out + 1] = format("Ordered by: inclusive samples (top %d of %d "
    .. "functions; %d samples every %.3f ms)", math.min(top, #order), #order,
    total, interval / 1e6)
  local meta = p.meta or {}
  if meta.sample_rate_hz then -- what the sampler really did
    out[#out + 1] = format("Sampler: %s, asked every %.3f ms; took %d "
      .. "samples, %.0f per CPU-second (%.3f ms apart)",
      tostring(meta.sample_timer), interval / 1e6, meta.samples or total,
      meta.sample_rate_hz, meta.sample_rate_hz > 0
        and 1e3 / meta.sample_rate_hz or 0)
  end
  out[#out + 1] = ""
  out[#out + 1] = format("%10s %7s %10s %7s %s", "self", "self%", "total",
    "total%", "filename:lineno(function)")
  for rank = 1, math.min(top, #order) do
    local index = order[rank]
    local s, t = self[index] or 0, incl[index]
    out[#out + 1] = format("%10d %6.2f%% %10d %6.2f%% %s", s,
      100 * s / max(total, 1), t, 100 * t / max(total, 1),
      label(p.functions[index]))
  end
  -- Samples taken in engine zones (C, outside Lua), by zone.
  local by_zone, zone_order = {}, {}
  for _, s in ipairs(p.samples or {}) do
    if #s.stack == 0 and s.zone then
      if not by_zone[s.zone] then zone_order[#zone_order + 1] = s.zone end
      by_zone[s.zone] = (by_zone[s.zone] or 0) + s.count
    end
  end
  for _, zone in ipairs(zone_order) do
    local count = by_zone[zone]
    local share = 100 * count / max(total, 1)
    out[#out + 1] = format("%10d %6.2f%% %10d %6.2f%% [%s] (engine, "
      .. "outside Lua)", count, share, count, share, zone)
  end
end

-- Zones and an "(unattributed)" row: the run's time in no zone, so the
-- self column adds up to the run (meta.profile_ns; older files: wall).
local function zone_table(p, out)
  local meta = p.meta or {}
  local run = meta.profile_ns or wall_ns(p)
  local total = max(run, 1)
  out[#out + 1] = ""
  out[#out + 1] = format("Zones (engine stages; %s seconds; self adds up "
    .. "to the run)", meta.profile_ns and "on-CPU" or "wall")
  out[#out + 1] = ""
  out[#out + 1] = format("%-14s %12s %12s %12s %8s", "zone", "count",
    "self", "inclusive", "% run")
  local entered, zoned = 0, 0
  for _, zone in ipairs(p.zones or {}) do
    if zone.count > 0 then
      entered = entered + 1
      zoned = zoned + zone.self_ns
      out[#out + 1] = format("%-14s %12d %12.6f %12.6f %7.2f%%", zone.name,
        zone.count, zone.self_ns / 1e9, zone.incl_ns / 1e9,
        100 * zone.incl_ns / total)
    end
  end
  if entered == 0 then out[#out + 1] = "(no zone was entered)" end
  local rest = max(run - zoned, 0)
  out[#out + 1] = format("%-14s %12s %12.6f %12.6f %7.2f%%", "(unattributed)",
    "", rest / 1e9, rest / 1e9, 100 * rest / total)
end

-- S_summary.txt: header, top `top` (20) functions pstats-style, zones.
function profile.summary(p, top)
  p = as_table(p)
  top = top or 20
  local out = {}
  header_lines(p, out)
  if has_calls(p) then
    function_table(p, out, top)
    if has_samples(p) then
      out[#out + 1] = ""
      sample_table(p, out, top)
    end
  elseif has_samples(p) then
    sample_table(p, out, top)
  else
    out[#out + 1] = format("No Lua function profile in a '%s' run.",
      tostring((p.meta or {}).profiler))
  end
  zone_table(p, out)
  out[#out + 1] = ""
  return concat(out, "\n")
end

-- Memory ---------------------------------------------------------------------

local function mib(bytes) return format("%.2f MiB", (bytes or 0) / 2 ^ 20) end

-- S_memory.txt: peak/mean RSS, Lua heap, bytes by zone and function, RSS
-- timeline (at most `points` evenly spaced points, the peak always kept).
function profile.memory_report(p, points)
  p = as_table(p)
  points = points or 40
  local out = {}
  local meta, mem = p.meta or {}, p.memory
  out[#out + 1] = format("btlua memory profile: scenario %s",
    tostring(meta.scenario or "?"))
  out[#out + 1] = format("wall time: %.6f s", wall_ns(p) / 1e9)
  out[#out + 1] = ""
  if not mem then
    out[#out + 1] = format("No memory profile in a '%s' run (use --profiler "
      .. "memory).", tostring(meta.profiler))
    out[#out + 1] = ""
    return concat(out, "\n")
  end
  out[#out + 1] = format("peak RSS:        %s", mib(mem.peak_rss))
  out[#out + 1] = format("mean RSS:        %s", mib(mem.mean_rss))
  out[#out + 1] = format("peak Lua heap:   %s", mib(mem.peak_lua_bytes))
  out[#out + 1] = format("allocated:       %s", mib(mem.alloc_bytes))
  out[#out + 1] = format("freed:           %s", mib(mem.free_bytes))
  out[#out + 1] = ""
  out[#out + 1] = format("%-12s %16s", "zone", "allocated bytes")
  for _, zone in ipairs(p.zones or {}) do
    local bytes = (mem.by_zone or {})[zone.name] or 0
    if bytes > 0 then out[#out + 1] = format("%-12s %16d", zone.name, bytes) end
  end
  local order = {}
  for index, bytes in pairs(mem.by_function or {}) do
    order[#order + 1] = { index = index, bytes = bytes }
  end
  table.sort(order, function(a, b)
    if a.bytes ~= b.bytes then return a.bytes > b.bytes end
    return a.index < b.index
  end)
  out[#out + 1] = ""
  out[#out + 1] = "Allocations by Lua function (sampled every 16 KiB, "
    .. "charged to the running function)"
  out[#out + 1] = format("%16s %s", "bytes", "filename:lineno(function)")
  for rank = 1, math.min(20, #order) do
    local fn = p.functions[order[rank].index]
    out[#out + 1] = format("%16d %s", order[rank].bytes,
      fn and label(fn) or "?")
  end
  local timeline = mem.timeline or {}
  out[#out + 1] = ""
  out[#out + 1] = format("RSS timeline (%d points)", #timeline)
  out[#out + 1] = format("%12s %14s", "t (s)", "RSS")
  local step = max(1, #timeline / points)
  local last = 0
  for i = 1, #timeline, step do
    local at = floor(i)
    if at ~= last then
      last = at
      out[#out + 1] = format("%12.3f %14s", timeline[at].t_ns / 1e9,
        mib(timeline[at].rss))
    end
  end
  out[#out + 1] = ""
  return concat(out, "\n")
end

-- Stacks ---------------------------------------------------------------------

local function frame_name(fn)
  return format("%s (%s:%d)", fn.name, fn.source, fn.line)
end

-- Callees of each function: callees[caller] = { {callee, cum_ns}, ... },
-- and each callee's total time over non-recursive callers.
local function call_graph(p)
  local callees, into = {}, {}
  for callee, fn in ipairs(p.functions or {}) do
    for caller, edge in pairs(fn.callers or {}) do
      if caller ~= callee then
        callees[caller] = callees[caller] or {}
        local list = callees[caller]
        list[#list + 1] = { callee = callee, cum = edge.cum_ns }
        into[callee] = (into[callee] or 0) + edge.cum_ns
      end
    end
  end
  for _, list in pairs(callees) do
    table.sort(list, function(a, b) return a.callee < b.callee end)
  end
  return callees, into
end

-- Weighted stacks of a cycles profile (see the file comment): a list of
-- { frames = {function indices root..leaf}, weight = ns }.
local function graph_stacks(p)
  local fns = p.functions or {}
  local callees, into = call_graph(p)
  local stacks, path, on_path = {}, {}, {}
  local total = 0
  for _, fn in ipairs(fns) do total = total + fn.self_ns end
  local cutoff = total * 1e-5
  local function walk(index, share)
    if #path >= 64 then return end
    path[#path + 1] = index
    on_path[index] = (on_path[index] or 0) + 1
    local fn = fns[index]
    local self = fn.self_ns * share
    if self >= 0.5 then
      local frames = {}
      for i = 1, #path do frames[i] = path[i] end
      stacks[#stacks + 1] = { frames = frames, weight = round(self) }
    end
    for _, call in ipairs(callees[index] or {}) do
      if not on_path[call.callee] and (into[call.callee] or 0) > 0 then
        local child = share * call.cum / into[call.callee]
        if fns[call.callee].cum_ns * child >= cutoff then
          walk(call.callee, child)
        end
      end
    end
    on_path[index] = on_path[index] - 1
    if on_path[index] == 0 then on_path[index] = nil end
    path[#path] = nil
  end
  for index, fn in ipairs(fns) do
    local has_caller = false
    for caller in pairs(fn.callers or {}) do
      if caller ~= index then has_caller = true end
    end
    if not has_caller and (fn.ncalls or 0) > 0 then walk(index, 1) end
  end
  return stacks
end

-- Exact weighted stacks from the calling-context tree (weight = self ns).
local MAX_STACK = 128

local function tree_stacks(p)
  local tree = p.tree
  local depth, at_depth = {}, {}
  local weight = {}
  for i, node in ipairs(tree) do
    depth[i] = node.parent > 0 and depth[node.parent] + 1 or 1
    -- a node deeper than MAX_STACK gives its time to its ancestor there
    at_depth[i] = depth[i] <= MAX_STACK and i or at_depth[node.parent]
    local owner = at_depth[i]
    weight[owner] = (weight[owner] or 0) + node.self_ns
  end
  local stacks = {}
  for i = 1, #tree do
    if (weight[i] or 0) > 0 then
      local frames, node = {}, i
      while node > 0 do
        frames[#frames + 1] = tree[node].fn
        node = tree[node].parent
      end
      local n = #frames
      for k = 1, math.floor(n / 2) do
        frames[k], frames[n + 1 - k] = frames[n + 1 - k], frames[k]
      end
      stacks[#stacks + 1] = { frames = frames, weight = weight[i] }
    end
  end
  return stacks
end

-- Weighted stacks of a sample profile: weight = sample count; the zone of
-- a sample outside Lua (or inside the strategy zone) is the root frame.
local function sample_stacks(p)
  local stacks = {}
  for _, s in ipairs(p.samples or {}) do
    local frames = {}
    if s.zone then frames[1] = "[" .. s.zone .. "]" end
    for _, index in ipairs(s.stack) do frames[#frames + 1] = index end
    stacks[#stacks + 1] = { frames = frames, weight = s.count }
  end
  return stacks
end

-- The weighted stacks behind folded/flame/speedscope/trace, with the unit
-- of their weights ("samples" or "ns").
function profile.stacks(p)
  p = as_table(p)
  if has_samples(p) then return sample_stacks(p), "samples" end
  if #(p.tree or {}) > 0 then return tree_stacks(p), "ns" end
  return graph_stacks(p), "ns"
end

local function frame_text(p, frame)
  if type(frame) == "string" then return frame end
  return frame_name(p.functions[frame])
end

-- Folded stacks ("a;b;c weight" per line, sorted): the flamegraph.pl input.
function profile.folded(p)
  p = as_table(p)
  local stacks = profile.stacks(p)
  local merged, keys = {}, {}
  for _, stack in ipairs(stacks) do
    local names = {}
    for i, frame in ipairs(stack.frames) do
      names[i] = frame_text(p, frame):gsub(";", ":")
    end
    local key = concat(names, ";")
    if not merged[key] then keys[#keys + 1] = key end
    merged[key] = (merged[key] or 0) + stack.weight
  end
  table.sort(keys)
  local out = {}
  for _, key in ipairs(keys) do
    if merged[key] > 0 then
      out[#out + 1] = format("%s %d", key, merged[key])
    end
  end
  return concat(out, "\n") .. (#out > 0 and "\n" or "")
end

-- Callgrind -----------------------------------------------------------------

-- The callgrind format (callgrind_annotate, KCachegrind): one event "ns"
-- (or "samples"); per function its self cost and, per callee, the call
-- count and the inclusive cost of those calls.
function profile.callgrind(p)
  p = as_table(p)
  local meta = p.meta or {}
  local fns = p.functions or {}
  local sampled = not has_calls(p) and has_samples(p)
  local unit = sampled and "samples" or "ns"
  local self, edges = {}, {}
  if sampled then
    for _, s in ipairs(p.samples or {}) do
      local stack = s.stack
      if #stack > 0 then
        self[stack[#stack]] = (self[stack[#stack]] or 0) + s.count
      end
      for depth = 2, #stack do
        local caller, callee = stack[depth - 1], stack[depth]
        edges[caller] = edges[caller] or {}
        local e = edges[caller][callee] or { calls = 0, cost = 0 }
        e.calls, e.cost = e.calls + s.count, e.cost + s.count
        edges[caller][callee] = e
      end
    end
  else
    for callee, fn in ipairs(fns) do
      self[callee] = fn.self_ns
      for caller, edge in pairs(fn.callers or {}) do
        edges[caller] = edges[caller] or {}
        edges[caller][callee] = { calls = edge.ncalls, cost = edge.cum_ns }
      end
    end
  end
  local total = 0
  for _, cost in pairs(self) do total = total + cost end
  local out = {
    "# callgrind format",
    "version: 1",
    format("creator: btlua %s", tostring(meta.version or "?")),
    format("cmd: btlua %s", tostring(meta.scenario or "?")),
    "part: 1",
    "positions: line",
    format("events: %s", unit),
    format("summary: %d", round(total)),
    "",
  }
  local names, files = {}, {}
  local function name_ref(index)
    if names[index] then return format("(%d)", index) end
    names[index] = true
    local fn = fns[index]
    -- "name:line" tells apart same-named functions of one file.
    if fn.line > 0 then return format("(%d) %s:%d", index, fn.name, fn.line) end
    return format("(%d) %s", index, fn.name)
  end
  local next_file = 0
  local function file_ref(source)
    if files[source] then return format("(%d)", files[source]) end
    next_file = next_file + 1
    files[source] = next_file
    return format("(%d) %s", next_file, source)
  end
  for index, fn in ipairs(fns) do
    out[#out + 1] = "fl=" .. file_ref(fn.source)
    out[#out + 1] = "fn=" .. name_ref(index)
    out[#out + 1] = format("%d %d", fn.line, round(self[index] or 0))
    local callees = {}
    for callee in pairs(edges[index] or {}) do
      callees[#callees + 1] = callee
    end
    table.sort(callees)
    for _, callee in ipairs(callees) do
      local e, target = edges[index][callee], fns[callee]
      out[#out + 1] = "cfl=" .. file_ref(target.source)
      out[#out + 1] = "cfn=" .. name_ref(callee)
      out[#out + 1] = format("calls=%d %d", e.calls, target.line)
      out[#out + 1] = format("%d %d", fn.line, round(e.cost))
    end
    out[#out + 1] = ""
  end
  return concat(out, "\n")
end

-- Speedscope ----------------------------------------------------------------

-- The speedscope file format, one "sampled" profile of the weighted stacks
-- (https://www.speedscope.app/file-format-schema.json).
function profile.speedscope(p)
  p = as_table(p)
  local cjson = require "cjson"
  local meta = p.meta or {}
  local stacks, unit = profile.stacks(p)
  local frames, frame_of = {}, {}
  local function frame_index(frame)
    local key = type(frame) == "string" and frame or ("#" .. frame)
    if frame_of[key] == nil then
      local entry
      if type(frame) == "string" then
        entry = { name = frame }
      else
        local fn = p.functions[frame]
        entry = { name = fn.name, file = fn.source, line = fn.line }
      end
      frames[#frames + 1] = entry
      frame_of[key] = #frames - 1
    end
    return frame_of[key]
  end
  local samples, weights, total = {}, {}, 0
  for _, stack in ipairs(stacks) do
    local list = {}
    for i, frame in ipairs(stack.frames) do list[i] = frame_index(frame) end
    samples[#samples + 1] = list
    weights[#weights + 1] = stack.weight
    total = total + stack.weight
  end
  if unit == "samples" then
    -- Sample weights in ns, so speedscope shows times.
    local interval = p.sample_interval_ns or 0
    if interval > 0 then
      for i = 1, #weights do weights[i] = weights[i] * interval end
      total, unit = total * interval, "ns"
    end
  end
  local empty = setmetatable({}, cjson.empty_array_mt or {})
  if #samples == 0 then samples, weights = empty, empty end
  local document = {
    ["$schema"] = "https://www.speedscope.app/file-format-schema.json",
    shared = { frames = #frames > 0 and frames or empty },
    profiles = { {
      type = "sampled",
      name = format("%s (%s)", tostring(meta.scenario or "btlua"),
        tostring(meta.profiler or "?")),
      unit = unit == "ns" and "nanoseconds" or "none",
      startValue = 0,
      endValue = total,
      samples = samples,
      weights = weights,
    } },
    name = tostring(meta.scenario or "btlua"),
    activeProfileIndex = 0,
    exporter = "btlua " .. tostring(meta.version or "?"),
  }
  return cjson.encode(document)
end

-- Chrome trace events -------------------------------------------------------

-- Trace Event Format for chrome://tracing / Perfetto. A profile holds
-- totals, not a recording, so the call tree is laid out as a flame chart
-- (each path once, children side by side inside their parent, durations =
-- time on that path); zones are a second track; the RSS timeline (memory
-- mode) is a counter with its real times. ts/dur in microseconds.
function profile.trace(p)
  p = as_table(p)
  local cjson = require "cjson"
  local meta = p.meta or {}
  local events = {
    { name = "process_name", ph = "M", pid = 1, tid = 1,
      args = { name = "btlua " .. tostring(meta.scenario or "") } },
    { name = "thread_name", ph = "M", pid = 1, tid = 1,
      args = { name = "Lua functions (aggregated)" } },
    { name = "thread_name", ph = "M", pid = 1, tid = 2,
      args = { name = "engine zones (aggregated)" } },
  }
  local scale = 1
  local stacks, unit = profile.stacks(p)
  if unit == "samples" then scale = (p.sample_interval_ns or 1e6) end
  -- A tree of the weighted stacks:
  -- node = { children = {key -> node}, order, total, frame }
  local root = { children = {}, order = {}, total = 0 }
  for _, stack in ipairs(stacks) do
    local node = root
    node.total = node.total + stack.weight
    for _, frame in ipairs(stack.frames) do
      local key = tostring(frame)
      local child = node.children[key]
      if not child then
        child = { children = {}, order = {}, total = 0, frame = frame }
        node.children[key] = child
        node.order[#node.order + 1] = key
      end
      child.total = child.total + stack.weight
      node = child
    end
  end
  local function emit(node, start_ns)
    local at = start_ns
    for _, key in ipairs(node.order) do
      local child = node.children[key]
      local dur = child.total * scale
      events[#events + 1] = { name = frame_text(p, child.frame), ph = "X",
        pid = 1, tid = 1, ts = at / 1e3, dur = dur / 1e3, cat = "lua" }
      emit(child, at)
      at = at + dur
    end
  end
  emit(root, 0)
  local at = 0
  for _, zone in ipairs(p.zones or {}) do
    if zone.count > 0 then
      events[#events + 1] = { name = zone.name, ph = "X", pid = 1, tid = 2,
        ts = at / 1e3, dur = zone.self_ns / 1e3, cat = "zone",
        args = { count = zone.count, incl_ns = zone.incl_ns } }
      at = at + zone.self_ns
    end
  end
  for _, point in ipairs((p.memory or {}).timeline or {}) do
    events[#events + 1] = { name = "RSS", ph = "C", pid = 1,
      ts = point.t_ns / 1e3, args = { bytes = point.rss } }
  end
  local other = {}
  for key, value in pairs(meta) do
    if type(value) ~= "table" then other[key] = value end
  end
  return cjson.encode({ traceEvents = events, displayTimeUnit = "ns",
    otherData = other })
end

-- Flame graph SVG -------------------------------------------------------------

-- A self-contained SVG flame graph (btlua.flame): labels drawn as SVG text,
-- engine stages under `run`, a <title> on every frame for hovering; its
-- script adds click to zoom and search.
function profile.flame_svg(p, width)
  return require("btlua.flame").svg(as_table(p), { width = width })
end

local function copy(t)
  local out = {}
  for key, value in pairs(t or {}) do out[key] = value end
  return out
end

-- profile.merge(list) -> one profile of a scenario's runs (repeats, and
-- with --profiler all one run per mode): the first profile in full; `runs`
-- = runs[1] of every profile of the same profiler mode (so timing
-- statistics never mix modes), meta.runs = their number; samples and
-- memory taken from the first profile that has them, their function
-- indices mapped onto this profile's functions. Inputs are not changed.
function profile.merge(list)
  assert(type(list) == "table" and #list >= 1, "merge: a list of profiles")
  local base = copy(list[1])
  base.meta = copy(list[1].meta)
  base.functions = copy(list[1].functions)
  local mode = base.meta.profiler
  base.runs = {}
  for _, p in ipairs(list) do
    if (p.meta or {}).profiler == mode then
      base.runs[#base.runs + 1] = (p.runs or {})[1] or { wall_ns =
        (p.meta or {}).wall_ns, total_ticks = (p.meta or {}).total_ticks,
        zones = {}, functions = {} }
    end
  end
  base.meta.runs = #base.runs
  local index_of = {}
  for i, fn in ipairs(base.functions) do index_of[fn.key] = i end
  local function import(p)
    local remap = {}
    for i, fn in ipairs(p.functions or {}) do
      local key = fn.key
      if not index_of[key] then
        base.functions[#base.functions + 1] = { key = key, name = fn.name,
          source = fn.source, line = fn.line, ncalls = 0, primcalls = 0,
          self_ns = 0, cum_ns = 0, callers = {} }
        index_of[key] = #base.functions
      end
      remap[i] = index_of[key]
    end
    return remap
  end
  local modes = { mode }
  for _, p in ipairs(list) do
    if not has_samples(base) and has_samples(p) then
      local remap = import(p)
      base.samples = {}
      for i, s in ipairs(p.samples) do
        local stack = {}
        for k, index in ipairs(s.stack) do stack[k] = remap[index] end
        base.samples[i] = { stack = stack, zone = s.zone, count = s.count }
      end
      base.sample_interval_ns = p.sample_interval_ns
      modes[#modes + 1] = (p.meta or {}).profiler
    end
    if not base.memory and p.memory then
      local remap = import(p)
      base.memory = copy(p.memory)
      base.memory.by_function = {}
      for index, bytes in pairs(p.memory.by_function or {}) do
        base.memory.by_function[remap[index]] = bytes
      end
      modes[#modes + 1] = (p.meta or {}).profiler
    end
  end
  if #modes > 1 then base.meta.profilers = concat(modes, "+") end
  return base
end

-- One profile of N repeats (btlua run --repeat N): the first run in full,
-- with `runs` listing every run's totals (each profile's runs[1]) and
-- meta.runs = N. The inputs are not changed.
function profile.merge_runs(list)
  assert(type(list) == "table" and #list >= 1, "merge_runs: a list of profiles")
  local merged = {}
  for key, value in pairs(list[1]) do merged[key] = value end
  local meta = {}
  for key, value in pairs(list[1].meta or {}) do meta[key] = value end
  meta.runs = #list
  merged.meta = meta
  merged.runs = {}
  for i, p in ipairs(list) do
    merged.runs[i] = (p.runs or {})[1] or { wall_ns = (p.meta or {}).wall_ns,
      total_ticks = (p.meta or {}).total_ticks, zones = {}, functions = {} }
  end
  return merged
end

-- All the per-scenario report files of a profile, by file suffix:
-- { ["_summary.txt"] = text, ["_memory.txt"] = ..., [".callgrind"] = ...,
--   [".folded"] = ..., ["_flame.svg"] = ... }.
function profile.reports(p)
  p = as_table(p)
  local files = {
    ["_summary.txt"] = profile.summary(p),
    [".callgrind"] = profile.callgrind(p),
    [".folded"] = profile.folded(p),
    ["_flame.svg"] = profile.flame_svg(p),
  }
  if p.memory then files["_memory.txt"] = profile.memory_report(p) end
  return files
end

return profile
