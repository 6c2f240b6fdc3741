-- btlua.compare: before/after comparison of two runs' profiles, the engine
-- of `btlua compare`: per-run samples -> medians, CIs, Mann-Whitney tests
-- (Holm-corrected), a verdict, a same-work check and a markdown report.
--   compare.compare_sides(before, after, opts) -> result   (pure)
--   compare.render(result) -> markdown text                (pure)
--   compare.compare(before_dir, after_dir, opts) -> outcome | nil, msg
--     (also btlua.compare(before_dir, after_dir, opts): the module is callable)
local util = require "btlua.util"
local stats = require "btlua.stats"
local fmt = require("btlua.report").fmt

local compare = {}

compare.defaults = {
  alpha = 0.05,       -- family-wise error rate of the whole report
  noise_floor = 1,    -- percent of total wall time; smaller changes unlisted
  top = 10,           -- rows per top-improvements/regressions table
}

local function option(opts, key)
  local value = opts and opts[key]
  if value == nil then value = compare.defaults[key] end
  return value
end

local function sorted_keys(map)
  local keys = {}
  for key in pairs(map) do keys[#keys + 1] = key end
  table.sort(keys)
  return keys
end

-- "source:line(name)", the key of a function in profile.runs[i].functions.
-- C functions have no line: the profiler writes -1 (a .btprof stores 0).
function compare.function_key(entry)
  local line = entry.line or 0
  if entry.source == "[C]" and line <= 0 then line = -1 end
  return string.format("%s:%s(%s)", tostring(entry.source), fmt.int(line),
    tostring(entry.name))
end

-- Per-run samples of one profile: { runs = n, wall = {ns...},
-- cycles = {ticks...}, zones = {name = {incl_ns...}}, self = {key =
-- {ns...}}, cum = {key = {ns...}} }. Without profile.runs the aggregate
-- values are one sample. Functions and zones absent from a run count 0.
function compare.samples(profile)
  local meta = profile.meta or {}
  local runs = profile.runs
  if type(runs) ~= "table" or #runs == 0 then
    local run = { wall_ns = meta.wall_ns, total_ticks = meta.total_ticks,
                  zones = {}, functions = {} }
    for _, zone in ipairs(profile.zones or {}) do
      run.zones[zone.name] = zone.incl_ns
    end
    for _, entry in ipairs(profile.functions or {}) do
      run.functions[compare.function_key(entry)] = entry.self_ns
    end
    runs = { run }
  end
  local out = { runs = #runs, wall = {}, cycles = {}, zones = {}, self = {},
                cum = {} }
  local function collect(into, i, values)
    for key, value in pairs(values or {}) do
      into[key] = into[key] or {}
      into[key][i] = value
    end
  end
  for i, run in ipairs(runs) do
    out.wall[i] = run.wall_ns or 0
    out.cycles[i] = run.total_ticks or 0
    collect(out.zones, i, run.zones)
    collect(out.self, i, run.functions)
    collect(out.cum, i, run.functions_cum)
  end
  if not next(out.cum) then
    -- No per-run cumulative times: the aggregate is one sample.
    for _, entry in ipairs(profile.functions or {}) do
      out.cum[compare.function_key(entry)] = { entry.cum_ns or 0 }
    end
  end
  for _, group in ipairs({ out.zones, out.self }) do
    for _, values in pairs(group) do
      for i = 1, #runs do values[i] = values[i] or 0 end
    end
  end
  return out
end

-- One comparison row: medians, CIs and (with >= 2 runs a side) a test.
local function make_row(kind, name, before, after, conf)
  local row = { kind = kind, name = name, before = before, after = after,
                before_median = stats.median(before) or 0,
                after_median = stats.median(after) or 0 }
  row.delta_ns = row.after_median - row.before_median
  if row.before_median > 0 then
    row.ratio = row.after_median / row.before_median
    row.delta_pct = (row.ratio - 1) * 100
  end
  row.before_ci = { stats.median_ci(before, conf) }
  row.after_ci = { stats.median_ci(after, conf) }
  if #before >= 2 and #after >= 2 then
    local test = stats.mann_whitney(before, after)
    row.tested, row.p, row.u, row.method = true, test.p, test.u, test.method
  end
  return row
end

local function zeros(count)
  local values = {}
  for i = 1, count do values[i] = 0 end
  return values
end

-- The number of samples per key in a group (count when the group is empty).
local function group_size(group, count)
  local _, values = next(group)
  return values and #values or count
end

-- Rows for every key of either side's group (zones, self or cum); a key
-- missing on one side is all zeros there (a new or a vanished function).
local function group_rows(kind, before_group, after_group, nb, na, conf)
  local keys = {}
  for key in pairs(before_group) do keys[key] = true end
  for key in pairs(after_group) do keys[key] = true end
  nb, na = group_size(before_group, nb), group_size(after_group, na)
  local rows = {}
  for _, key in ipairs(sorted_keys(keys)) do
    rows[#rows + 1] = make_row(kind, key, before_group[key] or zeros(nb),
      after_group[key] or zeros(na), conf)
  end
  return rows
end

-- Holm over one family at level alpha/2 (two families share alpha), shown
-- as p_adj = min(1, 2 * holm) so that significant means p_adj < alpha.
local function adjust_family(rows, alpha)
  local pvalues = {}
  for i, row in ipairs(rows) do
    if row.tested and row.in_scope ~= false then pvalues[i] = row.p end
  end
  local adjusted = stats.holm(pvalues)
  for i, row in ipairs(rows) do
    if adjusted[i] then
      row.p_adj = math.min(1, 2 * adjusted[i])
      row.significant = row.p_adj < alpha
    else
      row.significant = false
    end
  end
end

-- The smallest two-sided exact p-value n1 and n2 runs can give.
local function smallest_p(n1, n2)
  local ways = 1
  for i = 1, n1 do ways = ways * (n2 + i) / i end
  return math.min(1, 2 / ways)
end

local function same_value(a, b)
  return fmt.value(a) == fmt.value(b)
end

local RESULT_FIELDS = { "final_value", "cash", "bars", "orders", "fills",
                        "rejections" }

-- Did both runs do the same work? Compares the results file's key fields,
-- the fills file and the results digest wherever both sides have them.
-- Returns { status = "same"|"different"|"unknown", differences = {...},
-- checked = {...} }.
function compare.same_work(before, after)
  local differences, checked = {}, {}
  local function check(label, a, b)
    if a == nil or b == nil then return end
    checked[#checked + 1] = label
    if not same_value(a, b) then
      differences[#differences + 1] = string.format(
        "%s: %s before, %s after", label, fmt.value(a), fmt.value(b))
    end
  end
  local br, ar = before.results or {}, after.results or {}
  for _, field in ipairs(RESULT_FIELDS) do
    check((field:gsub("_", " ")), br[field], ar[field])
  end
  if before.fills and after.fills then
    checked[#checked + 1] = "fills file"
    if before.fills ~= after.fills then
      local function lines(text)
        local _, count = text:gsub("\n", "")
        return count
      end
      differences[#differences + 1] = string.format(
        "fills file: contents differ (%d lines before, %d after)",
        lines(before.fills), lines(after.fills))
    end
  end
  local bm, am = before.profile.meta or {}, after.profile.meta or {}
  check("results digest", bm.results_digest, am.results_digest)
  if not (br.bars and ar.bars) then check("bars", bm.bars, am.bars) end
  local status = "unknown"
  if #differences > 0 then
    status = "different"
  elseif #checked > 0 then
    status = "same"
  end
  return { status = status, differences = differences, checked = checked }
end

-- Metadata fields whose difference makes timings incomparable.
local TIMING_FIELDS = {
  { "host", "host" }, { "cpu", "CPU" }, { "build_type", "build type" },
  { "lua_flavour", "Lua flavour" }, { "profiler", "profiler" },
}

local function timing_warnings(before_meta, after_meta)
  local warnings = {}
  for _, field in ipairs(TIMING_FIELDS) do
    local a, b = before_meta[field[1]], after_meta[field[1]]
    if a ~= nil and b ~= nil and not same_value(a, b) then
      warnings[#warnings + 1] = string.format("%s (%s before, %s after)",
        field[2], fmt.value(a), fmt.value(b))
    end
  end
  return warnings
end

-- Compares two sides, each { label = text, profile = table, results =
-- decoded S_results.json or nil, fills = S_fills.csv text or nil }.
-- opts: alpha, noise_floor (percent of total), fail_on_regression (percent).
-- Returns the result table that render() turns into markdown.
function compare.compare_sides(before, after, opts)
  local alpha = option(opts, "alpha")
  local conf = 1 - alpha
  local bs, as = compare.samples(before.profile), compare.samples(after.profile)
  local result = {
    scenario = (after.profile.meta or {}).scenario
      or (before.profile.meta or {}).scenario,
    before = before, after = after, alpha = alpha,
    noise_floor = option(opts, "noise_floor"), top = option(opts, "top"),
    runs = { bs.runs, as.runs },
  }
  result.overall = {
    make_row("overall", "wall time", bs.wall, as.wall, conf),
    make_row("overall", "total cycles", bs.cycles, as.cycles, conf),
  }
  local total = result.overall[1].before_median
  result.floor_ns = total * result.noise_floor / 100
  result.zones = group_rows("zone", bs.zones, as.zones, bs.runs, as.runs, conf)
  result.self = group_rows("self", bs.self, as.self, bs.runs, as.runs, conf)
  result.cum = group_rows("cum", bs.cum, as.cum, bs.runs, as.runs, conf)
  if (bs.runs > 1 or as.runs > 1) and (group_size(bs.cum, 0) < 2
      or group_size(as.cum, 0) < 2) then
    -- Repeated runs without per-run cumulative times: one aggregate is not
    -- a sample to test or to list next to tested rows.
    result.cum, result.cum_missing = {}, true
  end
  -- Detail rows below the noise floor on both sides are not tested, so
  -- that hundreds of tiny functions do not dilute the correction.
  local detail = {}
  for _, group in ipairs({ result.zones, result.self, result.cum }) do
    for _, row in ipairs(group) do
      row.in_scope = math.max(row.before_median, row.after_median)
        >= result.floor_ns
      detail[#detail + 1] = row
    end
  end
  adjust_family(result.overall, alpha)
  adjust_family(detail, alpha)
  local wall = result.overall[1]
  result.min_p = smallest_p(bs.runs, as.runs)
  if wall.tested and wall.before_median > 0 and wall.after_median > 0 then
    result.ratio, result.ratio_lo, result.ratio_hi =
      stats.ratio_ci(bs.wall, as.wall, conf)
  end
  if not wall.tested then
    result.timing_verdict = "not tested"
  elseif wall.significant and wall.delta_ns > 0 then
    result.timing_verdict = "slower"
  elseif wall.significant and wall.delta_ns < 0 then
    result.timing_verdict = "faster"
  else
    result.timing_verdict = "no significant change"
  end
  result.same_work = compare.same_work(before, after)
  result.verdict = result.same_work.status == "different" and "different work"
    or result.timing_verdict
  result.timing_warnings = timing_warnings(before.profile.meta or {},
    after.profile.meta or {})
  local gate = opts and opts.fail_on_regression
  result.gate_tripped = gate ~= nil and result.timing_verdict == "slower"
    and wall.delta_pct ~= nil and wall.delta_pct > gate
  return result
end

-- Rows worth listing: beyond the noise floor and, when tested, significant.
function compare.notable(result, group, sign)
  local list = {}
  for _, row in ipairs(result[group]) do
    local big = math.abs(row.delta_ns) >= result.floor_ns
      and row.delta_ns * sign > 0
    if big and (not row.tested or row.significant) then
      list[#list + 1] = row
    end
  end
  table.sort(list, function(a, b)
    if a.delta_ns ~= b.delta_ns then
      return a.delta_ns * sign > b.delta_ns * sign
    end
    return a.name < b.name
  end)
  while #list > result.top do list[#list] = nil end
  return list
end

-- Rendering the markdown report ---------------------------------------------

local function with_ci(value, samples, ci, formatter)
  local text = formatter(value)
  if #samples < 2 then return text end
  local lo, hi = ci[1], ci[2]
  if not lo or value == 0 then return text .. " ±∞" end
  local spread = math.max(hi - value, value - lo) / value * 100
  return text .. string.format(" ±%d%%", math.floor(spread + 0.5))
end

local function delta_text(row)
  if row.tested and not row.significant then return "~" end
  if row.before_median == 0 and row.after_median > 0 then return "new" end
  if row.after_median == 0 and row.before_median > 0 then return "gone" end
  if not row.delta_pct then return fmt.pct(0) end
  return fmt.pct(row.delta_pct)
end

local function p_text(row)
  if row.p_adj then return fmt.p(row.p_adj) end
  if row.tested then return "(not tested: below noise floor)" end
  return "n/a"
end

local function table_row(cells)
  return "| " .. table.concat(cells, " | ") .. " |"
end

local function formatter_for(row)
  if row.name == "total cycles" then return fmt.count end
  return fmt.ns
end

local function stat_row(row, label, runs)
  local formatter = formatter_for(row)
  return table_row({ label,
    with_ci(row.before_median, row.before, row.before_ci, formatter),
    with_ci(row.after_median, row.after, row.after_ci, formatter),
    delta_text(row), p_text(row), runs })
end

local function meta_cell(meta, key)
  local value = meta[key]
  if value == nil then return "-" end
  if key == "start_time" then return fmt.date(value) end
  if key == "tsc_hz" and type(value) == "number" then
    return string.format("%.3f GHz", value / 1e9)
  end
  return fmt.value(value)
end

local META_ROWS = {
  { "scenario", "scenario" }, { "version", "version" },
  { "build_type", "build type" }, { "lua_flavour", "Lua" },
  { "host", "host" }, { "cpu", "CPU" }, { "tsc_hz", "TSC rate" },
  { "start_time", "date" }, { "bars", "bars" }, { "profiler", "profiler" },
  { "params", "params" },
}

local function header_lines(result, out)
  local bm = result.before.profile.meta or {}
  local am = result.after.profile.meta or {}
  out[#out + 1] = "| | before | after |"
  out[#out + 1] = "|---|---|---|"
  out[#out + 1] = table_row({ "directory", "`" .. tostring(result.before.label)
    .. "`", "`" .. tostring(result.after.label) .. "`" })
  for _, field in ipairs(META_ROWS) do
    out[#out + 1] = table_row({ field[2], meta_cell(bm, field[1]),
      meta_cell(am, field[1]) })
    if field[1] == "start_time" then
      out[#out + 1] = table_row({ "runs", fmt.int(result.runs[1]),
        fmt.int(result.runs[2]) })
    end
  end
  out[#out + 1] = ""
  if #result.timing_warnings > 0 then
    out[#out + 1] = "> **Warning: these timings are not comparable:** the "
      .. "runs differ in " .. table.concat(result.timing_warnings, "; ") .. "."
    out[#out + 1] = ""
  end
end

local function runs_text(result)
  return fmt.int(result.runs[1]) .. "+" .. fmt.int(result.runs[2])
end

local function ci_text(result)
  if not result.ratio_lo then return "" end
  return string.format("%d%% CI %s to %s, ",
    math.floor((1 - result.alpha) * 100 + 0.5),
    fmt.pct((result.ratio_lo - 1) * 100), fmt.pct((result.ratio_hi - 1) * 100))
end

local function verdict_lines(result, out)
  local wall = result.overall[1]
  local change = wall.delta_pct and fmt.pct(wall.delta_pct) or "n/a"
  local verdict = result.timing_verdict
  local detail
  if verdict == "not tested" then
    detail = "no significance can be claimed with one run per side (use "
      .. "`btlua run --repeat 10`); the raw change in wall time is "
      .. change .. "."
  else
    detail = string.format("wall time %s (%s%s, %s runs).",
      wall.significant and change or "~ " .. change, ci_text(result),
      fmt.p_eq(wall.p_adj), runs_text(result))
  end
  if result.verdict == "different work" then
    out[#out + 1] = "**Verdict: different work.** The results differ (see "
      .. "the top of this report), so this is not a speedup or a slowdown "
      .. "of the same work: " .. detail
  else
    local label = verdict == "not tested" and "not tested" or verdict
    out[#out + 1] = "**Verdict: " .. label .. ".** "
      .. detail:sub(1, 1):upper() .. detail:sub(2)
  end
  if verdict ~= "not tested" and 4 * result.min_p >= result.alpha then
    out[#out + 1] = ""
    out[#out + 1] = string.format("With %s runs no change can be significant "
      .. "at alpha %s (the smallest possible p is %s); use `--repeat 10`.",
      runs_text(result), fmt.value(result.alpha), fmt.p(4 * result.min_p))
  end
  out[#out + 1] = ""
end

local function overall_lines(result, out)
  out[#out + 1] = "## Overall"
  out[#out + 1] = ""
  verdict_lines(result, out)
  out[#out + 1] = "| metric | before | after | delta | p | runs |"
  out[#out + 1] = "|---|---|---|---|---|---|"
  for _, row in ipairs(result.overall) do
    out[#out + 1] = stat_row(row, row.name, runs_text(result))
  end
  out[#out + 1] = ""
end

local function same_work_lines(result, out)
  local same = result.same_work
  out[#out + 1] = "## Same work"
  out[#out + 1] = ""
  if same.status == "same" then
    out[#out + 1] = "Identical results (checked: "
      .. table.concat(same.checked, ", ") .. ")."
  elseif same.status == "different" then
    out[#out + 1] = "Results differ: see the warning at the top."
  else
    out[#out + 1] = "Not checked: neither side has results files "
      .. "(S_results.json, S_fills.csv) or a results digest."
  end
  out[#out + 1] = ""
end

local GROUPS = {
  { "zones", "Zones (inclusive time)", "zone" },
  { "self", "Functions (self time)", "function" },
  { "cum", "Functions (cumulative time)", "function" },
}

local function change_text(result, row)
  local total = result.overall[1].before_median
  local share = total > 0 and row.delta_ns / total * 100 or 0
  return string.format("%s%s (%s of total)", row.delta_ns >= 0 and "+" or "-",
    fmt.ns(math.abs(row.delta_ns)), fmt.pct(share))
end

local function name_cell(row)
  if row.kind == "zone" then return row.name end
  return "`" .. row.name .. "`"
end

local function top_lines(result, out, title, sign)
  out[#out + 1] = "## " .. title
  out[#out + 1] = ""
  if result.timing_verdict == "not tested" then
    out[#out + 1] = "One run per side: raw changes, not tested for "
      .. "significance; run-to-run noise alone can move a zone this much."
    out[#out + 1] = ""
  end
  for _, group in ipairs(GROUPS) do
    out[#out + 1] = "### " .. group[2]
    out[#out + 1] = ""
    local rows = compare.notable(result, group[1], sign)
    if group[1] == "cum" and result.cum_missing then
      out[#out + 1] = "Not compared: these profiles have no per-run "
        .. "cumulative times."
    elseif #rows == 0 then
      out[#out + 1] = "None above the noise floor."
    else
      out[#out + 1] = "| " .. group[3] .. " | before | after | delta | "
        .. "change | p |"
      out[#out + 1] = "|---|---|---|---|---|---|"
      for _, row in ipairs(rows) do
        out[#out + 1] = table_row({ name_cell(row), fmt.ns(row.before_median),
          fmt.ns(row.after_median), delta_text(row), change_text(result, row),
          p_text(row) })
      end
    end
    out[#out + 1] = ""
  end
end

local function zone_lines(result, out)
  out[#out + 1] = "## Zones"
  out[#out + 1] = ""
  if #result.zones == 0 then
    out[#out + 1] = "No zones in either profile."
    out[#out + 1] = ""
    return
  end
  out[#out + 1] = "| zone | before | after | delta | p | runs |"
  out[#out + 1] = "|---|---|---|---|---|---|"
  for _, row in ipairs(result.zones) do
    out[#out + 1] = stat_row(row, row.name, runs_text(result))
  end
  out[#out + 1] = ""
end

local MEMORY_ROWS = {
  { "peak_rss", "peak RSS" }, { "mean_rss", "mean RSS" },
  { "alloc_bytes", "allocated" }, { "free_bytes", "freed" },
  { "peak_lua_bytes", "peak Lua heap" },
}

local function memory_lines(result, out)
  local bm = result.before.profile.memory or {}
  local am = result.after.profile.memory or {}
  out[#out + 1] = "## Memory"
  out[#out + 1] = ""
  local rows = {}
  for _, field in ipairs(MEMORY_ROWS) do
    local a, b = tonumber(bm[field[1]]), tonumber(am[field[1]])
    if a and b then
      local delta = b - a
      local pct = a > 0 and " (" .. fmt.pct(delta / a * 100) .. ")" or ""
      rows[#rows + 1] = table_row({ field[2], fmt.bytes(a), fmt.bytes(b),
        (delta >= 0 and "+" or "-") .. fmt.bytes(math.abs(delta)) .. pct })
    end
  end
  if #rows == 0 then
    out[#out + 1] = "No memory data on both sides (run with `--profiler "
      .. "memory` or `all`)."
  else
    out[#out + 1] = "| | before | after | delta |"
    out[#out + 1] = "|---|---|---|---|"
    for _, line in ipairs(rows) do out[#out + 1] = line end
  end
  out[#out + 1] = ""
end

local function method_lines(result, out)
  out[#out + 1] = "## Method"
  out[#out + 1] = ""
  local conf = math.floor((1 - result.alpha) * 100 + 0.5)
  if result.timing_verdict == "not tested" then
    out[#out + 1] = "One run per side: no significance can be claimed; "
      .. "the deltas are raw differences of single measurements."
  else
    out[#out + 1] = string.format("Values are medians over runs; ± is the "
      .. "distribution-free %d%% confidence interval of the median (order "
      .. "statistics; ±∞: too few runs). p is the two-sided Mann-Whitney U "
      .. "test (exact without ties, else the normal approximation with tie "
      .. "correction), Holm-corrected over this report's rows (overall and "
      .. "detail rows are two families sharing alpha = %s). `~` marks a "
      .. "change that is not significant.", conf, fmt.value(result.alpha))
  end
  out[#out + 1] = string.format("Changes smaller than %s%% of the total wall "
    .. "time (%s) are not listed, and detail rows below it on both sides "
    .. "are not tested.", fmt.value(result.noise_floor),
    fmt.ns(result.floor_ns))
  out[#out + 1] = ""
end

local function same_work_warning(result, out)
  if result.same_work.status ~= "different" then return end
  out[#out + 1] = "> **Warning: the two runs did not do the same work.** "
    .. "Their results differ, so the timing change below is not a speedup "
    .. "or a slowdown:"
  for _, line in ipairs(result.same_work.differences) do
    out[#out + 1] = "> - " .. line
  end
  out[#out + 1] = ""
end

-- The markdown report for one compare_sides() result.
function compare.render(result)
  local out = {}
  same_work_warning(result, out)
  out[#out + 1] = "# Profile comparison: " .. tostring(result.scenario)
  out[#out + 1] = ""
  header_lines(result, out)
  overall_lines(result, out)
  same_work_lines(result, out)
  top_lines(result, out, "Regressions", 1)
  top_lines(result, out, "Improvements", -1)
  zone_lines(result, out)
  memory_lines(result, out)
  method_lines(result, out)
  return table.concat(out, "\n")
end

-- Loading a run's output directory ------------------------------------------

-- Results files are small; anything past this is not one (/dev/zero).
local READ_MAX = 1024 * 1024 * 1024

local function read_file(path)
  local file = io.open(path, "rb")
  if not file then return nil end
  local text = file:read(READ_MAX + 1) or ""
  file:close()
  if #text > READ_MAX then return nil end
  return text
end

-- btlua.profile.load, or the core reader while that module is missing.
function compare.load_profile(path)
  local found, profile = pcall(require, "btlua.profile")
  if found and type(profile) == "table" and profile.load then
    return profile.load(path)
  end
  local core = require "btlua.core"
  if core.prof and core.prof.load then return core.prof.load(path) end
  return nil, "cannot read " .. path .. ": this build has no profile reader"
end
local default_loader = compare.load_profile

-- The scenario names S of every S.btprof in dir, sorted; nil, msg when the
-- directory cannot be listed.
function compare.scenarios_in(dir)
  local probe = io.open(dir .. "/.", "rb")
  if not probe then return nil, dir .. ": not a readable directory" end
  probe:close()
  local quoted = "'" .. dir:gsub("'", "'\\''") .. "'"
  local pipe = io.popen("ls -1 -- " .. quoted .. " 2>/dev/null")
  local names = {}
  for line in pipe:lines() do
    local name = line:match("^(.+)%.btprof$")
    if name then names[#names + 1] = name end
  end
  pipe:close()
  table.sort(names)
  return names
end

-- One side of one scenario: { label, profile, results, fills } or nil, msg.
function compare.load_side(dir, scenario, opts)
  local loader = opts and opts.load_profile or default_loader
  local path = dir .. "/" .. scenario .. ".btprof"
  local profile, err = loader(path)
  if not profile then return nil, err or (path .. ": cannot load") end
  local side = { label = dir, profile = profile }
  local json_text = read_file(dir .. "/" .. scenario .. "_results.json")
  if json_text then
    local cjson = require "cjson.safe"
    local results, json_err = cjson.decode(json_text)
    if type(results) ~= "table" then
      return nil, dir .. "/" .. scenario .. "_results.json: "
        .. tostring(json_err or "not a JSON object")
    end
    side.results = results
  end
  side.fills = read_file(dir .. "/" .. scenario .. "_fills.csv")
  return side
end

local function scenario_list(before_dir, after_dir, wanted)
  local before_names, err = compare.scenarios_in(before_dir)
  if not before_names then return nil, err end
  local after_names, after_err = compare.scenarios_in(after_dir)
  if not after_names then return nil, after_err end
  local in_after, common, skipped = {}, {}, {}
  for _, name in ipairs(after_names) do in_after[name] = true end
  local in_before = {}
  for _, name in ipairs(before_names) do
    in_before[name] = true
    if in_after[name] then common[#common + 1] = name
    else skipped[#skipped + 1] = name .. " (only in " .. before_dir .. ")" end
  end
  for _, name in ipairs(after_names) do
    if not in_before[name] then
      skipped[#skipped + 1] = name .. " (only in " .. after_dir .. ")"
    end
  end
  if wanted and wanted ~= "all" then
    if not (in_before[wanted] and in_after[wanted]) then
      return nil, string.format("scenario '%s': no %s.btprof in %s", wanted,
        wanted, in_before[wanted] and after_dir or before_dir)
    end
    return { wanted }, {}
  end
  if #common == 0 then
    return nil, string.format("no scenario profiled in both %s and %s",
      before_dir, after_dir)
  end
  return common, skipped
end

-- Compares two run directories. opts: scenario ("all"), output (one file
-- for all scenarios), output_dir (default after_dir), write (default true),
-- alpha, noise_floor, top, fail_on_regression, load_profile(path).
-- Returns { scenarios = { {name, result, text, path} ... }, skipped = {...},
-- gate_tripped = bool, status = 0|1 } or nil, msg for bad input.
function compare.compare(before_dir, after_dir, opts)
  opts = opts or {}
  local names, skipped = scenario_list(before_dir, after_dir, opts.scenario)
  if not names then return nil, skipped end
  local outcome = { scenarios = {}, skipped = skipped, gate_tripped = false }
  local texts = {}
  for _, name in ipairs(names) do
    local before, err = compare.load_side(before_dir, name, opts)
    if not before then return nil, err end
    local after, after_err = compare.load_side(after_dir, name, opts)
    if not after then return nil, after_err end
    local result = compare.compare_sides(before, after, opts)
    result.scenario = result.scenario or name
    local entry = { name = name, result = result,
                    text = compare.render(result) }
    if not opts.output then
      entry.path = (opts.output_dir or after_dir) .. "/profile_comparison_"
        .. name .. ".md"
    end
    outcome.scenarios[#outcome.scenarios + 1] = entry
    texts[#texts + 1] = entry.text
    outcome.gate_tripped = outcome.gate_tripped or result.gate_tripped
  end
  if opts.write ~= false then
    if opts.output then
      local done, err = util.write_atomically(opts.output, table.concat(texts, "\n"))
      if not done then return nil, "cannot write " .. tostring(err) end
      outcome.output = opts.output
    else
      for _, entry in ipairs(outcome.scenarios) do
        local done, err = util.write_atomically(entry.path, entry.text)
        if not done then return nil, "cannot write " .. tostring(err) end
      end
    end
  end
  outcome.status = outcome.gate_tripped and 1 or 0
  return outcome
end

-- btlua.compare(before_dir, after_dir, opts) is compare.compare.
return setmetatable(compare, {
  __call = function(_, before_dir, after_dir, opts)
    return compare.compare(before_dir, after_dir, opts)
  end,
})
