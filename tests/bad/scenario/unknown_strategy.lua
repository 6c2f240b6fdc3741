local btlua = require "btlua"
return btlua.scenario {
  name = "unknown_strategy",
  data = { synthetic = { assets = 1, frequency = "daily",
                         start = "2024-01-02", ["end"] = "2024-02-01" } },
  capital = "100000",
  strategy = "no_such_strategy",
}
