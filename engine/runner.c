/* runner.c: the parallel job runner (runner.h). Jobs go to the libuv pool,
 * or run as child processes (uv_spawn); their files are written by an
 * uv_fs_* chain per file into the job's private staging directory (open
 * O_EXCL|O_NOFOLLOW, write, fsync, close), then renamed into place together
 * once every file of the job is on disk. Only the loop thread touches the
 * runner's bookkeeping; pool threads touch only their own job (and two
 * atomics). */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROGRESS_PERIOD_MS 200
#define STAGE_PREFIX ".btlua-stage."
#define DRAIN_MS 2000 /* after a child exits: time to read its last bytes */

static const int STOP_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
#define NSTOP_SIGNALS 3

struct child_run;

typedef struct out_file {
  char *name;
  char *data;
  size_t size;
  char *tmp_path; /* set while (or after) writing; NULL when not created */
} out_file;

/* One uv_fs_* chain: open -> write... -> fsync -> close. */
typedef struct file_write {
  uv_fs_t req;
  bt_runner_job_t *job;
  out_file *file;
  uv_file fd;
  size_t offset;
} file_write;

enum job_state { JOB_QUEUED, JOB_WORKING, JOB_WRITING, JOB_OVER };

struct bt_runner_job_s {
  bt_runner_t *runner;
  size_t index;
  char *label;
  void *arg;
  enum job_state state;
  uv_work_t work_req;
  /* Written by the work callback, read by the loop after it. */
  out_file *files;
  size_t nfiles, files_cap;
  char *value;
  size_t value_size;
  int status;
  char *error;
  double seconds;
  int out_of_memory;
  atomic_int progress_permille;
  /* A child process (opts.child) while it runs, and its log. */
  struct child_run *child;
  char *log;
  size_t log_size;
  /* Writing (loop thread). */
  char *stage_dir; /* DIR/.btlua-stage.PID.SEQ while it exists */
  size_t writes_pending;
  int cancelled;
};

struct bt_runner_s {
  bt_runner_opts opts;
  char *output_dir;
  bt_runner_job_t **jobs;
  size_t njobs, jobs_cap;
  size_t next_job;  /* first job not yet submitted */
  size_t working;   /* jobs in the work phase */
  size_t over;      /* jobs reported */
  size_t failed;
  size_t tmp_seq;   /* makes temporary names unique */
  int ran;
  int finished; /* run returned: no more jobs */
  int sigint_count;
  atomic_int interrupted;
  uint64_t started_ns;
  int handles_open;
  int have_async;
  uv_signal_t signals[NSTOP_SIGNALS];
  int lock_fd;
  uv_timer_t progress_timer;
  uv_async_t wakeup;
  int progress_shown;
};

static char *dup_text(const char *text) {
  size_t len = strlen(text) + 1;
  char *copy = malloc(len);
  if (copy != NULL) memcpy(copy, text, len);
  return copy;
}

static char *format_text(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *format_text(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (len < 0) return NULL;
  char *text = malloc((size_t)len + 1);
  if (text == NULL) return NULL;
  va_start(ap, fmt);
  vsnprintf(text, (size_t)len + 1, fmt, ap);
  va_end(ap);
  return text;
}

/* --- the output directory --- */

/* mkdir -p: makes every missing component of `dir`. */
static int make_dirs(const char *dir) {
  char *path = dup_text(dir);
  if (path == NULL) return ENOMEM;
  int result = 0;
  for (char *slash = path + 1;; slash++) {
    if (*slash != '/' && *slash != '\0') continue;
    char saved = *slash;
    *slash = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
      result = errno;
      break;
    }
    *slash = saved;
    if (saved == '\0') break;
  }
  free(path);
  return result;
}

int bt_runner_check_dir(const char *dir, bt_err *err) {
  if (dir == NULL || dir[0] == '\0')
    return bt_err_set(err, BT_EINVAL, "output directory: empty name");
  struct stat st;
  if (stat(dir, &st) != 0) {
    int code = make_dirs(dir);
    if (code != 0)
      return bt_err_set(err, BT_EIO, "output directory '%s': cannot create: %s",
                        dir, strerror(code));
    if (stat(dir, &st) != 0)
      return bt_err_set(err, BT_EIO, "output directory '%s': %s", dir,
                        strerror(errno));
  }
  if (!S_ISDIR(st.st_mode))
    return bt_err_set(err, BT_EIO, "output directory '%s': not a directory",
                      dir);
  /* access(W_OK) says yes to root on a read-only mount: really create. */
  char probe[4096];
  if (snprintf(probe, sizeof probe, "%s/.btlua-probe.%ld", dir,
               (long)getpid()) >= (int)sizeof probe)
    return bt_err_set(err, BT_EINVAL, "output directory '%s': name too long",
                      dir);
  int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0 && errno == EEXIST) {
    unlink(probe);
    fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
  }
  if (fd < 0)
    return bt_err_set(err, BT_EIO, "output directory '%s': not writable: %s",
                      dir, strerror(errno));
  close(fd);
  unlink(probe);
  return BT_OK;
}

