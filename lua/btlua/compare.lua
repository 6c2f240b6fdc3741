-- btlua.compare: before/after comparison of two runs, the engine of
-- `btlua compare` and `btlua ab`: a verdict on CPU time or instruction
-- counts (a paired signed-rank test for interleaved runs, else Mann-Whitney,
-- interval and p from the same test), Holm-corrected detail rows, a
-- same-work check (results digest, fills, metrics) and a markdown report.
--   compare.compare_sides(before, after, opts) -> result   (pure)
--   compare.render(result) -> markdown text                (pure)
--   compare.compare(before_dir, after_dir, opts) -> outcome | nil, msg
--     (also btlua.compare(before_dir, after_dir, opts): the module is callable)
local util = require "btlua.util"
local stats = require "btlua.stats"
local fmt = require("btlua.report").fmt

local log, exp = math.log, math.exp

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

-- The key of a function in profile.runs[i].functions: its identity, as
-- the profiler built it ("btlua.strategies.mean_reversion:handle_data",
-- "[C]:string.rep"; see engine/profkey.h). Never rebuilt here.
function compare.function_key(entry)
  return entry.key or error("profile function without a key: "
    .. tostring(entry.name), 0)
end

-- Per-run samples of one profile: { runs = n, wall = {ns...},
-- cycles = {ticks...}, zones = {name = {incl_ns...}}, self = {key =
-- {ns...}}, cum = {key = {ns...}} }. Without profile.runs the aggregate
-- values are one sample. Functions and zones absent from a run count 0.
-- No profile (a run with --profiler none): no runs, empty groups.
function compare.samples(profile)
  local out = { runs = 0, wall = {}, cycles = {}, zones = {}, self = {},
                cum = {} }
  if not profile then return out end
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
  out.runs = #runs
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

-- Run-level costs --------------------------------------------------------

