-- btlua.cmd.compare: `btlua compare BEFORE_DIR AFTER_DIR [options]`, the
-- before/after comparison for people and CI. Returns the exit status:
-- 0 ok, 1 the regression gate tripped, 2 bad usage or input.
local argparse = require "argparse"
local util = require "btlua.util"
local compare = require "btlua.compare"
local fmt = require("btlua.report").fmt

local EXIT_OK, EXIT_GATE, EXIT_BAD_INPUT = 0, 1, 2

local function parser()
  local p = argparse("btlua compare", "Compare two runs' profiles "
    .. "(per scenario S, writes profile_comparison_S.md).")
  p:argument("before_dir", "Output directory of the earlier run.")
  p:argument("after_dir", "Output directory of the later run.")
  p:option("--scenario", "Scenario name, or all.", "all")
  p:option("--output", "Write one markdown file here instead.")
  p:option("--output-dir", "Where profile_comparison_S.md go "
    .. "(default: AFTER_DIR).")
  p:option("--fail-on-regression", "Exit 1 when the run time (CPU time "
    .. "when both sides recorded it, else wall time) regressed "
    .. "significantly by more than PCT percent."):argname("PCT")
  p:option("--alpha", "Family-wise significance level.", "0.05")
  p:option("--noise-floor", "Changes below PCT percent of total wall time "
    .. "are not listed.", "1"):argname("PCT")
  p:option("--top", "Rows per top-regressions/improvements table.", "10")
  p:flag("-q --quiet", "Print nothing on success.")
  return p
end

-- A number from an option, or nil, message.
local function number_option(args, key, flag, lo, hi)
  if args[key] == nil then return nil end
  local value = tonumber(args[key])
  if not value or value < lo or value > hi then
    return nil, string.format("%s: expected a number in [%s, %s], got '%s'",
      flag, fmt.value(lo), fmt.value(hi), tostring(args[key]))
  end
  return value
end

local function summary_line(entry)
  local result = entry.result
  local wall = result.overall[1]
  local change = wall.delta_pct and fmt.pct(wall.delta_pct) or "n/a"
  local line = string.format("%s: %s, %s %s", entry.name,
    result.verdict, result.clock or "wall time", change)
  if wall.p_adj then line = line .. " (" .. fmt.p_eq(wall.p_adj) .. ")" end
  if entry.path then line = line .. " -> " .. entry.path end
  return line
end

-- opts.load_profile (for tests) replaces btlua.profile.load.
return function(words, opts)
  local p = parser()
  local args, status = util.parse_args(p, words, "compare")
  if not args then return status end
  local options = { scenario = args.scenario, output = args.output,
                    output_dir = args.output_dir,
                    load_profile = opts and opts.load_profile }
  local checks = {
    { "alpha", "--alpha", 1e-9, 0.5 },
    { "noise_floor", "--noise-floor", 0, 100 },
    { "top", "--top", 1, 1e6 },
    { "fail_on_regression", "--fail-on-regression", 0, 1e6 },
  }
  for _, check in ipairs(checks) do
    local value, err = number_option(args, check[1], check[2], check[3],
      check[4])
    if err then return util.fail("compare", err) end
    options[check[1]] = value
  end
  local outcome, err = compare.compare(args.before_dir, args.after_dir,
    options)
  if not outcome then return util.fail("compare", err) end
  if not args.quiet then
    for _, entry in ipairs(outcome.scenarios) do
      io.write(summary_line(entry), "\n")
    end
    if outcome.output then io.write("report -> ", outcome.output, "\n") end
  end
  for _, name in ipairs(outcome.skipped) do
    io.stderr:write("btlua compare: skipped ", name, "\n")
  end
  if outcome.gate_tripped then
    io.stderr:write(string.format("btlua compare: %s regressed "
      .. "significantly by more than %s%%\n", outcome.gate_clock or "wall time",
      fmt.value(options.fail_on_regression)))
    return EXIT_GATE
  end
  return EXIT_OK
end
