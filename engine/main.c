/* main.c: the btlua command. A Lua host like the stock `lua` interpreter
 * (scripts with `arg`, -e, -v, - for stdin) with btlua always requirable;
 * subcommands (run, compare, ingest, export, report) and scenario files are
 * handed to the Lua side (btlua.cli). Exit status: 0 ok, 1 a run failed,
 * 2 bad usage or bad input. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "embedded.h"
#include "lbt_core.h"

#define EXIT_RUN_FAILED 1
#define EXIT_BAD_INPUT 2

static const char *const SUBCOMMANDS[] = {"run",    "compare", "ab",
                                          "ingest", "export",  "report",
                                          "help",   NULL};

static void print_usage(FILE *out) {
  fputs("usage: btlua SCENARIO.lua [options]      run one scenario file\n"
        "       btlua run --scenario NAME|all|FILE [options]\n"
        "       btlua run --list-scenarios\n"
        "       btlua compare BEFORE_DIR AFTER_DIR [options]\n"
        "       btlua ab --before CMD --after CMD --scenario S [options]\n"
        "       btlua ingest CSV_FILE_OR_DIR --out BUNDLE [options]\n"
        "       btlua export PROFILE.btprof --format FORMAT\n"
        "       btlua report PROFILE_DIR [--output FILE]\n"
        "       btlua SCRIPT.lua [args]          any Lua script\n"
        "       btlua -e CHUNK | -v | - (script from stdin)\n"
        "`btlua COMMAND --help` documents each command's flags.\n",
        out);
}

/* An error value that is a table with an integer field exit_status (and a
 * __tostring) is a bad-input error, such as a scenario field that fails
 * validation: it is printed without a traceback and becomes the exit
 * status. */
static int error_exit_status(lua_State *L, int idx) {
  if (!lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, "exit_status");
  int status = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 1);
  return status;
}

/* Message handler: turns an error into "message\ntraceback". */
static int msg_handler(lua_State *L) {
  if (error_exit_status(L, 1) != 0) return 1; /* kept for protected_call */
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* Calls the function below narg arguments; prints any error. Returns 0,
 * or the exit status the error asks for (EXIT_RUN_FAILED by default). */
static int protected_call(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;
  lua_pushcfunction(L, msg_handler);
  lua_insert(L, base);
  int status = lua_pcall(L, narg, nres, base);
  lua_remove(L, base);
  if (status == LUA_OK) return 0;
  int exit_status = error_exit_status(L, -1);
  if (exit_status != 0 && luaL_callmeta(L, -1, "__tostring")) lua_remove(L, -2);
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "btlua: %s\n", msg ? msg : "(error object is not a string)");
  lua_pop(L, 1);
  return exit_status != 0 ? exit_status : EXIT_RUN_FAILED;
}

/* Does `dir`/lua/btlua/init.lua exist? */
static int is_home(const char *dir) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/lua/btlua/init.lua", dir) >=
      (int)sizeof path)
    return 0;
  return access(path, R_OK) == 0;
}

/* The tree the host reads scenarios and strategies from (realpath'd),
 * for `btlua -v`. */
static char btlua_home[PATH_MAX];

/* Finds the directory that holds lua/ and scenarios/: $BTLUA_HOME when set
 * (and refused when it holds no btlua tree), else next to the executable
 * (PREFIX/bin/btlua: PREFIX/share/btlua; a build directory inside a
 * checkout, CHECKOUT/build/btlua: the checkout), else the source tree it
 * was built from. Returns 0, or EXIT_BAD_INPUT after saying why. */
static int find_home(char *home, size_t size) {
  const char *env = getenv("BTLUA_HOME");
  if (env != NULL && env[0] != '\0') {
    if (!is_home(env)) {
      fprintf(stderr, "btlua: BTLUA_HOME=%s: no btlua tree there (no "
                      "lua/btlua/init.lua)\n", env);
      return EXIT_BAD_INPUT;
    }
    snprintf(home, size, "%s", env);
    return 0;
  }
  char exe[PATH_MAX];
  size_t len = sizeof exe;
  if (uv_exepath(exe, &len) == 0) {
    char *slash = strrchr(exe, '/');
    if (slash != NULL) {
      *slash = '\0';
      const char *const relative[] = {"/../" BTLUA_DATA_SUBDIR, "/.."};
      for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++) {
        int n = snprintf(home, size, "%s%s", exe, relative[i]);
        if (n > 0 && (size_t)n < size && is_home(home)) return 0;
      }
    }
  }
  snprintf(home, size, "%s", BTLUA_SOURCE_DIR);
  return 0;
}

