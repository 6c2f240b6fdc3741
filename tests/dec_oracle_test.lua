-- dec_oracle_test.lua: a deterministic 20,000-case slice of the differential
-- test of bt_dec against Python's decimal (tests/dec_oracle.py; the full
-- run is `python3 tests/dec_oracle.py --cases 1000000 --build build`).
local t = require "tap"
local lib = require "testlib"

local status = lib.sh("command -v python3")
if status ~= 0 then
  io.write("1..0 # SKIP python3 not found\n")
  return
end
local command = "python3 " .. lib.quote(lib.top .. "/tests/dec_oracle.py")
  .. " --cases 20000 --seed 20261128 --build " .. lib.quote(lib.build)
local code, out, err = lib.sh(command)
t.is(code, 0, "the oracle slice passes")
t.like(out, "ok 1 %- 20000 oracle cases agree with Python decimal %(0 mismatches%)",
  "20000 cases, 0 mismatches")
if code ~= 0 then t.diag(out .. (err or "")) end
t.done_testing()
