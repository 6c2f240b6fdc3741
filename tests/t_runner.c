/* t_runner.c: the libuv job runner: parallel jobs write exactly their files,
 * a failing job writes none and leaves earlier files intact, interruption
 * (bt_runner_interrupt and a real SIGINT) leaves no temporary files, and an
 * output directory that cannot be made is refused before any work. */
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner.h"
#include "tap.h"

#define MAX_JOBS 8

typedef struct job_spec {
  const char *name;   /* file NAME.txt gets "NAME:" + index */
  int fail;           /* the job fails (after adding its file) */
  int interrupt;      /* 1: bt_runner_interrupt, 2: SIGINT to the process */
  int bad_name;       /* tries to add a file named "../x" */
} job_spec;

typedef struct seen {
  int reports;
  int status[MAX_JOBS];
  int cancelled[MAX_JOBS];
  size_t nfiles[MAX_JOBS];
  char error[MAX_JOBS][256];
  char value[MAX_JOBS][64];
  bt_runner_t *runner;
} seen;

static atomic_int bad_name_status;

/* Waits (bounded: 20 s) until the runner says the run is interrupted. */
static int wait_cancelled(bt_runner_job_t *job) {
  for (int i = 0; i < 20000; i++) {
    if (bt_runner_job_cancelled(job)) return 1;
    usleep(1000);
  }
  return 0;
}

static bt_runner_t *current_runner;

static void work(bt_runner_job_t *job, void *arg) {
  job_spec *spec = arg;
  char name[64], text[64];
  snprintf(name, sizeof name, "%s.txt", spec->name);
  snprintf(text, sizeof text, "%s:%s", spec->name, bt_runner_job_label(job));
  bt_runner_job_add_file(job, name, text, strlen(text));
  bt_runner_job_add_file(job, "big_" , NULL, 0); /* empty file is fine */
  bt_runner_job_set_value(job, text, strlen(text));
  bt_runner_job_progress(job, 0.5);
  if (spec->bad_name)
    atomic_store(&bad_name_status, bt_runner_job_add_file(job, "../x", "x", 1));
  if (spec->interrupt == 1) bt_runner_interrupt(current_runner);
  if (spec->interrupt == 2) kill(getpid(), SIGINT);
  if (spec->interrupt && !wait_cancelled(job))
    bt_runner_job_fail(job, BT_ESTATE, "never saw the interruption");
  if (spec->fail) bt_runner_job_fail(job, BT_EINVAL, "%s: boom", spec->name);
}

static void done(void *ctx, const bt_runner_report *report) {
  seen *s = ctx;
  s->reports++;
  s->status[report->index] = report->status;
  s->cancelled[report->index] = report->cancelled;
  s->nfiles[report->index] = report->nfiles;
  snprintf(s->error[report->index], 256, "%s",
           report->error ? report->error : "");
  if (report->value != NULL)
    snprintf(s->value[report->index], 64, "%.*s", (int)report->value_size,
             report->value);
}

static char *slurp(const char *dir, const char *name) {
  static char text[256];
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *file = fopen(path, "rb");
  if (file == NULL) return NULL;
  size_t len = fread(text, 1, sizeof text - 1, file);
  fclose(file);
  text[len] = '\0';
  return text;
}

static void spit(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *file = fopen(path, "wb");
  fputs(text, file);
  fclose(file);
}

/* Counts directory entries whose names start with '.' (temporary files). */
static int hidden_files(const char *dir) {
  DIR *d = opendir(dir);
  int count = 0;
  struct dirent *entry;
  while (d != NULL && (entry = readdir(d)) != NULL)
    if (entry->d_name[0] == '.' && strcmp(entry->d_name, ".") != 0 &&
        strcmp(entry->d_name, "..") != 0)
      count++;
  if (d != NULL) closedir(d);
  return count;
}

static int run_jobs(const char *dir, job_spec *specs, int njobs,
                    unsigned parallel, seen *s) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  bt_runner_opts opts = {.loop = &loop, .output_dir = dir,
                         .parallel = parallel, .work = work, .done = done,
                         .ctx = s, .catch_sigint = 1};
  bt_runner_t *runner;
  bt_err err = {0};
  memset(s, 0, sizeof *s);
  int status = bt_runner_new(&opts, &runner, &err);
  if (status != BT_OK) {
    diag("bt_runner_new: %s", err.msg);
    uv_loop_close(&loop);
    return -1;
  }
  for (int i = 0; i < njobs; i++) {
    char label[16];
    snprintf(label, sizeof label, "job%d", i);
    bt_runner_add(runner, label, &specs[i]);
  }
  current_runner = runner;
  bt_runner_run(runner);
  int result = (int)bt_runner_failed(runner) +
               (bt_runner_interrupted(runner) ? 100 : 0);
  s->runner = NULL;
  bt_runner_free(runner);
  uv_run(&loop, UV_RUN_DEFAULT);
  is_int(uv_loop_close(&loop), 0, "loop closes: no handle left behind");
  return result;
}

static void test_parallel(const char *top) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/a/b/c", top);
  job_spec specs[4] = {{.name = "w"}, {.name = "x"}, {.name = "y"}, {.name = "z"}};
  seen s;
  is_int(run_jobs(dir, specs, 4, 2, &s), 0, "4 jobs, 2 at a time: none fail");
  is_int(s.reports, 4, "every job is reported once");
  is_str(slurp(dir, "w.txt"), "w:job0", "job0 wrote w.txt exactly");
  is_str(slurp(dir, "z.txt"), "z:job3", "job3 wrote z.txt exactly");
  is_str(slurp(dir, "big_"), "", "an empty file is written too");
  is_int((long long)s.nfiles[2], 2, "report counts the renamed files");
  is_str(s.value[1], "x:job1", "the job's value comes back");
  is_int(hidden_files(dir), 0, "no temporary file is left");
}