/* The btlua home (realpath'd) goes to the registry and package.path; the
 * linked-in btlua.core to package.preload (bt_lua_open_host). */
static int setup_paths(lua_State *L) {
  char home[PATH_MAX];
  int status = find_home(home, sizeof home);
  if (status != 0) return status;
  char resolved[PATH_MAX];
  if (realpath(home, resolved) != NULL) memcpy(home, resolved, sizeof home);
  memcpy(btlua_home, home, sizeof btlua_home);
  bt_lua_open_host(L, home);
  /* BTLUA_LUA_SOURCES=1: the host's Lua from the .lua files, not the
   * bytecode built in (to edit them without rebuilding). */
  const char *sources = getenv("BTLUA_LUA_SOURCES");
  if (sources == NULL || strcmp(sources, "1") != 0) bt_embedded_open(L);
  return 0;
}

/* The global `arg`: arg[0] = script, arg[1..] its arguments, arg[-1] the
 * executable; the same shape as the stock interpreter's. */
static void create_arg_table(lua_State *L, char **argv, int argc,
                             int script_index) {
  lua_createtable(L, argc - script_index - 1, script_index + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script_index);
  }
  lua_setglobal(L, "arg");
}

/* Calls btlua.cli[func](args...) and returns its integer result as the exit
 * status (1 when it raised). The first nargs values on the stack are args. */
static int call_cli(lua_State *L, const char *func, int nargs) {
  lua_getglobal(L, "require");
  lua_pushstring(L, "btlua.cli");
  int failed = protected_call(L, 1, 1);
  if (failed) {
    lua_pop(L, nargs);
    return failed;
  }
  lua_getfield(L, -1, func);
  lua_remove(L, -2);
  lua_insert(L, -(nargs + 1));
  failed = protected_call(L, nargs, 1);
  if (failed) return failed;
  int status = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 1);
  return status;
}

/* Pushes argv[from..argc-1] as a sequence. */
static void push_args(lua_State *L, char **argv, int argc, int from) {
  lua_createtable(L, argc - from, 0);
  for (int i = from; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - from + 1);
  }
}

/* Runs a script file (or stdin for "-"). A scenario file (it returns a
 * btlua.scenario) is run by btlua.cli.scenario_file with the arguments. */
static int run_script(lua_State *L, char **argv, int argc, int script_index) {
  const char *file = argv[script_index];
  const char *chunk_file = strcmp(file, "-") == 0 ? NULL : file;
  create_arg_table(L, argv, argc, script_index);
  if (chunk_file != NULL && access(chunk_file, R_OK) != 0) {
    fprintf(stderr, "btlua: cannot open %s\n", chunk_file);
    return EXIT_BAD_INPUT;
  }
  if (chunk_file != NULL) { /* a scenario file is never run here */
    lua_pushstring(L, file);
    if (call_cli(L, "is_scenario_file", 1) == 10) {
      lua_pushnil(L);
      lua_pushstring(L, file);
      push_args(L, argv, argc, script_index + 1);
      return call_cli(L, "scenario_file", 3);
    }
  }
  if (luaL_loadfile(L, chunk_file) != LUA_OK) {
    fprintf(stderr, "btlua: %s\n", lua_tostring(L, -1));
    return EXIT_BAD_INPUT;
  }
  int nscript_args = argc - script_index - 1;
  luaL_checkstack(L, nscript_args, "too many arguments");
  for (int i = script_index + 1; i < argc; i++) lua_pushstring(L, argv[i]);
  int failed = protected_call(L, nscript_args, 1);
  if (failed) return failed;
  if (lua_istable(L, -1) && lua_getmetatable(L, -1)) {
    lua_getfield(L, -1, "__name");
    int is_scenario = lua_isstring(L, -1) &&
                      strcmp(lua_tostring(L, -1), "btlua.Scenario") == 0;
    lua_pop(L, 2);
    if (is_scenario) {
      lua_pushstring(L, file);
      push_args(L, argv, argc, script_index + 1);
      return call_cli(L, "scenario_file", 3);
    }
  }
  lua_pop(L, 1);
  return 0;
}

