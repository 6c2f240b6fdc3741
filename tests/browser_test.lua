-- browser_test.lua: index.html in a real browser (headless Chromium driven
-- over the DevTools protocol by tests/browser/cdp.js, Node built-ins only),
-- with JavaScript off and on: no console message, no exception, no request
-- but the page itself, one equity point per bar, flame frames with visible
-- labels, a screenshot that is not blank; with JavaScript, click-to-zoom.
-- Skips (saying what to install) where chromium or node is missing.
local t = require "tap"
local lib = require "testlib"
local cjson = require "cjson"

local function found(command)
  return lib.sh("command -v " .. command) == 0
end
local chromium = os.getenv("BTLUA_CHROMIUM") or "chromium"
if not found(chromium) or not found("node") then
  io.write("1..0 # SKIP needs chromium and node: apt-get install -y chromium "
    .. "nodejs (.ci/run installs them)\n")
  os.exit(0)
end
if lib.sh(lib.quote(chromium) .. " --headless --no-sandbox --version") ~= 0 then
  io.write("1..0 # SKIP chromium is installed but cannot start here (try "
    .. "`chromium --headless --no-sandbox --version`)\n")
  os.exit(0)
end

local dir = lib.tmpdir()
local status = lib.run { "run", "--scenario", "minute", "--scenario", "daily",
  "--set", "data.synthetic.assets=2",
  "--set", "data.synthetic.end=2024-01-03",
  "--output-dir", dir, "-q" }
t.is(status, 0, "a small run of minute and daily")
local page = dir .. "/index.html"
t.ok(lib.exists(page), "index.html written")

local function bars(name)
  local text = lib.read(dir .. "/" .. name .. "_equity.csv") or ""
  return select(2, text:gsub("\n", "")) - 1
end

local function load(js)
  local words = { "node", lib.top .. "/tests/browser/cdp.js",
    "file://" .. page, "--js", js, "--chromium", chromium,
    "--screenshot", dir .. "/shot-" .. js .. ".png" }
  for i, word in ipairs(words) do words[i] = lib.quote(word) end
  local code, out, err = lib.sh(table.concat(words, " "))
  local ok, report = pcall(cjson.decode, out or "")
  if code ~= 0 or not ok then
    t.diag("cdp.js: " .. tostring(out) .. tostring(err))
    return nil
  end
  return report
end

local minute_bars = bars("minute")
t.is(minute_bars, 4320, "minute: 3 days of minute bars (the end day included)")
for _, js in ipairs({ "off", "on" }) do
  local report = load(js)
  t.ok(report and not report.error, "JavaScript " .. js .. ": page loaded ("
    .. tostring(report and report.error) .. ")")
  report = report or { checks = {}, screenshot = {} }
  local checks = report.checks or {}
  local what = " (JavaScript " .. js .. ")"
  t.is_deeply(report.console, {}, "no console message" .. what)
  t.is_deeply(report.exceptions, {}, "no exception" .. what)
  t.is_deeply(report.log, {}, "no log entry (CSP, network)" .. what)
  t.is_deeply(report.requests, { "file://" .. page }, "no request but the page" .. what)
  t.is_deeply(checks.sections, { "scenario-daily", "scenario-minute" },
    "one section per scenario" .. what)
  -- The first equity path is daily's: 2 bars, one point each.
  t.is(checks.equity_bars, bars("daily"), "daily: equity path over every bar" .. what)
  t.is(checks.equity_points, checks.equity_path_points,
    "the path has the points it declares" .. what)
  t.ok((checks.flame_frames or 0) >= 5, "flame frames (" .. tostring(checks.flame_frames) .. ")" .. what)
  t.ok((checks.flame_labelled or 0) >= 5, "flame frames with visible text ("
    .. tostring(checks.flame_labelled) .. ")" .. what)
  t.is((checks.flame_label_sample or {})[1], "all", "the root frame reads 'all'" .. what)
  t.is(checks.functions_rows, 30, "top functions: 15 rows each" .. what)
  t.is(checks.flame_script, js == "on" and "ready" or cjson.null,
    "flame script ran only with JavaScript" .. what)
  local shot = report.screenshot or {}
  t.is(shot.width, 1040, "screenshot width" .. what)
  t.ok((shot.colours or 0) > 200 and (shot.ink or 0) > 0.05,
    string.format("screenshot not blank: %s colours, %.1f%% ink%s",
      tostring(shot.colours), 100 * (shot.ink or 0), what))
  if js == "on" then
    local zoom = report.zoom or {}
    t.ok(math.abs((zoom.width or 0) - 940) < 0.01,
      "click zooms a frame to the full width (940 px: "
      .. tostring(zoom.width) .. ")")
    t.is(zoom.label, zoom.name, "the zoomed frame shows its whole name")
  end
end

-- The minute scenario's own page section: (4,320 bars
-- drawn 866 px wide: min and max per column, at most 1,732 points).
local html = lib.read(page) or ""
local minute = html:match('<section id="scenario%-minute">(.-)</section>') or ""
local points = tonumber(minute:match('class="equity%-line" data%-points="(%d+)"'))
t.ok(points and points <= 2 * 866 and points >= 866,
  "minute: decimated to 1-2 points per pixel column (" .. tostring(points) .. ")")
os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
