-- tap.lua: a tiny TAP producer for the Lua tests, the same as tests/tap.h.
--   local t = require "tap"   (tests/ is on package.path via tests/exec)
--   t.plan(n); t.ok(cond, name); t.is(got, want, name); t.like(s, pat, name)
--   t.is_deeply(a, b, name); t.diag(msg); t.done_testing()
-- done_testing() exits non-zero when a test failed or the plan was missed.
local tap = {}

local run_count, fail_count, planned = 0, 0, nil

function tap.plan(count)
  planned = count
  io.write("1..", count, "\n")
end

function tap.diag(msg)
  for line in (tostring(msg) .. "\n"):gmatch("(.-)\n") do
    io.write("# ", line, "\n")
  end
end

local function result(pass, name)
  run_count = run_count + 1
  if not pass then fail_count = fail_count + 1 end
  io.write(pass and "ok " or "not ok ", run_count, " - ", name or "", "\n")
  io.stdout:flush()
  return pass
end

function tap.ok(cond, name)
  return result(cond and true or false, name)
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function tap.is(got, want, name)
  local pass = result(got == want, name)
  if not pass then
    tap.diag("     got: " .. show(got) .. "\n  expected: " .. show(want))
  end
  return pass
end

function tap.isnt(got, unwanted, name)
  local pass = result(got ~= unwanted, name)
  if not pass then tap.diag("     got: " .. show(got) .. " (unwanted)") end
  return pass
end

function tap.like(got, pattern, name)
  local pass = result(type(got) == "string" and got:find(pattern) ~= nil, name)
  if not pass then
    tap.diag("     got: " .. show(got) .. "\n  pattern: " .. show(pattern))
  end
  return pass
end

local function deep_equal(a, b, path)
  if type(a) ~= "table" or type(b) ~= "table" then
    if a == b then return true end
    return false, path .. ": " .. show(a) .. " ~= " .. show(b)
  end
  for k, v in pairs(a) do
    local same, where = deep_equal(v, b[k], path .. "." .. tostring(k))
    if not same then return false, where end
  end
  for k, v in pairs(b) do
    if a[k] == nil then
      return false, path .. "." .. tostring(k) .. ": missing, expected " .. show(v)
    end
  end
  return true
end

function tap.is_deeply(got, want, name)
  local same, where = deep_equal(got, want, "value")
  local pass = result(same, name)
  if not pass then tap.diag(where) end
  return pass
end

-- Runs fn and checks that it raises an error matching pattern.
function tap.error_like(fn, pattern, name)
  local okay, err = pcall(fn)
  local pass = result(not okay and tostring(err):find(pattern) ~= nil, name)
  if not pass then
    tap.diag(okay and "no error raised" or ("error: " .. tostring(err)))
  end
  return pass
end

function tap.done_testing()
  if not planned then
    io.write("1..", run_count, "\n")
  elseif planned ~= run_count then
    tap.diag(string.format("planned %d tests but ran %d", planned, run_count))
    os.exit(1)
  end
  if fail_count > 0 then
    tap.diag(string.format("failed %d of %d tests", fail_count, run_count))
    os.exit(1)
  end
  os.exit(0)
end

return tap
