-- btlua.cmd.run: `btlua run ...` and `btlua SCENARIO.lua ...`: runs scenarios
-- in parallel (core.runner), each run in its own child process with kernel
-- limits, each with its own profiler, and writes every scenario's files
-- atomically, holding a lock on the output directory.
-- Returns the exit status: 0 ok, 1 a run failed, 2 bad usage or input,
-- 130 interrupted (Ctrl-C).
local argparse = require "argparse"
local core = require "btlua.core"
local scenario = require "btlua.scenario"

local util = require "btlua.util"
local EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = util.EXIT_OK, util.EXIT_FAILED,
  util.EXIT_BAD_INPUT
local EXIT_INTERRUPTED = util.EXIT_INTERRUPTED

-- The runs of one scenario under each --profiler choice (in order).
local PROFILER_MODES = {
  cycles = { "cycles" }, sample = { "sample" }, memory = { "memory" },
  all = { "cycles", "sample", "memory" }, none = { "none" },
}

local function positive_integer(text)
  local n = tonumber(text)
  if not n or n < 1 or n ~= math.floor(n) then
    return nil, "'" .. text .. "' is not a positive integer"
  end
  return n
end

local function non_negative_number(text)
  local n = tonumber(text)
  if not n or n < 0 or n ~= n or n == math.huge then
    return nil, "'" .. text .. "' is not a number of seconds >= 0"
  end
  return n
end

local SIZE_UNITS = { [""] = 1, k = 2 ^ 10, m = 2 ^ 20, g = 2 ^ 30, t = 2 ^ 40 }

-- "1G", "512M", "1GiB", "64 MiB", "1000000" -> bytes.
local function memory_size(text)
  local number, unit = text:match("^%s*(%d+%.?%d*)%s*(%a?)i?[bB]?%s*$")
  local scale = unit and SIZE_UNITS[unit:lower()]
  if not number or not scale then
    return nil, "'" .. text .. "' is not a size (bytes, or 512M, 2G, 1GiB)"
  end
  return math.floor(tonumber(number) * scale)
end

