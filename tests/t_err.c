/* t_err.c: status texts and bt_err message helpers. */
#include "err.h"
#include "tap.h"

int main(void) {
  bt_err err = {0};
  is_int(bt_err_set(&err, BT_EPARSE, "%s:%d: close: not a number", "a.csv", 7),
         BT_EPARSE, "bt_err_set returns the code");
  is_int(err.code, BT_EPARSE, "code stored");
  is_str(err.msg, "a.csv:7: close: not a number", "message formatted");
  bt_err_prefix(&err, "scenario minute");
  is_str(err.msg, "scenario minute: a.csv:7: close: not a number",
         "prefix prepended");
  is_str(bt_strerror(BT_EOVERFLOW), "decimal overflow", "overflow text");
  is_str(bt_strerror(BT_EDIVZERO), "division by zero", "divzero text");
  is_str(bt_strerror(12345), "unknown error", "unknown code");
  is_int(bt_err_set(NULL, BT_EIO, "x"), BT_EIO, "NULL err is allowed");
  char big[600];
  memset(big, 'p', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  bt_err_prefix(&err, big);
  is_int((long long)strlen(err.msg), (long long)sizeof err.msg - 1,
         "an over-long prefix is cut, never overflows");
  return done_testing();
}
