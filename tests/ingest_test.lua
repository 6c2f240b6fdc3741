-- ingest_test.lua: CSV -> bundle round trips (per-asset and long files, ISO
-- and epoch-ms times), every validation rule's exact message with exit
-- status 2 and nothing written, skip mode, alignment, frequency inference.
local t = require "tap"
local lib = require "testlib"
local store = require("btlua.core").store

local dir = lib.tmpdir()

local function ingest(args)
  return lib.run({ "ingest", (table.unpack or unpack)(args) })
end

local function listing(path)
  local _, out = lib.sh("ls -A " .. lib.quote(path))
  return out
end

local function bars(path, asset)
  local bundle = assert(store.open(path))
  local rows = {}
  for i = 1, bundle:session_count() do
    local o, h, l, c, v = bundle:bar(asset, i)
    rows[i] = o and table.concat({ store.format_time(bundle:session_time(i)),
      o, h, l, c, v }, ",") or store.format_time(bundle:session_time(i))
        .. ",missing"
  end
  bundle:close()
  return rows
end

-- Round trip: per-asset files, ISO dates, exact decimals --------------------
local per = dir .. "/per"
os.execute("mkdir -p " .. lib.quote(per))
lib.write(per .. "/AAPL.csv", "\239\187\191Date,Open,High,Low,Close,Adj Close,Volume\r\n"
  .. "2024-01-02,123.45678901,130,120.5,125,1,1000\r\n"
  .. "2024-01-03,125,126.00000001,124,125.5,1,\"2000\"\r\n"
  .. "\r\n"
  .. "2024-01-05,125.5,125.5,125.5,125.5,1,0\r\n")
lib.write(per .. "/MSFT.csv", "date,open,high,low,close,volume\n"
  .. "2024-01-03,370.1,371,369.99,370.5,12.5\n"
  .. "2024-01-04,370.5,372,370,371.75,7\n")
local status, out, err = ingest({ per, "--out", dir .. "/per.btb" })
t.is(status, 0, "per-asset ingest exits 0")
t.is(err, "", "no error output")
t.is(out, "wrote " .. dir .. "/per.btb: 2 assets, 4 daily sessions, 5 rows "
  .. "from 2 files (0.0 MB)\n", "summary line")
t.is_deeply(bars(dir .. "/per.btb", "AAPL"), {
  "2024-01-02T00:00:00Z,123.45678901,130,120.5,125,1000",
  "2024-01-03T00:00:00Z,125,126.00000001,124,125.5,2000",
  "2024-01-04T00:00:00Z,missing",
  "2024-01-05T00:00:00Z,125.5,125.5,125.5,125.5,0",
}, "AAPL: every value exact, CRLF/BOM/quotes/extra columns handled, "
  .. "missing bar on the union")
t.is_deeply(bars(dir .. "/per.btb", "MSFT"), {
  "2024-01-02T00:00:00Z,missing",
  "2024-01-03T00:00:00Z,370.1,371,369.99,370.5,12.5",
  "2024-01-04T00:00:00Z,370.5,372,370,371.75,7",
  "2024-01-05T00:00:00Z,missing",
}, "MSFT aligned on the union of sessions")
local bundle = assert(store.open(dir .. "/per.btb"))
t.is(bundle:asset("AAPL").price_places, 8, "price places from the data")
t.is(bundle:asset("MSFT").price_places, 2, "price places of MSFT")
t.is(bundle:calendar(), "", "no calendar: sessions from the data")
bundle:close()

-- Round trip: one long file, epoch milliseconds, hourly --------------------
lib.write(dir .. "/long.csv", "TIMESTAMP,Symbol,Open,High,Low,Close,Volume\n"
  .. "1704067200000,BTC/USDT,42283.58,42554.57,42261.02,42475.23,1271.68108\n"
  .. "1704067200000,ETH/USDT,2281.87,2297.18,2281.27,2295.51,10771.98\n"
  .. "1704070800000,BTC/USDT,42475.23,42775,42431.65,42613.56,1196.37856\n"
  .. "1704070800000,ETH/USDT,2295.51,2316.7,2292.7,2303.72,9797.0381\n"
  .. "1704074400000,BTC/USDT,42613.57,42638.41,42500.75,42581.1,764.94565\n")
