local btlua = require "btlua"
error("the scenario file fails")
