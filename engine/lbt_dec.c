/* lbt_dec.c: the btlua.dec Lua module: exact decimals (bt_dec) as a
 * userdata type with arithmetic/comparison metamethods and a constructor. */
#include "lbt_core.h"
#include "lbt_dec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char MT_KEY = 'D'; /* registry: lightuserdata -> metatable */

/* LuaJIT numbers are doubles: integers are exact up to 2^53 only. */
#define EXACT_DOUBLE_INT 9007199254740992.0

/* Every function of this module has the Dec metatable as upvalue 1, so
 * the hot paths (metamethods) never look it up in the registry. */
#define MT lua_upvalueindex(1)

static void push_metatable(lua_State *L);

/* ---- conversions -------------------------------------------------------- */

/* The Dec at idx or NULL; mt is a fixed (absolute or upvalue) index of the
 * Dec metatable. */
static bt_dec *testdec_at(lua_State *L, int idx, int mt) {
  bt_dec *p = (bt_dec *)lua_touserdata(L, idx);
  if (p == NULL || !lua_getmetatable(L, idx)) return NULL;
  int same = lua_rawequal(L, -1, mt);
  lua_pop(L, 1);
  return same ? p : NULL;
}

static void pushdec_at(lua_State *L, bt_dec v, int mt) {
  bt_dec *p = (bt_dec *)lua_newuserdatauv(L, sizeof *p, 0);
  *p = v;
  lua_pushvalue(L, mt);
  lua_setmetatable(L, -2);
}

bt_dec *bt_lua_testdec(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  push_metatable(L);
  bt_dec *p = testdec_at(L, idx, lua_gettop(L));
  lua_pop(L, 1);
  return p;
}

void bt_lua_pushdec(lua_State *L, bt_dec v) {
  push_metatable(L);
  pushdec_at(L, v, lua_gettop(L));
  lua_remove(L, -2);
}

/* Pushes and returns how an operand reads in a message: a Dec or a number
 * as Lua prints it, text quoted, otherwise its type name. [-0, +1] */
static const char *show(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  bt_dec *p = bt_lua_testdec(L, idx);
  if (p != NULL) {
    char buf[BT_DEC_FMT_MAX];
    int len = bt_dec_format(*p, buf);
    lua_pushlstring(L, buf, (size_t)len);
  } else if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_pushvalue(L, idx);
    lua_tostring(L, -1); /* converts the copy in place */
  } else if (lua_type(L, idx) == LUA_TSTRING) {
    lua_pushfstring(L, "'%s'", lua_tostring(L, idx));
  } else {
    lua_pushstring(L, luaL_typename(L, idx));
  }
  return lua_tostring(L, -1);
}

/* The integer at idx (caller checked bt_isinteger). */
static int64_t lua_int64(lua_State *L, int idx) {
#if LUA_VERSION_NUM >= 503
  return (int64_t)lua_tointeger(L, idx);
#else
  return (int64_t)lua_tonumber(L, idx);
#endif
}

/* Converts the value at idx; returns a BT_E* status and, for a value that
 * is not a decimal at all, BT_EINVAL with *why saying what it is. */
static int to_dec(lua_State *L, int idx, bt_dec *out, const char **why,
                  int mt) {
  bt_dec *p = testdec_at(L, idx, mt);
  *why = NULL;
  if (p != NULL) {
    *out = *p;
    return BT_OK;
  }
  switch (lua_type(L, idx)) {
  case LUA_TNUMBER:
    if (bt_isinteger(L, idx)) return bt_dec_from_int(lua_int64(L, idx), out);
    *why = "a float (use btlua.dec.from_float)";
    return BT_EINVAL;
  case LUA_TSTRING: {
    size_t len;
    const char *text = lua_tolstring(L, idx, &len);
    int status = bt_dec_parse(text, len, out);
    if (status == BT_EPARSE) *why = "not decimal text";
    return status;
  }
  default:
    *why = lua_typename(L, lua_type(L, idx));
    return BT_EINVAL;
  }
}

