local btlua = require "btlua"
return btlua.scenario { name = "syntax_error", data =
