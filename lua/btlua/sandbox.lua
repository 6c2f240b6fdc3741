-- btlua.sandbox: the environment scenario and strategy files run in unless
-- `btlua run --unsafe` is given (docs/scenarios.md says what it allows). A
-- sandboxed file gets its own copies of the pure libraries (string, table,
-- math, utf8, coroutine: replacing a function there changes nothing
-- outside; the string metatable is out of its reach), a facade of btlua's
-- scenario API (btlua.scenario{...} and btlua.dec, never a host module),
-- and nothing that reaches outside: no os.execute, io.popen,
-- package.loadlib, os.exit or os.getenv; loadfile, dofile, require of its
-- own modules and reads of regular files only inside its policy's
-- directories (and the output directory); files written, removed or
-- renamed only inside the output directory, never through a symbolic
-- link; built-in strategies only from btlua's own tree; no debug library
-- beyond traceback, no getfenv/setfenv (LuaJIT), text chunks only (binary
-- chunks can crash the VM). Every check here uses functions captured when
-- this module loaded, before any user code ran.
--
--   sandbox.env(policy) -> table: a fresh global environment
--   sandbox.loadfile(path, policy) -> chunk | nil, message
-- policy = { dirs = { DIR, ... },   -- loadfile/dofile/require roots
--            output_dir = DIR }     -- writes (nil: none anywhere)
local sandbox = {}

local core = require "btlua.core"
local realpath = core.runner.realpath
local file_kind = core.runner.file_kind
-- Captured before user code runs (user code gets copies of the libraries).
local find, sub, match, gsub = string.find, string.sub, string.match,
  string.gsub
local type, tostring, error, pairs, ipairs, load, select =
  type, tostring, error, pairs, ipairs, load, select
local setmetatable, getmetatable, rawequal = setmetatable, getmetatable,
  rawequal
local io_open, io_lines, os_remove, os_rename = io.open, io.lines, os.remove,
  os.rename

local HINT = " (scenario and strategy files run in a sandbox; "
  .. "btlua run --unsafe lifts it)"

local function dirname(path)
  return match(path, "^(.*)/[^/]*$") or "."
end

