-- ci_compare.lua: a CI batch comparison, a plain btlua script (not a
-- scenario): runs every scenario N times, compares the run against a stored
-- baseline directory and exits 1 on a significant regression.
--   btlua scenarios/ci_compare.lua BASE_DIR [--repeat N]
--         [--fail-on-regression PCT] [--output-dir DIR] [--update-baseline]
--         [--scenario NAME] [--param K=V ...] [--set FIELD=V ...]
-- Exit status: 0 ok, 1 a run failed or the gate tripped, 2 bad usage/input.

-- Only act when run as a script: scenario discovery may load this file.
local script = arg and arg[0]
if type(script) ~= "string" or not script:match("ci_compare%.lua$") then
  return nil
end

local argparse = require "argparse"

local function parse(words)
  local p = argparse("btlua scenarios/ci_compare.lua", "Run every scenario "
    .. "N times and compare against a baseline run directory.")
  p:argument("base_dir", "The baseline: an earlier run's output directory.")
  p:option("--repeat", "Runs per scenario.", "10")
  p:option("--fail-on-regression", "Fail when the run time (CPU time) "
    .. "regressed significantly by more than PCT percent.", "5")
    :argname("PCT")
  p:option("--alpha", "Family-wise significance level.", "0.05")
  p:option("--scenario", "Scenario to run (daily, hourly, minute, all).",
    "all")
  p:option("--profiler", "Profiler of both runs (must match the baseline).",
    "cycles")
  p:option("--output-dir", "Where this run goes.", "profiles/ci")
  p:option("--btlua", "The btlua executable (default: this one).")
  p:option("--param", "Passed to btlua run (K=V).")
    :count("*"):argname("K=V")
  p:option("--set", "Passed to btlua run (FIELD=V), e.g. to shrink data.")
    :count("*"):argname("FIELD=V")
  p:flag("--update-baseline", "Store this run as the new baseline "
    .. "afterwards (also when there is no baseline yet).")
  local ok, args = p:pparse(words)
  if not ok then
    io.stderr:write(p:get_usage(), "\nci_compare: ", args, "\n")
    return nil
  end
  return args
end

local function quote(text)
  return "'" .. tostring(text):gsub("'", "'\\''") .. "'"
end

-- os.execute's status on Lua 5.4 (ok, "exit", code) and 5.1 (a number).
local function execute(command)
  local first, _, code = os.execute(command)
  if type(first) == "number" then
    return first == 0, first >= 256 and first / 256 or first
  end
  return first == true, code or 1
end

local function has_profiles(dir)
  local names = require("btlua.compare").scenarios_in(dir)
  return names ~= nil and #names > 0
end

local function main(words)
  local args = parse(words)
  if not args then return 2 end
  local runs = tonumber(args["repeat"])
  if not runs or runs < 1 or runs ~= math.floor(runs) then
    io.stderr:write("ci_compare: --repeat: expected a positive integer\n")
    return 2
  end
  local baseline = has_profiles(args.base_dir)
  if not baseline and not args.update_baseline then
    io.stderr:write("ci_compare: ", args.base_dir, ": no baseline profiles "
      .. "(run once with --update-baseline to store one)\n")
    return 2
  end
  local btlua = args.btlua or arg[-1]
  local run = table.concat({ quote(btlua), "run", "--scenario",
    quote(args.scenario), "--repeat", string.format("%d", runs),
    "--profiler", quote(args.profiler), "--output-dir",
    quote(args.output_dir), "-q" }, " ")
  for _, flag in ipairs({ "param", "set" }) do
    for _, value in ipairs(args[flag]) do
      run = run .. " --" .. flag .. " " .. quote(value)
    end
  end
  io.write("ci_compare: ", run, "\n")
  io.stdout:flush()
  local ran, code = execute(run)
  if not ran then
    io.stderr:write("ci_compare: the run failed (exit ", tostring(code),
      ")\n")
    return 1
  end
  local status = 0
  if baseline then
    status = require("btlua.cmd.compare")({ args.base_dir, args.output_dir,
      "--fail-on-regression", args.fail_on_regression, "--alpha", args.alpha,
      "--scenario", args.scenario })
  end
  if args.update_baseline and status ~= 2 then
    local copied = execute("mkdir -p " .. quote(args.base_dir) .. " && cp "
      .. quote(args.output_dir) .. "/. " .. quote(args.base_dir) .. " -R")
    if not copied then
      io.stderr:write("ci_compare: cannot update ", args.base_dir, "\n")
      return 1
    end
    io.write("ci_compare: baseline updated: ", args.base_dir, "\n")
  end
  return status
end

os.exit(main({ ... }))
