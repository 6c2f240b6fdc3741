-- btlua.scenario: `btlua.scenario{...}` checks a scenario definition and
-- returns it as a btlua.Scenario; load/discover read scenario files;
-- with_overrides applies --param/--set/--data; job_run/job_finish are what a
-- runner worker calls (one lua_State per run) to run one scenario.
local scenario = {}

local Scenario = { __name = "btlua.Scenario" }
Scenario.__index = Scenario

local EXIT_BAD_INPUT = require("btlua.util").EXIT_BAD_INPUT

local BUILTIN_STRATEGIES = { "mean_reversion", "momentum", "sma_cross" }
local CALENDARS = { ["24/7"] = true, weekdays = true, XNYS = true }
local FILLS = { next_open = true, next_close = true }
local STOP_LIMITS = { same_bar = true, next_bar = true }
-- Models and their parameters with defaults (decimal text), as the engine
-- takes them (engine/lbt_sim.c; docs/backtest.md).
local SLIPPAGE_MODELS = {
  none = {},
  fixed_bps = { bps = "5", volume_limit = "0" },
  volume_share = { volume_limit = "0.025", price_impact = "0.1" },
}
local COMMISSION_MODELS = {
  none = {},
  per_share = { cost = "0.001", min_per_order = "0" },
  per_trade = { cost = "1" },
  per_dollar = { rate = "0.0015" },
}
local FIELDS = {
  name = true, description = true, data = true, calendar = true,
  capital = true, strategy = true, params = true, fill = true,
  slippage = true, commission = true, stop_limit = true, allow_margin = true,
  warmup = true, benchmark = true,
}
local SYNTHETIC_FIELDS = {
  assets = true, frequency = true, start = true, ["end"] = true,
  seed = true, calendar = true,
}

-- Bad input: an error value that the host prints without a traceback and
-- turns into exit status 2 (see engine/main.c).
local BadInput = {
  __tostring = function(self) return self.message end,
}

local function bad_input(message)
  return setmetatable({ message = message, exit_status = EXIT_BAD_INPUT },
    BadInput)
end
scenario.bad_input = bad_input

function scenario.is_bad_input(value)
  return getmetatable(value) == BadInput
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -2 ^ 53
    and v < 2 ^ 53
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" or type(v) == "function" or type(v) == "userdata"
  then
    return "a " .. type(v) -- never an address: messages stay reproducible
  end
  return tostring(v)
end

-- --- plain-data text (what crosses between Lua states) ---