bt_dec bt_lua_checkdec(lua_State *L, int idx) {
  bt_dec value = 0;
  const char *why;
  idx = lua_absindex(L, idx);
  push_metatable(L);
  int status = to_dec(L, idx, &value, &why, lua_gettop(L));
  lua_pop(L, 1);
  if (status == BT_OK) return value;
  if (status == BT_EOVERFLOW)
    luaL_argerror(L, idx,
                  lua_pushfstring(L, "decimal overflow in %s", show(L, idx)));
  luaL_argerror(L, idx, lua_pushfstring(L, "decimal expected, got %s", why));
  return 0;
}

/* ---- arithmetic metamethods --------------------------------------------- */

typedef enum dec_op { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_IDIV } dec_op;
static const char *const OP_SYMBOL[] = {"+", "-", "*", "/", "%", "//"};

/* Raises "<what> in A op B" naming both operands as Lua prints them. */
static int op_error(lua_State *L, const char *what, dec_op op) {
  const char *left = show(L, 1);
  const char *right = show(L, 2);
  return luaL_error(L, "%s in %s %s %s", what, left, OP_SYMBOL[op], right);
}

static bt_dec operand(lua_State *L, int idx, dec_op op) {
  bt_dec value = 0;
  const char *why;
  int status = to_dec(L, idx, &value, &why, MT);
  if (status == BT_OK) return value;
  if (status == BT_EOVERFLOW) op_error(L, "decimal overflow", op);
  lua_pushfstring(L, "decimal arithmetic on %s", why);
  op_error(L, lua_tostring(L, -1), op);
  return 0;
}

/* Lua's % floors (the result takes the sign of b); bt_dec_mod truncates. */
static int floor_mod(bt_dec a, bt_dec b, bt_dec *out) {
  int status = bt_dec_mod(a, b, out);
  if (status == BT_OK && *out != 0 && ((*out < 0) != (b < 0))) *out += b;
  return status;
}

/* a // b = floor(a / b), a whole number (Lua 5.4 only). */
static int floor_div(bt_dec a, bt_dec b, bt_dec *out) {
  if (b == 0) return BT_EDIVZERO;
  if (a == BT_DEC_MIN && b == -1) return BT_EOVERFLOW;
  int64_t q = a / b; /* same scale: the quotient of raws is the quotient */
  if (a % b != 0 && ((a < 0) != (b < 0))) q--;
  return bt_dec_from_int(q, out);
}

static int dec_arith(lua_State *L, dec_op op) {
  bt_dec a = operand(L, 1, op), b = operand(L, 2, op), result = 0;
  int status = BT_OK;
  switch (op) {
  case OP_ADD:
    status = bt_dec_add(a, b, &result);
    break;
  case OP_SUB:
    status = bt_dec_sub(a, b, &result);
    break;
  case OP_MUL:
    status = bt_dec_mul(a, b, &result);
    break;
  case OP_DIV:
    status = bt_dec_div(a, b, &result);
    break;
  case OP_MOD:
    status = floor_mod(a, b, &result);
    break;
  case OP_IDIV:
    status = floor_div(a, b, &result);
    break;
  }
  if (status != BT_OK) op_error(L, bt_strerror(status), op);
  pushdec_at(L, result, MT);
  return 1;
}

static int dec_add(lua_State *L) {
  return dec_arith(L, OP_ADD);
}
static int dec_sub(lua_State *L) {
  return dec_arith(L, OP_SUB);
}
static int dec_mul(lua_State *L) {
  return dec_arith(L, OP_MUL);
}
static int dec_div(lua_State *L) {
  return dec_arith(L, OP_DIV);
}
static int dec_mod(lua_State *L) {
  return dec_arith(L, OP_MOD);
}
static int dec_idiv(lua_State *L) {
  return dec_arith(L, OP_IDIV);
}

static int dec_unm(lua_State *L) {
  bt_dec value = *(bt_dec *)lua_touserdata(L, 1), result;
  if (bt_dec_neg(value, &result) != BT_OK)
    return luaL_error(L, "decimal overflow in -(%s)", show(L, 1));
  pushdec_at(L, result, MT);
  return 1;
}

