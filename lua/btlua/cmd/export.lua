-- btlua.cmd.export: `btlua export PROFILE.btprof --format FORMAT [--output
-- FILE]`: a .btprof as callgrind, folded stacks, speedscope JSON, Chrome
-- trace events, a flame graph SVG, or the summary/memory text. Returns 0 ok,
-- 2 bad usage or a missing, truncated or corrupt profile.
local argparse = require "argparse"
local util = require "btlua.util"
local profile = require "btlua.profile"

local EXIT_OK, EXIT_BAD_INPUT = util.EXIT_OK, util.EXIT_BAD_INPUT

local FORMATS = {
  callgrind = profile.callgrind,
  folded = profile.folded,
  speedscope = profile.speedscope,
  trace = profile.trace,
  svg = profile.flame_svg,
  summary = profile.summary,
  memory = profile.memory_report,
}

local function parser()
  local p = argparse("btlua export", "Convert a .btprof profile for other "
    .. "tools: callgrind (KCachegrind, callgrind_annotate), folded "
    .. "(flamegraph.pl), speedscope, trace (chrome://tracing, Perfetto), "
    .. "svg (flame graph), summary, memory.")
  p:argument("profile", "The .btprof file.")
  p:option("-f --format",
    "callgrind|folded|speedscope|trace|svg|summary|memory.")
    :args(1):count(1)
  p:option("-o --output", "Write here (default: stdout).")
  return p
end

return function(words)
  local p = parser()
  local args, status = util.parse_args(p, words, "export")
  if not args then return status end
  local convert = FORMATS[args.format]
  if not convert then
    return util.fail("export", string.format("unknown format '%s' (callgrind, folded, "
      .. "speedscope, trace, svg, summary, memory)", tostring(args.format)))
  end
  local data, err = profile.load(args.profile)
  if not data then return util.fail("export", err) end
  local text = convert(data)
  if not args.output then
    io.write(text)
    return EXIT_OK
  end
  local done, write_err = util.write_atomically(args.output, text)
  if not done then return util.fail("export", "cannot write " .. tostring(write_err)) end
  return EXIT_OK
end
