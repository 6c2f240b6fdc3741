-- btlua.cmd.ab: `btlua ab --before CMD --after CMD --scenario S ...`: runs
-- before and after interleaved, one whole process per run in ABBA (or
-- seeded random) order, so that a change of machine load hits both sides
-- alike, then compares them pair by pair (btlua.compare). Returns the exit
-- status: 0 ok, 1 a run failed, different results or the gate tripped,
-- 2 bad usage or input (or too few rounds for --fail-on-regression).
local argparse = require "argparse"
local util = require "btlua.util"
local compare = require "btlua.compare"
local stats = require "btlua.stats"
local compare_cmd = require "btlua.cmd.compare"

local EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = util.EXIT_OK, util.EXIT_FAILED,
  util.EXIT_BAD_INPUT

local DEFAULT_ROUNDS = 10

local function positive_integer(text)
  local n = tonumber(text)
  if not n or n < 1 or n ~= math.floor(n) then return nil end
  return n
end

local function make_parser()
  local p = argparse("btlua ab", "Run before and after interleaved (one "
    .. "process per run, alternating order) and compare them: a verdict "
    .. "per scenario on CPU time, or on instruction counts when the runs "
    .. "have them.")
  p:help_max_width(80)
  p:option("--before", "How to start the before side: a btlua executable "
    .. "with any `btlua run` arguments, e.g. 'old/build/btlua' or 'btlua "
    .. "--scenario-dir old/'.", nil):argname("CMD")
  p:option("--after", "How to start the after side (as --before).")
    :argname("CMD")
  p:option("-s --scenario", "A scenario to run on both sides (a name, all, "
    .. "or a .lua file). Repeatable."):count("*"):argname("S")
  p:option("--rounds", "Rounds; each runs both sides once. At least "
    .. stats.signed_rank_min_pairs(0.05) .. " are needed for p < 0.05.",
    tostring(DEFAULT_ROUNDS)):argname("N")
  p:option("--order", "abba: before-after, then after-before, and so on; "
    .. "random: each round's order by a seeded coin.", "abba")
    :choices { "abba", "random" }
  p:option("--seed", "Seed of --order random.", "1"):argname("N")
  p:option("--repeat", "Runs of each scenario inside each process (btlua "
    .. "run --repeat); a round's value is the fastest of them (other "
    .. "processes only ever add time), which damps a loaded machine's "
    .. "noise.", "1"):argname("K")
  p:option("-p --profiler", "Profiler of every run: cycles, sample, memory, "
    .. "all, none, or instructions (passed through; needs runs that record "
    .. "instruction counts).", "cycles")
    :choices { "cycles", "sample", "memory", "all", "none", "instructions" }
  p:option("-o --output-dir", "Where the merged sides (DIR/before, "
    .. "DIR/after) and profile_comparison_S.md go.", "profiles/ab")
    :argname("DIR")
  p:option("--fail-on-regression", "Exit 1 when a scenario got "
    .. "significantly slower by more than PCT percent; exit 2 when the "
    .. "rounds are too few to ever show it."):argname("PCT")
  p:flag("--allow-different-results", "Do not fail (exit 1) when the two "
    .. "sides' results differ.")
  p:option("--json", "Also write the verdicts as JSON to FILE.")
    :argname("FILE")
  p:option("--alpha", "Significance level.", "0.05")
  p:option("--noise-floor", "Changes below PCT percent of the total are "
    .. "not listed.", "1"):argname("PCT")
  p:option("--top", "Rows per top-regressions/improvements table.", "10")
  p:flag("--keep-runs", "Keep every run's own output directory "
    .. "(DIR/runs/before-01, ...).")
  p:flag("-q --quiet", "Print only the verdict lines and errors.")
  p:epilog("Each run is `EXE [ARGS] run --scenario S ... --profiler MODE "
    .. "[--repeat K] --jobs 1 --output-dir DIR/runs/SIDE-NN -q`, where CMD = "
    .. "EXE [ARGS]. "
    .. "Exit status: 0 ok; 1 a run failed, the results differ, or the gate "
    .. "tripped; 2 bad usage or input, or too few rounds for "
    .. "--fail-on-regression.")
  return p
end

