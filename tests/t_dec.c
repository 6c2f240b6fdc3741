/* t_dec.c: bt_dec edge cases: parse/format, overflow at both ends, every
 * rounding mode on ties and negatives, sqrt, the accumulator, class table. */
#include "dec.h"
#include "tap.h"

#include <math.h>

/* Parses text (must succeed) or returns a sentinel. */
static bt_dec D(const char *text) {
  bt_dec v = 0;
  if (bt_dec_parse(text, (size_t)-1, &v) != BT_OK) {
    diag("cannot parse '%s'", text);
    return INT64_C(0x5a5a5a5a5a5a5a5a);
  }
  return v;
}

static const char *F(bt_dec v) {
  static char bufs[8][BT_DEC_FMT_MAX];
  static int next = 0;
  char *buf = bufs[next++ % 8];
  bt_dec_format(v, buf);
  return buf;
}

static void check_parse(const char *text, const char *want) {
  bt_dec v = 0;
  int status = bt_dec_parse(text, (size_t)-1, &v);
  if (status != BT_OK) {
    ok(0, "parse '%s' (status %d)", text, status);
    return;
  }
  is_str(F(v), want, "parse '%s' -> %s", text, want);
}

static void check_parse_status(const char *text, int want) {
  bt_dec v = 0;
  is_int(bt_dec_parse(text, (size_t)-1, &v), want, "parse '%s' -> %s", text,
         bt_strerror(want));
}