local stats = assert(store.ingest(dir .. "/long.csv", dir .. "/long.btb",
  { asset_class = "crypto" }))
t.is_deeply({ stats.rows, stats.skipped, stats.assets, stats.sessions,
  stats.frequency }, { 5, 0, 2, 3, "hourly" }, "long file stats")
t.is_deeply(bars(dir .. "/long.btb", "BTC/USDT"), {
  "2024-01-01T00:00:00Z,42283.58,42554.57,42261.02,42475.23,1271.68108",
  "2024-01-01T01:00:00Z,42475.23,42775,42431.65,42613.56,1196.37856",
  "2024-01-01T02:00:00Z,42613.57,42638.41,42500.75,42581.1,764.94565",
}, "BTC/USDT from epoch ms")
t.is_deeply(bars(dir .. "/long.btb", "ETH/USDT")[3],
  "2024-01-01T02:00:00Z,missing", "ETH has no third bar")
bundle = assert(store.open(dir .. "/long.btb"))
t.is(bundle:asset(1).asset_class, "crypto", "asset class option")
t.is(bundle:frequency(), "hourly", "hourly inferred")
bundle:close()

-- Frequency inference and options ------------------------------------------
lib.write(dir .. "/five.csv", "datetime,open,high,low,close\n"
  .. "2024-01-02T14:30:00Z,1,1,1,1\n2024-01-02T14:35:00Z,1,1,1,1\n"
  .. "2024-01-02T14:50:00Z,1,1,1,1\n")
stats = assert(store.ingest(dir .. "/five.csv", dir .. "/five.btb"))
t.is(stats.frequency, "5min", "5-minute spacing inferred (gaps allowed)")
stats = assert(store.ingest(dir .. "/five.csv", dir .. "/five.btb",
  { frequency = "minute" }))
t.is(stats.frequency, "minute", "frequency option wins")
t.is(bars(dir .. "/five.btb", "five")[1], "2024-01-02T14:30:00Z,1,1,1,1,0",
  "no volume column: volume 0")

-- Separate date and time columns -------------------------------------------
lib.write(dir .. "/DT.csv", "Date,Time,Open,High,Low,Close,Volume\n"
  .. "2024-01-02,09:30,10,11,9,10.5,5\n"
  .. "2024-01-02,09:31:00-05:00,10.5,11,9,10,6\n")
stats = assert(store.ingest(dir .. "/DT.csv", dir .. "/dt.btb"))
t.is_deeply(bars(dir .. "/dt.btb", "DT"), {
  "2024-01-02T09:30:00Z,10,11,9,10.5,5",
  "2024-01-02T14:31:00Z,10.5,11,9,10,6",
}, "date + time columns joined (UTC unless the time has an offset)")

-- A calendar: daily dates become XNYS sessions at the open ----------------
lib.write(dir .. "/SPY.csv", "date,open,high,low,close,volume\n"
  .. "2024-03-08,510,512,509,511,100\n2024-03-11,511,513,510,512,200\n")
stats = assert(store.ingest(dir .. "/SPY.csv", dir .. "/spy.btb",
  { calendar = "XNYS" }))
t.is_deeply(bars(dir .. "/spy.btb", "SPY"), {
  "2024-03-08T14:30:00Z,510,512,509,511,100",
  "2024-03-11T13:30:00Z,511,513,510,512,200",
}, "daily rows mapped to XNYS sessions (across a DST change)")
lib.write(dir .. "/SPY.csv", "date,open,high,low,close,volume\n"
  .. "2024-03-08,510,512,509,511,100\n2024-03-09,511,513,510,512,200\n")
local none, why = store.ingest(dir .. "/SPY.csv", dir .. "/spy2.btb",
  { calendar = "XNYS" })
t.is(why, dir .. "/SPY.csv:3: timestamp: not a daily session of XNYS "
  .. "(2024-03-09T00:00:00Z)", "a Saturday is not an XNYS session")

