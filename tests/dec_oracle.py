#!/usr/bin/env python3
"""dec_oracle.py: differential test of bt_dec against Python's decimal module.

Generates seeded random cases (uniform raw values, values near the int64
limits, exact .5 ties after scaling, small and large magnitudes, negatives)
for add, sub, mul, div, mod, mul_int, div_int, quantize in every mode,
parse (exact and rounding), format, format_places, sqrt, double
conversions, and the SMA/EMA/stddev indicators over short series. The expected result of each case comes from `decimal` with
prec 200 (Decimals built only from str and int), quantized half-even at
10^-8, with a range check for overflow.

  python3 tests/dec_oracle.py --cases 1000000 --build build   # full run
  python3 tests/dec_oracle.py --cases 20000 --emit FILE       # cases only

With --build, the cases are streamed to BUILD/tests/t_dec_oracle, which
recomputes each with bt_dec and reports every mismatch with its case.

Case lines are tab-separated: OP, operands..., EXPECTED, where raw values
are integers in 10^-8 units and EXPECTED is a raw value, text (format
cases), a float in hex (to_double), or OVERFLOW, DIVZERO, PARSE, EINVAL.
"""
import argparse
import decimal
import os
import random
import re
import subprocess
import sys
import time
from decimal import Decimal

CTX = decimal.Context(prec=200, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                      traps=[decimal.InvalidOperation, decimal.DivisionByZero])
decimal.setcontext(CTX)

RAW_MIN, RAW_MAX = -2**63, 2**63 - 1
UNIT = Decimal(1).scaleb(-8)          # 1e-8, built from an int
MODES = {
    "half_even": decimal.ROUND_HALF_EVEN,
    "half_up": decimal.ROUND_HALF_UP,
    "down": decimal.ROUND_DOWN,
    "up": decimal.ROUND_UP,
    "floor": decimal.ROUND_FLOOR,
    "ceiling": decimal.ROUND_CEILING,
}
MODE_NAMES = list(MODES)
SYNTAX = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?",
                    re.ASCII)


def dec(raw):
    """The exact Decimal of a raw value (built from an int)."""
    return Decimal(raw).scaleb(-8)


def to_raw(value, mode=decimal.ROUND_HALF_EVEN):
    """Rounds value at 10^-8 with mode; the raw int or 'OVERFLOW'."""
    # Out-of-range magnitudes first (quantize of a huge exponent would trap).
    if value.copy_abs() > Decimal(2**64):
        return "OVERFLOW"
    raw = int(value.quantize(UNIT, rounding=mode).scaleb(8))
    return raw if RAW_MIN <= raw <= RAW_MAX else "OVERFLOW"


# ---- value generators -------------------------------------------------------

def gen_raw(rng):
    kind = rng.randrange(10)
    if kind == 0:
        return rng.randint(RAW_MIN, RAW_MAX)                 # uniform
    if kind == 1:                                           # near the limits
        edge = rng.choice([RAW_MAX, RAW_MIN])
        return edge - rng.randint(0, 10**6) if edge > 0 else edge + rng.randint(0, 10**6)
    if kind == 2:
        return rng.randint(-1000, 1000)                     # tiny
    if kind == 3:
        return rng.randint(-10**8, 10**8)                   # below one unit
    if kind == 4:                                           # prices, few places
        places = rng.randint(0, 8)
        return rng.randint(-10**6, 10**6) * 10**(8 - places) * rng.choice([1, 1, 100])
    if kind == 5:
        return rng.randint(-10**13, 10**13)                 # up to 100,000
    if kind == 6:
        return rng.choice([0, 1, -1, 10**8, -10**8, 5 * 10**7, -5 * 10**7])
    if kind == 7:                                           # large magnitudes
        return rng.choice([1, -1]) * rng.randint(10**15, 2**62)
    if kind == 8:                                           # whole units
        return rng.randint(-92233720368, 92233720368) * 10**8
    bits = rng.randint(1, 63)                               # every magnitude
    return rng.choice([1, -1]) * rng.getrandbits(bits)


def signed(rng, value):
    return -value if rng.random() < 0.5 else value


def clamp(raw):
    return max(RAW_MIN, min(RAW_MAX, raw))


