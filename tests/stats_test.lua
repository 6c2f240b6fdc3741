-- stats_test.lua: btlua.stats against hand-checked values and an
-- independent brute-force oracle (Python enumeration, noted per case).
local t = require "tap"
local stats = require "btlua.stats"

t.is(stats.median({ 3, 1, 2 }), 2, "median of an odd count")
t.is(stats.median({ 4, 1, 3, 2 }), 2.5, "median of an even count")
t.is(stats.median({}), nil, "median of nothing is nil")
t.is(stats.quantile({ 1, 2, 3, 4, 5 }, 0.25), 2, "quantile 0.25 (type 7)")
t.is(stats.quantile({ 10, 20, 30, 40 }, 0.9), 37, "quantile 0.9 interpolates")
t.is(stats.quantile({ 10, 20, 30, 40 }, 1), 40, "quantile 1 is the maximum")
t.is(stats.mean({ 1, 2, 3, 6 }), 3, "mean")

-- n = 10: P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2): x(2), x(9).
local lo, hi, coverage = stats.median_ci({ 10, 1, 9, 2, 8, 3, 7, 4, 6, 5 })
t.is_deeply({ lo, hi, coverage }, { 2, 9, 1 - 22 / 1024 },
  "95% median CI of 1..10 is [x(2), x(9)] with coverage 1002/1024")
t.is(stats.median_ci({ 1, 2, 3, 4, 5 }), nil,
  "5 values cannot give a 95% median CI (1/32 > 0.025)")
lo, hi = stats.median_ci({ 1, 2, 3, 4, 5, 6 })
t.is_deeply({ lo, hi }, { 1, 6 }, "6 values: the range (coverage 62/64)")

-- R's wilcox.test example (x vs y, two-sided exact p = 0.2544);
-- brute force over all C(15,5) = 3003 rank sets gives the same.
local x = { 0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46 }
local y = { 1.15, 0.88, 0.90, 0.74, 1.21 }
local test = stats.mann_whitney(x, y)
t.is(test.u, 35, "U counts pairs x > y")
t.is(string.format("%.10f", test.p), "0.2544122544", "exact two-sided p")
t.is(test.method, "exact", "no ties, small n: exact")
test = stats.mann_whitney(y, x)
t.is(test.u, 15, "U of the other side is n1*n2 - U")
t.is(string.format("%.10f", test.p), "0.2544122544", "p is symmetric")

local low, high = {}, {}
for i = 1, 10 do low[i], high[i] = i, 100 + i end
test = stats.mann_whitney(high, low)
t.is(test.u, 100, "complete separation: U = n1*n2")
t.is(test.p, 2 / 184756, "complete separation: p = 2 / C(20,10)")

-- Ties: normal approximation with tie and continuity correction; the
-- Python oracle (erfc from libm) gives 0.0289288887.
test = stats.mann_whitney({ 1, 2, 2, 3, 4, 5, 5, 5, 6 }, { 3, 4, 6, 7, 7, 8, 9 })
t.is(test.method, "normal", "ties: normal approximation")
t.is(test.u, 10.5, "ties count one half")
t.is(string.format("%.7f", test.p), "0.0289289", "tie-corrected p")
test = stats.mann_whitney({ 5, 5, 5 }, { 5, 5 })
t.is(test.p, 1, "all values equal: p = 1")
t.is(stats.mann_whitney({}, { 1 }), nil, "an empty side gives nil")

-- 26 + 26 values without ties: past the exact limit, normal approximation.
local a, b = {}, {}
for i = 1, 26 do a[i], b[i] = 2 * i, 2 * i + 1 end
test = stats.mann_whitney(a, b)
t.is(test.method, "normal", "n1 + n2 > 50: normal approximation")
t.is(test.u, 325, "interleaved samples: U = 325 (n1*n2/2 = 338)")
t.is(string.format("%.4f", test.p), "0.8191", "interleaved: p = 0.8191 (oracle 0.81905)")

t.is(string.format("%.6f", stats.normal_sf(1.96)), "0.024998", "normal tail")
t.is(string.format("%.4f", stats.normal_isf(0.025)), "1.9600", "normal quantile")

