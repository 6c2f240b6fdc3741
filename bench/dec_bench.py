#!/usr/bin/env python3
"""dec_bench.py: bt_dec from C and from Lua against Python's decimal, in one
run, side by side (CPU-time ns per operation in a dependent chain, median of RUNS).

  python3 bench/dec_bench.py --build build [--runs 5]

The Python loops do what the C chain does: `add` is x + c; `mul`/`div` are
shown both as plain Decimal operations (context prec 28, no fixed scale) and
quantized to 10^-8 half-even after each operation (bt_dec's semantics);
`quantize` is (x + d).quantize(0.01, half-even). Ratios are Python / C."""
import argparse
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal, ROUND_HALF_EVEN, getcontext

UNIT, CENT = Decimal("0.00000001"), Decimal("0.01")


def py_add(n):
    x, c1, c2 = Decimal("100"), Decimal("1.23456789"), Decimal("-1.23456789")
    for _ in range(n // 2):
        x = x + c1
        x = x + c2


def py_mul(n):
    x, c1, c2 = Decimal("100"), Decimal("1.00000001"), Decimal("0.99999999")
    for _ in range(n // 2):
        x = x * c1
        x = x * c2


def py_mul_q(n):
    x, c1, c2 = Decimal("100"), Decimal("1.00000001"), Decimal("0.99999999")
    for _ in range(n // 2):
        x = (x * c1).quantize(UNIT, ROUND_HALF_EVEN)
        x = (x * c2).quantize(UNIT, ROUND_HALF_EVEN)


def py_div(n):
    x, c1, c2 = Decimal("100"), Decimal("1.00000001"), Decimal("0.99999999")
    for _ in range(n // 2):
        x = x / c1
        x = x / c2


def py_div_q(n):
    x, c1, c2 = Decimal("100"), Decimal("1.00000001"), Decimal("0.99999999")
    for _ in range(n // 2):
        x = (x / c1).quantize(UNIT, ROUND_HALF_EVEN)
        x = (x / c2).quantize(UNIT, ROUND_HALF_EVEN)


def py_quantize(n):
    x, d1, d2 = Decimal("100"), Decimal("1.23456789"), Decimal("-1.22456789")
    for _ in range(n // 2):
        x = (x + d1).quantize(CENT, ROUND_HALF_EVEN)
        x = (x + d2).quantize(CENT, ROUND_HALF_EVEN)


def py_median(fn, n, runs):
    samples = []
    for _ in range(runs):
        start = time.process_time()
        fn(n)
        samples.append((time.process_time() - start) * 1e9 / n)
    return statistics.median(samples)


def parse_table(text):
    table = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            try:
                table[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lua", help="btlua host to time the Lua layer with "
                    "(default BUILD/btlua)")
    args = ap.parse_args()
    getcontext().prec = 28
    c = parse_table(subprocess.run(
        [os.path.join(args.build, "bench", "dec_bench"), str(args.runs)],
        check=True, capture_output=True, text=True).stdout)
    here = os.path.dirname(os.path.abspath(__file__))
    lua_host = args.lua or os.path.join(args.build, "btlua")
    lua = parse_table(subprocess.run(
        [lua_host, os.path.join(here, "dec_bench.lua"), str(args.runs)],
        check=True, capture_output=True, text=True).stdout)
    py = {
        "add": py_median(py_add, 1000000, args.runs),
        "mul": py_median(py_mul, 1000000, args.runs),
        "mul_q": py_median(py_mul_q, 500000, args.runs),
        "div": py_median(py_div, 1000000, args.runs),
        "div_q": py_median(py_div_q, 500000, args.runs),
        "quantize": py_median(py_quantize, 500000, args.runs),
    }
    print("CPU ns per operation, dependent chain, median of %d runs" % args.runs)
    print("%-9s %8s %9s %9s %13s %9s %10s" % ("op", "C", "Lua", "Lua/C",
          "Python", "Py/C", "Py/Lua"))
    rows = [("add", "add", "add"), ("mul", "mul", "mul_q"),
            ("div", "div", "div_q"), ("quantize", "quantize", "quantize")]
    for op, c_key, py_key in rows:
        print("%-9s %8.2f %9.1f %8.0fx %7.1f/%5.1f %8.0fx %9.1fx" % (
            op, c[c_key], lua[op], lua[op] / c[c_key], py[op if op in py else
            py_key], py[py_key], py[py_key] / c[c_key], py[py_key] / lua[op]))
    print("(Python column: plain Decimal op / op quantized at 1e-8 like "
          "bt_dec; ratios use the quantized one)")
    print("C 128-bit paths: mul128 %.2f ns, div128 %.2f ns; format+parse "
          "%.2f ns; Lua float add %.2f ns" % (c["mul128"], c["div128"],
                                             c["format+parse"],
                                             lua["float_add"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