/* Comparisons accept the same operands as arithmetic. */
static int compare(lua_State *L, const char *symbol, bt_dec *a, bt_dec *b) {
  const char *why;
  int status = to_dec(L, 1, a, &why, MT);
  if (status == BT_OK) status = to_dec(L, 2, b, &why, MT);
  if (status == BT_OK) return 0;
  const char *left = show(L, 1);
  const char *right = show(L, 2);
  if (status == BT_EOVERFLOW)
    return luaL_error(L, "decimal overflow in %s %s %s", left, symbol, right);
  return luaL_error(L, "decimal comparison with %s in %s %s %s", why, left,
                    symbol, right);
}

static int dec_eq(lua_State *L) {
  bt_dec *a = testdec_at(L, 1, MT), *b = testdec_at(L, 2, MT);
  lua_pushboolean(L, a != NULL && b != NULL && *a == *b);
  return 1;
}

static int dec_lt(lua_State *L) {
  bt_dec a, b;
  compare(L, "<", &a, &b);
  lua_pushboolean(L, a < b);
  return 1;
}

static int dec_le(lua_State *L) {
  bt_dec a, b;
  compare(L, "<=", &a, &b);
  lua_pushboolean(L, a <= b);
  return 1;
}

static int dec_tostring(lua_State *L) {
  char buf[BT_DEC_FMT_MAX];
  int len = bt_dec_format(*(bt_dec *)luaL_checkudata(L, 1, BT_DEC_TYPE), buf);
  lua_pushlstring(L, buf, (size_t)len);
  return 1;
}

/* "price: " .. d, like tostring(d) (text operands stay unquoted). */
static int dec_concat(lua_State *L) {
  for (int i = 1; i <= 2; i++) {
    if (lua_type(L, i) == LUA_TSTRING)
      lua_pushvalue(L, i);
    else
      show(L, i);
  }
  lua_concat(L, 2);
  return 1;
}

/* ---- methods ------------------------------------------------------------ */

static bt_dec check_self(lua_State *L) {
  bt_dec *p = testdec_at(L, 1, MT);
  if (p == NULL) luaL_argerror(L, 1, BT_DEC_TYPE " expected");
  return *p;
}

static bt_round check_mode(lua_State *L, int idx) {
  const char *name = luaL_optstring(L, idx, "half_even");
  int mode = bt_round_from_name(name);
  if (mode < 0)
    luaL_error(L,
               "unknown rounding mode '%s' (half_even, half_up, down, up, "
               "floor, ceiling)",
               name);
  return (bt_round)mode;
}

static int check_places(lua_State *L, int idx) {
  lua_Number places = luaL_checknumber(L, idx);
  if (places != floor(places) || places < 0 || places > BT_DEC_PLACES)
    luaL_argerror(L, idx, "places must be an integer from 0 to 8");
  return (int)places;
}

/* d:quantize(places [, mode]) -> Dec rounded to `places` digits. */
static int dec_quantize(lua_State *L) {
  bt_dec value = check_self(L), result;
  int places = check_places(L, 2);
  bt_round mode = check_mode(L, 3);
  if (bt_dec_quantize(value, places, mode, &result) != BT_OK)
    return luaL_error(L, "decimal overflow in quantize(%s, %d, %s)", show(L, 1),
                      places, bt_round_name(mode));
  pushdec_at(L, result, MT);
  return 1;
}

/* d:tonumber() -> the nearest Lua float. */
static int dec_tonumber(lua_State *L) {
  lua_pushnumber(L, (lua_Number)bt_dec_to_double(check_self(L)));
  return 1;
}

/* d:raw() -> the integer count of 10^-8 units. On LuaJIT a raw value beyond
 * 2^53 has no exact number and raises instead of losing digits. */