/* --- the job side (pool thread) --- */

static int valid_file_name(const char *name) {
  if (name[0] == '\0' || name[0] == '.') return 0;
  if (strchr(name, '/') != NULL) return 0;
  return strlen(name) < 200;
}

int bt_runner_job_add_file(bt_runner_job_t *job, const char *name,
                           const void *data, size_t size) {
  if (!valid_file_name(name)) return BT_EINVAL;
  for (size_t i = 0; i < job->nfiles; i++)
    if (strcmp(job->files[i].name, name) == 0) return BT_EINVAL;
  if (job->nfiles == job->files_cap) {
    size_t cap = job->files_cap ? job->files_cap * 2 : 16;
    out_file *files = realloc(job->files, cap * sizeof *files);
    if (files == NULL) return BT_ENOMEM;
    job->files = files;
    job->files_cap = cap;
  }
  out_file *file = &job->files[job->nfiles];
  memset(file, 0, sizeof *file);
  file->name = dup_text(name);
  file->data = malloc(size ? size : 1);
  if (file->name == NULL || file->data == NULL) {
    free(file->name);
    free(file->data);
    return BT_ENOMEM;
  }
  if (size) memcpy(file->data, data, size);
  file->size = size;
  job->nfiles++;
  return BT_OK;
}

int bt_runner_job_set_value(bt_runner_job_t *job, const void *data,
                            size_t size) {
  char *copy = malloc(size ? size : 1);
  if (copy == NULL) return BT_ENOMEM;
  if (size) memcpy(copy, data, size);
  free(job->value);
  job->value = copy;
  job->value_size = size;
  return BT_OK;
}

void bt_runner_job_fail(bt_runner_job_t *job, int status, const char *fmt,
                        ...) {
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  free(job->error);
  job->error = NULL;
  if (len >= 0 && (job->error = malloc((size_t)len + 1)) != NULL) {
    va_start(ap, fmt);
    vsnprintf(job->error, (size_t)len + 1, fmt, ap);
    va_end(ap);
  }
  job->status = status != 0 ? status : BT_EINVAL;
}

void bt_runner_job_progress(bt_runner_job_t *job, double fraction) {
  if (!(fraction >= 0)) fraction = 0; /* also NaN */
  if (fraction > 1) fraction = 1;
  atomic_store(&job->progress_permille, (int)(fraction * 1000));
}

int bt_runner_job_cancelled(const bt_runner_job_t *job) {
  return atomic_load(&job->runner->interrupted) != 0;
}

const char *bt_runner_job_label(const bt_runner_job_t *job) {
  return job->label;
}

static void start_jobs(bt_runner_t *runner);

/* --- making and freeing --- */

int bt_runner_new(const bt_runner_opts *opts, bt_runner_t **out, bt_err *err) {
  *out = NULL;
  if (opts->loop == NULL ||
      (opts->work == NULL && (opts->child == NULL || opts->collect == NULL)))
    return bt_err_set(err, BT_EINVAL, "runner: a loop and a work function "
                                      "(or child and collect) are required");
  int status = opts->output_dir == NULL
                   ? BT_OK /* jobs that write no files */
                   : bt_runner_check_dir(opts->output_dir, err);
  if (status != BT_OK) return status;
  bt_runner_t *runner = calloc(1, sizeof *runner);
  if (runner == NULL) return bt_err_set(err, BT_ENOMEM, "runner: no memory");
  runner->opts = *opts;
  if (runner->opts.parallel == 0) runner->opts.parallel = 1;
  runner->output_dir = dup_text(opts->output_dir ? opts->output_dir : ".");
  if (runner->output_dir == NULL) {
    free(runner);
    return bt_err_set(err, BT_ENOMEM, "runner: no memory");
  }
  runner->opts.output_dir = runner->output_dir;
  runner->lock_fd = -1;
  atomic_init(&runner->interrupted, 0);
  /* The pool is sized once, on first use: jobs plus room for file writes. */
  if (getenv("UV_THREADPOOL_SIZE") == NULL) {
    char size[16];
    unsigned threads = runner->opts.parallel + 2;
    snprintf(size, sizeof size, "%u", threads < 4 ? 4 : threads);
    setenv("UV_THREADPOOL_SIZE", size, 0);
  }
  *out = runner;
  return BT_OK;
}

/* Queues a job at position `at` of the jobs not yet started (at the end,
 * or ahead of them all). Its index is the number of jobs added before. */