local function make_parser()
  local parser = argparse("btlua run",
    "Run backtest scenarios in parallel, each with its profiler, and write "
    .. "their profiles and results.")
  parser:add_help(false)
  parser:help_max_width(80)
  parser:usage("usage: btlua run --scenario daily|hourly|minute|all|FILE "
    .. "[options]\n       btlua run --list-scenarios [--scenario-dir DIR]\n"
    .. "       btlua SCENARIO.lua [options]")
  parser:flag("-h --help", "Show this help and exit.")
  parser:option("-s --scenario",
    "A scenario to run: a name from scenarios/ (daily, hourly, minute) or a "
    .. "--scenario-dir, `all` for every scenario found there, or a .lua file. "
    .. "Repeatable."):count("*"):argname("NAME|all|FILE")
  parser:flag("-l --list-scenarios",
    "List the scenarios found (name, description, data, strategy) and exit.")
  parser:option("--scenario-dir",
    "Also look for scenarios in DIR (repeatable; searched before the "
    .. "built-in scenarios/).")
    :count("*"):argname("DIR")
  parser:option("-p --profiler",
    "cycles: Lua functions and engine zones, call/return hooks; sample: a "
    .. "timer samples stacks; memory: allocations and RSS; all: one run of "
    .. "each, merged; none: no profiler (results only); instructions: the "
    .. "run under valgrind callgrind, exact instruction counts (for CI).",
    "cycles")
    :choices { "cycles", "memory", "sample", "all", "none", "instructions" }
  parser:option("-o --output-dir",
    "Where the files go (made if missing): S.btprof, S_summary.txt, "
    .. "S_memory.txt, S.callgrind, S.folded, S_flame.svg, S_results.json, "
    .. "S_equity.csv, S_fills.csv for each scenario S, and index.html (the "
    .. "run at a glance).", "profiles/latest")
    :argname("DIR")
  parser:option("-j --jobs",
    "Scenarios run at once (default: the number of CPUs, "
    .. core.cpu_count() .. " here).")
    :convert(positive_integer):argname("N")
  parser:option("-n --repeat",
    "Run each scenario N times (in its own Lua state each time); every "
    .. "run's timings are kept in S.btprof.", "1")
    :convert(positive_integer):argname("N")
  parser:option("--data",
    "Run on this data instead of the scenario's own: a CSV file, a CSV "
    .. "directory (ingested once into a cached bundle) or a bundle; the "
    .. "sessions then come from the data.")
    :argname("PATH")
  parser:option("--param",
    "Override a strategy parameter (--param fast=40) or the scenario's fill, "
    .. "slippage, commission, stop_limit, allow_margin, warmup or benchmark "
    .. "(--param "
    .. "commission=per_share, --param warmup=50). Checked before "
    .. "anything runs. Repeatable.")
    :count("*"):argname("K=V")
  parser:option("--set",
    "Override any scenario field by its dotted path, e.g. "
    .. "--set data.synthetic.assets=2 --set data.synthetic.end=2024-01-03 "
    .. "(the tests use this to run the scenarios at a reduced size) or "
    .. "--set commission.model=per_share --set commission.cost=0.005; "
    .. "applied after --param. Repeatable.")
    :count("*"):argname("FIELD=V")
  parser:option("--budget",
    "Stop a scenario whose strategy spends more than SECONDS of CPU in one "
    .. "call of initialize or handle_data (a runaway loop); 0 turns the "
    .. "budget off.", tostring(core.limits.default_budget))
    :convert(non_negative_number):argname("SECONDS")
  parser:option("--memory-cap",
    "Stop a scenario whose Lua heap grows past SIZE (bytes, or with a unit: "
    .. "512M, 2G, 1GiB); its whole process is held to SIZE plus its data "
    .. "file plus 256 MiB of address space; 0 turns the cap off.", "1G")
    :convert(memory_size):argname("SIZE")
  parser:option("--timeout",
    "Kill a run of a scenario (its own process) after SECONDS of wall-clock "
    .. "time or of CPU time, whatever it is doing (a blocking read, a loop "
    .. "in C, a finalizer); 0 turns it off.", "3600")
    :convert(non_negative_number):argname("SECONDS")
  parser:flag("--unsafe",
    "Run scenario and strategy files without the sandbox. By default they "
    .. "cannot run commands (os.execute, io.popen), load C code "
    .. "(package.loadlib), read the environment, read or load files outside "
    .. "their own directory, or write files outside the output directory. "
    .. "The limits and the process per run stay.")
  parser:flag("-q --quiet", "Print nothing but errors.")
  parser:epilog("Values of --param and --set are numbers, true/false, or "
    .. "text. Exit status: 0 ok, 1 a scenario failed, 2 bad usage or input, "
    .. "130 interrupted (SIGINT, SIGTERM, SIGHUP; no partial files are left). "
    .. "The output directory is locked for the run: a second run into it "
    .. "waits.")
  return parser
end

local function fail(fmt, ...)
  io.stderr:write("btlua run: ", string.format(fmt, ...), "\n")
  return EXIT_BAD_INPUT
end

