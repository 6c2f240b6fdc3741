-- host_test.lua: the btlua host behaves like the stock interpreter (arg,
-- -e, -v, stdin), btlua is requirable anywhere, and errors exit 1 or 2.
local t = require "tap"
local lib = require "testlib"
local btlua = require "btlua"

t.like(btlua.version, "^%d+%.%d+%.%d+$", "btlua.version is a version number")
t.is(btlua.core.version, btlua.version, "core and module agree on the version")

local status, out = lib.run({ "-e", 'print(require("btlua").version)' })
t.is(status, 0, "-e exits 0")
t.is(out, btlua.version .. "\n", "-e prints the version")

status, out = lib.run({ "-v" })
t.is(status, 0, "-v exits 0")
t.like(out, "^btlua " .. btlua.version:gsub("%.", "%%.") .. " %(", "-v names btlua and its version")

local dir = lib.tmpdir()
lib.write(dir .. "/args.lua", "print(arg[0], #arg, arg[1], arg[2], ...)\n")
status, out = lib.run({ dir .. "/args.lua", "one", "two" })
t.is(status, 0, "script exits 0")
t.is(out, dir .. "/args.lua\t2\tone\ttwo\tone\ttwo\n", "arg table and ... match the stock interpreter")

-- The module is requirable from any working directory.
status, out = lib.sh("cd / && " .. lib.quote(lib.btlua) .. " -e 'print(require(\"btlua\").version)'")
t.is(out, btlua.version .. "\n", "btlua is requirable from /")

status, out = lib.run({ "-" }, "print(6 * 7)\n")
t.is(status, 0, "stdin script exits 0")
t.is(out, "42\n", "stdin script runs")

lib.write(dir .. "/boom.lua", "local x = 1\nerror('boom')\n")
local err
status, out, err = lib.run({ dir .. "/boom.lua" })
t.is(status, 1, "a Lua error exits 1")
t.like(err, "^btlua: " .. dir:gsub("%p", "%%%0") .. "/boom%.lua:2: boom\nstack traceback:\n", "error names file and line, then a traceback")

status, out, err = lib.run({ dir .. "/missing.lua" })
t.is(status, 2, "a missing script exits 2")
t.is(err, "btlua: cannot open " .. dir .. "/missing.lua\n", "the message names the missing file")

lib.write(dir .. "/syntax.lua", "local = 1\n")
status, out, err = lib.run({ dir .. "/syntax.lua" })
t.is(status, 2, "a syntax error is bad input: exit 2")
t.like(err, "^btlua: " .. dir:gsub("%p", "%%%0") .. "/syntax%.lua:1: ", "syntax error names file and line")

status, out, err = lib.run({ "--bogus" })
t.is(status, 2, "an unknown option exits 2")
t.like(err, "^btlua: unknown option '%-%-bogus'\n", "the message names the option")

status, out, err = lib.run({ "-e" })
t.is(status, 2, "-e without a chunk exits 2")

status = lib.run({ "-e", "os.exit(3)" })
t.is(status, 3, "os.exit status is kept")

status, out, err = lib.run({})
t.is(status, 2, "no arguments: usage, exit 2")
t.like(err, "^usage: btlua", "usage is printed")

status, out = lib.run({ "--help" })
t.is(status, 0, "--help exits 0")
t.like(out, "btlua compare BEFORE_DIR AFTER_DIR", "--help lists compare")

status, out = lib.run({ "-e", "print(type(require('btlua.core').cpu_count()))" })
t.is(out, "number\n", "libuv is linked (cpu_count)")

-- After `cmake --install`, the installed btlua finds its own Lua files.
local prefix = dir .. "/prefix"
status = lib.sh("cmake --install " .. lib.quote(lib.build) .. " --prefix " .. lib.quote(prefix))
t.is(status, 0, "cmake --install succeeds")
status, out = lib.sh("cd / && " .. lib.quote(prefix .. "/bin/btlua") ..
  " -e 'local b = require \"btlua\"; print(b.version, b.core.home)'")
t.is(out, btlua.version .. "\t" .. prefix .. "/share/btlua\n",
  "the installed btlua loads its module from PREFIX/share/btlua")
t.ok(lib.exists(prefix .. "/share/btlua/lua/btlua/cli.lua"), "Lua files installed")

