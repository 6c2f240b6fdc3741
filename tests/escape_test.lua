-- escape_test.lua: attempts to get out of the sandbox (no --unsafe): each
-- tries to write a file outside the output directory or run a command; none
-- may succeed (Lua 5.4 and LuaJIT: the suite runs on both builds).
local t = require "tap"
local testlib = require "testlib"

local q = testlib.quote
local dir = testlib.tmpdir()
local out, elsewhere = dir .. "/out", dir .. "/elsewhere"
os.execute("mkdir -p " .. q(out) .. " " .. q(elsewhere) .. " "
  .. q(dir .. "/s") .. " " .. q(dir .. "/cwd/btlua/strategies"))
local marker = elsewhere .. "/escaped"
local M = string.format("%q", marker)

-- The last thing each attempt does: write the marker and run a command
-- that would create it too.
local PAYLOAD = "local f = io.open(" .. M .. ", 'w') if f then f:write('x') "
  .. "f:close() end os.execute('touch " .. marker .. "')"

local function strategy_scenario(name, strategy_body, scenario_head)
  testlib.write(dir .. "/s/" .. name .. "_strategy.lua", strategy_body)
  testlib.write(dir .. "/s/" .. name .. ".lua", (scenario_head or "")
    .. testlib.scenario_source(name, name .. "_strategy.lua",
      { assets = 1, ["end"] = "2024-01-05" }))
  return dir .. "/s/" .. name .. ".lua"
end

local function in_handle_data(body)
  return "return { handle_data = function(ctx, data)\n" .. body .. "\n"
    .. PAYLOAD .. "\nend }\n"
end

local attempts = {
  -- the host's write check used the shared string table
  { "string_find", in_handle_data("string.find = function() return nil end") },
  { "string_meta", in_handle_data(
    "local mt = getmetatable('') if mt then mt.__index.find = "
    .. "function() return nil end end") },
  -- host modules through require
  { "require_sandbox", in_handle_data(
    "local ok, m = pcall(require, 'btlua.sandbox') if ok then "
    .. "m.env = nil end") },
  { "require_core", in_handle_data("local core = require('btlua.core') "
    .. "core.runner.call { module = 'os', func = 'execute', arg = 'true' }") },
  { "require_backtest", in_handle_data(
    "require('btlua.backtest').load_strategy(" .. M .. ")") },
  { "scenario_load", in_handle_data(
    "require('btlua.scenario').load(" .. M .. ")") },
  { "btlua_scenario_load", in_handle_data(
    "require('btlua').scenario.load(" .. M .. ")") },
  { "ffi", in_handle_data("require('ffi')") },
  { "package_loaded", in_handle_data(
    "local os_real = package.loaded and package.loaded.os "
    .. "os_real.execute('touch " .. marker .. "')") },
  { "load_env", in_handle_data(
    "load('os.execute(\"touch " .. marker .. "\")', 'x', 't', _G)()") },
  -- a dangling symbolic link in the output directory
  { "dangling_link", in_handle_data(
    "local f = io.open(" .. string.format("%q", out .. "/link") .. ", 'w') "
    .. "if f then f:write('x') f:close() end") },
}
os.execute("ln -sf " .. q(marker) .. " " .. q(out .. "/link"))
for _, attempt in ipairs(attempts) do
  local name = attempt[1]
  local file = strategy_scenario(name, attempt[2])
  local status = testlib.run({ "run", "--scenario", file, "--profiler",
    "none", "-q", "-o", out })
  t.isnt(status, 0, name .. ": the run fails")
  t.is(testlib.exists(marker), false, name .. ": nothing escaped")
  os.remove(marker)
end

-- A scenario switching the policy off for its strategy.
local file = strategy_scenario("policy", in_handle_data(""),
  "local s = require 'btlua.scenario'\n"
  .. "pcall(function() s.policy = function() return nil end end)\n")
local status, _, stderr = testlib.run({ "run", "--scenario", file,
  "--profiler", "none", "-q", "-o", out })
t.is(status, 1, "policy switch: the strategy still runs sandboxed (exit 1)")
t.like(stderr, "writing [^\n]*escaped: outside the output directory",
  "  and its write is refused")
t.is(testlib.exists(marker), false, "  nothing escaped")

-- `btlua SCENARIO.lua` (the README's headline command) is sandboxed.
file = dir .. "/s/headline.lua"
testlib.write(file, "os.execute('touch " .. marker .. "')\n"
  .. testlib.scenario_source("headline", "sma_cross", { assets = 1,
    ["end"] = "2024-01-05" }))
status, _, stderr = testlib.run({ file, "-q", "-o", out })
t.is(status, 2, "btlua SCENARIO.lua with a command: exit 2")
t.like(stderr, "os%.execute is not allowed", "  refused by the sandbox")
t.is(testlib.exists(marker), false, "  the command did not run")

-- --list-scenarios runs nothing (files are loaded in a sandboxed child).
status = testlib.run({ "run", "--list-scenarios", "--scenario-dir",
  dir .. "/s" })
t.is(status, 0, "--list-scenarios over hostile files: exit 0")
t.is(testlib.exists(marker), false, "  nothing escaped")

-- Built-in strategy names never come from the working directory.
testlib.write(dir .. "/cwd/btlua/strategies/evil.lua", PAYLOAD
  .. "\nreturn { handle_data = function() end }\n")
testlib.write(dir .. "/cwd/btlua/strategies/sma_cross.lua", PAYLOAD
  .. "\nreturn { handle_data = function() end }\n")
file = dir .. "/s/evil.lua"
testlib.write(file, testlib.scenario_source("evil", "evil",
  { assets = 1, ["end"] = "2024-01-05" }))
status, _, stderr = testlib.sh("cd " .. q(dir .. "/cwd") .. " && "
  .. q(testlib.btlua) .. " run --scenario " .. q(file) .. " -q -o " .. q(out))
t.is(status, 2, "a 'built-in' name found only in the working directory: 2")
t.like(stderr, "unknown strategy \"evil\"", "  unknown")
file = dir .. "/s/builtin.lua"
testlib.write(file, testlib.scenario_source("builtin", "sma_cross",
  { assets = 1, ["end"] = "2024-01-05" }))
status = testlib.sh("cd " .. q(dir .. "/cwd") .. " && "
  .. q(testlib.btlua) .. " run --scenario " .. q(file)
  .. " --profiler none -q -o " .. q(out))
t.is(status, 0, "sma_cross from a directory holding a fake one: runs")
t.is(testlib.exists(marker), false, "  btlua's own sma_cross ran")

-- Reading the environment and files elsewhere is refused.
testlib.write(elsewhere .. "/secret.txt", "secret\n")
file = strategy_scenario("snoop", "return { handle_data = function()\n"
  .. "local f = io.open(" .. string.format("%q", elsewhere .. "/secret.txt")
  .. ") local env = os.getenv('HOME') end }\n")
status, _, stderr = testlib.run({ "run", "--scenario", file, "--profiler",
  "none", "-q", "-o", out })
t.is(status, 1, "reading a file elsewhere: the run fails")
t.like(stderr, "reading .*secret%.txt: outside", "  names the file")

t.is(testlib.exists(marker), false, "no attempt left a file outside")
os.execute("rm -rf " .. q(dir))
t.done_testing()
