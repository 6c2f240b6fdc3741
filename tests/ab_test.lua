-- ab_test.lua: `btlua ab` and scenarios/ci_compare.lua end to end at a
-- reduced size: interleaved order and progress lines, merged sides, the
-- verdict, --json, different results failing the gate, too few rounds for
-- a gate, bad usage. Timing never decides a test here: identical sides
-- are checked for their verdict's shape, not for "no change".
local t = require "tap"
local lib = require "testlib"
local cjson = require "cjson"

local dir = lib.tmpdir()
local SMALL = lib.quote(lib.btlua) .. " --set data.synthetic.assets=2 "
  .. "--set data.synthetic.end=2024-01-02"

local function ab(words)
  local all = { "ab", "--scenario", "minute" }
  for _, word in ipairs(words) do all[#all + 1] = word end
  return lib.run(all)
end

-- Identical sides, 2 rounds ABBA, profiled: files, order, progress, JSON.
local out_dir = dir .. "/same"
local status, out, err = ab({ "--before", SMALL, "--after", SMALL,
  "--rounds", "2", "--output-dir", out_dir, "--json", dir .. "/same.json",
  "--keep-runs", "--repeat", "2" })
t.is(status, 0, "identical sides, no gate: exit 0")
t.is(err, "btlua ab: round 1/2, before (first)\n"
  .. "btlua ab: round 1/2, after (second)\n"
  .. "btlua ab: round 2/2, after (first)\n"
  .. "btlua ab: round 2/2, before (second)\n",
  "the progress lines say which round and side run, in ABBA order")
t.like(out, "^minute: too few runs, CPU time [~ ]*[%+%-]%d+%.%d%d%% %(p=[%d.]+, "
  .. "2 interleaved pairs%); too few runs to ever reach p<0%.05 %(at least 6 "
  .. "interleaved pairs needed%) %-> " .. out_dir:gsub("%p", "%%%0")
  .. "/profile_comparison_minute%.md\n$", "the verdict line: too few rounds")
for _, file in ipairs({ "before/minute.btprof", "before/minute_results.json",
    "before/minute_fills.csv", "after/minute.btprof",
    "after/minute_results.json", "profile_comparison_minute.md",
    "runs/before-01/minute.btprof", "runs/after-02/minute_results.json" }) do
  t.ok(lib.exists(out_dir .. "/" .. file), "writes " .. file)
end
local merged = cjson.decode(lib.read(out_dir .. "/after/minute_results.json")
  or "null") or {}
t.is(#(merged.runs or {}), 2, "the merged side lists one run a round (the "
  .. "fastest of --repeat 2)")
local own = cjson.decode(lib.read(out_dir .. "/runs/after-01/minute_results.json")
  or "null") or {}
t.is(#(own.runs or {}), 2, "each process ran the scenario twice")
local fastest = math.min(own.runs[1].cpu_s, own.runs[2].cpu_s)
t.is(merged.runs[1].cpu_s, fastest, "round 1 counts its fastest run")
local merged_profile = require("btlua.core").prof.load(out_dir
  .. "/after/minute.btprof") or {}
t.is(#(merged_profile.runs or {}), 2, "the merged profile: one run a round")
t.like((merged_profile.meta or {}).cpu_s_runs or "", "^%d+%.%d+ %d+%.%d+$",
  "with each round's CPU time in its metadata")
t.is_deeply(merged.ab, { order = "ABBA", rounds = 2, side = "after" },
  "and is marked as interleaved")
t.like(merged.digest or "", "^fnv1a64:%x+$", "with the results digest")
local verdicts = cjson.decode(lib.read(dir .. "/same.json") or "null") or {}
t.is(verdicts.status, 0, "--json: status")
t.is(verdicts.rounds, 2, "--json: rounds")
t.is(verdicts.order, "ABBA", "--json: order")
local first = (verdicts.scenarios or {})[1] or {}
t.is(first.paired, true, "--json: paired")
t.is(first.basis, "cpu", "--json: the verdict rests on CPU time")
t.is(first.verdict, "too few runs", "--json: verdict")
t.is(first.runs_needed, "6 interleaved pairs", "--json: runs needed")
local compared = require("btlua.compare").compare(out_dir .. "/before",
  out_dir .. "/after", { write = false })
t.is(compared and compared.scenarios[1].result.paired, true,
  "btlua compare on ab's sides pairs the runs too")

-- The same with a gate: too few rounds is an error, not a pass.
status, out, err = ab({ "--before", SMALL, "--after", SMALL, "--rounds", "1",
  "--output-dir", dir .. "/gate", "--fail-on-regression", "5", "-q",
  "--profiler", "none" })
t.is(status, 2, "--fail-on-regression with 1 round: exit 2")
t.is(err, "btlua ab: --fail-on-regression 5: too few runs to ever reach "
  .. "significance (see the report)\n", "and says why")
t.ok(lib.exists(dir .. "/gate/after/minute_results.json")
  and not lib.exists(dir .. "/gate/after/minute.btprof"),
  "--profiler none: results only")
t.ok(not lib.exists(dir .. "/gate/runs"), "the runs' own directories go")

-- Different results (another strategy parameter) fail the gate.
status, out, err = ab({ "--before", SMALL, "--after", SMALL
  .. " --param window=10", "--rounds", "1", "--output-dir", dir .. "/diff",
  "-q", "--profiler", "none" })
t.is(status, 1, "different results: exit 1")
t.like(out, "^minute: different results, CPU time ", "the verdict says so")
t.is(err, "btlua ab: different results (see the report; "
  .. "--allow-different-results accepts them)\n", "stderr says why")
local report = lib.read(dir .. "/diff/profile_comparison_minute.md") or ""
t.like(report, "\n> %*%*Different results:%*%* the two sides did not do the "
  .. "same work", "the report opens with the different-results line")
t.like(report, "\n> %- results digest: fnv1a64:%x+ before, fnv1a64:%x+ "
  .. "after\n", "and lists the differing digest")
status = ab({ "--before", SMALL, "--after", SMALL .. " --param window=10",
  "--rounds", "1", "--output-dir", dir .. "/diff", "-q", "--profiler",
  "none", "--allow-different-results" })
t.is(status, 0, "--allow-different-results: exit 0")

-- A failing run and bad usage.
status, out, err = ab({ "--before", SMALL, "--after", lib.quote(lib.btlua)
  .. " --param nosuch=1", "--rounds", "1", "--output-dir", dir .. "/bad",
  "-q" })
t.is(status, 2, "the after side's run rejects its arguments: exit 2")
t.like(err, "btlua ab: round 1, after side: `.-` exited 2\n$",
  "and names the round and side")
status, _, err = lib.run({ "ab", "--after", SMALL, "--scenario", "minute" })
t.is(status, 2, "no --before: exit 2")
t.is(err, "btlua ab: --before CMD is required\n", "and says so")
status, _, err = ab({ "--before", SMALL, "--after", SMALL, "--rounds", "0" })
t.is(status, 2, "--rounds 0: exit 2")
t.is(err, "btlua ab: --rounds: expected a positive integer, got '0'\n",
  "and names the flag")
status, _, err = ab({ "--before", "'unbalanced", "--after", SMALL })
t.is(status, 2, "an unbalanced quote in CMD: exit 2")
t.is(err, "btlua ab: --before: unbalanced '\n", "and names the flag")
status, out = lib.run({ "ab", "--help" })
t.is(status, 0, "btlua ab --help: exit 0")
t.like(out, "^Usage: btlua ab ", "and prints the usage")

-- scenarios/ci_compare.lua: a short script over btlua ab.
local ci = lib.top .. "/scenarios/ci_compare.lua"
status, _, err = lib.run({ ci })
t.is(status, 2, "ci_compare without BASE_BTLUA exits 2")
t.is(err, "usage: btlua scenarios/ci_compare.lua BASE_BTLUA [btlua ab "
  .. "options]\nci_compare: missing BASE_BTLUA (the base branch's btlua "
  .. "executable)\n", "and says why")
status, out, err = lib.run({ ci, SMALL .. " --param window=10",
  "--scenario", "minute", "--rounds", "1", "--profiler", "none",
  "--output-dir", dir .. "/ci", "-q" })
t.is(status, 1, "ci_compare: different results against the base: exit 1")
t.ok(lib.exists(dir .. "/ci/verdict.json"), "the verdict JSON is written")
status = lib.run({ "-e", "print(dofile(" .. string.format("%q", ci) .. "))" })
t.is(status, 0, "loading ci_compare.lua outside a script run does nothing")

os.execute("rm -rf '" .. dir .. "'")
t.done_testing()
