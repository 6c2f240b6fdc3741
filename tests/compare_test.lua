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

-- 1. One function 30% slower, 3% noise per value, 10 runs per side, no
-- CPU times recorded (old profiles): the verdict falls back to wall time
-- and says so.
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
t.is(result.basis.key, "wall", "no CPU times: wall time basis")
t.is(result.same_work.status, "same", "same work")
local text = compare.render(result)
local lines = lines_of(text)
t.is(lines[1], "**minute: slower, wall time +9.02% (95% CI +7.69% to "
  .. "+10.35%, p<0.001, 10+10 runs); functions: btlua.strategies.mean_reversion:handle_data +29.23%**",
  "the verdict comes first and names the function")
t.is(lines[3], "> **Wall time basis:** these runs record no CPU time or "
  .. "instruction counts, so the verdict rests on wall time, which a loaded "
  .. "machine moves.", "and says what it rests on")
local _, wall = find_line(lines, "| wall time |")
t.is(wall, "| wall time | 200.319 ms ±1% | 218.614 ms ±2% | +9.02% | <0.001 "
  .. "| 10+10 runs |", "wall time row: the estimate of the same test")
local at = find_line(lines, "### Functions (self time)")
t.is(lines[at + 4], "| `" .. HANDLE_DATA .. "` | 60.074 ms | 77.633 ms | "
  .. "+29.23% | +17.560 ms (+8.77% of total) | <0.001 |",
  "the regression is listed with its change and share of total")
t.is(lines[at + 5], "", "and nothing else is")
local improvements = find_line(lines, "## Improvements")
t.is(lines[improvements + 8], "None above the noise floor.",
  "no function improved")
local _, blotter = find_line(lines, "| blotter |")
t.is(blotter, "| blotter | 8.991 ms ±2% | 8.828 ms ±3% | ~ | 0.978 | 10+10 "
  .. "runs |", "unchanged zones print ~")
t.is(select(2, find_line(lines, "Changes smaller")), "Changes smaller than "
  .. "1% of the total (2.003 ms) are not listed, and detail rows below it on "
  .. "both sides are not tested.", "the noise floor is relative to the total")
