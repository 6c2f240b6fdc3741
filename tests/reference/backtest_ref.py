#!/usr/bin/env python3
"""A plain-Python reference for btlua's three built-in strategies.

Written from the rules of issue 5 and DESIGN.md ("Orders", "Indicators"),
not from btlua's code; standard library only. Prices are exact integers in
units of 10^-8, and every mean, deviation and comparison is exact
(integers and fractions), so the result is the one true answer of the rules:

  data        a long CSV: symbol,timestamp,open,high,low,close,volume; the
              sessions are the timestamps present; an asset without a row
              at a session has no bar there (it does not trade).
  orders      placed while handling bar t, market, filled at the open of
              the asset's next bar (t+1 or later if bars are missing), in
              the order the assets first appear in the file, oldest order
              first; a buy whose cost exceeds the cash is rejected (nothing
              changes); no slippage, no commission.
  strategies  per asset, over the bars where it trades, acting only when it
              has no open order:
    sma_cross       buy when SMA(fast) crosses above SMA(slow):
                    fast[t-1] <= slow[t-1] and fast[t] > slow[t]; sell all
                    when it crosses below (>= then <). SMA(n) = the exact
                    mean of the last n closes rounded half-even at 10^-8.
    momentum        hold while close[t] > close[t-lookback]: buy when flat
                    and it holds, sell all when held and it does not.
    mean_reversion  buy when flat and close < m - k*s (m, s: exact mean and
                    population deviation of the last `window` closes); sell
                    all when held and close > SMA(window).
              entry size: floor((capital / number of assets) / close) whole
              units; never add to a position.
  value       cash + sum of quantity * last close.

Usage: backtest_ref.py CSV STRATEGY CAPITAL [name=value ...]
Prints the fill log (time,asset,side,quantity,price,commission), then the
lines "final_value,V" and "cash,C" (exact decimals)."""

import csv
import sys
from decimal import Decimal, localcontext
from fractions import Fraction

SCALE = 10 ** 8


def parse_units(text):
    """Exact decimal text -> integer count of 10^-8."""
    value = Decimal(text) * SCALE
    if value != value.to_integral_value():
        raise ValueError("more than 8 decimal places: " + text)
    return int(value)


def fmt(value):
    """Exact Fraction/int at 10^-8 -> canonical decimal text."""
    value = Fraction(value)
    with localcontext() as ctx:
        ctx.prec = 60
        d = Decimal(value.numerator) / Decimal(value.denominator)
        d = d.quantize(Decimal(1).scaleb(-8)).normalize()
    text = format(d, "f")
    return "0" if text in ("-0", "0.0") else text


def round_half_even_units(fraction):
    """A Fraction of 10^-8 units -> nearest integer unit, ties to even."""
    floor = fraction.numerator // fraction.denominator
    rest = fraction - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        return floor + 1
    return floor


def load(path):
    symbols, times, bars = [], [], {}
    seen_times = set()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            sym, when = row["symbol"], row["timestamp"]
            if sym not in bars:
                symbols.append(sym)
                bars[sym] = {}
            if when not in seen_times:
                seen_times.add(when)
                times.append(when)
            bars[sym][when] = tuple(parse_units(row[k]) for k in
                                    ("open", "high", "low", "close"))
    times.sort()  # ISO-8601 UTC text sorts in time order
    return symbols, times, bars


class SmaCross:
    def __init__(self, params):
        self.fast, self.slow = int(params.get("fast", 50)), int(params.get("slow", 200))
        self.prev = None

    def sma(self, closes, n):
        if len(closes) < n:
            return None
        return round_half_even_units(Fraction(sum(closes[-n:]), n))

    def signal(self, closes, held):
        f, s = self.sma(closes, self.fast), self.sma(closes, self.slow)
        prev, self.prev = self.prev, (f, s)
        if prev is None or None in prev or f is None or s is None:
            return None
        pf, ps = prev
        if not held and pf <= ps and f > s:
            return "buy"
        if held and pf >= ps and f < s:
            return "sell"
        return None


class Momentum:
    def __init__(self, params):
        self.lookback = int(params.get("lookback", 20))

    def signal(self, closes, held):
        n = self.lookback
        rising = len(closes) > n and closes[-1] > closes[-1 - n]
        if not held and rising:
            return "buy"
        if held and not rising:
            return "sell"
        return None


class MeanReversion:
    def __init__(self, params):
        self.window = int(params.get("window", 20))
        self.k = Fraction(Decimal(str(params.get("k", 2))))

    def signal(self, closes, held):
        n = self.window
        if len(closes) < n:
            return None
        window = closes[-n:]
        mean = Fraction(sum(window), n)
        var = sum((Fraction(x) - mean) ** 2 for x in window) / n
        c = closes[-1]
        if not held:
            # c < mean - k*sqrt(var)  <=>  mean - c > 0 and (mean-c)^2 > k^2 var
            gap = mean - c
            if gap > 0 and gap * gap > self.k * self.k * var:
                return "buy"
            return None
        if c > round_half_even_units(mean):
            return "sell"
        return None


STRATEGIES = {"sma_cross": SmaCross, "momentum": Momentum,
              "mean_reversion": MeanReversion}


def run(path, strategy_name, capital_text, params):
    symbols, times, bars = load(path)
    capital = parse_units(capital_text)  # units of 10^-8
    cash = capital  # units of 10^-8 (prices) * whole quantities
    count = len(symbols)
    rules = {s: STRATEGIES[strategy_name](params) for s in symbols}
    closes = {s: [] for s in symbols}
    position = {s: 0 for s in symbols}
    last = {s: 0 for s in symbols}
    orders = {s: None for s in symbols}  # open order quantity (signed)
    fills = []
    rejections = 0
    for when in times:
        for s in symbols:  # fills at the open of this bar
            bar = bars[s].get(when)
            if bar is None or orders[s] is None:
                continue
            qty, price = orders[s], bar[0]
            orders[s] = None
            if qty > 0 and qty * price > cash:
                rejections += 1
                continue
            cash -= qty * price
            position[s] += qty
            fills.append((when, s, "buy" if qty > 0 else "sell", abs(qty), price))
        for s in symbols:
            bar = bars[s].get(when)
            if bar is None:
                continue
            c = bar[3]
            last[s] = c
            closes[s].append(c)
            signal = rules[s].signal(closes[s], position[s] > 0)
            if orders[s] is not None or signal is None:
                continue
            if signal == "buy":
                units = Fraction(capital, count) // c
                if units > 0:
                    orders[s] = int(units)
            else:
                orders[s] = -position[s]
    value = cash + sum(position[s] * last[s] for s in symbols)
    return fills, value, cash, rejections


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    params = dict(arg.split("=", 1) for arg in argv[4:])
    fills, value, cash, rejections = run(argv[1], argv[2], argv[3], params)
    out = sys.stdout
    out.write("time,asset,side,quantity,price,commission\n")
    for when, sym, side, qty, price in fills:
        out.write("%s,%s,%s,%d,%s,0\n" % (when, sym, side, qty,
                                          fmt(Fraction(price, SCALE))))
    out.write("final_value,%s\n" % fmt(Fraction(value, SCALE)))
    out.write("cash,%s\n" % fmt(Fraction(cash, SCALE)))
    out.write("rejections,%d\n" % rejections)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
