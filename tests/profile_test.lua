-- profile_test.lua: btlua.profile reports and `btlua export`: the summary's
-- pstats columns, callgrind read by callgrind_annotate with the right call
-- counts, folded totals, speedscope's required fields, Chrome trace events,
-- the flame SVG, and refusal (exit 2) of truncated or corrupt profiles.
local t = require "tap"
local testlib = require "testlib"
local cjson = require "cjson"
local core = require "btlua.core"
local profile = require "btlua.profile"
local prof = core.prof

local dir = testlib.tmpdir()
local this_file = debug.getinfo(1, "S").source:sub(2)

local function g(n) if n > 0 then return g(n - 1) + 0 end prof._spin_ns(2e4) return 0 end
local function f() for _ = 1, 3 do g(2) end end
local function main() f() prof._spin_ns(5e4) end
local g_line = debug.getinfo(g, "S").linedefined
local f_line = debug.getinfo(f, "S").linedefined

local p = prof.new { mode = "cycles" }
p:start()
main()
p:stop()
local path = dir .. "/demo.btprof"
testlib.write(path, p:btprof { scenario = "demo", bars = 100 })
local data = assert(profile.load(path))
t.is(data.meta.scenario, "demo", "profile.load reads the file")
t.is(profile.label({ source = "a.lua", line = 3, name = "g" }), "a.lua:3(g)", "label")

-- summary
local summary = profile.summary(data)
t.like(summary, "^btlua profile: scenario demo %(profiler cycles%)\n", "summary header")
t.like(summary, "total calls: 15 %(9 primitive%)", "total calls")
t.like(summary, "\n      ncalls     tottime     percall     cumtime     percall "
  .. "filename:lineno%(function%)\n", "pstats columns")
t.like(summary, "\n         9/3 +[%d.]+ +[%d.]+ +[%d.]+ +[%d.]+ "
  .. this_file:gsub("%p", "%%%0") .. ":" .. g_line .. "%(g%)\n", "recursive ncalls as tot/prim")
t.like(summary, "Zones %(engine stages", "zone table")

-- callgrind, read back by callgrind_annotate
local cg_path = dir .. "/demo.callgrind"
testlib.write(cg_path, profile.callgrind(data))
local status, out = testlib.sh("callgrind_annotate --auto=no --threshold=100 --tree=caller "
  .. testlib.quote(cg_path))
t.is(status, 0, "callgrind_annotate accepts the file")
t.like(out, "Events recorded:%s+ns", "event ns")
local esc = this_file:gsub("%p", "%%%0")
t.like(out, "< " .. esc .. ":f:" .. f_line .. " %(3x%)", "f calls g 3 times")
t.like(out, "< " .. esc .. ":g:" .. g_line .. " %(6x%)", "g calls itself 6 times")
t.like(out, "< " .. esc .. ":g:" .. g_line .. " %(3x%)", "g calls _spin_ns 3 times")
t.like(out, "%*  " .. esc .. ":main:", "main listed")
t.like(out, "%*  %[C%]:_spin_ns", "C function listed")

-- folded (cycles: rebuilt from the call graph; totals = sum of self times)
local folded = profile.folded(data)
local folded_total, self_total = 0, 0
for count in folded:gmatch(" (%d+)\n") do folded_total = folded_total + tonumber(count) end
for _, fn in ipairs(data.functions) do self_total = self_total + fn.self_ns end
t.ok(math.abs(folded_total - self_total) <= #data.functions, "cycles folded total = sum of self ns ("
  .. folded_total .. " vs " .. self_total .. ")")
t.like(folded, "main %(.-%);f %(.-%);g %(.-%);_spin_ns %(%[C%]:0%) %d+\n", "call path folded")

-- a sampled profile: folded totals equal the sample count
local sp = prof.new { mode = "sample", interval_ms = 1 }
sp:start()
local t0 = core.hrtime()
local c0 = os.clock() -- 0.2 s of CPU, the sampler's clock
while os.clock() - c0 < 0.2 and core.hrtime() - t0 < 2e10 do main() end
sp:stop()
local sampled = assert(prof.load(sp:btprof { scenario = "sampled" }))
local samples = 0
for _, s in ipairs(sampled.samples) do samples = samples + s.count end
local sfolded, lines = 0, 0
for count in profile.folded(sampled):gmatch(" (%d+)\n") do
  sfolded, lines = sfolded + tonumber(count), lines + 1
end
t.ok(samples > 0, "samples: " .. samples)
t.is(sfolded, samples, "folded total = sample count")
t.like(profile.summary(sampled), "Ordered by: inclusive samples", "sampled summary")
t.like(profile.callgrind(sampled), "events: samples", "sampled callgrind")

