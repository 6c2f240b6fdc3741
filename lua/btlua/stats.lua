-- btlua.stats: the statistics behind `btlua compare`: medians, quantiles,
-- distribution-free confidence intervals, the Mann-Whitney U test, the
-- Wilcoxon signed-rank test of interleaved pairs, Holm's
-- correction and a seeded PRNG that gives the same numbers on Lua 5.4 and
-- LuaJIT (doubles only: no integer subtype, no bit operations).
local stats = {}

local floor, sqrt, exp, log = math.floor, math.sqrt, math.exp, math.log

-- A sorted copy of a sequence of numbers.
function stats.sorted(values)
  local copy = {}
  for i = 1, #values do copy[i] = values[i] end
  table.sort(copy)
  return copy
end

-- Quantile q in [0, 1] by linear interpolation between order statistics
-- (Hyndman-Fan type 7, the default of R and NumPy). nil for no values.
function stats.quantile(values, q)
  local n = #values
  if n == 0 then return nil end
  local s = stats.sorted(values)
  local h = (n - 1) * q + 1
  local lo = floor(h)
  if lo >= n then return s[n] end
  return s[lo] + (h - lo) * (s[lo + 1] - s[lo])
end

function stats.median(values)
  return stats.quantile(values, 0.5)
end

function stats.mean(values)
  local sum = 0
  for i = 1, #values do sum = sum + values[i] end
  return #values > 0 and sum / #values or nil
end

-- P(B <= k) for B ~ Binomial(n, 1/2), summed in doubles.
local function binomial_half_cdf(n, k)
  local term, total = 0.5 ^ n, 0
  for i = 0, k do
    total = total + term
    term = term * (n - i) / (i + 1)
  end
  return total
end

-- Distribution-free confidence interval for the median from order
-- statistics: [x(k), x(n+1-k)] with the largest k whose coverage is still
-- >= conf. Returns lo, hi, achieved coverage; nil when n is too small
-- (n < 6 for 95%) to reach conf with any pair of order statistics.
function stats.median_ci(values, conf)
  conf = conf or 0.95
  local n = #values
  local tail = (1 - conf) / 2
  if n == 0 or n > 1000 or binomial_half_cdf(n, 0) > tail then return nil end
  local k = 1
  while k < n / 2 and binomial_half_cdf(n, k) <= tail do k = k + 1 end
  local s = stats.sorted(values)
  return s[k], s[n + 1 - k], 1 - 2 * binomial_half_cdf(n, k - 1)
end

-- erfc(x) for x >= 0, Numerical Recipes' Chebyshev fit (relative error
-- below 1.2e-7 everywhere).
local function erfc(x)
  local t = 1 / (1 + 0.5 * x)
  local poly = -1.26551223 + t * (1.00002368 + t * (0.37409196
    + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223
    + t * 0.17087277))))))))
  return t * exp(-x * x + poly)
end

-- Upper tail of the standard normal distribution, P(Z > z).
function stats.normal_sf(z)
  if z < 0 then return 1 - stats.normal_sf(-z) end
  return 0.5 * erfc(z / sqrt(2))
end

-- The z with P(Z > z) = p, by bisection (0 < p < 1).
function stats.normal_isf(p)
  local lo, hi = -40, 40
  for _ = 1, 200 do
    local mid = (lo + hi) / 2
    if stats.normal_sf(mid) > p then lo = mid else hi = mid end
  end
  return (lo + hi) / 2
end

-- Counts of the Mann-Whitney U statistic under H0 without ties: the
-- coefficients of the Gaussian binomial [n1+n2 choose n1]_q; counts[u + 1]
-- is the number of arrangements with U = u. Exact in doubles while
-- C(n1+n2, n1) < 2^53 (n1 + n2 <= 50).
local function u_counts(n1, n2)
  local size = n1 * n2 + n1 + n2 + 1
  local poly = {}
  for i = 1, size do poly[i] = 0 end
  poly[1] = 1
  for i = 1, n1 do
    local shift = n2 + i
    for k = size, shift + 1, -1 do poly[k] = poly[k] - poly[k - shift] end
    for k = i + 1, size do poly[k] = poly[k] + poly[k - i] end
  end
  local counts = {}
  for u = 0, n1 * n2 do counts[u + 1] = poly[u + 1] end
  return counts
end

local EXACT_MAX_N = 50

-- Midranks of the pooled sample; returns ranks of xs, the tie term
-- sum(t^3 - t) and whether any value was tied.
local function pooled_ranks(xs, ys)
  local pooled = {}
  for i = 1, #xs do pooled[#pooled + 1] = { xs[i], 1 } end
  for i = 1, #ys do pooled[#pooled + 1] = { ys[i], 2 } end
  table.sort(pooled, function(a, b) return a[1] < b[1] end)
  local rank_sum_x, tie_term, i = 0, 0, 1
  while i <= #pooled do
    local j = i
    while j < #pooled and pooled[j + 1][1] == pooled[i][1] do j = j + 1 end
    local midrank = (i + j) / 2
    for k = i, j do
      if pooled[k][2] == 1 then rank_sum_x = rank_sum_x + midrank end
    end
    local t = j - i + 1
    tie_term = tie_term + t * t * t - t
    i = j + 1
  end
  return rank_sum_x, tie_term
