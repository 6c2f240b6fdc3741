-- runner_test.lua: core.runner runs Lua jobs in parallel, one fresh state
-- per run, writes exactly their files, reports failures with file:line and
-- traceback while the others finish, survives a real SIGINT without leaving
-- temporary files, and refuses an output directory it cannot make.
local t = require "tap"
local lib = require "testlib"
local core = require "btlua.core"
local scenario = require "btlua.scenario"
local runner = core.runner

local function job(name, nruns, extra)
  local spec = { name = name }
  for k, v in pairs(extra or {}) do spec[k] = v end
  local runs = {}
  for i = 1, nruns do runs[i] = { arg = scenario.encode { index = i } } end
  return { label = name, arg = scenario.encode(spec), runs = runs }
end

local function hidden_files(dir)
  local pipe = io.popen("ls -A " .. lib.quote(dir) .. " | grep '^%.' | wc -l")
  local count = tonumber(pipe:read("*a"))
  pipe:close()
  return count
end

local dir = lib.tmpdir()
local done_order = {}
local reports, interrupted = runner.run {
  output_dir = dir .. "/out/nested", parallel = 2, module = "runner_job",
  jobs = { job("a", 2), job("b", 1), job("c", 3) },
  on_done = function(report) done_order[#done_order + 1] = report.label end,
}
t.is(interrupted, false, "not interrupted")
t.is(#reports, 3, "a report per job")
t.is(#done_order, 3, "on_done is called once per job")
t.ok(reports[1].ok and reports[2].ok and reports[3].ok, "every job ok")
t.is(lib.read(dir .. "/out/nested/a.txt"),
  "a run 1/2 label a state-runs 1\na run 2/2 label a state-runs 1\n"
  .. "finish a 3/2\n", "each run had a fresh state; finish saw both bags")
t.is(lib.read(dir .. "/out/nested/c.txt"),
  "c run 1/3 label c state-runs 1\nc run 2/3 label c state-runs 1\n"
  .. "c run 3/3 label c state-runs 1\nfinish c 4/3\n", "three runs of c")
t.is_deeply(reports[3].files, { "c.txt" }, "the report names the file")
t.is(reports[3].value, "3", "job_finish's value comes back")
t.is(reports[1].index, 1, "reports are in job order")
t.is(hidden_files(dir .. "/out/nested"), 0, "no temporary files")

-- A failing job: its name, file and line, a traceback; the others finish.
lib.write(dir .. "/keep.txt", "earlier\n")
reports = runner.run {
  output_dir = dir, parallel = 2, module = "runner_job",
  jobs = { job("keep", 2, { fail_run = 2 }), job("other", 1) },
}
t.is(reports[1].ok, false, "the failing job is not ok")
t.like(reports[1].error, "^[^\n]*runner_job%.lua:%d+: job keep failed on run 2\n"
  .. "stack traceback:\n", "its error names file, line, message; traceback")
t.is(lib.read(dir .. "/keep.txt"), "earlier\n",
  "an earlier file of the failed job is untouched")
t.ok(reports[2].ok, "the other job is ok")
t.like(lib.read(dir .. "/other.txt") or "", "^other run 1/1", "and wrote its file")

reports = runner.run {
  output_dir = dir, module = "runner_job",
  jobs = { job("bad", 1, { bad_name = true }) },
}
t.like(reports[1].error or "", "bad output file name '%.%./escape%.txt'",
  "a file name with a '/' is refused")
t.is(lib.exists(dir .. "/bad.txt"), false, "and nothing of that job is written")

-- A real SIGINT while a job runs: everything is cancelled, no files.
reports, interrupted = runner.run {
  output_dir = dir .. "/int", parallel = 1, module = "runner_job",
  jobs = { job("first", 1, { interrupt = true }), job("second", 1) },
}
t.is(interrupted, true, "SIGINT interrupts the run")
t.ok(reports[1].cancelled and reports[2].cancelled, "both jobs are cancelled")
t.is(reports[2].error, "interrupted", "the queued job never ran")
t.is(lib.exists(dir .. "/int/first.txt") or lib.exists(dir .. "/int/second.txt"),
  false, "no file is written")
t.is(hidden_files(dir .. "/int"), 0, "no temporary file is left")

-- An output directory that cannot be made: nil and a message, no work.
lib.write(dir .. "/plain", "x")
local nothing, message = runner.run {
  output_dir = dir .. "/plain/sub", module = "runner_job",
  jobs = { job("never", 1) },
}
t.is(nothing, nil, "an unusable output directory returns nil")
t.is(message, "output directory '" .. dir .. "/plain/sub': cannot create: "
  .. "Not a directory", "the message names the directory")
t.is(runner.check_dir(dir .. "/plain"), nil, "check_dir refuses a file")

t.is(runner.worker(), nil, "runner.worker() is nil outside a worker")
t.is(runner.cancelled(), false, "runner.cancelled() is false outside")
t.is(select("#", pcall(runner.progress, 0.5)), 1,
  "runner.progress is a no-op outside a worker: no error, no value")
t.ok((pcall(runner.progress, 0.5)), "runner.progress(0.5) does not raise")

os.execute("rm -rf " .. lib.quote(dir))
t.done_testing()
