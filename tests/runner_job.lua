-- runner_job.lua: a test-only job module for core.runner (runner_test.lua):
-- each run reports which state it ran in; job_finish joins the runs.
local scenario = require "btlua.scenario"
local job = {}

-- job_run(job_text, run_text) -> bag: the run's place and a per-state count
-- (always 1: every run gets a fresh state).
function job.job_run(job_text, run_text)
  local spec, run = scenario.decode(job_text), scenario.decode(run_text)
  local runner = require("btlua.core").runner
  STATE_RUNS = (STATE_RUNS or 0) + 1 -- luacheck: ignore (a state global)
  if spec.fail_run == run.index then
    error("job " .. spec.name .. " failed on run " .. run.index)
  end
  if spec.interrupt then
    -- a real Ctrl-C to the run (this run is its child process; the
    -- parent kills it)
    io.popen("kill -INT $(ps -o ppid= -p $PPID)"):close()
    for _ = 1, 2000 do
      if runner.cancelled() then break end
      local until_clock = os.clock() + 0.01
      repeat until os.clock() >= until_clock
    end
    runner.progress(0.5) -- raises "interrupted" once cancelled
  end
  runner.progress(1)
  local label, index, runs = runner.worker()
  return {
    out = string.format("%s run %d/%d label %s state-runs %d", spec.name,
      index, runs, label, STATE_RUNS),
  }
end

function job.job_finish(job_text, bags)
  local spec = scenario.decode(job_text)
  local lines = {}
  for _, bag in ipairs(bags) do lines[#lines + 1] = bag.out end
  local label, index, runs = require("btlua.core").runner.worker()
  lines[#lines + 1] = string.format("finish %s %d/%d", label, index, runs)
  local files = { [spec.name .. ".txt"] = table.concat(lines, "\n") .. "\n" }
  if spec.bad_name then files["../escape.txt"] = "x" end
  return { files = files, value = tostring(#bags) }
end

return job