static int add_job(bt_runner_t *runner, const char *label, void *arg,
                   int ahead) {
  if (runner->finished) return BT_ESTATE;
  if (runner->njobs == runner->jobs_cap) {
    size_t cap = runner->jobs_cap ? runner->jobs_cap * 2 : 8;
    bt_runner_job_t **jobs = realloc(runner->jobs, cap * sizeof *jobs);
    if (jobs == NULL) return BT_ENOMEM;
    runner->jobs = jobs;
    runner->jobs_cap = cap;
  }
  bt_runner_job_t *job = calloc(1, sizeof *job);
  if (job == NULL) return BT_ENOMEM;
  job->label = dup_text(label != NULL ? label : "");
  if (job->label == NULL) {
    free(job);
    return BT_ENOMEM;
  }
  job->runner = runner;
  job->index = runner->njobs;
  job->arg = arg;
  job->state = JOB_QUEUED;
  atomic_init(&job->progress_permille, 0);
  size_t at = ahead ? runner->next_job : runner->njobs;
  memmove(&runner->jobs[at + 1], &runner->jobs[at],
          (runner->njobs - at) * sizeof *runner->jobs);
  runner->jobs[at] = job;
  runner->njobs++;
  if (runner->ran) start_jobs(runner);
  return BT_OK;
}

int bt_runner_add(bt_runner_t *runner, const char *label, void *arg) {
  return add_job(runner, label, arg, 0);
}

int bt_runner_add_next(bt_runner_t *runner, const char *label, void *arg) {
  return add_job(runner, label, arg, 1);
}

static void free_job_outputs(bt_runner_job_t *job) {
  for (size_t i = 0; i < job->nfiles; i++) {
    free(job->files[i].name);
    free(job->files[i].data);
    free(job->files[i].tmp_path);
  }
  free(job->files);
  job->files = NULL;
  job->nfiles = job->files_cap = 0;
  free(job->value);
  job->value = NULL;
  free(job->error);
  job->error = NULL;
  free(job->log);
  job->log = NULL;
  job->log_size = 0;
}

void bt_runner_free(bt_runner_t *runner) {
  if (runner == NULL) return;
  for (size_t i = 0; i < runner->njobs; i++) {
    free_job_outputs(runner->jobs[i]);
    free(runner->jobs[i]->label);
    free(runner->jobs[i]);
  }
  free(runner->jobs);
  free(runner->output_dir);
  if (runner->lock_fd >= 0) close(runner->lock_fd);
  free(runner);
}

size_t bt_runner_failed(const bt_runner_t *runner) { return runner->failed; }

int bt_runner_interrupted(const bt_runner_t *runner) {
  return atomic_load(&((bt_runner_t *)runner)->interrupted) != 0;
}

/* --- the progress line (loop thread) --- */

static void progress_clear(bt_runner_t *runner) {
  if (!runner->progress_shown) return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  runner->progress_shown = 0;
}

static void progress_tick_cb(uv_timer_t *timer) {
  bt_runner_t *runner = timer->data;
  char line[512];
  size_t used = 0;
  for (size_t i = 0; i < runner->njobs && used < 400; i++) {
    bt_runner_job_t *job = runner->jobs[i];
    if (job->state != JOB_WORKING) continue;
    int permille = atomic_load(&job->progress_permille);
    char bar[11];
    int filled = permille / 100;
    for (int k = 0; k < 10; k++) bar[k] = k < filled ? '#' : '-';
    bar[10] = '\0';
    int len = snprintf(line + used, sizeof line - used, "%.40s [%s] %3d%%  ",
                       job->label, bar, permille / 10);
    if (len < 0 || (size_t)len >= sizeof line - used) break;
    used += (size_t)len;
  }
  double elapsed = (double)(uv_hrtime() - runner->started_ns) / 1e9;
  if (used < sizeof line)
    snprintf(line + used, sizeof line - used, "%zu/%zu done  %.1fs",
             runner->over, runner->njobs, elapsed);
  fprintf(stderr, "\r\033[K%s", line);
  fflush(stderr);
  runner->progress_shown = 1;
}

/* --- finishing a job (loop thread) --- */


/* Removes a directory and the plain files in it (a staging directory:
 * no subdirectories, nothing followed). */
static void remove_dir(const char *dir) {
  DIR *handle = opendir(dir);
  if (handle != NULL) {
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL) {
      if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
        continue;
      char *path = format_text("%s/%s", dir, entry->d_name);
      if (path != NULL) unlink(path);
      free(path);
    }
    closedir(handle);
  }
  rmdir(dir);
}

static void remove_temp_files(bt_runner_job_t *job) {
  for (size_t i = 0; i < job->nfiles; i++) {
    free(job->files[i].tmp_path);
    job->files[i].tmp_path = NULL;
  }
  if (job->stage_dir == NULL) return;
  remove_dir(job->stage_dir);
  free(job->stage_dir);
  job->stage_dir = NULL;
}

/* Puts files 0..count-1 of the job back as they were: the earlier file
 * (kept in the staging directory as .old.NAME) where there was one, else
 * nothing. */
static void roll_back(bt_runner_job_t *job, size_t count) {
  for (size_t i = 0; i < count; i++) {
    char *path = format_text("%s/%s", job->runner->output_dir,
                             job->files[i].name);
    char *old = format_text("%s/.old.%s", job->stage_dir, job->files[i].name);
    if (path != NULL && old != NULL && rename(old, path) != 0) unlink(path);
    free(path);
    free(old);
  }
}

