-- momentum: per asset, hold a long position while close[t] >
-- close[t-lookback] (over the bars where the asset trades), be flat
-- otherwise. Entry size: floor((capital_base / number of assets) / close of
-- the signal bar) whole units, market orders, never adding to a position
-- or acting while an order is open. Fast path: the C momentum indicator
-- (close[t] - close[t-n], exact, NaN until n + 1 bars exist).
local M = { name = "momentum", params = { lookback = 20 },
  param_kinds = { lookback = "period" } }

function M.initialize(ctx)
  ctx.change = ctx:momentum(ctx.params.lookback)
end

function M.handle_data(ctx, data)
  local close, change = data.close, ctx.change
  local position, pending = ctx.position, ctx.pending
  local count = #ctx.assets
  for i = 1, count do
    local c = close[i]
    if c == c and pending[i] == 0 then
      local rising = change[i] > 0
      local held = position[i]
      if held == 0 and rising then
        local units = ctx:units(i, ctx.capital_base, count)
        if units > 0 then ctx:order(i, units) end
      elseif held > 0 and not rising then
        ctx:order_target(i, 0)
      end
    end
  end
end

return M
