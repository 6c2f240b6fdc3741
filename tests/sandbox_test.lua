-- sandbox_test.lua: scenario and strategy files run in btlua.sandbox by
-- default: no commands, no C code, Lua files only from their own
-- directory, writes only in the output directory; --unsafe lifts it.
local t = require "tap"
local testlib = require "testlib"
local core = require "btlua.core"
local sandbox = require "btlua.sandbox"

local q = testlib.quote
local dir = testlib.tmpdir()
local out = dir .. "/out"
local elsewhere = dir .. "/elsewhere"
os.execute("mkdir -p " .. q(out) .. " " .. q(elsewhere) .. " " .. q(dir .. "/s"))
testlib.write(elsewhere .. "/lib.lua", "return 42\n")
local real_dir = core.runner.realpath(dir)

-- A scenario "s/NAME.lua" whose strategy runs `body` in handle_data (once)
-- and records what it returned as result.txt in the output directory.
local function scenario_with(name, body)
  testlib.write(dir .. "/s/" .. name .. "_strategy.lua",
    "local OUT = " .. string.format("%q", out) .. "\n" .. [[
local done = false
return {
  handle_data = function(ctx, data)
    if done then return end
    done = true
    local value = (function() ]] .. body .. [[ end)()
    local f = assert(io.open(OUT .. "/result.txt", "w"))
    f:write(tostring(value))
    f:close()
  end,
}
]])
  testlib.write(dir .. "/s/" .. name .. ".lua",
    testlib.scenario_source(name, name .. "_strategy.lua",
      { assets = 1, ["end"] = "2024-01-05" }))
  return dir .. "/s/" .. name .. ".lua"
end

