-- btlua.cmd.report: `btlua report PROFILE_DIR|FILE.btprof [--output FILE]`,
-- the bottleneck report. Returns 0 ok, 2 bad usage or input.
local argparse = require "argparse"
local report = require "btlua.report"

local EXIT_OK, EXIT_BAD_INPUT = 0, 2

local function parser()
  local p = argparse("btlua report", "Bottleneck report: every zone or "
    .. "function above a share of wall time, by category, with ranked "
    .. "optimisation targets.")
  p:argument("profiles", "A run's output directory or one .btprof file.")
  p:option("-o --output", "Write the markdown here (default: stdout).")
  p:option("--scenario", "Scenario name, or all.", "all")
  p:option("--threshold", "Minimum share of wall time, percent.", "5")
    :argname("PCT")
  return p
end

local function fail(message)
  io.stderr:write("btlua report: ", message, "\n")
  return EXIT_BAD_INPUT
end

local function write_atomically(path, text)
  local tmp = path .. ".tmp"
  local file, err = io.open(tmp, "wb")
  if not file then return nil, err end
  file:write(text)
  file:close()
  local renamed, rename_err = os.rename(tmp, path)
  if not renamed then os.remove(tmp) return nil, rename_err end
  return true
end

-- opts.load_profile (for tests) replaces btlua.profile.load.
return function(words, opts)
  local p = parser()
  local ok, args = p:pparse(words)
  if not ok then
    io.stderr:write(p:get_usage(), "\n")
    return fail(args)
  end
  local threshold = tonumber(args.threshold)
  if not threshold or threshold <= 0 or threshold > 100 then
    return fail("--threshold: expected a percentage in (0, 100], got '"
      .. tostring(args.threshold) .. "'")
  end
  local text, err = report.bottlenecks(args.profiles, {
    scenario = args.scenario, threshold = threshold,
    load_profile = opts and opts.load_profile })
  if not text then return fail(err) end
  if not args.output then
    io.write(text)
    return EXIT_OK
  end
  local done, write_err = write_atomically(args.output, text)
  if not done then return fail("cannot write " .. tostring(write_err)) end
  io.write("report -> ", args.output, "\n")
  return EXIT_OK
end
