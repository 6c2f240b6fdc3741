-- daily: 2 years of daily bars for 50 equities on the NYSE calendar, an SMA
-- 50/200 crossover. Run: btlua scenarios/daily.lua [btlua run options]
local btlua = require "btlua"
return btlua.scenario {
  name = "daily",
  description = "2 years, 50 equities, XNYS daily bars, SMA 50/200 crossover",
  data = { synthetic = { assets = 50, frequency = "daily",
                         start = "2023-01-02", ["end"] = "2024-12-31",
                         seed = 1 } },
  calendar = "XNYS",
  capital = "100000",
  strategy = "sma_cross",
  params = { fast = 50, slow = 200 },
  fill = "next_open", slippage = "none", commission = "none",
}
