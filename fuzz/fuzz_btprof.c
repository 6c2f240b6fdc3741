/* fuzz_btprof.c: libFuzzer target for the .btprof reader
 * (bt_proffile_decode). Oracle: what decodes encodes again, and that
 * encoding decodes to the same bytes once more. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proffile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bt_profile pf;
  bt_err err = {0};
  if (bt_proffile_decode(data, size, "fuzz", &pf, &err) != BT_OK) {
    if (err.msg[0] == '\0') abort(); /* refused without a word */
    return 0;
  }
  unsigned char *bytes = NULL, *again = NULL;
  size_t len = 0, len_again = 0;
  if (bt_proffile_encode(&pf, &bytes, &len, &err) != BT_OK) abort();
  bt_profile pf2;
  if (bt_proffile_decode(bytes, len, "fuzz", &pf2, &err) != BT_OK) abort();
  if (bt_proffile_encode(&pf2, &again, &len_again, &err) != BT_OK) abort();
  if (len != len_again || memcmp(bytes, again, len) != 0) abort();
  free(bytes);
  free(again);
  bt_profile_free(&pf);
  bt_profile_free(&pf2);
  return 0;
}