local function scenario_dirs(args)
  local dirs = {}
  for _, dir in ipairs(args.scenario_dir) do dirs[#dirs + 1] = dir end
  if core.home then dirs[#dirs + 1] = core.home .. "/scenarios" end
  return dirs
end

local function file_exists(path)
  local file = io.open(path, "rb")
  if file then file:close() end
  return file ~= nil
end

local function is_path(word)
  return word:match("%.lua$") or word:find("/", 1, true)
end

-- What the command knows of scenario files comes from loading them in a
-- run's own process (core.runner.call -> scenario.describe, with the
-- sandbox and the limits of a run): they are user code, never run here.
-- Returns the list of descriptions, or nil, message.
local describe

-- A describe call that a runaway file ended (a loop LuaJIT compiled, a call
-- stuck in C: the whole process stops) is done again one file at a time:
-- the runaway alone is reported (exit 1; a strategy that loops is left to
-- its run, which reports it), the other files are described.
local function describe_each(files, args, opts)
  local found = {}
  for i, file in ipairs(files) do
    local one, err = describe({ file }, args, opts)
    if not one and opts.check_params then
      one, err = describe({ file }, args, { overrides = opts.overrides })
    end
    if not one then
      if not scenario.is_limit_error(err) then return nil, err end
      one = { { file = file, ok = false, limit = true, error = "scenario file "
        .. file .. ": " .. tostring(err):gsub("^loading scenario files: ", "") } }
    end
    found[i] = one[1]
  end
  return found
end

-- Is every file one of btlua's own scenarios (its installed tree)? Those
-- are not user code: they are described in this process (still in the
-- sandbox), which saves a process for `--scenario all` and the like.
local function all_builtin(files)
  local home = core.home and core.runner.realpath(core.home .. "/scenarios")
  if not home then return false end
  for _, file in ipairs(files) do
    local real = core.runner.realpath(file)
    if not real or real:sub(1, #home + 1) ~= home .. "/"
      or core.runner.file_kind(file) ~= "file" then
      return false
    end
  end
  return true
end

describe = function(files, args, opts)
  if #files == 0 then return {} end
  local request = {
    files = files, output_dir = args.output_dir,
    unsafe = args.unsafe or nil, overrides = opts.overrides,
    check_params = opts.check_params or nil,
  }
  if all_builtin(files) then
    local ok, found = pcall(scenario.describe, scenario.encode(request))
    if ok then return scenario.decode(found) end
  end
  local text, err = core.runner.call {
    module = "btlua.scenario", func = "describe",
    arg = scenario.encode(request),
    budget = args.budget, memory_cap = args.memory_cap,
    timeout = args.timeout, calibrate = false,
  }
  if not text and #files > 1 and scenario.is_limit_error(err) then
    return describe_each(files, args, opts)
  end
  if not text then return nil, "loading scenario files: " .. tostring(err) end
  local ok, found = pcall(scenario.decode, text)
  if not ok or type(found) ~= "table" then
    return nil, "loading scenario files: a malformed description"
  end
  return found
end

-- Every scenario file in the directories that loads (described).
local function discover(args)
  local files = {}
  for _, dir in ipairs(scenario_dirs(args)) do
    for _, file in ipairs(scenario.list_lua_files(dir)) do
      files[#files + 1] = file
    end
  end
  local found, err = describe(files, args, {})
  if not found then return nil, err end
  local loaded = {}
  for _, entry in ipairs(found) do
    if entry.ok then loaded[#loaded + 1] = entry end
  end
  return loaded
end

local function list_scenarios(args)
  local found, err = discover(args)
  if not found then return fail("%s", err) end
  local rows = { { "NAME", "DESCRIPTION", "DATA", "STRATEGY" } }
  for _, entry in ipairs(found) do
    rows[#rows + 1] = { entry.name, entry.description, entry.data_shape,
      entry.strategy_text }
  end
  local widths = {}
  for _, row in ipairs(rows) do
    for i = 1, 3 do widths[i] = math.max(widths[i] or 0, #row[i]) end
  end
  for _, row in ipairs(rows) do
    io.stdout:write(string.format("%-" .. widths[1] .. "s  %-" .. widths[2]
      .. "s  %-" .. widths[3] .. "s  %s\n", row[1], row[2], row[3], row[4]))
  end
  return EXIT_OK
end

-- Resolves --scenario words to a list of files; returns nil, message on
-- bad input.
local function resolve_files(args)
  local dirs = scenario_dirs(args)
  local chosen, seen_files = {}, {}
  local function add(file)
    if seen_files[file] then return end
    seen_files[file] = true
    chosen[#chosen + 1] = file
  end
  for _, word in ipairs(args.scenario) do
    if word == "all" then
      local found, err = discover(args)
      if not found then return nil, err end
      if #found == 0 then
        return nil, "no scenarios found in " .. table.concat(dirs, ", ")
      end
      for _, entry in ipairs(found) do add(entry.file) end
    else
      local file = word
      if not is_path(word) or not file_exists(word) then
        file = nil
        for _, dir in ipairs(dirs) do
          local candidate = dir .. "/" .. word .. ".lua"
          if not is_path(word) and file_exists(candidate) then
            file = candidate
            break
          end
        end
        if not file and is_path(word) then
          return nil, "cannot open scenario file " .. word
        elseif not file then
          local found, err = discover(args)
          if not found then return nil, err end
          local names = {}
          for _, entry in ipairs(found) do names[#names + 1] = entry.name end
          return nil, "unknown scenario '" .. word .. "' (known: "
            .. table.concat(names, ", ") .. "; or a .lua file)"
        end
      end
      add(file)
    end
  end
  return chosen
end

-- --data PATH: a bundle is used as it is; CSV (a file or a directory) is
-- ingested once into the store's cache (core.store.ingest_cached, keyed by
-- the files' paths, sizes and times). Returns the bundle path or nil, msg.
local function prepare_data(path)
  local store = core.store
  local bundle, open_err = store.open(path)
  if bundle then
    bundle:close()
    return path
  end
  -- A damaged bundle is reported as one, not parsed as CSV (harden).
  local file = io.open(path, "rb")
  local magic = file and file:read(8)
  if file then file:close() end
  if magic == "BTLUABND" or path:match("%.btb$") then
    return nil, "--data " .. path .. ": " .. open_err
  end
  local cached, err = store.ingest_cached(path)
  if not cached then return nil, "--data " .. path .. ": " .. tostring(err) end
  return cached
end

-- A scenario's own `data = "PATH"`: a bundle, a CSV file or a CSV
-- directory (ingested like --data), the path taken from the current
-- directory or else from the scenario file's directory. Returns the bundle
-- path or nil, message.
local function scenario_data(file, path)
  if path:sub(1, 1) ~= "/" and not file_exists(path) and file then
    local beside = (file:match("^(.*)/[^/]*$") or ".") .. "/" .. path
    if file_exists(beside) then path = beside end
  end
  local bundle, err = prepare_data(path)
  if not bundle then return nil, (err:gsub("^%-%-data ", "")) end
  return bundle
end

-- The chosen files, loaded (in a child) with the command line's overrides
-- and their strategies' params checked: { file =, scenario = described,
-- overrides = } each, or nil, message.
local function load_chosen(files, args)
  local data
  if args.data then
    local err
    data, err = prepare_data(args.data)
    if not data then return nil, err end
  end
  local overrides = { params = args.param, set = args.set, data = data }
  local found, err = describe(files, args, { overrides = overrides,
    check_params = true })
  if not found then return nil, err end
  local chosen, names, runaways = {}, {}, {}
  for i, entry in ipairs(found) do
    if entry.limit then -- reported, and the others still run (exit 1)
      runaways[#runaways + 1] = entry.error
    elseif not entry.ok then
      return nil, entry.error
    end
    if names[entry.name] then
      return nil, string.format("two scenarios are named '%s' (%s and %s): "
        .. "their files would collide", entry.name, names[entry.name],
        files[i])
    end
    if entry.ok then
      names[entry.name] = files[i]
      chosen[#chosen + 1] = { file = files[i], scenario = entry,
        overrides = overrides }
    end
  end
  return chosen, nil, runaways
end

-- Each scenario's bundle, resolved once here rather than in every run
-- (store.synthetic verifies a cached bundle before returning its path;
-- --data was verified by prepare_data); its asset-bars are the scenario's
-- cost. Returns chosen | nil, message.
local function resolve_bundles(chosen)
  for _, entry in ipairs(chosen) do
    local path, err
    local data = entry.scenario.data
    if type(data) == "string" and not entry.overrides.data then
      path, err = scenario_data(entry.file, data)
      if not path then
        return nil, "scenario " .. entry.scenario.name .. ": data: " .. err
      end
    else
      path, err = scenario.bundle_path(entry.scenario)
    end
    if not path then return nil, err end
    local bundle
    bundle, err = core.store.open(path, { verify = false }) -- verified
    if not bundle then
      return nil, "scenario " .. entry.scenario.name .. ": data: " .. err
    end
    entry.bundle = path
    entry.cost = bundle:asset_count() * bundle:session_count()
    bundle:close()
  end
  return chosen
end

-- The costliest scenarios start first (longest-processing-time order:
-- the parallel run ends soonest); ties keep the command line's order.
local function costliest_first(chosen)
  for i, entry in ipairs(chosen) do entry.order = i end
  table.sort(chosen, function(a, b)
    if a.cost ~= b.cost then return a.cost > b.cost end
    return a.order < b.order
  end)
  return chosen
end

local function make_jobs(chosen, args)
  local jobs = {}
  for _, entry in ipairs(chosen) do
    local runs = {}
    for _, mode in ipairs(PROFILER_MODES[args.profiler]) do
      for index = 1, args["repeat"] do
        runs[#runs + 1] = { arg = scenario.encode { mode = mode, index = index } }
      end
    end
    jobs[#jobs + 1] = {
      label = entry.scenario.name,
      arg = scenario.encode {
        file = entry.file, name = entry.scenario.name,
        overrides = entry.overrides, profiler = args.profiler,
        bundle = entry.bundle, output_dir = args.output_dir,
        unsafe = args.unsafe or nil,
      },
      data = entry.bundle,
      runs = runs,
    }
  end
  return jobs
end

-- "0.153 s" for the mean wall time of a scenario's runs.
-- (the runs of the first profiler mode only: modes cost differently).
local function describe_runs(metas)
  local first = metas[1]
  local total, count = 0, 0
  for _, meta in ipairs(metas) do
    if meta.mode == first.mode then
      total, count = total + meta.wall_ns, count + 1
    end
  end
  local runs = count > 1 and string.format(" (mean of %d %s runs)", count,
    first.mode) or ""
  return string.format("%s asset-bars in %.3f s%s, final value %s",
    tostring(first.bars), total / count / 1e9, runs, first.final_value)
end

local function report_done(report, args, written)
  if report.ok then
    for _, file in ipairs(report.files) do written[#written + 1] = file end
    if not args.quiet then
      local ok, metas = pcall(scenario.decode, report.value or "{}")
      local text = ok and metas[1] and describe_runs(metas) or "done"
      io.stdout:write("scenario ", report.label, ": ", text, "\n")
      io.stdout:flush()
    end
  elseif not report.cancelled then
    io.stderr:write("scenario ", report.label, ": ", report.error, "\n")
    io.stderr:flush()
  end
  if report.log and not args.quiet then -- what the scenario's code printed
    local text = report.log:gsub("\n$", "")
    io.stderr:write((("\n" .. text):gsub("\n", "\nscenario " .. report.label
      .. " | ")):sub(2), "\n")
  end
end

local function run_scenarios(chosen, args)
  local output_dir = args.output_dir
  local ok, err = core.runner.check_dir(output_dir)
  if not ok then return fail("%s", err) end
  if not package.searchpath("btlua.backtest", package.path) then
    io.stderr:write("btlua run: cannot run scenario ", chosen[1].scenario.name,
      ": this build has no backtest engine yet (module btlua.backtest "
      .. "not found)\n")
    return EXIT_FAILED
  end
  local resolved
  resolved, err = resolve_bundles(chosen)
  if not resolved then return fail("%s", err) end
  local written = {}
  local reports, interrupted = core.runner.run {
    output_dir = output_dir,
    parallel = args.jobs or core.cpu_count(),
    module = "btlua.scenario",
    jobs = make_jobs(costliest_first(chosen), args),
    progress = not args.quiet and core.runner.isatty(2),
    budget = args.budget, memory_cap = args.memory_cap,
    timeout = args.timeout, lock = true,
    -- The hook calibration only for modes that run call/return hooks.
    calibrate = args.profiler == "cycles" or args.profiler == "memory"
      or args.profiler == "all",
    on_done = function(report) report_done(report, args, written) end,
  }
  if not reports then return fail("%s", interrupted) end
  -- index.html: the run at a glance (btlua.html), over the scenarios done.
  local done = {}
  for _, report in ipairs(reports) do
    if report.ok then done[#done + 1] = report.label end
  end
  if #done > 0 and not interrupted then
    local page, page_err = require("btlua.html").write_index(output_dir, done)
    if page then
      written[#written + 1] = "index.html"
    else
      io.stderr:write("btlua run: index.html: ", tostring(page_err), "\n")
    end
  end
  table.sort(written)
  if #written > 0 and not args.quiet then
    io.stdout:write("output: ", core.runner.realpath(output_dir) or output_dir,
      "/ (", table.concat(written, " "), ")\n")
  end
  if interrupted then
    io.stderr:write("btlua run: interrupted; no partial files were left\n")
    return EXIT_INTERRUPTED
  end
  for _, report in ipairs(reports) do
    if not report.ok then return EXIT_FAILED end
  end
  return EXIT_OK
end

-- run(words) -> exit status.
return function(words)
  local parser = make_parser()
  local parsed, args = parser:pparse(words)
  if not parsed then
    io.stderr:write(parser:get_usage(), "\n\nbtlua run: ", args, "\n")
    return EXIT_BAD_INPUT
  end
  if args.help then
    io.stdout:write(parser:get_help(), "\n")
    return EXIT_OK
  end
  if args.list_scenarios then return list_scenarios(args) end
  if #args.scenario == 0 then
    return fail("no scenario given (--scenario NAME|all|FILE; "
      .. "--list-scenarios lists them)")
  end
  local files, err = resolve_files(args)
  if not files then return fail("%s", err) end
  local chosen, runaways
  chosen, err, runaways = load_chosen(files, args)
  if not chosen then return fail("%s", err) end
  for _, message in ipairs(runaways) do io.stderr:write(message, "\n") end
  local status = EXIT_OK
  if #chosen > 0 and args.profiler == "instructions" then
    status = require("btlua.instructions").run(chosen, args, words)
  elseif #chosen > 0 then
    status = run_scenarios(chosen, args)
  end
  if status == EXIT_OK and #runaways > 0 then return EXIT_FAILED end
  return status
end
