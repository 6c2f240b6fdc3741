#!/usr/bin/env python3
"""backtest.py: the plain-Python reference of btlua's bar loop (standard
library only, float math): reads bars exported as CSV by
bench/export_csv.lua, runs one of the three built-in strategies
(sma_cross.py, momentum.py, mean_reversion.py here) with btlua's rules, and
writes the fills as btlua's S_fills.csv does.

Rules (docs/backtest.md): an order placed on bar t fills at the asset's next
bar's open (fill = next_open, no slippage, no commission); fills are taken
in asset order; a buy the cash cannot cover is rejected; one order per
asset at a time. Entry size: floor(capital / (assets * close)) units.

Usage: backtest.py STRATEGY BARS.csv [--param k=v ...] [--fills OUT.csv]
                   [--times-file F]
Prints one JSON line: bars, fills, rejections, final_value, load_s, loop_s.
"""
import argparse
import csv
import importlib
import json
import math
import os
import sys
import time


class Context:
    """What a strategy sees: per-asset lists indexed 0..count-1."""

    def __init__(self, symbols, capital, params):
        count = len(symbols)
        self.symbols = symbols
        self.count = count
        self.capital_base = capital
        self.params = params
        self.cash = capital
        self.position = [0] * count  # whole units held
        self.pending = [0] * count   # open order quantity (0: none)
        self.orders = []             # (asset, quantity) placed this bar
        self.rejections = 0

    def units(self, asset, close):
        """floor(capital_base / (count * close)) whole units."""
        return math.floor(self.capital_base / (self.count * close))

    def order(self, asset, quantity):
        if quantity != 0:
            self.pending[asset] += quantity
            self.orders.append((asset, quantity))

    def order_target(self, asset, target):
        self.order(asset, target - self.position[asset] - self.pending[asset])


def load_bars(path):
    """-> symbols (sorted), list of (timestamp, {asset: (o, h, l, c, open
    text)}) in time order."""
    sessions, index_of, rows = [], {}, []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            rows.append(row)
    symbols = sorted({row[1] for row in rows})
    index_of = {s: i for i, s in enumerate(symbols)}
    last_stamp, bars = None, None
    for stamp, symbol, o, h, l, c, _v in rows:
        if stamp != last_stamp:
            bars = {}
            sessions.append((stamp, bars))
            last_stamp = stamp
        bars[index_of[symbol]] = (float(o), float(h), float(l), float(c), o)
    return symbols, sessions


def run(strategy, symbols, sessions, capital, params):
    ctx = Context(symbols, capital, params)
    state = strategy.initialize(ctx)
    open_orders = {}  # asset -> quantity
    fills = []
    last_close = [None] * ctx.count
    bar_count = 0
    for stamp, bars in sessions:
        bar_count += len(bars)
        # 1. fills of earlier orders at this bar's open, in asset order
        if open_orders:
            for asset in sorted(open_orders):
                bar = bars.get(asset)
                if bar is None:
                    continue
                quantity = open_orders.pop(asset)
                ctx.pending[asset] = 0
                price = bar[0]
                if quantity > 0 and quantity * price > ctx.cash:
                    ctx.rejections += 1
                    continue
                ctx.cash -= quantity * price
                ctx.position[asset] += quantity
                fills.append((stamp, symbols[asset],
                              "buy" if quantity > 0 else "sell",
                              abs(quantity), bar[4]))
        for asset, bar in bars.items():
            last_close[asset] = bar[3]
        # 2. the strategy (it updates its own indicators)
        ctx.orders = []
        strategy.handle_data(ctx, state, bars)
        for asset, quantity in ctx.orders:
            open_orders[asset] = open_orders.get(asset, 0) + quantity
    value = ctx.cash + sum(q * last_close[a]
                           for a, q in enumerate(ctx.position) if q)
    return bar_count, fills, ctx.rejections, value


def parse_value(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("strategy")
    parser.add_argument("bars")
    parser.add_argument("--param", action="append", default=[])
    parser.add_argument("--capital", type=float, default=100000.0)
    parser.add_argument("--fills")
    parser.add_argument("--times-file")
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    strategy = importlib.import_module(args.strategy)
    params = dict(strategy.PARAMS)
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = parse_value(value)
    t0 = time.perf_counter()
    symbols, sessions = load_bars(args.bars)
    t1 = time.perf_counter()
    bars, fills, rejections, value = run(strategy, symbols, sessions,
                                         args.capital, params)
    t2 = time.perf_counter()
    if args.fills:
        with open(args.fills, "w", newline="") as f:
            f.write("time,asset,side,quantity,price\n")
            for fill in fills:
                f.write("%s,%s,%s,%d,%s\n" % fill)
    if args.times_file:
        with open(args.times_file, "a") as f:
            f.write("%.6f %.6f\n" % (t1 - t0, t2 - t1))
    print(json.dumps({"bars": bars, "fills": len(fills),
                      "rejections": rejections,
                      "final_value": round(value, 2),
                      "load_s": round(t1 - t0, 6),
                      "loop_s": round(t2 - t1, 6)}))


if __name__ == "__main__":
    main()
