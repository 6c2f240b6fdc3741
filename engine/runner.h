/* runner.h: a generic parallel job runner on libuv (no Lua). Jobs run on the
 * thread pool (uv_queue_work), at most `parallel` at once; a job hands back a
 * status, an error text and output files, which the loop thread writes to
 * a private staging directory inside the output directory, fsyncs and renames
 * into place together (an earlier file is kept aside and put back if any
 * rename fails), so an interrupted run never leaves a half-written file or a
 * partial job and never damages an earlier run's file. A job may instead be
 * a child process (opts.child): the runner starts it with uv_spawn, feeds
 * it its input, collects its output and log, kills it at its deadline and
 * reports how it ended. SIGINT, SIGTERM and SIGHUP cancel: queued jobs never
 * start, running jobs see bt_runner_job_cancelled() (children are killed),
 * staging directories are removed. */
#ifndef BT_RUNNER_H
#define BT_RUNNER_H

#include <stddef.h>

#include <uv.h>

#include "err.h"

typedef struct bt_runner_s bt_runner_t;
typedef struct bt_runner_job_s bt_runner_job_t;

/* Runs on a pool thread: does the work of job `arg`, reporting through
 * `job` (files, failure, progress). Must not touch the loop. */
typedef void (*bt_runner_work_fn)(bt_runner_job_t *job, void *arg);

/* A job run as a child process (bt_runner_opts.child): what to start. The
 * child gets /dev/null as stdin; its stdout and stderr go to one pipe (the
 * job's log, kept up to BT_RUNNER_LOG_MAX bytes); its fd 3 is a socket on
 * which it reads `input` up to EOF and writes its output back. */
typedef struct bt_runner_child {
  const char *file;  /* the executable */
  char **args;       /* argv, NULL-terminated (args[0] included) */
  char *input;       /* malloc'd; the runner frees it */
  size_t input_size;
  double deadline;   /* s of wall time, then SIGKILL; 0: none */
} bt_runner_child;

#define BT_RUNNER_LOG_MAX (64 * 1024)
#define BT_RUNNER_OUTPUT_MAX ((size_t)1 << 31) /* bytes a child hands back */

/* How a child ended (the collect callback; pointers valid during it). */
typedef struct bt_runner_exit {
  const char *output; /* bytes it wrote on fd 3 */
  size_t output_size;
  int64_t exit_status;
  int term_signal;  /* the signal that ended it, or 0 */
  int timed_out;    /* killed at the deadline */
  int too_much;     /* killed: handed back more than BT_RUNNER_OUTPUT_MAX */
  double deadline;  /* as given */
} bt_runner_exit;

/* On the loop thread: fills `child` for job `arg` and returns 0; or returns
 * BT_RUNNER_ON_POOL to run this job with opts.work on the pool instead
 * (work on trusted bytes: no child needed); other nonzero values fail the
 * job (bt_runner_job_fail first). */
#define BT_RUNNER_ON_POOL 1
typedef int (*bt_runner_child_fn)(bt_runner_job_t *job, void *arg,
                                  bt_runner_child *child);
/* On the loop thread, once the child is over: turns its output into the
 * job's files, value or failure (bt_runner_job_*). */
typedef void (*bt_runner_collect_fn)(bt_runner_job_t *job, void *arg,
                                     const bt_runner_exit *how);

/* What a job reports once it is over (loop thread). Pointers are valid only
 * during the done callback. */
typedef struct bt_runner_report {
  size_t index;      /* order of bt_runner_add(_next), from 0 */
  const char *label; /* as given to bt_runner_add */
  void *arg;         /* as given to bt_runner_add */
  int status;        /* 0 ok; else a BT_E* or the job's own failure code */
  const char *error; /* NULL when ok: the job's message or the write error */
  int cancelled;     /* interrupted before the job's files were in place */
  size_t nfiles;     /* files renamed into place */
  const char *const *files; /* their names (inside the output directory) */
  const char *value; /* bytes the job handed back (may hold NULs), or NULL */
  size_t value_size;
  double seconds; /* wall time of the work callback or the child, s */
  const char *log; /* a child's stdout and stderr (may be NULL) */
  size_t log_size;
} bt_runner_report;

typedef void (*bt_runner_done_fn)(void *ctx, const bt_runner_report *report);

typedef struct bt_runner_opts {
  uv_loop_t *loop;
  const char *output_dir; /* created (with parents) if missing */
  unsigned parallel;      /* jobs at once; 0 means 1 */
  bt_runner_work_fn work; /* jobs on the pool; or, when child is set: */
  bt_runner_child_fn child;     /* each job a child process */
  bt_runner_collect_fn collect; /* required with child */
  bt_runner_done_fn done; /* may be NULL */
  void *ctx;              /* passed to done */
  int catch_sigint;       /* SIGINT, SIGTERM and SIGHUP interrupt the run */
  int lock;               /* hold an exclusive lock (flock) on the output
                             directory for the run: a second run waits */
  int progress;           /* a progress line on stderr (caller checks tty) */
} bt_runner_opts;

/* Makes `dir` (and its parents) and checks that files can be created in it.
 * BT_EIO with a message naming the directory when not. */
int bt_runner_check_dir(const char *dir, bt_err *err);

/* Checks the output directory (bt_runner_check_dir) and makes a runner. */
int bt_runner_new(const bt_runner_opts *opts, bt_runner_t **out, bt_err *err);

/* Queues a job; `label` is copied, `arg` is handed to work and done. Jobs
 * can be added before bt_runner_run or, from the loop thread, while it runs
 * (e.g. in the done callback: a job that depends on finished ones). */
int bt_runner_add(bt_runner_t *runner, const char *label, void *arg);

/* Same, queued ahead of every job not yet started. */
int bt_runner_add_next(bt_runner_t *runner, const char *label, void *arg);

/* Runs every job and writes their files; returns when all are over (or
 * cancelled). Returns 0, or BT_ESTATE when called twice. */
int bt_runner_run(bt_runner_t *runner);

/* After run: how many jobs failed (status != 0, not counting cancelled). */
size_t bt_runner_failed(const bt_runner_t *runner);

/* After run: was the run interrupted (SIGINT or bt_runner_interrupt)? */
int bt_runner_interrupted(const bt_runner_t *runner);

/* Interrupts the run as SIGINT would. Safe from any thread. */
void bt_runner_interrupt(bt_runner_t *runner);

void bt_runner_free(bt_runner_t *runner);

/* --- the job side: called from the work callback (pool thread) --- */

/* Adds an output file (a plain name, no '/', not starting with '.');
 * the bytes are copied. BT_EINVAL for a bad name, BT_ENOMEM. */
int bt_runner_job_add_file(bt_runner_job_t *job, const char *name,
                           const void *data, size_t size);

/* Hands bytes back to the caller (bt_runner_report.value); copied. */
int bt_runner_job_set_value(bt_runner_job_t *job, const void *data,
                            size_t size);

/* Marks the job failed with a message (its files are then not written). */
void bt_runner_job_fail(bt_runner_job_t *job, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Publishes the job's progress, 0..1, for the progress line. */
void bt_runner_job_progress(bt_runner_job_t *job, double fraction);

/* Has the run been interrupted? A job should stop soon when it has. */
int bt_runner_job_cancelled(const bt_runner_job_t *job);

const char *bt_runner_job_label(const bt_runner_job_t *job);

#endif
