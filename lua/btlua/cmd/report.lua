-- btlua.cmd.report: `btlua report PROFILE_DIR|FILE.btprof [--output FILE]`,
-- the bottleneck report; `btlua report --html PROFILE_DIR` writes
-- PROFILE_DIR/index.html (btlua.html). Returns 0 ok, 2 bad usage or input.
local argparse = require "argparse"
local util = require "btlua.util"
local report = require "btlua.report"

local EXIT_OK, EXIT_BAD_INPUT = util.EXIT_OK, util.EXIT_BAD_INPUT

local function parser()
  local p = argparse("btlua report", "Bottleneck report: every zone or "
    .. "function above a share of wall time, by category, with ranked "
    .. "optimisation targets.")
  p:argument("profiles", "A run's output directory or one .btprof file.")
  p:option("-o --output", "Write the markdown here (default: stdout).")
  p:option("--scenario", "Scenario name, or all.", "all")
  p:option("--threshold", "Minimum share of wall time, percent.", "5")
    :argname("PCT")
  p:flag("--html", "Write PROFILE_DIR/index.html (the run at a glance: "
    .. "results, equity and drawdown, zones, functions, flame graph) instead.")
  return p
end

-- opts.load_profile (for tests) replaces btlua.profile.load.
return function(words, opts)
  local p = parser()
  local args, status = util.parse_args(p, words, "report")
  if not args then return status end
  if args.html then
    local page, err = require("btlua.html").write_index(args.profiles,
      args.scenario ~= "all" and { args.scenario } or nil)
    if not page then return util.fail("report", err) end
    io.write("report -> ", page, "\n")
    return EXIT_OK
  end
  local threshold = tonumber(args.threshold)
  if not threshold or threshold <= 0 or threshold > 100 then
    return util.fail("report", "--threshold: expected a percentage in (0, 100], got '"
      .. tostring(args.threshold) .. "'")
  end
  local text, err = report.bottlenecks(args.profiles, {
    scenario = args.scenario, threshold = threshold,
    load_profile = opts and opts.load_profile })
  if not text then return util.fail("report", err) end
  if not args.output then
    io.write(text)
    return EXIT_OK
  end
  local done, write_err = util.write_atomically(args.output, text)
  if not done then return util.fail("report", "cannot write " .. tostring(write_err)) end
  io.write("report -> ", args.output, "\n")
  return EXIT_OK
end