/* Renames every staged file into place. An existing file (or symbolic
 * link: never followed) is first linked aside in the staging directory;
 * if any rename fails, the files already renamed are put back, so the
 * job's files appear all together or not at all. Signals are handled by
 * the loop, between callbacks: they never land inside this function. */
static void rename_files(bt_runner_job_t *job, const char **names,
                         size_t *renamed) {
  bt_runner_t *runner = job->runner;
  size_t done = 0;
  for (size_t i = 0; i < job->nfiles && job->status == 0; i++) {
    out_file *file = &job->files[i];
    char *path = format_text("%s/%s", runner->output_dir, file->name);
    char *old = format_text("%s/.old.%s", job->stage_dir, file->name);
    int rc = 0;
    if (path == NULL || old == NULL) rc = ENOMEM;
    else if (link(path, old) != 0 && errno != ENOENT) rc = errno;
    else if (rename(file->tmp_path, path) != 0) rc = errno;
    if (rc != 0) {
      job->status = BT_EIO;
      job->error = format_text("cannot rename %s to %s: %s", file->tmp_path,
                               path ? path : file->name, strerror(rc));
    } else {
      done = i + 1;
    }
    free(path);
    free(old);
  }
  if (job->status != 0) roll_back(job, done);
  else
    for (size_t i = 0; i < done; i++) names[(*renamed)++] = job->files[i].name;
  remove_temp_files(job);
  if (*renamed == 0) return;
  uv_fs_t req; /* make the renames durable: fsync the directory */
  int dir_fd = uv_fs_open(runner->opts.loop, &req, runner->output_dir,
                          O_RDONLY, 0, NULL);
  uv_fs_req_cleanup(&req);
  if (dir_fd >= 0) {
    uv_fs_fsync(runner->opts.loop, &req, dir_fd, NULL);
    uv_fs_req_cleanup(&req);
    uv_fs_close(runner->opts.loop, &req, dir_fd, NULL);
    uv_fs_req_cleanup(&req);
  }
}

static void report_job(bt_runner_job_t *job) {
  bt_runner_t *runner = job->runner;
  const char **names = calloc(job->nfiles ? job->nfiles : 1, sizeof *names);
  size_t renamed = 0;
  if (names == NULL && job->status == 0) {
    job->status = BT_ENOMEM;
    job->error = dup_text("runner: out of memory");
  }
  /* Once interrupted, a job not yet reported counts as cancelled, even if
   * it failed: the interruption is the likely cause (a job stops by
   * failing when it sees bt_runner_job_cancelled). */
  if (atomic_load(&runner->interrupted)) job->cancelled = 1;
  if (job->status == 0 && !job->cancelled) rename_files(job, names, &renamed);
  else remove_temp_files(job);
  job->state = JOB_OVER;
  runner->over++;
  if (job->status != 0 && !job->cancelled) runner->failed++;
  if (runner->opts.done != NULL) {
    progress_clear(runner);
    bt_runner_report report = {
      .index = job->index,
      .label = job->label,
      .arg = job->arg,
      .status = job->cancelled ? BT_ESTATE : job->status,
      .error = job->cancelled ? "interrupted"
               : job->status  ? (job->error ? job->error : "job failed")
                              : NULL,
      .cancelled = job->cancelled,
      .nfiles = renamed,
      .files = names,
      .value = job->value,
      .value_size = job->value_size,
      .seconds = job->seconds,
      .log = job->log,
      .log_size = job->log_size,
    };
    runner->opts.done(runner->opts.ctx, &report);
  }
  free(names);
  free_job_outputs(job);
}

static void write_file_over(file_write *write) {
  bt_runner_job_t *job = write->job;
  free(write);
  if (--job->writes_pending == 0) report_job(job);
}

static void write_failed(file_write *write, const char *step, int rc) {
  bt_runner_job_t *job = write->job;
  if (job->status == 0) {
    job->status = BT_EIO;
    free(job->error);
    job->error = format_text("cannot %s %s/%s: %s", step,
                             job->runner->output_dir, write->file->name,
                             uv_strerror(rc));
  }
}

static void on_close_cb(uv_fs_t *req) {
  file_write *write = req->data;
  if (req->result < 0) write_failed(write, "close", (int)req->result);
  uv_fs_req_cleanup(req);
  write_file_over(write);
}

static void close_file(file_write *write) {
  int rc = uv_fs_close(write->job->runner->opts.loop, &write->req, write->fd,
                       on_close_cb);
  if (rc < 0) {
    write_failed(write, "close", rc);
    write_file_over(write);
  }
}

static void on_fsync_cb(uv_fs_t *req) {
  file_write *write = req->data;
  if (req->result < 0) write_failed(write, "fsync", (int)req->result);
  uv_fs_req_cleanup(req);
  close_file(write);
}

static void write_more(file_write *write);

static void on_write_cb(uv_fs_t *req) {
  file_write *write = req->data;
  ssize_t result = req->result;
  uv_fs_req_cleanup(req);
  if (result < 0) {
    write_failed(write, "write", (int)result);
    close_file(write);
    return;
  }
  write->offset += (size_t)result;
  write_more(write);
}

