-- btlua.svg: the charts of the HTML report as plain SVG text: the equity
-- curve with its drawdown underneath, horizontal bars (zones), a line over
-- time (the RSS timeline). No script: every chart reads as a picture.
local svg = {}

local floor, max, min = math.floor, math.max, math.min
local format, concat = string.format, table.concat

-- Text for an SVG/HTML text node or attribute value.
function svg.escape(text)
  return (tostring(text):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;",
    [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }))
end
local escape = svg.escape

-- 1234567.8 -> "1,234,568"
function svg.thousands(value)
  local text = format("%.0f", value)
  local sign, digits = text:match("^(%-?)(%d+)$")
  if not digits then return text end
  digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return sign .. digits:gsub("^,", "")
end

-- The drawing rule for long series (documented in the page and in
-- docs/profiler.md): a series of n values drawn `columns` pixels wide keeps
-- every value when n <= 2 * columns; otherwise each pixel column (the
-- values floor((c-1)*n/columns)+1 .. floor(c*n/columns)) keeps its lowest
-- and its highest value, in the order they occur (one point when they are
-- the same value). The drawn line then covers exactly the range of every
-- column, so no spike or dip disappears. Returns the kept 1-based indices.
function svg.decimate(values, columns)
  local n = #values
  local kept = {}
  if n <= 2 * columns then
    for i = 1, n do kept[i] = i end
    return kept
  end
  for column = 1, columns do
    local first = floor((column - 1) * n / columns) + 1
    local last = floor(column * n / columns)
    local low, high = first, first
    for i = first + 1, last do
      local value = values[i]
      if value < values[low] then low = i end
      if value > values[high] then high = i end
    end
    if low == high then
      kept[#kept + 1] = low
    elseif low < high then
      kept[#kept + 1] = low
      kept[#kept + 1] = high
    else
      kept[#kept + 1] = high
      kept[#kept + 1] = low
    end
  end
  return kept
end

-- About `count` round tick values covering [low, high]: 1, 2 or 5 x 10^k.
function svg.ticks(low, high, count)
  if high <= low then return { low } end
  local raw = (high - low) / max(count, 1)
  local magnitude = 10 ^ floor(math.log(raw, 10))
  local step = magnitude
  for _, factor in ipairs({ 1, 2, 5, 10 }) do
    step = factor * magnitude
    if step >= raw then break end
  end
  local ticks = {}
  local value = math.ceil(low / step) * step
  while value <= high + step * 1e-9 do
    ticks[#ticks + 1] = value
    value = value + step
  end
  return ticks
end

-- x with one decimal ("12.3"), without string.format's float path (the
-- equity path has thousands of coordinates).
local function num(x)
  local tenths = floor(x * 10 + 0.5)
  if tenths < 0 then return "-" .. num(-x) end
  return floor(tenths / 10) .. "." .. floor(tenths % 10)
end

-- A path through kept points { index = {...}, value = {...} }.
local function path_d(kept, x_of, y_of)
  local parts, index, value = {}, kept.index, kept.value
  for k = 1, #index do
    parts[k] = (k == 1 and "M" or "L") .. num(x_of(index[k])) .. ","
      .. num(y_of(value[k]))
  end
  return concat(parts, " ")
end

local function range_of(values)
  local low, high = math.huge, -math.huge
  for i = 1, #values do
    local value = values[i]
    if value < low then low = value end
    if value > high then high = value end
  end
  if low > high then return 0, 0 end
  return low, high
end

-- { index = kept indices, value = their values, low =, high = } of a
-- series drawn `columns` wide (svg.decimate); core.chart.series makes the
-- same tables from CSV text.
function svg.kept(values, columns)
  local index = svg.decimate(values, columns)
  local value = {}
  for k, i in ipairs(index) do value[k] = values[i] end
  local low, high = range_of(values)
  return { index = index, value = value, low = low, high = high }
end

-- svg.series(values, columns) -> { rows =, equity = kept, drawdown = kept }:
-- what core.chart.series gives for a CSV column, from a Lua array.
function svg.series(values, columns)
  local drawdown, peak = {}, -math.huge
  for i = 1, #values do
    if values[i] > peak then peak = values[i] end
    drawdown[i] = peak > 0 and values[i] / peak - 1 or 0
  end
  return { rows = #values, equity = svg.kept(values, columns),
    drawdown = svg.kept(drawdown, columns) }
end

-- One panel: horizontal grid lines with labels, the series' path.
local function panel(out, box, kept, n, opts)
  local low, high = opts.low, opts.high
  if high <= low then low, high = low - 1, high + 1 end
  local function y_of(value)
    return box.y + box.h - (value - low) / (high - low) * box.h
  end
  local function x_of(i)
    if n <= 1 then return box.x end
    return box.x + (i - 1) / (n - 1) * box.w
  end
  out[#out + 1] = format('<rect x="%s" y="%s" width="%s" height="%s" '
    .. 'class="plot"/>', num(box.x), num(box.y), num(box.w), num(box.h))
  for _, tick in ipairs(svg.ticks(low, high, opts.ticks or 4)) do
    local y = y_of(tick)
    out[#out + 1] = format('<line x1="%s" x2="%s" y1="%s" y2="%s" '
      .. 'class="grid"/><text x="%s" y="%s" class="ylabel">%s</text>',
      num(box.x), num(box.x + box.w), num(y), num(y), num(box.x - 6),
      num(y + 4), escape(opts.label(tick)))
  end
  local d = path_d(kept, x_of, y_of)
  if opts.area and #kept.index > 0 then
    out[#out + 1] = format('<path d="%s L%s,%s L%s,%s Z" class="%s"/>',
      d, num(x_of(kept.index[#kept.index])), num(y_of(0)),
      num(x_of(kept.index[1])), num(y_of(0)), opts.area)
  end
  out[#out + 1] = format('<path d="%s" class="%s" data-points="%d" '
    .. 'data-bars="%d"/>', d, opts.class, #kept.index, n)
  return x_of, y_of
end

-- The label of bar i on the time axis: its date, or its time of day when
-- the whole series is one day.
local function time_label(time_of, n, i)
  local first, last = time_of(1), time_of(n)
  local text = time_of(i)
  if first:sub(1, 10) == last:sub(1, 10) then
    return text:sub(12, 16)
  end
  return text:sub(1, 10)
end

-- The plot width of svg.equity at a given chart width (px): the number of
-- pixel columns the series is decimated to.
function svg.equity_columns(width)
  return floor(width - 78 - 16)
end

-- svg.equity{ series = svg.series(...) or core.chart.series(...) (or
-- values = {...}), time_of = function(i) -> time text, fills = { {index
-- =, side =, value =} }, width = 960 } -> SVG text: the equity curve (top)
-- and its drawdown from the running peak (bottom), one shared time axis
-- (bar index; dates as labels).
function svg.equity(opts)
  local width = opts.width or 960
  local left, right, top = 78, 16, 12
  local equity_h, gap, drawdown_h = 220, 26, 90
  local height = top + equity_h + gap + drawdown_h + 34
  local plot_w = width - left - right
  local series = opts.series or svg.series(opts.values, svg.equity_columns(width))
  local time_of = opts.time_of or function() return "" end
  local n = series.rows
  local out = {
    format('<svg xmlns="http://www.w3.org/2000/svg" class="chart equity" '
      .. 'width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
      .. 'aria-label="equity and drawdown">', width, height, width, height),
    '<style>.plot{fill:#fcfcfd;stroke:#c9ccd3}.grid{stroke:#e4e6eb}'
      .. '.ylabel{font:11px sans-serif;fill:#555;text-anchor:end}'
      .. '.xlabel{font:11px sans-serif;fill:#555;text-anchor:middle}'
      .. '.title{font:bold 12px sans-serif;fill:#222}'
      .. '.equity-line{fill:none;stroke:#1f5fbf;stroke-width:1.3}'
      .. '.drawdown-line{fill:none;stroke:#b3261e;stroke-width:1}'
      .. '.drawdown-area{fill:#f4c7c3;stroke:none}'
      .. '.buy{fill:#1e8e3e}.sell{fill:#d93025}</style>',
  }
  local equity = series.equity
  local pad = (equity.high - equity.low) * 0.05
  local equity_box = { x = left, y = top + 14, w = plot_w, h = equity_h - 14 }
  out[#out + 1] = format('<text x="%d" y="%d" class="title">Equity</text>',
    left, top + 10)
  local x_of, y_of = panel(out, equity_box, equity, n, { low = equity.low - pad,
    high = equity.high + pad, class = "equity-line", label = svg.thousands })
  for _, fill in ipairs(opts.fills or {}) do
    local x, y = x_of(fill.index), y_of(fill.value)
    if fill.side == "sell" then
      out[#out + 1] = format('<path d="M%s,%s l-4,-7 h8 Z" class="sell"/>',
        num(x), num(y - 2))
    else
      out[#out + 1] = format('<path d="M%s,%s l-4,7 h8 Z" class="buy"/>',
        num(x), num(y + 2))
    end
  end
  local drawdown = series.drawdown
  local drawdown_box = { x = left, y = top + equity_h + gap, w = plot_w,
    h = drawdown_h }
  out[#out + 1] = format('<text x="%d" y="%d" class="title">Drawdown from '
    .. 'peak</text>', left, drawdown_box.y - 6)
  panel(out, drawdown_box, drawdown, n, {
    low = math.min(drawdown.low, -0.0001) * 1.05, high = 0,
    class = "drawdown-line", area = "drawdown-area", ticks = 3,
    label = function(v) return format("%.1f%%", v * 100) end })
  local axis_y = drawdown_box.y + drawdown_h + 16
  for k = 0, 5 do
    local i = n > 1 and floor(1 + k * (n - 1) / 5 + 0.5) or 1
    local anchor = k == 0 and "start" or k == 5 and "end" or "middle"
    out[#out + 1] = format('<text x="%s" y="%d" class="xlabel" '
      .. 'style="text-anchor:%s">%s</text>', num(x_of(i)), axis_y, anchor,
      escape(time_label(time_of, n, i)))
  end
  out[#out + 1] = "</svg>"
  return concat(out, "\n")
end

-- svg.bars{ items = { {label =, value =, text =} }, width = 640 } -> SVG
-- text: one horizontal bar per item, longest = the whole width.
function svg.bars(opts)
  local items, width = opts.items, opts.width or 640
  local label_w, text_w, row = 110, 210, 20
  local height = #items * row + 8
  local bar_w = width - label_w - text_w
  local biggest = 0
  for _, item in ipairs(items) do biggest = max(biggest, item.value) end
  local out = {
    format('<svg xmlns="http://www.w3.org/2000/svg" class="chart bars" '
      .. 'width="%d" height="%d" viewBox="0 0 %d %d" role="img">', width,
      height, width, height),
    '<style>.bl{font:12px sans-serif;fill:#222;text-anchor:end}'
      .. '.bv{font:12px sans-serif;fill:#444}.bar{fill:#5b8def}</style>',
  }
  for k, item in ipairs(items) do
    local y = 4 + (k - 1) * row
    local w = biggest > 0 and item.value / biggest * bar_w or 0
    out[#out + 1] = format('<text x="%d" y="%d" class="bl">%s</text>'
      .. '<rect x="%d" y="%d" width="%s" height="%d" class="bar">'
      .. '<title>%s</title></rect><text x="%s" y="%d" class="bv">%s</text>',
      label_w - 6, y + 13, escape(item.label), label_w, y + 2, num(w),
      row - 5, escape(item.label .. ": " .. item.text), num(label_w + w + 6),
      y + 13, escape(item.text))
  end
  out[#out + 1] = "</svg>"
  return concat(out, "\n")
end

-- svg.line{ xs = {...}, values = {...}, title =, width =, x_label(x),
-- y_label(v) } -> SVG text: one series over a numeric x (the RSS timeline).
function svg.line(opts)
  local values, xs = opts.values, opts.xs
  local width, height = opts.width or 960, 170
  local left, right, top = 78, 16, 24
  local box = { x = left, y = top, w = width - left - right, h = height - top - 30 }
  local out = {
    format('<svg xmlns="http://www.w3.org/2000/svg" class="chart line" '
      .. 'width="%d" height="%d" viewBox="0 0 %d %d" role="img">', width,
      height, width, height),
    '<style>.plot{fill:#fcfcfd;stroke:#c9ccd3}.grid{stroke:#e4e6eb}'
      .. '.ylabel{font:11px sans-serif;fill:#555;text-anchor:end}'
      .. '.xlabel{font:11px sans-serif;fill:#555;text-anchor:middle}'
      .. '.title{font:bold 12px sans-serif;fill:#222}'
      .. '.series{fill:none;stroke:#7b3fbf;stroke-width:1.3}</style>',
    format('<text x="%d" y="%d" class="title">%s</text>', left, top - 8,
      escape(opts.title or "")),
  }
  local low, high = range_of(values)
  if high <= low then low, high = low - 1, high + 1 end
  local x_low, x_high = xs[1] or 0, xs[#xs] or 1
  if x_high <= x_low then x_high = x_low + 1 end
  local function y_of(v) return box.y + box.h - (v - low) / (high - low) * box.h end
  local function x_of(i) return box.x + (xs[i] - x_low) / (x_high - x_low) * box.w end
  out[#out + 1] = format('<rect x="%s" y="%s" width="%s" height="%s" '
    .. 'class="plot"/>', num(box.x), num(box.y), num(box.w), num(box.h))
  for _, tick in ipairs(svg.ticks(low, high, 3)) do
    out[#out + 1] = format('<line x1="%s" x2="%s" y1="%s" y2="%s" class="grid"/>'
      .. '<text x="%s" y="%s" class="ylabel">%s</text>', num(box.x),
      num(box.x + box.w), num(y_of(tick)), num(y_of(tick)), num(box.x - 6),
      num(y_of(tick) + 4), escape(opts.y_label(tick)))
  end
  for _, tick in ipairs(svg.ticks(x_low, x_high, 6)) do
    out[#out + 1] = format('<text x="%s" y="%s" class="xlabel">%s</text>',
      num(box.x + (tick - x_low) / (x_high - x_low) * box.w),
      num(box.y + box.h + 16), escape(opts.x_label(tick)))
  end
  local kept = svg.kept(values, floor(box.w))
  out[#out + 1] = format('<path d="%s" class="series" data-points="%d"/>',
    path_d(kept, x_of, y_of), #kept.index)
  out[#out + 1] = "</svg>"
  return concat(out, "\n")
end

return svg
