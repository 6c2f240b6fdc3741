/* t_dec_oracle.c: checks bt_dec against cases computed by Python's decimal
 * (tests/dec_oracle.py). `t_dec_oracle FILE` or `t_dec_oracle -` (stdin)
 * checks every case line and reports each mismatch with its case; with no
 * argument it checks a few built-in lines (the seeded 20,000-case slice runs
 * from dec_oracle_test.lua). Output is TAP. */
#include "dec.h"
#include "indicators.h"
#include "tap.h"

#include <stdlib.h>

#define MAX_FIELDS 6

static const char *status_text(int status) {
  switch (status) {
  case BT_EOVERFLOW:
    return "OVERFLOW";
  case BT_EDIVZERO:
    return "DIVZERO";
  case BT_EPARSE:
    return "PARSE";
  case BT_EINVAL:
    return "EINVAL";
  default:
    return "ERROR";
  }
}

/* Writes a raw result or its status word into got. */
static void result_text(int status, bt_dec value, char *got, size_t size) {
  if (status == BT_OK)
    snprintf(got, size, "%lld", (long long)value);
  else
    snprintf(got, size, "%s", status_text(status));
}

static int64_t field_int(const char *text) {
  return strtoll(text, NULL, 10);
}

/* Pushes the comma-separated raws of `list` into a new indicator of kind
 * over `period` values and writes its final value or status. */
static void window_case(bt_ind_kind kind, int period, char *list, char *got,
                        size_t size) {
  bt_ind ind;
  bt_dec value = 0;
  int status = bt_ind_init(&ind, kind, period);
  for (char *p = list; status == BT_OK && *p;) {
    char *end;
    status = bt_ind_push(&ind, strtoll(p, &end, 10));
    p = *end == ',' ? end + 1 : end;
  }
  if (status == BT_OK) status = bt_ind_value(&ind, &value);
  bt_ind_free(&ind);
  result_text(status, value, got, size);
}

/* A window case: "sma"/"stddev" LIST (period = count) or "ema" M LIST. */
static int compute_window(char **fields, int n, char *got, size_t size) {
  const char *op = fields[0];
  char *list = fields[n == 4 ? 2 : 1];
  int count = 1;
  for (char *p = list; *p; p++)
    count += *p == ',';
  if (n == 3 && strcmp(op, "sma") == 0)
    window_case(BT_IND_SMA, count, list, got, size);
  else if (n == 3 && strcmp(op, "stddev") == 0)
    window_case(BT_IND_STDDEV, count, list, got, size);
  else if (n == 4 && strcmp(op, "ema") == 0)
    window_case(BT_IND_EMA, (int)field_int(fields[1]), list, got, size);
  else
    return 0;
  return 1;
}

/* Computes the case in fields[0..n-2] into got; the last field is the
 * expected text. Returns 0 for an unknown operation. */
static int compute(char **fields, int n, char *got, size_t size) {
  const char *op = fields[0];
  bt_dec r = 0;
  int status;
  if (n == 4 && strchr("asmd", op[0]) && strlen(op) == 3) {
    bt_dec a = field_int(fields[1]), b = field_int(fields[2]);
    if (strcmp(op, "add") == 0)
      status = bt_dec_add(a, b, &r);
    else if (strcmp(op, "sub") == 0)
      status = bt_dec_sub(a, b, &r);
    else if (strcmp(op, "mul") == 0)
      status = bt_dec_mul(a, b, &r);
    else if (strcmp(op, "div") == 0)
      status = bt_dec_div(a, b, &r);
    else if (strcmp(op, "mod") == 0)
      status = bt_dec_mod(a, b, &r);
    else
      return 0;
  } else if (n == 4 && strcmp(op, "muli") == 0) {
    status = bt_dec_mul_int(field_int(fields[1]), field_int(fields[2]), &r);
  } else if (n == 4 && strcmp(op, "divi") == 0) {
    status = bt_dec_div_int(field_int(fields[1]), field_int(fields[2]), &r);
  } else if (n == 5 && strcmp(op, "quantize") == 0) {
    int mode = bt_round_from_name(fields[3]);
    status = bt_dec_quantize(field_int(fields[1]), (int)field_int(fields[2]),
                             (bt_round)mode, &r);
  } else if (n == 3 && strcmp(op, "parse") == 0) {
    status = bt_dec_parse(fields[1], strlen(fields[1]), &r);
  } else if (n == 4 && strcmp(op, "parse_round") == 0) {
    int mode = bt_round_from_name(fields[2]);
    status =
        bt_dec_parse_round(fields[1], strlen(fields[1]), (bt_round)mode, &r);
  } else if (n == 3 && strcmp(op, "format") == 0) {
    bt_dec_format(field_int(fields[1]), got);
    return 1;
  } else if (n == 4 && strcmp(op, "format_places") == 0) {
    bt_dec_format_places(field_int(fields[1]), (int)field_int(fields[2]), got);
    return 1;
  } else if (n == 3 && strcmp(op, "sqrt") == 0) {
    status = bt_dec_sqrt(field_int(fields[1]), &r);
  } else if (n == 3 && strcmp(op, "from_double") == 0) {
    status = bt_dec_from_double(strtod(fields[1], NULL), &r);
  } else if (n == 3 && strcmp(op, "to_double") == 0) {
    /* compare as doubles: C's and Python's hex spellings differ */
    double want = strtod(fields[2], NULL);
    double value = bt_dec_to_double(field_int(fields[1]));
    snprintf(got, size, "%s", value == want ? fields[2] : "different double");
    if (value != want) snprintf(got, size, "%a", value);
    return 1;
  } else {
    return compute_window(fields, n, got, size);
  }
  result_text(status, r, got, size);
  return 1;
}

