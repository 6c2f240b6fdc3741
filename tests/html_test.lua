-- html_test.lua: the HTML report without a browser: the decimation rule
-- (Lua and C agree), core.chart, the flame graph's frames (labels as SVG
-- text, stages under run, children never wider than their parent, no
-- absolute paths), and index.html of a real run (exact counts, nothing
-- external), `btlua report --html` giving the same page.
local t = require "tap"
local lib = require "testlib"
local core = require "btlua.core"
local svg = require "btlua.svg"
local flame = require "btlua.flame"
local html = require "btlua.html"

-- Decimation: every value while n <= 2 * columns.
t.is_deeply(svg.decimate({ 5, 3, 9 }, 2), { 1, 2, 3 }, "decimate: short series kept")
-- A rising series: each column keeps its first (lowest) and last (highest).
local rising = {}
for i = 1, 1000 do rising[i] = i end
t.is_deeply(svg.decimate(rising, 4), { 1, 250, 251, 500, 501, 750, 751, 1000 },
  "decimate: min and max per column, in time order")
-- A falling column keeps the max first; a flat column keeps one point.
t.is_deeply(svg.decimate({ 9, 8, 7, 6, 1, 1, 1, 1, 1, 1 }, 2), { 1, 5, 6 },
  "decimate: falling column max then min; flat column one point")
