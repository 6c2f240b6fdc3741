-- store_test.lua: core.store from Lua: calendars, time text, the
-- synthetic-data cache, btlua.Bundle methods, damaged bundles refused.
local t = require "tap"
local lib = require "testlib"
local store = require("btlua.core").store

-- Calendars ---------------------------------------------------------------
t.is(store.sessions("XNYS", "daily", "2023-01-01", "2023-12-31"), 250,
  "XNYS 2023: 250 sessions")
t.is(store.sessions("XNYS", "daily", "2024-01-01", "2024-12-31"), 252,
  "XNYS 2024: 252 sessions")
local count, first, last = store.sessions("24/7", "minute", "2024-01-01",
  "2024-01-31")
t.is(count, 44640, "24/7 minutes in January 2024")
t.is(store.format_time(first), "2024-01-01T00:00:00Z", "first minute")
t.is(store.format_time(last), "2024-01-31T23:59:00Z", "last minute")
local _, before = store.sessions("XNYS", "minute", "2024-03-08", "2024-03-08")
local _, after = store.sessions("XNYS", "minute", "2024-03-11", "2024-03-11")
t.is(store.format_time(before), "2024-03-08T14:30:00Z", "EST open in UTC")
t.is(store.format_time(after), "2024-03-11T13:30:00Z", "EDT open in UTC")
local none, msg = store.sessions("XLON", "daily", "2024-01-01", "2024-01-02")
t.is(none, nil, "unknown calendar: nil")
t.is(msg, "unknown calendar 'XLON' (expected 24/7, weekdays or XNYS)",
  "unknown calendar: message")
t.is(store.parse_time("2024-01-02T09:30:00-05:00"), 1704205800 * 1000000000,
  "parse_time with an offset")
t.is(store.parse_time("1704205800000"), 1704205800 * 1000000000,
  "parse_time epoch ms")
t.is(select(2, store.parse_time("soon")), "not a time 'soon'",
  "parse_time refuses text")

-- Synthetic data and its cache ---------------------------------------------
local dir = lib.tmpdir()
local script = dir .. "/synth.lua"
lib.write(script, [[
local store = require("btlua.core").store
local path, generated = store.synthetic{ assets = 3, frequency = "hourly",
  start = "2024-01-01", ["end"] = "2024-01-31", seed = 7 }
print(path, generated)
]])
local cache = dir .. "/cache/deep"
local run = "BTLUA_CACHE=" .. lib.quote(cache) .. " " .. lib.quote(lib.btlua)
  .. " " .. lib.quote(script)
local status, out = lib.sh(run)
local want_path = cache .. "/synth-v1-b2-3a-hourly-2024-01-01-2024-01-31-XNYS-s7-equity.btb"
t.is(status, 0, "synthetic runs")
t.is(out, want_path .. "\ttrue\n", "first call generates, named by parameters")
local bytes = lib.read(want_path)
status, out = lib.sh(run)
t.is(out, want_path .. "\tfalse\n", "second call reuses the cached bundle")
t.ok(lib.read(want_path) == bytes, "cached file unchanged")
local _, listing = lib.sh("ls " .. lib.quote(cache))
t.is(listing, "synth-v1-b2-3a-hourly-2024-01-01-2024-01-31-XNYS-s7-equity.btb\n",
  "no temp files left in the cache")

local a_path, b_path, c_path = dir .. "/a.btb", dir .. "/b.btb", dir .. "/c.btb"
local params = { assets = 4, frequency = "daily", start = "2023-01-01",
  ["end"] = "2023-12-31", seed = 11, calendar = "weekdays" }
t.ok(store.synth_write(params, a_path), "synth_write")
t.ok(store.synth_write(params, b_path), "synth_write again")
params.seed = 12
t.ok(store.synth_write(params, c_path), "synth_write another seed")
t.ok(lib.read(a_path) == lib.read(b_path), "same parameters: same bytes")
t.ok(lib.read(a_path) ~= lib.read(c_path), "another seed: other bytes")
local bad, bad_msg = store.synthetic{ assets = 2, start = "2024-01-01" }
t.is(bad, nil, "missing end: nil")
t.is(bad_msg, 'synthetic: end: missing (a date such as "2024-01-31")',
  "missing end: message")
bad, bad_msg = store.synthetic{ assets = 2, start = "2024-01-01",
  ["end"] = "2024-02-01", frequency = "weekly" }
