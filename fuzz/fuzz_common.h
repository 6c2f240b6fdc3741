/* fuzz_common.h: helpers shared by the libFuzzer targets: a private
 * scratch directory (in /dev/shm when it exists) and writing a buffer to a
 * file there, for the readers that take a path. */
#ifndef BT_FUZZ_COMMON_H
#define BT_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The scratch directory of this process, made on first use. */
static const char *fuzz_dir(void) {
  static char dir[64];
  if (dir[0] == '\0') {
    const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/btlua-fuzz.XXXXXX", root);
    if (mkdtemp(dir) == NULL) abort();
  }
  return dir;
}

/* Writes data to dir/name; returns the path (static storage). */
static const char *fuzz_file(const char *name, const unsigned char *data,
                             size_t size) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
  FILE *f = fopen(path, "wb");
  if (f == NULL) abort();
  if (size > 0 && fwrite(data, 1, size, f) != size) abort();
  fclose(f);
  return path;
}

#endif