t.is(lines[#lines - 1], "| params | window=20 | window=20 |",
  "the metadata comes last")

-- 2. CPU times in the results (every real run has them): CPU time basis.
result = compare.compare_sides(fx.side("base", before,
  fx.results_with_runs(before)), fx.side("new", after,
  fx.results_with_runs(after)), {})
t.is(compare.verdict_line(result), "minute: slower, CPU time +9.02% (95% CI "
  .. "+7.69% to +10.35%, p<0.001, 10+10 runs); functions: "
  .. "btlua.strategies.mean_reversion:handle_data +29.23%", "CPU time is the basis when the runs have it")
lines = lines_of(compare.render(result))
t.is(select(2, find_line(lines, "| wall time |")), "| wall time | 200.319 ms "
  .. "±1% | 218.614 ms ±2% | +9.13% | (shown, not tested) | 10+10 runs |",
  "wall time is shown, not tested")

-- 3. The machine's load moved between two blocks of runs: block runs call
-- it a slowdown; interleaved runs (paired) see no change.
rng = fx.stats.rng(11)
local calm = fx.profile({ rng = rng })
local loaded = fx.profile({ rng = rng, load = function() return 1.15 end })
local calm_results = fx.results_with_runs(calm)
local loaded_results = fx.results_with_runs(loaded)
for i, run in ipairs(calm_results.runs) do run.load = 1 + i / 50 end
for i, run in ipairs(loaded_results.runs) do run.load = 2.5 + i / 50 end
result = compare.compare_sides(fx.side("base", calm, calm_results),
  fx.side("new", loaded, loaded_results), {})
t.is(result.verdict, "slower", "blocks: a load change reads as slower")
t.is(result.load_warning, "the two sides were not interleaved and the "
  .. "machine's load moved between them (load average 1.11 before, 2.61 "
  .. "after): a change of load reads as a change of code; use `btlua ab`",
  "and the report warns why not to trust it")
local function drift(i) return 1 + 0.05 * i end
rng = fx.stats.rng(11)
local drifting_before = fx.profile({ rng = rng, load = drift })
local drifting_after = fx.profile({ rng = rng, load = drift })
local function drift_sides()
  return fx.side("base", drifting_before,
    fx.results_with_runs(drifting_before)), fx.side("new", drifting_after,
    fx.results_with_runs(drifting_after))
end
local b_side, a_side = drift_sides()
result = compare.compare_sides(b_side, a_side, { paired = true })
t.is(compare.verdict_line(result), "minute: no change, CPU time ~ -0.44% "
  .. "(95% CI -1.95% to +1.31%, p=0.846, 10 interleaved pairs)",
  "interleaved pairs: the shared drift cancels, no change")
t.is(result.load_warning, nil, "no load warning for interleaved runs")
b_side.results.ab = { order = "ABBA", rounds = 10 }
a_side.results.ab = { order = "ABBA", rounds = 10 }
t.is(compare.compare_sides(b_side, a_side, {}).paired, true,
  "sides marked by btlua ab are paired by default")

-- 3b. 7 pairs: the total is significant, but no function row survives the
-- correction over every detail row; the line names the function that
-- carries the change, saying its p is uncorrected.
rng = fx.stats.rng(1)
local seven_before = fx.profile({ rng = rng, runs = 7 })
local seven_after = fx.profile({ rng = rng, runs = 7,
  slow = { handle_data = 1.3 } })
result = compare.compare_sides(fx.side("base", seven_before,
  fx.results_with_runs(seven_before)), fx.side("new", seven_after,
  fx.results_with_runs(seven_after)), { paired = true })
t.is(compare.verdict_line(result), "minute: slower, CPU time +9.91% (95% CI "
  .. "+7.92% to +11.55%, p=0.016, 7 interleaved pairs); largest function "
  .. "change: btlua.strategies.mean_reversion:handle_data +30.02% (p=0.016 before correction)",
  "the function carrying a significant change is named")

-- 4. The verdict, p and the interval always agree (200 trials each,
-- paired and unpaired, some with a 5% slowdown).
local disagreements = 0
for seed = 1, 200 do
  local trial_rng = fx.stats.rng(seed)
  local slow = seed % 2 == 0 and { handle_data = 1.1 } or nil
  local pb = fx.profile({ rng = trial_rng, runs = 8, noise = 0.05 })
  local pa = fx.profile({ rng = trial_rng, runs = 8, noise = 0.05,
    slow = slow })
  for _, paired in ipairs({ true, false }) do
    local r = compare.compare_sides(fx.side("a", pb, fx.results_with_runs(pb)),
      fx.side("b", pa, fx.results_with_runs(pa)), { paired = paired })
    local p = r.primary
    local excludes = p.ratio_lo ~= nil and (p.ratio_lo > 1 or p.ratio_hi < 1)
    if (p.p < 0.05) ~= excludes or excludes ~= p.significant
      or (r.verdict ~= "no change") ~= p.significant then
      disagreements = disagreements + 1
    end
  end
end
t.is(disagreements, 0, "p < alpha exactly when the interval excludes 0, "
  .. "and the verdict follows (400 comparisons)")

-- 5. Same distribution on both sides: no significant row in >= 95 of 100.
local clean = 0
for seed = 1, 100 do
  local trial_rng = fx.stats.rng(seed)
  local pb, pa = fx.profile({ rng = trial_rng }), fx.profile({ rng = trial_rng })
  local r = compare.compare_sides(fx.side("a", pb, fx.results_with_runs(pb)),
    fx.side("b", pa, fx.results_with_runs(pa)), { paired = seed % 2 == 0 })
  local any = r.primary.significant
  for _, group in ipairs({ "zones", "self", "cum" }) do
    if #significant_names(r, group) > 0 then any = true end
  end
  if not any and r.verdict == "no change" then clean = clean + 1 end
end
t.ok(clean >= 95, "same distribution: no significant row in >= 95 of 100 "
  .. "trials")
t.is(clean, 95, "same distribution: exact count with seeds 1..100")

-- 6. Instruction counts (--profiler instructions): exact, a 1% band.
local function counted(counts)
  local profile = fx.profile({ rng = fx.stats.rng(1), runs = #counts })
  for i, run in ipairs(profile.runs) do run.instructions = counts[i] end
  return profile
end
local base_counts = { 1000000, 1000000, 1000000, 1000000, 1000000, 1000000 }
local slower_counts = { 1030000, 1030000, 1030000, 1030000, 1030000, 1030000 }
local noisy_counts = { 1004000, 999000, 1002000, 1000000, 1001000, 998000 }
result = compare.compare_sides(fx.side("a", counted(base_counts)),
  fx.side("b", counted(slower_counts)), { paired = true })
t.is(compare.verdict_line(result), "minute: slower, instructions +3.00% "
  .. "(range +3.00% to +3.00%, exact counts, noise band ±1%, 6 interleaved "
  .. "pairs)", "instructions: +3% is slower, by definition")
result = compare.compare_sides(fx.side("a", counted(base_counts)),
  fx.side("b", counted(noisy_counts)), { paired = true })
t.is(compare.verdict_line(result), "minute: no change, instructions ~ "
  .. "+0.05% (range -0.20% to +0.40%, exact counts, noise band ±1%, 6 "
  .. "interleaved pairs)", "instructions: within the band is no change")
result = compare.compare_sides(fx.side("a", counted({ 1000000 })),
  fx.side("b", counted({ 1030000 })), {})
t.is(result.verdict, "slower", "instructions: one run a side suffices")
lines = lines_of(compare.render(result))
t.like(select(2, find_line(lines, "The verdict rests on instruction")),
  "a change beyond the ±1%% noise band is significant by definition",
  "the method says why")
-- 7. Different results: the verdict says so first, then what differs.
rng = fx.stats.rng(4)
local changed = fx.results()
changed.final_value, changed.fills = "100490.00", 117
changed.metrics = { sharpe = 1.25 }
local unchanged = fx.results()
unchanged.metrics = { sharpe = 1.5 }
result = compare.compare_sides(
  fx.side("base", fx.profile({ rng = rng }), unchanged),
  fx.side("new", fx.profile({ rng = rng, slow = { handle_data = 0.5 } }),
    changed, "ts,asset,qty,price\n1,A,10,100.25\n"), {})
t.is(result.verdict, "different results", "verdict: different results")
t.is(result.timing_verdict, "faster", "timing alone would say faster")
t.is(result.results_failed, true, "the gate fails on it by default")
lines = lines_of(compare.render(result))
t.like(lines[1], "^%*%*minute: different results, wall time %-",
  "the verdict line says different results first")
t.is(lines[3], "> **Different results:** the two sides did not do the same "
  .. "work, so the timing change is not a speedup or a slowdown (the gate "
  .. "fails; `--allow-different-results` accepts it). What differs:",
  "then the different-results line")
t.is_deeply({ lines[4], lines[5], lines[6], lines[7], lines[8] },
  { "> - final value: 100512.34 before, 100490.00 after",
    "> - fills: 118 before, 117 after",
    "> - metric sharpe: 1.5 before, 1.25 after",
    "> - fills file: 2 lines before, 2 after; first difference at line 2: "
      .. "before `1,A,10,100.5`, after `1,A,10,100.25`", "" },
  "and the diff of what differs")
t.is(find_line(lines, "faster"), nil, "the word faster appears nowhere")
result = compare.compare_sides(
  fx.side("base", fx.profile({ rng = rng }), unchanged),
  fx.side("new", fx.profile({ rng = rng }), changed),
  { allow_different_results = true })
t.is(result.results_failed, false, "allow_different_results: no failure")
-- Only the .btprof files: their results digests are compared.
local digest_before = fx.profile({ rng = rng, meta = { results_digest =
  "fnv1a64:00000000000000aa" } })
local digest_after = fx.profile({ rng = rng, meta = { results_digest =
  "fnv1a64:00000000000000bb" } })
result = compare.compare_sides(fx.side("a", digest_before, nil, false),
  fx.side("b", digest_after, nil, false), {})
t.is(result.verdict, "different results", "profiles only: digests differ")
t.is_deeply(result.same_work.differences, { "results digest: "
  .. "fnv1a64:00000000000000aa before, fnv1a64:00000000000000bb after" },
  "and the digest is the difference")

-- 8. Too few runs to ever reach p < 0.05: said at the top; with a gate
-- an error rather than a pass.
rng = fx.stats.rng(6)
local two_before = fx.profile({ rng = rng, runs = 2 })
local two_after = fx.profile({ rng = rng, runs = 2, slow = { handle_data = 4 } })
result = compare.compare_sides(fx.side("base", two_before,
  fx.results_with_runs(two_before)), fx.side("new", two_after,
  fx.results_with_runs(two_after)), { fail_on_regression = 5 })
t.is(result.verdict, "too few runs", "2+2 runs: too few runs")
t.is(result.too_few_error, true, "with a gate: an error")
lines = lines_of(compare.render(result))
t.is(lines[1], "**minute: too few runs, CPU time +91.47% (p=0.333, 2+2 "
  .. "runs); too few runs to ever reach p<0.05 (at least 4+4 runs needed)**",
  "the verdict line says so")
t.is(lines[3], "> **Too few runs:** with 2+2 runs no change can reach "
  .. "p<0.05; at least 4+4 runs are needed (with `--fail-on-regression` "
  .. "this is an error, exit 2).", "and the next line explains")
result = compare.compare_sides(fx.side("base", two_before,
  fx.results_with_runs(two_before)), fx.side("new", two_after,
  fx.results_with_runs(two_after)), { paired = true })
t.is(result.primary.needed, "6 interleaved pairs",
  "paired: 6 pairs are the fewest that can reach p < 0.05")
t.is(result.too_few_error, false, "without a gate: no error")

-- 9. Memory and missing data.
rng = fx.stats.rng(7)
local grown = fx.profile({ rng = rng })
grown.memory.peak_rss = 60 * 2 ^ 20
result = compare.compare_sides(fx.side("a", fx.profile({ rng = rng }), nil,
  false), fx.side("b", grown, nil, false), {})
lines = lines_of(compare.render(result))
t.is(select(2, find_line(lines, "| peak RSS |")), "| peak RSS | 50.00 MiB | "
  .. "60.00 MiB | +10.00 MiB (+20.00%) |", "peak RSS delta")
t.is(result.same_work.status, "same", "results digest alone is checked")
t.is_deeply(result.same_work.checked, { "results digest", "bars" },
  "without results files: digest and bars from the metadata")

-- 10. Metadata that invalidates timing.
rng = fx.stats.rng(5)
result = compare.compare_sides(
  fx.side("base", fx.profile({ rng = rng }), fx.results()),
  fx.side("new", fx.profile({ rng = rng, meta = { build_type = "Debug",
    host = "laptop" } }), fx.results()), {})
lines = lines_of(compare.render(result))
t.is(select(2, find_line(lines, "> **Warning: these timings")), "> "
  .. "**Warning: these timings are not comparable:** the runs differ in "
  .. "host (ci-1 before, laptop after); build type (Release before, Debug "
  .. "after).", "host and build type differences are flagged")

-- 7. The command: fixture directories, exit status and files.
local dir = lib.tmpdir()
local status, out, stderr
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
t.like(report_text or "", "^%*%*minute: slower, wall time %+9%.02%% ",
  "the report is written even when the gate trips")
t.is(quietly({ base, new, "--fail-on-regression", "10", "-q" }), 0,
  "9% slower, gate 10%: exit 0")
t.is(quietly({ base, new, "-q" }), 0, "no gate: exit 0")
t.is(quietly({ new, base, "--fail-on-regression", "0", "-q" }), 0,
  "8% faster, gate 0%: exit 0")
t.is(status_of({ base, new, "--fail-on-regression", "5", "--alpha",
  "0.0000001", "-q" }), 2, "10+10 runs can never reach p < 1e-7: with a "
  .. "gate, exit 2")

rng = fx.stats.rng(2)
base, new = run_dirs(fx.profile({ rng = rng }), fx.profile({ rng = rng }))
t.is(quietly({ base, new, "--fail-on-regression", "0", "-q" }), 0,
  "same distribution, gate 0%: exit 0")

rng = fx.stats.rng(1)
base, new = run_dirs(fx.profile({ rng = rng, runs = 1 }),
  fx.profile({ rng = rng, runs = 1, slow = { handle_data = 3 } }))
t.is(status_of({ base, new, "--fail-on-regression", "5", "-q" }), 2,
  "one run per side with a gate: too few runs, exit 2 (not a silent pass)")
t.is(quietly({ base, new, "-q" }), 0, "one run per side, no gate: exit 0")

rng = fx.stats.rng(1)
base, new = run_dirs(fx.profile({ rng = rng }),
  fx.profile({ rng = rng, slow = { handle_data = 1.3 } }))
local out_file = dir .. "/one.md"
t.is(quietly({ base, new, "--output", out_file, "-q" }), 0, "--output FILE")
t.is(lib.read(out_file), report_text, "--output writes the same report")
t.is(quietly({ base, new, "--output-dir", dir, "-q" }), 0, "--output-dir")
t.is(lib.read(dir .. "/profile_comparison_minute.md"), report_text,
  "--output-dir gets profile_comparison_S.md")

-- Different results fail the gate (exit 1) unless allowed; --json and
-- GITHUB_STEP_SUMMARY carry the verdict.
rng = fx.stats.rng(1)
local other = fx.results()
other.final_value = "99999.99"
base, new = run_dirs(fx.profile({ rng = rng }), fx.profile({ rng = rng }),
  other)
t.is(status_of({ base, new, "-q" }), 1, "different results: exit 1")
t.is(quietly({ base, new, "-q", "--allow-different-results" }), 0,
  "--allow-different-results: exit 0")
local json_file = dir .. "/verdict.json"
status_of({ base, new, "-q", "--json", json_file })
local verdicts = require("cjson").decode(lib.read(json_file) or "null")
t.is(verdicts and verdicts.status, 1, "--json: the exit status")
local first = verdicts and verdicts.scenarios[1] or {}
t.is(first.verdict, "different results", "--json: the verdict")
t.is_deeply(first.different_results, { "final value: 100512.34 before, "
  .. "99999.99 after" }, "--json: what differs")
t.is(first.basis, "wall", "--json: the basis")

-- Runs without a profile (--profiler none: results only) compare on the
-- CPU times of their results.
local function results_dir(path, cpu_values)
  os.execute("mkdir -p '" .. path .. "'")
  local results = fx.results()
  results.runs = {}
  for i, cpu in ipairs(cpu_values) do
    results.runs[i] = { mode = "none", cpu_s = cpu, wall_s = cpu * 2 }
  end
  lib.write(path .. "/minute_results.json", require("cjson").encode(results))
end
results_dir(dir .. "/none-a", { 0.10, 0.11, 0.10, 0.12, 0.11, 0.10 })
results_dir(dir .. "/none-b", { 0.20, 0.21, 0.22, 0.20, 0.21, 0.23 })
local summary_file = dir .. "/summary.md"
status, out = lib.sh("GITHUB_STEP_SUMMARY=" .. lib.quote(summary_file) .. " "
  .. lib.quote(lib.btlua) .. " compare " .. lib.quote(dir .. "/none-a") .. " "
  .. lib.quote(dir .. "/none-b") .. " --fail-on-regression 5 -q")
t.is(status, 1, "unprofiled runs compare: a 2x slowdown trips the gate")
local summary = lib.read(summary_file) or ""
t.like(summary, "^## btlua compare\n\n%- minute: slower, CPU time %+",
  "GITHUB_STEP_SUMMARY gets the verdict lines first")
t.like(summary, "Not profiled %(`%-%-profiler none`%)",
  "and the report")

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
status, _, stderr = lib.run({ "compare", base })
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
status, out, stderr = lib.run({ "compare", real_base, real_new,
  "--fail-on-regression", "5" })
t.is(status, 1, "btlua compare on .btprof files: the gate trips (exit 1)")
t.is(out, "minute: slower, wall time +9.02% (95% CI +7.69% to +10.35%, "
  .. "p<0.001, 10+10 runs); functions: btlua.strategies.mean_reversion:handle_data +29.23% -> " .. real_new
  .. "/profile_comparison_minute.md\n", "one verdict line per scenario")
t.is(stderr, "btlua compare: regressed significantly by more than 5%\n",
  "the gate says why")
lines = lines_of(lib.read(real_new .. "/profile_comparison_minute.md") or "")
t.is(lines[1], "**minute: slower, wall time +9.02% (95% CI +7.69% to "
  .. "+10.35%, p<0.001, 10+10 runs); functions: btlua.strategies.mean_reversion:handle_data +29.23%**",
  "the same verdict from real files")
-- comparison.html: the same verdict line, the function that moved first.
local page = lib.read(real_new .. "/comparison.html") or ""
t.ok(page:find("minute: slower, wall time +9.02% (95% CI +7.69% to +10.35%, "
  .. "p&lt;0.001, 10+10 runs)", 1, true) ~= nil,
  "comparison.html carries the verdict line")
local first_fn = page:match('<td class="name">([^<]*)</td>')
t.is(first_fn, "btlua.strategies.mean_reversion:handle_data",
  "comparison.html lists the function that moved most first")
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
t.is(out, "minute: no change, wall time ~ +0.00% (95% CI -1.34% to "
  .. "+1.35%, p=1.000, 10+10 runs)\nreport -> " .. dir .. "/self.md\n",
  "and no change")
lib.write(real_new .. "/minute.btprof", "BTPROF truncated")
status, _, stderr = lib.run({ "compare", real_base, real_new })
t.is(status, 2, "a corrupt .btprof: exit 2")
t.like(stderr, "^btlua compare: ", "with a message")

os.execute("rm -rf '" .. dir .. "'")
t.done_testing()