end

-- Two-sided Mann-Whitney U test of xs against ys. Returns a table:
-- u (U of xs: pairs x > y, ties counting 1/2), p, method ("exact" without
-- ties and n1 + n2 <= 50, else "normal": normal approximation with tie and
-- continuity correction). nil when a side is empty.
function stats.mann_whitney(xs, ys)
  local n1, n2 = #xs, #ys
  if n1 == 0 or n2 == 0 then return nil end
  local rank_sum_x, tie_term = pooled_ranks(xs, ys)
  local u = rank_sum_x - n1 * (n1 + 1) / 2
  local big_n = n1 + n2
  if tie_term == 0 and big_n <= EXACT_MAX_N then
    local counts = u_counts(n1, n2)
    local total, below, above = 0, 0, 0
    for k = 0, n1 * n2 do
      total = total + counts[k + 1]
      if k <= u then below = below + counts[k + 1] end
      if k >= u then above = above + counts[k + 1] end
    end
    local p = 2 * math.min(below, above) / total
    return { u = u, p = math.min(1, p), method = "exact" }
  end
  local mean_u = n1 * n2 / 2
  local variance = n1 * n2 / 12
    * ((big_n + 1) - tie_term / (big_n * (big_n - 1)))
  if variance <= 0 then return { u = u, p = 1, method = "normal" } end
  local z = math.max(0, math.abs(u - mean_u) - 0.5) / sqrt(variance)
  return { u = u, p = math.min(1, 2 * stats.normal_sf(z)), method = "normal" }
end

-- The largest c with P(U <= c) <= tail under H0 (-1 when none): the
-- critical value behind the Moses confidence interval.
local function u_critical(n1, n2, tail)
  if n1 + n2 <= EXACT_MAX_N then
    local counts = u_counts(n1, n2)
    local total = 0
    for k = 1, #counts do total = total + counts[k] end
    local cumulative, c = 0, -1
    for k = 0, n1 * n2 do
      cumulative = cumulative + counts[k + 1]
      if cumulative / total > tail then break end
      c = k
    end
    return c
  end
  local z = stats.normal_isf(tail)
  local spread = sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
  return floor(n1 * n2 / 2 - z * spread - 0.5)
end

