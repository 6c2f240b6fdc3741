-- minute: 1 month of minute bars for 10 crypto assets trading 24/7, mean
-- reversion (20-bar window, 2 sigma). Run: btlua scenarios/minute.lua
local btlua = require "btlua"
return btlua.scenario {
  name = "minute",
  description = "1 month, 10 crypto assets, 24/7 minute bars, mean reversion",
  data = { synthetic = { assets = 10, frequency = "minute",
                         start = "2024-01-01", ["end"] = "2024-01-31",
                         seed = 3 } },
  calendar = "24/7",
  capital = "100000",
  strategy = "mean_reversion",
  params = { window = 20, k = 2 },
  fill = "next_open", slippage = "none", commission = "none",
}
