-- btlua.cli: the command line behind the btlua host. main(args) dispatches
-- `btlua COMMAND ...` to the module btlua.cmd.COMMAND (a function taking the
-- remaining words); scenario_file(scn, file, args) runs a scenario file.
-- Every entry returns the exit status: 0 ok, 1 a run failed, 2 bad input.
local cli = {}

local EXIT_BAD_INPUT = 2

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

function cli.main(args)
  local name = args[1]
  if name == "help" then
    name = args[2] or "run"
    args = { name, "--help" }
  end
  local command = load_command(name)
  if not command then
    return fail("unknown command '%s' (try btlua --help)", tostring(name))
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