-- Hodges-Lehmann estimate of after/before as a ratio (the median of all
-- pairwise ratios a/b) with the Moses distribution-free confidence interval
-- that goes with the Mann-Whitney test. Returns ratio, lo, hi (lo and hi
-- nil when the samples are too small for conf); nil unless all values > 0.
function stats.ratio_ci(before, after, conf)
  conf = conf or 0.95
  for _, side in ipairs({ before, after }) do
    for i = 1, #side do
      if not (side[i] > 0) then return nil end
    end
  end
  local diffs = {}
  for i = 1, #before do
    for j = 1, #after do
      diffs[#diffs + 1] = log(after[j]) - log(before[i])
    end
  end
  if #diffs == 0 then return nil end
  table.sort(diffs)
  local ratio = exp(stats.median(diffs))
  local c = u_critical(#before, #after, (1 - conf) / 2)
  if c < 0 then return ratio end
  return ratio, exp(diffs[c + 1]), exp(diffs[#diffs - c])
end

-- P(W+ = w) for w = 0 .. n(n+1)/2 under H0 without ties: the signed-rank
-- statistic's exact distribution, built rank by rank (probabilities, not
-- counts, so no overflow). probabilities[w + 1] = P(W+ = w).
local function signed_rank_distribution(n)
  local dist = { 1 }
  local top = 0
  for rank = 1, n do
    local next_dist = {}
    for w = 0, top + rank do
      next_dist[w + 1] = 0.5 * ((dist[w + 1] or 0) + (dist[w - rank + 1] or 0))
    end
    dist, top = next_dist, top + rank
  end
  return dist
end

local SIGNED_RANK_EXACT_MAX = 200

-- P(W+ <= k) of n pairs (exact up to 200 pairs, else the normal
-- approximation with continuity correction). k may be fractional (ties).
local function signed_rank_cdf(n, k, dist)
  if dist then
    local total = 0
    for w = 0, floor(k + 1e-9) do total = total + (dist[w + 1] or 0) end
    return math.min(1, total)
  end
  local mean = n * (n + 1) / 4
  local spread = sqrt(n * (n + 1) * (2 * n + 1) / 24)
  return 1 - stats.normal_sf((k + 0.5 - mean) / spread)
end

-- The smallest two-sided p the signed-rank test can give with n pairs:
-- all differences of one sign, 2 / 2^n.
function stats.signed_rank_min_p(n)
  if n < 1 then return 1 end
  return math.min(1, 2 * 0.5 ^ n)
end

-- The fewest pairs with which the signed-rank test can reach p < alpha.
function stats.signed_rank_min_pairs(alpha)
  local n = 1
  while stats.signed_rank_min_p(n) >= alpha do n = n + 1 end
  return n
end

-- Wilcoxon signed-rank test of paired differences (after_i - before_i, or
-- log ratios), with the Hodges-Lehmann estimate (median of the Walsh
-- averages) and its confidence interval from the same distribution, so
-- that the interval excludes 0 exactly when p < alpha (= 1 - conf).
-- Returns { p, estimate, lo, hi, pairs, positive, method } (lo and hi nil
-- when n is too small for conf); nil for no pairs.
function stats.signed_rank(diffs, conf)
  conf = conf or 0.95
  local n = #diffs
  if n == 0 then return nil end
  local walsh = {}
  for i = 1, n do
    for j = i, n do walsh[#walsh + 1] = (diffs[i] + diffs[j]) / 2 end
  end
  table.sort(walsh)
  local total = #walsh -- n(n+1)/2
  -- W+ = the number of positive Walsh averages (zeros count one half):
  -- without ties this is the sum of the ranks of the positive differences.
  local positive = 0
  for _, w in ipairs(walsh) do
    if w > 0 then positive = positive + 1
    elseif w == 0 then positive = positive + 0.5 end
  end
  local dist = n <= SIGNED_RANK_EXACT_MAX and signed_rank_distribution(n)
  local low_tail = signed_rank_cdf(n, positive, dist)
  local high_tail = 1 - signed_rank_cdf(n, math.ceil(positive) - 1, dist)
  if positive ~= floor(positive) then
    high_tail = 1 - signed_rank_cdf(n, floor(positive), dist)
  end
  local p = math.min(1, 2 * math.min(low_tail, high_tail))
  local result = { p = p, estimate = stats.median(walsh), pairs = n,
                   positive = positive,
                   method = dist and "exact" or "normal" }
  -- c: the largest count with P(W+ <= c) < (1 - conf) / 2; the interval
  -- [walsh(c + 1), walsh(total - c)] then excludes 0 iff p < 1 - conf.
  local tail, c = (1 - conf) / 2, -1
  while c + 1 < total and signed_rank_cdf(n, c + 1, dist) < tail do
    c = c + 1
  end
  if c >= 0 then
    result.lo, result.hi = walsh[c + 1], walsh[total - c]
  end
  return result
end

-- Holm-Bonferroni adjusted p-values (same order as the input; nil stays
-- nil). A test is significant at level alpha when adjusted p < alpha.
function stats.holm(pvalues)
  local order = {}
  for i, p in pairs(pvalues) do
    if p then order[#order + 1] = i end
  end
  table.sort(order, function(a, b)
    if pvalues[a] ~= pvalues[b] then return pvalues[a] < pvalues[b] end
    return a < b
  end)
  local adjusted, running, m = {}, 0, #order
  for rank, index in ipairs(order) do
    running = math.max(running, math.min(1, (m - rank + 1) * pvalues[index]))
    adjusted[index] = running
  end
  return adjusted
end

-- MRG32k3a (L'Ecuyer 1999): a combined multiple recursive generator whose
-- arithmetic stays exact in doubles, so a seed gives the same stream on
-- every Lua flavour.
local M1, M2 = 4294967087, 4294944443
local A12, A13N, A21, A23N = 1403580, 810728, 527612, 1370589

local Rng = {}
Rng.__index = Rng

local function residue(value, modulus)
  local r = value % modulus
  if r < 0 then r = r + modulus elseif r >= modulus then r = r - modulus end
  return r
end

-- A uniform number in (0, 1).
function Rng:uniform()
  local s = self.state
  local p1 = residue(A12 * s[2] - A13N * s[1], M1)
  s[1], s[2], s[3] = s[2], s[3], p1
  local p2 = residue(A21 * s[6] - A23N * s[4], M2)
  s[4], s[5], s[6] = s[5], s[6], p2
  local diff = p1 - p2
  if diff <= 0 then diff = diff + M1 end
  return diff / (M1 + 1)
end

-- An integer in [1, n].
function Rng:int(n)
  return floor(self:uniform() * n) + 1
end

-- An approximately standard normal number: the Irwin-Hall sum of twelve
-- uniforms minus 6 (mean 0, variance 1; plain arithmetic, no libm).
function Rng:normal()
  local sum = 0
  for _ = 1, 12 do sum = sum + self:uniform() end
  return sum - 6
end

-- A generator seeded by a non-negative integer seed (< 2^31).
function stats.rng(seed)
  seed = floor(seed or 0)
  local state = {}
  for i = 1, 6 do
    local modulus = i <= 3 and M1 or M2
    state[i] = residue(seed * 69069 + i * 1234567 + 12345, modulus - 1) + 1
  end
  local rng = setmetatable({ state = state }, Rng)
  for _ = 1, 16 do rng:uniform() end
  return rng
end

return stats