def mul_pair(rng):
    kind = rng.randrange(4)
    if kind == 0:                    # product is an exact tie: 5e7 (mod 1e8)
        a = 12500000 * (2 * rng.randint(0, 10**6) + 1)
        b = 4 * rng.randint(0, 10**6) + 2
        return signed(rng, a), signed(rng, b)
    if kind == 1:                    # near the overflow boundary
        b = signed(rng, rng.randint(10**8, 2**62))
        a = (RAW_MAX * 10**8) // abs(b) + rng.randint(-3, 3)
        return clamp(signed(rng, a)), b
    return gen_raw(rng), gen_raw(rng)


def div_pair(rng):
    kind = rng.randrange(4)
    if kind == 0:                    # quotient is an exact tie: q + 1/2
        c = rng.randint(1, 46116860184 // 2)
        q = rng.randint(0, 10**9)
        return signed(rng, clamp((2 * q + 1) * c)), signed(rng, 2 * 10**8 * c)
    if kind == 1:                    # near the overflow boundary
        b = signed(rng, rng.randint(1, 10**12))
        a = RAW_MAX * abs(b) // 10**8 + rng.randint(-3, 3)
        return clamp(signed(rng, a)), b
    if kind == 2 and rng.random() < 0.1:
        return gen_raw(rng), 0
    return gen_raw(rng), gen_raw(rng)


# ---- cases ----------------------------------------------------------------

def case_arith(rng, op):
    a, b = mul_pair(rng) if op == "mul" else div_pair(rng) if op in ("div", "mod") \
        else (gen_raw(rng), gen_raw(rng))
    x, y = dec(a), dec(b)
    if op in ("div", "mod") and b == 0:
        return [op, a, b, "DIVZERO"]
    if op == "add":
        want = to_raw(x + y)
    elif op == "sub":
        want = to_raw(x - y)
    elif op == "mul":
        want = to_raw(x * y)
    elif op == "div":
        want = to_raw(x / y)
    else:  # remainder with the sign of a (Decimal's %, like C's %)
        want = to_raw(x % y)
    return [op, a, b, want]


def case_int_op(rng, op):
    a = gen_raw(rng)
    n = rng.choice([rng.randint(-1000, 1000), rng.randint(-2**63, 2**63 - 1),
                    rng.randint(-10**6, 10**6), 2, -1, 0])
    if op == "muli":
        return [op, a, n, to_raw(dec(a) * n)]
    if n == 0:
        return [op, a, n, "DIVZERO"]
    return [op, a, n, to_raw(dec(a) / n)]


def case_quantize(rng):
    places = rng.randint(0, 8)
    mode = rng.choice(MODE_NAMES)
    unit = 10**(8 - places)
    kind = rng.randrange(3)
    if kind == 0:                    # exact tie at `places`
        a = clamp(signed(rng, rng.randint(0, 2**63 // unit) * unit + unit // 2))
    elif kind == 1:                  # one raw unit around a tie
        a = clamp(signed(rng, rng.randint(0, 10**10) * unit + unit // 2
                         + rng.choice([-1, 1])))
    else:
        a = gen_raw(rng)
    q = Decimal(1).scaleb(-places)
    value = dec(a).quantize(q, rounding=MODES[mode])
    raw = int(value.scaleb(8))
    return ["quantize", a, places, mode,
            raw if RAW_MIN <= raw <= RAW_MAX else "OVERFLOW"]


def render(rng, raw):
    """Some valid text for a raw value (exact)."""
    d = dec(raw)
    sign, digits, exp = d.as_tuple()
    text = "".join(map(str, digits)).lstrip("0") or "0"
    # text * 10^exp; move the point by a random shift and fix the exponent.
    shift = rng.choice([8, 8, 8, 0, 8 + rng.randint(-30, 30)])
    e = exp + shift          # value = text * 10^exp = (text*10^-shift) * 10^e
    mantissa = text
    point = len(mantissa) - shift  # position of the point in mantissa
    if point <= 0:
        mantissa = "0" * (1 - point) + mantissa
        point = 1
    elif point > len(mantissa):
        mantissa = mantissa + "0" * (point - len(mantissa))
    int_part, frac = mantissa[:point], mantissa[point:]
    frac += "0" * rng.choice([0, 0, 0, rng.randint(1, 12)])
    if rng.random() < 0.1:
        int_part = "0" * rng.randint(1, 25) + int_part
    body = int_part + ("." + frac if frac or rng.random() < 0.05 else "")
    if body.startswith("0.") and rng.random() < 0.2:
        body = body[1:]
    out = ("-" if sign else rng.choice(["", "", "+"])) + body
    if e != 0 or rng.random() < 0.1:
        out += rng.choice("eE") + (rng.choice(["", "+"]) if e >= 0 else "") + str(e)
    return out


def mutate(rng, text):
    chars = list(text)
    for _ in range(rng.randint(1, 2)):
        op = rng.randrange(3)
        pos = rng.randint(0, len(chars))
        if op == 0:
            chars.insert(pos, rng.choice("+-.eE x_,09"))
        elif op == 1 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif chars:
            chars[min(pos, len(chars) - 1)] = rng.choice(".e-+ a")
    return "".join(chars)


def random_text(rng):
    kind = rng.randrange(9)
    if kind <= 2:
        return render(rng, gen_raw(rng))
    if kind == 3:                    # more than 8 places, maybe nonzero
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(9, 24)))
        return rng.choice(["", "-"]) + str(rng.randint(0, 10**6)) + "." + digits
    if kind == 4:                    # exact tie past the 8th place
        return (rng.choice(["", "-"]) + str(rng.randint(0, 10**10)) + "."
                + "".join(rng.choice("0123456789") for _ in range(8)) + "5"
                + "0" * rng.randint(0, 5))
    if kind == 5:                    # around the limits
        raw = rng.choice([RAW_MAX, RAW_MIN]) + rng.randint(-3, 3)
        return render(rng, raw) if RAW_MIN <= raw <= RAW_MAX else \
            ("-" if raw < 0 else "") + str(abs(dec(raw)))
    if kind == 6:                    # exponents of every size
        return (rng.choice(["", "-"]) + str(rng.randint(0, 999)) + "e"
                + str(rng.choice([rng.randint(-40, 40), rng.randint(-10**12, 10**12)])))
    if kind == 7:
        return rng.choice(["", "-", "+", ".", "-.", "e5", "1e", "1e+", "inf",
                           "nan", "0x10", "1_0", " 1", "1 ", "0", "-0", ".5",
                           "5.", "+.5e-8", "0e-99999999999"])
    return mutate(rng, render(rng, gen_raw(rng)))


def parse_expected(text, mode):
    match = SYNTAX.fullmatch(text)
    if not match:
        return "PARSE"
    if match.group(2) and abs(int(match.group(2)[1:])) > 10**12:
        # Beyond what decimal holds; any exponent past +-10^12 acts alike
        # (zero stays zero, anything else overflows or is far below 1e-8).
        exponent = int(match.group(2)[1:])
        text = text[:match.start(2)] + "e" + str(10**12 if exponent > 0 else -10**12)
    d = Decimal(text)
    if mode is None:
        trunc = to_raw(d, decimal.ROUND_DOWN)
        if trunc == "OVERFLOW":
            return "OVERFLOW"
        return trunc if dec(trunc) == d else "PARSE"
    return to_raw(d, MODES[mode])


def case_parse(rng):
    text = random_text(rng)
    if rng.random() < 0.3:
        mode = rng.choice(MODE_NAMES)
        return ["parse_round", text, mode, parse_expected(text, mode)]
    return ["parse", text, parse_expected(text, None)]


def case_format(rng):
    a = gen_raw(rng)
    if rng.random() < 0.5:
        return ["format", a, "{:f}".format(dec(a).normalize()) if a else "0"]
    places = rng.randint(0, 8)
    unit = 10**(8 - places)
    if rng.random() < 0.3:
        a = clamp(signed(rng, rng.randint(0, 10**10) * unit + unit // 2))
    value = dec(a).quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_EVEN)
    text = "{:f}".format(value)
    if value == 0:
        text = text.lstrip("-")      # bt_dec never prints -0
    return ["format_places", a, places, text]


def case_sqrt(rng):
    kind = rng.randrange(4)
    if kind == 0:
        a = rng.randint(0, 303700) ** 2 * rng.choice([1, 10**8])
        a = min(a, RAW_MAX)
    elif kind == 1:
        a = -rng.randint(1, 10**12)
    else:
        a = abs(clamp(gen_raw(rng)))
    if a < 0:
        return ["sqrt", a, "EINVAL"]
    return ["sqrt", a, to_raw(dec(a).sqrt())]


def case_double(rng):
    if rng.random() < 0.5:
        a = gen_raw(rng)
        return ["to_double", a, float(str(dec(a))).hex()]
    kind = rng.randrange(4)
    if kind == 0:
        x = rng.uniform(-1e6, 1e6)
    elif kind == 1:
        x = (rng.randint(-10**9, 10**9) + 0.5) / 10**8   # near ties
    elif kind == 2:
        x = rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 12)
    else:
        x = rng.choice([0.1, -2.675, 1e-300, 92233720368.0, 1e11, 5e-9, 1.5e-8])
    num, den = x.as_integer_ratio()
    with decimal.localcontext() as ctx:
        ctx.prec = 1200                   # m / 2^k is exact at this precision
        exact = Decimal(num) / Decimal(den)
    return ["from_double", x.hex(), to_raw(exact)]


def case_window(rng):
    """SMA / population stddev / EMA of a short series (engine/indicators):
    the value after pushing every value (window = the count; EMA(m))."""
    n = rng.randint(1, 30)
    kind = rng.choice(["sma", "stddev", "ema"])
    if kind == "sma":
        values = [gen_raw(rng) for _ in range(n)]
    elif rng.random() < 0.3:          # tiny values: many exact ties
        values = [rng.randint(-4, 4) for _ in range(n)]
    else:                             # within the documented exact range
        base = rng.randint(-2**50, 2**50)
        values = [base + rng.randint(-2**40, 2**40) for _ in range(n)]
    text = ",".join(map(str, values))
    if kind == "sma":
        return ["sma", text, to_raw(dec(sum(values)) / n)]
    if kind == "stddev":
        d = n * sum(v * v for v in values) - sum(values) ** 2
        return ["stddev", text, to_raw(Decimal(d).sqrt().scaleb(-8) / n)]
    # EMA(m), m <= n: seeded with the SMA of the first m values, then one
    # half-even rounding of (2x + (m-1) ema) / (m+1) per value.
    m = rng.randint(1, n)
    ema = to_raw(dec(sum(values[:m])) / m)
    for x in values[m:]:
        ema = to_raw(dec(2 * x + (m - 1) * ema) / (m + 1))
    return ["ema", m, text, ema]


OPS = [  # (weight, generator)
    (12, lambda r: case_arith(r, "add")),
    (8, lambda r: case_arith(r, "sub")),
    (16, lambda r: case_arith(r, "mul")),
    (16, lambda r: case_arith(r, "div")),
    (4, lambda r: case_arith(r, "mod")),
    (2, lambda r: case_int_op(r, "muli")),
    (2, lambda r: case_int_op(r, "divi")),
    (14, case_quantize),
    (14, case_parse),
    (6, case_format),
    (3, case_sqrt),
    (3, case_double),
    (3, case_window),
]


def generate(count, seed, out):
    rng = random.Random(seed)
    weights = [w for w, _ in OPS]
    makers = [m for _, m in OPS]
    chunk = []
    for _ in range(count):
        case = rng.choices(makers, weights)[0](rng)
        chunk.append("\t".join(map(str, case)))
        if len(chunk) >= 4096:
            out.write("\n".join(chunk) + "\n")
            chunk = []
    if chunk:
        out.write("\n".join(chunk) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=1000000)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--emit", help="write the cases to this file ('-' stdout)")
    ap.add_argument("--build", help="build dir holding tests/t_dec_oracle")
    args = ap.parse_args()
    start = time.monotonic()
    if args.emit:
        out = sys.stdout if args.emit == "-" else open(args.emit, "w")
        generate(args.cases, args.seed, out)
        out.flush()
        return 0
    if not args.build:
        ap.error("give --emit FILE or --build DIR")
    driver = os.path.join(args.build, "tests", "t_dec_oracle")
    proc = subprocess.Popen([driver, "-"], stdin=subprocess.PIPE, text=True)
    generate(args.cases, args.seed, proc.stdin)
    proc.stdin.close()
    status = proc.wait()
    print("# %d cases (seed %d) generated and checked in %.1f s"
          % (args.cases, args.seed, time.monotonic() - start))
    return status


if __name__ == "__main__":
    sys.exit(main())
