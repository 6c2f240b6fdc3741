-- history_panel_test.lua: data:history(assets, field, n) for several
-- assets at once (zipline's data.history(assets, field, n)): a view per
-- asset over the bundle (no copy), by position and by symbol.
local t = require "tap"
local testlib = require "testlib"
local core = require "btlua.core"
local backtest = require "btlua.backtest"

local bundle = testlib.bundle({
  "AAA,2024-01-01,10,11,9,10,1000",
  "BBB,2024-01-01,100,100,100,100,10",
  "AAA,2024-01-02,10.5,12,10,11,1000",
  "AAA,2024-01-03,11,13,11,12,1000",
  "BBB,2024-01-03,101,102,99,101.25,10",
  "AAA,2024-01-04,12,12,9,9.5,1000",
})

local seen = {}
backtest.run { bundle = bundle, capital = "10000", strategy = {
  handle_data = function(ctx, data)
    if data.bar == 3 then
      local h = data:history(ctx.assets, "close", 3)
      seen.lens = { #h, #h[1], #h[2] }
      seen.aaa = { h[1][1], h[1][2], h[1][3] }
      seen.bbb = { h.BBB[1], h.BBB[2] ~= h.BBB[2], h.BBB[3] }
      seen.same = h.AAA == h[1]
      seen.dec = tostring(h[2]:dec(3))
      local v = data:history({ 2, "AAA" }, "volume", 10)
      seen.mixed = { #v[1], v[1][1], v[2][3], v.AAA == v[2] }
    end
    if data.bar == 4 then
      seen.bad = { pcall(data.history, data, { 1, "ZZZ" }, "close", 2) }
    end
  end } }
t.is_deeply(seen.lens, { 2, 3, 3 }, "two views of 3 bars")
t.is_deeply(seen.aaa, { 10, 11, 12 }, "AAA closes, oldest first")
t.is(seen.bbb[1], 100, "BBB bar 1")
t.is(seen.bbb[2], true, "BBB bar 2 is missing: NaN, never invented")
t.is(seen.bbb[3], 101.25, "BBB bar 3")
t.is(seen.same, true, "h.AAA and h[1] are the same view")
t.is(seen.dec, "101.25", "view:dec exact")
t.is_deeply(seen.mixed, { 3, 10, 1000, true },
  "indices and symbols mixed; n clipped to the bars so far")
t.is(seen.bad[1], false, "an unknown symbol raises")
t.like(tostring(seen.bad[2]), "no asset 'ZZZ'", "naming it")
t.done_testing()