static int dec_raw(lua_State *L) {
  bt_dec value = check_self(L);
#if LUA_VERSION_NUM >= 503
  lua_pushinteger(L, (lua_Integer)value);
#else
  if (value > (bt_dec)EXACT_DOUBLE_INT || value < -(bt_dec)EXACT_DOUBLE_INT)
    return luaL_error(L,
                      "raw value of %s does not fit a LuaJIT number "
                      "exactly (beyond 2^53)",
                      show(L, 1));
  lua_pushnumber(L, (lua_Number)value);
#endif
  return 1;
}

/* d:format(places) -> text with exactly `places` digits (half-even). */
static int dec_format(lua_State *L) {
  bt_dec value = check_self(L);
  char buf[BT_DEC_FMT_MAX];
  int len = bt_dec_format_places(value, check_places(L, 2), buf);
  lua_pushlstring(L, buf, (size_t)len);
  return 1;
}

static int dec_abs(lua_State *L) {
  bt_dec result;
  if (bt_dec_abs(check_self(L), &result) != BT_OK)
    return luaL_error(L, "decimal overflow in abs(%s)", show(L, 1));
  pushdec_at(L, result, MT);
  return 1;
}

/* d:sqrt() or dec.sqrt(x) -> square root, half-even at 10^-8. */
static int dec_sqrt(lua_State *L) {
  bt_dec value = bt_lua_checkdec(L, 1), result;
  if (bt_dec_sqrt(value, &result) != BT_OK)
    return luaL_error(L, "square root of negative decimal %s", show(L, 1));
  pushdec_at(L, result, MT);
  return 1;
}

static const luaL_Reg DEC_METHODS[] = {
    {"quantize", dec_quantize},
    {"tonumber", dec_tonumber},
    {"raw", dec_raw},
    {"format", dec_format},
    {"abs", dec_abs},
    {"sqrt", dec_sqrt},
    {NULL, NULL},
};

static const luaL_Reg DEC_METAMETHODS[] = {
    {"__add", dec_add},
    {"__sub", dec_sub},
    {"__mul", dec_mul},
    {"__div", dec_div},
    {"__mod", dec_mod},
    {"__idiv", dec_idiv},
    {"__unm", dec_unm},
    {"__eq", dec_eq},
    {"__lt", dec_lt},
    {"__le", dec_le},
    {"__tostring", dec_tostring},
    {"__concat", dec_concat},
    {NULL, NULL},
};

/* Pushes the Dec metatable, creating it on first use (any binding may push
 * a Dec before btlua.core has opened this module). */
static void push_metatable(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &MT_KEY);
  if (!lua_isnil(L, -1)) return;
  lua_pop(L, 1);
  luaL_newmetatable(L, BT_DEC_TYPE);
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, DEC_METAMETHODS, 1);
  luaL_newlibtable(L, DEC_METHODS);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, DEC_METHODS, 1);
  lua_setfield(L, -2, "__index");
  lua_pushliteral(L, BT_DEC_TYPE);
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &MT_KEY);
}

/* ---- constructor table -------------------------------------------------- */

/* Raises for text that bt_dec_parse refused: bad syntax, or valid text
 * with more than 8 places (it parses once a rounding mode is given). */
static int parse_error(lua_State *L, const char *text, size_t len) {
  bt_dec ignored;
  if (bt_dec_parse_round(text, len, BT_ROUND_DOWN, &ignored) != BT_EPARSE)
    return luaL_error(L,
                      "decimal '%s' has more than 8 places; give a "
                      "rounding mode: dec(text, \"half_even\")",
                      text);
  return luaL_error(L, "invalid decimal '%s'", text);
}

/* dec(x [, mode]): x a Dec (returned as is), an integer or decimal text;
 * text with more than 8 places needs a rounding mode. Floats raise. */
