-- dec_test.lua: the btlua.dec Lua type: construction, exact arithmetic and
-- comparison metamethods, methods, and the exact error messages.
local t = require "tap"
local btlua = require "btlua"
local dec = btlua.dec
local luajit = btlua.lua_flavour:match("^LuaJIT") ~= nil

-- The message of the error fn raises, without the "chunk:line: " prefix.
local function err(fn, ...)
  local ok, msg = pcall(fn, ...)
  if ok then return "no error" end
  return (tostring(msg):gsub("^[^:]*:%d+: ", ""))
end

t.ok(dec == btlua.core.dec, "btlua.dec is core.dec")
t.is(tostring(dec("123.45")), "123.45", "text")
t.is(tostring(dec(12)), "12", "integer")
t.is(tostring(dec("-0")), "0", "-0 prints 0")
t.is(tostring(dec("1.5e-3")), "0.0015", "exponent")
t.is(tostring(dec("2.50000000")), "2.5", "canonical text")
t.is(tostring(dec("0.123456785", "half_even")), "0.12345678",
  "rounding mode for text with more than 8 places")
t.is(tostring(dec(-92233720368)), "-92233720368", "largest integer")
local same = dec("7")
t.ok(rawequal(dec(same), same), "dec(d) returns d")
t.ok(dec.is(same) and not dec.is(7) and not dec.is("7"), "dec.is")

t.is(err(dec, 0.5), "btlua.dec: 0.5 is a float; use btlua.dec.from_float(x) or decimal text",
  "a float is refused")
t.is(err(dec, "abc"), "invalid decimal 'abc'", "bad text")
t.is(err(dec, "1.2.3"), "invalid decimal '1.2.3'", "bad text names the text")
t.is(err(dec, "0.123456789"),
  "decimal '0.123456789' has more than 8 places; give a rounding mode: dec(text, \"half_even\")",
  "too many places")
t.is(err(dec, "1e20"), "decimal overflow in dec('1e20')", "overflowing text")
t.is(err(dec, 92233720369), "decimal overflow in dec(92233720369)", "overflowing integer")
t.is(err(dec, {}), "btlua.dec: decimal text or integer expected, got table", "a table")
t.is(err(dec, "1", "nearest"),
  "unknown rounding mode 'nearest' (half_even, half_up, down, up, floor, ceiling)",
  "unknown mode")

local parsed, msg = dec.parse("12x")
t.is(parsed, nil, "dec.parse returns nil for bad text")
t.is(msg, "invalid decimal: '12x'", "and a message")
t.is(tostring(dec.parse("12.25")), "12.25", "dec.parse")
t.is(select(2, dec.parse("1e30")), "decimal overflow: '1e30'", "dec.parse overflow")

-- Arithmetic.
t.ok(dec("0.1") + dec("0.2") == dec("0.3"), "0.1 + 0.2 == 0.3")
t.is(tostring(dec("1.5") * dec("2.25")), "3.375", "mul")
t.is(tostring(dec(1) / 3), "0.33333333", "div rounds half-even")
t.is(tostring(dec(2) / 3), "0.66666667", "div rounds up")
t.is(tostring(dec("0.00000001") / 2), "0", "tie to even")
t.is(tostring(dec(10) - 3), "7", "sub with integer")
t.is(tostring(1 + dec("2.5")), "3.5", "integer + dec")
t.is(tostring(dec("2.5") + "0.25"), "2.75", "dec + decimal text")
t.is(tostring(dec(7) % 3), "1", "mod")
t.is(tostring(dec(-7) % 3), "2", "mod floors like Lua")
t.is(tostring(dec(7) % -3), "-2", "mod takes the sign of the divisor")
t.is(tostring(dec("7.5") % 2), "1.5", "fractional mod")
t.is(tostring(-dec("2.5")), "-2.5", "unary minus")
t.is("price " .. dec("1.50"), "price 1.5", "concat")
t.is(dec("1.50") .. "!", "1.5!", "concat after")

t.is(err(function() return dec("92233720368") * 2 end),
  "decimal overflow in 92233720368 * 2", "mul overflow message")
t.is(err(function() return dec(1) / 0 end), "division by zero in 1 / 0", "div by zero message")
t.is(err(function() return dec(1) % dec(0) end), "division by zero in 1 % 0", "mod by zero")
t.is(err(function() return dec("92233720368.54775807") + dec("0.00000001") end),
  "decimal overflow in 92233720368.54775807 + 0.00000001", "add overflow at the top")
t.is(err(function() return dec("-92233720368.54775808") - 1 end),
  "decimal overflow in -92233720368.54775808 - 1", "sub overflow at the bottom")
t.is(err(function() return -dec("-92233720368.54775808") end),
  "decimal overflow in -(-92233720368.54775808)", "negation overflow")
t.is(err(function() return dec(1) + 0.5 end),
  "decimal arithmetic on a float (use btlua.dec.from_float) in 1 + 0.5", "float operand")
