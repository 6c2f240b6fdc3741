-- gate: the scenario of bench/ab_rates.lua (2 days of minute bars, 4
-- assets, gate_strategy with its tunable `score` cost).
local btlua = require "btlua"
return btlua.scenario {
  name = "gate",
  description = "bench/ab_rates.lua: momentum + a tunable Lua function",
  data = { synthetic = { assets = 4, frequency = "minute",
                         start = "2024-01-01", ["end"] = "2024-01-03",
                         seed = 5 } },
  calendar = "24/7",
  capital = "100000",
  strategy = "gate_strategy.lua",
}
