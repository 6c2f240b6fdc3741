-- testlib.lua: helpers for Lua tests that run the btlua command and look at
-- files: paths of the build under test, a scratch directory, file reads.
local testlib = {}

testlib.top = os.getenv("PWD")
testlib.build = os.getenv("BTLUA_BUILD") or (testlib.top .. "/build")
testlib.btlua = testlib.build .. "/btlua"
-- BTLUA_VALGRIND=1 (tests/exec): every btlua a test starts runs under
-- valgrind memcheck too (tests/valgrind-btlua).
local valgrind = os.getenv("BTLUA_VALGRIND")
testlib.valgrind = valgrind ~= nil and valgrind ~= "" and valgrind ~= "0"
if testlib.valgrind then
  testlib.btlua = testlib.top .. "/tests/valgrind-btlua"
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
testlib.quote = shell_quote

-- A fresh scratch directory, removed at exit of the test process.
function testlib.tmpdir()
  local pipe = assert(io.popen("mktemp -d /tmp/btlua-test.XXXXXX"))
  local dir = pipe:read("*l")
  pipe:close()
  return dir
end

function testlib.read(path)
  local file = io.open(path, "rb")
  if not file then return nil end
  local text = file:read("*a")
  file:close()
  return text
end

function testlib.write(path, text)
  local file = assert(io.open(path, "wb"))
  file:write(text)
  file:close()
end

function testlib.exists(path)
  local file = io.open(path, "rb")
  if file then file:close() end
  return file ~= nil
end

-- A bundle of hand-made bars: rows are CSV lines after the header
-- (symbol,timestamp,open,high,low,close,volume), ingested at `frequency`
-- (default daily) in a fresh directory. Returns the open bundle and the
-- directory (bars.csv and bars.btb are in it).
function testlib.bundle(rows, frequency)
  local core = require "btlua.core"
  local dir = testlib.tmpdir()
  testlib.write(dir .. "/bars.csv", "symbol,timestamp,open,high,low,close,"
    .. "volume\n" .. table.concat(rows, "\n") .. "\n")
  assert(core.store.ingest(dir .. "/bars.csv", dir .. "/bars.btb",
    { frequency = frequency or "daily" }))
  return assert(core.store.open(dir .. "/bars.btb")), dir
end

-- Runs a shell command; returns exit status, stdout, stderr and the CPU
-- seconds (user + system) of the processes it started: a cost that, unlike
-- wall time, does not grow with the load of the machine.
function testlib.sh(command, stdin_text)
  local dir = testlib.tmpdir()
  local out, err = dir .. "/out", dir .. "/err"
  local full = command .. " >" .. out .. " 2>" .. err
  if stdin_text then
    testlib.write(dir .. "/in", stdin_text)
    full = full .. " <" .. dir .. "/in"
  end
  full = full .. "; echo $? >" .. dir .. "/status; times >" .. dir .. "/times"
  os.execute(full)
  local status = tonumber(testlib.read(dir .. "/status"))
  local stdout, stderr = testlib.read(out), testlib.read(err)
  -- `times`: the shell's own user and system time, then its children's.
  local cpu
  local m1, s1, m2, s2 = (testlib.read(dir .. "/times") or ""):match(
    "\n(%d+)m([%d.]+)s (%d+)m([%d.]+)s")
  if m1 then cpu = m1 * 60 + s1 + m2 * 60 + s2 end
  os.execute("rm -rf " .. shell_quote(dir))
  return status, stdout, stderr, cpu
end

-- Runs btlua with the given argument words (quoted for the shell).
function testlib.run(args, stdin_text)
  local words = { shell_quote(testlib.btlua) }
  for _, a in ipairs(args) do words[#words + 1] = shell_quote(a) end
  return testlib.sh(table.concat(words, " "), stdin_text)
end

-- The text of a scenario file running `strategy` (a file name next to it)
-- on small synthetic data: opts.assets (2), frequency ("daily"), start
-- ("2024-01-02"), end ("2024-02-01"), capital ("100000").
function testlib.scenario_source(name, strategy, opts)
  opts = opts or {}
  return string.format([[
local btlua = require "btlua"
return btlua.scenario {
  name = %q,
  data = { synthetic = { assets = %d, frequency = %q,
                         start = %q, ["end"] = %q } },
  capital = %q,
  strategy = %q,
}
]], name, opts.assets or 2, opts.frequency or "daily",
    opts.start or "2024-01-02", opts["end"] or "2024-02-01",
    opts.capital or "100000", strategy)
end

return testlib