/* Writes the rest of the file, then fsyncs it. */
static void write_more(file_write *write) {
  uv_loop_t *loop = write->job->runner->opts.loop;
  int rc;
  if (write->offset < write->file->size && write->job->status == 0) {
    uv_buf_t buf = uv_buf_init(write->file->data + write->offset,
                               (unsigned)(write->file->size - write->offset));
    rc = uv_fs_write(loop, &write->req, write->fd, &buf, 1,
                     (int64_t)write->offset, on_write_cb);
    if (rc < 0) write_failed(write, "write", rc);
  } else if (write->job->status == 0) {
    rc = uv_fs_fsync(loop, &write->req, write->fd, on_fsync_cb);
    if (rc < 0) write_failed(write, "fsync", rc);
  } else {
    rc = -1;
  }
  if (rc < 0) close_file(write);
}

static void on_open_cb(uv_fs_t *req) {
  file_write *write = req->data;
  ssize_t result = req->result;
  uv_fs_req_cleanup(req);
  if (result < 0) {
    /* The temporary name was never created: nothing to remove. */
    free(write->file->tmp_path);
    write->file->tmp_path = NULL;
    write_failed(write, "create", (int)result);
    write_file_over(write);
    return;
  }
  write->fd = (uv_file)result;
  write_more(write);
}

/* Starts the uv_fs_* chain of every file; the job is reported when the
 * last one is over. */
static void write_job_files(bt_runner_job_t *job) {
  bt_runner_t *runner = job->runner;
  job->state = JOB_WRITING;
  if (job->nfiles == 0) { /* nothing to write: no staging directory */
    report_job(job);
    return;
  }
  job->writes_pending = 1; /* held until every chain has started */
  job->stage_dir = format_text("%s/" STAGE_PREFIX "%ld.%zu",
                               runner->output_dir, (long)getpid(),
                               runner->tmp_seq++);
  if (job->stage_dir == NULL || mkdir(job->stage_dir, 0700) != 0) {
    job->status = BT_EIO;
    job->error = format_text("cannot create a staging directory in %s: %s",
                             runner->output_dir, strerror(errno));
    free(job->stage_dir);
    job->stage_dir = NULL;
  }
  for (size_t i = 0; i < job->nfiles && job->status == 0; i++) {
    out_file *file = &job->files[i];
    file_write *write = calloc(1, sizeof *write);
    file->tmp_path = format_text("%s/%s", job->stage_dir, file->name);
    if (write == NULL || file->tmp_path == NULL) {
      free(write);
      job->status = BT_ENOMEM;
      job->error = dup_text("runner: out of memory");
      break;
    }
    write->job = job;
    write->file = file;
    write->req.data = write;
    job->writes_pending++;
    int rc = uv_fs_open(runner->opts.loop, &write->req, file->tmp_path,
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644,
                        on_open_cb);
    if (rc < 0) {
      write->req.result = rc;
      on_open_cb(&write->req);
    }
  }
  if (--job->writes_pending == 0) report_job(job);
}

/* --- the work phase --- */

static void work_cb(uv_work_t *req) {
  bt_runner_job_t *job = req->data;
  uint64_t start = uv_hrtime();
  job->runner->opts.work(job, job->arg);
  job->seconds = (double)(uv_hrtime() - start) / 1e9;
}

/* The work (or the child) is over: write its files or report it. */
static void work_over(bt_runner_job_t *job) {
  bt_runner_t *runner = job->runner;
  runner->working--;
  start_jobs(runner);
  if (job->status != 0 || job->cancelled || atomic_load(&runner->interrupted))
    report_job(job);
  else
    write_job_files(job);
}

static void after_work_cb(uv_work_t *req, int status) {
  bt_runner_job_t *job = req->data;
  if (status == UV_ECANCELED) job->cancelled = 1;
  work_over(job);
}

/* --- child processes (opts.child) --- */

/* One running child: the process, its fd 3 socket (input out, output
 * in), its log pipe (stdout and stderr) and its deadline. */
typedef struct child_run {
  bt_runner_job_t *job;
  uv_process_t process;
  uv_pipe_t channel, log;
  uv_timer_t timer;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  char *input;
  size_t input_size;
  char *output;
  size_t output_size, output_cap;
  char *log_text;
  size_t log_size;
  int handles_open; /* closes not yet called back */
  int channel_open, log_open, process_open, timer_open;
  int exited, timed_out, too_much;
  int64_t exit_status;
  int term_signal;
  double deadline;
  uint64_t started_ns;
} child_run;

static void child_handle_closed_cb(uv_handle_t *handle);

static void child_close(child_run *child, uv_handle_t *handle, int *open) {
  if (!*open) return;
  *open = 0;
  uv_close(handle, child_handle_closed_cb);
}

static void child_kill(child_run *child) {
  if (child->process_open && !child->exited)
    uv_process_kill(&child->process, SIGKILL);
}

