-- btlua.util: small helpers the command modules share: whole-file reads,
-- atomic file writes and the argparse error convention (usage + message on stderr, exit 2).
local util = {}

-- Exit statuses, one home: 0 done, 1 a run failed (or a gate refused),
-- 2 bad input (usage, files, fields), 130 interrupted (SIGINT, SIGTERM).
util.EXIT_OK, util.EXIT_FAILED, util.EXIT_BAD_INPUT = 0, 1, 2
util.EXIT_INTERRUPTED = 130

-- Writes text to path through a temporary name and a rename, so readers
-- never see half a file and a failed write never damages an earlier one.
-- Returns true, or nil and a message.
function util.write_atomically(path, text)
  local tmp = path .. ".tmp"
  local file, err = io.open(tmp, "wb")
  if not file then return nil, err end
  local written, write_err = file:write(text)
  local closed, close_err = file:close()
  if not written or not closed then
    os.remove(tmp)
    return nil, write_err or close_err
  end
  local renamed, rename_err = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    return nil, rename_err
  end
  return true
end

util.READ_LIMIT = 256 * 1024 * 1024 -- bytes

-- The whole text of the file at path; nil when it cannot be opened; nil
-- and "PATH: more than N bytes" past limit (default util.READ_LIMIT), so a
-- device such as /dev/zero is never read until memory runs out.
function util.read_file(path, limit)
  limit = limit or util.READ_LIMIT
  local file = io.open(path, "rb")
  if not file then return nil end
  local parts, total = {}, 0
  while true do
    local chunk = file:read(1048576)
    if not chunk then break end
    total = total + #chunk
    if total > limit then
      file:close()
      return nil, string.format("%s: more than %d bytes", path, limit)
    end
    parts[#parts + 1] = chunk
  end
  file:close()
  return table.concat(parts)
end

-- Prints "btlua COMMAND: message" on stderr; returns exit status 2.
function util.fail(command, message)
  io.stderr:write("btlua ", command, ": ", message, "\n")
  return util.EXIT_BAD_INPUT
end

-- Parses words with an argparse parser. Returns the arguments, or nil and
-- the exit status after printing the usage and the error.
function util.parse_args(parser, words, command)
  local parsed, args = parser:pparse(words)
  if parsed then return args end
  io.stderr:write(parser:get_usage(), "\n")
  return nil, util.fail(command, args)
end

return util