t.is(err(function() return dec(1) + {} end), "decimal arithmetic on table in 1 + table",
  "table operand")
t.is(err(function() return dec(1) * "x" end), "decimal arithmetic on not decimal text in 1 * 'x'",
  "bad text operand")
t.is(err(function() return 2 * dec("92233720368") end),
  "decimal overflow in 2 * 92233720368", "overflow names operands in order")

if not luajit then -- no // operator in Lua 5.1
  local idiv = load("local a, b = ... return a // b")
  t.is(tostring(idiv(dec("7.5"), 2)), "3", "floor division")
  t.is(tostring(idiv(dec("-7.5"), 2)), "-4", "floor division floors")
  t.is(tostring(idiv(dec("0.3"), dec("0.1"))), "3", "exact floor division")
  t.is(err(idiv, dec(1), 0), "division by zero in 1 // 0", "floor division by zero")
end

-- Comparison.
t.ok(dec(3) < dec(4) and dec(4) <= dec(4) and not (dec(5) < dec(4)), "dec < dec")
t.ok(dec(3) ~= dec(4) and dec("1.0") == dec(1), "equality by value")
t.ok(dec(3) ~= 3, "a dec never equals a number (Lua __eq rule)")
if not luajit then
  t.ok(dec(3) < 4 and 2 < dec(3) and dec(3) <= 3, "mixed comparison with integers")
  t.is(err(function() return dec(3) < 3.5 end),
    "decimal comparison with a float (use btlua.dec.from_float) in 3 < 3.5", "float comparison")
else
  t.ok(dec(3) < dec(4), "LuaJIT compares a Dec with a Dec only")
  t.like(err(function() return dec(3) < 4 end), "attempt to compare", "LuaJIT refuses mixed <")
end

-- Methods.
local modes = { "half_even", "half_up", "down", "up", "floor", "ceiling" }
local want = {
  ["2.5"] = { "2", "3", "2", "3", "2", "3" },
  ["-2.5"] = { "-2", "-3", "-2", "-3", "-3", "-2" },
  ["-2.51"] = { "-3", "-3", "-2", "-3", "-3", "-2" },
}
for text, results in pairs(want) do
  for i, mode in ipairs(modes) do
    t.is(tostring(dec(text):quantize(0, mode)), results[i], "quantize(" .. text .. ", 0, " .. mode .. ")")
  end
end
t.is(tostring(dec("2.675"):quantize(2)), "2.68", "quantize defaults to half_even")
t.is(err(function() return dec("92233720368.5"):quantize(0, "up") end),
  "decimal overflow in quantize(92233720368.5, 0, up)", "quantize overflow")
t.like(err(function() return dec(1):quantize(9) end), "places must be an integer from 0 to 8", "places range")
t.is(dec("1.25"):tonumber(), 1.25, "tonumber")
t.is(dec("0.1"):tonumber(), 0.1, "tonumber is the nearest float")
t.is(dec("1.25"):raw(), 125000000, "raw")
t.is(tostring(dec.from_raw(125000000)), "1.25", "from_raw")
t.is(dec("-1.255"):format(2), "-1.26", "format(places) half-even")
t.is(dec("-0.001"):format(2), "0.00", "format never prints -0")
t.is(tostring(dec(2):sqrt()), "1.41421356", "sqrt")
t.is(tostring(dec.sqrt("0.0004")), "0.02", "dec.sqrt of text")
t.is(err(function() return dec(-1):sqrt() end), "square root of negative decimal -1", "sqrt of negative")
t.is(tostring(dec("-3.5"):abs()), "3.5", "abs")
t.is(tostring(dec.min(dec(3), "2.5")), "2.5", "min")
t.is(tostring(dec.max(1, dec(3))), "3", "max")
t.is(tostring(dec.from_float(0.1)), "0.1", "from_float(0.1)")
t.is(tostring(dec.from_float(-2.675)), "-2.675", "from_float(-2.675)")
t.is(tostring(dec.from_float(1.5e-9)), "0", "from_float tiny rounds half-even")
t.is(err(dec.from_float, 1e300), "decimal overflow in dec.from_float(1e+300)", "from_float overflow")
t.is(err(dec.from_float, 0 / 0):gsub("%-", ""), "not a number in dec.from_float(nan)",
  "from_float NaN")

if luajit then
  t.like(err(function() return dec.from_raw(2 ^ 60) end),
    "integer expected %(within 2%^53 on LuaJIT%)",
    "LuaJIT: raw values beyond 2^53 are refused")
  t.like(err(function() return dec("92233720368"):raw() end), "does not fit a LuaJIT number exactly",
    "LuaJIT: :raw() refuses to lose digits")
else
  t.is(dec("92233720368.54775807"):raw(), math.maxinteger, "raw of MAX")
  t.is(tostring(dec.from_raw(math.mininteger)), "-92233720368.54775808", "from_raw(mininteger)")
end

t.done_testing()