/* Once the process exited and both streams hit EOF (or the drain time
 * passed), every handle is closed. */
static void child_maybe_close(child_run *child) {
  if (!child->exited) return;
  if (child->channel_open || child->log_open) return;
  child_close(child, (uv_handle_t *)&child->timer, &child->timer_open);
  child_close(child, (uv_handle_t *)&child->process, &child->process_open);
}

static void child_alloc_cb(uv_handle_t *handle, size_t suggested,
                           uv_buf_t *buf) {
  (void)handle;
  (void)suggested;
  static char scratch[65536]; /* loop thread only; consumed at once */
  *buf = uv_buf_init(scratch, sizeof scratch);
}

static void on_channel_read_cb(uv_stream_t *stream, ssize_t nread,
                               const uv_buf_t *buf) {
  child_run *child = stream->data;
  if (nread > 0) {
    size_t need = child->output_size + (size_t)nread;
    if (need > BT_RUNNER_OUTPUT_MAX) {
      child->too_much = 1;
      child_kill(child);
      nread = UV_EOF;
    } else {
      if (need > child->output_cap) {
        size_t cap = child->output_cap ? child->output_cap : 65536;
        while (cap < need) cap *= 2;
        char *grown = realloc(child->output, cap);
        if (grown == NULL) {
          child->too_much = 1;
          child_kill(child);
          nread = UV_EOF;
        } else {
          child->output = grown;
          child->output_cap = cap;
        }
      }
      if (nread > 0) {
        memcpy(child->output + child->output_size, buf->base, (size_t)nread);
        child->output_size = need;
      }
    }
  }
  if (nread < 0) {
    child_close(child, (uv_handle_t *)&child->channel, &child->channel_open);
    child_maybe_close(child);
  }
}

static void on_log_read_cb(uv_stream_t *stream, ssize_t nread,
                           const uv_buf_t *buf) {
  child_run *child = stream->data;
  if (nread > 0 && child->log_size < BT_RUNNER_LOG_MAX) {
    size_t keep = (size_t)nread;
    if (keep > BT_RUNNER_LOG_MAX - child->log_size)
      keep = BT_RUNNER_LOG_MAX - child->log_size;
    memcpy(child->log_text + child->log_size, buf->base, keep);
    child->log_size += keep;
  }
  if (nread < 0) {
    child_close(child, (uv_handle_t *)&child->log, &child->log_open);
    child_maybe_close(child);
  }
}

static void on_timer_cb(uv_timer_t *timer) {
  child_run *child = timer->data;
  if (!child->exited) { /* the deadline */
    child->timed_out = 1;
    child_kill(child);
    return;
  }
  /* Drained long enough (a descendant may hold the pipes open). */
  child_close(child, (uv_handle_t *)&child->channel, &child->channel_open);
  child_close(child, (uv_handle_t *)&child->log, &child->log_open);
  child_maybe_close(child);
}

static void on_exit_cb(uv_process_t *process, int64_t exit_status,
                       int term_signal) {
  child_run *child = process->data;
  child->exited = 1;
  child->exit_status = exit_status;
  child->term_signal = term_signal;
  child->job->seconds = (double)(uv_hrtime() - child->started_ns) / 1e9;
  if (child->timer_open) {
    uv_timer_stop(&child->timer);
    uv_timer_start(&child->timer, on_timer_cb, DRAIN_MS, 0);
  }
  child_maybe_close(child);
}

static void on_input_written_cb(uv_write_t *req, int status) {
  child_run *child = req->data;
  (void)status; /* a child that stops reading fails on its own */
  free(child->input);
  child->input = NULL;
}

static void on_shutdown_cb(uv_shutdown_t *req, int status) {
  (void)req;
  (void)status;
}

static void child_free(child_run *child) {
  free(child->input);
  free(child->output);
  free(child->log_text);
  free(child);
}

/* Every handle of the child is closed: collect its output, then the job
 * goes on like one from the pool. */
static void child_over(child_run *child) {
  bt_runner_job_t *job = child->job;
  bt_runner_t *runner = job->runner;
  job->child = NULL;
  job->log = child->log_text;
  job->log_size = child->log_size;
  child->log_text = NULL;
  if (atomic_load(&runner->interrupted)) {
    job->cancelled = 1;
  } else if (job->status == 0) {
    bt_runner_exit how = {
      .output = child->output, .output_size = child->output_size,
      .exit_status = child->exit_status, .term_signal = child->term_signal,
      .timed_out = child->timed_out, .too_much = child->too_much,
      .deadline = child->deadline,
    };
    runner->opts.collect(job, job->arg, &how);
  }
  child_free(child);
  work_over(job);
}

static void child_handle_closed_cb(uv_handle_t *handle) {
  child_run *child = handle->data;
  if (--child->handles_open == 0) child_over(child);
}