local function encode(value, out)
  local kind = type(value)
  if kind == "string" then
    out[#out + 1] = string.format("%q", value)
  elseif kind == "number" then
    if is_integer(value) then
      out[#out + 1] = string.format("%.0f", value)
    else
      out[#out + 1] = string.format("%.17g", value)
    end
  elseif kind == "boolean" then
    out[#out + 1] = tostring(value)
  elseif kind == "table" then
    out[#out + 1] = "{"
    for _, k in ipairs(sorted_keys(value)) do
      out[#out + 1] = "["
      encode(k, out)
      out[#out + 1] = "]="
      encode(value[k], out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  else
    error("cannot encode a " .. kind, 0)
  end
  return out
end

-- encode(plain value) -> text; decode(text) -> value (strings, numbers,
-- booleans and tables of them).
function scenario.encode(value)
  return table.concat(encode(value, {}))
end

-- decode reads only what encode writes (strings in %q form, numbers,
-- booleans, tables of [key]=value,): text from a run's process is data,
-- never run as code.
local ESCAPES = { n = "\n", t = "\t", r = "\r", a = "\a", b = "\b",
  f = "\f", v = "\v", ["\\"] = "\\", ['"'] = '"', ["'"] = "'", ["\n"] = "\n" }

local function decode_string(text, at)
  local parts = {}
  local i = at + 1
  while true do
    local stop = text:find('["\\]', i)
    if not stop then error("decode: unfinished string", 0) end
    parts[#parts + 1] = text:sub(i, stop - 1)
    if text:sub(stop, stop) == '"' then return table.concat(parts), stop + 1 end
    local c = text:sub(stop + 1, stop + 1)
    local digits = text:match("^%d%d?%d?", stop + 1)
    if digits then
      parts[#parts + 1] = string.char(tonumber(digits))
      i = stop + 1 + #digits
    elseif ESCAPES[c] then
      parts[#parts + 1] = ESCAPES[c]
      i = stop + 2
    elseif c == "\r" and text:sub(stop + 2, stop + 2) == "\n" then
      parts[#parts + 1] = "\n"
      i = stop + 3
    else
      error("decode: bad escape", 0)
    end
  end
end

local decode_value

local function decode_table(text, at, depth)
  if depth > 100 then error("decode: nested too deep", 0) end
  local out = {}
  local i = at + 1
  while true do
    if text:sub(i, i) == "}" then return out, i + 1 end
    if text:sub(i, i) ~= "[" then error("decode: bad table", 0) end
    local key, value
    key, i = decode_value(text, i + 1, depth + 1)
    if text:sub(i, i + 1) ~= "]=" then error("decode: bad table", 0) end
    value, i = decode_value(text, i + 2, depth + 1)
    if text:sub(i, i) ~= "," or key == nil or key ~= key then
      error("decode: bad table", 0)
    end
    out[key] = value
    i = i + 1
  end
end

decode_value = function(text, at, depth)
  local c = text:sub(at, at)
  if c == '"' then return decode_string(text, at) end
  if c == "{" then return decode_table(text, at, depth) end
  if text:sub(at, at + 3) == "true" then return true, at + 4 end
  if text:sub(at, at + 4) == "false" then return false, at + 5 end
  local number = text:match("^%-?[%d%.]+[eE]?[%+%-]?%d*", at)
    or text:match("^%-?inf", at) or text:match("^%-?nan", at)
  local value = number and tonumber(number)
  if value == nil then error("decode: unexpected text at " .. at, 0) end
  return value, at + #number
end

function scenario.decode(text)
  if type(text) ~= "string" then error("decode: text expected", 0) end
  local value, after = decode_value(text, 1, 0)
  if after ~= #text + 1 then error("decode: trailing text", 0) end
  return value
end

-- --- checking fields ---

local read_text = require("btlua.util").read_file

-- The line of a file where a field is set ("capital =", ["end"] =), or nil.
local function field_line(file, field)
  local text = file and read_text(file)
  if not text then return nil end
  local key = field:match("([%w_]+)$")
  local number = 0
  for line in (text .. "\n"):gmatch("(.-)\n") do
    number = number + 1
    if line:find("%f[%w_]" .. key .. "%s*=") or line:find("%[%s*[\"']" .. key
      .. "[\"']%s*%]%s*=") then
      return number
    end
  end
  return nil
end

-- A failed check: "FILE:LINE: scenario 'NAME': field 'F': what", the line
-- being that of the field in the file when it can be found.
local function field_error(ctx, field, what)
  local who = ctx.name and ("scenario '" .. ctx.name .. "': ") or "scenario: "
  local where = ctx.where
  local line = ctx.scan and field_line(ctx.file, field)
  if line then where = ctx.file .. ":" .. line end
  error(bad_input(where .. ": " .. who .. "field '" .. field .. "': "
    .. what), 0)
end

local function check_date(ctx, field, value)
  if type(value) ~= "string" then
    field_error(ctx, field, "must be a date string \"YYYY-MM-DD\", got "
      .. show(value))
  end
  local y, m, d, rest = value:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  y, m, d = tonumber(y), tonumber(m), tonumber(d)
  local ok = y and m >= 1 and m <= 12 and d >= 1 and d <= 31
  if ok and rest ~= "" then
    local hh, mm, ss = rest:match("^[T ](%d%d):(%d%d):?(%d*)$")
    ok = hh and tonumber(hh) < 24 and tonumber(mm) < 60
      and (ss == "" or (#ss == 2 and tonumber(ss) < 60))
  end
  if not ok then
    field_error(ctx, field, "must be a date \"YYYY-MM-DD\" (optionally "
      .. "\"THH:MM[:SS]\"), got " .. show(value))
  end
  return value
end

-- Dates compare as text once the time part is filled in.
local function date_key(text)
  if #text == 10 then return text .. "T00:00:00" end
  return (text:gsub(" ", "T") .. ":00"):sub(1, 19)
end

local function check_frequency(ctx, field, value)
  local ok = type(value) == "string" and (value == "daily"
    or value == "hourly" or value == "minute"
    or (value:match("^%d+min$") and tonumber(value:match("^%d+")) > 0)
    or (value:match("^%d+h$") and tonumber(value:match("^%d+")) > 0))
  if not ok then
    field_error(ctx, field, "must be daily, hourly, minute, Nmin or Nh, got "
      .. show(value))
  end
  return value
end

local function check_calendar(ctx, field, value)
  if not CALENDARS[value] then
    field_error(ctx, field, "must be \"24/7\", \"weekdays\" or \"XNYS\", got "
      .. show(value))
  end
  return value
end

local function check_positive_integer(ctx, field, value)
  if not is_integer(value) or value < 1 then
    field_error(ctx, field, "must be a positive integer, got " .. show(value))
  end
  return value
end

local function check_synthetic(ctx, synthetic, calendar)
  if type(synthetic) ~= "table" then
    field_error(ctx, "data.synthetic", "must be a table, got "
      .. show(synthetic))
  end
  for _, key in ipairs(sorted_keys(synthetic)) do
    if not SYNTHETIC_FIELDS[key] then
      field_error(ctx, "data.synthetic." .. tostring(key), "unknown field "
        .. "(known: assets, calendar, end, frequency, seed, start)")
    end
  end
  local out = {
    assets = check_positive_integer(ctx, "data.synthetic.assets",
      synthetic.assets),
    frequency = check_frequency(ctx, "data.synthetic.frequency",
      synthetic.frequency),
    start = check_date(ctx, "data.synthetic.start", synthetic.start),
    ["end"] = check_date(ctx, "data.synthetic.end", synthetic["end"]),
    seed = synthetic.seed == nil and 1 or synthetic.seed,
    calendar = check_calendar(ctx, "data.synthetic.calendar",
      synthetic.calendar or calendar),
  }
  if not is_integer(out.seed) or out.seed < 0 then
    field_error(ctx, "data.synthetic.seed", "must be a non-negative integer, "
      .. "got " .. show(out.seed))
  end
  if date_key(out["end"]) < date_key(out.start) then
    field_error(ctx, "data.synthetic.end", "end " .. out["end"]
      .. " is before start " .. out.start)
  end
  return out
end

local function check_data(ctx, data, calendar)
  if type(data) == "string" then
    if data == "" then field_error(ctx, "data", "empty path") end
    return data
  end
  if type(data) ~= "table" then
    field_error(ctx, "data", "must be { synthetic = {...} } or a path to a "
      .. "CSV file, CSV directory or bundle, got " .. show(data))
  end
  for _, key in ipairs(sorted_keys(data)) do
    if key ~= "synthetic" then
      field_error(ctx, "data." .. tostring(key), "unknown field (known: "
        .. "synthetic)")
    end
  end
  return { synthetic = check_synthetic(ctx, data.synthetic, calendar) }
end

-- Capital: decimal text (or an integer), > 0, at most 8 decimal places.
local function check_capital(ctx, value)
  local text = value
  if is_integer(value) then text = string.format("%.0f", value) end
  if type(text) ~= "string" then
    field_error(ctx, "capital", "must be decimal text such as \"100000\", got "
      .. show(value))
  end
  if text:match("^%s*%-") then
    field_error(ctx, "capital", "must be positive, got " .. show(value))
  end
  local whole, frac = text:match("^(%d+)%.?(%d*)$")
  if not whole or #frac > 8 or (text:sub(-1) == ".") then
    field_error(ctx, "capital", "must be decimal text such as \"100000\" or "
      .. "\"2500.50\" (at most 8 places), got " .. show(value))
  end
  if not (whole .. frac):match("[1-9]") then
    field_error(ctx, "capital", "must be positive, got " .. show(value))
  end
  return text
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function file_exists(path)
  local file = io.open(path, "rb")
  if file then file:close() end
  return file ~= nil
end

-- A built-in strategy name resolves to the module btlua.strategies.NAME.
function scenario.builtin_strategy_path(name)
  return require("btlua.sandbox").builtin_strategy_path(name)
end

local function check_strategy(ctx, value)
  if type(value) == "table" then
    if type(value.handle_data) ~= "function" then
      field_error(ctx, "strategy", "a strategy table needs a handle_data "
        .. "function")
    end
    return value
  end
  if type(value) ~= "string" then
    field_error(ctx, "strategy", "must be a built-in name, a .lua file path "
      .. "or a table, got " .. show(value))
  end
  if value:match("%.lua$") or value:find("/", 1, true) then
    local path = value
    if not file_exists(path) and value:sub(1, 1) ~= "/" and ctx.file then
      path = dirname(ctx.file) .. "/" .. value
    end
    if not file_exists(path) then
      field_error(ctx, "strategy", "no such strategy file " .. show(value))
    end
    return path
  end
  if not scenario.builtin_strategy_path(value) then
    field_error(ctx, "strategy", "unknown strategy " .. show(value)
      .. " (built-in: " .. table.concat(BUILTIN_STRATEGIES, ", ")
      .. "; or a .lua file path)")
  end
  return value
end

-- A model parameter: a number >= 0 or decimal text (at most 8 places).
local function check_model_number(ctx, field, value)
  if type(value) == "number" then
    if value >= 0 and value < 2 ^ 53 then return value end
  elseif type(value) == "string" and (value:match("^%d+$")
      or value:match("^%d*%.%d+$")) and #(value:match("%.(%d*)$") or "") <= 8
  then
    return value
  end
  field_error(ctx, field, "must be a number >= 0 or decimal text such as "
    .. "\"0.005\", got " .. show(value))
end

-- slippage/commission: a model name or a table { model = NAME, param =
-- value ... }; returns "none" or a complete table (defaults filled in).
local function check_model(ctx, field, value, models)
  local model = value
  if type(value) == "table" then model = value.model end
  if type(value) ~= "table" and type(value) ~= "string" then
    field_error(ctx, field, "must be a model name or a table { model = ... }"
      .. ", got " .. show(value))
  end
  local defaults = type(model) == "string" and models[model]
  if not defaults then
    field_error(ctx, (type(value) == "table" and field .. ".model" or field),
      "unknown model " .. show(model) .. " (known: "
      .. table.concat(sorted_keys(models), ", ") .. ")")
  end
  local given = type(value) == "table" and value or {}
  for _, key in ipairs(sorted_keys(given)) do
    if key ~= "model" and defaults[key] == nil then
      local known = sorted_keys(defaults)
      field_error(ctx, field .. "." .. tostring(key), "unknown parameter of "
        .. model .. (#known > 0 and " (known: " .. table.concat(known, ", ")
        .. ")" or " (it has none)"))
    end
  end
  if model == "none" then return "none" end
  local out = { model = model }
  for key, default in pairs(defaults) do
    out[key] = given[key] == nil and default
      or check_model_number(ctx, field .. "." .. key, given[key])
  end
  return out
end

local function check_params(ctx, params)
  if params == nil then return {} end
  if type(params) ~= "table" then
    field_error(ctx, "params", "must be a table, got " .. show(params))
  end
  local out = {}
  for k, v in pairs(params) do
    if type(k) ~= "string" then
      field_error(ctx, "params", "keys must be strings, got " .. show(k))
    end
    out[k] = v
  end
  return out
end

local function check_name(ctx, value)
  if type(value) ~= "string" or not value:match("^[%w_][%w_%-%.]*$") then
    field_error(ctx, "name", "must be a name of letters, digits, _ - . "
      .. "(it names the output files), got " .. show(value))
  end
  return value
end

-- Checks a definition; returns a new, complete table (defaults filled in).
local function check(def, ctx)
  if type(def) ~= "table" then
    error(bad_input(ctx.where .. ": btlua.scenario expects a table, got "
      .. type(def)), 0)
  end
  if type(def.name) == "string" and def.name:match("^[%w_][%w_%-%.]*$") then
    ctx.name = def.name
  end
  for _, key in ipairs(sorted_keys(def)) do
    if not FIELDS[key] then
      field_error(ctx, tostring(key), "unknown field (known: "
        .. table.concat(sorted_keys(FIELDS), ", ") .. ")")
    end
  end
  local scn = { name = check_name(ctx, def.name) }
  if def.description ~= nil and type(def.description) ~= "string" then
    field_error(ctx, "description", "must be a string")
  end
  scn.description = def.description or ""
  scn.calendar = def.calendar
  if scn.calendar ~= nil then check_calendar(ctx, "calendar", scn.calendar) end
  if def.data == nil then field_error(ctx, "data", "is required") end
  scn.data = check_data(ctx, def.data, def.calendar or "24/7")
  if def.capital == nil then field_error(ctx, "capital", "is required") end
  scn.capital = check_capital(ctx, def.capital)
  if def.strategy == nil then field_error(ctx, "strategy", "is required") end
  scn.strategy = check_strategy(ctx, def.strategy)
  scn.params = check_params(ctx, def.params)
  scn.fill = def.fill or "next_open"
  if not FILLS[scn.fill] then
    field_error(ctx, "fill", "must be \"next_open\" or \"next_close\", got "
      .. show(def.fill))
  end
  scn.slippage = check_model(ctx, "slippage", def.slippage or "none",
    SLIPPAGE_MODELS)
  scn.commission = check_model(ctx, "commission", def.commission or "none",
    COMMISSION_MODELS)
  scn.stop_limit = def.stop_limit or "same_bar"
  if not STOP_LIMITS[scn.stop_limit] then
    field_error(ctx, "stop_limit", "must be \"same_bar\" or \"next_bar\", "
      .. "got " .. show(def.stop_limit))
  end
  scn.allow_margin = def.allow_margin or false
  if type(scn.allow_margin) ~= "boolean" then
    field_error(ctx, "allow_margin", "must be true or false, got "
      .. show(def.allow_margin))
  end
  scn.warmup = def.warmup or 0
  if not is_integer(scn.warmup) or scn.warmup < 0 then
    field_error(ctx, "warmup", "must be an integer >= 0 (bars before the "
      .. "strategy starts), got " .. show(def.warmup))
  end
  scn.benchmark = def.benchmark
  if scn.benchmark ~= nil and (type(scn.benchmark) ~= "string"
      or scn.benchmark == "") then
    field_error(ctx, "benchmark", "must be an asset's symbol or "
      .. "\"equal_weight\", got " .. show(def.benchmark))
  end
  scn.file = ctx.file
  return setmetatable(scn, Scenario)
end

-- The file being loaded by scenario.load/discover (a scenario file ends in
-- `return btlua.scenario{...}`, a tail call that hides the caller's frame).
local loading_file

-- Where btlua.scenario was called from: "FILE:LINE" (or "FILE"), the file,
-- and whether the file's text may be scanned for a field's line.
local function caller_place(level)
  local info = debug.getinfo(level + 1, "Sl")
  if info and info.what ~= "C" and info.currentline and info.currentline > 0
  then
    local file = info.source:sub(1, 1) == "@" and info.source:sub(2) or nil
    return (file or info.short_src) .. ":" .. info.currentline, file,
      file ~= nil
  end
  local file = loading_file
  if not file then
    local script = rawget(_G, "arg")
    file = type(script) == "table" and type(script[0]) == "string"
      and script[0] or nil
  end
  return file or "?", file, file ~= nil
end

-- btlua.scenario(def) -> Scenario; bad fields raise bad input naming the
-- file and line of the field (or of the call), the scenario and the field.
function scenario.new(def, level)
  local where, file, scan = caller_place((level or 1) + 1)
  return check(def, { where = where, file = file, scan = scan })
end

function scenario.is_scenario(value)
  return getmetatable(value) == Scenario
end

local function scenario_copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- The definition as plain data (a strategy table stays as it is).
local function definition(scn)
  local def = {}
  for key in pairs(FIELDS) do def[key] = scn[key] end
  if type(scn.data) == "table" then
    local synthetic = {}
    for k, v in pairs(scn.data.synthetic) do synthetic[k] = v end
    def.data = { synthetic = synthetic }
  end
  local params = {}
  for k, v in pairs(scn.params) do params[k] = v end
  def.params = params
  for _, key in ipairs { "slippage", "commission" } do
    -- a table, so that --set commission.model=per_share has a parent
    def[key] = type(scn[key]) == "table" and scenario_copy(scn[key])
      or { model = scn[key] }
  end
  return def
end

-- Parses an override value: true/false, a number, else the text itself.
function scenario.parse_value(text)
  if text == "true" then return true end
  if text == "false" then return false end
  if text:match("^%-?%d+$") or text:match("^%-?%d*%.%d+$") then
    local number = tonumber(text)
    if number then return number end
  end
  return text
end

local SCENARIO_PARAMS = {
  fill = true, slippage = true, commission = true, stop_limit = true,
  allow_margin = true, warmup = true, benchmark = true,
}

-- Applies overrides and checks the result again:
--   overrides.params = { "k=v", ... } (strategy params, or fill, slippage,
--     commission, stop_limit, allow_margin, warmup), overrides.set = { "data.synthetic.assets=2", ... } (any
--   field by dotted path), overrides.data = PATH (replaces data).
-- Returns a new Scenario; bad input raises (exit status 2).
function scenario.with_overrides(scn, overrides)
  local def = definition(scn)
  local ctx = { where = "scenario " .. (scn.file or scn.name), file = scn.file,
    name = scn.name }
  local function split(flag, word)
    local key, text = word:match("^([^=]+)=(.*)$")
    if not key then
      error(bad_input(string.format("%s: %s %s: expected KEY=VALUE",
        ctx.where, flag, word)), 0)
    end
    return key, scenario.parse_value(text)
  end
  for _, word in ipairs(overrides.params or {}) do
    local key, value = split("--param", word)
    if SCENARIO_PARAMS[key] then def[key] = value else def.params[key] = value end
  end
  -- --set after --param: --param commission=per_share --set
  -- commission.cost=0.01 sets the cost of the per_share model.
  for _, word in ipairs(overrides.set or {}) do
    local path, value = split("--set", word)
    local parent, last = def, nil
    local keys = {}
    for key in path:gmatch("[^%.]+") do keys[#keys + 1] = key end
    for i = 1, #keys - 1 do
      if i == 1 and type(parent[keys[i]]) == "string"
        and (keys[i] == "slippage" or keys[i] == "commission") then
        parent[keys[i]] = { model = parent[keys[i]] }
      end
      if type(parent[keys[i]]) ~= "table" then
        error(bad_input(string.format("%s: --set %s: field '%s' is not a "
          .. "table", ctx.where, word, table.concat(keys, ".", 1, i))), 0)
      end
      parent = parent[keys[i]]
    end
    last = keys[#keys]
    if not last then
      error(bad_input(ctx.where .. ": --set " .. word .. ": no field"), 0)
    end
    parent[last] = value
  end
  if overrides.data then
    def.data = overrides.data
    def.calendar = nil -- the data's own sessions
  end
  return check(def, ctx)
end

-- A one-line description of the data ("synthetic: 10 assets, minute, ...").
function Scenario:data_shape()
  if type(self.data) == "string" then return "file: " .. self.data end
  local s = self.data.synthetic
  return string.format("synthetic: %d assets, %s, %s..%s, %s, seed %d",
    s.assets, s.frequency, s.start, s["end"], s.calendar, s.seed)
end

-- "mean_reversion(k=2, window=20)".
function Scenario:strategy_text()
  local name = type(self.strategy) == "table"
    and (self.strategy.name or "inline table") or self.strategy
  local parts = {}
  for _, k in ipairs(sorted_keys(self.params)) do
    parts[#parts + 1] = k .. "=" .. tostring(self.params[k])
  end
  if #parts == 0 then return name end
  return name .. "(" .. table.concat(parts, ", ") .. ")"
end

-- --- loading files ---

-- A bad-input or load error as (nil, message, exit status).
local function load_failure(err)
  if scenario.is_bad_input(err) then return nil, err.message, EXIT_BAD_INPUT end
  return nil, tostring(err), EXIT_BAD_INPUT
end

-- The sandbox policy of a scenario file (nil with unsafe): its own
-- directory for loadfile/dofile/require, writes in output_dir only.
function scenario.policy(path, output_dir, unsafe)
  if unsafe then return nil end
  return { dirs = { dirname(path) }, output_dir = output_dir }
end

-- load(path, policy) -> Scenario | nil, message, exit_status. The file runs
-- in btlua.sandbox's environment for the policy (scenario.policy), or with
-- the state's globals when policy is nil.
function scenario.load(path, policy)
  local chunk, err
  if policy then
    chunk, err = require("btlua.sandbox").loadfile(path, policy)
  else
    chunk, err = loadfile(path)
  end
  if not chunk then
    if not file_exists(path) then return nil, "cannot open " .. path, 2 end
    return nil, err, EXIT_BAD_INPUT
  end
  local outer = loading_file
  loading_file = path
  local limits = require("btlua.core").limits
  limits.enter("the scenario file's top-level code") -- counts for --budget
  local ok, result = pcall(chunk)
  limits.leave(true)
  loading_file = outer
  if not ok then return load_failure(result) end
  if not scenario.is_scenario(result) then
    return nil, path .. ": does not return a btlua.scenario{...}",
      EXIT_BAD_INPUT
  end
  return result
end

-- A file that is only looked at (discovery) runs in the sandbox with no
-- output directory: it cannot write anything.
local function load_sandboxed(path)
  local chunk = require("btlua.sandbox").loadfile(path,
    scenario.policy(path, nil, false))
  if not chunk then return nil end
  local outer = loading_file
  loading_file = path
  local ok, result = pcall(chunk)
  loading_file = outer
  if ok and scenario.is_scenario(result) then return result end
  return nil
end

function scenario.list_lua_files(dir)
  local files = {}
  for _, name in ipairs(require("btlua.core").list_dir(dir) or {}) do
    if name:match("%.lua$") then files[#files + 1] = dir .. "/" .. name end
  end
  return files
end

-- discover(dirs) -> list of { file =, scenario = } for every .lua file in
-- the directories that returns a scenario (looked at in a sandbox).
function scenario.discover(dirs)
  local found = {}
  for _, dir in ipairs(dirs) do
    for _, file in ipairs(scenario.list_lua_files(dir)) do
      local scn = load_sandboxed(file)
      if scn then found[#found + 1] = { file = file, scenario = scn } end
    end
  end
  return found
end

-- The strategy of a scenario must know every param given to it (when it
-- declares its defaults). Returns nil or the message.
-- Kinds a strategy may declare for its params (strategy.param_kinds);
-- an undeclared param must have its default's type.
local PERIOD_MAX = 1000000 -- engine/indicators.h BT_IND_MAX_PERIOD
local PARAM_KINDS = {
  period = { "an integer from 1 to " .. PERIOD_MAX, function(v)
    return v == math.floor(v) and v >= 1 and v <= PERIOD_MAX
  end },
  positive = { "a number > 0", function(v) return v > 0 and v < math.huge end },
}

-- nil, or what is wrong with value for the param `key` of `strategy`.
local function param_problem(strategy, key, value)
  local default = strategy.params[key]
  local kind = type(strategy.param_kinds) == "table"
    and PARAM_KINDS[strategy.param_kinds[key]]
  if type(value) ~= type(default) then
    return "must be " .. (kind and kind[1] or "a " .. type(default))
  end
  if kind and not kind[2](value) then return "must be " .. kind[1] end
  return nil
end

local function show_value(value)
  if type(value) == "string" then return string.format("%q", value) end
  return tostring(value)
end

-- nil, or the bad-input message for the first param of scn that its
-- strategy does not know or that has the wrong type or kind.
local function check_strategy_params(scn, policy)
  local backtest = require "btlua.backtest"
  local ok, strategy = pcall(backtest.load_strategy, scn.strategy, policy)
  if not ok and scenario.is_limit_error(strategy) then
    return nil -- a runaway, not bad input: its run fails with the message
  end
  if not ok then return "scenario " .. scn.name .. ": " .. tostring(strategy) end
  local defaults = type(strategy) == "table" and strategy.params
  if type(defaults) ~= "table" then return nil end
  for _, key in ipairs(sorted_keys(scn.params)) do
    if defaults[key] == nil then
      local known = sorted_keys(defaults)
      for i, k in ipairs(known) do known[i] = tostring(k) end
      return string.format("scenario %s: unknown parameter '%s' of strategy "
        .. "%s (known: %s)", scn.name, tostring(key),
        scn:strategy_text():match("^[^(]*"), table.concat(known, ", "))
    end
    local problem = param_problem(strategy, key, scn.params[key])
    if problem then
      return string.format("scenario %s: parameter '%s' of strategy %s %s, "
        .. "got %s", scn.name, tostring(key),
        scn:strategy_text():match("^[^(]*"), problem,
        show_value(scn.params[key]))
    end
  end
  return nil
end

-- Is an error a tripped limit's (--budget, --memory-cap, --timeout)?
function scenario.is_limit_error(err)
  local text = tostring(err)
  return text:find("(--budget)", 1, true) ~= nil
    or text:find("(--memory-cap)", 1, true) ~= nil
    or text:find("(--timeout)", 1, true) ~= nil
end

-- describe(text) -> text: what the command line needs to know of scenario
-- files. Files are user code: they are loaded here, in a run's own process
-- (core.runner.call), never by the command itself. text = encode {
-- files = { FILE, ... }, output_dir =, unsafe =, overrides = { params,
-- set, data } or nil, check_params = bool } -> encode { { file =, ok =,
-- error =, name =, description =, data =, data_shape =, strategy_text = },
-- ... } in the order of files.
function scenario.describe(text)
  local req = scenario.decode(text)
  local out = {}
  for i, file in ipairs(req.files) do
    local policy = scenario.policy(file, req.output_dir, req.unsafe)
    local scn, err = scenario.load(file, policy)
    if scn and req.overrides then
      local ok, result = pcall(scenario.with_overrides, scn, req.overrides)
      if ok then
        scn = result
      else
        scn, err = nil, scenario.is_bad_input(result) and result.message
          or tostring(result)
      end
    end
    if scn and req.check_params then
      err = check_strategy_params(scn, policy)
      if err then scn = nil end
    end
    if scn then
      out[i] = { file = file, ok = true, name = scn.name,
        description = scn.description, data = scn.data,
        data_shape = scn:data_shape(), strategy_text = scn:strategy_text() }
    elseif scenario.is_limit_error(err) then -- a runaway file: exit 1
      out[i] = { file = file, ok = false, limit = true,
        error = "scenario file " .. file .. ": " .. tostring(err) }
    else
      out[i] = { file = file, ok = false, error = tostring(err) }
    end
  end
  return scenario.encode(out)
end

-- --- the worker side: one scenario run per lua_State ---

local function load_job_scenario(job)
  local scn, err = scenario.load(job.file,
    scenario.policy(job.file, job.output_dir, job.unsafe))
  if not scn then error(err, 0) end
  return scenario.with_overrides(scn, job.overrides)
end

-- The bundle file of a scenario's data: synthetic data is generated once
-- and cached by the store (which verifies a cached copy before handing out
-- its path); a data path is taken as a bundle (the command line makes CSV
-- one first). Returns path | nil, message.
function scenario.bundle_path(scn)
  local store = require("btlua.core").store
  if type(scn.data) == "string" then return scn.data end
  local s = scn.data.synthetic
  local path, err = store.synthetic {
    assets = s.assets, frequency = s.frequency, start = s.start,
    ["end"] = s["end"], calendar = s.calendar, seed = s.seed,
  }
  if not path then return nil, "scenario " .. scn.name .. ": data: " .. err end
  return path
end

-- The open bundle of a job: the caller resolved and verified the path
-- (job.bundle); verifying every byte again in each run would cost more than
-- some whole backtests.
local function open_bundle(core, scn, job)
  local path, err = job.bundle, nil
  if not path then
    path, err = scenario.bundle_path(scn)
    if not path then error(err, 0) end
  end
  local bundle
  bundle, err = core.store.open(path, { verify = job.bundle == nil })
  if not bundle then error("scenario " .. scn.name .. ": data: " .. err, 0) end
  return bundle
end

-- Plain copy of params for the profile's meta (numbers, text, booleans).
local function plain_params(params)
  local out = {}
  for k, v in pairs(params) do
    if type(v) ~= "table" and type(v) ~= "function" then out[k] = v end
  end
  return out
end

-- xpcall's handler: the message and a traceback (unless it has one).
local function with_traceback(message)
  if type(message) == "string"
    and message:find("\nstack traceback:\n", 1, true) then
    return message
  end
  return debug.traceback(message, 2)
end

-- job_run(job_text, run_text) -> bag: one run of one scenario in a fresh
-- state: results.json/equity.csv/fills.csv, the run's .btprof (not for
-- profiler "none") and meta (mode, run, wall_ns, bars, final_value).
function scenario.job_run(job_text, run_text)
  local job, run = scenario.decode(job_text), scenario.decode(run_text)
  local core = require "btlua.core"
  local backtest = require "btlua.backtest"
  local scn = load_job_scenario(job)
  local bundle = open_bundle(core, scn, job)
  local progress = core.runner.progress
  local prof
  if run.mode ~= "none" then
    -- Function keys: files outside package.path are named from the
    -- scenario's directory (engine/profkey.h).
    prof = core.prof.new { mode = run.mode, root = job.file and dirname(job.file) }
  end
  -- The profile covers the backtest only: data is ready before it starts.
  local load = scenario.load_average()
  local started, cpu_started = core.hrtime(), core.thread_cpu_ns()
  if prof then prof:start() end
  -- The profiler is stopped even when the strategy raises (its hooks and
  -- timer belong to this pool thread, which runs the next job too).
  local ok, results = xpcall(backtest.run, with_traceback, {
    name = scn.name, bundle = bundle, strategy = scn.strategy,
    params = scn.params, capital = scn.capital, fill = scn.fill,
    slippage = scn.slippage, commission = scn.commission,
    stop_limit = scn.stop_limit, allow_margin = scn.allow_margin,
    warmup = scn.warmup, benchmark = scn.benchmark, prof = prof,
    sandbox = scenario.policy(job.file, job.output_dir, job.unsafe),
    progress = function(done, total) progress(done / total) end,
  })
  if prof then prof:stop() end
  if not ok then error(results, 0) end
  local cpu_ns = core.thread_cpu_ns() - cpu_started
  local wall_ns = core.hrtime() - started
  local bag = {}
  for name, bytes in pairs(results.files) do bag["results:" .. name] = bytes end
  local digest = scenario.results_digest(results.files["results.json"])
  if prof then
    bag.btprof = prof:btprof {
      scenario = scn.name, run = run.index, bars = results.bars,
      params = plain_params(scn.params), strategy = results.strategy,
      results_digest = digest, cpu_s = cpu_ns / 1e9, wall_s = wall_ns / 1e9,
    }
  end
  bag.meta = scenario.encode {
    mode = run.mode, run = run.index, wall_ns = wall_ns, bars = results.bars,
    final_value = tostring(results.final_value), cpu_ns = cpu_ns,
    load = load,
  }
  return bag
end

-- The machine's 1-minute load average (Linux /proc/loadavg), or nil: a
-- comparison warns when it moved between two blocks of runs.
function scenario.load_average()
  local file = io.open("/proc/loadavg", "rb")
  if not file then return nil end
  local text = file:read("*l")
  file:close()
  return tonumber(text and text:match("^(%S+)"))
end

-- The "digest" of a results.json text (written by the engine), or nil.
function scenario.results_digest(json_text)
  return json_text and json_text:match('\n  "digest": "([^"]*)"')
end

-- "%.6f" seconds as a JSON number (microseconds: finer is noise).
local function seconds(ns)
  return string.format("%.6f", ns / 1e9)
end

-- S_results.json with this scenario's run timings added before the final
-- brace: cpu_s and wall_s of the first run, and every run's under "runs".
-- The engine's part is identical in every run (job_finish checks); only
-- these timings differ from run to run.
local function with_timings(json_text, metas)
  local runs = {}
  for i, meta in ipairs(metas) do
    local load = meta.load and string.format(', "load": %.2f', meta.load) or ""
    runs[i] = string.format('\n    {"mode": "%s", "cpu_s": %s, "wall_s": %s%s}',
      meta.mode, seconds(meta.cpu_ns or 0), seconds(meta.wall_ns or 0), load)
  end
  local body = json_text:match("^(.-)\n}\n?$")
  if not body then return json_text end
  return string.format('%s,\n  "cpu_s": %s,\n  "wall_s": %s,\n  "runs": [%s\n  ]\n}\n',
    body, seconds(metas[1].cpu_ns or 0), seconds(metas[1].wall_ns or 0),
    table.concat(runs, ","))
end

-- The profile outputs: file suffix (after S), the report, and the mode
-- whose profile it is made from (with --profiler all; else the one run's).
local PROFILE_OUTPUTS = {
  { "_summary.txt", "summary", "cycles" },
  { "_memory.txt", "memory_report", "memory" },
  { ".callgrind", "callgrind", "cycles" },
  { ".folded", "folded", "sample" },
  { "_flame.svg", "flame_svg", "sample" },
}

local function profile_outputs(name, metas, bags, files)
  local core = require "btlua.core"
  local profile = require "btlua.profile"
  local primary = metas[1].mode
  local first_of = {}
  local profiles = {}
  for i, bag in ipairs(bags) do
    local data, err = core.prof.load(bag.btprof)
    if not data then error("run " .. i .. ": .btprof: " .. tostring(err), 0) end
    profiles[i] = data
    first_of[metas[i].mode] = first_of[metas[i].mode] or i
  end
  local by_mode = {}
  for mode, i in pairs(first_of) do by_mode[mode] = profiles[i] end
  -- A mode's profile that recorded nothing (a run too short for one
  -- sample) gives way to the primary profile.
  local recorded = {
    cycles = function(p) return #(p.functions or {}) > 0 end,
    sample = function(p) return #(p.samples or {}) > 0 end,
    memory = function(p) return p.memory ~= nil end,
  }
  for _, output in ipairs(PROFILE_OUTPUTS) do
    local source = by_mode[output[3]]
    if not source or not recorded[output[3]](source) then
      source = by_mode[primary]
    end
    files[name .. output[1]] = profile[output[2]](source)
  end
  -- S.btprof: the primary profile with every primary run's timings in
  -- `runs`, and the other modes' samples/memory (btlua.profile.merge).
  local merged = profile.merge(profiles)
  -- Every primary run's thread CPU time, in run order, as text (.btprof
  -- metadata holds scalars): "0.231000 0.229000 ...", seconds.
  local cpu_runs = {}
  for _, meta in ipairs(metas) do
    if meta.mode == primary then cpu_runs[#cpu_runs + 1] = seconds(meta.cpu_ns or 0) end
  end
  merged.meta.cpu_s_runs = table.concat(cpu_runs, " ")
  files[name .. ".btprof"] = core.prof.encode(merged)
end

-- job_finish(job_text, bags) -> { files = {...}, value = text }: names the
-- outputs S.btprof, S_summary.txt, ... and merges the runs. Every run must
-- have produced the same results (the engine is deterministic).
function scenario.job_finish(job_text, bags)
  local job = scenario.decode(job_text)
  local name = job.name
  local files, metas = {}, {}
  for i, bag in ipairs(bags) do
    metas[i] = scenario.decode(bag.meta)
    for key, bytes in pairs(bag) do
      local results_name = key:match("^results:(.*)$")
      if results_name and i == 1 then
        files[name .. "_" .. results_name] = bytes
      elseif results_name and bytes ~= bags[1][key] then
        error(string.format("scenario %s: run %d (%s) wrote a different %s "
          .. "than run 1 (%s): the backtest is not deterministic", name, i,
          metas[i].mode, results_name, metas[1].mode), 0)
      end
    end
  end
  local results_name = name .. "_results.json"
  if files[results_name] then
    files[results_name] = with_timings(files[results_name], metas)
  end
  if metas[1].mode ~= "none" then profile_outputs(name, metas, bags, files) end
  return { files = files, value = scenario.encode(metas) }
end

return setmetatable(scenario, {
  __call = function(_, def)
    local scn = scenario.new(def, 2) -- not a tail call: keeps the level
    return scn
  end,
})