typedef struct oracle_run {
  long cases, mismatches;
} oracle_run;

/* Checks one tab-separated case line (modified in place). */
static void check_line(oracle_run *run, char *line, long line_no) {
  size_t len = strlen(line);
  if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
  if (len == 0) return;
  char copy[512];
  snprintf(copy, sizeof copy, "%s", line);
  char *fields[MAX_FIELDS];
  int n = 0;
  char *p = line;
  while (n < MAX_FIELDS) {
    fields[n++] = p;
    char *tab = strchr(p, '\t');
    if (tab == NULL) break;
    *tab = '\0';
    p = tab + 1;
  }
  char got[BT_DEC_FMT_MAX + 64] = "";
  run->cases++;
  int known = n >= 2 && compute(fields, n, got, sizeof got);
  if (known && strcmp(got, fields[n - 1]) == 0) return;
  if (run->mismatches++ < 50) {
    for (char *c = copy; *c; c++)
      if (*c == '\t') *c = ' ';
    diag("MISMATCH line %ld: %s -> got %s", line_no, copy,
         known ? got : "(unknown case)");
  }
}

static const char *const BUILT_IN[] = {
    "add\t9223372036854775807\t1\tOVERFLOW",
    "sub\t-9223372036854775808\t1\tOVERFLOW",
    "mul\t-3\t50000000\t-2",
    "mul\t9223372036800000000\t200000000\tOVERFLOW",
    "div\t100000000\t300000000\t33333333",
    "div\t1\t0\tDIVZERO",
    "mod\t-750000000\t200000000\t-150000000",
    "muli\t250000000\t3\t750000000",
    "divi\t5\t2\t2",
    "quantize\t-250000000\t0\tfloor\t-300000000",
    "quantize\t9223372036854775807\t0\tceiling\tOVERFLOW",
    "parse\t-0\t0",
    "parse\t1.5e-3\t150000",
    "parse\t0.123456789\tPARSE",
    "parse\t1e11\tOVERFLOW",
    "parse_round\t0.123456785\thalf_even\t12345678",
    "format\t-9223372036854775808\t-92233720368.54775808",
    "format_places\t-400000\t2\t0.00",
    "sqrt\t200000000\t141421356",
    "from_double\t0x1.999999999999ap-4\t10000000",
    "to_double\t10000000\t0x1.999999999999ap-4",
    "sma\t100000000,200000000,400000000\t233333333",
    "stddev\t2,4,4,4,5,5,7,9\t2",
    "ema\t3\t100000000,200000000,300000000,400000000,1000000000\t650000000",
};

int main(int argc, char **argv) {
  oracle_run run = {0, 0};
  if (argc < 2) {
    long count = (long)(sizeof BUILT_IN / sizeof *BUILT_IN);
    for (long i = 0; i < count; i++) {
      char line[256];
      snprintf(line, sizeof line, "%s", BUILT_IN[i]);
      check_line(&run, line, i + 1);
    }
    ok(run.mismatches == 0, "%ld built-in oracle cases agree", run.cases);
    return done_testing();
  }
  FILE *in = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
  if (in == NULL) {
    printf("1..0 # SKIP cannot open %s\n", argv[1]);
    return 1;
  }
  char *line = NULL;
  size_t cap = 0;
  long line_no = 0;
  while (getline(&line, &cap, in) >= 0)
    check_line(&run, line, ++line_no);
  free(line);
  if (in != stdin) fclose(in);
  ok(run.cases > 0 && run.mismatches == 0,
     "%ld oracle cases agree with Python decimal (%ld mismatches)", run.cases,
     run.mismatches);
  return done_testing();
}