-- Every column's range is drawn: a spike in a long series survives.
local spiky = {}
for i = 1, 5000 do spiky[i] = 100 + (i % 7) end
spiky[2345] = 1000
local kept = svg.kept(spiky, 300)
local spike_kept = false
for _, i in ipairs(kept.index) do if i == 2345 then spike_kept = true end end
t.ok(spike_kept, "decimate: a one-bar spike is kept")
t.ok(#kept.index <= 600, "decimate: at most 2 points per column (" .. #kept.index .. ")")

-- core.chart.series: the same points from CSV text, in C.
local rows = { "time,cash,value" }
for i = 1, 5000 do rows[#rows + 1] = string.format("t%d,0,%s", i, spiky[i]) end
local csv = table.concat(rows, "\n") .. "\n"
local from_c = core.chart.series(csv, 3, 300)
local from_lua = svg.series(spiky, 300)
t.is(from_c.rows, 5000, "chart.series: rows")
t.is_deeply(from_c.equity, from_lua.equity, "chart.series: equity = svg.series")
t.is_deeply(from_c.drawdown, from_lua.drawdown, "chart.series: drawdown = svg.series")
local decimals = core.chart.series("t,c,v\na,0,96117.77\nb,0,-0.1\nc,0,1e3\n", 3, 10)
t.is_deeply(decimals.equity.value, { 96117.77, -0.1, 1000 }, "chart.series: numbers as tonumber reads them")
t.is_deeply(core.chart.fields(csv, 1, { 4999, 2, 1 }), { "t1", "t2", [4999] = "t4999" },
  "chart.fields")
t.is_deeply(core.chart.rows(csv, 1, { t7 = true, t4000 = true, nope = true }),
  { t7 = 7, t4000 = 4000 }, "chart.rows")

-- Flame graph of a synthetic cycles profile: main -> run [C] (self 600,
-- with zones data 100 + fills 200) -> handle_data (self 300).
local abs = "/somewhere/absolute/strategies/s.lua"
local p = {
  meta = { scenario = "demo", profiler = "cycles", wall_ns = 1000 },
  functions = {
    { name = "main", source = abs, line = 1, ncalls = 1, primcalls = 1,
      self_ns = 100, cum_ns = 1000, callers = {} },
    { name = "run", source = "[C]", line = 0, ncalls = 1, primcalls = 1,
      self_ns = 600, cum_ns = 900, callers = {} },
    { name = "handle_data", source = abs, line = 15, ncalls = 3,
      primcalls = 3, self_ns = 300, cum_ns = 300, callers = {} },
  },
  zones = { { name = "data", count = 3, self_ns = 100, incl_ns = 100 },
    { name = "fills", count = 3, self_ns = 200, incl_ns = 200 },
    { name = "strategy", count = 3, self_ns = 350, incl_ns = 350 } },
  tree = { { parent = 0, fn = 1, calls = 1, self_ns = 100 },
    { parent = 1, fn = 2, calls = 1, self_ns = 600 },
    { parent = 2, fn = 3, calls = 3, self_ns = 300 } },
}
local root = flame.tree(p)
local run_node = root.children["#1"].children["#2"]
t.is(run_node.total, 900, "flame: run keeps its width")
t.is(run_node.self, 300, "flame: run's self less its stages")
t.is(run_node.children["[data]"].total, 100, "flame: [data] under run")
t.is(run_node.children["[fills]"].total, 200, "flame: [fills] under run")
t.is(run_node.children["[strategy]"], nil, "flame: no [strategy] frame (handle_data is it)")
local picture = flame.svg(p, { width = 1010 })
local frames, labelled, wider = 0, 0, {}
for g in picture:gmatch('<g class="f[^>]*>.-</g>') do
  frames = frames + 1
  local text = g:match("<text[^>]*>([^<]*)</text>")
  if text and text ~= "" then labelled = labelled + 1 end
  wider[#wider + 1] = { x = tonumber(g:match('data%-x="([%d.]+)"')),
    w = tonumber(g:match('data%-w="([%d.]+)"')),
    depth = tonumber(g:match('data%-depth="(%d+)"')) }
end
t.is(frames, 6, "flame: all, main, run, [data], [fills], handle_data")
t.is(labelled, 6, "flame: every frame wide enough has its label as SVG text")
t.like(picture, '<text x="[%d.]+" y="%d+">main %(/somewhere/absolute/strategies/s%.lua:1%)</text>',
  "flame: label text (a path outside the tree stays as given)")
t.like(picture, ">run %[C%]</text>", "flame: C functions marked [C]")
t.like(picture, "<title>handle_data %(.-:15%) %(0%.000 ms, 30%.00%%%)</title>",
  "flame: hover title with time and share")
local fits = true
for _, parent in ipairs(wider) do
  local sum = 0
  for _, child in ipairs(wider) do
    if child.depth == parent.depth + 1 and child.x >= parent.x - 1e-6
      and child.x + child.w <= parent.x + parent.w + 1e-3 then
      sum = sum + child.w
    end
  end
  if sum > parent.w + 1e-3 then fits = false end
end
t.ok(fits, "flame: the children of a frame never exceed it")
t.is(flame.fit("handle_data", 30), "h..", "fit: 3 characters: 1 + ..")
t.is(flame.fit("handle_data", 10), "", "fit: too narrow, no text")
t.is(flame.fit("run", 200), "run", "fit: whole name")
t.is(flame.short_source(core.home .. "/lua/btlua/backtest.lua"),
  "lua/btlua/backtest.lua", "short_source: relative to the tree")
t.is(html.relative("/a/b/profiles/latest", "/a/b/lua/x.lua"), "../../lua/x.lua",
  "relative link from the output directory")

-- Differential flame graph: `after` is p with handle_data twice as slow
-- (300 -> 600 ns) and main's self time halved (100 -> 50 ns).
local after = { meta = p.meta, zones = p.zones, functions = p.functions,
  tree = { { parent = 0, fn = 1, calls = 1, self_ns = 50 },
    { parent = 1, fn = 2, calls = 1, self_ns = 600 },
    { parent = 2, fn = 3, calls = 3, self_ns = 600 } } }
local diff = flame.svg(after, { before = p, width = 1010 })
t.like(diff, '<title>handle_data %(.-%) %(0%.001 ms, 48%.00%%%), %+100%.0%% vs before</title>'
  .. '<rect [^>]* fill="rgb%(245,60,60%)"', "diff flame: slower frame, full red")
t.like(diff, '<title>all %(0%.001 ms, 100%.00%%%), %+25%.0%% vs before</title>'
  .. '<rect [^>]* fill="rgb%(245,147,147%)"', "diff flame: +25% is half red")

-- comparison.html from a synthetic model (the compare code fills one).
local model = { before = "main", after = "branch", scenarios = {
  { name = "minute", verdict = "slower", summary = "cpu time +12.0% [+9.1%, +14.8%]",
    same_work = true, before_profile = p, after_profile = after,
    functions = {
      { name = "handle_data", before = 3e8, after = 6e8, delta_pct = 100,
        ci = { 95.5, 104.5 }, p = 0.0002, significant = true },
      { name = "order", before = 1e6, after = 1.01e6, delta_pct = 1,
        ci = { -2, 4 }, p = 0.41, significant = false } } },
  { name = "daily", verdict = "~", summary = "no significant change",
    same_work = false, functions = {} } } }
local comparison = html.comparison(model)
t.like(comparison, "^<!DOCTYPE html>", "comparison: HTML")
t.like(comparison, "<title>btlua comparison: main vs branch</title>", "comparison: title")
local verdicts = comparison:match('<table class="verdicts">(.-)</table>') or ""
t.is(select(2, verdicts:gsub("<tr>", "")), 3, "comparison: verdicts first, one row per scenario")
t.like(verdicts, '<td class="bad">slower</td><td class="where">cpu time %+12%.0%% %[%+9%.1%%, %+14%.8%%%]</td>',
  "comparison: verdict and summary")
t.like(comparison, '<td class="name">handle_data</td><td>300%.0 ms</td><td>600%.0 ms</td>'
  .. '<td class="bad">%+100%.0%%</td><td>%[%+95%.5%%, %+104%.5%%%]</td><td>0%.0002</td>',
  "comparison: before/after row with interval and p")
t.like(comparison, '<td class="same">%+1%.0%% ~</td>', "comparison: not significant: ~")
t.like(comparison, "did not do the same work", "comparison: different work flagged")
t.is(select(2, comparison:gsub('<svg version="1%.1" class="flame"', "")), 1,
  "comparison: one differential flame graph (minute)")
t.is(comparison:match("https?://[%w./-]*"), "http://www.w3.org/2000/svg",
  "comparison: no URL but the SVG namespace")

-- index.html of a real (small) run.
local dir = lib.tmpdir()
local status = lib.run { "run", "--scenario", "minute", "--profiler", "all",
  "--set", "data.synthetic.assets=2",
  "--set", "data.synthetic.end=2024-01-01T08:00",
  "--output-dir", dir, "-q" }
t.is(status, 0, "small minute run")
local page = lib.read(dir .. "/index.html") or ""
t.like(page, "^<!DOCTYPE html>", "index.html written by the run")
local equity_rows = select(2, (lib.read(dir .. "/minute_equity.csv") or "")
  :gsub("\n", "")) - 1
t.is(equity_rows, 1440, "1440 bars in the equity file")
t.like(page, 'class="equity%-line" data%-points="1440" data%-bars="1440"',
  "equity path: one point per bar (1440 <= 2 x 866 columns)")
local path = page:match('<path d="([^"]*)" class="equity%-line"') or ""
t.is(select(2, path:gsub("[ML]", "")), 1440, "equity path has 1440 points")
t.is(select(2, page:gsub('<section id="scenario%-', "")), 1, "one scenario section")
t.like(page, '<a href="#scenario%-minute">minute</a>', "scenario linked")
for _, title in ipairs({ "Equity and drawdown", "Engine zones %(self time%)",
  "Top functions", "Memory", "Flame graph" }) do
  t.like(page, "<h3>" .. title, "section: " .. title:gsub("%%", ""))
end
-- (a run this short may take no sample: then the modes are cycles+memory)
t.like(page, "<dt>Profiler</dt><dd>cycles%+[%a+]*memory</dd>", "profiler modes")
t.like(page, "<dt>Fills</dt><dd>%d+</dd>", "fills as an integer")
t.is(page:match("https?://[%w./-]*") , "http://www.w3.org/2000/svg",
  "no URL but the SVG namespace")
t.ok(not page:find("<script src", 1, true) and not page:find("<img", 1, true)
  and not page:find("<link rel=\"stylesheet\"", 1, true), "nothing loaded from elsewhere")
t.ok(not page:find('"' .. core.home, 1, true)
  and not page:find(">" .. core.home, 1, true)
  and not page:find("(" .. core.home, 1, true), "no absolute path in the page")
t.like(page, '<a href="%.%./[^"]*lua/btlua/backtest%.lua">lua/btlua/backtest%.lua:%d+</a>',
  "functions link to their source (relative)")
os.remove(dir .. "/index.html")
status = lib.run { "report", "--html", dir }
t.is(status, 0, "btlua report --html DIR")
t.is(lib.read(dir .. "/index.html"), page, "report --html writes the same page")
status = lib.run { "report", "--html", dir .. "/missing" }
t.is(status, 2, "report --html: a missing directory is bad input")
os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