static int is_subcommand(const char *word) {
  for (int i = 0; SUBCOMMANDS[i] != NULL; i++)
    if (strcmp(word, SUBCOMMANDS[i]) == 0) return 1;
  return 0;
}

/* A bare word (letters, digits, '_' or '-'; no '.' or '/') that names no
 * file is taken as a command, so a mistyped one gets the command line's
 * answer ("unknown command ... did you mean") rather than "cannot open". */
static int looks_like_command(const char *word) {
  if (word[0] == '\0' || word[0] == '-') return 0;
  for (const char *p = word; *p != '\0'; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
      return 0;
  return 1;
}

/* Handles options before the script, like the stock interpreter. */
static int run_main(lua_State *L, int argc, char **argv) {
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--version") == 0) {
      printf("btlua %s (%s, libuv %s)\nhome: %s\n", BTLUA_VERSION,
             BT_LUA_FLAVOUR, uv_version_string(), btlua_home);
      if (i + 1 == argc) return 0;
    } else if (strcmp(argv[i], "-e") == 0) {
      if (++i == argc) {
        fputs("btlua: '-e' needs an argument\n", stderr);
        return EXIT_BAD_INPUT;
      }
      create_arg_table(L, argv, argc, 0);
      if (luaL_loadbuffer(L, argv[i], strlen(argv[i]), "=(command line)") !=
          LUA_OK) {
        fprintf(stderr, "btlua: %s\n", lua_tostring(L, -1));
        return EXIT_BAD_INPUT;
      }
      int failed = protected_call(L, 0, 0);
      if (failed) return failed;
      if (i + 1 == argc) return 0;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      print_usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else {
      fprintf(stderr, "btlua: unknown option '%s'\n", argv[i]);
      print_usage(stderr);
      return EXIT_BAD_INPUT;
    }
  }
  if (i >= argc) {
    print_usage(stderr);
    return EXIT_BAD_INPUT;
  }
  if ((is_subcommand(argv[i]) || looks_like_command(argv[i])) &&
      access(argv[i], F_OK) != 0) {
    push_args(L, argv, argc, i);
    return call_cli(L, "main", 1);
  }
  return run_script(L, argv, argc, i);
}

int main(int argc, char **argv) {
#if LUA_VERSION_NUM < 502
  /* LuaJIT's sampler (luaJIT_profile_start) uses the process-wide
   * ITIMER_PROF, whose SIGPROF may reach any thread, and its handler
   * changes the sampled state: every thread starts with SIGPROF blocked
   * (threads inherit this mask) and the sampling thread unblocks it while
   * it samples (lbt_prof.c). */
  sigset_t prof_set;
  sigemptyset(&prof_set);
  sigaddset(&prof_set, SIGPROF);
  pthread_sigmask(SIG_BLOCK, &prof_set, NULL);
#endif
  if (argc == 2 && strcmp(argv[1], "--child") == 0)
    return lbt_runner_child_main(); /* a run of btlua.core.runner */
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    fputs("btlua: cannot create the event loop\n", stderr);
    return EXIT_RUN_FAILED;
  }
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fputs("btlua: cannot create a Lua state (out of memory)\n", stderr);
    return EXIT_RUN_FAILED;
  }
  luaL_openlibs(L);
  bt_lua_set_loop(L, &loop);
  int status = setup_paths(L);
  if (status == 0) status = run_main(L, argc, argv);
  fflush(stdout);
  lua_close(L);
  uv_run(&loop, UV_RUN_DEFAULT); /* finish any pending output */
  uv_loop_close(&loop);
  return status;
}
