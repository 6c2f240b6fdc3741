-- btlua.cmd.ingest: `btlua ingest CSV_FILE_OR_DIR --out BUNDLE [options]`:
-- CSV files -> a bundle (core.store.ingest). Returns the exit status: 0 ok,
-- 2 bad usage or bad input (then nothing is written at --out).
local argparse = require "argparse"
local store = require("btlua.core").store

local util = require "btlua.util"
local EXIT_OK, EXIT_BAD_INPUT = util.EXIT_OK, util.EXIT_BAD_INPUT
local MAX_SHOWN_SKIPS = 10

local function make_parser()
  local parser = argparse("btlua ingest",
    "Convert CSV files (one per asset, or long files with a symbol column) "
    .. "into a btlua bundle.")
  parser:argument("source", "A CSV file or a directory of *.csv files.")
  parser:option("--out", "The bundle file to write."):count(1)
  parser:option("--frequency",
    "daily, hourly, minute, Nmin or Nh (default: from the data's spacing).")
  parser:option("--on-bad-row", "What a bad row does: error or skip.")
    :choices({ "error", "skip" }):default("error")
  parser:option("--calendar",
    "24/7, weekdays or XNYS: sessions from the calendar "
    .. "(default: the timestamps present).")
  parser:option("--asset-class",
    "equity, crypto, forex, future or index.")
    :default("equity")
  parser:flag("--verify", "Re-open the written bundle and check every byte.")
  parser:flag("-q --quiet", "Print nothing on success.")
  return parser
end

local function report(args, stats)
  io.stdout:write(string.format(
    "wrote %s: %d assets, %d %s sessions, %d rows from %d file%s (%.1f MB)",
    args.out, stats.assets, stats.sessions, stats.frequency, stats.rows,
    stats.files, stats.files == 1 and "" or "s", stats.bytes / 1e6))
  if stats.skipped > 0 then
    io.stdout:write(string.format(", %d bad rows skipped", stats.skipped))
  end
  io.stdout:write("\n")
  for i = 1, math.min(#stats.messages, MAX_SHOWN_SKIPS) do
    io.stdout:write("  skipped ", stats.messages[i], "\n")
  end
  if stats.skipped > MAX_SHOWN_SKIPS then
    io.stdout:write(string.format("  ... and %d more\n",
      stats.skipped - MAX_SHOWN_SKIPS))
  end
end

return function(words)
  local parser = make_parser()
  local parsed, args = parser:pparse(words)
  if not parsed then
    io.stderr:write(parser:get_usage(), "\n\nbtlua ingest: ", args, "\n")
    return EXIT_BAD_INPUT
  end
  local stats, err = store.ingest(args.source, args.out, {
    frequency = args.frequency,
    on_bad_row = args.on_bad_row,
    calendar = args.calendar,
    asset_class = args.asset_class,
  })
  if not stats then
    io.stderr:write(err, "\n")
    return EXIT_BAD_INPUT
  end
  if args.verify then
    local bundle, open_err = store.open(args.out, { verify = true })
    if not bundle then
      io.stderr:write(open_err, "\n")
      return EXIT_BAD_INPUT
    end
    bundle:close()
  end
  if not args.quiet then report(args, stats) end
  return EXIT_OK
end