/* Starts job's child; on a failure the job fails (and is over). */
static void start_child(bt_runner_job_t *job) {
  bt_runner_t *runner = job->runner;
  uv_loop_t *loop = runner->opts.loop;
  bt_runner_child spec = {0};
  child_run *child = calloc(1, sizeof *child);
  char *log_text = malloc(BT_RUNNER_LOG_MAX);
  if (child == NULL || log_text == NULL) {
    free(child);
    free(log_text);
    bt_runner_job_fail(job, BT_ENOMEM, "runner: out of memory");
    work_over(job);
    return;
  }
  child->log_text = log_text;
  child->job = job;
  job->child = child;
  int refused = runner->opts.child(job, job->arg, &spec);
  if (refused == BT_RUNNER_ON_POOL && runner->opts.work != NULL) {
    job->child = NULL;
    child_free(child);
    int rc = uv_queue_work(loop, &job->work_req, work_cb, after_work_cb);
    if (rc < 0) {
      bt_runner_job_fail(job, BT_ESTATE, "cannot queue job: %s",
                         uv_strerror(rc));
      work_over(job);
    }
    return;
  }
  if (refused != 0) {
    free(spec.input);
    job->child = NULL;
    child_free(child);
    if (job->status == 0) bt_runner_job_fail(job, BT_EINVAL, "job refused");
    work_over(job);
    return;
  }
  child->input = spec.input;
  child->input_size = spec.input_size;
  child->deadline = spec.deadline;
  uv_pipe_init(loop, &child->channel, 0);
  uv_pipe_init(loop, &child->log, 0);
  uv_timer_init(loop, &child->timer);
  child->channel.data = child->log.data = child->timer.data = child;
  child->process.data = child->write_req.data = child;
  child->channel_open = child->log_open = child->timer_open = 1;
  child->handles_open = 3;
  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE; /* /dev/null */
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&child->log;
  stdio[2].flags = UV_IGNORE; /* the child puts its stdout there too */
  stdio[3].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
  stdio[3].data.stream = (uv_stream_t *)&child->channel;
  uv_process_options_t options = {
    .exit_cb = on_exit_cb, .file = spec.file, .args = spec.args,
    .stdio_count = 4, .stdio = stdio,
  };
  child->started_ns = uv_hrtime();
  int rc = uv_spawn(loop, &child->process, &options);
  if (rc < 0) {
    bt_runner_job_fail(job, BT_EIO, "cannot start %s: %s", spec.file,
                       uv_strerror(rc));
    child->exited = 1; /* nothing to collect; the handle still closes */
    child->handles_open++;
    child->process_open = 1;
    child_close(child, (uv_handle_t *)&child->channel, &child->channel_open);
    child_close(child, (uv_handle_t *)&child->log, &child->log_open);
    child_maybe_close(child);
    return;
  }
  child->handles_open++;
  child->process_open = 1;
  uv_buf_t buf = uv_buf_init(child->input, (unsigned)child->input_size);
  uv_write(&child->write_req, (uv_stream_t *)&child->channel, &buf, 1,
           on_input_written_cb);
  uv_shutdown(&child->shutdown_req, (uv_stream_t *)&child->channel,
              on_shutdown_cb);
  uv_read_start((uv_stream_t *)&child->channel, child_alloc_cb,
                on_channel_read_cb);
  uv_read_start((uv_stream_t *)&child->log, child_alloc_cb, on_log_read_cb);
  if (spec.deadline > 0)
    uv_timer_start(&child->timer, on_timer_cb,
                   (uint64_t)(spec.deadline * 1000) + 1, 0);
}

/* Reports a job that never ran because the run was interrupted. */
static void skip_job(bt_runner_job_t *job) {
  job->cancelled = 1;
  report_job(job);
}

static void start_jobs(bt_runner_t *runner) {
  while (runner->next_job < runner->njobs &&
         runner->working < runner->opts.parallel) {
    bt_runner_job_t *job = runner->jobs[runner->next_job++];
    if (atomic_load(&runner->interrupted)) {
      skip_job(job);
      continue;
    }
    job->state = JOB_WORKING;
    job->work_req.data = job;
    runner->working++;
    if (runner->opts.child != NULL) {
      start_child(job);
      continue;
    }
    int rc = uv_queue_work(runner->opts.loop, &job->work_req, work_cb,
                           after_work_cb);
    if (rc < 0) {
      runner->working--;
      bt_runner_job_fail(job, BT_ESTATE, "cannot queue job: %s",
                         uv_strerror(rc));
      report_job(job);
    }
  }
}

/* --- interruption --- */

static void cancel_queued(bt_runner_t *runner) {
  for (size_t i = 0; i < runner->njobs; i++) {
    bt_runner_job_t *job = runner->jobs[i];
    if (job->state != JOB_WORKING) continue;
    if (job->child != NULL) child_kill(job->child);
    else if (runner->opts.child == NULL)
      uv_cancel((uv_req_t *)&job->work_req);
  }
  while (runner->next_job < runner->njobs)
    skip_job(runner->jobs[runner->next_job++]);
}

void bt_runner_interrupt(bt_runner_t *runner) {
  atomic_store(&runner->interrupted, 1);
  if (runner->have_async) uv_async_send(&runner->wakeup);
}

