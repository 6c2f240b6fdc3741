/* lbt_chart.c: btlua.core.chart, the number work behind the HTML report's
 * charts (lua/btlua/html.lua): one column of a CSV text as a series drawn
 * by btlua.svg's rule (every value, or per pixel column its lowest and
 * highest, in the order they occur) together with its drawdown from the
 * running peak, in one pass over the bytes. In Lua the same parse costs
 * about 4,700 instructions a row (210 M for the minute scenario's 44,640
 * bars); here it is a few per byte. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"

/* A CSV row: [start, end) without the newline. */
typedef struct {
  const char *start, *end;
} row_span;

/* The field `column` (1-based) of a row, as [*from, *to); 0 if missing. */
static int field_of(row_span row, int column, const char **from,
                    const char **to) {
  const char *p = row.start;
  for (int k = 1; k < column; k++) {
    const char *comma = memchr(p, ',', (size_t)(row.end - p));
    if (comma == NULL) return 0;
    p = comma + 1;
  }
  const char *comma = memchr(p, ',', (size_t)(row.end - p));
  *from = p;
  *to = comma != NULL ? comma : row.end;
  return 1;
}

/* Plain decimal text ("-123.45") exactly as Lua's tonumber reads it: an
 * integer below 2^53 over a power of ten is one correctly rounded division.
 * Anything else goes to strtod. */
static double parse_number(const char *from, const char *to) {
  const char *p = from;
  int negative = p < to && *p == '-';
  if (negative) p++;
  unsigned long long digits = 0;
  int places = -1, count = 0;
  for (; p < to; p++) {
    if (*p >= '0' && *p <= '9') {
      digits = digits * 10 + (unsigned)(*p - '0');
      count++;
      if (places >= 0) places++;
    } else if (*p == '.' && places < 0) {
      places = 0;
    } else {
      break;
    }
  }
  if (p == to && count > 0 && count <= 15 && (places < 0 || places <= 15)) {
    static const double powers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                    1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                    1e12, 1e13, 1e14, 1e15};
    double value = (double)digits / powers[places < 0 ? 0 : places];
    return negative ? -value : value;
  }
  char buffer[64];
  size_t len = (size_t)(to - from);
  if (len >= sizeof buffer) len = sizeof buffer - 1;
  memcpy(buffer, from, len);
  buffer[len] = '\0';
  char *end = NULL;
  double value = strtod(buffer, &end);
  return end == buffer ? NAN : value;
}

/* Calls `each(row, index, ud)` for every row after the header; returns
 * the number of rows. */
static size_t for_rows(const char *text, size_t len,
                       void (*each)(row_span, size_t, void *), void *ud) {
  const char *p = memchr(text, '\n', len), *end = text + len;
  size_t index = 0;
  if (p == NULL) return 0;
  for (p++; p < end;) {
    const char *newline = memchr(p, '\n', (size_t)(end - p));
    row_span row = {p, newline != NULL ? newline : end};
    if (row.end > row.start) each(row, ++index, ud);
    p = row.end + 1;
  }
  return index;
}

typedef struct {
  int column;
  double *values;
  size_t count, size;
  int failed;
} collect_state;

static void collect_row(row_span row, size_t index, void *ud) {
  collect_state *s = ud;
  const char *from, *to;
  (void)index;
  if (s->failed) return;
  if (s->count == s->size) {
    size_t size = s->size ? 2 * s->size : 4096;
    double *grown = realloc(s->values, size * sizeof *grown);
    if (grown == NULL) {
      s->failed = 1;
      return;
    }
    s->values = grown, s->size = size;
  }
  s->values[s->count++] =
      field_of(row, s->column, &from, &to) ? parse_number(from, to) : NAN;
}

/* Pushes { index = {...}, value = {...}, low =, high = }: the kept points
 * of values[0..n) drawn `columns` wide (btlua.svg.decimate's rule). */
static void push_decimated(lua_State *L, const double *values, size_t n,
                           size_t columns) {
  lua_createtable(L, 0, 4);
  lua_newtable(L); /* index */
  lua_newtable(L); /* value */
  size_t kept = 0;
  double low = HUGE_VAL, high = -HUGE_VAL;
#define KEEP(i)                                                                \
  do {                                                                         \
    kept++;                                                                    \
    lua_pushinteger(L, (lua_Integer)(i) + 1);                                  \
    lua_rawseti(L, -3, (int)kept);                                             \
    lua_pushnumber(L, values[i]);                                              \
    lua_rawseti(L, -2, (int)kept);                                             \
  } while (0)
  for (size_t i = 0; i < n; i++) {
    if (values[i] < low) low = values[i];
    if (values[i] > high) high = values[i];
  }
  if (n <= 2 * columns) {
    for (size_t i = 0; i < n; i++) KEEP(i);
  } else {
    for (size_t column = 1; column <= columns; column++) {
      size_t first = (column - 1) * n / columns, last = column * n / columns;
      size_t lo = first, hi = first;
      for (size_t i = first + 1; i < last; i++) {
        if (values[i] < values[lo]) lo = i;
        if (values[i] > values[hi]) hi = i;
      }
      if (lo == hi) {
        KEEP(lo);
      } else if (lo < hi) {
        KEEP(lo);
        KEEP(hi);
      } else {
        KEEP(hi);
        KEEP(lo);
      }
    }
  }
#undef KEEP
  lua_setfield(L, -3, "value");
  lua_setfield(L, -2, "index");
  lua_pushnumber(L, n > 0 ? low : 0);
  lua_setfield(L, -2, "low");
  lua_pushnumber(L, n > 0 ? high : 0);
  lua_setfield(L, -2, "high");
}

