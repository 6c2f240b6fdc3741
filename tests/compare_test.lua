-- compare_test.lua: btlua.compare on synthetic profile sets (seeded noise):
-- a 30% slower function is found and nothing else; equal distributions give
-- `~`; different results open the report; the regression gate of `btlua
-- compare` trips only when it should.
local t = require "tap"
local lib = require "testlib"
local fx = require "compare_fixtures"
local compare = require "btlua.compare"

local HANDLE_DATA = "btlua.strategies.mean_reversion:handle_data"

local function lines_of(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
  return lines
end

local function find_line(lines, pattern)
  for i, line in ipairs(lines) do
    if line:find(pattern, 1, true) then return i, line end
  end
end

local function significant_names(result, group)
  local names = {}
  for _, row in ipairs(result[group]) do
    if row.significant then names[#names + 1] = row.name end
  end
  return names
end

-- 1. One function 30% slower, 3% noise per value, 10 runs per side.
local rng = fx.stats.rng(1)
local before = fx.profile({ rng = rng })
local after = fx.profile({ rng = rng, slow = { handle_data = 1.3 } })
local result = compare.compare_sides(fx.side("base", before, fx.results()),
  fx.side("new", after, fx.results()), {})
t.is_deeply(significant_names(result, "self"), { HANDLE_DATA },
  "exactly the slowed function is a significant change (self time)")
t.is_deeply(significant_names(result, "zones"), { "strategy" },
  "the zone that runs it is the only significant zone")
t.is(result.verdict, "slower", "overall verdict: slower")
t.is(result.timing_verdict, "slower", "timing verdict: slower")
t.is(result.same_work.status, "same", "same work")
local text = compare.render(result)
local lines = lines_of(text)
t.is(lines[1], "# Profile comparison: minute", "title")
local _, verdict = find_line(lines, "**Verdict")
t.is(verdict, "**Verdict: slower.** Wall time +9.13% (95% CI +7.69% to "
  .. "+10.35%, p<0.001, 10+10 runs).", "verdict line")
local _, wall = find_line(lines, "| wall time |")
t.is(wall, "| wall time | 200.319 ms ±1% | 218.614 ms ±2% | +9.13% | <0.001 "
  .. "| 10+10 |", "wall time row")
local at = find_line(lines, "### Functions (self time)")
t.is(lines[at + 4], "| `" .. HANDLE_DATA .. "` | 60.074 ms | 77.633 ms | "
  .. "+29.23% | +17.560 ms (+8.77% of total) | <0.001 |",
  "the regression is listed with its change and share of total")
t.is(lines[at + 5], "", "and nothing else is")
local improvements = find_line(lines, "## Improvements")
t.is(lines[improvements + 8], "None above the noise floor.",
  "no function improved")
local _, blotter = find_line(lines, "| blotter |")
t.is(blotter, "| blotter | 8.991 ms ±2% | 8.828 ms ±3% | ~ | 1.000 | 10+10 |",
  "unchanged zones print ~")
t.is(select(2, find_line(lines, "Changes smaller")), "Changes smaller than 1% of the total wall time "
  .. "(2.003 ms) are not listed, and detail rows below it on both sides are "
  .. "not tested.", "the noise floor is relative to the total")

-- 2. Same distribution on both sides: `~` everywhere in >= 95 of 100 trials.
local clean = 0
for seed = 1, 100 do
  local trial_rng = fx.stats.rng(seed)
  local r = compare.compare_sides(
    fx.side("a", fx.profile({ rng = trial_rng }), fx.results()),
    fx.side("b", fx.profile({ rng = trial_rng }), fx.results()), {})
  local any = false
  for _, group in ipairs({ "overall", "zones", "self", "cum" }) do
    if #significant_names(r, group) > 0 then any = true end
  end
  if not any and r.verdict == "no significant change" then
    clean = clean + 1
  end
end
t.ok(clean >= 95, "same distribution: no significant row in >= 95 of 100 "
  .. "trials")
t.is(clean, 98, "same distribution: exactly 98 clean trials with seeds 1..100")

rng = fx.stats.rng(3)
result = compare.compare_sides(
  fx.side("a", fx.profile({ rng = rng }), fx.results()),
  fx.side("b", fx.profile({ rng = rng }), fx.results()), {})
lines = lines_of(compare.render(result))
_, verdict = find_line(lines, "**Verdict")
t.is(verdict, "**Verdict: no significant change.** Wall time ~ +0.34% "
  .. "(95% CI -0.88% to +1.00%, p=1.000, 10+10 runs).",
  "no change: the verdict says so with ~")
_, wall = find_line(lines, "| wall time |")
t.is(wall, "| wall time | 201.802 ms ±1% | 202.483 ms ±2% | ~ | 1.000 | "
  .. "10+10 |", "no change: the wall row prints ~")
at = find_line(lines, "## Regressions")
t.is(lines[at + 4], "None above the noise floor.", "no zone regression listed")
t.is(lines[at + 8], "None above the noise floor.",
  "no function regression listed")

-- 3. Different results: the report opens with the same-work warning and the
-- speedup is not called one.
rng = fx.stats.rng(4)
local changed = fx.results()
changed.final_value, changed.fills = "100490.00", 117
result = compare.compare_sides(
  fx.side("base", fx.profile({ rng = rng }), fx.results()),
  fx.side("new", fx.profile({ rng = rng, slow = { handle_data = 0.5 } }),
    changed, "ts,asset,qty,price\n"), {})
t.is(result.verdict, "different work", "verdict: different work")
t.is(result.timing_verdict, "faster", "timing alone would say faster")
lines = lines_of(compare.render(result))
t.is(lines[1], "> **Warning: the two runs did not do the same work.** "
  .. "Their results differ, so the timing change below is not a speedup or "
  .. "a slowdown:", "the report opens with the same-work warning")
t.is_deeply({ lines[2], lines[3], lines[4], lines[5] },
  { "> - final value: 100512.34 before, 100490.00 after",
    "> - fills: 118 before, 117 after",
    "> - fills file: contents differ (2 lines before, 1 after)", "" },
  "it lists each difference")
t.is(lines[6], "# Profile comparison: minute", "then the title")
_, verdict = find_line(lines, "**Verdict")
t.like(verdict, "^%*%*Verdict: different work%.%*%* The results differ %(see "
  .. "the top of this report%), so this is not a speedup or a slowdown of "
  .. "the same work: wall time %-", "the verdict does not call it a speedup")
t.is(find_line(lines, "faster"), nil, "the word faster appears nowhere")

-- 4. Metadata that invalidates timing, and a single run per side.
rng = fx.stats.rng(5)
result = compare.compare_sides(
  fx.side("base", fx.profile({ rng = rng, runs = 1 }), fx.results()),
  fx.side("new", fx.profile({ rng = rng, runs = 1, slow = { current = 2 },
    meta = { build_type = "Debug", host = "laptop" } }), fx.results()), {})
t.is(result.verdict, "not tested", "one run per side: not tested")
lines = lines_of(compare.render(result))
_, verdict = find_line(lines, "**Verdict")
t.is(verdict, "**Verdict: not tested.** No significance can be claimed with "
  .. "one run per side (use `btlua run --repeat 10`); the raw change in wall "
  .. "time is +15.99%.", "single runs: no significance claimed")
local _, warning = find_line(lines, "> **Warning: these timings")
t.is(warning, "> **Warning: these timings are not comparable:** the runs "
  .. "differ in host (ci-1 before, laptop after); build type (Release before, "
  .. "Debug after).", "host and build type differences are flagged")
_, warning = find_line(lines, "| `[C]:data:current` |")
t.is(warning, "| `[C]:data:current` | 24.560 ms | 51.241 ms | +108.63% | "
  .. "+26.681 ms (+13.66% of total) | n/a |",
  "single runs: raw changes above the floor are listed, untested")

-- 5. Three runs per side cannot be significant; the report says so.
rng = fx.stats.rng(6)
result = compare.compare_sides(
  fx.side("base", fx.profile({ rng = rng, runs = 3 }), fx.results()),
  fx.side("new", fx.profile({ rng = rng, runs = 3,
    slow = { handle_data = 2 } }), fx.results()), {})
t.is(result.verdict, "no significant change", "3+3 runs: not significant")
lines = lines_of(compare.render(result))
t.ok(find_line(lines, "With 3+3 runs no change can be significant at alpha "
  .. "0.05 (the smallest possible p is 0.400); use `--repeat 10`."),
  "3+3 runs: the report explains why")

-- 6. Memory and missing data.
rng = fx.stats.rng(7)
local grown = fx.profile({ rng = rng })
grown.memory.peak_rss = 60 * 2 ^ 20
result = compare.compare_sides(fx.side("a", fx.profile({ rng = rng }), nil,
  false), fx.side("b", grown, nil, false), {})
lines = lines_of(compare.render(result))
_, warning = find_line(lines, "| peak RSS |")
t.is(warning, "| peak RSS | 50.00 MiB | 60.00 MiB | +10.00 MiB (+20.00%) |",
  "peak RSS delta")
t.is(result.same_work.status, "same", "results digest alone is checked")
t.is_deeply(result.same_work.checked, { "results digest", "bars" },
  "without results files: digest and bars from the metadata")

-- 7. The command: fixture directories, exit status and files.
local dir = lib.tmpdir()
local function run_dirs(before_profile, after_profile, after_results)
  local base, new = dir .. "/base", dir .. "/new"
  os.execute("rm -rf '" .. base .. "' '" .. new .. "'")
  fx.write_dir(base, "minute", before_profile, fx.results())
  fx.write_dir(new, "minute", after_profile, after_results or fx.results())
  return base, new
end
local command = require "btlua.cmd.compare"
local loader = { load_profile = fx.load_profile }
local function quietly(words)
  local saved = io.stdout
  io.output("/dev/null")
  local status = command(words, loader)
  io.output(saved)
  return status
end

local function status_of(words)
  local saved = io.stderr
  io.stderr = io.open("/dev/null", "w")
  local status = quietly(words)
  io.stderr = saved
  return status
end
rng = fx.stats.rng(1)
local base, new = run_dirs(fx.profile({ rng = rng }),
  fx.profile({ rng = rng, slow = { handle_data = 1.3 } }))
t.is(status_of({ base, new, "--fail-on-regression", "5", "-q" }), 1,
  "9% slower, gate 5%: exit 1")
local report_text = lib.read(new .. "/profile_comparison_minute.md")
t.like(report_text or "", "^# Profile comparison: minute\n",
  "the report is written even when the gate trips")
t.is(quietly({ base, new, "--fail-on-regression", "10", "-q" }), 0,
  "9% slower, gate 10%: exit 0")
t.is(quietly({ base, new, "-q" }), 0, "no gate: exit 0")
t.is(quietly({ new, base, "--fail-on-regression", "0", "-q" }), 0,
  "8% faster, gate 0%: exit 0")
t.is(quietly({ base, new, "--fail-on-regression", "5", "--alpha",
  "0.0000001", "-q" }), 0, "not significant at a tiny alpha: exit 0")

rng = fx.stats.rng(2)
base, new = run_dirs(fx.profile({ rng = rng }), fx.profile({ rng = rng }))
t.is(quietly({ base, new, "--fail-on-regression", "0", "-q" }), 0,
  "same distribution, gate 0%: exit 0")

rng = fx.stats.rng(1)
base, new = run_dirs(fx.profile({ rng = rng, runs = 1 }),
  fx.profile({ rng = rng, runs = 1, slow = { handle_data = 3 } }))
t.is(quietly({ base, new, "--fail-on-regression", "5", "-q" }), 0,
  "one run per side: the gate cannot trip (no significance)")

rng = fx.stats.rng(1)
base, new = run_dirs(fx.profile({ rng = rng }),
  fx.profile({ rng = rng, slow = { handle_data = 1.3 } }))
local out_file = dir .. "/one.md"
t.is(quietly({ base, new, "--output", out_file, "-q" }), 0, "--output FILE")
t.is(lib.read(out_file), report_text, "--output writes the same report")
t.is(quietly({ base, new, "--output-dir", dir, "-q" }), 0, "--output-dir")
t.is(lib.read(dir .. "/profile_comparison_minute.md"), report_text,
  "--output-dir gets profile_comparison_S.md")

t.is(status_of({ base }), 2, "missing AFTER_DIR: exit 2")
t.is(status_of({ base, dir .. "/nowhere" }), 2, "missing directory: exit 2")
t.is(status_of({ base, new, "--alpha", "2" }), 2, "bad --alpha: exit 2")
t.is(status_of({ base, new, "--fail-on-regression", "x" }), 2,
  "bad --fail-on-regression: exit 2")
t.is(status_of({ base, new, "--scenario", "daily" }), 2,
  "unknown scenario: exit 2")
lib.write(new .. "/minute_results.json", "{not json")
t.is(status_of({ base, new }), 2, "corrupt results file: exit 2")

local outcome, err = compare.compare(base, dir .. "/nowhere", loader)
t.is(outcome, nil, "compare() on a missing directory returns nil")
t.is(err, dir .. "/nowhere: not a readable directory", "and says which")

-- The host dispatches `btlua compare` to the module (usage errors exit 2).
local status, _, stderr = lib.run({ "compare", base })
t.is(status, 2, "btlua compare with one directory exits 2")
t.like(stderr, "btlua compare: missing argument 'after_dir'",
  "and names the missing argument")

-- 8. Real .btprof files (core.prof.encode) through the btlua command.
rng = fx.stats.rng(1)
local real_base, real_new = dir .. "/real-base", dir .. "/real-new"
fx.write_real_dir(real_base, "minute", fx.profile({ rng = rng }),
  fx.results())
fx.write_real_dir(real_new, "minute",
  fx.profile({ rng = rng, slow = { handle_data = 1.3 } }), fx.results())
local out
status, out, stderr = lib.run({ "compare", real_base, real_new,
  "--fail-on-regression", "5" })
t.is(status, 1, "btlua compare on .btprof files: the gate trips (exit 1)")
t.is(out, "minute: slower, wall time +9.13% (p<0.001) -> " .. real_new
  .. "/profile_comparison_minute.md\n", "one summary line per scenario")
t.is(stderr, "btlua compare: wall time regressed significantly by more "
  .. "than 5%\n", "the gate says why")
lines = lines_of(lib.read(real_new .. "/profile_comparison_minute.md") or "")
_, verdict = find_line(lines, "**Verdict")
t.is(verdict, "**Verdict: slower.** Wall time +9.13% (95% CI +7.69% to "
  .. "+10.35%, p<0.001, 10+10 runs).", "the same verdict from real files")
local api = require("btlua").compare(real_base, real_new,
  { fail_on_regression = 5, write = false })
t.is(api.status, 1, "btlua.compare(before, after, opts): status 1 (gate)")
t.is(api.scenarios[1].result.verdict, "slower", "the API's verdict")
t.is(api.scenarios[1].path, real_new .. "/profile_comparison_minute.md",
  "the API names the report path")
status = lib.run({ "compare", real_base, real_new, "--fail-on-regression",
  "10", "-q" })
t.is(status, 0, "btlua compare: gate 10% on a 9% regression: exit 0")
status, out = lib.run({ "compare", real_base, real_base,
  "--fail-on-regression", "0", "--output", dir .. "/self.md" })
t.is(status, 0, "a run against itself: exit 0")
t.is(out, "minute: no significant change, wall time +0.00% (p=1.000)\n"
  .. "report -> " .. dir .. "/self.md\n", "and no significant change")
lib.write(real_new .. "/minute.btprof", "BTPROF truncated")
status, _, stderr = lib.run({ "compare", real_base, real_new })
t.is(status, 2, "a corrupt .btprof: exit 2")
t.like(stderr, "^btlua compare: ", "with a message")

-- scenarios/ci_compare.lua: usage, a missing baseline, a failing run.
local ci = lib.top .. "/scenarios/ci_compare.lua"
status, _, stderr = lib.run({ ci })
t.is(status, 2, "ci_compare without BASE_DIR exits 2")
status, _, stderr = lib.run({ ci, dir .. "/nowhere" })
t.is(status, 2, "ci_compare without a baseline exits 2")
t.is(stderr, "ci_compare: " .. dir .. "/nowhere: no baseline profiles (run "
  .. "once with --update-baseline to store one)\n", "and says why")
lib.write(dir .. "/fail.sh", "#!/bin/sh\nexit 3\n")
os.execute("chmod +x '" .. dir .. "/fail.sh'")
status, _, stderr = lib.run({ ci, base, "--btlua", dir .. "/fail.sh",
  "--output-dir", dir .. "/ci" })
t.is(status, 1, "ci_compare exits 1 when the run fails")
t.is(stderr, "ci_compare: the run failed (exit 3)\n", "and says so")
status = lib.run({ "-e", "print(dofile(" .. string.format("%q", ci) .. "))" })
t.is(status, 0, "loading ci_compare.lua outside a script run does nothing")

-- ci_compare end to end at a reduced size: store a baseline, compare a run
-- that did other work, and trip the gate against an impossibly fast baseline.
local small = { "--scenario", "minute", "--set", "data.synthetic.assets=2",
                "--set", "data.synthetic.end=2024-01-03" }
local function ci_run(words)
  local all = { ci }
  for _, word in ipairs(words) do all[#all + 1] = word end
  for _, word in ipairs(small) do all[#all + 1] = word end
  return lib.run(all)
end
local ci_base = dir .. "/ci-base"
status, out = ci_run({ ci_base, "--update-baseline", "--repeat", "5",
  "--output-dir", dir .. "/ci-1" })
t.is(status, 0, "ci_compare --update-baseline without a baseline: exit 0")
t.like(out, "ci_compare: baseline updated: " .. ci_base:gsub("%p", "%%%0"),
  "and stores the run as the baseline")
t.ok(lib.exists(ci_base .. "/minute.btprof"), "the baseline has the profile")
status, out = ci_run({ ci_base, "--repeat", "2", "--output-dir",
  dir .. "/ci-2", "--param", "window=10", "--fail-on-regression", "1e6" })
t.is(status, 0, "other work, gate not tripped: exit 0")
lines = lines_of(lib.read(dir .. "/ci-2/profile_comparison_minute.md") or "")
t.is(lines[1], "> **Warning: the two runs did not do the same work.** "
  .. "Their results differ, so the timing change below is not a speedup or "
  .. "a slowdown:", "window=10 vs 20: the report opens with the warning")
-- Repeated real runs carry each run's cumulative time per function, so
-- cumulative rows get medians and a test like self times do.
local repeated = assert(require("btlua.compare").compare(ci_base, dir
  .. "/ci-2", { scenario = "minute", write = false }))
local cum_rows = repeated.scenarios[1].result.cum
t.ok(repeated.scenarios[1].result.cum_missing == nil and #cum_rows > 0,
  "repeated runs: cumulative times per run are compared")
local handle_data_row
for _, row in ipairs(cum_rows) do
  if row.name == "btlua.strategies.mean_reversion:handle_data" then
    handle_data_row = row
  end
end
t.ok(handle_data_row ~= nil and handle_data_row.p ~= nil,
  "  handle_data's cumulative time has a p-value (5 + 2 runs)")
-- A baseline whose runs took about 1 us (no real run is that fast, even
-- on a loaded machine): every real run is slower, a certain regression.
local core_prof = require("btlua.core").prof
local fast = assert(core_prof.load(ci_base .. "/minute.btprof"))
for i, run in ipairs(fast.runs) do
  run.wall_ns, run.cpu_ns, run.total_ticks = 1000 + i, 900 + i, 3000 + i
  run.profile_ns = 800 + i
end
os.execute("cp -R '" .. ci_base .. "' '" .. dir .. "/ci-fast'")
lib.write(dir .. "/ci-fast/minute.btprof", core_prof.encode(fast))
status, out, stderr = ci_run({ dir .. "/ci-fast", "--repeat", "5",
  "--output-dir", dir .. "/ci-3", "--fail-on-regression", "50" })
if not t.is(status, 1, "slower than a 1 us baseline, gate 50%: exit 1") then
  t.diag("stdout: " .. tostring(out) .. "\nstderr: " .. tostring(stderr))
  t.diag(lib.read(dir .. "/ci-3/profile_comparison_minute.md") or "no report")
end
t.is(stderr, "btlua compare: on-CPU time regressed significantly by more "
  .. "than 50%\n", "the gate says why (on-CPU time: both sides have it)")
t.like(out, "\nminute: slower, on%-CPU time %+", "the summary says slower")

os.execute("rm -rf '" .. dir .. "'")
t.done_testing()