local function run(file, extra)
  os.remove(out .. "/result.txt")
  local args = { "run", "--scenario", file, "--profiler", "none", "-q",
    "-o", out }
  for _, word in ipairs(extra or {}) do args[#args + 1] = word end
  local status, _, stderr = testlib.run(args)
  local result = testlib.exists(out .. "/result.txt")
    and testlib.read(out .. "/result.txt") or nil
  return status, stderr, result
end

local HINT = " is not allowed (scenario and strategy files run in a "
  .. "sandbox; btlua run --unsafe lifts it)"

-- Commands, C code and the process.
local cases = {
  { "execute", "return os.execute('true')", "os.execute" },
  { "popen", "return io.popen('echo hi'):read('*a')", "io.popen" },
  { "loadlib", "return package.loadlib('libc.so.6', 'puts')",
    "package.loadlib" },
  { "exit", "os.exit(3)", "os.exit" },
  { "outside_write", "return io.open(" .. string.format("%q", elsewhere
    .. "/x.txt") .. ", 'w')", "writing " .. elsewhere .. "/x.txt: outside "
    .. "the output directory" },
  { "remove", "return os.remove(" .. string.format("%q", elsewhere
    .. "/lib.lua") .. ")", "os.remove " .. elsewhere .. "/lib.lua: outside "
    .. "the output directory" },
  { "require_c", "return require('cjson')", "require 'cjson'" },
  { "read_elsewhere", "return io.open(" .. string.format("%q", elsewhere
    .. "/lib.lua") .. "):read('*a')", "reading " .. elsewhere .. "/lib.lua: "
    .. "outside the scenario directory and the output directory, or not a "
    .. "regular file" },
  { "getenv", "return os.getenv('HOME')", "os.getenv" },
}
for _, case in ipairs(cases) do
  local name, body, what = case[1], case[2], case[3]
  local file = scenario_with(name, body)
  local status, stderr, result = run(file)
  t.is(status, 1, name .. ": the scenario fails (exit 1)")
  t.is(stderr:match("^[^\n]*\n"), "scenario " .. name .. ": " .. dir
    .. "/s/" .. name .. "_strategy.lua:7: " .. what .. HINT .. "\n",
    name .. ": the message")
  t.is(result, nil, name .. ": nothing ran past it")
end
t.ok(testlib.exists(elsewhere .. "/lib.lua"), "os.remove removed nothing")
t.ok(not testlib.exists(elsewhere .. "/x.txt"), "nothing written elsewhere")

-- What stays allowed: reading, the file's own modules and files, load of
-- text (in the sandbox's environment), writes in the output directory.
testlib.write(dir .. "/s/helper.lua", "return { twice = function(x) "
  .. "return 2 * x end }\n")
testlib.write(dir .. "/s/data.lua", "return 7\n")
local allowed = {
  { "local_require", "return require('helper').twice(21)", "42" },
  { "local_dofile", "return dofile(" .. string.format("%q", dir
    .. "/s/data.lua") .. ")", "7" },
  { "load_text", "return load('return 1 + 1')()", "2" },
  { "load_env", "return tostring(load('return _G')() == _G)", "true" },
  { "pure_libs", "return string.format('%d', math.floor(table.unpack "
    .. "and 3.5 or 3.5)) .. #tostring(coroutine.create(print))", nil },
}
for _, case in ipairs(allowed) do
  local name, body, want = case[1], case[2], case[3]
  local status, stderr, result = run(scenario_with(name, body))
  t.is(status, 0, name .. ": runs (" .. stderr:gsub("\n", " ") .. ")")
  if want then t.is(result, want, name .. ": the value") end
end

-- loadfile outside the scenario's directory: nil and a message.
local status, _, result = run(scenario_with("outside_loadfile",
  "local f, err = loadfile(" .. string.format("%q", elsewhere .. "/lib.lua")
  .. "); return tostring(f) .. ' ' .. err"))
t.is(status, 0, "loadfile outside: the strategy gets nil, message")
t.is(result, "nil loadfile " .. elsewhere .. "/lib.lua: outside the "
  .. "scenario directory (scenario and strategy files run in a sandbox; "
  .. "btlua run --unsafe lifts it)", "loadfile outside: the message")

-- A binary chunk is refused (it could crash the VM).
status, _, result = run(scenario_with("binary",
  "local ok, err = pcall(load, string.dump(function() end), 'x', 'b'); "
  .. "return tostring(ok) .. ' ' .. err"))
t.like(result or "", "^false .*load of binary chunks is not allowed",
  "binary chunks: refused")

-- The scenario file itself is sandboxed too.
testlib.write(dir .. "/s/scn_exec.lua", [[
os.execute("touch ]] .. elsewhere .. [[/ran")
return require("btlua").scenario { name = "scn_exec",
  data = { synthetic = { assets = 1, frequency = "daily",
    start = "2024-01-02", ["end"] = "2024-01-05" } },
  capital = "1000", strategy = "sma_cross" }
]])
local stderr
status, _, stderr = testlib.run({ "run", "--scenario", dir
  .. "/s/scn_exec.lua", "-q", "-o", out })
t.is(status, 2, "a scenario file that runs a command: exit 2")
t.is(stderr, "btlua run: " .. dir .. "/s/scn_exec.lua:1: os.execute" .. HINT
  .. "\n", "  and the message names the file and line")
t.ok(not testlib.exists(elsewhere .. "/ran"), "  the command did not run")

-- Listing scenarios runs nothing either.
status = testlib.run({ "run", "--list-scenarios", "--scenario-dir",
  dir .. "/s" })
t.is(status, 0, "--list-scenarios over hostile files: exit 0")
t.ok(not testlib.exists(elsewhere .. "/ran"), "  and no command ran")

-- --unsafe lifts it.
status, stderr, result = run(scenario_with("unsafe",
  "return io.popen('echo hi'):read('*a')"), { "--unsafe" })
t.is(status, 0, "--unsafe: io.popen works")
t.is(result, "hi\n", "--unsafe: its output")

-- The module on its own (used by the two above).
local env = sandbox.env { dirs = { dir .. "/s" }, output_dir = out }
t.is(env.io.open(out .. "/direct.txt", "w") ~= nil, true,
  "sandbox.env: writes in the output directory")
t.ok(not pcall(env.io.open, dir .. "/s/x.txt", "a"),
  "sandbox.env: appends elsewhere refused")
t.ok(not pcall(env.io.open, out .. "/../s/x.txt", "w"),
  "sandbox.env: '..' out of the output directory refused")
os.execute("ln -s " .. q(elsewhere .. "/lib.lua") .. " " .. q(out .. "/link.lua"))
t.ok(not pcall(env.io.open, out .. "/link.lua", "w"),
  "sandbox.env: a symbolic link out of the output directory refused")
t.is(env.debug.getregistry, nil, "sandbox.env: no debug.getregistry")
t.is(env._G, env, "sandbox.env: _G is the sandbox")
t.ok(real_dir ~= nil, "tmpdir resolves")

os.execute("rm -rf " .. q(dir))
t.done_testing()
