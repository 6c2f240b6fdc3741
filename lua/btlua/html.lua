-- btlua.html: index.html, the run at a glance: one self-contained page (no
-- network, no script needed to read it) with, per scenario, the headline
-- numbers, the equity curve and drawdown, the engine zones, the top
-- functions, the memory timeline and the flame graph. Built from a run's
-- output files (S_results.json, S_equity.csv, S_fills.csv, S.btprof).
local html = {}

local svg = require "btlua.svg"
local flame = require "btlua.flame"

local format, concat = string.format, table.concat
local floor, max = math.floor, math.max
local escape = svg.escape

-- Fills are marked on the equity curve when there are at most this many.
html.MAX_FILL_MARKS = 200
-- Rows of the top functions table.
html.TOP_FUNCTIONS = 15
-- Width of the charts, px.
html.WIDTH = 960

local read = require("btlua.util").read_file

-- S_equity.csv (time,cash,value): the value column drawn `columns` wide
-- (core.chart.series: btlua.svg's decimation and the drawdown, in C) and a
-- function giving bar i's time, for the axis labels.
local function read_equity(text, columns)
  local chart = require("btlua.core").chart
  local series = chart.series(text, 3, columns)
  -- The axis labels' bars (svg.equity: 6 evenly spaced), read at once.
  local rows, wanted = series.rows, {}
  for k = 0, 5 do
    wanted[#wanted + 1] = rows > 1 and floor(1 + k * (rows - 1) / 5 + 0.5) or 1
  end
  local cache = chart.fields(text, 1, wanted)
  local function time_of(i)
    if cache[i] == nil then
      cache[i] = chart.fields(text, 1, { i })[i] or ""
    end
    return cache[i]
  end
  return series, time_of
end

-- S_fills.csv (time,asset,side,...): { {index =, side =, value =} }, the
-- bar of each fill and the equity there (read only when there are few).
local function read_fills(text, equity_text)
  local chart = require("btlua.core").chart
  local fills, wanted = {}, {}
  for time, side in text:gmatch("\n([^,\n]+),[^,\n]*,([^,\n]+)") do
    fills[#fills + 1] = { time = time, side = side }
    wanted[time] = true
  end
  local rows = chart.rows(equity_text, 1, wanted)
  local list = {}
  for _, row in pairs(rows) do list[#list + 1] = row end
  local values = chart.fields(equity_text, 3, list)
  local placed = {}
  for _, fill in ipairs(fills) do
    local row = rows[fill.time]
    if row and tonumber(values[row]) then
      placed[#placed + 1] = { index = row, side = fill.side,
        value = tonumber(values[row]) }
    end
  end
  return placed
end

-- html.load_run(dir, name) -> run | nil, message: the scenario's results,
-- equity, fills (when few) and profile (when there is one).
function html.load_run(dir, name)
  local cjson = require "cjson"
  local base = dir .. "/" .. name
  local text = read(base .. "_results.json")
  if not text then return nil, "cannot read " .. base .. "_results.json" end
  local ok, results = pcall(cjson.decode, text)
  if not ok or type(results) ~= "table" then
    return nil, base .. "_results.json: not JSON"
  end
  local run = { name = name, results = results,
    series = { rows = 0 }, time_of = function() return "" end }
  local equity = read(base .. "_equity.csv")
  if equity then
    run.series, run.time_of = read_equity(equity,
      svg.equity_columns(html.WIDTH))
    if (tonumber(results.fills) or 0) <= html.MAX_FILL_MARKS then
      local fills = read(base .. "_fills.csv")
      if fills then run.fills = read_fills(fills, equity) end
    end
  end
  local core = require "btlua.core"
  if read(base .. ".btprof") then
    local data, err = core.prof.load(base .. ".btprof")
    if not data then return nil, err end
    run.profile = data
  end
  return run
end

-- Scenario names with a results file in dir, sorted.
function html.scenario_names(dir)
  local core = require "btlua.core"
  local entries, err = core.list_dir(dir)
  if not entries then return nil, err end
  local names = {}
  for _, entry in ipairs(entries) do
    local name = (type(entry) == "table" and entry.name or entry)
      :match("^(.+)_results%.json$")
    if name then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

-- Formats ---------------------------------------------------------------------

local function pct(x)
  if type(x) ~= "number" then return "–" end
  return format("%.2f%%", x * 100)
end

local function ratio(x)
  if type(x) ~= "number" then return "–" end
  return format("%.2f", x)
end

local function money(text)
  local value = tonumber(text)
  if not value then return escape(text or "–") end
  return svg.thousands(floor(value)) .. format("%.2f", value % 1):sub(2)
end

local function seconds(ns)
  if type(ns) ~= "number" then return "–" end
  if ns >= 1e9 then return format("%.3f s", ns / 1e9) end
  return format("%.1f ms", ns / 1e6)
end

-- A count from JSON (a float in Lua 5.4's cjson) as an integer.
local function count(value)
  if type(value) ~= "number" then return "–" end
  return format("%d", value)
end

local function mib(bytes) return format("%.1f MiB", (bytes or 0) / 2 ^ 20) end

-- Paths -----------------------------------------------------------------------

local function split(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return parts
end

-- The path of file `to` relative to directory `from` (both absolute).
function html.relative(from, to)
  local a, b = split(from), split(to)
  local common = 0
  while common < #a and common < #b and a[common + 1] == b[common + 1] do
    common = common + 1
  end
  local parts = {}
  for _ = common + 1, #a do parts[#parts + 1] = ".." end
  for k = common + 1, #b do parts[#parts + 1] = b[k] end
  return concat(parts, "/")
end

-- A link from the page (in dir) to a function's source file, or nil (C
-- functions, files that are not there).
local function source_href(dir_abs, source)
  if not dir_abs or not source or source:sub(1, 1) == "[" then return nil end
  source = source:gsub("^@", "")
  if source:sub(1, 1) ~= "/" then
    local home = require("btlua.core").home
    if not home then return nil end
    source = home .. "/" .. source
  end
  if not read(source) then return nil end
  return html.relative(dir_abs, source)
end

-- Sections --------------------------------------------------------------------

local function headline(run)
  local r, m = run.results, run.results.metrics or {}
  local meta = run.profile and run.profile.meta or {}
  local cells = {
    { "Final value", money(r.final_value) },
    { "Return", pct(m.total_return) },
    { "Sharpe", ratio(m.sharpe) },
    { "Sortino", ratio(m.sortino) },
    { "Max drawdown", pct(m.max_drawdown) },
    { "Fills", count(r.fills) },
    { "Rejections", count(r.rejections) },
    { "Wall time", seconds(meta.wall_ns) },
    { "CPU time", seconds(meta.cpu_ns) },
    { "Profiler", escape(meta.profilers or meta.profiler or "none") },
  }
  local out = { '<dl class="headline">' }
  for _, cell in ipairs(cells) do
    out[#out + 1] = format('<div><dt>%s</dt><dd>%s</dd></div>', cell[1], cell[2])
  end
  out[#out + 1] = "</dl>"
  out[#out + 1] = format('<p class="meta">%s asset-bars, %s bars from %s to '
    .. '%s; capital %s; strategy %s.</p>', count(r.bars),
    count(run.series.rows), escape(r.start or "?"), escape(r["end"] or "?"),
    money(r.capital), escape(meta.strategy or "?"))
  return concat(out, "\n")
end

local function equity_section(run)
  local rows = run.series.rows
  if rows == 0 then return "<p>No equity curve.</p>" end
  local chart = svg.equity { series = run.series, time_of = run.time_of,
    fills = run.fills, width = html.WIDTH }
  local plot_w = svg.equity_columns(html.WIDTH)
  local note
  if rows > 2 * plot_w then
    note = format("%d bars drawn %d px wide: each pixel column shows its "
      .. "lowest and highest value, in time order (%d points).", rows,
      plot_w, #run.series.equity.index)
  else
    note = format("%d bars, one point each.", rows)
  end
  if run.fills then
    note = note .. format(" Fills marked (%d: ▲ buy, ▼ sell).", #run.fills)
  else
    note = note .. format(" %s fills (not marked above %d).",
      count(run.results.fills), html.MAX_FILL_MARKS)
  end
  return "<h3>Equity and drawdown</h3>\n" .. chart
    .. '\n<p class="note">' .. note .. "</p>"
end

local function zones_section(p)
  local items, wall = {}, max((p.meta or {}).wall_ns or 0, 1)
  for _, zone in ipairs(p.zones or {}) do
    if zone.count > 0 then
      items[#items + 1] = { label = zone.name, value = zone.self_ns,
        text = format("%s self, %.1f%% of wall", seconds(zone.self_ns),
          100 * zone.self_ns / wall) }
    end
  end
  if #items == 0 then return "" end
  return "<h3>Engine zones (self time)</h3>\n" .. svg.bars { items = items,
    width = html.WIDTH }
end

-- Per function: calls, self, cumulative (ns; or sample counts).
local function function_rows(p)
  local fns, rows = p.functions or {}, {}
  local calls = false
  for _, fn in ipairs(fns) do
    if (fn.ncalls or 0) > 0 then calls = true end
  end
  if calls then
    for i, fn in ipairs(fns) do
      if fn.ncalls > 0 then
        rows[#rows + 1] = { index = i, calls = fn.ncalls, prim = fn.primcalls,
          self = fn.self_ns, cum = fn.cum_ns }
      end
    end
    return rows, "ns"
  end
  local self, incl = require("btlua.profile").sample_counts(p)
  for index, count in pairs(incl) do
    rows[#rows + 1] = { index = index, self = self[index] or 0, cum = count }
  end
  return rows, "samples"
end

local function functions_section(p, dir_abs)
  local rows, unit = function_rows(p)
  if #rows == 0 then return "" end
  table.sort(rows, function(a, b)
    if a.cum ~= b.cum then return a.cum > b.cum end
    if a.self ~= b.self then return a.self > b.self end
    return a.index < b.index
  end)
  local total = 0
  if unit == "ns" then
    total = max((p.meta or {}).wall_ns or 0, 1)
  else
    for _, s in ipairs(p.samples or {}) do total = total + s.count end
  end
  local out = { format("<h3>Top functions (by cumulative %s; %d of %d)</h3>",
    unit == "ns" and "time" or "samples", math.min(#rows, html.TOP_FUNCTIONS),
    #rows), '<table class="functions"><thead><tr><th>function</th>'
    .. '<th>calls</th><th>self</th><th>self %</th><th>cumulative</th>'
    .. '<th>cum %</th><th>where</th></tr></thead><tbody>' }
  for rank = 1, math.min(#rows, html.TOP_FUNCTIONS) do
    local row = rows[rank]
    local fn = p.functions[row.index]
    local where = fn.source == "[C]" and "[C]"
      or format("%s:%d", flame.short_source(fn.source), fn.line)
    local href = source_href(dir_abs, fn.source)
    if href then
      where = format('<a href="%s">%s</a>', escape(href), escape(where))
    else
      where = escape(where)
    end
    local show = unit == "ns" and seconds or function(n) return tostring(n) end
    local calls = "–"
    if row.calls then
      calls = row.prim ~= row.calls and format("%d/%d", row.calls, row.prim)
        or tostring(row.calls)
    end
    out[#out + 1] = format('<tr><td class="name">%s</td><td>%s</td><td>%s'
      .. '</td><td>%.1f</td><td>%s</td><td>%.1f</td><td class="where">%s'
      .. '</td></tr>', escape(fn.name), calls, show(row.self),
      100 * row.self / total, show(row.cum), 100 * row.cum / total, where)
  end
  out[#out + 1] = "</tbody></table>"
  return concat(out, "\n")
end

local function memory_section(p)
  local mem = p.memory
  if not mem then return "" end
  local xs, values = {}, {}
  for i, point in ipairs(mem.timeline or {}) do
    xs[i], values[i] = point.t_ns / 1e9, point.rss / 2 ^ 20
  end
  local out = { "<h3>Memory</h3>", format('<p class="meta">peak RSS %s, '
    .. 'mean RSS %s, peak Lua heap %s, allocated %s.</p>', mib(mem.peak_rss),
    mib(mem.mean_rss), mib(mem.peak_lua_bytes), mib(mem.alloc_bytes)) }
  if #values > 1 then
    out[#out + 1] = svg.line { xs = xs, values = values, width = html.WIDTH,
      title = "RSS over the run",
      x_label = function(t) return format("%g s", t) end,
      y_label = function(v) return format("%g MiB", v) end }
  end
  return concat(out, "\n")
end

local function flame_section(p)
  local stacks = require("btlua.profile").stacks(p)
  if #stacks == 0 then return "" end
  return "<h3>Flame graph</h3>\n<p class=\"note\">Width = time (or samples) "
    .. "including callees; engine stages in blue under <code>run</code>. "
    .. "Hover a frame for its numbers; with JavaScript, click to zoom and "
    .. "<em>Search</em>.</p>\n<div class=\"scroll\">"
    .. flame.svg(p, { width = html.WIDTH, standalone = false }) .. "</div>"
end

local function scenario_section(run, dir_abs)
  local out = { format('<section id="scenario-%s">', escape(run.name)),
    format("<h2>%s</h2>", escape(run.name)), headline(run), equity_section(run) }
  local p = run.profile
  if p then
    out[#out + 1] = zones_section(p)
    out[#out + 1] = functions_section(p, dir_abs)
    out[#out + 1] = memory_section(p)
    out[#out + 1] = flame_section(p)
  else
    out[#out + 1] = '<p class="note">No profile (run with --profiler '
      .. 'none).</p>'
  end
  out[#out + 1] = "</section>"
  return concat(out, "\n")
end

local CSS = [[
body{font:14px/1.45 system-ui,sans-serif;color:#1d1f23;margin:0;background:#f3f4f6}
main{max-width:1000px;margin:0 auto;padding:16px 20px 40px;background:#fff}
h1{font-size:22px;margin:4px 0 8px}h2{font-size:19px;margin:28px 0 8px;border-top:2px solid #d0d4db;padding-top:14px}
h3{font-size:15px;margin:18px 0 6px}
nav a{margin-right:14px}
.headline{display:grid;grid-template-columns:repeat(5,1fr);gap:6px;margin:8px 0}
.headline div{background:#f5f7fa;border:1px solid #e1e5eb;border-radius:4px;padding:6px 8px}
.headline dt{font-size:11px;color:#5f6368;text-transform:uppercase}.headline dd{margin:0;font-size:17px;font-weight:600}
.meta,.note{color:#5f6368;font-size:12px;margin:4px 0}
table{border-collapse:collapse;font-size:12.5px}td,th{padding:3px 8px;border-bottom:1px solid #e6e8eb;text-align:right}
td.name,td.where,th:first-child,th:last-child{text-align:left}td.name{font-family:monospace}
.scroll{overflow-x:auto}svg{display:block}
]]

-- html.page(runs, opts) -> text. runs: html.load_run results; opts.dir_abs
-- (the page's directory, for links to sources), opts.title.
function html.page(runs, opts)
  opts = opts or {}
  local out = { "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
    -- No request may leave the page: nothing external, not even a favicon.
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
      .. 'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'; '
      .. 'img-src data:">',
    '<link rel="icon" href="data:,">',
    format("<title>%s</title>", escape(opts.title or "btlua run")),
    "<style>" .. CSS .. "</style></head><body><main>",
    format("<h1>%s</h1>", escape(opts.title or "btlua run")) }
  local nav, rows = { "<nav>" }, {}
  for _, run in ipairs(runs) do
    local r, m = run.results, run.results.metrics or {}
    local meta = run.profile and run.profile.meta or {}
    nav[#nav + 1] = format('<a href="#scenario-%s">%s</a>', escape(run.name),
      escape(run.name))
    rows[#rows + 1] = format('<tr><td class="name"><a href="#scenario-%s">%s'
      .. '</a></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>'
      .. '<td>%s</td></tr>', escape(run.name), escape(run.name),
      money(r.final_value), pct(m.total_return), ratio(m.sharpe),
      pct(m.max_drawdown), count(r.fills), seconds(meta.wall_ns))
  end
  nav[#nav + 1] = "</nav>"
  out[#out + 1] = concat(nav, "")
  out[#out + 1] = '<table class="runs"><thead><tr><th>scenario</th><th>final '
    .. 'value</th><th>return</th><th>Sharpe</th><th>max drawdown</th>'
    .. '<th>fills</th><th>wall time</th></tr></thead><tbody>'
    .. concat(rows, "\n") .. "</tbody></table>"
  for _, run in ipairs(runs) do
    out[#out + 1] = scenario_section(run, opts.dir_abs)
  end
  out[#out + 1] = '<p class="note">Written by btlua. Offline: this file loads '
    .. 'nothing else.</p></main></body></html>'
  return concat(out, "\n") .. "\n"
end

-- Comparison page -------------------------------------------------------------

local VERDICT_CLASS = { faster = "good", slower = "bad", different = "bad",
  ["~"] = "same" }

local function interval(ci)
  if type(ci) ~= "table" or #ci ~= 2 then return "–" end
  return format("[%+.1f%%, %+.1f%%]", ci[1], ci[2])
end

local function delta_cell(pct_value)
  if type(pct_value) ~= "number" then return "–" end
  return format("%+.1f%%", pct_value)
end

local function comparison_section(scn)
  local out = { format('<section id="scenario-%s">', escape(scn.name)),
    format('<h2>%s <span class="verdict %s">%s</span></h2>', escape(scn.name),
      VERDICT_CLASS[scn.verdict] or "same", escape(scn.verdict or "?")) }
  if scn.summary then
    out[#out + 1] = format('<p>%s</p>', escape(scn.summary))
  end
  if scn.same_work == false then
    out[#out + 1] = '<p class="bad">The two runs did not do the same work '
      .. '(results differ): the timings are not comparable.</p>'
  end
  out[#out + 1] = '<table class="functions"><thead><tr><th>function</th>'
    .. '<th>before</th><th>after</th><th>change</th><th>interval</th>'
    .. '<th>p</th></tr></thead><tbody>'
  for _, fn in ipairs(scn.functions or {}) do
    local mark = fn.significant == false and " ~" or ""
    out[#out + 1] = format('<tr><td class="name">%s</td><td>%s</td><td>%s'
      .. '</td><td class="%s">%s%s</td><td>%s</td><td>%s</td></tr>',
      escape(fn.name), seconds(fn.before), seconds(fn.after),
      fn.significant == false and "same" or (fn.delta_pct or 0) > 0 and "bad"
        or "good", delta_cell(fn.delta_pct), mark, interval(fn.ci),
      type(fn.p) == "number" and format("%.3g", fn.p) or "–")
  end
  out[#out + 1] = "</tbody></table>"
  if scn.before_profile and scn.after_profile then
    out[#out + 1] = "<h3>Differential flame graph</h3>\n<p class=\"note\">"
      .. "The after run's shape; red: slower than before, blue: faster "
      .. "(full colour at 50%).</p>\n<div class=\"scroll\">"
      .. flame.svg(scn.after_profile, { width = html.WIDTH, standalone = false,
        before = scn.before_profile, title = "Differential flame graph: "
          .. scn.name }) .. "</div>"
  end
  out[#out + 1] = "</section>"
  return concat(out, "\n")
end

-- html.comparison(model) -> text: comparison.html for `btlua compare` and
-- `btlua ab`, from a plain table (the compare code fills it):
--   { title =, before = label, after = label, scenarios = { {
--       name =, verdict = "faster"|"slower"|"~"|"different", summary = text,
--       same_work = bool,
--       functions = { { name =, before = ns, after = ns, delta_pct =,
--                       ci = {low_pct, high_pct}, p =, significant = bool } },
--       before_profile =, after_profile = (profile tables, optional: the
--       differential flame graph) } } }
-- The verdicts come first (a table of every scenario), then per scenario
-- its functions before/after and the differential flame graph.
function html.comparison(model)
  local title = model.title or format("btlua comparison: %s vs %s",
    tostring(model.before or "before"), tostring(model.after or "after"))
  local out = { "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
      .. 'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'; '
      .. 'img-src data:">',
    '<link rel="icon" href="data:,">',
    format("<title>%s</title>", escape(title)),
    "<style>" .. CSS .. ".verdict{font-size:13px;padding:1px 6px;border-radius:3px}"
      .. ".good{color:#1e6e34}.bad{color:#b3261e}.same{color:#5f6368}"
      .. "span.good{background:#e6f4ea}span.bad{background:#fce8e6}"
      .. "span.same{background:#f1f3f4}</style></head><body><main>",
    format("<h1>%s</h1>", escape(title)),
    '<table class="verdicts"><thead><tr><th>scenario</th><th>verdict</th>'
      .. '<th>summary</th></tr></thead><tbody>' }
  for _, scn in ipairs(model.scenarios or {}) do
    out[#out + 1] = format('<tr><td class="name"><a href="#scenario-%s">%s</a>'
      .. '</td><td class="%s">%s</td><td class="where">%s</td></tr>',
      escape(scn.name), escape(scn.name), VERDICT_CLASS[scn.verdict] or "same",
      escape(scn.verdict or "?"), escape(scn.summary or ""))
  end
  out[#out + 1] = "</tbody></table>"
  for _, scn in ipairs(model.scenarios or {}) do
    out[#out + 1] = comparison_section(scn)
  end
  out[#out + 1] = '<p class="note">Written by btlua. Offline: this file loads '
    .. 'nothing else.</p></main></body></html>'
  return concat(out, "\n") .. "\n"
end

-- html.write_index(dir, names) -> path | nil, message: dir/index.html for
-- the scenarios `names` (default: every S_results.json in dir), written
-- atomically.
function html.write_index(dir, names)
  local err
  if not names then
    names, err = html.scenario_names(dir)
    if not names then return nil, err end
  end
  if #names == 0 then return nil, "no S_results.json in " .. dir end
  table.sort(names)
  local runs = {}
  for i, name in ipairs(names) do
    runs[i], err = html.load_run(dir, name)
    if not runs[i] then return nil, err end
  end
  local core = require "btlua.core"
  local dir_abs = core.runner and core.runner.realpath
    and core.runner.realpath(dir) or nil
  local text = html.page(runs, { dir_abs = dir_abs,
    title = "btlua run: " .. concat(names, ", ") })
  local path = dir .. "/index.html"
  local done
  done, err = require("btlua.util").write_atomically(path, text)
  if not done then return nil, err end
  return path
end

return html