-- Is the resolved path `path` the directory `root` or inside it?
local function inside(path, root)
  return path == root or (sub(path, 1, #root + 1) == root .. "/")
    or root == "/"
end

-- The policy's directories, resolved once (those that exist).
local function resolve_all(dirs)
  local out = {}
  for _, dir in ipairs(dirs or {}) do
    local real = realpath(dir)
    if real then out[#out + 1] = real end
  end
  return out
end

-- The resolved path of a regular file to read, if it lies inside one of
-- roots (not a FIFO or a device: a read there could block forever).
local function readable(path, roots)
  local real = type(path) == "string" and realpath(path)
  if not real or file_kind(real) ~= "file" then return nil end
  for _, root in ipairs(roots) do
    if inside(real, root) then return real end
  end
  return nil
end

-- May `path` be created, truncated, removed or renamed? Its directory must
-- resolve inside the output directory, and so must the file if it exists
-- (a symbolic link may point elsewhere).
local function writable(path, out_root)
  if out_root == nil or type(path) ~= "string" then return false end
  local dir = realpath(dirname(path))
  if not dir or not inside(dir, out_root) then return false end
  local kind = file_kind(path)
  if kind == nil then return true end -- a new file
  if kind ~= "file" then return false end -- a link (even dangling), a FIFO
  local real = realpath(path)
  return real ~= nil and inside(real, out_root)
end

local function refuse(what, detail)
  error(what .. (detail and ": " .. detail or "") .. " is not allowed" .. HINT,
    3)
end

local function copy(lib)
  local out = {}
  for k, v in pairs(lib) do out[k] = v end
  return out
end

local function read_text(path)
  local file, err = io_open(path, "rb")
  if not file then return nil, err end
  local text = file:read("*a")
  file:close()
  return text
end

-- btlua.scenario as a file sees it: callable, nothing else; the module
-- itself (its policy, its loaders) is never reachable.
local function scenario_facade()
  local scenario = require "btlua.scenario"
  return setmetatable({}, {
    __call = function(_, def)
      local scn = scenario.new(def, 2) -- not a tail call: keeps the level
      return scn
    end,
    __newindex = function() error("btlua.scenario is read-only", 2) end,
    __metatable = false,
  })
end

-- A built-in strategy: btlua's own file, never one from the working
-- directory or package.path (which could hold a C module of that name).
-- btlua's own strategies directory: under the home when the btlua command
-- runs; when a stock interpreter requires btlua (a luarocks tree), next to
-- this file, wherever the tree put it.
local STRATEGY_DIR = core.home and core.home .. "/lua/btlua/strategies"
if not STRATEGY_DIR then
  local source = debug.getinfo(1, "S").source
  local dir = match(source, "^@(.*)/[^/]*$")
  STRATEGY_DIR = dir and dir .. "/strategies"
end

function sandbox.builtin_strategy_path(name)
  if type(name) ~= "string" or not match(name, "^[%w_]+$") or not STRATEGY_DIR
  then
    return nil
  end
  local path = STRATEGY_DIR .. "/" .. name .. ".lua"
  if file_kind(path) ~= "file" then return nil end
  return path
end

-- The string metatable is never handed out: its __index is the real string
-- table, which the host's own code calls through methods.
local function sandbox_getmetatable(value)
  if type(value) == "string" then return nil end
  return getmetatable(value)
end

function sandbox.env(policy)
  policy = policy or {}
  local roots = resolve_all(policy.dirs)
  local out_root = policy.output_dir and realpath(policy.output_dir)
  local read_roots = {}
  for _, root in ipairs(roots) do read_roots[#read_roots + 1] = root end
  if out_root then read_roots[#read_roots + 1] = out_root end
  local env = {}

  -- load: text chunks; the environment defaults to this one, not the
  -- state's real globals.
  local function sandbox_load(chunk, name, mode, chunk_env)
    if mode ~= nil and mode ~= "t" then refuse("load of binary chunks") end
    if chunk_env == nil then chunk_env = env end
    return load(chunk, name, "t", chunk_env)
  end

  local function sandbox_loadfile(path, mode, chunk_env)
    if mode ~= nil and mode ~= "t" then refuse("load of binary chunks") end
    if readable(path, roots) == nil then
      return nil, "loadfile " .. tostring(path) .. ": outside the scenario "
        .. "directory" .. HINT
    end
    local text, err = read_text(path)
    if not text then return nil, err end
    return load(text, "@" .. path, "t", chunk_env or env)
  end

  local loaded = {}
  local function sandbox_require(name)
    if type(name) ~= "string" then refuse("require of " .. tostring(name)) end
    if loaded[name] ~= nil then return loaded[name] end
    local value
    if name == "btlua" then
      local btlua = require "btlua"
      value = {
        scenario = scenario_facade(), dec = copy(btlua.dec),
        version = btlua.version, lua_flavour = btlua.lua_flavour,
        build_type = btlua.build_type,
      }
    elseif name == "btlua.scenario" then
      value = scenario_facade()
    elseif match(name, "^btlua%.strategies%.[%w_]+$") then
      local path = sandbox.builtin_strategy_path(sub(name, 18))
      if not path then refuse("require '" .. name .. "'") end
      local chunk, err = loadfile(path, "t") -- btlua's own code
      if not chunk then error(err, 2) end
      value = chunk(name, path)
    else
      -- The file's own modules: NAME.lua (dots as slashes) in its roots.
      local rel = gsub(name, "%.", "/") .. ".lua"
      for _, root in ipairs(roots) do
        local path = root .. "/" .. rel
        if match(name, "^[%w_.]+$") and readable(path, roots) then
          local chunk, err = sandbox_loadfile(path)
          if not chunk then error(err, 2) end
          value = chunk(name, path)
          if value == nil then value = true end
          break
        end
      end
      if value == nil then refuse("require '" .. name .. "'") end
    end
    loaded[name] = value
    return value
  end

  local function open(path, mode)
    mode = mode or "r"
    if type(mode) ~= "string" then refuse("io.open with a mode that is not text") end
    if not find(mode, "[wa+]") then
      if readable(path, read_roots) then return io_open(path, mode) end
      refuse("reading " .. tostring(path), "outside the scenario directory "
        .. "and the output directory, or not a regular file")
    end
    if writable(path, out_root) then return io_open(path, mode) end
    refuse("writing " .. tostring(path), "outside the output directory")
  end

  local sandbox_io = {
    open = open, lines = function(path, ...)
      if path == nil then refuse("io.lines() on standard input") end
      if not readable(path, read_roots) then
        refuse("reading " .. tostring(path), "outside the scenario directory "
          .. "and the output directory, or not a regular file")
      end
      return io_lines(path, ...)
    end,
    close = function(file)
      if file == nil then refuse("io.close() of standard output") end
      return io.close(file)
    end,
    write = io.write, read = io.read, type = io.type,
    stdout = io.stdout, stderr = io.stderr,
  }
  local sandbox_os = {
    clock = os.clock, date = os.date, difftime = os.difftime,
    time = os.time,
    remove = function(path)
      if not writable(path, out_root) then
        refuse("os.remove " .. tostring(path), "outside the output directory")
      end
      return os_remove(path)
    end,
    rename = function(from, to)
      if not (writable(from, out_root) and writable(to, out_root)) then
        refuse("os.rename " .. tostring(from), "outside the output directory")
      end
      return os_rename(from, to)
    end,
  }

  -- What is left out says so when called.
  local function refusing(name)
    return function() refuse(name) end
  end
  for _, name in ipairs { "popen", "tmpfile", "input", "output" } do
    sandbox_io[name] = refusing("io." .. name)
  end
  for _, name in ipairs { "execute", "exit", "tmpname", "setlocale",
      "getenv" } do
    sandbox_os[name] = refusing("os." .. name)
  end
  env.package = { loadlib = refusing("package.loadlib") }
  env.getfenv = _G.getfenv and refusing("getfenv") or nil
  env.setfenv = _G.setfenv and refusing("setfenv") or nil

  for _, name in ipairs { "assert", "collectgarbage", "error", "getmetatable",
      "ipairs", "next", "pairs", "pcall", "print", "rawequal", "rawget",
      "rawlen", "rawset", "select", "setmetatable", "tonumber", "tostring",
      "type", "xpcall", "_VERSION", "warn", "unpack" } do
    env[name] = _G[name]
  end
  env.getmetatable = sandbox_getmetatable
  env.unpack = env.unpack or table.unpack
  env.load = sandbox_load
  env.loadstring = _G.loadstring and sandbox_load or nil
  env.loadfile = sandbox_loadfile
  env.dofile = function(path)
    local chunk, err = sandbox_loadfile(path)
    if not chunk then error(err, 2) end
    return chunk()
  end
  env.require = sandbox_require
  env.string, env.table, env.math = copy(string), copy(table), copy(math)
  env.coroutine = copy(coroutine)
  env.utf8 = _G.utf8 and copy(_G.utf8) or nil
  env.bit = _G.bit and copy(_G.bit) or nil
  env.io, env.os = sandbox_io, sandbox_os
  env.debug = { traceback = debug.traceback }
  env._G = env
  return env
end

-- loadfile(path, policy) -> chunk | nil, message: the file compiled in a
-- fresh sandbox environment (the file itself may lie anywhere).
function sandbox.loadfile(path, policy)
  local text, err = read_text(path)
  if not text then return nil, "cannot open " .. path end
  return load(text, "@" .. path, "t", sandbox.env(policy))
end

return sandbox