-- Validation: exact messages, exit 2, nothing written ----------------------
local header = "timestamp,open,high,low,close,volume\n"
local good_row = "2024-01-02,10,11,9,10.5,100\n"
local cases = {
  { "low above the body", "2024-01-03,10,11,10.2,10.5,100\n",
    "low: 10.2 above min(open, close) 10" },
  { "high below the body", "2024-01-03,10,10.4,9,10.5,100\n",
    "high: 10.4 below max(open, close) 10.5" },
  { "zero price", "2024-01-03,0,11,9,10.5,100\n", "open: not positive (0)" },
  { "negative close", "2024-01-03,10,11,9,-1,100\n",
    "close: not positive (-1)" },
  { "negative volume", "2024-01-03,10,11,9,10.5,-5\n",
    "volume: negative (-5)" },
  { "repeated timestamp", "2024-01-02,10,11,9,10.5,100\n",
    "timestamp: not after the previous bad row (2024-01-02T00:00:00Z)" },
  { "earlier timestamp", "2024-01-01,10,11,9,10.5,100\n",
    "timestamp: not after the previous bad row (2024-01-02T00:00:00Z)" },
  { "not a number", "2024-01-03,10,abc,9,10.5,100\n",
    "high: not a decimal number 'abc'" },
  { "too many places", "2024-01-03,10,11,9,10.123456789,100\n",
    "close: more than 8 decimal places '10.123456789'" },
  { "out of range", "2024-01-03,10,11,9,1e30,100\n",
    "close: out of range '1e30'" },
  { "bad timestamp", "2024-13-03,10,11,9,10.5,100\n",
    "timestamp: not a date/time '2024-13-03'" },
  { "missing field", "2024-01-03,10,11,9\n", "close: missing" },
  { "empty field", "2024-01-03,10,11,,10.5,1\n", "low: missing" },
  { "unterminated quote", "2024-01-03,\"10,11,9,10.5,1\n",
    "text: unterminated quoted field" },
}
for _, case in ipairs(cases) do
  local name, bad_row, reason = case[1], case[2], case[3]
  local case_dir = lib.tmpdir()
  local csv = case_dir .. "/bad.csv"
  lib.write(csv, header .. good_row .. bad_row .. good_row:gsub("01%-02", "01-09"))
  local code, stdout, stderr = ingest({ csv, "--out", case_dir .. "/out.btb" })
  t.is(code, 2, name .. ": exit status 2")
  t.is(stderr, csv .. ":3: " .. reason .. "\n", name .. ": message")
  t.is(listing(case_dir), "bad.csv\n", name .. ": nothing written")
  t.is(stdout, "", name .. ": nothing on stdout")
  os.execute("rm -rf " .. lib.quote(case_dir))
end

local function refused(text, want, name)
  local csv = dir .. "/refused.csv"
  lib.write(csv, text)
  local code, _, stderr = ingest({ csv, "--out", dir .. "/refused.btb" })
  t.is(code, 2, name .. ": exit status 2")
  t.is(stderr, csv .. ":" .. want .. "\n", name .. ": message")
  t.ok(not lib.exists(dir .. "/refused.btb"), name .. ": nothing written")
end
refused("date,open,high,low\n2024-01-02,1,1,1\n",
  "1: header: no 'close' column", "missing close column")
refused("day,open,high,low,close\n2024-01-02,1,1,1,1\n",
  "1: header: no 'timestamp' column (timestamp, datetime, date or time)",
  "missing time column")
refused(header .. good_row .. "2024-01-03,1\0,1,1,1,1\n",
  "3: text: NUL byte in the file", "NUL byte")
refused(header .. good_row .. "2024-01-03,1,1,1,1,1 \233t\233\n",
  "3: text: not valid UTF-8 (convert the file to UTF-8)", "Latin-1 text")
refused("", "1: header: empty file", "empty file")

