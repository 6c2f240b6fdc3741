-- bad_input_test.lua: runs every case of the bad-input corpus
-- (tests/bad/cases.lua) through the btlua command and checks the exit
-- status (exactly; a signal or sanitizer abort never gives 2), the exact
-- message (or its pattern), no traceback, and no partial output: the
-- case's out/ directory holds no file afterwards.
local t = require "tap"
local testlib = require "testlib"
local cases = require "bad.cases"

local q = testlib.quote
local bad_dir = testlib.top .. "/tests/bad"

local function sh_ok(command)
  local status = testlib.sh(command)
  assert(status == 0, "failed: " .. command)
end

-- Files (not directories) below dir, sorted, as paths relative to it.
local function files_below(dir)
  local pipe = assert(io.popen("cd " .. q(dir) .. " && find . -type f | sort"))
  local files = {}
  for line in pipe:lines() do files[#files + 1] = line:sub(3) end
  pipe:close()
  return files
end

-- A good bundle and a good profile that the generators damage.
local base = testlib.tmpdir()
sh_ok("cp " .. q(bad_dir .. "/csv/good.csv") .. " " .. q(base))
sh_ok("cd " .. q(base) .. " && " .. q(testlib.btlua)
  .. " ingest good.csv --out good.btb -q")
sh_ok("cd " .. q(base) .. " && BTLUA_CACHE=" .. q(base .. "/cache") .. " "
  .. q(testlib.btlua) .. " run --scenario daily --set "
  .. "data.synthetic.assets=1 --set data.synthetic.end=2023-02-01 -q "
  .. "-o prof && cp prof/daily.btprof good.btprof")

local total = 0
for _, case in ipairs(cases) do
  total = total + 1
end
t.plan(3 + total * 4)
t.ok(total >= 40, "at least 40 cases (" .. total .. ")")
local names = {}
for _, case in ipairs(cases) do names[case.name] = (names[case.name] or 0) + 1 end
local unique = true
for name, count in pairs(names) do
  if count > 1 then unique = false t.diag("duplicate case " .. name) end
end
t.ok(unique, "case names are unique")

local function expand(word, out)
  return (word:gsub("{out}", out))
end

local surfaces = {}
for _, case in ipairs(cases) do
  surfaces[case.name:match("^(%S+)")] = true
  local dir = testlib.tmpdir()
  local out = dir .. "/out"
  sh_ok("mkdir -p " .. q(out) .. " && cp -R " .. q(bad_dir .. "/csv") .. " "
    .. q(bad_dir .. "/scenario") .. " " .. q(dir))
  if case.make then case.make(dir, base) end
  local words = { q(testlib.btlua) }
  for _, word in ipairs(case.args) do words[#words + 1] = q(expand(word, out)) end
  local command = "cd " .. q(dir) .. " && BTLUA_CACHE=" .. q(dir .. "/cache")
    .. " " .. table.concat(words, " ")
  local status, _, stderr = testlib.sh(command)
  local label = case.name .. ": "
  t.is(status, case.status, label .. "exit status " .. case.status)
  if case.stderr then
    t.is(stderr, case.stderr, label .. "message")
  else
    local matched = true
    for _, pattern in ipairs(case.like or {}) do
      if not stderr:find(pattern) then
        matched = false
        t.diag("no match for " .. pattern)
      end
    end
    t.ok(matched and #(case.like or {}) > 0, label .. "message")
    if not matched then t.diag("stderr: " .. stderr) end
  end
  t.ok(not stderr:find("stack traceback", 1, true)
    and not stderr:find("Sanitizer", 1, true)
    and not stderr:find("runtime error", 1, true), label .. "no traceback")
  local files = files_below(out)
  if case.status == 0 then
    t.is(files[1], case.creates, label .. "writes its output")
  else
    local left = {}
    local kept = {}
    for _, name in ipairs(case.keep or {}) do kept[name] = true end
    for _, name in ipairs(files) do
      if not kept[name] then left[#left + 1] = name end
    end
    t.is(table.concat(left, " "), "", label .. "no partial output")
  end
  os.execute("rm -rf " .. q(dir))
end
local count = 0
for _ in pairs(surfaces) do count = count + 1 end
t.is(count, 5, "cases cover csv, bundle, btprof, scenario and cli")

os.execute("rm -rf " .. q(base))
t.done_testing()
