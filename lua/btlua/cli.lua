-- btlua.cli: the command line behind the btlua host. main(args) handles the
-- subcommands; scenario_file(scn, file, args) runs a scenario file.
-- Every function returns the exit status: 0 ok, 1 a run failed, 2 bad input.
local cli = {}

local EXIT_BAD_INPUT = 2

local function fail(fmt, ...)
  io.stderr:write("btlua: ", string.format(fmt, ...), "\n")
  return EXIT_BAD_INPUT
end

local commands = {}

function cli.main(args)
  local name = args[1]
  local command = commands[name]
  if not command then
    return fail("unknown command '%s' (try btlua --help)", tostring(name))
  end
  local rest = {}
  for i = 2, #args do rest[#rest + 1] = args[i] end
  return command(rest)
end

function cli.scenario_file(scn, file, args)
  return fail("%s: running scenarios is not implemented yet", file)
end

cli.commands = commands
return cli
