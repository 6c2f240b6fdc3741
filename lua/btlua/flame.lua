-- btlua.flame: flame graphs as SVG that read as pictures: every frame's
-- label is SVG text written here (script only adds search and zoom), the
-- engine stages (zones) are frames under the bar loop (`run`) in every mode,
-- labels use root-relative sources, and widths are true to the profile: a
-- frame is as wide as its own time plus its children's, so the children of
-- a frame never exceed it.
local flame = {}

local svg = require "btlua.svg"

local floor, max = math.floor, math.max
local unpack = table.unpack or unpack -- Lua 5.4 / LuaJIT
local format, concat = string.format, table.concat
local escape = svg.escape

-- Engine stages that run inside the bar loop's C function (`run`), outside
-- Lua; `output` runs inside `results`. `strategy` calls into Lua (its time
-- is handle_data's) and `blotter` runs inside the order calls, so neither
-- is a frame of its own in a cycles profile.
local STAGES_UNDER = {
  run = { "data", "indicators", "fills", "ledger", "metrics" },
  results = { "output" },
}

-- A source as the page shows it: relative to the btlua tree (or the
-- current directory), never an absolute path; "@" dropped.
function flame.short_source(source)
  source = tostring(source or "?"):gsub("^@", "")
  for _, root in ipairs({ require("btlua.core").home or false,
    os.getenv("PWD") or false }) do
    if root and root ~= "" and source:sub(1, #root + 1) == root .. "/" then
      return source:sub(#root + 2)
    end
  end
  return source
end

-- "name (source:line)" for a Lua function, "name [C]" for a C function.
function flame.function_label(fn)
  if fn.source == "[C]" or fn.source == "=[C]" then
    return fn.name .. " [C]"
  end
  return format("%s (%s:%d)", fn.name, flame.short_source(fn.source), fn.line)
end

local function is_c(fn, name)
  return fn and fn.name == name and (fn.source == "[C]" or fn.source == "=[C]")
end

-- Sample stacks with the engine stages put under `run`: a sample taken in a
-- zone outside Lua ("[fills]" alone) goes under the path to the bar loop;
-- the "[strategy]" root of Lua samples is dropped (handle_data says it).
local function place_samples(p, stacks)
  local run_path
  for _, stack in ipairs(stacks) do
    for depth, frame in ipairs(stack.frames) do
      if type(frame) == "number" and is_c(p.functions[frame], "run") then
        run_path = {}
        for k = 1, depth do
          if type(stack.frames[k]) == "number" then
            run_path[#run_path + 1] = stack.frames[k]
          end
        end
        break
      end
    end
    if run_path then break end
  end
  local placed = {}
  for _, stack in ipairs(stacks) do
    local frames = stack.frames
    if #frames > 1 and type(frames[1]) == "string" then
      frames = { select(2, unpack(frames)) }
    elseif #frames == 1 and type(frames[1]) == "string" and run_path
      and frames[1] ~= "[output]" and frames[1] ~= "[load]" then
      frames = { unpack(run_path) }
      frames[#frames + 1] = stack.frames[1]
    end
    placed[#placed + 1] = { frames = frames, weight = stack.weight }
  end
  return placed
end

local function new_node(name, kind)
  return { name = name, kind = kind, self = 0, total = 0, children = {},
    order = {} }
end

local function child_of(node, key, name, kind)
  local child = node.children[key]
  if not child then
    child = new_node(name, kind)
    node.children[key] = child
    node.order[#node.order + 1] = key
  end
  return child
end

local function build_tree(p, stacks)
  local fns = p.functions or {}
  local root = new_node("all", "root")
  for _, stack in ipairs(stacks) do
    local node = root
    for _, frame in ipairs(stack.frames) do
      if type(frame) == "string" then
        node = child_of(node, frame, frame, "stage")
      else
        local fn = fns[frame]
        node = child_of(node, "#" .. frame, flame.function_label(fn),
          fn.source == "[C]" and "c" or "lua")
        node.fn = frame
      end
    end
    node.self = node.self + stack.weight
  end
  return root
end

-- A cycles profile: the zones' self times become stage frames under the
-- C function that runs them (split over several such nodes by their self
-- time, and scaled down if they would exceed it: a stage never makes its
-- parent wider). Skipped where the tree already has stage frames.
local function add_stages(p, root)
  local zone_self = {}
  for _, zone in ipairs(p.zones or {}) do zone_self[zone.name] = zone.self_ns end
  local hosts = {}
  local function visit(node)
    for _, key in ipairs(node.order) do
      local child = node.children[key]
      if child.kind == "stage" then return true end
      local fn = child.fn and p.functions[child.fn]
      for name in pairs(STAGES_UNDER) do
        if is_c(fn, name) then
          hosts[name] = hosts[name] or { nodes = {}, self = 0 }
          local list = hosts[name]
          list.nodes[#list.nodes + 1] = child
          list.self = list.self + child.self
        end
      end
      if visit(child) then return true end
    end
  end
  if visit(root) then return end
  for name, list in pairs(hosts) do
    local wanted = 0
    for _, zone in ipairs(STAGES_UNDER[name]) do
      wanted = wanted + (zone_self[zone] or 0)
    end
    local scale = wanted > list.self and list.self / wanted or 1
    for _, node in ipairs(list.nodes) do
      local share = list.self > 0 and node.self / list.self or 0
      for _, zone in ipairs(STAGES_UNDER[name]) do
        local weight = floor((zone_self[zone] or 0) * scale * share)
        if weight > 0 then
          local stage = child_of(node, "[" .. zone .. "]", "[" .. zone .. "]",
            "stage")
          stage.self = stage.self + weight
          node.self = node.self - weight
        end
      end
    end
  end
end

local function sum_totals(node)
  local total = node.self
  for _, key in ipairs(node.order) do total = total + sum_totals(node.children[key]) end
  node.total = total
  return total
end

-- flame.tree(p) -> root node { name, kind, self, total, children, order },
-- unit ("ns" or "samples"): the weighted stacks of btlua.profile.stacks with
-- the engine stages placed (see the file comment). Children in order of
-- name (flamegraph.pl's order), so two runs draw alike.
function flame.tree(p)
  local profile = require "btlua.profile"
  local stacks, unit = profile.stacks(p)
  if unit == "samples" then stacks = place_samples(p, stacks) end
  local root = build_tree(p, stacks)
  if unit ~= "samples" then add_stages(p, root) end
  local function sort(node)
    table.sort(node.order, function(a, b)
      local x, y = node.children[a].name, node.children[b].name
      if x ~= y then return x < y end
      return a < b
    end)
    for _, key in ipairs(node.order) do sort(node.children[key]) end
  end
  sort(root)
  sum_totals(root)
  return root, unit
end

-- The label drawn in a frame `width` px wide: the whole name, or its start
-- and "..", or nothing below 3 characters (12 px monospace, 7.3 px a
-- character, 3 px padding each side). The page's script uses the same rule.
function flame.fit(name, width)
  local chars = floor((width - 6) / 7.3)
  if chars < 3 then return "" end
  if #name <= chars then return name end
  return name:sub(1, chars - 2) .. ".."
end

local function colour(node)
  local name = node.name
  local h = 0
  for i = 1, #name do h = (h * 31 + name:byte(i)) % 2147483647 end
  if node.kind == "stage" then
    return format("rgb(%d,%d,%d)", 80 + h % 40, 140 + h % 50, 225)
  elseif node.kind == "c" then
    return format("rgb(%d,%d,%d)", 200 + h % 30, 170 + h % 40, 90 + h % 30)
  elseif node.kind == "root" then
    return "rgb(205,205,205)"
  end
  return format("rgb(%d,%d,%d)", 225 + h % 30, 95 + floor(h / 7) % 100,
    45 + floor(h / 13) % 40)
end

local SCRIPT = [[
<script><![CDATA[
(function () {
  var svg = document.currentScript.closest("svg");
  svg.setAttribute("data-script", "ready");
  var controls = svg.querySelectorAll(".ctl");
  for (var c = 0; c < controls.length; c++) controls[c].style.display = "";
  var frames = svg.querySelectorAll("g.f");
  var width = +svg.getAttribute("data-width"), pad = 10;
  function fit(g, w) {
    var t = g.querySelector("text"), name = g.getAttribute("data-name");
    var chars = Math.floor((w - 6) / 7.3);
    t.textContent = chars < 3 ? "" : (name.length > chars ? name.slice(0, chars - 2) + ".." : name);
  }
  function zoom(target) {
    var x0 = +target.getAttribute("data-x"), w0 = +target.getAttribute("data-w");
    var d0 = +target.getAttribute("data-depth"), scale = (width - 2 * pad) / w0;
    for (var i = 0; i < frames.length; i++) {
      var g = frames[i], r = g.querySelector("rect"), t = g.querySelector("text");
      var x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w");
      var d = +g.getAttribute("data-depth");
      var inside = d >= d0 && x >= x0 - 1e-6 && x + w <= x0 + w0 + 1e-6;
      var below = d < d0 && x <= x0 + 1e-6 && x + w >= x0 + w0 - 1e-6;
      if (!inside && !below) { g.style.display = "none"; continue; }
      var nx = inside ? pad + (x - x0) * scale : pad, nw = inside ? w * scale : width - 2 * pad;
      g.style.display = "";
      g.style.opacity = below ? 0.6 : 1;
      r.setAttribute("x", nx); r.setAttribute("width", nw);
      t.setAttribute("x", nx + 3);
      fit(g, nw);
    }
  }
  for (var i = 0; i < frames.length; i++) {
    frames[i].addEventListener("click", function (e) { zoom(e.currentTarget); });
  }
  svg.querySelector(".reset").addEventListener("click", function () {
    zoom(svg.querySelector("g.f[data-depth='0']"));
  });
  svg.querySelector(".search").addEventListener("click", function () {
    var term = window.prompt("Search frames (text or /regex/):", "");
    var status = svg.querySelector(".matched");
    var re = null;
    if (term) {
      try {
        var m = term.match(/^\/(.*)\/$/);
        re = new RegExp(m ? m[1] : term.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      } catch (err) { re = null; }
    }
    var matched = 0, total = +svg.querySelector("g.f[data-depth='0']").getAttribute("data-w");
    var spans = [];
    for (var i = 0; i < frames.length; i++) {
      var g = frames[i], r = g.querySelector("rect");
      var hit = re && re.test(g.getAttribute("data-name"));
      r.setAttribute("fill", hit ? "rgb(230,0,230)" : g.getAttribute("data-fill"));
      if (hit) {
        var x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w"), covered = false;
        for (var k = 0; k < spans.length; k++) {
          if (x >= spans[k][0] - 1e-6 && x + w <= spans[k][1] + 1e-6) covered = true;
        }
        if (!covered) { spans.push([x, x + w]); matched += w; }
      }
    }
    status.textContent = re ? "matched " + (100 * matched / total).toFixed(1) + "%" : "";
  });
})();
]]..']]>'..[[</script>
]]

-- Differential flame graph: each node's weight in the `before` profile, by
-- its path of names ("all;main;run [C]"); sample counts are scaled to the
-- after profile's total first, so shares are compared.
local function before_weights(before, after_root, unit)
  local root = flame.tree(before)
  local scale = 1
  if unit == "samples" and root.total > 0 then scale = after_root.total / root.total end
  local weights = {}
  local function walk(node, path)
    weights[path] = node.total * scale
    for _, key in ipairs(node.order) do
      local child = node.children[key]
      walk(child, path .. ";" .. child.name)
    end
  end
  walk(root, root.name)
  return weights
end

-- Red for slower (after > before), blue for faster, white for no change;
-- full colour at +-50% (or a frame new in after: red).
local function change_colour(after, before)
  local change = before and before > 0 and (after - before) / before or 1
  local strength = math.min(math.abs(change) / 0.5, 1)
  local fade = floor(235 - 175 * strength)
  if change >= 0 then return format("rgb(245,%d,%d)", fade, fade), change end
  return format("rgb(%d,%d,245)", fade, fade), change
end

local function describe(node, total, unit)
  local share = 100 * node.total / max(total, 1)
  if unit == "samples" then
    return format("%s (%d samples, %.2f%%)", node.name, node.total, share)
  end
  return format("%s (%.3f ms, %.2f%%)", node.name, node.total / 1e6, share)
end

-- flame.svg(p, opts) -> SVG text. opts.width (1200), opts.title, opts.script
-- (default true; false for a picture with no script at all), opts.standalone
-- (default true: an XML declaration first; false inside an HTML page),
-- opts.before (a profile: a differential flame graph, p's shape coloured by
-- each frame's change from before: red slower, blue faster).
function flame.svg(p, opts)
  opts = opts or {}
  local width = opts.width or 1200
  local root, unit = flame.tree(p)
  local function depth_of(node)
    local deepest = 0
    for _, key in ipairs(node.order) do
      deepest = max(deepest, 1 + depth_of(node.children[key]))
    end
    return deepest
  end
  local row, pad, top = 16, 10, 34
  local height = top + (depth_of(root) + 1) * row + pad
  local total = max(root.total, 1)
  local scale = (width - 2 * pad) / total
  local meta = p.meta or {}
  local title = opts.title or format("Flame graph: %s (%s, %s)",
    tostring(meta.scenario or "?"), tostring(meta.profilers or meta.profiler or "?"),
    unit == "samples" and "samples" or "time")
  local out = {}
  if opts.standalone ~= false then
    out[#out + 1] = '<?xml version="1.0" standalone="no"?>'
  end
  out[#out + 1] = format('<svg version="1.1" class="flame" width="%d" '
    .. 'height="%d" viewBox="0 0 %d %d" xmlns="http://www.w3.org/2000/svg" '
    .. 'data-width="%d" data-unit="%s" data-total="%d">', width, height, width,
    height, width, unit, root.total)
  out[#out + 1] = '<style>.flame g.f:hover rect{stroke:#000;stroke-width:0.5}'
    .. '.flame text{font-family:"DejaVu Sans Mono",monospace;font-size:12px;'
    .. 'fill:#000;pointer-events:none}.flame g.f{cursor:pointer}'
    .. '.flame .ctl{cursor:pointer;pointer-events:all;fill:#1f5fbf}'
    .. '.flame .head{font-family:sans-serif;font-size:14px}</style>'
  out[#out + 1] = format('<rect x="0" y="0" width="%d" height="%d" '
    .. 'fill="rgb(250,250,244)"/>', width, height)
  out[#out + 1] = format('<text x="%d" y="20" class="head">%s</text>', pad,
    escape(title))
  if opts.script ~= false then
    -- Hidden until the script runs: as a picture they would do nothing.
    out[#out + 1] = format('<text x="%d" y="20" class="ctl search" '
      .. 'style="display:none">Search</text><text x="%d" y="20" '
      .. 'class="ctl reset" style="display:none">Reset zoom</text>'
      .. '<text x="%d" y="20" class="matched"></text>', width - 200,
      width - 130, width - 330)
  end
  local before = opts.before and before_weights(opts.before, root, unit)
  local function emit(node, x, depth, path)
    local w = node.total * scale
    local y = height - pad - (depth + 1) * row
    local fill, text = colour(node), describe(node, total, unit)
    if before then
      local change
      fill, change = change_colour(node.total, before[path])
      text = text .. (before[path] and format(", %+.1f%% vs before", 100 * change)
        or ", not in before")
    end
    out[#out + 1] = format('<g class="f" data-kind="%s" data-name="%s" data-x="%.4f" '
      .. 'data-w="%.4f" data-depth="%d" data-fill="%s"><title>%s</title>'
      .. '<rect x="%.4f" y="%d" width="%.4f" height="%d" fill="%s" rx="2"/>'
      .. '<text x="%.4f" y="%d">%s</text></g>', node.kind,
      escape(node.name), x, w, depth, fill,
      escape(text), x, y, w, row - 1, fill, x + 3,
      y + row - 4, escape(flame.fit(node.name, w)))
    local at = x
    for _, key in ipairs(node.order) do
      local child = node.children[key]
      if child.total * scale >= 0.1 then
        emit(child, at, depth + 1, path .. ";" .. child.name)
      end
      at = at + child.total * scale
    end
  end
  emit(root, pad, 0, root.name)
  if opts.script ~= false then out[#out + 1] = SCRIPT end
  out[#out + 1] = "</svg>"
  return concat(out, "\n") .. "\n"
end

return flame