-- Hodges-Lehmann ratio and Moses CI: exact critical value c = 3 for 5 + 6
-- (P(U <= 3) = 7/462 <= 0.025 < P(U <= 4) = 12/462), so the CI is the 4th
-- smallest and 4th largest pairwise ratio: 22/14 and 25/11.
local ratio, ratio_lo, ratio_hi = stats.ratio_ci({ 10, 11, 12, 13, 14 },
  { 20, 21, 22, 23, 24, 25 })
t.is(string.format("%.12f", ratio), "1.877358656324", "Hodges-Lehmann ratio")
t.ok(math.abs(ratio_lo - 22 / 14) < 1e-12, "CI low = 22/14")
t.ok(math.abs(ratio_hi - 25 / 11) < 1e-12, "CI high = 25/11")
ratio, ratio_lo = stats.ratio_ci({ 1, 2 }, { 3, 4 })
t.is(ratio_lo, nil, "2 + 2 runs: no 95% CI for the ratio")
t.is(stats.ratio_ci({ 0, 1 }, { 1, 2 }), nil, "a zero time: no ratio")

local adjusted = stats.holm({ 0.01, 0.04, 0.03, 0.005 })
t.is_deeply(adjusted, { 0.03, 0.06, 0.06, 0.02 }, "Holm adjustment")
adjusted = stats.holm({ [1] = 0.01, [3] = 0.02 })
t.is_deeply(adjusted, { [1] = 0.02, [3] = 0.02 }, "Holm skips missing p-values")

-- The PRNG is flavour-independent (the same digits on Lua 5.4 and LuaJIT).
local rng = stats.rng(42)
t.is(string.format("%.17g", rng:uniform()), "0.99241343895485512", "draw 1")
t.is(string.format("%.17g", rng:uniform()), "0.46678574315538501", "draw 2")
t.is(string.format("%.17g", rng:normal()), "0.060599692306651853", "normal")
local again = stats.rng(42)
t.is(again:uniform(), 0.99241343895485512, "same seed, same stream")
t.isnt(stats.rng(43):uniform(), 0.99241343895485512, "other seed, other stream")
local in_range, sum, count = true, 0, 20000
rng = stats.rng(7)
for _ = 1, count do
  local value = rng:int(6)
  if value < 1 or value > 6 or value ~= math.floor(value) then
    in_range = false
  end
  sum = sum + value
end
t.ok(in_range, "int(6) stays in 1..6")
t.is(string.format("%.1f", sum / count), "3.5", "int(6) averages 3.5")

-- Wilcoxon signed-rank (R: wilcox.test(x, conf.int = TRUE, exact = TRUE)):
-- n = 6, all positive: p = 2/64, interval [1, 6], estimate 3.5.
local sr = stats.signed_rank({ 1, 2, 3, 4, 5, 6 }, 0.95)
t.is(sr.p, 0.03125, "signed-rank: 6 positive differences, p = 2/2^6")
t.is_deeply({ sr.estimate, sr.lo, sr.hi }, { 3.5, 1, 6 },
  "signed-rank: Hodges-Lehmann 3.5, interval [1, 6]")
-- One negative difference of rank 2 among 10: W- = 2, P(W <= 2) = 3/1024.
sr = stats.signed_rank({ 1, -2, 3, 4, 5, 6, 7, 8, 9, 10 }, 0.95)
t.is(sr.p, 6 / 1024, "signed-rank: p = 2 * 3/1024")
t.is_deeply({ sr.estimate, sr.lo, sr.hi }, { 5.5, 2.5, 8 },
  "signed-rank: estimate 5.5, interval [2.5, 8] (critical value 8)")
sr = stats.signed_rank({ 0.5, -1, 2, -3, 4 }, 0.95)
t.is(sr.lo, nil, "signed-rank: 5 pairs cannot reach 95%: no interval")
t.is(stats.signed_rank_min_pairs(0.05), 6, "6 pairs are the fewest for "
  .. "p < 0.05")
t.is(stats.signed_rank_min_p(5), 0.0625, "5 pairs: smallest p 0.0625")
t.is(stats.signed_rank({}), nil, "signed-rank: no pairs, nil")
sr = stats.signed_rank({ 0, 0, 0, 0, 0, 0, 0 }, 0.95)
t.is_deeply({ sr.p, sr.estimate, sr.lo, sr.hi }, { 1, 0, 0, 0 },
  "signed-rank: all differences 0: p = 1, interval [0, 0]")

t.done_testing()
