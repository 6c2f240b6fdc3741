-- mean_reversion: per asset, buy when close < mean - k * std (population
-- deviation of the last `window` closes), close the position when close >
-- mean. Entry size: floor((capital_base / number of assets) / close of the
-- signal bar) whole units, market orders, never adding to a position or
-- acting while an order is open. Fast path: ctx:bands publishes the lower
-- band rounded up to 10^-8 and the mean (the exact SMA), so both
-- comparisons below are exact (see sim.h).
local M = { name = "mean_reversion", params = { window = 20, k = 2 },
  param_kinds = { window = "period", k = "positive" } }

function M.initialize(ctx)
  local p = ctx.params
  ctx.band = ctx:bands(p.window, tostring(p.k))
end

function M.handle_data(ctx, data)
  local close, lower, mean = data.close, ctx.band.lower, ctx.band.mean
  local position, pending = ctx.position, ctx.pending
  local count = #ctx.assets
  for i = 1, count do
    local c = close[i]
    if c == c and pending[i] == 0 then
      local held = position[i]
      if held == 0 then
        if c < lower[i] then
          local units = ctx:units(i, ctx.capital_base, count)
          if units > 0 then ctx:order(i, units) end
        end
      elseif held > 0 and c > mean[i] then
        ctx:order_target(i, 0)
      end
    end
  end
end

return M
