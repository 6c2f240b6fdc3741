local btlua = require "btlua"
return btlua.scenario {
  name = "missing_data",
  capital = "100000",
  strategy = "momentum",
}
