-- gate_strategy: the strategy of bench/ab_rates.lua: momentum trading plus
-- `score`, a Lua function whose cost is set by the parameter `work`
-- (loop iterations per bar); its result never changes a trade, so two
-- values of `work` do the same work with a known slowdown of one function.
local M = { name = "gate_strategy", params = { lookback = 20, work = 800 } }

function M.initialize(ctx)
  ctx.change = ctx:momentum(ctx.params.lookback)
end

-- Per-bar busy work: `work` rounds of float arithmetic over the closes.
local function score(close, count, work)
  local acc = 0
  for round = 1, work do
    local c = close[round % count + 1]
    if c == c then acc = acc + (c * 1.000001 - acc) * 0.5 end
  end
  return acc
end

function M.handle_data(ctx, data)
  local close, change = data.close, ctx.change
  local position, pending = ctx.position, ctx.pending
  local count = #ctx.assets
  score(close, count, ctx.params.work)
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