-- Shell-like words of a command: blanks separate, '...' and "..." quote.
local function split_command(text)
  local words, word, quote, any = {}, {}, nil, false
  for char in text:gmatch(".") do
    if quote then
      if char == quote then quote = nil else word[#word + 1] = char end
    elseif char == "'" or char == '"' then
      quote, any = char, true
    elseif char:match("%s") then
      if any or #word > 0 then words[#words + 1] = table.concat(word) end
      word, any = {}, false
    else
      word[#word + 1] = char
    end
  end
  if quote then return nil, "unbalanced " .. quote end
  if any or #word > 0 then words[#words + 1] = table.concat(word) end
  if #words == 0 then return nil, "empty command" end
  return words
end

local function shell_quote(text)
  return "'" .. tostring(text):gsub("'", "'\\''") .. "'"
end

-- os.execute's status on Lua 5.4 (ok, "exit", code) and 5.1 (a number).
local function execute(command)
  local first, _, code = os.execute(command)
  if type(first) == "number" then
    return first == 0, first >= 256 and math.floor(first / 256) or first
  end
  return first == true, code or 1
end

-- The order of each round: { "before", "after" } or reversed.
local function round_orders(rounds, order, seed)
  local orders, rng = {}, stats.rng(seed)
  for round = 1, rounds do
    local before_first
    if order == "abba" then before_first = round % 2 == 1
    else before_first = rng:uniform() < 0.5 end
    orders[round] = before_first and { "before", "after" }
      or { "after", "before" }
  end
  return orders
end

local function run_dir(output_dir, side, round)
  return string.format("%s/runs/%s-%02d", output_dir, side, round)
end

-- The shell command of one run.
local function run_command(words, args, dir)
  local parts = { shell_quote(words[1]), "run" }
  for i = 2, #words do parts[#parts + 1] = shell_quote(words[i]) end
  for _, name in ipairs(args.scenario) do
    parts[#parts + 1] = "--scenario " .. shell_quote(name)
  end
  parts[#parts + 1] = "--profiler " .. shell_quote(args.profiler)
  if args["repeat"] ~= "1" then
    parts[#parts + 1] = "--repeat " .. shell_quote(args["repeat"])
  end
  parts[#parts + 1] = "--jobs 1 --output-dir " .. shell_quote(dir) .. " -q"
  return table.concat(parts, " ")
end

local read_file = util.read_file

-- The run of a process (with --repeat K, of the first profiler mode)
-- with the least CPU time, and its index among that mode's runs.
local function fastest_run(runs)
  local best, best_index, index = nil, 1, 0
  for _, run in ipairs(runs) do
    if run.mode == runs[1].mode then
      index = index + 1
      if not best or (run.cpu_s or 0) < (best.cpu_s or 0) then
        best, best_index = run, index
      end
    end
  end
  return best, best_index
end

-- One side's runs of scenario `name` merged into one output directory
-- (S.btprof with every run, S_results.json with every run's timings and
-- the interleaving, S_fills.csv). Returns nil or an error message.
local function merge_side(output_dir, side, rounds, name, order)
  local cjson = require "cjson"
  local profile_mod = require "btlua.profile"
  local core = require "btlua.core"
  local merged_results, profiles, fills, timings, cpu = nil, {}, nil, {}, {}
  local instructions = {} -- each round's count (--profiler instructions)
  for round = 1, rounds do
    local dir = run_dir(output_dir, side, round)
    local text = read_file(dir .. "/" .. name .. "_results.json")
    if not text then
      return string.format("%s side, round %d: no %s_results.json in %s",
        side, round, name, dir)
    end
    local results = cjson.decode(text)
    if round == 1 then
      merged_results = results
      fills = read_file(dir .. "/" .. name .. "_fills.csv")
    elseif results.digest ~= merged_results.digest then
      return string.format("%s side: round %d gave different results than "
        .. "round 1 (digest %s, not %s): the backtest is not deterministic",
        side, round, tostring(results.digest),
        tostring(merged_results.digest))
    end
    local fastest, index = fastest_run(results.runs or {})
    timings[#timings + 1] = fastest
    local path = dir .. "/" .. name .. ".btprof"
    if read_file(path) then
      local profile, err = compare.load_profile(path)
      if not profile then return err end
      -- The profile of the same (fastest) run as the timings.
      profile.runs = { (profile.runs or {})[index] or (profile.runs or {})[1] }
      profiles[#profiles + 1] = profile
      cpu[#cpu + 1] = string.format("%.6f", fastest and fastest.cpu_s or 0)
      local counted = type(profile.meta) == "table"
        and type(profile.meta.instructions) == "table"
        and tonumber(profile.meta.instructions.total)
      if counted then instructions[#instructions + 1] = ("%d"):format(counted) end
    end
  end
  merged_results.runs = timings
  merged_results.cpu_s, merged_results.wall_s = nil, nil
  merged_results.ab = { order = order, rounds = rounds, side = side }
  local target = output_dir .. "/" .. side
  local ok, err = core.runner.check_dir(target)
  if not ok then return err end
  local files = { [name .. "_results.json"] = cjson.encode(merged_results)
                    .. "\n" }
  if fills then files[name .. "_fills.csv"] = fills end
  if #profiles == rounds then
    local merged = profile_mod.merge_runs(profiles)
    merged.meta.cpu_s_runs = table.concat(cpu, " ")
    if #instructions == rounds then
      merged.meta.instructions_runs = table.concat(instructions, " ")
    end
    merged.meta.ab_order = order
    files[name .. ".btprof"] = core.prof.encode(merged)
  end
  for file, bytes in pairs(files) do
    local done, write_err = util.write_atomically(target .. "/" .. file, bytes)
    if not done then return "cannot write " .. tostring(write_err) end
  end
  return nil
end

local function progress(args, text)
  if args.quiet then return end
  io.stderr:write("btlua ab: ", text, "\n")
  io.stderr:flush()
end

-- Runs every round; returns nil or (status, message) of the first failure.
local function run_rounds(args, commands, rounds, orders)
  for round = 1, rounds do
    for position, side in ipairs(orders[round]) do
      progress(args, string.format("round %d/%d, %s (%s)", round, rounds,
        side, position == 1 and "first" or "second"))
      local dir = run_dir(args.output_dir, side, round)
      execute("rm -rf " .. shell_quote(dir))
      local command = run_command(commands[side], args, dir)
      local ran, code = execute(command)
      if not ran then
        local status = code == EXIT_BAD_INPUT and EXIT_BAD_INPUT or EXIT_FAILED
        return status, string.format("round %d, %s side: `%s` exited %s",
          round, side, command, tostring(code))
      end
    end
  end
end

local function check_args(args)
  local commands = {}
  for _, side in ipairs({ "before", "after" }) do
    if not args[side] then return nil, "--" .. side .. " CMD is required" end
    local words, err = split_command(args[side])
    if not words then return nil, "--" .. side .. ": " .. err end
    commands[side] = words
  end
  if #args.scenario == 0 then
    return nil, "no scenario given (--scenario NAME|all|FILE)"
  end
  if not positive_integer(args.rounds) then
    return nil, "--rounds: expected a positive integer, got '"
      .. tostring(args.rounds) .. "'"
  end
  if not positive_integer(args["repeat"]) then
    return nil, "--repeat: expected a positive integer, got '"
      .. tostring(args["repeat"]) .. "'"
  end
  if not positive_integer(args.seed) then
    return nil, "--seed: expected a positive integer, got '"
      .. tostring(args.seed) .. "'"
  end
  return commands
end

local function compare_merged(args, options, names, rounds, order)
  for _, name in ipairs(names) do
    for _, side in ipairs({ "before", "after" }) do
      local err = merge_side(args.output_dir, side, rounds, name, order)
      if err then return nil, "scenario " .. name .. ": " .. err end
    end
  end
  options.output_dir = args.output_dir
  options.paired = true
  return compare.compare(args.output_dir .. "/before",
    args.output_dir .. "/after", options)
end

return function(words)
  local parser = make_parser()
  local args, status = util.parse_args(parser, words, "ab")
  if not args then return status end
  local commands, err = check_args(args)
  if not commands then return util.fail("ab", err) end
  local options = { allow_different_results = args.allow_different_results }
  local _, option_err = compare_cmd.number_options(args, options)
  if option_err then return util.fail("ab", option_err) end
  local rounds = positive_integer(args.rounds)
  local order = args.order == "abba" and "ABBA" or "random"
  local done, dir_err = require("btlua.core").runner.check_dir(args.output_dir)
  if not done then return util.fail("ab", dir_err) end
  local failed, message = run_rounds(args, commands, rounds,
    round_orders(rounds, args.order, positive_integer(args.seed)))
  if failed then
    io.stderr:write("btlua ab: ", message, "\n")
    return failed
  end
  local names, list_err = compare.scenarios_in(run_dir(args.output_dir,
    "before", 1))
  if not names or #names == 0 then
    return util.fail("ab", list_err or "the runs wrote no results")
  end
  local outcome
  outcome, err = compare_merged(args, options, names, rounds, order)
  if not outcome then
    io.stderr:write("btlua ab: ", err, "\n")
    return EXIT_FAILED
  end
  if not args.keep_runs then
    execute("rm -rf " .. shell_quote(args.output_dir .. "/runs"))
  end
  if args.profiler == "instructions" then
    for _, entry in ipairs(outcome.scenarios) do
      if entry.result.basis.key ~= "instructions" then
        io.stderr:write("btlua ab: --profiler instructions: scenario ",
          entry.name, ": the runs record no instruction counts; the verdict "
          .. "rests on CPU time\n")
      end
    end
  end
  -- -q silences the progress lines only: the verdicts are the output.
  return compare_cmd.finish(outcome, { json = args.json }, options, "ab", {
    rounds = rounds, order = order, profiler = args.profiler,
    ["repeat"] = positive_integer(args["repeat"]),
    before = args.before, after = args.after })
end
