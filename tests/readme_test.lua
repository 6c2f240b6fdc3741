-- readme_test.lua: the README's two commands and .ci/run agree: the same
-- Debian packages, the same test command; the first command ends with the
-- minute scenario.
local t = require "tap"
local lib = require "testlib"

local readme = assert(lib.read(lib.top .. "/README.md"))
local ci = assert(lib.read(lib.top .. "/.ci/run"))

local function packages(text, where)
  local list = text:match("apt%-get install %-y ([%w%.%-%+ ]+)")
  assert(list, "no apt-get install line in " .. where)
  local words = {}
  for word in list:gmatch("%S+") do words[#words + 1] = word end
  table.sort(words)
  return table.concat(words, " ")
end

t.is(packages(ci, ".ci/run"), packages(readme, "README.md"),
  ".ci/run installs exactly the README's packages")

local blocks = {}
for block in readme:gmatch("```sh\n(.-)\n```") do blocks[#blocks + 1] = block end
t.is(#blocks, 2, "the README has exactly two shell commands")
t.like(blocks[1] or "", "&& %./build/btlua scenarios/minute%.lua$",
  "command 1 ends by running the minute scenario")
t.is(blocks[2], "tests/run", "command 2 is the test command")
t.like(ci, "\nBTLUA_CMAKE_ARGS=\"%-DBTLUA_WERROR=ON\" tests/run build%-ci\n",
  ".ci/run runs the README's test command")
t.done_testing()
