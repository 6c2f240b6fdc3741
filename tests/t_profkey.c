/* t_profkey.c: function keys: locations from package.path templates (the
 * longest absolute prefix; relative templates ignored), from the scenario
 * root, else the file name; the same key from another working directory
 * and for relative spellings; key text, ordinals and the legacy label. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profkey.h"
#include "tap.h"

static char top[256];

static void touch(const char *relative) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", top, relative);
  FILE *file = fopen(path, "w");
  if (file) fclose(file);
}

static void make_dir(const char *relative) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", top, relative);
  mkdir(path, 0700);
}

/* The location of top/relative under templates `path` (with "T" for top)
 * and root top/root_rel (NULL: none). */
static const char *where(const char *relative, const char *path,
                         const char *root_rel) {
  static char out[512];
  char file[512], templates[1024] = "", root[512];
  snprintf(file, sizeof file, "%s/%s", top, relative);
  for (const char *at = path; *at; at++) {
    size_t n = strlen(templates);
    if (*at == 'T')
      snprintf(templates + n, sizeof templates - n, "%s", top);
    else
      snprintf(templates + n, sizeof templates - n, "%c", *at);
  }
  if (root_rel) snprintf(root, sizeof root, "%s/%s", top, root_rel);
  return bt_profkey_location(file, templates, root_rel ? root : NULL, out,
                             sizeof out);
}

int main(void) {
  snprintf(top, sizeof top, "%s/btlua-profkey-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (mkdtemp(top) == NULL) {
    diag("mkdtemp failed");
    return 1;
  }
  make_dir("lib");
  make_dir("lib/pkg");
  make_dir("scn");
  make_dir("scn/sub");
  make_dir("other");
  touch("lib/pkg/mod.lua");
  touch("lib/pkg/init.lua");
  touch("scn/strat.lua");
  touch("scn/sub/x.lua");
  touch("other/y.lua");

  is_str(where("lib/pkg/mod.lua", "T/lib/?.lua;./?.lua", NULL), "pkg.mod",
         "a module under a package.path template");
  is_str(where("lib/pkg/init.lua", "T/lib/?/init.lua", NULL), "pkg",
         "an ?/init.lua template");
  is_str(where("lib/pkg/mod.lua", "T/?.lua;T/lib/?.lua", NULL), "pkg.mod",
         "the longest template prefix wins");
  is_str(where("lib/pkg/mod.lua", "T/lib/?.lua", "lib"), "pkg.mod",
         "a module name beats the root");
  is_str(where("scn/sub/x.lua", "T/lib/?.lua", "scn"), "sub/x.lua",
         "a file under the root: root-relative");
  is_str(where("scn/strat.lua", "T/lib/?.lua", "scn/"), "strat.lua",
         "a root with a trailing slash");
  is_str(where("other/y.lua", "T/lib/?.lua", "scn"), "y.lua",
         "outside every root: the file name");
  is_str(where("scn/strat.lua", "", NULL), "strat.lua", "no root: file name");

  char cwd[512], out[512];
  ok(getcwd(cwd, sizeof cwd) != NULL && chdir(top) == 0, "into the tree");
  char root[512];
  snprintf(root, sizeof root, "%s/scn", top);
  is_str(bt_profkey_location("scn/strat.lua", "./?.lua;?.lua", root, out,
                             sizeof out),
         "strat.lua", "relative templates are ignored (they follow the cwd)");
  is_str(bt_profkey_location("./scn/../scn/sub/x.lua", "", root, out,
                             sizeof out),
         "sub/x.lua", "a relative spelling resolves to the same location");
  ok(chdir(cwd) == 0, "back to the first directory");

  char *key = bt_profkey_make("btlua.strategies.mean_reversion",
                              "handle_data", 1);
  is_str(key, "btlua.strategies.mean_reversion:handle_data", "key text");
  free(key);
  key = bt_profkey_make("strat.lua", "<anonymous>", 2);
  is_str(key, "strat.lua:<anonymous>#2", "an ordinal from 2 on");
  free(key);
  key = bt_profkey_legacy("[C]", 0, "sqrt");
  is_str(key, "[C]:0(sqrt)", "the label of files that predate keys");
  free(key);

  char command[600];
  snprintf(command, sizeof command, "rm -rf '%s'", top);
  ok(system(command) == 0, "temporary tree removed");
  return done_testing();
}