-- speedscope: the schema's required fields
for _, case in ipairs { { "cycles", data }, { "sample", sampled } } do
  local doc = cjson.decode(profile.speedscope(case[2]))
  t.is(doc["$schema"], "https://www.speedscope.app/file-format-schema.json", case[1] .. ": $schema")
  t.ok(type(doc.shared) == "table" and type(doc.shared.frames) == "table", case[1] .. ": shared.frames")
  local named = true
  for _, frame in ipairs(doc.shared.frames) do if type(frame.name) ~= "string" then named = false end end
  t.ok(named, case[1] .. ": every frame has a name")
  local prof1 = doc.profiles[1]
  t.is(prof1.type, "sampled", case[1] .. ": sampled profile")
  t.ok(type(prof1.name) == "string" and prof1.unit == "nanoseconds", case[1] .. ": name, unit")
  t.is(#prof1.samples, #prof1.weights, case[1] .. ": samples and weights pair up")
  local sum, valid = 0, true
  for i, stack in ipairs(prof1.samples) do
    sum = sum + prof1.weights[i]
    for _, index in ipairs(stack) do
      if index < 0 or index >= #doc.shared.frames then valid = false end
    end
  end
  t.ok(valid, case[1] .. ": frame indices in range")
  t.is(prof1.startValue, 0, case[1] .. ": startValue")
  t.is(prof1.endValue, sum, case[1] .. ": endValue = total weight")
end

-- Chrome trace events
local trace = cjson.decode(profile.trace(data))
local complete, well_formed = 0, true
for _, event in ipairs(trace.traceEvents) do
  if event.ph == "X" then
    complete = complete + 1
    if type(event.name) ~= "string" or type(event.ts) ~= "number"
      or type(event.dur) ~= "number" or event.pid ~= 1 then well_formed = false end
  end
end
t.ok(complete >= 4 and well_formed, "trace: complete events with name/ts/dur/pid")

-- flame graph SVG
local svg = profile.flame_svg(data)
t.like(svg, "^<%?xml", "svg: XML")
local opened = select(2, svg:gsub("<g class=\"f\"", ""))
local closed = select(2, svg:gsub("</g>", ""))
t.ok(opened > 3 and opened == closed, "svg: one group per frame (" .. opened .. ")")
t.like(svg, "<title>g %(.-%) %([%d.]+ ms, [%d.]+%%%)</title>", "svg: hover titles")
t.like(svg, "addEventListener%(\"click\"", "svg: click to zoom")
t.like(svg, "</svg>\n$", "svg: closed")

-- memory report
local mp = prof.new { mode = "memory" }
mp:start()
local keep = {}
for i = 1, 500 do keep[i] = string.rep("y", 2000) .. i end
mp:stop()
local mem_text = profile.memory_report(mp:data { scenario = "mem" })
t.like(mem_text, "^btlua memory profile: scenario mem\n", "memory header")
t.like(mem_text, "\npeak RSS: +[%d.]+ MiB\n", "peak RSS line")
t.like(mem_text, "RSS timeline %(%d+ points%)", "timeline")
t.like(profile.memory_report(data), "No memory profile in a 'cycles' run", "no memory data")
local files = profile.reports(mp:data())
t.ok(files["_summary.txt"] and files["_memory.txt"] and files[".callgrind"]
  and files[".folded"] and files["_flame.svg"], "reports() gives every file")

-- repeats merged
local merged = profile.merge_runs { data, data, data }
t.is(#merged.runs, 3, "merge_runs: one entry per run")
t.is(merged.meta.runs, 3, "merge_runs: meta.runs")
t.is(merged.functions, data.functions, "merge_runs: run 1 in full")
local reloaded = prof.load(prof.encode(merged))
t.is(#reloaded.runs, 3, "merged runs survive encoding")
t.is(reloaded.runs[2].zones.strategy, data.runs[1].zones.strategy, "run zone totals")

-- --profiler all: one file with calls, samples and memory
local mem_data = mp:data { scenario = "demo" }
local all = profile.merge { data, sampled, mem_data, data }
t.is(#all.runs, 2, "merge: runs of the first profile's mode only")
t.is(all.meta.profilers, "cycles+sample+memory", "merge: modes listed")
t.is(#all.samples, #sampled.samples, "merge: samples taken over")
local remapped = true
for i, s in ipairs(all.samples) do
  for k, index in ipairs(s.stack) do
    local want = sampled.functions[sampled.samples[i].stack[k]]
    local got = all.functions[index]
    if want.key ~= got.key then remapped = false end
  end
end
t.ok(remapped, "merge: sample stacks point at the same functions")
t.is(all.memory.alloc_bytes, mem_data.memory.alloc_bytes, "merge: memory taken over")
t.like(profile.summary(all), "inclusive samples", "merged summary shows both")
local merged_bytes = prof.merge { prof.encode(data), prof.encode(sampled), prof.encode(mem_data) }
local back = assert(prof.load(merged_bytes))
t.ok(#back.samples > 0 and back.memory ~= nil and back.functions[1].ncalls ~= nil,
  "core.prof.merge of .btprof bytes")
t.like(profile.summary(p), "scenario demo", "reports take the Profiler, with its last meta")

-- btlua export
local code, stdout = testlib.run { "export", path, "--format", "callgrind" }
t.is(code, 0, "export exits 0")
t.is(stdout, profile.callgrind(data), "export writes the callgrind text")
local out_file = dir .. "/x.folded"
code = testlib.run { "export", path, "--format", "folded", "--output", out_file }
t.is(testlib.read(out_file), profile.folded(data), "export --output")
local bytes = testlib.read(path)
local cut = dir .. "/cut.btprof"
testlib.write(cut, bytes:sub(1, math.floor(#bytes / 2)))
local err
code, _, err = testlib.run { "export", cut, "--format", "svg" }
t.is(code, 2, "truncated profile: exit 2")
t.like(err, "cut%.btprof: truncated %.btprof file", "message names the file")
local bad = dir .. "/bad.btprof"
testlib.write(bad, bytes:sub(1, 100) .. string.char((bytes:byte(101) + 1) % 256)
  .. bytes:sub(102))
code, _, err = testlib.run { "export", bad, "--format", "folded" }
t.is(code, 2, "corrupt profile: exit 2")
t.like(err, "bad%.btprof: corrupt %.btprof file", "corruption named")
code, _, err = testlib.run { "export", dir .. "/none.btprof", "--format", "folded" }
t.is(code, 2, "missing profile: exit 2")
code, _, err = testlib.run { "export", path, "--format", "pdf" }
t.is(code, 2, "unknown format: exit 2")
t.like(err, "unknown format 'pdf'", "format named")

os.execute("rm -rf " .. testlib.quote(dir))
t.done_testing()
