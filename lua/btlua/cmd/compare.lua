-- btlua.cmd.compare: `btlua compare BEFORE_DIR AFTER_DIR [options]`, the
-- before/after comparison for people and CI. Returns the exit status:
-- 0 ok, 1 different results or the regression gate tripped, 2 bad usage or
-- input (or too few runs for --fail-on-regression to mean anything).
-- Its output helpers (verdict lines, --json, GITHUB_STEP_SUMMARY) are
-- shared with `btlua ab`.
local argparse = require "argparse"
local util = require "btlua.util"
local compare = require "btlua.compare"
local fmt = require("btlua.report").fmt

local EXIT_OK, EXIT_GATE, EXIT_BAD_INPUT = util.EXIT_OK, util.EXIT_FAILED,
  util.EXIT_BAD_INPUT

local function parser()
  local p = argparse("btlua compare", "Compare two runs (per scenario S, "
    .. "writes profile_comparison_S.md): the verdict rests on CPU time, or "
    .. "on instruction counts when the runs have them.")
  p:argument("before_dir", "Output directory of the earlier run.")
  p:argument("after_dir", "Output directory of the later run.")
  p:option("--scenario", "Scenario name, or all.", "all")
  p:option("--output", "Write one markdown file here instead.")
  p:option("--output-dir", "Where profile_comparison_S.md go "
    .. "(default: AFTER_DIR).")
  p:option("--fail-on-regression", "Exit 1 when the verdict's measure "
    .. "(CPU time or instructions) regressed significantly by more than PCT "
    .. "percent; exit 2 when too few runs could ever show it."):argname("PCT")
  p:flag("--allow-different-results", "Do not fail (exit 1) when the two "
    .. "sides' results differ.")
  p:option("--json", "Also write the verdicts as JSON to FILE.")
    :argname("FILE")
  p:option("--alpha", "Significance level.", "0.05")
  p:option("--noise-floor", "Changes below PCT percent of the total "
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

local M = {}

-- Options shared with btlua ab: checked numbers into options; nil, msg.
function M.number_options(args, options)
  local checks = {
    { "alpha", "--alpha", 1e-9, 0.5 },
    { "noise_floor", "--noise-floor", 0, 100 },
    { "top", "--top", 1, 1e6 },
    { "fail_on_regression", "--fail-on-regression", 0, 1e6 },
  }
  for _, check in ipairs(checks) do
    local value, err = number_option(args, check[1], check[2], check[3],
      check[4])
    if err then return nil, err end
    options[check[1]] = value
  end
  return options
end

function M.summary_line(entry)
  local line = compare.verdict_line(entry.result)
  if entry.path then line = line .. " -> " .. entry.path end
  return line
end

-- The outcome as JSON text: { status, scenarios = [summary...] }.
function M.json_text(outcome, extra)
  local cjson = require "cjson"
  local list = {}
  for i, entry in ipairs(outcome.scenarios) do
    list[i] = compare.summary(entry.result)
    list[i].report = entry.path
  end
  local doc = { status = outcome.status, scenarios = list }
  for key, value in pairs(extra or {}) do doc[key] = value end
  return cjson.encode(doc) .. "\n"
end

-- Appends the verdict lines and reports to $GITHUB_STEP_SUMMARY when set.
function M.step_summary(outcome, title)
  local path = os.getenv("GITHUB_STEP_SUMMARY")
  if not path or path == "" then return end
  local file = io.open(path, "ab")
  if not file then
    io.stderr:write("btlua: cannot append to GITHUB_STEP_SUMMARY ", path, "\n")
    return
  end
  file:write("## ", title, "\n\n")
  for _, entry in ipairs(outcome.scenarios) do
    file:write("- ", compare.verdict_line(entry.result), "\n")
  end
  for _, entry in ipairs(outcome.scenarios) do
    file:write("\n<details><summary>", tostring(entry.name),
      "</summary>\n\n", entry.text, "\n</details>\n")
  end
  file:write("\n")
  file:close()
end

-- Prints the verdicts and the reasons for a non-zero status; writes --json
-- and the step summary. Returns the exit status. `who`: "compare" or "ab".
function M.finish(outcome, args, options, who, extra)
  if not args.quiet then
    for _, entry in ipairs(outcome.scenarios) do
      io.write(M.summary_line(entry), "\n")
    end
    if outcome.output then io.write("report -> ", outcome.output, "\n") end
  end
  for _, name in ipairs(outcome.skipped or {}) do
    io.stderr:write("btlua ", who, ": skipped ", name, "\n")
  end
  if args.json then
    local done, err = util.write_atomically(args.json,
      M.json_text(outcome, extra))
    if not done then
      return util.fail(who, "--json " .. args.json .. ": " .. tostring(err))
    end
  end
  M.step_summary(outcome, "btlua " .. who)
  if outcome.different then
    io.stderr:write("btlua ", who, ": different results (see the report; "
      .. "--allow-different-results accepts them)\n")
  end
  if outcome.gate_tripped then
    io.stderr:write(string.format("btlua %s: regressed significantly by "
      .. "more than %s%%\n", who, fmt.value(options.fail_on_regression)))
  end
  if outcome.status == EXIT_BAD_INPUT then
    io.stderr:write(string.format("btlua %s: --fail-on-regression %s: too "
      .. "few runs to ever reach significance (see the report)\n", who,
      fmt.value(options.fail_on_regression)))
  end
  return outcome.status
end

-- opts.load_profile (for tests) replaces btlua.profile.load.
function M.main(words, opts)
  local p = parser()
  local args, status = util.parse_args(p, words, "compare")
  if not args then return status end
  local options = { scenario = args.scenario, output = args.output,
                    output_dir = args.output_dir,
                    allow_different_results = args.allow_different_results,
                    load_profile = opts and opts.load_profile }
  local _, err = M.number_options(args, options)
  if err then return util.fail("compare", err) end
  local outcome
  outcome, err = compare.compare(args.before_dir, args.after_dir, options)
  if not outcome then return util.fail("compare", err) end
  return M.finish(outcome, args, options, "compare")
end

return setmetatable(M, {
  __call = function(_, words, opts) return M.main(words, opts) end,
})
