"""momentum.py: hold a long position while close[t] > close[t-lookback]
(over the bars where the asset trades), be flat otherwise."""
from collections import deque

PARAMS = {"lookback": 20}


def initialize(ctx):
    n = ctx.params["lookback"] + 1
    return [deque(maxlen=n) for _ in range(ctx.count)]


def handle_data(ctx, closes, bars):
    position, pending = ctx.position, ctx.pending
    for asset, bar in bars.items():
        c = bar[3]
        window = closes[asset]
        window.append(c)
        if pending[asset] != 0:
            continue
        rising = len(window) == window.maxlen and c - window[0] > 0
        held = position[asset]
        if held == 0 and rising:
            units = ctx.units(asset, c)
            if units > 0:
                ctx.order(asset, units)
        elif held > 0 and not rising:
            ctx.order_target(asset, 0)
