-- hourly: 6 months of hourly bars for 20 crypto assets trading 24/7, a
-- 20-bar momentum strategy. Run: btlua scenarios/hourly.lua [options]
local btlua = require "btlua"
return btlua.scenario {
  name = "hourly",
  description = "6 months, 20 crypto assets, 24/7 hourly bars, momentum 20",
  data = { synthetic = { assets = 20, frequency = "hourly",
                         start = "2024-01-01", ["end"] = "2024-06-30",
                         seed = 2 } },
  calendar = "24/7",
  capital = "100000",
  strategy = "momentum",
  params = { lookback = 20 },
  fill = "next_open", slippage = "none", commission = "none",
}