/* chart.series(csv_text, column, columns) -> { rows =, equity = kept,
 * drawdown = kept }: column `column` (1-based) of every row after the
 * header, and its drawdown v / running peak - 1 (0 while the peak is not
 * positive), each as push_decimated's table. A field that is not a number
 * reads as NaN. */
static int chart_series(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_Integer column = luaL_checkinteger(L, 2);
  lua_Integer columns = luaL_checkinteger(L, 3);
  luaL_argcheck(L, column >= 1 && column <= 1000, 2, "a column from 1");
  luaL_argcheck(L, columns >= 1 && columns <= 100000, 3, "a width from 1");
  collect_state s = {(int)column, NULL, 0, 0, 0};
  for_rows(text, len, collect_row, &s);
  double *drawdown = s.count ? malloc(s.count * sizeof *drawdown) : NULL;
  if (s.failed || (s.count && drawdown == NULL)) {
    free(s.values);
    free(drawdown);
    return luaL_error(L, "chart.series: out of memory");
  }
  double peak = -HUGE_VAL;
  for (size_t i = 0; i < s.count; i++) {
    if (s.values[i] > peak) peak = s.values[i];
    drawdown[i] = peak > 0 ? s.values[i] / peak - 1 : 0;
  }
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)s.count);
  lua_setfield(L, -2, "rows");
  push_decimated(L, s.values, s.count, (size_t)columns);
  lua_setfield(L, -2, "equity");
  push_decimated(L, drawdown, s.count, (size_t)columns);
  lua_setfield(L, -2, "drawdown");
  free(s.values);
  free(drawdown);
  return 1;
}

typedef struct {
  lua_State *L;
  int column, out;
  const lua_Integer *wanted; /* sorted rows */
  size_t count, next;
} fields_state;

static void fields_row(row_span row, size_t index, void *ud) {
  fields_state *s = ud;
  const char *from, *to;
  while (s->next < s->count && s->wanted[s->next] < (lua_Integer)index)
    s->next++;
  if (s->next == s->count || s->wanted[s->next] != (lua_Integer)index) return;
  if (field_of(row, s->column, &from, &to)) {
    lua_pushlstring(s->L, from, (size_t)(to - from));
    lua_rawseti(s->L, s->out, (int)index);
  }
}

static int compare_rows(const void *a, const void *b) {
  lua_Integer x = *(const lua_Integer *)a, y = *(const lua_Integer *)b;
  return (x > y) - (x < y);
}

/* chart.fields(csv_text, column, {row, ...}) -> { [row] = text }: the
 * field of the given rows (1 = the first row after the header). */
static int chart_fields(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_Integer column = luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argcheck(L, column >= 1 && column <= 1000, 2, "a column from 1");
  size_t count = (size_t)lua_rawlen(L, 3);
  lua_Integer *wanted = lua_newuserdata(L, (count ? count : 1) * sizeof *wanted);
  for (size_t k = 0; k < count; k++) {
    lua_rawgeti(L, 3, (int)k + 1);
    wanted[k] = lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  qsort(wanted, count, sizeof *wanted, compare_rows);
  lua_newtable(L);
  fields_state s = {L, (int)column, lua_absindex(L, -1), wanted, count, 0};
  for_rows(text, len, fields_row, &s);
  return 1;
}

typedef struct {
  lua_State *L;
  int column, keys, out;
} rows_state;

static void rows_row(row_span row, size_t index, void *ud) {
  rows_state *s = ud;
  const char *from, *to;
  if (!field_of(row, s->column, &from, &to)) return;
  lua_pushlstring(s->L, from, (size_t)(to - from));
  lua_pushvalue(s->L, -1);
  lua_rawget(s->L, s->keys);
  int wanted = lua_toboolean(s->L, -1);
  lua_pop(s->L, 1);
  lua_pushvalue(s->L, -1);
  lua_rawget(s->L, s->out);
  int seen = !lua_isnil(s->L, -1);
  lua_pop(s->L, 1);
  if (wanted && !seen) {
    lua_pushinteger(s->L, (lua_Integer)index);
    lua_rawset(s->L, s->out);
  } else {
    lua_pop(s->L, 1);
  }
}

/* chart.rows(csv_text, column, { [text] = true }) -> { [text] = row }: the
 * first row whose field is each wanted text. */
static int chart_rows(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  lua_Integer column = luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argcheck(L, column >= 1 && column <= 1000, 2, "a column from 1");
  lua_newtable(L);
  rows_state s = {L, (int)column, 3, lua_absindex(L, -1)};
  for_rows(text, len, rows_row, &s);
  return 1;
}

static const luaL_Reg chart_funcs[] = {
    {"series", chart_series},
    {"fields", chart_fields},
    {"rows", chart_rows},
    {NULL, NULL},
};

int luaopen_btlua_chart(lua_State *L) {
  luaL_newlib(L, chart_funcs);
  return 1;
}
