-- sma_cross: per asset, buy when SMA(fast) crosses above SMA(slow), close
-- the position when it crosses below. Entry size: floor((capital_base /
-- number of assets) / close of the signal bar) whole units, market
-- orders, never adding to a position or acting while an order is open.
-- Crossing above at t: fast[t-1] <= slow[t-1] and fast[t] > slow[t]
-- (below: fast[t-1] >= slow[t-1] and fast[t] < slow[t]), over the bars
-- where the asset trades. Fast path: C-refreshed arrays, exact SMAs.
local M = { name = "sma_cross", params = { fast = 50, slow = 200 },
  param_kinds = { fast = "period", slow = "period" } }

function M.initialize(ctx)
  local p = ctx.params
  ctx.fast = ctx:sma(p.fast)
  ctx.slow = ctx:sma(p.slow)
  ctx.prev_fast, ctx.prev_slow = {}, {}
  for i = 1, #ctx.assets do
    ctx.prev_fast[i], ctx.prev_slow[i] = 0 / 0, 0 / 0
  end
end

function M.handle_data(ctx, data)
  local close, fast, slow = data.close, ctx.fast, ctx.slow
  local position, pending = ctx.position, ctx.pending
  local prev_fast, prev_slow = ctx.prev_fast, ctx.prev_slow
  local count = #ctx.assets
  for i = 1, count do
    local c = close[i]
    if c == c then -- NaN: no bar for this asset now
      local f, s, pf, ps = fast[i], slow[i], prev_fast[i], prev_slow[i]
      if pending[i] == 0 then
        local held = position[i]
        if held == 0 and pf <= ps and f > s then
          local units = ctx:units(i, ctx.capital_base, count)
          if units > 0 then ctx:order(i, units) end
        elseif held > 0 and pf >= ps and f < s then
          ctx:order_target(i, 0)
        end
      end
      prev_fast[i], prev_slow[i] = f, s
    end
  end
end

return M