-- "0.1 0.2 0.3" (seconds as text, the .btprof metadata form) -> {ns...}.
local function seconds_list(text)
  if type(text) ~= "string" then return nil end
  local values = {}
  for word in text:gmatch("%S+") do values[#values + 1] = tonumber(word) * 1e9 end
  return #values > 0 and values or nil
end

local function count_list(text)
  if type(text) == "number" then return { text } end
  if type(text) ~= "string" then return nil end
  local values = {}
  for word in text:gmatch("%S+") do values[#values + 1] = tonumber(word) end
  return #values > 0 and values or nil
end

-- The runs of results.runs that belong to the first run's profiler mode
-- (with --profiler all, each mode costs differently).
local function result_runs(results)
  local runs = type(results) == "table" and results.runs
  if type(runs) ~= "table" or #runs == 0 then return {} end
  local mode, list = runs[1].mode, {}
  for _, run in ipairs(runs) do
    if run.mode == mode then list[#list + 1] = run end
  end
  return list
end

local function field_list(runs, key, scale)
  local values = {}
  for i, run in ipairs(runs) do
    local value = tonumber(run[key])
    if not value then return nil end
    values[i] = value * scale
  end
  return #values > 0 and values or nil
end

-- The one reader of a side's run-level costs, the numbers a verdict rests
-- on. Returns { instructions = {count...} | nil, cpu = {ns...} | nil,
-- wall = {ns...} | nil }, one value per run in run order:
--   instructions: a profile's runs[i].instructions, its metadata
--     `instructions_runs` ("n n n") or `instructions`, or results.runs[i]
--     .instructions (from `--profiler instructions`);
--   cpu: results.runs[i].cpu_s (every profiler mode, `none` too), else the
--     profile's metadata `cpu_s_runs` or `cpu_s` (thread CPU time, s);
--   wall: the profile's runs[i].wall_ns, else results.runs[i].wall_s.
function compare.run_costs(side)
  local profile = side.profile or {}
  local meta = profile.meta or {}
  local runs = result_runs(side.results)
  local costs = {}
  local profile_runs = type(profile.runs) == "table" and profile.runs or {}
  local counted = meta.instructions
  if type(counted) == "table" then counted = counted.total end -- one run's
  costs.instructions = field_list(profile_runs, "instructions", 1)
    or count_list(meta.instructions_runs) or count_list(counted)
    or field_list(runs, "instructions", 1)
  costs.cpu = field_list(runs, "cpu_s", 1e9) or seconds_list(meta.cpu_s_runs)
    or (tonumber(meta.cpu_s) and { tonumber(meta.cpu_s) * 1e9 })
  costs.wall = field_list(profile_runs, "wall_ns", 1)
    or field_list(runs, "wall_s", 1e9)
    or (tonumber(meta.wall_ns) and { tonumber(meta.wall_ns) })
  costs.load = field_list(runs, "load", 1)
  return costs
end

-- Were this side's runs interleaved with the other side's (btlua ab)?
function compare.interleaved(side)
  local results = side.results
  if type(results) == "table" and type(results.ab) == "table" then
    return results.ab.order or "interleaved"
  end
  local meta = side.profile and side.profile.meta or {}
  return meta.ab_order
end

-- The cost both sides have, best first: instruction counts, CPU time, wall.
-- (Functions and zones are compared on the profiler's on-CPU times; the
-- whole run on the thread's CPU time, whose false-alarm rate under load
-- is measured in docs/compare.md.)
local BASES = {
  { key = "instructions", label = "instructions" },
  { key = "cpu", label = "CPU time" },
  { key = "wall", label = "wall time" },
}

local function choose_basis(before_costs, after_costs)
  for _, basis in ipairs(BASES) do
    if before_costs[basis.key] and after_costs[basis.key] then return basis end
  end
end

-- One comparison row: medians, CIs and (with >= 2 runs a side) a test:
-- the signed-rank test of the log ratios when paired, else Mann-Whitney.
local function make_row(kind, name, before, after, conf, paired)
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
  if paired and #before >= 2 and #before == #after then
    local diffs = {}
    for i = 1, #before do diffs[i] = after[i] - before[i] end
    local test = stats.signed_rank(diffs, conf)
    row.tested, row.p, row.method = true, test.p, "signed-rank"
  elseif #before >= 2 and #after >= 2 then
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
local function group_rows(kind, before_group, after_group, nb, na, conf,
                          paired)
  local keys = {}
  for key in pairs(before_group) do keys[key] = true end
  for key in pairs(after_group) do keys[key] = true end
  nb, na = group_size(before_group, nb), group_size(after_group, na)
  local rows = {}
  for _, key in ipairs(sorted_keys(keys)) do
    rows[#rows + 1] = make_row(kind, key, before_group[key] or zeros(nb),
      after_group[key] or zeros(na), conf, paired)
  end
  return rows
end

-- Holm over one family at level alpha, so that significant means
-- p_adj < alpha.
local function adjust_family(rows, alpha)
  local pvalues = {}
  for i, row in ipairs(rows) do
    if row.tested and row.in_scope ~= false then pvalues[i] = row.p end
  end
  local adjusted = stats.holm(pvalues)
  for i, row in ipairs(rows) do
    if adjusted[i] then
      row.p_adj = adjusted[i]
      row.significant = row.p_adj < alpha
    else
      row.significant = false
    end
  end
end

-- The smallest two-sided exact Mann-Whitney p-value n1 and n2 runs give.
local function smallest_p(n1, n2)
  if n1 < 1 or n2 < 1 then return 1 end
  local ways = 1
  for i = 1, n1 do ways = ways * (n2 + i) / i end
  return math.min(1, 2 / ways)
end

-- The fewest runs per side with which Mann-Whitney can reach p < alpha.
local function fewest_runs(alpha)
  local n = 1
  while smallest_p(n, n) >= alpha do n = n + 1 end
  return n
end

-- Instruction counts are exact and repeatable: a change beyond this band
-- (percent) is significant by definition; within it, it is no change.
compare.INSTRUCTION_BAND = 1

-- The verdict's test on the basis values. Sets on `primary`: ratio,
-- ratio_lo, ratio_hi (the interval), p (nil for instruction counts),
-- significant, method, too_few, needed (text: the runs needed). The
-- interval and p come from one procedure, so they always agree: the
-- interval excludes 1 exactly when p < alpha.
local function primary_test(primary, basis, before, after, alpha, paired)
  local conf = 1 - alpha
  local function all_positive(values)
    for i = 1, #values do if not (values[i] > 0) then return false end end
    return #values > 0
  end
  if not (all_positive(before) and all_positive(after)) then
    primary.too_few, primary.needed = true, "positive measurements"
    return
  end
  if basis.key == "instructions" then
    local band = compare.INSTRUCTION_BAND / 100
    local ratios = {}
    if paired then
      for i = 1, #before do ratios[i] = after[i] / before[i] end
    else
      local bs, as = stats.sorted(before), stats.sorted(after)
      ratios = { as[1] / bs[#bs], as[#as] / bs[1] }
    end
    local sorted = stats.sorted(ratios)
    primary.ratio = stats.median(after) / stats.median(before)
    primary.ratio_lo, primary.ratio_hi = sorted[1], sorted[#sorted]
    primary.significant = primary.ratio_lo > 1 + band
      or primary.ratio_hi < 1 - band
    primary.method = "counts"
    return
  end
  if paired then
    local logs = {}
    for i = 1, #before do logs[i] = log(after[i] / before[i]) end
    local test = stats.signed_rank(logs, conf)
    primary.p, primary.method = test.p, "signed-rank"
    primary.ratio = exp(test.estimate)
    if test.lo then
      primary.ratio_lo, primary.ratio_hi = exp(test.lo), exp(test.hi)
    end
    primary.too_few = stats.signed_rank_min_p(#before) >= alpha
    primary.needed = stats.signed_rank_min_pairs(alpha)
      .. " interleaved pairs"
  else
    local test = stats.mann_whitney(before, after)
    primary.p, primary.method = test.p, "mann-whitney"
    primary.ratio, primary.ratio_lo, primary.ratio_hi =
      stats.ratio_ci(before, after, conf)
    primary.too_few = smallest_p(#before, #after) >= alpha
    local n = fewest_runs(alpha)
    primary.needed = n .. "+" .. n .. " runs"
  end
  local excluded = primary.ratio_lo ~= nil
    and (primary.ratio_lo > 1 or primary.ratio_hi < 1)
  -- Both say the same without ties; with ties (equal measurements) the
  -- change is only called significant when both agree.
  primary.significant = not primary.too_few and primary.p < alpha and excluded
end

local function same_value(a, b)
  return fmt.value(a) == fmt.value(b)
end

local RESULT_FIELDS = { "final_value", "cash", "bars", "orders", "fills",
                        "rejections" }

local function line_count(text)
  local _, count = text:gsub("\n", "")
  return count
end

-- "line 3: before `x`, after `y`": the first line where two texts differ.
local function first_difference(a, b)
  local la, lb = {}, {}
  for line in a:gmatch("([^\n]*)\n?") do la[#la + 1] = line end
  for line in b:gmatch("([^\n]*)\n?") do lb[#lb + 1] = line end
  for i = 1, math.max(#la, #lb) do
    if la[i] ~= lb[i] then
      return string.format("first difference at line %d: before `%s`, "
        .. "after `%s`", i, la[i] or "(end)", lb[i] or "(end)")
    end
  end
  return "contents differ"
end

-- Did both runs do the same work? Compares the results file's key fields
-- and metrics, the fills file and the results digest wherever both sides
-- have them. Returns { status = "same"|"different"|"unknown",
-- differences = {...}, checked = {...} }.
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
  if type(br.metrics) == "table" and type(ar.metrics) == "table" then
    local keys = {}
    for key in pairs(br.metrics) do keys[key] = true end
    for key in pairs(ar.metrics) do keys[key] = true end
    local before_count = #differences
    for _, key in ipairs(sorted_keys(keys)) do
      local a, b = br.metrics[key], ar.metrics[key]
      if not same_value(a, b) then
        differences[#differences + 1] = string.format(
          "metric %s: %s before, %s after", key, fmt.value(a), fmt.value(b))
      end
    end
    if next(keys) or #differences > before_count then
      checked[#checked + 1] = "metrics"
    end
  end
  if before.fills and after.fills then
    checked[#checked + 1] = "fills file"
    if before.fills ~= after.fills then
      differences[#differences + 1] = string.format(
        "fills file: %d lines before, %d after; %s",
        line_count(before.fills), line_count(after.fills),
        first_difference(before.fills, after.fills))
    end
  end
  local bm = before.profile and before.profile.meta or {}
  local am = after.profile and after.profile.meta or {}
  local digest_before = br.digest or bm.results_digest
  local digest_after = ar.digest or am.results_digest
  check("results digest", digest_before, digest_after)
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

-- The machine's load moved between two blocks of runs when the median
-- 1-minute load average differs by more than this (runnable tasks).
compare.LOAD_SHIFT = 0.5

-- A warning when the sides ran one block after the other (not
-- interleaved) and the load average moved between them; nil otherwise.
local function load_warning(paired, before_costs, after_costs)
  if paired then return nil end
  local lb, la = before_costs.load, after_costs.load
  if not (lb and la) then return nil end
  local mb, ma = stats.median(lb), stats.median(la)
  if math.abs(ma - mb) <= compare.LOAD_SHIFT then return nil end
  return string.format("the two sides were not interleaved and the "
    .. "machine's load moved between them (load average %.2f before, %.2f "
    .. "after): a change of load reads as a change of code; use `btlua ab`",
    mb, ma)
end

-- Compares two sides, each { label = text, profile = table or nil,
-- results = decoded S_results.json or nil, fills = S_fills.csv text or
-- nil }. opts: alpha, noise_floor (percent of total), fail_on_regression
-- (percent), allow_different_results, paired (default: when both sides
-- were interleaved by btlua ab and have as many runs).
-- Returns the result table that render() turns into markdown.
function compare.compare_sides(before, after, opts)
  local alpha = option(opts, "alpha")
  local conf = 1 - alpha
  local bs, as = compare.samples(before.profile), compare.samples(after.profile)
  local bc, ac = compare.run_costs(before), compare.run_costs(after)
  local bmeta = before.profile and before.profile.meta or {}
  local ameta = after.profile and after.profile.meta or {}
  local result = {
    scenario = ameta.scenario or bmeta.scenario
      or (after.results or {}).scenario or (before.results or {}).scenario,
    before = before, after = after, alpha = alpha,
    noise_floor = option(opts, "noise_floor"), top = option(opts, "top"),
  }
  local basis = choose_basis(bc, ac) or BASES[#BASES]
  local bvalues, avalues = bc[basis.key] or {}, ac[basis.key] or {}
  result.basis = basis
  result.runs = { #bvalues, #avalues }
  result.interleaved = { compare.interleaved(before),
                         compare.interleaved(after) }
  local paired = opts and opts.paired
  if paired == nil then
    paired = result.interleaved[1] ~= nil and result.interleaved[2] ~= nil
      and #bvalues == #avalues
  end
  result.paired = paired and #bvalues == #avalues and #bvalues > 0
  local primary = { kind = "overall", name = basis.label, before = bvalues,
    after = avalues, before_median = stats.median(bvalues) or 0,
    after_median = stats.median(avalues) or 0, primary = true }
  primary.delta_ns = primary.after_median - primary.before_median
  primary.before_ci = { stats.median_ci(bvalues, conf) }
  primary.after_ci = { stats.median_ci(avalues, conf) }
  primary_test(primary, basis, bvalues, avalues, alpha, result.paired)
  if primary.ratio then primary.delta_pct = (primary.ratio - 1) * 100 end
  result.primary = primary
  result.overall = { primary }
  -- Wall time and cycles are shown for information, never tested.
  local shown = { { "wall", "wall time", bc.wall, ac.wall },
                  { "cycles", "total cycles", bs.cycles, as.cycles } }
  for _, entry in ipairs(shown) do
    local b, a = entry[3] or {}, entry[4] or {}
    if entry[1] ~= basis.key and #b > 0 and #a > 0 then
      local row = make_row("overall", entry[2], b, a, conf, false)
      row.tested, row.p, row.info = false, nil, true
      result.overall[#result.overall + 1] = row
    end
  end
  local total = stats.median(bc.wall or bvalues) or 0
  if basis.key ~= "instructions" then total = primary.before_median end
  result.total_ns = total
  result.floor_ns = total * result.noise_floor / 100
  local detail_paired = result.paired and bs.runs == as.runs
  result.zones = group_rows("zone", bs.zones, as.zones, bs.runs, as.runs, conf,
    detail_paired)
  result.self = group_rows("self", bs.self, as.self, bs.runs, as.runs, conf,
    detail_paired)
  result.cum = group_rows("cum", bs.cum, as.cum, bs.runs, as.runs, conf,
    detail_paired)
  if (bs.runs > 1 or as.runs > 1) and (group_size(bs.cum, 0) < 2
      or group_size(as.cum, 0) < 2) then
    -- Repeated runs without per-run cumulative times: one aggregate is not
    -- a sample to test or to list next to tested rows.
    result.cum, result.cum_missing = {}, true
  end
  result.profiled = before.profile ~= nil and after.profile ~= nil
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
  adjust_family(detail, alpha)
  if primary.too_few and basis.key ~= "instructions" then
    result.timing_verdict = "too few runs"
  elseif primary.significant and primary.ratio > 1 then
    result.timing_verdict = "slower"
  elseif primary.significant then
    result.timing_verdict = "faster"
  else
    result.timing_verdict = "no change"
  end
  result.same_work = compare.same_work(before, after)
  result.different = result.same_work.status == "different"
  result.verdict = result.different and "different results"
    or result.timing_verdict
  result.timing_warnings = timing_warnings(bmeta, ameta)
  result.load_warning = load_warning(result.paired, bc, ac)
  local gate = opts and opts.fail_on_regression
  result.gate = gate
  result.gate_tripped = gate ~= nil and result.timing_verdict == "slower"
    and primary.delta_pct ~= nil and primary.delta_pct > gate
  result.results_failed = result.different
    and not (opts and opts.allow_different_results)
  result.too_few_error = gate ~= nil and result.timing_verdict == "too few runs"
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

-- The verdict in words ----------------------------------------------------

local function runs_text(result)
  if result.paired then
    return fmt.int(result.runs[1]) .. " interleaved pairs"
  end
  return fmt.int(result.runs[1]) .. "+" .. fmt.int(result.runs[2]) .. " runs"
end

local function interval_text(result)
  local primary = result.primary
  if not primary.ratio_lo then return nil end
  local conf = math.floor((1 - result.alpha) * 100 + 0.5)
  local lo = fmt.pct((primary.ratio_lo - 1) * 100)
  local hi = fmt.pct((primary.ratio_hi - 1) * 100)
  if result.basis.key == "instructions" then
    return string.format("range %s to %s", lo, hi)
  end
  return string.format("%d%% CI %s to %s", conf, lo, hi)
end

-- "CPU time +12.30% (95% CI +8.10% to +16.40%, p=0.002, 10 interleaved
-- pairs)": the change, its interval and p, from one test.
function compare.change_text(result)
  local primary = result.primary
  local change = primary.delta_pct and fmt.pct(primary.delta_pct) or "n/a"
  if not primary.significant and result.timing_verdict ~= "too few runs" then
    change = "~ " .. change
  end
  local parts = {}
  parts[#parts + 1] = interval_text(result)
  if result.basis.key == "instructions" then
    parts[#parts + 1] = string.format("exact counts, noise band ±%s%%",
      fmt.value(compare.INSTRUCTION_BAND))
  elseif primary.p then
    parts[#parts + 1] = fmt.p_eq(primary.p)
  end
  parts[#parts + 1] = runs_text(result)
  return string.format("%s %s (%s)", result.basis.label, change,
    table.concat(parts, ", "))
end

-- The functions (self time) with a significant change, largest first:
-- "handle_data +30.12%, sma_update -5.00%" (at most three).
function compare.changed_functions(result)
  local rows = {}
  for _, row in ipairs(result.self) do
    if row.significant and row.tested then rows[#rows + 1] = row end
  end
  table.sort(rows, function(a, b)
    if math.abs(a.delta_ns) ~= math.abs(b.delta_ns) then
      return math.abs(a.delta_ns) > math.abs(b.delta_ns)
    end
    return a.name < b.name
  end)
  local names = {}
  for i = 1, math.min(3, #rows) do
    local name = rows[i].name:match("%(([^()]*)%)$") or rows[i].name
    names[i] = name .. " " .. (rows[i].delta_pct and fmt.pct(rows[i].delta_pct)
      or "new")
  end
  return names
end

-- When the verdict is significant but no function's change survives the
-- correction over all detail rows: the function (self time, above the
-- noise floor) whose change goes the verdict's way, is significant on its
-- own (p < alpha) and is the largest; nil when there is none.
function compare.carrying_function(result)
  local sign = ({ slower = 1, faster = -1 })[result.timing_verdict]
  if not sign then return nil end
  local best
  for _, row in ipairs(result.self) do
    if row.tested and row.in_scope and row.p and row.p < result.alpha
      and row.delta_pct and row.delta_ns * sign > 0
      and (not best or math.abs(row.delta_ns) > math.abs(best.delta_ns)) then
      best = row
    end
  end
  return best
end

-- The one-line verdict of a scenario, as the console and the report's
-- first line say it.
function compare.verdict_line(result)
  local line = string.format("%s: %s, %s", tostring(result.scenario),
    result.verdict, compare.change_text(result))
  if result.timing_verdict == "too few runs" then
    line = line .. string.format("; too few runs to ever reach p<%s (at "
      .. "least %s needed)", fmt.value(result.alpha), result.primary.needed)
  end
  local changed = compare.changed_functions(result)
  if #changed > 0 then
    line = line .. "; functions: " .. table.concat(changed, ", ")
  else
    local carrier = compare.carrying_function(result)
    if carrier then
      line = line .. string.format("; largest function change: %s %s (%s "
        .. "before correction)", carrier.name:match("%(([^()]*)%)$")
        or carrier.name, fmt.pct(carrier.delta_pct), fmt.p_eq(carrier.p))
    end
  end
  return line
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
  if row.primary and not row.significant and row.delta_pct then
    return "~"
  end
  if row.before_median == 0 and row.after_median > 0 then return "new" end
  if row.after_median == 0 and row.before_median > 0 then return "gone" end
  if not row.delta_pct then return fmt.pct(0) end
  return fmt.pct(row.delta_pct)
end

local function p_text(row)
  if row.info then return "(shown, not tested)" end
  if row.primary then
    if row.method == "counts" then return "exact" end
    return fmt.p(row.p)
  end
  if row.p_adj then return fmt.p(row.p_adj) end
  if row.tested then return "(not tested: below noise floor)" end
  return "n/a"
end

local function table_row(cells)
  return "| " .. table.concat(cells, " | ") .. " |"
end

local function formatter_for(row)
  if row.name == "total cycles" or row.name == "instructions" then
    return fmt.count
  end
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

local function metadata_lines(result, out)
  local bm = result.before.profile and result.before.profile.meta or {}
  local am = result.after.profile and result.after.profile.meta or {}
  out[#out + 1] = "## Metadata"
  out[#out + 1] = ""
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
      out[#out + 1] = table_row({ "interleaved",
        fmt.value(result.interleaved[1] or "no"),
        fmt.value(result.interleaved[2] or "no") })
    end
  end
  out[#out + 1] = ""
end

-- The top of the report: the verdict line, then what a reader must know
-- before trusting it (different results, too few runs, warnings).
local function verdict_lines(result, out)
  out[#out + 1] = "**" .. compare.verdict_line(result) .. "**"
  out[#out + 1] = ""
  if result.different then
    out[#out + 1] = "> **Different results:** the two sides did not do the "
      .. "same work, so the timing change is not a speedup or a slowdown"
      .. (result.results_failed and " (the gate fails; "
        .. "`--allow-different-results` accepts it)" or "") .. ". What differs:"
    for _, line in ipairs(result.same_work.differences) do
      out[#out + 1] = "> - " .. line
    end
    out[#out + 1] = ""
  end
  if result.timing_verdict == "too few runs" then
    out[#out + 1] = string.format("> **Too few runs:** with %s no change can "
      .. "reach p<%s; at least %s are needed%s.", runs_text(result),
      fmt.value(result.alpha), result.primary.needed,
      result.gate and " (with `--fail-on-regression` this is an error, "
        .. "exit 2)" or "")
    out[#out + 1] = ""
  end
  if result.basis.key == "wall" then
    out[#out + 1] = "> **Wall time basis:** these runs record no CPU time "
      .. "or instruction counts, so the verdict rests on wall time, which a "
      .. "loaded machine moves."
    out[#out + 1] = ""
  end
  if result.load_warning then
    out[#out + 1] = "> **Warning:** " .. result.load_warning .. "."
    out[#out + 1] = ""
  end
  if #result.timing_warnings > 0 then
    out[#out + 1] = "> **Warning: these timings are not comparable:** the "
      .. "runs differ in " .. table.concat(result.timing_warnings, "; ") .. "."
    out[#out + 1] = ""
  end
end

local function overall_lines(result, out)
  out[#out + 1] = "## Overall"
  out[#out + 1] = ""
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
    out[#out + 1] = "Results differ: see the top of this report."
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
  local total = result.total_ns
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
  if not result.profiled then
    out[#out + 1] = "Not profiled (`--profiler none`): no zones or functions."
    out[#out + 1] = ""
    return
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
  if not result.profiled then return end
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
  if not result.profiled then return end
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

local BASIS_METHOD = {
  instructions = "The verdict rests on instruction counts (`--profiler "
    .. "instructions`): exact and repeatable, so a change beyond the ±%s%% "
    .. "noise band is significant by definition, and the range is the "
    .. "smallest to the largest ratio.",
  cpu = "The verdict rests on each run's thread CPU time (user + system), "
    .. "which time taken by other processes does not inflate.",
  wall = "The verdict rests on wall time: these runs record nothing better.",
}

local function method_lines(result, out)
  out[#out + 1] = "## Method"
  out[#out + 1] = ""
  local conf = math.floor((1 - result.alpha) * 100 + 0.5)
  local text = string.format(BASIS_METHOD[result.basis.key],
    fmt.value(compare.INSTRUCTION_BAND))
  if result.basis.key ~= "instructions" and result.paired then
    text = text .. string.format(" Before and after ran interleaved; the "
      .. "change is the Hodges-Lehmann estimate of the after/before ratio "
      .. "over the pairs, with its %d%% interval and p from the same "
      .. "Wilcoxon signed-rank test (the interval excludes 0 exactly when p "
      .. "< %s; at least %s are needed to reach it).", conf,
      fmt.value(result.alpha), result.primary.needed)
  elseif result.basis.key ~= "instructions" then
    text = text .. string.format(" The change is the Hodges-Lehmann "
      .. "estimate of after/before with its %d%% Moses interval and the "
      .. "two-sided Mann-Whitney U p-value: one procedure, so they agree "
      .. "(at least %s are needed to reach p < %s).", conf,
      result.primary.needed, fmt.value(result.alpha))
  end
  text = text .. " Wall time and cycles are shown, never tested. Detail "
    .. "rows (zones, functions: hook-corrected self and cumulative time) "
    .. "are medians over runs, ± the distribution-free interval of the "
    .. "median, p " .. (result.paired and "the signed-rank test of the "
    .. "pairs" or "the Mann-Whitney U test") .. ", Holm-corrected over the "
    .. "report's detail rows; `~` marks a change that is not significant."
  out[#out + 1] = text
  out[#out + 1] = string.format("Changes smaller than %s%% of the total "
    .. "(%s) are not listed, and detail rows below it on both sides are not "
    .. "tested.", fmt.value(result.noise_floor), fmt.ns(result.floor_ns))
  out[#out + 1] = ""
end

-- The markdown report for one compare_sides() result: the verdict first,
-- the metadata last.
function compare.render(result)
  local out = {}
  verdict_lines(result, out)
  out[#out + 1] = "# Profile comparison: " .. tostring(result.scenario)
  out[#out + 1] = ""
  overall_lines(result, out)
  same_work_lines(result, out)
  top_lines(result, out, "Regressions", 1)
  top_lines(result, out, "Improvements", -1)
  zone_lines(result, out)
  memory_lines(result, out)
  method_lines(result, out)
  metadata_lines(result, out)
  return table.concat(out, "\n")
end

-- A plain table of a result for --json (numbers as numbers, no samples).
function compare.summary(result)
  local primary = result.primary
  local function pct(ratio) return ratio and (ratio - 1) * 100 or nil end
  local functions = {}
  for _, sign in ipairs({ 1, -1 }) do
    for _, row in ipairs(compare.notable(result, "self", sign)) do
      functions[#functions + 1] = { name = row.name,
        change_pct = row.delta_pct, delta_ns = row.delta_ns, p = row.p_adj }
    end
  end
  return {
    scenario = result.scenario, verdict = result.verdict,
    timing_verdict = result.timing_verdict, basis = result.basis.key,
    change_pct = primary.delta_pct, ci_low_pct = pct(primary.ratio_lo),
    ci_high_pct = pct(primary.ratio_hi), p = primary.p,
    significant = primary.significant or false,
    runs = { result.runs[1], result.runs[2] }, paired = result.paired,
    runs_needed = primary.needed, too_few_runs = primary.too_few or false,
    -- Lists only when non-empty: cjson writes an empty table as {}.
    different_results = #result.same_work.differences > 0
      and result.same_work.differences or nil,
    results_checked = #result.same_work.checked > 0
      and result.same_work.checked or nil,
    before_median = primary.before_median, after_median = primary.after_median,
    functions = #functions > 0 and functions or nil,
    line = compare.verdict_line(result),
    load_warning = result.load_warning,
  }
end

-- Loading a run's output directory ------------------------------------------

local read_file = require("btlua.util").read_file

-- A .btprof through btlua.profile (required here: profile requires this
-- module's neighbours at load time).
function compare.load_profile(path)
  return require("btlua.profile").load(path)
end
local default_loader = compare.load_profile

-- The scenario names S of every S.btprof or S_results.json in dir (runs
-- with --profiler none write no profile), sorted; nil, msg when the
-- directory cannot be listed.
function compare.scenarios_in(dir)
  local probe = io.open(dir .. "/.", "rb")
  if not probe then return nil, dir .. ": not a readable directory" end
  probe:close()
  local entries, err = require("btlua.core").list_dir(dir)
  if not entries then return nil, err end
  local names, seen = {}, {}
  for _, entry in ipairs(entries) do
    local name = entry:match("^(.+)%.btprof$")
      or entry:match("^(.+)_results%.json$")
    if name and not seen[name] then
      seen[name] = true
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names
end

-- One side of one scenario: { label, profile, results, fills } or nil, msg.
function compare.load_side(dir, scenario, opts)
  local loader = opts and opts.load_profile or default_loader
  local path = dir .. "/" .. scenario .. ".btprof"
  local json_text, too_big = read_file(dir .. "/" .. scenario
    .. "_results.json")
  if too_big then return nil, too_big end
  local profile, err
  local probe = io.open(path, "rb")
  if probe then probe:close() end
  if json_text and not probe then
    profile = nil -- a run with --profiler none: results only
  else
    profile, err = loader(path)
    if not profile then return nil, err or (path .. ": cannot load") end
  end
  local side = { label = dir, profile = profile }
  if json_text then
    local cjson = require "cjson.safe"
    local results, json_err = cjson.decode(json_text)
    if type(results) ~= "table" then
      return nil, dir .. "/" .. scenario .. "_results.json: "
        .. tostring(json_err or "not a JSON object")
    end
    side.results = results
  end
  side.fills, too_big = read_file(dir .. "/" .. scenario .. "_fills.csv")
  if too_big then return nil, too_big end
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
      return nil, string.format("scenario '%s': no %s.btprof or "
        .. "%s_results.json in %s", wanted, wanted, wanted,
        in_before[wanted] and after_dir or before_dir)
    end
    return { wanted }, {}
  end
  if #common == 0 then
    return nil, string.format("no scenario ran in both %s and %s",
      before_dir, after_dir)
  end
  return common, skipped
end

-- Compares two run directories. opts: scenario ("all"), output (one file
-- for all scenarios), output_dir (default after_dir), write (default true),
-- alpha, noise_floor, top, fail_on_regression, allow_different_results,
-- paired, load_profile(path).
-- Returns { scenarios = { {name, result, text, path} ... }, skipped = {...},
-- gate_tripped = bool, different = bool, too_few = bool, status = 0|1|2 }
-- or nil, msg for bad input. status: 1 when results differ (unless
-- allowed) or a significant slowdown passed fail_on_regression; else 2
-- when fail_on_regression was given but too few runs could ever reach
-- significance; else 0.
-- The model html.comparison draws (comparison.html): per scenario the
-- verdict line, whether the work was the same, the functions whose self
-- time moved most (before/after medians, change, p, significance) and
-- both profiles for the differential flame graph.
local VERDICT_MARK = { faster = "faster", slower = "slower",
                       ["different results"] = "different" }
function compare.html_model(before_dir, after_dir, outcome)
  local model = { before = before_dir, after = after_dir, scenarios = {} }
  for _, entry in ipairs(outcome.scenarios) do
    local result = entry.result
    local functions = {}
    for _, row in ipairs(result.self or {}) do
      if row.before_median > 0 or row.after_median > 0 then
        functions[#functions + 1] = { name = row.name,
          before = row.before_median, after = row.after_median,
          delta_pct = row.delta_pct, p = row.p_adj,
          significant = row.significant or false }
      end
    end
    table.sort(functions, function(a, b)
      local da, db = math.abs(a.after - a.before), math.abs(b.after - b.before)
      if da ~= db then return da > db end
      return a.name < b.name
    end)
    for i = #functions, 31, -1 do functions[i] = nil end
    model.scenarios[#model.scenarios + 1] = { name = entry.name,
      verdict = VERDICT_MARK[result.verdict] or "~",
      summary = compare.verdict_line(result),
      same_work = not result.different, functions = functions,
      before_profile = entry.before_profile,
      after_profile = entry.after_profile }
  end
  return model
end

function compare.compare(before_dir, after_dir, opts)
  opts = opts or {}
  local names, skipped = scenario_list(before_dir, after_dir, opts.scenario)
  if not names then return nil, skipped end
  local outcome = { scenarios = {}, skipped = skipped, gate_tripped = false,
                    different = false, too_few = false }
  local texts = {}
  for _, name in ipairs(names) do
    local before, err = compare.load_side(before_dir, name, opts)
    if not before then return nil, err end
    local after, after_err = compare.load_side(after_dir, name, opts)
    if not after then return nil, after_err end
    local result = compare.compare_sides(before, after, opts)
    result.scenario = result.scenario or name
    local entry = { name = name, result = result,
                    text = compare.render(result),
                    before_profile = before.profile,
                    after_profile = after.profile }
    if not opts.output then
      entry.path = (opts.output_dir or after_dir) .. "/profile_comparison_"
        .. name .. ".md"
    end
    outcome.scenarios[#outcome.scenarios + 1] = entry
    texts[#texts + 1] = entry.text
    outcome.gate_tripped = outcome.gate_tripped or result.gate_tripped
    outcome.different = outcome.different or result.results_failed
    outcome.too_few = outcome.too_few or result.too_few_error
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
      -- The same comparison as a page: verdicts first, then functions
      -- and the differential flame graph.
      local page = (opts.output_dir or after_dir) .. "/comparison.html"
      local html = require("btlua.html").comparison(
        compare.html_model(before_dir, after_dir, outcome))
      local done, err = util.write_atomically(page, html)
      if not done then return nil, "cannot write " .. tostring(err) end
      outcome.html = page
    end
  end
  if outcome.different or outcome.gate_tripped then
    outcome.status = 1
  elseif outcome.too_few then
    outcome.status = 2
  else
    outcome.status = 0
  end
  return outcome
end

-- btlua.compare(before_dir, after_dir, opts) is compare.compare.
return setmetatable(compare, {
  __call = function(_, before_dir, after_dir, opts)
    return compare.compare(before_dir, after_dir, opts)
  end,
})