static void wakeup_cb(uv_async_t *async) {
  bt_runner_t *runner = async->data;
  if (atomic_load(&runner->interrupted)) cancel_queued(runner);
}

static void sigint_cb(uv_signal_t *handle, int signum) {
  bt_runner_t *runner = handle->data;
  if (++runner->sigint_count > 1) {
    /* A second signal: stop waiting for the jobs, kill the children,
     * remove the staging directories, die of the signal. */
    for (size_t i = 0; i < runner->njobs; i++) {
      if (runner->jobs[i]->child != NULL) child_kill(runner->jobs[i]->child);
      if (runner->jobs[i]->stage_dir != NULL)
        remove_dir(runner->jobs[i]->stage_dir);
    }
    for (int i = 0; i < NSTOP_SIGNALS; i++)
      uv_signal_stop(&runner->signals[i]);
    raise(signum);
    return;
  }
  progress_clear(runner);
  fprintf(stderr, "btlua: interrupted (%s): stopping (Ctrl-C again to quit "
          "now)\n", signum == SIGTERM ? "SIGTERM" : signum == SIGHUP ? "SIGHUP"
                                                                  : "SIGINT");
  atomic_store(&runner->interrupted, 1);
  cancel_queued(runner);
}

/* --- running --- */

static void on_handle_closed_cb(uv_handle_t *handle) {
  bt_runner_t *runner = handle->data;
  runner->handles_open--;
}

static void close_handle(bt_runner_t *runner, uv_handle_t *handle) {
  handle->data = runner;
  uv_close(handle, on_handle_closed_cb);
}

static void open_handles(bt_runner_t *runner) {
  uv_loop_t *loop = runner->opts.loop;
  if (uv_async_init(loop, &runner->wakeup, wakeup_cb) == 0) {
    runner->wakeup.data = runner;
    runner->have_async = 1;
    runner->handles_open++;
  }
  if (runner->opts.catch_sigint) {
    for (int i = 0; i < NSTOP_SIGNALS; i++) {
      uv_signal_init(loop, &runner->signals[i]);
      runner->signals[i].data = runner;
      runner->handles_open++;
      uv_signal_start(&runner->signals[i], sigint_cb, STOP_SIGNALS[i]);
    }
  }
  if (runner->opts.progress &&
      uv_timer_init(loop, &runner->progress_timer) == 0) {
    runner->progress_timer.data = runner;
    runner->handles_open++;
    uv_timer_start(&runner->progress_timer, progress_tick_cb,
                   PROGRESS_PERIOD_MS, PROGRESS_PERIOD_MS);
  } else {
    runner->opts.progress = 0;
  }
}

static void close_handles(bt_runner_t *runner) {
  if (runner->have_async) {
    runner->have_async = 0;
    close_handle(runner, (uv_handle_t *)&runner->wakeup);
  }
  if (runner->opts.catch_sigint)
    for (int i = 0; i < NSTOP_SIGNALS; i++)
      close_handle(runner, (uv_handle_t *)&runner->signals[i]);
  if (runner->opts.progress)
    close_handle(runner, (uv_handle_t *)&runner->progress_timer);
  while (runner->handles_open > 0) uv_run(runner->opts.loop, UV_RUN_ONCE);
  progress_clear(runner);
}

/* Removes staging directories a killed run left (the lock is held: no
 * other run is using them). */
static void remove_stale_stages(const char *dir) {
  DIR *handle = opendir(dir);
  if (handle == NULL) return;
  struct dirent *entry;
  while ((entry = readdir(handle)) != NULL) {
    if (strncmp(entry->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0)
      continue;
    char *path = format_text("%s/%s", dir, entry->d_name);
    struct stat st;
    if (path != NULL && lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
      remove_dir(path);
    free(path);
  }
  closedir(handle);
}

/* Takes the output directory's lock (flock on the directory itself: no
 * file left behind); waits, saying so, while another run holds it. */
static int take_lock(bt_runner_t *runner) {
  int fd = open(runner->output_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return BT_EIO;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    fprintf(stderr, "btlua: output directory %s is in use by another btlua "
            "run: waiting for it to finish\n", runner->output_dir);
    while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  runner->lock_fd = fd;
  remove_stale_stages(runner->output_dir);
  return BT_OK;
}

int bt_runner_run(bt_runner_t *runner) {
  if (runner->ran) return BT_ESTATE;
  runner->ran = 1;
  if (runner->opts.lock && runner->opts.output_dir != NULL) take_lock(runner);
  runner->started_ns = uv_hrtime();
  open_handles(runner);
  if (atomic_load(&runner->interrupted)) cancel_queued(runner);
  start_jobs(runner);
  /* Run only until our jobs are over: the loop may hold other handles. */
  while (runner->over < runner->njobs) uv_run(runner->opts.loop, UV_RUN_ONCE);
  close_handles(runner);
  runner->finished = 1;
  if (runner->lock_fd >= 0) {
    close(runner->lock_fd);
    runner->lock_fd = -1;
  }
  return BT_OK;
}