t.is(bad_msg, "synthetic: unknown frequency 'weekly' (expected daily, hourly, "
  .. "minute, Nmin, Nh or Ns)", "bad frequency: message")

-- Bundle methods -----------------------------------------------------------
local bundle = assert(store.open(a_path))
t.is(bundle:asset_count(), 4, "asset_count")
t.is(bundle:session_count(), 260, "weekdays 2023: 260 sessions")
t.is_deeply(bundle:symbols(), { "SYN000", "SYN001", "SYN002", "SYN003" },
  "symbols")
t.is(bundle:frequency(), "daily", "frequency")
t.is(bundle:calendar(), "weekdays", "calendar")
t.is(bundle:path(), a_path, "path")
t.is(store.format_time(bundle:session_time(1)), "2023-01-02T00:00:00Z",
  "session_time(1)")
t.is(bundle:asset_index("SYN002"), 3, "asset_index")
t.is(bundle:session_index(bundle:session_time(3) + 1), 3, "session_index")
t.is(bundle:session_index(0), 0, "session_index before the first session")
t.is(bundle:asset_index("NOPE"), nil, "asset_index of an absent symbol")
t.is_deeply(bundle:asset("SYN001"), { index = 2, symbol = "SYN001",
  asset_class = "equity", price_places = 2, bars = 260 }, "asset info")
local o, h, l, c, v = bundle:bar(1, 1)
t.ok(o and h and l and c and v, "bar returns five values")
t.like(c, "^%d+%.?%d?%d?$", "close is whole cents text")
local o2 = bundle:bar("SYN000", 2)
t.is(o2, c, "open of bar 2 is the close of bar 1 (exact text)")
t.ok(bundle:verify(), "verify")
t.is(select(2, bundle:aggregate("hourly", dir .. "/agg.btb")), a_path
  .. ": cannot aggregate daily bars to 'hourly' (a multiple that divides a "
  .. "day, or daily)", "aggregate to a finer frequency refused")
t.ok(bundle:aggregate("daily", dir .. "/agg.btb"), "aggregate daily -> daily")
t.ok(lib.read(dir .. "/agg.btb") == lib.read(a_path),
  "aggregating to the same frequency reproduces the bundle byte for byte")
t.like(tostring(bundle), "^btlua%.Bundle %(.*a%.btb: 4 assets, 260 daily sessions%)$",
  "tostring")
t.error_like(function() bundle:bar(5, 1) end, "asset index 5 out of range 1..4",
  "bad asset index raises")
t.error_like(function() bundle:session_time(0) end,
  "session index 0 out of range 1..260", "bad session index raises")
bundle:close()
t.error_like(function() bundle:asset_count() end, "bundle is closed",
  "closed bundle raises")
bundle:close() -- closing twice is harmless

-- Damaged bundles ----------------------------------------------------------
local good = lib.read(a_path)
local damaged = dir .. "/damaged.btb"
local flip_at = #good - 100
lib.write(damaged, good:sub(1, flip_at - 1)
  .. string.char((good:byte(flip_at) + 1) % 256) .. good:sub(flip_at + 1))
local refused, why = store.open(damaged)
t.is(refused, nil, "flipped column byte: refused")
t.is(why, damaged .. ": corrupt bundle (data checksum mismatch)",
  "flipped column byte: message")
local unverified = assert(store.open(damaged, { verify = false }))
t.is(select(2, unverified:verify()),
  damaged .. ": corrupt bundle (data checksum mismatch)",
  "open{verify=false} then :verify() finds it")
unverified:close()
lib.write(damaged, good:sub(1, 1000))
t.is(select(2, store.open(damaged)), damaged
  .. ": truncated or damaged bundle (1000 bytes, header says " .. #good .. ")",
  "cut file refused")
lib.write(damaged, good:sub(1, 8) .. "\7" .. good:sub(10))
t.is(select(2, store.open(damaged)), damaged .. ": bundle format version 7, "
  .. "this btlua reads version 2 (re-create it)", "wrong version refused")
lib.write(damaged, "timestamp,open\n")
t.is(select(2, store.open(damaged)), damaged
  .. ": not a btlua bundle (only 15 bytes)", "a CSV is not a bundle")
t.is(select(2, store.open(dir .. "/absent.btb")), dir
  .. "/absent.btb: cannot open bundle: No such file or directory",
  "absent file")

os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
