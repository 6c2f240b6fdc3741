-- btlua.report: the bottleneck report (`btlua report PROFILE_DIR`): every
-- zone or function above a share of wall time, categorised, with the share
-- per category and ranked optimisation targets; plus the number formats
-- (report.fmt) shared with btlua.compare.
local report = {}

local floor = math.floor

-- Number and value formats --------------------------------------------------

local fmt = {}
report.fmt = fmt

function fmt.int(value)
  return string.format("%d", floor(value + 0.5))
end

-- Any scalar or table as stable text (tables: sorted k=v pairs).
function fmt.value(value)
  if type(value) == "number" then
    if value == floor(value) and math.abs(value) < 2 ^ 53 then
      return fmt.int(value)
    end
    return string.format("%.10g", value)
  elseif type(value) == "table" then
    local parts = {}
    for key, item in pairs(value) do
      parts[#parts + 1] = tostring(key) .. "=" .. fmt.value(item)
    end
    table.sort(parts)
    return table.concat(parts, ", ")
  end
  return tostring(value)
end

-- Nanoseconds with a unit: 1.235 s, 12.300 ms, 4.560 µs, 789 ns.
function fmt.ns(ns)
  local size = math.abs(ns)
  if size >= 1e9 then return string.format("%.3f s", ns / 1e9) end
  if size >= 1e6 then return string.format("%.3f ms", ns / 1e6) end
  if size >= 1e3 then return string.format("%.3f µs", ns / 1e3) end
  return fmt.int(ns) .. " ns"
end

-- A count with an SI prefix: 3.702 G.
function fmt.count(count)
  local size = math.abs(count)
  if size >= 1e9 then return string.format("%.3f G", count / 1e9) end
  if size >= 1e6 then return string.format("%.3f M", count / 1e6) end
  if size >= 1e3 then return string.format("%.3f k", count / 1e3) end
  return fmt.int(count)
end

function fmt.bytes(bytes)
  local size = math.abs(bytes)
  if size >= 2 ^ 30 then return string.format("%.2f GiB", bytes / 2 ^ 30) end
  if size >= 2 ^ 20 then return string.format("%.2f MiB", bytes / 2 ^ 20) end
  if size >= 2 ^ 10 then return string.format("%.2f KiB", bytes / 2 ^ 10) end
  return fmt.int(bytes) .. " B"
end

-- A signed percentage with two decimals; never "-0.00%".
function fmt.pct(pct)
  local text = string.format("%+.2f%%", pct)
  if text == "-0.00%" then text = "+0.00%" end
  return text
end

function fmt.share(pct)
  return string.format("%.2f%%", pct)
end

function fmt.p(p)
  if p == nil then return "n/a" end
  if p < 0.001 then return "<0.001" end
  return string.format("%.3f", p)
end

-- "p=0.123" or "p<0.001".
function fmt.p_eq(p)
  local text = fmt.p(p)
  if text:sub(1, 1) == "<" or text == "n/a" then return "p" .. text end
  return "p=" .. text
end

-- A start time (s, ms or ns since the epoch, by magnitude) as UTC text.
function fmt.date(value)
  if type(value) ~= "number" then return tostring(value) end
  local seconds = value
  if value > 1e17 then seconds = value / 1e9
  elseif value > 1e14 then seconds = value / 1e6
  elseif value > 1e11 then seconds = value / 1e3 end
  return os.date("!%Y-%m-%d %H:%M:%S UTC", floor(seconds))
end

-- Categories ----------------------------------------------------------------

report.categories = {
  "decimal arithmetic", "data access", "indicators", "order simulation",
  "ledger/metrics", "strategy Lua code", "I/O",
}

-- Engine zones (DESIGN.md's stages) and their category.
report.zone_category = {
  load = "I/O", data = "data access", indicators = "indicators",
  strategy = "strategy Lua code", blotter = "order simulation",
  fills = "order simulation", ledger = "ledger/metrics",
  metrics = "ledger/metrics", output = "I/O",
}

-- Function rules, first match wins; each is {category, field, patterns}
-- where field is "name" (the function's name, lower case) or "source".
report.function_rules = {
  { "decimal arithmetic", "name", { "^dec$", "^dec[%.:_]", "^__add$",
    "^__sub$", "^__mul$", "^__div$", "^__unm$", "^__mod$", "^__eq$",
    "^__lt$", "^__le$", "^quantize" } },
  { "decimal arithmetic", "source", { "lbt_dec", "btlua/dec" } },
  { "data access", "name", { "^current$", "^history$", "^can_trade$",
    "^data[%.:_]" } },
  { "data access", "source", { "lbt_store", "lbt_data", "btlua/data" } },
  { "indicators", "name", { "indicator", "^sma", "^ema", "stddev",
    "^rolling", "bollinger", "zscore", "^rsi" } },
  { "indicators", "source", { "indicator" } },
  { "order simulation", "name", { "^order", "^cancel", "blotter", "slippage",
    "commission", "^fill" } },
  { "order simulation", "source", { "blotter" } },
  { "ledger/metrics", "name", { "portfolio", "position", "ledger", "metric",
    "equity", "sharpe", "drawdown", "^record$" } },
  { "ledger/metrics", "source", { "ledger", "metrics" } },
  { "I/O", "name", { "^io%.", "write", "^read", "^open", "^close", "flush",
    "^print$", "json", "csv", "export" } },
  { "I/O", "source", { "btlua/report", "btlua/compare", "btlua/cli",
    "btlua/cmd/", "btlua/svg", "btlua/profile", "btlua/scenario", "cjson" } },
}

local function is_c_function(entry)
  local source = tostring(entry.source or "")
  return source == "[C]" or source == "=[C]" or source == "C"
end

-- C functions that drive the engine (sim:run is the bar loop, sim:results
-- builds the results): their self time is the engine zones' time, so they
-- are listed as "engine (see zones)" and are no optimisation target.
report.engine_functions = { run = true, results = true }
local ENGINE = "engine (see zones)"

-- The category of a profiled function ({name=, source=, line=}): the first
-- matching rule; otherwise Lua code is "strategy Lua code" and an
-- unmatched C function is "other".
function report.function_category(entry)
  if is_c_function(entry) and report.engine_functions[entry.name] then
    return ENGINE
  end
  local fields = { name = tostring(entry.name or ""):lower(),
                   source = tostring(entry.source or ""):lower() }
  for _, rule in ipairs(report.function_rules) do
    local text = fields[rule[2]]
    for _, pattern in ipairs(rule[3]) do
      if text:find(pattern) then return rule[1] end
    end
  end
  return is_c_function(entry) and "other" or "strategy Lua code"
end

-- Categories whose functions run inside the strategy zone (called from
-- strategy code): their self time is moved out of that zone's share.
local CALLED_FROM_STRATEGY = {
  ["decimal arithmetic"] = true, ["data access"] = true,
  ["indicators"] = true, ["order simulation"] = true,
  ["ledger/metrics"] = true,
}

-- Analysis ------------------------------------------------------------------

-- The run's total: its profile time (on-CPU, what zones add up to) when
-- the profile has it, else wall time.
local function total_wall_ns(profile)
  local meta = profile.meta or {}
  if meta.profile_ns and meta.profile_ns > 0 then return meta.profile_ns end
  if meta.wall_ns and meta.wall_ns > 0 then return meta.wall_ns end
  local walls = {}
  for i, run in ipairs(profile.runs or {}) do walls[i] = run.wall_ns or 0 end
  return require("btlua.stats").median(walls) or 0
end

-- "name (source:line)"; C functions have no line: "name ([C])".
local function function_label(entry)
  if is_c_function(entry) then
    return string.format("%s (%s)", tostring(entry.name),
      tostring(entry.source))
  end
  -- btlua's own files print from lua/btlua/ on (not the install path).
  local source = tostring(entry.source):gsub("^.*/(lua/btlua/)", "%1")
  return string.format("%s (%s:%s)", tostring(entry.name), source,
    fmt.int(entry.line or 0))
end

local function category_shares(profile, total)
  local time = {}
  local function add(category, ns) time[category] = (time[category] or 0) + ns end
  local zoned = 0
  for _, zone in ipairs(profile.zones or {}) do
    add(report.zone_category[zone.name] or "other", zone.self_ns or 0)
    zoned = zoned + (zone.self_ns or 0)
  end
  -- Functions called from strategy code ran inside the strategy zone. The
  -- part of their self time spent in nested engine zones (zone_ns: the
  -- blotter under ctx:order) is already in those zones: never twice.
  for _, entry in ipairs(profile.functions or {}) do
    local category = report.function_category(entry)
    if CALLED_FROM_STRATEGY[category] then
      local own = math.max((entry.self_ns or 0) - (entry.zone_ns or 0), 0)
      local movable = math.min(own, time["strategy Lua code"] or 0)
      add("strategy Lua code", -movable)
      add(category, movable)
    end
  end
  if total > zoned then add("unattributed", total - zoned) end
  local list = {}
  for category, ns in pairs(time) do
    if ns > 0 then
      list[#list + 1] = { name = category, ns = ns,
                          share = total > 0 and ns / total * 100 or 0 }
    end
  end
  table.sort(list, function(a, b)
    if a.ns ~= b.ns then return a.ns > b.ns end
    return a.name < b.name
  end)
  return list
end

-- Analyses one profile: { scenario, total_ns, runs, meta, categories =
-- {{name, ns, share}...}, items = {{kind, name, category, ns, share}...} }
-- where items are the zones and functions whose self time is more than
-- opts.threshold percent (default 5) of wall time, largest first.
function report.analyse(profile, opts)
  local threshold = opts and opts.threshold or 5
  local meta = profile.meta or {}
  local total = total_wall_ns(profile)
  local analysis = { scenario = meta.scenario, total_ns = total, meta = meta,
                     runs = math.max(1, #(profile.runs or {})),
                     threshold = threshold, items = {} }
  analysis.categories = category_shares(profile, total)
  local function consider(kind, name, category, ns)
    local share = total > 0 and ns / total * 100 or 0
    if share > threshold then
      analysis.items[#analysis.items + 1] = { kind = kind, name = name,
        category = category, ns = ns, share = share }
    end
  end
  for _, zone in ipairs(profile.zones or {}) do
    consider("zone", zone.name, report.zone_category[zone.name] or "other",
      zone.self_ns or 0)
  end
  for _, entry in ipairs(profile.functions or {}) do
    consider("function", function_label(entry),
      report.function_category(entry),
      math.max((entry.self_ns or 0) - (entry.zone_ns or 0), 0))
  end
  table.sort(analysis.items, function(a, b)
    if a.ns ~= b.ns then return a.ns > b.ns end
    if a.kind ~= b.kind then return a.kind < b.kind end
    return a.name < b.name
  end)
  return analysis
end

-- What to try for a target of each category.
report.advice = {
  ["decimal arithmetic"] = "keep money math in C; avoid building "
    .. "btlua.dec values per bar in Lua (each one allocates)",
  ["data access"] = "read each value once per bar; prefer the published "
    .. "per-bar arrays to one C call per asset and field",
  ["indicators"] = "use the built-in O(1) rolling indicators instead of "
    .. "recomputing windows in Lua",
  ["order simulation"] = "place fewer orders (order_target_* only when the "
    .. "target changes); check open orders before adding more",
  ["ledger/metrics"] = "read ctx.portfolio once per bar; record fewer "
    .. "values",
  ["strategy Lua code"] = "hoist table lookups and closures out of "
    .. "handle_data, avoid allocating per bar; try the LuaJIT build",
  ["I/O"] = "write fewer output files or exports; cache bundles",
  ["other"] = "find out what this is (btlua export --format callgrind)",
}

local function table_row(cells)
  return "| " .. table.concat(cells, " | ") .. " |"
end

local function name_cell(item)
  if item.kind == "zone" then return item.name end
  return "`" .. item.name .. "`"
end

local function meta_line(analysis)
  local meta = analysis.meta
  local parts = { (analysis.meta.profile_ns and "On-CPU run time "
    or "Wall time ") .. fmt.ns(analysis.total_ns) }
  if analysis.meta.cpu_ns then
    parts[#parts + 1] = "thread CPU time " .. fmt.ns(analysis.meta.cpu_ns)
  end
  local function add(label, value)
    if value ~= nil then parts[#parts + 1] = label .. fmt.value(value) end
  end
  add("btlua ", meta.version)
  add("", meta.lua_flavour)
  add("", meta.build_type)
  add("host ", meta.host)
  add("CPU ", meta.cpu)
  add("profiler ", meta.profiler)
  parts[#parts + 1] = fmt.int(analysis.runs) .. " run"
    .. (analysis.runs == 1 and "" or "s")
  return table.concat(parts, "; ") .. "."
end

-- The markdown section for one analysis.
function report.render_analysis(analysis, out)
  local threshold = fmt.value(analysis.threshold)
  out[#out + 1] = "## " .. tostring(analysis.scenario)
  out[#out + 1] = ""
  out[#out + 1] = meta_line(analysis)
  out[#out + 1] = ""
  out[#out + 1] = "### Time by category"
  out[#out + 1] = ""
  out[#out + 1] = "| category | time | share |"
  out[#out + 1] = "|---|---|---|"
  for _, category in ipairs(analysis.categories) do
    out[#out + 1] = table_row({ category.name, fmt.ns(category.ns),
      fmt.share(category.share) })
  end
  out[#out + 1] = ""
  out[#out + 1] = "### Above " .. threshold .. "% of wall time"
  out[#out + 1] = ""
  if #analysis.items == 0 then
    out[#out + 1] = "Nothing: no zone or function exceeds " .. threshold
      .. "% of wall time on its own."
  else
    out[#out + 1] = "| kind | name | category | self time | share |"
    out[#out + 1] = "|---|---|---|---|---|"
    for _, item in ipairs(analysis.items) do
      out[#out + 1] = table_row({ item.kind, name_cell(item), item.category,
        fmt.ns(item.ns), fmt.share(item.share) })
    end
  end
  out[#out + 1] = ""
  out[#out + 1] = "### Optimisation targets"
  out[#out + 1] = ""
  local rank = 0
  for _, item in ipairs(analysis.items) do
    if item.category ~= ENGINE then
      rank = rank + 1
      out[#out + 1] = string.format("%d. %s (%s, %s, %s of wall time): %s.",
        rank, name_cell(item), item.kind, item.category,
        fmt.share(item.share),
        report.advice[item.category] or report.advice.other)
    end
  end
  if rank == 0 then out[#out + 1] = "None above the threshold." end
  out[#out + 1] = ""
end

-- The whole report for a list of analyses; source names the profiles.
function report.render(analyses, source, threshold)
  local out = { "# Bottleneck report", "" }
  out[#out + 1] = string.format("Profiles from `%s`. Listed: every zone or "
    .. "function whose self time is more than %s%% of the scenario's wall "
    .. "time, with its category (rules in docs/compare.md). Zone and "
    .. "function times overlap: Lua functions run inside the strategy zone; "
    .. "in the category shares, functions called from strategy code are "
    .. "moved out of it.", tostring(source), fmt.value(threshold or 5))
  out[#out + 1] = ""
  for _, analysis in ipairs(analyses) do
    report.render_analysis(analysis, out)
  end
  return table.concat(out, "\n")
end

-- Loads every S.btprof of a directory (or one .btprof file) and renders
-- the report. opts: scenario, threshold, load_profile(path). Returns text,
-- analyses or nil, msg.
function report.bottlenecks(path, opts)
  opts = opts or {}
  local compare = require "btlua.compare"
  local loader = opts.load_profile or compare.load_profile
  local files = {}
  if path:match("%.btprof$") then
    files[1] = path
  else
    local names, err = compare.scenarios_in(path)
    if not names then return nil, err end
    for _, name in ipairs(names) do
      if not opts.scenario or opts.scenario == "all" or opts.scenario == name
      then
        files[#files + 1] = path .. "/" .. name .. ".btprof"
      end
    end
    if #files == 0 then
      return nil, path .. ": no " .. (opts.scenario and opts.scenario ~= "all"
        and opts.scenario .. ".btprof" or ".btprof files")
    end
  end
  local analyses = {}
  for _, file in ipairs(files) do
    local profile, err = loader(file)
    if not profile then return nil, err or (file .. ": cannot load") end
    local analysis = report.analyse(profile, opts)
    analysis.scenario = analysis.scenario
      or file:match("([^/]+)%.btprof$")
    analyses[#analyses + 1] = analysis
  end
  return report.render(analyses, path, opts.threshold), analyses
end

-- btlua.report(path, opts) is report.bottlenecks.
return setmetatable(report, {
  __call = function(_, path, opts) return report.bottlenecks(path, opts) end,
})
