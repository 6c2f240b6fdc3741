"""mean_reversion.py: buy when close < mean - k * std (population
deviation of the last `window` closes), close the position when close >
mean."""
import math
from collections import deque

PARAMS = {"window": 20, "k": 2}


def initialize(ctx):
    n = ctx.params["window"]
    return [deque(maxlen=n) for _ in range(ctx.count)]


def handle_data(ctx, closes, bars):
    n, k = ctx.params["window"], ctx.params["k"]
    position, pending = ctx.position, ctx.pending
    for asset, bar in bars.items():
        c = bar[3]
        window = closes[asset]
        window.append(c)
        if pending[asset] != 0 or len(window) < n:
            continue
        mean = sum(window) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in window) / n)
        held = position[asset]
        if held == 0:
            if c < mean - k * std:
                units = ctx.units(asset, c)
                if units > 0:
                    ctx.order(asset, units)
        elif held > 0 and c > mean:
            ctx.order_target(asset, 0)