-- Skip mode ---------------------------------------------------------------
local skip_csv = dir .. "/SKIP.csv"
lib.write(skip_csv, header .. good_row
  .. "2024-01-03,10,11,10.2,10.5,100\n"
  .. "2024-01-04,10,11,9,10.5,100\n"
  .. "2024-01-04,10,11,9,10.5,100\n"
  .. "2024-01-05,x,11,9,10.5,100\n")
status, out, err = ingest({ skip_csv, "--out", dir .. "/skip.btb",
  "--on-bad-row", "skip" })
t.is(status, 0, "skip: exit 0")
t.is(out, "wrote " .. dir .. "/skip.btb: 1 assets, 2 daily sessions, 2 rows "
  .. "from 1 file (0.0 MB), 3 bad rows skipped\n"
  .. "  skipped " .. skip_csv .. ":3: low: 10.2 above min(open, close) 10\n"
  .. "  skipped " .. skip_csv .. ":5: timestamp: not after the previous SKIP "
  .. "row (2024-01-04T00:00:00Z)\n"
  .. "  skipped " .. skip_csv .. ":6: open: not a decimal number 'x'\n",
  "skip: counts and lists the skipped rows")
stats = assert(store.ingest(skip_csv, dir .. "/skip.btb",
  { on_bad_row = "skip" }))
t.is(stats.skipped, 3, "skip: stats.skipped")
t.is(stats.rows, 2, "skip: stats.rows")
t.is(#stats.messages, 3, "skip: stats.messages")

-- Command line -------------------------------------------------------------
status, _, err = ingest({ skip_csv })
t.is(status, 2, "missing --out: exit 2")
t.like(err, "missing option '%-%-out'", "missing --out: message")
status, _, err = ingest({ skip_csv, "--out", dir .. "/x.btb", "--on-bad-row",
  "maybe" })
t.is(status, 2, "bad --on-bad-row: exit 2")
status, _, err = ingest({ dir .. "/absent", "--out", dir .. "/x.btb" })
t.is(err, dir .. "/absent: cannot open: No such file or directory\n",
  "absent source")
status, out = ingest({ per, "--out", dir .. "/v.btb", "--verify", "-q" })
t.is(status, 0, "--verify --quiet: exit 0")
t.is(out, "", "--quiet prints nothing")

-- The ingest cache (used for `--data CSV_DIR`) ---------------------------
local cache_script = dir .. "/cached.lua"
lib.write(cache_script, [[
local store = require("btlua.core").store
local path, fresh = store.ingest_cached(...)
print(path ~= nil and path:match("[^/]+$") or path, fresh)
]])
local function cached(src)
  local _, text = lib.sh("BTLUA_CACHE=" .. lib.quote(dir .. "/cache") .. " "
    .. lib.quote(lib.btlua) .. " " .. lib.quote(cache_script) .. " "
    .. lib.quote(src))
  return text
end
local first_name = cached(per)
t.like(first_name, "^ingest%-per%-%x+%.btb\ttrue\n$", "first use ingests")
t.is(cached(per), (first_name:gsub("true", "false")), "second use reuses it")
lib.write(per .. "/MSFT.csv", "date,open,high,low,close,volume\n"
  .. "2024-01-03,370.1,371,369.99,370.5,12.5\n")
t.like(cached(per), "\ttrue\n$", "a changed input file is ingested again")
t.is(cached(dir .. "/absent"), "nil\t" .. dir
  .. "/absent: cannot open: No such file or directory\n", "absent input")

-- Symbols are never cut: two files whose names share the first 47 bytes
-- would have become one asset.
local long = dir .. "/long"
os.execute("mkdir -p " .. lib.quote(long))
local stem = string.rep("S", 47)
for _, tail in ipairs { "A", "B" } do
  lib.write(long .. "/" .. stem .. tail .. ".csv",
    "date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n")
end
local status_long, _, err_long = lib.run({ "ingest", long, "--out",
  dir .. "/long.btb" })
t.is(status_long, 2, "a symbol longer than 47 bytes: exit 2")
t.like(err_long, stem .. "A%.csv: the symbol %(the file name without %.csv%) "
  .. "is longer than 47 bytes", "names the file and the limit")

os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
