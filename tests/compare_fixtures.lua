-- compare_fixtures.lua: synthetic profile sets for the comparison and
-- report tests: seeded per-run noise, one function optionally slowed down.
local stats = require "btlua.stats"

local fixtures = {}

-- Self time per run (ns) of each Lua/C function (all inside "strategy").
fixtures.functions = {
  { name = "handle_data", source = "lua/btlua/strategies/mean_reversion.lua",
    line = 30, self_ns = 60e6,
    key = "btlua.strategies.mean_reversion:handle_data" },
  { name = "current", source = "[C]", line = 0, self_ns = 25e6,
    key = "[C]:data:current" },
  { name = "sma_update", source = "lua/btlua/strategies/mean_reversion.lua",
    line = 12, self_ns = 20e6,
    key = "btlua.strategies.mean_reversion:sma_update" },
  { name = "order_target_percent", source = "[C]", line = 0,
    self_ns = 10e6, key = "[C]:ctx:order_target_percent" },
  { name = "__mul", source = "[C]", line = 0, self_ns = 8e6,
    key = "[C]:dec:__mul" },
  { name = "record", source = "[C]", line = 0, self_ns = 4e6,
    key = "[C]:ctx:record" },
}

-- Inclusive time per run (ns) of the engine zones other than strategy.
fixtures.zones = {
  { name = "load", incl_ns = 20e6 }, { name = "data", incl_ns = 15e6 },
  { name = "indicators", incl_ns = 12e6 }, { name = "blotter", incl_ns = 9e6 },
  { name = "fills", incl_ns = 6e6 }, { name = "ledger", incl_ns = 5e6 },
  { name = "metrics", incl_ns = 4e6 }, { name = "output", incl_ns = 3e6 },
}

fixtures.meta = {
  scenario = "minute", version = "0.1.0", lua_flavour = "Lua 5.4",
  build_type = "Release", host = "ci-1", cpu = "Test CPU @ 3.00GHz",
  tsc_hz = 3e9, start_time = 1764300000, bars = 446400,
  profiler = "cycles", results_digest = "abc123", params = { window = 20 },
}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = type(v) == "table" and copy(v) or v end
  return c
end

-- A profile table with `runs` repeats. opts: rng (stats.rng), noise
-- (relative per-value sigma, default 0.03), slow = {[name] = factor},
-- meta = overrides, load = function(i) -> a factor of run i (the machine's
-- load: shared by every value of the run; default 1).
function fixtures.profile(opts)
  local rng, noise = opts.rng, opts.noise or 0.03
  local slow = opts.slow or {}
  local profile = { meta = copy(fixtures.meta), runs = {}, functions = {},
                    zones = {}, memory = { peak_rss = 50 * 2 ^ 20,
                    alloc_bytes = 200 * 2 ^ 20 } }
  for key, value in pairs(opts.meta or {}) do profile.meta[key] = value end
  for i = 1, opts.runs or 10 do
    local machine = (1 + noise / 3 * rng:normal())  -- shared by the run
      * (opts.load and opts.load(i) or 1)
    local run = { zones = {}, functions = {} }
    local strategy = 0
    for _, f in ipairs(fixtures.functions) do
      local ns = f.self_ns * (slow[f.name] or 1) * machine
        * (1 + noise * rng:normal())
      run.functions[f.key] = ns
      strategy = strategy + ns
    end
    run.zones.strategy = strategy
    local wall = strategy
    for _, z in ipairs(fixtures.zones) do
      local ns = z.incl_ns * machine * (1 + noise * rng:normal())
      run.zones[z.name] = ns
      wall = wall + ns
    end
    run.wall_ns = wall
    run.total_ticks = wall * 3
    profile.runs[i] = run
  end
  local first = profile.runs[1]
  profile.meta.wall_ns, profile.meta.total_ticks = first.wall_ns,
    first.total_ticks
  for _, f in ipairs(fixtures.functions) do
    local key = f.key
    profile.functions[#profile.functions + 1] = { name = f.name,
      source = f.source, line = f.line, key = key, ncalls = 1000,
      primcalls = 1000,
      self_ns = first.functions[key], cum_ns = first.functions[key] }
  end
  for name, ns in pairs(first.zones) do
    profile.zones[#profile.zones + 1] = { name = name, count = 1,
      self_ns = ns, incl_ns = ns }
  end
  table.sort(profile.zones, function(a, b) return a.name < b.name end)
  return profile
end

function fixtures.results()
  return { scenario = "minute", bars = 446400, final_value = "100512.34",
           cash = "512.34", orders = 120, fills = 118, rejections = 2,
           metrics = {} }
end

-- Results with every run's timings, as a real S_results.json has them:
-- cpu_s = 80% of the run's wall time (the rest: waiting), wall_s.
function fixtures.results_with_runs(profile)
  local results = fixtures.results()
  results.runs = {}
  for i, run in ipairs(profile.runs) do
    results.runs[i] = { mode = "cycles", cpu_s = run.wall_ns * 0.8 / 1e9,
                        wall_s = run.wall_ns / 1e9 }
  end
  return results
end

-- A comparison side; fills false means no fills file.
function fixtures.side(label, profile, results, fills)
  if fills == nil then fills = "ts,asset,qty,price\n1,A,10,100.5\n" end
  return { label = label, profile = profile, results = results,
           fills = fills or nil }
end

-- Lua source text for a value (numbers with 17 digits: exact round trip).
local function serialize(value, out)
  if type(value) == "table" then
    out[#out + 1] = "{"
    local keys = {}
    for key in pairs(value) do keys[#keys + 1] = key end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, key in ipairs(keys) do
      out[#out + 1] = "["
      serialize(key, out)
      out[#out + 1] = "]="
      serialize(value[key], out)
      out[#out + 1] = ","
    end
    out[#out + 1] = "}"
  elseif type(value) == "number" then
    out[#out + 1] = string.format("%.17g", value)
  else
    out[#out + 1] = string.format("%q", value)
  end
end

function fixtures.serialize(value)
  local out = {}
  serialize(value, out)
  return table.concat(out)
end

-- A fixture run directory: S.btprof holds the profile as Lua source (read
-- by fixtures.load_profile, the test stand-in for btlua.profile.load),
-- S_results.json and S_fills.csv the results.
function fixtures.write_dir(dir, scenario, profile, results, fills)
  os.execute("mkdir -p '" .. dir .. "'")
  local function write(name, text)
    local file = assert(io.open(dir .. "/" .. name, "wb"))
    file:write(text)
    file:close()
  end
  write(scenario .. ".btprof", "return " .. fixtures.serialize(profile))
  if results then
    write(scenario .. "_results.json", require("cjson").encode(results))
  end
  write(scenario .. "_fills.csv", fills or "ts,asset,qty,price\n1,A,10,100.5\n")
end

-- The same directory with a real .btprof (core.prof.encode), so the
-- btlua command reads it with its own profile reader.
function fixtures.write_real_dir(dir, scenario, profile, results, fills)
  fixtures.write_dir(dir, scenario, profile, results, fills)
  local bytes = assert(require("btlua.core").prof.encode(profile))
  local file = assert(io.open(dir .. "/" .. scenario .. ".btprof", "wb"))
  file:write(bytes)
  file:close()
end

function fixtures.load_profile(path)
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  return chunk()
end

fixtures.stats = stats
return fixtures
