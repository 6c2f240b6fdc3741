/* profkey.c: function identity for profiles (see profkey.h): locations
 * from package.path templates or a root directory, and the key text. */
#include "profkey.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* realpath of `path` into out (PATH_MAX bytes); the path itself if it does
 * not resolve (a file since removed keeps a stable spelling). */
static void resolve(const char *path, char *out) {
  if (realpath(path, out) == NULL) snprintf(out, PATH_MAX, "%s", path);
}

/* The module name of `file` under the template [start, end) ("DIR/?SUFFIX"),
 * written to out; the length of the template's directory, or 0 when the
 * template is relative or does not match. */
static size_t template_match(const char *start, const char *end,
                             const char *file, char *out, size_t size) {
  const char *mark = memchr(start, '?', (size_t)(end - start));
  if (mark == NULL || start[0] != '/') return 0;
  char dir[PATH_MAX], resolved[PATH_MAX];
  size_t dir_len = (size_t)(mark - start);
  if (dir_len >= sizeof dir) return 0;
  memcpy(dir, start, dir_len);
  dir[dir_len] = '\0';
  resolve(dir_len ? dir : "/", resolved);
  size_t prefix = strlen(resolved);
  if (prefix > 0 && resolved[prefix - 1] != '/' && prefix + 1 < PATH_MAX)
    resolved[prefix++] = '/', resolved[prefix] = '\0';
  const char *suffix = mark + 1;
  size_t suffix_len = (size_t)(end - suffix), file_len = strlen(file);
  if (file_len <= prefix + suffix_len || strncmp(file, resolved, prefix) != 0 ||
      memcmp(file + file_len - suffix_len, suffix, suffix_len) != 0)
    return 0;
  size_t name_len = file_len - prefix - suffix_len;
  if (name_len + 1 > size) return 0;
  for (size_t i = 0; i < name_len; i++) {
    char c = file[prefix + i];
    out[i] = c == '/' ? '.' : c;
  }
  out[name_len] = '\0';
  return prefix;
}

char *bt_profkey_location(const char *path, const char *package_path,
                          const char *root, char *out, size_t size) {
  char file[PATH_MAX], name[PATH_MAX];
  resolve(path, file);
  size_t best = 0;
  for (const char *at = package_path ? package_path : ""; *at;) {
    const char *end = strchr(at, ';');
    if (end == NULL) end = at + strlen(at);
    size_t prefix = template_match(at, end, file, name, sizeof name);
    if (prefix > best) {
      best = prefix;
      snprintf(out, size, "%s", name);
    }
    at = *end ? end + 1 : end;
  }
  if (best > 0) return out;
  if (root != NULL && root[0] != '\0') {
    char base[PATH_MAX];
    resolve(root, base);
    size_t len = strlen(base);
    while (len > 1 && base[len - 1] == '/') base[--len] = '\0';
    if (strncmp(file, base, len) == 0 && file[len] == '/') {
      snprintf(out, size, "%s", file + len + 1);
      return out;
    }
  }
  const char *slash = strrchr(file, '/');
  snprintf(out, size, "%s", slash ? slash + 1 : file);
  return out;
}

char *bt_profkey_make(const char *location, const char *name, int ordinal) {
  size_t size = strlen(location) + strlen(name) + 16;
  char *key = (char *)malloc(size);
  if (key == NULL) return NULL;
  if (ordinal > 1)
    snprintf(key, size, "%s:%s#%d", location, name, ordinal);
  else
    snprintf(key, size, "%s:%s", location, name);
  return key;
}

char *bt_profkey_legacy(const char *source, long long line, const char *name) {
  if (source == NULL) source = "?";
  if (name == NULL) name = "?";
  size_t size = strlen(source) + strlen(name) + 32;
  char *key = (char *)malloc(size);
  if (key != NULL) snprintf(key, size, "%s:%lld(%s)", source, line, name);
  return key;
}