static void test_failure(const char *top) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/fail", top);
  bt_runner_check_dir(dir, NULL);
  spit(dir, "bad.txt", "earlier run");
  job_spec specs[2] = {{.name = "bad", .fail = 1, .bad_name = 1}, {.name = "good"}};
  seen s;
  is_int(run_jobs(dir, specs, 2, 2, &s), 1, "one job failed");
  is_str(s.error[0], "bad: boom", "the failure's message is reported");
  is_int(s.status[0], BT_EINVAL, "with its status");
  is_int(atomic_load(&bad_name_status), BT_EINVAL,
         "a file name with '/' is refused");
  is_str(slurp(dir, "bad.txt"), "earlier run",
         "a failed job leaves the earlier file untouched");
  is_str(slurp(dir, "good.txt"), "good:job1", "the other job's file is there");
  is_int(hidden_files(dir), 0, "no temporary file is left");
}

static void test_interrupt(const char *top, int how, const char *what) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/int%d", top, how);
  bt_runner_check_dir(dir, NULL);
  spit(dir, "first.txt", "earlier run");
  job_spec specs[3] = {{.name = "first", .interrupt = how}, {.name = "second"}, {.name = "third"}};
  seen s;
  is_int(run_jobs(dir, specs, 3, 1, &s), 100, "%s: the run is interrupted",
         what);
  is_int(s.reports, 3, "%s: every job is reported", what);
  ok(s.cancelled[0] && s.cancelled[1] && s.cancelled[2],
     "%s: all three jobs are cancelled", what);
  is_str(s.error[2], "interrupted", "%s: a job that never ran says so", what);
  is_str(slurp(dir, "first.txt"), "earlier run",
         "%s: the earlier file is untouched", what);
  ok(slurp(dir, "second.txt") == NULL, "%s: a queued job never ran", what);
  is_int(hidden_files(dir), 0, "%s: no temporary file is left", what);
}

/* A done callback that queues a dependent job ahead of the queued ones. */
static job_spec dependent = {.name = "dep"};
static char order[64];

static void done_adding(void *ctx, const bt_runner_report *report) {
  seen *s = ctx;
  done(ctx, report);
  strncat(order, report->label, sizeof order - strlen(order) - 1);
  strncat(order, " ", sizeof order - strlen(order) - 1);
  if (report->index == 0) {
    char name[] = "after0";
    is_int(bt_runner_add_next(current_runner, name, &dependent), 0,
           "a job is added from the done callback");
  }
  (void)s;
}

static void test_add_next(const char *top) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/next", top);
  uv_loop_t loop;
  uv_loop_init(&loop);
  job_spec specs[3] = {{.name = "n0"}, {.name = "n1"}, {.name = "n2"}};
  seen s;
  memset(&s, 0, sizeof s);
  bt_runner_opts opts = {.loop = &loop, .output_dir = dir, .parallel = 1,
                         .work = work, .done = done_adding, .ctx = &s};
  bt_runner_t *runner;
  bt_runner_new(&opts, &runner, NULL);
  for (int i = 0; i < 3; i++) bt_runner_add(runner, specs[i].name, &specs[i]);
  current_runner = runner;
  bt_runner_run(runner);
  ok(strstr(order, "after0 ") != NULL, "the added job runs and is reported");
  is_str(s.value[3], "dep:after0", "with index 3 (the fourth job added)");
  is_int(s.reports, 4, "four jobs reported");
  is_str(slurp(dir, "dep.txt"), "dep:after0", "and writes its file");
  is_int(bt_runner_add(runner, "late", &dependent), BT_ESTATE,
         "no job can be added once run has returned");
  bt_runner_free(runner);
  uv_loop_close(&loop);
}

static void test_bad_dir(const char *top) {
  char file_path[512], dir[600];
  snprintf(file_path, sizeof file_path, "%s/plain", top);
  spit(top, "plain", "x");
  snprintf(dir, sizeof dir, "%s/sub", file_path);
  bt_err err = {0};
  is_int(bt_runner_check_dir(dir, &err), BT_EIO,
         "a directory under a plain file cannot be made");
  char want[800];
  snprintf(want, sizeof want,
           "output directory '%s': cannot create: Not a directory", dir);
  is_str(err.msg, want, "the message names the directory and the reason");
  is_int(bt_runner_check_dir(file_path, &err), BT_EIO, "a file is no directory");
  snprintf(want, sizeof want, "output directory '%s': not a directory",
           file_path);
  is_str(err.msg, want, "the message says so");
  uv_loop_t loop;
  uv_loop_init(&loop);
  bt_runner_opts opts = {.loop = &loop, .output_dir = dir, .work = work};
  bt_runner_t *runner = (bt_runner_t *)&opts;
  is_int(bt_runner_new(&opts, &runner, &err), BT_EIO,
         "bt_runner_new refuses it before any job");
  ok(runner == NULL, "and makes no runner");
  uv_loop_close(&loop);
}

int main(void) {
  char top[] = "/tmp/t_runner.XXXXXX";
  if (mkdtemp(top) == NULL) return 1;
  test_parallel(top);
  test_failure(top);
  test_interrupt(top, 1, "bt_runner_interrupt");
  test_interrupt(top, 2, "SIGINT");
  test_add_next(top);
  test_bad_dir(top);
  char command[600];
  snprintf(command, sizeof command, "rm -rf '%s'", top);
  if (system(command) != 0) diag("could not remove %s", top);
  return done_testing();
}