static int dec_call(lua_State *L) {
  if (testdec_at(L, 2, MT) != NULL) {
    lua_settop(L, 2);
    return 1;
  }
  bt_dec value = 0;
  int status;
  if (lua_type(L, 2) == LUA_TSTRING) {
    size_t len;
    const char *text = lua_tolstring(L, 2, &len);
    status = lua_isnoneornil(L, 3)
                 ? bt_dec_parse(text, len, &value)
                 : bt_dec_parse_round(text, len, check_mode(L, 3), &value);
    if (status == BT_EPARSE) return parse_error(L, text, len);
  } else if (lua_type(L, 2) == LUA_TNUMBER) {
    if (!bt_isinteger(L, 2))
      return luaL_error(L,
                        "btlua.dec: %s is a float; use "
                        "btlua.dec.from_float(x) or decimal text",
                        show(L, 2));
    status = bt_dec_from_int(lua_int64(L, 2), &value);
  } else {
    return luaL_error(L, "btlua.dec: decimal text or integer expected, got %s",
                      luaL_typename(L, 2));
  }
  if (status == BT_EOVERFLOW)
    return luaL_error(L, "decimal overflow in dec(%s)", show(L, 2));
  pushdec_at(L, value, MT);
  return 1;
}

/* dec.parse(text [, mode]) -> Dec, or nil and a message for bad text. */
static int dec_parse(lua_State *L) {
  size_t len;
  const char *text = luaL_checklstring(L, 1, &len);
  bt_dec value = 0;
  int status = lua_isnoneornil(L, 2)
                   ? bt_dec_parse(text, len, &value)
                   : bt_dec_parse_round(text, len, check_mode(L, 2), &value);
  if (status != BT_OK) {
    lua_pushnil(L);
    lua_pushfstring(
        L, "%s: '%s'",
        status == BT_EPARSE ? "invalid decimal" : bt_strerror(status), text);
    return 2;
  }
  pushdec_at(L, value, MT);
  return 1;
}

/* dec.from_float(x) -> the decimal nearest to the binary float x. */
static int dec_from_float(lua_State *L) {
  lua_Number x = luaL_checknumber(L, 1);
  bt_dec value;
  int status = bt_dec_from_double((double)x, &value);
  if (status != BT_OK)
    return luaL_error(L, "%s in dec.from_float(%s)",
                      status == BT_EOVERFLOW ? "decimal overflow"
                                             : "not a number",
                      show(L, 1));
  pushdec_at(L, value, MT);
  return 1;
}

/* dec.from_raw(i) -> the Dec of i units of 10^-8. */
static int dec_from_raw(lua_State *L) {
  luaL_checknumber(L, 1);
  if (!bt_isinteger(L, 1))
    return luaL_argerror(L, 1, "integer expected (within 2^53 on LuaJIT)");
  pushdec_at(L, (bt_dec)lua_int64(L, 1), MT);
  return 1;
}

/* dec.is(x) -> true if x is a Dec. */
static int dec_is(lua_State *L) {
  lua_pushboolean(L, testdec_at(L, 1, MT) != NULL);
  return 1;
}

static int dec_min(lua_State *L) {
  bt_dec a = bt_lua_checkdec(L, 1), b = bt_lua_checkdec(L, 2);
  pushdec_at(L, bt_dec_min(a, b), MT);
  return 1;
}

static int dec_max(lua_State *L) {
  bt_dec a = bt_lua_checkdec(L, 1), b = bt_lua_checkdec(L, 2);
  pushdec_at(L, bt_dec_max(a, b), MT);
  return 1;
}

static const luaL_Reg DEC_FUNCS[] = {
    {"parse", dec_parse},       {"from_float", dec_from_float},
    {"from_raw", dec_from_raw}, {"is", dec_is},
    {"min", dec_min},           {"max", dec_max},
    {"sqrt", dec_sqrt},         {NULL, NULL},
};

int luaopen_btlua_dec(lua_State *L) {
  push_metatable(L);
  luaL_newlibtable(L, DEC_FUNCS);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, DEC_FUNCS, 1);
  lua_newtable(L);
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, dec_call, 1);
  lua_setfield(L, -2, "__call");
  lua_setmetatable(L, -2);
  lua_remove(L, -2); /* the metatable */
  return 1;
}
