local btlua = require "btlua"
return btlua.scenario {
  name = "bad_frequency",
  data = { synthetic = { assets = 1, frequency = "weekly",
                         start = "2024-01-02", ["end"] = "2024-02-01" } },
  capital = "100000",
  strategy = "momentum",
}
