-- btlua.cli: the command line behind the btlua host. main(args) dispatches
-- `btlua COMMAND ...` to the module btlua.cmd.COMMAND (a function taking the
-- remaining words); scenario_file(scn, file, args) runs a scenario file.
-- Every entry returns the exit status: 0 ok, 1 a run failed, 2 bad input.
local cli = {}

local EXIT_BAD_INPUT = require("btlua.util").EXIT_BAD_INPUT

local function fail(fmt, ...)
  io.stderr:write("btlua: ", string.format(fmt, ...), "\n")
  return EXIT_BAD_INPUT
end

local function load_command(name)
  if type(name) ~= "string" or not name:match("^[%a_]+$") then return nil end
  local found, command = pcall(require, "btlua.cmd." .. name)
  if not found then
    -- A missing module means an unknown command; any other error is real.
    if tostring(command):find("module 'btlua.cmd." .. name .. "' not found", 1, true) then
      return nil
    end
    error(command, 0)
  end
  return command
end

-- The commands, in the order `btlua help` lists them.
cli.commands = {
  { "run", "run scenarios (profiled, in parallel) and write their files" },
  { "compare", "compare two output directories: faster, slower or different" },
  { "ab", "run two builds or versions interleaved and compare them (CI gate)" },
  { "ingest", "convert CSV files into a btlua bundle" },
  { "export", "write a .btprof profile in another format" },
  { "report", "summarise the profiles of an output directory" },
  { "help", "this list, or `btlua help COMMAND`: that command's flags" },
}

-- Edit distance of a and b (insertions, deletions, substitutions and
-- swaps of neighbours each cost 1).
local function distance(a, b)
  local previous, row = {}, {}
  for j = 0, #b do previous[j] = j end
  local before_previous = {}
  for i = 1, #a do
    row = { [0] = i }
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      row[j] = math.min(previous[j] + 1, row[j - 1] + 1,
        previous[j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1)
        and a:byte(i - 1) == b:byte(j) then
        row[j] = math.min(row[j], before_previous[j - 2] + 1)
      end
    end
    before_previous, previous = previous, row
  end
  return previous[#b]
end

-- The known command closest to `word` (at most 2 edits away), or nil.
function cli.suggest(word)
  local best, best_distance = nil, 3
  for _, entry in ipairs(cli.commands) do
    local d = distance(word, entry[1])
    if d < best_distance then best, best_distance = entry[1], d end
  end
  return best
end

local function help(args)
  local name = args[2]
  if name == nil then
    local lines = { "btlua commands (`btlua help COMMAND` for one's flags):" }
    for _, entry in ipairs(cli.commands) do
      lines[#lines + 1] = string.format("  %-8s %s", entry[1], entry[2])
    end
    lines[#lines + 1] = "Also: btlua SCENARIO.lua [run flags], btlua SCRIPT.lua "
      .. "[args], btlua -e CHUNK, btlua -v."
    io.stdout:write(table.concat(lines, "\n"), "\n")
    return 0
  end
  if name == "help" then return help({ "help" }) end
  return cli.main({ name, "--help" })
end

function cli.main(args)
  local name = args[1]
  if name == "help" then return help(args) end
  local command = load_command(name)
  if not command then
    local guess = type(name) == "string" and cli.suggest(name)
    if guess then
      return fail("unknown command '%s' (did you mean '%s'? btlua help "
        .. "lists the commands)", tostring(name), guess)
    end
    return fail("unknown command '%s' (btlua help lists the commands)",
      tostring(name))
  end
  local rest = {}
  for i = 2, #args do rest[#rest + 1] = args[i] end
  return command(rest)
end

-- `btlua SCENARIO.lua [run flags]`: the same as `btlua run --scenario FILE`
-- (the file is loaded in the sandbox, in a run's own process). `scn` is
-- unused (nil when the host saw from the text that FILE is a scenario).
function cli.scenario_file(scn, file, args)
  local _ = scn
  local run = load_command("run")
  if not run then
    return fail("%s: cannot run scenarios: this build has no run command", file)
  end
  local words = { "--scenario", file }
  for _, word in ipairs(args) do words[#words + 1] = word end
  return run(words)
end

-- is_scenario_file(path) -> 10 | 0 (an exit-status-like integer for the
-- host; 10 is no status btlua uses): does the file end in a top-level
-- `return btlua.scenario {...}` (or `return scenario(...)`), a line that
-- starts with `return` after which every line that starts in column 1
-- closes it? The host then runs it as a scenario, sandboxed, without
-- running the file itself as a script.
function cli.is_scenario_file(path)
  local file = io.open(path, "rb")
  if not file then return 0 end
  local text = "\n" .. (file:read(1048576) or "")
  file:close()
  local last
  for at in text:gmatch("\n()return%s+[%w_%.]*scenario%s*[{(]") do
    last = at
  end
  if not last then return 0 end
  for line in text:sub(last):gmatch("\n([^\n]*)") do
    if line:match("^%S") and not line:match("^[%)}]") then return 0 end
  end
  return 10
end

return cli
