/* err.c: status code texts and the bt_err message helpers. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *bt_strerror(int code) {
  switch (code) {
  case BT_OK: return "ok";
  case BT_ENOMEM: return "out of memory";
  case BT_EOVERFLOW: return "decimal overflow";
  case BT_EDIVZERO: return "division by zero";
  case BT_EPARSE: return "parse error";
  case BT_EIO: return "i/o error";
  case BT_EFORMAT: return "corrupt or unrecognised file";
  case BT_EINVAL: return "invalid argument";
  case BT_ERANGE: return "value out of range";
  case BT_ENOTFOUND: return "not found";
  case BT_ESTATE: return "not allowed in this state";
  default: return "unknown error";
  }
}

int bt_err_set(bt_err *err, int code, const char *fmt, ...) {
  if (err != NULL) {
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

void bt_err_prefix(bt_err *err, const char *prefix) {
  if (err == NULL || prefix == NULL) return;
  size_t prefix_len = strlen(prefix);
  size_t msg_len = strlen(err->msg);
  if (prefix_len + 2 >= sizeof err->msg) prefix_len = sizeof err->msg - 3;
  if (prefix_len + 2 + msg_len >= sizeof err->msg)
    msg_len = sizeof err->msg - prefix_len - 3;
  memmove(err->msg + prefix_len + 2, err->msg, msg_len);
  memcpy(err->msg, prefix, prefix_len);
  err->msg[prefix_len] = ':';
  err->msg[prefix_len + 1] = ' ';
  err->msg[prefix_len + 2 + msg_len] = '\0';
}