-- The host's Lua is built in as bytecode, named relative to the tree (the
-- same wherever btlua is built or installed); BTLUA_LUA_SOURCES=1 loads the
-- .lua files instead.
local where = 'print(debug.getinfo(require("btlua.cli").main, "S").source)'
status, out = lib.run({ "-e", where })
t.is(out, "@lua/btlua/cli.lua\n", "btlua.cli is the built-in bytecode")
status, out = lib.run({ "-e", 'print(package.preload["btlua.scenario"] ~= nil, '
  .. 'package.preload["btlua.strategies.sma_cross"] == nil)' })
t.is(out, "true\ttrue\n", "host modules are built in, strategies are not")
status, out = lib.sh("BTLUA_LUA_SOURCES=1 " .. lib.quote(lib.btlua) .. " -e '"
  .. where:gsub("'", "'\\''") .. "'")
t.like(out, "^@/.*/lua/btlua/cli%.lua\n$", "BTLUA_LUA_SOURCES=1: from the file")

-- The home tree: next to the executable (a checkout's build/ directory, so
-- a moved checkout finds itself), or BTLUA_HOME; -v says which.
local tree = lib.tmpdir()
os.execute("mkdir -p " .. lib.quote(tree .. "/build") .. " "
  .. lib.quote(tree .. "/lua/btlua"))
lib.write(tree .. "/lua/btlua/init.lua", "return {}\n")
os.execute("cp " .. lib.quote(lib.build .. "/btlua") .. " "
  .. lib.quote(tree .. "/build/btlua"))
status, out = lib.sh(lib.quote(tree .. "/build/btlua") .. " -v")
t.like(out, "\nhome: " .. tree:gsub("%p", "%%%0") .. "\n$",
  "a build directory inside a tree: that tree is home")
status, out = lib.sh("BTLUA_HOME=" .. lib.quote(tree) .. " "
  .. lib.quote(lib.btlua) .. " -v")
t.like(out, "\nhome: " .. tree:gsub("%p", "%%%0") .. "\n$", "BTLUA_HOME is home")
status, out, err = lib.sh("BTLUA_HOME=" .. lib.quote(tree .. "/build") .. " "
  .. lib.quote(lib.btlua) .. " -v")
t.is(status, 2, "BTLUA_HOME without a btlua tree: exit 2")
t.is(err, "btlua: BTLUA_HOME=" .. tree .. "/build: no btlua tree there (no "
  .. "lua/btlua/init.lua)\n", "BTLUA_HOME without a btlua tree: the message")
os.execute("rm -rf " .. lib.quote(tree))

-- btlua help: the commands, one a line; help COMMAND is COMMAND --help.
local help_status, help_out = lib.run({ "help" })
t.is(help_status, 0, "btlua help exits 0")
t.like(help_out, "^btlua commands %(`btlua help COMMAND` for one's flags%):\n"
  .. "  run      run scenarios", "btlua help lists the commands, run first")
local _, ingest_usage = lib.run({ "help", "ingest" })
t.like(ingest_usage, "^Usage: btlua ingest ", "btlua help ingest: ingest's help")

-- --help texts say each default once.
for _, command in ipairs { "run", "compare", "ingest", "export", "report" } do
  local _, help = lib.run({ command, "--help" })
  local repeats = 0
  for _ in help:gmatch("%(default: [^)]*%)[%.]? *%(default:") do
    repeats = repeats + 1
  end
  t.is(repeats, 0, command .. " --help: no default said twice")
end
local _, ingest_help = lib.run({ "ingest", "--help" })
t.like(ingest_help, "future or index%. %(default: equity%)\n",
  "ingest --help: the asset-class default once")

-- core.list_dir: sorted names, no shell; a clear failure.
local listing = lib.tmpdir()
lib.write(listing .. "/b.lua", "")
lib.write(listing .. "/a b.lua", "")
lib.write(listing .. "/'quote'.lua", "")
t.is(table.concat(btlua.core.list_dir(listing), "|"), "'quote'.lua|a b.lua|b.lua",
  "list_dir: every name, sorted")
local none, why = btlua.core.list_dir(listing .. "/nowhere")
t.is(none, nil, "list_dir of a missing directory: nil")
t.is(why, listing .. "/nowhere: no such file or directory",
  "list_dir: the message names the directory")
os.execute("rm -rf " .. lib.quote(listing))

os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
