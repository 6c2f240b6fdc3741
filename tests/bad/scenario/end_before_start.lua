local btlua = require "btlua"
return btlua.scenario {
  name = "end_before_start",
  data = { synthetic = { assets = 1, frequency = "daily",
                         start = "2024-03-01", ["end"] = "2024-02-01" } },
  capital = "100000",
  strategy = "momentum",
}
