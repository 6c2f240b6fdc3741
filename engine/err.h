/* err.h: status codes and error messages shared by every core module.
 * A C call returns int: 0 ok, a negative BT_E* on failure; where a failure
 * needs words (file:line, field), the caller passes a bt_err to fill. */
#ifndef BT_ERR_H
#define BT_ERR_H

#include <stddef.h>

enum {
  BT_OK = 0,
  BT_ENOMEM = -1,    /* out of memory */
  BT_EOVERFLOW = -2, /* a result does not fit */
  BT_EDIVZERO = -3,  /* division by zero */
  BT_EPARSE = -4,    /* text that is not what it should be */
  BT_EIO = -5,       /* an OS call on a file failed */
  BT_EFORMAT = -6,   /* a file that is corrupt, truncated or of another kind */
  BT_EINVAL = -7,    /* a bad argument or bad data */
  BT_ERANGE = -8,    /* a value outside its allowed range */
  BT_ENOTFOUND = -9, /* no such asset, field, file, ... */
  BT_ESTATE = -10,   /* an operation not allowed in the current state */
};

/* The words that go with a failure. msg is always NUL-terminated. */
typedef struct bt_err {
  int code;
  char msg[512];
} bt_err;

/* Short text for a status code ("decimal overflow", ...). */
const char *bt_strerror(int code);

/* Sets err (if not NULL) and returns code, so callers can
 * `return bt_err_set(err, BT_EPARSE, "%s:%d: ...", file, line);` */
int bt_err_set(bt_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes err->msg with "prefix: " (for adding a file or scenario name). */
void bt_err_prefix(bt_err *err, const char *prefix);

#endif
