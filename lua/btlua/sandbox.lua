-- btlua.sandbox: the environment scenario and strategy files run in unless
-- `btlua run --unsafe` is given. A sandboxed file gets the pure libraries
-- (string, table, math, utf8, coroutine), btlua's scenario API, reads
-- anywhere, and nothing that reaches outside: no os.execute, io.popen,
-- package.loadlib or os.exit; loadfile, dofile and require of its own
-- modules only inside its policy's directories; files written, removed or
-- renamed only inside the output directory; no debug library beyond
-- traceback, no getfenv/setfenv (LuaJIT), text chunks only (binary chunks
-- can crash the VM).
--
--   sandbox.env(policy) -> table: a fresh global environment
--   sandbox.loadfile(path, policy) -> chunk | nil, message
-- policy = { dirs = { DIR, ... },   -- loadfile/dofile/require roots
--            output_dir = DIR }     -- writes (nil: none anywhere)
local sandbox = {}

local realpath = require("btlua.core").runner.realpath

local HINT = " (scenario and strategy files run in a sandbox; "
  .. "btlua run --unsafe lifts it)"

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- Is the resolved path `path` the directory `root` or inside it?
local function inside(path, root)
  return path == root or (path:sub(1, #root + 1) == root .. "/")
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

-- The resolved path of a file to read, if it lies inside one of roots.
local function readable(path, roots)
  local real = type(path) == "string" and realpath(path)
  if not real then return nil end
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
  local real = realpath(path)
  return real == nil or inside(real, out_root)
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
  local file, err = io.open(path, "rb")
  if not file then return nil, err end
  local text = file:read("*a")
  file:close()
  return text
end

function sandbox.env(policy)
  policy = policy or {}
  local roots = resolve_all(policy.dirs)
  local out_root = policy.output_dir and realpath(policy.output_dir)
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
        scenario = require "btlua.scenario", dec = btlua.dec,
        version = btlua.version, lua_flavour = btlua.lua_flavour,
        build_type = btlua.build_type,
      }
    elseif name == "btlua.scenario" then
      value = require "btlua.scenario"
    elseif name:match("^btlua%.strategies%.[%w_]+$") then
      value = require(name)
    else
      -- The file's own modules: NAME.lua (dots as slashes) in its roots.
      local rel = name:gsub("%.", "/") .. ".lua"
      for _, root in ipairs(roots) do
        local path = root .. "/" .. rel
        if name:match("^[%w_.]+$") and readable(path, roots) then
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
    if type(mode) == "string" and not mode:find("[wa+]")
      or writable(path, out_root) then
      return io.open(path, mode)
    end
    refuse("writing " .. tostring(path), "outside the output directory")
  end

  local sandbox_io = {
    open = open, lines = function(path, ...)
      if path == nil then refuse("io.lines() on standard input") end
      return io.lines(path, ...)
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
    getenv = os.getenv, time = os.time,
    remove = function(path)
      if not writable(path, out_root) then
        refuse("os.remove " .. tostring(path), "outside the output directory")
      end
      return os.remove(path)
    end,
    rename = function(from, to)
      if not (writable(from, out_root) and writable(to, out_root)) then
        refuse("os.rename " .. tostring(from), "outside the output directory")
      end
      return os.rename(from, to)
    end,
  }

  -- What is left out says so when called.
  local function refusing(name)
    return function() refuse(name) end
  end
  for _, name in ipairs { "popen", "tmpfile", "input", "output" } do
    sandbox_io[name] = refusing("io." .. name)
  end
  for _, name in ipairs { "execute", "exit", "tmpname", "setlocale" } do
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
  env.string, env.table, env.math = string, copy(table), copy(math)
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
