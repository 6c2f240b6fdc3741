-- dec_bench.lua: ns per btlua.dec operation from Lua in a dependent chain
-- (each result feeds the next), median of several runs; plain Lua float
-- arithmetic alongside for scale.   build/btlua bench/dec_bench.lua [RUNS]
local dec = require("btlua").dec

local runs = tonumber(arg and arg[1]) or 5
local clock = os.clock

local function median(fn, n)
  local samples = {}
  for r = 1, runs do
    local start = clock()
    fn(n)
    samples[r] = (clock() - start) * 1e9 / n
  end
  table.sort(samples)
  return samples[math.floor(runs / 2) + 1]
end

local benches = {
  { "add", 2000000, function(n)
      local x, c1, c2 = dec("100"), dec("1.23456789"), dec("-1.23456789")
      for _ = 1, n / 2 do x = x + c1; x = x + c2 end
      return x
    end },
  { "add_int", 2000000, function(n)
      local x = dec("100")
      for _ = 1, n / 2 do x = x + 1; x = x - 1 end
      return x
    end },
  { "mul", 2000000, function(n)
      local x, c1, c2 = dec("100"), dec("1.00000001"), dec("0.99999999")
      for _ = 1, n / 2 do x = x * c1; x = x * c2 end
      return x
    end },
  { "div", 2000000, function(n)
      local x, c1, c2 = dec("100"), dec("1.00000001"), dec("0.99999999")
      for _ = 1, n / 2 do x = x / c1; x = x / c2 end
      return x
    end },
  { "quantize", 1000000, function(n)
      local x, d1, d2 = dec("100"), dec("1.23456789"), dec("-1.22456789")
      for _ = 1, n / 2 do x = (x + d1):quantize(2); x = (x + d2):quantize(2) end
      return x
    end },
  { "float_add", 20000000, function(n)
      local x = 100.0
      for _ = 1, n / 2 do x = x + 1.23456789; x = x - 1.23456789 end
      return x
    end },
}

for _, b in ipairs(benches) do
  io.write(string.format("%-14s %8.2f ns/op\n", b[1], median(b[3], b[2])))
end
