-- ci_compare.lua: the CI gate, a plain btlua script (not a scenario) over
-- `btlua ab`: the base build and this one run interleaved, every scenario,
-- and the job fails on a significant slowdown or on different results.
--   btlua scenarios/ci_compare.lua BASE_BTLUA [btlua ab options]
-- BASE_BTLUA is the base branch's btlua (with any `btlua run` arguments,
-- quoted as one word); the after side is this btlua. Defaults: --scenario
-- all, --rounds 16, --fail-on-regression 5, --output-dir profiles/ci,
-- --json profiles/ci/verdict.json; any `btlua ab` option overrides them.
-- Exit status: 0 ok, 1 a run failed, different results or a slowdown
-- beyond PCT, 2 bad usage (or too few rounds for the gate).

-- Only act when run as a script: scenario discovery may load this file.
local script = arg and arg[0]
if type(script) ~= "string" or not script:match("ci_compare%.lua$") then
  return nil
end

local words = { ... }
if #words == 0 or words[1]:sub(1, 1) == "-" then
  io.stderr:write("usage: btlua scenarios/ci_compare.lua BASE_BTLUA "
    .. "[btlua ab options]\nci_compare: missing BASE_BTLUA (the base "
    .. "branch's btlua executable)\n")
  os.exit(2)
end

local function given(flag)
  for _, word in ipairs(words) do
    if word == flag or word:sub(1, #flag + 1) == flag .. "=" then
      return true
    end
  end
  return false
end

local this_btlua = arg[-1]
local ab = { "--before", words[1], "--after", this_btlua }
local defaults = {
  { "--scenario", "all" }, { "--rounds", "16" },
  { "--fail-on-regression", "5" }, { "--output-dir", "profiles/ci" },
}
for _, default in ipairs(defaults) do
  if not given(default[1]) then
    ab[#ab + 1], ab[#ab + 2] = default[1], default[2]
  end
end
if not given("--json") then
  local dir = "profiles/ci"
  for i, word in ipairs(words) do
    if word == "--output-dir" and words[i + 1] then dir = words[i + 1] end
  end
  ab[#ab + 1], ab[#ab + 2] = "--json", dir .. "/verdict.json"
end
for i = 2, #words do ab[#ab + 1] = words[i] end

os.exit(require("btlua.cmd.ab")(ab))