static void test_parse_format(void) {
  check_parse("0", "0");
  check_parse("-0", "0");
  check_parse("-0.00000000", "0");
  check_parse("+12.5", "12.5");
  check_parse("123.45678901", "123.45678901");
  check_parse("1.50000000000000", "1.5"); /* zeros past 8 places are exact */
  check_parse(".5", "0.5");
  check_parse("5.", "5");
  check_parse("1.5e-3", "0.0015");
  check_parse("1.5E3", "1500");
  check_parse("12e-8", "0.00000012");
  check_parse("0.000000001e1", "0.00000001");
  check_parse("00000000000000000000000000042", "42");
  check_parse("92233720368.54775807", "92233720368.54775807");
  check_parse("-92233720368.54775808", "-92233720368.54775808");
  check_parse("9223372036854775807e-8", "92233720368.54775807");
  check_parse("0e999999999999999", "0");
  check_parse("1e-0", "1");
  check_parse_status("92233720368.54775808", BT_EOVERFLOW);
  check_parse_status("-92233720368.54775809", BT_EOVERFLOW);
  check_parse_status("1e11", BT_EOVERFLOW);
  check_parse_status("1e99999999999", BT_EOVERFLOW);
  check_parse_status("0.123456789", BT_EPARSE);
  check_parse_status("1e-9", BT_EPARSE);
  const char *bad[] = {"",    "-",     "+",   ".",     "-.",  "1.2.3", "1e",
                       "1e+", "e5",    " 1",  "1 ",    "1,5", "0x10",  "inf",
                       "nan", "1_000", "--1", "1e1.5", "١"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    check_parse_status(bad[i], BT_EPARSE);
  bt_dec v = 0;
  is_int(bt_dec_parse("12.5xyz", 4, &v), BT_OK, "parse honours len");
  is_str(F(v), "12.5", "parse of a prefix by len");

  /* Rounding on parse when asked. */
  bt_dec_parse_round("0.123456785", (size_t)-1, BT_ROUND_HALF_EVEN, &v);
  is_str(F(v), "0.12345678", "parse_round half_even tie to even");
  bt_dec_parse_round("0.123456775", (size_t)-1, BT_ROUND_HALF_EVEN, &v);
  is_str(F(v), "0.12345678", "parse_round half_even tie up to even");
  bt_dec_parse_round("-0.1234567850001", (size_t)-1, BT_ROUND_HALF_EVEN, &v);
  is_str(F(v), "-0.12345679", "parse_round above the tie");
  bt_dec_parse_round("1e-30", (size_t)-1, BT_ROUND_UP, &v);
  is_str(F(v), "0.00000001", "parse_round up of a tiny value");
  bt_dec_parse_round("-1e-30", (size_t)-1, BT_ROUND_CEILING, &v);
  is_str(F(v), "0", "parse_round ceiling of a tiny negative is 0");
  is_int(bt_dec_parse_round("92233720368.547758075", (size_t)-1,
                            BT_ROUND_HALF_EVEN, &v),
         BT_EOVERFLOW, "parse_round that rounds past the maximum overflows");
  is_int(bt_dec_parse_round("-92233720368.547758085", (size_t)-1, BT_ROUND_DOWN,
                            &v),
         BT_OK, "parse_round down to the minimum fits");
  is_str(F(v), "-92233720368.54775808", "the minimum");
  is_int(bt_dec_parse_round("1", (size_t)-1, (bt_round)17, &v), BT_EINVAL,
         "parse_round with an unknown mode");

  char buf[BT_DEC_FMT_MAX];
  is_int(bt_dec_format(BT_DEC_MIN, buf), 21, "format length of MIN");
  is_str(buf, "-92233720368.54775808", "format MIN");
  bt_dec_format_places(D("-0.004"), 2, buf);
  is_str(buf, "0.00", "format_places: -0.004 rounds to 0.00, no sign");
  bt_dec_format_places(D("2.345"), 2, buf);
  is_str(buf, "2.34", "format_places half-even tie down");
  bt_dec_format_places(D("2.355"), 2, buf);
  is_str(buf, "2.36", "format_places half-even tie up");
  bt_dec_format_places(D("-1.5"), 0, buf);
  is_str(buf, "-2", "format_places 0 places");
  bt_dec_format_places(D("3"), 8, buf);
  is_str(buf, "3.00000000", "format_places 8 places");
  bt_dec_format_places(BT_DEC_MAX, 0, buf);
  is_str(buf, "92233720369", "format_places rounds past MAX in text");
  is_int(bt_dec_format_places(1, 9, buf), BT_EINVAL, "format_places 9");
}

static void test_arith(void) {
  bt_dec r = 0;
  bt_dec_add(D("0.1"), D("0.2"), &r);
  ok(r == D("0.3"), "0.1 + 0.2 == 0.3");
  is_int(bt_dec_add(BT_DEC_MAX, 1, &r), BT_EOVERFLOW, "add overflow at MAX");
  is_int(bt_dec_sub(BT_DEC_MIN, 1, &r), BT_EOVERFLOW, "sub overflow at MIN");
  is_int(bt_dec_add(BT_DEC_MIN, -1, &r), BT_EOVERFLOW, "add overflow at MIN");

  bt_dec_mul(D("1.5"), D("2.25"), &r);
  is_str(F(r), "3.375", "1.5 * 2.25");
  bt_dec_mul(D("0.00000001"), D("0.5"), &r);
  is_str(F(r), "0", "1e-8 * 0.5 ties to even 0");
  bt_dec_mul(D("0.00000003"), D("0.5"), &r);
  is_str(F(r), "0.00000002", "3e-8 * 0.5 ties to even 2e-8");
  bt_dec_mul(D("-0.00000003"), D("0.5"), &r);
  is_str(F(r), "-0.00000002", "negative tie to even");
  bt_dec_mul(D("-0.00000001"), D("0.5"), &r);
  is_str(F(r), "0", "-1e-8 * 0.5 is 0 (no negative zero)");
  bt_dec_mul(D("123456.789"), D("98765.4321"), &r);
  is_str(F(r), "12193263111.2635269", "128-bit path product");
  is_int(bt_dec_mul(D("92233720368"), D("2"), &r), BT_EOVERFLOW,
         "92233720368 * 2 overflows");
  is_int(bt_dec_mul(D("-92233720368"), D("2"), &r), BT_EOVERFLOW,
         "-92233720368 * 2 overflows");
  is_int(bt_dec_mul(D("46116860184.27387904"), D("-2"), &r), BT_OK,
         "MIN as a product fits");
  ok(r == BT_DEC_MIN, "product is MIN");
  is_int(bt_dec_mul(D("46116860184.27387904"), D("2"), &r), BT_EOVERFLOW,
         "MAX + 1 as a product overflows");
  is_int(bt_dec_mul(BT_DEC_MIN, BT_DEC_MIN, &r), BT_EOVERFLOW, "MIN * MIN");
  bt_dec_mul(BT_DEC_MIN, D("1"), &r);
  ok(r == BT_DEC_MIN, "MIN * 1");

  bt_dec_div(D("1"), D("3"), &r);
  is_str(F(r), "0.33333333", "1 / 3");
  bt_dec_div(D("2"), D("3"), &r);
  is_str(F(r), "0.66666667", "2 / 3");
  bt_dec_div(D("-2"), D("3"), &r);
  is_str(F(r), "-0.66666667", "-2 / 3");
  bt_dec_div(D("0.00000001"), D("2"), &r);
  is_str(F(r), "0", "1e-8 / 2 ties to even 0");
  bt_dec_div(D("0.00000003"), D("-2"), &r);
  is_str(F(r), "-0.00000002", "3e-8 / -2 ties to even");
  bt_dec_div(D("50000.12345678"), D("0.00007"), &r);
  is_str(F(r), "714287477.954", "128-bit numerator");
  is_int(bt_dec_div(D("1"), 0, &r), BT_EDIVZERO, "1 / 0");
  is_int(bt_dec_div(0, 0, &r), BT_EDIVZERO, "0 / 0");
  is_int(bt_dec_div(D("92233720368"), D("0.5"), &r), BT_EOVERFLOW,
         "overflowing quotient");
  is_int(bt_dec_div(BT_DEC_MIN, D("-1"), &r), BT_EOVERFLOW, "MIN / -1");
  is_int(bt_dec_div(BT_DEC_MIN, D("1"), &r), BT_OK, "MIN / 1");
  ok(r == BT_DEC_MIN, "MIN / 1 is MIN");

  is_int(bt_dec_mod(D("7.5"), D("2"), &r), BT_OK, "mod");
  is_str(F(r), "1.5", "7.5 mod 2");
  bt_dec_mod(D("-7.5"), D("2"), &r);
  is_str(F(r), "-1.5", "mod takes the sign of a");
  bt_dec_mod(BT_DEC_MIN, -1, &r);
  is_int(r, 0, "MIN mod -1e-8 does not trap");
  is_int(bt_dec_mod(1, 0, &r), BT_EDIVZERO, "mod by 0");

  is_int(bt_dec_neg(BT_DEC_MIN, &r), BT_EOVERFLOW, "neg MIN");
  is_int(bt_dec_abs(BT_DEC_MIN, &r), BT_EOVERFLOW, "abs MIN");
  bt_dec_abs(D("-3.5"), &r);
  is_str(F(r), "3.5", "abs");
  is_int(bt_dec_cmp(D("-1"), D("1")), -1, "cmp");
  ok(bt_dec_min(3, 4) == 3 && bt_dec_max(3, 4) == 4, "min/max");

  bt_dec_mul_int(D("2.5"), 3, &r);
  is_str(F(r), "7.5", "mul_int");
  is_int(bt_dec_mul_int(D("46116860184.27387904"), 2, &r), BT_EOVERFLOW,
         "mul_int overflow");
  bt_dec_div_int(D("10"), 4, &r);
  is_str(F(r), "2.5", "div_int");
  bt_dec_div_int(D("0.00000005"), 2, &r);
  is_str(F(r), "0.00000002", "div_int tie to even");
  is_int(bt_dec_div_int(1, 0, &r), BT_EDIVZERO, "div_int by 0");
  is_int(bt_dec_div_int(BT_DEC_MIN, -1, &r), BT_EOVERFLOW, "div_int MIN/-1");

  bool exact;
  is_int(bt_dec_to_int(D("-12.5"), &exact), -12, "to_int toward zero");
  ok(!exact, "to_int reports an inexact value");
  is_int(bt_dec_to_int(D("7"), &exact), 7, "to_int");
  ok(exact, "to_int reports an exact value");
  is_int(bt_dec_from_int(92233720368, &r), BT_OK, "from_int max");
  is_int(bt_dec_from_int(92233720369, &r), BT_EOVERFLOW, "from_int overflow");
  is_int(bt_dec_from_int(-92233720369, &r), BT_EOVERFLOW,
         "from_int negative overflow");
}

static void test_double(void) {
  bt_dec r = 0;
  bt_dec_from_double(0.1, &r);
  is_str(F(r), "0.1", "from_double 0.1");
  bt_dec_from_double(-2.675, &r);
  is_str(F(r), "-2.675", "from_double -2.675");
  bt_dec_from_double(0.000000005, &r); /* binary value is just above 5e-9 */
  is_str(F(r), "0.00000001", "from_double of a near-tie uses the exact value");
  bt_dec_from_double(0.000000015, &r); /* binary is 1.4999999999999999e-8 */
  is_str(F(r), "0.00000001", "from_double below the tie");
  bt_dec_from_double(1.25e-8, &r); /* not exact in binary either */
  is_str(F(r), "0.00000001", "from_double 1.25e-8");
  bt_dec_from_double(0x1p-26, &r);
  is_str(F(r), "0.00000001", "from_double 2^-26");
  bt_dec_from_double(1e-300, &r);
  is_str(F(r), "0", "from_double tiny");
  is_int(bt_dec_from_double(1e11, &r), BT_EOVERFLOW, "from_double 1e11");
  is_int(bt_dec_from_double(-INFINITY, &r), BT_EOVERFLOW, "from_double -inf");
  is_int(bt_dec_from_double(NAN, &r), BT_EINVAL, "from_double nan");
  bt_dec_from_double(-92233720368.0, &r);
  is_str(F(r), "-92233720368", "from_double large");
  is_double(bt_dec_to_double(D("0.1")), 0.1, 0, "to_double 0.1 exact nearest");
  is_double(bt_dec_to_double(D("-123.45678901")), -123.45678901, 0,
            "to_double nearest");
  is_double(bt_dec_to_double(BT_DEC_MAX), 92233720368.54775807, 0,
            "to_double MAX nearest");
  is_double(bt_dec_to_double(D("90071992.54740993")), 90071992.54740993, 0,
            "to_double past 2^53 raw units");
}

typedef struct quantize_case {
  const char *value;
  int places;
  /* Results for half_even, half_up, down, up, floor, ceiling. */
  const char *want[6];
} quantize_case;

static void test_quantize(void) {
  static const quantize_case cases[] = {
      {"2.5", 0, {"2", "3", "2", "3", "2", "3"}},
      {"3.5", 0, {"4", "4", "3", "4", "3", "4"}},
      {"-2.5", 0, {"-2", "-3", "-2", "-3", "-3", "-2"}},
      {"-3.5", 0, {"-4", "-4", "-3", "-4", "-4", "-3"}},
      {"2.51", 0, {"3", "3", "2", "3", "2", "3"}},
      {"-2.49", 0, {"-2", "-2", "-2", "-3", "-3", "-2"}},
      {"1.005", 2, {"1", "1.01", "1", "1.01", "1", "1.01"}},
      {"-1.015", 2, {"-1.02", "-1.02", "-1.01", "-1.02", "-1.02", "-1.01"}},
      {"0.00000001", 7, {"0", "0", "0", "0.0000001", "0", "0.0000001"}},
      {"-0.00000001", 7, {"0", "0", "0", "-0.0000001", "-0.0000001", "0"}},
      {"-0.00000005",
       7,
       {"0", "-0.0000001", "0", "-0.0000001", "-0.0000001", "0"}},
      {"7", 0, {"7", "7", "7", "7", "7", "7"}},
      {"1.23456789",
       8,
       {"1.23456789", "1.23456789", "1.23456789", "1.23456789", "1.23456789",
        "1.23456789"}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    for (int mode = 0; mode < 6; mode++) {
      bt_dec r = 0;
      int status = bt_dec_quantize(D(cases[i].value), cases[i].places,
                                   (bt_round)mode, &r);
      is_str(status == BT_OK ? F(r) : "error", cases[i].want[mode],
             "quantize(%s, %d, %s)", cases[i].value, cases[i].places,
             bt_round_name((bt_round)mode));
    }
  }
  bt_dec r = 0;
  is_int(bt_dec_quantize(BT_DEC_MAX, 0, BT_ROUND_CEILING, &r), BT_EOVERFLOW,
         "quantize MAX ceiling overflows");
  is_int(bt_dec_quantize(BT_DEC_MAX, 0, BT_ROUND_HALF_EVEN, &r), BT_EOVERFLOW,
         "quantize MAX half_even overflows (rounds up)");
  is_int(bt_dec_quantize(BT_DEC_MAX, 0, BT_ROUND_FLOOR, &r), BT_OK,
         "quantize MAX floor fits");
  is_str(F(r), "92233720368", "quantize MAX floor");
  is_int(bt_dec_quantize(BT_DEC_MIN, 0, BT_ROUND_FLOOR, &r), BT_EOVERFLOW,
         "quantize MIN floor overflows");
  is_int(bt_dec_quantize(BT_DEC_MIN, 0, BT_ROUND_CEILING, &r), BT_OK,
         "quantize MIN ceiling fits");
  is_str(F(r), "-92233720368", "quantize MIN ceiling");
  is_int(bt_dec_quantize(1, -1, BT_ROUND_DOWN, &r), BT_EINVAL,
         "quantize -1 places");
  is_int(bt_dec_quantize(1, 9, BT_ROUND_DOWN, &r), BT_EINVAL,
         "quantize 9 places");
  is_int(bt_dec_quantize(1, 2, (bt_round)6, &r), BT_EINVAL,
         "quantize unknown mode");
  is_int(bt_round_from_name("ceiling"), BT_ROUND_CEILING, "mode by name");
  is_int(bt_round_from_name("HALF_EVEN"), -1, "mode names are lower case");
  is_str(bt_round_name(BT_ROUND_HALF_UP), "half_up", "mode name");
}

static void test_sqrt(void) {
  bt_dec r = 0;
  bt_dec_sqrt(D("2"), &r);
  is_str(F(r), "1.41421356", "sqrt 2");
  bt_dec_sqrt(D("4"), &r);
  is_str(F(r), "2", "sqrt 4");
  bt_dec_sqrt(D("0.00000001"), &r);
  is_str(F(r), "0.0001", "sqrt 1e-8");
  bt_dec_sqrt(D("0.00000002"), &r);
  is_str(F(r), "0.00014142", "sqrt 2e-8");
  bt_dec_sqrt(0, &r);
  is_str(F(r), "0", "sqrt 0");
  bt_dec_sqrt(D("3"), &r);
  is_str(F(r), "1.73205081", "sqrt 3 rounds up");
  bt_dec_sqrt(BT_DEC_MAX, &r);
  is_str(F(r), "303700.0499976", "sqrt MAX");
  is_int(bt_dec_sqrt(-1, &r), BT_EINVAL, "sqrt of a negative");
  /* Every result is the half-even rounding: r-0.5 < sqrt < r+0.5 units. */
  int all = 1;
  for (bt_dec a = 1; a < 2000000; a += 997) {
    bt_dec_sqrt(a * 1013, &r);
    bt_u128 n = (bt_u128)(a * 1013) * 100000000u * 4;
    bt_u128 lo = (bt_u128)(2 * r - 1) * (bt_u128)(2 * r - 1);
    bt_u128 hi = (bt_u128)(2 * r + 1) * (bt_u128)(2 * r + 1);
    if (!(lo < n && n < hi)) all = 0;
  }
  ok(all, "sqrt is within half a unit over a sweep");
}

static void test_acc(void) {
  bt_dec_acc acc;
  bt_dec_acc_init(&acc);
  for (int i = 0; i < 1000; i++)
    bt_dec_acc_add(&acc, BT_DEC_MAX);
  bt_dec r = 0;
  is_int(bt_dec_acc_get(&acc, &r), BT_EOVERFLOW, "sum of 1000 MAX overflows");
  is_int(bt_dec_acc_mean(&acc, 1000, &r), BT_OK, "but its mean fits");
  ok(r == BT_DEC_MAX, "mean of 1000 MAX is MAX");
  for (int i = 0; i < 999; i++)
    bt_dec_acc_sub(&acc, BT_DEC_MAX);
  is_int(bt_dec_acc_get(&acc, &r), BT_OK, "back in range");
  ok(r == BT_DEC_MAX, "sum is MAX again");
  bt_dec_acc_init(&acc);
  bt_dec_acc_add(&acc, D("1"));
  bt_dec_acc_add(&acc, D("0.00000002"));
  bt_dec_acc_mean(&acc, 4, &r);
  is_str(F(r), "0.25", "mean 1.00000002/4 ties to even");
  bt_dec_acc_add(&acc, D("0.00000004"));
  bt_dec_acc_mean(&acc, 4, &r);
  is_str(F(r), "0.25000002", "mean 1.00000006/4 ties to even (up)");
  bt_dec_acc_init(&acc);
  bt_dec_acc_sub(&acc, D("0.00000006"));
  bt_dec_acc_mean(&acc, 4, &r);
  is_str(F(r), "-0.00000002", "negative mean tie to even");
  is_int(bt_dec_acc_mean(&acc, 0, &r), BT_EDIVZERO, "mean of nothing");
  bt_dec_acc_mean(&acc, -3, &r);
  is_str(F(r), "0.00000002", "mean with a negative count");
}

static void test_ratio(void) {
  bt_dec r = 0;
  is_int(bt_dec_ratio(5, 2, &r), BT_OK, "5/2");
  ok(r == 2, "5/2 ties to even: 2");
  bt_dec_ratio(7, 2, &r);
  ok(r == 4, "7/2 ties to even: 4");
  bt_dec_ratio(-7, 2, &r);
  ok(r == -4, "-7/2 ties to even: -4");
  bt_dec_ratio(-5, 3, &r);
  ok(r == -2, "-5/3 rounds to nearest: -2");
  bt_dec_ratio((bt_i128)D("1.5") * D("2.25"), BT_DEC_SCALE, &r);
  is_str(F(r), "3.375", "a * b / SCALE: 1.5 * 2.25");
  is_int(bt_dec_ratio((bt_i128)BT_DEC_MAX * 4, 2, &r), BT_EOVERFLOW,
         "a quotient beyond bt_dec overflows");
  is_int(bt_dec_ratio((bt_i128)BT_DEC_MAX * 4, 4, &r), BT_OK,
         "the same numerator over 4 fits");
  ok(r == BT_DEC_MAX, "and is MAX");
  is_int(bt_dec_ratio(((bt_i128)1 << 100), 3, &r), BT_EOVERFLOW,
         "a quotient of 2^64 or more overflows");
  is_int(bt_dec_ratio(1, 0, &r), BT_EDIVZERO, "a zero divisor is refused");
}

static void test_classes(void) {
  static const struct {
    const char *name;
    int places;
    bt_round mode;
  } want[] = {
      {"equity", 2, BT_ROUND_HALF_UP},  {"crypto", 8, BT_ROUND_DOWN},
      {"forex", 5, BT_ROUND_HALF_EVEN}, {"future", 2, BT_ROUND_HALF_UP},
      {"index", 2, BT_ROUND_HALF_EVEN},
  };
  for (int i = 0; i < BT_CLASS_COUNT; i++) {
    int cls = bt_class_from_name(want[i].name);
    is_int(cls, i, "class %s", want[i].name);
    is_str(bt_class_name((bt_asset_class)cls), want[i].name, "class name");
    bt_rounding r = bt_class_rounding((bt_asset_class)cls);
    ok(r.places == want[i].places && r.mode == want[i].mode,
       "%s rounds to %d places %s", want[i].name, want[i].places,
       bt_round_name(want[i].mode));
  }
  is_int(bt_class_from_name("bond"), -1, "unknown class");
  bt_rounding eq = bt_class_rounding(BT_CLASS_EQUITY);
  bt_dec r = 0;
  bt_dec_quantize(D("10.125"), eq.places, eq.mode, &r);
  is_str(F(r), "10.13", "equity rounds 10.125 half up");
  bt_rounding cr = bt_class_rounding(BT_CLASS_CRYPTO);
  bt_dec_parse_round("0.123456789", (size_t)-1, cr.mode, &r);
  is_str(F(r), "0.12345678", "crypto quantity rounds down");
}

int main(void) {
  test_parse_format();
  test_arith();
  test_double();
  test_quantize();
  test_sqrt();
  test_acc();
  test_classes();
  test_ratio();
  return done_testing();
}
